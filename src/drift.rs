//! Drift: how far a batch of changes has moved from the changes a model was trained on,
//! and whether that calls for retraining.
//!
//! The model file keeps, for every feature and for the risk itself, how the training
//! changes spread over ten bins ([`Distribution`]), all of them and the latest of them
//! ([`Recent`]). A batch is compared bin by bin with the latest (all, for a file that
//! keeps no latest spread) by the population stability index (PSI, the credit-scoring
//! industry's measure: below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a
//! major one), and with all of them beside it; when the batch's outcomes are known, its
//! observed incident rate is compared with the predicted one and its ROC-AUC with the
//! model's own validation ROC-AUC.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::metrics::{auc_interval, roc_auc};
use crate::model::Model;

/// Bins of a [`Distribution`] (at most; a feature with fewer values has fewer).
pub const BINS: usize = 10;

/// A PSI from which a shift is moderate.
pub const MODERATE: f64 = 0.1;
/// A PSI from which a shift is major.
pub const MAJOR: f64 = 0.25;

/// The share of the model's total importance from which a feature's major shift is
/// worth watching.
pub const IMPORTANT_SHARE: f64 = 0.05;

/// Features listed in the text report (the JSON has all).
const SHOWN: usize = 15;

/// How a quantity spread over the training changes: bins cut at `edges` (a value `v`
/// falls in bin `#{edges < v}`, as in the trees' bins, each edge halfway between two
/// training values), the share of training changes in each bin, and the share missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Distribution {
    pub edges: Vec<f64>,
    pub shares: Vec<f64>,
    pub missing: f64,
    /// The latest training changes' spread over the same bins (format version 9 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent: Option<Recent>,
}

/// How the latest training changes (the last validation fold's slice, which Platt
/// scaling is fitted on; [`crate::model::RecentSummary`]) spread over a
/// [`Distribution`]'s bins: the reference `drift` compares a batch with, as it is the
/// stretch of history nearest the batch (counts that grow with a history's age have grown
/// there too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recent {
    pub shares: Vec<f64>,
    pub missing: f64,
    /// The mean of the values present (0 when none).
    pub mean: f64,
}

impl Distribution {
    /// The spread of `values` over at most [`BINS`] bins of about equal share. A column of
    /// one value gets bins below it, at it and above it, so that any other value shows.
    pub fn of(values: &[f64]) -> Distribution {
        let mut edges = crate::gbdt::bins::edges_of(values, BINS);
        if let (true, Some(&v)) = (edges.is_empty(), values.iter().find(|v| v.is_finite())) {
            edges = vec![v.next_down(), v];
        }
        let mut d = Distribution {
            shares: Vec::new(),
            edges,
            missing: 0.0,
            recent: None,
        };
        let spread = d.spread(values);
        (d.shares, d.missing) = (spread.shares, spread.missing);
        d
    }

    /// This distribution with `values` (the latest training changes') counted into its
    /// bins as its [`Recent`] spread.
    pub fn with_recent(mut self, values: &[f64]) -> Distribution {
        self.recent = Some(self.spread(values));
        self
    }

    /// How `values` spread over this distribution's bins.
    fn spread(&self, values: &[f64]) -> Recent {
        let counts = self.counts(values.iter().copied());
        let n = values.len().max(1) as f64;
        Recent {
            shares: counts.bins.iter().map(|&c| c as f64 / n).collect(),
            missing: counts.missing as f64 / n,
            mean: counts.mean(),
        }
    }

    /// No values counted yet, in this distribution's bins.
    pub fn no_counts(&self) -> Counts {
        Counts {
            bins: vec![0; self.edges.len() + 1],
            missing: 0,
            sum: 0.0,
        }
    }

    /// How many of `values` fall in each bin, and how many are missing (NaN).
    pub fn counts(&self, values: impl Iterator<Item = f64>) -> Counts {
        let mut counts = self.no_counts();
        self.count_into(&mut counts, values);
        counts
    }

    /// Adds `values` to `counts` (made by [`Distribution::no_counts`]).
    pub fn count_into(&self, counts: &mut Counts, values: impl Iterator<Item = f64>) {
        for v in values {
            if v.is_nan() {
                counts.missing += 1;
            } else {
                counts.bins[self.edges.partition_point(|&e| e < v)] += 1;
                counts.sum += v;
            }
        }
    }

