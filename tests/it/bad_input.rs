//! Bad input exits 2 with a message naming the file, row, column and value (SPEC
//! "Inputs", issue point 2), and no input at all makes any command panic.

use std::path::{Path, PathBuf};

use polars::prelude::{Int64Chunked, IntoSeries, NamedFrom, Series, TimeUnit};

use crate::util::*;

/// Writes `rows` to `changes.csv` in `dir` and scores it without history.
fn score_changes(dir: &Path, rows: &[ChangeRow]) -> Run {
    let changes = dir.join("changes.csv");
    write_changes(&changes, rows);
    score(dir, Path::new("changes.csv"), None, &dir.join("scored.csv"))
}

/// The small valid changes with `spoil` applied to the row at 0-based `index`.
fn spoiled(index: usize, spoil: impl FnOnce(&mut ChangeRow)) -> Vec<ChangeRow> {
    let mut rows = small_changes();
    spoil(&mut rows[index]);
    rows
}

#[test]
fn misspelled_category_names_file_row_column_value_and_levels() {
    let tmp = tempdir();
    // Data rows are numbered from 1: the second row is row 2.
    score_changes(
        tmp.path(),
        &spoiled(1, |r| r.review_status = "aproved".into()),
    )
    .bad_input(&[
        "changes.csv",
        "row 2",
        "review_status",
        "approved, self_approved, bypassed, none",
    ])
    .quotes("aproved");
    assert!(!tmp.path().join("scored.csv").exists());
}

#[test]
fn a_huge_cell_or_header_is_quoted_in_part() {
    let tmp = tempdir();
    // A 2 MB cell: the message names the row and column and quotes its start and length.
    let huge = "y".repeat(2_000_000);
    let out = score_changes(tmp.path(), &spoiled(1, |r| r.permission_level = huge)).bad_input(&[
        "changes.csv",
        "row 2",
        "permission_level",
        "... (2000000 characters in all)",
        "standard, elevated, admin",
    ]);
    assert!(out.stderr.len() < 1_000, "{} bytes", out.stderr.len());
    // A 2 MB header cell: the list of the columns present is cut in the middle.
    let mut text = "a".repeat(2_000_000);
    text.push_str(",b\n1,2\n");
    std::fs::write(tmp.path().join("header.csv"), text).unwrap();
    let out = score(
        tmp.path(),
        Path::new("header.csv"),
        None,
        &tmp.path().join("scored.csv"),
    )
    .bad_input(&[
        "header.csv",
        "missing required column",
        "characters left out",
    ]);
    assert!(out.stderr.len() < 3_000, "{} bytes", out.stderr.len());
}

#[test]
fn misspelled_levels_of_every_enum_column_are_rejected() {
    for (column, value) in [
        ("ai_involvement", "agentic"),
        ("permission_level", "root"),
        ("change_type", "hotfix"),
    ] {
        let tmp = tempdir();
        let rows = spoiled(3, |r| match column {
            "ai_involvement" => r.ai_involvement = value.into(),
            "permission_level" => r.permission_level = value.into(),
            _ => r.change_type = value.into(),
        });
        score_changes(tmp.path(), &rows)
            .bad_input(&["changes.csv", "row 4", column])
            .quotes(value);
    }
}

#[test]
fn missing_required_column_is_named() {
    let tmp = tempdir();
    let changes = tmp.path().join("changes.csv");
    let rows: Vec<Cells> = small_changes()
        .iter()
        .map(|r| {
            r.cells()
                .into_iter()
                .filter(|c| c.0 != "permission_level")
                .collect()
        })
        .collect();
    write_cells(&changes, &rows);
    score(
        tmp.path(),
        Path::new("changes.csv"),
        None,
        &tmp.path().join("scored.csv"),
    )
    .bad_input(&["changes.csv", "permission_level"]);
}

#[test]
fn optional_columns_may_be_absent() {
    // SPEC: ai_tool, reviewer_count and rollback_plan are optional.
    let tmp = tempdir();
    let changes = tmp.path().join("changes.csv");
    let optional = ["ai_tool", "reviewer_count", "rollback_plan"];
    let rows: Vec<Cells> = small_changes()
        .iter()
        .map(|r| {
            r.cells()
                .into_iter()
                .filter(|c| !optional.contains(&c.0))
                .collect()
        })
        .collect();
    write_cells(&changes, &rows);
    let output = tmp.path().join("scored.csv");
    score(tmp.path(), &changes, None, &output).success();
    assert_eq!(scored(&output).len(), 6);
}

#[test]
fn unparsable_timestamp_names_row_and_value() {
    let tmp = tempdir();
    score_changes(
        tmp.path(),
        &spoiled(2, |r| r.timestamp = "2025-02-30T10:00:00Z".into()),
    )
    .bad_input(&["changes.csv", "row 3", "timestamp"])
    .quotes("2025-02-30T10:00:00Z");
    let tmp = tempdir();
    score_changes(
        tmp.path(),
        &spoiled(0, |r| r.timestamp = "yesterday".into()),
    )
    .bad_input(&["changes.csv", "row 1", "timestamp"])
    .quotes("yesterday");
}

#[test]
fn duplicate_change_id_names_both_rows() {
    let tmp = tempdir();
    score_changes(tmp.path(), &spoiled(4, |r| r.change_id = "c2".into()))
        .bad_input(&["changes.csv", "change_id", "rows 2 and 5"])
        .quotes("c2");
}

#[test]
fn negative_count_is_rejected() {
    let tmp = tempdir();
    score_changes(tmp.path(), &spoiled(1, |r| r.lines_changed = "-5".into()))
        .bad_input(&["changes.csv", "row 2", "lines_changed"])
        .quotes("-5");
}

#[test]
fn blast_radius_of_zero_services_is_rejected() {
    let tmp = tempdir();
    score_changes(
        tmp.path(),
        &spoiled(5, |r| r.services_affected = "0".into()),
    )
    .bad_input(&["changes.csv", "row 6", "services_affected"])
    .quotes("0");
}

