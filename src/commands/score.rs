//! `changerisk score`: scores changes with a saved model, in parallel, and writes one
//! row per change (input order) with risk, tier, reasons, violated policies and the
//! input's pass-through columns. A partitioned table of changes ([`Partitioned`]) is
//! scored a part at a time, to a directory of parts or to one file.

use std::path::{Path, PathBuf};

use polars::prelude::{Column as PlColumn, DataFrame};
use rayon::prelude::*;

use crate::cli::ScoreArgs;
use crate::commands::{SHIPPED_CHANGES, SHIPPED_INCIDENTS};
use crate::config::Config;
use crate::dataset::Part;
use crate::error::{Error, Result};
use crate::features::{design_matrix, scoring_gaps, Gaps};
use crate::load::{
    check_parts_unique, identity_columns, load_events, load_incidents, parse_rows, Events,
    LoadedEvents, Read,
};
use crate::model::{Model, Tiers, TIER_NAMES};
use crate::output::{check_not_an_input, csv, same_file, write_atomic};
use crate::pipeline::{join_events, prepare_events, Indexed};
use crate::policy::{joined_ids, Action, Facts, Policies};
use crate::progress::Progress;
use crate::reasons::{Explainer, HistoryGiven};
use crate::table::{passthrough_names, with_passthrough, write_table, Format, TableSink};

/// The changes to score and their history, as given.
pub struct Inputs {
    pub changes: PathBuf,
    pub incidents: Option<PathBuf>,
    pub history: Option<PathBuf>,
    /// Use no default history files.
    pub no_history: bool,
}

impl From<crate::cli::BatchArgs> for Inputs {
    fn from(a: crate::cli::BatchArgs) -> Inputs {
        Inputs {
            changes: a.changes,
            incidents: a.incidents,
            history: a.history,
            no_history: a.no_history,
        }
    }
}

/// Resolved `score` settings.
pub struct ScoreSettings {
    pub model: PathBuf,
    pub inputs: Inputs,
    pub output: PathBuf,
    pub tiers: Option<[f64; 3]>,
    pub policy: Option<PathBuf>,
    pub top: usize,
}

impl ScoreSettings {
    /// Resolves and checks the arguments.
    pub fn resolve(args: ScoreArgs) -> Result<ScoreSettings> {
        let ScoreArgs {
            model,
            batch,
            output,
            tiers,
            policy,
            top,
        } = args;
        let output = match output {
            Some(output) => output,
            None if crate::dataset::is_partitioned(&batch.changes) => {
                return Err(Error::Usage(format!(
                    "--changes {} is a partitioned table (a directory): say where its scores go with --output, a directory (its parts' scores under their own paths) or one .csv, .parquet or .jsonl file",
                    batch.changes.display()
                )))
            }
            None => PathBuf::from(DEFAULT_OUTPUT),
        };
        if !crate::dataset::is_partitioned(&batch.changes) {
            crate::table::Format::of_output(&output)?;
        }
        Ok(ScoreSettings {
            model,
            inputs: Inputs::from(batch),
            output,
            tiers: tiers
                .map(|t| super::parse_tiers("--tiers", &t))
                .transpose()?,
            policy,
            top,
        })
    }
}

/// Where the scored changes go by default.
const DEFAULT_OUTPUT: &str = "data/scored.csv";

/// The changes the no-flag run scores; the shipped history is theirs.
const SHIPPED_NEW_CHANGES: &str = "data/new_changes.csv";

/// The incidents and past-changes files to use. A model whose config takes labels from
/// a column uses no incidents file. A model of the built-in schema needs both unless
/// `--no-history`: the shipped ones by default for the shipped changes only (for other
/// changes, history features from someone else's services would be silently wrong), and
/// `--incidents` alone when the scored changes are their own history.
pub fn history_files(s: &Inputs, model: &Model) -> Result<(Option<PathBuf>, Option<PathBuf>)> {
    if let (Some(label), Some(path)) = (&model.config.columns.label, &s.incidents) {
        return Err(Error::Usage(format!(
            "the model takes labels from the column '{label}', so it uses no incidents file; drop --incidents {}",
            path.display()
        )));
    }
    super::check_history_has_incidents(s.history.as_deref(), s.incidents.as_deref(), model)?;
    if model.config != Config::default() || s.no_history {
        return Ok((s.incidents.clone(), s.history.clone()));
    }
    match (&s.incidents, &s.history) {
        (None, None) if same_file(&s.changes, Path::new(SHIPPED_NEW_CHANGES)) => Ok((
            Some(PathBuf::from(SHIPPED_INCIDENTS)),
            Some(PathBuf::from(SHIPPED_CHANGES)),
        )),
        (None, None) => Err(Error::Usage(format!(
            "{} needs its history for the history features: give --history and --incidents (--incidents alone when it holds its own history), or --no-history; the defaults {SHIPPED_CHANGES} and {SHIPPED_INCIDENTS} are the history of the shipped {SHIPPED_NEW_CHANGES}",
            s.changes.display()
        ))),
        (incidents, history) => Ok((incidents.clone(), history.clone())),
    }
}

