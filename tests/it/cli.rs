//! The command line as a user meets it: every command runs with its defaults from the
//! repository root, `--help` documents every flag, the shipped model is what `train`
//! makes of the shipped data, and the scored file follows SPEC "Outputs".

use crate::util::*;

/// The flags each command documents (SPEC "Command line" and the list).
const FLAGS: [(&str, &[&str]); 7] = [
    (
        "generate",
        &[
            "--seed",
            "--changes",
            "--new-changes",
            "--days",
            "--output-dir",
            "--quiet",
        ],
    ),
    (
        "train",
        &[
            "--changes",
            "--incidents",
            "--config",
            "--model",
            "--attribution-window",
            "--max-severity",
            "--penalty",
            "--validation-fraction",
            "--tiers",
            "--quiet",
        ],
    ),
    (
        "score",
        &[
            "--model",
            "--changes",
            "--incidents",
            "--history",
            "--no-history",
            "--output",
            "--tiers",
            "--policy",
            "--top",
            "--quiet",
        ],
    ),
    (
        "evaluate",
        &[
            "--changes",
            "--incidents",
            "--config",
            "--test-fraction",
            "--json",
            "--attribution-window",
            "--max-severity",
            "--penalty",
            "--validation-fraction",
            "--quiet",
        ],
    ),
    ("config", &["--default", "--check", "--quiet"]),
    (
        "drift",
        &[
            "--model",
            "--changes",
            "--incidents",
            "--history",
            "--no-history",
            "--outcomes",
            "--json",
            "--fail-on-retrain",
            "--quiet",
        ],
    ),
    (
        "sql",
        &[
            "--model",
            "--dialect",
            "--from",
            "--raw",
            "--incidents",
            "--tiers",
            "--output",
            "--quiet",
        ],
    ),
];

const TIERS: [&str; 4] = ["low", "medium", "high", "critical"];

#[test]
fn help_of_every_command_mentions_each_of_its_flags() {
    let top = run(&repo_root(), ["--help"]).success();
    for (command, flags) in FLAGS {
        assert!(
            top.stdout.contains(command),
            "top-level help:\n{}",
            top.stdout
        );
        let help = run(&repo_root(), [command, "--help"]).success();
        for flag in flags {
            // With the leading space, `--history` is not found inside `--no-history`.
            assert!(
                help.stdout.contains(&format!(" {flag}")),
                "`{command} --help` does not mention {flag}:\n{}",
                help.stdout
            );
        }
    }
}

/// The shipped history is the default only for the shipped changes: another file's
/// labels or history features drawn from it would be silently wrong.
#[test]
fn the_shipped_history_is_not_taken_for_other_changes() {
    let tmp = tempdir();
    let root = repo_root();
    let mine = tmp.path().join("mine.csv");
    std::fs::copy(root.join("data/new_changes.csv"), &mine).expect("copied");
    let (mine, output) = (
        mine.to_str().expect("UTF-8").to_string(),
        tmp.path()
            .join("out.csv")
            .to_str()
            .expect("UTF-8")
            .to_string(),
    );
    let score = |extra: &[&str]| {
        let args = [
            &["score", "--changes", &mine, "--output", &output][..],
            extra,
        ]
        .concat();
        run(&root, args)
    };
    score(&[]).bad_input(&[&mine, "--history", "--incidents", "--no-history"]);
    score(&["--history", "data/changes.csv"]).bad_input(&["--history", "needs --incidents"]);
    // Incidents alone: the scored changes are their own history.
    score(&["--incidents", "data/incidents.csv"]).success();
    assert_eq!(scored(tmp.path().join("out.csv").as_path()).len(), 500);
    score(&["--no-history"]).success();
    // The shipped files by another spelling are still the shipped files.
    let out = tmp.path().join("shipped.csv");
    let out = out.to_str().expect("UTF-8");
    run(
        &root,
        [
            "score",
            "--changes",
            "./data/new_changes.csv",
            "--output",
            out,
        ],
    )
    .success();
    let shipped = root.join("data/new_changes.csv");
    let shipped = shipped.to_str().expect("UTF-8");
    run(&root, ["score", "--changes", shipped, "--output", out]).success();
    let model = tmp.path().join("m.json");
    run(
        &root,
        [
            "train",
            "--changes",
            &mine,
            "--model",
            model.to_str().expect("UTF-8"),
        ],
    )
    .bad_input(&[&mine, "--incidents", "data/incidents.csv"]);
    assert!(!model.exists());
}