#[test]
fn bad_boolean_is_rejected() {
    let tmp = tempdir();
    score_changes(
        tmp.path(),
        &spoiled(2, |r| r.customer_facing = "maybe".into()),
    )
    .bad_input(&["changes.csv", "row 3", "customer_facing"])
    .quotes("maybe");
    // A number other than pandas' 1.0 and 0.0 is not a boolean either.
    score_changes(tmp.path(), &spoiled(1, |r| r.rollback_plan = "0.5".into()))
        .bad_input(&[
            "changes.csv",
            "row 2",
            "rollback_plan",
            "true, false, 1, 0, 1.0, 0.0, yes or no",
        ])
        .quotes("0.5");
}

#[test]
fn empty_required_cell_is_rejected() {
    let tmp = tempdir();
    score_changes(tmp.path(), &spoiled(1, |r| r.service = String::new())).bad_input(&[
        "changes.csv",
        "row 2",
        "service",
    ]);
}

#[test]
fn a_row_with_a_missing_or_extra_field_is_named() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_changes(&dir.join("changes.csv"), &small_changes());
    let text = std::fs::read_to_string(dir.join("changes.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let header = lines[0].split(',').count();
    // Row 3 loses its last field (it would otherwise read as an empty cell).
    let third = lines[3].clone();
    lines[3] = third[..third.rfind(',').unwrap()].to_string();
    std::fs::write(dir.join("short.csv"), lines.join("\n") + "\n").unwrap();
    score(dir, Path::new("short.csv"), None, &dir.join("scored.csv")).bad_input(&[
        "short.csv row 3",
        &format!("{} field(s) where the header has {header}", header - 1),
    ]);
    lines[3] = format!("{third},extra");
    std::fs::write(dir.join("long.csv"), lines.join("\n") + "\n").unwrap();
    score(dir, Path::new("long.csv"), None, &dir.join("scored.csv"))
        .bad_input(&["long.csv row 3", &format!("{} field(s)", header + 1)]);
    // Blank lines at the end are not rows.
    lines[3] = third;
    std::fs::write(dir.join("blank_end.csv"), lines.join("\n") + "\n\n\n").unwrap();
    score(
        dir,
        Path::new("blank_end.csv"),
        None,
        &dir.join("scored.csv"),
    )
    .success();
}

#[test]
fn quoted_csv_rows_are_checked_the_same_way() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_changes(&dir.join("changes.csv"), &small_changes());
    let text = std::fs::read_to_string(dir.join("changes.csv")).unwrap();
    let quote_ids = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .map(|l| match l.split_once(',') {
                Some((id, rest)) => format!("\"{id}\",{rest}"),
                None => l.clone(),
            })
            .collect()
    };
    let lines = quote_ids(&text.lines().map(String::from).collect::<Vec<_>>());
    let header = lines[0].split(',').count();
    // Quoted, the same changes score the same.
    std::fs::write(dir.join("quoted.csv"), lines.join("\r\n") + "\r\n").unwrap();
    score(dir, Path::new("quoted.csv"), None, &dir.join("q.csv")).success();
    score(dir, Path::new("changes.csv"), None, &dir.join("p.csv")).success();
    assert_eq!(
        std::fs::read(dir.join("q.csv")).unwrap(),
        std::fs::read(dir.join("p.csv")).unwrap()
    );
    // A short row is named, not padded with empty cells.
    let mut short = lines.clone();
    short[3] = short[3][..short[3].rfind(',').unwrap()].to_string();
    std::fs::write(dir.join("short.csv"), short.join("\n") + "\n").unwrap();
    score(dir, Path::new("short.csv"), None, &dir.join("scored.csv")).bad_input(&[
        "short.csv row 3",
        &format!("{} field(s) where the header has {header}", header - 1),
    ]);
    // A quote opened in row 2's timestamp and never closed would swallow row 3 into one
    // row of the right width, where row 3 quotes its timestamp.
    let mut open: Vec<String> = text.lines().map(String::from).collect();
    let quote_time = |line: &str, close: &str| {
        let (id, rest) = line.split_once(',').unwrap();
        let (time, rest) = rest.split_once(',').unwrap();
        format!("{id},\"{time}{close},{rest}")
    };
    open[2] = quote_time(&open[2], "");
    open[3] = quote_time(&open[3], "\"");
    std::fs::write(dir.join("open.csv"), open.join("\n") + "\n").unwrap();
    score(dir, Path::new("open.csv"), None, &dir.join("scored.csv")).bad_input(&[
        "open.csv",
        "row 2: a quote opened in this row is not closed",
    ]);
}

/// The small valid changes as JSON Lines (every value as text), with `edit` applied to
/// the text of each row (numbered from 1).
fn small_changes_jsonl(edit: impl Fn(usize, String) -> String) -> String {
    small_changes()
        .iter()
        .enumerate()
        .map(|(k, row)| {
            let fields: Vec<String> = row
                .cells()
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(name, v)| format!("{name:?}: {}", serde_json::to_string(&v).unwrap()))
                .collect();
            edit(k + 1, format!("{{{}}}", fields.join(", "))) + "\n"
        })
        .collect()
}

