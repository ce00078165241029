//! Tables on disk: reading any supported format (chosen by extension) and writing one
//! back atomically, plus typed access to a column's cells with errors that name the
//! file, row and column. CSV files are read here: a plain file split in parallel without
//! copying a cell ([`RawCsv`]), any other checked for its shape and read by the `csv`
//! crate into a polars `DataFrame`; JSON Lines by [`crate::jsonl`]; Parquet and Arrow
//! IPC by polars.

use std::fs::File;
use std::path::Path;

use polars::prelude::*;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::schema::{format_timestamp, is_real_time, EARLIEST_TIME, LATEST_TIME};

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

    /// The format an output is written in: the one its extension names, or CSV for a
    /// device or a pipe without one (`--output /dev/null`, a FIFO), and for a name of a
    /// descriptor (`/dev/stdout` is a file when the shell redirects it to one).
    pub fn of_output(path: &Path) -> Result<Format> {
        if path.is_dir() {
            return Err(Error::Usage(format!(
                "{} is a directory; name the output file to write (such as {})",
                path.display(),
                path.join("scored.csv").display()
            )));
        }
        Format::of(path).or_else(|e| {
            let bare = path.extension().is_none_or(|x| x.is_empty());
            if bare && crate::output::written_in_place(path) {
                Ok(Format::Csv)
            } else {
                Err(e)
            }
        })
    }

    /// The format of a table's bytes, for an input without an extension (a pipe such
    /// as `<(zcat changes.csv.gz)`, `/dev/stdin`): Parquet and Arrow IPC files by their
    /// magic bytes, JSON Lines when the first character (after blanks and a byte order
    /// mark) opens an object, CSV otherwise. What is known not to be a table changerisk
    /// reads (compressed or archived bytes, an Arrow IPC stream, Feather v1) is refused
    /// by name rather than read as a CSV file: the error says what `file` holds.
    pub fn sniff(bytes: &[u8], file: &str) -> Result<Format> {
        if bytes.starts_with(b"PAR1") {
            return Ok(Format::Parquet);
        }
        if bytes.starts_with(b"ARROW1") {
            return Ok(Format::Ipc);
        }
        if let Some(what) = not_a_table(bytes) {
            return Err(Error::Data(format!(
                "{file}: has no extension, and its content is {what}; expected CSV, Parquet, an Arrow IPC file or JSON Lines"
            )));
        }
        refuse_not_text(bytes, file)?;
        // Text tables hold no NUL byte; UTF-16 text without its mark and other binary
        // data do.
        if bytes.iter().take(SNIFF_BYTES).any(|&b| b == 0) {
            return Err(Error::Data(format!(
                "{file}: has no extension, and its content holds NUL bytes: binary data or \
                 UTF-16 text, neither a Parquet nor an Arrow IPC file (by their first bytes); \
                 expected CSV, Parquet, an Arrow IPC file or JSON Lines"
            )));
        }
        let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        Ok(match text.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Format::JsonLines,
            _ => Format::Csv,
        })
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

/// How many leading bytes [`Format::sniff`] looks through for a NUL byte.
const SNIFF_BYTES: usize = 8192;

/// What `bytes` hold when they are known not to be a table changerisk reads as text:
/// compressed or archived bytes, an Arrow IPC stream, Feather v1, or a Parquet or Arrow
/// IPC file (which a text format's name would not read).
fn not_a_table(bytes: &[u8]) -> Option<String> {
    const FILE_FORMAT: &str = "changerisk reads the Arrow IPC file format, also called Feather v2";
    let not_tables: [(&[u8], String); 6] = [
        (
            b"\x1F\x8B",
            "gzip-compressed data (decompress it first: <(zcat FILE))".into(),
        ),
        (
            b"\x28\xB5\x2F\xFD",
            "zstd-compressed data (decompress it first: <(zstdcat FILE))".into(),
        ),
        (
            b"\xFD7zXZ\0",
            "xz-compressed data (decompress it first: <(xzcat FILE))".into(),
        ),
        (
            b"PK\x03\x04",
            "a zip archive (extract the table first)".into(),
        ),
        (
            b"\xFF\xFF\xFF\xFF",
            format!("an Arrow IPC stream ({FILE_FORMAT})"),
        ),
        (b"FEA1", format!("a Feather v1 file ({FILE_FORMAT})")),
    ];
    if let Some((_, what)) = not_tables
        .into_iter()
        .find(|(magic, _)| bytes.starts_with(magic))
    {
        return Some(what);
    }
    // bzip2's mark is letters a header could start with: its block level and the
    // block's mark too.
    if bytes.len() >= 10
        && bytes.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&bytes[3])
        && &bytes[4..10] == b"1AY&SY"
    {
        return Some("bzip2-compressed data (decompress it first: <(bzcat FILE))".into());
    }
    if bytes.starts_with(b"PAR1") {
        return Some("a Parquet file (name it .parquet)".into());
    }
    bytes
        .starts_with(b"ARROW1")
        .then(|| "an Arrow IPC file (name it .arrow)".into())
}

/// Refuses, by what they hold, bytes named as a text table that are no UTF-8 text:
/// compressed, archived or typed tables ([`not_a_table`]), which would fail as a row of
/// the wrong length, and text in UTF-16 (known by its byte order mark, as spreadsheets
/// save "Unicode text"), which would fail as a header that is not UTF-8, or as one long
/// field.
fn refuse_not_text(bytes: &[u8], file: &str) -> Result<()> {
    if let Some(what) = not_a_table(bytes) {
        return Err(Error::Data(format!(
            "{file}: is named as a text table (CSV or JSON Lines), but its content is {what}"
        )));
    }
    // A JSON array of objects (`[{...}, ...]`), which a CSV reader would take for a
    // header of odd names.
    let mut text = bytes
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(bytes)
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .filter(|b| !b.is_ascii_whitespace());
    if text.next() == Some(&b'[') && text.next() == Some(&b'{') {
        return Err(Error::Data(format!(
            "{file}: is a JSON array of objects; changerisk reads JSON Lines, one object per line (convert it first: jq -c '.[]' FILE > FILE.jsonl)"
        )));
    }
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(Error::Data(format!(
            "{file}: is UTF-16 text (it starts with a UTF-16 byte order mark); changerisk \
             reads UTF-8: convert it first (iconv -f UTF-16 -t UTF-8 FILE > FILE.csv)"
        )));
    }
    Ok(())
}

/// Reads a table. CSV cells are all read as text, so that validation (not type
/// inference) decides what a cell means and can name the offending row.
pub fn read_table(path: &Path) -> Result<DataFrame> {
    let format = Format::of(path)?;
    let file_name = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.len() == 0 {
        return Err(empty_file(format, file_name));
    }
    let df = match format {
        Format::Csv => {
            // Too big to hold: the shape is checked in a first pass.
            let mut shape = Shape::default();
            let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
            let mut chunk = vec![0u8; 1 << 20];
            let mut first = true;
            loop {
                let n = std::io::Read::read(&mut f, &mut chunk).map_err(|e| Error::io(path, e))?;
                if n == 0 {
                    break;
                }
                if std::mem::take(&mut first) {
                    refuse_not_text(&chunk[..n], &file_name)?;
                }
                shape
                    .feed(&chunk[..n])
                    .map_err(|m| m.into_error(file_name.clone()))?;
            }
            shape
                .finish()
                .map_err(|m| m.into_error(file_name.clone()))?;
            let f = File::open(path).map_err(|e| Error::io(path, e))?;
            read_csv(std::io::BufReader::new(f), &file_name)?
        }
        Format::Parquet | Format::Ipc => {
            let open = || File::open(path).map_err(|e| Error::io(path, e));
            read_typed(open, format, &file_name)?
        }
        Format::JsonLines => {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            refuse_not_text(&bytes, &file_name)?;
            crate::jsonl::read(&bytes, &file_name)?
        }
    };
    Ok(df)
}

/// The error for an input of no bytes, saying what the format should have held.
fn empty_file(format: Format, file: String) -> Error {
    let expected = match format {
        Format::Csv => "a header and at least one row",
        Format::JsonLines => "one JSON object per row",
        Format::Parquet | Format::Ipc => "a table of at least one row",
    };
    Error::EmptyTable {
        file,
        what: format!("the file is empty (expected {expected})"),
    }
}

/// A Parquet or Arrow IPC table from the reader `open` gives (called twice: for the
/// schema, checked first by [`check_schema`], then for the table, read by [`typed`]).
fn read_typed<R: polars::io::mmap::MmapBytesReader>(
    open: impl Fn() -> Result<R>,
    format: Format,
    file: &str,
) -> Result<DataFrame> {
    read_typed_columns(open, format, file, None)
}

/// [`read_typed`], of the columns `only` names (those the file has) when given.
fn read_typed_columns<R: polars::io::mmap::MmapBytesReader>(
    open: impl Fn() -> Result<R>,
    format: Format,
    file: &str,
    only: Option<(&[&str], &[&str])>,
) -> Result<DataFrame> {
    let (schema, table) = (open()?, open()?);
    let (dictionary, names) = if format == Format::Parquet {
        check_schema(|| ParquetReader::new(schema).schema(), format, file)?
    } else {
        check_schema(|| IpcReader::new(schema).schema(), format, file)?
    };
    // A file without one of them is read whole, so that the error for the missing
    // column lists the columns it has.
    let columns = only
        .filter(|(only, _)| only.iter().all(|c| names.iter().any(|n| n == c)))
        .map(|(only, optional)| {
            names
                .into_iter()
                .filter(|n| only.contains(&n.as_str()) || optional.contains(&n.as_str()))
                .collect::<Vec<String>>()
        });
    if format == Format::Parquet {
        typed(
            || ParquetReader::new(table).with_columns(columns).finish(),
            format,
            file,
            &dictionary,
        )
    } else {
        typed(
            || IpcReader::new(table).with_columns(columns).finish(),
            format,
            file,
            &dictionary,
        )
    }
}

/// Refuses, by column, a Parquet or Arrow IPC file holding a type polars' readers cannot
/// hold (their own errors name no column: "cannot create series from Float16"). Its
/// schema is read first; a schema that cannot be read is left to the read's own error.
/// Gives the dictionary-encoded columns, for [`typed`]'s messages, and every column's
/// name (none when the schema cannot be read).
fn check_schema(
    schema: impl FnOnce() -> PolarsResult<std::sync::Arc<ArrowSchema>>,
    format: Format,
    file: &str,
) -> Result<(Vec<String>, Vec<String>)> {
    let Ok(Ok(schema)) = without_panics(schema) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let unheld = schema
        .iter_values()
        .find_map(|field| unheld_type(&field.dtype).map(|what| (field.name.clone(), what)));
    match unheld {
        Some((name, what)) => Err(Error::Unreadable {
            file: file.into(),
            format: format.name().into(),
            message: format!(
                "column '{name}' holds {what}, which changerisk's reader (polars) cannot \
                 hold; re-export the file with the column cast, or without it"
            ),
        }),
        None => Ok((
            schema
                .iter_values()
                .filter(|f| matches!(f.dtype, ArrowDataType::Dictionary(..)))
                .map(|f| f.name.to_string())
                .collect(),
            schema.iter_values().map(|f| f.name.to_string()).collect(),
        )),
    }
}

