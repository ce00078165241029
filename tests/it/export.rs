//! `changerisk export`: every format reads back (polars, Rust) with the values and types
//! the library built, contributions add up to the logit, and the generated notebook
//! runs headlessly in Python, where pandas and polars read the tables without dtype
//! surprises.

use std::fs::File;
use std::path::Path;

use changerisk::analysis::{contribution_column, importance, score_history, ScoredHistory};
use changerisk::commands::Inputs;
use changerisk::config::Config;
use changerisk::export::{
    calibration_table, changes_table, coefficients_table, gating_table, metrics_table,
    segments_table, stage_changes_table, ExportFormat, NOTEBOOK, TABLES,
};
use changerisk::model::{sigmoid, Model};
use changerisk::policy::Policies;
use changerisk::progress::Progress;
use polars::prelude::*;

use crate::util::{python, repo_root, run, shipped_model, tempdir, train_config};

const FORMATS: [ExportFormat; 3] = [
    ExportFormat::Parquet,
    ExportFormat::Arrow,
    ExportFormat::Csv,
];

/// Exports the shipped history with the shipped model into `dir` in `format`.
fn export(dir: &Path, format: ExportFormat) {
    run_export(dir, format).success();
}

/// The run of [`export`], whatever its outcome.
fn run_export(dir: &Path, format: ExportFormat) -> crate::util::Run {
    run(
        &repo_root(),
        [
            "export",
            "--quiet",
            "--output",
            &dir.display().to_string(),
            "--format",
            format.extension(),
        ],
    )
}

/// Reads a table as an analyst would: typed formats as they are, CSV with type
/// inference over every row and date parsing.
fn read(path: &Path, format: ExportFormat) -> DataFrame {
    let file = || File::open(path).expect("the exported table exists");
    match format {
        ExportFormat::Parquet => ParquetReader::new(file()).finish(),
        ExportFormat::Arrow => IpcReader::new(file()).finish(),
        ExportFormat::Csv => CsvReadOptions::default()
            .with_infer_schema_length(None)
            .map_parse_options(|o| o.with_try_parse_dates(true))
            .try_into_reader_with_file_path(Some(path.to_path_buf()))
            .and_then(|r| r.finish())
            .and_then(utc_timestamps),
    }
    .unwrap_or_else(|e| panic!("{} reads back: {e}", path.display()))
}

/// The CSV holds RFC 3339 timestamps ending in `Z`. Python polars reads them as UTC
/// (the notebook test checks that); this crate's polars is built without the
/// `timezones` feature, so its reader leaves them naive, and the test attaches UTC.
fn utc_timestamps(mut df: DataFrame) -> PolarsResult<DataFrame> {
    let Some(column) = df.column("timestamp").ok() else {
        return Ok(df);
    };
    if let DataType::Datetime(unit, None) = column.dtype() {
        let unit = *unit;
        let utc = column
            .datetime()?
            .physical()
            .clone()
            .into_datetime(unit, Some(TimeZone::UTC));
        df.with_column(utc.into_column())?;
    }
    Ok(df)
}

/// The shipped model and the shipped history it scored.
fn shipped_history() -> (Model, ScoredHistory) {
    let model = Model::load(&shipped_model()).unwrap();
    let history = shipped_history_by(&model, true);
    (model, history)
}

/// The shipped history scored by `model`, its feature values kept or not.
fn shipped_history_by(model: &Model, keep_design: bool) -> ScoredHistory {
    let inputs = Inputs {
        changes: repo_root().join("data/changes.csv"),
        incidents: Some(repo_root().join("data/incidents.csv")),
        config: Config::default(),
        incidents_given: true,
        config_file: None,
    };
    score_history(
        model,
        &inputs,
        &Policies::default_rules(),
        &Progress::new(true),
        keep_design,
    )
    .unwrap()
}

