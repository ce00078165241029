//! Analysis of a scored history, shared by `export` and `report`: every change of a
//! labelled history scored by a model (with its label, point-in-time features,
//! contributions, tier, violated policies and reasons), and the summaries built on it:
//! the gating curve, risk by segment and feature importance.

use std::borrow::Cow;
use std::collections::BTreeMap;

use polars::prelude::DataFrame;
use rayon::prelude::*;

use crate::commands::score::score_frame_explained;
use crate::commands::Inputs;
use crate::error::Result;
use crate::frame::{Column, Frame};
use crate::label::{LabelSource, LabelSummary};
use crate::load::{load_changes, load_incidents, Incidents, LoadedChanges, Read};
use crate::metrics::capture_curve;
use crate::model::{LearnerChoice, Model, Score};
use crate::pipeline::prepare;
use crate::policy::{Action, Policies};
use crate::progress::Progress;

/// Every change of a history, in input order, as the model sees and scores it.
pub struct ScoredHistory {
    pub ids: Vec<String>,
    /// Unix seconds, UTC.
    pub ts: Vec<i64>,
    /// Empty strings when the config names no service column.
    pub service: Vec<String>,
    /// Empty strings when the config names no author column.
    pub author: Vec<String>,
    /// The typed input columns, calendar columns and point-in-time history columns.
    pub frame: Frame,
    /// The model's feature values (before standardisation): `design[j][i]` is feature
    /// `j` (model order) of change `i`. Empty when the history was scored without them
    /// ([`score_history`]'s `keep_design`); [`ScoredHistory::feature`] gives a feature
    /// either way.
    pub design: Vec<Vec<f64>>,
    /// Caused an incident (or labelled positive by the config's label column).
    pub labels: Vec<bool>,
    pub label_source: Vec<LabelSource>,
    pub label_summary: LabelSummary,
    /// Risk, logit and per-feature contributions (model feature order); the
    /// contributions are empty for a logistic model, read them with
    /// [`contribution_column`].
    pub scores: Vec<Score>,
    /// Tier index into [`crate::model::TIER_NAMES`] (model tiers).
    pub tiers: Vec<usize>,
    /// Violated guardrails: rule id and action, in policy file order.
    pub policy: Vec<Vec<(String, Action)>>,
    /// The top factors, worded, `; `-separated.
    pub reasons: Vec<String>,
    /// The input's columns that changerisk does not read, in input order.
    pub passthrough: DataFrame,
}

impl ScoredHistory {
    /// Number of changes.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there are no changes.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Every change's risk.
    pub fn risks(&self) -> Vec<f64> {
        self.scores.iter().map(|s| s.risk).collect()
    }

    /// Feature `j`'s values (model order): kept from scoring, or evaluated again on the
    /// frame (the same values, bit for bit) when the history was scored without them.
    pub fn feature(&self, model: &Model, j: usize) -> Result<Cow<'_, [f64]>> {
        match self.design.get(j) {
            Some(values) => Ok(Cow::Borrowed(values)),
            None => Ok(Cow::Owned(model.features[j].def.expr.eval(&self.frame)?)),
        }
    }

    /// Violated policy ids of change `i`, `;`-separated (empty when none).
    pub fn policy_ids(&self, i: usize) -> String {
        crate::policy::joined_ids(&self.policy[i])
    }
}