/// What in an Arrow type polars cannot hold, with the type to cast it to.
fn unheld_type(t: &ArrowDataType) -> Option<&'static str> {
    match t {
        ArrowDataType::Float16 => Some("16-bit floats (float16: cast it to float32 or float64)"),
        ArrowDataType::Decimal256(..) => {
            Some("256-bit decimals (decimal256: cast it to decimal128, float64 or text)")
        }
        ArrowDataType::Decimal(precision, _) if *precision > 38 => Some(
            "decimals of more than 38 digits (cast it to decimal128 of at most 38, float64 or text)",
        ),
        ArrowDataType::List(f)
        | ArrowDataType::LargeList(f)
        | ArrowDataType::FixedSizeList(f, _)
        | ArrowDataType::Map(f, _) => unheld_type(&f.dtype),
        ArrowDataType::Struct(fields) => fields.iter().find_map(|f| unheld_type(&f.dtype)),
        ArrowDataType::Dictionary(_, values, _) => unheld_type(values),
        _ => None,
    }
}

/// A Parquet or Arrow IPC file read by polars, whose reader panics (rather than
/// failing) on some files: a corrupt footer, a run-end encoded column, a name used
/// twice. That is bad input too, not a crash. `dictionary` names the dictionary-encoded
/// columns ([`check_schema`]), for the error about their keys.
fn typed(
    read: impl FnOnce() -> PolarsResult<DataFrame>,
    format: Format,
    file: &str,
    dictionary: &[String],
) -> Result<DataFrame> {
    let unreadable = |message: String| Error::Unreadable {
        file: file.into(),
        format: format.name().into(),
        message,
    };
    let df = without_panics(read)
        .map_err(|panic| {
            unreadable(format!(
                "polars' reader failed ({panic}); a damaged file, a column named twice or an \
                 encoding it does not read (such as run-end encoding) does this: re-export the \
                 file with plain columns"
            ))
        })?
        .map_err(|e| {
            let mut message = e.to_string();
            if message.contains("dictionary key must fit") {
                message.push_str(&format!(
                    " (in a dictionary-encoded column: {}; pandas writes a categorical with \
                     missing values so, with key -1 under them, which polars does not read: \
                     write the column as text, or the table as Parquet)",
                    dictionary.join(", ")
                ));
            }
            if format == Format::Ipc && message.contains("InvalidFooter") {
                message.push_str(
                    " (changerisk reads the Arrow IPC file format, also called Feather v2; \
                     not the IPC stream format or Feather v1)",
                );
            }
            unreadable(message)
        })?;
    // A damaged file can claim other row counts for some columns than for others, and
    // the reader does not check.
    match df.columns().iter().find(|c| c.len() != df.height()) {
        Some(c) => Err(unreadable(format!(
            "column '{}' holds {} values where the table has {} rows: a damaged file; re-export it",
            c.name(),
            c.len(),
            df.height()
        ))),
        None => Ok(df),
    }
}

/// Reads a CSV file (RFC 4180: quoted cells may hold commas, line ends and doubled
/// quotes) into text columns, empty cells null. Its shape (quotes, blank lines, fields per
/// row) must have been checked by [`Shape`]; bytes that are not UTF-8 and a header naming
/// a column twice are found here, by row and column, as on the plain path. The `csv`
/// crate drops a byte order mark at the start (as [`Shape`] skips it); unnamed columns
/// are kept (a second one is called `_duplicated_0`, and so on, as polars names them).
fn read_csv(input: impl std::io::Read, file: &str) -> Result<DataFrame> {
    let mut reader = csv_reader(input);
    let names = read_header(&mut reader, file)?;
    let (columns, rows) = read_rows(&mut reader, &names, 0, file)?;
    frame_of(columns, rows, file)
}

/// A CSV text held in memory (such as `annotate --change`'s) read as text columns, with
/// the checks and messages of a CSV file: a quote left open, a row of another length,
/// bytes that are not UTF-8, a column named twice, each by row (and column).
pub fn read_csv_bytes(bytes: &[u8], file: &str) -> Result<DataFrame> {
    refuse_not_text(bytes, file)?;
    let mut shape = Shape::in_parts(bytes.len());
    shape
        .feed(bytes)
        .and_then(|()| shape.finish())
        .map_err(|m| m.into_error(file.to_string()))?;
    read_csv(bytes, file)
}

/// [`read_csv`] on a file held in memory, its data rows split at `starts` (offsets and
/// row numbers from [`Shape::finish`]) and read in parallel.
fn read_csv_in_parts(bytes: &[u8], starts: &[(usize, usize)], file: &str) -> Result<DataFrame> {
    let Some(&(data, _)) = starts.first() else {
        return read_csv(bytes, file);
    };
    let names = read_header(&mut csv_reader(&bytes[..data]), file)?;
    let parts = starts
        .par_iter()
        .enumerate()
        .map(|(i, &(from, row))| {
            let to = starts.get(i + 1).map_or(bytes.len(), |next| next.0);
            // After a line end, which the reader skips at a row's start: without it, a
            // part starting with a byte order mark's bytes (text of a cell) would lose
            // them, as the reader drops a mark at the start of its input.
            let part = std::io::Read::chain(&b"\n"[..], &bytes[from..to]);
            read_rows(&mut csv_reader(part), &names, row - 1, file)
        })
        .collect::<Vec<_>>();
    let mut rows = 0;
    let mut columns: Option<Vec<StringChunked>> = None;
    // The first error in file order, as a single pass would find it.
    for part in parts {
        let (part, n) = part?;
        rows += n;
        match columns.as_mut() {
            None => columns = Some(part),
            Some(columns) => {
                for (column, more) in columns.iter_mut().zip(&part) {
                    column.append(more).map_err(|e| unreadable_csv(file, e))?;
                }
            }
        }
    }
    frame_of(columns.unwrap_or_default(), rows, file)
}

fn csv_reader<R: std::io::Read>(input: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input)
}

fn unreadable_csv(file: &str, e: impl std::fmt::Display) -> Error {
    Error::Unreadable {
        file: file.into(),
        format: Format::Csv.name().into(),
        message: e.to_string(),
    }
}

/// The header's names (see [`read_csv`]).
fn read_header<R: std::io::Read>(reader: &mut csv::Reader<R>, file: &str) -> Result<Vec<String>> {
    let mut record = csv::ByteRecord::new();
    if !reader
        .read_byte_record(&mut record)
        .map_err(|e| unreadable_csv(file, e))?
    {
        return Err(Error::EmptyTable {
            file: file.into(),
            what: "the file is empty (expected a header and at least one row)".into(),
        });
    }
    let mut names: Vec<String> = Vec::with_capacity(record.len());
    for (k, field) in record.iter().enumerate() {
        let Ok(name) = std::str::from_utf8(field) else {
            return Err(Malformed::NotUtf8 {
                row: 0,
                column: format!("#{}", k + 1),
                cell: String::from_utf8_lossy(field).into(),
            }
            .into_error(file.into()));
        };
        names.push(name.into());
    }
    if let Some(repeated) = repeated_name(&names) {
        return Err(repeated.into_error(file.into()));
    }
    // Unnamed columns after the first are told apart as polars names them.
    let mut unnamed = 0;
    let mut seen_unnamed = false;
    for name in names.iter_mut().filter(|n| n.is_empty()) {
        if std::mem::replace(&mut seen_unnamed, true) {
            *name = format!("_duplicated_{unnamed}");
            unnamed += 1;
        }
    }
    Ok(names)
}

/// The first name a header repeats (empty names aside: unnamed columns), as the error
/// naming both 1-based positions.
fn repeated_name(names: &[String]) -> Option<Malformed> {
    let mut seen = std::collections::HashMap::with_capacity(names.len());
    names.iter().enumerate().find_map(|(k, name)| {
        if name.is_empty() {
            return None;
        }
        seen.insert(name.as_str(), k)
            .map(|first| Malformed::RepeatedName {
                name: name.clone(),
                columns: (first + 1, k + 1),
            })
    })
}

/// The rows `reader` holds, numbered from `before + 1`, as one text column per name;
/// with the number of rows.
fn read_rows<R: std::io::Read>(
    reader: &mut csv::Reader<R>,
    names: &[String],
    before: usize,
    file: &str,
) -> Result<(Vec<StringChunked>, usize)> {
    let mut columns: Vec<StringChunkedBuilder> = names
        .iter()
        .map(|n| StringChunkedBuilder::new(n.as_str().into(), 1024))
        .collect();
    let mut record = csv::ByteRecord::new();
    let mut row = before;
    while reader
        .read_byte_record(&mut record)
        .map_err(|e| unreadable_csv(file, e))?
    {
        row += 1;
        if record.len() != names.len() {
            return Err(Malformed::Ragged(Ragged {
                row,
                fields: record.len(),
                header: names.len(),
            })
            .into_error(file.into()));
        }
        for (k, field) in record.iter().enumerate() {
            match std::str::from_utf8(field) {
                Ok("") => columns[k].append_null(),
                Ok(text) => columns[k].append_value(text),
                Err(_) => {
                    return Err(Malformed::NotUtf8 {
                        row,
                        column: names[k].clone(),
                        cell: String::from_utf8_lossy(field).into(),
                    }
                    .into_error(file.into()))
                }
            }
        }
    }
    Ok((
        columns.into_iter().map(|c| c.finish()).collect(),
        row - before,
    ))
}

fn frame_of(columns: Vec<StringChunked>, rows: usize, file: &str) -> Result<DataFrame> {
    let columns: Vec<Column> = columns.into_iter().map(|c| c.into_column()).collect();
    DataFrame::new(rows, columns).map_err(|e| unreadable_csv(file, e))
}

/// The shape of a CSV file, checked in one pass over its bytes (in chunks of any size)
/// before the `csv` crate reads it, which is lenient where a mistake would go unnoticed:
/// it skips blank lines, takes text after a closing quote into the cell, and lets a quote
/// that is never closed swallow the following rows, which can even leave the right number
/// of fields. Here each of those is an error naming the row: a row with another number of
/// fields than the header, a blank line between rows (blank lines at the end are fine),
/// a quote never closed, and text after a closing quote. Line ends are LF, CRLF or a
/// lone CR, as the `csv` crate splits them; a quote inside a cell that does not start
/// with one is text, as it reads it.
#[derive(Default)]
struct Shape {
    state: ShapeState,
    /// The row being read (0: the header).
    row: usize,
    /// Fields ended so far in this row.
    field: usize,
    /// The header's number of fields.
    header: usize,
    /// Where the open quoted cell started, and whether it holds a line end yet.
    quote_row: usize,
    quote_lines: bool,
    /// The last byte was a CR that ended a row (so an LF after it is part of that end).
    after_cr: bool,
    /// Bytes of a byte order mark read at the start (3: the start is past), which the
    /// `csv` crate drops there too.
    bom: usize,
    /// The first blank line after the header, as a row number.
    blank: Option<usize>,
    /// The header's names, as written (for messages).
    names: Vec<Vec<u8>>,
    /// Bytes fed before the current chunk, and the offset of the byte being read.
    fed: usize,
    at: usize,
    /// When above 0: about how many bytes apart to note where a row starts, so that
    /// the rows can be read in parts, in parallel.
    part_bytes: usize,
    /// (byte offset, row) of the first data row and of one row about every
    /// `part_bytes` after it.
    starts: Vec<(usize, usize)>,
}

