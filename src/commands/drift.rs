//! `changerisk drift`: how far recent changes have moved from the model's training
//! changes, and whether to retrain ([`crate::drift`]).

use rayon::prelude::*;

use crate::cli::DriftArgs;
use crate::commands::score::{history_files, load, Inputs, Loaded};
use crate::drift::{Drift, Tally};
use crate::error::{Error, Result};
use crate::features::design_matrix;
use crate::load::Read;
use crate::model::Model;
use crate::progress::Progress;

/// Changes per chunk: each chunk's feature matrix is dropped once tallied (the shipped
/// history's 15,000 changes are four, so the tests merge chunks).
const CHUNK: usize = 1 << 12;

/// Runs `drift`; exit 1 with `--fail-on-retrain` when the advice is to retrain.
pub fn run(args: DriftArgs, progress: &Progress) -> Result<u8> {
    let DriftArgs {
        model: model_path,
        batch,
        outcomes,
        json,
        fail_on_retrain,
    } = args;
    progress.stage("loading model");
    let model = Model::load(&model_path)?;
    let mut tally = Tally::new(&model).ok_or_else(|| {
        Error::Usage(format!(
            "{}: the model file keeps no training distributions (format version {}); retrain it with this build to measure drift",
            model_path.display(),
            model.format_version
        ))
    })?;
    let inputs = Inputs::from(batch);
    let files = history_files(&inputs, &model)?;
    let labelled = model.config.columns.label.is_some();
    if outcomes && !labelled && files.0.is_none() {
        return Err(Error::Usage(
            "--outcomes needs the incidents that cover the changes' period: give --incidents (not --no-history)"
                .into(),
        ));
    }
    let read = if outcomes && labelled {
        Read::Labelled
    } else {
        Read::Unlabelled
    };
    let Loaded {
        timeline,
        rows,
        prepared,
        incidents,
        labels,
        ..
    } = load(&inputs, files, &model, read, progress)?;
    if rows.is_empty() {
        return Err(Error::Data(format!(
            "{}: no changes to compare (the file holds only a header)",
            inputs.changes.display()
        )));
    }
    progress.stage("measuring drift");
    let features = model.feature_defs();
    let frame = &prepared.frame;
    // Chunks in parallel, each tallied on its own and merged in input order.
    let parts: Vec<Tally> = (0..frame.len().div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let part = frame.slice(c * CHUNK, ((c + 1) * CHUNK).min(frame.len()));
            let x = design_matrix(&features, &part)?;
            let risks = model.risks(x.view());
            if let Some(row) = risks.iter().position(|r| r.is_nan()) {
                return Err(Error::Data(format!(
                    "{}: row {}: the risk is not a number; the model file or the row's values are out of range",
                    inputs.changes.display(),
                    c * CHUNK + row + 1
                )));
            }
            let mut t = tally.empty();
            t.add(x.view(), &risks);
            Ok(t)
        })
        .collect::<Result<_>>()?;
    for part in parts {
        tally.merge(part);
    }
    let last_incident = incidents.start.iter().copied().max();
    // A label column gives every outcome. Linked from incidents, an outcome is known
    // once the incidents reach past the change's attribution window.
    let known: Option<Vec<Option<bool>>> = outcomes.then(|| match &labels {
        Some(labels) => labels.iter().map(|&l| Some(l)).collect(),
        None => {
            let window = model.labelling.attribution_window_secs;
            rows.iter()
                .map(|&r| {
                    let covered = last_incident.is_some_and(|l| timeline.ts[r] + window <= l);
                    covered.then(|| prepared.labels.caused[r])
                })
                .collect()
        }
    });
    let mut drift = Drift::measure(tally, known.as_deref());
    // Incident counts over the last days see nothing past the incidents file's end: noted
    // when more than a tenth of the batch comes after its last incident (a few changes
    // after it are only the quiet end of any history).
    if let (Some(last), false) = (last_incident, labelled) {
        let after = rows.iter().filter(|&&r| timeline.ts[r] > last).count();
        if after * 10 > rows.len() {
            drift.notes.push(format!(
                "the incidents end at {} (the last one's start), before {after} of the {} changes: their incident counts see none after it, which lowers their risks and shifts the incident features; give the incidents up to the changes' time",
                crate::schema::format_timestamp(last),
                rows.len()
            ));
        }
    }
    let text = if json {
        serde_json::to_string(&drift)
            .map_err(|e| Error::Data(format!("cannot write the report as JSON: {e}")))?
    } else {
        drift.text()
    };
    super::print_stdout(text.trim_end())?;
    Ok(u8::from(fail_on_retrain && drift.advice == "retrain"))
}