#[test]
fn score_with_default_inputs_scores_every_new_change_in_input_order() {
    let tmp = tempdir();
    let output = tmp.path().join("scored.csv");
    let root = repo_root();
    let run = run(
        &root,
        ["score", "--output", output.to_str().expect("a UTF-8 path")],
    )
    .success();

    let input = read_records(&root.join("data").join("new_changes.csv"));
    let rows = scored(&output);
    assert!(!input.rows.is_empty());
    let ids: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        ids,
        input.column("change_id"),
        "one row per input change, in order"
    );
    for [id, risk, tier, _, policy] in &rows {
        let risk: f64 = risk.parse().expect("risk is a number");
        assert!(risk > 0.0 && risk < 1.0, "{id}: risk {risk}");
        assert!(TIERS.contains(&tier.as_str()), "{id}: tier {tier:?}");
        for id in policy.split(';').filter(|p| !p.is_empty()) {
            assert!(
                [
                    "ai-privileged-unreviewed",
                    "admin-review-bypassed",
                    "critical-second-reviewer"
                ]
                .contains(&id),
                "unknown policy id {id:?}"
            );
        }
    }
    // Data goes to the file, the summary to stderr, without colour codes.
    assert!(run.stdout.is_empty(), "stdout:\n{}", run.stdout);
    assert!(!run.stderr.contains('\x1b'), "colour codes in stderr");
    // The stderr summary counts the tiers and names the riskiest change.
    let riskiest = rows
        .iter()
        .max_by(|a, b| {
            let (a, b): (f64, f64) = (a[1].parse().unwrap(), b[1].parse().unwrap());
            a.total_cmp(&b)
        })
        .expect("rows");
    assert!(run.stderr.contains(&riskiest[0]), "stderr:\n{}", run.stderr);
    for tier in TIERS {
        assert!(run.stderr.contains(tier), "stderr:\n{}", run.stderr);
    }
}

#[test]
fn tiers_follow_the_model_thresholds() {
    let tmp = tempdir();
    let output = tmp.path().join("scored.csv");
    let root = repo_root();
    run(
        &root,
        ["score", "--output", output.to_str().expect("a UTF-8 path")],
    )
    .success();
    let model: serde_json::Value =
        serde_json::from_slice(&std::fs::read(shipped_model()).expect("the shipped model"))
            .expect("JSON");
    let thresholds: Vec<f64> = model["tiers"]["thresholds"]
        .as_array()
        .expect("tiers.thresholds")
        .iter()
        .map(|t| t.as_f64().expect("a number"))
        .collect();
    assert_eq!(thresholds.len(), 3);
    let mut seen = [0usize; 4];
    for [id, risk, tier, _, _] in scored(&output) {
        let risk: f64 = risk.parse().expect("risk is a number");
        let expected = thresholds.iter().filter(|&&t| risk >= t).count();
        assert_eq!(tier, TIERS[expected], "{id}: risk {risk}, {thresholds:?}");
        seen[expected] += 1;
    }
    // The cut points sit at the training distribution's 50th percentile: recent changes
    // land on both sides of it.
    assert!(
        seen[0] > 0 && seen[1..].iter().sum::<usize>() > 0,
        "{seen:?}"
    );
}