/// The bytes that end a run of text in an unquoted cell, and in a quoted one.
const UNQUOTED_ENDS: [bool; 256] = byte_set(b",\n\r");
const QUOTED_ENDS: [bool; 256] = byte_set(b"\"\n\r");

const fn byte_set(bytes: &[u8]) -> [bool; 256] {
    let mut set = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        set[bytes[i] as usize] = true;
        i += 1;
    }
    set
}

#[derive(Default, Clone, Copy, PartialEq)]
enum ShapeState {
    #[default]
    RowStart,
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted cell: the cell's end, or the first of a doubled quote.
    QuoteInQuoted,
}

impl Shape {
    /// A check that also notes row starts about `part_bytes` apart (at least 1 MiB).
    fn in_parts(part_bytes: usize) -> Shape {
        Shape {
            part_bytes: part_bytes.max(1 << 20),
            ..Shape::default()
        }
    }

    fn feed(&mut self, chunk: &[u8]) -> std::result::Result<(), Malformed> {
        let mut i = 0;
        const BOM: [u8; 3] = [0xef, 0xbb, 0xbf];
        while self.bom < BOM.len() && i < chunk.len() {
            if chunk[i] == BOM[self.bom] {
                self.bom += 1;
                i += 1;
            } else {
                // Not a byte order mark after all: its first bytes were text.
                let partial = std::mem::replace(&mut self.bom, BOM.len());
                self.at = self.fed + i;
                for &p in &BOM[..partial] {
                    self.step(p)?;
                }
            }
        }
        while i < chunk.len() {
            // Inside a cell only a few bytes matter: jump to the next. Cells are short,
            // so a table lookup per byte beats setting up a vector search.
            let rest = &chunk[i..];
            let ends = match self.state {
                ShapeState::Unquoted => Some(&UNQUOTED_ENDS),
                ShapeState::Quoted => Some(&QUOTED_ENDS),
                _ => None,
            };
            let skip = ends.map_or(0, |ends| {
                rest.iter()
                    .position(|&b| ends[b as usize])
                    .unwrap_or(rest.len())
            });
            if skip > 0 {
                if self.row == 0 {
                    self.names[self.field].extend_from_slice(&rest[..skip]);
                }
                i += skip;
                continue;
            }
            self.at = self.fed + i;
            self.step(chunk[i])?;
            i += 1;
        }
        self.fed += chunk.len();
        Ok(())
    }

    #[inline]
    fn step(&mut self, b: u8) -> std::result::Result<(), Malformed> {
        use ShapeState::*;
        if self.state == RowStart {
            let after_cr = std::mem::take(&mut self.after_cr);
            if b == b'\n' && after_cr {
                return Ok(());
            }
            if b == b'\n' || b == b'\r' {
                if self.row > 0 && self.blank.is_none() {
                    self.blank = Some(self.row);
                }
                self.after_cr = b == b'\r';
                return Ok(());
            }
            if let Some(row) = self.blank {
                return Err(Malformed::BlankLine { row });
            }
            if self.part_bytes > 0
                && self.row > 0
                && self
                    .starts
                    .last()
                    .is_none_or(|&(last, _)| self.at >= last + self.part_bytes)
            {
                self.starts.push((self.at, self.row));
            }
            self.state = FieldStart;
        }
        if self.row == 0 {
            if self.names.len() <= self.field {
                self.names.push(Vec::new());
            }
            if !matches!(b, b',' | b'\n' | b'\r') || self.state == Quoted {
                self.names[self.field].push(b);
            }
        }
        match (self.state, b) {
            (Quoted, b'"') => self.state = QuoteInQuoted,
            (Quoted, b'\n' | b'\r') => self.quote_lines = true,
            (Quoted, _) => {}
            (FieldStart | Unquoted | QuoteInQuoted, b',') => {
                self.field += 1;
                self.state = FieldStart;
            }
            (_, b'\n' | b'\r') => {
                self.end_row()?;
                self.after_cr = b == b'\r';
            }
            (FieldStart, b'"') => {
                self.state = Quoted;
                self.quote_row = self.row;
                self.quote_lines = false;
            }
            (QuoteInQuoted, b'"') => self.state = Quoted,
            (QuoteInQuoted, _) => {
                // A quoted cell that spans lines and is then followed by text was
                // most likely never closed where it should have been.
                return Err(if self.quote_lines {
                    Malformed::OpenQuote {
                        row: self.quote_row,
                    }
                } else {
                    Malformed::AfterQuote {
                        row: self.row,
                        column: self.column_name(),
                    }
                });
            }
            (FieldStart | Unquoted, _) => self.state = Unquoted,
            (RowStart, _) => unreachable!("a row's first byte moves it to FieldStart"),
        }
        Ok(())
    }

    /// Checks the end of the input (a quote still open, or a last row without a line
    /// end); gives the row starts noted ([`Shape::in_parts`]).
    fn finish(mut self) -> std::result::Result<Vec<(usize, usize)>, Malformed> {
        match self.state {
            ShapeState::Quoted => {
                return Err(Malformed::OpenQuote {
                    row: self.quote_row,
                })
            }
            ShapeState::RowStart => {}
            _ => self.end_row()?,
        }
        Ok(self.starts)
    }

    fn end_row(&mut self) -> std::result::Result<(), Malformed> {
        let fields = self.field + 1;
        if self.row == 0 {
            self.header = fields;
        } else if fields != self.header {
            return Err(Malformed::Ragged(Ragged {
                row: self.row,
                fields,
                header: self.header,
            }));
        }
        self.row += 1;
        self.field = 0;
        self.state = ShapeState::RowStart;
        Ok(())
    }

    /// The name of the current column, as the header writes it (quotes dropped).
    fn column_name(&self) -> String {
        match self.names.get(self.field) {
            Some(name) if self.row > 0 => {
                let name = String::from_utf8_lossy(name);
                let name = name.strip_prefix('"').unwrap_or(&name);
                let name = name.strip_suffix('"').unwrap_or(name);
                name.replace("\"\"", "\"")
            }
            _ => format!("#{}", self.field + 1),
        }
    }
}

/// Runs `f`, turning a panic into `Err` with its message, which is not printed. For
/// third-party readers that panic on malformed input.
///
/// The process's panic hook is replaced once by one that stays silent while any such
/// call is running (a count, not a lock: readers run concurrently, and rayon may run one
/// inside another on the same thread).
fn without_panics<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static SILENT: AtomicUsize = AtomicUsize::new(0);
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if SILENT.load(Ordering::SeqCst) == 0 {
                default(info);
            }
        }));
    });
    SILENT.fetch_add(1, Ordering::SeqCst);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    SILENT.fetch_sub(1, Ordering::SeqCst);
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "the reader failed".into())
    })
}

/// Readies `df` for a text format (CSV when `csv`, else JSON Lines). A time with a zone
/// is written as the same instant in UTC: in CSV as RFC 3339 text with `Z` at the
/// column's precision (polars would drop the zone), in JSON Lines as a UTC time (polars'
/// JSON writer cannot write a named zone); a time without a zone is left as it is. What
/// the format cannot hold is exit 2 naming the column (and row): binary values;
/// durations and nested values in CSV; NaN and infinities in JSON Lines (JSON has none,
/// and `null` would read as missing), and nested values holding floats, binary or
/// zoned times there (they cannot be checked or written faithfully). The error gives
/// `instead` as the advice (default: write one of the formats that can hold it).
pub fn prepare_text_output(
    df: &mut DataFrame,
    csv: bool,
    file: &str,
    instead: Option<&str>,
) -> Result<()> {
    let (what, instead_of_text) = if csv {
        ("CSV", "Parquet, Arrow IPC or JSON Lines")
    } else {
        ("JSON Lines", "Parquet, Arrow IPC or CSV")
    };
    // What to do instead: the caller's advice, or writing one of `formats`.
    let advice =
        |formats: &str| instead.map_or_else(|| format!("write {formats} instead"), String::from);
    let cannot = |c: &Column, held: String, formats: &str| {
        Error::Data(format!(
            "{file}: column '{}' holds {held}, which {what} cannot hold ({})",
            c.name(),
            advice(formats)
        ))
    };
    let mut zoned = Vec::new();
    for c in df.columns() {
        match c.dtype() {
            DataType::Binary | DataType::BinaryOffset => {
                return Err(cannot(c, "binary values".into(), "Parquet or Arrow IPC"))
            }
            DataType::Duration(_) if csv => {
                return Err(cannot(c, "durations".into(), instead_of_text))
            }
            t if csv && t.is_nested() => {
                return Err(cannot(c, format!("values of type {t}"), instead_of_text))
            }
            t if t.is_nested() => {
                if let Some(held) = unfaithful_in_json(t) {
                    return Err(cannot(
                        c,
                        format!("values of type {t}, with {held} inside"),
                        "Parquet or Arrow IPC",
                    ));
                }
            }
            DataType::Float64 | DataType::Float32 if !csv => {
                let cast = c
                    .cast(&DataType::Float64)
                    .map_err(|e| Error::Data(format!("{file}: column '{}': {e}", c.name())))?;
                let found = cast
                    .f64()
                    .expect("cast to Float64")
                    .iter()
                    .enumerate()
                    .find_map(|(i, v)| v.filter(|v| !v.is_finite()).map(|v| (i, v)));
                if let Some((row, v)) = found {
                    return Err(cannot(
                        c,
                        format!("{v} in row {}", row + 1),
                        instead_of_text,
                    ));
                }
            }
            DataType::Datetime(unit, Some(zone)) if csv || zone.as_str() != "UTC" => {
                zoned.push((c.name().clone(), *unit));
            }
            _ => {}
        }
    }
    for (name, unit) in zoned {
        let column = df.column(&name).expect("listed from the frame");
        let instants = column.datetime().expect("a datetime column").physical();
        let utc = if csv {
            StringChunked::from_iter_options(
                name.clone(),
                instants.iter().map(|v| v.map(|v| utc_text(v, unit))),
            )
            .into_column()
        } else {
            instants
                .clone()
                .into_datetime(unit, Some(TimeZone::UTC))
                .into_column()
        };
        df.replace(&name, utc)
            .map_err(|e| Error::Data(format!("{file}: column '{name}': {e}")))?;
    }
    Ok(())
}

