//! Formats (SPEC "Inputs" and "Outputs"): the same tables as CSV, Parquet, Arrow IPC or
//! JSON Lines score the same; every output format reads back equal; lenient booleans
//! and timestamps with offsets load as the same values.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::util::*;

/// Rewrites a CSV table in the format of `to`'s extension (types inferred by polars).
fn convert(from: &Path, to: PathBuf) -> PathBuf {
    let mut df = read_table(from);
    write_table(&to, &mut df);
    to
}

/// Rewrites a CSV table as Parquet with its RFC 3339 `column` as a typed datetime (ms).
fn with_typed_time(from: &Path, column: &str, to: PathBuf) -> PathBuf {
    let mut df = read_table(from);
    let millis: Vec<i64> = strings(&df, column)
        .iter()
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .expect("RFC 3339")
                .timestamp_millis()
        })
        .collect();
    let typed = Int64Chunked::from_vec(column.into(), millis)
        .into_datetime(TimeUnit::Milliseconds, None)
        .into_series();
    df.with_column(typed.into()).expect("same height");
    assert!(matches!(
        df.column(column).expect("the column").dtype(),
        DataType::Datetime(..)
    ));
    write_table(&to, &mut df);
    to
}

#[test]
fn the_same_tables_in_every_format_score_the_same() {
    let tmp = tempdir();
    let dir = tmp.path();
    let history = generate(dir, 23);
    let reference_out = dir.join("csv_scored.csv");
    score(
        dir,
        &history.new_changes,
        Some((&history.incidents, &history.changes)),
        &reference_out,
    )
    .success();
    let reference = scored(&reference_out);
    assert_eq!(reference.len(), 200);

    for ext in ["parquet", "arrow", "jsonl", "ipc", "feather", "ndjson"] {
        let changes = convert(&history.new_changes, dir.join(format!("new.{ext}")));
        let incidents = convert(&history.incidents, dir.join(format!("incidents.{ext}")));
        let past = convert(&history.changes, dir.join(format!("past.{ext}")));
        let output = dir.join(format!("{ext}_scored.csv"));
        score(dir, &changes, Some((&incidents, &past)), &output).success();
        assert_eq!(
            scored(&output),
            reference,
            "inputs as .{ext} scored differently"
        );
    }

    // Without an extension (a pipe such as `<(zcat new.csv.gz)`, /dev/stdin, a file
    // named `new`), an input is known by its content.
    for ext in ["csv", "parquet", "arrow", "jsonl"] {
        let source = match ext {
            "csv" => history.new_changes.clone(),
            _ => dir.join(format!("new.{ext}")),
        };
        let bare = dir.join(format!("new_{ext}"));
        std::fs::copy(&source, &bare).unwrap();
        let output = dir.join(format!("bare_{ext}.csv"));
        score(
            dir,
            &bare,
            Some((&history.incidents, &history.changes)),
            &output,
        )
        .success();
        assert_eq!(scored(&output), reference, "{ext} without its extension");

        let piped = dir.join(format!("piped_{ext}.csv"));
        let mut cmd = changerisk(dir);
        cmd.args(["score", "--model"])
            .arg(shipped_model())
            // `-` is standard input too.
            .args(["--changes"])
            .arg(if ext == "csv" || ext == "arrow" {
                "-"
            } else {
                "/dev/stdin"
            })
            .arg("--incidents")
            .arg(&history.incidents)
            .arg("--history")
            .arg(&history.changes)
            .arg("--output")
            .arg(&piped)
            .write_stdin(std::fs::read(&source).unwrap());
        run_command(cmd).success();
        assert_eq!(scored(&piped), reference, "{ext} through a pipe");
    }
    // An empty extension (`new.`) is no extension either.
    std::fs::copy(&history.new_changes, dir.join("new.")).unwrap();
    let output = dir.join("dot.csv");
    score(
        dir,
        &dir.join("new."),
        Some((&history.incidents, &history.changes)),
        &output,
    )
    .success();
    assert_eq!(scored(&output), reference, "a name ending in a dot");
    // An extension that names no format is still refused, not guessed at.
    std::fs::copy(&history.new_changes, dir.join("new.txt")).unwrap();
    score(dir, &dir.join("new.txt"), None, &dir.join("txt.csv"))
        .bad_input(&["new.txt", "unsupported file extension"]);

    // Typed datetime columns (as a warehouse export writes them) instead of text.
    let changes = with_typed_time(
        &history.new_changes,
        "timestamp",
        dir.join("typed_new.parquet"),
    );
    let incidents = with_typed_time(
        &history.incidents,
        "start_time",
        dir.join("typed_inc.parquet"),
    );
    let past = with_typed_time(
        &history.changes,
        "timestamp",
        dir.join("typed_past.parquet"),
    );
    let output = dir.join("typed_scored.csv");
    score(dir, &changes, Some((&incidents, &past)), &output).success();
    assert_eq!(
        scored(&output),
        reference,
        "typed timestamps scored differently"
    );
}