/// `report` scores the history without keeping its feature values: importance and
/// contributions come out the same, bit for bit, for a tree model (the shipped blend)
/// and a logistic one (whose contributions are computed from the values).
#[test]
fn a_history_scored_without_its_feature_values_explains_the_same() {
    let tmp = tempdir();
    for name in ["changes.csv", "incidents.csv"] {
        std::fs::copy(repo_root().join("data").join(name), tmp.path().join(name)).unwrap();
    }
    crate::util::train_here(tmp.path(), "logistic.json", &["--learner", "logistic"]).success();
    let logistic = Model::load(&tmp.path().join("logistic.json")).unwrap();
    for model in [Model::load(&shipped_model()).unwrap(), logistic] {
        let (kept, lean) = (
            shipped_history_by(&model, true),
            shipped_history_by(&model, false),
        );
        assert!(lean.design.is_empty() && !kept.design.is_empty());
        assert_eq!(
            importance(&model, &lean).unwrap(),
            importance(&model, &kept).unwrap()
        );
        for j in 0..model.features.len() {
            let all = 0..kept.len();
            let (a, b) = (
                contribution_column(&model, &kept, j, all.clone()).unwrap(),
                contribution_column(&model, &lean, j, all).unwrap(),
            );
            assert_eq!(a, b, "feature {j}");
        }
    }
}

/// The tables the library builds for the shipped history, by name.
fn expected_tables() -> Vec<(&'static str, DataFrame)> {
    let (model, history) = shipped_history();
    let risks = history.risks();
    let segments = changerisk::analysis::segments(&history);
    let tables = vec![
        (
            "changes",
            changes_table(&model, &history, 0..history.len()).unwrap(),
        ),
        (
            "coefficients",
            coefficients_table(&model, &history).unwrap(),
        ),
        (
            "calibration",
            calibration_table(&risks, &history.labels).unwrap(),
        ),
        (
            "metrics",
            metrics_table(&model, &risks, &history.labels).unwrap(),
        ),
        ("gating", gating_table(&risks, &history.labels).unwrap()),
        ("segments", segments_table(&segments).unwrap()),
    ];
    assert_eq!(tables.iter().map(|t| t.0).collect::<Vec<_>>(), TABLES);
    tables
}

/// A large export builds its main table a part at a time: in parts of 7 rows, it is the
/// table written whole (CSV byte for byte, Parquet and Arrow IPC value for value;
/// Parquet with one row group per part).
#[test]
fn the_main_table_written_in_parts_equals_it_written_whole() {
    let (model, history) = shipped_history();
    assert!(history.len() > 7 * 3);
    let tmp = tempdir();
    for format in FORMATS {
        let path = |name: &str| tmp.path().join(format!("{name}.{}", format.extension()));
        for (name, rows) in [("whole", usize::MAX), ("parts", 7)] {
            stage_changes_table(&model, &history, &path(name), format, rows)
                .and_then(|staged| staged.commit())
                .unwrap();
        }
        let (whole, parts) = (path("whole"), path("parts"));
        if format == ExportFormat::Csv {
            assert_eq!(
                std::fs::read(&whole).unwrap(),
                std::fs::read(&parts).unwrap()
            );
            continue;
        }
        let (a, b) = (read(&whole, format), read(&parts, format));
        assert_eq!(b.height(), history.len());
        assert!(a.equals_missing(&b), "{a}\n{b}");
        if format == ExportFormat::Arrow {
            continue;
        }
        let groups = ParquetReader::new(File::open(&parts).unwrap())
            .get_metadata()
            .unwrap()
            .row_groups
            .len();
        assert_eq!(groups, history.len().div_ceil(7));
    }
}

fn f64s(df: &DataFrame, column: &str) -> Vec<f64> {
    df.column(column)
        .unwrap()
        .f64()
        .unwrap_or_else(|_| panic!("{column} is Float64"))
        .into_no_null_iter()
        .collect()
}