/// Loads a labelled history (labels from incidents or from the config's label column),
/// computes every change's point-in-time history over the whole history, and scores
/// every change with `model` (tiers from the model, `policies` checked). The caller
/// logs the labels' summary (`label_summary`) if it has not already. Without
/// `keep_design` the feature values are not kept (a report needs one at a time: at 1M
/// changes of the built-in schema they take 344 MB).
pub fn score_history(
    model: &Model,
    inputs: &Inputs,
    policies: &Policies,
    progress: &Progress,
    keep_design: bool,
) -> Result<ScoredHistory> {
    // `Inputs::load` drops the pass-through columns, which the export keeps.
    let incidents_path = inputs.incidents()?;
    progress.stage("loading changes");
    let LoadedChanges {
        mut changes,
        passthrough,
    } = load_changes(&inputs.changes, &inputs.config, Read::Labelled)?;
    progress.stage("loading incidents");
    let incidents = match incidents_path {
        Some(path) => load_incidents(path)?,
        None => Incidents::default(),
    };
    progress.stage("linking incidents and history features");
    let rows: Vec<usize> = (0..changes.len()).collect();
    let frame = std::mem::take(&mut changes.frame);
    let prepared = prepare(&changes, &incidents, model.labelling, &rows, frame);

    progress.stage("scoring");
    let frame = prepared.frame;
    let design: Vec<Vec<f64>> = if keep_design {
        model
            .features
            .par_iter()
            .map(|f| f.def.expr.eval(&frame))
            .collect::<Result<_>>()?
    } else {
        Vec::new()
    };
    let n = frame.len();
    let (mut scores, mut tiers) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut policy, mut reasons) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for s in score_frame_explained(model, &model.tiers, policies, &frame)? {
        scores.push(Score {
            risk: s.risk,
            logit: s.logit,
            // A logistic model's contributions follow from the feature values
            // ([`contribution_column`]): not kept, they would be 8 bytes per feature
            // and change.
            contributions: if model.trees.is_some() {
                s.contributions
            } else {
                Vec::new()
            },
        });
        tiers.push(s.tier);
        policy.push(s.policy);
        reasons.push(s.reasons);
    }
    let labels = prepared.labels;
    Ok(ScoredHistory {
        ids: changes.ids,
        ts: changes.ts,
        service: changes.service,
        author: changes.author,
        frame,
        design,
        labels: labels.caused,
        label_source: labels.source,
        label_summary: labels.summary,
        scores,
        tiers,
        policy,
        reasons,
        passthrough,
    })
}

/// One point of the gating curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GatingPoint {
    /// Share of changes gated (the riskiest first).
    pub gated_share: f64,
    /// Share of incident-causing changes among them.
    pub caught_share: f64,
}