#[test]
fn json_lines_values_that_are_not_single_ones_are_named_by_row_and_key() {
    let tmp = tempdir();
    let dir = tmp.path();
    type Edit = fn(usize, String) -> String;
    let cases: [(&str, Edit, &[&str]); 4] = [
        (
            "object.jsonl",
            |k, row| {
                if k == 2 {
                    row.replacen("\"service\": ", "\"service\": {\"name\": 1}, \"x\": ", 1)
                } else {
                    row
                }
            },
            &["object.jsonl row 2, column 'service'", "an object (line 2)"],
        ),
        (
            "repeated.jsonl",
            |k, row| {
                if k == 3 {
                    row.replacen("\"service\": ", "\"service\": \"other\", \"service\": ", 1)
                } else {
                    row
                }
            },
            &["repeated.jsonl", "row 3 (line 3)", "key 'service' twice"],
        ),
        (
            "nan.jsonl",
            |k, row| {
                if k == 2 {
                    row.replacen("{", "{\"lines\": NaN, ", 1)
                } else {
                    row
                }
            },
            &[
                "nan.jsonl",
                "row 2 (line 2)",
                "NaN and Infinity are not JSON",
            ],
        ),
        (
            "deep.jsonl",
            |k, row| {
                if k == 1 {
                    row.replacen(
                        "{",
                        &format!("{{\"x\": {}1{}, ", "[".repeat(100_000), "]".repeat(100_000)),
                        1,
                    )
                } else {
                    row
                }
            },
            &["deep.jsonl", "row 1"],
        ),
    ];
    for (name, edit, needles) in cases {
        std::fs::write(dir.join(name), small_changes_jsonl(edit)).unwrap();
        score(dir, Path::new(name), None, &dir.join("scored.csv")).bad_input(needles);
        assert!(!dir.join("scored.csv").exists());
    }
    // A number beyond 64 bits, as the text it is: not a count.
    std::fs::write(
        dir.join("huge.jsonl"),
        small_changes_jsonl(|_, row| {
            let at = row.find("\"lines_changed\": \"").unwrap();
            let end = row[at + 18..].find('"').unwrap() + at + 18;
            format!("{}18446744073709551616{}", &row[..at + 17], &row[end + 1..])
        }),
    )
    .unwrap();
    score(dir, Path::new("huge.jsonl"), None, &dir.join("scored.csv")).bad_input(&[
        "huge.jsonl row 1, column 'lines_changed'",
        "18446744073709551616",
    ]);
}

/// Trains on the small valid changes and the given incidents file contents.
fn train_with_incidents(dir: &Path, rows: &[IncidentRow]) -> Run {
    train_small(dir, rows, &[])
}

/// Trains on the small valid changes and `rows` as incidents, with `flags`.
fn train_small(dir: &Path, rows: &[IncidentRow], flags: &[&str]) -> Run {
    write_changes(&dir.join("changes.csv"), &small_changes());
    write_incidents(&dir.join("incidents.csv"), rows);
    train_here(dir, "model.json", flags)
}

#[test]
fn bad_severity_in_incidents_is_rejected() {
    let tmp = tempdir();
    let mut bad = IncidentRow::new("i2", &at_hours(12.0), "checkout");
    bad.severity = "critical".into();
    let incidents = [
        IncidentRow::new("i1", &at_hours(10.5), "checkout").caused_by("c1"),
        bad,
    ];
    train_with_incidents(tmp.path(), &incidents)
        .bad_input(&["incidents.csv", "row 2", "severity"])
        .quotes("critical");
    assert!(!tmp.path().join("model.json").exists());

    let tmp = tempdir();
    let mut bad = IncidentRow::new("i1", &at_hours(10.5), "checkout");
    bad.severity = "sev6".into();
    train_with_incidents(tmp.path(), &[bad])
        .bad_input(&["incidents.csv", "row 1", "severity"])
        .quotes("sev6");
}

#[test]
fn duplicate_incident_id_names_both_rows() {
    let tmp = tempdir();
    let incidents = [
        IncidentRow::new("i1", &at_hours(10.5), "checkout").caused_by("c1"),
        IncidentRow::new("i2", &at_hours(12.0), "payments"),
        IncidentRow::new("i1", &at_hours(36.0), "checkout"),
    ];
    train_with_incidents(tmp.path(), &incidents)
        .bad_input(&["incidents.csv", "incident_id", "rows 1 and 3"])
        .quotes("i1");
}

#[test]
fn incident_with_unparsable_start_time_is_rejected() {
    let tmp = tempdir();
    let incidents = [IncidentRow::new("i1", "10:30 yesterday", "checkout")];
    train_with_incidents(tmp.path(), &incidents)
        .bad_input(&["incidents.csv", "row 1", "start_time"])
        .quotes("10:30 yesterday");
}

#[test]
fn empty_file_is_rejected() {
    let tmp = tempdir();
    std::fs::write(tmp.path().join("changes.csv"), b"").expect("written");
    score(
        tmp.path(),
        Path::new("changes.csv"),
        None,
        &tmp.path().join("scored.csv"),
    )
    .bad_input(&["changes.csv", "empty"]);
}

/// A header alone is an empty batch to `score` (one row out per change in: none, and
/// exit 0, so a pipeline with nothing to score that day does not fail) and an empty
/// history to learn from to `train` (exit 2). Its columns are still checked.
#[test]
fn header_only_changes_file_scores_nothing_and_trains_nothing() {
    let tmp = tempdir();
    let dir = tmp.path();
    let score_here = |changes: &str, history: Option<(&Path, &Path)>, output: &str| {
        score(dir, Path::new(changes), history, &dir.join(output))
    };
    let header = ChangeRow::new("", "")
        .cells()
        .iter()
        .map(|c| c.0)
        .collect::<Vec<_>>()
        .join(",");
    std::fs::write(dir.join("changes.csv"), format!("{header}\n")).expect("written");
    for output in ["scored.csv", "scored.parquet"] {
        let run = score_here("changes.csv", None, output).success();
        assert!(run.stderr.contains("scored 0 changes"), "{}", run.stderr);
        let df = read_table(&dir.join(output));
        assert_eq!(df.height(), 0);
        let names: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
        assert_eq!(
            names[..5],
            ["change_id", "risk", "tier", "reasons", "policy"]
        );
    }
    // An empty history beside changes to score counts as no history at all.
    write_changes(&dir.join("new.csv"), &small_changes());
    write_incidents(&dir.join("incidents.csv"), &[]);
    let empty_history = (Path::new("incidents.csv"), Path::new("changes.csv"));
    score_here("new.csv", Some(empty_history), "with_empty_history.csv").success();
    score_here("new.csv", None, "without_history.csv").success();
    // The same scores; only the reasons of the run given no files say so.
    let unmarked = |mut rows: Vec<[String; 5]>| {
        for r in &mut rows {
            r[3] = r[3].replace(" (no history given)", "");
        }
        rows
    };
    let without = scored(&dir.join("without_history.csv"));
    assert!(without.iter().any(|r| r[3].contains(" (no history given)")));
    assert_eq!(
        scored(&dir.join("with_empty_history.csv")),
        unmarked(without)
    );
    train_here(dir, "model.json", &[]).bad_input(&["changes.csv", "only a header"]);
    assert!(!dir.join("model.json").exists());
    // A header alone that lacks a column the model reads is still refused by name.
    let short: Vec<&str> = header
        .split(',')
        .filter(|c| *c != "services_affected")
        .collect();
    std::fs::write(dir.join("short.csv"), format!("{}\n", short.join(","))).expect("written");
    score_here("short.csv", None, "short_scored.csv")
        .bad_input(&["short.csv", "services_affected"]);
}

