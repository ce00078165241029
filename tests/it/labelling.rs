//! Labelling end to end (SPEC "Labels"): a hand-built history where every incident's
//! fate is known, checked through the counts `train` prints and stores in the model.

use std::path::Path;

use serde_json::Value;

use crate::util::*;

/// Twenty changes and seven incidents; hours count from Monday 2025-01-06T00:00Z.
///
/// | incident | where, when    | names         | fate (default flags)                         |
/// |----------|----------------|---------------|----------------------------------------------|
/// | i1       | svc-x, 1h      | c01           | explicit: c01                                |
/// | i2       | svc-b, 50h     | c03;c05       | explicit: c03 and c05                        |
/// | i3       | svc-a, 29h     |               | c02 (svc-a, 6h) is 23h before: attributed    |
/// | i4       | svc-b, 57h     |               | c04 (svc-b, 32h) is 25h before: unattributed |
/// | i5       | svc-e, 81h     | ghost-1       | unknown id: warned, not attributed to c08    |
/// | i6       | svc-c, 52h     | c06;ghost-2   | explicit: c06, one more unknown id           |
/// | i7 sev4  | svc-d, 73h     |               | c07 (svc-d, 72h): attributed                 |
fn write_history(dir: &Path) {
    let mut changes = vec![
        ChangeRow::new("c01", &at_hours(0.0)).on("svc-a", "ana"),
        ChangeRow::new("c02", &at_hours(6.0))
            .on("svc-a", "bo")
            .risky(),
        ChangeRow::new("c03", &at_hours(8.0))
            .on("svc-b", "cy")
            .risky(),
        ChangeRow::new("c04", &at_hours(32.0)).on("svc-b", "ana"),
        ChangeRow::new("c05", &at_hours(48.0)).on("svc-c", "bo"),
        ChangeRow::new("c06", &at_hours(49.0))
            .on("svc-c", "cy")
            .risky(),
        ChangeRow::new("c07", &at_hours(72.0))
            .on("svc-d", "ana")
            .risky(),
    ];
    for i in 8..=20 {
        let mut filler =
            ChangeRow::new(&format!("c{i:02}"), &at_hours(80.0 + 2.0 * (i - 8) as f64))
                .on("svc-e", ["ana", "bo", "cy"][i % 3]);
        filler.lines_changed = (10 * i).to_string();
        filler.customer_facing = (i % 2 == 0).to_string();
        changes.push(filler);
    }
    write_changes(&dir.join("changes.csv"), &changes);
    let mut i7 = IncidentRow::new("i7", &at_hours(73.0), "svc-d");
    i7.severity = "4".into();
    write_incidents(
        &dir.join("incidents.csv"),
        &[
            IncidentRow::new("i1", &at_hours(1.0), "svc-x").caused_by("c01"),
            IncidentRow::new("i2", &at_hours(50.0), "svc-b").caused_by("c03;c05"),
            IncidentRow::new("i3", &at_hours(29.0), "svc-a"),
            IncidentRow::new("i4", &at_hours(57.0), "svc-b"),
            IncidentRow::new("i5", &at_hours(81.0), "svc-e").caused_by("ghost-1"),
            IncidentRow::new("i6", &at_hours(52.0), "svc-c").caused_by("c06;ghost-2"),
            i7,
        ],
    );
}

/// Trains on the history with `flags`; returns the run and the model's label summary.
fn train_labels(flags: &[&str]) -> (Run, Value) {
    let tmp = tempdir();
    write_history(tmp.path());
    // A tiny history: a firm penalty keeps the fit well posed.
    let run = train_here(
        tmp.path(),
        "model.json",
        &[&["--penalty", "0.1"], flags].concat(),
    )
    .success();
    let model: Value = serde_json::from_slice(
        &std::fs::read(tmp.path().join("model.json")).expect("train wrote the model"),
    )
    .expect("JSON");
    let labels = model["training"]["labels"].clone();
    assert_eq!(model["training"]["positives"], labels["positives"]);
    (run, labels)
}

/// The summary counts, in the order of [`LABEL_COUNTS`].
fn counts(labels: &Value) -> Vec<u64> {
    LABEL_COUNTS
        .iter()
        .map(|k| {
            labels[k]
                .as_u64()
                .unwrap_or_else(|| panic!("labels.{k} missing: {labels:#}"))
        })
        .collect()
}

const LABEL_COUNTS: [&str; 9] = [
    "incidents",
    "ignored_by_severity",
    "linked_explicitly",
    "linked_by_attribution",
    "unattributed",
    "named_unknown_only",
    "unknown_change_ids",
    "changes",
    "positives",
];

