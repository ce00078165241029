//! Linking incidents to the changes that caused them (SPEC "Labels"): named causes
//! first, then attribution of the rest to the most recent change on the same service
//! within the attribution window, ignoring incidents less severe than `max_severity`.

use rustc_hash::FxHashMap as HashMap;

use serde::{Deserialize, Serialize};

use rayon::prelude::*;

use crate::load::{Events, Incidents};

/// How incidents become labels. Stored in the model so that scoring links history
/// exactly as training did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelParams {
    /// An unnamed incident is attributed to a change at most this many seconds before it.
    pub attribution_window_secs: i64,
    /// Incidents with a severity number above this are ignored (1 is the worst).
    pub max_severity: u8,
}

impl LabelParams {
    /// What the command line accepts: a window within [`MAX_DURATION_SECS`] and a
    /// severity of 1 to 5 (a model file carries these too).
    pub fn check(&self) -> std::result::Result<(), String> {
        if !(0..=MAX_DURATION_SECS as i64).contains(&self.attribution_window_secs) {
            return Err(format!(
                "attribution window {} s: expected 0 to 10^10 seconds",
                self.attribution_window_secs
            ));
        }
        if !(1..=5).contains(&self.max_severity) {
            return Err(format!(
                "max severity {}: expected 1 (the worst) to 5",
                self.max_severity
            ));
        }
        Ok(())
    }
}

impl Default for LabelParams {
    fn default() -> Self {
        LabelParams {
            attribution_window_secs: 24 * 3600,
            max_severity: 5,
        }
    }
}

/// How a change got its label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelSource {
    /// Named as the cause by at least one incident.
    Explicit,
    /// Only attributed by the window rule.
    Attributed,
    /// Linked to no incident.
    None,
}

/// Unknown named change ids the label summary quotes.
const UNKNOWN_EXAMPLES: usize = 3;

/// Counts describing one labelling run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LabelSummary {
    /// Labels came from the changes' own label column, not from incidents.
    #[serde(default)]
    pub label_column: bool,
    pub incidents: usize,
    pub ignored_by_severity: usize,
    /// Incidents linked to at least one known change they name.
    pub linked_explicitly: usize,
    pub linked_by_attribution: usize,
    /// Incidents naming no cause and with no change in the window.
    pub unattributed: usize,
    /// Incidents whose named causes are all unknown change ids (not attributed).
    pub named_unknown_only: usize,
    /// Named change ids not present in the changes (each occurrence counted).
    pub unknown_change_ids: usize,
    /// The first few of them, with the incident naming each (for the warning; not
    /// stored in model files).
    #[serde(skip)]
    pub unknown_examples: Vec<(String, String)>,
    /// Named causes applied after their incident started (each occurrence counted) and
    /// the first of them: a clock or an id gone wrong (for the warning; not stored).
    #[serde(skip)]
    pub named_after_start: usize,
    #[serde(skip)]
    pub after_start_example: Option<(String, String)>,
    /// Named ids written as a number with a trailing `.0` (as pandas writes integer ids
    /// in a column with gaps) that matched a change id only without it.
    #[serde(default)]
    pub named_with_point_zero: usize,
    pub changes: usize,
    pub positives: usize,
}

impl LabelSummary {
    /// Share of changes labelled incident-causing.
    pub fn positive_rate(&self) -> f64 {
        if self.changes == 0 {
            0.0
        } else {
            self.positives as f64 / self.changes as f64
        }
    }

