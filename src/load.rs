//! Loading and validating the changes and incidents tables of SPEC.md into typed,
//! columnar values. Every rejected cell is reported with file, row, column, value and
//! what was expected.

use rustc_hash::FxHashMap as HashMap;
use std::hash::BuildHasher;
use std::path::Path;

use chrono::{Datelike, Timelike};
use polars::prelude::DataFrame;
use rayon::prelude::*;

use crate::config::{Config, FeaturesConfig};
use crate::error::{Error, Result};
use crate::frame::{Column, Frame};
use crate::schema::{
    parse_bool, parse_severity, parse_timestamp, AiInvolvement, ChangeType, Permission, Review,
};
use crate::table::{parse_count, Cells, Table};

/// The contract's change columns, in SPEC order.
pub const CHANGE_COLUMNS: &[&str] = &[
    "change_id",
    "timestamp",
    "service",
    "author",
    "ai_involvement",
    "ai_tool",
    "permission_level",
    "review_status",
    "reviewer_count",
    "change_type",
    "services_affected",
    "regions_affected",
    "customer_facing",
    "lines_changed",
    "files_changed",
    "rollback_plan",
];

/// Hours (UTC) before which and from which a change counts as off-hours.
pub const WORKDAY_START_HOUR: u32 = 7;
/// See [`WORKDAY_START_HOUR`].
pub const WORKDAY_END_HOUR: u32 = 19;

/// Weekday levels, Monday first.
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Strings of one column stored end to end, in one allocation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Strs {
    text: String,
    ends: Vec<usize>,
}

impl Strs {
    /// Room for `rows` strings of `bytes` bytes in all.
    pub fn with_capacity(rows: usize, bytes: usize) -> Strs {
        Strs {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(rows),
        }
    }

    /// Appends a string.
    pub fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.ends.push(self.text.len());
    }

    /// Number of strings.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when there are no strings.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The string at `i`.
    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    /// The strings in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// The strings at `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Strs {
        rows.iter().map(|&r| self.get(r)).collect()
    }

    /// Appends all of `other`.
    pub fn extend(&mut self, other: &Strs) {
        let base = self.text.len();
        self.text.push_str(&other.text);
        self.ends.extend(other.ends.iter().map(|e| e + base));
    }
}

impl<'a> FromIterator<&'a str> for Strs {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Strs {
        let mut out = Strs::default();
        for s in iter {
            out.push(s);
        }
        out
    }
}

/// A text column as codes into its distinct values (`names`, in first-seen order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Interned {
    pub codes: Vec<u32>,
    pub names: Vec<String>,
}

impl Interned {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// The value of row `i`.
    pub fn get(&self, i: usize) -> &str {
        &self.names[self.codes[i] as usize]
    }

    /// The values in row order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.codes.iter().map(|&c| self.names[c as usize].as_str())
    }

    /// Code of each distinct value.
    pub fn index(&self) -> HashMap<&str, u32> {
        self.names
            .iter()
            .enumerate()
            .map(|(c, n)| (n.as_str(), c as u32))
            .collect()
    }

    /// The rows `rows`, in that order (all the values are kept).
    pub fn select(&self, rows: &[usize]) -> Interned {
        Interned {
            codes: rows.iter().map(|&r| self.codes[r]).collect(),
            names: self.names.clone(),
        }
    }

    /// Appends `other`'s rows, matching values by name.
    pub fn append(&mut self, other: &Interned) {
        let mut index: HashMap<String, u32> = self
            .names
            .iter()
            .enumerate()
            .map(|(c, n)| (n.clone(), c as u32))
            .collect();
        let map: Vec<u32> = other
            .names
            .iter()
            .map(|n| {
                *index.entry(n.clone()).or_insert_with(|| {
                    self.names.push(n.clone());
                    (self.names.len() - 1) as u32
                })
            })
            .collect();
        self.codes
            .extend(other.codes.iter().map(|&c| map[c as usize]));
    }
}

impl<'a> FromIterator<&'a str> for Interned {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Interned {
        let mut out = Interner::default();
        for s in iter {
            out.push(s);
        }
        out.finish()
    }
}

/// Builds an [`Interned`] column value by value.
#[derive(Default)]
struct Interner {
    index: HashMap<String, u32>,
    out: Interned,
}

impl Interner {
    fn push(&mut self, s: &str) {
        let code = match self.index.get(s) {
            Some(&c) => c,
            None => {
                let c = self.out.names.len() as u32;
                self.out.names.push(s.to_string());
                self.index.insert(s.to_string(), c);
                c
            }
        };
        self.out.codes.push(code);
    }

    fn finish(self) -> Interned {
        self.out
    }
}

/// Identity and timing of changes: what linking incidents and history features read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Events {
    pub ids: Strs,
    /// Unix seconds, UTC.
    pub ts: Vec<i64>,
    pub service: Interned,
    pub author: Interned,
    /// The change's own label, when the config names a label column.
    pub label: Option<Vec<bool>>,
}

impl Events {
    /// Number of changes.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// True when there are no changes.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// The changes at `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Events {
        Events {
            ids: self.ids.select(rows),
            ts: rows.iter().map(|&r| self.ts[r]).collect(),
            service: self.service.select(rows),
            author: self.author.select(rows),
            label: self
                .label
                .as_ref()
                .map(|l| rows.iter().map(|&r| l[r]).collect()),
        }
    }

    /// Appends `other`.
    pub fn append(&mut self, other: &Events) {
        self.ids.extend(&other.ids);
        self.ts.extend_from_slice(&other.ts);
        self.service.append(&other.service);
        self.author.append(&other.author);
        self.label = match (self.label.take(), &other.label) {
            (Some(mut a), Some(b)) => {
                a.extend_from_slice(b);
                Some(a)
            }
            _ => None,
        };
    }

    /// Row indices in time order; changes applied in the same second go by `change_id`,
    /// so nothing downstream (which change an incident is attributed to, the training
    /// rows' order) depends on the order of the input rows.
    pub fn time_order(&self) -> Vec<usize> {
        time_order(&self.ts, |r| self.ids.get(r))
    }
}

