//! The analyst export of a scored history: typed tables (the scored changes, one row
//! each, and side tables of coefficients, calibration, metrics, the gating curve and
//! risk by segment) in Parquet, Arrow IPC file format or CSV, plus a starter notebook
//! that loads them. Every file is written atomically.

pub mod notebook;

use std::ops::Range;
use std::path::{Path, PathBuf};

use polars::prelude::{
    BooleanChunked, Column as PlColumn, CsvWriter, DataFrame, Float64Chunked, Int64Chunked,
    IntoColumn, NewChunkedArray, ParquetCompression, ParquetWriter, PolarsError, SerWriter,
    StringChunked, TimeUnit, TimeZone,
};
use rayon::prelude::*;

use crate::analysis::{
    contribution_column, gating_curve, importance, segments, ScoredHistory, Segment,
};
use crate::error::{Error, Result};
use crate::features::TIME_COLUMN;
use crate::frame::Column;
use crate::history::HISTORY_COLUMNS;
use crate::label::LabelSource;
use crate::load::{CHANGE_COLUMNS, MISSING_LEVEL};
use crate::metrics::{reliability, Metrics};
use crate::model::{Model, TIER_NAMES};
use crate::output::{commit_all, stage, Staged};
use crate::table::{prepare_text_output, stage_table, with_passthrough};

/// The file formats of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// Parquet (typed, compressed; the default).
    Parquet,
    /// Arrow IPC file format (`.arrow`; `pandas.read_feather`, `polars.read_ipc`).
    Arrow,
    /// CSV (timestamps in ISO 8601, UTC).
    Csv,
}

impl ExportFormat {
    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Parquet => "parquet",
            ExportFormat::Arrow => "arrow",
            ExportFormat::Csv => "csv",
        }
    }
}

/// The tables of an export, by file stem, in the order they are written.
pub const TABLES: [&str; 6] = [
    "changes",
    "coefficients",
    "calibration",
    "metrics",
    "gating",
    "segments",
];

/// The notebook's file name.
pub const NOTEBOOK: &str = "analysis.ipynb";

/// Calibration bins of the calibration table.
const CALIBRATION_BINS: usize = 10;
/// Points of the gating curve (every 1% of changes gated).
const GATING_POINTS: usize = 101;

/// Numeric inputs that hold counts: exported as integers.
const COUNT_COLUMNS: [&str; 13] = [
    "reviewer_count",
    "services_affected",
    "regions_affected",
    "lines_changed",
    "files_changed",
    "hour",
    "service_incidents_7d",
    "service_incidents_30d",
    "service_changes_7d",
    "service_prior_changes",
    "service_incident_changes",
    "author_prior_changes",
    "author_incident_changes",
];

/// The word for how a label was derived.
pub fn label_source_name(source: LabelSource) -> &'static str {
    match source {
        LabelSource::Explicit => "explicit",
        LabelSource::Attributed => "attributed",
        LabelSource::None => "none",
    }
}

fn table_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Data(format!("cannot build the {what} table: {e}"))
}

fn f64_column(name: &str, values: Vec<f64>) -> PlColumn {
    Float64Chunked::from_vec(name.into(), values).into_column()
}

fn opt_f64_column(name: &str, values: Vec<Option<f64>>) -> PlColumn {
    Float64Chunked::from_iter_options(name.into(), values.into_iter()).into_column()
}

fn str_column<'a>(name: &str, values: impl Iterator<Item = &'a str>) -> PlColumn {
    StringChunked::from_iter_values(name.into(), values).into_column()
}