#[test]
fn unsupported_extension_is_rejected_for_inputs_and_outputs() {
    let tmp = tempdir();
    write_changes(&tmp.path().join("changes.csv"), &small_changes());
    std::fs::copy(
        tmp.path().join("changes.csv"),
        tmp.path().join("changes.xlsx"),
    )
    .expect("copied");
    score(
        tmp.path(),
        Path::new("changes.xlsx"),
        None,
        &tmp.path().join("scored.csv"),
    )
    .bad_input(&["changes.xlsx"]);
    score(
        tmp.path(),
        Path::new("changes.csv"),
        None,
        Path::new("scored.xlsx"),
    )
    .bad_input(&["scored.xlsx"]);
    assert!(!tmp.path().join("scored.xlsx").exists());
}

/// Runs `score` on the small valid changes with the policy file `toml`.
fn score_with_policy(dir: &Path, toml: &str) -> Run {
    write_changes(&dir.join("changes.csv"), &small_changes());
    std::fs::write(dir.join("policy.toml"), toml).expect("written");
    run(
        dir,
        [
            "score",
            "--model",
            shipped_model().to_str().expect("a UTF-8 path"),
            "--changes",
            "changes.csv",
            "--no-history",
            "--output",
            "scored.csv",
            "--policy",
            "policy.toml",
        ],
    )
}

#[test]
fn policy_file_with_unknown_key_or_bad_level_is_rejected() {
    let tmp = tempdir();
    score_with_policy(
        tmp.path(),
        "[[rule]]\nid = \"no-red\"\ndescription = \"d\"\naction = \"block\"\nwhen = { colour = [\"red\"] }\n",
    )
    .bad_input(&["policy.toml", "colour"]);
    let tmp = tempdir();
    score_with_policy(
        tmp.path(),
        "[[rule]]\nid = \"typo\"\ndescription = \"d\"\naction = \"block\"\nwhen = { review_status = [\"aproved\"] }\n",
    )
    .bad_input(&["policy.toml", "typo", "review_status"])
    .quotes("aproved");
    assert!(!tmp.path().join("scored.csv").exists());
}

#[test]
fn valid_policy_file_replaces_the_default_rules() {
    let tmp = tempdir();
    score_with_policy(
        tmp.path(),
        "[[rule]]\nid = \"no-agents\"\ndescription = \"d\"\naction = \"warn\"\nwhen = { ai_involvement = [\"agent\"] }\n",
    )
    .success();
    for [id, _, _, _, policy] in scored(&tmp.path().join("scored.csv")) {
        let expected = if id == "c3" || id == "c6" {
            "no-agents"
        } else {
            ""
        };
        assert_eq!(policy, expected, "{id}");
    }
}

/// Trains on the small valid changes, one incident caused by `c1`, with extra flags.
fn train_with_flags(dir: &Path, flags: &[&str]) -> Run {
    let incident = IncidentRow::new("i1", &at_hours(10.5), "checkout").caused_by("c1");
    train_small(dir, &[incident], flags)
}

#[test]
fn bad_attribution_window_is_a_usage_error() {
    for window in ["soon", "-3h", "24 parsecs"] {
        let tmp = tempdir();
        let flag = format!("--attribution-window={window}");
        train_with_flags(tmp.path(), &[&flag]).bad_input(&["--attribution-window", window]);
        assert!(!tmp.path().join("model.json").exists());
    }
    // A negative value given as the next argument reaches the duration check too.
    let tmp = tempdir();
    train_with_flags(tmp.path(), &["--attribution-window", "-1h"])
        .bad_input(&["--attribution-window \"-1h\" is not a duration"]);
    // Times are kept to the second: a fraction of one is refused, not rounded.
    train_with_flags(tmp.path(), &["--attribution-window", "0.5s"]).bad_input(&[
        "--attribution-window \"0.5s\" is not a duration",
        "a whole number of seconds",
    ]);
}

#[test]
fn tiers_out_of_order_are_a_usage_error() {
    let tmp = tempdir();
    train_with_flags(tmp.path(), &["--tiers", "90,50,99"]).bad_input(&["--tiers", "90,50,99"]);
    let tmp = tempdir();
    write_changes(&tmp.path().join("changes.csv"), &small_changes());
    run(
        tmp.path(),
        [
            "score",
            "--model",
            shipped_model().to_str().expect("a UTF-8 path"),
            "--changes",
            "changes.csv",
            "--no-history",
            "--output",
            "scored.csv",
            "--tiers",
            "90,50,99",
        ],
    )
    .bad_input(&["--tiers", "90,50,99"]);
    assert!(!tmp.path().join("scored.csv").exists());
}

#[test]
fn out_of_range_flags_are_usage_errors() {
    // Each message names the setting and the rejected value.
    for (flag, needles) in [
        ("--max-severity=9", ["--max-severity", "9"]),
        ("--max-severity=sev0", ["--max-severity", "sev1 to sev5"]),
        ("--validation-fraction=1.5", ["validation", "1.5"]),
        ("--penalty=-1", ["penalt", "-1"]),
    ] {
        let tmp = tempdir();
        train_with_flags(tmp.path(), &[flag]).bad_input(&needles);
        assert!(!tmp.path().join("model.json").exists());
    }
    let tmp = tempdir();
    write_changes(&tmp.path().join("changes.csv"), &small_changes());
    write_incidents(&tmp.path().join("incidents.csv"), &[]);
    run(
        tmp.path(),
        [
            "evaluate",
            "--changes",
            "changes.csv",
            "--incidents",
            "incidents.csv",
            "--test-fraction",
            "1",
        ],
    )
    .bad_input(&["--test-fraction"]);
}