/// Row indices sorted by `ts`, equal times by `id` (unique within a history).
fn time_order<'a>(ts: &[i64], id: impl Fn(usize) -> &'a str + Sync) -> Vec<usize> {
    let mut order: Vec<usize> = (0..ts.len()).collect();
    order.par_sort_by(|&a, &b| ts[a].cmp(&ts[b]).then_with(|| id(a).cmp(id(b))));
    order
}

/// Validated changes: identity and timing columns plus the typed feature inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Changes {
    pub ids: Vec<String>,
    /// Unix seconds, UTC.
    pub ts: Vec<i64>,
    pub service: Vec<String>,
    pub author: Vec<String>,
    /// The change's own label, when the config names a label column.
    pub label: Option<Vec<bool>>,
    /// Typed columns the features read, by name (contract columns and calendar columns).
    pub frame: Frame,
}

impl Changes {
    /// Number of changes.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there are no changes.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The changes at `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Changes {
        Changes {
            ids: rows.iter().map(|&r| self.ids[r].clone()).collect(),
            ts: rows.iter().map(|&r| self.ts[r]).collect(),
            service: rows.iter().map(|&r| self.service[r].clone()).collect(),
            author: rows.iter().map(|&r| self.author[r].clone()).collect(),
            label: self
                .label
                .as_ref()
                .map(|l| rows.iter().map(|&r| l[r]).collect()),
            frame: self.frame.select(rows),
        }
    }

    /// Appends `other` (same kinds of columns).
    pub fn append(&mut self, other: &Changes) -> Result<()> {
        self.frame
            .append(&other.frame)
            .map_err(|m| Error::Data(format!("cannot combine change tables: {m}")))?;
        self.ids.extend_from_slice(&other.ids);
        self.ts.extend_from_slice(&other.ts);
        self.service.extend_from_slice(&other.service);
        self.author.extend_from_slice(&other.author);
        self.label = match (self.label.take(), &other.label) {
            (Some(mut a), Some(b)) => {
                a.extend_from_slice(b);
                Some(a)
            }
            _ => None,
        };
        Ok(())
    }

    /// Row indices in time order, ties by `change_id` ([`Events::time_order`]).
    pub fn time_order(&self) -> Vec<usize> {
        time_order(&self.ts, |r| self.ids[r].as_str())
    }

    /// The identity and timing columns as [`Events`].
    pub fn events(&self) -> Events {
        Events {
            ids: self.ids.iter().map(String::as_str).collect(),
            ts: self.ts.clone(),
            service: self.service.iter().map(String::as_str).collect(),
            author: self.author.iter().map(String::as_str).collect(),
            label: self.label.clone(),
        }
    }

    /// Changes from their events and feature columns.
    pub fn from_events(events: Events, frame: Frame) -> Changes {
        let strings = |i: &Interned| i.iter().map(String::from).collect();
        Changes {
            ids: events.ids.iter().map(String::from).collect(),
            ts: events.ts,
            service: strings(&events.service),
            author: strings(&events.author),
            label: events.label,
            frame,
        }
    }
}

/// A loaded changes file in the compact form: events, feature columns and the columns
/// passed through to outputs.
pub struct LoadedEvents {
    pub events: Events,
    pub frame: Frame,
    pub passthrough: DataFrame,
}

/// A loaded changes file: the validated changes and the columns passed through to outputs.
pub struct LoadedChanges {
    pub changes: Changes,
    pub passthrough: DataFrame,
}

/// Validated incidents.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Incidents {
    pub ids: Vec<String>,
    pub start: Vec<i64>,
    pub service: Vec<String>,
    pub severity: Vec<u8>,
    /// Change ids named as the cause (empty when none named).
    pub causes: Vec<Vec<String>>,
}

impl Incidents {
    /// Number of incidents.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there are no incidents.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Appends `other`'s incidents.
    pub fn append(&mut self, other: Incidents) {
        let Incidents {
            ids,
            start,
            service,
            severity,
            causes,
        } = other;
        self.ids.extend(ids);
        self.start.extend(start);
        self.service.extend(service);
        self.severity.extend(severity);
        self.causes.extend(causes);
    }

