//! `changerisk drift`: how far recent changes have moved from the model's training
//! changes, and whether to retrain ([`crate::drift`]).

use rayon::prelude::*;

use crate::batch::{load, Inputs, Loaded, Partitioned};
use crate::cli::DriftArgs;
use crate::commands::score::history_files;
use crate::drift::{Drift, Tally};
use crate::error::{Error, Result};
use crate::features::design_matrix;
use crate::load::Read;
use crate::model::Model;
use crate::progress::Progress;

/// Changes per chunk: each chunk's feature matrix is dropped once tallied (the shipped
/// history's 15,000 changes are four, so the tests merge chunks).
const CHUNK: usize = 1 << 12;

/// Adds the changes of `frame` (read from `file`, named in errors) to `tally`: chunks in
/// parallel, each tallied on its own and merged in order.
fn tally_frame(
    model: &Model,
    tally: &mut Tally,
    features: &[crate::features::FeatureDef],
    frame: &crate::frame::Frame,
    file: &str,
) -> Result<()> {
    let parts: Vec<Tally> = (0..frame.len().div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let part = frame.slice(c * CHUNK, ((c + 1) * CHUNK).min(frame.len()));
            let x = design_matrix(features, &part)?;
            let risks = model.risks(x.view());
            if let Some(row) = risks.iter().position(|r| r.is_nan()) {
                return Err(Error::Data(format!(
                    "{file}: row {}: the risk is not a number; the model file or the row's values are out of range",
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
    Ok(())
}

/// Each change's outcome as far as is known: its own label when the changes were read
/// with their label column (`labels`); else, linked from incidents (`caused`, over the
/// timeline whose times are `ts`), known once the incidents reach past the change's
/// attribution window.
fn outcomes_of(
    labels: Option<&[bool]>,
    rows: &[usize],
    ts: &[i64],
    caused: &[bool],
    last_incident: Option<i64>,
    window: i64,
) -> Vec<Option<bool>> {
    match labels {
        Some(labels) => labels.iter().map(|&l| Some(l)).collect(),
        None => rows
            .iter()
            .map(|&r| {
                let covered = last_incident.is_some_and(|l| ts[r] + window <= l);
                covered.then(|| caused[r])
            })
            .collect(),
    }
}

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
    let features = model.feature_defs();
    let window = model.labelling.attribution_window_secs;
    // The batch's changes in order: their times and, for --outcomes, whether each caused
    // an incident as far as is known.
    let mut times: Vec<i64> = Vec::new();
    let mut known: Vec<Option<bool>> = Vec::new();
    let last_incident;
    if crate::dataset::is_partitioned(&inputs.changes) {
        // A part at a time: the timeline and two parts held at once.
        let batch = Partitioned::open(&inputs, files, &model, read, progress)?;
        last_incident = batch.incidents.start.iter().copied().max();
        let mut gaps = crate::features::Gaps::default();
        batch.each_part(&model, read, progress, |part| {
            gaps.add(&features, &part.frame, 0..part.frame.len());
            tally_frame(
                &model,
                &mut tally,
                &features,
                &part.frame,
                &part.part.file(),
            )?;
            times.extend(part.rows.iter().map(|&r| batch.timeline.ts[r]));
            if outcomes {
                known.extend(outcomes_of(
                    part.labels.as_deref(),
                    part.rows,
                    &batch.timeline.ts,
                    &batch.indexed.labels.caused,
                    last_incident,
                    window,
                ));
            }
            Ok(())
        })?;
        for warning in gaps.warnings() {
            progress.log(&format!("warning: {warning}"));
        }
    } else {
        let Loaded {
            timeline,
            rows,
            prepared,
            incidents,
            labels,
            ..
        } = load(&inputs, files, &model, read, progress)?;
        last_incident = incidents.start.iter().copied().max();
        progress.stage("measuring drift");
        let file = inputs.changes.display().to_string();
        tally_frame(&model, &mut tally, &features, &prepared.frame, &file)?;
        times = rows.iter().map(|&r| timeline.ts[r]).collect();
        if outcomes {
            known = outcomes_of(
                labels.as_deref(),
                &rows,
                &timeline.ts,
                &prepared.labels.caused,
                last_incident,
                window,
            );
        }
    }
    if times.is_empty() {
        return Err(Error::Data(format!(
            "{}: no changes to compare (the table holds no rows, only a header)",
            inputs.changes.display()
        )));
    }
    let mut drift = Drift::measure(tally, outcomes.then_some(known.as_slice()));
    // Incident counts over the last days see nothing past the incidents file's end: noted
    // when more than a tenth of the batch comes after its last incident (a few changes
    // after it are only the quiet end of any history).
    if let (Some(last), false) = (last_incident, labelled) {
        let after = times.iter().filter(|&&t| t > last).count();
        if after * 10 > times.len() {
            drift.notes.push(format!(
                "the incidents end at {} (the last one's start), before {after} of the {} changes: their incident counts see none after it, which lowers their risks and shifts the incident features; give the incidents up to the changes' time",
                crate::schema::format_timestamp(last),
                times.len()
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