#[test]
fn every_output_format_reads_back_with_the_same_rows_and_risks() {
    let tmp = tempdir();
    let dir = tmp.path();
    let history = generate(dir, 24);
    let ids = read_records(&history.new_changes).column("change_id");
    let scored_as = |ext: &str| {
        let output = dir.join(format!("scored.{ext}"));
        score(
            dir,
            &history.new_changes,
            Some((&history.incidents, &history.changes)),
            &output,
        )
        .success();
        read_table(&output)
    };
    let reference = scored_as("csv");
    assert_eq!(strings(&reference, "change_id"), ids);
    let risks = floats(&reference, "risk");
    for ext in ["parquet", "arrow", "jsonl"] {
        let df = scored_as(ext);
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(
            names[..5],
            ["change_id", "risk", "tier", "reasons", "policy"],
            ".{ext}"
        );
        assert_eq!(strings(&df, "change_id"), ids, ".{ext}: change_id order");
        for (k, (a, b)) in floats(&df, "risk").iter().zip(&risks).enumerate() {
            approx::assert_abs_diff_eq!(*a, *b, epsilon = 1e-12);
            assert!((0.0..=1.0).contains(a), ".{ext} row {k}: risk {a}");
        }
        for column in ["tier", "reasons", "policy"] {
            assert_eq!(
                strings(&df, column),
                strings(&reference, column),
                ".{ext}: {column}"
            );
        }
    }
}

/// Scores `rows` without history and returns (change_id, risk, tier, reasons) per row.
fn score_rows(dir: &Path, name: &str, rows: &[ChangeRow]) -> Vec<[String; 5]> {
    let changes = dir.join(format!("{name}.csv"));
    write_changes(&changes, rows);
    let output = dir.join(format!("{name}_scored.csv"));
    score(dir, &changes, None, &output).success();
    scored(&output)
}

/// Changes with canonical booleans and UTC timestamps, chosen so that reading an offset
/// as UTC would move them across the off-hours or weekend boundary.
fn canonical() -> Vec<ChangeRow> {
    [
        ("a", "2025-01-06T06:00:00Z", "true", "false"), // Mon 06:00, off-hours
        ("b", "2025-01-10T20:30:00Z", "false", "true"), // Fri 20:30
        ("c", "2025-01-07T12:00:00Z", "true", "true"),  // Tue noon
        ("d", "2025-01-08T18:30:00Z", "false", "false"), // Wed 18:30
    ]
    .into_iter()
    .map(|(id, ts, customer_facing, rollback)| {
        let mut row = ChangeRow::new(id, ts);
        row.customer_facing = customer_facing.into();
        row.rollback_plan = rollback.into();
        row
    })
    .collect()
}

