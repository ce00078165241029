//! Fitting a model: rolling-origin model selection over the learners and their main
//! settings, a refit of the chosen candidate on all training rows, Platt scaling fitted
//! on the most recent validation slice and folded into the model, then tiers and
//! importances.
//!
//! Each fold trains on every row before its validation slice, so selection sees the
//! same "learn from the past, score the future" situation as production. The logistic
//! model is fitted by the Newton solver of [`crate::solver`] (intercept unpenalised, no
//! class reweighting); the trees by [`crate::gbdt`], with early stopping on the fold's
//! slice and the monotone directions declared by the features.

use std::ops::Range;

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rayon::prelude::*;

use crate::config::Config;
use crate::drift::Distribution;
use crate::error::{Error, Result};
use crate::features::FeatureDef;
use crate::gbdt::{boost, Binned, BoostParams, Ensemble, Node, Validation};
use crate::label::{LabelParams, LabelSummary};
use crate::metrics::{log_loss, roc_auc, Metrics};
use crate::model::{
    sigmoid, GivenRates, LearnerChoice, LearnerParams, Model, ModelFeature, Platt, RecentSummary,
    Tiers, TrainingSummary, TreeParams, Trial, MODEL_FORMAT, MODEL_VERSION,
};
use crate::schema::format_timestamp;
use crate::solver::{fit, Linear, NewtonParams};

/// The share of the rows each tree grows from unless `--subsample` says otherwise:
/// Friedman's (2002) choice for stochastic gradient boosting. Measured on 12 public
/// just-in-time cases, it lifts the trees' test ROC-AUC by 0.002-0.006 on the mean
/// (benches/README.md).
pub const DEFAULT_SUBSAMPLE: f64 = 0.5;

/// Training histories of at least this many changes get the default learning rate as
/// it is; a smaller one gets it times the square root of its share of this many (and
/// `max_trees` and the early-stopping patience divided by the same factor). Small,
/// noisy histories want more and smaller steps: CatBoost's default rate falls with the
/// rows in about the same way (for 500 trees: 0.018 at 800 rows, 0.031 at 2,400, 0.067
/// at 18,000). Measured in benches/README.md ("A learning rate sized to the history").
pub const FULL_RATE_ROWS: usize = 20_000;

/// The most trees `--max-trees` allows: early stopping keeps models far below it (tens
/// to hundreds), and a bound keeps a tiny learning rate from running for days.
pub const MAX_TREES: usize = 10_000;

impl Default for TreeParams {
    fn default() -> Self {
        TreeParams {
            max_trees: 400,
            learning_rate: vec![0.08],
            leaves: vec![7, 31],
            max_depth: 8,
            min_leaf_rows: vec![20, 200],
            l2: vec![1.0],
            early_stopping: 25,
            max_bins: 64,
            max_rows_per_tree: 250_000,
            subsample: DEFAULT_SUBSAMPLE,
            size_learning_rate: true,
            sized_from: None,
        }
    }
}

impl Default for LearnerParams {
    fn default() -> Self {
        LearnerParams {
            learner: LearnerChoice::Auto,
            penalties: vec![1e-5, 1e-4, 1e-3, 1e-2, 1e-1],
            validation_fraction: 0.2,
            folds: 3,
            selection_rows: 100_000,
            max_iterations: 100,
            gradient_tolerance: 1e-9,
            trees: TreeParams::default(),
            calibrate: true,
        }
    }
}

impl LearnerParams {
    /// The parameters for a history of `rows` training changes: unless the learning
    /// rates were given, each is scaled by sqrt(rows / [`FULL_RATE_ROWS`]) when that is
    /// below 1, and `max_trees` (up to [`MAX_TREES`]) and the early-stopping patience
    /// grow by the same factor, so the trees can still take the same total step and
    /// early stopping waits for the same step without improvement.
    pub fn sized(mut self, rows: usize) -> LearnerParams {
        let t = &mut self.trees;
        if t.size_learning_rate {
            t.sized_from = Some(GivenRates {
                learning_rate: t.learning_rate.clone(),
                max_trees: t.max_trees,
                early_stopping: t.early_stopping,
            });
            let factor = (rows as f64 / FULL_RATE_ROWS as f64).sqrt().min(1.0);
            if factor < 1.0 && factor > 0.0 {
                for rate in &mut t.learning_rate {
                    *rate *= factor;
                }
                t.max_trees = ((t.max_trees as f64 / factor).ceil() as usize).min(MAX_TREES);
                t.early_stopping = (t.early_stopping as f64 / factor).ceil() as usize;
            }
            t.size_learning_rate = false;
        }
        self
    }

    /// The inverse of [`LearnerParams::sized`]: the tree settings as given, to be sized
    /// afresh for another history (`report`'s evaluation); unchanged when they were not
    /// sized.
    pub fn as_given(mut self) -> LearnerParams {
        let t = &mut self.trees;
        if let Some(given) = t.sized_from.take() {
            t.learning_rate = given.learning_rate;
            t.max_trees = given.max_trees;
            t.early_stopping = given.early_stopping;
            t.size_learning_rate = true;
        }
        self
    }

