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

/// Pieces of strftime patterns: the date in its usual orders, then an optional time of
/// any precision (12-hour hours with and without AM/PM, seconds without minutes, a
/// whole timestamp), an optional offset.
const DATES: [&str; 7] = [
    "%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%Y%m%d", "%d.%m.%Y", "%Y/%j", "%e %b %Y",
];
const TIMES: [&str; 14] = [
    "",
    " %H",
    "T%H",
    " %H:%M",
    " %H:%M:%S",
    " %H%M",
    " %k:%M",
    " %I:%M %p",
    " %I:%M",
    " %l %p",
    " %M",
    " %H %S",
    " %T",
    " %R",
];
const OFFSETS: [&str; 3] = ["", " %z", "%:z"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A timestamp pattern the config check accepts reads back every time it writes, to
    /// the finest field it writes (second, minute, hour or day), in any zone its offset
    /// names; only those whose time cannot be read whole are refused, naming the pattern.
    #[test]
    fn timestamp_patterns_read_back_what_they_write_or_are_refused(
        date in 0..DATES.len(),
        time in 0..TIMES.len(),
        offset in 0..OFFSETS.len(),
        secs in 40_000_000i64..4_000_000_000i64,
        zone_minutes in -720i32..720,
    ) {
        let pattern = format!("{}{}{}", DATES[date], TIMES[time], OFFSETS[offset]);
        let toml = format!(
            "[columns]\nid = \"id\"\ntimestamp = \"t\"\ntimestamp_format = \"{pattern}\"\nlabel = \"y\"\n\n[features]\nnumeric = [\"x\"]\n"
        );
        let config = match Config::parse(&toml, "c.toml") {
            Ok(config) => config,
            Err(e) => {
                let message = e.to_string();
                prop_assert!(message.contains("c.toml") && message.contains(&pattern), "{message}");
                // Only a pattern whose time cannot be read whole is refused: a 12-hour
                // hour without AM/PM, minutes without an hour, seconds without minutes, an
                // offset without a time.
                let ambiguous = matches!(TIMES[time], " %I:%M" | " %M" | " %H %S")
                    || (TIMES[time].is_empty() && !OFFSETS[offset].is_empty());
                prop_assert!(ambiguous, "{:?} refused: {}", pattern, message);
                return Ok(());
            }
        };
        let step = match TIMES[time] {
            "" => 86_400,
            " %H" | "T%H" | " %l %p" => 3_600,
            " %H:%M" | " %H%M" | " %k:%M" | " %I:%M %p" | " %R" => 60,
            _ => 1,
        };
        // Written in a zone of its own when the pattern has an offset (whole minutes).
        let zone = if OFFSETS[offset].is_empty() { 0 } else { zone_minutes * 60 };
        let offset_zone = chrono::FixedOffset::east_opt(zone).unwrap();
        let local = chrono::DateTime::from_timestamp(secs, 0).unwrap().with_timezone(&offset_zone);
        let written = local.format(&pattern).to_string();
        let read = config.timestamp_format().parse_cell(&written);
        // The pattern's own fields are local: truncated there, then back to UTC.
        let local_secs = secs + i64::from(zone);
        let expected = local_secs - local_secs.rem_euclid(step) - i64::from(zone);
        prop_assert_eq!(read, Some(expected), "{:?} written as {:?}", pattern, written);
    }
}

/// Every leaf of a JSON value, as a path of keys and indices.
fn leaves(value: &serde_json::Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        serde_json::Value::Object(map) => {
            out.push(path.clone());
            for (k, v) in map {
                path.push(k.clone());
                leaves(v, path, out);
                path.pop();
            }
        }
        serde_json::Value::Array(items) => {
            out.push(path.clone());
            for (i, v) in items.iter().enumerate() {
                path.push(i.to_string());
                leaves(v, path, out);
                path.pop();
            }
        }
        _ => out.push(path.clone()),
    }
}

/// The shipped model's JSON, and every path in it but those inside the risk quantiles'
/// and the distributions' lists of shares (a third of all, and each refused by the check
/// of its list, which would leave fewer cases that load).
static SHIPPED_MODEL: LazyLock<(serde_json::Value, Vec<Vec<String>>)> = LazyLock::new(|| {
    let value: serde_json::Value =
        serde_json::from_str(include_str!("../../models/model.json")).expect("the shipped model");
    let mut paths = Vec::new();
    leaves(&value, &mut Vec::new(), &mut paths);
    paths.retain(|p| {
        let inside = |list: &str| p.iter().rev().skip(1).any(|k| k == list);
        !inside("risk_quantiles") && !inside("shares")
    });
    (value, paths)
});

/// Values a mangled model file may hold where a number, a list or an object was.
fn odd_value(kind: u8) -> serde_json::Value {
    use serde_json::json;
    match kind % 10 {
        0 => json!(null),
        1 => json!("NaN"),
        2 => json!(-1),
        3 => json!(1e308),
        4 => json!(18446744073709551615u64),
        5 => json!([]),
        6 => json!({}),
        7 => json!(0.5),
        8 => json!(""),
        _ => json!(true),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A model file with one value replaced, one key removed or one list grown loads or
    /// is refused with an error naming the file (and, below its top level, the field);
    /// one that loads scores a row of zeros and a row of missing values without a panic.
    #[test]
    fn mangled_model_files_load_or_are_refused_by_name(
        pick in any::<prop::sample::Index>(),
        how in 0u8..3,
        kind in any::<u8>(),
    ) {
        let (shipped, paths) = &*SHIPPED_MODEL;
        let path = pick.get(paths);
        let mut model = shipped.clone();
        let mut at = &mut model;
        for key in path {
            at = match at {
                serde_json::Value::Object(map) => map.get_mut(key).unwrap(),
                serde_json::Value::Array(items) => &mut items[key.parse::<usize>().unwrap()],
                _ => unreachable!("a path goes through objects and lists"),
            };
        }
        let edited = match (how, &mut *at) {
            (1, serde_json::Value::Object(map)) if !map.is_empty() => {
                let key = map.keys().nth(usize::from(kind) % map.len()).unwrap().clone();
                map.remove(&key);
                true
            }
            (2, serde_json::Value::Array(items)) => {
                items.push(odd_value(kind));
                true
            }
            _ => false,
        };
        if !edited {
            *at = odd_value(kind);
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mangled_model.json");
        std::fs::write(&file, model.to_string()).unwrap();
        match changerisk::model::Model::load(&file) {
            Err(e) => {
                let message = e.to_string();
                prop_assert!(message.contains("mangled_model.json"), "{message}");
            }
            Ok(m) => {
                let n = m.features.len();
                for fill in [0.0, f64::NAN] {
                    let _ = m.score_row(ndarray::Array1::from_elem(n, fill).view());
                }
            }
        }
    }
}
