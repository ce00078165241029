//! `changerisk config --infer FILE`: a first feature config for a team's own export,
//! proposed from what its columns hold. Each choice is written as a comment with its
//! reason, so that the proposal is read and edited, never taken on trust: a guess about
//! which column is the label or a time decides what the model learns.

use std::collections::HashSet;
use std::path::Path;

use polars::prelude::DataType;

use crate::config::{ColumnsConfig, Config, FeaturesConfig, TimestampFormat};
use crate::error::{Error, Result};
use crate::schema::parse_bool;
use crate::table::{Cells, Table};

/// Fewest distinct values a text column may have to be a categorical feature rather than
/// passed through (ids, messages, hashes).
const MAX_LEVELS: usize = 50;

/// Cells of a timestamp column tried against each format before the whole column is.
const TIME_SAMPLE: usize = 200;

/// Timestamp patterns tried after RFC 3339, most specific first.
const PATTERNS: [&str; 9] = [
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d %H:%M",
    "%a %b %e %H:%M:%S %Y %z",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%Y-%m-%d",
];

/// Words in a column name that suggest its role (lower case, matched as parts of the
/// name split at non-letters).
const ID_WORDS: [&str; 7] = [
    "id",
    "sha",
    "hash",
    "commit",
    "change",
    "transactionid",
    "uuid",
];
const TIME_WORDS: [&str; 9] = [
    "date",
    "time",
    "timestamp",
    "created",
    "committed",
    "commitdate",
    "when",
    "at",
    "ts",
];
const LABEL_WORDS: [&str; 10] = [
    "bug",
    "buggy",
    "defect",
    "defective",
    "label",
    "incident",
    "fault",
    "faulty",
    "caused",
    "target",
];
const SERVICE_WORDS: [&str; 5] = ["service", "component", "module", "project", "repo"];
const AUTHOR_WORDS: [&str; 5] = ["author", "committer", "developer", "owner", "email"];

/// What one column holds.
struct Profile {
    name: String,
    /// Cells with a value.
    present: usize,
    /// Every present value is different, and none is missing.
    unique: bool,
    /// Distinct values, counted up to `MAX_LEVELS + 1`.
    levels: usize,
    /// Every present value is a number.
    numeric: bool,
    /// The values are the row numbers (from 0 or 1): a written-out index.
    index: bool,
    /// Every present value reads as a label (`1`/`0`/`true`/`false`/`1.0`/`0.0`), and
    /// both occur: the values.
    flags: Option<Vec<Option<bool>>>,
    /// Every present value reads as a declared boolean (adds `yes`/`no`).
    boolean: bool,
    /// The format every present value parses in, when one does.
    timestamp: Option<String>,
    /// A typed date or time column (Parquet, Arrow).
    typed_time: bool,
}

fn words(name: &str) -> Vec<String> {
    name.split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

fn named(name: &str, vocabulary: &[&str]) -> bool {
    words(name).iter().any(|w| vocabulary.contains(&w.as_str()))
}

fn label_value(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" | "1.0" => Some(true),
        "0" | "false" | "0.0" => Some(false),
        _ => None,
    }
}

/// The format all of `values` parse in: RFC 3339, then the patterns; Unix seconds or
/// milliseconds only for a column whose name says it is a time (counts are numbers too).
fn time_format(values: &[&str], time_named: bool) -> Option<String> {
    if values.is_empty() {
        return None;
    }
    let sample = &values[..values.len().min(TIME_SAMPLE)];
    let mut formats: Vec<TimestampFormat> = vec![TimestampFormat::Rfc3339];
    formats.extend(
        PATTERNS
            .iter()
            .map(|p| TimestampFormat::Pattern((*p).into())),
    );
    if time_named {
        let numbers: Vec<f64> = sample.iter().filter_map(|v| v.parse().ok()).collect();
        if numbers.len() == sample.len() {
            let (lo, hi) = numbers
                .iter()
                .fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            // 1973..2096 in seconds, or in milliseconds.
            if lo >= 1e8 && hi < 4e9 {
                formats.insert(0, TimestampFormat::Unix);
            } else if lo >= 1e11 && hi < 4e12 {
                formats.insert(0, TimestampFormat::UnixMs);
            }
        }
    }
    formats
        .into_iter()
        .find(|f| {
            sample.iter().all(|v| f.parse_cell(v).is_some())
                && values.iter().all(|v| f.parse_cell(v).is_some())
        })
        .map(|f| match f {
            TimestampFormat::Rfc3339 => "rfc3339".into(),
            TimestampFormat::Unix => "unix".into(),
            TimestampFormat::UnixMs => "unix_ms".into(),
            TimestampFormat::Pattern(p) => p,
        })
}