    /// Checks the parameters; only checked parameters can train.
    pub fn check(self) -> Result<LearnerParams> {
        let usage = |m: String| Err(Error::Usage(m));
        if self.penalties.is_empty() || self.penalties.iter().any(|p| !p.is_finite() || *p < 0.0) {
            return usage(format!(
                "--penalty must be one or more finite numbers >= 0, got {:?}",
                self.penalties
            ));
        }
        if !(self.validation_fraction > 0.0 && self.validation_fraction < 1.0) {
            return usage(format!(
                "--validation-fraction must be between 0 and 1 (exclusive), got {}",
                self.validation_fraction
            ));
        }
        if self.folds == 0 || self.folds > 20 {
            return usage(format!("--folds must be 1..=20, got {}", self.folds));
        }
        if self.selection_rows < 100 {
            return usage(format!(
                "--selection-rows must be at least 100, got {}",
                self.selection_rows
            ));
        }
        if self.max_iterations == 0
            || self.gradient_tolerance.is_nan()
            || self.gradient_tolerance <= 0.0
        {
            return usage("max iterations and gradient tolerance must be positive".into());
        }
        let t = &self.trees;
        if !(1..=MAX_TREES).contains(&t.max_trees) {
            return usage(format!(
                "--max-trees must be 1..={MAX_TREES}, got {}",
                t.max_trees
            ));
        }
        if t.learning_rate.is_empty() || t.learning_rate.iter().any(|&r| !(r > 0.0 && r <= 1.0)) {
            return usage(format!(
                "--learning-rate must be one or more numbers in (0, 1], got {:?}",
                t.learning_rate
            ));
        }
        if t.l2.is_empty() || t.l2.iter().any(|&l| !(l >= 0.0 && l.is_finite())) {
            return usage(format!(
                "--l2 must be one or more finite numbers >= 0, got {:?}",
                t.l2
            ));
        }
        if t.leaves.is_empty() || t.leaves.iter().any(|&l| !(2..=1024).contains(&l)) {
            return usage(format!(
                "--leaves must be one or more of 2..=1024, got {:?}",
                t.leaves
            ));
        }
        if t.min_leaf_rows.is_empty() || t.min_leaf_rows.contains(&0) {
            return usage(format!(
                "--min-leaf-rows must be one or more positive counts, got {:?}",
                t.min_leaf_rows
            ));
        }
        if t.max_depth == 0 || t.early_stopping == 0 {
            return usage("tree depth and early stopping must be positive".into());
        }
        if !(t.subsample > 0.0 && t.subsample <= 1.0) {
            return usage(format!(
                "--subsample must be in (0, 1], got {}",
                t.subsample
            ));
        }
        if !(2..=256).contains(&t.max_bins) {
            return usage(format!("max bins must be 2..=256, got {}", t.max_bins));
        }
        Ok(self)
    }
}

/// The training rows: raw design matrix in time order, labels, timestamps.
pub struct TrainingSet<'a> {
    pub x: ArrayView2<'a, f64>,
    pub y: &'a [bool],
    pub ts: &'a [i64],
    /// When each positive label became known (the start of its first incident); `None`
    /// where nothing says (a label column), taken as known from the start. A fold trains
    /// on the labels known when its validation stretch begins.
    pub first_incident: &'a [Option<i64>],
}

/// What else goes into the model file.
pub struct TrainContext {
    pub config: Config,
    pub features: Vec<FeatureDef>,
    pub labelling: LabelParams,
    pub labels: LabelSummary,
    pub tier_percentiles: [f64; 3],
}

/// Column means and standard deviations (a constant column gets scale 1).
fn standardisation(x: ArrayView2<f64>) -> (Array1<f64>, Array1<f64>) {
    let mean = x
        .mean_axis(Axis(0))
        .unwrap_or_else(|| Array1::zeros(x.ncols()));
    let scale = x
        .std_axis(Axis(0), 0.0)
        .mapv(|s| if s > 1e-12 && s.is_finite() { s } else { 1.0 });
    (mean, scale)
}

/// One rolling-origin fold: train on `train`, validate on `valid` (which follows it).
#[derive(Debug, Clone)]
struct Fold {
    train: Range<usize>,
    valid: Range<usize>,
    /// The labels of the `train` rows as they were known when `valid` began: a change
    /// whose first incident started later was not yet known to be bad.
    known: Vec<bool>,
}

/// Whether a change labelled `y`, whose first incident started at `first` (`None` when
/// nothing says: a label column), was known to be bad at time `at`.
fn known_positive(y: bool, first: Option<i64>, at: i64) -> bool {
    y && first.is_none_or(|t| t < at)
}

impl Fold {
    /// Sets `known` from every row's label, timestamp and first incident's start.
    fn with_known_labels(mut self, y: &[bool], ts: &[i64], first: &[Option<i64>]) -> Fold {
        let origin = ts[self.valid.start];
        self.known = self
            .train
            .clone()
            .map(|i| known_positive(y[i], first[i], origin))
            .collect();
        self
    }
}

/// Every learner needs changes that caused an incident and changes that did not, in
/// all the training rows and in each fold's.
fn both_outcomes(y: &[bool], what: &str) -> Result<()> {
    let positives = y.iter().filter(|&&v| v).count();
    if positives == 0 || positives == y.len() {
        return Err(Error::Data(format!(
            "cannot train: {positives} of the {} {what} caused an incident; both outcomes are needed",
            y.len()
        )));
    }
    Ok(())
}

