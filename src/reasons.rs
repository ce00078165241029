//! Turning per-feature contributions into the `reasons` a reviewer reads: contributions
//! are summed per human factor (one-hot levels and interaction parts fold back into the
//! factor they describe), the factors that raise the risk most are kept, and each is
//! worded from the change's own values.

use std::fmt::Write;

use crate::frame::{format_number, Column, Frame};
use crate::model::Model;

/// Factors whose summed contribution to the logit is below this are not reasons.
const MIN_CONTRIBUTION: f64 = 0.05;

/// How many reasons to give per change.
pub const TOP_REASONS: usize = 3;

fn num(frame: &Frame, column: &str, row: usize) -> f64 {
    match frame.get(column) {
        Some(Column::Num(v)) => v[row],
        _ => f64::NAN,
    }
}

/// The level of a categorical column ("" when absent).
fn level<'f>(frame: &'f Frame, column: &str, row: usize) -> &'f str {
    frame
        .get(column)
        .and_then(|c| c.level(row))
        .unwrap_or_default()
}

/// Writes `text` from the input (a value, a column name) with each `;` as `,`: reasons
/// are separated by `; `, which the input must not forge.
fn push_quoted(out: &mut String, text: &str) {
    if text.contains(';') {
        out.extend(text.chars().map(|c| if c == ';' { ',' } else { c }));
    } else {
        out.push_str(text);
    }
}

/// Writes the text of a cell (nothing when the column is absent), as [`push_quoted`].
fn push_text(out: &mut String, frame: &Frame, column: &str, row: usize) {
    match frame.get(column) {
        Some(Column::Cat { codes, levels }) => push_quoted(out, &levels[codes[row] as usize]),
        Some(c) => out.push_str(&c.display(row)),
        None => {}
    }
}

fn flag(frame: &Frame, column: &str, row: usize) -> bool {
    matches!(frame.get(column), Some(Column::Flag(v)) if v[row])
}

/// Writes a number as [`format_number`] does.
fn push_number(out: &mut String, v: f64) {
    if !v.is_nan() && v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        out.push_str(&format_number(v));
    }
}

/// Writes "`n` `one`" or "`n` `many`".
fn push_plural(out: &mut String, n: f64, one: &str, many: &str) {
    push_number(out, n);
    out.push(' ');
    out.push_str(if n == 1.0 { one } else { many });
}

/// Writes " (tool)" when the change names its AI tool.
fn push_tool(out: &mut String, frame: &Frame, row: usize) {
    let start = out.len();
    out.push_str(" (");
    let tool = out.len();
    push_text(out, frame, "ai_tool", row);
    if out.len() == tool {
        out.truncate(start);
    } else {
        out.push(')');
    }
}