    /// The population stability index of `values` against this distribution of
    /// `rows` training changes: `sum (o - e) ln(o / e)` over the bins and the missing
    /// share (when either side has a missing value), each share counted with half a
    /// change more on both sides (so an empty bin is finite).
    pub fn psi(&self, rows: usize, values: impl Iterator<Item = f64>) -> f64 {
        self.psi_of_counts(rows, &self.counts(values))
    }

    /// [`Distribution::psi`] of values already counted ([`Distribution::counts`]).
    pub fn psi_of_counts(&self, rows: usize, counts: &Counts) -> f64 {
        psi(&self.shares, self.missing, rows, counts)
    }

    /// The PSI of values already counted against the [`Recent`] spread of `rows` latest
    /// training changes; `None` when the file keeps none (before format version 9).
    pub fn recent_psi(&self, rows: usize, counts: &Counts) -> Option<f64> {
        let r = self.recent.as_ref()?;
        Some(psi(&r.shares, r.missing, rows, counts))
    }

    /// Whether the file's numbers describe a distribution.
    pub fn check(&self) -> std::result::Result<(), String> {
        let ascending = self.edges.windows(2).all(|w| w[0] < w[1]);
        let spread_ok = |shares: &[f64], missing: f64| {
            let total: f64 = shares.iter().sum::<f64>() + missing;
            shares.len() == self.edges.len() + 1
                && shares
                    .iter()
                    .chain([&missing])
                    .all(|s| (0.0..=1.0).contains(s))
                && (total - 1.0).abs() <= 1e-6
        };
        let recent_ok = self
            .recent
            .as_ref()
            .is_none_or(|r| spread_ok(&r.shares, r.missing) && r.mean.is_finite());
        if !ascending
            || self.edges.iter().any(|e| e.is_nan())
            || !spread_ok(&self.shares, self.missing)
            || !recent_ok
        {
            return Err(format!(
                "a training distribution is not one (edges {:?}, shares {:?}, missing {}, latest changes {:?}): expected ascending edges, one share per bin (one more than the edges), shares and the missing share within 0..1 adding up to 1, for all training changes and for the latest, and a finite mean of the latest",
                self.edges, self.shares, self.missing, self.recent
            ));
        }
        Ok(())
    }
}

/// The population stability index of `counts` against a spread of `rows` training
/// changes (`shares` per bin and the `missing` share): `sum (o - e) ln(o / e)` over the
/// bins and the missing share (when either side has a missing value), each share counted
/// with half a change more on both sides (so an empty bin is finite).
fn psi(shares: &[f64], missing_share: f64, rows: usize, counts: &Counts) -> f64 {
    let Counts {
        bins: counts,
        missing,
        ..
    } = counts;
    let missing = *missing;
    let n: usize = counts.iter().sum::<usize>() + missing;
    let with_missing = missing_share > 0.0 || missing > 0;
    let bins = counts.len() + usize::from(with_missing);
    let smooth = |count: f64, total: f64| (count + 0.5) / (total + 0.5 * bins as f64);
    let expected = shares.iter().chain(with_missing.then_some(&missing_share));
    let observed = counts.iter().chain(with_missing.then_some(&missing));
    expected
        .zip(observed)
        .map(|(&share, &count)| {
            let e = smooth(share * rows as f64, rows as f64);
            let o = smooth(count as f64, n as f64);
            (o - e) * (o / e).ln()
        })
        .sum()
}

/// Values counted into a [`Distribution`]'s bins, and the sum of those present.
#[derive(Debug, Clone)]
pub struct Counts {
    pub bins: Vec<usize>,
    pub missing: usize,
    pub sum: f64,
}

impl Counts {
    /// Adds `other`'s counts (the same distribution's).
    fn merge(&mut self, other: Counts) {
        for (a, b) in self.bins.iter_mut().zip(other.bins) {
            *a += b;
        }
        self.missing += other.missing;
        self.sum += other.sum;
    }

