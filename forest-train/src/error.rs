//! Errors about input data. Each one says which file, which line and which
//! column, because the person reading it has to go and fix that file.

use std::path::PathBuf;

use thiserror::Error;

/// Why a training or evaluation CSV could not be read into a dataset.
#[derive(Debug, Error)]
pub enum DataError {
    // The I/O error is part of the message rather than a `source`, so that
    // error chains print it once.
    /// The file could not be opened.
    #[error("{path}: {error}")]
    Io {
        /// The file that could not be read.
        path: PathBuf,
        /// What the operating system reported.
        error: std::io::Error,
    },
    /// The file is empty: not even a header line.
    #[error("{path}: the file is empty (no header line)")]
    NoHeader {
        /// The empty file.
        path: PathBuf,
    },
    /// The file has a header but no data rows after it.
    #[error("{path}: no data rows after the header")]
    NoRows {
        /// The file with no rows.
        path: PathBuf,
    },
    /// A column that was asked for (the label, or a feature the model reads) is
    /// not in the header.
    #[error("{path}: no column named '{column}' (columns: {available})")]
    MissingColumn {
        /// The file whose header lacks the column.
        path: PathBuf,
        /// The column name that was asked for.
        column: String,
        /// The header's column names, comma-separated, to help fix a typo.
        available: String,
    },
    /// Two header columns have the same name (after trimming).
    #[error("{path}: column '{column}' appears twice in the header")]
    DuplicateColumn {
        /// The file with the duplicated column.
        path: PathBuf,
        /// The name that appears twice.
        column: String,
    },
    /// A whole line is wrong: the wrong number of fields, or unreadable.
    #[error("{path}: line {line}: {message}")]
    Line {
        /// The file the line is in.
        path: PathBuf,
        /// The 1-based line number the record starts on (1 is the header).
        line: u64,
        /// What is wrong with the line.
        message: String,
    },
    /// One field of one line is wrong: a missing label, a bad number, text
    /// that is not UTF-8.
    #[error("{path}: line {line}, column '{column}': {message}")]
    Field {
        /// The file the field is in.
        path: PathBuf,
        /// The 1-based line number the record starts on (1 is the header).
        line: u64,
        /// The column's name from the header (or `#n`, 1-based, for a header
        /// name that is not UTF-8).
        column: String,
        /// What is wrong with the value.
        message: String,
    },
    /// The label column holds only one class, so there is nothing to classify.
    #[error("{path}: label column '{column}' has a single class ('{class}'); a classifier needs at least two")]
    OneClass {
        /// The file that was read.
        path: PathBuf,
        /// The label column.
        column: String,
        /// The only value the label column holds.
        class: String,
    },
    /// The header has the label column and nothing else.
    #[error("{path}: no feature columns besides the label '{column}'")]
    NoFeatures {
        /// The file that was read.
        path: PathBuf,
        /// The label column, the only one in the file.
        column: String,
    },
}