#[test]
fn evaluate_json_prints_one_object_with_the_model_metrics() {
    let root = repo_root();
    let run = run(&root, ["evaluate", "--json", "--quiet"]).success();
    let eval: serde_json::Value =
        serde_json::from_str(run.stdout.trim()).expect("stdout is exactly one JSON value");
    let model = &eval["model"];
    let auc = model["roc_auc"]
        .as_f64()
        .expect("model.roc_auc is a number");
    // The shipped history carries real signal: a model trained on the past ranks the
    // future far better than chance.
    assert!(auc > 0.6 && auc <= 1.0, "ROC-AUC {auc}");
    for metric in [
        "pr_auc",
        "brier",
        "log_loss",
        "ece",
        "capture_5",
        "capture_10",
        "capture_20",
    ] {
        assert!(model[metric].is_f64(), "model.{metric} missing:\n{eval:#}");
        assert!(
            eval["rule_baseline"][metric].is_f64() || eval["rule_baseline"][metric].is_null(),
            "rule_baseline.{metric} missing:\n{eval:#}"
        );
    }
    // The chosen candidate, as train lists it.
    assert!(eval["learner"].as_str().is_some_and(|l| !l.is_empty()));
    // The ROC-AUC's interval holds it and is a few hundredths wide on 3,000 changes.
    let auc = model["roc_auc"].as_f64().unwrap();
    let lo = eval["roc_auc_interval"][0]
        .as_f64()
        .expect("roc_auc_interval");
    let hi = eval["roc_auc_interval"][1].as_f64().unwrap();
    assert!(
        lo < auc && auc < hi && hi - lo > 0.01 && hi - lo < 0.2,
        "{lo} {auc} {hi}"
    );
    // The default split holds out the most recent 20% of the changes.
    let changes = read_records(&root.join("data").join("changes.csv"))
        .rows
        .len();
    let test_rows = eval["test_rows"].as_u64().expect("test_rows") as usize;
    let train_rows = eval["train_rows"].as_u64().expect("train_rows") as usize;
    assert_eq!(train_rows + test_rows, changes);
    assert_eq!(test_rows, (changes as f64 * 0.2).ceil() as usize);
    assert!(eval["train_from"].as_str() < eval["test_from"].as_str());
}

#[test]
fn shipped_model_is_what_train_makes_of_the_shipped_data() {
    let tmp = tempdir();
    let model = tmp.path().join("model.json");
    run(
        &repo_root(),
        [
            "train",
            "--quiet",
            "--model",
            model.to_str().expect("a UTF-8 path"),
        ],
    )
    .success();
    let trained = std::fs::read(&model).expect("train wrote the model");
    let shipped = std::fs::read(shipped_model()).expect("the shipped model");
    assert!(
        trained == shipped,
        "models/model.json is stale: retrain with `changerisk train` from the repository root"
    );
}

#[test]
fn extra_columns_pass_through_after_the_contract_columns() {
    let tmp = tempdir();
    let changes = tmp.path().join("changes.csv");
    let rows: Vec<Cells> = small_changes()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut cells = c.cells();
            cells.push(("team", format!("team-{i}")));
            cells.push(("ticket", format!("T-{}", 100 + i)));
            cells
        })
        .collect();
    write_cells(&changes, &rows);
    let output = tmp.path().join("scored.csv");
    score(tmp.path(), &changes, None, &output).success();
    let out = read_records(&output);
    assert_eq!(
        out.header,
        [
            "change_id",
            "risk",
            "tier",
            "reasons",
            "policy",
            "team",
            "ticket"
        ]
    );
    assert_eq!(
        out.column("team"),
        (0..6).map(|i| format!("team-{i}")).collect::<Vec<_>>()
    );
    assert_eq!(
        out.column("ticket"),
        (0..6).map(|i| format!("T-{}", 100 + i)).collect::<Vec<_>>()
    );
}

