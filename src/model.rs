//! The model file: a complete, versioned description of how a score is computed (how
//! incidents were linked, each feature's definition and scaling, coefficients, tier
//! cut points, how it was trained), and the scoring that follows from it.

use std::path::Path;

use ndarray::{ArrayView1, ArrayView2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::features::{FeatureDef, MODEL_NUMBER_LIMIT};
use crate::gbdt::Ensemble;
use crate::label::{LabelParams, LabelSummary};
use crate::metrics::Metrics;
use crate::output::write_atomic;

/// Rows per parallel task of [`Model::risks`].
const RISK_BLOCK: usize = 4096;
/// The `format` field every model file carries.
pub const MODEL_FORMAT: &str = "changerisk-model";
/// The model file version this build reads and writes.
pub const MODEL_VERSION: u32 = 9;

/// The oldest format version this build reads: version 2 files hold one learning rate
/// and one L2 penalty where later versions hold lists, versions 2 and 3 have no
/// `subsample` (their trees grew from every row), versions before 5 have no
/// `smoothed_log_ratio` feature (nor the `author_expected_incidents` history column it
/// reads), versions before 6 no `time` feature for the trees only (`trees_only`), and
/// versions before 7 no record of the tree settings before they were sized to the
/// history (`sized_from`), versions before 8 no training distributions (`drift`
/// needs them), and versions before 9 no spread of the latest training changes (`drift`
/// then compares with all of them); the rest is the same.
pub const OLDEST_MODEL_VERSION: u32 = 2;

/// The largest log-odds a model file may give as an intercept, a coefficient or a
/// tree's leaf: far beyond any fitted model's (a risk of 1 - 1e-400000 is no risk a
/// reviewer can read), near enough that sums of them stay finite.
pub const MAX_LOG_ODDS: f64 = 1e4;

/// One feature as fitted: its definition, standardisation, coefficient (on the
/// standardised scale, so coefficients compare as importances; 0 when the model has no
/// logistic part) and its importance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFeature {
    #[serde(flatten)]
    pub def: FeatureDef,
    pub mean: f64,
    pub scale: f64,
    pub coefficient: f64,
    /// Mean |contribution to the log-odds| over the training rows (global importance).
    pub importance: f64,
    /// How the feature's values spread over the training rows (for `drift`; not in
    /// files before version 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<crate::drift::Distribution>,
}

/// Risk tiers: cut points at percentiles of the training risk distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tiers {
    /// Percentiles (0..100) of the training risks that start medium, high, critical.
    pub percentiles: [f64; 3],
    /// The risks at those percentiles.
    pub thresholds: [f64; 3],
    /// The training risk distribution at every 0.1 percentile (1001 values), so other
    /// cut points can be chosen at scoring time.
    pub risk_quantiles: Vec<f64>,
}

/// Tier names, lowest first.
pub const TIER_NAMES: [&str; 4] = ["low", "medium", "high", "critical"];

