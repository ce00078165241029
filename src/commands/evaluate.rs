//! `changerisk evaluate`: sorts the history by time, trains on the past and measures on
//! the most recent `--test-fraction`, with history features still computed over
//! everything before each change. A rule-only baseline (flag every change matching the
//! AI + elevated + unreviewed pattern) is measured on the same rows.

use std::path::PathBuf;

use serde::Serialize;

use crate::cli::EvaluateArgs;
use crate::error::{Error, Result};
use crate::features::{builtin_features, risk_pattern};
use crate::label::LabelParams;
use crate::load::{load_changes, load_incidents};
use crate::metrics::{reliability, Metrics, ReliabilityBin};
use crate::model::LearnerParams;
use crate::pipeline::prepare;
use crate::progress::Progress;
use crate::schema::format_timestamp;
use crate::train::{train, TrainContext, TrainingSet};

/// Resolved `evaluate` settings.
pub struct EvaluateSettings {
    pub changes: PathBuf,
    pub incidents: PathBuf,
    pub test_fraction: f64,
    pub json: bool,
    pub labelling: LabelParams,
    pub learner: LearnerParams,
}

impl EvaluateSettings {
    /// Resolves and checks the arguments.
    pub fn resolve(args: EvaluateArgs) -> Result<EvaluateSettings> {
        let EvaluateArgs {
            changes,
            incidents,
            test_fraction,
            json,
            labels,
            learner,
        } = args;
        if !(test_fraction > 0.0 && test_fraction < 1.0) {
            return Err(Error::Usage(format!(
                "--test-fraction must be between 0 and 1 (exclusive), got {test_fraction}"
            )));
        }
        Ok(EvaluateSettings {
            changes,
            incidents,
            test_fraction,
            json,
            labelling: super::label_params(labels)?,
            learner: super::learner_params(learner)?,
        })
    }
}

/// The evaluation result (`--json` prints it).
#[derive(Debug, Serialize)]
pub struct Evaluation {
    pub train_rows: usize,
    pub test_rows: usize,
    pub train_from: String,
    pub test_from: String,
    pub test_to: String,
    pub model: Metrics,
    /// The rule-only baseline: its flag, turned into a probability by the training
    /// rows' incident rates with and without the flag.
    pub rule_baseline: Metrics,
    /// Share of test changes the rule flags.
    pub rule_flagged_share: f64,
    pub reliability: Vec<ReliabilityBin>,
}

/// Runs `evaluate`.
pub fn run(args: EvaluateArgs, progress: &Progress) -> Result<u8> {
    let s = EvaluateSettings::resolve(args)?;
    let eval = evaluate(&s, progress)?;
    if s.json {
        let json = serde_json::to_string_pretty(&eval).map_err(|e| Error::Data(e.to_string()))?;
        println!("{json}");
    } else {
        println!("{}", render(&eval));
    }
    Ok(0)
}