    /// The incidents that started before `t` (Unix seconds), in file order.
    pub fn started_before(&self, t: i64) -> Incidents {
        let keep: Vec<usize> = (0..self.len()).filter(|&i| self.start[i] < t).collect();
        Incidents {
            ids: keep.iter().map(|&i| self.ids[i].clone()).collect(),
            start: keep.iter().map(|&i| self.start[i]).collect(),
            service: keep.iter().map(|&i| self.service[i].clone()).collect(),
            severity: keep.iter().map(|&i| self.severity[i]).collect(),
            causes: keep.iter().map(|&i| self.causes[i].clone()).collect(),
        }
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// No rows is an empty batch to score or an empty history; nothing to learn from.
fn require_rows(table: &Table, file: &str) -> Result<()> {
    if table.height() == 0 {
        return Err(no_rows(file));
    }
    Ok(())
}

fn no_rows(file: &str) -> Error {
    Error::EmptyTable {
        file: file.into(),
        what: "no data rows (only a header, or a table of no rows)".into(),
    }
}

/// Checks that no value of the `n` given by `id` repeats; the error names the first
/// repeat in row order and the row it repeats (1-based).
fn check_unique<'s>(
    file: &str,
    column: &str,
    n: usize,
    id: impl Fn(usize) -> &'s str + Sync,
) -> Result<()> {
    // The values' hashes, sorted in parallel, show whether any two values could be
    // equal; only then are the rows walked in order, so that the error names the first
    // repeat.
    let mut hashes: Vec<u64> = (0..n)
        .into_par_iter()
        .map(|i| rustc_hash::FxBuildHasher.hash_one(id(i)))
        .collect();
    hashes.par_sort_unstable();
    if !hashes.par_windows(2).any(|w| w[0] == w[1]) {
        return Ok(());
    }
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity_and_hasher(n, Default::default());
    for i in 0..n {
        if let Some(first) = seen.insert(id(i), i) {
            return Err(Error::Duplicate {
                file: file.into(),
                column: column.into(),
                value: id(i).to_string(),
                first: first + 1,
                second: i + 1,
            });
        }
    }
    Ok(())
}

fn level_column<L: Copy + PartialEq>(
    cells: &Cells,
    all: &[L],
    name: fn(L) -> &'static str,
    parse: fn(&str) -> Option<L>,
    expected: &str,
) -> Result<Column> {
    // Cells spelled exactly as the level are the common case: compared first.
    let levels: Vec<&str> = all.iter().map(|&l| name(l)).collect();
    let code = |s: &str| {
        levels
            .iter()
            .position(|&l| l == s)
            .or_else(|| parse(s).and_then(|v| all.iter().position(|l| *l == v)))
            .map(|k| k as u32)
    };
    let (codes, first_empty) = cells.parse_filled(expected, 0, code)?;
    if let Some(i) = first_empty {
        return Err(cells.empty(i, expected));
    }
    Ok(Column::Cat {
        codes,
        levels: levels.iter().map(|l| l.to_string()).collect(),
    })
}

/// A count cell: plain digits are read here, anything else by [`parse_count`].
fn count(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if !b.is_empty() && b.len() <= 15 && b.iter().all(u8::is_ascii_digit) {
        return Some(b.iter().fold(0, |v, d| v * 10 + u64::from(d - b'0')));
    }
    parse_count(s)
}

fn count_column(cells: &Cells, min: u64, default: Option<u64>) -> Result<Column> {
    let expected = format!("an integer >= {min} (below 9e15)");
    let (values, first_empty) =
        cells.parse_filled(&expected, default.unwrap_or(0) as f64, |s| {
            count(s).filter(|&v| v >= min).map(|v| v as f64)
        })?;
    match (first_empty, default) {
        (Some(i), None) => Err(cells.empty(i, &expected)),
        _ => Ok(Column::Num(values)),
    }
}

/// A contract boolean cell: `true` and `false` are read here, anything else as a
/// declared flag ([`declared_flag`]).
fn boolean(s: &str) -> Option<bool> {
    match s {
        "true" => Some(true),
        "false" => Some(false),
        _ => declared_flag(s),
    }
}

/// A categorical column of free text, levels in first-seen order; an empty or missing
/// cell takes the level `missing`.
fn text_column(cells: Option<&Cells>, rows: usize, missing: &str) -> Result<Column> {
    let mut interner = Interner::default();
    match cells {
        Some(cells) => cells.visit(|i, cell| {
            // A real value spelled like the missing level would merge with the gaps.
            if !missing.is_empty() && cell == Some(missing) {
                return Err(cells.bad(
                    i,
                    missing,
                    format!("a value other than {missing:?}, the level an empty cell takes (leave a missing value empty)"),
                ));
            }
            interner.push(cell.unwrap_or(missing));
            Ok(())
        })?,
        None => (0..rows).for_each(|_| interner.push(missing)),
    }
    let Interned { codes, names } = interner.finish();
    Ok(Column::Cat {
        codes,
        levels: names,
    })
}

/// The calendar columns [`add_calendar`] derives for the built-in features.
pub const CALENDAR_COLUMNS: [&str; 4] = ["hour", "weekday", "weekend", "off_hours"];

/// Adds the calendar columns derived from the timestamp: `hour` (UTC), `weekday`,
/// `weekend`, `off_hours`.
pub fn add_calendar(frame: &mut Frame, ts: &[i64]) {
    let times: Vec<chrono::DateTime<chrono::Utc>> = ts
        .iter()
        .map(|&t| chrono::DateTime::from_timestamp(t, 0).unwrap_or_default())
        .collect();
    let hours: Vec<u32> = times.iter().map(|t| t.hour()).collect();
    let days: Vec<u32> = times
        .iter()
        .map(|t| t.weekday().num_days_from_monday())
        .collect();
    frame.insert(
        "hour",
        Column::Num(hours.iter().map(|&h| h as f64).collect()),
    );
    frame.insert(
        "weekday",
        Column::Cat {
            codes: days.clone(),
            levels: WEEKDAYS.iter().map(|d| d.to_string()).collect(),
        },
    );
    frame.insert(
        "weekend",
        Column::Flag(days.iter().map(|&d| d >= 5).collect()),
    );
    frame.insert(
        "off_hours",
        Column::Flag(
            hours
                .iter()
                .map(|&h| !(WORKDAY_START_HOUR..WORKDAY_END_HOUR).contains(&h))
                .collect(),
        ),
    );
}

/// Which parts of a changes table to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Everything, the config's label column included (training, evaluation).
    Labelled,
    /// Everything but the label, which passes through (the changes to score).
    Unlabelled,
    /// Identity and timing only (id, time, service, author): past changes that history
    /// features count but nobody scores. The other columns are still validated; no
    /// column passes through.
    Events,
    /// Identity and timing only, the other columns neither required, parsed nor
    /// validated: a first look at changes whose other columns are read later.
    Identity,
}