/// One scored change.
pub struct Scored {
    pub risk: f64,
    pub logit: f64,
    pub tier: usize,
    pub reasons: String,
    pub policy: Vec<(String, Action)>,
    /// Per-feature contributions to the logit; empty unless asked for (they cost a row
    /// of the design matrix per change).
    pub contributions: Vec<f64>,
}

/// Runs `score`; its large buffers are left to the process's exit, which follows.
pub fn run(args: ScoreArgs, progress: &Progress) -> Result<u8> {
    let s = ScoreSettings::resolve(args)?;
    progress.stage("loading model");
    let model = Model::load(&s.model)?;
    let policies = Policies::from_flag(s.policy.as_deref())?;
    let tiers = model.tiers.overridden(s.tiers);
    let files = history_files(&s.inputs, &model)?;
    if crate::dataset::is_partitioned(&s.inputs.changes) {
        return run_partitioned(&s, &model, &policies, &tiers, files, progress);
    }
    check_not_an_input(
        "--output",
        &s.output,
        &[
            ("model", Some(&s.model)),
            ("changes file", Some(&s.inputs.changes)),
            ("history file", files.1.as_deref()),
            ("incidents file", files.0.as_deref()),
            ("policy file", s.policy.as_deref()),
        ],
    )?;
    let Loaded {
        timeline,
        rows,
        prepared,
        passthrough,
        incidents,
        history_given,
        ..
    } = load(&s.inputs, files, &model, Read::Unlabelled, progress)?;
    let ids: Vec<&str> = rows.iter().map(|&r| timeline.ids.get(r)).collect();
    progress.stage("scoring");
    let scored = score_frame(&model, &tiers, &policies, &prepared.frame, history_given)?;
    progress.stage("writing output");
    write_scored(&s.output, &ids, &scored, &passthrough)?;
    progress.stage("summarising");
    progress.log(&summary(&ids, &scored, &tiers, s.top, &s.output));
    // `run` is the whole process (the binary exits when it returns): the operating
    // system takes these millions of allocations back at once, faster than freeing them
    // one by one.
    std::mem::forget(scored);
    std::mem::forget(ids);
    std::mem::forget((timeline, rows, prepared, passthrough, incidents));
    Ok(0)
}

/// Where the scores of a partitioned table go.
enum Destination {
    /// A directory: each part's scores under the part's own path, in its format.
    Parts(crate::output::StagedDir),
    /// One file of this format, the parts appended in turn.
    OneFile(Format),
}

