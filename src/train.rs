//! Fitting the logistic model: standardise, choose the L2 penalty on the most recent
//! slice of the training rows (fit on the rows before it), refit on all rows with the
//! Newton solver of [`crate::solver`]. No class
//! reweighting, and the intercept is not penalised, so the mean predicted risk matches
//! the observed rate.

use ndarray::{Array1, ArrayView2, Axis};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::features::FeatureDef;
use crate::label::{LabelParams, LabelSummary};
use crate::metrics::{log_loss, Metrics};
use crate::model::{
    LearnerParams, Model, ModelFeature, PenaltyTrial, Tiers, TrainingSummary, MODEL_FORMAT,
    MODEL_VERSION,
};
use crate::schema::format_timestamp;
use crate::solver::{fit, Linear, NewtonParams};

impl Default for LearnerParams {
    fn default() -> Self {
        LearnerParams {
            penalties: vec![1e-5, 1e-4, 1e-3, 1e-2, 1e-1],
            validation_fraction: 0.2,
            max_iterations: 100,
            gradient_tolerance: 1e-9,
        }
    }
}

impl LearnerParams {
    /// Checks the parameters; only checked parameters can train.
    pub fn check(self) -> Result<LearnerParams> {
        if self.penalties.is_empty() || self.penalties.iter().any(|p| !p.is_finite() || *p < 0.0) {
            return Err(Error::Usage(format!(
                "--penalty must be one or more finite numbers >= 0, got {:?}",
                self.penalties
            )));
        }
        if !(self.validation_fraction > 0.0 && self.validation_fraction < 1.0) {
            return Err(Error::Usage(format!(
                "--validation-fraction must be between 0 and 1 (exclusive), got {}",
                self.validation_fraction
            )));
        }
        if self.max_iterations == 0
            || self.gradient_tolerance.is_nan()
            || self.gradient_tolerance <= 0.0
        {
            return Err(Error::Usage(
                "max iterations and gradient tolerance must be positive".into(),
            ));
        }
        Ok(self)
    }
}

/// The training rows: raw design matrix in time order, labels, timestamps.
pub struct TrainingSet<'a> {
    pub x: ArrayView2<'a, f64>,
    pub y: &'a [bool],
    pub ts: &'a [i64],
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

/// One fit with the learner's iteration limits.
fn fit_logistic(
    z: ArrayView2<f64>,
    y: &[bool],
    penalty: f64,
    params: &LearnerParams,
    warm: Option<&Linear>,
) -> Result<Linear> {
    let newton = NewtonParams {
        penalty,
        max_iterations: params.max_iterations,
        gradient_tolerance: params.gradient_tolerance,
    };
    fit(z, y, newton, warm)
}

/// Trains a model from `set` (rows in time order).
pub fn train(set: TrainingSet, params: LearnerParams, ctx: TrainContext) -> Result<Model> {
    let params = params.check()?;
    let n = set.y.len();
    let (mean, scale) = standardisation(set.x);
    let z = (&set.x - &mean) / &scale;

    let cut = ((n as f64) * (1.0 - params.validation_fraction)).round() as usize;
    let (z_fit, z_val) = z.view().split_at(Axis(0), cut);
    let (y_fit, y_val) = set.y.split_at(cut);
    let mut trials = Vec::new();
    let mut best: Option<(f64, f64, Linear, Vec<f64>)> = None;
    let mut warm: Option<Linear> = None;
    // Strongest penalty first, each fit warm-started from the previous one.
    let mut penalties = params.penalties.clone();
    penalties.sort_by(|a, b| b.total_cmp(a));
    for &penalty in &penalties {
        let candidate = fit_logistic(z_fit, y_fit, penalty, &params, warm.as_ref())?;
        let probs = candidate.predict(z_val);
        let loss = log_loss(&probs, y_val);
        trials.push(PenaltyTrial {
            penalty,
            log_loss: loss,
            roc_auc: crate::metrics::roc_auc(&probs, y_val),
        });
        if best.as_ref().is_none_or(|b| loss < b.1) {
            best = Some((penalty, loss, candidate.clone(), probs));
        }
        warm = Some(candidate);
    }
    let (penalty, _, best_fit, val_probs) =
        best.ok_or_else(|| Error::Usage("no penalty to try".into()))?;
    let validation = Metrics::compute(&val_probs, y_val);
    let final_fit = fit_logistic(z.view(), set.y, penalty, &params, Some(&best_fit))?;
    let train_probs = final_fit.predict(z.view());

    let features = ctx
        .features
        .into_iter()
        .enumerate()
        .map(|(j, def)| ModelFeature {
            def,
            mean: mean[j],
            scale: scale[j],
            coefficient: final_fit.coef[j],
        })
        .collect();
    let positives = set.y.iter().filter(|&&v| v).count();
    let (from, to) = (
        set.ts.iter().min().copied().unwrap_or(0),
        set.ts.iter().max().copied().unwrap_or(0),
    );
    Ok(Model {
        format: MODEL_FORMAT.into(),
        format_version: MODEL_VERSION,
        learner: "logistic".into(),
        config: ctx.config,
        labelling: ctx.labelling,
        intercept: final_fit.intercept,
        features,
        tiers: Tiers::from_risks(&train_probs, ctx.tier_percentiles),
        params,
        training: TrainingSummary {
            rows: n,
            positives,
            positive_rate: positives as f64 / n as f64,
            time_from: format_timestamp(from),
            time_to: format_timestamp(to),
            labels: ctx.labels,
            penalty_search: trials,
            penalty,
            validation,
            mean_training_risk: train_probs.iter().sum::<f64>() / n as f64,
        },
    })
}