/// What inside a nested type polars' JSON writer would write unfaithfully or not at all.
fn unfaithful_in_json(t: &DataType) -> Option<&'static str> {
    match t {
        DataType::List(inner) => unfaithful_in_json(inner),
        DataType::Struct(fields) => fields.iter().find_map(|f| unfaithful_in_json(f.dtype())),
        DataType::Float32 | DataType::Float64 => Some("floating-point values"),
        DataType::Binary | DataType::BinaryOffset => Some("binary values"),
        DataType::Datetime(_, Some(_)) => Some("times with a time zone"),
        _ => None,
    }
}

/// An instant (`v` in `unit` since the epoch) as RFC 3339 text in UTC with `Z`, to the
/// unit's precision.
fn utc_text(v: i64, unit: TimeUnit) -> String {
    let (time, format) = match unit {
        TimeUnit::Milliseconds => (
            chrono::DateTime::from_timestamp_millis(v),
            "%Y-%m-%dT%H:%M:%S%.3fZ",
        ),
        TimeUnit::Microseconds => (
            chrono::DateTime::from_timestamp_micros(v),
            "%Y-%m-%dT%H:%M:%S%.6fZ",
        ),
        TimeUnit::Nanoseconds => (
            Some(chrono::DateTime::from_timestamp_nanos(v)),
            "%Y-%m-%dT%H:%M:%S%.9fZ",
        ),
    };
    time.map_or_else(|| v.to_string(), |t| t.format(format).to_string())
}

/// Writes a table atomically in the format its extension names.
pub fn write_table(path: &Path, df: &mut DataFrame) -> Result<()> {
    stage_table(path, df)?.commit()
}

/// [`write_table`]'s file, staged but not yet in place (see [`crate::output::Staged`]).
pub fn stage_table(path: &Path, df: &mut DataFrame) -> Result<crate::output::Staged> {
    let format = Format::of_output(path)?;
    let file_name = path.display().to_string();
    if matches!(format, Format::Csv | Format::JsonLines) {
        prepare_text_output(df, format == Format::Csv, &file_name, None)?;
    }
    crate::output::stage(path, |w| {
        let failed = |e: PolarsError| {
            Error::Data(format!(
                "{file_name}: cannot write as {}: {e}",
                format.name()
            ))
        };
        match format {
            Format::Csv => CsvWriter::new(w).finish(df).map_err(failed),
            Format::Parquet => ParquetWriter::new(w).finish(df).map(|_| ()).map_err(failed),
            // Plain (large) strings rather than Arrow's newer view types, which readers
            // older than Arrow 15 (2024) cannot open.
            Format::Ipc => IpcWriter::new(w)
                .with_compat_level(CompatLevel::oldest())
                .finish(df)
                .map_err(failed),
            Format::JsonLines => JsonWriter::new(w)
                .with_json_format(JsonFormat::JsonLines)
                .finish(df)
                .map_err(failed),
        }
    })
}

/// One table written a batch of rows at a time (the scores of a partitioned table's
/// parts, in turn) to one writer, in CSV, JSON Lines or Parquet (one row group per
/// batch). Every batch must have the first one's columns; for Parquet their types too.
pub struct TableSink<'w, W: std::io::Write> {
    format: Format,
    file: String,
    writer: Option<&'w mut W>,
    parquet: Option<polars::io::parquet::write::BatchedWriter<&'w mut W>>,
    first: Option<Schema>,
}

