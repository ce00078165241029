//! Fitting the logistic model: standardise, choose the L2 penalty on the most recent
//! slice of the training rows (fit on the rows before it), refit on all rows. No class
//! reweighting, and the intercept is not penalised, so the mean predicted risk matches
//! the observed rate.

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, ArrayView2, Axis};

use crate::error::{Error, Result};
use crate::features::FeatureDef;
use crate::label::{LabelParams, LabelSummary};
use crate::metrics::{log_loss, Metrics};
use crate::model::{
    sigmoid, LearnerParams, Model, ModelFeature, PenaltyTrial, Tiers, TrainingSummary,
    MODEL_FORMAT, MODEL_VERSION,
};
use crate::schema::format_timestamp;

impl Default for LearnerParams {
    fn default() -> Self {
        LearnerParams {
            penalties: vec![1e-5, 1e-4, 1e-3, 1e-2, 1e-1],
            validation_fraction: 0.2,
            max_iterations: 200,
            gradient_tolerance: 1e-6,
        }
    }
}

impl LearnerParams {
    /// Checks the parameters; only checked parameters can train.
    pub fn check(self) -> Result<LearnerParams> {
        if self.penalties.is_empty() || self.penalties.iter().any(|p| !p.is_finite() || *p < 0.0) {
            return Err(Error::Usage(format!(
                "penalties must be one or more finite numbers >= 0, got {:?}",
                self.penalties
            )));
        }
        if !(self.validation_fraction > 0.0 && self.validation_fraction < 1.0) {
            return Err(Error::Usage(format!(
                "validation fraction must be between 0 and 1 (exclusive), got {}",
                self.validation_fraction
            )));
        }
        if self.max_iterations == 0 || !(self.gradient_tolerance > 0.0) {
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

/// A fitted linear logit: intercept and coefficients on standardised features.
struct Linear {
    intercept: f64,
    coef: Array1<f64>,
}

impl Linear {
    fn predict(&self, z: ArrayView2<f64>) -> Vec<f64> {
        (z.dot(&self.coef) + self.intercept).mapv(sigmoid).to_vec()
    }
}

fn fit_logistic<'a>(
    z: ArrayView2<'a, f64>,
    y: &[bool],
    penalty: f64,
    params: &LearnerParams,
    warm: Option<&Linear>,
) -> Result<Linear> {
    let positives = y.iter().filter(|&&v| v).count();
    if positives == 0 || positives == y.len() {
        return Err(Error::Data(format!(
            "cannot train: {positives} of {} training changes caused an incident; both outcomes are needed",
            y.len()
        )));
    }
    let targets = Array1::from(y.to_vec());
    let data = DatasetBase::new(z, targets);
    let mut learner = LogisticRegression::default()
        .alpha(penalty * y.len() as f64)
        .max_iterations(params.max_iterations)
        .gradient_tolerance(params.gradient_tolerance);
    if let Some(w) = warm {
        let mut init = w.coef.to_vec();
        init.push(w.intercept);
        learner = learner.initial_params(Array1::from(init));
    }
    let fitted = learner
        .fit(&data)
        .map_err(|e| Error::Training(e.to_string()))?;
    // linfa-logistic's "positive" class is whichever label it chose (the majority):
    // orient the coefficients so they predict P(caused an incident).
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    Ok(Linear {
        intercept: sign * fitted.intercept(),
        coef: fitted.params().mapv(|c| sign * c),
    })
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
        let fit = fit_logistic(z_fit, y_fit, penalty, &params, warm.as_ref())?;
        let probs = fit.predict(z_val);
        let loss = log_loss(&probs, y_val);
        trials.push(PenaltyTrial {
            penalty,
            log_loss: loss,
            roc_auc: crate::metrics::roc_auc(&probs, y_val),
        });
        if best.as_ref().is_none_or(|b| loss < b.1) {
            best = Some((
                penalty,
                loss,
                Linear {
                    intercept: fit.intercept,
                    coef: fit.coef.clone(),
                },
                probs,
            ));
        }
        warm = Some(fit);
    }
    let (penalty, _, fit, val_probs) =
        best.ok_or_else(|| Error::Usage("no penalty to try".into()))?;
    let validation = Metrics::compute(&val_probs, y_val);
    let final_fit = fit_logistic(z.view(), set.y, penalty, &params, Some(&fit))?;
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