/// `score` of a partitioned table of changes ([`Partitioned`]), a part at a time: each
/// part is read whole, scored and written before the next is read, to its own file below
/// `--output` (under the part's own path and in its format; the partition-key columns
/// are not passed through, as the output's paths carry them) or appended to one file.
/// Only the timeline and one part are held at once.
fn run_partitioned(
    s: &ScoreSettings,
    model: &Model,
    policies: &Policies,
    tiers: &Tiers,
    (incidents_path, history_path): (Option<PathBuf>, Option<PathBuf>),
    progress: &Progress,
) -> Result<u8> {
    let inputs = [
        ("model", Some(s.model.as_path())),
        ("changes", Some(s.inputs.changes.as_path())),
        ("history", history_path.as_deref()),
        ("incidents", incidents_path.as_deref()),
        ("policy file", s.policy.as_deref()),
    ];
    check_not_an_input("--output", &s.output, &inputs)?;
    // One file when the output names one (by its extension, or a device or pipe), else
    // a directory of parts (so is a name ending in `/`: Spark's `scored.parquet/`).
    let as_dir = s.output.is_dir() || s.output.as_os_str().as_encoded_bytes().ends_with(b"/");
    let one_file =
        !as_dir && (Format::of(&s.output).is_ok() || crate::output::written_in_place(&s.output));
    if !one_file {
        refuse_as_output_dir(&s.output)?;
    }
    let output = if one_file {
        let format = Format::of_output(&s.output)?;
        crate::table::check_sink_format(format, &s.output.display().to_string())?;
        Destination::OneFile(format)
    } else {
        Destination::Parts(crate::output::StagedDir::new(&s.output, &inputs)?)
    };
    let batch = Partitioned::open(
        &s.inputs,
        (incidents_path, history_path),
        model,
        Read::Unlabelled,
        progress,
    )?;
    let features = model.feature_defs();
    let mut gaps = Gaps::default();
    let mut summary = Summary::new(s.top);
    // Scores the parts in turn, each handed to `emit` before the next is read.
    let mut each_part = |emit: &mut EmitPart| {
        for k in 0..batch.parts.len() {
            let part = batch.read(k, model, Read::Unlabelled, progress)?;
            gaps.add(&features, &part.frame, 0..part.frame.len());
            let scored = score_frame(model, tiers, policies, &part.frame, batch.history_given)
                .map_err(|e| match e {
                    // (Its rows are the part's.)
                    Error::Data(m) => Error::Data(format!("{}: {m}", part.part.file())),
                    other => other,
                })?;
            let ids = batch.ids(k);
            emit(part.part, &ids, &scored, part.passthrough, part.added)?;
            summary.add(&ids, &scored);
        }
        Ok(())
    };
    match output {
        Destination::Parts(dir) => {
            // The directories' names carry the partition keys.
            each_part(&mut |part, ids, scored, passthrough, keys| {
                let passthrough = passthrough.drop_many(keys);
                write_scored(&dir.part(&part.relative)?, ids, scored, &passthrough)
            })?;
            dir.commit()?;
        }
        Destination::OneFile(format) => {
            let name = s.output.display().to_string();
            crate::output::write_atomic(&s.output, |w| {
                let mut sink = TableSink::new(format, &name, w)?;
                // One file keeps them as columns.
                each_part(&mut |part, ids, scored, passthrough, _| {
                    sink.push(output_frame(ids, scored, &passthrough)?, &part.file())
                })?;
                sink.finish()
            })?;
        }
    }
    for warning in gaps.warnings() {
        progress.log(&format!("warning: {warning}"));
    }
    progress.log(&format!(
        "{} part(s) of {} scored",
        batch.parts.len(),
        s.inputs.changes.display()
    ));
    progress.log(&summary.render(tiers, &s.output));
    Ok(0)
}

/// A partitioned table of changes, read a part at a time ([`crate::dataset`]): every
/// part's identity and time are read first and, with the history, make the timeline (and
/// its index) every part's history features count from; then [`Partitioned::read`] reads
/// a part whole. Only the timeline and one part are held at once.
pub struct Partitioned {
    pub parts: Vec<Part>,
    /// The number of changes up to the end of each part.
    ends: Vec<usize>,
    /// The history and the changes, in time order.
    pub timeline: Events,
    /// The changes: their rows of `timeline`, in part order.
    rows: Vec<usize>,
    pub indexed: Indexed,
    pub incidents: crate::load::Incidents,
    /// Which history the history features counted ([`Explainer::with_history`]).
    pub history_given: HistoryGiven,
}

/// One part of a [`Partitioned`] table, read and ready for the feature definitions.
pub struct ReadPart<'a> {
    pub part: &'a Part,
    /// Its changes' rows of the timeline.
    pub rows: &'a [usize],
    /// Their columns, history included.
    pub frame: crate::frame::Frame,
    /// Their own labels, when read with them.
    pub labels: Option<Vec<bool>>,
    pub passthrough: DataFrame,
    /// The pass-through columns the part's partition keys added.
    pub added: Vec<String>,
}

