//! Point-in-time history features. For a change at time `t`, only changes and incidents
//! strictly before `t` are visible, and a past change counts as incident-causing only
//! once an incident linked to it has started before `t`. Each feature is two binary
//! searches in per-service or per-author sorted timestamps: O(n log n) in all.

use rayon::prelude::*;

use crate::frame::{Column, Frame};
use crate::label::Labels;
use crate::load::{Events, Incidents};

const DAY: i64 = 86_400;
/// Days since the service's last incident are capped here (and a service that never had
/// one gets the cap), so one quiet year and "never" look alike.
pub const RECENCY_CAP_DAYS: f64 = 365.0;

/// The history columns, in the order they are added.
pub const HISTORY_COLUMNS: [&str; 8] = [
    "service_incidents_7d",
    "service_incidents_30d",
    "days_since_service_incident",
    "service_changes_7d",
    "service_prior_changes",
    "service_incident_changes",
    "author_prior_changes",
    "author_incident_changes",
];

/// Sorted event times of one service or author.
#[derive(Default)]
struct Timeline {
    changes: Vec<i64>,
    /// For each incident-causing change: when that became visible (max of its own
    /// timestamp and its first incident's start).
    caused: Vec<i64>,
    incidents: Vec<i64>,
}

impl Timeline {
    fn sort(&mut self) {
        self.changes.sort_unstable();
        self.caused.sort_unstable();
        self.incidents.sort_unstable();
    }
}

/// Number of values in sorted `v` within `[from, to)`.
#[cfg(test)]
fn count_between(v: &[i64], from: i64, to: i64) -> usize {
    v.partition_point(|&x| x < to) - v.partition_point(|&x| x < from)
}

/// Number of values in sorted `v` strictly before `t`.
fn count_before(v: &[i64], t: i64) -> usize {
    v.partition_point(|&x| x < t)
}

/// Computes the history columns for the timeline rows `rows` and adds them to `frame`
/// (whose rows correspond to `rows`). `incidents` must already be severity-filtered
/// the same way the labels were.
pub fn add_history(
    frame: &mut Frame,
    timeline: &Events,
    labels: &Labels,
    incidents: &Incidents,
    rows: &[usize],
) {
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

    let values: Vec<[f64; 8]> = rows
        .par_iter()
        .map(|&r| {
            let t = timeline.ts[r];
            let s = &services[timeline.service.codes[r] as usize];
            let a = &authors[timeline.author.codes[r] as usize];
            let incidents_before = count_before(&s.incidents, t);
            let last = incidents_before.checked_sub(1).map(|i| s.incidents[i]);
            let days_since = last.map_or(RECENCY_CAP_DAYS, |l| {
                ((t - l) as f64 / DAY as f64).min(RECENCY_CAP_DAYS)
            });
            let changes_before = count_before(&s.changes, t);
            [
                (incidents_before - count_before(&s.incidents, t - 7 * DAY)) as f64,
                (incidents_before - count_before(&s.incidents, t - 30 * DAY)) as f64,
                days_since,
                (changes_before - count_before(&s.changes, t - 7 * DAY)) as f64,
                changes_before as f64,
                count_before(&s.caused, t) as f64,
                count_before(&a.changes, t) as f64,
                count_before(&a.caused, t) as f64,
            ]
        })
        .collect();
    let columns: Vec<Vec<f64>> = (0..HISTORY_COLUMNS.len())
        .into_par_iter()
        .map(|k| values.iter().map(|v| v[k]).collect())
        .collect();
    for (name, column) in HISTORY_COLUMNS.iter().zip(columns) {
        frame.insert(*name, Column::Num(column));
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

    #[test]
    fn equal_timestamps_are_not_history_and_causes_count_once_started() {
        // Author "a": c0 at day 0 (causes incident at day 2), c1 at day 1, c2 and c3 both at day 3.
        let changes = crate::load::Changes {
            ids: ["c0", "c1", "c2", "c3"].map(String::from).to_vec(),
            ts: vec![0, DAY, 3 * DAY, 3 * DAY],
            service: ["s", "s", "s", "t"].map(String::from).to_vec(),
            author: ["a", "a", "a", "a"].map(String::from).to_vec(),
            label: None,
            frame: Frame::new(4),
        }
        .events();
        let incidents = Incidents {
            ids: vec!["i0".into()],
            start: vec![2 * DAY],
            service: vec!["s".into()],
            severity: vec![2],
            causes: vec![vec!["c0".into()]],
        };
        let labels = attribute_incidents(&changes, &incidents, LabelParams::default());
        let mut frame = Frame::new(4);
        add_history(&mut frame, &changes, &labels, &incidents, &[0, 1, 2, 3]);
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
    fn windows_are_half_open() {
        assert_eq!(count_between(&[0, 7 * DAY, 8 * DAY], DAY, 8 * DAY), 1);
        assert_eq!(count_between(&[DAY, 8 * DAY], DAY, 8 * DAY), 1);
        assert_eq!(count_before(&[1, 2, 2, 3], 2), 1);
    }
}