    /// The mean of the values present (0 when none).
    fn mean(&self) -> f64 {
        self.sum / self.bins.iter().sum::<usize>().max(1) as f64
    }
}

/// A PSI's reading: `stable`, `moderate` or `major`.
pub fn level(psi: f64) -> &'static str {
    if psi >= MAJOR {
        "major"
    } else if psi >= MODERATE {
        "moderate"
    } else {
        "stable"
    }
}

/// One feature's shift.
#[derive(Debug, Clone, Serialize)]
pub struct FeatureShift {
    pub feature: String,
    pub factor: String,
    /// Against the reference changes ([`Drift::reference`]).
    pub psi: f64,
    pub level: &'static str,
    /// Against all the training changes.
    pub psi_all_training: f64,
    /// The feature's share of the model's total importance (mean |contribution|).
    pub importance_share: f64,
    /// Mean value (before standardisation) over all the training changes, over the
    /// reference changes and over the batch.
    pub training_mean: f64,
    pub reference_mean: f64,
    pub mean: f64,
}

/// The batch's outcomes against the model's predictions.
#[derive(Debug, Clone, Serialize)]
pub struct Outcomes {
    /// Changes whose outcome is known (the incidents reach past their attribution
    /// window, or the label column gives it); the rest are not compared.
    pub compared: usize,
    pub positives: usize,
    pub observed_rate: f64,
    /// Mean risk of the changes compared.
    pub mean_risk: f64,
    /// Observed over predicted incidents on the reference changes: the model's own
    /// in-sample ratio (on all training changes it differs from 1 when the rate moved, as
    /// Platt scaling fits the latest slice), against which the batch's ratio is compared;
    /// all training changes' when the latest hold fewer than 10 incident-causing changes.
    pub reference_ratio: f64,
    /// The changes `reference_ratio` is measured on: [`LATEST`] or [`ALL`].
    pub ratio_reference: &'static str,
    /// (observed - predicted incidents, the prediction scaled by `reference_ratio`) /
    /// their standard deviation under the model.
    pub calibration_z: f64,
    pub roc_auc: Option<f64>,
    pub roc_auc_interval: Option<[f64; 2]>,
    /// The model's ROC-AUC on its latest validation fold, and its interval.
    pub validation_roc_auc: Option<f64>,
    pub validation_roc_auc_interval: Option<[f64; 2]>,
}

/// Everything `drift` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    pub changes: usize,
    pub training_changes: usize,
    /// What the batch is compared with: [`LATEST`] (the latest training changes, the
    /// stretch nearest the batch) or, for a model file without them or with too few,
    /// [`ALL`].
    pub reference: &'static str,
    pub reference_changes: usize,
    /// The first reference change's time.
    pub reference_from: String,
    /// The risk's shift against the reference changes, and against all training changes.
    pub risk_psi: f64,
    pub risk_level: &'static str,
    pub risk_psi_all_training: f64,
    /// The batch's mean risk, and the training changes' and the reference changes'.
    pub mean_risk: f64,
    pub training_mean_risk: f64,
    pub reference_mean_risk: f64,
    /// Every feature the logistic model or the trees read (not the change's time, which
    /// moves on by design), largest shift first.
    pub features: Vec<FeatureShift>,
    pub outcomes: Option<Outcomes>,
    /// `retrain`, `watch`, `none`, or `unknown` (too few changes).
    pub advice: &'static str,
    /// Why, one finding a line (empty when nothing moved).
    pub because: Vec<String>,
    /// What to bear in mind reading it (an incidents file that ends before the batch).
    pub notes: Vec<String>,
}

/// |z| of observed against predicted incidents from which calibration has moved, when
/// the observed rate is also off by more than [`CALIBRATION_SHARE`] of the predicted
/// one (on many changes a small, harmless bias is many standard deviations).
const CALIBRATION_Z: f64 = 3.0;
/// See [`CALIBRATION_Z`].
const CALIBRATION_SHARE: f64 = 0.2;

/// Fewest changes of each outcome for the batch's ROC-AUC to be compared.
const FEWEST_FOR_AUC: usize = 10;