#[test]
fn default_policies_flag_the_outage_pattern_and_explain_it() {
    let tmp = tempdir();
    let changes = tmp.path().join("changes.csv");
    write_changes(&changes, &small_changes());
    let output = tmp.path().join("scored.csv");
    score(tmp.path(), &changes, None, &output).success();
    let rows = scored(&output);
    // policies/default.toml: an AI agent with admin permission and review bypassed
    // violates both block rules; a reviewed standard change by a person neither.
    for [id, _, _, reasons, policy] in &rows {
        let ids: Vec<&str> = policy.split(';').filter(|p| !p.is_empty()).collect();
        if id == "c3" || id == "c6" {
            assert!(
                ids.contains(&"ai-privileged-unreviewed"),
                "{id}: {policy:?}"
            );
            assert!(ids.contains(&"admin-review-bypassed"), "{id}: {policy:?}");
            assert!(!reasons.is_empty(), "{id} has no reasons");
        } else {
            assert!(
                !ids.contains(&"ai-privileged-unreviewed")
                    && !ids.contains(&"admin-review-bypassed"),
                "{id}: {policy:?}"
            );
        }
        assert!(reasons.split("; ").count() <= 3, "{id}: {reasons:?}");
    }
    let risk = |id: &str| -> f64 {
        rows.iter().find(|r| r[0] == id).expect("scored")[1]
            .parse()
            .expect("a number")
    };
    // The same moment and service, only the risk factors differ.
    assert!(
        risk("c3") > risk("c1"),
        "c3 {} c1 {}",
        risk("c3"),
        risk("c1")
    );
}

#[test]
fn missing_input_file_is_bad_input_naming_it() {
    let tmp = tempdir();
    let output = tmp.path().join("scored.csv");
    score(tmp.path(), &tmp.path().join("nowhere.csv"), None, &output).bad_input(&["nowhere.csv"]);
    assert!(!output.exists());
}

#[test]
fn generate_refuses_a_span_its_own_loaders_could_not_read_back() {
    let tmp = tempdir();
    // Past 100 years the timestamps would leave four-digit years (and memory).
    for days in ["0", "36501", "4294967295"] {
        run(tmp.path(), ["generate", "--changes", "10", "--days", days])
            .bad_input(&["--days must be 1..=36500", days]);
    }
    // Counts past what memory holds are refused, not a crash.
    for changes in ["0", "10000001", "18446744073709551615"] {
        run(tmp.path(), ["generate", "--changes", changes])
            .bad_input(&["--changes must be 1..=10000000", changes]);
    }
    // New changes continue at the history's pace: 1 change in 36,500 days, then 100,000.
    run(
        tmp.path(),
        [
            "generate",
            "--changes",
            "1",
            "--new-changes",
            "100000",
            "--days",
            "36500",
        ],
    )
    .bad_input(&["spans about", "within 36500"]);
    // All files or none: new_changes.csv cannot be written (a directory is in its way),
    // so changes.csv and incidents.csv keep their earlier content.
    let out = tmp.path().join("g");
    std::fs::create_dir_all(out.join("new_changes.csv")).unwrap();
    std::fs::write(out.join("changes.csv"), "old").unwrap();
    std::fs::write(out.join("incidents.csv"), "old").unwrap();
    run(
        tmp.path(),
        ["generate", "--changes", "50", "--output-dir", "g"],
    )
    .bad_input(&["new_changes.csv", "a directory is there"]);
    for name in ["changes.csv", "incidents.csv"] {
        assert_eq!(std::fs::read_to_string(out.join(name)).unwrap(), "old");
    }
    // Without --truth, an earlier run's truth.csv (another history's) is not left behind.
    run(
        tmp.path(),
        [
            "generate",
            "--changes",
            "50",
            "--truth",
            "--output-dir",
            "t",
        ],
    )
    .success();
    assert!(tmp.path().join("t/truth.csv").is_file());
    run(
        tmp.path(),
        ["generate", "--changes", "60", "--output-dir", "t"],
    )
    .success();
    assert!(!tmp.path().join("t/truth.csv").exists());
    // An output directory that is a file is named as such.
    run(tmp.path(), ["generate", "--output-dir", "g/changes.csv"])
        .bad_input(&["g/changes.csv is a file, not a directory"]);
}