    /// Human-readable lines for stderr.
    pub fn describe(&self) -> String {
        if self.label_column {
            return format!(
                "labels (from the label column): {} of {} changes are positive ({:.2}%)",
                self.positives,
                self.changes,
                100.0 * self.positive_rate()
            );
        }
        let mut s = format!(
            "incidents: {} ({} ignored by severity); linked explicitly {}, by attribution {}, unattributed {}\n\
             labels: {} of {} changes caused an incident ({:.2}%)",
            self.incidents,
            self.ignored_by_severity,
            self.linked_explicitly,
            self.linked_by_attribution,
            self.unattributed,
            self.positives,
            self.changes,
            100.0 * self.positive_rate()
        );
        if self.unknown_change_ids > 0 {
            s.push_str(&format!(
                "\nwarning: caused_by_change named {} unknown change id(s); {} incident(s) named only unknown ids and were left unlinked",
                self.unknown_change_ids, self.named_unknown_only
            ));
            if !self.unknown_examples.is_empty() {
                let shown: Vec<String> = self
                    .unknown_examples
                    .iter()
                    .map(|(incident, change)| format!("{incident} names {change}"))
                    .collect();
                s.push_str(&format!(" (e.g. {})", shown.join(", ")));
            }
        }
        if self.named_with_point_zero > 0 {
            s.push_str(&format!(
                "\nnote: caused_by_change named {} id(s) as a number with a trailing .0 (as pandas writes integer ids in a column with gaps); each matched the change id without it",
                self.named_with_point_zero
            ));
        }
        if let Some((incident, change)) = &self.after_start_example {
            s.push_str(&format!(
                "\nwarning: caused_by_change named a change applied after its incident started {} \
                 time(s) (the first: {incident} names {change}); they are labelled as named, but \
                 check the ids and the clocks",
                self.named_after_start
            ));
        }
        s
    }
}

/// The labels of a set of changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Labels {
    /// Per change: caused at least one (severe enough) incident.
    pub caused: Vec<bool>,
    /// Per change: start of the earliest incident linked to it: from then on, history
    /// features may count it as incident-causing.
    pub first_incident: Vec<Option<i64>>,
    pub source: Vec<LabelSource>,
    pub summary: LabelSummary,
}

impl Labels {
    /// Labels given by the changes' own label column. Nothing says when a change was
    /// found to be bad, so no history feature may count them (`first_incident` is empty).
    pub fn from_column(given: &[bool]) -> Labels {
        let positives = given.iter().filter(|&&g| g).count();
        Labels {
            caused: given.to_vec(),
            first_incident: vec![None; given.len()],
            source: given
                .iter()
                .map(|&g| {
                    if g {
                        LabelSource::Explicit
                    } else {
                        LabelSource::None
                    }
                })
                .collect(),
            summary: LabelSummary {
                label_column: true,
                changes: given.len(),
                positives,
                ..LabelSummary::default()
            },
        }
    }
}

