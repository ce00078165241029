//! Partitioned tables (a directory of parts, `key=value` levels as Spark and Hive write
//! them): `score` reads them a part at a time and writes each part's scores under the
//! same path, equal to scoring the whole table as one file; the other commands read them
//! as the whole table; bad parts and outputs are refused by name.

use std::path::{Path, PathBuf};

use crate::util::*;

/// Writes `records` as a table partitioned by `key` (`key=value/part-0.EXT`, the column
/// dropped from the parts as Spark's `partitionBy` drops it), in the format `ext`, plus
/// the `_SUCCESS` marker Spark writes. Returns the directory.
fn partition(records: &Records, key: &str, ext: &str, dir: PathBuf) -> PathBuf {
    let k = records.col(key);
    let mut values: Vec<String> = records.column(key);
    values.sort();
    values.dedup();
    let header: Vec<&str> = records
        .header
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != k)
        .map(|(_, h)| h.as_str())
        .collect();
    for value in &values {
        let level = dir.join(format!("{key}={value}"));
        std::fs::create_dir_all(&level).unwrap();
        let rows: Vec<Vec<String>> = records
            .rows
            .iter()
            .filter(|r| &r[k] == value)
            .map(|r| {
                r.iter()
                    .enumerate()
                    .filter(|&(i, _)| i != k)
                    .map(|(_, c)| c.clone())
                    .collect()
            })
            .collect();
        let csv = level.join("part-0.csv");
        write_records(&csv, &header, &rows);
        if ext != "csv" {
            let mut df = read_table(&csv);
            write_table(&level.join(format!("part-0.{ext}")), &mut df);
            std::fs::remove_file(&csv).unwrap();
        }
    }
    std::fs::write(dir.join("_SUCCESS"), "").unwrap();
    dir
}