#[test]
fn score_tiers_flag_cuts_at_other_percentiles_of_the_training_risks() {
    let tmp = tempdir();
    let output = tmp.path().join("scored.csv");
    run(
        &repo_root(),
        [
            "score",
            "--quiet",
            "--tiers",
            "10,20,30",
            "--output",
            output.to_str().expect("a UTF-8 path"),
        ],
    )
    .success();
    let model: serde_json::Value =
        serde_json::from_slice(&std::fs::read(shipped_model()).expect("the shipped model"))
            .expect("JSON");
    // risk_quantiles holds the training risks at every 0.1 percentile (1001 values), so
    // the 10th, 20th and 30th percentiles are entries 100, 200 and 300.
    let quantiles = model["tiers"]["risk_quantiles"]
        .as_array()
        .expect("tiers.risk_quantiles");
    assert_eq!(quantiles.len(), 1001);
    let cuts: Vec<f64> = [100, 200, 300]
        .iter()
        .map(|&k| quantiles[k].as_f64().expect("a number"))
        .collect();
    for [id, risk, tier, _, _] in scored(&output) {
        let risk: f64 = risk.parse().expect("risk is a number");
        let expected = cuts.iter().filter(|&&t| risk >= t).count();
        assert_eq!(tier, TIERS[expected], "{id}: risk {risk}, cuts {cuts:?}");
    }
}

#[test]
fn quiet_silences_summaries_but_not_errors() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_changes(&dir.join("changes.csv"), &small_changes());
    let model = shipped_model().display().to_string();
    let args = [
        "score",
        "--model",
        &model,
        "--changes",
        "changes.csv",
        "--no-history",
        "--output",
        "scored.csv",
    ];
    let loud = run(dir, args).success();
    assert!(!loud.stderr.is_empty(), "score prints a summary");
    let quiet = run(dir, [&args[..], &["--quiet"]].concat()).success();
    assert_eq!(quiet.stderr, "");
    assert_eq!(quiet.stdout, "");
    run(dir, [&args[..], &["--quiet", "--tiers", "1,2"]].concat()).bad_input(&["--tiers"]);
}

/// Copies the shipped `data/` and `models/` into a fresh directory.
fn copy_of_shipped_files() -> tempfile::TempDir {
    let tmp = tempdir();
    for sub in ["data", "models"] {
        std::fs::create_dir(tmp.path().join(sub)).expect("created");
        for entry in std::fs::read_dir(repo_root().join(sub)).expect("shipped files") {
            let entry = entry.expect("an entry");
            if !entry.file_type().expect("a file type").is_file() {
                continue;
            }
            std::fs::copy(entry.path(), tmp.path().join(sub).join(entry.file_name()))
                .expect("copied");
        }
    }
    tmp
}

#[test]
fn every_command_runs_with_no_flags_at_all() {
    let copy = copy_of_shipped_files();
    let dir = copy.path();
    std::fs::remove_file(dir.join("data").join("scored.csv")).ok();
    let score = run(dir, ["score"]).success();
    assert!(score.stdout.is_empty(), "stdout:\n{}", score.stdout);
    let ids: Vec<String> = scored(&dir.join("data").join("scored.csv"))
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(
        ids,
        read_records(&dir.join("data").join("new_changes.csv")).column("change_id")
    );

    let evaluate = run(dir, ["evaluate"]).success();
    assert!(
        evaluate.stdout.contains("ROC-AUC"),
        "stdout:\n{}",
        evaluate.stdout
    );

    run(dir, ["train"]).success();
    assert!(
        std::fs::read(dir.join("models").join("model.json")).expect("trained")
            == std::fs::read(shipped_model()).expect("shipped"),
        "`train` with no flags does not reproduce models/model.json"
    );
}

#[test]
fn generate_with_no_flags_reproduces_the_shipped_data() {
    let tmp = tempdir();
    run(tmp.path(), ["generate", "--quiet"]).success();
    for file in ["changes.csv", "incidents.csv", "new_changes.csv"] {
        let generated = std::fs::read(tmp.path().join("data").join(file)).expect("generated");
        let shipped = std::fs::read(repo_root().join("data").join(file)).expect("shipped");
        assert!(
            generated == shipped,
            "data/{file} is not what `changerisk generate` writes: regenerate it"
        );
    }
}