impl<'w, W: std::io::Write> TableSink<'w, W> {
    /// A sink writing `format` to `writer`; `file` names the output in errors. Arrow IPC
    /// is refused: its writer cannot be fed a batch at a time here.
    pub fn new(format: Format, file: &str, writer: &'w mut W) -> Result<TableSink<'w, W>> {
        check_sink_format(format, file)?;
        Ok(TableSink {
            format,
            file: file.to_string(),
            writer: Some(writer),
            parquet: None,
            first: None,
        })
    }

    /// Writes `df`, the batch read from `from` (named in errors).
    pub fn push(&mut self, mut df: DataFrame, from: &str) -> Result<()> {
        let header = match &self.first {
            None => {
                self.first = Some(df.schema().as_ref().clone());
                true
            }
            Some(first) => {
                // A column of nulls alone (a part where no row has it) takes the type
                // the first part gave it.
                for (name, dtype) in first.iter() {
                    let null = df
                        .column(name)
                        .is_ok_and(|c| c.dtype() == &DataType::Null && dtype != &DataType::Null);
                    if null {
                        let typed = df
                            .column(name)
                            .and_then(|c| c.cast(dtype))
                            .and_then(|c| df.with_column(c).map(|_| ()));
                        if let Err(e) = typed {
                            return Err(Error::Data(format!("{from}: {e}")));
                        }
                    }
                }
                let names = |s: &Schema| s.iter_names().map(|n| n.to_string()).collect::<Vec<_>>();
                let same = if self.format == Format::Parquet {
                    first == df.schema().as_ref()
                } else {
                    names(first) == names(df.schema())
                };
                if !same {
                    return Err(Error::Data(format!(
                        "{from}: its columns ({}) differ from the first part's ({}){}; one output file needs the same columns in every part: write a directory of parts instead",
                        describe_schema(df.schema()),
                        describe_schema(first),
                        if self.format == Format::Parquet { " in name, order or type" } else { " in name or order" }
                    )));
                }
                false
            }
        };
        let failed = |e: PolarsError| {
            Error::Data(format!(
                "{}: cannot write as {}: {e}",
                self.file,
                self.format.name()
            ))
        };
        match self.format {
            Format::Csv | Format::JsonLines => {
                let csv = self.format == Format::Csv;
                prepare_text_output(&mut df, csv, &self.file, None)?;
                let writer = self.writer.as_deref_mut().expect("a text writer");
                if csv {
                    CsvWriter::new(writer)
                        .include_header(header)
                        .finish(&mut df)
                        .map_err(failed)
                } else {
                    JsonWriter::new(writer)
                        .with_json_format(JsonFormat::JsonLines)
                        .finish(&mut df)
                        .map_err(failed)
                }
            }
            Format::Parquet => {
                if self.parquet.is_none() {
                    let writer = self.writer.take().expect("a writer");
                    self.parquet = Some(
                        ParquetWriter::new(writer)
                            .batched(df.schema())
                            .map_err(failed)?,
                    );
                }
                df.align_chunks_par();
                self.parquet
                    .as_mut()
                    .expect("started")
                    .write_batch(&df)
                    .map_err(failed)
            }
            Format::Ipc => unreachable!("refused by new"),
        }
    }

    /// Ends the table (Parquet's footer).
    pub fn finish(self) -> Result<()> {
        if let Some(parquet) = self.parquet {
            parquet
                .finish()
                .map_err(|e| Error::Data(format!("{}: cannot write as Parquet: {e}", self.file)))?;
        }
        Ok(())
    }
}

/// Refuses a format no [`TableSink`] writes (Arrow IPC); `file` names the output.
pub fn check_sink_format(format: Format, file: &str) -> Result<()> {
    if format == Format::Ipc {
        return Err(Error::Usage(format!(
            "{file}: the scores of a partitioned table are written as one CSV, JSON Lines or Parquet file, or as a directory of parts (of any format); not as one Arrow IPC file"
        )));
    }
    Ok(())
}

/// `name type, ...` of a schema, for messages.
fn describe_schema(schema: &Schema) -> String {
    schema
        .iter()
        .map(|(name, dtype)| format!("{name} {dtype}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A table of `columns` followed by the input's pass-through columns, named by
/// [`passthrough_names`].
pub fn with_passthrough(
    mut columns: Vec<polars::prelude::Column>,
    passthrough: &DataFrame,
    height: usize,
    reserved: impl Fn(&str) -> bool,
) -> PolarsResult<DataFrame> {
    let names = passthrough_names(
        columns.iter().map(|c| c.name().as_str()),
        passthrough,
        reserved,
    );
    for (column, name) in passthrough.columns().iter().zip(names) {
        let mut column = column.clone();
        if column.name().as_str() != name {
            column.rename(name.into());
        }
        columns.push(column);
    }
    DataFrame::new(height, columns)
}

/// The names the pass-through columns get after the output columns `taken`: a name an
/// output column has in any case (SQL engines and analysts' tools compare names ignoring
/// it), or one `reserved` says is the output's (the export's `contrib_` columns), gets an
/// `input_` prefix, repeated until no column has it in any case.
pub fn passthrough_names<'a>(
    taken: impl IntoIterator<Item = &'a str>,
    passthrough: &DataFrame,
    reserved: impl Fn(&str) -> bool,
) -> Vec<String> {
    let outputs: std::collections::HashSet<String> =
        taken.into_iter().map(|n| n.to_ascii_lowercase()).collect();
    let clashes = |name: &str| outputs.contains(&name.to_ascii_lowercase()) || reserved(name);
    // A pass-through name that clashes with no output column keeps it, whatever the
    // column order; a clashing one takes `input_` prefixes until it is free of both.
    let mut used: std::collections::HashSet<String> = passthrough
        .get_column_names()
        .iter()
        .filter(|n| !clashes(n))
        .map(|n| n.to_ascii_lowercase())
        .chain(outputs.iter().cloned())
        .collect();
    passthrough
        .get_column_names()
        .iter()
        .map(|name| {
            let mut name = name.to_string();
            if clashes(&name) {
                name.insert_str(0, "input_");
                while !used.insert(name.to_ascii_lowercase()) {
                    name.insert_str(0, "input_");
                }
            }
            name
        })
        .collect()
}

/// Whether inputs that can be read only once are kept for a second read ([`read_whole`]).
static KEEP_PIPED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Keeps every input that can be read only once (standard input, a pipe) for the rest of
/// the run, for a command that reads its inputs twice (`report` trains on the history,
/// then scores it): the second read gets the same bytes. The other commands read each
/// input once and keep nothing.
pub fn keep_piped_inputs() {
    KEEP_PIPED.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// A file's bytes; a pipe's kept when [`keep_piped_inputs`] asked for it, under its
/// device and inode (so `-`, `/dev/stdin` and `/dev/fd/0` are one input).
fn read_whole(path: &Path, meta: &std::fs::Metadata) -> Result<Vec<u8>> {
    use std::collections::HashMap;
    use std::os::unix::fs::MetadataExt;
    use std::sync::{Mutex, OnceLock};
    let read = || std::fs::read(path).map_err(|e| Error::io(path, e));
    if meta.is_file() || !KEEP_PIPED.load(std::sync::atomic::Ordering::Relaxed) {
        return read();
    }
    /// Kept bytes by (device, inode).
    type Kept = HashMap<(u64, u64), Vec<u8>>;
    static KEPT: OnceLock<Mutex<Kept>> = OnceLock::new();
    let kept = || {
        KEPT.get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    };
    let key = (meta.dev(), meta.ino());
    if let Some(bytes) = kept().get(&key) {
        return Ok(bytes.clone());
    }
    let bytes = read()?;
    kept().insert(key, bytes.clone());
    Ok(bytes)
}

/// A table as read from a file: a polars `DataFrame`, or for a plain CSV file (no
/// quotes, no CR, every row with the header's number of fields) the file's text with
/// the position of every cell, which needs no copy of the cells.
pub enum Table {
    Frame(DataFrame),
    Csv(RawCsv),
}

impl Table {
    /// Reads a table; see [`read_table`]. A plain CSV file is split here, in parallel;
    /// any other CSV file is read record by record (`read_csv`), with the same checks.
    pub fn read(path: &Path) -> Result<Table> {
        // An input without an extension (a pipe such as `<(zcat changes.csv.gz)`,
        // `/dev/stdin`) is known by its content ([`Format::sniff`]).
        let format = match Format::of(path) {
            Ok(format) => Some(format),
            // (`new.` has an empty extension: none either.)
            Err(_) if path.extension().is_none_or(|e| e.is_empty()) => None,
            Err(e) => return Err(e),
        };
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let file = path.display().to_string();
        // A named pipe has no size and can be read only once, so it is read whole and
        // parsed like a file's bytes; so is an input known by its content.
        let Some(format) = format else {
            let bytes = read_whole(path, &meta)?;
            let format = Format::sniff(&bytes, &file)?;
            return Table::from_bytes(bytes, format, &file);
        };
        if !meta.is_file() && !meta.is_dir() {
            let bytes = read_whole(path, &meta)?;
            return Table::from_bytes(bytes, format, &file);
        }
        if format == Format::Csv && meta.len() > 0 && meta.len() < RawCsv::MAX_BYTES {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            return Table::from_bytes(bytes, format, &file);
        }
        read_table(path).map(Table::Frame)
    }

    /// Reads the columns `only` names, and those of `optional` the file has, of a Parquet
    /// or Arrow IPC file, with the same checks as [`Table::read`]; a file without one of
    /// `only`, a table of any other format, or one not in a file, is read whole.
    pub fn read_only(path: &Path, only: &[&str], optional: &[&str]) -> Result<Table> {
        let typed = matches!(Format::of(path), Ok(Format::Parquet | Format::Ipc));
        if !typed || !path.is_file() {
            return Table::read(path);
        }
        let format = Format::of(path)?;
        let file = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if meta.len() == 0 {
            return Err(empty_file(format, file));
        }
        let open = || File::open(path).map_err(|e| Error::io(path, e));
        read_typed_columns(open, format, &file, Some((only, optional))).map(Table::Frame)
    }

    /// A table from a whole file's bytes (`file` names it in errors).
    fn from_bytes(mut bytes: Vec<u8>, format: Format, file: &str) -> Result<Table> {
        if bytes.is_empty() {
            return Err(empty_file(format, file.into()));
        }
        if matches!(format, Format::Csv | Format::JsonLines) {
            refuse_not_text(&bytes, file)?;
        }
        match format {
            Format::Csv => match RawCsv::parse(&mut bytes) {
                Ok(Some(raw)) => Ok(Table::Csv(raw)),
                Ok(None) => {
                    let parts = 4 * rayon::current_num_threads().max(1);
                    let mut shape = Shape::in_parts(bytes.len() / parts);
                    let starts = shape
                        .feed(&bytes)
                        .and_then(|()| shape.finish())
                        .map_err(|m| m.into_error(file.to_string()))?;
                    read_csv_in_parts(&bytes, &starts, file).map(Table::Frame)
                }
                Err(m) => Err(m.into_error(file.to_string())),
            },
            // (polars reads a borrowed cursor's bytes in place, as an owned one's.)
            Format::Parquet | Format::Ipc => {
                let open = || Ok(std::io::Cursor::new(&bytes[..]));
                read_typed(open, format, file).map(Table::Frame)
            }
            Format::JsonLines => crate::jsonl::read(&bytes, file).map(Table::Frame),
        }
    }

    /// Number of data rows.
    pub fn height(&self) -> usize {
        match self {
            Table::Frame(df) => df.height(),
            Table::Csv(raw) => raw.rows,
        }
    }

    /// Column names, in file order.
    pub fn names(&self) -> Vec<&str> {
        match self {
            Table::Frame(df) => df.get_column_names().iter().map(|c| c.as_str()).collect(),
            Table::Csv(raw) => raw.names.iter().map(String::as_str).collect(),
        }
    }

    /// The columns `names` as a `DataFrame` (CSV cells as text, empty cells null, as the
    /// record-by-record reader gives them).
    pub fn select(&self, names: &[String]) -> PolarsResult<DataFrame> {
        match self {
            Table::Frame(df) => df.select(names.iter().cloned()),
            Table::Csv(raw) => {
                // By a map, not a search per name: a header of 200,000 columns took
                // 87 s searched.
                let index: std::collections::HashMap<&str, usize> = raw
                    .names
                    .iter()
                    .enumerate()
                    .map(|(k, n)| (n.as_str(), k))
                    .collect();
                let columns = names
                    .iter()
                    .map(|name| {
                        let k = *index
                            .get(name.as_str())
                            .ok_or_else(|| PolarsError::ColumnNotFound(name.clone().into()))?;
                        let cells =
                            (0..raw.rows).map(|r| Some(raw.cell(k, r)).filter(|c| !c.is_empty()));
                        Ok(StringChunked::from_iter_options(name.into(), cells).into_column())
                    })
                    .collect::<PolarsResult<Vec<_>>>()?;
                DataFrame::new(raw.rows, columns)
            }
        }
    }
}

/// Why a CSV file cannot be read: found by the plain path ([`RawCsv::parse`]) or by the
/// quote-aware check of other files.
#[derive(Debug, Clone, PartialEq)]
pub enum Malformed {
    Ragged(Ragged),
    /// A header naming one column twice (1-based positions): which one a config or the
    /// contract means would be a guess.
    RepeatedName {
        name: String,
        columns: (usize, usize),
    },
    /// A blank line between data rows, where data row `row` would be (found by the
    /// quote-aware check; the plain path reports it as a row of one field).
    BlankLine {
        row: usize,
    },
    /// A quote opened in data row `row` (0: the header) and never closed.
    OpenQuote {
        row: usize,
    },
    /// Text after the closing quote of a quoted cell (0: the header).
    AfterQuote {
        row: usize,
        column: String,
    },
    /// Bytes that are not UTF-8, first found in data row `row` (0: the header), in
    /// `column` (by position; the cell shown with replacement characters).
    NotUtf8 {
        row: usize,
        column: String,
        cell: String,
    },
}

impl Malformed {
    /// The error naming `file`.
    fn into_error(self, file: String) -> Error {
        match self {
            Malformed::Ragged(r) => Error::RaggedRow {
                file,
                row: r.row,
                fields: r.fields,
                header: r.header,
            },
            Malformed::RepeatedName { name, columns } => Error::Unreadable {
                file,
                format: Format::Csv.name().into(),
                message: format!(
                    "the header names column '{name}' twice (columns {} and {})",
                    columns.0, columns.1
                ),
            },
            Malformed::BlankLine { row } => Error::Unreadable {
                file,
                format: Format::Csv.name().into(),
                message: format!(
                    "row {row} is a blank line between rows (blank lines are allowed only at \
                     the end; in a one-column file write a missing value as \"\")"
                ),
            },
            Malformed::OpenQuote { row } => Error::Unreadable {
                file,
                format: Format::Csv.name().into(),
                message: format!(
                    "{}: a quote opened in this row is not closed (a quote inside a \
                     quoted cell is written twice: \"\")",
                    row_name(row)
                ),
            },
            Malformed::AfterQuote { row, column } => Error::Unreadable {
                file,
                format: Format::Csv.name().into(),
                message: format!(
                    "{}, column '{column}': text after the closing quote of a quoted cell \
                     (a quote inside a quoted cell is written twice: \"\")",
                    row_name(row)
                ),
            },
            Malformed::NotUtf8 { row: 0, .. } => Error::Unreadable {
                file,
                format: Format::Csv.name().into(),
                message: "the header is not UTF-8 text (save the file as UTF-8)".into(),
            },
            Malformed::NotUtf8 { row, column, cell } => Error::BadValue {
                file,
                row,
                column,
                value: cell,
                expected: "UTF-8 text (save the file as UTF-8)".into(),
            },
        }
    }
}

/// "row N", or "the header" for row 0.
fn row_name(row: usize) -> String {
    if row == 0 {
        "the header".into()
    } else {
        format!("row {row}")
    }
}

/// A data row of a CSV file with another number of fields than its header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ragged {
    /// 1-based data row (the first row after the header is row 1).
    pub row: usize,
    pub fields: usize,
    pub header: usize,
}

/// A plain CSV file split into cells: its text and, per column, where each cell ends.
pub struct RawCsv {
    text: String,
    names: Vec<String>,
    /// Byte offset of the first data row.
    data_start: u32,
    /// Per column, per row: the offset of the `,` or `\n` that ends the cell.
    ends: Vec<Vec<u32>>,
    rows: usize,
}

impl RawCsv {
    /// Files from this size on are read record by record (offsets are 32-bit).
    const MAX_BYTES: u64 = u32::MAX as u64 - 1;

    /// Splits `file` into cells, or `Ok(None)` when it is not plain: a byte order mark, a
    /// quote anywhere, a CR other than in a CRLF line end, an empty header name or a
    /// single column. Such files are left in `file` for the record-by-record reader,
    /// which knows the quoting rules: unchanged, but for blank lines at the end dropped,
    /// a final line end added and (in a file without quotes whose every CR ends a line)
    /// CRs dropped. Blank lines at the end are ignored (a header alone is a table of no
    /// rows). Bytes that are not UTF-8, a header naming a column twice, or a data row
    /// with another number of fields than the header (a blank line inside the file
    /// included) are errors ([`Malformed`]).
    pub fn parse(file: &mut Vec<u8>) -> std::result::Result<Option<RawCsv>, Malformed> {
        if file.len() as u64 >= Self::MAX_BYTES {
            return Ok(None);
        }
        let mut bytes = std::mem::take(file);
        // One scan for a plain LF file; more only when there is a quote or a CR.
        if let Some(first) = memchr::memchr2(b'"', b'\r', &bytes) {
            if memchr::memchr(b'"', &bytes[first..]).is_some() {
                *file = bytes;
                return Ok(None);
            }
            // Windows line ends: dropped, as a CSV reader does. A CR anywhere else is
            // left to the record-by-record reader.
            let crlf_only = memchr::memchr_iter(b'\r', &bytes[first..])
                .all(|p| bytes.get(first + p + 1) == Some(&b'\n'));
            if !crlf_only {
                *file = bytes;
                return Ok(None);
            }
            bytes.retain(|&b| b != b'\r');
        }
        while bytes.ends_with(b"\n\n") {
            bytes.pop();
        }
        if bytes.last() != Some(&b'\n') {
            bytes.push(b'\n');
        }
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                return Err(not_utf8(e.as_bytes(), at));
            }
        };
        if text.starts_with('\u{feff}') {
            *file = text.into_bytes();
            return Ok(None);
        }
        let Some(header_end) = text.find('\n') else {
            *file = text.into_bytes();
            return Ok(None);
        };
        let names: Vec<String> = text[..header_end].split(',').map(String::from).collect();
        if let Some(repeated) = repeated_name(&names) {
            return Err(repeated);
        }
        if names.len() < 2 || names.iter().any(String::is_empty) {
            *file = text.into_bytes();
            return Ok(None);
        }
        let data_start = header_end + 1;
        let data = &text.as_bytes()[data_start..];
        if data.is_empty() {
            // A header alone (blank lines after it or not): a table of no rows, which
            // is fine for incidents, changes to score and past changes, and an error for
            // the changes `train` learns from (said where that is known).
            return Ok(Some(RawCsv {
                ends: vec![Vec::new(); names.len()],
                names,
                data_start: data_start as u32,
                text,
                rows: 0,
            }));
        }
        // Chunks ending at line ends: counted, then split, in parallel.
        let pieces = 4 * rayon::current_num_threads().max(1);
        let mut bounds = vec![0usize];
        for k in 1..pieces {
            let from = (data.len() * k / pieces).max(bounds[bounds.len() - 1]);
            match memchr::memchr(b'\n', &data[from..]) {
                Some(p) if from + p + 1 < data.len() => bounds.push(from + p + 1),
                _ => break,
            }
        }
        bounds.push(data.len());
        bounds.dedup();
        let spans: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
        let counts: Vec<usize> = spans
            .par_iter()
            .map(|&(a, b)| memchr::memchr_iter(b'\n', &data[a..b]).count())
            .collect();
        let rows: usize = counts.iter().sum();
        let mut ends: Vec<Vec<u32>> = (0..names.len()).map(|_| vec![0u32; rows]).collect();
        let mut parts: Vec<Vec<&mut [u32]>> = spans.iter().map(|_| Vec::new()).collect();
        for column in ends.iter_mut() {
            let mut rest: &mut [u32] = column;
            for (part, &count) in parts.iter_mut().zip(&counts) {
                let (mine, others) = rest.split_at_mut(count);
                part.push(mine);
                rest = others;
            }
        }
        let last = names.len() - 1;
        let first_rows: Vec<usize> = counts
            .iter()
            .scan(0, |before, &c| {
                let first = *before;
                *before += c;
                Some(first)
            })
            .collect();
        // Each piece's first ragged row, if any: (row, its number of fields).
        let ragged = parts
            .into_par_iter()
            .zip(spans)
            .zip(first_rows)
            .filter_map(|((mut columns, (a, b)), first_row)| {
                let (mut row, mut col) = (0usize, 0usize);
                let mut row_start = a;
                for p in memchr::memchr2_iter(b',', b'\n', &data[a..b]) {
                    let at = (data_start + a + p) as u32;
                    if data[a + p] == b',' {
                        if col == last {
                            let line_end = memchr::memchr(b'\n', &data[row_start..b])
                                .map_or(b, |e| row_start + e);
                            let fields =
                                1 + memchr::memchr_iter(b',', &data[row_start..line_end]).count();
                            return Some((first_row + row, fields));
                        }
                        columns[col][row] = at;
                        col += 1;
                    } else {
                        if col != last {
                            return Some((first_row + row, col + 1));
                        }
                        columns[col][row] = at;
                        row += 1;
                        col = 0;
                        row_start = a + p + 1;
                    }
                }
                None
            })
            .min();
        if let Some((row, fields)) = ragged {
            return Err(Malformed::Ragged(Ragged {
                row: row + 1,
                fields,
                header: names.len(),
            }));
        }
        Ok(Some(RawCsv {
            text,
            names,
            data_start: data_start as u32,
            ends,
            rows,
        }))
    }

    /// The text of column `k` in row `r`.
    fn cell(&self, k: usize, r: usize) -> &str {
        let start = if k > 0 {
            self.ends[k - 1][r] + 1
        } else if r > 0 {
            self.ends[self.names.len() - 1][r - 1] + 1
        } else {
            self.data_start
        };
        &self.text[start as usize..self.ends[k][r] as usize]
    }
}

/// Where in `bytes` (a CSV file without quotes) the byte at `at`, the first that is not
/// UTF-8, lies: its row (0 for the header), column name and cell.
fn not_utf8(bytes: &[u8], at: usize) -> Malformed {
    let line_start = memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |p| p + 1);
    let row = memchr::memchr_iter(b'\n', &bytes[..line_start]).count();
    let field = memchr::memchr_iter(b',', &bytes[line_start..at]).count();
    let header_end = memchr::memchr(b'\n', bytes).unwrap_or(bytes.len());
    let column = bytes[..header_end]
        .split(|&b| b == b',')
        .nth(field)
        .map_or_else(
            || format!("#{}", field + 1),
            |h| String::from_utf8_lossy(h).into(),
        );
    let cell_start =
        memchr::memrchr(b',', &bytes[line_start..at]).map_or(line_start, |p| line_start + p + 1);
    let cell_end = memchr::memchr2(b',', b'\n', &bytes[at..]).map_or(bytes.len(), |p| at + p);
    Malformed::NotUtf8 {
        row,
        column,
        cell: String::from_utf8_lossy(&bytes[cell_start..cell_end]).into(),
    }
}