/// Loads and validates a changes table described by `config`.
pub fn load_changes(path: &Path, config: &Config, read: Read) -> Result<LoadedChanges> {
    load_events(path, config, read).map(LoadedEvents::into_changes)
}

/// Like [`load_changes`], in the compact form.
/// A directory is a partitioned table ([`crate::dataset`]): its parts are read one at a
/// time and their rows taken in part order.
pub fn load_events(path: &Path, config: &Config, read: Read) -> Result<LoadedEvents> {
    if crate::dataset::is_partitioned(path) {
        return load_partitioned(path, config, read);
    }
    let file = display(path);
    let table = Table::read(path)?;
    parse_table(&table, &file, config, read)
}

impl LoadedEvents {
    /// The owned form.
    pub fn into_changes(self) -> LoadedChanges {
        LoadedChanges {
            changes: Changes::from_events(self.events, self.frame),
            passthrough: self.passthrough,
        }
    }
}

/// The contract columns the built-in features read (all but id, time, service, author).
const BUILTIN_INPUTS: &[&str] = CHANGE_COLUMNS.split_at(4).1;

/// Validates an in-memory changes table; `file` names it in errors.
pub fn parse_changes(
    df: &DataFrame,
    file: &str,
    config: &Config,
    read: Read,
) -> Result<LoadedChanges> {
    parse_table(&Table::Frame(df.clone()), file, config, read).map(LoadedEvents::into_changes)
}

/// Validates a changes table; `file` names it in errors.
pub fn parse_table(table: &Table, file: &str, config: &Config, read: Read) -> Result<LoadedEvents> {
    if read == Read::Labelled {
        require_rows(table, file)?;
    }
    parse_rows(table, file, config, read)
}

/// [`parse_table`] of a table that may have no rows (a part of a partitioned table).
pub fn parse_rows(table: &Table, file: &str, config: &Config, read: Read) -> Result<LoadedEvents> {
    let cols = &config.columns;
    let features = &config.features;
    let label_column = cols.label.as_deref().filter(|_| read == Read::Labelled);
    // Every column the config needs, checked before any cell so that a missing one is
    // named first.
    let mut consumed = identity_columns(config);
    let identity = consumed.len();
    consumed.extend(label_column);
    if features.builtin {
        consumed.extend(
            BUILTIN_INPUTS
                .iter()
                .filter(|c| !matches!(**c, "ai_tool" | "reviewer_count" | "rollback_plan")),
        );
    }
    consumed.extend(features.numeric.iter().map(String::as_str));
    consumed.extend(features.boolean.iter().map(String::as_str));
    consumed.extend(features.categorical.iter().map(String::as_str));
    let required = if read == Read::Identity {
        &consumed[..identity]
    } else {
        &consumed[..]
    };
    for column in required {
        Cells::required(table, file, column)?;
    }
    if features.builtin {
        consumed.extend(["ai_tool", "reviewer_count", "rollback_plan"]);
    }

    // Identity and timing in one task, the feature columns in parallel beside it; the
    // first error in that order is reported, so messages do not depend on scheduling.
    let (identity, columns) = rayon::join(
        || parse_identity(table, file, config, label_column),
        || {
            if read == Read::Identity {
                return Ok(Vec::new());
            }
            let jobs = column_jobs(table, file, features);
            let parsed: Vec<Result<(String, Column)>> = jobs.par_iter().map(|job| job()).collect();
            parsed.into_iter().collect::<Result<Vec<_>>>()
        },
    );
    let events = identity?;
    let mut frame = Frame::new(events.len());
    let columns = columns?;
    if matches!(read, Read::Events | Read::Identity) {
        // Validated above (or not read); a history row needs none of them.
        drop(columns);
    } else {
        for (name, column) in columns {
            frame.insert(name, column);
        }
    }
    let identity_only = matches!(read, Read::Events | Read::Identity);
    if features.builtin && !identity_only {
        add_calendar(&mut frame, &events.ts);
    }

    let passthrough = if identity_only {
        DataFrame::empty()
    } else {
        let names: Vec<String> = table
            .names()
            .into_iter()
            .filter(|c| !consumed.contains(c))
            .map(String::from)
            .collect();
        table.select(&names).map_err(|e| Error::Unreadable {
            file: file.into(),
            format: "table".into(),
            message: e.to_string(),
        })?
    };
    Ok(LoadedEvents {
        events,
        frame,
        passthrough,
    })
}

/// The level a missing categorical cell of a config's column takes.
pub const MISSING_LEVEL: &str = "(missing)";

/// The level a missing cell of categorical column `column` takes under `features`: the
/// contract's optional `ai_tool` an empty one (no tool named), a config's column
/// [`MISSING_LEVEL`].
pub fn missing_level(features: &FeaturesConfig, column: &str) -> &'static str {
    if features.builtin && column == "ai_tool" {
        ""
    } else {
        MISSING_LEVEL
    }
}

/// The largest magnitude a config's numeric column may hold: beyond any count or
/// measure of a change, and far enough inside `f64`'s range that standardising and
/// squaring a value stay finite.
pub const MAX_NUMBER: f64 = 1e15;

/// `NA`, `NaN`, `null` or `None` (any case): a missing value as R, pandas and
/// databases write one.
pub(crate) fn missing_marker(s: &str) -> bool {
    ["na", "nan", "null", "none"]
        .iter()
        .any(|m| s.eq_ignore_ascii_case(m))
}

