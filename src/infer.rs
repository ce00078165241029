//! `changerisk config --infer FILE`: a first feature config for a team's own export,
//! proposed from what its columns hold. Each choice is written as a comment with its
//! reason, so that the proposal is read and edited, never taken on trust: a guess about
//! which column is the label or the time decides what the model learns.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::path::Path;

use polars::prelude::DataType;

use crate::config::{ColumnsConfig, Config, FeaturesConfig, TimestampFormat};
use crate::error::{Error, Result};
use crate::load::{declared_flag, missing_marker, parse_label, parse_number, MAX_NUMBER};
use crate::schema::is_real_time;
use crate::table::{Cells, Table};

/// Most distinct values a text column may have to be a categorical feature rather than
/// passed through (ids, messages, hashes).
const MAX_LEVELS: usize = 50;

/// Cells of a column tried against each timestamp format before the whole column is.
const TIME_SAMPLE: usize = 200;

/// Timestamp patterns tried after RFC 3339, most specific first.
const PATTERNS: [&str; 11] = [
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d %H:%M",
    "%a %b %e %H:%M:%S %Y %z",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y",
    "%Y-%m-%d",
];

/// Words of a column name that suggest its role (see [`words`]).
const ID_WORDS: &[&str] = &[
    "id",
    "sha",
    "hexsha",
    "hash",
    "commit",
    "change",
    "transactionid",
    "uuid",
    "number",
    "key",
];
const TIME_WORDS: &[&str] = &[
    "date",
    "time",
    "timestamp",
    "created",
    "committed",
    "commitdate",
    "when",
    "at",
    "ts",
    "datetime",
    "epoch",
    "authored",
    "merged",
    "deployed",
];
const LABEL_WORDS: &[&str] = &[
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
    "inducing",
    "failed",
    "failure",
    "reverted",
    "outcome",
    "y",
];
const SERVICE_WORDS: &[&str] = &["service", "component", "module", "project", "repo"];
const AUTHOR_WORDS: &[&str] = &["author", "committer", "developer", "owner", "email"];

/// Cells of a column that break its pattern: how many, and the first (its row, counted
/// from 1 as the loader's errors count them, and its value).
struct Exceptions {
    count: usize,
    row: usize,
    value: String,
}

impl Exceptions {
    /// The cells of `cells` (row index, value) that `odd` picks, if any.
    fn of<'a>(
        cells: impl IntoIterator<Item = (usize, &'a str)>,
        odd: impl Fn(&str) -> bool,
    ) -> Option<Exceptions> {
        let mut found: Option<Exceptions> = None;
        for (i, v) in cells {
            if odd(v) {
                match &mut found {
                    Some(e) => e.count += 1,
                    None => {
                        found = Some(Exceptions {
                            count: 1,
                            row: i + 1,
                            value: v.to_string(),
                        })
                    }
                }
            }
        }
        found
    }

    /// "1 cell (row 8: 'NA')", "3 cells (the first, row 8: 'NA')".
    fn describe(&self) -> String {
        if self.count == 1 {
            format!("1 cell (row {}: '{}')", self.row, self.value)
        } else {
            format!(
                "{} cells (the first, row {}: '{}')",
                self.count, self.row, self.value
            )
        }
    }
}

/// The rows that repeat an earlier row's value, and the row (from 1) where the first of
/// those values was first seen.
struct Repeat {
    cells: Exceptions,
    first: usize,
}