/// Every part below `dir` (marker files aside), by relative path.
fn parts_below(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(here) = stack.pop() {
        for entry in std::fs::read_dir(&here).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if !path.file_name().unwrap().to_string_lossy().starts_with('_') {
                found.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

/// The scored rows of every part below `dir` by change_id: the contract's columns and
/// the pass-through ones, as text.
fn scored_rows(dir: &Path) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut rows = std::collections::BTreeMap::new();
    for part in parts_below(dir) {
        let df = read_table(&dir.join(&part));
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|c| c.to_string())
            .collect();
        let columns: Vec<Vec<String>> = names.iter().map(|c| strings(&df, c)).collect();
        for i in 0..df.height() {
            let row: Vec<String> = columns.iter().map(|c| c[i].clone()).collect();
            assert!(
                rows.insert(row[0].clone(), row).is_none(),
                "a change scored twice"
            );
        }
    }
    rows
}

fn whole_rows(path: &Path) -> std::collections::BTreeMap<String, Vec<String>> {
    let records = read_records(path);
    records
        .rows
        .into_iter()
        .map(|r| (r[0].clone(), r))
        .collect()
}

#[test]
fn a_partitioned_history_scores_part_by_part_as_the_whole_file_does() {
    let tmp = tempdir();
    let dir = tmp.path();
    let history = generate(dir, 31);
    let changes = read_records(&history.changes);
    // The history scored as its own history, partitioned by service: every part's
    // history features count the other parts' earlier changes, and the service itself
    // comes from the directory level.
    let whole = dir.join("whole.csv");
    run(
        dir,
        [
            "score",
            "--model",
            &shipped_model().display().to_string(),
            "--changes",
            "changes.csv",
            "--incidents",
            "incidents.csv",
            "--output",
            "whole.csv",
        ],
    )
    .success();
    for ext in ["parquet", "csv"] {
        let parts = partition(
            &changes,
            "service",
            ext,
            dir.join(format!("by_service_{ext}")),
        );
        let out = dir.join(format!("scored_{ext}"));
        let run = run(
            dir,
            [
                "score",
                "--model",
                &shipped_model().display().to_string(),
                "--changes",
                &parts.display().to_string(),
                "--incidents",
                "incidents.csv",
                "--output",
                &out.display().to_string(),
            ],
        )
        .success();
        assert!(run.stderr.contains("part(s) of"), "{}", run.stderr);
        // Each part's scores under the part's own path, in its format, and the marker.
        assert_eq!(parts_below(&out), parts_below(&parts));
        assert!(out.join("_SUCCESS").is_file());
        let got = scored_rows(&out);
        let expected = whole_rows(&whole);
        assert_eq!(got.len(), 3000);
        for (id, row) in &expected {
            assert_eq!(&got[id], row, "{ext}: {id}");
        }
    }
}

#[test]
fn partitioned_new_changes_history_and_incidents_score_as_the_files_do() {
    let tmp = tempdir();
    let dir = tmp.path();
    let history = generate(dir, 32);
    let whole = dir.join("whole.csv");
    score(
        dir,
        &history.new_changes,
        Some((&history.incidents, &history.changes)),
        &whole,
    )
    .success();
    // New changes by day (the timestamp stays a column), history by author, incidents
    // by severity; Parquet, CSV and Arrow parts.
    let mut new = read_records(&history.new_changes);
    new.header.push("day".into());
    for row in &mut new.rows {
        let day = row[1][..10].to_string();
        row.push(day);
    }
    let new_parts = partition(&new, "day", "parquet", dir.join("new"));
    let past = partition(
        &read_records(&history.changes),
        "author",
        "csv",
        dir.join("past"),
    );
    let incidents = partition(
        &read_records(&history.incidents),
        "severity",
        "arrow",
        dir.join("incidents"),
    );
    let out = dir.join("out");
    score(dir, &new_parts, Some((&incidents, &past)), &out).success();
    let got = scored_rows(&out);
    let expected = whole_rows(&whole);
    assert_eq!(got.len(), 200);
    // Every column alike, pass-through ones included: no partition column passes
    // through (the output's paths carry it).
    assert_eq!(got, expected);
    let first = read_table(&out.join(&parts_below(&out)[0]));
    assert!(first.column("day").is_err());

    // Scored again, the earlier complete output is replaced, stale parts and all.
    std::fs::write(out.join("day=1999-01-01-stale.csv"), "x\n").unwrap();
    score(dir, &new_parts, Some((&incidents, &past)), &out).success();
    assert_eq!(parts_below(&out), parts_below(&new_parts));
    assert_eq!(scored_rows(&out), got);
}

#[test]
fn train_reads_a_partitioned_history_as_the_whole_file() {
    let tmp = tempdir();
    let dir = tmp.path();
    generate(dir, 33);
    train_here(dir, "whole.json", &[]).success();
    let changes = read_records(&dir.join("changes.csv"));
    let mut by_month = changes.clone();
    by_month.header.push("month".into());
    for row in &mut by_month.rows {
        let month = row[1][..7].to_string();
        row.push(month);
    }
    partition(&by_month, "month", "parquet", dir.join("changes_parts"));
    partition(
        &read_records(&dir.join("incidents.csv")),
        "service",
        "csv",
        dir.join("incidents_parts"),
    );
    run(
        dir,
        [
            "train",
            "--changes",
            "changes_parts",
            "--incidents",
            "incidents_parts",
            "--model",
            "parts.json",
        ],
    )
    .success();
    // The same rows make the same model file, byte for byte; the month level, which
    // the partitioned table adds as a column nobody declared, is read by no feature of
    // the built-in schema.
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    assert!(
        read("whole.json") == read("parts.json"),
        "the model files differ"
    );
}

#[test]
fn bad_parts_and_outputs_are_refused_by_name() {
    let tmp = tempdir();
    let dir = tmp.path();
    let history = generate(dir, 34);
    let changes = read_records(&history.new_changes);
    let parts = partition(&changes, "service", "csv", dir.join("parts"));
    let model = shipped_model().display().to_string();
    let score_parts = |output: &str| {
        run(
            dir,
            [
                "score",
                "--model",
                &model,
                "--changes",
                "parts",
                "--incidents",
                "incidents.csv",
                "--history",
                "changes.csv",
                "--output",
                output,
            ],
        )
    };
    // No --output: the default is a file.
    run(
        dir,
        [
            "score",
            "--model",
            &model,
            "--changes",
            "parts",
            "--no-history",
        ],
    )
    .bad_input(&["parts is a partitioned table", "--output"]);
    // A file, a foreign directory, the input itself.
    std::fs::write(dir.join("file.csv"), "x\n").unwrap();
    score_parts("file.csv").bad_input(&["file.csv is a file", "directory"]);
    std::fs::create_dir(dir.join("mine")).unwrap();
    std::fs::write(dir.join("mine/notes.txt"), "keep me").unwrap();
    score_parts("mine").bad_input(&["mine", "no _SUCCESS marker"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("mine/notes.txt")).unwrap(),
        "keep me"
    );
    score_parts("parts/out").bad_input(&["overlap"]);

    // A change in two parts names both; a bad cell names its part and row; a stray
    // file is not silently skipped. Nothing is left behind.
    let first = parts_below(&parts)[0].clone();
    let second = parts_below(&parts)[1].clone();
    let copy = read_records(&parts.join(&first));
    let mut other = read_records(&parts.join(&second));
    other.rows.push(copy.rows[0].clone());
    other.write(&parts.join(&second));
    score_parts("out").bad_input(&[&first, &second, "duplicate change_id", &copy.rows[0][0]]);
    other.rows.pop();
    let col = other.col("lines_changed");
    other.rows[2][col] = "many".into();
    other.write(&parts.join(&second));
    score_parts("out")
        .bad_input(&[&second, "row 3", "lines_changed"])
        .quotes("many");
    other.rows[2][col] = "12".into();
    other.write(&parts.join(&second));
    std::fs::write(parts.join("README.md"), "notes").unwrap();
    score_parts("out").bad_input(&["README.md", "names no table format"]);
    assert!(!dir.join("out").exists());
    assert!(
        !file_names(dir).iter().any(|n| n.contains("partial")),
        "{:?}",
        file_names(dir)
    );
    std::fs::remove_file(parts.join("README.md")).unwrap();
    score_parts("out").success();
}
