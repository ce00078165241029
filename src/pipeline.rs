//! Wiring the stages for a set of target changes: link incidents over the whole
//! timeline, then build the target rows' frame (their own columns plus point-in-time
//! history).

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::features::TIME_COLUMN;
use crate::frame::{Column, Frame};
use crate::history::{severe_enough, HistoryIndex};
use crate::label::{attribute_incidents, LabelParams, Labels};
use crate::load::{Changes, Events, Incidents};

/// The target rows, ready for the feature definitions.
pub struct Prepared {
    /// The target rows' columns, history included.
    pub frame: Frame,
    /// Labels over the whole timeline.
    pub labels: Labels,
}

/// Labels `timeline` (from its label column, else by linking `incidents`) and adds the
/// point-in-time history of the timeline rows `rows` to `frame`, which holds those rows'
/// own columns in the same order.
pub fn prepare(
    timeline: &Changes,
    incidents: &Incidents,
    params: LabelParams,
    rows: &[usize],
    frame: Frame,
) -> Prepared {
    prepare_events(&timeline.events(), incidents, params, rows, frame)
}

/// [`prepare`] for a timeline of [`Events`].
pub fn prepare_events(
    timeline: &Events,
    incidents: &Incidents,
    params: LabelParams,
    rows: &[usize],
    frame: Frame,
) -> Prepared {
    let indexed = Indexed::new(timeline, incidents, params);
    let frame = indexed.prepare(timeline, rows, frame);
    Prepared {
        frame,
        labels: indexed.labels,
    }
}

/// A timeline labelled (from its label column, else by linking `incidents`) and indexed
/// for history features once, so that its rows can be prepared a part at a time.
pub struct Indexed {
    /// Labels over the whole timeline.
    pub labels: Labels,
    index: HistoryIndex,
}

impl Indexed {
    /// Labels and indexes `timeline`.
    pub fn new(timeline: &Events, incidents: &Incidents, params: LabelParams) -> Indexed {
        let labels = match &timeline.label {
            Some(given) => Labels::from_column(given),
            None => attribute_incidents(timeline, incidents, params),
        };
        let severe = severe_enough(incidents, params.max_severity);
        let index = HistoryIndex::new(timeline, &labels, &severe);
        Indexed { labels, index }
    }

    /// Adds the point-in-time history and the time of the timeline rows `rows` to
    /// `frame`, which holds those rows' own columns in the same order.
    pub fn prepare(&self, timeline: &Events, rows: &[usize], mut frame: Frame) -> Frame {
        self.index.add_to(&mut frame, timeline, rows);
        frame.insert(
            TIME_COLUMN,
            Column::Num(rows.iter().map(|&r| timeline.ts[r] as f64).collect()),
        );
        frame
    }
}

/// Joins past changes and the changes to score into one timeline of events (identity
/// and timing; feature columns are dropped): a change present in both counts once (the
/// row being scored wins). Returns the timeline and, for each scored change in input
/// order, its row in the timeline.
pub fn join_history(
    history: Option<Changes>,
    mut scored: Changes,
) -> Result<(Changes, Vec<usize>)> {
    scored.frame = Frame::new(scored.len());
    let Some(mut history) = history else {
        let rows = (0..scored.len()).collect();
        return Ok((scored, rows));
    };
    history.frame = Frame::new(history.len());
    let scored_ids: rustc_hash::FxHashSet<&str> = scored.ids.iter().map(String::as_str).collect();
    let keep: Vec<usize> = (0..history.len())
        .filter(|&r| !scored_ids.contains(history.ids[r].as_str()))
        .collect();
    let mut timeline = if keep.len() == history.len() {
        history
    } else {
        history.select(&keep)
    };
    let offset = timeline.len();
    timeline.append(&scored).map_err(|e| match e {
        Error::Data(m) => Error::Data(format!("--history and --changes do not match: {m}")),
        other => other,
    })?;
    Ok((timeline, (offset..offset + scored.len()).collect()))
}

/// [`join_history`] for [`Events`]. Also gives, when there are any, the changes in both
/// whose copies disagree on time, service or author (the scored copy is the one kept):
/// how many, and the first one's id.
pub fn join_events(
    history: Option<Events>,
    scored: Events,
) -> (Events, Vec<usize>, Option<(usize, String)>) {
    let Some(history) = history else {
        let rows = (0..scored.len()).collect();
        return (scored, rows, None);
    };
    let scored_at: rustc_hash::FxHashMap<&str, usize> = scored
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id, i))
        .collect();
    let differs = |r: usize, i: usize| {
        history.ts[r] != scored.ts[i]
            || history.service.get(r) != scored.service.get(i)
            || history.author.get(r) != scored.author.get(i)
    };
    // Per history row: its row in `scored`, when the change is scored too.
    let scored_row: Vec<Option<usize>> = (0..history.len())
        .into_par_iter()
        .map(|r| scored_at.get(history.ids.get(r)).copied())
        .collect();
    drop(scored_at);
    let keep: Vec<usize> = (0..history.len())
        .filter(|&r| scored_row[r].is_none())
        .collect();
    let mut differing =
        (0..history.len()).filter(|&r| scored_row[r].is_some_and(|i| differs(r, i)));
    let conflicts = differing
        .next()
        .map(|r| (1 + differing.count(), history.ids.get(r).to_string()));
    let mut timeline = if keep.len() == history.len() {
        history
    } else {
        history.select(&keep)
    };
    let offset = timeline.len();
    timeline.append(&scored);
    (
        timeline,
        (offset..offset + scored.len()).collect(),
        conflicts,
    )
}

/// A labelled history with its frame, every row in time order.
pub struct TimeOrdered {
    pub prepared: Prepared,
    /// Labels, in time order.
    pub y: Vec<bool>,
    /// Timestamps, in time order.
    pub ts: Vec<i64>,
    /// When each label became known, in time order: the start of the change's first
    /// incident (`None` for a negative label or one given by a label column).
    pub first_incident: Vec<Option<i64>>,
    /// The input row of each time-ordered row.
    pub order: Vec<usize>,
}

/// Prepares every change of a history, in time order (ties by `change_id`).
pub fn time_ordered(changes: &Changes, incidents: &Incidents, params: LabelParams) -> TimeOrdered {
    let order = changes.time_order();
    let prepared = prepare(
        changes,
        incidents,
        params,
        &order,
        changes.frame.select(&order),
    );
    let y = order.iter().map(|&r| prepared.labels.caused[r]).collect();
    let ts = order.iter().map(|&r| changes.ts[r]).collect();
    let first_incident = order
        .iter()
        .map(|&r| prepared.labels.first_incident[r])
        .collect();
    TimeOrdered {
        prepared,
        y,
        ts,
        first_incident,
        order,
    }
}