/// Fewest incident-causing changes among the latest training changes for their ratio of
/// observed to predicted incidents to be the batch's expectation (else all training
/// changes' ratio is).
const FEWEST_FOR_RATIO: usize = 10;

/// Fewest changes for advice: a batch of `n` changes shows a PSI of about
/// `(bins - 1) / n` from sampling alone (0.045 at 200 over ten bins, 0.09 at 100). The
/// latest training changes are the reference from as many.
pub const MIN_CHANGES: usize = 200;

/// [`Drift::reference`] when the batch is compared with the latest training changes.
pub const LATEST: &str = "latest training changes";
/// [`Drift::reference`] when it is compared with all of them.
pub const ALL: &str = "all training changes";

/// A reference ([`LATEST`] or [`ALL`]) in words, after "in" or "on".
fn in_words(reference: &str) -> &'static str {
    if reference == LATEST {
        "the latest training changes"
    } else {
        "all training changes"
    }
}

/// A batch's counts, gathered chunk by chunk ([`Tally::add`]) so that no chunk's
/// feature matrix outlives it.
pub struct Tally<'m> {
    model: &'m Model,
    /// Per feature, its values counted into its training distribution's bins.
    features: Vec<Counts>,
    risks: Vec<f64>,
}

impl<'m> Tally<'m> {
    /// An empty tally for `model`; `None` when its file keeps no training distributions
    /// (written before they were kept).
    pub fn new(model: &'m Model) -> Option<Tally<'m>> {
        model.training.risk_distribution.as_ref()?;
        let features = model
            .features
            .iter()
            .map(|f| f.distribution.as_ref().map(Distribution::no_counts))
            .collect::<Option<_>>()?;
        Some(Tally {
            model,
            features,
            risks: Vec::new(),
        })
    }

    /// An empty tally for the same model, to gather a chunk in parallel and
    /// [`Tally::merge`] after.
    pub fn empty(&self) -> Tally<'m> {
        Tally::new(self.model).expect("a tally is made for a model with distributions")
    }

    /// Adds `other`'s changes after this tally's.
    pub fn merge(&mut self, other: Tally) {
        for (mine, theirs) in self.features.iter_mut().zip(other.features) {
            mine.merge(theirs);
        }
        self.risks.extend(other.risks);
    }

    /// Adds a chunk of changes: their features `x` (one row per change, the model's
    /// columns) and their risks.
    pub fn add(&mut self, x: ArrayView2<f64>, risks: &[f64]) {
        for ((counts, f), column) in self
            .features
            .iter_mut()
            .zip(&self.model.features)
            .zip(x.columns())
        {
            if let Some(d) = &f.distribution {
                d.count_into(counts, column.iter().copied());
            }
        }
        self.risks.extend_from_slice(risks);
    }
}

