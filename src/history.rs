//! Point-in-time history features. For a change at time `t`, only changes and incidents
//! strictly before `t` are visible, and a past change counts as incident-causing only
//! once an incident linked to it has started before `t`. The rows are taken per service
//! (and per author) in time order, so each count is a cursor moving forward over that
//! service's or author's sorted timestamps: O(n log n) for the sorts, linear after.

use rayon::prelude::*;

use crate::frame::{Column, Frame};
use crate::label::Labels;
use crate::load::{Events, Incidents, Interned};

/// Seconds in a day.
pub const DAY: i64 = 86_400;
/// Days since the service's last incident are capped here (and a service that never had
/// one gets the cap), so one quiet year and "never" look alike.
pub const RECENCY_CAP_DAYS: f64 = 365.0;

/// Pseudo-changes at the whole timeline's incident rate that a service's own record is
/// shrunk with when it sets what a change to it is expected to cost (see
/// `author_expected_incidents`): the weight `service_incident_rate` has too.
pub const SERVICE_EXPECTATION_WEIGHT: f64 = 20.0;

/// What a history column counts, and so which history files it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counts {
    /// The service's incidents (the incidents file alone).
    Incidents,
    /// Earlier changes (the history of changes alone).
    Changes,
    /// Earlier changes that caused incidents (both).
    CausedChanges,
}

/// Each history column, in the order they are added, with what it counts.
pub const HISTORY_COUNTS: [(&str, Counts); 9] = [
    ("service_incidents_7d", Counts::Incidents),
    ("service_incidents_30d", Counts::Incidents),
    ("days_since_service_incident", Counts::Incidents),
    ("service_changes_7d", Counts::Changes),
    ("service_prior_changes", Counts::Changes),
    ("service_incident_changes", Counts::CausedChanges),
    ("author_prior_changes", Counts::Changes),
    ("author_incident_changes", Counts::CausedChanges),
    // The incidents the author's earlier changes were expected to cause, given the
    // services they changed: the sum, over those changes, of each one's service rate as
    // it stood at the time (shrunk towards the timeline's rate by
    // [`SERVICE_EXPECTATION_WEIGHT`]). Next to `author_incident_changes` it tells an
    // author who is careless from one who works on risky services.
    ("author_expected_incidents", Counts::CausedChanges),
];

/// The history columns, in the order they are added.
pub const HISTORY_COLUMNS: [&str; 9] = {
    let mut names = [""; 9];
    let mut i = 0;
    while i < HISTORY_COUNTS.len() {
        names[i] = HISTORY_COUNTS[i].0;
        i += 1;
    }
    names
};

/// What history column `column` counts; `None` for a column that is not one.
pub fn counts(column: &str) -> Option<Counts> {
    HISTORY_COUNTS
        .iter()
        .find(|(c, _)| *c == column)
        .map(|&(_, counts)| counts)
}

/// Sorted event times of one service or author.
#[derive(Default)]
struct Timeline {
    changes: Vec<i64>,
    /// For each incident-causing change: when that became visible (max of its own
    /// timestamp and its first incident's start).
    caused: Vec<i64>,
    incidents: Vec<i64>,
    /// For an author: the running sums of the expected incidents of their changes in
    /// time order (one more than `changes`, starting at 0).
    expected: Vec<f64>,
}

impl Timeline {
    fn sort(&mut self) {
        self.changes.sort_unstable();
        self.caused.sort_unstable();
        self.incidents.sort_unstable();
    }
}

/// Every service's and author's sorted event times over a whole timeline: built once,
/// then asked for the history columns of any of its rows, a part at a time.
pub struct HistoryIndex {
    services: Vec<Timeline>,
    authors: Vec<Timeline>,
}