fn profile(table: &Table, file: &str, name: &str) -> Result<Profile> {
    let typed_time = match table {
        Table::Frame(df) => df
            .column(name)
            .map(|c| matches!(c.dtype(), DataType::Datetime(..) | DataType::Date))
            .unwrap_or(false),
        Table::Csv(_) => false,
    };
    let cells = Cells::required(table, file, name)?;
    let mut values: Vec<Option<String>> = Vec::with_capacity(cells.len());
    cells.visit(|_, cell| {
        values.push(cell.map(str::to_string));
        Ok(())
    })?;
    let present: Vec<&str> = values.iter().flatten().map(String::as_str).collect();
    let mut seen: HashSet<&str> = HashSet::with_capacity(present.len());
    let mut unique = present.len() == values.len();
    for v in &present {
        unique &= seen.insert(v);
    }
    let levels = seen.len().min(MAX_LEVELS + 1);
    let numbers: Vec<f64> = present.iter().filter_map(|v| v.parse().ok()).collect();
    let numeric = !present.is_empty() && numbers.len() == present.len();
    let index = numeric
        && numbers.len() == values.len()
        && (numbers.iter().enumerate().all(|(i, &v)| v == i as f64)
            || numbers
                .iter()
                .enumerate()
                .all(|(i, &v)| v == (i + 1) as f64));
    let flags: Vec<Option<bool>> = values
        .iter()
        .map(|v| v.as_deref().and_then(label_value))
        .collect();
    let both = flags.contains(&Some(true)) && flags.contains(&Some(false));
    let all_flags = flags.iter().flatten().count() == present.len();
    let boolean = !present.is_empty()
        && present
            .iter()
            .all(|v| parse_bool(v).is_some() || label_value(v).is_some());
    let timestamp = if typed_time || (numeric && !named(name, &TIME_WORDS)) {
        None
    } else {
        time_format(&present, named(name, &TIME_WORDS))
    };
    Ok(Profile {
        name: name.into(),
        present: present.len(),
        unique,
        levels,
        numeric,
        index,
        flags: (both && all_flags).then_some(flags),
        boolean,
        timestamp,
        typed_time,
    })
}