/// One frame column as a typed table column: counts as integers, declared booleans
/// as booleans, other numbers as floats (missing as null), categories as strings.
fn frame_column(
    name: &str,
    column: &Column,
    rows: Range<usize>,
    features: &crate::config::FeaturesConfig,
) -> PlColumn {
    let (booleans, categorical) = (&features.boolean, &features.categorical);
    // A config's own numeric column keeps its fractions, whatever its name.
    let count = COUNT_COLUMNS.contains(&name) && !features.numeric.iter().any(|c| c == name);
    match column {
        Column::Num(v) if count => Int64Chunked::from_iter_options(
            name.into(),
            v[rows].iter().map(|&x| x.is_finite().then_some(x as i64)),
        )
        .into_column(),
        Column::Num(v) if booleans.iter().any(|b| b == name) => BooleanChunked::from_iter_options(
            name.into(),
            v[rows].iter().map(|&x| (!x.is_nan()).then_some(x != 0.0)),
        )
        .into_column(),
        Column::Num(v) => Float64Chunked::from_iter_options(
            name.into(),
            v[rows].iter().map(|&x| (!x.is_nan()).then_some(x)),
        )
        .into_column(),
        Column::Flag(v) => BooleanChunked::from_slice(name.into(), &v[rows]).into_column(),
        // A config's categorical column: an empty cell is null, as it was in the input
        // (the model's level for it is `(missing)`, which the loader refuses as a value).
        Column::Cat { codes, levels } if categorical.iter().any(|c| c == name) => {
            StringChunked::from_iter_options(
                name.into(),
                codes[rows].iter().map(|&c| {
                    let level = levels[c as usize].as_str();
                    (level != MISSING_LEVEL).then_some(level)
                }),
            )
            .into_column()
        }
        Column::Cat { codes, levels } => str_column(
            name,
            codes[rows].iter().map(|&c| levels[c as usize].as_str()),
        ),
    }
}

/// The name input column `column` (a config's or the contract's column as loaded, a
/// calendar or history column) has in the changes table: its own, unless it is one of
/// the table's own columns' names in any case (`change_id`, `timestamp`, the `service`
/// and `author` the config names, `label`, `risk`, `tier`, ...) or starts as they do
/// (`feature_`, `contrib_`); then with `input_` prefixes until it is neither of those
/// nor, in any case, a column the config declares. SQL engines and analysts' tools
/// compare names ignoring case, and sum the `contrib_` columns; `sql` reads the table by
/// these names.
pub fn input_column_name(model: &Model, column: &str) -> String {
    let cols = &model.config.columns;
    let features = &model.config.features;
    let engine = |name: &str| {
        let lower = name.to_ascii_lowercase();
        OWN_COLUMNS.contains(&lower.as_str())
            || (lower == "service" && cols.service.is_some())
            || (lower == "author" && cols.author.is_some())
            || starts_as_output(name)
    };
    if !engine(column) {
        return column.to_string();
    }
    let declared = |name: &str| {
        [&features.numeric, &features.boolean, &features.categorical]
            .iter()
            .any(|list| list.iter().any(|c| c.eq_ignore_ascii_case(name)))
    };
    let mut name = format!("input_{column}");
    while engine(&name) || declared(&name) {
        name.insert_str(0, "input_");
    }
    name
}

/// Whether `name` starts as a feature's value or contribution column does (`feature_`,
/// `contrib_`, in any case): the export keeps such names for the model's own columns.
fn starts_as_output(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("feature_") || lower.starts_with("contrib_")
}

/// The changes table's own columns, beside the role columns and each feature's
/// `feature_` and `contrib_` columns.
const OWN_COLUMNS: [&str; 10] = [
    "change_id",
    "timestamp",
    "label",
    "label_source",
    "risk",
    "logit",
    "intercept",
    "tier",
    "policy",
    "reasons",
];

