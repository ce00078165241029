//! `changerisk drift`: the training changes themselves are stable, a batch moved towards
//! the risky pattern is not, and a model file without training distributions is refused.

use crate::util::*;
use changerisk::drift::MAJOR;

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
    // Against all of them, nothing moved; the reference is the latest training changes
    // (the model's last validation slice), which the whole history is not like.
    assert!(
        same["risk_psi_all_training"].as_f64().unwrap() < 0.01,
        "{same}"
    );
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(shipped_model()).unwrap()).unwrap();
    let recent = &file["training"]["recent"];
    let folds = file["training"]["folds"].as_array().unwrap();
    let last_fold = folds.last().unwrap().as_array().unwrap();
    assert_eq!(
        recent["rows"].as_u64().unwrap(),
        last_fold[2].as_u64().unwrap() - last_fold[1].as_u64().unwrap()
    );
    assert_eq!(same["reference"], "latest training changes");
    assert_eq!(same["reference_changes"], recent["rows"]);
    for f in same["features"].as_array().unwrap() {
        assert!(f["psi_all_training"].as_f64().unwrap() < 0.01, "{f}");
        assert_ne!(
            f["feature"], "time",
            "the time moves on by design: not compared"
        );
    }
    let shift = |report: &serde_json::Value, feature: &str| -> (f64, f64) {
        let f = report["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["feature"] == feature)
            .unwrap_or_else(|| panic!("no {feature} in {report}"));
        (
            f["psi"].as_f64().unwrap(),
            f["psi_all_training"].as_f64().unwrap(),
        )
    };
    // Counts that grow with the history's age: all of it is not its latest stretch.
    assert!(shift(&same, "service_prior_changes_log").0 > 0.25, "{same}");
    // Outcomes are compared where the incidents reach past the attribution window: all
    // but the last day's changes. The expected ratio of observed to predicted incidents
    // is the latest training changes' own.
    let outcomes = &same["outcomes"];
    let compared = outcomes["compared"].as_u64().unwrap();
    assert!((14_900..15_000).contains(&compared), "{outcomes}");
    assert!((700..=739).contains(&outcomes["positives"].as_u64().unwrap()));
    let ratio = recent["positive_rate"].as_f64().unwrap() / recent["mean_risk"].as_f64().unwrap();
    assert!(
        (outcomes["reference_ratio"].as_f64().unwrap() - ratio).abs() < 1e-12,
        "{outcomes}"
    );
    assert!(outcomes["roc_auc"].as_f64().unwrap() > 0.7);

    // The latest training changes against themselves: nothing moved, and their outcomes
    // are as predicted.
    let mut latest = read_records(&root.join("data/changes.csv"));
    let from = recent["time_from"].as_str().unwrap().to_string();
    let ts = latest.col("timestamp");
    latest.rows.retain(|r| r[ts] >= from);
    assert!(
        latest
            .rows
            .len()
            .abs_diff(recent["rows"].as_u64().unwrap() as usize)
            <= 2
    );
    let tmp = tempdir();
    let dir = tmp.path();
    latest.write(&dir.join("latest.csv"));
    let itself = drift_json(
        dir,
        &[
            "--model",
            &model,
            "--changes",
            "latest.csv",
            "--history",
            &history,
            "--incidents",
            &incidents,
            "--outcomes",
        ],
    );
    assert_eq!(itself["advice"], "none", "{itself}");
    assert!(itself["risk_psi"].as_f64().unwrap() < 0.01, "{itself}");
    for f in itself["features"].as_array().unwrap() {
        assert!(f["psi"].as_f64().unwrap() < 0.01, "{f}");
    }
    assert!(
        itself["outcomes"]["calibration_z"].as_f64().unwrap().abs() < 1.0,
        "{itself}"
    );
    // The shipped new changes come after the shipped incidents end: no outcome is known.
    let new_changes = root.join("data/new_changes.csv").display().to_string();
    let unknown = drift_json(
        &root,
        &["--model", &model, "--changes", &new_changes, "--outcomes"],
    );
    assert_eq!(unknown["outcomes"]["compared"], 0, "{unknown}");
    assert_ne!(unknown["advice"], "retrain");
    // Against the latest training changes, the counts that grow with the history's age
    // have grown there too: their shifts are a fraction of those against all.
    for feature in ["service_prior_changes_log", "author_prior_changes_log"] {
        let (latest, all) = shift(&unknown, feature);
        assert!(
            latest < MAJOR && latest * 3.0 < all,
            "{feature}: {latest} {all}"
        );
    }
    let note = unknown["notes"][0].as_str().unwrap();
    assert!(
        note.contains("the incidents end at") && note.contains("before 500 of the 500 changes"),
        "{note}"
    );
    assert!(same["notes"].as_array().unwrap().is_empty(), "{same}");

    // The shipped new changes, every one made by an AI agent with admin permission and
    // no review: the risk's distribution moves, and the advice is to retrain.
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
        moved["mean_risk"].as_f64().unwrap() > 3.0 * moved["reference_mean_risk"].as_f64().unwrap()
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
    assert!(
        same["risk_psi_all_training"].as_f64().unwrap() < 0.01,
        "{same}"
    );
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
    // A version 8 or 9 file without one of them is not a file of its version.
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("model.json")).unwrap()).unwrap();
    let mut cut = file.clone();
    cut["features"][2]
        .as_object_mut()
        .unwrap()
        .remove("distribution");
    std::fs::write(dir.join("cut.json"), cut.to_string()).unwrap();
    run(dir, ["drift", "--model", "cut.json", "--changes", &columba])
        .bad_input(&["cut.json", "has no training distribution"]);
    let mut cut = file.clone();
    cut["features"][3]["distribution"]
        .as_object_mut()
        .unwrap()
        .remove("recent");
    std::fs::write(dir.join("cut.json"), cut.to_string()).unwrap();
    let name = format!(
        "feature '{}'",
        file["features"][3]["name"].as_str().unwrap()
    );
    run(dir, ["drift", "--model", "cut.json", "--changes", &columba]).bad_input(&[
        "cut.json",
        &name,
        "no spread of the latest training changes",
    ]);
    // A version 8 file (no latest training changes) is compared with all of them, as
    // before, and says so.
    let mut v8 = file.clone();
    v8["format_version"] = 8.into();
    v8["training"].as_object_mut().unwrap().remove("recent");
    v8["training"]["risk_distribution"]
        .as_object_mut()
        .unwrap()
        .remove("recent");
    for f in v8["features"].as_array_mut().unwrap() {
        f["distribution"].as_object_mut().unwrap().remove("recent");
    }
    std::fs::write(dir.join("v8.json"), v8.to_string()).unwrap();
    let old = drift_json(dir, &["--model", "v8.json", "--changes", &columba]);
    assert_eq!(old["reference"], "all training changes", "{old}");
    assert_eq!(old["risk_psi"], unlabelled["risk_psi_all_training"]);
    assert_eq!(
        old["features"][0]["psi"],
        old["features"][0]["psi_all_training"]
    );
    assert!(old["notes"][0]
        .as_str()
        .unwrap()
        .contains("keeps no spread of its latest training changes"));
    // Latest training changes too few to compare with: all of them, noted.
    let mut few = file.clone();
    few["training"]["recent"]["rows"] = 150.into();
    std::fs::write(dir.join("few.json"), few.to_string()).unwrap();
    let few = drift_json(dir, &["--model", "few.json", "--changes", &columba]);
    assert_eq!(few["reference"], "all training changes", "{few}");
    assert_eq!(few["risk_psi"], unlabelled["risk_psi_all_training"]);
    assert!(few["notes"][0]
        .as_str()
        .unwrap()
        .contains("too few to compare with"));
    // Latest training changes none of which caused an incident (labels found late): their
    // ratio of observed to predicted incidents (0) is no expectation; all changes' is.
    let mut none = file.clone();
    none["training"]["recent"]["positive_rate"] = 0.0.into();
    std::fs::write(dir.join("none.json"), none.to_string()).unwrap();
    let none = drift_json(
        dir,
        &["--model", "none.json", "--changes", &columba, "--outcomes"],
    );
    let o = &none["outcomes"];
    assert_eq!(o["ratio_reference"], "all training changes", "{none}");
    let all = file["training"]["positive_rate"].as_f64().unwrap()
        / file["training"]["mean_training_risk"].as_f64().unwrap();
    assert!((o["reference_ratio"].as_f64().unwrap() - all).abs() < 1e-12);
    assert!(o["calibration_z"].as_f64().unwrap().abs() < 10.0, "{o}");
    assert!(none["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap().contains("set no expected ratio")));
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
