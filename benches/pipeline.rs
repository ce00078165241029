//! Throughput of the pipeline stages that `changerisk score` runs, over a sweep of
//! history sizes (10k, 100k, 1M changes): loading and validating the changes CSV,
//! building the features of every change (labels and point-in-time history with
//! `pipeline::prepare`, then `features::design_matrix`), and
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
use changerisk::commands::Inputs;
use changerisk::config::Config;
use changerisk::features::{design_matrix, FeatureDef};
use changerisk::frame::Frame;
use changerisk::generate::{generate, write_history, GenerateParams};
use changerisk::label::LabelParams;
use changerisk::load::{load_changes, load_incidents, Changes, Incidents};
use changerisk::model::{LearnerParams, Model};
use changerisk::pipeline::prepare;
use changerisk::policy::Policies;
use changerisk::progress::Progress;
use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use ndarray::Array2;

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
    /// Every change's frame (own and history columns) and design matrix.
    frame: Frame,
    x: Array2<f64>,
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

fn load(path: &Path) -> Changes {
    load_changes(path, &Config::default(), false)
        .expect("load changes")
        .changes
}

/// Every change's features, built the way `changerisk score` builds them for the
/// changes it scores: labels and point-in-time history, then the design matrix.
fn build_features(
    changes: &Changes,
    incidents: &Incidents,
    features: &[FeatureDef],
) -> (Frame, Array2<f64>) {
    let rows: Vec<usize> = (0..changes.len()).collect();
    let prepared = prepare(changes, incidents, LabelParams::default(), &rows);
    let x = design_matrix(features, &prepared.frame).expect("design matrix");
    (prepared.frame, x)
}

fn fixture(n: usize, dir: &Path, features: &[FeatureDef]) -> Fixture {
    let [changes_csv, incidents_csv] = write_data(n, &dir.join(n.to_string()));
    let changes = load(&changes_csv);
    let incidents = load_incidents(&incidents_csv).expect("load incidents");
    let (frame, x) = build_features(&changes, &incidents, features);
    Fixture {
        n,
        changes_csv,
        changes,
        incidents,
        frame,
        x,
    }
}

/// The model, trained once by the same code path as `changerisk train`.
fn train_model(dir: &Path) -> Model {
    let [changes, incidents] = write_data(TRAIN_SIZE, &dir.join("train"));
    let settings = TrainSettings {
        inputs: Inputs {
            changes,
            incidents: Some(incidents),
            config: Config::default(),
        },
        model: dir.join("model.json"),
        labelling: LabelParams::default(),
        learner: LearnerParams::default(),
        tiers: [50.0, 90.0, 99.0],
    };
    train_from_files(&settings, &Progress::new(true)).expect("train")
}

/// Criterion settings for one size: fewer, shorter samples at 1M rows.
fn configure(group: &mut BenchmarkGroup<'_, WallTime>, n: usize) {
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
    let features = model.feature_defs();
    let fixtures: Vec<Fixture> = sizes()
        .into_iter()
        .map(|n| fixture(n, dir.path(), &features))
        .collect();

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

    let mut group = c.benchmark_group("features");
    for f in &fixtures {
        configure(&mut group, f.n);
        group.bench_with_input(BenchmarkId::from_parameter(f.n), f, |b, f| {
            b.iter(|| build_features(&f.changes, &f.incidents, &features))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("score");
    for f in &fixtures {
        configure(&mut group, f.n);
        group.bench_with_input(BenchmarkId::from_parameter(f.n), f, |b, f| {
            b.iter(|| score_rows(&model, &model.tiers, &policies, &f.frame, &f.x))
        });
    }
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