#[test]
fn lenient_booleans_and_offset_timestamps_load_as_the_same_values() {
    let tmp = tempdir();
    let dir = tmp.path();
    let reference = score_rows(dir, "canonical", &canonical());

    let mut lenient = canonical();
    // The same instants with offsets (2025-01-06T08:00:00+02:00 is 06:00Z, ...).
    for (row, ts) in lenient.iter_mut().zip([
        "2025-01-06T08:00:00+02:00",
        "2025-01-11T01:30:00+05:00",
        "2025-01-07T07:00:00-05:00",
        "2025-01-08T18:30:00+00:00",
    ]) {
        row.timestamp = ts.into();
    }
    // The same booleans in other spellings (`1.0` and `0.0` as pandas writes a 0/1
    // column with gaps).
    for (row, (cf, rb)) in
        lenient
            .iter_mut()
            .zip([("yes", "No"), ("0.0", "1"), ("TRUE", "1.0"), ("0", "False")])
    {
        row.customer_facing = cf.into();
        row.rollback_plan = rb.into();
    }
    assert_eq!(score_rows(dir, "lenient", &lenient), reference);

    // Controls: the booleans and the offsets matter, so the equality is not vacuous.
    let mut flipped = canonical();
    for row in &mut flipped {
        row.customer_facing = (row.customer_facing == "false").to_string();
    }
    assert_ne!(score_rows(dir, "flipped", &flipped), reference);
    let mut wall_clock = canonical();
    for (row, ts) in wall_clock.iter_mut().zip([
        "2025-01-06T08:00:00Z",
        "2025-01-11T01:30:00Z",
        "2025-01-07T07:00:00Z",
        "2025-01-08T18:30:00Z",
    ]) {
        row.timestamp = ts.into();
    }
    assert_ne!(score_rows(dir, "wall_clock", &wall_clock), reference);
}

#[test]
fn spreadsheet_csv_with_byte_order_mark_and_crlf_loads_like_plain_csv() {
    let tmp = tempdir();
    let dir = tmp.path();
    let reference = score_rows(dir, "plain", &canonical());
    let plain = std::fs::read_to_string(dir.join("plain.csv")).expect("written");
    let excel = format!("\u{feff}{}", plain.replace('\n', "\r\n"));
    std::fs::write(dir.join("excel.csv"), excel).expect("written");
    let output = dir.join("excel_scored.csv");
    score(dir, &dir.join("excel.csv"), None, &output).success();
    assert_eq!(scored(&output), reference);
}

/// Spreadsheets save "Unicode text" as UTF-16: refused by name, as CSV, as JSON Lines and
/// without an extension, instead of failing as a header that is not UTF-8.
#[test]
fn utf16_text_is_refused_by_name() {
    let tmp = tempdir();
    let dir = tmp.path();
    score_rows(dir, "plain", &canonical());
    let plain = std::fs::read_to_string(dir.join("plain.csv")).expect("written");
    let utf16: Vec<u8> = std::iter::once(0xFEFF_u16)
        .chain(plain.encode_utf16())
        .flat_map(u16::to_le_bytes)
        .collect();
    for name in ["utf16.csv", "utf16.jsonl", "utf16"] {
        std::fs::write(dir.join(name), &utf16).expect("written");
        score(dir, &dir.join(name), None, &dir.join("out.csv")).bad_input(&[
            name,
            "is UTF-16 text",
            "iconv -f UTF-16 -t UTF-8",
        ]);
    }
    // Compressed or typed bytes under a text table's name are named for what they hold,
    // not read as a row of the wrong length.
    let gzip = [0x1f_u8, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xcb, 0x48];
    let parquet = b"PAR1\x15\x04\x15\x10";
    for (name, bytes, what) in [
        ("gz.csv", &gzip[..], "gzip-compressed data"),
        ("pq.csv", &parquet[..], "a Parquet file (name it .parquet)"),
        (
            "pq.jsonl",
            &parquet[..],
            "a Parquet file (name it .parquet)",
        ),
    ] {
        std::fs::write(dir.join(name), bytes).expect("written");
        score(dir, &dir.join(name), None, &dir.join("out.csv")).bad_input(&[
            name,
            "is named as a text table",
            what,
        ]);
    }
    // Without its mark, the NUL bytes give it away when nothing else names the format.
    std::fs::write(dir.join("nomark"), &utf16[2..]).expect("written");
    score(dir, &dir.join("nomark"), None, &dir.join("out.csv")).bad_input(&[
        "nomark",
        "holds NUL bytes",
        "UTF-16",
    ]);
    assert!(!dir.join("out.csv").exists());
}

