//! Evaluation metrics for probabilistic scores against binary outcomes: ranking
//! (ROC-AUC, PR-AUC), probability quality (Brier, log loss, calibration error and the
//! reliability table) and gating capture (share of positives caught in the top k%).

use serde::{Deserialize, Serialize};

/// Indices sorted by score, highest first (ties in index order).
fn order_desc(scores: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    idx
}

/// Groups of equal scores in `order` as (start, end) ranges.
fn tie_groups(scores: &[f64], order: &[usize]) -> Vec<(usize, usize)> {
    let mut groups = Vec::new();
    let mut start = 0;
    for i in 1..=order.len() {
        if i == order.len() || scores[order[i]] != scores[order[start]] {
            groups.push((start, i));
            start = i;
        }
    }
    groups
}

/// An approximate 95% interval for a ROC-AUC of `auc` measured on `positives` and
/// `negatives` (Hanley & McNeil 1982: the standard error of the Mann-Whitney statistic
/// under exponential score distributions), clipped to 0..1. How far a test period's
/// ROC-AUC can be trusted: with tens of positives it is several hundredths either way.
///
/// At an AUC of exactly 0 or 1 the formula's variance vanishes, which would claim
/// certainty from a handful of changes; the variance is then taken half a pair in
/// from the edge.
pub fn auc_interval(auc: f64, positives: usize, negatives: usize) -> [f64; 2] {
    let (p, n) = (positives as f64, negatives as f64);
    let edge = 0.5 / (p * n).max(1.0);
    let a = auc.clamp(edge, 1.0 - edge);
    let q1 = a / (2.0 - a);
    let q2 = 2.0 * a * a / (1.0 + a);
    let a2 = a * a;
    let variance =
        (a * (1.0 - a) + (p - 1.0) * (q1 - a2) + (n - 1.0) * (q2 - a2)) / (p * n).max(1.0);
    let half = 1.96 * variance.max(0.0).sqrt();
    [(auc - half).max(0.0), (auc + half).min(1.0)]
}

/// ROC-AUC (Mann-Whitney, ties counted half). `None` when one class is absent.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let pos = labels.iter().filter(|&&l| l).count();
    let neg = labels.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let order = order_desc(scores);
    // Walk from the highest score: each negative outranks... count positive-above-negative pairs.
    let mut negatives_below = neg as f64;
    let mut pairs = 0.0;
    for (s, e) in tie_groups(scores, &order) {
        let p = order[s..e].iter().filter(|&&i| labels[i]).count() as f64;
        let n = (e - s) as f64 - p;
        negatives_below -= n;
        pairs += p * (negatives_below + 0.5 * n);
    }
    Some(pairs / (pos as f64 * neg as f64))
}

/// Average precision (the step-wise PR-AUC scikit-learn's `average_precision_score`
/// computes). `None` without positives.
pub fn average_precision(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let pos = labels.iter().filter(|&&l| l).count();
    if pos == 0 {
        return None;
    }
    let order = order_desc(scores);
    let (mut tp, mut seen, mut ap) = (0.0, 0.0, 0.0);
    for (s, e) in tie_groups(scores, &order) {
        let p = order[s..e].iter().filter(|&&i| labels[i]).count() as f64;
        tp += p;
        seen += (e - s) as f64;
        ap += (p / pos as f64) * (tp / seen);
    }
    Some(ap)
}

/// Mean squared error of the probabilities.
pub fn brier(probs: &[f64], labels: &[bool]) -> f64 {
    let sum: f64 = probs
        .iter()
        .zip(labels)
        .map(|(&p, &y)| (p - f64::from(u8::from(y))).powi(2))
        .sum();
    sum / probs.len().max(1) as f64
}

/// Mean negative log-likelihood, probabilities clipped to [1e-15, 1 - 1e-15].
pub fn log_loss(probs: &[f64], labels: &[bool]) -> f64 {
    let sum: f64 = probs
        .iter()
        .zip(labels)
        .map(|(&p, &y)| {
            let p = p.clamp(1e-15, 1.0 - 1e-15);
            if y {
                -p.ln()
            } else {
                -(1.0 - p).ln()
            }
        })
        .sum();
    sum / probs.len().max(1) as f64
}