#[test]
fn every_format_reads_back_with_the_values_and_types_written() {
    let expected = expected_tables();
    let main = &expected[0].1;
    let schema = main.schema();
    // The typed schema analysts rely on.
    let want: [(&str, DataType); 8] = [
        ("change_id", DataType::String),
        (
            "timestamp",
            DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)),
        ),
        ("ai_involvement", DataType::String),
        ("customer_facing", DataType::Boolean),
        ("lines_changed", DataType::Int64),
        ("label", DataType::Boolean),
        ("risk", DataType::Float64),
        ("tier", DataType::String),
    ];
    for (column, dtype) in want {
        assert_eq!(schema.get(column), Some(&dtype), "{column}");
    }
    let contribs: Vec<String> = main
        .get_column_names()
        .iter()
        .filter(|c| c.starts_with("contrib_"))
        .map(|c| c.to_string())
        .collect();
    assert!(contribs.len() > 10, "one contrib_ column per model feature");

    let tmp = tempdir();
    for format in FORMATS {
        let dir = tmp.path().join(format.extension());
        export(&dir, format);
        assert!(dir.join(NOTEBOOK).is_file());
        for (name, want) in &expected {
            let path = dir.join(format!("{name}.{}", format.extension()));
            let got = read(&path, format);
            assert_eq!(
                got.schema(),
                want.schema(),
                "{}: types differ from what was written",
                path.display()
            );
            assert!(
                got.equals_missing(want),
                "{}: values differ from what was written",
                path.display()
            );
        }
        // Contributions and the intercept add up to the logit; the risk is its sigmoid.
        let got = read(&dir.join(format!("changes.{}", format.extension())), format);
        let logit = f64s(&got, "logit");
        let intercept = f64s(&got, "intercept");
        let risk = f64s(&got, "risk");
        let columns: Vec<Vec<f64>> = contribs.iter().map(|c| f64s(&got, c)).collect();
        for i in 0..got.height() {
            let sum = intercept[i] + columns.iter().map(|c| c[i]).sum::<f64>();
            assert!(
                (sum - logit[i]).abs() <= 1e-9,
                "row {i}: contributions sum to {sum}, logit {}",
                logit[i]
            );
            assert!((sigmoid(logit[i]) - risk[i]).abs() <= 1e-12);
        }
        // A change is labelled exactly when its label was derived from an incident.
        let labels = got.column("label").unwrap().bool().unwrap().clone();
        let sources = got.column("label_source").unwrap().str().unwrap().clone();
        for (label, source) in labels.iter().zip(sources.iter()) {
            let (label, source) = (label.unwrap(), source.unwrap());
            assert!(["explicit", "attributed", "none"].contains(&source));
            assert_eq!(label, source != "none");
        }
    }
}

/// Executes the notebook of every export directory given (failing on any cell error)
/// and checks the dtypes pandas and polars read.
const PYTHON_CHECK: &str = r#"
import sys
from pathlib import Path

import nbformat
import pandas as pd
import polars as pl
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from nbclient import NotebookClient

try:
    KernelSpecManager().get_kernel_spec("python3")
except NoSuchKernel:
    import subprocess
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3"], check=True)

BOOLS = ["label", "customer_facing", "rollback_plan", "weekend", "off_hours"]
STRINGS = ["change_id", "ai_involvement", "permission_level", "review_status", "tier", "policy", "reasons", "label_source"]
INTS = ["lines_changed", "files_changed", "reviewer_count"]