impl Drift {
    /// Compares the tallied batch, and when asked its outcomes (one per change, in the
    /// order added; `None` where unknown), with the model's training changes.
    pub fn measure(tally: Tally, outcomes: Option<&[Option<bool>]>) -> Drift {
        let Tally {
            model,
            features: tallied,
            risks,
        } = tally;
        let t = &model.training;
        let rows = t.rows;
        // The latest training changes when the file keeps enough of them (version 9 on;
        // its check makes sure every distribution has them too); else all.
        let recent = t
            .recent
            .as_ref()
            .filter(|r| model.format_version >= 9 && r.rows >= MIN_CHANGES);
        let reference_rows = recent.map_or(rows, |r| r.rows);
        let against = |d: &Distribution, counts: &Counts| {
            let all = d.psi_of_counts(rows, counts);
            let reference = match recent {
                Some(_) => d
                    .recent_psi(reference_rows, counts)
                    .expect("a version 9 file keeps every distribution's latest spread"),
                None => all,
            };
            (reference, all)
        };
        let total_importance: f64 = model.features.iter().map(|f| f.importance).sum();
        let mut features = Vec::with_capacity(model.features.len());
        for (f, counts) in model.features.iter().zip(tallied) {
            let Some(d) = &f.distribution else { continue };
            if f.def.trees_only {
                continue;
            }
            let (psi, psi_all_training) = against(d, &counts);
            features.push(FeatureShift {
                feature: f.def.name.clone(),
                factor: f.def.factor.clone(),
                psi,
                level: level(psi),
                psi_all_training,
                importance_share: if total_importance > 0.0 {
                    f.importance / total_importance
                } else {
                    0.0
                },
                training_mean: f.mean,
                reference_mean: match (recent, &d.recent) {
                    (Some(_), Some(r)) => r.mean,
                    _ => f.mean,
                },
                mean: counts.mean(),
            });
        }
        features.sort_by(|a, b| b.psi.total_cmp(&a.psi));
        let (risk_psi, risk_psi_all_training) = t
            .risk_distribution
            .as_ref()
            .map_or((0.0, 0.0), |d| against(d, &d.counts(risks.iter().copied())));
        let mean_risk = risks.iter().sum::<f64>() / risks.len().max(1) as f64;
        let reference_mean_risk = recent.map_or(t.mean_training_risk, |r| r.mean_risk);
        // Observed over predicted incidents: the latest training changes' when they hold
        // enough incident-causing changes to say it, else all of them.
        let ratio_of =
            |rate: f64, mean: f64| Some(rate / mean).filter(|r| mean > 0.0 && r.is_finite());
        let latest_ratio = recent
            .filter(|r| (r.positive_rate * r.rows as f64).round() >= FEWEST_FOR_RATIO as f64)
            .and_then(|r| ratio_of(r.positive_rate, r.mean_risk));
        let reference_ratio = latest_ratio
            .or_else(|| ratio_of(t.positive_rate, t.mean_training_risk))
            .unwrap_or(1.0);
        let outcomes = outcomes.map(|known| {
            let (p, y): (Vec<f64>, Vec<bool>) = risks
                .iter()
                .zip(known)
                .filter_map(|(&p, y)| y.map(|y| (p, y)))
                .unzip();
            let positives = y.iter().filter(|&&v| v).count();
            let negatives = y.len() - positives;
            let scaled: Vec<f64> = p.iter().map(|&p| (reference_ratio * p).min(1.0)).collect();
            let expected: f64 = scaled.iter().sum();
            let variance: f64 = scaled.iter().map(|p| p * (1.0 - p)).sum();
            let enough = positives.min(negatives) >= FEWEST_FOR_AUC;
            let auc = roc_auc(&p, &y).filter(|_| enough);
            let v = &t.validation;
            Outcomes {
                compared: y.len(),
                positives,
                observed_rate: positives as f64 / y.len().max(1) as f64,
                mean_risk: p.iter().sum::<f64>() / p.len().max(1) as f64,
                reference_ratio,
                ratio_reference: if latest_ratio.is_some() { LATEST } else { ALL },
                calibration_z: (positives as f64 - expected) / variance.sqrt().max(1e-12),
                roc_auc: auc,
                roc_auc_interval: auc.map(|a| auc_interval(a, positives, negatives)),
                validation_roc_auc: v.roc_auc,
                validation_roc_auc_interval: v
                    .roc_auc
                    .map(|a| auc_interval(a, v.positives, v.rows - v.positives)),
            }
        });
        let mut drift = Drift {
            changes: risks.len(),
            training_changes: rows,
            reference: if recent.is_some() { LATEST } else { ALL },
            reference_changes: reference_rows,
            reference_from: recent.map_or(t.time_from.clone(), |r| r.time_from.clone()),
            risk_psi,
            risk_level: level(risk_psi),
            risk_psi_all_training,
            mean_risk,
            training_mean_risk: t.mean_training_risk,
            reference_mean_risk,
            features,
            outcomes,
            advice: "none",
            because: Vec::new(),
            notes: Vec::new(),
        };
        let version_9 = model.format_version >= 9;
        if let Some(r) = t
            .recent
            .as_ref()
            .filter(|r| version_9 && r.rows < MIN_CHANGES)
        {
            drift.notes.push(format!(
                "the model's latest training changes are {}, too few to compare with (fewer than {MIN_CHANGES}): compared with all {rows} training changes",
                r.rows
            ));
        } else if recent.is_none() {
            drift.notes.push(format!(
                "the model file (format version {}) keeps no spread of its latest training changes: compared with all {rows} training changes, whose counts that grow with the history's age shift against any later batch; retrain with this build to compare with the latest",
                model.format_version
            ));
        }
        if let (Some(r), None, true) = (recent, latest_ratio, drift.outcomes.is_some()) {
            drift.notes.push(format!(
                "the latest {} training changes ({:.0} caused incidents, mean risk {:.4}%) set no expected ratio of observed to predicted incidents (fewer than 10 incidents, or no risk): all training changes' ratio is used",
                r.rows,
                r.positive_rate * r.rows as f64,
                100.0 * r.mean_risk
            ));
        }
        drift.advise();
        drift
    }