impl Partitioned {
    /// Reads the identity and time of every part of `changes` and the history files
    /// (`files`: incidents and past changes, from [`history_files`]), links the incidents
    /// and indexes the history.
    pub fn open(
        s: &Inputs,
        (incidents_path, history_path): (Option<PathBuf>, Option<PathBuf>),
        model: &Model,
        read: Read,
        progress: &Progress,
    ) -> Result<Partitioned> {
        let changes = s.changes.as_path();
        let config = &model.config;
        check_history_given(
            s,
            history_path.as_deref(),
            incidents_path.as_deref(),
            model,
            progress,
        )?;
        let parts = crate::dataset::parts(changes)?;
        progress.stage("reading the changes' identity and time, and the history");
        let (identity, (history, incidents)) = rayon::join(
            || -> Result<(Events, Vec<usize>)> {
                let identity = identity_columns(config);
                let (events, ends) = crate::dataset::read_parts(
                    &parts,
                    |part| {
                        // Changes read with their label column, which labels the
                        // timeline, are read whole.
                        let events = if read == Read::Labelled {
                            parse_rows(&part.read()?.0, &part.file(), config, read)?
                        } else {
                            let (table, _) = part.read_only(&identity)?;
                            parse_rows(&table, &part.file(), config, Read::Identity)?
                        };
                        Ok(events.events)
                    },
                    |all: &mut Events, one, _| {
                        all.append(&one);
                        Ok(())
                    },
                    Events::len,
                )?;
                let ids = &events.ids;
                check_parts_unique(changes, &parts, &ends, &config.columns.id, ids.len(), |i| {
                    ids.get(i)
                })?;
                Ok((events, ends))
            },
            || read_history(config, history_path.as_deref(), incidents_path.as_deref()),
        );
        let (events, ends) = identity?;
        let history = history?;
        let incidents = incidents?.unwrap_or_default();
        progress.stage("linking incidents and indexing the history");
        let (timeline, rows, conflicts) = join_events(history, events);
        warn_conflicts(conflicts, progress);
        let indexed = Indexed::new(&timeline, &incidents, model.labelling);
        if incidents_path.is_some() {
            progress.log(&format!("history {}", indexed.labels.summary.describe()));
        }
        Ok(Partitioned {
            parts,
            ends,
            timeline,
            rows,
            indexed,
            incidents,
            history_given: HistoryGiven::of(history_path.is_some(), incidents_path.is_some()),
        })
    }

    /// The timeline rows of part `k`'s changes.
    pub fn rows(&self, k: usize) -> &[usize] {
        &self.rows[if k == 0 { 0 } else { self.ends[k - 1] }..self.ends[k]]
    }

    /// The change ids of part `k`.
    pub fn ids(&self, k: usize) -> Vec<&str> {
        self.rows(k)
            .iter()
            .map(|&r| self.timeline.ids.get(r))
            .collect()
    }

    /// Reads part `k` whole (`read`: with the label column or without) and adds its
    /// changes' history.
    pub fn read(
        &self,
        k: usize,
        model: &Model,
        read: Read,
        progress: &Progress,
    ) -> Result<ReadPart<'_>> {
        let part = &self.parts[k];
        progress.stage(&format!(
            "reading part {} of {} ({})",
            k + 1,
            self.parts.len(),
            part.relative.display()
        ));
        let (table, added) = part.read()?;
        let file = part.file();
        let loaded = parse_rows(&table, &file, &model.config, read)?;
        drop(table);
        let rows = self.rows(k);
        if loaded
            .events
            .ids
            .iter()
            .ne(rows.iter().map(|&r| self.timeline.ids.get(r)))
        {
            return Err(Error::Data(format!(
                "{file}: changed while it was being read (its change ids differ from its first reading)"
            )));
        }
        let frame = self.indexed.prepare(&self.timeline, rows, loaded.frame);
        Ok(ReadPart {
            part,
            rows,
            frame,
            labels: loaded.events.label,
            passthrough: loaded.passthrough,
            added,
        })
    }
}

/// Refuses, as the directory of a partitioned table's scores, `-` (standard output is
/// `/dev/stdout`) and a name that ends like a compressed file (`scored.csv.gz`), which
/// would be a directory no one meant.
fn refuse_as_output_dir(output: &Path) -> Result<()> {
    let compressed = ["gz", "zst", "bz2", "xz", "zip"];
    let ext = output
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    if output == Path::new("-") || ext.is_some_and(|e| compressed.contains(&e.as_str())) {
        return Err(Error::Usage(format!(
            "--output {}: the scores of a partitioned table go to a directory, or to one .csv, .parquet or .jsonl file (standard output: /dev/stdout); not to a compressed file",
            output.display()
        )));
    }
    Ok(())
}