impl HistoryIndex {
    /// Indexes `timeline` with its `labels` and the (severity-filtered) `incidents`.
    pub fn new(timeline: &Events, labels: &Labels, incidents: &Incidents) -> HistoryIndex {
        let mut services: Vec<Timeline> = Vec::new();
        services.resize_with(timeline.service.names.len(), Timeline::default);
        let mut authors: Vec<Timeline> = Vec::new();
        authors.resize_with(timeline.author.names.len(), Timeline::default);
        for r in 0..timeline.len() {
            let caused_at = labels.first_incident[r].map(|s| s.max(timeline.ts[r]));
            for tl in [
                &mut services[timeline.service.codes[r] as usize],
                &mut authors[timeline.author.codes[r] as usize],
            ] {
                tl.changes.push(timeline.ts[r]);
                tl.caused.extend(caused_at);
            }
        }
        // Incidents on a service no change touches are never looked up.
        let service_code = timeline.service.index();
        for (start, service) in incidents.start.iter().zip(&incidents.service) {
            if let Some(&code) = service_code.get(service.as_str()) {
                services[code as usize].incidents.push(*start);
            }
        }
        services.par_iter_mut().for_each(Timeline::sort);
        authors.par_iter_mut().for_each(Timeline::sort);
        add_expected(&mut authors, &services, timeline);
        HistoryIndex { services, authors }
    }

    /// Adds the history columns of the rows `rows` of the indexed `timeline` to `frame`
    /// (whose rows correspond to `rows`).
    pub fn add_to(&self, frame: &mut Frame, timeline: &Events, rows: &[usize]) {
        let (services, authors) = (&self.services, &self.authors);
        // The rows grouped by service (and by author), each group in time order: every
        // count is then a cursor moving forward over a sorted timeline, not a binary search.
        let ts = &timeline.ts;
        let by_service: Vec<Vec<(u32, [f64; 6])>> = groups(rows, &timeline.service, ts)
            .into_par_iter()
            .enumerate()
            .map(|(code, group)| {
                let s = &services[code];
                let (mut incidents, mut incidents_7d, mut incidents_30d) = (
                    Cursor::new(&s.incidents),
                    Cursor::new(&s.incidents),
                    Cursor::new(&s.incidents),
                );
                let (mut changes, mut changes_7d) =
                    (Cursor::new(&s.changes), Cursor::new(&s.changes));
                let mut caused = Cursor::new(&s.caused);
                group
                    .into_iter()
                    .map(|i| {
                        let t = ts[rows[i as usize]];
                        let incidents_before = incidents.before(t);
                        let last = incidents_before.checked_sub(1).map(|k| s.incidents[k]);
                        let days_since = last.map_or(RECENCY_CAP_DAYS, |l| {
                            ((t - l) as f64 / DAY as f64).min(RECENCY_CAP_DAYS)
                        });
                        let changes_before = changes.before(t);
                        let values = [
                            (incidents_before - incidents_7d.before(t - 7 * DAY)) as f64,
                            (incidents_before - incidents_30d.before(t - 30 * DAY)) as f64,
                            days_since,
                            (changes_before - changes_7d.before(t - 7 * DAY)) as f64,
                            changes_before as f64,
                            caused.before(t) as f64,
                        ];
                        (i, values)
                    })
                    .collect()
            })
            .collect();
        let by_author: Vec<Vec<(u32, [f64; 3])>> = groups(rows, &timeline.author, ts)
            .into_par_iter()
            .enumerate()
            .map(|(code, group)| {
                let a = &authors[code];
                let (mut changes, mut caused) = (Cursor::new(&a.changes), Cursor::new(&a.caused));
                group
                    .into_iter()
                    .map(|i| {
                        let t = ts[rows[i as usize]];
                        let before = changes.before(t);
                        (
                            i,
                            [before as f64, caused.before(t) as f64, a.expected[before]],
                        )
                    })
                    .collect()
            })
            .collect();
        let columns: Vec<Vec<f64>> = (0..HISTORY_COLUMNS.len())
            .into_par_iter()
            .map(|k| {
                let mut column = vec![0.0; rows.len()];
                if k < 6 {
                    for &(i, v) in by_service.iter().flatten() {
                        column[i as usize] = v[k];
                    }
                } else {
                    for &(i, v) in by_author.iter().flatten() {
                        column[i as usize] = v[k - 6];
                    }
                }
                column
            })
            .collect();
        for (name, column) in HISTORY_COLUMNS.iter().zip(columns) {
            frame.insert(*name, Column::Num(column));
        }
    }
}

