//! `changerisk train`: learns a model from a change and incident history.

use std::path::PathBuf;

use crate::cli::TrainArgs;
use crate::error::Result;
use crate::features::builtin_features;
use crate::label::LabelParams;
use crate::load::{load_changes, load_incidents};
use crate::model::{LearnerParams, Model};
use crate::pipeline::prepare;
use crate::progress::Progress;
use crate::train::{train, TrainContext, TrainingSet};

/// Resolved `train` settings.
pub struct TrainSettings {
    pub changes: PathBuf,
    pub incidents: PathBuf,
    pub model: PathBuf,
    pub labelling: LabelParams,
    pub learner: LearnerParams,
    pub tiers: [f64; 3],
}

impl TrainSettings {
    /// Resolves and checks the arguments.
    pub fn resolve(args: TrainArgs) -> Result<TrainSettings> {
        let TrainArgs {
            changes,
            incidents,
            model,
            labels,
            learner,
            tiers,
        } = args;
        Ok(TrainSettings {
            changes,
            incidents,
            model,
            labelling: super::label_params(labels)?,
            learner: super::learner_params(learner)?,
            tiers: super::parse_tiers("--tiers", &tiers)?,
        })
    }
}

/// Trains from files; shared by `train` and the tests that check the shipped model.
pub fn train_from_files(s: &TrainSettings, progress: &Progress) -> Result<Model> {
    progress.stage("loading changes");
    let changes = load_changes(&s.changes)?.changes;
    progress.stage("loading incidents");
    let incidents = load_incidents(&s.incidents)?;
    progress.stage("linking incidents and building features");
    let features = builtin_features();
    let order = changes.time_order();
    let prepared = prepare(&changes, &incidents, s.labelling, &features, &order)?;
    progress.log(&prepared.labels.summary.describe());
    let y: Vec<bool> = order.iter().map(|&r| prepared.labels.caused[r]).collect();
    let ts: Vec<i64> = order.iter().map(|&r| changes.ts[r]).collect();
    progress.stage("fitting the model");
    train(
        TrainingSet {
            x: prepared.x.view(),
            y: &y,
            ts: &ts,
        },
        s.learner.clone(),
        TrainContext {
            features,
            labelling: s.labelling,
            labels: prepared.labels.summary,
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
