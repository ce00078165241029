//! Throughput of the stages of `changerisk score`, over a sweep of history sizes (10k,
//! 100k, 1M changes), each as a criterion group with one benchmark per size:
//!
//! - `read`: polars' eager CSV read of the changes file alone, every cell as text (a
//!   reference floor: changerisk reads CSV files itself);
//! - `load`: reading and validating it (`load::load_changes`);
//! - `load_quoted`: the same with every cell quoted (the quote-aware check, then the
//!   `csv` crate's reader in parallel parts, then the same validation);
//! - `features`: labelling and the point-in-time history columns of every change
//!   (`pipeline::prepare`);
//! - `score`: design matrix, logit, tier, reasons and guardrails of every change
//!   (`commands::score::score_frame`), with a model trained on that history by the code
//!   of `changerisk train`.
//!
//! The data is a seeded synthetic history from `changerisk::generate`, written as the CSV
//! files of the contract and loaded through the library; generating, loading and training
//! happen before any timing starts. `CHANGERISK_BENCH_SIZES=10000,100000` restricts the
//! sweep. benches/README.md has the figures and the comparison with the pandas and
//! scikit-learn baseline (benches/compare.sh).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use changerisk::commands::score::score_frame;
use changerisk::commands::train::{train_from_files, TrainSettings};
use changerisk::commands::Inputs;
use changerisk::config::Config;
use changerisk::frame::Frame;
use changerisk::generate::{generate, write_history, GenerateParams};
use changerisk::label::LabelParams;
use changerisk::load::{load_changes, load_incidents, Changes, Incidents, Read};
use changerisk::model::{LearnerParams, Model};
use changerisk::pipeline::prepare;
use changerisk::policy::Policies;
use changerisk::progress::Progress;
use changerisk::reasons::HistoryGiven;
use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use polars::prelude::{CsvReadOptions, DataFrame, SerReader};

/// From this size on, criterion takes 10 samples instead of 20.
const LARGE: usize = 1_000_000;

/// One history size: its changes file, what the library loads from it, the history
/// columns it builds and a model trained on it.
struct Fixture {
    n: usize,
    changes_csv: PathBuf,
    /// The same file with every cell quoted.
    quoted_csv: PathBuf,
    changes: Changes,
    incidents: Incidents,
    /// Every change's own and history columns.
    prepared: Frame,
    model: Model,
}

fn load(path: &Path) -> Changes {
    load_changes(path, &Config::default(), Read::Unlabelled)
        .expect("load changes")
        .changes
}

/// Labels and history columns of every change, from its own columns.
fn prepare_all(changes: &Changes, incidents: &Incidents, own: Frame) -> Frame {
    let rows: Vec<usize> = (0..changes.len()).collect();
    prepare(changes, incidents, LabelParams::default(), &rows, own).frame
}

fn fixture(n: usize, dir: &Path) -> Fixture {
    let dir = dir.join(n.to_string());
    let history = generate(&GenerateParams {
        changes: n,
        new_changes: 0,
        ..GenerateParams::default()
    });
    let [changes_csv, incidents_csv, _] = write_history(&history, &dir).expect("write history");
    drop(history);
    let changes = load(&changes_csv);
    let quoted_csv = dir.join("changes_quoted.csv");
    quote_every_cell(&changes_csv, &quoted_csv);
    assert_eq!(load(&quoted_csv).len(), changes.len());
    let incidents = load_incidents(&incidents_csv).expect("load incidents");
    let prepared = prepare_all(&changes, &incidents, changes.frame.clone());
    let settings = TrainSettings {
        inputs: Inputs {
            changes: changes_csv.clone(),
            incidents: Some(incidents_csv),
            config: Config::default(),
            incidents_given: true,
            config_file: None,
        },
        model: dir.join("model.json"),
        labelling: LabelParams::default(),
        learner: LearnerParams::default(),
        tiers: [50.0, 90.0, 99.0],
    };
    let model = train_from_files(&settings, &Progress::new(true)).expect("train");
    Fixture {
        n,
        changes_csv,
        quoted_csv,
        changes,
        incidents,
        prepared,
        model,
    }
}

/// Writes `from` (a plain CSV file) with every cell quoted.
fn quote_every_cell(from: &Path, to: &Path) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(from)
        .expect("open changes");
    let mut writer = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .from_path(to)
        .expect("create quoted changes");
    for record in reader.byte_records() {
        writer
            .write_byte_record(&record.expect("read"))
            .expect("write");
    }
    writer.flush().expect("flush");
}

/// polars' eager CSV read, every cell as text.
fn polars_read(path: &Path) -> DataFrame {
    CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|r| r.finish())
        .expect("polars read")
}

/// Criterion settings for one size: fewer samples at 1M rows, so that the whole sweep
/// takes a few minutes.
fn configure(group: &mut BenchmarkGroup<'_, WallTime>, n: usize) {
    group
        .throughput(Throughput::Elements(n as u64))
        .warm_up_time(Duration::from_secs(1));
    if n >= LARGE {
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(10));
    } else {
        group
            .sample_size(20)
            .measurement_time(Duration::from_secs(5));
    }
}

fn pipeline(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let policies = Policies::default_rules();
    let fixtures: Vec<Fixture> = common::sizes()
        .into_iter()
        .map(|n| fixture(n, dir.path()))
        .collect();

    let mut group = c.benchmark_group("read");
    for f in &fixtures {
        configure(&mut group, f.n);
        group.bench_with_input(
            BenchmarkId::from_parameter(f.n),
            &f.changes_csv,
            |b, path| b.iter(|| polars_read(path)),
        );
    }
    group.finish();

    let mut group = c.benchmark_group("load");
    for f in &fixtures {
        configure(&mut group, f.n);
        group.bench_with_input(
            BenchmarkId::from_parameter(f.n),
            &f.changes_csv,
            |b, path| b.iter(|| load(path)),
        );
    }
    group.finish();

    let mut group = c.benchmark_group("load_quoted");
    for f in &fixtures {
        configure(&mut group, f.n);
        group.bench_with_input(
            BenchmarkId::from_parameter(f.n),
            &f.quoted_csv,
            |b, path| b.iter(|| load(path)),
        );
    }
    group.finish();

    let mut group = c.benchmark_group("features");
    for f in &fixtures {
        configure(&mut group, f.n);
        group.bench_with_input(BenchmarkId::from_parameter(f.n), f, |b, f| {
            b.iter_batched(
                || f.changes.frame.clone(),
                |own| prepare_all(&f.changes, &f.incidents, own),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();

    let mut group = c.benchmark_group("score");
    for f in &fixtures {
        configure(&mut group, f.n);
        group.bench_with_input(BenchmarkId::from_parameter(f.n), f, |b, f| {
            b.iter(|| {
                score_frame(
                    &f.model,
                    &f.model.tiers,
                    &policies,
                    &f.prepared,
                    HistoryGiven::ALL,
                )
                .expect("score")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