for arg in sys.argv[1:]:
    directory = Path(arg)
    nb = nbformat.read(directory / "analysis.ipynb", as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4 and nb.nbformat_minor == 5
    assert nb.metadata.kernelspec.name == "python3"
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(directory)}}).execute()
    images = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {}))
    assert images >= 4, f"{directory}: expected the segment, calibration, gating and importance plots, got {images} images"

    ext = next(directory.glob("changes.*")).suffix
    path = directory / f"changes{ext}"
    if ext == ".parquet":
        frames = {"pandas": pd.read_parquet(path), "polars": pl.read_parquet(path).to_pandas()}
    elif ext == ".arrow":
        frames = {"pandas": pd.read_feather(path), "polars": pl.read_ipc(path).to_pandas()}
    else:
        frames = {"polars": pl.read_csv(path, try_parse_dates=True).to_pandas()}
    if ext != ".csv":
        native = pl.read_parquet(path) if ext == ".parquet" else pl.read_ipc(path)
        assert native.schema["timestamp"] == pl.Datetime("us", "UTC"), native.schema["timestamp"]
    else:
        native = pl.read_csv(path, try_parse_dates=True)
        assert native.schema["timestamp"] == pl.Datetime("us", "UTC"), native.schema["timestamp"]
    for column in BOOLS:
        assert native.schema[column] == pl.Boolean, (column, native.schema[column])
    for column in STRINGS:
        assert native.schema[column] == pl.String, (column, native.schema[column])
    for reader, df in frames.items():
        where = f"{path} via {reader}"
        assert pd.api.types.is_datetime64_any_dtype(df["timestamp"]), (where, df["timestamp"].dtype)
        assert str(df["timestamp"].dt.tz) == "UTC", (where, df["timestamp"].dtype)
        for column in BOOLS:
            assert df[column].dtype == bool, (where, column, df[column].dtype)
        for column in INTS:
            assert df[column].dtype == "int64", (where, column, df[column].dtype)
        for column in STRINGS:
            assert pd.api.types.is_string_dtype(df[column]), (where, column, df[column].dtype)
        assert df["risk"].dtype == "float64", (where, df["risk"].dtype)
        assert df["risk"].between(0, 1).all()
    print(f"{directory}: notebook ran, {images} plots; dtypes checked")
"#;

