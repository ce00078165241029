//! Throughput of the pipeline stages that `changerisk score` runs, over a sweep of
//! history sizes (10k, 100k, 1M changes): loading and validating the changes CSV,
//! building the point-in-time features of every change (`pipeline::prepare`), and
//! scoring them (`commands::score::score_rows`: logit, tier, reasons and guardrails).
//!
//! The data is a seeded synthetic history from `changerisk::generate`, written as the
//! CSV files of the contract and read back through `changerisk::load`, all before any
//! timing starts. `CHANGERISK_BENCH_SIZES=10000,100000` restricts the sweep.
//! See benches/README.md for how the figures compare with the pandas/scikit-learn
//! baseline (benches/compare.sh).

use std::path::{Path, PathBuf};
use std::time::Duration;

use changerisk::commands::score::score_rows;
use changerisk::commands::train::{train_from_files, TrainSettings};
use changerisk::features::builtin_features;
use changerisk::generate::{generate, write_history, GenerateParams};
use changerisk::label::LabelParams;
use changerisk::load::{load_changes, load_incidents, Changes, Incidents};
use changerisk::model::{LearnerParams, Model};
use changerisk::pipeline::{prepare, Prepared};
use changerisk::policy::Policies;
use changerisk::progress::Progress;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// History sizes of the sweep.
const SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];
/// The model is trained once, on the history of this size: scoring costs the same
/// whatever the coefficients are, and training on 1M rows takes minutes.
const TRAIN_SIZE: usize = 10_000;
/// From this size on, criterion takes 10 samples instead of 100.
const LARGE: usize = 1_000_000;

/// One history size: its files and what the library loads and builds from them.
struct Fixture {
    n: usize,
    changes_csv: PathBuf,
    changes: Changes,
    incidents: Incidents,
    prepared: Prepared,
}

fn sizes() -> Vec<usize> {
    match std::env::var("CHANGERISK_BENCH_SIZES") {
        Ok(list) => list
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("CHANGERISK_BENCH_SIZES: '{s}' is not a size"))
            })
            .collect(),
        Err(_) => SIZES.to_vec(),
    }
}

/// Writes the seeded history of `n` changes into `dir`; returns the changes and incidents paths.
fn write_data(n: usize, dir: &Path) -> [PathBuf; 2] {
    let history = generate(&GenerateParams {
        changes: n,
        new_changes: 0,
        ..GenerateParams::default()
    });
    let [changes, incidents, _] = write_history(&history, dir).expect("write the history");
    [changes, incidents]
}

/// Every row's features in time order, as `train` and `evaluate` build them.
fn prepare_all(changes: &Changes, incidents: &Incidents) -> Prepared {
    prepare(
        changes,
        incidents,
        LabelParams::default(),
        &builtin_features(),
        &changes.time_order(),
    )
    .expect("prepare")
}

fn fixture(n: usize, dir: &Path) -> Fixture {
    let [changes_csv, incidents_csv] = write_data(n, &dir.join(n.to_string()));
    let changes = load_changes(&changes_csv).expect("load changes").changes;
    let incidents = load_incidents(&incidents_csv).expect("load incidents");
    let prepared = prepare_all(&changes, &incidents);
    Fixture {
        n,
        changes_csv,
        changes,
        incidents,
        prepared,
    }
}

/// The model, trained once by the same code path as `changerisk train`.
fn train_model(dir: &Path) -> Model {
    let [changes, incidents] = write_data(TRAIN_SIZE, &dir.join("train"));
    let settings = TrainSettings {
        changes,
        incidents,
        model: dir.join("model.json"),
        labelling: LabelParams::default(),
        learner: LearnerParams::default(),
        tiers: [50.0, 90.0, 99.0],
    };
    train_from_files(&settings, &Progress::new(true)).expect("train")
}

/// Criterion settings for one size: fewer, shorter samples at 1M rows.
fn configure(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    n: usize,
) {
    group.throughput(Throughput::Elements(n as u64));
    if n >= LARGE {
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(10));
    } else {
        group
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(5));
    }
}

fn pipeline(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = train_model(dir.path());
    let policies = Policies::default_rules();
    let fixtures: Vec<Fixture> = sizes()
        .into_iter()
        .map(|n| fixture(n, dir.path()))
        .collect();

    let mut group = c.benchmark_group("load");
    for f in &fixtures {
        configure(&mut group, f.n);
        group.bench_with_input(
            BenchmarkId::from_parameter(f.n),
            &f.changes_csv,
            |b, path| b.iter(|| load_changes(path).expect("load changes")),
        );
    }
    group.finish();

    let mut group = c.benchmark_group("features");
    for f in &fixtures {
        configure(&mut group, f.n);
        group.bench_with_input(BenchmarkId::from_parameter(f.n), f, |b, f| {
            b.iter(|| prepare_all(&f.changes, &f.incidents))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("score");
    for f in &fixtures {
        configure(&mut group, f.n);
        group.bench_with_input(BenchmarkId::from_parameter(f.n), &f.prepared, |b, p| {
            b.iter(|| score_rows(&model, &model.tiers, &policies, &p.frame, &p.x))
        });
    }
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