/// The main table: one row per change (input order) with identity, the typed input,
/// calendar and history columns, the model's feature values (`feature_<name>`), the
/// label and how it was derived, `risk`, `logit`, `intercept`, `tier`, `policy`,
/// `reasons`, each feature's contribution to the logit (`contrib_<name>`; with
/// `intercept` they sum to `logit`), then the pass-through columns. An input or
/// pass-through column whose name one of those has, in any case, gets an `input_` prefix
/// ([`input_column_name`], [`crate::table::passthrough_names`]). Only the changes `rows` (a stretch of the history,
/// so that a large export is written a part at a time).
pub fn changes_table(
    model: &Model,
    history: &ScoredHistory,
    rows: Range<usize>,
) -> Result<DataFrame> {
    let n = rows.len();
    let cols = &model.config.columns;
    let r = || rows.clone();
    let mut columns: Vec<PlColumn> = vec![
        str_column("change_id", history.ids[r()].iter().map(String::as_str)),
        Int64Chunked::from_iter_values(
            "timestamp".into(),
            history.ts[r()].iter().map(|&t| t * 1_000_000),
        )
        .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        .into_column(),
    ];
    if cols.service.is_some() {
        columns.push(str_column(
            "service",
            history.service[r()].iter().map(String::as_str),
        ));
    }
    if cols.author.is_some() {
        columns.push(str_column(
            "author",
            history.author[r()].iter().map(String::as_str),
        ));
    }
    // The contract's columns in SPEC order, then the rest (sorted by name).
    let mut frame_names: Vec<&str> = CHANGE_COLUMNS
        .iter()
        .copied()
        .filter(|c| history.frame.get(c).is_some())
        .collect();
    // History columns the model cannot use are not exported: those of a grouping the
    // config does not name (counted as if every change shared one service or author),
    // and with a label column the incident counts (no incidents are read: every one 0).
    let ungrouped = |c: &str| {
        HISTORY_COLUMNS.contains(&c)
            && (cols.label.is_some() && c.contains("incident")
                || if c.starts_with("author_") {
                    cols.author.is_none()
                } else {
                    cols.service.is_none()
                })
    };
    frame_names.extend(
        history
            .frame
            .names()
            // The change's time is the `timestamp` column already.
            .filter(|c| !CHANGE_COLUMNS.contains(c) && !ungrouped(c) && *c != TIME_COLUMN),
    );
    columns.extend(
        frame_names
            .par_iter()
            .map(|name| {
                let column = history.frame.get(name).expect("listed from the frame");
                let mut column = frame_column(name, column, r(), &model.config.features);
                let exported = input_column_name(model, name);
                if exported != *name {
                    column.rename(exported.into());
                }
                column
            })
            .collect::<Vec<_>>(),
    );
    let names: Vec<&str> = model.features.iter().map(|f| f.def.name.as_str()).collect();
    let features: Vec<PlColumn> = names
        .par_iter()
        .enumerate()
        .map(|(j, name)| {
            let values = history.feature(model, j)?;
            Ok(f64_column(&format!("feature_{name}"), values[r()].to_vec()))
        })
        .collect::<Result<_>>()?;
    columns.extend(features);
    columns.push(BooleanChunked::from_slice("label".into(), &history.labels[r()]).into_column());
    columns.push(str_column(
        "label_source",
        history.label_source[r()]
            .iter()
            .map(|&s| label_source_name(s)),
    ));
    let scores = &history.scores[r()];
    columns.push(f64_column("risk", scores.iter().map(|s| s.risk).collect()));
    columns.push(f64_column(
        "logit",
        scores.iter().map(|s| s.logit).collect(),
    ));
    columns.push(f64_column("intercept", vec![model.base_value(); n]));
    columns.push(str_column(
        "tier",
        history.tiers[r()].iter().map(|&t| TIER_NAMES[t]),
    ));
    let policy: Vec<String> = r().into_par_iter().map(|i| history.policy_ids(i)).collect();
    columns.push(str_column("policy", policy.iter().map(String::as_str)));
    columns.push(str_column(
        "reasons",
        history.reasons[r()].iter().map(String::as_str),
    ));
    let contributions: Vec<PlColumn> = names
        .par_iter()
        .enumerate()
        .map(|(j, name)| {
            let values = contribution_column(model, history, j, r())?;
            Ok(f64_column(&format!("contrib_{name}"), values))
        })
        .collect::<Result<_>>()?;
    columns.extend(contributions);
    let passthrough = history.passthrough.slice(rows.start as i64, n);
    with_passthrough(columns, &passthrough, n, starts_as_output)
        .map_err(|e| table_error("changes", e))
}