#[test]
fn small_integer_decimal_and_binary_columns_score_like_csv() {
    let tmp = tempdir();
    let dir = tmp.path();
    let history = generate(dir, 25);
    let reference_out = dir.join("csv_scored.csv");
    score(dir, &history.new_changes, None, &reference_out).success();
    let reference = scored(&reference_out);
    // As pandas and Spark write small counts: 8- and 16-bit integers, and decimals.
    let casts = [
        ("regions_affected", DataType::Int16),
        ("services_affected", DataType::UInt8),
        ("reviewer_count", DataType::Int8),
        ("files_changed", DataType::UInt16),
        ("lines_changed", DataType::Decimal(12, 0)),
        // Text as bytes without the UTF-8 annotation, as some Spark exports write it.
        ("author", DataType::Binary),
    ];
    let mut df = read_table(&history.new_changes);
    for (column, dtype) in &casts {
        let cast = df
            .column(column)
            .expect("the column")
            .cast(dtype)
            .expect("cast");
        assert_eq!(cast.dtype(), dtype);
        df.with_column(cast).expect("same height");
    }
    for ext in ["parquet", "arrow"] {
        let changes = dir.join(format!("small.{ext}"));
        write_table(&changes, &mut df);
        let output = dir.join(format!("{ext}_scored.csv"));
        score(dir, &changes, None, &output).success();
        assert_eq!(
            scored(&output),
            reference,
            ".{ext} with small integer types"
        );
    }
}

/// A date or time typed column where a number is expected is refused, not read as Unix
/// seconds (`lines_changed` of 1735689600).
#[test]
fn typed_times_where_numbers_are_expected_are_bad_input() {
    let tmp = tempdir();
    let dir = tmp.path();
    let history = generate(dir, 26);
    for (column, dtype) in [
        (
            "lines_changed",
            DataType::Datetime(TimeUnit::Milliseconds, None),
        ),
        ("files_changed", DataType::Date),
    ] {
        let mut df = read_table(&history.new_changes);
        let cast = df
            .column(column)
            .expect("the column")
            .cast(&DataType::Int32)
            .and_then(|c| c.cast(&dtype))
            .expect("cast");
        df.with_column(cast).expect("same height");
        for ext in ["parquet", "arrow"] {
            let changes = dir.join(format!("typed_{column}.{ext}"));
            write_table(&changes, &mut df);
            let output = dir.join("out.csv");
            score(dir, &changes, None, &output).bad_input(&[
                &format!("typed_{column}.{ext} row 1, column '{column}'"),
                "not a date or time",
                "1970-01-",
            ]);
            assert!(!output.exists());
        }
    }
}

/// Typed files polars' reader panics on, or would read into nonsense, made by pyarrow
/// from the first rows of data/new_changes.csv (tests/fixtures/typed/README.md).
#[test]
fn typed_files_polars_cannot_read_are_bad_input_not_a_crash() {
    let tmp = tempdir();
    let dir = tmp.path();
    let fixtures = repo_root().join("tests/fixtures/typed");
    // Each file, and what its error says besides its name.
    for (file, said) in [
        ("dupcol.arrow", "cannot read as Arrow IPC"),
        ("ree.arrow", "cannot read as Arrow IPC"),
        ("corrupt.parquet", "cannot read as Parquet"),
        (
            "damaged_row_count.parquet",
            "column 'ai_tool' holds 400 values where the table has 500 rows",
        ),
        (
            "svc_struct.parquet",
            "column 'service' holds values of type struct",
        ),
        // Types polars cannot hold, named by column (polars' own errors name none).
        ("float16.parquet", "column 'm16' holds 16-bit floats"),
        ("float16.arrow", "column 'm16' holds 16-bit floats"),
        (
            "decimal256.parquet",
            "column 'amount' holds 256-bit decimals",
        ),
        ("decimal256.arrow", "column 'amount' holds 256-bit decimals"),
        (
            "binary_not_utf8.parquet",
            " row 2, column 'service': \"\u{fffd}\u{fffd}web\" is not UTF-8 text",
        ),
        (
            "categorical_null.arrow",
            "in a dictionary-encoded column: team",
        ),
    ] {
        let output = dir.join("scored.csv");
        score(dir, &fixtures.join(file), None, &output).bad_input(&[file, said]);
        assert!(!output.exists(), "{file}");
    }
}

