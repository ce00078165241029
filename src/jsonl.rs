//! JSON Lines read by changerisk itself, as CSV is: one JSON object per row, every
//! value a single one (text, a number, `true`/`false` or `null`), read as the text it is
//! written as, so that validation (not type inference on the first rows) decides what
//! a value means and can name its row. A value that is an object or a list, a key
//! repeated in an object, and text that is not JSON (`NaN`, a cut-off last line) are
//! errors naming the row and line (for a value or a key: the line where the row's
//! object starts, and the key). Objects may span lines (pretty-printed); the
//! columns are every key any object has, in order of first appearance, and a key an
//! object lacks is a missing value there, as is `null` or the empty string.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use polars::prelude::*;
use rayon::prelude::*;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::{Error, Result};

/// Reads the JSON Lines text `bytes` of `file` into text columns.
pub fn read(bytes: &[u8], file: &str) -> Result<DataFrame> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let parts = split(bytes, 4 * rayon::current_num_threads());
    let tables: Vec<std::result::Result<Part, Problem>> =
        parts.par_iter().map(|part| Part::read(part)).collect();
    let tables = match tables
        .into_iter()
        .collect::<std::result::Result<Vec<_>, _>>()
    {
        Ok(tables) => tables,
        // Read again in one pass: the first problem in file order, with its row and
        // line counted from the start (a split can also fall inside a pretty-printed
        // object, which only a single pass reads whole).
        Err(_) => vec![Part::read(bytes).map_err(|p| p.into_error(bytes, file))?],
    };
    let rows: usize = tables.iter().map(|t| t.rows).sum();
    if rows == 0 {
        return Err(Error::EmptyTable {
            file: file.into(),
            what: "the file holds no JSON object (expected one object per line)".into(),
        });
    }
    frame(tables, rows, file)
}

/// `bytes` cut into about `parts` pieces, each cut just before a line that starts with
/// `{` (inside JSON text a line end is always escaped, so a cut never falls in a string).
fn split(bytes: &[u8], parts: usize) -> Vec<&[u8]> {
    const MIN_PART: usize = 1 << 20;
    let step = (bytes.len() / parts.max(1)).max(MIN_PART);
    let mut out = Vec::new();
    let mut start = 0;
    while bytes.len() - start > step {
        let from = start + step;
        let Some(cut) = bytes[from..]
            .windows(2)
            .position(|w| w == b"\n{")
            .map(|k| from + k + 1)
        else {
            break;
        };
        out.push(&bytes[start..cut]);
        start = cut;
    }
    out.push(&bytes[start..]);
    out
}

/// The columns of one piece of the file.
struct Part {
    names: Vec<String>,
    index: HashMap<String, usize>,
    columns: Vec<StringChunkedBuilder>,
    /// Per column, the last row (1-based within the part) that set it.
    set_in: Vec<usize>,
    rows: usize,
}

/// What went wrong, where (byte offset into the text read; row 1-based within it).
#[derive(Debug)]
enum Problem {
    /// Not JSON, or not an object per row; serde's message.
    Syntax {
        row: usize,
        offset: usize,
        message: String,
    },
    /// A value that is not a single one.
    Nested {
        row: usize,
        offset: usize,
        key: String,
        value: String,
    },
    Repeated {
        row: usize,
        offset: usize,
        key: String,
    },
}

