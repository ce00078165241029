//! Partitioned tables: a directory of table files, as Spark, Hive, DuckDB and polars
//! write them (`changes/day=2026-01-01/part-0.parquet`, `changes.parquet/part-*.parquet`),
//! read one part at a time.
//!
//! The parts are every file under the directory, in order of their path (byte order),
//! each read by its own extension as a single file is. Names starting with `.`, or with
//! `_` and holding no `=`, are skipped, as every writer of such tables marks its
//! bookkeeping (`_SUCCESS`, `_committed_*`, `.part-0.parquet.crc`) and as Spark skips
//! them; any other file that names no table format is an error rather than data
//! silently left out. A directory level named `key=value` (Hive
//! partitioning) gives every row below it the text column `key` with that value
//! (percent-decoded; `__HIVE_DEFAULT_PARTITION__` is a missing value) when the part has no
//! column of that name.

use std::path::{Path, PathBuf};

use polars::prelude::{Column as PlColumn, DataFrame, NamedFrom, Series};

use crate::error::{Error, Result};
use crate::table::{Format, Table};

/// The value Hive, Spark and DuckDB write for a partition whose key is missing.
const HIVE_NULL: &str = "__HIVE_DEFAULT_PARTITION__";

/// One file of a partitioned table.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// The file.
    pub path: PathBuf,
    /// Its path below the table's directory.
    pub relative: PathBuf,
    /// The `key=value` directory levels above it, outermost first.
    pub keys: Vec<(String, Option<String>)>,
}

/// True when `path` names a partitioned table (a directory) rather than one file.
pub fn is_partitioned(path: &Path) -> bool {
    path.is_dir()
}

/// The parts of the partitioned table at `dir`, in path order. Refuses a directory
/// without any, a file of no table format, and parts below different partition keys.
pub fn parts(dir: &Path) -> Result<Vec<Part>> {
    let mut parts = Vec::new();
    walk(dir, Path::new(""), &mut Vec::new(), &mut parts)?;
    parts.sort_by(|a, b| a.relative.cmp(&b.relative));
    let Some(first) = parts.first() else {
        return Err(Error::Data(format!(
            "{}: is a directory without table files (.csv, .parquet, .arrow, .jsonl, ... below \
             it; names starting with '.' or '_' are skipped, and so are CSV and JSON Lines \
             files of zero bytes); expected a partitioned table",
            dir.display()
        )));
    };
    let keys = |p: &Part| -> Vec<String> { p.keys.iter().map(|(k, _)| k.clone()).collect() };
    let expected = keys(first);
    if let Some(other) = parts.iter().find(|p| keys(p) != expected) {
        return Err(Error::Data(format!(
            "{}: its parts are partitioned by different keys: {} is below {}, {} below {}; \
             expected every part below the same key=value levels",
            dir.display(),
            first.relative.display(),
            describe_keys(&expected),
            other.relative.display(),
            describe_keys(&keys(other)),
        )));
    }
    Ok(parts)
}

