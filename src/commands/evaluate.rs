//! `changerisk evaluate`: sorts the history by time, trains on the past and measures on
//! the most recent `--test-fraction`, with history features still computed over
//! everything before each change. A rule-only baseline (flag every change matching the
//! AI + elevated + unreviewed pattern) is measured on the same rows.

use serde::Serialize;

use super::Inputs;
use crate::cli::EvaluateArgs;
use crate::error::{Error, Result};
use crate::features::{
    design_matrix, feature_set, risk_pattern, scoring_gaps, separating_features,
};
use crate::label::{attribute_incidents, LabelParams};
use crate::metrics::{auc_interval, reliability, Metrics, ReliabilityBin};
use crate::model::LearnerParams;
use crate::pipeline::time_ordered;
use crate::progress::Progress;
use crate::schema::format_timestamp;
use crate::train::{prior_rate, train, TrainContext, TrainingSet};

/// Resolved `evaluate` settings.
pub struct EvaluateSettings {
    pub inputs: Inputs,
    pub test_fraction: f64,
    pub json: bool,
    pub labelling: LabelParams,
    pub learner: LearnerParams,
}

impl EvaluateSettings {
    /// Resolves and checks the arguments.
    pub fn resolve(args: EvaluateArgs) -> Result<EvaluateSettings> {
        let EvaluateArgs {
            input,
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
            inputs: Inputs::resolve(input)?,
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
    /// Training changes labelled as causing an incident, from what was known when the
    /// test period began (the incidents that started before its first change).
    pub train_positives: usize,
    pub test_rows: usize,
    pub train_from: String,
    pub test_from: String,
    pub test_to: String,
    pub model: Metrics,
    /// The candidate model selection chose, in words (as `train` lists them).
    pub learner: String,
    /// An approximate 95% interval for the model's ROC-AUC on this test period
    /// ([`crate::metrics::auc_interval`]); `null` when one outcome is missing.
    pub roc_auc_interval: Option<[f64; 2]>,
    /// The rule-only baseline (only for the contract's schema).
    pub rule_baseline: Option<RuleBaseline>,
    pub reliability: Vec<ReliabilityBin>,
    /// The test period's risks and outcomes, for curves (not printed).
    #[serde(skip)]
    pub test: TestScores,
}

/// Per-change scores of the test period.
#[derive(Debug, Default)]
pub struct TestScores {
    pub risks: Vec<f64>,
    pub labels: Vec<bool>,
    /// The rule baseline's probabilities, when there is one.
    pub rule: Option<Vec<f64>>,
}

/// The rule-only baseline: flag every change matching the AI + elevated + unreviewed
/// pattern, the flag turned into a probability by the training rows' incident rates
/// with and without it.
#[derive(Debug, Serialize)]
pub struct RuleBaseline {
    pub metrics: Metrics,
    /// Share of test changes the rule flags.
    pub flagged_share: f64,
    #[serde(skip)]
    probs: Vec<f64>,
}

fn rule_baseline(flagged: &[f64], y_train: &[bool], y_test: &[bool]) -> RuleBaseline {
    let (f_train, f_test) = flagged.split_at(y_train.len());
    let rate = |want: bool| {
        let (hits, rows) = f_train
            .iter()
            .zip(y_train)
            .filter(|(f, _)| (**f > 0.5) == want)
            .fold((0usize, 0usize), |(h, r), (_, &y)| {
                (h + usize::from(y), r + 1)
            });
        if rows == 0 {
            // A group absent in training gets the overall training rate.
            y_train.iter().filter(|&&v| v).count() as f64 / y_train.len() as f64
        } else {
            hits as f64 / rows as f64
        }
    };
    let (rate_flagged, rate_clear) = (rate(true), rate(false));
    let probs: Vec<f64> = f_test
        .iter()
        .map(|&f| if f > 0.5 { rate_flagged } else { rate_clear })
        .collect();
    RuleBaseline {
        metrics: Metrics::compute(&probs, y_test),
        flagged_share: f_test.iter().filter(|&&f| f > 0.5).count() as f64 / f_test.len() as f64,
        probs,
    }
}

/// Runs `evaluate`.
pub fn run(args: EvaluateArgs, progress: &Progress) -> Result<u8> {
    let s = EvaluateSettings::resolve(args)?;
    let eval = evaluate(&s, progress)?;
    let text = if s.json {
        serde_json::to_string_pretty(&eval).map_err(|e| Error::Data(e.to_string()))?
    } else {
        render(&eval)
    };
    super::print_stdout(&text)?;
    Ok(0)
}

/// The time-ordered evaluation.
pub fn evaluate(s: &EvaluateSettings, progress: &Progress) -> Result<Evaluation> {
    let (mut changes, incidents) = s.inputs.load(progress)?;
    progress.stage("linking incidents and building features");
    let history = time_ordered(&changes, &incidents, s.labelling);
    // The input order's copy of the columns is not needed again (its events are).
    drop(std::mem::take(&mut changes.frame));
    let (frame, y, ts) = (&history.prepared.frame, &history.y, &history.ts);
    progress.log(&history.prepared.labels.summary.describe());
    let n = y.len();
    // The last ceil(n x fraction) changes are the test set, as scikit-learn's
    // `train_test_split(shuffle=False)` and `int(0.8 * n)` training rows have it.
    let cut = n.saturating_sub(((n as f64) * s.test_fraction).ceil() as usize);
    if cut == 0 || cut >= n {
        return Err(Error::Data(format!(
            "{n} changes cannot be split {:.0}/{:.0} into non-empty train and test sets",
            100.0 * (1.0 - s.test_fraction),
            100.0 * s.test_fraction
        )));
    }
    // The training rows' labels as they were known when the test period began: from
    // the incidents that started before its first change. An incident later than that
    // (on a change shortly before it) is the test period's news, as it would be in use.
    let known;
    let y_train: &[bool] = if changes.label.is_some() || incidents.is_empty() {
        &y[..cut]
    } else {
        let labels = attribute_incidents(
            &changes.events(),
            &incidents.started_before(ts[cut]),
            s.labelling,
        );
        known = history.order[..cut]
            .iter()
            .map(|&r| labels.caused[r])
            .collect::<Vec<bool>>();
        &known
    };
    // Column transforms are decided on the training rows only.
    let train_rows: Vec<usize> = (0..cut).collect();
    let base_rate = prior_rate(
        y_train,
        &ts[..cut],
        &history.first_incident[..cut],
        &s.learner,
    )?;
    let (features, warnings) =
        feature_set(&s.inputs.config, &frame.select(&train_rows), base_rate)?;
    for w in &warnings {
        progress.log(&format!("warning: {w}"));
    }
    for w in scoring_gaps(&features, frame, cut..n) {
        progress.log(&format!("warning: in the test period, {w}"));
    }
    let x = design_matrix(&features, frame)?;
    progress.stage("fitting the model");
    let (x_train, x_test) = x.view().split_at(ndarray::Axis(0), cut);
    for w in separating_features(&features, x_train, y_train) {
        progress.log(&format!("warning: {w}"));
    }
    let model = train(
        TrainingSet {
            x: x_train,
            y: y_train,
            ts: &ts[..cut],
            first_incident: &history.first_incident[..cut],
        },
        s.learner.clone(),
        TrainContext {
            config: s.inputs.config.clone(),
            features,
            labelling: s.labelling,
            labels: history.prepared.labels.summary.clone(),
            tier_percentiles: [50.0, 90.0, 99.0],
        },
    )?;
    progress.log(&super::train::describe(&model, None));
    let learner = super::train::trial_name(&model.training.chosen);
    progress.stage("scoring the test period");
    let probs = model.risks(x_test);
    let y_test = &y[cut..];

    // The rule reads the contract's columns: no rule baseline without them.
    let rule = if s.inputs.config.features.builtin {
        Some(rule_baseline(&risk_pattern().eval(frame)?, y_train, y_test))
    } else {
        None
    };
    let model = Metrics::compute(&probs, y_test);
    let roc_auc_interval = model
        .roc_auc
        .map(|auc| auc_interval(auc, model.positives, model.rows - model.positives));
    Ok(Evaluation {
        train_rows: cut,
        train_positives: y_train.iter().filter(|&&v| v).count(),
        test_rows: n - cut,
        train_from: format_timestamp(ts[0]),
        test_from: format_timestamp(ts[cut]),
        test_to: format_timestamp(ts[n - 1]),
        model,
        learner,
        roc_auc_interval,
        reliability: reliability(&probs, y_test, 10),
        test: TestScores {
            rule: rule.as_ref().map(|r| r.probs.clone()),
            risks: probs,
            labels: y_test.to_vec(),
        },
        rule_baseline: rule,
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
    let rule = e.rule_baseline.as_ref();
    let r = |f: &dyn Fn(&Metrics) -> String| rule.map_or(String::new(), |b| f(&b.metrics));
    let header = format!(
        "{:<34}{:>12}{:>16}",
        "",
        "model",
        if rule.is_some() { "rule baseline" } else { "" }
    );
    out.push_str(header.trim_end());
    out.push('\n');
    let m = &e.model;
    let interval = e
        .roc_auc_interval
        .map_or("n/a".into(), |[lo, hi]| format!("{lo:.3}-{hi:.3}"));
    let rows: [(&str, String, String); 12] = [
        (
            "positives in the test period",
            m.positives.to_string(),
            r(&|b| b.positives.to_string()),
        ),
        ("ROC-AUC", num(m.roc_auc), r(&|b| num(b.roc_auc))),
        ("  95% interval (Hanley-McNeil)", interval, String::new()),
        ("PR-AUC", num(m.pr_auc), r(&|b| num(b.pr_auc))),
        (
            "Brier score",
            num(Some(m.brier)),
            r(&|b| num(Some(b.brier))),
        ),
        (
            "log loss",
            num(Some(m.log_loss)),
            r(&|b| num(Some(b.log_loss))),
        ),
        (
            "expected calibration error",
            num(Some(m.ece)),
            r(&|b| num(Some(b.ece))),
        ),
        (
            "mean risk / observed rate",
            format!(
                "{} / {}",
                pct(Some(m.mean_risk)),
                pct(Some(m.observed_rate))
            ),
            r(&|b| pct(Some(b.mean_risk))),
        ),
        (
            "caught gating riskiest 5%",
            pct(m.capture_5),
            r(&|b| pct(b.capture_5)),
        ),
        (
            "caught gating riskiest 10%",
            pct(m.capture_10),
            r(&|b| pct(b.capture_10)),
        ),
        (
            "caught gating riskiest 20%",
            pct(m.capture_20),
            r(&|b| pct(b.capture_20)),
        ),
        (
            "changes the rule flags",
            String::new(),
            rule.map_or(String::new(), |b| pct(Some(b.flagged_share))),
        ),
    ];
    for (name, model, baseline) in rows {
        if name == "changes the rule flags" && rule.is_none() {
            continue;
        }
        let line = format!("{name:<34}{model:>12}{baseline:>16}");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if m.roc_auc.is_none() {
        out.push_str(&format!(
            "note: the test period has {} positive and {} negative changes; ROC-AUC needs both (a larger --test-fraction?)\n",
            m.positives,
            m.rows - m.positives
        ));
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