/// Writes the words for factor `factor` of change `row`, led by its largest feature
/// `feature`.
fn describe(out: &mut String, factor: &str, feature: &str, frame: &Frame, row: usize) {
    // Looked up only by the factors that use them: this runs for every scored change.
    let ai = || level(frame, "ai_involvement", row);
    let permission = || level(frame, "permission_level", row);
    let review = || level(frame, "review_status", row);
    let services = || num(frame, "services_affected", row);
    match factor {
        "ai" => match ai() {
            "agent" => {
                out.push_str("made by an AI agent");
                push_tool(out, frame, row);
            }
            "assisted" => {
                out.push_str("written with AI assistance");
                push_tool(out, frame, row);
            }
            _ => out.push_str("written without AI tools"),
        },
        "permission" => {
            out.push_str("applied with ");
            out.push_str(permission());
            out.push_str(" permission");
        }
        "review" => match review() {
            "bypassed" => out.push_str("review bypassed"),
            "none" => out.push_str("no peer review"),
            "self_approved" => out.push_str("self-approved, no independent review"),
            _ => {
                out.push_str("approved by ");
                push_plural(
                    out,
                    num(frame, "reviewer_count", row),
                    "reviewer",
                    "reviewers",
                );
            }
        },
        "blast_radius" => {
            out.push_str("touches ");
            push_plural(out, services(), "service", "services");
            out.push_str(" in ");
            push_plural(
                out,
                num(frame, "regions_affected", row),
                "region",
                "regions",
            );
        }
        "customer_facing" if flag(frame, "customer_facing", row) => {
            out.push_str("touches a customer-facing path")
        }
        "customer_facing" => out.push_str("not customer-facing"),
        "change_type" => {
            let mut kind = String::new();
            push_text(&mut kind, frame, "change_type", row);
            match kind.as_str() {
                "iam" => out.push_str("an IAM change"),
                "infra" => out.push_str("an infrastructure change"),
                "database" => out.push_str("a database change"),
                "config" => out.push_str("a config change"),
                "feature_flag" => out.push_str("a feature-flag change"),
                other => {
                    out.push_str("a ");
                    out.push_str(other);
                    out.push_str(" change");
                }
            }
        }
        "size" => {
            push_plural(out, num(frame, "lines_changed", row), "line", "lines");
            out.push_str(" changed in ");
            push_plural(out, num(frame, "files_changed", row), "file", "files");
        }
        "rollback" if flag(frame, "rollback_plan", row) => {
            out.push_str("has a tested rollback plan")
        }
        "rollback" => out.push_str("no tested rollback plan"),
        "pattern" => {
            out.push_str(match ai() {
                "agent" => "AI-agent change",
                "assisted" => "AI-assisted change",
                _ => "change",
            });
            if permission() != "standard" {
                out.push_str(" with ");
                out.push_str(permission());
                out.push_str(" permission");
            }
            if review() != "approved" {
                out.push_str(" and no independent approving review");
            }
            if feature.ends_with("blast_radius") && services() > 1.0 {
                out.push_str(" across ");
                push_plural(out, services(), "service", "services");
            }
        }
        "timing" => {
            let hour = num(frame, "hour", row);
            match feature {
                "off_hours" => {
                    let _ = write!(out, "applied off-hours ({:02}:00 UTC)", hour as u32);
                }
                "weekend" => out.push_str("applied on a weekend"),
                f if f.starts_with("hour_") => {
                    let h = hour as u32;
                    let _ = write!(out, "applied at {h:02}:00-{h:02}:59 UTC");
                }
                _ => {
                    let mut day = String::new();
                    push_text(&mut day, frame, "weekday", row);
                    let day = match day.as_str() {
                        "mon" => "Monday",
                        "tue" => "Tuesday",
                        "wed" => "Wednesday",
                        "thu" => "Thursday",
                        "fri" => "Friday",
                        "sat" => "Saturday",
                        _ => "Sunday",
                    };
                    out.push_str("applied on a ");
                    out.push_str(day);
                }
            }
        }
        "service_history" | "author_history" => {
            let column = feature.strip_suffix("_log").unwrap_or(feature);
            let n = num(frame, column, row);
            let record = |who: &str| match who {
                "service" => (
                    num(frame, "service_incident_changes", row),
                    num(frame, "service_prior_changes", row),
                ),
                _ => (
                    num(frame, "author_incident_changes", row),
                    num(frame, "author_prior_changes", row),
                ),
            };
            let rate = |out: &mut String, who: &str, whose: &str| {
                let (hits, trials) = record(who);
                push_number(out, hits);
                out.push_str(" of the ");
                out.push_str(whose);
                out.push_str("'s ");
                push_plural(out, trials, "earlier change", "earlier changes");
                out.push_str(" caused incidents");
            };
            match column {
                "service_incident_7d_any" => {
                    out.push_str("service had ");
                    push_plural(
                        out,
                        num(frame, "service_incidents_7d", row),
                        "incident",
                        "incidents",
                    );
                    out.push_str(" in the last 7 days");
                }
                "service_incident_rate" => rate(out, "service", "service"),
                "author_incident_rate" | "author_incident_ratio" if record("author").1 == 0.0 => {
                    out.push_str("the author's first change")
                }
                "author_incident_rate" => rate(out, "author", "author"),
                "author_incident_ratio" => {
                    rate(out, "author", "author");
                    let expected = num(frame, "author_expected_incidents", row);
                    let _ = write!(
                        out,
                        ", against {expected:.1} expected from the services changed"
                    );
                }
                "service_incidents_7d" => {
                    out.push_str("service had ");
                    push_plural(out, n, "incident", "incidents");
                    out.push_str(" in the last 7 days");
                }
                "service_incidents_30d" => {
                    out.push_str("service had ");
                    push_plural(out, n, "incident", "incidents");
                    out.push_str(" in the last 30 days");
                }
                "days_since_service_incident" if n >= crate::history::RECENCY_CAP_DAYS => {
                    out.push_str("service had no incident in the past year")
                }
                "days_since_service_incident" => {
                    out.push_str("service's last incident was ");
                    push_plural(out, n.floor(), "day", "days");
                    out.push_str(" ago");
                }
                "service_changes_7d" => {
                    out.push_str("service changed ");
                    push_plural(out, n, "time", "times");
                    out.push_str(" in the last 7 days");
                }
                "service_prior_changes" => {
                    out.push_str("service has ");
                    push_plural(out, n, "change", "changes");
                    out.push_str(" before this one");
                }
                "service_incident_changes" => {
                    push_plural(out, n, "earlier change", "earlier changes");
                    out.push_str(" to this service caused incidents");
                }
                "author_prior_changes" if n == 0.0 => out.push_str("the author's first change"),
                "author_prior_changes" => {
                    out.push_str("author has ");
                    push_plural(out, n, "prior change", "prior changes");
                }
                "author_incident_changes" => {
                    push_plural(out, n, "earlier change", "earlier changes");
                    out.push_str(" by this author caused incidents");
                }
                other => {
                    out.push_str(other);
                    out.push_str(" is ");
                    push_number(out, n);
                }
            }
        }
        // The trees' split on the change's time: the period it falls in.
        "period" => out.push_str(
            "changes of this period have caused incidents more often than the history's average",
        ),
        _ => describe_column(out, factor, feature, frame, row),
    }
}