/// Parses a number within +-[`MAX_NUMBER`]; a [`missing_marker`] is missing.
pub(crate) fn parse_number(s: &str) -> Option<Option<f64>> {
    if missing_marker(s) {
        return Some(None);
    }
    s.parse::<f64>()
        .ok()
        .filter(|v| v.abs() <= MAX_NUMBER)
        .map(Some)
}

/// Parses a label as a boolean is read ([`declared_flag`]); unlike a boolean feature's,
/// an empty or `NA` label is refused (an unlabelled change cannot be learned from).
pub(crate) fn parse_label(s: &str) -> Option<bool> {
    declared_flag(s)
}

/// `1.0` and `0.0`: how pandas writes a 0/1 column that has a missing cell.
fn float_flag(s: &str) -> Option<bool> {
    match s {
        "1.0" => Some(true),
        "0.0" => Some(false),
        _ => None,
    }
}

/// What a declared boolean feature column accepts (any case).
const DECLARED_FLAGS: &str = "true, false, 1, 0, 1.0, 0.0, yes or no";

/// A cell of a declared boolean feature column or a label ([`DECLARED_FLAGS`]).
pub(crate) fn declared_flag(s: &str) -> Option<bool> {
    parse_bool(s).or_else(|| float_flag(s))
}

/// A cell of a declared boolean feature column, where a [`missing_marker`] is missing
/// as in a numeric one.
fn optional_flag(s: &str) -> Option<Option<bool>> {
    if missing_marker(s) {
        Some(None)
    } else {
        declared_flag(s).map(Some)
    }
}

const NON_EMPTY: &str = "a non-empty string";

/// A required text column, end to end.
fn strs_column(cells: &Cells) -> Result<Strs> {
    let mut out = Strs::with_capacity(cells.len(), 0);
    let mut first_empty = None;
    cells.visit(|i, cell| {
        match cell {
            // A byte-order mark inside the file: two files joined with the second's BOM
            // kept. The id would never match an incident's `caused_by_change`.
            Some(s) if s.starts_with('\u{feff}') => {
                return Err(cells.bad(
                    i,
                    s,
                    "an id without a byte-order mark (U+FEFF) before it: the row starts a \
                     file joined onto another with its BOM kept; remove the mark",
                ))
            }
            Some(s) => out.push(s),
            None => {
                first_empty.get_or_insert(i);
                out.push("");
            }
        }
        Ok(())
    })?;
    match first_empty {
        Some(i) => Err(cells.empty(i, NON_EMPTY)),
        None => Ok(out),
    }
}

/// A required text column, interned.
fn interned_column(cells: &Cells) -> Result<Interned> {
    let mut interner = Interner::default();
    let mut first_empty = None;
    cells.visit(|i, cell| {
        if cell.is_none() {
            first_empty.get_or_insert(i);
        }
        interner.push(cell.unwrap_or_default());
        Ok(())
    })?;
    match first_empty {
        Some(i) => Err(cells.empty(i, NON_EMPTY)),
        None => Ok(interner.finish()),
    }
}

/// Ids (checked unique), timestamps, service, author and the label, if read, parsed in
/// parallel; the first error in that order is reported.
fn parse_identity(
    table: &Table,
    file: &str,
    config: &Config,
    label: Option<&str>,
) -> Result<Events> {
    let cols = &config.columns;
    let n = table.height();
    let text = |column: &Option<String>| -> Result<Interned> {
        match column {
            Some(c) => interned_column(&Cells::required(table, file, c)?),
            None => Ok(Interned {
                codes: vec![0; n],
                names: vec![String::new()],
            }),
        }
    };
    let ids = || -> Result<Strs> {
        let ids = strs_column(&Cells::required(table, file, &cols.id)?)?;
        check_unique(file, &cols.id, ids.len(), |i| ids.get(i))?;
        Ok(ids)
    };
    let ts = || -> Result<Vec<i64>> {
        let format = config.timestamp_format();
        let expected = format.expected();
        let cells = Cells::required(table, file, &cols.timestamp)?;
        cells
            .timestamps(&expected, |s| format.parse_cell(s))?
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                t.ok_or_else(|| cells.bad(i, "", format!("{expected} (the cell is empty)")))
            })
            .collect()
    };
    let label = || -> Result<Option<Vec<bool>>> {
        match label {
            Some(column) => Ok(Some(
                Cells::required(table, file, column)?
                    .parse_required(DECLARED_FLAGS, parse_label)?,
            )),
            None => Ok(None),
        }
    };
    let ((ids, ts), ((service, author), label)) = rayon::join(
        || rayon::join(ids, ts),
        || {
            rayon::join(
                || rayon::join(|| text(&cols.service), || text(&cols.author)),
                label,
            )
        },
    );
    Ok(Events {
        ids: ids?,
        ts: ts?,
        service: service?,
        author: author?,
        label: label?,
    })
}

/// Parses one feature column.
type ColumnJob<'a> = Box<dyn Fn() -> Result<(String, Column)> + Send + Sync + 'a>;