/// A proposed config for the table at `path`, as commented TOML that `--config` reads.
pub fn infer(path: &Path) -> Result<String> {
    let file = path.display().to_string();
    let table = Table::read(path)?;
    if table.height() == 0 {
        return Err(Error::EmptyTable {
            file,
            what: "no data rows to infer a config from".into(),
        });
    }
    let names: Vec<String> = table.names().iter().map(|n| n.to_string()).collect();
    if crate::load::CHANGE_COLUMNS
        .iter()
        .all(|c| names.iter().any(|n| n == c))
    {
        // The contract's own columns: the built-in features know what they mean.
        return Ok(format!(
            "# {file} has every column of SPEC.md: use the default config (no --config),\n\
             # which adds the built-in features (AI involvement x permission x review, blast\n\
             # radius, timing, history). It is:\n\n{}",
            crate::config::default_config_text()
        ));
    }
    let profiles = names
        .iter()
        .map(|n| profile(&table, &file, n))
        .collect::<Result<Vec<_>>>()?;
    let mut notes: Vec<String> = Vec::new();
    let mut taken: HashSet<&str> = HashSet::new();

    // The time: a typed time column, else one whose every value parses, a named one first.
    let time = profiles
        .iter()
        .filter(|p| p.typed_time || p.timestamp.is_some())
        .max_by_key(|p| (named(&p.name, &TIME_WORDS), p.typed_time, p.present))
        .ok_or_else(|| Error::Data(format!(
            "{file}: no column reads as a time in every row (tried RFC 3339, Unix seconds and milliseconds in a column named like a time, and {}); name it in [columns] timestamp with its timestamp_format",
            PATTERNS.join(", ")
        )))?;
    taken.insert(&time.name);
    let timestamp_format = time.timestamp.clone().unwrap_or_else(|| "rfc3339".into());
    notes.push(format!(
        "timestamp: '{}' ({})",
        time.name,
        if time.typed_time {
            "a typed date/time column".to_string()
        } else {
            format!("every value parses as {timestamp_format}")
        }
    ));

    // The id: unique in every row, not a number that is only a row index; named first.
    let id = profiles
        .iter()
        .filter(|p| p.unique && !p.index && !taken.contains(p.name.as_str()))
        .max_by_key(|p| (named(&p.name, &ID_WORDS), !p.numeric))
        .ok_or_else(|| {
            Error::Data(format!(
                "{file}: no column has a different value in every row to serve as the change id; add one"
            ))
        })?;
    taken.insert(&id.name);
    notes.push(format!(
        "id: '{}' (a different value in every row)",
        id.name
    ));

    // The label: a 0/1 column named like an outcome. Without such a name, none is
    // guessed: an incidents file may be meant.
    let label = profiles
        .iter()
        .filter(|p| p.flags.is_some() && !taken.contains(p.name.as_str()))
        .find(|p| named(&p.name, &LABEL_WORDS));
    match label {
        Some(l) => {
            taken.insert(&l.name);
            notes.push(format!(
                "label: '{}' (0/1 values, named like an outcome); without a label, changerisk needs an incidents file",
                l.name
            ));
        }
        None => notes.push(
            "label: none guessed (no 0/1 column named like bug, defect, label or incident); set [columns] label, or train with --incidents".into(),
        ),
    }
    let label_values = label.and_then(|l| l.flags.as_ref());

    let role = |words: &[&str], taken: &HashSet<&str>| {
        profiles
            .iter()
            .find(|p| {
                named(&p.name, words) && !p.numeric && !p.unique && !taken.contains(p.name.as_str())
            })
            .map(|p| p.name.clone())
    };
    let service = role(&SERVICE_WORDS, &taken);
    if let Some(s) = &service {
        taken.insert(s);
        notes.push(format!(
            "service: '{s}' (enables per-service history features)"
        ));
    }
    let author = role(&AUTHOR_WORDS, &taken);
    if let Some(a) = &author {
        taken.insert(a);
        notes.push(format!(
            "author: '{a}' (enables per-author history features)"
        ));
    }

    let mut features = FeaturesConfig::default();
    for p in &profiles {
        if taken.contains(p.name.as_str()) {
            continue;
        }
        let copies_label = match (label_values, &p.flags) {
            (Some(l), Some(f)) => f == l || f.iter().zip(l).all(|(a, b)| a.map(|a| !a) == *b),
            _ => false,
        };
        let why = if p.present == 0 {
            "empty: not learned"
        } else if copies_label {
            "the label again (or its negation): not learned, it would leak the outcome"
        } else if p.index {
            "the row number: not learned"
        } else if p.flags.is_some() || (p.boolean && p.levels <= 2 && !p.numeric) {
            features.boolean.push(p.name.clone());
            continue;
        } else if p.numeric {
            features.numeric.push(p.name.clone());
            continue;
        } else if p.levels <= MAX_LEVELS && !p.unique {
            features.categorical.push(p.name.clone());
            continue;
        } else {
            "text with many distinct values (an id, a message): passed through, not learned"
        };
        notes.push(format!("'{}': {why}", p.name));
    }
    let declared = features.numeric.len() + features.boolean.len() + features.categorical.len();
    if declared == 0 {
        return Err(Error::Data(format!(
            "{file}: no column to learn from was found (numbers, 0/1 flags or text of at most {MAX_LEVELS} values)"
        )));
    }
    let config = Config {
        columns: ColumnsConfig {
            id: id.name.clone(),
            timestamp: time.name.clone(),
            timestamp_format,
            label: label.map(|l| l.name.clone()),
            service,
            author,
        },
        features,
    };
    let text = config.to_toml();
    // What is printed must be what `--config` accepts.
    Config::parse(&text, "the inferred config")?;
    let mut out = format!(
        "# changerisk feature config inferred from {file} ({} rows, {} columns).\n\
         # A proposal: check every choice below before training on it.\n",
        table.height(),
        names.len()
    );
    for note in notes {
        out.push_str(&format!("#   {note}\n"));
    }
    out.push('\n');
    out.push_str(&text);
    Ok(out)
}