/// Rolling-origin folds over the selection window (the last `selection_rows` rows). Each
/// fold validates on a horizon of `validation_fraction` of the window, as long as the
/// stretch a deployed model scores before it is retrained, and trains on every window row
/// before it; the origins step back by a `folds`-th of the horizon, so the last fold
/// validates on the most recent rows. A long horizon is what shows a model that learned
/// something true for a few weeks only (a counter that grows with time, a passing
/// pattern), which short slices right after the training rows would miss.
fn rolling_origin(n: usize, p: &LearnerParams) -> Result<Vec<Fold>> {
    let start = n.saturating_sub(p.selection_rows);
    let window = n - start;
    let horizon = (window as f64 * p.validation_fraction).floor() as usize;
    let step = horizon / p.folds;
    let first = n.saturating_sub(horizon + step * (p.folds - 1));
    if step == 0 {
        return Err(Error::Data(format!(
            "{n} training changes are too few for {} validation folds: --validation-fraction {} of the {window}-row selection window is {horizon} rows, under one row per fold; give more changes, a larger --validation-fraction or fewer --folds",
            p.folds, p.validation_fraction
        )));
    }
    if first <= start {
        return Err(Error::Data(format!(
            "{} validation folds of {horizon} rows (--validation-fraction {}), {step} rows apart, leave no rows of the {window}-row selection window to train the first fold on; give a smaller --validation-fraction or fewer --folds",
            p.folds, p.validation_fraction
        )));
    }
    Ok((0..p.folds)
        .map(|k| {
            let v = first + k * step;
            Fold {
                train: start..v,
                valid: v..if k + 1 == p.folds { n } else { v + horizon },
                known: Vec::new(),
            }
        })
        .collect())
}

/// Everything one model fit needs, shared by the folds and the final refit.
struct Data<'a> {
    x: ArrayView2<'a, f64>,
    /// Standardised `x`, for the logistic model.
    z: ArrayView2<'a, f64>,
    y: &'a [bool],
    binned: &'a Binned,
    monotone: &'a [i8],
    params: &'a LearnerParams,
}

/// A fitted model's parts: log-odds = intercept + linear part + trees.
#[derive(Debug, Clone)]
struct Fitted {
    linear: Option<Linear>,
    intercept: f64,
    trees: Vec<crate::gbdt::Tree>,
}

impl Fitted {
    /// Multiplies the log-odds by `k`: every part scales, so contributions do too.
    fn scaled(mut self, k: f64) -> Fitted {
        self.intercept *= k;
        if let Some(l) = &mut self.linear {
            l.coef.mapv_inplace(|c| c * k);
            l.intercept *= k;
        }
        for t in &mut self.trees {
            for node in &mut t.nodes {
                if let Node::Leaf { value, .. } = node {
                    *value *= k;
                }
            }
        }
        self
    }

    /// `w` x (logistic log-odds) + (1 - w) x (tree log-odds), as one additive model.
    fn blend(logistic: Fitted, trees: Fitted, w: f64) -> Fitted {
        let (l, t) = (logistic.scaled(w), trees.scaled(1.0 - w));
        Fitted {
            intercept: l.intercept + t.intercept,
            linear: l.linear,
            trees: t.trees,
        }
    }
}

/// What a candidate is: the learner and its settings.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Candidate {
    learner: LearnerChoice,
    penalty: Option<f64>,
    leaves: Option<usize>,
    min_leaf_rows: Option<usize>,
    /// Set when more than one learning rate (L2 penalty) is a candidate.
    learning_rate: Option<f64>,
    l2: Option<f64>,
    /// The logistic model's share of a blend's log-odds.
    weight: Option<f64>,
}

impl Candidate {
    fn logistic(penalty: f64) -> Candidate {
        Candidate {
            learner: LearnerChoice::Logistic,
            penalty: Some(penalty),
            leaves: None,
            min_leaf_rows: None,
            learning_rate: None,
            l2: None,
            weight: None,
        }
    }
}