/// One job per feature column the config reads: the contract's columns when `builtin`,
/// then the declared numeric, boolean and categorical columns.
fn column_jobs<'a>(
    table: &'a Table,
    file: &'a str,
    features: &'a FeaturesConfig,
) -> Vec<ColumnJob<'a>> {
    let n = table.height();
    let cells = move |c: &'a str| Cells::required(table, file, c);
    let optional = move |c: &'a str| Cells::optional(table, file, c);
    let flags = DECLARED_FLAGS;
    let mut jobs: Vec<ColumnJob<'a>> = Vec::new();
    if features.builtin {
        macro_rules! levels {
            ($column:literal, $levels:ty) => {
                jobs.push(Box::new(move || {
                    let col = level_column(
                        &cells($column)?,
                        <$levels>::ALL,
                        <$levels>::as_str,
                        <$levels>::parse,
                        &<$levels>::expected(),
                    )?;
                    Ok(($column.to_string(), col))
                }));
            };
        }
        levels!("ai_involvement", AiInvolvement);
        levels!("permission_level", Permission);
        levels!("review_status", Review);
        levels!("change_type", ChangeType);
        jobs.push(Box::new(move || {
            let missing = missing_level(features, "ai_tool");
            let col = text_column(optional("ai_tool")?.as_ref(), n, missing)?;
            Ok(("ai_tool".into(), col))
        }));
        jobs.push(Box::new(move || {
            let col = match optional("reviewer_count")? {
                Some(c) => count_column(&c, 0, Some(0))?,
                None => Column::Num(vec![0.0; n]),
            };
            Ok(("reviewer_count".into(), col))
        }));
        for (column, min) in [
            ("services_affected", 1),
            ("regions_affected", 1),
            ("lines_changed", 0),
            ("files_changed", 0),
        ] {
            jobs.push(Box::new(move || {
                Ok((column.into(), count_column(&cells(column)?, min, None)?))
            }));
        }
        jobs.push(Box::new(move || {
            let cells = cells("customer_facing")?;
            let (values, first_empty) = cells.parse_filled(flags, false, boolean)?;
            match first_empty {
                Some(i) => Err(cells.empty(i, flags)),
                None => Ok(("customer_facing".into(), Column::Flag(values))),
            }
        }));
        jobs.push(Box::new(move || {
            let values = match optional("rollback_plan")? {
                Some(c) => c.parse_filled(flags, false, boolean)?.0,
                None => vec![false; n],
            };
            Ok(("rollback_plan".into(), Column::Flag(values)))
        }));
    }
    for column in &features.numeric {
        jobs.push(Box::new(move || {
            let values = cells(column)?
                .parse_optional(&format!("a number within +-{MAX_NUMBER:e}"), parse_number)?;
            let values = values
                .into_iter()
                .map(|v| v.flatten().unwrap_or(f64::NAN))
                .collect();
            Ok((column.clone(), Column::Num(values)))
        }));
    }
    for column in &features.boolean {
        jobs.push(Box::new(move || {
            let values = cells(column)?.parse_optional(DECLARED_FLAGS, optional_flag)?;
            let values = values
                .into_iter()
                .map(|v| v.flatten().map_or(f64::NAN, |b| f64::from(u8::from(b))))
                .collect();
            Ok((column.clone(), Column::Num(values)))
        }));
    }
    for column in &features.categorical {
        jobs.push(Box::new(move || {
            let col = text_column(Some(&cells(column)?), n, missing_level(features, column))?;
            Ok((column.clone(), col))
        }));
    }
    jobs
}

/// The parts of the partitioned table at `dir`, each validated as a file (errors name
/// the part and its row), appended in part order; a change id in two parts is refused.
fn load_partitioned(dir: &Path, config: &Config, read: Read) -> Result<LoadedEvents> {
    let parts = crate::dataset::parts(dir)?;
    let (all, ends) = crate::dataset::read_parts(
        &parts,
        // Parts of no rows are common (Spark writes them); a table of none is not.
        |part| parse_rows(&part.read()?.0, &part.file(), config, read),
        |all: &mut LoadedEvents, one, part| {
            let file = part.file();
            all.frame.append(&one.frame).map_err(|what| {
                Error::Data(format!(
                    "{file}: its columns differ from the first part's ({}): {what}; expected \
                     the parts of {} to hold the same columns",
                    parts[0].file(),
                    dir.display()
                ))
            })?;
            crate::dataset::stack(&mut all.passthrough, one.passthrough, &file)?;
            all.events.append(&one.events);
            Ok(())
        },
        |all| all.events.len(),
    )?;
    if read == Read::Labelled && all.events.is_empty() {
        return Err(no_rows(&display(dir)));
    }
    let ids = &all.events.ids;
    check_parts_unique(dir, &parts, &ends, &config.columns.id, ids.len(), |i| {
        ids.get(i)
    })?;
    Ok(all)
}

/// The columns that say which change a row is and when, where and by whom it was made:
/// id, time, and the service and author when the config names them.
pub fn identity_columns(config: &Config) -> Vec<&str> {
    let cols = &config.columns;
    let mut names = vec![cols.id.as_str(), cols.timestamp.as_str()];
    names.extend(cols.service.as_deref());
    names.extend(cols.author.as_deref());
    names
}

/// [`check_unique`] over rows appended from `parts` (`ends`: the rows up to the end of
/// each), a repeat named by its part and its row there.
pub(crate) fn check_parts_unique<'s>(
    dir: &Path,
    parts: &[crate::dataset::Part],
    ends: &[usize],
    column: &str,
    n: usize,
    id: impl Fn(usize) -> &'s str + Sync,
) -> Result<()> {
    check_unique(&display(dir), column, n, &id).map_err(|e| match e {
        Error::Duplicate {
            column,
            value,
            first,
            second,
            ..
        } => {
            let locate = |row: usize| {
                let k = ends.partition_point(|&end| end < row);
                let start = if k == 0 { 0 } else { ends[k - 1] };
                format!("{} row {}", parts[k].file(), row - start)
            };
            Error::DuplicateInParts {
                table: display(dir),
                column,
                value,
                first: locate(first),
                second: locate(second),
            }
        }
        other => other,
    })
}