fn describe_keys(keys: &[String]) -> String {
    if keys.is_empty() {
        "no key=value level".to_string()
    } else {
        keys.iter()
            .map(|k| format!("{k}=..."))
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// Whether a name below a partitioned table is a writer's bookkeeping, not data, by
/// Spark's rule: it starts with `.`, or with `_` and is no `key=value` level
/// (`_SUCCESS`, `_temporary`, `.part-0.crc`; but `_source=a` is a partition).
fn skipped(name: &str) -> bool {
    name.starts_with('.') || (name.starts_with('_') && !name.contains('='))
}

/// Adds the parts below `dir`/`relative`; `above`: the directories (canonical) it is
/// below, so that a link back up to one of them is an error, not an endless walk.
fn walk(
    dir: &Path,
    relative: &Path,
    above: &mut Vec<PathBuf>,
    parts: &mut Vec<Part>,
) -> Result<()> {
    let here = dir.join(relative);
    let canonical = std::fs::canonicalize(&here).map_err(|e| Error::io(&here, e))?;
    if above.contains(&canonical) {
        return Err(Error::Data(format!(
            "{}: links back to a directory above it in the partitioned table {}; expected a tree of parts",
            here.display(),
            dir.display()
        )));
    }
    above.push(canonical);
    let entries = std::fs::read_dir(&here).map_err(|e| Error::io(&here, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&here, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(Error::Data(format!(
                "{}: holds a name that is not UTF-8 ({:?}); expected the names of a partitioned table's parts",
                here.display(),
                entry.file_name()
            )));
        };
        if skipped(name) {
            continue;
        }
        let path = entry.path();
        let below = relative.join(name);
        // (Followed through symbolic links, as a reader of the table would.)
        if path.is_dir() {
            walk(dir, &below, above, parts)?;
        } else {
            let format = Format::of(&path).map_err(|_| {
                Error::Data(format!(
                    "{}: is in the partitioned table {} but names no table format (expected \
                     .csv, .parquet, .pq, .arrow, .ipc, .feather, .jsonl or .ndjson; names \
                     starting with '.', or with '_' and holding no '=', are skipped)",
                    path.display(),
                    dir.display()
                ))
            })?;
            // A CSV or JSON Lines part of zero bytes holds no rows (Spark writes one for
            // an empty task), not even a header: nothing to read.
            let text = matches!(format, Format::Csv | Format::JsonLines);
            if text && std::fs::metadata(&path).is_ok_and(|m| m.len() == 0) {
                continue;
            }
            let keys = hive_keys(&below);
            parts.push(Part {
                path,
                relative: below,
                keys,
            });
        }
    }
    above.pop();
    Ok(())
}

/// The `key=value` directory levels of a part's relative path.
fn hive_keys(relative: &Path) -> Vec<(String, Option<String>)> {
    let Some(parent) = relative.parent() else {
        return Vec::new();
    };
    parent
        .iter()
        .filter_map(|level| {
            let (key, value) = level.to_str()?.split_once('=')?;
            let value = percent_decoded(value);
            Some((percent_decoded(key), (value != HIVE_NULL).then_some(value)))
        })
        .collect()
}

/// `%XX` escapes decoded, as Hive and Spark escape a partition value's special
/// characters; a `%` not followed by two hex digits (or bytes that do not decode to
/// UTF-8) are kept as written.
pub fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

impl Part {
    /// The part's name in errors: its file.
    pub fn file(&self) -> String {
        self.path.display().to_string()
    }

    /// Reads the part, with its partition keys as text columns where it has no column of
    /// that name; also gives the names of the columns so added.
    pub fn read(&self) -> Result<(Table, Vec<String>)> {
        self.with_keys(Table::read(&self.path)?)
    }

    /// [`Part::read`] of the columns `only` names, where the part's format can read
    /// some columns alone ([`Table::read_only`]); its partition keys are added all the same.
    pub fn read_only(&self, only: &[&str]) -> Result<(Table, Vec<String>)> {
        // A column named like a partition key is read from the file where the file has
        // it: the file's own column wins, as in `read`.
        let (keyed, in_file): (Vec<&str>, Vec<&str>) = only
            .iter()
            .partition(|c| self.keys.iter().any(|(k, _)| k == *c));
        self.with_keys(Table::read_only(&self.path, &in_file, &keyed)?)
    }

    fn with_keys(&self, table: Table) -> Result<(Table, Vec<String>)> {
        let names: Vec<String> = table.names().into_iter().map(String::from).collect();
        let missing: Vec<&(String, Option<String>)> = self
            .keys
            .iter()
            .filter(|(k, _)| !names.iter().any(|n| n == k))
            .collect();
        if missing.is_empty() {
            return Ok((table, Vec::new()));
        }
        let mut df = self.frame(table)?;
        let rows = df.height();
        for (key, value) in &missing {
            let column = Series::new(key.as_str().into(), vec![value.as_deref(); rows]);
            df.with_column(PlColumn::from(column))
                .map_err(|e| self.unreadable(e))?;
        }
        let added = missing.iter().map(|(k, _)| k.clone()).collect();
        Ok((Table::Frame(df), added))
    }

    /// The part's table as a `DataFrame` (a plain CSV file's cells as text).
    fn frame(&self, table: Table) -> Result<DataFrame> {
        match table {
            Table::Frame(df) => Ok(df),
            csv @ Table::Csv(_) => {
                let names: Vec<String> = csv.names().into_iter().map(String::from).collect();
                csv.select(&names).map_err(|e| self.unreadable(e))
            }
        }
    }

    fn unreadable(&self, e: polars::prelude::PolarsError) -> Error {
        Error::Data(format!(
            "{}: cannot add its partition columns: {e}",
            self.file()
        ))
    }
}

/// Reads `parts` in turn with `read` and appends each to the first with `append`: one
/// part's rows held besides the whole. Gives the whole and, for each part, the number
/// of rows (`len`) up to its end, which names a row's part in errors.
pub fn read_parts<T>(
    parts: &[Part],
    mut read: impl FnMut(&Part) -> Result<T>,
    mut append: impl FnMut(&mut T, T, &Part) -> Result<()>,
    len: impl Fn(&T) -> usize,
) -> Result<(T, Vec<usize>)> {
    let (first, rest) = parts
        .split_first()
        .expect("a partitioned table has a part (dataset::parts)");
    let mut whole = read(first)?;
    let mut ends = Vec::with_capacity(parts.len());
    ends.push(len(&whole));
    for part in rest {
        let one = read(part)?;
        append(&mut whole, one, part)?;
        ends.push(len(&whole));
    }
    Ok((whole, ends))
}

/// The whole partitioned table at `dir` as one table, its parts stacked in path order
/// ([`stack`]): for a command that looks at every row at once. Also gives the columns
/// the `key=value` levels added.
pub fn read_whole(dir: &Path) -> Result<(Table, Vec<String>)> {
    let ((whole, keys), _) = read_parts(
        &parts(dir)?,
        |part| {
            let (table, added) = part.read()?;
            Ok((part.frame(table)?, added))
        },
        |(whole, keys), (df, added), part| {
            for key in added {
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
            stack(whole, df, &part.file())
        },
        |(whole, _)| whole.height(),
    )?;
    Ok((Table::Frame(whole), keys))
}

/// Appends the rows of `next` (read from `file`) to `all`, as parts of one table: the
/// columns are matched by name, whatever their order; a column only some parts have is
/// missing in the others; one of nothing but nulls in a part takes the other parts'
/// type; one whose types differ otherwise (text in a CSV part, numbers in a Parquet one)
/// is taken as text, so that the reader of the cells decides what they mean, as for a
/// CSV file.
pub fn stack(all: &mut DataFrame, next: DataFrame, file: &str) -> Result<()> {
    use polars::prelude::DataType;
    let failed = |e: polars::prelude::PolarsError| {
        Error::Data(format!(
            "{file}: cannot be stacked with the parts before it: {e}"
        ))
    };
    if all.width() == 0 && next.width() == 0 {
        *all = DataFrame::empty_with_height(all.height() + next.height());
        return Ok(());
    }
    let mut next = next;
    let names: Vec<String> = all
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .chain(
            next.get_column_names()
                .iter()
                .map(|n| n.to_string())
                .filter(|n| all.column(n).is_err()),
        )
        .collect();
    for name in &names {
        let (mine, theirs) = (
            all.column(name).ok().map(|c| c.dtype().clone()),
            next.column(name).ok().map(|c| c.dtype().clone()),
        );
        let dtype = match (&mine, &theirs) {
            (Some(a), Some(b)) if a == b => continue,
            (Some(DataType::Null), Some(b)) => b.clone(),
            (Some(a), Some(DataType::Null)) | (Some(a), None) => a.clone(),
            (None, Some(b)) => b.clone(),
            _ => DataType::String,
        };
        for (df, had) in [(&mut *all, &mine), (&mut next, &theirs)] {
            let column = match had {
                Some(t) if *t == dtype => continue,
                Some(_) => df
                    .column(name)
                    .map_err(failed)?
                    .cast(&dtype)
                    .map_err(|_| {
                        Error::Data(format!(
                            "{file}: column '{name}' holds {} here and {} in the parts before, and cannot be read as text; make the parts agree on it, or drop it",
                            theirs.as_ref().map_or("nothing".into(), |t| t.to_string()),
                            mine.as_ref().map_or("nothing".into(), |t| t.to_string()),
                        ))
                    })?,
                None => {
                    polars::prelude::Column::full_null(name.as_str().into(), df.height(), &dtype)
                }
            };
            df.with_column(column).map_err(failed)?;
        }
    }
    let next = next.select(names.iter().cloned()).map_err(failed)?;
    let mut ordered = all.select(names.iter().cloned()).map_err(failed)?;
    ordered.vstack_mut(&next).map_err(failed)?;
    *all = ordered;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(dir: &Path, relative: &str) {
        let path = dir.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "change_id\nc1\n").unwrap();
    }

    #[test]
    fn parts_are_listed_in_path_order_with_their_keys_and_bookkeeping_skipped() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "day=2026-01-02/part-0.csv");
        touch(dir.path(), "day=2026-01-01/part-1.csv");
        touch(dir.path(), "day=2026-01-01/part-0.csv");
        touch(dir.path(), "day=__HIVE_DEFAULT_PARTITION__/part-0.csv");
        touch(dir.path(), "_SUCCESS");
        touch(dir.path(), "day=2026-01-01/.part-0.csv.crc");
        touch(dir.path(), "_temporary/0/part-9.csv");
        let parts = parts(dir.path()).unwrap();
        let names: Vec<String> = parts
            .iter()
            .map(|p| p.relative.display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "day=2026-01-01/part-0.csv",
                "day=2026-01-01/part-1.csv",
                "day=2026-01-02/part-0.csv",
                "day=__HIVE_DEFAULT_PARTITION__/part-0.csv"
            ]
        );
        assert_eq!(
            parts[0].keys,
            [("day".to_string(), Some("2026-01-01".to_string()))]
        );
        assert_eq!(parts[3].keys, [("day".to_string(), None)]);
    }

    #[test]
    fn a_stray_file_an_empty_directory_and_mixed_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = parts(dir.path()).unwrap_err().to_string();
        assert!(e.contains("without table files"), "{e}");
        touch(dir.path(), "day=1/part-0.csv");
        touch(dir.path(), "notes.txt");
        let e = parts(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("notes.txt") && e.contains("names no table format"),
            "{e}"
        );
        std::fs::remove_file(dir.path().join("notes.txt")).unwrap();
        touch(dir.path(), "part-1.csv");
        let e = parts(dir.path()).unwrap_err().to_string();
        assert!(e.contains("different keys") && e.contains("day=..."), "{e}");
    }

    #[test]
    fn zero_byte_text_parts_hold_no_rows_and_are_passed_over() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("part-0.jsonl"), "").unwrap();
        std::fs::write(dir.path().join("part-1.csv"), "").unwrap();
        let e = parts(dir.path()).unwrap_err().to_string();
        assert!(e.contains("zero bytes"), "{e}");
        touch(dir.path(), "part-2.csv");
        let found = parts(dir.path()).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].relative, Path::new("part-2.csv"));
        // An empty Parquet file is no Parquet file: read (and refused) as a part.
        std::fs::write(dir.path().join("part-3.parquet"), "").unwrap();
        assert_eq!(parts(dir.path()).unwrap().len(), 2);
    }

    #[test]
    fn a_level_named_with_an_underscore_is_a_partition_when_it_holds_a_key() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "_src=a/part-0.csv");
        touch(dir.path(), "_src=b/part-0.csv");
        touch(dir.path(), "_src=b/_committed_1");
        let parts = parts(dir.path()).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].keys, [("_src".to_string(), Some("b".to_string()))]);
    }

    #[test]
    fn a_link_back_up_is_refused_rather_than_followed_forever() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "day=1/part-0.csv");
        std::os::unix::fs::symlink(dir.path(), dir.path().join("day=1/again")).unwrap();
        let e = parts(dir.path()).unwrap_err().to_string();
        assert!(e.contains("again") && e.contains("links back"), "{e}");
    }

    #[test]
    fn partition_values_are_percent_decoded_and_added_when_the_part_lacks_them() {
        assert_eq!(percent_decoded("a%20b%3Dc%2"), "a b=c%2");
        assert_eq!(percent_decoded("100%"), "100%");
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "team=pay%2Fments/change_id=x/part-0.csv");
        let parts = parts(dir.path()).unwrap();
        let (table, added) = parts[0].read().unwrap();
        // The part's own change_id wins over the level's; team is added.
        assert_eq!(added, ["team"]);
        assert_eq!(table.names(), ["change_id", "team"]);
        let Table::Frame(df) = table else {
            panic!("a frame")
        };
        assert_eq!(
            df.column("team").unwrap().str().unwrap().get(0),
            Some("pay/ments")
        );
        assert_eq!(
            df.column("change_id").unwrap().str().unwrap().get(0),
            Some("c1")
        );
    }
}