impl Data<'_> {
    fn boost_params(&self, c: &Candidate, rounds: usize) -> BoostParams {
        let t = &self.params.trees;
        BoostParams {
            rounds,
            learning_rate: c.learning_rate.unwrap_or(t.learning_rate[0]),
            max_leaves: c.leaves.unwrap_or(t.leaves[0]),
            max_depth: t.max_depth,
            min_leaf_rows: c.min_leaf_rows.unwrap_or(t.min_leaf_rows[0]),
            min_leaf_hessian: 1e-3,
            l2: c.l2.unwrap_or(t.l2[0]),
            min_gain: 0.0,
            early_stopping: t.early_stopping,
            max_rows_per_tree: t.max_rows_per_tree,
            subsample: t.subsample,
        }
    }

    /// Fits the logistic model with `penalty` on rows `train`, labelled `y`.
    fn fit_logistic(&self, penalty: f64, train: Range<usize>, y: &[bool]) -> Result<Fitted> {
        let linear = fit(
            self.z.slice(ndarray::s![train, ..]),
            y,
            NewtonParams {
                penalty,
                max_iterations: self.params.max_iterations,
                gradient_tolerance: self.params.gradient_tolerance,
            },
            None,
            self.monotone,
        )?;
        Ok(Fitted {
            intercept: linear.intercept,
            linear: Some(linear),
            trees: Vec::new(),
        })
    }

    /// Boosts trees on rows `train`, labelled `y`; with `valid`, stops early on it,
    /// otherwise grows `rounds`.
    fn fit_trees(
        &self,
        c: &Candidate,
        train: Range<usize>,
        y: &[bool],
        valid: Option<Range<usize>>,
        rounds: usize,
    ) -> Fitted {
        // Every row (the refit) needs no copy.
        let part;
        let binned = if train == (0..self.binned.rows) {
            self.binned
        } else {
            part = self.binned.rows(train);
            &part
        };
        let boosted = boost(
            binned,
            y,
            None,
            self.monotone,
            &self.boost_params(c, rounds),
            valid.map(|v| Validation {
                x: self.x.slice(ndarray::s![v.clone(), ..]),
                y: &self.y[v],
                offset: None,
            }),
        );
        Fitted {
            intercept: boosted.base,
            linear: None,
            trees: boosted.trees,
        }
    }

    /// The log-odds of `fitted` for `rows`.
    fn logits(&self, fitted: &Fitted, rows: Range<usize>) -> Vec<f64> {
        let linear = fitted.linear.as_ref().map(|l| {
            self.z
                .slice(ndarray::s![rows.clone(), ..])
                .dot(&l.coef)
                .to_vec()
        });
        let x = self.x.slice(ndarray::s![rows, ..]);
        (0..x.nrows())
            .into_par_iter()
            .map(|i| {
                // The trees' sum only: no explainers are needed to validate.
                let trees = if fitted.trees.is_empty() {
                    0.0
                } else {
                    let row = x.row(i).to_vec();
                    fitted.trees.iter().map(|t| t.predict(&row)).sum()
                };
                fitted.intercept + linear.as_ref().map_or(0.0, |l| l[i]) + trees
            })
            .collect()
    }

    /// Fits a logistic or tree candidate on `fold`'s training rows and the labels known
    /// then, for validation on its slice.
    fn fit(&self, c: &Candidate, fold: &Fold) -> Result<Fitted> {
        let (train, y) = (fold.train.clone(), &fold.known);
        match c.penalty {
            Some(penalty) => self.fit_logistic(penalty, train, y),
            None => Ok(self.fit_trees(
                c,
                train,
                y,
                Some(fold.valid.clone()),
                self.params.trees.max_trees,
            )),
        }
    }
}

/// A validated candidate: how it did, and its log-odds on every fold's slice.
#[derive(Debug, Clone)]
struct Run {
    trial: Trial,
    candidate: Candidate,
    logits: Vec<Vec<f64>>,
}

/// Measures a candidate from its log-odds on each fold's slice.
fn measure(
    candidate: Candidate,
    logits: Vec<Vec<f64>>,
    trees: Vec<usize>,
    data: &Data,
    folds: &[Fold],
) -> Run {
    let mut trial = Trial {
        learner: candidate.learner,
        penalty: candidate.penalty,
        leaves: candidate.leaves,
        min_leaf_rows: candidate.min_leaf_rows,
        learning_rate: candidate.learning_rate,
        l2: candidate.l2,
        logistic_weight: candidate.weight,
        fold_trees: trees,
        fold_roc_auc: Vec::new(),
        fold_log_loss: Vec::new(),
        mean_roc_auc: None,
        mean_log_loss: 0.0,
    };
    for (fold, l) in folds.iter().zip(&logits) {
        let probs: Vec<f64> = l.iter().map(|&v| sigmoid(v)).collect();
        let y = &data.y[fold.valid.clone()];
        trial.fold_roc_auc.push(roc_auc(&probs, y));
        trial.fold_log_loss.push(log_loss(&probs, y));
    }
    let aucs: Vec<f64> = trial.fold_roc_auc.iter().flatten().copied().collect();
    trial.mean_roc_auc = (!aucs.is_empty()).then(|| aucs.iter().sum::<f64>() / aucs.len() as f64);
    trial.mean_log_loss = trial.fold_log_loss.iter().sum::<f64>() / folds.len().max(1) as f64;
    Run {
        trial,
        candidate,
        logits,
    }
}

/// Fits candidate `c` on every fold and measures it.
/// The folds are fitted in parallel (each fit is deterministic, and the results are
/// kept in fold order).
fn validate(data: &Data, c: Candidate, folds: &[Fold]) -> Result<Run> {
    let fits: Vec<(usize, Vec<f64>)> = folds
        .par_iter()
        .map(|fold| {
            let fitted = data.fit(&c, fold)?;
            Ok((fitted.trees.len(), data.logits(&fitted, fold.valid.clone())))
        })
        .collect::<Result<_>>()?;
    let trees = if c.penalty.is_none() {
        fits.iter().map(|f| f.0).collect()
    } else {
        Vec::new()
    };
    let logits = fits.into_iter().map(|f| f.1).collect();
    Ok(measure(c, logits, trees, data, folds))
}

/// Whether trial `a` validates better than `b`: higher mean ROC-AUC, then lower log loss.
fn better(a: &Trial, b: &Trial) -> bool {
    match (a.mean_roc_auc, b.mean_roc_auc) {
        (Some(x), Some(y)) if (x - y).abs() > 1e-9 => x > y,
        (Some(_), None) => true,
        (None, Some(_)) => false,
        _ => a.mean_log_loss < b.mean_log_loss - 1e-12,
    }
}