/// Links `incidents` to `changes` under `params`.
pub fn attribute_incidents(changes: &Events, incidents: &Incidents, params: LabelParams) -> Labels {
    let n = changes.len();
    let mut caused = vec![false; n];
    let mut first_incident: Vec<Option<i64>> = vec![None; n];
    let mut source = vec![LabelSource::None; n];
    let mut summary = LabelSummary {
        incidents: incidents.len(),
        changes: n,
        ..Default::default()
    };

    // The rows of the change ids that incidents name (and of their integer forms),
    // found in one pass over the changes (the last row when an id repeats).
    let mut by_id: HashMap<&str, usize> = HashMap::default();
    let named: rustc_hash::FxHashSet<&str> = incidents
        .causes
        .iter()
        .flatten()
        .flat_map(|id| [Some(id.as_str()), integer_form(id)])
        .flatten()
        .collect();
    if !named.is_empty() {
        let rows: Vec<usize> = (0..n)
            .into_par_iter()
            .filter(|&r| named.contains(changes.ids.get(r)))
            .collect();
        by_id.extend(rows.into_iter().map(|r| (changes.ids.get(r), r)));
    }
    // Per service: change rows sorted by (timestamp, row), for the window search.
    let mut by_service: Vec<Vec<usize>> = vec![Vec::new(); changes.service.names.len()];
    for r in changes.time_order() {
        by_service[changes.service.codes[r] as usize].push(r);
    }
    let service_code = changes.service.index();

    let mut link = |row: usize, start: i64, how: LabelSource| {
        caused[row] = true;
        first_incident[row] = Some(first_incident[row].map_or(start, |s: i64| s.min(start)));
        if source[row] != LabelSource::Explicit {
            source[row] = how;
        }
    };

    for i in 0..incidents.len() {
        if incidents.severity[i] > params.max_severity {
            summary.ignored_by_severity += 1;
            continue;
        }
        let start = incidents.start[i];
        let named = &incidents.causes[i];
        if !named.is_empty() {
            let mut any = false;
            for id in named {
                let found = by_id.get(id.as_str()).or_else(|| {
                    let row = by_id.get(integer_form(id)?);
                    summary.named_with_point_zero += usize::from(row.is_some());
                    row
                });
                match found {
                    Some(&row) => {
                        if changes.ts[row] > start {
                            summary.named_after_start += 1;
                            summary
                                .after_start_example
                                .get_or_insert_with(|| (incidents.ids[i].clone(), id.clone()));
                        }
                        link(row, start, LabelSource::Explicit);
                        any = true;
                    }
                    None => {
                        summary.unknown_change_ids += 1;
                        if summary.unknown_examples.len() < UNKNOWN_EXAMPLES {
                            summary
                                .unknown_examples
                                .push((incidents.ids[i].clone(), id.clone()));
                        }
                    }
                }
            }
            if any {
                summary.linked_explicitly += 1;
            } else {
                summary.named_unknown_only += 1;
            }
            continue;
        }
        // The most recent change on the service applied at or before the start and at
        // most the window before it; equal timestamps: the greatest `change_id`.
        let candidate = service_code
            .get(incidents.service[i].as_str())
            .and_then(|&code| {
                let rows = &by_service[code as usize];
                let after = rows.partition_point(|&r| changes.ts[r] <= start);
                let row = *rows.get(after.checked_sub(1)?)?;
                (start - changes.ts[row] <= params.attribution_window_secs).then_some(row)
            });
        match candidate {
            Some(row) => {
                link(row, start, LabelSource::Attributed);
                summary.linked_by_attribution += 1;
            }
            None => summary.unattributed += 1,
        }
    }
    summary.positives = caused.iter().filter(|&&c| c).count();
    Labels {
        caused,
        first_incident,
        source,
        summary,
    }
}

/// `123` for a named id `123.0` (digits, a point and zeros only): how pandas writes an
/// integer id in a column with gaps.
fn integer_form(id: &str) -> Option<&str> {
    let (int, zeros) = id.split_once('.')?;
    let digits = !int.is_empty() && int.bytes().all(|b| b.is_ascii_digit());
    (digits && !zeros.is_empty() && zeros.bytes().all(|b| b == b'0')).then_some(int)
}

/// The longest duration [`parse_duration`] reads: 10^10 seconds (317 years), longer than
/// the span of times the loader accepts (1970 to 2200), so nothing longer means more.
pub const MAX_DURATION_SECS: f64 = 1e10;