#[test]
fn shipped_scored_file_is_what_score_writes_with_the_defaults() {
    let tmp = tempdir();
    let output = tmp.path().join("scored.csv");
    run(
        &repo_root(),
        [
            "score",
            "--quiet",
            "--output",
            output.to_str().expect("a UTF-8 path"),
        ],
    )
    .success();
    let shipped = std::fs::read(repo_root().join("data").join("scored.csv")).expect("shipped");
    assert!(
        std::fs::read(&output).expect("scored") == shipped,
        "data/scored.csv is stale: rerun `changerisk score` from the repository root"
    );
}

/// The `--help` text is user-facing: a snapshot makes every change to it a reviewed one.
#[test]
fn help_texts_match_their_snapshots() {
    for command in [
        "generate", "train", "score", "evaluate", "config", "export", "report", "annotate",
        "drift", "sql",
    ] {
        let help = run(&repo_root(), [command, "--help"]).success();
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(repo_root().join("tests/snapshots"));
        settings.set_prepend_module_to_snapshot(false);
        settings.bind(|| insta::assert_snapshot!(format!("help_{command}"), help.stdout));
    }
}

#[test]
fn evaluate_says_why_a_tiny_test_period_has_no_roc_auc() {
    let root = repo_root();
    let out = run(&root, ["evaluate", "--test-fraction", "0.0001"]).success();
    assert!(
        out.stdout
            .contains("note: the test period has 0 positive and 2 negative changes"),
        "{}",
        out.stdout
    );
}

/// With no validation fold holding both outcomes, log loss on one outcome alone would
/// pick the least penalised fit; `train` takes the most penalised logistic model and says
/// why.
#[test]
fn train_without_a_fold_that_can_rank_takes_the_most_cautious_model() {
    let tmp = tempdir();
    let dir = tmp.path();
    // Forty changes, one of them (the third) causing an incident: every validation
    // fold, in the later rows, holds none.
    let changes: Vec<ChangeRow> = (0..40)
        .map(|i| {
            let row = ChangeRow::new(&format!("c{i:02}"), &at_hours(f64::from(i) * 5.0));
            if i % 3 == 0 {
                row.risky()
            } else {
                row.on("payments", &format!("a{}", i % 4))
            }
        })
        .collect();
    write_changes(&dir.join("changes.csv"), &changes);
    write_incidents(
        &dir.join("incidents.csv"),
        &[IncidentRow::new("i1", &at_hours(11.0), "payments").caused_by("c02")],
    );
    let most = |model: &serde_json::Value, learner: &str, field: &str| -> f64 {
        let values: Vec<f64> = model["training"]["selection"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["learner"] == learner)
            .map(|t| t[field].as_f64().unwrap())
            .collect();
        assert!(values.len() > 1, "{learner} {field}: {values:?}");
        values.into_iter().fold(f64::MIN, f64::max)
    };
    for learner in ["auto", "logistic", "gbdt", "blend"] {
        let out = train_here(dir, "model.json", &["--learner", learner]).success();
        assert!(
            out.stderr
                .contains("no validation fold holds both outcomes"),
            "{}",
            out.stderr
        );
        let model: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("model.json")).unwrap())
                .unwrap();
        let chosen = &model["training"]["chosen"];
        let value = |field: &str| chosen[field].as_f64().unwrap();
        match learner {
            "gbdt" => {
                assert_eq!(chosen["learner"], "gbdt");
                assert_eq!(
                    value("min_leaf_rows"),
                    most(&model, "gbdt", "min_leaf_rows")
                );
            }
            "blend" => {
                assert_eq!(chosen["learner"], "blend");
                assert_eq!(
                    value("logistic_weight"),
                    most(&model, "blend", "logistic_weight")
                );
                assert_eq!(value("penalty"), most(&model, "logistic", "penalty"));
            }
            _ => {
                assert_eq!(chosen["learner"], "logistic");
                assert_eq!(value("penalty"), most(&model, "logistic", "penalty"));
            }
        }
    }
}

