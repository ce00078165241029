//! `changerisk report`: one self-contained HTML page for a model and a history: the
//! headline metrics of a time-ordered evaluation, ROC, calibration and gating curves
//! (the rule-only baseline beside the model), risk by segment, top factors and the
//! riskiest recent changes with their reasons.

use std::io::Write;
use std::path::PathBuf;

use super::evaluate::{evaluate, EvaluateSettings};
use super::Inputs;
use crate::analysis::{importance, score_history};
use crate::cli::ReportArgs;
use crate::error::{Error, Result};
use crate::output::write_atomic;
use crate::policy::Policies;
use crate::progress::Progress;
use crate::report::{html, Report};

/// Resolved `report` settings.
pub struct ReportSettings {
    pub model: PathBuf,
    pub inputs: Inputs,
    pub output: PathBuf,
    pub test_fraction: f64,
    pub policy: Option<PathBuf>,
    pub top: usize,
}

impl ReportSettings {
    /// Resolves and checks the arguments.
    pub fn resolve(args: ReportArgs) -> Result<ReportSettings> {
        let ReportArgs {
            model,
            input,
            output,
            test_fraction,
            policy,
            top,
        } = args;
        if !(test_fraction > 0.0 && test_fraction < 1.0) {
            return Err(Error::Usage(format!(
                "--test-fraction must be between 0 and 1 (exclusive), got {test_fraction}"
            )));
        }
        // The page is HTML: another extension (`.pdf`, `.png`) promises what it is not.
        // A name without one, a device or a pipe takes it as it is.
        let extension = output
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        if let Some(e) = extension.filter(|e| !matches!(e.as_str(), "html" | "htm")) {
            if !crate::output::written_in_place(&output) {
                return Err(Error::Usage(format!(
                    "--output {}: the report is an HTML page, not .{e}: name it .html (a browser prints it to PDF)",
                    output.display()
                )));
            }
        }
        Ok(ReportSettings {
            model,
            inputs: Inputs::resolve(input)?,
            output,
            test_fraction,
            policy,
            top,
        })
    }
}

/// Runs `report`.
pub fn run(args: ReportArgs, progress: &Progress) -> Result<u8> {
    // The evaluation and the scored history each read the inputs.
    crate::table::keep_piped_inputs();
    let mut s = ReportSettings::resolve(args)?;
    let (model, inputs) = s
        .inputs
        .with_model(&s.model, s.policy.as_deref(), progress)?;
    crate::output::check_not_an_input("--output", &s.output, &inputs)?;
    let policies = Policies::from_flag(s.policy.as_deref())?;
    // The headline numbers: `evaluate`'s protocol with the given model's settings.
    let evaluation = evaluate(
        &EvaluateSettings {
            inputs: s.inputs.clone(),
            test_fraction: s.test_fraction,
            json: false,
            labelling: model.labelling,
            // Sized afresh to the evaluation's training rows, as `evaluate` sizes them.
            learner: model.params.clone().as_given().check()?,
        },
        progress,
    )
    // The selection's own advice names `train`'s flags, which report does not take.
    .map_err(|e| match e {
        Error::Data(m) => Error::Data(format!(
            "the report's evaluation trains a model with the model's settings (`train`'s flags: retrain to change them) on the changes before the held-out --test-fraction {}: {m}",
            s.test_fraction
        )),
        e => e,
    })?;
    // The report reads the feature values one at a time (importance): not kept.
    let history = score_history(&model, &s.inputs, &policies, progress, false)?;
    progress.stage("drawing the report");
    let importance = importance(&model, &history)?;
    let report = Report::build(
        (
            s.model.display().to_string(),
            s.inputs.changes.display().to_string(),
            s.inputs.incidents.as_ref().map(|p| p.display().to_string()),
        ),
        evaluation,
        &history,
        importance,
        s.top,
        s.inputs.config.features.builtin,
    )?;
    let page = html::page(&report);
    write_atomic(&s.output, |w| {
        w.write_all(page.as_bytes())
            .map_err(|e| Error::io(&s.output, e))
    })?;
    progress.log(&format!(
        "report of {} changes -> {}",
        history.len(),
        s.output.display()
    ));
    Ok(0)
}