/// `s` without surrounding white space; cells rarely have any, so the common case is
/// one look at each end.
#[inline]
fn trim(s: &str) -> &str {
    let plain = |b: u8| b > b' ' && b < 0x80;
    match s.as_bytes() {
        [first, .., last] if plain(*first) && plain(*last) => s,
        [only] if plain(*only) => s,
        _ => s.trim(),
    }
}

/// One named column of a loaded table, with the context needed for error messages.
pub struct Cells<'a> {
    file: &'a str,
    column: &'a str,
    data: CellData<'a>,
}

enum CellData<'a> {
    Text(StringChunked),
    /// Unix seconds from a typed datetime/date column.
    Seconds(Int64Chunked),
    /// Column `k` of a plain CSV file.
    Raw(&'a RawCsv, usize),
}

/// Characters a header may hold unseen: a byte order mark, zero-width spaces and joiners.
const INVISIBLE: [char; 5] = ['\u{feff}', '\u{200b}', '\u{200c}', '\u{200d}', '\u{2060}'];

/// A column name as compared for near misses: lower case, without spaces (a no-break
/// space included), underscores, hyphens, control and invisible characters.
pub fn header_key(name: &str) -> String {
    name.chars()
        .filter(|c| {
            !(c.is_whitespace() || c.is_control() || INVISIBLE.contains(c) || "_-".contains(*c))
        })
        .flat_map(char::to_lowercase)
        .collect()
}

impl<'a> Cells<'a> {
    /// Looks up `column` in `table`; `Ok(None)` when the column is absent.
    pub fn optional(table: &'a Table, file: &'a str, column: &'a str) -> Result<Option<Self>> {
        let near_miss = || {
            let key = header_key(column);
            match table.names().into_iter().find(|n| header_key(n) == key) {
                Some(found) => Err(Error::NearMissColumn {
                    file: file.into(),
                    column: column.into(),
                    found: found.into(),
                }),
                None => Ok(None),
            }
        };
        let df = match table {
            Table::Frame(df) => df,
            Table::Csv(raw) => {
                return match raw.names.iter().position(|n| n == column) {
                    Some(k) => Ok(Some(Cells {
                        file,
                        column,
                        data: CellData::Raw(raw, k),
                    })),
                    None => near_miss(),
                };
            }
        };
        let Some(col) = df
            .get_column_names()
            .into_iter()
            .find(|c| c.as_str() == column)
        else {
            return near_miss();
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
            dt if !(dt.is_primitive_numeric()
                || dt.is_bool()
                || dt.is_string()
                || dt.is_binary()
                || dt.is_null()
                || dt.is_decimal()
                || dt.is_categorical()
                || dt.is_enum()) =>
            {
                return Err(Error::Unreadable {
                    file: file.into(),
                    format: "table".into(),
                    message: format!(
                        "column '{column}' holds values of type {dt}, which changerisk \
                         does not read (expected text, numbers, true/false, dates or times \
                         in each cell)"
                    ),
                });
            }
            DataType::Binary => {
                // Bytes that are not UTF-8, named by row and value (the cast's error names
                // neither).
                let bytes = col.binary().map_err(cast_err)?;
                let bad = bytes.iter().enumerate().find_map(|(i, b)| {
                    b.filter(|b| std::str::from_utf8(b).is_err())
                        .map(|b| (i, b))
                });
                if let Some((row, b)) = bad {
                    return Err(Malformed::NotUtf8 {
                        row: row + 1,
                        column: column.into(),
                        cell: String::from_utf8_lossy(b).into(),
                    }
                    .into_error(file.into()));
                }
                let text = col.cast(&DataType::String).map_err(cast_err)?;
                CellData::Text(text.str().map_err(cast_err)?.clone())
            }
            _ => {
                let text = col.cast(&DataType::String).map_err(cast_err)?;
                CellData::Text(text.str().map_err(cast_err)?.clone())
            }
        };
        Ok(Some(Cells { file, column, data }))
    }

    /// Looks up a column that must be present.
    pub fn required(table: &'a Table, file: &'a str, column: &'a str) -> Result<Self> {
        Self::optional(table, file, column)?.ok_or_else(|| {
            let names = table.names();
            let mut present = names.join(", ");
            // One column whose name holds another separator: not a comma-separated file.
            if let [only] = names.as_slice() {
                if let Some(sep) = [';', '\t', '|'].into_iter().find(|&c| only.contains(c)) {
                    present.push_str(&format!(
                        "; the file looks {sep:?}-separated, and changerisk reads comma-separated CSV"
                    ));
                }
            }
            Error::MissingColumn {
                file: file.into(),
                column: column.into(),
                present,
            }
        })
    }

    /// The column's name.
    pub fn column(&self) -> &str {
        self.column
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        match &self.data {
            CellData::Text(ca) => ca.len(),
            CellData::Seconds(ca) => ca.len(),
            CellData::Raw(raw, _) => raw.rows,
        }
    }

    /// True when the column has no cells.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

    /// An error for an empty required cell at 0-based `index`.
    pub fn empty(&self, index: usize, expected: &str) -> Error {
        self.bad(index, "", format!("{expected} (the cell is empty)"))
    }