/// What one column holds.
struct Profile {
    name: String,
    /// Cells with a value, and without (a time or label column may have none missing).
    present: usize,
    missing: usize,
    /// Every row has a value, and no two are equal.
    unique: bool,
    /// Distinct present values, and the first value seen again (the rows of its first two).
    distinct: usize,
    repeated: Option<Repeat>,
    /// Distinct values, counted up to `MAX_LEVELS + 1`.
    levels: usize,
    /// Every present value reads as a number (or a missing marker such as `NA`) as the
    /// loader reads it, and a whole one.
    numeric: bool,
    integer: bool,
    /// Most present values are numbers but these are not.
    not_number: Option<Exceptions>,
    /// Present cells holding a missing marker (`NA`, `null`, `NaN`, `None`): no value, as
    /// the loader reads them.
    marked: Option<Exceptions>,
    /// The values are the row numbers (from 0 or 1, in any order): a written-out index.
    index: bool,
    /// Every present value reads as a label (`1`/`0`/`true`/`false`/`1.0`/`0.0`), both
    /// occur: the values.
    flags: Option<Vec<Option<bool>>>,
    /// Every present value reads as a declared boolean (adds `yes`/`no`).
    boolean: bool,
    /// For at most two distinct values: each row's value as 0 or 1 in the order first
    /// seen, 2 when missing; to find copies of the label in any spelling.
    codes: Option<Vec<u8>>,
    /// For a numeric column: each row's value as 0 when it is zero, 1 when not, 2 when
    /// missing; to find a count of the label (`bugcount` > 0 exactly when `buggy`).
    nonzero: Option<Vec<u8>>,
    /// The format every present value parses in (or all but a few, `untimed`), and
    /// another that reads them all as other times (day-first against month-first).
    timestamp: Option<String>,
    ambiguous: Option<String>,
    untimed: Option<Exceptions>,
    /// A typed date or time column (Parquet, Arrow).
    typed_time: bool,
    /// The first values end in a zone (`Z`, `+01:00`, `-0500`).
    zoned: bool,
    /// Times (read as `timestamp` says, or typed) that changerisk takes for placeholders
    /// of a missing time, such as 0001-01-01.
    placeholders: usize,
}

impl Profile {
    fn is_time(&self) -> bool {
        self.typed_time || self.timestamp.is_some()
    }
}

/// A name's words: split at anything but letters and where a capital follows a small
/// letter (`isBuggy`), in lower case.
fn words(name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        let boundary = !c.is_ascii_alphabetic() || (c.is_ascii_uppercase() && prev_lower);
        if boundary && !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if c.is_ascii_alphabetic() {
            word.push(c.to_ascii_lowercase());
        }
        prev_lower = c.is_ascii_lowercase();
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Some word of `name` is in `vocabulary`.
fn named(name: &str, vocabulary: &[&str]) -> bool {
    words(name).iter().any(|w| vocabulary.contains(&w.as_str()))
}

/// The last word of `name` is in `vocabulary`: `is_buggy`, `pr_number`; not `bug_fix`
/// or `change_entropy`.
fn ends_named(name: &str, vocabulary: &[&str]) -> bool {
    words(name)
        .last()
        .is_some_and(|w| vocabulary.contains(&w.as_str()))
}

/// Stems of words that name an outcome when counted or measured: `bugcount`, `nbugs`,
/// `num_defects`, `bug_density`, `faults`.
const OUTCOME_STEMS: &[&str] = &["bug", "defect", "fault", "incident", "failure"];

/// Words that say a count is of what came before the change (`prior_bugs`,
/// `days_since_service_incident`, `failure_rate_lag`): known when it is scored.
const EARLIER_WORDS: &[&str] = &[
    "prior", "past", "prev", "previous", "since", "before", "rate", "lag", "last", "recent",
    "history", "hist",
];

/// `name` reads like a count or measure of the outcome: a word starts with an outcome
/// stem, after an `n` or `num` for "number of" (`bugcount`, `nbugs`; not `default` or
/// `debug`), and no word says it is about fixes (`bug_fix`, `bugfix`, Kamei's `fix`
/// flag, which is known before the change) or about what came before the change.
fn counts_outcome(name: &str) -> bool {
    let words = words(name);
    let known_before = words
        .iter()
        .any(|w| w.contains("fix") || EARLIER_WORDS.contains(&w.as_str()));
    !known_before
        && words.iter().any(|w| {
            let w = w
                .strip_prefix("num")
                .or_else(|| w.strip_prefix('n'))
                .filter(|rest| OUTCOME_STEMS.iter().any(|stem| rest.starts_with(stem)))
                .unwrap_or(w);
            OUTCOME_STEMS.iter().any(|stem| w.starts_with(stem))
        })
}

/// `s` ends in a time zone: `Z`, or a sign and four digits (a colon between them or not)
/// after the time.
fn has_zone(s: &str) -> bool {
    if s.ends_with(['Z', 'z']) {
        return true;
    }
    let digits: String = s
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit() || *c == ':')
        .collect();
    let before = s[..s.len() - digits.len()].chars().next_back();
    matches!(before, Some('+' | '-'))
        && digits.chars().filter(char::is_ascii_digit).count() == 4
        && s.len() > 10
}

