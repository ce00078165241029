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
    // Outcomes are compared where the incidents reach past the attribution window: all
    // but the last day's changes, whose ratio of observed to predicted incidents is the
    // training changes' own.
    let outcomes = &same["outcomes"];
    let compared = outcomes["compared"].as_u64().unwrap();
    assert!((14_900..15_000).contains(&compared), "{outcomes}");
    assert!((700..=739).contains(&outcomes["positives"].as_u64().unwrap()));
    assert!(
        outcomes["calibration_z"].as_f64().unwrap().abs() < 1.0,
        "{outcomes}"
    );
    assert!(outcomes["roc_auc"].as_f64().unwrap() > 0.7);
    // The shipped new changes come after the shipped incidents end: no outcome is known.
    let new_changes = root.join("data/new_changes.csv").display().to_string();
    let unknown = drift_json(
        &root,
        &["--model", &model, "--changes", &new_changes, "--outcomes"],
    );
    assert_eq!(unknown["outcomes"]["compared"], 0, "{unknown}");
    assert_ne!(unknown["advice"], "retrain");
    let note = unknown["notes"][0].as_str().unwrap();
    assert!(
        note.contains("the incidents end at") && note.contains("before 500 of the 500 changes"),
        "{note}"
    );
    assert!(same["notes"].as_array().unwrap().is_empty(), "{same}");

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

    // Fifty changes are too few to tell; a header alone is nothing to compare.
    let mut few = read_records(&root.join("data/new_changes.csv"));
    few.rows.truncate(50);
    few.write(&dir.join("few.csv"));
    let small = drift_json(
        dir,
        &[
            "--model",
            &model,
            "--changes",
            "few.csv",
            "--history",
            &history,
            "--incidents",
            &incidents,
        ],
    );
    assert_eq!(small["advice"], "unknown", "{small}");
    few.rows.clear();
    few.write(&dir.join("none.csv"));
    run(
        dir,
        [
            "drift",
            "--model",
            &model,
            "--changes",
            "none.csv",
            "--history",
            &history,
            "--incidents",
            &incidents,
        ],
    )
    .bad_input(&["none.csv", "no changes to compare"]);
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
    // The label column is read from the changes even beside a history (which is read
    // without it).
    let beside = drift_json(
        dir,
        &[
            "--model",
            "model.json",
            "--changes",
            &columba,
            "--history",
            &columba,
            "--outcomes",
        ],
    );
    assert_eq!(beside["outcomes"]["positives"], positives, "{beside}");
    // Without --outcomes the label column is not read, nor compared.
    let unlabelled = drift_json(dir, &["--model", "model.json", "--changes", &columba]);
    assert!(unlabelled["outcomes"].is_null());
    // A model file from before the training distributions were kept (version 4).
    let old = root.join("tests/fixtures/annotate/model.json");
    run(dir, ["drift", "--model", old.to_str().unwrap()])
        .bad_input(&["keeps no training distributions", "retrain"]);
    // A version 8 file without one of them is not a version 8 file.
    let mut cut: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("model.json")).unwrap()).unwrap();
    cut["features"][2]
        .as_object_mut()
        .unwrap()
        .remove("distribution");
    std::fs::write(dir.join("cut.json"), cut.to_string()).unwrap();
    run(dir, ["drift", "--model", "cut.json", "--changes", &columba])
        .bad_input(&["cut.json", "has no training distribution"]);
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
