//! Determinism: the same seed generates byte-identical files, the same inputs train a
//! byte-identical model, and parallel scoring writes the same bytes every time.

use crate::util::*;

const FILES: [&str; 3] = ["changes.csv", "incidents.csv", "new_changes.csv"];

fn read(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
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
    let train = |model: &str| {
        run(
            dir,
            [
                "train",
                "--quiet",
                "--changes",
                history.changes.to_str().expect("UTF-8"),
                "--incidents",
                history.incidents.to_str().expect("UTF-8"),
                "--model",
                model,
            ],
        )
        .success();
        read(&dir.join(model))
    };
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