/// Fills each author's running sums of expected incidents: a change is expected to cause
/// its service's incident rate as it stood just before the change (the service's
/// incident-causing changes visible then over its earlier changes, with
/// [`SERVICE_EXPECTATION_WEIGHT`] pseudo-changes at the whole timeline's rate then).
/// Each term sees only what happened before its own change, which is before any later
/// change of the author's that sums it.
fn add_expected(authors: &mut [Timeline], services: &[Timeline], timeline: &Events) {
    let mut all_changes = timeline.ts.clone();
    all_changes.par_sort_unstable();
    let mut all_caused: Vec<i64> = services
        .iter()
        .flat_map(|s| s.caused.iter().copied())
        .collect();
    all_caused.par_sort_unstable();
    let before = |values: &[i64], t: i64| values.partition_point(|&v| v < t) as f64;
    let expected: Vec<f64> = (0..timeline.len())
        .into_par_iter()
        .map(|r| {
            let t = timeline.ts[r];
            let changes = before(&all_changes, t);
            let overall = if changes > 0.0 {
                before(&all_caused, t) / changes
            } else {
                0.0
            };
            let s = &services[timeline.service.codes[r] as usize];
            (before(&s.caused, t) + SERVICE_EXPECTATION_WEIGHT * overall)
                / (before(&s.changes, t) + SERVICE_EXPECTATION_WEIGHT)
        })
        .collect();
    let mut by_author: Vec<Vec<(i64, f64)>> = vec![Vec::new(); authors.len()];
    for r in 0..timeline.len() {
        by_author[timeline.author.codes[r] as usize].push((timeline.ts[r], expected[r]));
    }
    authors
        .par_iter_mut()
        .zip(by_author)
        .for_each(|(author, mut terms)| {
            // Ties in time summed in a fixed order, so the sums do not depend on row order.
            terms.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
            author.expected = std::iter::once(0.0)
                .chain(terms.iter().scan(0.0, |sum, &(_, e)| {
                    *sum += e;
                    Some(*sum)
                }))
                .collect();
        });
}

/// The positions in `rows` grouped by the code `codes` gives their timeline row, each
/// group in time order (ties in position order).
fn groups(rows: &[usize], codes: &Interned, ts: &[i64]) -> Vec<Vec<u32>> {
    let mut groups = vec![Vec::new(); codes.names.len()];
    for (i, &r) in rows.iter().enumerate() {
        groups[codes.codes[r] as usize].push(i as u32);
    }
    groups
        .par_iter_mut()
        .for_each(|g| g.sort_by_key(|&i| ts[rows[i as usize]]));
    groups
}

/// Counts the values of a sorted timeline before a time that only moves forward.
struct Cursor<'a> {
    values: &'a [i64],
    before: usize,
}

