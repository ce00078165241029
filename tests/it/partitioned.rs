//! Partitioned tables (a directory of parts, `key=value` levels as Spark and Hive write
//! them): `score` reads them a part at a time and writes each part's scores under the
//! same path, equal to scoring the whole table as one file; the other commands read them
//! as the whole table; bad parts and outputs are refused by name.

use std::path::{Path, PathBuf};

use crate::util::*;

/// Writes `records` as a table partitioned by `key` (`key=value/part-0.EXT`, the column
/// dropped from the parts as Spark's `partitionBy` drops it), in the format `ext`, plus
/// the `_SUCCESS` marker Spark writes. Returns the directory.
pub(crate) fn partition(records: &Records, key: &str, ext: &str, dir: PathBuf) -> PathBuf {
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

/// `records` with the column `name` added: the first `chars` characters of each row's
/// time (the second column): its day (10) or month (7), a partition key.
pub(crate) fn with_period(records: &Records, name: &str, chars: usize) -> Records {
    let mut out = records.clone();
    out.header.push(name.into());
    for row in &mut out.rows {
        let period = row[1][..chars].to_string();
        row.push(period);
    }
    out
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

/// `score` of `changes` as their own history (with `incidents`, no `--history`), with
/// the shipped model, to `output`.
fn score_own_history(
    dir: &Path,
    changes: impl AsRef<Path>,
    incidents: impl AsRef<Path>,
    output: impl AsRef<Path>,
) -> Run {
    let path = |p: &Path| p.display().to_string();
    let model = path(&shipped_model());
    let (changes, incidents) = (path(changes.as_ref()), path(incidents.as_ref()));
    let output = path(output.as_ref());
    run(
        dir,
        [
            "score",
            "--model",
            &model,
            "--changes",
            &changes,
            "--incidents",
            &incidents,
            "--output",
            &output,
        ],
    )
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
    score_own_history(dir, "changes.csv", "incidents.csv", "whole.csv").success();
    for ext in ["parquet", "csv"] {
        let parts = partition(
            &changes,
            "service",
            ext,
            dir.join(format!("by_service_{ext}")),
        );
        let out = dir.join(format!("scored_{ext}"));
        let run = score_own_history(dir, &parts, "incidents.csv", &out).success();
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
    let new = with_period(&read_records(&history.new_changes), "day", 10);
    let new_parts = partition(&new, "day", "parquet", dir.join("new"));
    let day_of: std::collections::HashMap<&str, &str> = new
        .rows
        .iter()
        .map(|r| (r[0].as_str(), r.last().unwrap().as_str()))
        .collect();
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

    // One file instead: the parts' rows in part order, the partition key kept as a
    // column (no path carries it there); CSV and Parquet alike.
    // (A temporary file a killed run left is removed by the next.)
    let abandoned = dir.join(".one.csv.tmp-999999999");
    std::fs::write(&abandoned, "half").unwrap();
    left_long_ago(&abandoned);
    for name in ["one.csv", "one.parquet"] {
        score(dir, &new_parts, Some((&incidents, &past)), &dir.join(name)).success();
        let one = read_table(&dir.join(name));
        let ids = strings(&one, "change_id");
        let mut in_part_order: Vec<String> = Vec::new();
        for part in parts_below(&out) {
            in_part_order.extend(strings(&read_table(&out.join(part)), "change_id"));
        }
        assert_eq!(ids, in_part_order, "{name}");
        let risks = strings(&one, "risk");
        let days = strings(&one, "day");
        for (i, id) in ids.iter().enumerate() {
            let row = &expected[id];
            assert_eq!(
                risks[i].parse::<f64>().unwrap(),
                row[1].parse::<f64>().unwrap(),
                "{name}: {id}"
            );
            assert_eq!(days[i], day_of[id.as_str()], "{name}: {id}");
        }
    }
    assert!(!abandoned.exists());
    run(
        dir,
        [
            "score",
            "--model",
            &shipped_model().display().to_string(),
            "--changes",
            "new",
            "--no-history",
            "--output",
            "one.arrow",
        ],
    )
    .bad_input(&["one.arrow", "not as one Arrow IPC file"]);

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
    let by_month = with_period(&changes, "month", 7);
    let parts = partition(&by_month, "month", "parquet", dir.join("changes_parts"));
    // Parts as writers leave them: one empty, one in CSV with its columns in another
    // order, a pass-through column in some parts only.
    let first = parts_below(&parts)[0].clone();
    let df = read_table(&parts.join(&first));
    let header: Vec<String> = df
        .get_column_names()
        .iter()
        .rev()
        .map(|c| c.to_string())
        .collect();
    let rows: Vec<Vec<String>> = (0..df.height())
        .map(|i| header.iter().map(|c| strings(&df, c)[i].clone()).collect())
        .collect();
    std::fs::remove_file(parts.join(&first)).unwrap();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    write_records(
        &parts.join(first.replace(".parquet", ".csv")),
        &header,
        &rows,
    );
    let empty = df.slice(0, 0);
    std::fs::create_dir(parts.join("month=2099-01")).unwrap();
    write_table(
        &parts.join("month=2099-01/part-0.parquet"),
        &mut empty.clone(),
    );
    let second = parts_below(&parts)[1].clone();
    let mut extra = read_table(&parts.join(&second));
    let notes = polars::prelude::Column::new("note".into(), vec!["x"; extra.height()]);
    extra.with_column(notes).unwrap();
    write_table(&parts.join(&second), &mut extra);
    drop(df);
    // config --infer reads it whole and leaves the partition key out of the features.
    let inferred = run(dir, ["config", "--infer", "changes_parts"]).success();
    assert!(
        inferred
            .stdout
            .contains("'month' comes from the partitioned table's directory levels"),
        "{}",
        inferred.stdout
    );
    assert!(
        !inferred.stdout.contains("categorical = [\"month\"]"),
        "{}",
        inferred.stdout
    );
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
    let score_with = |args: &[&str]| run(dir, [&["score", "--model", &model][..], args].concat());
    let score_parts = |output: &str| {
        score_with(&[
            "--changes",
            "parts",
            "--incidents",
            "incidents.csv",
            "--history",
            "changes.csv",
            "--output",
            output,
        ])
    };
    // No --output: the default is a file.
    score_with(&["--changes", "parts", "--no-history"])
        .bad_input(&["parts is a partitioned table", "--output"]);
    // A file, a foreign directory, the input itself.
    std::fs::write(dir.join("plain"), "x\n").unwrap();
    score_parts("plain").bad_input(&["plain is a file", "directory"]);
    std::fs::create_dir(dir.join("mine")).unwrap();
    std::fs::write(dir.join("mine/notes.txt"), "keep me").unwrap();
    score_parts("mine").bad_input(&["mine", "no _SUCCESS marker"]);
    // The same places named through a directory not made yet and `..`.
    score_parts("nx/../mine").bad_input(&["no _SUCCESS marker"]);
    score_parts("nx/../parts").bad_input(&["would write over"]);
    score_with(&[
        "--changes",
        "new_changes.csv",
        "--no-history",
        "--output",
        "nz/../new_changes.csv",
    ])
    .bad_input(&["would write over"]);
    assert!(!dir.join("nx").exists() && !dir.join("nz").exists());
    score_parts("scored.csv.gz").bad_input(&["not to a compressed file"]);
    score_parts("-").bad_input(&["/dev/stdout"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("mine/notes.txt")).unwrap(),
        "keep me"
    );
    score_parts("parts/out").bad_input(&["inside the changes"]);

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
    // Of two bad parts, the first in part order is named (the next part is read while
    // one is scored).
    let third = parts_below(&parts)[2].clone();
    let mut last = read_records(&parts.join(&third));
    let fine = last.rows[0][col].clone();
    last.rows[0][col] = "several".into();
    last.write(&parts.join(&third));
    let out = score_parts("out")
        .bad_input(&[&second, "row 3"])
        .quotes("many");
    assert!(!out.stderr.contains(&third), "{}", out.stderr);
    last.rows[0][col] = fine;
    last.write(&parts.join(&third));
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

    // An output inside a partitioned input, even below directories not made yet, and
    // one that would replace the directory holding an input.
    score_parts("parts/service=new/deeper/out").bad_input(&["inside the changes"]);
    score_with(&[
        "--changes",
        "new_changes.csv",
        "--incidents",
        "incidents.csv",
        "--history",
        "parts",
        "--output",
        "parts/year=2026/scored.parquet",
    ])
    .bad_input(&["inside the history (parts)", "partitioned table"]);
    score_parts(".").bad_input(&["--output ."]);
    assert!(!parts.join("service=new").exists());

    // A link to an earlier output is followed, and a staging directory a killed run
    // left beside it is removed.
    std::fs::create_dir(dir.join("real")).unwrap();
    std::fs::write(dir.join("real/_SUCCESS"), "").unwrap();
    std::os::unix::fs::symlink(dir.join("real"), dir.join("link")).unwrap();
    let abandoned = dir.join(".real.partial-999999999");
    std::fs::create_dir(&abandoned).unwrap();
    left_long_ago(&abandoned);
    // One of a process gone but written lately may be another machine's run: kept.
    let recent = dir.join(".real.partial-999999998");
    std::fs::create_dir(&recent).unwrap();
    score_parts("link").success();
    assert!(std::fs::symlink_metadata(dir.join("link"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(parts_below(&dir.join("real")), parts_below(&parts));
    assert!(!abandoned.exists());
    assert!(recent.exists());
    score_parts("out").success();
}

/// Sets `path`'s modification time a day back: what a run killed long ago left.
fn left_long_ago(path: &Path) {
    let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
    std::fs::File::open(path)
        .and_then(|f| f.set_modified(day_ago))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Writes `records`' rows, each to the part `part_of` gives it (its index into `names`,
/// relative paths whose extension names the format), into `dir`.
fn write_parts(records: &Records, part_of: &[usize], names: &[String], dir: &Path) {
    let header: Vec<&str> = records.header.iter().map(String::as_str).collect();
    for (k, name) in names.iter().enumerate() {
        let rows: Vec<Vec<String>> = records
            .rows
            .iter()
            .zip(part_of)
            .filter(|&(_, &p)| p == k)
            .map(|(r, _)| r.clone())
            .collect();
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let csv = path.with_extension("csv");
        write_records(&csv, &header, &rows);
        if path != csv {
            let mut df = read_table(&csv);
            std::fs::remove_file(&csv).unwrap();
            write_table(&path, &mut df);
        }
    }
}

/// A generated history (written once) and its changes scored whole as their own history.
static WHOLE: std::sync::LazyLock<(
    tempfile::TempDir,
    Records,
    std::collections::BTreeMap<String, Vec<String>>,
)> = std::sync::LazyLock::new(|| {
    let tmp = tempdir();
    let dir = tmp.path();
    let history = generate(dir, 35);
    let changes = read_records(&history.changes);
    let sample = Records {
        header: changes.header.clone(),
        rows: changes.rows[..600].to_vec(),
    };
    sample.write(&dir.join("sample.csv"));
    score_own_history(dir, "sample.csv", "incidents.csv", "whole.csv").success();
    let whole = whole_rows(&dir.join("whole.csv"));
    (tmp, sample, whole)
});

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]

    /// However the rows are dealt into parts (in no time order, some parts empty, in
    /// any mix of formats, at any depth), each change's score is its score in one file.
    #[test]
    fn any_split_into_parts_scores_as_the_whole_file(
        parts in 1usize..7,
        seed in proptest::prelude::any::<u64>(),
        formats in proptest::collection::vec(0usize..3, 6),
        nested in proptest::prelude::any::<bool>(),
    ) {
        let (base, sample, whole) = &*WHOLE;
        let case = tempfile::tempdir_in(base.path()).unwrap();
        let dir = case.path();
        // A small linear congruential deal, so a failing case replays from its seed.
        let mut state = seed | 1;
        let part_of: Vec<usize> = (0..sample.rows.len())
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 33) as usize) % parts
            })
            .collect();
        let names: Vec<String> = (0..parts)
            .map(|k| {
                let ext = ["csv", "parquet", "jsonl"][formats[k]];
                if nested {
                    format!("batch={}/sub/part-{k}.{ext}", k % 2)
                } else {
                    format!("part-{k}.{ext}")
                }
            })
            .collect();
        write_parts(sample, &part_of, &names, &dir.join("parts"));
        let incidents = base.path().join("incidents.csv");
        score_own_history(dir, "parts", &incidents, "scored")
        .success();
        let got = scored_rows(&dir.join("scored"));
        proptest::prop_assert_eq!(got.len(), whole.len());
        for (id, row) in whole {
            proptest::prop_assert_eq!(&got[id][..5], &row[..5], "{}", id);
        }
    }
}

/// Partition keys named like the identity columns the parts hold, their values wrong for
/// every row: each part's own columns win, in `score`'s first pass (which reads only the
/// identity columns of Parquet and Arrow parts) as in its whole read of a part.
#[test]
fn keys_named_like_the_parts_own_columns_leave_those_columns_be() {
    let (base, sample, whole) = &*WHOLE;
    let tmp = tempdir();
    let dir = tmp.path();
    // (Keys of the history features alone scored wrong without a word; keys of the id
    // and time were refused.)
    for levels in [
        "service=x/author=x",
        "change_id=x/timestamp=x/service=x/author=x",
    ] {
        let parts = dir.join(levels.replace(['/', '='], "_"));
        let names: Vec<String> = ["parquet", "arrow", "csv"]
            .iter()
            .enumerate()
            .map(|(k, ext)| format!("{levels}/part-{k}.{ext}"))
            .collect();
        let part_of: Vec<usize> = (0..sample.rows.len()).map(|i| i % names.len()).collect();
        write_parts(sample, &part_of, &names, &parts);
        let incidents = base.path().join("incidents.csv");
        let scored = parts.with_extension("scored");
        score_own_history(dir, &parts, &incidents, &scored).success();
        let got = scored_rows(&scored);
        assert_eq!(got.len(), whole.len());
        for (id, row) in whole {
            assert_eq!(&got[id][..5], &row[..5], "{levels}: {id}");
        }
    }
}

/// Asserts two JSON values equal, numbers within a relative 1e-12 (sums taken in another
/// row order), naming the first path that differs.
fn assert_json_close(a: &serde_json::Value, b: &serde_json::Value, path: &str) {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-12 * x.abs().max(y.abs()).max(1.0),
                "{path}: {x} against {y}"
            );
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{path}: lengths");
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                assert_json_close(u, v, &format!("{path}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            let keys = |o: &serde_json::Map<String, Value>| o.keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(x), keys(y), "{path}: keys");
            for (k, u) in x {
                assert_json_close(u, &y[k], &format!("{path}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{path}"),
    }
}

/// `drift --json --outcomes` of `changes` with the model `m.json` and `flags`, in `dir`.
fn drift_json(dir: &Path, changes: &str, flags: &[&str]) -> serde_json::Value {
    let args = [
        &[
            "drift",
            "-q",
            "--json",
            "--outcomes",
            "--model",
            "m.json",
            "--changes",
            changes,
        ][..],
        flags,
    ]
    .concat();
    let run = run(dir, args).success();
    serde_json::from_str(&run.stdout).expect("JSON")
}

#[test]
fn drift_measures_a_partitioned_batch_a_part_at_a_time_as_the_file() {
    let tmp = tempdir();
    let dir = tmp.path();
    let history = generate(dir, 36);
    train_here(dir, "m.json", &[]).success();
    let new = with_period(&read_records(&history.new_changes), "day", 10);
    partition(&new, "day", "parquet", dir.join("new"));
    let history_files = ["--history", "changes.csv", "--incidents", "incidents.csv"];
    let drift = |changes: &str| drift_json(dir, changes, &history_files);
    let (parts, file) = (drift("new"), drift("new_changes.csv"));
    assert_eq!(parts["changes"], 200);
    assert!(parts["outcomes"].is_object(), "{parts}");
    // Shifts, advice and outcomes alike; only means summed in another order may differ
    // in their last bits.
    assert_json_close(&parts, &file, "");
}

#[test]
fn the_newest_partition_scores_against_the_whole_table_as_in_a_full_run() {
    let tmp = tempdir();
    let dir = tmp.path();
    let history = generate(dir, 37);
    let changes = with_period(&read_records(&history.changes), "day", 10);
    let table = partition(&changes, "day", "parquet", dir.join("hist"));
    let model = shipped_model().display().to_string();
    let score = |args: &[&str]| {
        let base = ["score", "--model", &model, "--incidents", "incidents.csv"];
        run(dir, [&base[..], args].concat()).success()
    };
    score(&["--changes", "hist", "--output", "all"]);
    // A daily run: the newest day's changes, with the whole table (which holds them too,
    // counted once) as their history.
    let newest = file_names(&table)
        .into_iter()
        .rfind(|n| n.starts_with("day="))
        .unwrap();
    let day = format!("hist/{newest}");
    let out = format!("daily/{newest}");
    score(&["--changes", &day, "--history", "hist", "--output", &out]);
    let daily = scored_rows(&dir.join(&out));
    let full = scored_rows(&dir.join("all").join(&newest));
    assert!(!daily.is_empty());
    assert_eq!(daily, full);
}

#[test]
fn drift_of_a_label_configs_partitioned_batch_with_outcomes_equals_the_file() {
    let tmp = tempdir();
    let dir = tmp.path();
    crate::sql::write_label_history(dir);
    train_config(dir, "label.toml", "label.csv", &["--quiet"]).success();
    // By service (the repo only in the paths), so the identity pass must take it from
    // the levels and the labels from the parts.
    partition(
        &read_records(&dir.join("label.csv")),
        "repo",
        "csv",
        dir.join("parts"),
    );
    let drift = |changes: &str| drift_json(dir, changes, &[]);
    let (parts, file) = (drift("parts"), drift("label.csv"));
    assert!(
        parts["outcomes"]["positives"].as_u64().unwrap() > 0,
        "{parts}"
    );
    assert_json_close(&parts, &file, "");
}