/// One bin of a reliability table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    pub lower: f64,
    pub upper: f64,
    pub count: usize,
    pub mean_predicted: f64,
    pub observed_rate: f64,
}

/// Reliability table over `bins` equal-width probability bins (empty bins included
/// with count 0).
pub fn reliability(probs: &[f64], labels: &[bool], bins: usize) -> Vec<ReliabilityBin> {
    let mut sum_p = vec![0.0; bins];
    let mut sum_y = vec![0.0; bins];
    let mut count = vec![0usize; bins];
    for (&p, &y) in probs.iter().zip(labels) {
        let b = ((p * bins as f64) as usize).min(bins - 1);
        sum_p[b] += p;
        sum_y[b] += f64::from(u8::from(y));
        count[b] += 1;
    }
    (0..bins)
        .map(|b| {
            let c = count[b].max(1) as f64;
            ReliabilityBin {
                lower: b as f64 / bins as f64,
                upper: (b + 1) as f64 / bins as f64,
                count: count[b],
                mean_predicted: sum_p[b] / c,
                observed_rate: sum_y[b] / c,
            }
        })
        .collect()
}

/// Expected calibration error over 10 equal-width bins: the count-weighted mean of
/// |mean predicted - observed rate|.
pub fn expected_calibration_error(probs: &[f64], labels: &[bool]) -> f64 {
    let n = probs.len().max(1) as f64;
    reliability(probs, labels, 10)
        .iter()
        .map(|b| b.count as f64 / n * (b.mean_predicted - b.observed_rate).abs())
        .sum()
}

/// Share of positives caught when gating the highest-scored `fraction` of rows.
/// Rows tied at the cut are taken in proportion (the expected catch when ties are
/// broken at random), so a binary rule is measured fairly.
pub fn capture_at(scores: &[f64], labels: &[bool], fraction: f64) -> Option<f64> {
    capture_curve(scores, labels, &[fraction]).map(|c| c[0])
}

/// [`capture_at`] for several gated fractions (ascending) with one sort of the scores.
pub fn capture_curve(scores: &[f64], labels: &[bool], fractions: &[f64]) -> Option<Vec<f64>> {
    let pos = labels.iter().filter(|&&l| l).count();
    if pos == 0 {
        return None;
    }
    let order = order_desc(scores);
    // Tie groups, highest first: (rows, positives).
    let groups: Vec<(f64, f64)> = tie_groups(scores, &order)
        .into_iter()
        .map(|(s, e)| {
            let hits = order[s..e].iter().filter(|&&i| labels[i]).count();
            ((e - s) as f64, hits as f64)
        })
        .collect();
    let (mut next, mut taken, mut caught) = (0, 0.0, 0.0);
    let curve = fractions
        .iter()
        .map(|&fraction| {
            let budget = fraction * scores.len() as f64;
            // Whole groups within the budget, then the cut group in proportion.
            while next < groups.len() && taken + groups[next].0 <= budget {
                taken += groups[next].0;
                caught += groups[next].1;
                next += 1;
            }
            let partial = groups.get(next).map_or(0.0, |&(size, hits)| {
                hits * ((budget - taken) / size).clamp(0.0, 1.0)
            });
            (caught + partial) / pos as f64
        })
        .collect();
    Some(curve)
}

/// Every headline metric of one set of scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub rows: usize,
    pub positives: usize,
    pub roc_auc: Option<f64>,
    pub pr_auc: Option<f64>,
    pub brier: f64,
    pub log_loss: f64,
    pub ece: f64,
    pub mean_risk: f64,
    pub observed_rate: f64,
    /// Share of incident-causing changes caught gating the riskiest 5%, 10%, 20%.
    pub capture_5: Option<f64>,
    pub capture_10: Option<f64>,
    pub capture_20: Option<f64>,
}