/// Pass-through columns in the text outputs: a time with a named zone is written as the
/// same instant in UTC; what a format cannot hold (NaN in JSON, binary in either) is exit
/// 2 naming the column, never a crash or a silent null; a clashing name's `input_`
/// prefix does not depend on the column order.
#[test]
fn text_outputs_write_zoned_times_in_utc_and_refuse_what_they_cannot_hold() {
    let tmp = tempdir();
    let dir = tmp.path();
    let fixture = |name: &str| repo_root().join("tests/fixtures/typed").join(name);
    let zoned = fixture("passthrough_zoned.parquet");
    score(dir, &zoned, None, &dir.join("z.csv")).success();
    let text = std::fs::read_to_string(dir.join("z.csv")).unwrap();
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .ends_with(",2025-06-01T08:00:00.000000Z"),
        "{text}"
    );
    score(dir, &zoned, None, &dir.join("z.jsonl")).success();
    let text = std::fs::read_to_string(dir.join("z.jsonl")).unwrap();
    assert!(
        text.contains("\"opened_at\":\"2025-06-01T08:00:00+00:00\""),
        "{text}"
    );
    // Parquet keeps the zone as it came.
    score(dir, &zoned, None, &dir.join("z.parquet")).success();
    let df = read_table(&dir.join("z.parquet"));
    assert!(
        matches!(df.column("opened_at").unwrap().dtype(), DataType::Datetime(_, Some(z)) if z.as_str() == "Europe/Berlin"),
        "{:?}",
        df.column("opened_at").unwrap().dtype()
    );

    let nan = fixture("passthrough_nan.parquet");
    score(dir, &nan, None, &dir.join("n.jsonl")).bad_input(&[
        "n.jsonl",
        "column 'm' holds NaN in row 2",
        "JSON Lines cannot hold",
    ]);
    score(dir, &nan, None, &dir.join("n.csv")).success();
    // Inside a nested value a NaN cannot be found or written: refused in JSON Lines.
    let nested = fixture("passthrough_nested.parquet");
    score(dir, &nested, None, &dir.join("l.jsonl")).bad_input(&[
        "column 'xs' holds values of type list[f64], with floating-point values inside",
    ]);
    score(dir, &nested, None, &dir.join("l.parquet")).success();
    // A time without a zone is left as it is: no `Z` is made up, no digit is cut.
    let naive = fixture("passthrough_naive_ns.parquet");
    score(dir, &naive, None, &dir.join("t.csv")).success();
    let text = std::fs::read_to_string(dir.join("t.csv")).unwrap();
    let cell = text.lines().nth(1).unwrap().rsplit(',').next().unwrap();
    assert!(
        cell.contains("22:13:20.123456789") && !cell.ends_with('Z'),
        "{cell}"
    );
    let binary = fixture("passthrough_binary.parquet");
    for out in ["b.jsonl", "b.csv"] {
        score(dir, &binary, None, &dir.join(out)).bad_input(&[
            out,
            "column 'blob' holds binary values",
            "Parquet or Arrow IPC",
        ]);
        assert!(!dir.join(out).exists());
    }

    // `risk` clashes with an output column; `input_risk` clashes with nothing and keeps
    // its name (and its values) in either order.
    let rows = small_changes();
    write_changes(&dir.join("base.csv"), &rows);
    let base = std::fs::read_to_string(dir.join("base.csv")).unwrap();
    for (name, first, second) in [
        ("a.csv", "risk", "input_risk"),
        ("b.csv", "input_risk", "risk"),
    ] {
        let mut lines = base.lines();
        let mut text = format!("{},{first},{second}\n", lines.next().unwrap());
        for line in lines {
            text.push_str(&format!("{line},from_{first},from_{second}\n"));
        }
        std::fs::write(dir.join(name), text).unwrap();
        let out = dir.join(format!("scored_{name}"));
        score(dir, &dir.join(name), None, &out).success();
        let records = read_records(&out);
        assert_eq!(records.column("input_risk")[0], "from_input_risk", "{name}");
        assert_eq!(records.column("input_input_risk")[0], "from_risk", "{name}");
    }
}