    /// Calls `f` with each cell in order, trimmed (`None` when empty or missing; typed
    /// dates as Unix seconds), stopping at the first error.
    pub fn visit(&self, mut f: impl FnMut(usize, Option<&str>) -> Result<()>) -> Result<()> {
        fn present(s: &str) -> Option<&str> {
            Some(trim(s)).filter(|s| !s.is_empty())
        }
        match &self.data {
            CellData::Text(ca) => {
                let mut i = 0;
                for array in ca.downcast_iter() {
                    for cell in array.iter() {
                        f(i, cell.and_then(present))?;
                        i += 1;
                    }
                }
            }
            CellData::Seconds(ca) => {
                for (i, cell) in ca.iter().enumerate() {
                    match cell {
                        None => f(i, None)?,
                        Some(v) => f(i, Some(&v.to_string()))?,
                    }
                }
            }
            CellData::Raw(raw, k) => {
                // Cell r starts after the end of the cell before it: column k - 1 in the
                // same row, or the last column of the row before.
                let ends = &raw.ends[*k];
                let before: Box<dyn Iterator<Item = u32>> = match k {
                    0 => {
                        let last = &raw.ends[raw.names.len() - 1];
                        let first = raw.data_start.wrapping_sub(1);
                        Box::new(std::iter::once(first).chain(last.iter().copied()))
                    }
                    _ => Box::new(raw.ends[*k - 1].iter().copied()),
                };
                for (r, (before, &end)) in before.zip(ends).enumerate() {
                    let start = before.wrapping_add(1) as usize;
                    f(r, present(&raw.text[start..end as usize]))?;
                }
            }
        }
        Ok(())
    }

    /// Parses every cell with `parse` into `out`; an empty or missing cell gives
    /// `missing`. A cell `parse` rejects is an error naming `expected`. Returns the index
    /// of the first empty cell, if any.
    fn parse_into<T, U>(
        &self,
        expected: &str,
        mut parse: impl FnMut(&str) -> Option<T>,
        mut put: impl FnMut(Option<T>) -> U,
        out: &mut Vec<U>,
    ) -> Result<Option<usize>> {
        // A typed date or time is not a number, a flag or a level: as Unix seconds it
        // would parse as one (`lines_changed` of 1735689600).
        if let CellData::Seconds(ca) = &self.data {
            if let Some((i, t)) = ca.iter().enumerate().find_map(|(i, t)| t.map(|t| (i, t))) {
                return Err(self.bad(
                    i,
                    &format_timestamp(t),
                    format!("{expected}, not a date or time (the column is typed as one)"),
                ));
            }
        }
        out.reserve(self.len());
        let mut first_empty = None;
        self.visit(|i, cell| {
            out.push(match cell {
                None => {
                    first_empty.get_or_insert(i);
                    put(None)
                }
                Some(s) => put(Some(parse(s).ok_or_else(|| self.bad(i, s, expected))?)),
            });
            Ok(())
        })?;
        Ok(first_empty)
    }

    /// Parses every cell with `parse`; an empty or missing cell gives `None`.
    /// A cell `parse` rejects is an error naming `expected`.
    pub fn parse_optional<T>(
        &self,
        expected: &str,
        parse: impl FnMut(&str) -> Option<T>,
    ) -> Result<Vec<Option<T>>> {
        let mut out = Vec::new();
        self.parse_into(expected, parse, |v| v, &mut out)?;
        Ok(out)
    }

    /// Parses every cell with `parse`, `missing` standing in for an empty or missing
    /// cell; also returns the index of the first such cell. A cell `parse` rejects is an
    /// error naming `expected`.
    pub fn parse_filled<T: Copy>(
        &self,
        expected: &str,
        missing: T,
        parse: impl FnMut(&str) -> Option<T>,
    ) -> Result<(Vec<T>, Option<usize>)> {
        let mut out = Vec::new();
        let first_empty = self.parse_into(expected, parse, |v| v.unwrap_or(missing), &mut out)?;
        Ok((out, first_empty))
    }

    /// Like [`Cells::parse_optional`], but a missing cell is an error (reported after
    /// any cell that does not parse).
    pub fn parse_required<T>(
        &self,
        expected: &str,
        parse: impl FnMut(&str) -> Option<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        match self.parse_into(expected, parse, |v| v, &mut out)? {
            Some(i) => Err(self.empty(i, expected)),
            None => Ok(out.into_iter().flatten().collect()),
        }
    }

    /// Timestamps as Unix seconds; typed datetime columns are taken as they are. A time
    /// outside [`EARLIEST_TIME`]..[`LATEST_TIME`] is an error: a placeholder for a
    /// missing time, not a time.
    pub fn timestamps(
        &self,
        expected: &str,
        parse: impl Fn(&str) -> Option<i64>,
    ) -> Result<Vec<Option<i64>>> {
        let times = match &self.data {
            CellData::Seconds(ca) => ca.iter().collect(),
            _ => self.parse_optional(expected, parse)?,
        };
        let outside = |t: &Option<i64>| t.is_some_and(|t| !is_real_time(t));
        if let Some(i) = times.iter().position(outside) {
            let value = match &self.data {
                CellData::Seconds(_) => times[i].map(format_timestamp),
                _ => self.text().swap_remove(i),
            };
            return Err(self.bad(
                i,
                &value.unwrap_or_default(),
                format!(
                    "a time from {} to before {} (an earlier or later one is taken for a placeholder of a missing time, such as 0001-01-01)",
                    format_timestamp(EARLIEST_TIME),
                    format_timestamp(LATEST_TIME)
                ),
            ));
        }
        Ok(times)
    }

    /// The raw text of every cell (missing cells as `None`).
    pub fn text(&self) -> Vec<Option<String>> {
        let mut out = Vec::with_capacity(self.len());
        let _ = self.visit(|_, cell| {
            out.push(cell.map(String::from));
            Ok(())
        });
        out
    }
}

/// Parses a count: a non-negative integer, also written as a float with no fraction
/// (`3.0`, as typed exports write them).
pub fn parse_count(s: &str) -> Option<u64> {
    if let Ok(v) = s.parse::<u64>() {
        return (v < COUNT_LIMIT).then_some(v);
    }
    let v: f64 = s.parse().ok()?;
    (v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < COUNT_LIMIT as f64).then_some(v as u64)
}