/// Loads and validates an incidents table (a directory: a partitioned one, as
/// [`load_events`] reads it).
pub fn load_incidents(path: &Path) -> Result<Incidents> {
    if crate::dataset::is_partitioned(path) {
        let parts = crate::dataset::parts(path)?;
        let (all, ends) = crate::dataset::read_parts(
            &parts,
            |part| incidents_of(&part.read()?.0, &part.file()),
            |all: &mut Incidents, one, _| {
                all.append(one);
                Ok(())
            },
            Incidents::len,
        )?;
        let ids = &all.ids;
        check_parts_unique(path, &parts, &ends, "incident_id", ids.len(), |i| &ids[i])?;
        return Ok(all);
    }
    // A JSON Lines file of no incidents is empty: it has no header to say so, as a
    // header-only CSV file does.
    let jsonl = crate::table::Format::of(path).is_ok_and(|f| f == crate::table::Format::JsonLines);
    if jsonl && std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0) {
        return Ok(Incidents::default());
    }
    let file = display(path);
    let table = Table::read(path)?;
    incidents_of(&table, &file)
}

/// Validates an in-memory incidents table; `file` names it in errors. A header-only
/// incidents table is valid (a history without incidents).
pub fn parse_incidents(df: &DataFrame, file: &str) -> Result<Incidents> {
    incidents_of(&Table::Frame(df.clone()), file)
}