/// The input column a generic feature is named after (`la_log` reads `la`).
fn feature_column(feature: &str) -> &str {
    feature.strip_suffix("_log").unwrap_or(feature)
}

/// Words for a feature config's column `factor` (the factor its value, log,
/// missing-indicator and one-hot features are grouped under): the column and the
/// change's own value, not the feature's (`env=staging` raises the risk of a change in
/// prod by being 0).
fn describe_column(out: &mut String, factor: &str, feature: &str, frame: &Frame, row: usize) {
    let column = if frame.get(factor).is_some() {
        factor
    } else {
        feature_column(feature)
    };
    push_quoted(out, column);
    out.push_str(" is ");
    let start = out.len();
    push_text(out, frame, column, row);
    if out.len() == start {
        out.push_str("missing");
    }
}

/// Words the largest risk-raising factors of a score; built once per model.
pub struct Explainer<'m> {
    model: &'m Model,
    factors: Vec<&'m str>,
    /// Whether each factor is a column the feature config declares: worded as that
    /// column, even when it is named like a built-in factor (`size`, `review`).
    declared: Vec<bool>,
    /// For each model feature, the index of its factor in `factors`.
    factor_of: Vec<usize>,
    /// For each model feature, whether the score saw the history it counts from (see
    /// [`HistoryGiven`]): without it, the service's and author's records are empty
    /// because nothing was given, not because there was nothing, and the reasons drawn
    /// from them say so.
    counted: Vec<bool>,
}

/// Which history files a score counted: past changes (or the scored changes taken as
/// their own history) and incidents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryGiven {
    pub changes: bool,
    pub incidents: bool,
}

impl HistoryGiven {
    /// What a score counted given a history of past changes (`history`) and an incidents
    /// file (`incidents`): the incidents alone make the changes scored their own history.
    pub fn of(history: bool, incidents: bool) -> HistoryGiven {
        HistoryGiven {
            changes: history || incidents,
            incidents,
        }
    }

    /// Both (a scored history, `report`, `export`).
    pub const ALL: HistoryGiven = HistoryGiven {
        changes: true,
        incidents: true,
    };

    /// Whether column `column` was counted from what it needs ([`crate::history::counts`]):
    /// incident counts by service need the incidents, counts of changes the changes,
    /// incident-causing changes both. A column that is no history column needs neither.
    fn counted(self, column: &str) -> bool {
        use crate::history::Counts;
        match crate::history::counts(column) {
            None => true,
            Some(Counts::Incidents) => self.incidents,
            Some(Counts::Changes) => self.changes,
            Some(Counts::CausedChanges) => self.changes && self.incidents,
        }
    }
}

impl<'m> Explainer<'m> {
    /// Groups the model's features by factor.
    pub fn new(model: &'m Model) -> Explainer<'m> {
        let mut factors: Vec<&str> = Vec::new();
        let factor_of = model
            .features
            .iter()
            .map(|f| match factors.iter().position(|&x| x == f.def.factor) {
                Some(i) => i,
                None => {
                    factors.push(&f.def.factor);
                    factors.len() - 1
                }
            })
            .collect();
        let f = &model.config.features;
        let declared = factors
            .iter()
            .map(|factor| {
                [&f.numeric, &f.boolean, &f.categorical]
                    .iter()
                    .any(|columns| columns.iter().any(|c| c == factor))
            })
            .collect();
        Explainer {
            model,
            factors,
            declared,
            factor_of,
            counted: vec![true; model.features.len()],
        }
    }

    /// Words the service's and author's history factors as counted without the history
    /// they need (`annotate` without `--history`, `score --no-history`).
    pub fn with_history(mut self, given: HistoryGiven) -> Explainer<'m> {
        self.counted = self
            .model
            .features
            .iter()
            .map(|f| f.def.expr.inputs().iter().all(|&(c, _)| given.counted(c)))
            .collect();
        self
    }