/// The index of the best validated run among those whose candidate `wanted` accepts
/// (the first one on a tie).
fn best_of(runs: &[Run], wanted: impl Fn(&Candidate) -> bool) -> Option<usize> {
    (0..runs.len())
        .filter(|&i| wanted(&runs[i].candidate))
        .fold(None, |best, i| match best {
            Some(b) if !better(&runs[i].trial, &runs[b].trial) => Some(b),
            _ => Some(i),
        })
}

/// How cautious a candidate is, larger meaning more: a logistic model over a blend over
/// trees, then a larger penalty, a larger logistic share, more rows per leaf and fewer
/// leaves.
fn caution(c: &Candidate) -> [f64; 4] {
    let penalty = c.penalty.unwrap_or(0.0);
    let rows = c.min_leaf_rows.unwrap_or(0) as f64;
    let leaves = -(c.leaves.unwrap_or(0) as f64);
    match c.learner {
        LearnerChoice::Logistic => [2.0, penalty, 0.0, 0.0],
        LearnerChoice::Blend => [1.0, c.weight.unwrap_or(0.0), penalty, rows],
        _ => [0.0, rows, leaves, c.l2.unwrap_or(0.0)],
    }
}

/// The run to choose among those `wanted` accepts: the best validated one, or, when no
/// fold holds both outcomes, so that none can rank them (their log loss on one outcome
/// alone would reward the most confident, least penalised fit), the most cautious one
/// ([`caution`]).
fn pick(runs: &[Run], wanted: impl Fn(&Candidate) -> bool) -> Option<usize> {
    if runs.iter().any(|r| r.trial.mean_roc_auc.is_some()) {
        return best_of(runs, wanted);
    }
    (0..runs.len())
        .filter(|&i| wanted(&runs[i].candidate))
        .max_by(|&a, &b| {
            let (a, b) = (caution(&runs[a].candidate), caution(&runs[b].candidate));
            a.iter()
                .zip(&b)
                .map(|(x, y)| x.total_cmp(y))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        })
}

/// The steepest Platt scaling kept: a model whose validation log-odds need more than ten
/// times their spread is not one a slope should rescue.
const MAX_PLATT_SLOPE: f64 = 10.0;

/// Platt scaling of raw log-odds against outcomes; `None` when it would not keep the
/// order (slope not positive), would be steeper than [`MAX_PLATT_SLOPE`], would fit the
/// slice's outcomes worse than the log-odds as they are, or cannot be fitted (one class).
///
/// Fitted by linfa's implementation of Platt's method as Lin, Lin and Weng (2007) give
/// it, with Platt's smoothed targets: a change that caused an incident counts as
/// (N+ + 1) / (N+ + 2) of one, a change that did not as 1 / (N- + 2). On a slice of
/// hundreds of changes that moves nothing that matters; on a handful it keeps the fit
/// from running off to a step function (on a 24-change history whose last 4 validation
/// changes the log-odds order perfectly, the unsmoothed fit stopped at a slope of 6 and
/// an offset of -32; the smoothed one is 0.17 and -1.2).
fn platt(logits: &[f64], y: &[bool]) -> Option<Platt> {
    use linfa::composing::platt_scaling::{platt_newton_method, PlattParams};
    use linfa::ParamGuard;
    if !y.iter().any(|&v| v) || y.iter().all(|&v| v) {
        return None;
    }
    let params = PlattParams::<f64, ()>::default().check().ok()?;
    let (a, b) = platt_newton_method(
        ndarray::ArrayView1::from(logits),
        ndarray::ArrayView1::from(y),
        &params,
    )
    .ok()?;
    // linfa's sigmoid is 1 / (1 + exp(a x + b)): the slope and offset are their negatives.
    let (slope, offset) = (-a, -b);
    // A slope far above 1 is a validation slice the log-odds separate (almost)
    // perfectly: no calibration.
    if !(slope > 0.0 && slope <= MAX_PLATT_SLOPE && offset.is_finite()) {
        return None;
    }
    let before: Vec<f64> = logits.iter().map(|&l| sigmoid(l)).collect();
    let after: Vec<f64> = logits
        .iter()
        .map(|&l| sigmoid(slope * l + offset))
        .collect();
    let (log_loss_before, log_loss_after) = (log_loss(&before, y), log_loss(&after, y));
    // The smoothed targets pull every probability away from 0 and 1. When that costs the
    // slice's own outcomes more than the log-odds as they are (log-odds in the hundreds
    // that order the slice perfectly), the prior is doing all the work: no calibration.
    if log_loss_after > log_loss_before {
        return None;
    }
    Some(Platt {
        slope,
        offset,
        rows: y.len(),
        log_loss_before,
        log_loss_after,
    })
}

