//! `changerisk train`: learns a model from a change and incident history.

use std::path::PathBuf;

use super::Inputs;
use crate::cli::TrainArgs;
use crate::error::Result;
use crate::features::{design_matrix, feature_set, separating_features};
use crate::label::LabelParams;
use crate::model::{LearnerParams, Model};
use crate::pipeline::time_ordered;
use crate::progress::Progress;
use crate::train::{prior_rate, train, TrainContext, TrainingSet};

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
    let mut history = time_ordered(&changes, &incidents, s.labelling);
    // The input order's copy of the columns is not needed again.
    drop(changes);
    progress.log(&history.prepared.labels.summary.describe());
    let base_rate = prior_rate(&history.y, &history.ts, &history.first_incident, &s.learner)?;
    let (features, warnings) = feature_set(&s.inputs.config, &history.prepared.frame, base_rate)?;
    for w in &warnings {
        progress.log(&format!("warning: {w}"));
    }
    let x = design_matrix(&features, &history.prepared.frame)?;
    for w in separating_features(&features, x.view(), &history.y) {
        progress.log(&format!("warning: {w}"));
    }
    // Nor the columns, once the design matrix holds the features: at a few hundred
    // columns they are as large as the matrix.
    drop(std::mem::take(&mut history.prepared.frame));
    progress.stage("fitting the model");
    train(
        TrainingSet {
            x: x.view(),
            y: &history.y,
            ts: &history.ts,
            first_incident: &history.first_incident,
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
    crate::output::check_not_an_input("--model", &settings.model, &settings.inputs.files())?;
    let model = train_from_files(&settings, progress)?;
    model.save(&settings.model)?;
    progress.log(&describe(&model, Some(&settings.model)));
    Ok(0)
}

/// The training summary printed after `train`.
pub fn describe(model: &Model, path: Option<&std::path::Path>) -> String {
    let t = &model.training;
    let auc = |a: Option<f64>| a.map_or("n/a".into(), |a| format!("{a:.4}"));
    let mut out = format!(
        "trained on {} changes ({} to {}), {} {} ({:.2}%); mean predicted risk {:.2}%\n\
         model selection over {} rolling-origin folds validating {} rows each, from training row {}; mean ROC-AUC / log loss:\n",
        t.rows,
        t.time_from,
        t.time_to,
        t.positives,
        if t.labels.label_column {
            "positive"
        } else {
            "caused incidents"
        },
        100.0 * t.positive_rate,
        100.0 * t.mean_training_risk,
        t.folds.len(),
        t.folds.first().map_or(0, |f| f[2] - f[1]),
        t.folds.first().map_or(0, |f| f[1]),
    );
    let names: Vec<String> = t.selection.iter().map(trial_name).collect();
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    for (trial, name) in t.selection.iter().zip(&names) {
        let chosen = if *trial == t.chosen {
            "  <- chosen"
        } else {
            ""
        };
        out.push_str(&format!(
            "  {name:<width$} {}  {:.4}{chosen}\n",
            auc(trial.mean_roc_auc),
            trial.mean_log_loss
        ));
    }
    // Fewer of either outcome than this in the latest fold: the choice is noise-sized.
    const FEW: usize = 20;
    let v = &t.validation;
    let fewest = v.positives.min(v.rows - v.positives);
    if t.selection.iter().all(|trial| trial.mean_roc_auc.is_none()) {
        out.push_str(&format!(
            "warning: no validation fold holds both outcomes, so the folds cannot rank the \
             candidates, so the most cautious is chosen ({}; a logistic model before a blend \
             before trees, then the strongest penalty, the largest logistic share, the most \
             rows per leaf). Its risks rest on very few incident-causing changes: train on a \
             longer history before gating on them\n",
            trial_name(&t.chosen)
        ));
    } else if fewest < FEW {
        out.push_str(&format!(
            "note: the latest validation fold has {} positive and {} negative changes; with \
             so few, the fold ROC-AUCs above are noisy and the choice is uncertain\n",
            v.positives,
            v.rows - v.positives
        ));
    }
    let q = &model.tiers.risk_quantiles;
    if q.first().is_some_and(|lowest| q.last() == Some(lowest)) {
        out.push_str(&format!(
            "warning: the model gives every training change the same risk ({:.2}%): it learned \
             nothing from the features, so its ranking, tiers and reasons carry no information \
             (a tiny --subsample or --learning-rate, or a huge --penalty, --l2 or \
             --min-leaf-rows, does this)\n",
            100.0 * q[0]
        ));
    }
    if let Some(p) = &t.calibration {
        out.push_str(&format!(
            "Platt scaling on the last {} validation changes: slope {:.3}, offset {:+.3}, log loss {:.4} -> {:.4}\n",
            p.rows, p.slope, p.offset, p.log_loss_before, p.log_loss_after
        ));
        if fewest < FEW {
            out.push_str(
                "note: calibrated on that fold, so the risks' overall level is rough too; compare the mean predicted risk with the positive rate above\n",
            );
        }
    }
    if let Some(trees) = &model.trees {
        out.push_str(&format!("{} trees in the final model\n", trees.trees.len()));
    }
    let mut ranked: Vec<&crate::model::ModelFeature> = model.features.iter().collect();
    ranked.sort_by(|a, b| b.importance.total_cmp(&a.importance));
    let top: Vec<String> = ranked
        .iter()
        .take(IMPORTANCE_SHOWN)
        .map(|f| format!("{} {:.3}", f.def.name, f.importance))
        .collect();
    out.push_str(&format!(
        "most important features (mean |contribution| to the log-odds): {}\n",
        top.join(", ")
    ));
    match path {
        Some(path) => out.push_str(&format!("model written to {}", path.display())),
        None => out.truncate(out.trim_end().len()),
    }
    out
}

/// Features `train` lists by importance.
const IMPORTANCE_SHOWN: usize = 5;

/// A trial's learner and settings, in words.
pub fn trial_name(t: &crate::model::Trial) -> String {
    let mut parts = vec![t.learner.as_str().to_string()];
    if let Some(p) = t.penalty {
        parts.push(format!("penalty {p:e}"));
    }
    if let Some(l) = t.leaves {
        parts.push(format!("{l} leaves"));
    }
    if let Some(m) = t.min_leaf_rows {
        parts.push(format!("min {m} rows/leaf"));
    }
    if let Some(r) = t.learning_rate {
        parts.push(format!("rate {r}"));
    }
    if let Some(l) = t.l2 {
        parts.push(format!("L2 {l}"));
    }
    if let Some(w) = t.logistic_weight {
        parts.push(format!("{:.0}% logistic", 100.0 * w));
    }
    parts.join(", ")
}