/// Takes a scored part: the part, its change ids, their scores, its pass-through columns
/// and which of those its partition keys added (for an output that keeps them).
type EmitPart<'a> = dyn FnMut(&Part, &[&str], &[Scored], DataFrame, Vec<String>) -> Result<()> + 'a;

/// Refuses one stream named for two inputs, and warns when a model with per-service or
/// per-author history features is given no history.
fn check_history_given(
    s: &Inputs,
    history_path: Option<&Path>,
    incidents_path: Option<&Path>,
    model: &Model,
    progress: &Progress,
) -> Result<()> {
    crate::output::check_one_reader(&[
        ("changes file", Some(&s.changes)),
        ("history file", history_path),
        ("incidents file", incidents_path),
    ])?;
    let columns = &model.config.columns;
    if (columns.service.is_some() || columns.author.is_some())
        && history_path.is_none()
        && incidents_path.is_none()
        && !s.no_history
    {
        progress.log(
            "warning: the model has per-service or per-author history features and no --history \
             was given: each change's history is counted from --changes alone (give the changes \
             before them with --history, or --no-history when that is meant)",
        );
    }
    Ok(())
}

/// Reads the past changes (their identity and time) and the incidents at once.
fn read_history(
    config: &Config,
    history: Option<&Path>,
    incidents: Option<&Path>,
) -> (
    Result<Option<Events>>,
    Result<Option<crate::load::Incidents>>,
) {
    rayon::join(
        || {
            history
                .map(|path| load_events(path, config, Read::Events).map(|h| h.events))
                .transpose()
        },
        || incidents.map(load_incidents).transpose(),
    )
}

/// Warns of changes in both the history and the changes scored whose copies differ.
fn warn_conflicts(conflicts: Option<(usize, String)>, progress: &Progress) {
    if let Some((conflicts, first)) = conflicts {
        progress.log(&format!(
            "warning: {conflicts} change(s) in both --history and --changes differ in time, \
             service or author (the first: '{first}'); the --changes copy is used"
        ));
    }
}

/// The changes to score with their point-in-time history, as `score` reads them.
pub struct Loaded {
    /// The history and the changes to score, in time order.
    pub timeline: crate::load::Events,
    /// The changes to score: their rows of `timeline`, in input order.
    pub rows: Vec<usize>,
    pub prepared: crate::pipeline::Prepared,
    pub passthrough: DataFrame,
    pub incidents: crate::load::Incidents,
    /// The changes' own label column, in input order (when read with it).
    pub labels: Option<Vec<bool>>,
    /// Which history the history features counted ([`Explainer::with_history`]).
    pub history_given: HistoryGiven,
}

/// Loads the changes to score (`read`: with their label column or without) and their
/// history (`files`: the incidents and history files from [`history_files`]) and
/// computes their features' inputs.
pub fn load(
    s: &Inputs,
    (incidents_path, history_path): (Option<PathBuf>, Option<PathBuf>),
    model: &Model,
    read: Read,
    progress: &Progress,
) -> Result<Loaded> {
    check_history_given(
        s,
        history_path.as_deref(),
        incidents_path.as_deref(),
        model,
        progress,
    )?;
    progress.stage("loading changes and history");
    // The three files are read at once; errors are reported in this order all the same.
    let (changes, (history, incidents)) = rayon::join(
        || load_events(&s.changes, &model.config, read),
        || {
            read_history(
                &model.config,
                history_path.as_deref(),
                incidents_path.as_deref(),
            )
        },
    );
    let LoadedEvents {
        events,
        frame,
        passthrough,
    } = changes?;
    let history = history?;
    let incidents = incidents?.unwrap_or_default();
    let labels = events.label.clone();
    let history_given = HistoryGiven::of(history_path.is_some(), incidents_path.is_some());
    progress.stage("linking incidents and history features");
    let (timeline, rows, conflicts) = join_events(history, events);
    warn_conflicts(conflicts, progress);
    let prepared = prepare_events(&timeline, &incidents, model.labelling, &rows, frame);
    if incidents_path.is_some() {
        progress.log(&format!("history {}", prepared.labels.summary.describe()));
    }
    for warning in scoring_gaps(
        &model.feature_defs(),
        &prepared.frame,
        0..prepared.frame.len(),
    ) {
        progress.log(&format!("warning: {warning}"));
    }
    Ok(Loaded {
        timeline,
        rows,
        prepared,
        passthrough,
        incidents,
        labels,
        history_given,
    })
}