impl Tiers {
    /// Builds tiers from training risks.
    pub fn from_risks(risks: &[f64], percentiles: [f64; 3]) -> Tiers {
        let mut sorted = risks.to_vec();
        sorted.sort_by(f64::total_cmp);
        let quantile = |q: f64| {
            if sorted.is_empty() {
                return 0.0;
            }
            let pos = q * (sorted.len() - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
        };
        let risk_quantiles: Vec<f64> = (0..=1000).map(|k| quantile(k as f64 / 1000.0)).collect();
        let mut tiers = Tiers {
            percentiles,
            thresholds: [0.0; 3],
            risk_quantiles,
        };
        tiers.thresholds = percentiles.map(|p| tiers.risk_at_percentile(p));
        tiers
    }

    /// The training risk at percentile `p` (0..100), interpolated.
    pub fn risk_at_percentile(&self, p: f64) -> f64 {
        let q = &self.risk_quantiles;
        let pos = (p / 100.0).clamp(0.0, 1.0) * (q.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        q[lo] + (q[hi] - q[lo]) * (pos - lo as f64)
    }

    /// Tiers with other percentiles over the same distribution.
    pub fn with_percentiles(&self, percentiles: [f64; 3]) -> Tiers {
        Tiers {
            percentiles,
            thresholds: percentiles.map(|p| self.risk_at_percentile(p)),
            risk_quantiles: self.risk_quantiles.clone(),
        }
    }

    /// These tiers, or the same distribution cut at `percentiles` when given (`--tiers`).
    pub fn overridden(&self, percentiles: Option<[f64; 3]>) -> Tiers {
        percentiles.map_or_else(|| self.clone(), |p| self.with_percentiles(p))
    }

    /// The tier index (0 low .. 3 critical) of a risk. Of equal cut points (risks that
    /// take few values, or a model that learned nothing) the lowest decides: a risk at
    /// such a cut is as common as the lower tier says, not rarer. The lowest training
    /// risk counts as the cut below medium's, so a medium cut at that risk opens no tier
    /// either (a model that gives every change one risk calls them all low).
    pub fn tier(&self, risk: f64) -> usize {
        self.tier_of_count(self.thresholds.iter().filter(|&&c| risk >= c).count())
    }

    /// The tier of a risk at or above `count` of the cut points: the highest tier at or
    /// below `count` that opens (see [`Tiers::tier`]).
    pub fn tier_of_count(&self, count: usize) -> usize {
        let mut tier = count.min(self.thresholds.len());
        while tier >= 1 && !self.opens(tier) {
            tier -= 1;
        }
        tier
    }

    /// Whether tier `k` (1 medium .. 3 critical) can hold a change: its cut differs from
    /// where the tier below starts (the lowest training risk, for medium).
    pub fn opens(&self, k: usize) -> bool {
        self.floor(k) != self.floor(k - 1)
    }

    /// The risk where tier `k` starts: the lowest training risk for `low`, else its cut.
    fn floor(&self, k: usize) -> Option<f64> {
        match k {
            0 => self.risk_quantiles.first().copied(),
            _ => self.thresholds.get(k - 1).copied(),
        }
    }
}

/// Which learner `train` fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LearnerChoice {
    /// Whichever of the others validates best.
    Auto,
    /// L2-regularised logistic regression on the standardised features.
    Logistic,
    /// Gradient-boosted trees.
    Gbdt,
    /// A weighted average of the logistic and the trees' log-odds.
    Blend,
}

impl LearnerChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            LearnerChoice::Auto => "auto",
            LearnerChoice::Logistic => "logistic",
            LearnerChoice::Gbdt => "gbdt",
            LearnerChoice::Blend => "blend",
        }
    }
}

/// Settings of the tree learner; every list is a set of candidates for model selection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeParams {
    /// Most trees per model (early stopping usually ends sooner).
    pub max_trees: usize,
    /// Candidate learning rates (shrinkage). A model file of format version 2 holds one
    /// number, read as a list of one.
    #[serde(deserialize_with = "one_or_many")]
    pub learning_rate: Vec<f64>,
    /// Candidate leaf counts per tree.
    pub leaves: Vec<usize>,
    pub max_depth: usize,
    /// Candidate least training rows per leaf.
    pub min_leaf_rows: Vec<usize>,
    /// Candidate L2 penalties on leaf values (one number in older files, as above).
    #[serde(deserialize_with = "one_or_many")]
    pub l2: Vec<f64>,
    /// Rounds without validation improvement before boosting stops.
    pub early_stopping: usize,
    pub max_bins: usize,
    /// Most training rows one tree is grown from: above it, each round draws that many
    /// (a fixed pseudo-random sample per round: stochastic gradient boosting).
    pub max_rows_per_tree: usize,
    /// Share of the training rows each tree is grown from, drawn afresh every round
    /// (stochastic gradient boosting; 1: every row). A file without it (format version 3
    /// and older) grew every tree from every row (up to `max_rows_per_tree`).
    #[serde(default = "every_row")]
    pub subsample: f64,
    /// Whether `train` still has to size the learning rates (with `max_trees` and
    /// `early_stopping`) to the history ([`LearnerParams::sized`]): true for the
    /// defaults, false once sized or when `--learning-rate` names the rates. Never
    /// stored: a model file holds the settings its trees were grown with, and
    /// `sized_from` the ones they were sized from.
    #[serde(skip)]
    pub size_learning_rate: bool,
    /// The learning rates, `max_trees` and `early_stopping` as given, before `train`
    /// sized them to its history; none when the rates were given (`--learning-rate`)
    /// or the file is older than format version 7. A retrain on other rows (`report`'s
    /// evaluation) sizes these afresh, as `evaluate` does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sized_from: Option<GivenRates>,
}