/// Model coefficients and importances, the most influential feature first: `feature`,
/// `factor`, `coefficient` (standardised scale), `mean` and `scale` (the
/// standardisation), `mean_abs_contribution` and `mean_contribution` (to the logit,
/// over the exported history).
pub fn coefficients_table(model: &Model, history: &ScoredHistory) -> Result<DataFrame> {
    let rows = importance(model, history)?;
    let fitted = |name: &str| {
        model
            .features
            .iter()
            .find(|f| f.def.name == name)
            .expect("importance lists the model's features")
    };
    let columns = vec![
        str_column("feature", rows.iter().map(|r| r.feature.as_str())),
        str_column("factor", rows.iter().map(|r| r.factor.as_str())),
        opt_f64_column("coefficient", rows.iter().map(|r| r.coefficient).collect()),
        f64_column(
            "mean",
            rows.iter().map(|r| fitted(&r.feature).mean).collect(),
        ),
        f64_column(
            "scale",
            rows.iter().map(|r| fitted(&r.feature).scale).collect(),
        ),
        f64_column(
            "mean_abs_contribution",
            rows.iter().map(|r| r.mean_abs_contribution).collect(),
        ),
        f64_column(
            "mean_contribution",
            rows.iter().map(|r| r.mean_contribution).collect(),
        ),
        BooleanChunked::from_iter_values("raises_risk".into(), rows.iter().map(|r| r.raises_risk))
            .into_column(),
    ];
    DataFrame::new(rows.len(), columns).map_err(|e| table_error("coefficients", e))
}

/// Reliability over the exported history: `lower`, `upper`, `count`,
/// `mean_predicted`, `observed_rate` for 10 equal-width risk bins (empty bins too).
pub fn calibration_table(risks: &[f64], labels: &[bool]) -> Result<DataFrame> {
    let bins = reliability(risks, labels, CALIBRATION_BINS);
    let columns = vec![
        f64_column("lower", bins.iter().map(|b| b.lower).collect()),
        f64_column("upper", bins.iter().map(|b| b.upper).collect()),
        Int64Chunked::from_iter_values("count".into(), bins.iter().map(|b| b.count as i64))
            .into_column(),
        // An empty bin has no mean: null, not a 0 that reads as a measurement.
        opt_f64_column(
            "mean_predicted",
            bins.iter()
                .map(|b| (b.count > 0).then_some(b.mean_predicted))
                .collect(),
        ),
        opt_f64_column(
            "observed_rate",
            bins.iter()
                .map(|b| (b.count > 0).then_some(b.observed_rate))
                .collect(),
        ),
    ];
    DataFrame::new(bins.len(), columns).map_err(|e| table_error("calibration", e))
}

/// Metrics in long form (`scope`, `metric`, `value`; null where undefined): scope
/// `history` is measured on the exported history (in-sample when it is the training
/// history), scope `validation` is the training run's out-of-time validation.
pub fn metrics_table(model: &Model, risks: &[f64], labels: &[bool]) -> Result<DataFrame> {
    let mut scope = Vec::new();
    let mut metric = Vec::new();
    let mut value: Vec<Option<f64>> = Vec::new();
    for (name, m) in [
        ("history", Metrics::compute(risks, labels)),
        ("validation", model.training.validation.clone()),
    ] {
        let rows: [(&str, Option<f64>); 12] = [
            ("rows", Some(m.rows as f64)),
            ("positives", Some(m.positives as f64)),
            ("roc_auc", m.roc_auc),
            ("pr_auc", m.pr_auc),
            ("brier", Some(m.brier)),
            ("log_loss", Some(m.log_loss)),
            ("ece", Some(m.ece)),
            ("mean_risk", Some(m.mean_risk)),
            ("observed_rate", Some(m.observed_rate)),
            ("capture_5", m.capture_5),
            ("capture_10", m.capture_10),
            ("capture_20", m.capture_20),
        ];
        for (k, v) in rows {
            scope.push(name);
            metric.push(k);
            value.push(v);
        }
    }
    let columns = vec![
        str_column("scope", scope.into_iter()),
        str_column("metric", metric.into_iter()),
        opt_f64_column("value", value),
    ];
    DataFrame::new(columns[0].len(), columns).map_err(|e| table_error("metrics", e))
}