/// Rows per scoring chunk: bounds the design matrix's memory whatever the input size.
const SCORE_CHUNK: usize = 1 << 12;

/// Scores every row of `frame` chunk by chunk (each chunk in parallel); `history_given`
/// is which history its history features counted ([`Explainer::with_history`]).
pub fn score_frame(
    model: &Model,
    tiers: &Tiers,
    policies: &Policies,
    frame: &crate::frame::Frame,
    history_given: HistoryGiven,
) -> Result<Vec<Scored>> {
    score_chunks(model, tiers, policies, frame, false, history_given)
}

/// Like [`score_frame`], keeping every row's per-feature contributions.
pub fn score_frame_explained(
    model: &Model,
    tiers: &Tiers,
    policies: &Policies,
    frame: &crate::frame::Frame,
) -> Result<Vec<Scored>> {
    score_chunks(model, tiers, policies, frame, true, HistoryGiven::ALL)
}

/// The error for a change whose risk came out as NaN (opposite infinite contributions):
/// a model file or input values far out of range, never a risk to report.
fn not_a_number(model: &Model, row: usize, score: &crate::model::Score) -> Error {
    let culprits: Vec<String> = model
        .features
        .iter()
        .zip(&score.contributions)
        .filter(|(_, c)| !c.is_finite())
        .map(|(f, c)| format!("{} {c}", f.def.name))
        .collect();
    Error::Data(format!(
        "row {}: the risk is not a number (contributions to the log-odds: {}); the model \
         file or the row's values are out of range",
        row + 1,
        if culprits.is_empty() {
            "all finite, their sum is not".to_string()
        } else {
            culprits.join(", ")
        }
    ))
}

fn score_chunks(
    model: &Model,
    tiers: &Tiers,
    policies: &Policies,
    frame: &crate::frame::Frame,
    keep_contributions: bool,
    history_given: HistoryGiven,
) -> Result<Vec<Scored>> {
    policies.check_readable(frame)?;
    let features = model.feature_defs();
    let explainer = Explainer::new(model).with_history(history_given);
    // Chunks in parallel, each scored by one task: the design matrix of every chunk in
    // flight is small, and rows come back in input order.
    // Collected whole, so that of several bad chunks the first in input order is reported.
    let chunks: Vec<Result<Vec<Scored>>> = (0..frame.len().div_ceil(SCORE_CHUNK))
        .into_par_iter()
        .map(|c| {
            let start = c * SCORE_CHUNK;
            let part = frame.slice(start, (start + SCORE_CHUNK).min(frame.len()));
            let x = design_matrix(&features, &part)?;
            let scores = model.score(x.view());
            if let Some(row) = scores.iter().position(|s| s.risk.is_nan()) {
                return Err(not_a_number(model, start + row, &scores[row]));
            }
            Ok(scores
                .into_iter()
                .enumerate()
                .map(|(row, score)| {
                    let tier = tiers.tier(score.risk);
                    let facts = Facts {
                        frame: &part,
                        row,
                        risk: score.risk,
                        tier,
                    };
                    Scored {
                        risk: score.risk,
                        logit: score.logit,
                        tier,
                        reasons: explainer.reasons(&part, row, &score.contributions),
                        policy: policies
                            .violated(&facts)
                            .into_iter()
                            .map(|r| (r.id.clone(), r.action))
                            .collect(),
                        contributions: if keep_contributions {
                            score.contributions
                        } else {
                            Vec::new()
                        },
                    }
                })
                .collect())
        })
        .collect();
    let chunks = chunks.into_iter().collect::<Result<Vec<_>>>()?;
    Ok(chunks.into_iter().flatten().collect())
}

/// The contract's output columns, before the pass-through columns.
const OUTPUT_COLUMNS: [&str; 5] = ["change_id", "risk", "tier", "reasons", "policy"];

/// Rows per chunk of CSV output formatted by one task.
const WRITE_CHUNK: usize = 1 << 13;
/// Chunks formatted before they are handed to the writing thread.
const WRITE_GROUP: usize = 16;