/// Tree settings as given, before [`LearnerParams::sized`] scaled them (restored by
/// [`LearnerParams::as_given`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GivenRates {
    pub learning_rate: Vec<f64>,
    pub max_trees: usize,
    pub early_stopping: usize,
}

/// A feature input a config does not load ([`Model::unreadable_input`]).
#[derive(Debug, Clone, PartialEq)]
pub struct UnreadInput {
    pub feature: String,
    pub column: String,
    pub kind: crate::features::InputKind,
    /// What the config does with the column instead: "does not load it" or "loads it as
    /// numeric".
    pub loaded: String,
}

impl std::fmt::Display for UnreadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "feature '{}' reads column '{}' as {}",
            self.feature, self.column, self.kind
        )
    }
}

fn every_row() -> f64 {
    1.0
}

/// A list, or (as older model files wrote it) one number standing for a list of one.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(f64),
        Many(Vec<f64>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(v) => vec![v],
        OneOrMany::Many(v) => v,
    })
}

/// The learner's settings, as requested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearnerParams {
    pub learner: LearnerChoice,
    /// Candidate L2 penalties per training row of the logistic model.
    pub penalties: Vec<f64>,
    /// How long each fold validates, as a share of the selection window.
    pub validation_fraction: f64,
    /// Rolling-origin folds: each trains on everything before its slice.
    pub folds: usize,
    /// Model selection uses at most this many of the most recent rows (the final model
    /// is always refit on all of them).
    pub selection_rows: usize,
    pub max_iterations: u64,
    pub gradient_tolerance: f64,
    pub trees: TreeParams,
    /// Platt scaling fitted on the most recent validation slice.
    pub calibrate: bool,
}

/// How training went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSummary {
    pub rows: usize,
    pub positives: usize,
    pub positive_rate: f64,
    pub time_from: String,
    pub time_to: String,
    pub labels: LabelSummary,
    /// The rolling-origin folds: `[train start, validation start, validation end)` rows.
    pub folds: Vec<[usize; 3]>,
    /// Every candidate's validation results, in the order tried.
    pub selection: Vec<Trial>,
    /// The chosen candidate (an entry of `selection`).
    pub chosen: Trial,
    /// The chosen candidate's scores on the most recent fold (fit on the rows before it,
    /// before calibration).
    pub validation: Metrics,
    /// The Platt scaling folded into the model, when calibrated.
    pub calibration: Option<Platt>,
    /// Mean predicted risk of the final model over its training rows.
    pub mean_training_risk: f64,
    /// How the final model's risks spread over its training rows (for `drift`; not in
    /// files before version 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_distribution: Option<crate::drift::Distribution>,
    /// The latest training changes, `drift`'s reference (not in files before version 9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent: Option<RecentSummary>,
}

/// The latest training changes: the last validation fold's slice (the rows Platt
/// scaling is fitted on), whose spread every [`crate::drift::Distribution`] also keeps
/// (`recent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecentSummary {
    /// How many, the last of the training changes in time order.
    pub rows: usize,
    /// The first one's time.
    pub time_from: String,
    pub positive_rate: f64,
    /// Mean predicted risk of the final model over them.
    pub mean_risk: f64,
}

/// One candidate of model selection and how it validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trial {
    pub learner: LearnerChoice,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaves: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_leaf_rows: Option<usize>,
    /// The trees' learning rate, recorded when more than one was a candidate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f64>,
    /// The trees' L2 penalty on leaf values, recorded when more than one was a candidate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l2: Option<f64>,
    /// A blend's logistic share of the log-odds (the trees get the rest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logistic_weight: Option<f64>,
    /// Trees kept by early stopping, per fold (tree learners).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fold_trees: Vec<usize>,
    /// Validation ROC-AUC per fold (`null` where a fold has one class only).
    pub fold_roc_auc: Vec<Option<f64>>,
    pub fold_log_loss: Vec<f64>,
    /// Mean over the folds that have one.
    pub mean_roc_auc: Option<f64>,
    pub mean_log_loss: f64,
}

/// Platt scaling: calibrated log-odds = `slope` x raw log-odds + `offset`, fitted on the
/// most recent validation slice and folded into the coefficients and leaf values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Platt {
    pub slope: f64,
    pub offset: f64,
    pub rows: usize,
    pub log_loss_before: f64,
    pub log_loss_after: f64,
}