    /// Sets `advice` and `because` from the measurements.
    fn advise(&mut self) {
        if self.changes < MIN_CHANGES {
            self.advice = "unknown";
            self.because = vec![format!(
                "{} changes are too few to tell: a batch of n changes shows a PSI of about (bins - 1) / n from sampling alone; compare at least {MIN_CHANGES}",
                self.changes
            )];
            return;
        }
        let (mut retrain, mut watch) = (Vec::new(), Vec::new());
        let risk = format!(
            "the risk's distribution has a {} shift (PSI {:.2}; mean risk {:.2}% against {:.2}% in {})",
            self.risk_level,
            self.risk_psi,
            100.0 * self.mean_risk,
            100.0 * self.reference_mean_risk,
            self.compared_with()
        );
        match self.risk_level {
            "major" => retrain.push(risk),
            "moderate" => watch.push(risk),
            _ => {}
        }
        // A feature's shift is worth watching, not retraining for by itself: what the
        // model makes of the batch is the risk's shift above, and the outcomes below.
        for f in &self.features {
            if f.level != "major" || f.importance_share < IMPORTANT_SHARE {
                continue;
            }
            let mut what = format!(
                "'{}' ({} factor, {:.0}% of the model's importance) has a major shift (PSI {:.2}; mean {:.3} against {:.3} in {})",
                f.feature,
                f.factor,
                100.0 * f.importance_share,
                f.psi,
                f.mean,
                f.reference_mean,
                self.compared_with()
            );
            if matches!(f.factor.as_str(), "service_history" | "author_history") {
                what.push_str(
                    ": history counts grow with the history's age (the longer after the \
                     training changes, the more), and incidents after the incidents file's \
                     end are not counted (give the incidents up to the changes' time)",
                );
            }
            watch.push(what);
        }
        if let Some(o) = &self.outcomes {
            let ratio = o.observed_rate / o.mean_risk.max(1e-12);
            let off = (ratio - o.reference_ratio).abs() > CALIBRATION_SHARE * o.reference_ratio;
            if o.compared > 0 && o.calibration_z.abs() > CALIBRATION_Z && off {
                retrain.push(format!(
                    "{} of the {} changes compared caused incidents ({:.2}%) against {:.2}% predicted: {:.2} times the prediction, against {:.2} on {} ({:.1} standard deviations off)",
                    o.positives,
                    o.compared,
                    100.0 * o.observed_rate,
                    100.0 * o.mean_risk,
                    ratio,
                    o.reference_ratio,
                    in_words(o.ratio_reference),
                    o.calibration_z
                ));
            }
            if let (Some(auc), Some([_, high]), Some(validation), Some([low, _])) = (
                o.roc_auc,
                o.roc_auc_interval,
                o.validation_roc_auc,
                o.validation_roc_auc_interval,
            ) {
                if high < low {
                    retrain.push(format!(
                        "the changes' ROC-AUC {auc:.3} (at most {high:.3} at 95%) is below the model's validation ROC-AUC {validation:.3} (at least {low:.3})"
                    ));
                }
            }
        }
        self.advice = if !retrain.is_empty() {
            "retrain"
        } else if !watch.is_empty() {
            "watch"
        } else {
            "none"
        };
        self.because = retrain.into_iter().chain(watch).collect();
    }