/// JSON Lines as people write them: every value as text, numbers that are text in one
/// row and numbers in the next, pretty-printed objects, keys in any order.
#[test]
fn json_lines_are_read_as_the_text_of_each_value() {
    let tmp = tempdir();
    let dir = tmp.path();
    let history = generate(dir, 26);
    let reference_out = dir.join("csv_scored.csv");
    score(dir, &history.new_changes, None, &reference_out).success();
    let reference = scored(&reference_out);
    let records = read_records(&history.new_changes);
    let mut text = String::new();
    for (k, row) in records.rows.iter().enumerate() {
        let mut fields: Vec<String> = records
            .header
            .iter()
            .zip(row)
            .filter(|(_, v)| !v.is_empty())
            .map(|(name, v)| {
                let numeric = v.parse::<f64>().is_ok() || v == "true" || v == "false";
                // Every third row writes its numbers and booleans as JSON values.
                let value = if numeric && k % 3 == 0 {
                    v.clone()
                } else {
                    serde_json::to_string(v).unwrap()
                };
                format!("{}: {value}", serde_json::to_string(name).unwrap())
            })
            .collect();
        if k % 2 == 1 {
            fields.reverse();
        }
        let sep = if k % 5 == 0 { ",\n  " } else { ", " };
        text.push_str(&format!("{{{}}}\n", fields.join(sep)));
    }
    std::fs::write(dir.join("new.jsonl"), text).unwrap();
    let output = dir.join("jsonl_scored.csv");
    score(dir, &dir.join("new.jsonl"), None, &output).success();
    assert_eq!(scored(&output), reference);
}

#[test]
fn commands_that_read_their_history_twice_read_standard_input_once() {
    // `train` and `report` with `--changes -`: the same model as from the file, and
    // `report` (which reads the history again to score it) sees the same bytes.
    let dir = tempdir();
    let dir = dir.path();
    let history = generate(dir, 17);
    let piped = |args: &[&str]| {
        let mut cmd = changerisk(dir);
        cmd.args(args)
            .args(["--changes", "-", "--incidents"])
            .arg(&history.incidents)
            .write_stdin(std::fs::read(&history.changes).unwrap());
        run_command(cmd)
    };
    piped(&["train", "--quiet", "--model", "piped.json"]).success();
    run(
        dir,
        [
            "train",
            "--quiet",
            "--model",
            "file.json",
            "--changes",
            &history.changes.display().to_string(),
            "--incidents",
            &history.incidents.display().to_string(),
        ],
    )
    .success();
    assert_eq!(
        std::fs::read(dir.join("piped.json")).unwrap(),
        std::fs::read(dir.join("file.json")).unwrap()
    );
    let report = piped(&["report", "--model", "file.json", "--output", "r.html"]).success();
    assert!(
        report.stderr.contains("report of 3000 changes"),
        "{}",
        report.stderr
    );
    assert!(std::fs::metadata(dir.join("r.html")).unwrap().len() > 10_000);
    // One stream named for two inputs is refused, not read as empty or as the other.
    let incidents = history.incidents.display().to_string();
    for args in [
        vec![
            "score",
            "--model",
            "file.json",
            "--changes",
            "-",
            "--history",
            "-",
            "--incidents",
            &incidents,
        ],
        vec![
            "train",
            "--model",
            "twice.json",
            "--changes",
            "-",
            "--incidents",
            "/dev/stdin",
        ],
    ] {
        let mut cmd = changerisk(dir);
        cmd.args(&args)
            .write_stdin(std::fs::read(&history.changes).unwrap());
        run_command(cmd).bad_input(&["one stream, which can be read only once"]);
    }
    assert!(!dir.join("twice.json").exists());
}