#[test]
fn explicit_causes_window_attribution_and_unknown_ids_label_as_computed_by_hand() {
    let (run, labels) = train_labels(&[]);
    // Positives: c01 (i1), c03 and c05 (i2), c02 (i3), c06 (i6), c07 (i7).
    assert_eq!(counts(&labels), [7, 0, 3, 2, 1, 1, 2, 20, 6]);
    let warning = run
        .stderr
        .lines()
        .find(|l| l.to_lowercase().contains("warning") && l.contains("unknown"))
        .unwrap_or_else(|| panic!("no warning about unknown change ids:\n{}", run.stderr));
    assert!(warning.contains('2'), "the warning counts 2 ids: {warning}");
    assert!(
        warning.contains("i5 names ghost-1") && warning.contains("i6 names ghost-2"),
        "the warning names them: {warning}"
    );
    // The summary printed to stderr gives the same counts: 6 of 20 changes (30.00%).
    assert!(run.stderr.contains("30.00%"), "stderr:\n{}", run.stderr);
}

#[test]
fn max_severity_ignores_less_severe_incidents() {
    let (_, labels) = train_labels(&["--max-severity", "3"]);
    // i7 (severity 4) is ignored, so c07 is no longer incident-causing.
    assert_eq!(counts(&labels), [7, 1, 3, 1, 1, 1, 2, 20, 5]);
    // The flag reads a severity as the incidents file does.
    let (_, spelled) = train_labels(&["--max-severity", "Sev3"]);
    assert_eq!(counts(&spelled), counts(&labels));
}

#[test]
fn wider_attribution_window_reaches_the_earlier_change() {
    let (_, labels) = train_labels(&["--attribution-window", "26h"]);
    // i4 now reaches c04, 25h before it.
    assert_eq!(counts(&labels), [7, 0, 3, 3, 0, 1, 2, 20, 7]);
    let (_, labels) = train_labels(&["--attribution-window", "90m"]);
    // Only i7 (1h after c07) stays within 90 minutes; i3 (23h) does not.
    assert_eq!(counts(&labels), [7, 0, 3, 1, 2, 1, 2, 20, 5]);
}

/// `score` of one new change after `history`, linking `incidents` to that history for the
/// history features; a successful run.
fn score_after(history: &[ChangeRow], new: &ChangeRow, incidents: &[IncidentRow]) -> Run {
    let tmp = tempdir();
    let dir = tmp.path();
    write_changes(&dir.join("history.csv"), history);
    write_changes(&dir.join("new.csv"), std::slice::from_ref(new));
    write_incidents(&dir.join("incidents.csv"), incidents);
    score(
        dir,
        &dir.join("new.csv"),
        Some((&dir.join("incidents.csv"), &dir.join("history.csv"))),
        &dir.join("scored.csv"),
    )
    .success()
}

#[test]
fn score_warns_about_unknown_change_ids_in_its_incidents() {
    // SPEC "Labels" 1 holds wherever incidents are linked: `score` links --incidents to
    // --history for the history features, so it too must warn, with the count.
    let run = score_after(
        &small_changes(),
        &ChangeRow::new("n1", &at_hours(60.0)),
        &[
            IncidentRow::new("i1", &at_hours(10.5), "checkout").caused_by("c1;ghost-1"),
            IncidentRow::new("i2", &at_hours(20.0), "checkout").caused_by("ghost-2"),
        ],
    );
    let warning = run
        .stderr
        .lines()
        .find(|l| l.to_lowercase().contains("warning") && l.contains("unknown"))
        .unwrap_or_else(|| panic!("no warning about unknown change ids:\n{}", run.stderr));
    assert!(warning.contains('2'), "the warning counts 2 ids: {warning}");
}

#[test]
fn an_integer_id_written_as_pandas_writes_it_in_a_column_with_gaps_links_its_change() {
    // Integer change ids, and an incidents file whose caused_by_change has a gap: pandas
    // writes that column as floats, so change 2 is named `2.0`.
    let run = score_after(
        &[
            ChangeRow::new("1", &at_hours(9.0)),
            ChangeRow::new("2", &at_hours(10.0)).on("payments", "bo"),
        ],
        &ChangeRow::new("3", &at_hours(60.0)),
        &[
            IncidentRow::new("i1", &at_hours(12.0), "payments").caused_by("2.0"),
            IncidentRow::new("i2", &at_hours(13.0), "checkout"),
        ],
    );
    assert!(
        run.stderr.contains("linked explicitly 1, by attribution 1")
            && run
                .stderr
                .contains("named 1 id(s) as a number with a trailing .0")
            && !run.stderr.contains("unknown"),
        "{}",
        run.stderr
    );
}