/// Writes the scored changes to `path`. CSV with text pass-through columns (what a CSV
/// input gives) is formatted here, chunks in parallel, byte for byte as polars would
/// write it; other formats and typed pass-through columns go through polars.
fn write_scored(
    path: &std::path::Path,
    ids: &[&str],
    scored: &[Scored],
    passthrough: &DataFrame,
) -> Result<()> {
    let text: Option<Vec<&polars::prelude::StringChunked>> =
        passthrough.columns().iter().map(|c| c.str().ok()).collect();
    let (Format::Csv, Some(text)) = (Format::of_output(path)?, text) else {
        let mut df = output_frame(ids, scored, passthrough)?;
        return write_table(path, &mut df);
    };
    let mut header = Vec::new();
    let names = OUTPUT_COLUMNS
        .iter()
        .map(|n| n.to_string())
        .chain(passthrough_names(OUTPUT_COLUMNS, passthrough, |_| false));
    for (k, name) in names.enumerate() {
        if k > 0 {
            header.push(b',');
        }
        csv::push_str(&mut header, &name);
    }
    header.push(b'\n');
    let format_chunk = |c: usize| -> Vec<u8> {
        let start = c * WRITE_CHUNK;
        let end = (start + WRITE_CHUNK).min(scored.len());
        let slices: Vec<polars::prelude::StringChunked> = text
            .iter()
            .map(|ca| ca.slice(start as i64, end - start))
            .collect();
        let extra: Vec<Vec<Option<&str>>> = slices.iter().map(|ca| ca.iter().collect()).collect();
        let mut buf = Vec::with_capacity((end - start) * 160);
        for row in start..end {
            let s = &scored[row];
            csv::push_str(&mut buf, ids[row]);
            buf.push(b',');
            csv::push_f64(&mut buf, s.risk);
            buf.push(b',');
            csv::push_str(&mut buf, TIER_NAMES[s.tier]);
            buf.push(b',');
            csv::push_str(&mut buf, &s.reasons);
            buf.push(b',');
            csv::push_str(&mut buf, &joined_ids(&s.policy));
            for column in &extra {
                buf.push(b',');
                csv::push_opt_str(&mut buf, column[row - start]);
            }
            buf.push(b'\n');
        }
        buf
    };
    let chunks = scored.len().div_ceil(WRITE_CHUNK);
    // Formatting (in parallel, a group of chunks at a time) overlaps with writing the
    // group before, on its own thread; at most three groups are held at once.
    write_atomic(path, |w| {
        use std::io::Write;
        w.write_all(&header).map_err(|e| Error::io(path, e))?;
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Vec<u8>>>(1);
            let writer = scope.spawn(move || -> Result<()> {
                for group in rx {
                    for chunk in &group {
                        w.write_all(chunk).map_err(|e| Error::io(path, e))?;
                    }
                }
                Ok(())
            });
            for first in (0..chunks).step_by(WRITE_GROUP) {
                let group: Vec<Vec<u8>> = (first..(first + WRITE_GROUP).min(chunks))
                    .into_par_iter()
                    .map(format_chunk)
                    .collect();
                if tx.send(group).is_err() {
                    // The writer stopped on an error, which it returns.
                    break;
                }
            }
            drop(tx);
            writer
                .join()
                .unwrap_or_else(|_| Err(Error::Data("the output writer stopped".into())))
        })
    })
}

/// The output table: the contract's columns, then the pass-through columns (renamed
/// `input_<name>` where they would clash).
fn output_frame(ids: &[&str], scored: &[Scored], passthrough: &DataFrame) -> Result<DataFrame> {
    let columns = vec![
        PlColumn::new("change_id".into(), ids),
        PlColumn::new(
            "risk".into(),
            scored.iter().map(|s| s.risk).collect::<Vec<f64>>(),
        ),
        PlColumn::new(
            "tier".into(),
            scored
                .iter()
                .map(|s| TIER_NAMES[s.tier])
                .collect::<Vec<&str>>(),
        ),
        PlColumn::new(
            "reasons".into(),
            scored
                .iter()
                .map(|s| s.reasons.as_str())
                .collect::<Vec<&str>>(),
        ),
        PlColumn::new(
            "policy".into(),
            scored
                .iter()
                .map(|s| joined_ids(&s.policy))
                .collect::<Vec<String>>(),
        ),
    ];
    with_passthrough(columns, passthrough, ids.len(), |_| false)
        .map_err(|e| Error::Data(format!("cannot build the output table: {e}")))
}