impl Metrics {
    /// Computes all metrics of `probs` against `labels`.
    pub fn compute(probs: &[f64], labels: &[bool]) -> Metrics {
        let n = probs.len().max(1) as f64;
        let positives = labels.iter().filter(|&&l| l).count();
        Metrics {
            rows: probs.len(),
            positives,
            roc_auc: roc_auc(probs, labels),
            pr_auc: average_precision(probs, labels),
            brier: brier(probs, labels),
            log_loss: log_loss(probs, labels),
            ece: expected_calibration_error(probs, labels),
            mean_risk: probs.iter().sum::<f64>() / n,
            observed_rate: positives as f64 / n,
            capture_5: capture_at(probs, labels, 0.05),
            capture_10: capture_at(probs, labels, 0.10),
            capture_20: capture_at(probs, labels, 0.20),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_interval_follows_hanley_and_mcneil() {
        // A = 0.8 on 50 + 50: SE = sqrt(4.95111 / 2500) = 0.0445022.
        let [lo, hi] = auc_interval(0.8, 50, 50);
        assert!((hi - lo - 2.0 * 1.96 * 0.0445022).abs() < 1e-6, "{lo} {hi}");
        assert!(((lo + hi) / 2.0 - 0.8).abs() < 1e-12);
        // Narrower with more data, clipped at 1.
        let [lo2, _] = auc_interval(0.8, 5000, 5000);
        assert!(lo2 > lo && lo2 < 0.8);
        assert_eq!(auc_interval(0.99, 5, 5)[1], 1.0);
        // A perfect score on few changes is not certain.
        let [lo, hi] = auc_interval(1.0, 2, 50);
        assert!(hi == 1.0 && lo < 0.99, "{lo}");
        assert!(auc_interval(0.0, 2, 50)[1] > 0.01);
    }
    use approx::assert_abs_diff_eq;

    #[test]
    fn auc_matches_scikit_learn_on_a_small_case() {
        // sklearn.metrics.roc_auc_score([0,0,1,1],[0.1,0.4,0.35,0.8]) == 0.75
        let s = [0.1, 0.4, 0.35, 0.8];
        let y = [false, false, true, true];
        assert_abs_diff_eq!(roc_auc(&s, &y).unwrap(), 0.75, epsilon = 1e-12);
        // average_precision_score(same) == 0.8333333333333333
        assert_abs_diff_eq!(
            average_precision(&s, &y).unwrap(),
            0.833_333_333_333_333_3,
            epsilon = 1e-12
        );
    }

    #[test]
    fn auc_counts_ties_half() {
        // All tied: 0.5 by the Mann-Whitney definition.
        assert_abs_diff_eq!(
            roc_auc(&[0.3; 4], &[true, false, true, false]).unwrap(),
            0.5
        );
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
    }

    #[test]
    fn probability_scores_by_hand() {
        let p = [0.2, 0.9];
        let y = [false, true];
        assert_abs_diff_eq!(brier(&p, &y), (0.04 + 0.01) / 2.0, epsilon = 1e-15);
        assert_abs_diff_eq!(
            log_loss(&p, &y),
            -(0.8f64.ln() + 0.9f64.ln()) / 2.0,
            epsilon = 1e-15
        );
        // bins: 0.2 -> bin 2 (|0.2-0|), 0.9 -> bin 9 (|0.9-1|); ECE = (0.2 + 0.1)/2
        assert_abs_diff_eq!(expected_calibration_error(&p, &y), 0.15, epsilon = 1e-15);
    }

    #[test]
    fn capture_splits_ties_at_the_cut() {
        // Budget 2 of 4 rows; top score (positive) taken, then 1 of 2 tied rows
        // (one positive) -> expected 0.5 of it; 1.5 of 2 positives caught.
        let s = [0.9, 0.5, 0.5, 0.1];
        let y = [true, true, false, false];
        assert_abs_diff_eq!(capture_at(&s, &y, 0.5).unwrap(), 0.75, epsilon = 1e-12);
        assert_abs_diff_eq!(capture_at(&s, &y, 1.0).unwrap(), 1.0, epsilon = 1e-12);
    }
}
