//! Tables on disk: reading any supported format into a polars `DataFrame` (format chosen
//! by extension) and writing one back atomically, plus typed access to a column's cells
//! with errors that name the file, row and column.

use std::fs::File;
use std::path::Path;

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::output::write_atomic;

/// The file formats a table can be read from or written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
    Ipc,
    JsonLines,
}

impl Format {
    /// The format named by a path's extension.
    pub fn of(path: &Path) -> Result<Format> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "csv" => Ok(Format::Csv),
            "parquet" | "pq" => Ok(Format::Parquet),
            "arrow" | "ipc" | "feather" => Ok(Format::Ipc),
            "jsonl" | "ndjson" => Ok(Format::JsonLines),
            _ => Err(Error::UnsupportedFormat {
                file: path.display().to_string(),
            }),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Csv => "CSV",
            Format::Parquet => "Parquet",
            Format::Ipc => "Arrow IPC",
            Format::JsonLines => "JSON Lines",
        }
    }
}

/// Reads a table. CSV cells are all read as text, so that validation (not type
/// inference) decides what a cell means and can name the offending row.
pub fn read_table(path: &Path) -> Result<DataFrame> {
    let format = Format::of(path)?;
    let file_name = path.display().to_string();
    let unreadable = |e: PolarsError| Error::Unreadable {
        file: file_name.clone(),
        format: format.name().into(),
        message: e.to_string(),
    };
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.len() == 0 {
        return Err(Error::EmptyTable {
            file: file_name,
            what: "the file is empty (expected a header and at least one row)".into(),
        });
    }
    let df = match format {
        Format::Csv => CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(path.to_path_buf()))
            .and_then(|r| r.finish())
            .map_err(unreadable)?,
        Format::Parquet => {
            let f = File::open(path).map_err(|e| Error::io(path, e))?;
            ParquetReader::new(f).finish().map_err(unreadable)?
        }
        Format::Ipc => {
            let f = File::open(path).map_err(|e| Error::io(path, e))?;
            IpcReader::new(f).finish().map_err(unreadable)?
        }
        Format::JsonLines => {
            let f = File::open(path).map_err(|e| Error::io(path, e))?;
            JsonReader::new(f)
                .with_json_format(JsonFormat::JsonLines)
                .finish()
                .map_err(unreadable)?
        }
    };
    Ok(df)
}

/// Writes a table atomically in the format its extension names.
pub fn write_table(path: &Path, df: &mut DataFrame) -> Result<()> {
    let format = Format::of(path)?;
    let file_name = path.display().to_string();
    write_atomic(path, |w| {
        let failed = |e: PolarsError| Error::Unreadable {
            file: file_name.clone(),
            format: format.name().into(),
            message: format!("write failed: {e}"),
        };
        match format {
            Format::Csv => CsvWriter::new(w).finish(df).map_err(failed),
            Format::Parquet => ParquetWriter::new(w).finish(df).map(|_| ()).map_err(failed),
            Format::Ipc => IpcWriter::new(w).finish(df).map_err(failed),
            Format::JsonLines => JsonWriter::new(w)
                .with_json_format(JsonFormat::JsonLines)
                .finish(df)
                .map_err(failed),
        }
    })
}

/// A table of `columns` followed by the input's pass-through columns; a pass-through
/// name already taken gets an `input_` prefix (repeated until it is free).
pub fn with_passthrough(
    mut columns: Vec<polars::prelude::Column>,
    passthrough: &DataFrame,
    height: usize,
) -> PolarsResult<DataFrame> {
    let mut taken: std::collections::HashSet<String> =
        columns.iter().map(|c| c.name().to_string()).collect();
    for column in passthrough.columns() {
        let mut column = column.clone();
        while !taken.insert(column.name().to_string()) {
            let renamed = format!("input_{}", column.name());
            column.rename(renamed.into());
        }
        columns.push(column);
    }
    DataFrame::new(height, columns)
}

/// One named column of a loaded table, with the context needed for error messages.
pub struct Cells<'a> {
    file: &'a str,
    column: &'a str,
    data: CellData,
}

enum CellData {
    Text(StringChunked),
    /// Unix seconds from a typed datetime/date column.
    Seconds(Int64Chunked),
}

impl<'a> Cells<'a> {
    /// Looks up `column` in `df`; `Ok(None)` when the column is absent.
    pub fn optional(df: &DataFrame, file: &'a str, column: &'a str) -> Result<Option<Self>> {
        let Some(col) = df
            .get_column_names()
            .into_iter()
            .find(|c| c.as_str() == column)
        else {
            return Ok(None);
        };
        let col = df.column(col.as_str()).map_err(|e| Error::Unreadable {
            file: file.into(),
            format: "table".into(),
            message: e.to_string(),
        })?;
        let cast_err = |e: PolarsError| Error::Unreadable {
            file: file.into(),
            format: "table".into(),
            message: format!("column '{column}': {e}"),
        };
        let data = match col.dtype() {
            DataType::Datetime(unit, _) => {
                let per_sec = match unit {
                    TimeUnit::Nanoseconds => 1_000_000_000,
                    TimeUnit::Microseconds => 1_000_000,
                    TimeUnit::Milliseconds => 1_000,
                };
                let phys = col.cast(&DataType::Int64).map_err(cast_err)?;
                let secs = phys
                    .i64()
                    .map_err(cast_err)?
                    .apply_values(|v| v.div_euclid(per_sec));
                CellData::Seconds(secs)
            }
            DataType::Date => {
                let phys = col.cast(&DataType::Int64).map_err(cast_err)?;
                CellData::Seconds(phys.i64().map_err(cast_err)?.apply_values(|d| d * 86_400))
            }
            _ => {
                let text = col.cast(&DataType::String).map_err(cast_err)?;
                CellData::Text(text.str().map_err(cast_err)?.clone())
            }
        };
        Ok(Some(Cells { file, column, data }))
    }

