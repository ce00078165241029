//! `changerisk score`: scores changes with a saved model, in parallel, and writes one
//! row per change (input order) with risk, tier, reasons, violated policies and the
//! input's pass-through columns. A partitioned table of changes
//! ([`crate::batch::Partitioned`]) is scored a part at a time, to a directory of parts or
//! to one file.

use std::path::{Path, PathBuf};

use polars::prelude::{Column as PlColumn, DataFrame};
use rayon::prelude::*;

use crate::batch::{load, Inputs, Loaded, Partitioned};
use crate::cli::ScoreArgs;
use crate::commands::{SHIPPED_CHANGES, SHIPPED_INCIDENTS};
use crate::config::Config;
use crate::dataset::Part;
use crate::error::{Error, Result};
use crate::features::{design_matrix, Gaps};
use crate::load::Read;
use crate::model::{Model, Tiers, TIER_NAMES};
use crate::output::{check_not_an_input, csv, same_file, write_atomic};
use crate::policy::{joined_ids, Action, Facts, Policies};
use crate::progress::Progress;
use crate::reasons::{Explainer, HistoryGiven};
use crate::table::{passthrough_names, with_passthrough, write_table, Format, TableSink};

/// Resolved `score` settings.
pub struct ScoreSettings {
    pub model: PathBuf,
    pub inputs: Inputs,
    /// Where the scores go.
    pub output: PathBuf,
    /// How a partitioned table's scores are written (`None`: `--changes` is a file).
    pub table_output: Option<Destination>,
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
        let partitioned = crate::dataset::is_partitioned(&batch.changes);
        let output = match output {
            Some(output) => output,
            None if partitioned => {
                return Err(Error::Usage(format!(
                    "--changes {} is a partitioned table (a directory): say where its scores go with --output, a directory (its parts' scores under their own paths) or one .csv, .parquet or .jsonl file",
                    batch.changes.display()
                )))
            }
            None => PathBuf::from(DEFAULT_OUTPUT),
        };
        let table_output = if partitioned {
            Some(Destination::of(&output)?)
        } else {
            Format::of_output(&output)?;
            None
        };
        Ok(ScoreSettings {
            model,
            inputs: Inputs::from(batch),
            output,
            table_output,
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
    if let Some(destination) = s.table_output {
        return run_partitioned(&s, destination, &model, &policies, &tiers, files, progress);
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
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Destination {
    /// A directory: each part's scores under the part's own path, in its format.
    Parts,
    /// One file of this format, the parts appended in turn.
    OneFile(Format),
}

/// A [`Destination`] ready for the scores.
enum Writer {
    Parts(crate::output::StagedDir),
    OneFile(Format),
}

impl Destination {
    /// What `--output` names for a partitioned table: one file when it names one (by its
    /// extension, or a device or pipe), else a directory of parts (so does a name ending
    /// in `/`: Spark's `scored.parquet/`).
    fn of(output: &Path) -> Result<Destination> {
        let as_dir = output.is_dir() || output.as_os_str().as_encoded_bytes().ends_with(b"/");
        let one_file =
            !as_dir && (Format::of(output).is_ok() || crate::output::written_in_place(output));
        if !one_file {
            refuse_as_output_dir(output)?;
            return Ok(Destination::Parts);
        }
        let format = Format::of_output(output)?;
        crate::table::check_sink_format(format, &output.display().to_string())?;
        Ok(Destination::OneFile(format))
    }
}

/// `score` of a partitioned table of changes ([`Partitioned`]), a part at a time: each
/// part is read whole, scored and written (while the next is read), to its own file below
/// `--output` (under the part's own path and in its format; the partition-key columns
/// are not passed through, as the output's paths carry them) or appended to one file.
/// Only the timeline and two parts are held at once.
fn run_partitioned(
    s: &ScoreSettings,
    destination: Destination,
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
    // (The directory is staged before the table is read: a bad place is refused first.)
    let writer = match destination {
        Destination::Parts => Writer::Parts(crate::output::StagedDir::new(&s.output, &inputs)?),
        Destination::OneFile(format) => Writer::OneFile(format),
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
    // Scores the parts in turn, each handed to `emit` in part order.
    let mut each_part = |emit: &mut EmitPart| {
        batch.each_part(model, Read::Unlabelled, progress, |part| {
            gaps.add(&features, &part.frame, 0..part.frame.len());
            let scored = score_frame(model, tiers, policies, &part.frame, batch.history_given)
                .map_err(|e| match e {
                    // (Its rows are the part's.)
                    Error::Data(m) => Error::Data(format!("{}: {m}", part.part.file())),
                    other => other,
                })?;
            let ids = batch.ids(part.rows);
            emit(part.part, &ids, &scored, part.passthrough, part.added)?;
            summary.add(&ids, &scored);
            Ok(())
        })
    };
    match writer {
        Writer::Parts(dir) => {
            // The directories' names carry the partition keys.
            each_part(&mut |part, ids, scored, passthrough, keys| {
                let passthrough = passthrough.drop_many(keys);
                let path = dir.part(&output_relative(&part.relative))?;
                write_scored(&path, ids, scored, &passthrough)
            })?;
            dir.commit()?;
        }
        Writer::OneFile(format) => {
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

/// Where a part's scores go below a directory output: the part's own relative path, but
/// a `key=value` level whose key an output column has (`risk=high/`, a change-management
/// rating) named `input_key=value/`, as the pass-through column of that name is: else the
/// output's path would contradict its `risk` column for every reader of the table.
fn output_relative(relative: &Path) -> PathBuf {
    let Some(parent) = relative.parent() else {
        return relative.to_path_buf();
    };
    let mut out = PathBuf::new();
    for level in parent.iter() {
        let clashes = level
            .to_str()
            .and_then(|l| l.split_once('='))
            .is_some_and(|(key, _)| {
                let key = crate::dataset::percent_decoded(key);
                OUTPUT_COLUMNS.iter().any(|c| c.eq_ignore_ascii_case(&key))
            });
        if clashes {
            let mut renamed = std::ffi::OsString::from("input_");
            renamed.push(level);
            out.push(renamed);
        } else {
            out.push(level);
        }
    }
    out.join(relative.file_name().unwrap_or_default())
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
    fn a_level_keyed_like_an_output_column_is_renamed_in_the_output() {
        let path = |p: &str| output_relative(Path::new(p)).display().to_string();
        assert_eq!(path("part-0.parquet"), "part-0.parquet");
        assert_eq!(
            path("day=2026-01-01/risk=high/part-0.csv"),
            "day=2026-01-01/input_risk=high/part-0.csv"
        );
        assert_eq!(path("Tier=1/a.csv"), "input_Tier=1/a.csv");
        assert_eq!(path("%72isk=x/a.csv"), "input_%72isk=x/a.csv");
        assert_eq!(path("risky=x/sub/a.csv"), "risky=x/sub/a.csv");
    }

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