/// The gating curve at `points` evenly spaced gated shares from 0 to 1 (both included;
/// at least 2 points). Empty when no change is labelled incident-causing.
///
/// Each point equals [`crate::metrics::capture_at`] at its share (rows tied at the cut taken in
/// proportion), computed from one sort rather than one per point, so that a million
/// changes take a fraction of a second.
pub fn gating_curve(risks: &[f64], labels: &[bool], points: usize) -> Vec<GatingPoint> {
    let points = points.max(2);
    let shares: Vec<f64> = (0..points)
        .map(|k| k as f64 / (points - 1) as f64)
        .collect();
    capture_curve(risks, labels, &shares)
        .map(|caught| {
            shares
                .iter()
                .zip(caught)
                .map(|(&gated_share, caught_share)| GatingPoint {
                    gated_share,
                    caught_share,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Changes sharing AI involvement, permission level and review status.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub ai_involvement: String,
    pub permission_level: String,
    pub review_status: String,
    pub changes: usize,
    pub positives: usize,
    pub mean_risk: f64,
}

/// The columns that define a segment.
const SEGMENT_COLUMNS: [&str; 3] = ["ai_involvement", "permission_level", "review_status"];

/// Risk by AI involvement x permission level x review status: one segment per
/// combination present, in the contract's level order. Empty when the history lacks
/// those columns (a config without the built-in features).
pub fn segments(history: &ScoredHistory) -> Vec<Segment> {
    let mut columns = Vec::with_capacity(3);
    for name in SEGMENT_COLUMNS {
        match history.frame.get(name) {
            Some(Column::Cat { codes, levels }) => columns.push((codes, levels)),
            _ => return Vec::new(),
        }
    }
    let mut groups: BTreeMap<[u32; 3], (usize, usize, f64)> = BTreeMap::new();
    for i in 0..history.len() {
        let key = [columns[0].0[i], columns[1].0[i], columns[2].0[i]];
        let g = groups.entry(key).or_default();
        g.0 += 1;
        g.1 += usize::from(history.labels[i]);
        g.2 += history.scores[i].risk;
    }
    groups
        .into_iter()
        .map(|(key, (changes, positives, risk))| {
            let level = |k: usize| columns[k].1[key[k] as usize].clone();
            Segment {
                ai_involvement: level(0),
                permission_level: level(1),
                review_status: level(2),
                changes,
                positives,
                mean_risk: risk / changes as f64,
            }
        })
        .collect()
}

/// One model feature's weight and its actual pull on the history's scores.
#[derive(Debug, Clone, PartialEq)]
pub struct Importance {
    pub feature: String,
    /// The human factor the feature is reported under.
    pub factor: String,
    /// Coefficient on the standardised scale (comparable across features), when the
    /// model has a logistic part.
    pub coefficient: Option<f64>,
    /// Whether the feature's contribution grows with its value over the history.
    pub raises_risk: bool,
    /// Mean |contribution to the logit| over the history: how much the feature moves
    /// scores in practice.
    pub mean_abs_contribution: f64,
    /// Mean contribution to the logit over the history (signed).
    pub mean_contribution: f64,
}

/// Feature `j`'s contribution to the logit of the changes `rows`
/// (`scores[i].contributions[j]`).
/// For a logistic model this is the arithmetic of [`Model::score_row`] (equal bit for
/// bit) run down one contiguous column, much faster than gathering it from the
/// per-change scores of a large history.
pub fn contribution_column(
    model: &Model,
    history: &ScoredHistory,
    j: usize,
    rows: std::ops::Range<usize>,
) -> Result<Vec<f64>> {
    if model.trees.is_some() {
        return Ok(history.scores[rows]
            .iter()
            .map(|s| s.contributions[j])
            .collect());
    }
    Ok(linear_column(model, j, &history.feature(model, j)?[rows]))
}

/// A logistic model's contributions of feature `j` with the values `values`.
fn linear_column(model: &Model, j: usize, values: &[f64]) -> Vec<f64> {
    values
        .iter()
        .map(|&v| model.linear_contribution(j, v))
        .collect()
}

/// Feature importance over a scored history, the most influential first (by mean
/// |contribution|; ties in model order).
pub fn importance(model: &Model, history: &ScoredHistory) -> Result<Vec<Importance>> {
    let n = history.len().max(1) as f64;
    let mut out: Vec<Importance> = model
        .features
        .par_iter()
        .enumerate()
        .map(|(j, f)| {
            let values = history.feature(model, j)?;
            // (A logistic model's from the values at hand, not evaluated a second time.)
            let column = match &model.trees {
                Some(_) => contribution_column(model, history, j, 0..history.len())?,
                None => linear_column(model, j, &values),
            };
            let mean_value = values.iter().sum::<f64>() / n;
            let covariance: f64 = values
                .iter()
                .zip(&column)
                .map(|(v, c)| (v - mean_value) * c)
                .sum();
            Ok(Importance {
                feature: f.def.name.clone(),
                factor: f.def.factor.clone(),
                coefficient: (model.trees.is_none() || model.learner == LearnerChoice::Blend)
                    .then_some(f.coefficient),
                raises_risk: covariance > 0.0,
                mean_abs_contribution: column.iter().map(|c| c.abs()).sum::<f64>() / n,
                mean_contribution: column.iter().sum::<f64>() / n,
            })
        })
        .collect::<Result<_>>()?;
    out.sort_by(|a, b| b.mean_abs_contribution.total_cmp(&a.mean_abs_contribution));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::capture_at;

    #[test]
    fn gating_curve_runs_from_nothing_to_everything() {
        // By hand: the riskiest of 4 is the only positive besides the third.
        let risks = [0.9, 0.1, 0.5, 0.2];
        let labels = [true, false, true, false];
        let curve = gating_curve(&risks, &labels, 5);
        let shares: Vec<(f64, f64)> = curve
            .iter()
            .map(|p| (p.gated_share, p.caught_share))
            .collect();
        assert_eq!(
            shares,
            [(0.0, 0.0), (0.25, 0.5), (0.5, 1.0), (0.75, 1.0), (1.0, 1.0)]
        );
        assert!(gating_curve(&risks, &[false; 4], 5).is_empty());
    }

    #[test]
    fn gating_curve_agrees_with_capture_at_with_ties() {
        // Coarse risks (many ties) and a deterministic label pattern.
        let risks: Vec<f64> = (0..1000).map(|i| ((i * 37) % 11) as f64 / 10.0).collect();
        let labels: Vec<bool> = (0..1000).map(|i| (i * 13) % 7 == 0).collect();
        for p in gating_curve(&risks, &labels, 101) {
            let want = capture_at(&risks, &labels, p.gated_share).unwrap();
            assert!(
                (p.caught_share - want).abs() < 1e-12,
                "at {}: {} vs capture_at {}",
                p.gated_share,
                p.caught_share,
                want
            );
        }
    }
}
