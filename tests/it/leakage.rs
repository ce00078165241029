//! No leakage (SPEC "History features and no leakage", an acceptance point): a change's
//! score depends only on changes and incidents strictly before it, and a change present
//! both in `--history` and in `--changes` counts once.

use std::path::Path;

use crate::util::*;

/// Scores `changes` with `incidents` and `history` in `dir`; returns the contract columns.
fn score_with(
    dir: &Path,
    name: &str,
    changes: &Records,
    incidents: &Records,
    history: &Records,
) -> Vec<[String; 5]> {
    let (c, i, h) = (
        dir.join(format!("{name}_changes.csv")),
        dir.join(format!("{name}_incidents.csv")),
        dir.join(format!("{name}_history.csv")),
    );
    changes.write(&c);
    incidents.write(&i);
    history.write(&h);
    let output = dir.join(format!("{name}_scored.csv"));
    score(dir, &c, Some((&i, &h)), &output).success();
    scored(&output)
}

/// A copy of `template` with the cells of `values` changed.
fn row_like(records: &Records, template: &[String], values: &[(&str, String)]) -> Vec<String> {
    let mut row = template.to_vec();
    for (column, value) in values {
        row[records.col(column)] = value.clone();
    }
    row
}

#[test]
fn later_changes_and_incidents_do_not_change_a_score() {
    let tmp = tempdir();
    let dir = tmp.path();
    let history = generate(dir, 21);
    let changes = read_records(&history.changes);
    let incidents = read_records(&history.incidents);
    let new_changes = read_records(&history.new_changes);

    // The scored change: one from well inside the history, 60% of the way through time.
    let (ts, start) = (changes.col("timestamp"), incidents.col("start_time"));
    let mut by_time = changes.rows.clone();
    by_time.sort_by(|a, b| a[ts].cmp(&b[ts]));
    let x = by_time[by_time.len() * 3 / 5].clone();
    let (x_id, x_ts) = (x[changes.col("change_id")].clone(), x[ts].clone());
    let (x_service, x_author) = (
        x[changes.col("service")].clone(),
        x[changes.col("author")].clone(),
    );
    let x_secs = chrono::DateTime::parse_from_rfc3339(&x_ts)
        .expect("generated timestamps are RFC 3339")
        .timestamp();
    let after = |hours: i64| {
        chrono::DateTime::from_timestamp(x_secs + hours * 3600, 0)
            .expect("a time")
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let target = Records {
        header: changes.header.clone(),
        rows: vec![x.clone()],
    };

    // Only the past: changes and incidents strictly before the scored change.
    // (Generated timestamps share one format, so text order is time order.)
    let early_changes = changes.filtered(|r| r[ts] < x_ts);
    let early_incidents = incidents.filtered(|r| r[start] < x_ts);
    assert!(early_changes.rows.len() > 1000 && early_incidents.rows.len() > 10);

    // Everything, plus a future that would move the score if it leaked: the author's and
    // service's later changes, incidents naming the scored change, incidents on its
    // service right after it.
    let mut all_changes = Records {
        header: changes.header.clone(),
        rows: changes
            .rows
            .iter()
            .chain(&new_changes.rows)
            .cloned()
            .collect(),
    };
    for k in 1..=50 {
        all_changes.rows.push(row_like(
            &changes,
            &x,
            &[("change_id", format!("later-{k}")), ("timestamp", after(k))],
        ));
    }
    let mut all_incidents = incidents.filtered(|_| true);
    let template = incidents.rows[0].clone();
    for (k, (hours, service, cause)) in [
        (0, x_service.as_str(), x_id.as_str()),
        (1, x_service.as_str(), ""),
        (2, x_service.as_str(), "later-1;later-2"),
        (3, "elsewhere", x_id.as_str()),
        (24, x_service.as_str(), ""),
    ]
    .into_iter()
    .enumerate()
    {
        all_incidents.rows.push(row_like(
            &incidents,
            &template,
            &[
                ("incident_id", format!("late-{k}")),
                ("start_time", after(hours)),
                ("service", service.to_string()),
                ("severity", "1".into()),
                ("caused_by_change", cause.to_string()),
            ],
        ));
    }
    assert!(all_changes
        .rows
        .iter()
        .any(|r| r[changes.col("author")] == x_author && r[ts] > x_ts));

    let past_only = score_with(dir, "past", &target, &early_incidents, &early_changes);
    let with_future = score_with(dir, "future", &target, &all_incidents, &all_changes);
    assert_eq!(past_only.len(), 1);
    assert_eq!(past_only[0][0], x_id);
    assert_eq!(
        with_future, past_only,
        "later changes and incidents changed the score of {x_id}"
    );

    // Scored together with its own future (later changes in the same --changes file).
    let batch = Records {
        header: changes.header.clone(),
        rows: all_changes
            .rows
            .iter()
            .filter(|r| r[ts] >= x_ts && r[changes.col("author")] == x_author)
            .cloned()
            .collect(),
    };
    assert!(batch.rows.len() > 10);
    let in_batch = score_with(dir, "batch", &batch, &all_incidents, &early_changes);
    let row = in_batch
        .iter()
        .find(|r| r[0] == x_id)
        .expect("the change is scored");
    assert_eq!(
        row, &past_only[0],
        "the batch's later rows leaked into {x_id}"
    );

    // Control: the same kind of incident an hour *before* the change does move its score,
    // so the equalities above are not vacuous.
    let before = chrono::DateTime::from_timestamp(x_secs - 3600, 0)
        .expect("a time")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let mut with_recent_incident = early_incidents.filtered(|_| true);
    with_recent_incident.rows.push(row_like(
        &incidents,
        &template,
        &[
            ("incident_id", "recent".into()),
            ("start_time", before),
            ("service", x_service.clone()),
            ("severity", "1".into()),
            ("caused_by_change", String::new()),
        ],
    ));
    let control = score_with(
        dir,
        "control",
        &target,
        &with_recent_incident,
        &early_changes,
    );
    assert_ne!(
        control[0][1], past_only[0][1],
        "an incident on the service an hour earlier should change the risk"
    );
}

#[test]
fn change_in_both_history_and_changes_counts_once() {
    let tmp = tempdir();
    let dir = tmp.path();
    let history = generate(dir, 22);
    let changes = read_records(&history.changes);
    let incidents = read_records(&history.incidents);
    let new_changes = read_records(&history.new_changes);
    let id = changes.col("change_id");

    let apart = score_with(dir, "apart", &new_changes, &incidents, &changes);
    // The new changes also appear in the history file.
    let overlapping = Records {
        header: changes.header.clone(),
        rows: changes
            .rows
            .iter()
            .chain(&new_changes.rows)
            .cloned()
            .collect(),
    };
    let once = score_with(dir, "once", &new_changes, &incidents, &overlapping);
    assert_eq!(once.len(), new_changes.rows.len());
    assert_eq!(
        once, apart,
        "a change in both --history and --changes counted twice"
    );

    // Control: the same rows under other ids are other changes, and the later new
    // changes do see them as extra prior changes.
    let renamed = Records {
        header: changes.header.clone(),
        rows: changes
            .rows
            .iter()
            .cloned()
            .chain(new_changes.rows.iter().map(|r| {
                let mut r = r.clone();
                r[id] = format!("copy-of-{}", r[id]);
                r
            }))
            .collect(),
    };
    let twice = score_with(dir, "twice", &new_changes, &incidents, &renamed);
    assert_ne!(
        twice, apart,
        "duplicated history should have moved some score"
    );
}

/// Model selection is time-ordered too: each fold trains on the labels known when its
/// validation stretch begins, and the history features' prior rate on those known at
/// the first fold's origin. Incidents that start after the whole history, naming
/// changes before the first fold's origin, make those changes positive for the final
/// fit, and must not move any fold's validation (they would have, when folds trained on
/// every label known at training time, or the prior was the rate of them all).
#[test]
fn folds_train_on_the_labels_known_at_their_origin() {
    let tmp = tempdir();
    let dir = tmp.path();
    let history = generate(dir, 21);
    let changes = read_records(&history.changes);
    let incidents = read_records(&history.incidents);
    // The default config: its per-service and per-author rates shrink towards a prior
    // rate, which must not take in the late labels either.
    let flags = ["--learner", "gbdt", "--no-calibration"];
    let model = |incidents: &Path, name: &str| -> serde_json::Value {
        run(
            dir,
            [
                &["train", "--changes", history.changes.to_str().unwrap()][..],
                &["--incidents", incidents.to_str().unwrap(), "--model", name],
                &flags,
            ]
            .concat(),
        )
        .success();
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
    };
    let before = model(&history.incidents, "before.json");

    // The 150 changes just before the first fold's origin (time order, ties by id, as
    // training orders them; all strictly earlier than the origin's change), and a time
    // after every change.
    let origin = before["training"]["folds"][0][1].as_u64().unwrap() as usize;
    let (ts, id) = (changes.col("timestamp"), changes.col("change_id"));
    let time = |row: &[String]| chrono::DateTime::parse_from_rfc3339(&row[ts]).unwrap();
    let mut by_time = changes.rows.clone();
    by_time.sort_by_key(|r| (time(r), r[id].clone()));
    let earlier: Vec<&Vec<String>> = by_time[origin - 150..origin]
        .iter()
        .filter(|r| time(r) < time(&by_time[origin]))
        .collect();
    assert!(earlier.len() > 100);
    let late = (time(by_time.last().unwrap()) + chrono::Duration::days(1)).to_rfc3339();
    let mut added = Records {
        header: incidents.header.clone(),
        rows: incidents.rows.clone(),
    };
    for (k, row) in earlier.iter().enumerate() {
        let mut cells = vec![String::new(); incidents.header.len()];
        cells[incidents.col("incident_id")] = format!("late-{k}");
        cells[incidents.col("start_time")] = late.clone();
        cells[incidents.col("service")] = "nowhere".into();
        cells[incidents.col("severity")] = "2".into();
        cells[incidents.col("caused_by_change")] = row[id].clone();
        added.rows.push(cells);
    }
    let added_path = dir.join("late_incidents.csv");
    added.write(&added_path);
    let after = model(&added_path, "after.json");

    let (b, a) = (&before["training"], &after["training"]);
    assert!(
        a["positives"].as_u64().unwrap() > b["positives"].as_u64().unwrap(),
        "the late incidents label more training changes"
    );
    assert_ne!(before["trees"], after["trees"], "the final fit sees them");
    for (tb, ta) in b["selection"]
        .as_array()
        .unwrap()
        .iter()
        .zip(a["selection"].as_array().unwrap())
    {
        assert_eq!(
            tb["fold_roc_auc"], ta["fold_roc_auc"],
            "a fold saw a later label"
        );
        assert_eq!(tb["fold_log_loss"], ta["fold_log_loss"]);
        assert_eq!(tb["fold_trees"], ta["fold_trees"]);
    }
}

/// A change in both `--history` and `--changes` whose copies disagree (another time,
/// service or author) is scored as `--changes` has it, with a warning naming it.
#[test]
fn a_change_in_both_files_that_differs_is_warned_about() {
    let tmp = tempdir();
    let dir = tmp.path();
    let history = small_changes();
    write_changes(&dir.join("history.csv"), &history);
    write_incidents(&dir.join("incidents.csv"), &[]);
    // c5 again, an hour later; c6 again, the same.
    let moved = ChangeRow::new("c5", &at_hours(35.0));
    let same = history[5].clone();
    write_changes(&dir.join("changes.csv"), &[moved, same]);
    let out = dir.join("scored.csv");
    let run = score(
        dir,
        Path::new("changes.csv"),
        Some((&dir.join("incidents.csv"), &dir.join("history.csv"))),
        &out,
    )
    .success();
    assert!(
        run.stderr.contains(
            "warning: 1 change(s) in both --history and --changes differ in time, service or author (the first: 'c5')"
        ),
        "{}",
        run.stderr
    );
    // Without the disagreement, no warning.
    write_changes(&dir.join("changes.csv"), &[history[5].clone()]);
    let run = score(
        dir,
        Path::new("changes.csv"),
        Some((&dir.join("incidents.csv"), &dir.join("history.csv"))),
        &out,
    );
    assert!(!run.success().stderr.contains("differ in time"));
}