    /// Summed contribution of each factor (in the order of [`Explainer::factor_names`]).
    pub fn factor_contributions(&self, contributions: &[f64]) -> Vec<f64> {
        let mut sum = vec![0.0; self.factors.len()];
        for (j, &c) in contributions.iter().enumerate() {
            sum[self.factor_of[j]] += c;
        }
        sum
    }

    /// The factor names.
    pub fn factor_names(&self) -> &[&'m str] {
        &self.factors
    }

    /// Up to [`TOP_REASONS`] factors that raise the risk of `row` the most, worded,
    /// most important first and `; `-separated.
    pub fn reasons(&self, frame: &Frame, row: usize, contributions: &[f64]) -> String {
        let mut sum = [0.0; 32];
        let mut heap;
        let sum: &mut [f64] = if self.factors.len() <= sum.len() {
            &mut sum[..self.factors.len()]
        } else {
            heap = vec![0.0; self.factors.len()];
            &mut heap
        };
        for (j, &c) in contributions.iter().enumerate() {
            sum[self.factor_of[j]] += c;
        }
        // The top factors, by a stable insertion into at most TOP_REASONS places.
        let mut top: [usize; TOP_REASONS] = [0; TOP_REASONS];
        let mut kept = 0;
        for k in 0..sum.len() {
            if sum[k].is_nan() || sum[k] < MIN_CONTRIBUTION {
                continue;
            }
            let at = top[..kept].partition_point(|&t| sum[t] >= sum[k]);
            if at < TOP_REASONS {
                top.copy_within(at..TOP_REASONS - 1, at + 1);
                top[at] = k;
                kept = (kept + 1).min(TOP_REASONS);
            }
        }
        let mut out = String::with_capacity(96);
        for (i, &k) in top[..kept].iter().enumerate() {
            if i > 0 {
                out.push_str("; ");
            }
            // The factor's largest single feature picks the wording.
            let lead = (0..contributions.len())
                .filter(|&j| self.factor_of[j] == k)
                .max_by(|&a, &b| contributions[a].total_cmp(&contributions[b]))
                .unwrap_or(0);
            let (factor, feature) = (self.factors[k], &self.model.features[lead].def.name);
            if self.declared[k] {
                describe_column(&mut out, factor, feature, frame, row);
            } else {
                describe(&mut out, factor, feature, frame, row);
                if !self.counted[lead] {
                    out.push_str(" (no history given)");
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Column;

    fn described(factor: &str, feature: &str, frame: &Frame, row: usize) -> String {
        let mut out = String::new();
        describe(&mut out, factor, feature, frame, row);
        out
    }

    #[test]
    fn an_author_s_record_is_worded_against_what_their_services_expected() {
        let mut frame = Frame::new(2);
        frame.insert("author_incident_changes", Column::Num(vec![0.0, 9.0]));
        frame.insert("author_prior_changes", Column::Num(vec![0.0, 40.0]));
        frame.insert("author_expected_incidents", Column::Num(vec![0.0, 3.46]));
        assert_eq!(
            described("author_history", "author_incident_ratio", &frame, 0),
            "the author's first change"
        );
        assert_eq!(
            described("author_history", "author_incident_ratio", &frame, 1),
            "9 of the author's 40 earlier changes caused incidents, against 3.5 expected from \
             the services changed"
        );
    }

    #[test]
    fn an_hour_of_day_is_worded_as_the_change_s_own_hour() {
        let mut frame = Frame::new(1);
        crate::load::add_calendar(&mut frame, &[86_400 * 3 + 5 * 3600 + 59 * 60]);
        // Whichever hour term leads the timing factor, the change's own hour is named.
        for feature in ["hour_sin_24h", "hour_cos_12h"] {
            assert_eq!(
                described("timing", feature, &frame, 0),
                "applied at 05:00-05:59 UTC"
            );
        }
    }

    #[test]
    fn the_trees_time_is_worded_as_the_period() {
        let frame = Frame::new(1);
        let time = crate::features::time_feature();
        assert_eq!(
            described(&time.factor, &time.name, &frame, 0),
            "changes of this period have caused incidents more often than the history's average"
        );
    }
}
