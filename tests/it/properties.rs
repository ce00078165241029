//! Property tests: the cell parsers, config readers and file loaders never panic on
//! arbitrary or mangled input (a mangled file is read or refused with an error naming
//! it), and what changerisk writes reads back as the same value.

use changerisk::config::{Config, TimestampFormat};
use changerisk::label::parse_duration;
use changerisk::load::{load_changes, load_incidents, Read};
use changerisk::policy::Policies;
use changerisk::schema::{format_timestamp, parse_bool, parse_severity, parse_timestamp};
use changerisk::table::parse_count;
use proptest::prelude::*;
use std::sync::LazyLock;

proptest! {
    #[test]
    fn cell_parsers_never_panic(s in ".{0,40}") {
        let _ = parse_timestamp(&s);
        let _ = parse_severity(&s);
        let _ = parse_bool(&s);
        let _ = parse_count(&s);
        let _ = parse_duration(&s);
        for format in [TimestampFormat::Unix, TimestampFormat::UnixMs, TimestampFormat::Pattern("%Y/%m/%d %H:%M".into())] {
            let _ = format.parse_cell(&s);
        }
    }

    #[test]
    fn config_and_policy_readers_never_panic(s in "[\\[\\]a-z_=\"' \n0-9.,{}]{0,120}") {
        let _ = Config::parse(&s, "c.toml");
        let _ = Policies::parse(&s, "p.toml");
    }

    #[test]
    fn timestamps_round_trip(secs in -62_000_000_000i64..250_000_000_000i64) {
        prop_assert_eq!(parse_timestamp(&format_timestamp(secs)), Some(secs));
    }

    #[test]
    fn counts_round_trip(n in 0u64..9_000_000_000_000_000) {
        prop_assert_eq!(parse_count(&n.to_string()), Some(n));
    }

    #[test]
    fn severities_accept_exactly_one_to_five(n in -10i64..20) {
        let parsed = parse_severity(&n.to_string());
        prop_assert_eq!(parsed.is_some(), (1..=5).contains(&n));
        prop_assert_eq!(parse_severity(&format!("SEV{n}")), parsed);
    }
}

/// Cells a loader must survive (blanks, quotes, huge and odd numbers, impossible dates,
/// control and multi-byte characters), shared with `scripts/fuzz_cli.py`.
static ODD_CELLS: LazyLock<Vec<String>> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../fixtures/odd_cells.json"))
        .expect("a JSON array of strings")
});

/// One edit of a CSV text: which kind, which line, which cell, which odd value.
type Edit = (u8, usize, usize, usize);

/// Applies `edits` to the lines of a CSV file (header first), as a person or a broken
/// export might: odd cells, cells added and removed, doubled and blank lines, a file cut short,
/// upper-cased and suffixed cells (header typos on line 0), semicolons inside cells.
fn mangle(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for &(kind, line, cell, odd) in edits {
        let i = line % lines.len();
        let odd = ODD_CELLS[odd % ODD_CELLS.len()].as_str();
        let mut cells: Vec<String> = lines[i].split(',').map(str::to_owned).collect();
        let c = cell % cells.len();
        match kind % 8 {
            0 => cells[c] = odd.to_owned(),
            1 => cells.push(odd.to_owned()),
            2 if cells.len() > 1 => {
                cells.remove(c);
            }
            3 => {
                let line = lines[i].clone();
                lines.push(line);
            }
            4 => lines.insert(i, String::new()),
            5 => cells[c] = format!("{}{odd}", cells[c].to_uppercase()),
            6 => lines.truncate(i.max(1)),
            _ => cells[c] = cells[c].replace('-', ";"),
        }
        if i < lines.len() && !matches!(kind % 8, 3 | 4 | 6) {
            lines[i] = cells.join(",");
        }
    }
    lines.join("\n") + "\n"
}

/// `text`'s first `rows` data lines, header included.
fn head(text: &str, rows: usize) -> String {
    text.lines().take(rows + 1).collect::<Vec<_>>().join("\n") + "\n"
}

/// CSV lines (header first) as JSON Lines objects of strings.
fn as_jsonl(csv: &str) -> String {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    lines
        .map(|line| {
            let object: serde_json::Map<String, serde_json::Value> = header
                .iter()
                .zip(line.split(','))
                .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_owned())))
                .collect();
            serde_json::Value::Object(object).to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `result` is a load or an error that names `file`.
fn read_or_named<T>(result: changerisk::error::Result<T>, file: &str) -> Result<(), TestCaseError> {
    if let Err(e) = result {
        let message = e.to_string();
        prop_assert!(
            message.contains(file),
            "error without the file name: {message}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Mangled changes (CSV and JSON Lines) and incidents files load or are refused
    /// with an error naming the file; no mangling makes a loader panic.
    #[test]
    fn mangled_files_load_or_are_refused_by_name(
        changes_edits in proptest::collection::vec(any::<Edit>(), 1..5),
        incidents_edits in proptest::collection::vec(any::<Edit>(), 1..5),
        json_edit in any::<(usize, usize)>(),
    ) {
        let changes = mangle(&head(include_str!("../../data/new_changes.csv"), 30), &changes_edits);
        let incidents = mangle(&head(include_str!("../../data/incidents.csv"), 30), &incidents_edits);
        let dir = tempfile::tempdir().unwrap();
        let config = Config::default();

        let path = dir.path().join("mangled_changes.csv");
        std::fs::write(&path, &changes).unwrap();
        read_or_named(load_changes(&path, &config, Read::Unlabelled), "mangled_changes.csv")?;

        let path = dir.path().join("mangled_incidents.csv");
        std::fs::write(&path, &incidents).unwrap();
        read_or_named(load_incidents(&path), "mangled_incidents.csv")?;

        // JSON Lines: the same mangled rows as objects, in a third of the cases cut off
        // at a random point.
        let mut jsonl = as_jsonl(&changes);
        let cut = json_edit.0 % (jsonl.len() + 1);
        if json_edit.1 % 3 == 0 && jsonl.is_char_boundary(cut) {
            jsonl.truncate(cut);
        }
        let path = dir.path().join("mangled_changes.jsonl");
        std::fs::write(&path, jsonl).unwrap();
        read_or_named(load_changes(&path, &config, Read::Unlabelled), "mangled_changes.jsonl")?;
    }
}