/// Scores the small valid changes with the model file holding `contents`.
fn score_with_model(dir: &Path, contents: &[u8]) -> Run {
    write_changes(&dir.join("changes.csv"), &small_changes());
    std::fs::write(dir.join("model.json"), contents).expect("written");
    run(
        dir,
        [
            "score",
            "--model",
            "model.json",
            "--changes",
            "changes.csv",
            "--no-history",
            "--output",
            "scored.csv",
        ],
    )
}

#[test]
fn model_file_that_is_not_a_model_is_rejected() {
    for contents in [
        &b"this is not JSON"[..],
        b"{\"hello\": \"world\"}",
        b"{\"format\": \"changerisk-model\", \"format_version\": 1}",
        b"[1, 2, 3]",
    ] {
        let tmp = tempdir();
        score_with_model(tmp.path(), contents).bad_input(&["model.json"]);
        assert!(!tmp.path().join("scored.csv").exists());
    }
}

/// Trees past the file's own limits are not what `train` writes (and a deep tree costs
/// scoring time with its leaves): a trained tree model with its limits lowered is refused.
#[test]
fn model_file_whose_trees_exceed_its_own_limits_is_rejected() {
    let tmp = tempdir();
    let history = generate(tmp.path(), 5);
    run(
        tmp.path(),
        [
            "train",
            "--quiet",
            "--learner",
            "gbdt",
            "--changes",
            history.changes.to_str().unwrap(),
            "--incidents",
            history.incidents.to_str().unwrap(),
            "--model",
            "trees.json",
        ],
    )
    .success();
    let trained: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("trees.json")).expect("trained"))
            .expect("JSON");
    for (limit, value, said) in [
        (
            "max_depth",
            serde_json::json!(1),
            "the file's params allow at most depth 1",
        ),
        ("leaves", serde_json::json!([2]), "and 2 leaves"),
    ] {
        let mut model = trained.clone();
        model["params"]["trees"][limit] = value;
        score_with_model(tmp.path(), model.to_string().as_bytes()).bad_input(&[
            "model.json",
            "tree 0 has depth",
            said,
        ]);
    }
    // A split's rows must be its children's: TreeSHAP weighs each side by its share, and
    // other counts give contributions that no longer add up to the score.
    for rows in [1e300, 0.0] {
        let mut model = trained.clone();
        model["trees"]["trees"][0]["nodes"][1]["rows"] = serde_json::json!(rows);
        score_with_model(tmp.path(), model.to_string().as_bytes()).bad_input(&[
            "model.json",
            "tree 0: node 0 has",
            "but its children 1 and 2 have",
        ]);
    }
}

#[test]
fn model_file_of_another_format_version_is_rejected() {
    let mut model: serde_json::Value =
        serde_json::from_slice(&std::fs::read(shipped_model()).expect("the shipped model"))
            .expect("JSON");
    model["format_version"] = serde_json::json!(99);
    let tmp = tempdir();
    score_with_model(tmp.path(), model.to_string().as_bytes()).bad_input(&[
        "model.json",
        "version",
        "99",
    ]);
}

#[test]
fn a_model_field_of_the_wrong_shape_is_named_by_its_path() {
    let shipped: serde_json::Value =
        serde_json::from_slice(&std::fs::read(shipped_model()).expect("the shipped model"))
            .expect("JSON");
    let mut text = shipped.clone();
    text["features"][1]["mean"] = "NaN".into();
    let mut four = shipped.clone();
    four["tiers"]["thresholds"]
        .as_array_mut()
        .unwrap()
        .push(0.9.into());
    for (model, needles) in [
        (text, ["at features[1].mean", "expected f64"]),
        (
            four,
            ["at tiers.thresholds", "more values than the field holds"],
        ),
    ] {
        let tmp = tempdir();
        let mut all = vec!["model.json"];
        all.extend(needles);
        score_with_model(tmp.path(), model.to_string().as_bytes()).bad_input(&all);
    }
    // Validation figures that are no figures (`drift` sets a batch against them).
    for (key, value) in [
        ("positives", serde_json::json!(1_000_000)),
        ("roc_auc", serde_json::json!(2.0)),
    ] {
        let mut bad = shipped.clone();
        bad["training"]["validation"][key] = value;
        let tmp = tempdir();
        score_with_model(tmp.path(), bad.to_string().as_bytes())
            .bad_input(&["model.json", "validation figures are not ones"]);
    }
}

#[test]
fn version_2_and_3_model_files_still_score_the_same() {
    let shipped: serde_json::Value =
        serde_json::from_slice(&std::fs::read(shipped_model()).expect("the shipped model"))
            .expect("JSON");
    // Version 3 had no subsample setting (every tree grew from every row).
    let mut old = shipped.clone();
    old["format_version"] = 3.into();
    let trees = old["params"]["trees"].as_object_mut().unwrap();
    assert!(trees.remove("subsample").is_some());
    let (now, then) = (tempdir(), tempdir());
    score_with_model(now.path(), shipped.to_string().as_bytes()).success();
    let read = |dir: &Path| std::fs::read(dir.join("scored.csv")).expect("scored");
    score_with_model(then.path(), old.to_string().as_bytes()).success();
    assert_eq!(read(now.path()), read(then.path()));
    // Version 2 held one learning rate and one L2 penalty where version 3 holds lists.
    old["format_version"] = 2.into();
    let trees = &mut old["params"]["trees"];
    trees["learning_rate"] = trees["learning_rate"][0].clone();
    trees["l2"] = trees["l2"][0].clone();
    assert!(trees["learning_rate"].is_f64() && trees["l2"].is_f64());
    score_with_model(then.path(), old.to_string().as_bytes()).success();
    assert_eq!(read(now.path()), read(then.path()));
    // Version 1 (and anything else) is still refused.
    old["format_version"] = 1.into();
    score_with_model(then.path(), old.to_string().as_bytes()).bad_input(&[
        "version 1",
        &format!("reads versions 2 to {}", changerisk::model::MODEL_VERSION),
    ]);
}