/// The tree candidates: every leaf count with every least-rows-per-leaf, learning rate
/// and L2 penalty (the last two named only when there is a choice).
fn tree_candidates(t: &TreeParams) -> Vec<Candidate> {
    let choice = |v: &[f64]| -> Vec<Option<f64>> {
        match v {
            [_] => vec![None],
            _ => v.iter().map(|&x| Some(x)).collect(),
        }
    };
    let mut out = Vec::new();
    for &leaves in &t.leaves {
        for &min_leaf_rows in &t.min_leaf_rows {
            for &learning_rate in &choice(&t.learning_rate) {
                for &l2 in &choice(&t.l2) {
                    out.push(Candidate {
                        learner: LearnerChoice::Gbdt,
                        penalty: None,
                        leaves: Some(leaves),
                        min_leaf_rows: Some(min_leaf_rows),
                        learning_rate,
                        l2,
                        weight: None,
                    });
                }
            }
        }
    }
    out
}

/// The logistic model's shares of the log-odds a blend tries.
/// Every tenth: the blends reuse the folds' log-odds, so the finer grid costs no fit
/// (on the 12 public cases of benches/README.md it moved `auto` by +0.0008 on the mean
/// against quarters; the synthetic histories chose the same or a neighbouring weight).
const BLEND_WEIGHTS: [f64; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/// Validates every candidate `learner` needs: the logistic penalties, the tree
/// settings, and blends of the best of each.
fn select(data: &Data, folds: &[Fold]) -> Result<Vec<Run>> {
    let learner = data.params.learner;
    let mut runs = Vec::new();
    if learner != LearnerChoice::Gbdt {
        let mut penalties = data.params.penalties.clone();
        penalties.sort_by(|a, b| b.total_cmp(a));
        for penalty in penalties {
            runs.push(validate(data, Candidate::logistic(penalty), folds)?);
        }
    }
    if learner != LearnerChoice::Logistic {
        let trees: Vec<Run> = tree_candidates(&data.params.trees)
            .into_par_iter()
            .map(|c| validate(data, c, folds))
            .collect::<Result<_>>()?;
        runs.extend(trees);
    }
    if matches!(learner, LearnerChoice::Auto | LearnerChoice::Blend) {
        let lin = pick(&runs, |c| c.learner == LearnerChoice::Logistic);
        let tree = pick(&runs, |c| c.learner == LearnerChoice::Gbdt);
        if let (Some(lin), Some(tree)) = (lin, tree) {
            let (lin, tree) = (runs[lin].clone(), runs[tree].clone());
            for w in BLEND_WEIGHTS {
                let logits = lin
                    .logits
                    .iter()
                    .zip(&tree.logits)
                    .map(|(a, b)| {
                        a.iter()
                            .zip(b)
                            .map(|(a, b)| w * a + (1.0 - w) * b)
                            .collect()
                    })
                    .collect();
                let c = Candidate {
                    learner: LearnerChoice::Blend,
                    penalty: lin.candidate.penalty,
                    weight: Some(w),
                    ..tree.candidate
                };
                runs.push(measure(
                    c,
                    logits,
                    tree.trial.fold_trees.clone(),
                    data,
                    folds,
                ));
            }
        }
    }
    Ok(runs)
}

/// The positive rate the history features shrink per-service and per-author rates
/// towards: that of the rows before the first fold's validation stretch, by the labels
/// known when it began, so that no fold is trained or validated on features shaped by
/// labels it could not have known. `ts` and `first_incident` are in time order, like `y`.
pub fn prior_rate(
    y: &[bool],
    ts: &[i64],
    first_incident: &[Option<i64>],
    params: &LearnerParams,
) -> Result<f64> {
    let params = params.clone().check()?;
    let origin = rolling_origin(y.len(), &params)?[0].valid.start;
    let known = (0..origin)
        .filter(|&i| known_positive(y[i], first_incident[i], ts[origin]))
        .count();
    Ok(known as f64 / origin as f64)
}

/// Trains a model from `set` (rows in time order).
pub fn train(set: TrainingSet, params: LearnerParams, ctx: TrainContext) -> Result<Model> {
    let n = set.y.len();
    let params = params.check()?.sized(n);
    assert_eq!(set.first_incident.len(), n, "one first incident per row");
    let folds: Vec<Fold> = rolling_origin(n, &params)?
        .into_iter()
        .map(|f| f.with_known_labels(set.y, set.ts, set.first_incident))
        .collect();
    both_outcomes(set.y, "training changes")?;
    for (k, fold) in folds.iter().enumerate() {
        both_outcomes(
            &fold.known,
            &format!(
                "changes validation fold {} trains on (rows {}-{} by time)",
                k + 1,
                fold.train.start + 1,
                fold.train.end
            ),
        )?;
    }
    let (mean, scale) = standardisation(set.x);
    // The standardised matrix is only read by logistic fits. A feature for the trees
    // only is a column of zeros there, which the penalised fit gives no weight.
    let z = if params.learner == LearnerChoice::Gbdt {
        Array2::zeros((0, 0))
    } else {
        let mut z = (&set.x - &mean) / &scale;
        for (j, f) in ctx.features.iter().enumerate() {
            if f.trees_only {
                z.column_mut(j).fill(0.0);
            }
        }
        z
    };
    let monotone: Vec<i8> = ctx.features.iter().map(|f| f.monotone).collect();
    let binned = if params.learner == LearnerChoice::Logistic {
        Binned::empty(n)
    } else {
        Binned::new(set.x, params.trees.max_bins)
    };
    let data = Data {
        x: set.x.view(),
        z: z.view(),
        y: set.y,
        binned: &binned,
        monotone: &monotone,
        params: &params,
    };

    let runs = select(&data, &folds)?;
    let chosen = pick(&runs, |c| {
        params.learner == LearnerChoice::Auto || c.learner == params.learner
    })
    .ok_or_else(|| Error::Usage("no candidate model to try".into()))?;
    let Run {
        trial: chosen_trial,
        candidate,
        logits,
    } = runs[chosen].clone();
    let last = folds.last().expect("at least one fold").valid.clone();
    let y_last = &set.y[last];
    let last_logits = logits.last().expect("one log-odds vector per fold");
    let last_probs: Vec<f64> = last_logits.iter().map(|&l| sigmoid(l)).collect();
    let validation = Metrics::compute(&last_probs, y_last);

    // The final model: refit on every training row. The trees get the mean number the
    // folds kept.
    let rounds = if chosen_trial.fold_trees.is_empty() {
        params.trees.max_trees
    } else {
        let mean = chosen_trial.fold_trees.iter().sum::<usize>() as f64
            / chosen_trial.fold_trees.len() as f64;
        (mean.round() as usize).max(1)
    };
    let all = 0..n;
    let fitted = match candidate.learner {
        LearnerChoice::Logistic => {
            data.fit_logistic(candidate.penalty.unwrap_or(0.0), all, set.y)?
        }
        LearnerChoice::Gbdt => data.fit_trees(&candidate, all, set.y, None, rounds),
        _ => Fitted::blend(
            data.fit_logistic(candidate.penalty.unwrap_or(0.0), all.clone(), set.y)?,
            data.fit_trees(&candidate, all, set.y, None, rounds),
            candidate.weight.unwrap_or(0.5),
        ),
    };
    let calibration = if params.calibrate {
        platt(last_logits, y_last)
    } else {
        None
    };
    let fitted = match &calibration {
        Some(p) => {
            let mut f = fitted.scaled(p.slope);
            f.intercept += p.offset;
            f
        }
        None => fitted,
    };

    let features = ctx
        .features
        .into_iter()
        .enumerate()
        .map(|(j, def)| ModelFeature {
            def,
            mean: mean[j],
            scale: scale[j],
            coefficient: fitted.linear.as_ref().map_or(0.0, |l| l.coef[j]),
            importance: 0.0,
            distribution: None,
        })
        .collect();
    let positives = set.y.iter().filter(|&&v| v).count();
    let (from, to) = (
        set.ts.iter().min().copied().unwrap_or(0),
        set.ts.iter().max().copied().unwrap_or(0),
    );
    let learner = candidate.learner;
    let mut model = Model {
        format: MODEL_FORMAT.into(),
        format_version: MODEL_VERSION,
        learner,
        config: ctx.config,
        labelling: ctx.labelling,
        intercept: fitted.intercept,
        features,
        trees: (learner != LearnerChoice::Logistic).then(|| Ensemble::new(fitted.trees)),
        tiers: Tiers::from_risks(&[], ctx.tier_percentiles),
        params,
        training: TrainingSummary {
            rows: n,
            positives,
            positive_rate: positives as f64 / n as f64,
            time_from: format_timestamp(from),
            time_to: format_timestamp(to),
            labels: ctx.labels,
            folds: folds
                .iter()
                .map(|f| [f.train.start, f.valid.start, f.valid.end])
                .collect(),
            selection: runs.into_iter().map(|r| r.trial).collect(),
            chosen: chosen_trial,
            validation,
            calibration,
            mean_training_risk: 0.0,
            risk_distribution: None,
            recent: None,
        },
    };
    let train_probs = if model.trees.is_some() {
        model.training_risks(set.x, &binned)
    } else {
        model.risks(set.x)
    };
    model.tiers = Tiers::from_risks(&train_probs, ctx.tier_percentiles);
    model.training.mean_training_risk = train_probs.iter().sum::<f64>() / n as f64;
    // The latest training changes, `drift`'s reference: the slice calibration saw.
    let recent = folds.last().expect("at least one fold").valid.start..n;
    let recent_risks = &train_probs[recent.clone()];
    model.training.recent = Some(RecentSummary {
        rows: recent.len(),
        time_from: format_timestamp(set.ts[recent.start]),
        positive_rate: set.y[recent.clone()].iter().filter(|&&v| v).count() as f64
            / recent.len() as f64,
        mean_risk: recent_risks.iter().sum::<f64>() / recent.len() as f64,
    });
    model.training.risk_distribution =
        Some(Distribution::of(&train_probs).with_recent(recent_risks));
    let importance = importance(&model, set.x);
    // From evenly spaced rows, at most DISTRIBUTION_ROWS of all and of the latest:
    // shares to a tenth of a percent, without a pass down every column of a large matrix.
    let by_feature = |rows: Range<usize>| {
        let step = rows.len().div_ceil(DISTRIBUTION_ROWS).max(1);
        set.x
            .slice(ndarray::s![rows;step, ..])
            .reversed_axes()
            .as_standard_layout()
            .into_owned()
    };
    let (all, latest) = (by_feature(0..n), by_feature(recent));
    let distributions: Vec<Distribution> = (0..all.nrows())
        .into_par_iter()
        .map(|j| Distribution::of(&all.row(j).to_vec()).with_recent(&latest.row(j).to_vec()))
        .collect();
    for ((f, imp), d) in model.features.iter_mut().zip(importance).zip(distributions) {
        f.importance = imp;
        f.distribution = Some(d);
    }
    Ok(model)
}

/// Rows sampled (evenly through time) for the features' training distributions.
const DISTRIBUTION_ROWS: usize = 200_000;

/// Rows sampled (evenly through time) to measure global importance.
const IMPORTANCE_ROWS: usize = 20_000;

/// Mean |contribution| of each feature over (a sample of) the training rows.
fn importance(model: &Model, x: ArrayView2<f64>) -> Vec<f64> {
    let step = x.nrows().div_ceil(IMPORTANCE_ROWS).max(1);
    let rows: Vec<usize> = (0..x.nrows()).step_by(step).collect();
    let per_row: Vec<Vec<f64>> = rows
        .par_iter()
        .map(|&i| model.score_row(x.row(i)).contributions)
        .collect();
    // Summed in row order, so the model file does not depend on the thread count.
    let mut sums = vec![0.0; model.features.len()];
    for row in &per_row {
        for (s, c) in sums.iter_mut().zip(row) {
            *s += c.abs();
        }
    }
    sums.iter().map(|s| s / rows.len().max(1) as f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn learning_rate_is_sized_to_small_histories_only_by_default() {
        let sized = |rows: usize, p: LearnerParams| p.sized(rows).trees;
        let t = sized(5_000, LearnerParams::default());
        assert!(
            (t.learning_rate[0] - 0.04).abs() < 1e-12,
            "{:?}",
            t.learning_rate
        );
        assert_eq!((t.max_trees, t.early_stopping), (800, 50));
        assert!(!t.size_learning_rate, "sized once");
        // Sizing twice (a model's stored settings trained again) changes nothing more.
        let again = LearnerParams {
            trees: t.clone(),
            ..LearnerParams::default()
        };
        assert_eq!(sized(5_000, again), t);
        // The settings as given are kept beside the sized ones, and sized afresh for
        // another history (report's evaluation) they are what the defaults give there.
        let default = TreeParams::default();
        let given = t.sized_from.clone().expect("the settings before sizing");
        assert_eq!(
            (given.learning_rate, given.max_trees, given.early_stopping),
            (
                default.learning_rate,
                default.max_trees,
                default.early_stopping
            )
        );
        let stored = LearnerParams {
            trees: t.clone(),
            ..LearnerParams::default()
        };
        assert_eq!(
            sized(10_000, stored.as_given()),
            sized(10_000, LearnerParams::default())
        );
        for rows in [FULL_RATE_ROWS, 1_000_000] {
            let t = sized(rows, LearnerParams::default());
            assert_eq!(
                (t.learning_rate, t.max_trees, t.early_stopping),
                (vec![0.08], 400, 25)
            );
        }
        // A tiny history stops at the cap on trees.
        assert_eq!(sized(1, LearnerParams::default()).max_trees, MAX_TREES);
        // Rates given by hand are used as they are.
        let mut given = LearnerParams::default();
        given.trees.learning_rate = vec![0.05, 0.1];
        given.trees.size_learning_rate = false;
        let sized_given = given.sized(500);
        assert_eq!(sized_given.trees.sized_from, None, "nothing to size again");
        assert_eq!(sized_given.clone().as_given(), sized_given);
        let t = sized_given.trees;
        assert_eq!((t.learning_rate, t.max_trees), (vec![0.05, 0.1], 400));
    }

    #[test]
    fn platt_recovers_a_known_slope_and_offset() {
        // Outcomes drawn with probability sigmoid(0.8 l - 0.5) from log-odds l.
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let logits: Vec<f64> = (0..20_000).map(|_| rng.gen_range(-4.0..4.0)).collect();
        let y: Vec<bool> = logits
            .iter()
            .map(|&l| rng.gen::<f64>() < sigmoid(0.8 * l - 0.5))
            .collect();
        let p = platt(&logits, &y).expect("a calibration");
        assert!((p.slope - 0.8).abs() < 0.05, "slope {}", p.slope);
        assert!((p.offset + 0.5).abs() < 0.05, "offset {}", p.offset);
        assert!(p.log_loss_after <= p.log_loss_before);
    }

    #[test]
    fn platt_stays_moderate_on_a_few_perfectly_ordered_changes() {
        // Maximum likelihood would run the slope off to infinity on any of these; the
        // smoothed targets keep it finite, and the order is kept.
        let timid = platt(&[-0.3, -0.15, 0.06, 0.45], &[false, false, false, true]);
        let p = timid.expect("timid log-odds are sharpened");
        assert!(
            p.slope > 1.0 && p.slope < MAX_PLATT_SLOPE,
            "slope {}",
            p.slope
        );
        assert!(p.offset.is_finite());
        assert!(p.log_loss_after < p.log_loss_before);
        // Log-odds already sure of the slice: flattening them toward the smoothed targets
        // would cost its own outcomes more than it gains, so none.
        assert!(platt(&[-10.0, -8.0, -6.0, 9.0], &[false, false, false, true]).is_none());
        // One outcome only: nothing to fit.
        assert!(platt(&[0.1, 0.2], &[true, true]).is_none());
    }
}