/// The time-ordered evaluation.
pub fn evaluate(s: &EvaluateSettings, progress: &Progress) -> Result<Evaluation> {
    progress.stage("loading");
    let changes = load_changes(&s.changes)?.changes;
    let incidents = load_incidents(&s.incidents)?;
    let features = builtin_features();
    let order = changes.time_order();
    progress.stage("linking incidents and building features");
    let prepared = prepare(&changes, &incidents, s.labelling, &features, &order)?;
    progress.log(&prepared.labels.summary.describe());
    let y: Vec<bool> = order.iter().map(|&r| prepared.labels.caused[r]).collect();
    let ts: Vec<i64> = order.iter().map(|&r| changes.ts[r]).collect();
    let n = order.len();
    let cut = ((n as f64) * (1.0 - s.test_fraction)).round() as usize;
    if cut == 0 || cut >= n {
        return Err(Error::Data(format!(
            "{n} changes cannot be split {:.0}/{:.0} into non-empty train and test sets",
            100.0 * (1.0 - s.test_fraction),
            100.0 * s.test_fraction
        )));
    }
    progress.stage("fitting the model");
    let (x_train, x_test) = prepared.x.view().split_at(ndarray::Axis(0), cut);
    let model = train(
        TrainingSet {
            x: x_train,
            y: &y[..cut],
            ts: &ts[..cut],
        },
        s.learner.clone(),
        TrainContext {
            features,
            labelling: s.labelling,
            labels: prepared.labels.summary.clone(),
            tier_percentiles: [50.0, 90.0, 99.0],
        },
    )?;
    progress.stage("scoring the test period");
    let probs: Vec<f64> = (0..x_test.nrows())
        .map(|i| model.score_row(x_test.row(i)).risk)
        .collect();
    let (y_train, y_test) = y.split_at(cut);

    let flagged = risk_pattern().eval(&prepared.frame)?;
    let (f_train, f_test) = flagged.split_at(cut);
    let rate = |want: bool| {
        let rows: Vec<bool> = f_train
            .iter()
            .zip(y_train)
            .filter(|(f, _)| (**f > 0.5) == want)
            .map(|(_, &y)| y)
            .collect();
        // A flag group absent in training gets the overall training rate.
        if rows.is_empty() {
            y_train.iter().filter(|&&v| v).count() as f64 / y_train.len() as f64
        } else {
            rows.iter().filter(|&&v| v).count() as f64 / rows.len() as f64
        }
    };
    let (rate_flagged, rate_clear) = (rate(true), rate(false));
    let rule_probs: Vec<f64> = f_test
        .iter()
        .map(|&f| if f > 0.5 { rate_flagged } else { rate_clear })
        .collect();

    Ok(Evaluation {
        train_rows: cut,
        test_rows: n - cut,
        train_from: format_timestamp(ts[0]),
        test_from: format_timestamp(ts[cut]),
        test_to: format_timestamp(ts[n - 1]),
        model: Metrics::compute(&probs, y_test),
        rule_baseline: Metrics::compute(&rule_probs, y_test),
        rule_flagged_share: f_test.iter().filter(|&&f| f > 0.5).count() as f64
            / f_test.len() as f64,
        reliability: reliability(&probs, y_test, 10),
    })
}

fn pct(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{:.1}%", 100.0 * v))
}

fn num(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.4}"))
}

/// The human-readable report.
pub fn render(e: &Evaluation) -> String {
    let mut out = format!(
        "time-ordered split: train {} changes from {}, test {} changes {} .. {}\n\n",
        e.train_rows, e.train_from, e.test_rows, e.test_from, e.test_to
    );
    out.push_str(&format!(
        "{:<34}{:>12}{:>16}\n",
        "", "model", "rule baseline"
    ));
    let rows: [(&str, String, String); 11] = [
        (
            "incident-causing changes (test)",
            e.model.positives.to_string(),
            e.rule_baseline.positives.to_string(),
        ),
        (
            "ROC-AUC",
            num(e.model.roc_auc),
            num(e.rule_baseline.roc_auc),
        ),
        ("PR-AUC", num(e.model.pr_auc), num(e.rule_baseline.pr_auc)),
        (
            "Brier score",
            num(Some(e.model.brier)),
            num(Some(e.rule_baseline.brier)),
        ),
        (
            "log loss",
            num(Some(e.model.log_loss)),
            num(Some(e.rule_baseline.log_loss)),
        ),
        (
            "expected calibration error",
            num(Some(e.model.ece)),
            num(Some(e.rule_baseline.ece)),
        ),
        (
            "mean risk / observed rate",
            format!(
                "{} / {}",
                pct(Some(e.model.mean_risk)),
                pct(Some(e.model.observed_rate))
            ),
            pct(Some(e.rule_baseline.mean_risk)),
        ),
        (
            "caught gating riskiest 5%",
            pct(e.model.capture_5),
            pct(e.rule_baseline.capture_5),
        ),
        (
            "caught gating riskiest 10%",
            pct(e.model.capture_10),
            pct(e.rule_baseline.capture_10),
        ),
        (
            "caught gating riskiest 20%",
            pct(e.model.capture_20),
            pct(e.rule_baseline.capture_20),
        ),
        (
            "changes the rule flags",
            String::new(),
            pct(Some(e.rule_flagged_share)),
        ),
    ];
    for (name, m, r) in rows {
        out.push_str(&format!("{name:<34}{m:>12}{r:>16}\n"));
    }
    out.push_str(
        "\nreliability (model, test period):\n  predicted      count  mean risk  observed\n",
    );
    for b in e.reliability.iter().filter(|b| b.count > 0) {
        out.push_str(&format!(
            "  {:>4.0}-{:<4.0}% {:>9} {:>9.2}% {:>8.2}%\n",
            100.0 * b.lower,
            100.0 * b.upper,
            b.count,
            100.0 * b.mean_predicted,
            100.0 * b.observed_rate
        ));
    }
    out.trim_end().to_string()
}
