//! `changerisk drift`: the training changes themselves are stable, a batch moved towards
//! the risky pattern is not, and a model file without training distributions is refused.

use crate::util::*;

fn drift_json(dir: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["drift", "--quiet", "--json"];
    all.extend_from_slice(args);
    let out = run(dir, all).success();
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

#[test]
fn the_training_changes_are_stable_and_a_batch_moved_to_the_risky_pattern_is_not() {
    let root = repo_root();
    let model = shipped_model().display().to_string();
    let history = root.join("data/changes.csv").display().to_string();
    let incidents = root.join("data/incidents.csv").display().to_string();
    // The training changes against themselves, with their outcomes: nothing moved.
    let same = drift_json(
        &root,
        &[
            "--model",
            &model,
            "--changes",
            &history,
            "--history",
            &history,
            "--incidents",
            &incidents,
            "--outcomes",
        ],
    );
    assert_eq!(same["changes"], 15_000);
    assert_eq!(same["advice"], "none", "{same}");
    assert!(same["risk_psi"].as_f64().unwrap() < 0.01, "{same}");
    for f in same["features"].as_array().unwrap() {
        assert!(f["psi"].as_f64().unwrap() < 0.01, "{f}");
        assert_ne!(
            f["feature"], "time",
            "the time moves on by design: not compared"
        );
    }
    let outcomes = &same["outcomes"];
    assert_eq!(outcomes["positives"], 739);
    assert!(outcomes["roc_auc"].as_f64().unwrap() > 0.7);

    // The shipped new changes, every one made by an AI agent with admin permission and
    // no review: the risk's distribution moves, and the advice is to retrain.
    let tmp = tempdir();
    let dir = tmp.path();
    let mut batch = read_records(&root.join("data/new_changes.csv"));
    for (column, value) in [
        ("ai_involvement", "agent"),
        ("permission_level", "admin"),
        ("review_status", "none"),
    ] {
        let k = batch.col(column);
        for row in &mut batch.rows {
            row[k] = value.to_string();
        }
    }
    batch.write(&dir.join("agents.csv"));
    let args = [
        "--model",
        &model,
        "--changes",
        "agents.csv",
        "--history",
        &history,
        "--incidents",
        &incidents,
    ];
    let moved = drift_json(dir, &args);
    assert_eq!(moved["advice"], "retrain", "{moved}");
    assert_eq!(moved["risk_level"], "major");
    assert!(
        moved["mean_risk"].as_f64().unwrap() > 3.0 * moved["training_mean_risk"].as_f64().unwrap()
    );
    let agent = moved["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feature"] == "ai_agent")
        .unwrap();
    assert_eq!(agent["level"], "major");
    // The text report says so too; exit 1 only when asked to fail on it.
    let mut text_args = vec!["drift", "--quiet"];
    text_args.extend_from_slice(&args);
    let text = run(dir, text_args.clone()).success();
    assert!(text.stdout.contains("advice: retrain"), "{}", text.stdout);
    assert!(text
        .stdout
        .contains("the risk's distribution has a major shift"));
    text_args.push("--fail-on-retrain");
    assert_eq!(run(dir, text_args).code, Some(1));
}

#[test]
fn a_config_model_compares_its_label_column_and_old_files_are_refused() {
    let tmp = tempdir();
    let dir = tmp.path();
    let root = repo_root();
    let columba = root.join("../shared/datasets/jit/columba.csv");
    let config = root.join("data/examples/columba.toml");
    run(
        dir,
        [
            "train".as_ref(),
            "--quiet".as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
            "--changes".as_ref(),
            columba.as_os_str(),
            "--model".as_ref(),
            "model.json".as_ref(),
        ],
    )
    .success();
    let positives = read_records(&columba)
        .column("bug")
        .iter()
        .filter(|v| v.trim() == "1")
        .count();
    let columba = columba.display().to_string();
    let same = drift_json(
        dir,
        &["--model", "model.json", "--changes", &columba, "--outcomes"],
    );
    assert!(same["risk_psi"].as_f64().unwrap() < 0.01, "{same}");
    assert_eq!(same["outcomes"]["positives"], positives, "{same}");
    // Without --outcomes the label column is not read, nor compared.
    let unlabelled = drift_json(dir, &["--model", "model.json", "--changes", &columba]);
    assert!(unlabelled["outcomes"].is_null());
    // A model file from before the training distributions were kept (version 7).
    let old = root.join("tests/fixtures/annotate/model.json");
    run(dir, ["drift", "--model", old.to_str().unwrap()])
        .bad_input(&["keeps no training distributions", "retrain"]);
    // Outcomes need the incidents that hold them.
    run(
        &root,
        [
            "drift",
            "--model",
            shipped_model().to_str().unwrap(),
            "--no-history",
            "--outcomes",
        ],
    )
    .bad_input(&["--outcomes needs the incidents"]);
}
