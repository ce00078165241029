//! Wiring the stages for a set of target changes: link incidents over the whole
//! timeline, then build the target rows' frame (their own columns plus point-in-time
//! history) and evaluate the feature definitions into a design matrix.

use ndarray::Array2;

use crate::error::{Error, Result};
use crate::features::{design_matrix, FeatureDef};
use crate::frame::Frame;
use crate::history::{add_history, severe_enough};
use crate::label::{attribute_incidents, LabelParams, Labels};
use crate::load::{Changes, Incidents};

/// The target rows, ready for a model.
pub struct Prepared {
    /// The target rows' columns, history included.
    pub frame: Frame,
    /// Raw (unstandardised) feature values, rows in target order.
    pub x: Array2<f64>,
    /// Labels over the whole timeline.
    pub labels: Labels,
}

/// Labels `timeline` with `incidents` and builds features for the timeline rows `rows`.
pub fn prepare(
    timeline: &Changes,
    incidents: &Incidents,
    params: LabelParams,
    features: &[FeatureDef],
    rows: &[usize],
) -> Result<Prepared> {
    let labels = attribute_incidents(timeline, incidents, params);
    let severe = severe_enough(incidents, params.max_severity);
    let mut frame = timeline.frame.select(rows);
    add_history(&mut frame, timeline, &labels, &severe, rows);
    let x = design_matrix(features, &frame)?;
    Ok(Prepared { frame, x, labels })
}

/// Joins past changes and the changes to score into one timeline: a change present in
/// both counts once (the row being scored wins). Returns the timeline and, for each
/// scored change in input order, its row in the timeline.
pub fn join_history(history: Option<Changes>, scored: &Changes) -> Result<(Changes, Vec<usize>)> {
    let Some(history) = history else {
        return Ok((scored.clone(), (0..scored.len()).collect()));
    };
    let scored_ids: std::collections::HashSet<&str> =
        scored.ids.iter().map(String::as_str).collect();
    let keep: Vec<usize> = (0..history.len())
        .filter(|&r| !scored_ids.contains(history.ids[r].as_str()))
        .collect();
    let mut timeline = if keep.len() == history.len() {
        history
    } else {
        history.select(&keep)
    };
    let offset = timeline.len();
    timeline.append(scored).map_err(|e| match e {
        Error::Data(m) => Error::Data(format!("--history and --changes do not match: {m}")),
        other => other,
    })?;
    Ok((timeline, (offset..offset + scored.len()).collect()))
}