    /// Looks up a column that must be present.
    pub fn required(df: &DataFrame, file: &'a str, column: &'a str) -> Result<Self> {
        Self::optional(df, file, column)?.ok_or_else(|| Error::MissingColumn {
            file: file.into(),
            column: column.into(),
            present: df
                .get_column_names()
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// The column's name.
    pub fn column(&self) -> &str {
        self.column
    }

    /// An error for the cell at 0-based `index` (reported 1-based, the first data row is row 1).
    pub fn bad(&self, index: usize, value: &str, expected: impl Into<String>) -> Error {
        Error::BadValue {
            file: self.file.into(),
            row: index + 1,
            column: self.column.into(),
            value: value.into(),
            expected: expected.into(),
        }
    }

    /// Parses every cell with `parse`; an empty or missing cell gives `None`.
    /// A cell `parse` rejects is an error naming `expected`.
    pub fn parse_optional<T>(
        &self,
        expected: &str,
        mut parse: impl FnMut(&str) -> Option<T>,
    ) -> Result<Vec<Option<T>>> {
        match &self.data {
            CellData::Text(ca) => {
                let mut out = Vec::with_capacity(ca.len());
                for (i, cell) in ca.iter().enumerate() {
                    out.push(match cell.map(str::trim) {
                        None | Some("") => None,
                        Some(s) => Some(parse(s).ok_or_else(|| self.bad(i, s, expected))?),
                    });
                }
                Ok(out)
            }
            CellData::Seconds(ca) => {
                let mut out = Vec::with_capacity(ca.len());
                for (i, cell) in ca.iter().enumerate() {
                    out.push(match cell {
                        None => None,
                        Some(v) => {
                            let s = v.to_string();
                            Some(parse(&s).ok_or_else(|| self.bad(i, &s, expected))?)
                        }
                    });
                }
                Ok(out)
            }
        }
    }

    /// Like [`Cells::parse_optional`], but a missing cell is an error.
    pub fn parse_required<T>(
        &self,
        expected: &str,
        parse: impl FnMut(&str) -> Option<T>,
    ) -> Result<Vec<T>> {
        let values = self.parse_optional(expected, parse)?;
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                v.ok_or_else(|| self.bad(i, "", format!("{expected} (the cell is empty)")))
            })
            .collect()
    }

    /// Timestamps as Unix seconds; typed datetime columns are taken as they are.
    pub fn timestamps(
        &self,
        expected: &str,
        parse: impl Fn(&str) -> Option<i64>,
    ) -> Result<Vec<Option<i64>>> {
        match &self.data {
            CellData::Seconds(ca) => Ok(ca.iter().collect()),
            CellData::Text(_) => self.parse_optional(expected, parse),
        }
    }

    /// The raw text of every cell (missing cells as `None`).
    pub fn text(&self) -> Vec<Option<String>> {
        match &self.data {
            CellData::Text(ca) => ca
                .iter()
                .map(|c| c.map(str::trim).filter(|s| !s.is_empty()).map(String::from))
                .collect(),
            CellData::Seconds(ca) => ca.iter().map(|c| c.map(|v| v.to_string())).collect(),
        }
    }
}

/// Parses a count: a non-negative integer, also written as a float with no fraction
/// (`3.0`, as typed exports write them).
pub fn parse_count(s: &str) -> Option<u64> {
    if let Ok(v) = s.parse::<u64>() {
        return Some(v);
    }
    let v: f64 = s.parse().ok()?;
    (v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 9.0e15).then_some(v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_follows_extension() {
        assert_eq!(Format::of(Path::new("a/b.CSV")).unwrap(), Format::Csv);
        assert_eq!(Format::of(Path::new("x.feather")).unwrap(), Format::Ipc);
        assert_eq!(
            Format::of(Path::new("x.ndjson")).unwrap(),
            Format::JsonLines
        );
        assert!(matches!(
            Format::of(Path::new("x.xlsx")),
            Err(Error::UnsupportedFormat { .. })
        ));
    }

    #[test]
    fn counts_accept_integral_floats_only() {
        assert_eq!(parse_count("12"), Some(12));
        assert_eq!(parse_count("3.0"), Some(3));
        assert_eq!(parse_count("-1"), None);
        assert_eq!(parse_count("2.5"), None);
        assert_eq!(parse_count("many"), None);
    }
}