/// The stderr summary: changes per tier, policy hits and the riskiest changes.
fn summary(
    ids: &[&str],
    scored: &[Scored],
    tiers: &Tiers,
    top: usize,
    output: &std::path::Path,
) -> String {
    let mut summary = Summary::new(top);
    summary.add(ids, scored);
    summary.render(tiers, output)
}

/// [`summary`]'s figures, counted over the parts of a table scored a part at a time.
struct Summary {
    top: usize,
    scored: usize,
    counts: [usize; 4],
    blocked: usize,
    warned: usize,
    /// The `top` riskiest so far (id, risk, tier, reasons), riskiest first.
    riskiest: Vec<(String, f64, usize, String)>,
}

impl Summary {
    fn new(top: usize) -> Summary {
        Summary {
            top,
            scored: 0,
            counts: [0; 4],
            blocked: 0,
            warned: 0,
            riskiest: Vec::new(),
        }
    }

    /// Counts `scored` (whose ids are `ids`).
    fn add(&mut self, ids: &[&str], scored: &[Scored]) {
        self.scored += scored.len();
        for s in scored {
            self.counts[s.tier] += 1;
        }
        let violates = |s: &Scored, action: Action| s.policy.iter().any(|p| p.1 == action);
        self.blocked += scored.iter().filter(|s| violates(s, Action::Block)).count();
        self.warned += scored.iter().filter(|s| violates(s, Action::Warn)).count();
        // The `top` riskiest, ties by change_id: a selection, then a sort of those only.
        let mut order: Vec<usize> = (0..scored.len()).collect();
        let riskier = |a: &usize, b: &usize| {
            scored[*b]
                .risk
                .total_cmp(&scored[*a].risk)
                .then_with(|| ids[*a].cmp(ids[*b]))
        };
        if self.top < order.len() {
            order.select_nth_unstable_by(self.top, riskier);
            order.truncate(self.top);
        }
        self.riskiest.extend(order.into_iter().map(|i| {
            let s = &scored[i];
            (ids[i].to_string(), s.risk, s.tier, s.reasons.clone())
        }));
        self.riskiest
            .sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        self.riskiest.truncate(self.top);
    }

    fn render(&self, tiers: &Tiers, output: &std::path::Path) -> String {
        let mut out = format!("scored {} changes -> {}\n", self.scored, output.display());
        for (k, name) in TIER_NAMES.iter().enumerate() {
            let from = if k == 0 {
                String::new()
            } else if !tiers.opens(k) {
                // Equal cuts: the lower tier takes every risk at the cut (`Tiers::tier`).
                format!(" (none: same cut as {})", TIER_NAMES[k - 1])
            } else {
                format!(" (risk >= {:.2}%)", 100.0 * tiers.thresholds[k - 1])
            };
            out.push_str(&format!("  {name:<9}{:>8}{from}\n", self.counts[k]));
        }
        out.push_str(&format!(
            "policies: {} change(s) violate a block rule, {} a warn rule\n",
            self.blocked, self.warned
        ));
        if !self.riskiest.is_empty() {
            out.push_str("riskiest:\n");
        }
        for (id, risk, tier, reasons) in &self.riskiest {
            out.push_str(&format!(
                "  {:<14} {:>6.2}% {:<8} {}\n",
                id,
                100.0 * risk,
                TIER_NAMES[*tier],
                reasons
            ));
        }
        out.trim_end().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_no_cut_for_a_tier_equal_cuts_keep_empty() {
        let tiers = Tiers::from_risks(&[0.1, 0.2, 0.2, 0.2, 0.2, 0.2, 0.9], [50.0, 60.0, 95.0]);
        assert_eq!(tiers.thresholds[0], tiers.thresholds[1]);
        let scored: Vec<Scored> = [0.1, 0.2, 0.9]
            .iter()
            .map(|&risk| Scored {
                risk,
                logit: 0.0,
                tier: tiers.tier(risk),
                reasons: String::new(),
                policy: Vec::new(),
                contributions: Vec::new(),
            })
            .collect();
        let text = summary(&["a", "b", "c"], &scored, &tiers, 0, Path::new("out.csv"));
        assert!(
            text.contains("high            0 (none: same cut as medium)"),
            "{text}"
        );
        assert!(
            text.contains("medium          1 (risk >= 20.00%)"),
            "{text}"
        );
    }
}