#[test]
fn notebook_runs_headlessly_and_python_reads_the_types() {
    let python = python();
    let tmp = tempdir();
    let mut dirs = Vec::new();
    for format in FORMATS {
        let dir = tmp.path().join(format.extension());
        export(&dir, format);
        dirs.push(dir.display().to_string());
    }
    let script = tmp.path().join("check.py");
    std::fs::write(&script, PYTHON_CHECK).unwrap();
    let output = std::process::Command::new(&python)
        .arg(&script)
        .args(&dirs)
        .output()
        .expect("the Python interpreter starts");
    assert!(
        output.status.success(),
        "the notebook or the dtype checks failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_label_column_config_exports_with_the_models_config() {
    let dir = tempdir();
    let mut text = String::from("row id,when,défaut,size ,team,note\n");
    for i in 0..300 {
        let size = if i % 17 == 0 {
            String::new()
        } else {
            ((i * 37) % 500).to_string()
        };
        let bad = u8::from((i * 37) % 500 > 300 || i % 7 == 0);
        let team = if i % 11 == 0 {
            ""
        } else {
            ["core", "web", "data"][i % 3]
        };
        text.push_str(&format!(
            "c{i},{},{bad},{size},{team},x{i}\n",
            1_600_000_000 + i * 3600
        ));
    }
    std::fs::write(dir.path().join("history.csv"), text).unwrap();
    std::fs::write(
        dir.path().join("own.toml"),
        "[columns]\nid = \"row id\"\ntimestamp = \"when\"\ntimestamp_format = \"unix\"\nlabel = \"défaut\"\n\n[features]\nnumeric = [\"size \"]\ncategorical = [\"team\"]\n",
    )
    .unwrap();
    train_config(dir.path(), "own.toml", "history.csv", &[]).success();
    // No --config: the model's own config reads the file, and takes no incidents file.
    let export = [
        "export",
        "--model",
        "m.json",
        "--changes",
        "history.csv",
        "--output",
        "out",
    ];
    run(dir.path(), export).success();
    let changes = read(
        &dir.path().join("out/changes.parquet"),
        ExportFormat::Parquet,
    );
    assert_eq!(changes.height(), 300);
    let size = changes.column("size ").unwrap();
    assert_eq!(size.dtype(), &DataType::Float64);
    assert_eq!(size.null_count(), 18, "missing sizes are null");
    assert_eq!(changes.column("team").unwrap().dtype(), &DataType::String);
    assert_eq!(
        changes.column("team").unwrap().null_count(),
        28,
        "empty teams are null, not the model's `(missing)` level"
    );
    assert_eq!(changes.column("note").unwrap().dtype(), &DataType::String);
    let sources = changes
        .column("label_source")
        .unwrap()
        .str()
        .unwrap()
        .clone();
    assert!(sources
        .iter()
        .all(|s| matches!(s, Some("explicit") | Some("none"))));
    let segments = read(
        &dir.path().join("out/segments.parquet"),
        ExportFormat::Parquet,
    );
    assert_eq!(
        segments.height(),
        0,
        "no segments without the built-in columns"
    );
    // No service or author column: no history columns counted over one shared group.
    for history in [
        "service_prior_changes",
        "days_since_service_incident",
        "author_prior_changes",
    ] {
        assert!(changes.column(history).is_err(), "{history} exported");
    }
    // An empty calibration bin has no mean, and each feature's direction is its own.
    let calibration = read(
        &dir.path().join("out/calibration.parquet"),
        ExportFormat::Parquet,
    );
    let counts: Vec<i64> = calibration
        .column("count")
        .unwrap()
        .i64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    let empty = counts.iter().filter(|&&c| c == 0).count();
    assert!(empty > 0, "{counts:?}");
    for column in ["mean_predicted", "observed_rate"] {
        assert_eq!(
            calibration.column(column).unwrap().null_count(),
            empty,
            "{column}"
        );
    }
    let coefficients = read(
        &dir.path().join("out/coefficients.parquet"),
        ExportFormat::Parquet,
    );
    assert_eq!(
        coefficients.column("raises_risk").unwrap().dtype(),
        &DataType::Boolean
    );
}

#[test]
fn an_output_that_is_a_file_is_bad_usage() {
    let dir = tempdir();
    std::fs::write(dir.path().join("taken"), "x").unwrap();
    run(
        &repo_root(),
        [
            "export",
            "--output",
            &dir.path().join("taken").display().to_string(),
        ],
    )
    .bad_input(&["is not a directory", "a directory of tables"]);
    // A device, too (the export cannot go into /dev/null).
    run(&repo_root(), ["export", "--output", "/dev/null"])
        .bad_input(&["/dev/null is not a directory"]);
}

/// The export is all or nothing: when one of its files cannot be written (here a
/// directory stands where the notebook would go), none of the tables appears, and an
/// earlier export's files stay as they were.
#[test]
fn a_failed_export_writes_none_of_its_files() {
    let tmp = tempdir();
    let dir = tmp.path().join("out");
    std::fs::create_dir_all(dir.join("analysis.ipynb")).expect("created");
    std::fs::write(dir.join("metrics.csv"), "earlier\n").expect("written");
    run_export(&dir, ExportFormat::Csv).bad_input(&["analysis.ipynb"]);
    assert_eq!(
        crate::util::file_names(&dir),
        ["analysis.ipynb", "metrics.csv"]
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("metrics.csv")).expect("kept"),
        "earlier\n"
    );
}

/// A pass-through column CSV cannot hold (a list) stops a CSV export with the export's
/// own advice (it has no JSON Lines format), before the output directory exists.
#[test]
fn a_column_csv_cannot_hold_is_refused_with_the_exports_advice() {
    let tmp = tempdir();
    let out = tmp.path().join("out");
    let changes = repo_root().join("tests/fixtures/typed/passthrough_nested.parquet");
    run(
        &repo_root(),
        [
            "export",
            "--quiet",
            "--changes",
            changes.to_str().unwrap(),
            "--incidents",
            "data/incidents.csv",
            "--format",
            "csv",
            "--output",
            out.to_str().unwrap(),
        ],
    )
    .bad_input(&[
        "changes.csv",
        "column 'xs'",
        "export with --format parquet or --format arrow instead",
    ]);
    assert!(!out.exists());
}