/// Deterministic junk bytes (xorshift64).
fn junk(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.max(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Files that are wrong in every way a table file can be wrong, written into `dir`.
fn garbage_inputs(dir: &Path) -> Vec<PathBuf> {
    let header = ChangeRow::new("", "")
        .cells()
        .iter()
        .map(|c| c.0)
        .collect::<Vec<_>>()
        .join(",");
    let valid_row: Vec<String> = small_changes()[0]
        .cells()
        .into_iter()
        .map(|c| c.1)
        .collect();
    let valid = valid_row.join(",");
    let mut files: Vec<(String, Vec<u8>)> = [
        ("random.csv", junk(1, 4096)),
        ("random.parquet", junk(2, 4096)),
        ("random.arrow", junk(3, 4096)),
        ("random.ipc", junk(4, 512)),
        ("random.feather", junk(5, 64)),
        ("random.jsonl", junk(6, 4096)),
        ("random.ndjson", junk(7, 3)),
        (
            "parquet_magic.parquet",
            [b"PAR1".as_slice(), &junk(8, 100), b"PAR1"].concat(),
        ),
        (
            "arrow_magic.arrow",
            [b"ARROW1\0\0".as_slice(), &junk(9, 100)].concat(),
        ),
        (
            "ragged.csv",
            format!("{header}\n{valid},extra,cells\nc2,2025-01-01T00:00:00Z\n").into_bytes(),
        ),
        ("only_commas.csv", b",,,,\n,,,,\n".to_vec()),
        ("newline.csv", b"\n".to_vec()),
        (
            "unterminated_quote.csv",
            format!("{header}\n\"{valid}\n").into_bytes(),
        ),
        (
            "nul_bytes.csv",
            [header.as_bytes(), b"\n\0\0\0,\0\n"].concat(),
        ),
        (
            "bad_utf8.csv",
            [header.as_bytes(), b"\n\xff\xfe\xfd", &valid.as_bytes()[2..], b"\n"].concat(),
        ),
        ("not_json.jsonl", b"{\"change_id\": \"c1\", \n[1,2\n".to_vec()),
        // A whole number beyond 64 bits (polars' reader used to panic on it).
        ("huge_int.jsonl", b"{\"change_id\": 18446744073709551616}\n".to_vec()),
        ("short_row.csv", format!("{header}\n{valid}\n{}\n", &valid[..valid.rfind(',').unwrap()]).into_bytes()),
        ("long_row.csv", format!("{header}\n{valid},x\n").into_bytes()),
        (
            "nested.jsonl",
            b"{\"change_id\": {\"a\": [1, 2]}, \"timestamp\": [1]}\n".to_vec(),
        ),
        (
            "json_numbers.jsonl",
            b"{\"change_id\": 1, \"timestamp\": 2, \"service\": 3, \"author\": 4, \"ai_involvement\": 5, \"permission_level\": 6, \"review_status\": 7, \"change_type\": 8, \"services_affected\": -1, \"regions_affected\": 1e400, \"customer_facing\": 2, \"lines_changed\": 1.5, \"files_changed\": null}\n".to_vec(),
        ),
    ]
    .into_iter()
    .map(|(name, bytes)| (name.to_string(), bytes))
    .collect();
    // A well-formed table with one absurd cell.
    for (k, (column, value)) in [
        ("timestamp", "99999-01-01T00:00:00Z"),
        ("timestamp", "-262144-01-01T00:00:00Z"),
        ("lines_changed", "99999999999999999999999"),
        ("lines_changed", "1e400"),
        ("files_changed", "NaN"),
        ("regions_affected", "inf"),
        ("reviewer_count", "-0.5"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut row = valid_row.clone();
        let at = header
            .split(',')
            .position(|h| h == column)
            .expect("a column");
        row[at] = value.to_string();
        files.push((
            format!("absurd_{k}_{column}.csv"),
            format!("{header}\n{}\n", row.join(",")).into_bytes(),
        ));
    }
    let mut paths: Vec<PathBuf> = files
        .into_iter()
        .map(|(name, bytes)| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).expect("written");
            path
        })
        .collect();
    paths.extend(badly_typed_tables(dir));
    paths
}

/// Typed tables (Parquet, Arrow, JSON Lines) whose one column holds values of the wrong
/// type or out of range, as a careless export writes them.
fn badly_typed_tables(dir: &Path) -> Vec<PathBuf> {
    let csv = dir.join("typed_source.csv");
    write_changes(&csv, &small_changes());
    let valid = read_table(&csv);
    std::fs::remove_file(&csv).expect("removed");
    let n = valid.height();
    let spoilers: Vec<(&str, Series)> = vec![
        (
            "timestamp",
            Series::new("timestamp".into(), vec![f64::NAN; n]),
        ),
        ("timestamp", Series::new("timestamp".into(), vec![true; n])),
        (
            "lines_changed",
            Series::new("lines_changed".into(), vec![2.5; n]),
        ),
        (
            "services_affected",
            Series::new("services_affected".into(), vec![-3i64; n]),
        ),
        (
            "customer_facing",
            Series::new("customer_facing".into(), vec![7i64; n]),
        ),
        (
            "ai_involvement",
            Series::new("ai_involvement".into(), vec![false; n]),
        ),
        (
            "change_id",
            Series::new("change_id".into(), vec![None::<&str>; n]),
        ),
    ];
    let mut paths = Vec::new();
    for (k, (column, values)) in spoilers.into_iter().enumerate() {
        let mut df = valid.clone();
        df.with_column(values.into()).expect("same height");
        for ext in ["parquet", "arrow", "jsonl"] {
            let path = dir.join(format!("typed_{k}_{column}.{ext}"));
            write_table(&path, &mut df);
            paths.push(path);
        }
    }
    paths
}

#[test]
fn no_garbage_input_makes_any_command_panic() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_changes(&dir.join("good_changes.csv"), &small_changes());
    write_incidents(
        &dir.join("good_incidents.csv"),
        &[IncidentRow::new("i1", &at_hours(10.5), "checkout").caused_by("c1")],
    );
    let model = shipped_model().display().to_string();
    let (changes, incidents) = ("good_changes.csv", "good_incidents.csv");
    for bad in garbage_inputs(dir) {
        let bad = bad.file_name().expect("a name").to_str().expect("UTF-8");
        let score = ["score", "--model", &model, "--output", "out.csv"];
        let train = ["train", "--model", "out.json"];
        let commands: [Vec<&str>; 6] = [
            [&score[..], &["--changes", bad, "--no-history"]].concat(),
            [
                &score[..],
                &[
                    "--changes",
                    changes,
                    "--history",
                    bad,
                    "--incidents",
                    incidents,
                ],
            ]
            .concat(),
            [
                &score[..],
                &[
                    "--changes",
                    changes,
                    "--history",
                    changes,
                    "--incidents",
                    bad,
                ],
            ]
            .concat(),
            [&train[..], &["--changes", bad, "--incidents", incidents]].concat(),
            [&train[..], &["--changes", changes, "--incidents", bad]].concat(),
            vec!["evaluate", "--changes", bad, "--incidents", incidents],
        ];
        for args in commands {
            let run = run(dir, &args);
            run.no_panic();
            let shown = args.join(" ");
            assert_eq!(
                run.code,
                Some(2),
                "`changerisk {shown}` did not exit 2; stderr:\n{}",
                run.stderr
            );
            assert!(
                run.stderr.contains(bad),
                "`changerisk {shown}` does not name {bad}; stderr:\n{}",
                run.stderr
            );
        }
    }
    assert!(!dir.join("out.csv").exists() && !dir.join("out.json").exists());
}

