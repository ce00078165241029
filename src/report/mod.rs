//! The visual risk report: what goes into it ([`Report`], assembled from a time-ordered
//! evaluation and a scored history) and how it is drawn ([`html`] lays out one
//! self-contained page, [`svg`] draws its charts).
//!
//! Two sources, each named on the page: the headline metrics and the ROC, calibration
//! and gating curves come from `evaluate`'s time-ordered protocol (a model trained like
//! the given one on the past, measured on the most recent changes, out of sample); risk
//! by segment, top factors and the riskiest changes come from the given model scoring
//! the whole history.

pub mod html;
pub mod svg;

use crate::analysis::{self, GatingPoint, Importance, ScoredHistory, Segment};
use crate::commands::evaluate::Evaluation;
use crate::error::Result;
use crate::model::TIER_NAMES;
use crate::schema::format_timestamp;

/// Everything the page shows.
pub struct Report {
    /// Where the model and history came from, as given on the command line.
    pub model_file: String,
    pub changes_file: String,
    pub incidents_file: Option<String>,
    /// The history the model scored.
    pub history: HistorySummary,
    /// The time-ordered evaluation (headline metrics, calibration).
    pub evaluation: Evaluation,
    /// The evaluation's test period: ROC and gating curves.
    pub model_curves: Curves,
    /// The rule-only baseline in the same period (contract schema only).
    pub rule_curves: Option<Curves>,
    /// Risk by AI involvement x permission x review (empty without those columns).
    pub segments: Vec<Segment>,
    /// Features, the most influential first.
    pub importance: Vec<Importance>,
    /// The riskiest changes of the most recent [`RECENT_DAYS`] days, riskiest first.
    pub riskiest: Vec<RiskyChange>,
}

/// The scored history in numbers.
pub struct HistorySummary {
    pub changes: usize,
    pub positives: usize,
    pub time_from: String,
    pub time_to: String,
    /// How labels were derived (the labelling summary, one line).
    pub labels: String,
}

/// ROC and gating curves of one score over the history.
pub struct Curves {
    pub roc_auc: Option<f64>,
    /// (false positive rate, true positive rate), from (0, 0) to (1, 1).
    pub roc: Vec<(f64, f64)>,
    pub gating: Vec<GatingPoint>,
}

/// One of the riskiest recent changes.
pub struct RiskyChange {
    pub id: String,
    pub timestamp: String,
    pub service: String,
    /// AI involvement, permission and review, as given (empty when absent).
    pub ai_involvement: String,
    pub permission_level: String,
    pub review_status: String,
    pub risk: f64,
    pub tier: &'static str,
    pub policy: String,
    pub reasons: String,
    pub caused_incident: bool,
}

/// The window of "recent" changes, in days before the history's last change.
pub const RECENT_DAYS: i64 = 30;

/// Points of the gating curve.
const GATING_POINTS: usize = 101;

impl Report {
    /// Assembles the report from the evaluation and the model's scored history.
    pub fn build(
        files: (String, String, Option<String>),
        evaluation: Evaluation,
        history: &ScoredHistory,
        importance: Vec<Importance>,
        top: usize,
        rule_baseline: bool,
    ) -> Result<Report> {
        let (model_file, changes_file, incidents_file) = files;
        let labels = &history.labels;
        // ROC and gating curves: the evaluation's test period, out of sample.
        let test = &evaluation.test;
        let model_curves = curves(&test.risks, &test.labels);
        let rule_curves = test
            .rule
            .as_ref()
            .filter(|_| rule_baseline)
            .map(|rule| curves(rule, &test.labels));
        Ok(Report {
            model_file,
            changes_file,
            incidents_file,
            history: HistorySummary {
                changes: history.len(),
                positives: labels.iter().filter(|&&l| l).count(),
                time_from: history
                    .ts
                    .iter()
                    .min()
                    .map_or(String::new(), |&t| format_timestamp(t)),
                time_to: history
                    .ts
                    .iter()
                    .max()
                    .map_or(String::new(), |&t| format_timestamp(t)),
                labels: history.label_summary.describe().replace('\n', "; "),
            },
            evaluation,
            model_curves,
            rule_curves,
            segments: analysis::segments(history),
            importance,
            riskiest: riskiest_recent(history, top),
        })
    }
}

fn curves(scores: &[f64], labels: &[bool]) -> Curves {
    Curves {
        roc_auc: crate::metrics::roc_auc(scores, labels),
        roc: roc_points(scores, labels),
        gating: analysis::gating_curve(scores, labels, GATING_POINTS),
    }
}

/// The ROC curve: one point per distinct score (ties move diagonally), thinned so that
/// consecutive points are at least `1/400` apart. Empty when one class is absent.
pub fn roc_points(scores: &[f64], labels: &[bool]) -> Vec<(f64, f64)> {
    let pos = labels.iter().filter(|&&l| l).count() as f64;
    let neg = labels.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut points = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0.0, 0.0);
    for (k, &i) in order.iter().enumerate() {
        if labels[i] {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let group_ends = order.get(k + 1).is_none_or(|&j| scores[j] != scores[i]);
        if !group_ends {
            continue;
        }
        let point = (fp / neg, tp / pos);
        let last = points[points.len() - 1];
        let far = (point.0 - last.0).abs() + (point.1 - last.1).abs() >= 1.0 / 400.0;
        if far || k + 1 == order.len() {
            points.push(point);
        }
    }
    points
}

/// The `top` riskiest changes of the last [`RECENT_DAYS`] days of the history.
fn riskiest_recent(history: &ScoredHistory, top: usize) -> Vec<RiskyChange> {
    let Some(&last) = history.ts.iter().max() else {
        return Vec::new();
    };
    let since = last - RECENT_DAYS * 86_400;
    let mut recent: Vec<usize> = (0..history.len())
        .filter(|&i| history.ts[i] > since)
        .collect();
    recent.sort_by(|&a, &b| {
        history.scores[b]
            .risk
            .total_cmp(&history.scores[a].risk)
            .then(history.ts[b].cmp(&history.ts[a]))
            // Exact ties by id: the page does not depend on the input's row order.
            .then_with(|| history.ids[a].cmp(&history.ids[b]))
    });
    let text = |column: &str, i: usize| {
        history
            .frame
            .get(column)
            .map(|c| c.display(i))
            .unwrap_or_default()
    };
    recent
        .into_iter()
        .take(top)
        .map(|i| RiskyChange {
            id: history.ids[i].clone(),
            timestamp: format_timestamp(history.ts[i]),
            service: history.service[i].clone(),
            ai_involvement: text("ai_involvement", i),
            permission_level: text("permission_level", i),
            review_status: text("review_status", i),
            risk: history.scores[i].risk,
            tier: TIER_NAMES[history.tiers[i]],
            policy: history.policy_ids(i),
            reasons: history.reasons[i].clone(),
            caused_incident: history.labels[i],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roc_points_by_hand() {
        // Scores 0.8 (pos), 0.4 (neg), 0.35 (pos), 0.1 (neg): the staircase through
        // (0, .5), (.5, .5), (.5, 1), (1, 1); area 0.75 as sklearn's roc_auc_score gives.
        let s = [0.1, 0.4, 0.35, 0.8];
        let y = [false, false, true, true];
        assert_eq!(
            roc_points(&s, &y),
            vec![(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]
        );
    }

    #[test]
    fn roc_ties_move_diagonally() {
        let points = roc_points(&[0.3; 4], &[true, false, true, false]);
        assert_eq!(points, vec![(0.0, 0.0), (1.0, 1.0)]);
        assert!(roc_points(&[0.1, 0.2], &[true, true]).is_empty());
    }
}