impl<'a> Cursor<'a> {
    fn new(values: &'a [i64]) -> Cursor<'a> {
        Cursor { values, before: 0 }
    }

    /// Number of values strictly before `t`, which is at least the last `t` asked.
    fn before(&mut self, t: i64) -> usize {
        while self.values.get(self.before).is_some_and(|&v| v < t) {
            self.before += 1;
        }
        self.before
    }
}

/// The incidents that count under `max_severity`.
pub fn severe_enough(incidents: &Incidents, max_severity: u8) -> Incidents {
    let keep: Vec<usize> = (0..incidents.len())
        .filter(|&i| incidents.severity[i] <= max_severity)
        .collect();
    Incidents {
        ids: keep.iter().map(|&i| incidents.ids[i].clone()).collect(),
        start: keep.iter().map(|&i| incidents.start[i]).collect(),
        service: keep.iter().map(|&i| incidents.service[i].clone()).collect(),
        severity: keep.iter().map(|&i| incidents.severity[i]).collect(),
        causes: keep.iter().map(|&i| incidents.causes[i].clone()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::label::{attribute_incidents, LabelParams};

    fn column(frame: &Frame, name: &str) -> Vec<f64> {
        match frame.get(name) {
            Some(Column::Num(v)) => v.clone(),
            other => panic!("{name}: {other:?}"),
        }
    }

    /// The history of changes c0-c3 at `ts` on `services` by `authors`, where c0 causes
    /// one incident (on its service) starting at `incident`.
    fn history_of(ts: [i64; 4], services: [&str; 4], authors: [&str; 4], incident: i64) -> Frame {
        let changes = crate::load::Changes {
            ids: ["c0", "c1", "c2", "c3"].map(String::from).to_vec(),
            ts: ts.to_vec(),
            service: services.map(String::from).to_vec(),
            author: authors.map(String::from).to_vec(),
            label: None,
            frame: Frame::new(4),
        }
        .events();
        let incidents = Incidents {
            ids: vec!["i0".into()],
            start: vec![incident],
            service: vec![services[0].into()],
            severity: vec![2],
            causes: vec![vec!["c0".into()]],
        };
        let labels = attribute_incidents(&changes, &incidents, LabelParams::default());
        let mut frame = Frame::new(4);
        HistoryIndex::new(&changes, &labels, &incidents).add_to(
            &mut frame,
            &changes,
            &[0, 1, 2, 3],
        );
        frame
    }

    #[test]
    fn equal_timestamps_are_not_history_and_causes_count_once_started() {
        // Author "a": c0 at day 0 (causes incident at day 2), c1 at day 1, c2 and c3 both at day 3.
        let frame = history_of(
            [0, DAY, 3 * DAY, 3 * DAY],
            ["s", "s", "s", "t"],
            ["a"; 4],
            2 * DAY,
        );
        // c1 (day 1) sees c0 but not yet its incident (day 2).
        assert_eq!(column(&frame, "author_prior_changes"), [0.0, 1.0, 2.0, 2.0]);
        assert_eq!(
            column(&frame, "author_incident_changes"),
            [0.0, 0.0, 1.0, 1.0]
        );
        // c2 and c3 share a timestamp: neither sees the other.
        assert_eq!(
            column(&frame, "service_prior_changes"),
            [0.0, 1.0, 2.0, 0.0]
        );
        assert_eq!(column(&frame, "service_incidents_7d"), [0.0, 0.0, 1.0, 0.0]);
        assert_eq!(
            column(&frame, "days_since_service_incident"),
            [RECENCY_CAP_DAYS, RECENCY_CAP_DAYS, 1.0, RECENCY_CAP_DAYS]
        );
        assert_eq!(
            column(&frame, "service_incident_changes"),
            [0.0, 0.0, 1.0, 0.0]
        );
    }

    #[test]
    fn expected_incidents_sum_each_earlier_change_s_service_rate_as_it_stood() {
        // One service. b's c0 (day 0) causes an incident at noon; a changes on days 1
        // and 2; b again on day 2.
        let frame = history_of(
            [0, DAY, 2 * DAY, 2 * DAY],
            ["s"; 4],
            ["b", "a", "a", "b"],
            DAY / 2,
        );
        // c1's service rate: 1 of 1 earlier change, shrunk towards the timeline's 1 of 1:
        // 1. So a's c2 expects 1 incident from c1, though by day 2 the service's rate has
        // fallen to (1 + 20 x 1/2) / (2 + 20) = 1/2. c0 had no history: 0.
        assert_eq!(
            column(&frame, "author_expected_incidents"),
            [0.0, 0.0, 1.0, 0.0]
        );
        assert_eq!(
            column(&frame, "author_incident_changes"),
            [0.0, 0.0, 0.0, 1.0]
        );
    }

    #[test]
    fn every_history_column_says_what_it_counts() {
        assert_eq!(HISTORY_COLUMNS[0], "service_incidents_7d");
        assert_eq!(HISTORY_COLUMNS[8], "author_expected_incidents");
        assert_eq!(counts("service_prior_changes"), Some(Counts::Changes));
        assert_eq!(counts("lines_changed"), None);
    }

    #[test]
    fn windows_are_half_open() {
        // [DAY, 8 * DAY) holds one of 0, 7 days, 8 days.
        let v = [0, 7 * DAY, 8 * DAY];
        let (mut to, mut from) = (Cursor::new(&v), Cursor::new(&v));
        assert_eq!(to.before(8 * DAY) - from.before(DAY), 1);
        let mut c = Cursor::new(&[1, 2, 2, 3]);
        assert_eq!(c.before(2), 1);
        assert_eq!(c.before(2), 1);
        assert_eq!(c.before(3), 3);
        assert_eq!(c.before(9), 4);
    }
}