/// `evaluate` trains on the labels known when the test period began: an incident that
/// starts in the test period, even one naming a training change, is not one of them.
#[test]
fn evaluate_trains_on_labels_known_before_the_test_period() {
    let tmp = tempdir();
    let dir = tmp.path();
    let root = repo_root();
    let incidents = std::fs::read_to_string(root.join("data/incidents.csv")).unwrap();
    let changes = root.join("data/changes.csv");
    let train_positives = |extra: &str| {
        std::fs::write(dir.join("incidents.csv"), format!("{incidents}{extra}")).unwrap();
        let run = run(
            dir,
            [
                "evaluate",
                "--json",
                "--quiet",
                "--changes",
                changes.to_str().unwrap(),
                "--incidents",
                "incidents.csv",
            ],
        )
        .success();
        let eval: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
        (
            eval["train_positives"].as_u64().expect("train_positives"),
            eval["test_from"].as_str().unwrap().to_string(),
        )
    };
    let (before, test_from) = train_positives("");
    let test_start = chrono::DateTime::parse_from_rfc3339(&test_from).unwrap();
    // chg-000002 (2024-01-01) caused nothing; an incident naming it, an hour before the
    // test period or an hour into it.
    let naming = |at: chrono::DateTime<chrono::FixedOffset>| {
        format!(
            "inc-late,{},ml-inference,2,chg-000002,30\n",
            at.to_utc().format("%Y-%m-%dT%H:%M:%SZ")
        )
    };
    let hour = chrono::Duration::hours(1);
    assert_eq!(train_positives(&naming(test_start - hour)).0, before + 1);
    assert_eq!(train_positives(&naming(test_start + hour)).0, before);
}

/// A model whose own config links incidents (no label column) needs `--incidents` with
/// `--history` in `score`, as a model of the built-in schema does; and no run writes
/// over the config it reads.
#[test]
fn a_config_model_linking_incidents_needs_them_with_its_history() {
    let tmp = tempdir();
    let dir = tmp.path();
    let history = generate(dir, 12);
    let config = run(dir, ["config", "--default"]).success().stdout;
    let config = config.replace("categorical = []", "categorical = [\"ai_tool\"]");
    std::fs::write(dir.join("c.toml"), &config).expect("written");
    let (changes, incidents) = (
        history.changes.to_str().expect("UTF-8"),
        history.incidents.to_str().expect("UTF-8"),
    );
    let train = |model: &str| {
        run(
            dir,
            [
                "train",
                "--quiet",
                "--config",
                "c.toml",
                "--changes",
                changes,
                "--incidents",
                incidents,
                "--model",
                model,
            ],
        )
    };
    train("c.toml").bad_input(&["--model", "c.toml", "config"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("c.toml")).expect("kept"),
        config
    );
    train("m.json").success();
    let new = history.new_changes.to_str().expect("UTF-8");
    let score = |extra: &[&str]| {
        let args = [
            &[
                "score",
                "--model",
                "m.json",
                "--changes",
                new,
                "--output",
                "s.csv",
            ][..],
            extra,
        ]
        .concat();
        run(dir, args)
    };
    score(&["--history", changes]).bad_input(&["--history", "needs --incidents"]);
    score(&["--history", changes, "--incidents", incidents]).success();
}

/// Reasons stay `; `-separated whatever the cells hold, and show whole numbers whole.
#[test]
fn reasons_keep_their_separator_and_write_large_counts_whole() {
    let tmp = tempdir();
    let dir = tmp.path();
    let mut agent = ChangeRow::new("c1", &at_hours(9.0));
    agent.ai_involvement = "agent".into();
    agent.ai_tool = "tool; with semicolons;".into();
    let mut big = ChangeRow::new("c2", &at_hours(10.0));
    big.lines_changed = "1000000000000000".into();
    big.files_changed = "1".into();
    let changes = dir.join("changes.csv");
    write_changes(&changes, &[agent, big]);
    let output = dir.join("scored.csv");
    score(dir, &changes, None, &output).success();
    let rows = scored(&output);
    let agent_reasons = &rows[0][3];
    assert!(
        agent_reasons.contains("made by an AI agent (tool, with semicolons,)"),
        "{agent_reasons}"
    );
    assert!(agent_reasons.split("; ").count() <= 3, "{agent_reasons}");
    let big_reasons = &rows[1][3];
    assert!(
        big_reasons.contains("1000000000000000 lines changed"),
        "{big_reasons}"
    );
}
