//! `changerisk annotate` on one change, end to end, model load included: read the change
//! (a change file, or a git range with its subprocesses), load the model and the default
//! policies, score, check the guardrails and render every output format. The target is
//! under 100 ms per change.
//!
//! Cases: a change file without history; a git range of a small temporary repository;
//! a change file with the shipped history (15,000 past changes and their incidents) for
//! the history features; and the whole `changerisk annotate` process (spawned from the
//! release binary next to this bench's executable, when it is there).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use changerisk::annotate::formats::{self, Format};
use changerisk::commands::annotate::{annotate, AnnotateSettings, Input, Output};
use changerisk::progress::Progress;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn settings(input: Input, repo: &Path, history: bool) -> AnnotateSettings {
    let data = root().join("data");
    AnnotateSettings {
        input,
        repo: repo.to_path_buf(),
        services: None,
        event: None,
        flags: vec![
            ("permission_level", "elevated".into(), "--permission".into()),
            ("service", "checkout".into(), "--service".into()),
        ],
        model: root().join("models/model.json"),
        incidents: history.then(|| data.join("incidents.csv")),
        history: history.then(|| data.join("changes.csv")),
        policy: None,
        tiers: None,
        outputs: Format::ALL
            .iter()
            .map(|&format| Output { format, file: None })
            .collect(),
        fail_level: None,
        github_step_summary: None,
        github_output: None,
    }
}

/// Annotates and renders every format (what a run writes, without the writing).
fn run_once(s: &AnnotateSettings, progress: &Progress) -> usize {
    let env = HashMap::new();
    let a = annotate(s, &env, progress).expect("annotate");
    Format::ALL
        .iter()
        .map(|&f| formats::render(f, &a).len())
        .sum::<usize>()
        + formats::github(&a).summary.len()
}

/// A small repository: a base commit and three commits, one with an AI co-author.
fn git_repo(dir: &Path) -> String {
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .current_dir(dir)
            .args(["-c", "user.name=Ana", "-c", "user.email=ana@example.com"])
            .args(["-c", "commit.gpgsign=false"])
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git(&["init", "--quiet"]);
    let mut base = String::new();
    for (k, (file, message)) in [
        ("services/checkout/a.rs", "base"),
        ("services/checkout/b.rs", "feature"),
        (
            "config/app.yaml",
            "config\n\nCo-authored-by: Claude <noreply@anthropic.com>",
        ),
        ("infra/main.tf", "infra"),
    ]
    .into_iter()
    .enumerate()
    {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, "x\n".repeat(10 * (k + 1))).expect("write");
        git(&["add", "-A"]);
        git(&["commit", "--quiet", "-m", message]);
        if k == 0 {
            base = git(&["rev-parse", "HEAD"]);
        }
    }
    format!("{base}..HEAD")
}

fn bench(c: &mut Criterion) {
    let progress = Progress::new(true);
    let change = root().join("tests/fixtures/annotate/blocked-change.json");
    let repo = tempfile::tempdir().expect("a temporary directory");
    let range = git_repo(repo.path());

    let mut group = c.benchmark_group("annotate_one_change");
    group.measurement_time(Duration::from_secs(5));
    let cases = [
        (
            "change-file",
            settings(Input::Change(change.clone()), &root(), false),
        ),
        (
            "git-range",
            settings(Input::Git(range.clone()), repo.path(), false),
        ),
        (
            "change-file+history-15k",
            settings(Input::Change(change.clone()), &root(), true),
        ),
    ];
    for (name, s) in &cases {
        group.bench_with_input(BenchmarkId::from_parameter(name), s, |b, s| {
            b.iter(|| run_once(s, &progress))
        });
    }
    // The whole process, as CI runs it.
    let binary = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("changerisk")))
        .filter(|b| b.exists());
    if let Some(binary) = binary {
        group.bench_function(BenchmarkId::from_parameter("process"), |b| {
            b.iter(|| {
                let out = Command::new(&binary)
                    .current_dir(root())
                    .args(["annotate", "--quiet", "--change"])
                    .arg(&change)
                    .args(["--permission", "elevated", "--format", "json"])
                    .env_remove("GITHUB_EVENT_PATH")
                    .env_remove("GITLAB_CI")
                    .output()
                    .expect("the binary runs");
                assert!(out.status.success());
                out.stdout.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
