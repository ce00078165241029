//! Determinism: the same seed generates byte-identical files, the same inputs train a
//! byte-identical model, and parallel scoring writes the same bytes every time.

use crate::util::*;

const FILES: [&str; 3] = ["changes.csv", "incidents.csv", "new_changes.csv"];

fn read(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Trains in `dir` on `changes` and `incidents`, writing `model`; returns its bytes.
fn train_bytes(
    dir: &std::path::Path,
    changes: &std::path::Path,
    incidents: &std::path::Path,
    model: &str,
) -> Vec<u8> {
    run(
        dir,
        [
            "train",
            "--quiet",
            "--changes",
            changes.to_str().expect("UTF-8"),
            "--incidents",
            incidents.to_str().expect("UTF-8"),
            "--model",
            model,
        ],
    )
    .success();
    read(&dir.join(model))
}

#[test]
fn generate_with_the_same_seed_is_byte_identical_and_another_seed_differs() {
    let (a, b, c) = (tempdir(), tempdir(), tempdir());
    generate(a.path(), 5);
    generate(b.path(), 5);
    generate(c.path(), 6);
    for file in FILES {
        let (first, second) = (read(&a.path().join(file)), read(&b.path().join(file)));
        assert!(!first.is_empty(), "{file} is empty");
        assert!(
            first == second,
            "{file} differs between two runs with seed 5"
        );
        assert!(
            first != read(&c.path().join(file)),
            "{file} is the same for seeds 5 and 6"
        );
    }
    assert_eq!(read_records(&a.path().join("changes.csv")).rows.len(), 3000);
    assert_eq!(
        read_records(&a.path().join("new_changes.csv")).rows.len(),
        200
    );
}

#[test]
fn train_twice_on_the_same_inputs_writes_byte_identical_models() {
    let tmp = tempdir();
    let dir = tmp.path();
    let history = generate(dir, 8);
    let train = |model: &str| train_bytes(dir, &history.changes, &history.incidents, model);
    let first = train("first.json");
    assert!(first == train("second.json"), "two trainings differ");
    let model: serde_json::Value = serde_json::from_slice(&first).expect("JSON");
    assert_eq!(model["training"]["rows"], 3000);
}

#[test]
fn scoring_twice_writes_byte_identical_output() {
    let tmp = tempdir();
    let dir = tmp.path();
    let history = generate(dir, 9);
    let outputs = ["first.csv", "second.csv"].map(|name| {
        let output = dir.join(name);
        score(
            dir,
            &history.new_changes,
            Some((&history.incidents, &history.changes)),
            &output,
        )
        .success();
        read(&output)
    });
    assert!(outputs[0] == outputs[1], "two scorings differ");
}

/// Changes applied in the same second have no order of their own: which of them an
/// incident naming no cause is attributed to, and so the labels, the history features,
/// the trained model and every score, must not depend on the order of the input rows.
#[test]
fn changes_applied_in_the_same_second_train_and_score_the_same_in_any_input_order() {
    let tmp = tempdir();
    let dir = tmp.path();
    let history = generate(dir, 10);
    // Every timestamp rounded down to its day: many changes of a service now share a
    // second with another.
    let mut records = read_records(&history.changes);
    let (t, s) = (records.col("timestamp"), records.col("service"));
    for row in &mut records.rows {
        row[t] = format!("{}T00:00:00Z", &row[t][..10]);
    }
    let mut keys: Vec<(&str, &str)> = records
        .rows
        .iter()
        .map(|r| (r[t].as_str(), r[s].as_str()))
        .collect();
    keys.sort_unstable();
    let tied = keys.windows(2).filter(|w| w[0] == w[1]).count();
    assert!(
        tied >= 100,
        "only {tied} same-service ties: the test shows nothing"
    );
    let forward = dir.join("forward.csv");
    records.write(&forward);
    records.rows.reverse();
    let backward = dir.join("backward.csv");
    records.write(&backward);

    let train = |changes: &std::path::Path, model: &str| {
        train_bytes(dir, changes, &history.incidents, model)
    };
    assert!(
        train(&forward, "forward.json") == train(&backward, "backward.json"),
        "the model depends on the order of same-second rows"
    );

    // The history's last changes scored again among the new ones: the history's own
    // ties and the scored changes' position in it must not matter either.
    let mut rescored = read_records(&forward);
    rescored.rows.drain(..rescored.rows.len() - 300);
    let scored_path = dir.join("rescored.csv");
    rescored.write(&scored_path);
    let by_id = |past: &std::path::Path, output: &str| {
        let output = dir.join(output);
        score(dir, &scored_path, Some((&history.incidents, past)), &output).success();
        let mut rows = scored(&output);
        rows.sort();
        rows
    };
    assert_eq!(
        by_id(&forward, "forward_scores.csv"),
        by_id(&backward, "backward_scores.csv"),
        "scores depend on the order of same-second history rows"
    );
}