/// The gating curve: `gated_share` (0..1, every 1%) and `caught_share` (share of
/// incident-causing changes among the riskiest `gated_share`). No rows without
/// positives.
pub fn gating_table(risks: &[f64], labels: &[bool]) -> Result<DataFrame> {
    let curve = gating_curve(risks, labels, GATING_POINTS);
    let columns = vec![
        f64_column("gated_share", curve.iter().map(|p| p.gated_share).collect()),
        f64_column(
            "caught_share",
            curve.iter().map(|p| p.caught_share).collect(),
        ),
    ];
    DataFrame::new(curve.len(), columns).map_err(|e| table_error("gating", e))
}

/// Risk by AI involvement x permission level x review status: `ai_involvement`,
/// `permission_level`, `review_status`, `changes`, `positives`, `mean_risk`,
/// `observed_rate`. No rows for a config without those columns.
pub fn segments_table(segs: &[Segment]) -> Result<DataFrame> {
    let columns = vec![
        str_column(
            "ai_involvement",
            segs.iter().map(|s| s.ai_involvement.as_str()),
        ),
        str_column(
            "permission_level",
            segs.iter().map(|s| s.permission_level.as_str()),
        ),
        str_column(
            "review_status",
            segs.iter().map(|s| s.review_status.as_str()),
        ),
        Int64Chunked::from_iter_values("changes".into(), segs.iter().map(|s| s.changes as i64))
            .into_column(),
        Int64Chunked::from_iter_values("positives".into(), segs.iter().map(|s| s.positives as i64))
            .into_column(),
        f64_column("mean_risk", segs.iter().map(|s| s.mean_risk).collect()),
        f64_column(
            "observed_rate",
            segs.iter()
                .map(|s| s.positives as f64 / s.changes as f64)
                .collect(),
        ),
    ];
    DataFrame::new(segs.len(), columns).map_err(|e| table_error("segments", e))
}

/// Writes one table atomically. Parquet uses LZ4: several times faster to write than
/// the default zstd at a modest size cost, which keeps a million-change export fast.
/// CSV writes timestamps as RFC 3339 in UTC with a `Z`, so readers see the time zone.
pub fn write_export_table(path: &Path, df: &mut DataFrame, format: ExportFormat) -> Result<()> {
    stage_export_table(path, df, format)?.commit()
}

/// Exports are compressed, unlike `score`'s Parquet: they are kept and shared.
const EXPORT_COMPRESSION: ParquetCompression = ParquetCompression::Lz4Raw;

/// Rows of the main table built and written at a time: a large export holds one part of
/// the table besides the scored history, not all of it (a 1M-change export in Parquet
/// peaked at 2.75 GB written whole, 1.66 GB in parts; README, "Speed of the export").
pub const EXPORT_PART_ROWS: usize = 100_000;

/// What an export that CSV cannot hold should be written as instead.
const EXPORT_INSTEAD_OF_CSV: &str = "export with --format parquet or --format arrow instead";

/// [`write_export_table`]'s file, staged but not yet in place.
fn stage_export_table(path: &Path, df: &mut DataFrame, format: ExportFormat) -> Result<Staged> {
    if format == ExportFormat::Csv {
        let file = path.display().to_string();
        prepare_text_output(df, true, &file, Some(EXPORT_INSTEAD_OF_CSV))?;
    }
    match format {
        ExportFormat::Parquet => stage(path, |w| {
            ParquetWriter::new(w)
                .with_compression(EXPORT_COMPRESSION)
                .finish(df)
                .map(|_| ())
                .map_err(|e| {
                    Error::Data(format!("{}: cannot write as Parquet: {e}", path.display()))
                })
        }),
        // The file's extension names the format, as for every other table written.
        ExportFormat::Csv | ExportFormat::Arrow => stage_table(path, df),
    }
}