/// How a column's values read as times.
struct TimeRead {
    format: String,
    /// Another pattern that reads the same values, to other times.
    other: Option<String>,
    /// The cells `format` does not read.
    unread: Option<Exceptions>,
}

/// Share of a column's cells that must fit a role (times in one format, distinct ids,
/// numbers) for the column to be taken for it with the other cells flagged by row:
/// `train` refuses them, and one `NA` or `0000-00-00` where a time went missing should
/// not hide which column holds the times.
const NEARLY_ALL: f64 = 0.9;

/// `part` is at least [`NEARLY_ALL`] of `whole`.
fn nearly_all(part: usize, whole: usize) -> bool {
    part as f64 >= NEARLY_ALL * whole as f64
}

/// The format all of `cells` (row index, value) parse in (RFC 3339, then the patterns;
/// Unix seconds or milliseconds only in a column named like a time, as counts are
/// numbers too), else the one that reads the most of them when that is nearly all; and a
/// second pattern that also reads them, to other times.
fn time_format(cells: &[(usize, &str)], time_named: bool) -> Option<TimeRead> {
    if cells.is_empty() {
        return None;
    }
    let sample = &cells[..cells.len().min(TIME_SAMPLE)];
    let mut formats: Vec<TimestampFormat> = vec![TimestampFormat::Rfc3339];
    formats.extend(
        PATTERNS
            .iter()
            .map(|p| TimestampFormat::Pattern((*p).into())),
    );
    if time_named {
        let numbers: Vec<f64> = sample.iter().filter_map(|(_, v)| v.parse().ok()).collect();
        if !numbers.is_empty() && nearly_all(numbers.len(), sample.len()) {
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
    // The first format that reads every value; failing that, the one that misses the
    // fewest, if it reads most of them.
    let mut best: Option<(TimestampFormat, Exceptions)> = None;
    let mut exact = None;
    for f in formats {
        let missed = sample
            .iter()
            .filter(|(_, v)| f.parse_cell(v).is_none())
            .count();
        if !nearly_all(sample.len() - missed, sample.len()) {
            continue;
        }
        match Exceptions::of(cells.iter().copied(), |v| f.parse_cell(v).is_none()) {
            None => {
                exact = Some(f);
                break;
            }
            Some(e)
                if nearly_all(cells.len() - e.count, cells.len())
                    && best.as_ref().is_none_or(|(_, b)| e.count < b.count) =>
            {
                best = Some((f, e))
            }
            Some(_) => {}
        }
    }
    let (chosen, unread) = match exact {
        Some(f) => (f, None),
        None => best.map(|(f, e)| (f, Some(e)))?,
    };
    let other = match &chosen {
        TimestampFormat::Pattern(p) if p.contains("%d/%m") => Some(p.replace("%d/%m", "%m/%d")),
        TimestampFormat::Pattern(p) if p.contains("%m/%d") => Some(p.replace("%m/%d", "%d/%m")),
        _ => None,
    }
    .filter(|other| {
        let other = TimestampFormat::Pattern(other.clone());
        cells
            .iter()
            .all(|(_, v)| chosen.parse_cell(v).is_none() || other.parse_cell(v).is_some())
    });
    let format = match chosen {
        TimestampFormat::Rfc3339 => "rfc3339".into(),
        TimestampFormat::Unix => "unix".into(),
        TimestampFormat::UnixMs => "unix_ms".into(),
        TimestampFormat::Pattern(p) => p,
    };
    Some(TimeRead {
        format,
        other,
        unread,
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
    // Each present cell with its row index.
    let rows: Vec<(usize, &str)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.as_deref().map(|v| (i, v)))
        .collect();
    let present: Vec<&str> = rows.iter().map(|&(_, v)| v).collect();
    let mut seen: Vec<&str> = Vec::new();
    let mut first_row: HashMap<&str, usize> = HashMap::with_capacity(present.len());
    let mut repeated: Option<Repeat> = None;
    for &(i, v) in &rows {
        match first_row.entry(v) {
            Entry::Vacant(e) => {
                e.insert(i);
                if seen.len() <= MAX_LEVELS {
                    seen.push(v);
                }
            }
            Entry::Occupied(e) => match &mut repeated {
                Some(r) => r.cells.count += 1,
                None => {
                    repeated = Some(Repeat {
                        cells: Exceptions {
                            count: 1,
                            row: i + 1,
                            value: v.into(),
                        },
                        first: e.get() + 1,
                    })
                }
            },
        }
    }
    let distinct = first_row.len();
    let unique = repeated.is_none() && present.len() == values.len();
    let levels = distinct.min(MAX_LEVELS + 1);
    // `NA`, `null` and the like are no value to the loader wherever it reads one (a
    // label refuses them as it refuses an empty cell).
    let marked = Exceptions::of(rows.iter().copied(), missing_marker);
    let kept: Vec<&str> = seen
        .iter()
        .copied()
        .filter(|v| !missing_marker(v))
        .collect();
    let marker_levels = first_row.keys().filter(|v| missing_marker(v)).count();
    let codes = (distinct - marker_levels <= 2).then(|| {
        values
            .iter()
            .map(|v| match v.as_deref().filter(|v| !missing_marker(v)) {
                None => 2,
                Some(v) => kept.iter().position(|s| *s == v).unwrap_or(2) as u8,
            })
            .collect()
    });
    // As the loader reads a numeric column: `NA`, `NaN`, `null` are missing values.
    let parsed: Vec<Option<Option<f64>>> = present.iter().map(|v| parse_number(v)).collect();
    let readable = parsed.iter().flatten().count();
    let numbers: Vec<f64> = parsed.iter().flatten().flatten().copied().collect();
    // Numbers only when there are some: a column of `none` and a few words is text.
    let numeric = !numbers.is_empty() && readable == present.len();
    let not_number = (!numeric && !numbers.is_empty() && nearly_all(readable, present.len()))
        .then(|| Exceptions::of(rows.iter().copied(), |v| parse_number(v).is_none()))
        .flatten();
    let nonzero = numeric.then(|| {
        values
            .iter()
            .map(|v| match v.as_deref().and_then(parse_number).flatten() {
                None => 2,
                Some(x) => u8::from(x != 0.0),
            })
            .collect()
    });
    // In any order: an index written out before the rows were sorted or reversed is still
    // the row number, and stands in for time as much as one in order does.
    let index = numeric && values.len() >= 3 && numbers.len() == values.len() && {
        let mut sorted = numbers.clone();
        sorted.sort_by(f64::total_cmp);
        let from = |start: usize| {
            sorted
                .iter()
                .enumerate()
                .all(|(i, &v)| v == (i + start) as f64)
        };
        from(0) || from(1)
    };
    let flags: Vec<Option<bool>> = values
        .iter()
        .map(|v| {
            v.as_deref()
                .filter(|v| !missing_marker(v))
                .and_then(parse_label)
        })
        .collect();
    let both = flags.contains(&Some(true)) && flags.contains(&Some(false));
    let unmarked = present.len() - marked.as_ref().map_or(0, |m| m.count);
    let all_flags = flags.iter().flatten().count() == unmarked;
    let boolean = unmarked > 0
        && present
            .iter()
            .all(|v| missing_marker(v) || declared_flag(v).is_some());
    let read = if typed_time || (numeric && !named(name, TIME_WORDS)) {
        None
    } else {
        time_format(&rows, named(name, TIME_WORDS))
    };
    let (timestamp, ambiguous, untimed) = match read {
        Some(r) => (Some(r.format), r.other, r.unread),
        None => (None, None, None),
    };
    // Typed times come as Unix seconds.
    let format = timestamp.as_deref().map(TimestampFormat::parse);
    let placeholders = if format.is_some() || typed_time {
        present
            .iter()
            .filter_map(|v| match &format {
                Some(f) => f.parse_cell(v),
                None => v.parse().ok(),
            })
            .filter(|&t| !is_real_time(t))
            .count()
    } else {
        0
    };
    // Of the values that read as times: a cell the format refuses says nothing of zones.
    let zoned = present
        .iter()
        .filter(|v| format.as_ref().is_none_or(|f| f.parse_cell(v).is_some()))
        .take(TIME_SAMPLE)
        .all(|v| has_zone(v));
    Ok(Profile {
        name: name.into(),
        present: present.len(),
        missing: values.len() - present.len(),
        unique,
        distinct,
        repeated,
        levels,
        numeric,
        integer: numeric && numbers.iter().all(|v| v.fract() == 0.0),
        not_number,
        marked,
        index,
        flags: (both && all_flags).then_some(flags),
        boolean,
        codes,
        nonzero,
        timestamp,
        ambiguous,
        untimed,
        typed_time,
        zoned,
        placeholders,
    })
}

/// `codes` and `other` hold the same two values row for row, in some spelling.
fn same_split(codes: &[u8], other: &[u8]) -> bool {
    let mut map = [None::<u8>; 2];
    for (&a, &b) in codes.iter().zip(other) {
        if a == 2 || b == 2 {
            continue;
        }
        match map[a as usize] {
            None => map[a as usize] = Some(b),
            Some(m) if m != b => return false,
            Some(_) => {}
        }
    }
    map[0].is_some() && map[1].is_some() && map[0] != map[1]
}

/// The notes on the time column `time` (how it reads, and what to check); returns its
/// `timestamp_format`.
fn time_notes(time: &Profile, notes: &mut Vec<String>) -> String {
    let timestamp_format = time.timestamp.clone().unwrap_or_else(|| "rfc3339".into());
    notes.push(format!(
        "timestamp: '{}' ({})",
        time.name,
        if time.typed_time {
            "a typed date/time column".to_string()
        } else {
            format!(
                "{} value parses as {timestamp_format}",
                if time.untimed.is_some() {
                    "nearly every"
                } else {
                    "every"
                }
            )
        }
    ));
    if let Some(other) = &time.ambiguous {
        notes.push(format!(
            "CHECK: every value of '{}' also parses as {other}, which gives other times: day-first or month-first is a guess",
            time.name
        ));
    }
    if timestamp_format == "rfc3339" && !time.typed_time && !time.zoned {
        notes.push(format!(
            "CHECK: the times in '{}' carry no time zone and are read as UTC",
            time.name
        ));
    }
    if time.missing > 0 {
        notes.push(format!(
            "CHECK: {} rows have no '{}'; changerisk refuses a change without a time: fill or drop them",
            time.missing, time.name
        ));
    }
    if let Some(odd) = &time.untimed {
        notes.push(format!(
            "CHECK: '{}' holds no time in that format in {}; changerisk refuses a change without a time: correct or drop them",
            time.name,
            odd.describe()
        ));
    }
    if time.placeholders > 0 {
        notes.push(format!(
            "CHECK: {} rows of '{}' hold a time before 1970-01-02 or from 2200 on (a placeholder for a missing time, such as 0001-01-01?), which changerisk refuses: fill or drop them",
            time.placeholders, time.name
        ));
    }
    timestamp_format
}

/// A proposed config for the table at `path`, as commented TOML that `--config` reads.
pub fn infer(path: &Path) -> Result<String> {
    let file = path.display().to_string();
    let (table, partition_keys) = if crate::dataset::is_partitioned(path) {
        crate::dataset::read_whole(path)?
    } else {
        (Table::read(path)?, Vec::new())
    };
    if table.height() == 0 {
        return Err(Error::EmptyTable {
            file,
            what: "no data rows to infer a config from".into(),
        });
    }
    let names: Vec<String> = table.names().iter().map(|n| n.to_string()).collect();
    if let [only] = names.as_slice() {
        if let Some(sep) = [';', '\t', '|'].into_iter().find(|&c| only.contains(c)) {
            return Err(Error::Data(format!(
                "{file}: one column, named {only:?}: the file looks {sep:?}-separated, and changerisk reads comma-separated CSV"
            )));
        }
    }
    let profiles = names
        .iter()
        .map(|n| profile(&table, &file, n))
        .collect::<Result<Vec<_>>>()?;
    let contract = crate::load::CHANGE_COLUMNS
        .iter()
        .all(|c| names.iter().any(|n| n == c));
    let mut notes: Vec<String> = Vec::new();
    let mut taken: HashSet<&str> = HashSet::new();

    let mut columns = if contract {
        // The contract's own columns: the built-in features know what they mean, and
        // other columns are proposed on top.
        notes.push(
            "the file has every column of SPEC.md: builtin = true adds the built-in features (AI involvement x permission x review, blast radius, timing, history) over them".into(),
        );
        taken.extend(crate::load::CHANGE_COLUMNS.iter().copied());
        let mut columns = Config::default().columns;
        // The contract names the column, not how its times are written.
        match profiles.iter().find(|p| p.name == columns.timestamp) {
            Some(time) if time.is_time() => columns.timestamp_format = time_notes(time, &mut notes),
            _ => notes.push(format!(
                "CHECK: not every value of '{}' reads as a time (tried RFC 3339, Unix seconds and milliseconds, and {}); give its timestamp_format",
                columns.timestamp,
                PATTERNS.join(", ")
            )),
        }
        columns
    } else {
        // The time: a typed time column, else one whose values parse (all of them, or
        // nearly all: the others are flagged); a column named like a time first, then
        // one that reads in every row, then the leftmost.
        let time = profiles
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_time())
            .max_by_key(|(k, p)| {
                (
                    named(&p.name, TIME_WORDS),
                    p.untimed.is_none(),
                    std::cmp::Reverse(*k),
                )
            })
            .map(|(_, p)| p)
            .ok_or_else(|| Error::Data(format!(
                "{file}: no column reads as a time in at least {:.0}% of its rows (tried RFC 3339, Unix seconds and milliseconds in a column named like a time, and {}); name it in [columns] timestamp with its timestamp_format",
                NEARLY_ALL * 100.0,
                PATTERNS.join(", ")
            )))?;
        taken.insert(&time.name);
        let timestamp_format = time_notes(time, &mut notes);
        // The id: a different value in every row. Text first (a hash, a key); a whole
        // number only when named like an id; a name ending like an id first. Failing
        // that, a column with a different value in nearly every row, its repeats and
        // gaps flagged (`train` refuses them).
        let id_like = |p: &Profile| {
            !taken.contains(p.name.as_str())
                && (!p.numeric || (p.integer && named(&p.name, ID_WORDS)))
        };
        let by_name = |k: usize, p: &Profile| {
            (
                ends_named(&p.name, ID_WORDS),
                !p.numeric,
                std::cmp::Reverse(k),
            )
        };
        let rows = table.height();
        let id = profiles
            .iter()
            .enumerate()
            .filter(|(_, p)| p.unique && id_like(p))
            .max_by_key(|&(k, p)| by_name(k, p))
            .or_else(|| {
                profiles
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| id_like(p) && !p.is_time() && nearly_all(p.distinct, rows))
                    .max_by_key(|&(k, p)| {
                        let (ends, text, left) = by_name(k, p);
                        (ends, text, p.distinct, left)
                    })
            })
            .map(|(_, p)| p)
            .ok_or_else(|| {
                Error::Data(format!(
                    "{file}: no column can be the change id: one with a different value in every row (or nearly every row), text, or whole numbers in a column named like an id; add one"
                ))
            })?;
        taken.insert(&id.name);
        if id.unique {
            notes.push(format!(
                "id: '{}' (a different value in every row)",
                id.name
            ));
        } else {
            notes.push(format!(
                "id: '{}' (a different value in nearly every row)",
                id.name
            ));
            if let Some(r) = &id.repeated {
                notes.push(format!(
                    "CHECK: '{}' repeats an earlier row's value in {}, first seen in row {}; changerisk refuses two changes with one id: correct or drop them",
                    id.name,
                    r.cells.describe(),
                    r.first
                ));
            }
            if id.missing > 0 {
                notes.push(format!(
                    "CHECK: {} rows have no '{}'; changerisk refuses a change without an id: fill or drop them",
                    id.missing, id.name
                ));
            }
        }
        ColumnsConfig {
            id: id.name.clone(),
            timestamp: time.name.clone(),
            timestamp_format,
            label: None,
            service: None,
            author: None,
        }
    };

    // The label: a 0/1 column named like an outcome, the name ending like one first.
    // Without such a name none is guessed: an incidents file may be meant.
    let candidates: Vec<&Profile> = profiles
        .iter()
        .filter(|p| p.flags.is_some() && !taken.contains(p.name.as_str()))
        .filter(|p| named(&p.name, LABEL_WORDS))
        .collect();
    let label = candidates
        .iter()
        .find(|p| ends_named(&p.name, LABEL_WORDS))
        .or(candidates.first())
        .copied();
    match label {
        Some(l) => {
            taken.insert(&l.name);
            notes.push(format!(
                "label: '{}' (two values such as 0/1, true/false or yes/no, named like an outcome); without a label, changerisk needs an incidents file",
                l.name
            ));
            let others: Vec<&str> = candidates
                .iter()
                .filter(|p| p.name != l.name)
                .map(|p| p.name.as_str())
                .collect();
            if !others.is_empty() {
                notes.push(format!(
                    "CHECK: also named like an outcome and two-valued: {}",
                    others.join(", ")
                ));
            }
            if l.missing > 0 {
                notes.push(format!(
                    "CHECK: {} rows have no '{}'; changerisk refuses an unlabelled change: fill or drop them",
                    l.missing, l.name
                ));
            }
            if let Some(odd) = &l.marked {
                notes.push(format!(
                    "CHECK: '{}' holds no outcome in {}; changerisk refuses an unlabelled change: fill or drop them",
                    l.name,
                    odd.describe()
                ));
            }
            columns.label = Some(l.name.clone());
        }
        None if !contract => notes.push(
            "label: none guessed (no 0/1 column named like bug, defect, label or incident); set [columns] label, or train with --incidents".into(),
        ),
        None => {}
    }
    let label_codes = label.and_then(|l| l.codes.as_deref());

    if !contract {
        // A column of one value names no one: its "per-service" counts would be the
        // whole history's, a stand-in for time.
        let role = |vocabulary: &[&str], taken: &HashSet<&str>| {
            profiles
                .iter()
                .find(|p| {
                    named(&p.name, vocabulary)
                        && !p.numeric
                        && !p.unique
                        && p.levels > 1
                        && !p.is_time()
                        && !taken.contains(p.name.as_str())
                })
                .map(|p| p.name.clone())
        };
        columns.service = role(SERVICE_WORDS, &taken);
        if let Some(s) = &columns.service {
            taken.insert(s);
            notes.push(format!(
                "service: '{s}' (enables per-service history features)"
            ));
        }
        columns.author = role(AUTHOR_WORDS, &taken);
        if let Some(a) = &columns.author {
            taken.insert(a);
            notes.push(format!(
                "author: '{a}' (enables per-author history features)"
            ));
        }
    }

    // A partition key (a `key=value` directory level) is how the table was split, most
    // often a time bucket: a feature of it would learn the period, not the change.
    for key in &partition_keys {
        if taken.insert(key) {
            notes.push(format!(
                "CHECK: '{key}' comes from the partitioned table's directory levels ({key}=...), not from its files, and is left out of the features (a partition key is most often a time bucket, which would teach the model the period); declare it if it describes the change"
            ));
        }
    }
    let mut features = FeaturesConfig {
        builtin: contract,
        ..FeaturesConfig::default()
    };
    for p in &profiles {
        if taken.contains(p.name.as_str()) {
            continue;
        }
        let copies_label = match (label_codes, &p.codes) {
            (Some(l), Some(c)) => same_split(l, c),
            _ => false,
        };
        // With a value in most rows: a column of a few values cannot show it.
        let counts_label = match (label_codes, &p.nonzero) {
            (Some(l), Some(c)) => !copies_label && p.missing <= p.present && same_split(l, c),
            _ => false,
        };
        let why = if p.present == 0 {
            "empty: not learned".to_string()
        } else if copies_label {
            "the label again, in other words or reversed: not learned, it would leak the outcome"
                .into()
        } else if counts_label {
            "CHECK: zero exactly where the label takes one value (a count of the outcome, found after the change?): not learned, it would leak the outcome".into()
        } else if p.levels == 1 {
            "the same value in every row: not learned".into()
        } else if p.index && !named(&p.name, ID_WORDS) {
            "the row number: not learned".into()
        } else if p.unique && p.integer && named(&p.name, ID_WORDS) {
            "another id (a different whole number in every row): not learned".into()
        } else if p.is_time() {
            "another time: not learned (a time is not a feature)".into()
        } else if p.numeric && ends_named(&p.name, &["year"]) {
            "the year: not learned (it only grows, so every later change lies beyond the years trained on)".into()
        } else if p.codes.is_some() && named(&p.name, LABEL_WORDS) {
            "named like an outcome: not learned, in case it is one (the label must read 0/1, true/false or yes/no: convert it and set [columns] label)".into()
        } else if p.numeric && counts_outcome(&p.name) {
            "CHECK: named like a count of the outcome: not learned, in case it was counted after the change (it would leak the outcome); if it is known before the change, add it to [features] numeric".into()
        } else if p.flags.is_some() || (p.boolean && p.levels <= 2) {
            features.boolean.push(p.name.clone());
            continue;
        } else if p.numeric {
            features.numeric.push(p.name.clone());
            continue;
        } else if let Some(odd) = &p.not_number {
            format!("CHECK: numbers, but not a number within +-{MAX_NUMBER:e} in {}: not learned; write those as numbers (or empty or NA where there is none) to learn from it", odd.describe())
        } else if p.levels <= MAX_LEVELS && !p.unique {
            features.categorical.push(p.name.clone());
            continue;
        } else {
            "text with many distinct values (an id, a message): passed through, not learned".into()
        };
        notes.push(format!("'{}': {why}", p.name));
    }
    let declared = features.numeric.len() + features.boolean.len() + features.categorical.len();
    if declared == 0 && !contract {
        // Why the columns nearest to features were left out.
        let doubts: String = notes
            .iter()
            .filter(|n| n.contains("CHECK"))
            .map(|n| format!("; {n}"))
            .collect();
        return Err(Error::Data(format!(
            "{file}: no column to learn from was found (numbers, 0/1 flags or text of at most {MAX_LEVELS} values){doubts}"
        )));
    }
    let config = Config { columns, features };
    let text = config.to_toml();
    // What is printed must be what `--config` accepts.
    Config::parse(&text, "the inferred config")?;
    let mut out = format!(
        "# changerisk feature config inferred from {file} ({} rows, {} columns).\n\
         # A proposal: check every choice below (CHECK marks the doubtful ones) before\n\
         # training on it.\n",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_words() {
        assert_eq!(words("isBuggy"), ["is", "buggy"]);
        assert_eq!(words("fix_inducing"), ["fix", "inducing"]);
        assert_eq!(words("HTTPStatus2xx"), ["httpstatus", "xx"]);
        assert!(ends_named("contains_bug", LABEL_WORDS));
        assert!(!ends_named("bug_fix", LABEL_WORDS));
        assert!(!ends_named("change_entropy", ID_WORDS));
        for counted in [
            "bugcount",
            "bug_count",
            "nbugs",
            "num_defects",
            "bugDensity",
            "faults",
        ] {
            assert!(counts_outcome(counted), "{counted}");
        }
        for other in [
            "la",
            "fix",
            "bug_fix",
            "bugfix_count",
            "debug_lines",
            "entropy",
            "default_timeout",
            "prior_faults",
            "past_failures",
            "failure_rate_lag",
            "days_since_service_incident",
            "service_incident_rate",
            "nuc",
            "ndev",
        ] {
            assert!(!counts_outcome(other), "{other}");
        }
    }

    #[test]
    fn zones_are_recognised() {
        assert!(has_zone("2024-01-01T10:00:00Z"));
        assert!(has_zone("2024-01-01 10:00:00+01:00"));
        assert!(has_zone("Tue Mar 3 10:00:00 2026 -0500"));
        assert!(!has_zone("2024-01-01 10:00:00"));
        assert!(!has_zone("2024-01-01"));
    }

    #[test]
    fn same_split_finds_a_recoded_copy() {
        assert!(same_split(&[0, 1, 1, 2], &[1, 0, 0, 1]));
        assert!(same_split(&[0, 1, 2], &[0, 1, 0]));
        assert!(!same_split(&[0, 1, 1], &[0, 1, 0]));
        assert!(!same_split(&[0, 0, 0], &[0, 0, 0]));
    }
}