impl Problem {
    fn into_error(self, bytes: &[u8], file: &str) -> Error {
        let line = |offset: usize| {
            1 + bytes[..offset.min(bytes.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
        };
        match self {
            Problem::Syntax {
                row,
                offset,
                message,
            } => {
                let rest = &bytes[offset.min(bytes.len())..];
                let hint = if [&b"NaN"[..], b"Infinity", b"-Infinity"]
                    .iter()
                    .any(|t| rest.trim_ascii_start().starts_with(t))
                {
                    " (NaN and Infinity are not JSON: write a missing value as null)"
                } else {
                    ""
                };
                Error::Unreadable {
                    file: file.into(),
                    format: "JSON Lines".into(),
                    message: format!("row {row} (line {}): {message}{hint}", line(offset)),
                }
            }
            Problem::Nested {
                row,
                offset,
                key,
                value,
            } => {
                let what = if value.starts_with('{') {
                    "an object"
                } else {
                    "a list"
                };
                let mut shown: String = value.chars().take(60).collect();
                if shown.len() < value.len() {
                    shown.push_str("...");
                }
                Error::BadValue {
                    file: file.into(),
                    row,
                    column: key,
                    value: shown,
                    expected: format!(
                        "a single value (text, a number, true/false or null) but {what} \
                         (line {})",
                        line(offset)
                    ),
                }
            }
            Problem::Repeated { row, offset, key } => Error::Unreadable {
                file: file.into(),
                format: "JSON Lines".into(),
                message: format!(
                    "row {row} (line {}): the object has key '{key}' twice (which value is \
                     meant would be a guess)",
                    line(offset)
                ),
            },
        }
    }
}

impl Part {
    fn read(bytes: &[u8]) -> std::result::Result<Part, Problem> {
        let mut part = Part {
            names: Vec::new(),
            index: HashMap::new(),
            columns: Vec::new(),
            set_in: Vec::new(),
            rows: 0,
        };
        // Each row's object as raw text first (which also finds where it ends), then
        // its values read into the columns.
        let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<&RawValue>();
        loop {
            let end = stream.byte_offset();
            let start = skip_space(bytes, end);
            let raw = match stream.next() {
                None => break,
                Some(Err(e)) => {
                    // The line is named from the offset, as for every problem.
                    let message = e.to_string();
                    let message = without_position(&message);
                    // Text on the line of the row before, after its object: that row's.
                    let trailing = part.rows > 0 && !bytes[end..start].contains(&b'\n');
                    let offset = offset_of(bytes, &e).unwrap_or(start);
                    // An object cut off at its line's end is found wanting lines later.
                    let lines = |to: usize| {
                        bytes[..to.min(bytes.len())]
                            .iter()
                            .filter(|&&b| b == b'\n')
                            .count()
                    };
                    let opened = if !trailing && lines(offset) > lines(start) {
                        format!(" (the row's object starts on line {})", 1 + lines(start))
                    } else {
                        String::new()
                    };
                    return Err(Problem::Syntax {
                        row: part.rows + usize::from(!trailing),
                        offset,
                        message: if trailing {
                            format!("text after the row's object ({message}); JSON Lines holds one object per line")
                        } else {
                            format!("{message}{opened}")
                        },
                    });
                }
                Some(Ok(raw)) => raw.get(),
            };
            part.rows += 1;
            let row = part.rows;
            let at = raw.as_ptr() as usize - bytes.as_ptr() as usize;
            let mut problem = None;
            let seed = RowSeed {
                part: &mut part,
                start: at,
                problem: &mut problem,
            };
            let parsed = seed.deserialize(&mut serde_json::Deserializer::from_str(raw));
            if let Some(problem) = problem {
                return Err(problem);
            }
            if let Err(e) = parsed {
                // serde's position is inside the object: the line is worked out here.
                let message = e.to_string();
                return Err(Problem::Syntax {
                    row,
                    offset: at + offset_of(raw.as_bytes(), &e).unwrap_or(0),
                    message: without_position(&message).into(),
                });
            }
            // A missing value where this row has no such key.
            for (column, set) in part.columns.iter_mut().zip(&part.set_in) {
                if *set != row {
                    column.append_null();
                }
            }
        }
        Ok(part)
    }

    fn column(&mut self, key: &str) -> usize {
        if let Some(&k) = self.index.get(key) {
            return k;
        }
        let mut column = StringChunkedBuilder::new(key.into(), 1024);
        for _ in 1..self.rows {
            column.append_null();
        }
        self.names.push(key.into());
        self.index.insert(key.into(), self.columns.len());
        self.columns.push(column);
        self.set_in.push(0);
        self.columns.len() - 1
    }
}

/// serde_json's message without the " at line L column C" it ends with.
fn without_position(message: &str) -> &str {
    message.rsplit_once(" at line ").map_or(message, |(m, _)| m)
}

/// The first offset at or after `at` that is not JSON whitespace.
fn skip_space(bytes: &[u8], at: usize) -> usize {
    at + bytes[at..]
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .count()
}

/// The byte offset of serde_json's error position (line and column, 1-based).
fn offset_of(bytes: &[u8], e: &serde_json::Error) -> Option<usize> {
    if e.line() == 0 {
        return None;
    }
    let line_start = if e.line() == 1 {
        0
    } else {
        bytes
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .nth(e.line() - 2)
            .map(|(k, _)| k + 1)?
    };
    Some(line_start + e.column().saturating_sub(1))
}

/// Reads one row's object into the part's columns.
struct RowSeed<'p> {
    part: &'p mut Part,
    /// Where the row's object starts in the text.
    start: usize,
    problem: &'p mut Option<Problem>,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object (one per line)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let row = self.part.rows;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value: &'de RawValue = map.next_value()?;
            let k = self.part.column(&key);
            if self.part.set_in[k] == row {
                *self.problem = Some(Problem::Repeated {
                    row,
                    offset: self.start,
                    key: key.into_owned(),
                });
                return Err(de::Error::custom("a repeated key"));
            }
            self.part.set_in[k] = row;
            let raw = value.get();
            let column = &mut self.part.columns[k];
            match raw.as_bytes()[0] {
                b'"' if raw.len() == 2 => column.append_null(),
                b'"' if !raw.contains('\\') => column.append_value(&raw[1..raw.len() - 1]),
                b'"' => {
                    let text: String = match serde_json::from_str(raw) {
                        Ok(text) => text,
                        Err(e) => {
                            // serde's message, without its position inside the value.
                            let message = e.to_string();
                            let message = without_position(&message);
                            *self.problem = Some(Problem::Syntax {
                                row,
                                offset: self.start,
                                message: format!(
                                    "the value of '{key}' is not JSON text: {message} (a \\u \
                                     escape must name a character; a lone surrogate such as \
                                     \\ud800 names none)"
                                ),
                            });
                            return Err(de::Error::custom("bad text"));
                        }
                    };
                    if text.is_empty() {
                        column.append_null();
                    } else {
                        column.append_value(&text);
                    }
                }
                b'n' => column.append_null(),
                b'{' | b'[' => {
                    *self.problem = Some(Problem::Nested {
                        row,
                        offset: self.start,
                        key: key.into_owned(),
                        value: raw.into(),
                    });
                    return Err(de::Error::custom("a nested value"));
                }
                // A number or true/false, as written.
                _ => column.append_value(raw),
            }
        }
        Ok(())
    }
}

