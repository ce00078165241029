//! Throughput of writing a `changerisk export` in Parquet (`export::write_export`: the
//! scored-changes table with its contributions, the side tables and the notebook) over
//! a sweep of history sizes (10k, 100k, 1M changes). The acceptance bound is 5 s for
//! 1M scored changes.
//!
//! The data is the seeded synthetic history `changerisk generate --changes N` writes,
//! scored with the shipped model by `analysis::score_history` before any timing starts.
//! `CHANGERISK_BENCH_SIZES=10000,100000` restricts the sweep.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use changerisk::analysis::{score_history, ScoredHistory};
use changerisk::commands::Inputs;
use changerisk::config::Config;
use changerisk::export::{write_export, ExportFormat};
use changerisk::generate::{generate, write_history, GenerateParams};
use changerisk::model::Model;
use changerisk::policy::Policies;
use changerisk::progress::Progress;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// The shipped model, the one `changerisk export` uses by default.
fn shipped_model() -> Model {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/model.json");
    Model::load(&path).expect("the shipped model loads")
}

/// A generated history of `n` changes, scored.
fn scored(model: &Model, n: usize, dir: &Path) -> ScoredHistory {
    let history = generate(&GenerateParams {
        changes: n,
        new_changes: 0,
        ..GenerateParams::default()
    });
    let [changes, incidents, _] =
        write_history(&history, &dir.join(n.to_string())).expect("write history");
    drop(history);
    let inputs = Inputs {
        changes,
        incidents: Some(incidents),
        config: Config::default(),
        incidents_given: true,
        config_file: None,
    };
    score_history(
        model,
        &inputs,
        &Policies::default_rules(),
        &Progress::new(true),
        true,
    )
    .expect("score the history")
}

fn bench_export(c: &mut Criterion) {
    let model = shipped_model();
    let data = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    let mut group = c.benchmark_group("export_parquet");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(20));
    for n in common::sizes() {
        let history = scored(&model, n, data.path());
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &history, |b, history| {
            b.iter(|| {
                write_export(&model, history, out.path(), ExportFormat::Parquet)
                    .expect("export written")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_export);
criterion_main!(benches);