/// Counts are below this (9e15, where `f64` still holds every integer exactly).
pub const COUNT_LIMIT: u64 = 9_000_000_000_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sink_appends_batches_as_one_table_and_refuses_other_columns() {
        let batch = |ids: &[&str], note: Option<&str>| {
            let note = match note {
                Some(v) => Series::new("note".into(), vec![v; ids.len()]).into_column(),
                None => Column::full_null("note".into(), ids.len(), &DataType::Null),
            };
            DataFrame::new(
                ids.len(),
                vec![Series::new("id".into(), ids.to_vec()).into_column(), note],
            )
            .unwrap()
        };
        let mut bytes = Vec::new();
        let mut sink = TableSink::new(Format::Parquet, "one.parquet", &mut bytes).unwrap();
        sink.push(batch(&["a", "b"], Some("x")), "p0").unwrap();
        // A part where no row has the note: nulls of the first part's type.
        sink.push(batch(&["c"], None), "p1").unwrap();
        let other = DataFrame::new(1, vec![Series::new("id".into(), [1i64]).into_column()]);
        let e = sink.push(other.unwrap(), "p2").unwrap_err().to_string();
        assert!(
            e.contains("p2") && e.contains("differ from the first part's"),
            "{e}"
        );
        sink.finish().unwrap();
        let back = ParquetReader::new(std::io::Cursor::new(bytes))
            .finish()
            .unwrap();
        assert_eq!(back.height(), 3);
        assert_eq!(back.column("note").unwrap().dtype(), &DataType::String);
        assert_eq!(back.column("note").unwrap().null_count(), 1);

        let mut text = Vec::new();
        let mut sink = TableSink::new(Format::Csv, "one.csv", &mut text).unwrap();
        sink.push(batch(&["a"], Some("x")), "p0").unwrap();
        sink.push(batch(&["b"], None), "p1").unwrap();
        sink.finish().unwrap();
        assert_eq!(String::from_utf8(text).unwrap(), "id,note\na,x\nb,\n");
        let mut ipc = Vec::new();
        assert!(TableSink::new(Format::Ipc, "one.arrow", &mut ipc).is_err());
    }

    #[test]
    fn pass_through_names_stay_apart_from_the_outputs_in_any_case() {
        let column = |name: &str| Series::new(name.into(), [1i64]).into_column();
        let passthrough = DataFrame::new(
            1,
            ["Risk", "risk", "input_risk", "feature_x", "team"]
                .iter()
                .map(|n| column(n))
                .collect(),
        )
        .unwrap();
        let names = passthrough_names(["change_id", "risk"], &passthrough, |n| {
            n.starts_with("feature_")
        });
        assert_eq!(
            names,
            [
                "input_input_Risk",
                "input_input_input_risk",
                "input_risk",
                "input_feature_x",
                "team"
            ]
        );
    }

    #[test]
    fn a_json_array_is_refused_as_not_json_lines() {
        for text in [
            "[{\"change_id\":\"a\"}]",
            "  [\n  {\"a\": 1},\n {\"a\": 2}\n]\n",
            "\u{feff}[{\"a\": 1}]",
        ] {
            let err = refuse_not_text(text.as_bytes(), "stdin")
                .unwrap_err()
                .to_string();
            assert!(err.contains("JSON array") && err.contains("jq -c"), "{err}");
        }
        // A header that starts with a bracket is a header.
        assert!(refuse_not_text(b"[id],when\n1,2\n", "f.csv").is_ok());
    }

    #[test]
    fn only_whole_marks_name_what_is_not_a_table() {
        // A header may start with bzip2's three letters.
        assert_eq!(not_a_table(b"BZh_id,service\nc1,api\n"), None);
        let bz = b"BZh91AY&SY\x00\x01";
        assert!(not_a_table(bz).is_some_and(|w| w.starts_with("bzip2")));
        assert!(not_a_table(b"PAR1\x15\x04").is_some_and(|w| w.contains(".parquet")));
        assert_eq!(not_a_table(b"change_id,timestamp\n"), None);
    }

    #[test]
    fn arrow_files_hold_plain_strings_for_older_readers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.arrow");
        let mut df = df!("s" => ["a", "b"], "n" => [1i64, 2]).unwrap();
        write_table(&path, &mut df).unwrap();
        let mut reader = IpcReader::new(File::open(&path).unwrap());
        let schema = reader.schema().unwrap();
        let dtype = &schema.get("s").unwrap().dtype;
        assert_eq!(*dtype, ArrowDataType::LargeUtf8);
        assert!(reader.finish().unwrap().equals(&df));
    }

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
    fn content_names_the_format_of_an_input_without_extension() {
        let sniff = |b: &[u8]| Format::sniff(b, "in").unwrap();
        assert_eq!(sniff(b"PAR1\x15\x04"), Format::Parquet);
        assert_eq!(sniff(b"ARROW1\0\0"), Format::Ipc);
        assert_eq!(sniff(b"\xEF\xBB\xBF \n{\"a\": 1}\n"), Format::JsonLines);
        assert_eq!(sniff(b"change_id,timestamp\n"), Format::Csv);
        // A quoted CSV header that holds a brace, and an empty input.
        assert_eq!(sniff(b"\"{odd}\",x\n"), Format::Csv);
        assert_eq!(sniff(b""), Format::Csv);
        // Bytes known not to be a table are refused by name, not parsed as CSV.
        for (bytes, named) in [
            (&b"\x1F\x8B\x08\0"[..], "gzip"),
            (b"\x28\xB5\x2F\xFD\0", "zstd"),
            (b"PK\x03\x04", "zip"),
            (b"\xFF\xFF\xFF\xFF\x10\0", "Arrow IPC stream"),
            (b"FEA1\0", "Feather v1"),
            (b"\xFF\xFEc\0h\0", "UTF-16"),
            (b"c\0h\0g\0", "NUL bytes"),
            (b"\x7FELF\x02\x01\x01\0", "NUL bytes"),
        ] {
            let message = Format::sniff(bytes, "in").unwrap_err().to_string();
            assert!(
                message.starts_with("in: ") && message.contains(named),
                "{message}"
            );
        }
    }

    /// `text` read by [`read_csv`], with the whole file at hand.
    fn quoted(text: &str) -> Result<DataFrame> {
        quoted_bytes(text.as_bytes(), usize::MAX)
    }

    /// `bytes` checked by [`Shape`] in chunks of `chunk` bytes, then read whole and in
    /// parts of one row each, which must agree.
    fn quoted_bytes(bytes: &[u8], chunk: usize) -> Result<DataFrame> {
        let mut shape = Shape::in_parts(1);
        shape.part_bytes = 1;
        let starts = bytes
            .chunks(chunk.min(bytes.len()).max(1))
            .try_for_each(|c| shape.feed(c))
            .and_then(|()| shape.finish())
            .map_err(|m| m.into_error("f.csv".into()))?;
        let whole = read_csv(bytes, "f.csv");
        let parts = read_csv_in_parts(bytes, &starts, "f.csv");
        match (&whole, &parts) {
            (Ok(a), Ok(b)) => {
                assert!(a.equals_missing(b));
                if a.height() > 0 {
                    assert_eq!(starts.len(), a.height());
                }
            }
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            _ => panic!("{whole:?} {parts:?}"),
        }
        whole
    }

    fn message(text: &str) -> String {
        quoted(text).unwrap_err().to_string()
    }

    #[test]
    fn quoted_csv_reads_cells_as_written() {
        let df = quoted(
            "\u{feff}id,note,n,,\r\n\"a\",\"one, two\",1,x,y\r\nb,\"line\nbreak \"\"q\"\"\",,x,y\r\n\n\n",
        )
        .unwrap();
        let names: Vec<&str> = df.get_column_names().iter().map(|c| c.as_str()).collect();
        assert_eq!(names, ["id", "note", "n", "", "_duplicated_0"]);
        let note = df.column("note").unwrap().str().unwrap();
        assert_eq!(note.get(0), Some("one, two"));
        assert_eq!(note.get(1), Some("line\nbreak \"q\""));
        // Empty cells are missing, as on the plain path.
        assert_eq!(df.column("n").unwrap().str().unwrap().get(1), None);
        assert_eq!(df.height(), 2);
    }

    #[test]
    fn quoted_csv_errors_name_the_row() {
        let head = "id,note,n\n\"a\",\"two\nlines\",1\n";
        // Row numbers count records, not lines: the quoted line break is inside row 1.
        assert_eq!(
            message(&format!("{head}b,x\n")),
            "f.csv row 2: 2 field(s) where the header has 3 (a missing or extra comma, or a blank line?)"
        );
        assert!(message(&format!("{head}b,x,1,2\n")).starts_with("f.csv row 2: 4 field(s)"));
        assert!(message(&format!("{head}\nb,x,1\n"))
            .ends_with("row 2 is a blank line between rows (blank lines are allowed only at the end; in a one-column file write a missing value as \"\")"));
        assert!(message(&format!("{head}b,\"x,1\nc,y,2\n"))
            .contains("row 2: a quote opened in this row is not closed"));
        // A quote left open in the last column would swallow the rest of the file.
        assert!(message(&format!("{head}b,x,\"1\nc,y,2\n"))
            .contains("row 2: a quote opened in this row is not closed"));
        assert_eq!(
            message("id,\"id\"\n1,2\n"),
            "f.csv: cannot read as CSV: the header names column 'id' twice (columns 1 and 2)"
        );
        let bytes = [head.as_bytes(), b"b,\"x\xff\",1\n"].concat();
        let err = quoted_bytes(&bytes, usize::MAX).unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.csv row 2, column 'note': \"x\u{fffd}\" is not UTF-8 text (save the file as UTF-8)"
        );
        // A quote left open where the next row quotes the same column: the reader alone
        // would merge the two rows into one of the right width.
        assert!(message(&format!("{head}b,\"x,1\nc,\"y\",2\n"))
            .contains("row 2: a quote opened in this row is not closed"));
        assert!(message(&format!("{head}b,\"x\"y,1\n"))
            .ends_with("row 2, column 'note': text after the closing quote of a quoted cell (a quote inside a quoted cell is written twice: \"\")"));
        // The header's quotes are checked too.
        assert!(message("id,note,\"n\n\"a\",x,1\n")
            .contains("the header: a quote opened in this row is not closed"));
        assert!(message("id,note,\"n\na,x,1\n")
            .contains("the header: a quote opened in this row is not closed"));
        // Blank lines between rows, whatever the line ends: a lone CR, or a CR alone on
        // a line of a CRLF file.
        for text in [
            "id,n\r\"a\",1\r\rb,2\r".to_string(),
            "id,n\r\n\"a\",1\r\n\r\r\nb,2\r\n".to_string(),
        ] {
            assert!(message(&text).contains("row 2 is a blank line"), "{text:?}");
        }
        // A byte order mark starts the file, not the first name: its quotes count, and a
        // cell of a later row starting with U+FEFF keeps it, read whole or in parts.
        let df = quoted("\u{feff}\"a, b\",c\n\u{feff}x,1\n\u{feff}\"y,2\n").unwrap();
        let names: Vec<&str> = df.get_column_names().iter().map(|c| c.as_str()).collect();
        assert_eq!(names, ["a, b", "c"]);
        let first = df.column("a, b").unwrap().str().unwrap();
        assert_eq!(first.get(0), Some("\u{feff}x"));
        assert_eq!(first.get(1), Some("\u{feff}\"y"));
        assert!(message("\u{feff}\"id,n\nx,1\n")
            .contains("the header: a quote opened in this row is not closed"));
        assert!(message("\u{feff}\"id\"x,n\n1,2\n").contains("the header, column '#1'"));
        // A quote inside a cell that does not start with one is text, in any row.
        for text in [
            format!("{head}b,x\"y,1"),
            format!("{head}b,x\"y,1\n\n"),
            format!("{head}b,x\"y,1\nc,z,2\n"),
        ] {
            let df = quoted(&text).unwrap();
            assert_eq!(
                df.column("note").unwrap().str().unwrap().get(1),
                Some("x\"y")
            );
        }
        // Fed in chunks (a file too big to hold), every check gives the same answer.
        for text in [
            format!("{head}b,x\n"),
            format!("{head}\r\r\nb,x,1\n"),
            format!("{head}b,\"x,1\nc,\"y\",2\n"),
            format!("{head}b,\"x\"y,1\n"),
        ] {
            let whole = message(&text);
            for chunk in [1, 2, 3, 7] {
                assert_eq!(
                    quoted_bytes(text.as_bytes(), chunk)
                        .unwrap_err()
                        .to_string(),
                    whole
                );
            }
        }
    }

    /// Checks `bytes` in chunks of `chunk` bytes noting every row start: the rows (or
    /// the error) and the number of data rows the check counted.
    fn shape_of(bytes: &[u8], chunk: usize) -> std::result::Result<Vec<(usize, usize)>, Malformed> {
        let mut shape = Shape::in_parts(1);
        shape.part_bytes = 1;
        bytes
            .chunks(chunk.max(1))
            .try_for_each(|c| shape.feed(c))
            .and_then(|()| shape.finish())
    }

    proptest::proptest! {
        /// What the `csv` crate writes (quoting as needed, LF or CRLF) reads back cell for
        /// cell, whole or in parts, however the bytes are chunked.
        #[test]
        fn written_csv_reads_back(
            rows in proptest::collection::vec(
                proptest::collection::vec("[a ,\"\n\r\u{e9}]{0,4}", 3),
                1..12,
            ),
            crlf in proptest::bool::ANY,
            chunk in 1usize..9,
        ) {
            let mut w = csv::WriterBuilder::new()
                .terminator(if crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') })
                .from_writer(Vec::new());
            w.write_record(["a", "b \"c\"", "d,e"]).unwrap();
            for row in &rows {
                w.write_record(row).unwrap();
            }
            let bytes = w.into_inner().unwrap();
            let starts = shape_of(&bytes, chunk).unwrap();
            proptest::prop_assert_eq!(starts.len(), rows.len());
            let df = read_csv_in_parts(&bytes, &starts, "f.csv").unwrap();
            proptest::prop_assert!(df.equals_missing(&read_csv(&bytes[..], "f.csv").unwrap()));
            let names: Vec<&str> = df.get_column_names().iter().map(|c| c.as_str()).collect();
            proptest::prop_assert_eq!(names, ["a", "b \"c\"", "d,e"]);
            for (k, column) in df.columns().iter().enumerate() {
                let cells: Vec<Option<&str>> = column.str().unwrap().iter().collect();
                let want: Vec<Option<&str>> = rows
                    .iter()
                    .map(|r| Some(r[k].as_str()).filter(|c| !c.is_empty()))
                    .collect();
                proptest::prop_assert_eq!(cells, want);
            }
        }

        /// On any text, the check and the reader agree: when the check passes, the
        /// reader finds the same rows, each with the header's number of fields, and
        /// reading in parts gives what one pass gives. Nothing panics.
        #[test]
        fn the_check_and_the_reader_agree(text in "[a,\"\n\r\u{feff}]{0,60}", chunk in 1usize..9) {
            let bytes = text.as_bytes();
            let whole = shape_of(bytes, usize::MAX);
            proptest::prop_assert_eq!(&shape_of(bytes, chunk), &whole);
            if let Ok(starts) = whole {
                match read_csv(bytes, "f.csv") {
                    Ok(df) => {
                        proptest::prop_assert_eq!(df.height(), starts.len());
                        let parts = read_csv_in_parts(bytes, &starts, "f.csv").unwrap();
                        proptest::prop_assert!(df.equals_missing(&parts));
                    }
                    // The header may name a column twice, or there may be no header.
                    Err(e) => proptest::prop_assert!(
                        matches!(e, Error::Unreadable { .. } | Error::EmptyTable { .. }),
                        "{e}"
                    ),
                }
            }
        }
    }

    #[test]
    fn counts_accept_integral_floats_only() {
        assert_eq!(parse_count("12"), Some(12));
        assert_eq!(parse_count("3.0"), Some(3));
        assert_eq!(parse_count("-1"), None);
        assert_eq!(parse_count("2.5"), None);
        assert_eq!(parse_count("many"), None);
        // Beyond what a float holds exactly: no count of a change is that large.
        assert_eq!(parse_count("9223372036854775807"), None);
        assert_eq!(parse_count("8999999999999999"), Some(8_999_999_999_999_999));
    }
}