/// Parses a duration such as `24h`, `90m`, `2d`, `3600s` or `3600` (seconds): a whole
/// number of seconds (`1.5h` is, `0.5s` is not: times are kept to the second), up to
/// [`MAX_DURATION_SECS`].
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let v: f64 = num.trim().parse().ok()?;
    // `M` is months in some tools and minutes in others: neither is guessed.
    if unit.trim() == "M" {
        return None;
    }
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "s" | "sec" | "secs" => 1.0,
        "m" | "min" | "mins" => 60.0,
        "h" | "hr" | "hours" | "hour" => 3600.0,
        "d" | "day" | "days" => 86400.0,
        "w" | "week" | "weeks" => 604800.0,
        _ => return None,
    };
    let exact = v * mult;
    let secs = exact.round();
    // A unit's decimal fraction (`0.1m`) is off a whole second by rounding error only.
    let whole = (exact - secs).abs() <= 1e-9 * secs.abs().max(1.0);
    (whole && (0.0..=MAX_DURATION_SECS).contains(&secs)).then_some(secs as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;
    use crate::load::Changes;

    const H: i64 = 3600;

    /// Changes (id, ts, service) with no feature columns.
    fn changes(rows: &[(&str, i64, &str)]) -> Events {
        Changes {
            ids: rows.iter().map(|r| r.0.to_string()).collect(),
            ts: rows.iter().map(|r| r.1).collect(),
            service: rows.iter().map(|r| r.2.to_string()).collect(),
            author: rows.iter().map(|_| "a".to_string()).collect(),
            label: None,
            frame: Frame::new(rows.len()),
        }
        .events()
    }

    /// Incidents (start, service, severity, causes).
    fn incidents(rows: &[(i64, &str, u8, &str)]) -> Incidents {
        Incidents {
            ids: (0..rows.len()).map(|i| format!("inc{i}")).collect(),
            start: rows.iter().map(|r| r.0).collect(),
            service: rows.iter().map(|r| r.1.to_string()).collect(),
            severity: rows.iter().map(|r| r.2).collect(),
            causes: rows
                .iter()
                .map(|r| {
                    r.3.split(';')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .collect(),
        }
    }

    #[test]
    fn of_changes_in_the_same_second_the_greatest_id_is_the_most_recent_in_any_order() {
        let inc = incidents(&[(2 * H, "s", 3, "")]);
        for rows in [
            [("b", H, "s"), ("a", H, "s"), ("c", H, "t")],
            [("a", H, "s"), ("c", H, "t"), ("b", H, "s")],
        ] {
            let l = attribute_incidents(&changes(&rows), &inc, LabelParams::default());
            let caused: Vec<&str> = rows
                .iter()
                .zip(&l.caused)
                .filter(|(_, &c)| c)
                .map(|(r, _)| r.0)
                .collect();
            assert_eq!(caused, ["b"], "rows {rows:?}");
        }
    }

    #[test]
    fn window_edges_are_inclusive_and_pick_the_most_recent_change() {
        let c = changes(&[("a", 0, "s"), ("b", 10 * H, "s"), ("c", 10 * H, "t")]);
        // Exactly 24h after b: attributed to b (the most recent on s), not to a.
        let l = attribute_incidents(
            &c,
            &incidents(&[(34 * H, "s", 3, "")]),
            LabelParams::default(),
        );
        assert_eq!(l.caused, [false, true, false]);
        assert_eq!(l.source[1], LabelSource::Attributed);
        assert_eq!(l.first_incident[1], Some(34 * H));
        // One second more: outside the window, unattributed.
        let l = attribute_incidents(
            &c,
            &incidents(&[(34 * H + 1, "s", 3, "")]),
            LabelParams::default(),
        );
        assert_eq!(l.caused, [false, false, false]);
        assert_eq!(l.summary.unattributed, 1);
        // A change at the incident's very start counts; a later one never does.
        let l = attribute_incidents(
            &c,
            &incidents(&[(10 * H, "t", 3, "")]),
            LabelParams::default(),
        );
        assert_eq!(l.caused, [false, false, true]);
        let l = attribute_incidents(
            &c,
            &incidents(&[(10 * H - 1, "t", 3, "")]),
            LabelParams::default(),
        );
        assert_eq!(l.caused, [false, false, false]);
    }

    #[test]
    fn equal_timestamps_attribute_to_the_last_in_input_order() {
        let c = changes(&[("a", 5 * H, "s"), ("b", 5 * H, "s")]);
        let l = attribute_incidents(
            &c,
            &incidents(&[(6 * H, "s", 2, "")]),
            LabelParams::default(),
        );
        assert_eq!(l.caused, [false, true]);
    }

    #[test]
    fn a_named_cause_applied_after_its_incident_started_is_warned_about() {
        let c = changes(&[("a", 0, "s"), ("late", 9 * H, "s")]);
        let i = incidents(&[(2 * H, "s", 1, "a;late"), (3 * H, "s", 1, "late")]);
        let l = attribute_incidents(&c, &i, LabelParams::default());
        // Labelled as named, and counted for the warning with the first example.
        assert_eq!(l.caused, [true, true]);
        assert_eq!(l.summary.named_after_start, 2);
        let said = l.summary.describe();
        assert!(
            said.contains("named a change applied after its incident started 2 time(s)")
                && said.contains("names late"),
            "{said}"
        );
    }

    #[test]
    fn named_causes_split_on_semicolons_and_unknown_ids_are_counted() {
        let c = changes(&[("a", 0, "s"), ("b", H, "s"), ("c", 2 * H, "s")]);
        let i = incidents(&[
            (3 * H, "x", 1, "a; c"),
            (4 * H, "s", 1, "zz"),
            (5 * H, "s", 1, "b;zz"),
        ]);
        let l = attribute_incidents(&c, &i, LabelParams::default());
        assert_eq!(l.caused, [true, true, true]);
        assert_eq!(l.source, [LabelSource::Explicit; 3]);
        assert_eq!(l.summary.linked_explicitly, 2);
        assert_eq!(l.summary.unknown_change_ids, 2);
        // "c" is applied at 2H, before the incident at 3H: no warning.
        assert_eq!(l.summary.named_after_start, 0);
        // The incident naming only an unknown id is not attributed by the window.
        assert_eq!(l.summary.named_unknown_only, 1);
        assert_eq!(l.summary.linked_by_attribution, 0);
    }

    #[test]
    fn an_integer_id_written_with_a_trailing_point_zero_names_its_change() {
        let c = changes(&[
            ("41", 0, "s"),
            ("42", H, "s"),
            ("7.0", H, "t"),
            ("8", H, "t"),
        ]);
        let i = incidents(&[
            (2 * H, "x", 1, "41.0"),
            (3 * H, "x", 1, "42.00;43.0"),
            // An id that is itself a change id is taken as it is.
            (4 * H, "x", 1, "7.0"),
            // Not a number with zeros after the point: unknown.
            (5 * H, "x", 1, "8.5;8.;.0;v8.0"),
        ]);
        let l = attribute_incidents(&c, &i, LabelParams::default());
        assert_eq!(l.caused, [true, true, true, false]);
        assert_eq!(l.summary.named_with_point_zero, 2);
        assert_eq!(l.summary.unknown_change_ids, 5);
        assert_eq!(l.summary.named_unknown_only, 1);
        let said = l.summary.describe();
        assert!(
            said.contains("named 2 id(s) as a number with a trailing .0"),
            "{said}"
        );
    }

    #[test]
    fn severity_filter_ignores_less_severe_incidents() {
        let c = changes(&[("a", 0, "s"), ("b", 0, "t")]);
        let i = incidents(&[(H, "s", 2, ""), (H, "t", 4, "")]);
        let params = LabelParams {
            max_severity: 3,
            ..Default::default()
        };
        let l = attribute_incidents(&c, &i, params);
        assert_eq!(l.caused, [true, false]);
        assert_eq!(l.summary.ignored_by_severity, 1);
        assert_eq!(l.summary.positives, 1);
    }

    #[test]
    fn first_incident_is_the_earliest_linked_start() {
        let c = changes(&[("a", 0, "s")]);
        let i = incidents(&[(9 * H, "s", 3, "a"), (2 * H, "s", 3, "")]);
        let l = attribute_incidents(&c, &i, LabelParams::default());
        assert_eq!(l.first_incident, [Some(2 * H)]);
        assert_eq!(l.source, [LabelSource::Explicit]);
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("24h"), Some(86400));
        assert_eq!(parse_duration("90m"), Some(5400));
        assert_eq!(parse_duration("2d"), Some(172800));
        assert_eq!(parse_duration("3600"), Some(3600));
        assert_eq!(parse_duration("1.5h"), Some(5400));
        assert_eq!(parse_duration("0.1m"), Some(6));
        assert_eq!(parse_duration("0.5s"), None);
        assert_eq!(parse_duration("0.001h"), None);
        assert_eq!(parse_duration("1 fortnight"), None);
        // `M`: months or minutes, depending on the tool.
        assert_eq!(parse_duration("1M"), None);
        assert_eq!(parse_duration("1 M"), None);
        assert_eq!(parse_duration("-1h"), None);
        // Not clamped to i64::MAX: refused.
        assert_eq!(parse_duration("99999999999999999999"), None);
        assert_eq!(parse_duration("1000000000000000000h"), None);
        assert_eq!(parse_duration("115740d"), Some(115_740 * 86_400));
    }
}