/// Stages the main table ([`changes_table`]) at `path`, built and written `part_rows`
/// rows at a time in Parquet and CSV (the same table as written whole; Parquet gets a
/// row group per part). Arrow IPC holds the whole table, its parts stacked as record
/// batches: polars' part-by-part Arrow writer needs the arrow crate's field
/// descriptions, which changerisk does not depend on. The first part is built before
/// anything is written, so a column the format cannot hold stops the export there.
pub fn stage_changes_table(
    model: &Model,
    history: &ScoredHistory,
    path: &Path,
    format: ExportFormat,
    part_rows: usize,
) -> Result<Staged> {
    let n = history.len();
    let part_rows = part_rows.max(1);
    if n <= part_rows {
        let mut df = changes_table(model, history, 0..n)?;
        return stage_export_table(path, &mut df, format);
    }
    let file = path.display().to_string();
    let failed = |e: PolarsError| Error::Data(format!("{file}: cannot write: {e}"));
    // Each part as written: chunks aligned (a pass-through column's slice may not be),
    // CSV cells prepared as `stage_table` prepares them.
    let part = |start: usize| -> Result<DataFrame> {
        let mut df = changes_table(model, history, start..(start + part_rows).min(n))?;
        df.align_chunks_par();
        if format == ExportFormat::Csv {
            prepare_text_output(&mut df, true, &file, Some(EXPORT_INSTEAD_OF_CSV))?;
        }
        Ok(df)
    };
    let mut starts = (0..n).step_by(part_rows);
    let first = part(starts.next().unwrap_or(0))?;
    match format {
        ExportFormat::Arrow => {
            let mut df = first;
            for start in starts {
                df.vstack_mut_owned(part(start)?).map_err(failed)?;
            }
            stage_export_table(path, &mut df, format)
        }
        ExportFormat::Parquet => stage(path, |w| {
            let mut writer = ParquetWriter::new(w)
                .with_compression(EXPORT_COMPRESSION)
                .batched(first.schema())
                .map_err(failed)?;
            writer.write_batch(&first).map_err(failed)?;
            drop(first);
            for start in starts {
                writer.write_batch(&part(start)?).map_err(failed)?;
            }
            writer.finish().map(|_| ()).map_err(failed)
        }),
        ExportFormat::Csv => stage(path, |w| {
            let mut writer = CsvWriter::new(w).batched(first.schema()).map_err(failed)?;
            writer.write_batch(&first).map_err(failed)?;
            drop(first);
            for start in starts {
                writer.write_batch(&part(start)?).map_err(failed)?;
            }
            writer.finish().map_err(failed)
        }),
    }
}

/// Writes the whole export into `dir`: every table of [`TABLES`] as
/// `<name>.<extension>` and the notebook, all or none (each is staged before any is put
/// in place). Returns the paths written.
pub fn write_export(
    model: &Model,
    history: &ScoredHistory,
    dir: &Path,
    format: ExportFormat,
) -> Result<Vec<PathBuf>> {
    let path = |name: &str| dir.join(format!("{name}.{}", format.extension()));
    // The side tables (whose metrics sort the history several times) are built while
    // the main table is built and written.
    let (main, side) = rayon::join(
        || -> Result<Staged> {
            stage_changes_table(model, history, &path("changes"), format, EXPORT_PART_ROWS)
        },
        || -> Result<Vec<(&str, DataFrame)>> {
            let risks = history.risks();
            let labels = &history.labels;
            Ok(vec![
                ("coefficients", coefficients_table(model, history)?),
                ("calibration", calibration_table(&risks, labels)?),
                ("metrics", metrics_table(model, &risks, labels)?),
                ("gating", gating_table(&risks, labels)?),
                ("segments", segments_table(&segments(history))?),
            ])
        },
    );
    let mut staged = vec![main?];
    let mut written = vec![path("changes")];
    let side = side?;
    let has_segments = side.last().is_some_and(|(_, df)| df.height() > 0);
    for (name, mut df) in side {
        staged.push(stage_export_table(&path(name), &mut df, format)?);
        written.push(path(name));
    }
    let nb = dir.join(NOTEBOOK);
    let text = notebook::render(format, has_segments);
    staged.push(stage(&nb, |w| {
        use std::io::Write;
        w.write_all(text.as_bytes()).map_err(|e| Error::io(&nb, e))
    })?);
    written.push(nb);
    commit_all(staged)?;
    Ok(written)
}
