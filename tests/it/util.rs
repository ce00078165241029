//! The shared harness: runs the `changerisk` binary, writes small changes and incidents
//! tables from row structs (so a test can spoil exactly one cell), generates seeded
//! histories, and reads tables back.

use std::fs::File;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use polars::prelude::*;

/// The repository root, where the shipped `data/` and `models/` live.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped model, `models/model.json`.
pub fn shipped_model() -> PathBuf {
    repo_root().join("models").join("model.json")
}

/// A fresh temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// The binary, run from `dir`.
pub fn changerisk(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("changerisk").expect("the changerisk binary is built");
    cmd.current_dir(dir).env("NO_COLOR", "1");
    cmd
}

/// What a finished run left behind.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `changerisk args...` from `dir`.
pub fn run<S: AsRef<std::ffi::OsStr>>(dir: &Path, args: impl IntoIterator<Item = S>) -> Run {
    let mut cmd = changerisk(dir);
    cmd.args(args);
    run_command(cmd)
}

/// Runs a prepared command and keeps its exit code and (lossy) output.
pub fn run_command(mut cmd: Command) -> Run {
    let output = cmd.output().expect("the binary starts");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

impl Run {
    /// Asserts exit code 0 and returns the run.
    pub fn success(self) -> Run {
        assert_eq!(
            self.code,
            Some(0),
            "expected success; stderr:\n{}",
            self.stderr
        );
        self
    }

    /// Asserts that the run failed as bad input: exit code 2, no panic, and every
    /// `needle` somewhere in stderr.
    pub fn bad_input(self, needles: &[&str]) -> Run {
        self.no_panic();
        assert_eq!(
            self.code,
            Some(2),
            "expected exit code 2 (bad input); stderr:\n{}",
            self.stderr
        );
        for needle in needles {
            assert!(
                self.stderr.contains(needle),
                "stderr does not mention {needle:?}:\n{}",
                self.stderr
            );
        }
        self
    }

    /// Asserts that stderr quotes the cell `value` (with `"` or `'`), as error messages
    /// show a rejected cell.
    pub fn quotes(self, value: &str) -> Run {
        let (double, single) = (format!("\"{value}\""), format!("'{value}'"));
        assert!(
            self.stderr.contains(&double) || self.stderr.contains(&single),
            "stderr does not quote the value {value:?}:\n{}",
            self.stderr
        );
        self
    }

    /// Asserts that the process did not panic (exit code 101 or a panic message).
    pub fn no_panic(&self) {
        assert_ne!(self.code, Some(101), "panicked; stderr:\n{}", self.stderr);
        assert!(
            !self.stderr.contains("panicked"),
            "panicked; stderr:\n{}",
            self.stderr
        );
    }
}

/// A timestamp `hours` after 2025-01-06T00:00:00Z (a Monday), in RFC 3339.
pub fn at_hours(hours: f64) -> String {
    const MONDAY_2025_01_06: i64 = 1_736_121_600; // date -d 2025-01-06T00:00:00Z +%s
    let secs = MONDAY_2025_01_06 + (hours * 3600.0).round() as i64;
    chrono::DateTime::from_timestamp(secs, 0)
        .expect("a representable time")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// One row of a table as (column, cell) pairs, in column order.
pub type Cells = Vec<(&'static str, String)>;

/// A row of a changes table, every cell as text so that a test can write any value.
#[derive(Debug, Clone)]
pub struct ChangeRow {
    pub change_id: String,
    pub timestamp: String,
    pub service: String,
    pub author: String,
    pub ai_involvement: String,
    pub ai_tool: String,
    pub permission_level: String,
    pub review_status: String,
    pub reviewer_count: String,
    pub change_type: String,
    pub services_affected: String,
    pub regions_affected: String,
    pub customer_facing: String,
    pub lines_changed: String,
    pub files_changed: String,
    pub rollback_plan: String,
}

impl ChangeRow {
    /// An unremarkable reviewed code change by a person.
    pub fn new(change_id: &str, timestamp: &str) -> ChangeRow {
        ChangeRow {
            change_id: change_id.into(),
            timestamp: timestamp.into(),
            service: "checkout".into(),
            author: "ana".into(),
            ai_involvement: "none".into(),
            ai_tool: String::new(),
            permission_level: "standard".into(),
            review_status: "approved".into(),
            reviewer_count: "1".into(),
            change_type: "code".into(),
            services_affected: "1".into(),
            regions_affected: "1".into(),
            customer_facing: "false".into(),
            lines_changed: "40".into(),
            files_changed: "3".into(),
            rollback_plan: "true".into(),
        }
    }

    /// The same change on another service by another author.
    pub fn on(mut self, service: &str, author: &str) -> ChangeRow {
        self.service = service.into();
        self.author = author.into();
        self
    }

    /// The motivating outage pattern: an AI agent with admin permission, review bypassed,
    /// wide blast radius.
    pub fn risky(mut self) -> ChangeRow {
        self.ai_involvement = "agent".into();
        self.ai_tool = "kiro".into();
        self.permission_level = "admin".into();
        self.review_status = "bypassed".into();
        self.reviewer_count = "0".into();
        self.change_type = "infra".into();
        self.services_affected = "7".into();
        self.regions_affected = "3".into();
        self.customer_facing = "true".into();
        self.rollback_plan = "false".into();
        self
    }

    /// The row's cells in SPEC column order.
    pub fn cells(&self) -> Cells {
        vec![
            ("change_id", self.change_id.clone()),
            ("timestamp", self.timestamp.clone()),
            ("service", self.service.clone()),
            ("author", self.author.clone()),
            ("ai_involvement", self.ai_involvement.clone()),
            ("ai_tool", self.ai_tool.clone()),
            ("permission_level", self.permission_level.clone()),
            ("review_status", self.review_status.clone()),
            ("reviewer_count", self.reviewer_count.clone()),
            ("change_type", self.change_type.clone()),
            ("services_affected", self.services_affected.clone()),
            ("regions_affected", self.regions_affected.clone()),
            ("customer_facing", self.customer_facing.clone()),
            ("lines_changed", self.lines_changed.clone()),
            ("files_changed", self.files_changed.clone()),
            ("rollback_plan", self.rollback_plan.clone()),
        ]
    }
}

/// A row of an incidents table.
#[derive(Debug, Clone)]
pub struct IncidentRow {
    pub incident_id: String,
    pub start_time: String,
    pub service: String,
    pub severity: String,
    pub caused_by_change: String,
    pub duration_minutes: String,
}

impl IncidentRow {
    /// A severity-2 incident on `service` naming no cause.
    pub fn new(incident_id: &str, start_time: &str, service: &str) -> IncidentRow {
        IncidentRow {
            incident_id: incident_id.into(),
            start_time: start_time.into(),
            service: service.into(),
            severity: "2".into(),
            caused_by_change: String::new(),
            duration_minutes: "45".into(),
        }
    }

    /// The same incident naming `causes` (`;`-separated change ids).
    pub fn caused_by(mut self, causes: &str) -> IncidentRow {
        self.caused_by_change = causes.into();
        self
    }

    /// The row's cells in SPEC column order.
    pub fn cells(&self) -> Cells {
        vec![
            ("incident_id", self.incident_id.clone()),
            ("start_time", self.start_time.clone()),
            ("service", self.service.clone()),
            ("severity", self.severity.clone()),
            ("caused_by_change", self.caused_by_change.clone()),
            ("duration_minutes", self.duration_minutes.clone()),
        ]
    }
}

/// Writes rows of cells as CSV; the first row's columns are the header.
pub fn write_cells(path: &Path, rows: &[Cells]) {
    let header: Vec<&str> = rows
        .first()
        .expect("at least one row")
        .iter()
        .map(|c| c.0)
        .collect();
    let records: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| c.1.clone()).collect())
        .collect();
    write_records(path, &header, &records);
}

/// Writes changes as CSV.
pub fn write_changes(path: &Path, rows: &[ChangeRow]) {
    write_cells(path, &rows.iter().map(ChangeRow::cells).collect::<Vec<_>>());
}

/// Writes incidents as CSV (a header-only file when `rows` is empty).
pub fn write_incidents(path: &Path, rows: &[IncidentRow]) {
    if rows.is_empty() {
        let header: Vec<&str> = IncidentRow::new("", "", "")
            .cells()
            .iter()
            .map(|c| c.0)
            .collect();
        write_records(path, &header, &[]);
    } else {
        write_cells(
            path,
            &rows.iter().map(IncidentRow::cells).collect::<Vec<_>>(),
        );
    }
}

/// Six valid changes over two days on two services: a small input that loads.
pub fn small_changes() -> Vec<ChangeRow> {
    vec![
        ChangeRow::new("c1", &at_hours(9.0)),
        ChangeRow::new("c2", &at_hours(10.0)).on("payments", "bo"),
        ChangeRow::new("c3", &at_hours(11.0)).risky(),
        ChangeRow::new("c4", &at_hours(33.0)).on("payments", "bo"),
        ChangeRow::new("c5", &at_hours(34.0)),
        ChangeRow::new("c6", &at_hours(35.0))
            .on("payments", "cy")
            .risky(),
    ]
}

/// A header and records, as read from or written to a CSV file.
#[derive(Clone)]
pub struct Records {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Records {
    /// The index of `column`.
    pub fn col(&self, column: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == column)
            .unwrap_or_else(|| panic!("no column {column:?} in {:?}", self.header))
    }

    /// Every value of `column`.
    pub fn column(&self, column: &str) -> Vec<String> {
        let k = self.col(column);
        self.rows.iter().map(|r| r[k].clone()).collect()
    }

    /// The rows for which `keep` holds.
    pub fn filtered(&self, keep: impl Fn(&[String]) -> bool) -> Records {
        Records {
            header: self.header.clone(),
            rows: self.rows.iter().filter(|r| keep(r)).cloned().collect(),
        }
    }

    /// Writes the records as CSV.
    pub fn write(&self, path: &Path) {
        let header: Vec<&str> = self.header.iter().map(String::as_str).collect();
        write_records(path, &header, &self.rows);
    }
}

/// Reads a CSV file as text records.
pub fn read_records(path: &Path) -> Records {
    let mut reader = csv::Reader::from_path(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let header = reader
        .headers()
        .expect("a header")
        .iter()
        .map(String::from)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.expect("a CSV record").iter().map(String::from).collect())
        .collect();
    Records { header, rows }
}

/// Writes a header and records as CSV.
pub fn write_records(path: &Path, header: &[&str], rows: &[Vec<String>]) {
    let mut writer = csv::Writer::from_path(path)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    writer.write_record(header).expect("header written");
    for row in rows {
        writer.write_record(row).expect("row written");
    }
    writer.flush().expect("flushed");
}

/// Trains in `dir` on its `changes.csv` and `incidents.csv` with `flags`, writing `model`.
pub fn train_here(dir: &Path, model: &str, flags: &[&str]) -> Run {
    let mut args = vec![
        "train",
        "--changes",
        "changes.csv",
        "--incidents",
        "incidents.csv",
        "--model",
        model,
    ];
    args.extend_from_slice(flags);
    run(dir, args)
}

/// Trains in `dir` with the feature config `config` on `changes` and `flags`, writing
/// `m.json`.
pub fn train_config(dir: &Path, config: &str, changes: &str, flags: &[&str]) -> Run {
    let mut args = vec![
        "train",
        "--config",
        config,
        "--changes",
        changes,
        "--model",
        "m.json",
    ];
    args.extend_from_slice(flags);
    run(dir, args)
}

/// The three files `changerisk generate` writes.
pub struct History {
    pub changes: PathBuf,
    pub incidents: PathBuf,
    pub new_changes: PathBuf,
}

/// Generates a small seeded history (3000 changes, 200 new ones) into `dir`.
pub fn generate(dir: &Path, seed: u64) -> History {
    run(
        dir,
        [
            "generate",
            "--changes",
            "3000",
            "--new-changes",
            "200",
            "--seed",
            &seed.to_string(),
            "--output-dir",
            &dir.display().to_string(),
        ],
    )
    .success();
    History {
        changes: dir.join("changes.csv"),
        incidents: dir.join("incidents.csv"),
        new_changes: dir.join("new_changes.csv"),
    }
}

/// Scores `changes` with the shipped model, with `history` (incidents, past changes) or
/// without any (`--no-history`), writing `output`.
pub fn score(dir: &Path, changes: &Path, history: Option<(&Path, &Path)>, output: &Path) -> Run {
    let mut args: Vec<String> = vec![
        "score".into(),
        "--model".into(),
        shipped_model().display().to_string(),
        "--changes".into(),
        changes.display().to_string(),
        "--output".into(),
        output.display().to_string(),
    ];
    match history {
        Some((incidents, past)) => args.extend([
            "--incidents".into(),
            incidents.display().to_string(),
            "--history".into(),
            past.display().to_string(),
        ]),
        None => args.push("--no-history".into()),
    }
    run(dir, args)
}

/// The contract columns of a scored CSV file: change_id, risk, tier, reasons, policy.
pub fn scored(path: &Path) -> Vec<[String; 5]> {
    let records = read_records(path);
    assert_eq!(
        records.header[..5],
        ["change_id", "risk", "tier", "reasons", "policy"],
        "the scored file starts with the contract's columns"
    );
    records
        .rows
        .iter()
        .map(|r| [0, 1, 2, 3, 4].map(|k| r[k].clone()))
        .collect()
}

/// Reads a table with polars, in the format its extension names.
pub fn read_table(path: &Path) -> DataFrame {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let file = || File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let read = match ext {
        "csv" => CsvReadOptions::default()
            .with_has_header(true)
            .try_into_reader_with_file_path(Some(path.to_path_buf()))
            .and_then(|r| r.finish()),
        "parquet" => ParquetReader::new(file()).finish(),
        "arrow" | "ipc" | "feather" => IpcReader::new(file()).finish(),
        "jsonl" | "ndjson" => JsonReader::new(file())
            .with_json_format(JsonFormat::JsonLines)
            .finish(),
        other => panic!("no reader for .{other}"),
    };
    read.unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Writes a table with polars, in the format its extension names.
pub fn write_table(path: &Path, df: &mut DataFrame) {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let file = File::create(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let written = match ext {
        "csv" => CsvWriter::new(file).finish(df),
        "parquet" => ParquetWriter::new(file).finish(df).map(|_| ()),
        "arrow" | "ipc" | "feather" => IpcWriter::new(file).finish(df),
        "jsonl" | "ndjson" => JsonWriter::new(file)
            .with_json_format(JsonFormat::JsonLines)
            .finish(df),
        other => panic!("no writer for .{other}"),
    };
    written.unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// The string values of a column (nulls as empty strings).
pub fn strings(df: &DataFrame, column: &str) -> Vec<String> {
    let col = df
        .column(column)
        .unwrap_or_else(|e| panic!("column {column}: {e}"))
        .cast(&DataType::String)
        .expect("castable to text");
    col.str()
        .expect("text")
        .iter()
        .map(|v| v.unwrap_or("").to_string())
        .collect()
}

/// The f64 values of a column.
pub fn floats(df: &DataFrame, column: &str) -> Vec<f64> {
    let col = df
        .column(column)
        .unwrap_or_else(|e| panic!("column {column}: {e}"))
        .cast(&DataType::Float64)
        .expect("castable to f64");
    col.f64()
        .expect("f64")
        .iter()
        .map(|v| v.expect("no missing risk"))
        .collect()
}

/// The file names in `dir`, sorted.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// A program the tests need beyond cargo, from the environment variable `var` that
/// scripts/test.sh sets (`setup`: what it does for it). Missing is a failure, never a
/// skip: the acceptance check must run.
pub fn required_program(var: &str, setup: &str) -> PathBuf {
    let path = std::env::var_os(var).unwrap_or_else(|| {
        panic!("{var} is not set: run the tests with scripts/test.sh, which {setup}")
    });
    let path = PathBuf::from(path);
    assert!(path.exists(), "{var}={} does not exist", path.display());
    path
}

/// The test venv's Python (the notebook stack, scikit-learn, DuckDB).
pub fn python() -> PathBuf {
    required_program(
        "CHANGERISK_PYTHON",
        "sets up a venv with polars, pyarrow, pandas, matplotlib, nbclient, ipykernel and duckdb",
    )
}