#[test]
fn degenerate_but_valid_histories_fail_cleanly() {
    let tmp = tempdir();
    let dir = tmp.path();
    // One change; no incidents at all; every change caused an incident.
    write_changes(&dir.join("one.csv"), &small_changes()[..1]);
    write_changes(&dir.join("six.csv"), &small_changes());
    write_incidents(&dir.join("none.csv"), &[]);
    let all: Vec<IncidentRow> = (1..=6)
        .map(|i| {
            IncidentRow::new(&format!("i{i}"), &at_hours(40.0), "checkout")
                .caused_by(&format!("c{i}"))
        })
        .collect();
    write_incidents(&dir.join("all.csv"), &all);
    for (changes, incidents) in [
        ("one.csv", "none.csv"),
        ("six.csv", "none.csv"),
        ("six.csv", "all.csv"),
    ] {
        for command in ["train", "evaluate"] {
            let mut args = vec![command, "--changes", changes, "--incidents", incidents];
            if command == "train" {
                args.extend(["--model", "model.json"]);
            }
            let run = run(dir, &args);
            run.no_panic();
            assert_eq!(run.code, Some(2), "{args:?}; stderr:\n{}", run.stderr);
        }
    }
    assert!(!dir.join("model.json").exists());
}

#[test]
fn extreme_typed_timestamps_are_rejected_naming_the_row() {
    // Datetime cells at the ends of the i64 range (year -292 million to +292 million)
    // are representable in Parquet; like the Unix epoch itself (a missing time's
    // placeholder), they are refused, naming the row, and nothing panics.
    let tmp = tempdir();
    let dir = tmp.path();
    let csv = dir.join("source.csv");
    write_changes(&csv, &small_changes());
    write_incidents(
        &dir.join("incidents.csv"),
        &[IncidentRow::new("i1", &at_hours(10.5), "checkout").caused_by("c1")],
    );
    let valid = read_table(&csv);
    let model = shipped_model().display().to_string();
    for extreme in [i64::MIN, i64::MAX, i64::MIN + 1, 0] {
        let mut df = valid.clone();
        let mut millis = vec![1_736_150_400_000i64; valid.height()];
        millis[2] = extreme;
        let typed = Int64Chunked::from_vec("timestamp".into(), millis)
            .into_datetime(TimeUnit::Milliseconds, None)
            .into_series();
        df.with_column(typed.into()).expect("same height");
        write_table(&dir.join("extreme.parquet"), &mut df);
        for args in [
            vec![
                "score",
                "--model",
                &model,
                "--changes",
                "extreme.parquet",
                "--no-history",
                "--output",
                "out.csv",
            ],
            vec![
                "score",
                "--model",
                &model,
                "--changes",
                "source.csv",
                "--history",
                "extreme.parquet",
                "--incidents",
                "incidents.csv",
                "--output",
                "out.csv",
            ],
            vec![
                "train",
                "--changes",
                "extreme.parquet",
                "--incidents",
                "incidents.csv",
                "--model",
                "out.json",
            ],
            vec![
                "evaluate",
                "--changes",
                "extreme.parquet",
                "--incidents",
                "incidents.csv",
            ],
        ] {
            run(dir, &args).bad_input(&["extreme.parquet", "row 3", "timestamp", "placeholder"]);
        }
    }
}

#[test]
fn placeholder_times_are_rejected_not_taken_for_times() {
    // Go's zero time, the far end exports write for "never", the Unix epoch: each would
    // silently become the first or last change of the history.
    for (at, placeholder) in [
        (0, "0001-01-01T00:00:00Z"),
        (3, "9999-12-31T23:59:59Z"),
        (1, "1970-01-01T05:00:00+05:00"),
    ] {
        let tmp = tempdir();
        score_changes(
            tmp.path(),
            &spoiled(at, |r| r.timestamp = placeholder.into()),
        )
        .bad_input(&[
            "changes.csv",
            &format!("row {}", at + 1),
            "timestamp",
            "placeholder",
        ])
        .quotes(placeholder);
    }
    let tmp = tempdir();
    let incidents = [IncidentRow::new("i1", "0001-01-01T00:00:00Z", "checkout")];
    train_with_incidents(tmp.path(), &incidents)
        .bad_input(&["incidents.csv", "row 1", "start_time", "placeholder"])
        .quotes("0001-01-01T00:00:00Z");
    // A config's Unix seconds: 0 is the epoch.
    let tmp = tempdir();
    let dir = tmp.path();
    std::fs::write(
        dir.join("c.csv"),
        "id,t,y,x\na,1736150400,1,1\nb,0,0,2\nc,1736150500,0,3\n",
    )
    .expect("written");
    std::fs::write(
        dir.join("c.toml"),
        "[columns]\nid = \"id\"\ntimestamp = \"t\"\ntimestamp_format = \"unix\"\nlabel = \"y\"\n[features]\nbuiltin = false\nnumeric = [\"x\"]\n",
    )
    .expect("written");
    train_config(dir, "c.toml", "c.csv", &[])
        .bad_input(&["c.csv", "row 2", "'t'", "placeholder"])
        .quotes("0");
}