fn incidents_of(df: &Table, file: &str) -> Result<Incidents> {
    for column in ["incident_id", "start_time", "service", "severity"] {
        Cells::required(df, file, column)?;
    }
    let text = |column: &'static str| -> Result<Vec<String>> {
        Cells::required(df, file, column)?.parse_required(NON_EMPTY, |s| Some(s.to_string()))
    };
    let ids = text("incident_id")?;
    check_unique(file, "incident_id", ids.len(), |i| &ids[i])?;
    let start = Cells::required(df, file, "start_time")?;
    let start = start
        .timestamps(
            "an RFC 3339 timestamp such as 2025-03-01T14:05:00Z",
            parse_timestamp,
        )?
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            t.ok_or_else(|| start.bad(i, "", "an RFC 3339 timestamp (the cell is empty)"))
        })
        .collect::<Result<Vec<i64>>>()?;
    let service = text("service")?;
    let severity = Cells::required(df, file, "severity")?
        .parse_required("a severity 1..5 or sev1..sev5", parse_severity)?;
    let causes = match Cells::optional(df, file, "caused_by_change")? {
        Some(c) => c
            .text()
            .into_iter()
            .map(|t| {
                t.map(|s| {
                    s.split(';')
                        .map(str::trim)
                        .filter(|x| !x.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default()
            })
            .collect(),
        None => vec![Vec::new(); ids.len()],
    };
    if let Some(d) = Cells::optional(df, file, "duration_minutes")? {
        d.parse_optional("a number of minutes >= 0", |s| {
            s.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0)
        })?;
    }
    Ok(Incidents {
        ids,
        start,
        service,
        severity,
        causes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{read_table, RawCsv};

    #[test]
    fn an_empty_json_lines_file_holds_no_incidents_and_an_empty_csv_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (jsonl, csv) = (dir.path().join("i.jsonl"), dir.path().join("i.csv"));
        std::fs::write(&jsonl, "").unwrap();
        std::fs::write(&csv, "").unwrap();
        assert_eq!(load_incidents(&jsonl).unwrap().len(), 0);
        let e = load_incidents(&csv).unwrap_err().to_string();
        assert!(e.contains("empty") && e.contains("a header"), "{e}");
        std::fs::write(&csv, "incident_id,start_time,service,severity\n").unwrap();
        assert_eq!(load_incidents(&csv).unwrap().len(), 0);
    }

    #[test]
    fn the_calendar_columns_are_the_ones_add_calendar_derives() {
        // A config may not declare these names (`Config::check`): keep the list whole.
        let mut frame = Frame::new(1);
        add_calendar(&mut frame, &[86_400]);
        let mut derived: Vec<&str> = frame.names().collect();
        let mut listed = CALENDAR_COLUMNS.to_vec();
        derived.sort_unstable();
        listed.sort_unstable();
        assert_eq!(derived, listed);
    }

    /// Loads `text` both ways: split here (it must be plain) and by the quoted reader.
    fn both_ways(text: &str, read: Read) -> (LoadedEvents, LoadedEvents) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("changes.csv");
        std::fs::write(&path, text).unwrap();
        let raw = RawCsv::parse(&mut text.as_bytes().to_vec())
            .unwrap()
            .expect("a plain CSV file");
        let config = Config::default();
        let fast = parse_table(&Table::Csv(raw), "f", &config, read).unwrap();
        let quoted = Table::Frame(read_table(&path).unwrap());
        let slow = parse_table(&quoted, "f", &config, read).unwrap();
        (fast, slow)
    }

    fn assert_same(text: &str) {
        for read in [Read::Unlabelled, Read::Events] {
            let (fast, slow) = both_ways(text, read);
            assert_eq!(fast.events, slow.events);
            assert_eq!(fast.frame, slow.frame);
            assert!(
                fast.passthrough.equals_missing(&slow.passthrough),
                "{:?} {:?}",
                fast.passthrough,
                slow.passthrough
            );
            assert_eq!(fast.passthrough.height(), slow.passthrough.height());
        }
    }

    #[test]
    fn plain_csv_loads_as_the_quoted_reader_reads_it() {
        let shipped = std::fs::read_to_string("data/changes.csv").unwrap();
        assert_same(&shipped);
        // Windows line ends read the same.
        assert_same(&shipped.replace('\n', "\r\n"));
        let header = CHANGE_COLUMNS.join(",");
        assert_same(&format!(
            "{header},team,note\n\
             a, 2025-03-01T16:05:00+02:00 ,s1,ann,Agent,kiro,ADMIN,Self_Approved,3.0,iam,2,1,Yes,10,1,,core,\n\
             b,2025-03-01T14:05:00Z,s2, bob ,none,,standard,approved,,code,1,3,0,0,0,no,,x y\n\
             c,2025-03-01 14:05:00,s1,ann,assisted, cursor ,elevated,none,0,config,1,1,false,5,2,TRUE,core,z"
        ));
    }

    #[test]
    fn quoted_csv_loads_as_the_plain_file() {
        let shipped = std::fs::read_to_string("data/changes.csv").unwrap();
        let quoted: String = shipped
            .lines()
            .map(|line| {
                let cells: Vec<String> = line.split(',').map(|c| format!("\"{c}\"")).collect();
                cells.join(",") + "\r\n"
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("changes.csv");
        std::fs::write(&path, quoted).unwrap();
        let table = Table::read(&path).unwrap();
        assert!(matches!(table, Table::Frame(_)));
        let raw = RawCsv::parse(&mut shipped.into_bytes()).unwrap().unwrap();
        let config = Config::default();
        let plain = parse_table(&Table::Csv(raw), "f", &config, Read::Events).unwrap();
        let read = parse_table(&table, "f", &config, Read::Events).unwrap();
        assert_eq!(plain.events, read.events);
        assert_eq!(plain.frame, read.frame);
    }

    #[test]
    fn files_that_are_not_plain_take_the_quoted_reader() {
        let header = CHANGE_COLUMNS.join(",");
        let row = "a,2025-03-01T14:05:00Z,s,x,none,,admin,none,0,iam,1,1,true,1,1,true";
        for text in [
            format!("{header}\n\"{row}\"\n"),
            format!("{header}\r\n{row}\rx\r\n"),
            format!("\u{feff}{header}\n{row}\n"),
        ] {
            assert_eq!(
                RawCsv::parse(&mut text.into_bytes()).map(|r| r.is_none()),
                Ok(true)
            );
        }
        // A header alone, blank lines after it or not: no rows.
        for text in [format!("{header}\n"), format!("{header}\n\n\n")] {
            let raw = RawCsv::parse(&mut text.into_bytes()).unwrap().unwrap();
            assert_eq!(Table::Csv(raw).height(), 0);
        }
        // No final line end, or blank lines after the last row: still plain.
        for text in [format!("{header}\n{row}"), format!("{header}\n{row}\n\n\n")] {
            let raw = RawCsv::parse(&mut text.into_bytes()).unwrap().unwrap();
            assert_eq!(Table::Csv(raw).height(), 1);
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_are_placed_by_row_and_column() {
        let header = CHANGE_COLUMNS.join(",");
        let row = "a,2025-03-01T14:05:00Z,s,x,none,,admin,none,0,iam,1,1,true,1,1,true";
        let mut bad = [
            header.as_bytes(),
            b"\n",
            row.as_bytes(),
            b"\nb,2025-03-01T14:05:00Z,s\xff\xfe,x\n",
        ]
        .concat();
        assert_eq!(
            RawCsv::parse(&mut bad).err(),
            Some(crate::table::Malformed::NotUtf8 {
                row: 2,
                column: "service".into(),
                cell: "s\u{fffd}\u{fffd}".into(),
            })
        );
        let mut bad_header = [b"id,\xffname\n", row.as_bytes()].concat();
        assert!(matches!(
            RawCsv::parse(&mut bad_header),
            Err(crate::table::Malformed::NotUtf8 { row: 0, .. })
        ));
    }

    #[test]
    fn a_header_naming_a_column_twice_is_an_error() {
        let header = CHANGE_COLUMNS.join(",");
        let row = "a,2025-03-01T14:05:00Z,s,x,none,,admin,none,0,iam,1,1,true,1,1,true";
        let text = format!("{header},change_id\n{row},b\n");
        assert_eq!(
            RawCsv::parse(&mut text.into_bytes()).err(),
            Some(crate::table::Malformed::RepeatedName {
                name: "change_id".into(),
                columns: (1, CHANGE_COLUMNS.len() + 1),
            })
        );
    }

    #[test]
    fn a_row_with_another_number_of_fields_is_named() {
        let header = CHANGE_COLUMNS.join(",");
        let row = "a,2025-03-01T14:05:00Z,s,x,none,,admin,none,0,iam,1,1,true,1,1,true";
        let short = &row[..row.rfind(',').unwrap()];
        let n = CHANGE_COLUMNS.len();
        let ragged = |row, fields| {
            Some(crate::table::Malformed::Ragged(crate::table::Ragged {
                row,
                fields,
                header: n,
            }))
        };
        let many: String = (0..5000).map(|_| format!("{row}\n")).collect();
        for (text, want) in [
            (
                format!("{header}\n{row},extra,more\n{row}\n"),
                ragged(1, n + 2),
            ),
            (format!("{header}\n{row}\n{short}\n"), ragged(2, n - 1)),
            (format!("{header}\n{row}\n\n{row}\n"), ragged(2, 1)),
            // In a later piece of a file split for parallel scanning, the first bad row.
            (
                format!("{header}\n{many}{short}\n{many}{short}\n"),
                ragged(5001, n - 1),
            ),
        ] {
            assert_eq!(RawCsv::parse(&mut text.into_bytes()).err(), want);
        }
    }
}
