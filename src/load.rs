//! Loading and validating the changes and incidents tables of SPEC.md into typed,
//! columnar values. Every rejected cell is reported with file, row, column, value and
//! what was expected.

use rustc_hash::FxHashMap as HashMap;
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
use crate::table::{parse_count, read_table, Cells};

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

    /// Row indices in time order (ties keep input order).
    pub fn time_order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by_key(|&r| self.ts[r]);
        order
    }
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
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

fn require_rows(df: &DataFrame, file: &str) -> Result<()> {
    if df.height() == 0 {
        return Err(Error::EmptyTable {
            file: file.into(),
            what: "no data rows (only a header)".into(),
        });
    }
    Ok(())
}

/// Checks that no value repeats; the error names both rows (1-based).
fn check_unique(file: &str, column: &str, ids: &[String]) -> Result<()> {
    let mut seen: HashMap<&str, usize> =
        HashMap::with_capacity_and_hasher(ids.len(), Default::default());
    for (i, id) in ids.iter().enumerate() {
        if let Some(first) = seen.insert(id.as_str(), i) {
            return Err(Error::Duplicate {
                file: file.into(),
                column: column.into(),
                value: id.clone(),
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
    let values = cells.parse_required(expected, parse)?;
    Ok(Column::Cat {
        codes: values
            .iter()
            .map(|v| all.iter().position(|l| l == v).unwrap_or(0) as u32)
            .collect(),
        levels: all.iter().map(|&l| name(l).to_string()).collect(),
    })
}

fn count_column(cells: &Cells, min: u64, default: Option<u64>) -> Result<Column> {
    let expected = format!("an integer >= {min}");
    let values = cells.parse_optional(&expected, |s| parse_count(s).filter(|&v| v >= min))?;
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| match (v, default) {
            (Some(v), _) | (None, Some(v)) => Ok(v as f64),
            (None, None) => Err(cells.bad(i, "", format!("{expected} (the cell is empty)"))),
        })
        .collect::<Result<Vec<f64>>>()
        .map(Column::Num)
}

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
    /// features count but nobody scores. The other columns are still validated.
    Events,
}

/// Loads and validates a changes table described by `config`.
pub fn load_changes(path: &Path, config: &Config, read: Read) -> Result<LoadedChanges> {
    let file = display(path);
    let df = read_table(path)?;
    parse_changes(&df, &file, config, read)
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
    let cols = &config.columns;
    let features = &config.features;
    let label_column = cols.label.as_deref().filter(|_| read == Read::Labelled);
    // Every column the config needs, checked before any cell so that a missing one is
    // named first.
    let mut consumed: Vec<&str> = vec![&cols.id, &cols.timestamp];
    consumed.extend(cols.service.as_deref());
    consumed.extend(cols.author.as_deref());
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
    for column in &consumed {
        Cells::required(df, file, column)?;
    }
    if features.builtin {
        consumed.extend(["ai_tool", "reviewer_count", "rollback_plan"]);
    }
    require_rows(df, file)?;

    // Identity and timing in one task, the feature columns in parallel beside it; the
    // first error in that order is reported, so messages do not depend on scheduling.
    let (identity, columns) = rayon::join(
        || parse_identity(df, file, config, label_column),
        || {
            let jobs = column_jobs(df, file, features);
            let parsed: Vec<Result<(String, Column)>> = jobs.par_iter().map(|job| job()).collect();
            parsed.into_iter().collect::<Result<Vec<_>>>()
        },
    );
    let (ids, ts, service, author, label) = identity?;
    let mut frame = Frame::new(ids.len());
    let columns = columns?;
    if read == Read::Events {
        // Validated above; a history row needs none of them.
        drop(columns);
    } else {
        for (name, column) in columns {
            frame.insert(name, column);
        }
    }
    if features.builtin && read != Read::Events {
        add_calendar(&mut frame, &ts);
    }

    let passthrough: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .filter(|c| !consumed.contains(&c.as_str()))
        .collect();
    let passthrough = df.select(passthrough).map_err(|e| Error::Unreadable {
        file: file.into(),
        format: "table".into(),
        message: e.to_string(),
    })?;
    Ok(LoadedChanges {
        changes: Changes {
            ids,
            ts,
            service,
            author,
            label,
            frame,
        },
        passthrough,
    })
}

/// The level a missing categorical cell takes.
pub const MISSING_LEVEL: &str = "(missing)";

/// Parses a number; `NA`, `NaN`, `null` and `None` are missing.
fn parse_number(s: &str) -> Option<Option<f64>> {
    if ["na", "nan", "null", "none"]
        .iter()
        .any(|m| s.eq_ignore_ascii_case(m))
    {
        return Some(None);
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite()).map(Some)
}

/// Parses a label: 0, 1, true or false (any case; `1.0` and `0.0` as typed exports write them).
fn parse_label(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "1.0" | "true" => Some(true),
        "0" | "0.0" | "false" => Some(false),
        _ => None,
    }
}

type Identity = (
    Vec<String>,
    Vec<i64>,
    Vec<String>,
    Vec<String>,
    Option<Vec<bool>>,
);

/// Ids (checked unique), timestamps, service, author and the label, if read, parsed in
/// parallel; the first error in that order is reported.
fn parse_identity(
    df: &DataFrame,
    file: &str,
    config: &Config,
    label: Option<&str>,
) -> Result<Identity> {
    let cols = &config.columns;
    let n = df.height();
    let text = |column: &Option<String>| -> Result<Vec<String>> {
        match column {
            Some(c) => Cells::required(df, file, c)?
                .parse_required("a non-empty string", |s| Some(s.to_string())),
            None => Ok(vec![String::new(); n]),
        }
    };
    let ids = || -> Result<Vec<String>> {
        let ids = text(&Some(cols.id.clone()))?;
        check_unique(file, &cols.id, &ids)?;
        Ok(ids)
    };
    let ts = || -> Result<Vec<i64>> {
        let format = config.timestamp_format();
        let expected = format.expected();
        let cells = Cells::required(df, file, &cols.timestamp)?;
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
                Cells::required(df, file, column)?
                    .parse_required("0, 1, true or false", parse_label)?,
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
    Ok((ids?, ts?, service?, author?, label?))
}

/// Parses one feature column.
type ColumnJob<'a> = Box<dyn Fn() -> Result<(String, Column)> + Send + Sync + 'a>;

/// One job per feature column the config reads: the contract's columns when `builtin`,
/// then the declared numeric, boolean and categorical columns.
fn column_jobs<'a>(
    df: &'a DataFrame,
    file: &'a str,
    features: &'a FeaturesConfig,
) -> Vec<ColumnJob<'a>> {
    let n = df.height();
    let cells = move |c: &'a str| Cells::required(df, file, c);
    let optional = move |c: &'a str| Cells::optional(df, file, c);
    let flags = "true, false, 1, 0, yes or no";
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
            let tool = match optional("ai_tool")? {
                Some(c) => c.text(),
                None => vec![None; n],
            };
            let col = Column::cat_from_text(tool.iter().map(|t| t.as_deref().unwrap_or("")));
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
            let col = Column::Flag(cells("customer_facing")?.parse_required(flags, parse_bool)?);
            Ok(("customer_facing".into(), col))
        }));
        jobs.push(Box::new(move || {
            let values = match optional("rollback_plan")? {
                Some(c) => c
                    .parse_optional(flags, parse_bool)?
                    .into_iter()
                    .map(|v| v.unwrap_or(false))
                    .collect(),
                None => vec![false; n],
            };
            Ok(("rollback_plan".into(), Column::Flag(values)))
        }));
    }
    for column in &features.numeric {
        jobs.push(Box::new(move || {
            let values = cells(column)?.parse_optional("a number", parse_number)?;
            let values = values
                .into_iter()
                .map(|v| v.flatten().unwrap_or(f64::NAN))
                .collect();
            Ok((column.clone(), Column::Num(values)))
        }));
    }
    for column in &features.boolean {
        jobs.push(Box::new(move || {
            let values = cells(column)?.parse_optional(flags, parse_bool)?;
            let values = values
                .into_iter()
                .map(|v| v.map_or(f64::NAN, |b| f64::from(u8::from(b))))
                .collect();
            Ok((column.clone(), Column::Num(values)))
        }));
    }
    for column in &features.categorical {
        jobs.push(Box::new(move || {
            let values = cells(column)?.text();
            let col =
                Column::cat_from_text(values.iter().map(|v| v.as_deref().unwrap_or(MISSING_LEVEL)));
            Ok((column.clone(), col))
        }));
    }
    jobs
}

/// Loads and validates an incidents table.
pub fn load_incidents(path: &Path) -> Result<Incidents> {
    let file = display(path);
    let df = read_table(path)?;
    parse_incidents(&df, &file)
}

/// Validates an in-memory incidents table; `file` names it in errors. A header-only
/// incidents table is valid (a history without incidents).
pub fn parse_incidents(df: &DataFrame, file: &str) -> Result<Incidents> {
    for column in ["incident_id", "start_time", "service", "severity"] {
        Cells::required(df, file, column)?;
    }
    let text = |column: &'static str| -> Result<Vec<String>> {
        Cells::required(df, file, column)?
            .parse_required("a non-empty string", |s| Some(s.to_string()))
    };
    let ids = text("incident_id")?;
    check_unique(file, "incident_id", &ids)?;
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