/// A header that differs from a contract column only in case, spaces, underscores,
/// hyphens or invisible characters names both: taken as absent, an optional column would silently default
/// (`rollback_plan` to false, `reviewer_count` to 0) and a required one would look present.
#[test]
fn a_near_miss_header_is_named_not_defaulted() {
    for (wrong, right) in [
        ("rollback_plan ", "rollback_plan"),
        ("Reviewer_Count", "reviewer_count"),
        ("change_id\u{200b}", "change_id"),
        ("rollback\u{a0}plan", "rollback_plan"),
        ("ai-tool", "ai_tool"),
    ] {
        let tmp = tempdir();
        let path = tmp.path().join("changes.csv");
        write_changes(&path, &small_changes());
        let text = std::fs::read_to_string(&path).expect("written");
        let (header, rest) = text.split_once('\n').expect("a header");
        let header = header
            .split(',')
            .map(|h| if h == right { wrong } else { h })
            .collect::<Vec<_>>()
            .join(",");
        std::fs::write(&path, format!("{header}\n{rest}")).expect("written");
        score(
            tmp.path(),
            Path::new("changes.csv"),
            None,
            &tmp.path().join("o.csv"),
        )
        .bad_input(&["changes.csv", &format!("no column '{right}'"), "rename one"]);
        assert!(!tmp.path().join("o.csv").exists());
    }
}

/// Two CSV files joined with the second's byte-order mark kept: the mark starts a data
/// row's id, which would then match no incident. Refused by row, column and value.
#[test]
fn a_byte_order_mark_inside_the_file_is_refused_at_the_id() {
    let tmp = tempdir();
    let changes = tmp.path().join("changes.csv");
    write_changes(&changes, &small_changes());
    let text = std::fs::read_to_string(&changes).unwrap();
    let (header, rows) = text.split_once('\n').unwrap();
    let mut lines: Vec<&str> = rows.lines().collect();
    let fourth = format!("\u{feff}{}", lines[3]);
    lines[3] = &fourth;
    std::fs::write(&changes, format!("{header}\n{}\n", lines.join("\n"))).unwrap();
    score(
        tmp.path(),
        Path::new("changes.csv"),
        None,
        &tmp.path().join("scored.csv"),
    )
    .bad_input(&["changes.csv", "row 4", "change_id", "byte-order mark"]);
}

#[test]
fn model_trained_with_another_config_is_refused_before_any_work() {
    // The shipped model reads the built-in columns; Columba's config reads none of them.
    let dir = tempdir();
    let changes = repo_root().join("../shared/datasets/jit/columba.csv");
    let config = repo_root().join("data/examples/columba.toml");
    let model = repo_root().join("models/model.json");
    let (changes, config, model) = (
        changes.display().to_string(),
        config.display().to_string(),
        model.display().to_string(),
    );
    let report = dir.path().join("report.html");
    for args in [
        vec!["export", "--output", "export"],
        vec!["report", "--output", report.to_str().expect("UTF-8")],
    ] {
        let mut args = args;
        args.extend([
            "--config",
            &config,
            "--changes",
            &changes,
            "--model",
            &model,
        ]);
        let run = run(dir.path(), args).bad_input(&[
            "model.json",
            "feature 'ai_any'",
            "columba.toml",
            "does not load it",
            "trained with another config",
        ]);
        let run = run.quotes("ai_involvement");
        // Refused before the changes are read or the report's evaluation trains.
        assert!(!run.stderr.contains("labels"), "{}", run.stderr);
    }
    assert!(!dir.path().join("export").exists() && !report.exists());
}

#[test]
fn an_output_that_is_a_directory_is_named_as_one() {
    let tmp = tempdir();
    score(
        &repo_root(),
        &repo_root().join("data/new_changes.csv"),
        None,
        tmp.path(),
    )
    .bad_input(&["is a directory", "name the output file"]);
}

#[test]
fn a_model_from_before_hours_were_read_without_minutes_is_refused() {
    // A config reading `2024-01-01 05` with `%Y-%m-%d %H`: this build reads 05:00, and
    // builds before model format 9 read midnight, so their models learned from other
    // times and are refused.
    let tmp = tempdir();
    let dir = tmp.path();
    let mut text = String::from("id,when,bad,x\n");
    for i in 0..400 {
        let bad = u8::from(i % 7 == 0 || i % 11 == 0);
        text.push_str(&format!(
            "c{i},2024-01-{:02} {:02},{bad},{}\n",
            1 + i / 24 % 28,
            i % 24,
            (i * 37) % 100
        ));
    }
    std::fs::write(dir.join("hours.csv"), text).unwrap();
    std::fs::write(
        dir.join("hours.toml"),
        "[columns]\nid = \"id\"\ntimestamp = \"when\"\ntimestamp_format = \"%Y-%m-%d %H\"\nlabel = \"bad\"\n\n[features]\nnumeric = [\"x\"]\n",
    )
    .unwrap();
    train_config(
        dir,
        "hours.toml",
        "hours.csv",
        &["--quiet", "--learner", "logistic"],
    )
    .success();
    let score_with = |model: &str| {
        run(
            dir,
            [
                "score",
                "--quiet",
                "--model",
                model,
                "--changes",
                "hours.csv",
                "--output",
                "scored.csv",
            ],
        )
    };
    score_with("m.json").success();
    let mut old: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("m.json")).unwrap()).unwrap();
    old["format_version"] = 8.into();
    std::fs::write(dir.join("old.json"), old.to_string()).unwrap();
    score_with("old.json").bad_input(&["old.json", "reads an hour without minutes", "retrain"]);
}
