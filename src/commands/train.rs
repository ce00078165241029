//! `changerisk train`: learns a model from a change and incident history.

use std::path::PathBuf;

use super::Inputs;
use crate::cli::TrainArgs;
use crate::error::Result;
use crate::features::{design_matrix, feature_set};
use crate::label::LabelParams;
use crate::model::{LearnerParams, Model};
use crate::pipeline::time_ordered;
use crate::progress::Progress;
use crate::train::{train, TrainContext, TrainingSet};

/// Resolved `train` settings.
pub struct TrainSettings {
    pub inputs: Inputs,
    pub model: PathBuf,
    pub labelling: LabelParams,
    pub learner: LearnerParams,
    pub tiers: [f64; 3],
}

impl TrainSettings {
    /// Resolves and checks the arguments.
    pub fn resolve(args: TrainArgs) -> Result<TrainSettings> {
        let TrainArgs {
            input,
            model,
            labels,
            learner,
            tiers,
        } = args;
        Ok(TrainSettings {
            inputs: Inputs::resolve(input)?,
            model,
            labelling: super::label_params(labels)?,
            learner: super::learner_params(learner)?,
            tiers: super::parse_tiers("--tiers", &tiers)?,
        })
    }
}

/// Trains from files; shared by `train` and the tests that check the shipped model.
pub fn train_from_files(s: &TrainSettings, progress: &Progress) -> Result<Model> {
    let (changes, incidents) = s.inputs.load(progress)?;
    progress.stage("linking incidents and building features");
    let history = time_ordered(&changes, &incidents, s.labelling);
    progress.log(&history.prepared.labels.summary.describe());
    let base_rate = history.prepared.labels.summary.positive_rate();
    let (features, warnings) = feature_set(&s.inputs.config, &history.prepared.frame, base_rate);
    for w in &warnings {
        progress.log(&format!("warning: {w}"));
    }
    let x = design_matrix(&features, &history.prepared.frame)?;
    progress.stage("fitting the model");
    train(
        TrainingSet {
            x: x.view(),
            y: &history.y,
            ts: &history.ts,
        },
        s.learner.clone(),
        TrainContext {
            config: s.inputs.config.clone(),
            features,
            labelling: s.labelling,
            labels: history.prepared.labels.summary,
            tier_percentiles: s.tiers,
        },
    )
}

/// Runs `train`.
pub fn run(args: TrainArgs, progress: &Progress) -> Result<u8> {
    let settings = TrainSettings::resolve(args)?;
    let model = train_from_files(&settings, progress)?;
    model.save(&settings.model)?;
    let t = &model.training;
    progress.log(&format!(
        "trained on {} changes ({} to {}), {} caused incidents ({:.2}%); mean predicted risk {:.2}%\n\
         penalty {} chosen on the most recent {:.0}%: validation ROC-AUC {}, log loss {:.4}\n\
         model written to {}",
        t.rows,
        t.time_from,
        t.time_to,
        t.positives,
        100.0 * t.positive_rate,
        100.0 * t.mean_training_risk,
        t.penalty,
        100.0 * model.params.validation_fraction,
        t.validation
            .roc_auc
            .map_or("n/a".into(), |a| format!("{a:.4}")),
        t.validation.log_loss,
        settings.model.display()
    ));
    Ok(0)
}