/// A key, borrowed from the text unless it holds escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> std::result::Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
        Ok(Cow::Owned(v.into()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// The parts' columns joined in file order, every key of any part in order of first
/// appearance, missing values where a part lacks a key.
fn frame(parts: Vec<Part>, rows: usize, file: &str) -> Result<DataFrame> {
    let mut names: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for part in &parts {
        for name in &part.names {
            if seen.insert(name.as_str()) {
                names.push(name.clone());
            }
        }
    }
    let mut finished: Vec<(HashMap<String, StringChunked>, usize)> = parts
        .into_iter()
        .map(|p| {
            let rows = p.rows;
            let columns = p
                .names
                .into_iter()
                .zip(p.columns)
                .map(|(n, c)| (n, c.finish()))
                .collect();
            (columns, rows)
        })
        .collect();
    let failed = |e: PolarsError| Error::Unreadable {
        file: file.into(),
        format: "JSON Lines".into(),
        message: e.to_string(),
    };
    let mut columns = Vec::with_capacity(names.len());
    for name in &names {
        let mut joined: Option<StringChunked> = None;
        for (part, part_rows) in finished.iter_mut() {
            let piece = part
                .remove(name)
                .unwrap_or_else(|| StringChunked::full_null(name.as_str().into(), *part_rows));
            match joined.as_mut() {
                None => joined = Some(piece),
                Some(j) => {
                    j.append(&piece).map_err(failed)?;
                }
            }
        }
        columns.push(joined.expect("at least one part").into_column());
    }
    refuse_respelled_keys(&columns, file)?;
    DataFrame::new(rows, columns).map_err(failed)
}

/// Refuses a key spelled two ways (differing in case, spaces, underscores, hyphens or
/// invisible characters, as [`crate::table::header_key`] compares them) that no row uses
/// both ways: one column spelled differently in some rows. Taken as two columns, the
/// rows with the other spelling would silently lose the value (an optional column's
/// default instead).
fn refuse_respelled_keys(columns: &[Column], file: &str) -> Result<()> {
    let mut by_key: HashMap<String, usize> = HashMap::new();
    for (k, column) in columns.iter().enumerate() {
        let first = *by_key
            .entry(crate::table::header_key(column.name()))
            .or_insert(k);
        if first == k {
            continue;
        }
        let (a, b) = (&columns[first], column);
        let both = a.is_not_null() & b.is_not_null();
        if both.any() {
            continue;
        }
        if let Some(row) = b.is_not_null().iter().position(|v| v == Some(true)) {
            return Err(Error::Data(format!(
                "{file} row {}: the key '{}' is spelled '{}' in other rows; a column has one \
                 spelling in every row",
                row + 1,
                b.name(),
                a.name()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(df: &DataFrame, column: &str) -> Vec<Option<String>> {
        df.column(column)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|v| v.map(String::from))
            .collect()
    }

    #[test]
    fn values_are_read_as_written_and_missing_keys_are_missing() {
        let text = "\u{feff}{\"a\": \"x\", \"b\": 1.50, \"c\": true}\n\n{\"b\": -3, \"a\": null, \"d\": \"q\\\"\"}\r\n{\"a\": \"\", \"c\": 1e400}";
        let df = read(text.as_bytes(), "f.jsonl").unwrap();
        assert_eq!(df.height(), 3);
        let names: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
        assert_eq!(texts(&df, "a"), [Some("x".into()), None, None]);
        assert_eq!(
            texts(&df, "b"),
            [Some("1.50".into()), Some("-3".into()), None]
        );
        assert_eq!(
            texts(&df, "c"),
            [Some("true".into()), None, Some("1e400".into())]
        );
        assert_eq!(texts(&df, "d"), [None, Some("q\"".into()), None]);
    }

    #[test]
    fn a_key_spelled_another_way_in_some_rows_is_refused() {
        let text =
            "{\"rollback_plan\": \"true\", \"n\": 1}\n{\"n\": 2, \"Rollback_Plan\": \"true\"}\n";
        let message = read(text.as_bytes(), "f.jsonl").unwrap_err().to_string();
        assert!(
            message
                .starts_with("f.jsonl row 2: the key 'Rollback_Plan' is spelled 'rollback_plan'"),
            "{message}"
        );
        let spaced = "{\"n \": 1, \"m\": 0}\n{\"n\": 2}\n";
        assert!(read(spaced.as_bytes(), "f.jsonl").is_err());
        // Both spellings in one row are two columns; a spelling only ever null is no value.
        let both = "{\"a\": 1, \"A\": 2}\n{\"a\": 3}\n{\"A\": null, \"a\": 4}\n";
        let df = read(both.as_bytes(), "f.jsonl").unwrap();
        assert_eq!(df.width(), 2);
        let null_only = "{\"a\": 1}\n{\"A\": null, \"a\": 4}\n";
        assert!(read(null_only.as_bytes(), "f.jsonl").is_ok());
    }

    #[test]
    fn a_pretty_printed_object_spans_lines() {
        let text = "{\n  \"a\": 1,\n  \"b\": \"y\"\n}\n{\n  \"a\": 2\n}\n";
        let df = read(text.as_bytes(), "f.jsonl").unwrap();
        assert_eq!(texts(&df, "a"), [Some("1".into()), Some("2".into())]);
        assert_eq!(texts(&df, "b"), [Some("y".into()), None]);
    }

    #[test]
    fn parts_read_in_parallel_equal_one_pass() {
        let mut text = String::new();
        for i in 0..60_000 {
            // A key that appears only late, and one only early.
            let extra = if i > 50_000 {
                ", \"late\": \"l\""
            } else if i < 3 {
                ", \"early\": 0"
            } else {
                ""
            };
            text.push_str(&format!("{{\"id\": \"c{i}\", \"n\": {i}{extra}}}\n"));
        }
        assert!(split(text.as_bytes(), 8).len() > 1);
        let whole = Part::read(text.as_bytes()).unwrap();
        let df = read(text.as_bytes(), "f.jsonl").unwrap();
        assert_eq!(df.height(), whole.rows);
        assert_eq!(texts(&df, "n")[59_999], Some("59999".into()));
        assert_eq!(texts(&df, "late")[50_001], Some("l".into()));
        assert_eq!(texts(&df, "late")[50_000], None);
        assert_eq!(texts(&df, "early")[2], Some("0".into()));
        assert_eq!(texts(&df, "early")[3], None);
    }

    #[test]
    fn bad_rows_are_named_by_row_line_and_key() {
        let deep = format!("{{\"a\": 1, \"x\": {}}}\n", "[".repeat(100_000));
        let cases: [(&str, &[&str]); 11] = [
            // Text after row 2's object, on its line: row 2's problem, not a row 3.
            (
                "{\"a\": 1}\n{\"a\": 2} x\n{\"a\": 3}\n",
                &[
                    "row 2 (line 2): text after the row's object",
                    "one object per line",
                ],
            ),
            (
                "{\"a\": \"x\"}\n{\"a\": \"y\"}\n{\"a\": {\"name\": \"z\"}}\n",
                &["f.jsonl row 3, column 'a'", "an object"],
            ),
            (
                "{\"a\": 1}\n{\"a\": [1, 2]}\n",
                &["row 2, column 'a'", "a list (line 2)"],
            ),
            (
                "{\"a\": 1, \"b\": 2, \"a\": 3}\n",
                &["row 1 (line 1)", "key 'a' twice"],
            ),
            (
                "{\"a\": 1}\n{\"a\": NaN}\n",
                &["row 2 (line 2)", "NaN and Infinity are not JSON"],
            ),
            // Cut off: found at the end of the text, named where the row starts.
            (
                "{\"a\": 1}\n{\"a\": 2\n",
                &["row 2", "the row's object starts on line 2"],
            ),
            (
                "{\"a\": 1}\n{\n \"a\": \"x\\ud800\"\n}\n",
                &["row 2 (line 2): the value of 'a' is not JSON text"],
            ),
            ("[{\"a\": 1}]\n", &["row 1 (line 1)", "JSON object"]),
            // A row that is not an object, on line 4: its line, not serde's in the row.
            ("{\"a\": 1}\n\n{\"a\": 2}\n1\n", &["row 3 (line 4)"]),
            ("\n \n", &["no JSON object"]),
            (&deep, &["row 1"]),
        ];
        for (text, needles) in cases {
            let e = read(text.as_bytes(), "f.jsonl").unwrap_err().to_string();
            assert!(
                needles.iter().all(|n| e.contains(n)) && !e.contains("at line"),
                "{e}"
            );
        }
    }
}