    /// The reference changes in words, after "in" or "on".
    fn compared_with(&self) -> &'static str {
        in_words(self.reference)
    }

    /// The report as text.
    pub fn text(&self) -> String {
        let reference = if self.reference == LATEST {
            format!(
                "the model's {} latest training changes (from {}; all {} in brackets)",
                self.reference_changes, self.reference_from, self.training_changes
            )
        } else {
            format!("the model's {} training changes", self.training_changes)
        };
        let mut out = format!(
            "drift of {} changes against {reference} (PSI: below {MODERATE} stable, {MODERATE} to {MAJOR} moderate, above {MAJOR} major)\n",
            self.changes
        );
        let latest = self.reference == LATEST;
        let all = |psi: f64| {
            if latest {
                format!(" ({psi:.3})")
            } else {
                String::new()
            }
        };
        let against_all = if latest {
            format!(
                "; {:.3} against all training changes",
                self.risk_psi_all_training
            )
        } else {
            String::new()
        };
        out.push_str(&format!(
            "risk: PSI {:.3} ({}{against_all}); mean risk {:.2}% against {:.2}% in {}\n",
            self.risk_psi,
            self.risk_level,
            100.0 * self.mean_risk,
            100.0 * self.reference_mean_risk,
            self.compared_with()
        ));
        let width = self
            .features
            .iter()
            .map(|f| f.feature.len())
            .max()
            .unwrap_or(0);
        out.push_str(&format!(
            "features, largest shift first (PSI{}, level, share of the model's importance):\n",
            if latest {
                " (against all training changes)"
            } else {
                ""
            }
        ));
        for f in self.features.iter().take(SHOWN) {
            out.push_str(&format!(
                "  {:<width$}  {:.3}{}  {:<8}  {:>3.0}%\n",
                f.feature,
                f.psi,
                all(f.psi_all_training),
                f.level,
                100.0 * f.importance_share
            ));
        }
        if self.features.len() > SHOWN {
            out.push_str(&format!(
                "  ({} more, smaller shifts: --json lists them all)\n",
                self.features.len() - SHOWN
            ));
        }
        match &self.outcomes {
            Some(o) if o.compared == 0 => out.push_str(
                "outcomes: none known (the incidents end before these changes' attribution \
                 windows do)\n",
            ),
            Some(o) => {
                out.push_str(&format!(
                    "outcomes: {} of {} changes compared caused incidents ({:.2}%) against {:.2}% predicted ({:.2} times; {:.2} on {}; {:+.1} standard deviations)",
                    o.positives,
                    o.compared,
                    100.0 * o.observed_rate,
                    100.0 * o.mean_risk,
                    o.observed_rate / o.mean_risk.max(1e-12),
                    o.reference_ratio,
                    in_words(o.ratio_reference),
                    o.calibration_z
                ));
                match (o.roc_auc, o.roc_auc_interval) {
                    (Some(auc), Some([low, high])) => out.push_str(&format!(
                        "; ROC-AUC {auc:.3} ({low:.3}-{high:.3}) against {} in validation\n",
                        o.validation_roc_auc
                            .map_or("n/a".to_string(), |v| format!("{v:.3}"))
                    )),
                    _ => out.push_str(&format!(
                        "; ROC-AUC not compared (fewer than {FEWEST_FOR_AUC} changes of either outcome)\n"
                    )),
                }
            }
            None => {}
        }
        out.push_str(&format!("advice: {}\n", self.advice));
        for b in &self.because {
            out.push_str(&format!("  - {b}\n"));
        }
        for n in &self.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_training_values_themselves_are_stable_and_a_shifted_batch_is_not() {
        let values: Vec<f64> = (0..5000).map(|i| f64::from((i * 7919) % 1000)).collect();
        let d = Distribution::of(&values);
        assert!(d.edges.len() >= 5 && d.edges.len() < BINS, "{:?}", d.edges);
        d.check().unwrap();
        assert!(d.psi(values.len(), values.iter().copied()) < 1e-3);
        // The same values, every other one gone: still stable.
        let half = values.iter().step_by(2).copied();
        assert!(d.psi(values.len(), half) < MODERATE);
        // Moved up by a fifth of the range: a major shift.
        let shifted = values.iter().map(|v| v + 200.0);
        assert!(d.psi(values.len(), shifted) > MAJOR);
        // Missing values where training had none: a shift of their own.
        let gaps = values
            .iter()
            .enumerate()
            .map(|(i, &v)| if i % 3 == 0 { f64::NAN } else { v });
        assert!(d.psi(values.len(), gaps) > MAJOR);
    }

    #[test]
    fn a_flag_has_two_bins_and_its_psi_follows_the_textbook_formula() {
        let values: Vec<f64> = (0..1000).map(|i| if i < 200 { 1.0 } else { 0.0 }).collect();
        let d = Distribution::of(&values);
        assert_eq!(d.edges, vec![0.5]);
        assert_eq!(d.shares, vec![0.8, 0.2]);
        // A batch with the flag on half the time, against 20%.
        let batch: Vec<f64> = (0..1000).map(|i| if i < 500 { 1.0 } else { 0.0 }).collect();
        let psi = d.psi(1000, batch.iter().copied());
        // Two bins (no missing value on either side), half a change added to each.
        let smooth = |c: f64| (c + 0.5) / (1000.0 + 1.0);
        let (e, o) = (
            [smooth(800.0), smooth(200.0)],
            [smooth(500.0), smooth(500.0)],
        );
        let textbook: f64 = (0..2).map(|k| (o[k] - e[k]) * (o[k] / e[k]).ln()).sum();
        assert!((psi - textbook).abs() < 1e-12, "{psi} {textbook}");
        assert!((psi - 0.3 * (0.5_f64 / 0.2).ln() - (-0.3) * (0.5_f64 / 0.8).ln()).abs() < 0.01);
    }

    #[test]
    fn the_latest_values_are_their_own_reference_in_the_same_bins() {
        // A count that grows with the history's age: the latest fifth is its top fifth.
        let values: Vec<f64> = (0..5000).map(f64::from).collect();
        let d = Distribution::of(&values).with_recent(&values[4000..]);
        d.check().unwrap();
        let r = d.recent.as_ref().unwrap();
        assert_eq!(r.shares.len(), d.shares.len());
        assert!((r.mean - 4499.5).abs() < 1e-9);
        assert_eq!(r.shares[..8].iter().sum::<f64>(), 0.0, "{r:?}");
        // A batch like the latest: a major shift against all, none against the latest.
        let batch = d.counts(values[4200..4800].iter().copied());
        assert!(d.psi_of_counts(5000, &batch) > MAJOR);
        assert!(d.recent_psi(1000, &batch).unwrap() < 0.01);
        // Without the latest spread (a file before version 9) there is no such PSI.
        let old = Distribution::of(&values);
        assert!(old.recent_psi(1000, &batch).is_none());
        // Latest shares that do not add up are refused.
        let mut bad = d.clone();
        bad.recent.as_mut().unwrap().shares[0] = 0.5;
        assert!(bad.check().is_err());
    }

    #[test]
    fn a_value_never_seen_in_a_constant_column_shows() {
        let d = Distribution::of(&[0.0; 100]);
        assert_eq!(d.shares, vec![0.0, 1.0, 0.0]);
        assert!(d.psi(100, std::iter::repeat_n(0.0, 100)) < 1e-3);
        assert!(d.psi(100, std::iter::repeat_n(1.0, 100)) > MAJOR);
        assert!(d.psi(100, std::iter::repeat_n(-1.0, 100)) > MAJOR);
    }

    #[test]
    fn no_missing_share_on_either_side_adds_nothing() {
        // A flag at its training shares: exactly 0, with no phantom missing bucket.
        let values: Vec<f64> = (0..1000).map(|i| f64::from(i % 2)).collect();
        let d = Distribution::of(&values);
        assert_eq!(d.psi(1000, values[..20].iter().copied()), 0.0);
    }

    #[test]
    fn malformed_distributions_are_refused() {
        let good = Distribution::of(&[0.0, 1.0, 2.0, 3.0]);
        good.check().unwrap();
        for bad in [
            Distribution {
                edges: vec![1.0, 0.5],
                ..good.clone()
            },
            Distribution {
                shares: vec![0.5, 0.5],
                ..good.clone()
            },
            Distribution {
                missing: 0.2,
                ..good.clone()
            },
            Distribution {
                edges: vec![f64::NAN, 1.0, 2.0],
                ..good.clone()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }
}