/// A trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub format: String,
    pub format_version: u32,
    /// `logistic`, `gbdt` or `blend` (a weighted average of the two's log-odds).
    pub learner: LearnerChoice,
    /// How the input files map onto changerisk (scoring reads files the same way).
    pub config: Config,
    pub labelling: LabelParams,
    /// The constant of the log-odds: the logistic intercept, or the trees' starting score.
    pub intercept: f64,
    pub features: Vec<ModelFeature>,
    /// The trees, whose outputs add to the log-odds (tree learners only); thresholds
    /// are on the raw feature values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trees: Option<Ensemble>,
    pub tiers: Tiers,
    pub params: LearnerParams,
    pub training: TrainingSummary,
}

/// One row's score: the probability, its log-odds (`logit`) and the per-feature
/// contributions to it (which, with [`Model::base_value`], add up to it).
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub risk: f64,
    pub logit: f64,
    pub contributions: Vec<f64>,
}

/// The logistic function.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

impl Model {
    /// Reads and checks a model file.
    pub fn load(path: &Path) -> Result<Model> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        // The format and version first, for a clear message on any other file; the rest
        // is skipped here, not built into a tree of values.
        #[derive(Deserialize)]
        struct Head {
            format: Option<serde_json::Value>,
            format_version: Option<serde_json::Value>,
        }
        let head: Head = serde_json::from_str(&text).map_err(|e| Error::BadModel {
            file: file.clone(),
            message: format!("not a JSON model file: {e}"),
        })?;
        if head.format.as_ref().and_then(|f| f.as_str()) != Some(MODEL_FORMAT) {
            return Err(Error::BadModel {
                file,
                message: format!("not a changerisk model (no \"format\": \"{MODEL_FORMAT}\")"),
            });
        }
        let version = head.format_version.as_ref().and_then(|v| v.as_u64());
        let readable = u64::from(OLDEST_MODEL_VERSION)..=u64::from(MODEL_VERSION);
        if !version.is_some_and(|v| readable.contains(&v)) {
            return Err(Error::BadModel {
                file,
                message: format!(
                    "model format version {} is not supported by this build (reads versions {OLDEST_MODEL_VERSION} to {MODEL_VERSION}); retrain with this version",
                    head.format_version
                        .map_or("(missing)".to_string(), |v| v.to_string())
                ),
            });
        }
        // Read into the model's own fields, which refuse a repeated key (a map would
        // keep one of its values).
        // The error names the field it is at (`features[1].mean`), not only the line and
        // column of a file written on one line.
        let de = &mut serde_json::Deserializer::from_str(&text);
        let mut model: Model = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let mut message = e.inner().to_string();
            // serde names the type, not the shapes it would have taken.
            if message.contains("untagged enum Node") {
                message.push_str(
                    " (a tree node is a split {\"feature\", \"threshold\", \"left\", \"right\", \
                     \"rows\"} or a leaf {\"value\", \"rows\"}, nothing else, with node indices \
                     and feature numbers as whole numbers and finite thresholds)",
                );
            }
            if path != "." {
                // serde's words for a list longer than a fixed-length field.
                if message.starts_with("trailing characters") {
                    message.push_str(" (more values than the field holds)");
                }
                message = format!("at {path}: {message}");
            }
            Error::BadModel {
                file: file.clone(),
                message,
            }
        })?;
        model
            .check()
            .map_err(|message| Error::BadModel { file, message })?;
        Ok(model)
    }

    /// The first feature input `config` does not load as the kind the feature reads it
    /// (a model applied with a config other than its own may read columns that config
    /// does not load).
    pub fn unreadable_input(&self, config: &Config) -> Option<UnreadInput> {
        let readable = crate::features::readable_inputs(config);
        self.features.iter().find_map(|f| {
            let (column, kind) = f
                .def
                .expr
                .inputs()
                .into_iter()
                .find(|&(c, k)| !readable.iter().any(|(rc, rk)| rc == c && *rk == k))?;
            let loaded = readable
                .iter()
                .find(|(c, _)| c == column)
                .map_or("does not load it".to_string(), |(_, k)| {
                    format!("loads it as {k}")
                });
            Some(UnreadInput {
                feature: f.def.name.clone(),
                column: column.to_string(),
                kind,
                loaded,
            })
        })
    }

    fn check(&mut self) -> std::result::Result<(), String> {
        let finite = |v: f64| v.is_finite();
        if !finite(self.intercept) {
            return Err("intercept is not finite".into());
        }
        if self.intercept.abs() > MAX_LOG_ODDS {
            return Err(format!(
                "intercept {:?}: expected log-odds within +-{MAX_LOG_ODDS}",
                self.intercept
            ));
        }
        // Checks `train` makes today: a file an earlier build wrote may fail them.
        let retrain = "(a file from an earlier build of changerisk may need retraining)";
        self.config
            .check()
            .map_err(|e| format!("its feature config: {e} {retrain}"))?;
        self.labelling
            .check()
            .map_err(|e| format!("its labelling: {e} {retrain}"))?;
        // Builds before format 9 read an hour without minutes as the day's midnight: the
        // model learned from times that its config now reads otherwise.
        if let crate::config::TimestampFormat::Pattern(p) = self.config.timestamp_format() {
            if self.format_version < 9 && crate::config::reads_hours_only(&p) {
                return Err(format!(
                    "its config's timestamp_format {p:?} reads an hour without minutes, which builds before model format 9 read as the day's midnight: the model was trained on those times; retrain it with this build"
                ));
            }
        }
        for f in &self.features {
            // `train` scales by a standard deviation above 1e-12 (else 1) of values
            // within MAX_NUMBER, so means and scales beyond that (and its rounding)
            // are no model of data.
            if !(f.mean.abs() <= MODEL_NUMBER_LIMIT
                && f.coefficient.abs() <= MAX_LOG_ODDS
                && f.scale > 1e-12
                && f.scale <= MODEL_NUMBER_LIMIT)
            {
                return Err(format!(
                    "feature '{}' has invalid scaling or coefficient (mean {:?}, scale {:?}, coefficient {:?}): expected |mean| and scale within {MODEL_NUMBER_LIMIT:e}, scale above 1e-12, |coefficient| within {MAX_LOG_ODDS}",
                    f.def.name, f.mean, f.scale, f.coefficient
                ));
            }
            f.def
                .expr
                .check()
                .map_err(|e| format!("feature '{}': {e}", f.def.name))?;
            if let Some(d) = &f.distribution {
                d.check()
                    .map_err(|e| format!("feature '{}': {e}", f.def.name))?;
            }
        }
        if let Some(d) = &self.training.risk_distribution {
            d.check().map_err(|e| format!("the training risks: {e}"))?;
        }
        // Version 8 files keep them all (`drift` reads them).
        if self.format_version >= 8 {
            let without = self
                .features
                .iter()
                .find(|f| f.distribution.is_none())
                .map(|f| format!("feature '{}'", f.def.name))
                .or_else(|| {
                    self.training
                        .risk_distribution
                        .is_none()
                        .then(|| "the training risks".to_string())
                });
            if let Some(what) = without {
                return Err(format!(
                    "{what} has no training distribution (\"distribution\" / \"risk_distribution\"), which format version 8 keeps for every feature and for the risks"
                ));
            }
        }
        // The validation figures `drift` sets a batch against.
        let v = &self.training.validation;
        let unit = |x: Option<f64>| x.is_none_or(|x| (0.0..=1.0).contains(&x));
        if v.positives > v.rows || !unit(v.roc_auc) || !unit(Some(v.mean_risk)) {
            return Err(format!(
                "its validation figures are not ones (rows {}, positives {}, roc_auc {:?}, mean_risk {}): expected at most as many positives as rows and a ROC-AUC and mean risk within 0..1",
                v.rows, v.positives, v.roc_auc, v.mean_risk
            ));
        }
        // Version 9 files keep the latest training changes' spread too.
        if self.format_version >= 9 {
            let t = &self.training;
            let recent_ok = t.recent.as_ref().is_some_and(|r| {
                r.rows >= 1
                    && r.rows <= t.rows
                    && (0.0..=1.0).contains(&r.positive_rate)
                    && (0.0..=1.0).contains(&r.mean_risk)
            });
            let without = self
                .features
                .iter()
                .find(|f| f.distribution.as_ref().is_some_and(|d| d.recent.is_none()))
                .map(|f| format!("feature '{}'", f.def.name))
                .or_else(|| {
                    t.risk_distribution
                        .as_ref()
                        .is_some_and(|d| d.recent.is_none())
                        .then(|| "the training risks".to_string())
                });
            if !recent_ok {
                return Err(format!(
                    "its latest training changes (\"training\".\"recent\") are {:?}: format version 9 keeps them, expected 1 to {} rows and a positive rate and mean risk within 0..1",
                    t.recent, t.rows
                ));
            }
            if let Some(what) = without {
                return Err(format!(
                    "{what} has no spread of the latest training changes (\"recent\" in its distribution), which format version 9 keeps for every feature and for the risks"
                ));
            }
        }
        match (&mut self.trees, self.learner) {
            (Some(trees), LearnerChoice::Gbdt | LearnerChoice::Blend) => {
                trees.check(self.features.len())?;
                // Trees within the file's own limits, as training grows them: a tree
                // grown past them is not what `train` writes, and explaining a tree costs
                // time with its leaves (one of depth 16 took 0.16 s a change).
                let most_leaves = self.params.trees.leaves.iter().copied().max().unwrap_or(0);
                for (k, t) in trees.trees.iter().enumerate() {
                    let leaves = t
                        .nodes
                        .iter()
                        .filter(|n| matches!(n, crate::gbdt::tree::Node::Leaf { .. }))
                        .count();
                    if t.depth() > self.params.trees.max_depth || leaves > most_leaves {
                        return Err(format!(
                            "tree {k} has depth {} and {leaves} leaves: the file's params allow \
                             at most depth {} and {most_leaves} leaves",
                            t.depth(),
                            self.params.trees.max_depth
                        ));
                    }
                }
            }
            (None, LearnerChoice::Logistic) => {}
            _ => {
                return Err(format!(
                    "learner {} does not match the trees in the file",
                    self.learner.as_str()
                ))
            }
        }
        // Every feature reads a column its config loads, as the kind it is loaded as
        // (else scoring would fail on the first change, naming no file).
        if let Some(unread) = self.unreadable_input(&self.config) {
            return Err(format!(
                "{unread}, but its feature config {}",
                unread.loaded
            ));
        }
        let mut names = std::collections::HashSet::new();
        for f in &self.features {
            if !names.insert(f.def.name.as_str()) {
                return Err(format!("feature name '{}' appears twice", f.def.name));
            }
            if f.def.trees_only && f.coefficient != 0.0 {
                return Err(format!(
                    "feature '{}' is for the trees only but has coefficient {}: expected 0",
                    f.def.name, f.coefficient
                ));
            }
            if !(-1..=1).contains(&f.def.monotone) {
                return Err(format!(
                    "feature '{}' has monotone {}: expected -1, 0 or 1",
                    f.def.name, f.def.monotone
                ));
            }
        }
        if let Err(e) = self.params.clone().check() {
            return Err(format!(
                "the training parameters it records are invalid ({e})"
            ));
        }
        let t = &self.tiers;
        let risks_in_order = |v: &[f64]| {
            v.windows(2).all(|w| w[0] <= w[1]) && v.iter().all(|r| (0.0..=1.0).contains(r))
        };
        if !(t.percentiles.windows(2).all(|w| w[0] < w[1])
            && t.percentiles.iter().all(|p| (0.0..=100.0).contains(p)))
        {
            return Err(format!(
                "tiers.percentiles {:?}: expected three increasing percentiles in 0..=100",
                t.percentiles
            ));
        }
        if t.risk_quantiles.len() != 1001 {
            return Err("tiers.risk_quantiles must hold 1001 values".into());
        }
        if !(risks_in_order(&t.thresholds) && risks_in_order(&t.risk_quantiles)) {
            return Err(format!(
                "tiers.thresholds {:?} and tiers.risk_quantiles must be risks in 0..=1, in increasing order",
                t.thresholds
            ));
        }
        Ok(())
    }

    /// Writes the model atomically as pretty JSON (byte-identical for identical models),
    /// after the checks a load makes: a model nothing could load is never written.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.clone().check().map_err(|e| {
            Error::Training(format!(
                "the model would not pass its own checks, so {} is not written: {e}",
                path.display()
            ))
        })?;
        let json = serde_json::to_string_pretty(self).map_err(|e| Error::BadModel {
            file: path.display().to_string(),
            message: e.to_string(),
        })?;
        write_atomic(path, |w| {
            use std::io::Write;
            w.write_all(json.as_bytes())
                .and_then(|_| w.write_all(b"\n"))
                .map_err(|e| Error::io(path, e))
        })
    }

    /// The feature definitions, in model order.
    pub fn feature_defs(&self) -> Vec<FeatureDef> {
        self.features.iter().map(|f| f.def.clone()).collect()
    }

    /// The log-odds of a row with every contribution zero: the intercept plus the
    /// trees' expected output.
    pub fn base_value(&self) -> f64 {
        self.intercept + self.trees.as_ref().map_or(0.0, |t| t.expected_value)
    }

    /// The logistic part's contribution of feature `j` at raw value `v`.
    pub fn linear_contribution(&self, j: usize, v: f64) -> f64 {
        let f = &self.features[j];
        f.coefficient * (v - f.mean) / f.scale
    }

    /// The log-odds of one row of raw feature values (model feature order), without
    /// explaining it.
    pub fn logit_row(&self, x: ArrayView1<f64>) -> f64 {
        let trees = self.trees.as_ref().map_or(0.0, |t| match x.as_slice() {
            Some(row) => t.predict(row),
            None => t.predict(&x.to_vec()),
        });
        self.logit_given_trees(x, trees)
    }

    /// The log-odds of row `x` whose trees sum to `trees`.
    fn logit_given_trees(&self, x: ArrayView1<f64>, trees: f64) -> f64 {
        let linear: f64 = (0..self.features.len())
            .map(|j| self.linear_contribution(j, x[j]))
            .sum();
        self.intercept + linear + trees
    }

    /// The risk (sigmoid of [`Model::logit_row`]) of every row of `x`, bit for bit, in
    /// parallel blocks of 4096 rows.
    pub fn risks(&self, x: ArrayView2<f64>) -> Vec<f64> {
        self.risks_with(x, |_, rows, trees| trees.predict_rows(rows))
    }

    /// [`Model::risks`] of the training rows `x`, the trees read from their binned form
    /// `binned` (faster, and bit for bit the same).
    pub fn training_risks(&self, x: ArrayView2<f64>, binned: &crate::gbdt::Binned) -> Vec<f64> {
        let trees = self.trees.as_ref().map(|t| t.binned(binned));
        self.risks_with(x, |range, _, _| {
            trees.as_ref().map_or_else(Vec::new, |t| t.predict(range))
        })
    }

    /// Risks with the trees' sums of a block of rows from `tree_sums(range, rows, trees)`.
    fn risks_with(
        &self,
        x: ArrayView2<f64>,
        tree_sums: impl Fn(std::ops::Range<usize>, ArrayView2<f64>, &Ensemble) -> Vec<f64> + Sync,
    ) -> Vec<f64> {
        let blocks: Vec<Vec<f64>> = (0..x.nrows().div_ceil(RISK_BLOCK))
            .into_par_iter()
            .map(|b| {
                let range = b * RISK_BLOCK..((b + 1) * RISK_BLOCK).min(x.nrows());
                let rows = x.slice(ndarray::s![range.clone(), ..]);
                let trees = self.trees.as_ref().map(|t| tree_sums(range, rows, t));
                rows.rows()
                    .into_iter()
                    .enumerate()
                    .map(|(i, row)| {
                        let trees = trees.as_ref().map_or(0.0, |t| t[i]);
                        sigmoid(self.logit_given_trees(row, trees))
                    })
                    .collect()
            })
            .collect();
        blocks.concat()
    }

    /// Scores one row of raw feature values (model feature order), with exact
    /// contributions: coefficient x standardised value for the logistic part, TreeSHAP
    /// values for the trees.
    pub fn score_row(&self, x: ArrayView1<f64>) -> Score {
        let mut scores = self.score(x.insert_axis(Axis(0)));
        scores.remove(0)
    }

    /// Scores every row of a raw design matrix (columns in model feature order) as
    /// [`Model::score_row`] describes.
    pub fn score(&self, x: ArrayView2<f64>) -> Vec<Score> {
        let mut contributions: Vec<Vec<f64>> = x
            .rows()
            .into_iter()
            .map(|row| {
                (0..self.features.len())
                    .map(|j| self.linear_contribution(j, row[j]))
                    .collect()
            })
            .collect();
        let mut logits: Vec<f64> = contributions
            .iter()
            .map(|c| self.intercept + c.iter().sum::<f64>())
            .collect();
        if let Some(trees) = &self.trees {
            let outputs = trees.explain(x, &mut contributions);
            for (logit, output) in logits.iter_mut().zip(outputs) {
                *logit += output;
            }
        }
        contributions
            .into_iter()
            .zip(logits)
            .map(|(contributions, logit)| Score {
                risk: sigmoid(logit),
                logit,
                contributions,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_settings_read_one_number_as_a_list_of_one() {
        let json = |rate: &str, l2: &str| {
            format!(
                r#"{{"max_trees": 400, "learning_rate": {rate}, "leaves": [7], "max_depth": 8,
                "min_leaf_rows": [20], "l2": {l2}, "early_stopping": 25, "max_bins": 64,
                "max_rows_per_tree": 250000}}"#
            )
        };
        // As model files wrote them before the candidates were lists ...
        let old: TreeParams = serde_json::from_str(&json("0.08", "1.0")).unwrap();
        assert_eq!((old.learning_rate, old.l2), (vec![0.08], vec![1.0]));
        // Before subsampling was a setting, every tree grew from every row.
        assert_eq!(old.subsample, 1.0);
        // ... and as they are written now, which reads back the same.
        let new: TreeParams = serde_json::from_str(&json("[0.05, 0.1]", "[0]")).unwrap();
        assert_eq!(
            (new.learning_rate.clone(), new.l2.clone()),
            (vec![0.05, 0.1], vec![0.0])
        );
        let back: TreeParams = serde_json::from_str(&serde_json::to_string(&new).unwrap()).unwrap();
        assert_eq!(back, new);
        assert!(serde_json::from_str::<TreeParams>(&json("\"fast\"", "1")).is_err());
    }

    #[test]
    fn tiers_cut_at_percentiles() {
        let risks: Vec<f64> = (0..=100).map(|i| i as f64 / 100.0).collect();
        let t = Tiers::from_risks(&risks, [50.0, 90.0, 99.0]);
        assert!((t.thresholds[0] - 0.50).abs() < 1e-12);
        assert!((t.thresholds[1] - 0.90).abs() < 1e-12);
        assert_eq!(t.tier(0.49), 0);
        assert_eq!(t.tier(0.5), 1);
        assert_eq!(t.tier(0.95), 2);
        assert_eq!(t.tier(1.0), 3);
        // Equal cut points: the lowest of them counts.
        let flat = Tiers {
            thresholds: [0.05, 0.05, 0.05],
            ..t.clone()
        };
        assert_eq!(
            (flat.tier(0.04), flat.tier(0.05), flat.tier(0.9)),
            (0, 1, 1)
        );
        let top = Tiers {
            thresholds: [0.1, 0.3, 0.3],
            ..t.clone()
        };
        assert_eq!((top.tier(0.2), top.tier(0.3), top.tier(0.9)), (1, 2, 2));
        // Equal lower cuts leave the top one its tier.
        let low = Tiers {
            thresholds: [0.04, 0.04, 0.8],
            ..t.clone()
        };
        assert_eq!(
            (low.tier(0.03), low.tier(0.04), low.tier(0.5), low.tier(0.8)),
            (0, 1, 1, 3)
        );
        // A medium cut at the lowest training risk opens no tier: the changes at it are
        // low (a constant model, or one flag: half the changes at the lowest risk).
        let constant = Tiers::from_risks(&[0.2; 10], [50.0, 90.0, 99.0]);
        assert_eq!((constant.tier(0.2), constant.tier(0.3)), (0, 0));
        let mut one_flag = vec![0.14; 6];
        one_flag.extend([0.4; 4]);
        let one_flag = Tiers::from_risks(&one_flag, [50.0, 90.0, 99.0]);
        assert_eq!((one_flag.tier(0.14), one_flag.tier(0.4)), (0, 2));
        let t2 = t.with_percentiles([10.0, 20.0, 30.0]);
        assert!((t2.thresholds[2] - 0.30).abs() < 1e-12);
    }

    #[test]
    fn sigmoid_is_stable_at_extremes() {
        assert_eq!(sigmoid(0.0), 0.5);
        assert!(sigmoid(-800.0) >= 0.0 && sigmoid(800.0) <= 1.0);
        assert!((sigmoid(2.0) + sigmoid(-2.0) - 1.0).abs() < 1e-15);
    }
}
