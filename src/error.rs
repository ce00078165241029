//! The library's error type: every failure names the file, row, column and value
//! involved, and says what was expected, so a user can fix the input without a debugger.

use std::path::PathBuf;

/// Everything that can go wrong in changerisk. Input problems map to exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A cell that does not hold what its column requires.
    #[error("{file} row {row}, column '{column}': {value:?} is not {expected}")]
    BadValue {
        file: String,
        row: usize,
        column: String,
        value: String,
        expected: String,
    },
    /// A required column is absent.
    #[error("{file}: missing required column '{column}' (columns present: {present})")]
    MissingColumn {
        file: String,
        column: String,
        present: String,
    },
    /// A column is absent, but another differs from its name only in case, spaces,
    /// underscores, hyphens or invisible characters: taken as absent, an optional column
    /// would be defaulted.
    #[error("{file}: no column '{column}', but column {found:?} differs from it only in case, spaces, underscores, hyphens or invisible characters; rename one to match the other")]
    NearMissColumn {
        file: String,
        column: String,
        found: String,
    },
    /// The same change_id appears twice.
    #[error("{file}: duplicate {column} {value:?} in rows {first} and {second}")]
    Duplicate {
        file: String,
        column: String,
        value: String,
        first: usize,
        second: usize,
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
    #[error("{file}: unsupported file extension (expected .csv, .parquet, .arrow, .ipc, .feather, .jsonl or .ndjson; only an input may have none, and is then read by its content)")]
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

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
