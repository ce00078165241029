//! The library's error type: every failure names the file, row, column and value
//! involved, and says what was expected, so a user can fix the input without a debugger.

use std::path::PathBuf;

/// Everything that can go wrong in changerisk. Input problems map to exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A cell that does not hold what its column requires.
    #[error(
        "{file} row {row}, column '{column}': {} is not {expected}",
        excerpt(value)
    )]
    BadValue {
        file: String,
        row: usize,
        column: String,
        value: String,
        expected: String,
    },
    /// A required column is absent.
    #[error(
        "{file}: missing required column '{column}' (columns present: {})",
        shortened(present)
    )]
    MissingColumn {
        file: String,
        column: String,
        present: String,
    },
    /// A column is absent, but another differs from its name only in case, spaces,
    /// underscores, hyphens or invisible characters: taken as absent, an optional column
    /// would be defaulted.
    #[error("{file}: no column '{column}', but column {} differs from it only in case, spaces, underscores, hyphens or invisible characters; rename one to match the other", excerpt(found))]
    NearMissColumn {
        file: String,
        column: String,
        found: String,
    },
    /// The same change_id appears twice.
    #[error(
        "{file}: duplicate {column} {} in rows {first} and {second}",
        excerpt(value)
    )]
    Duplicate {
        file: String,
        column: String,
        value: String,
        first: usize,
        second: usize,
    },
    /// The same change_id in two rows of a partitioned table (`first` and `second` name
    /// the part file and its row).
    #[error(
        "{table}: duplicate {column} {} in {first} and {second}",
        excerpt(value)
    )]
    DuplicateInParts {
        table: String,
        column: String,
        value: String,
        first: String,
        second: String,
    },
    /// A table without data rows where rows are needed.
    #[error("{file}: {what}")]
    EmptyTable { file: String, what: String },
    /// A CSV row with another number of fields than the header.
    #[error("{file} row {row}: {fields} field(s) where the header has {header} (a missing or extra comma, or a blank line?)")]
    RaggedRow {
        file: String,
        row: usize,
        fields: usize,
        header: usize,
    },
    /// The file extension does not name a supported format.
    #[error("{file}: unsupported file extension (expected .csv, .parquet, .pq, .arrow, .ipc, .feather, .jsonl or .ndjson; only an input may have none, and is then read by its content)")]
    UnsupportedFormat { file: String },
    /// The file could not be parsed as its format at all.
    #[error("{file}: cannot read as {format}: {message}")]
    Unreadable {
        file: String,
        format: String,
        message: String,
    },
    /// A model file that is not a changerisk model this version can use.
    #[error("{file}: {message}")]
    BadModel { file: String, message: String },
    /// A configuration or policy file that is malformed.
    #[error("{file}: {message}")]
    BadConfig { file: String, message: String },
    /// An invalid command-line value or combination of flags.
    #[error("{0}")]
    Usage(String),
    /// The data cannot support the requested computation (e.g. no positive labels).
    #[error("{0}")]
    Data(String),
    /// Operating-system I/O failure.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A failure inside the learner.
    #[error("training failed: {0}")]
    Training(String),
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// The process exit code every error maps to: 2. Exit code 1 is reserved for a
    /// tripped risk gate, so no failure (a missing file, an unwritable output, a solver
    /// that cannot converge) can ever be mistaken for a gate decision.
    pub fn exit_code(&self) -> u8 {
        2
    }
}

/// The most characters of an input value an error quotes: enough to recognise it, not a
/// megabyte cell copied to the terminal.
pub const QUOTED_CHARS: usize = 200;

/// `value` quoted (as `{:?}` quotes it), its first [`QUOTED_CHARS`] characters only when
/// it is longer, with its length.
pub fn excerpt(value: &str) -> String {
    match value.char_indices().nth(QUOTED_CHARS) {
        None => format!("{value:?}"),
        Some((end, _)) => format!(
            "{:?}... ({} characters in all)",
            &value[..end],
            value.chars().count()
        ),
    }
}

/// `text` (a list of values, a message) whole, or its first and last parts when it is
/// far longer than a reader reads, with how much is left out between.
pub fn shortened(text: &str) -> String {
    const KEEP: usize = 4 * QUOTED_CHARS;
    let chars = text.chars().count();
    if chars <= 3 * KEEP {
        return text.to_string();
    }
    let head: String = text.chars().take(KEEP).collect();
    let tail: String = text.chars().skip(chars - KEEP).collect();
    format!(
        "{head} ... ({} characters left out) ... {tail}",
        chars - 2 * KEEP
    )
}

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_quoted_in_part_with_their_length() {
        assert_eq!(excerpt("adminn"), "\"adminn\"");
        let long = "y".repeat(5_000_000);
        let quoted = excerpt(&long);
        assert!(quoted.len() < 300, "{}", quoted.len());
        assert!(
            quoted.ends_with("... (5000000 characters in all)"),
            "{quoted}"
        );
        // Cut on a character, not inside one.
        let wide = "é".repeat(300);
        assert!(excerpt(&wide).starts_with(&format!("{:?}", "é".repeat(200))[..401]));
        let text = format!("start {} end", "x".repeat(100_000));
        let short = shortened(&text);
        assert!(
            short.starts_with("start xx") && short.ends_with("xx end"),
            "{short}"
        );
        assert!(short.contains("characters left out") && short.len() < 2_000);
        assert_eq!(shortened("a, b"), "a, b");
    }
}
