//! Errors about input data. Each one says which file, which line and which
//! column, because the person reading it has to go and fix that file.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum DataError {
    // The I/O error is part of the message rather than a `source`, so that
    // error chains print it once.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: the file is empty (no header line)")]
    NoHeader { path: PathBuf },
    #[error("{path}: no data rows after the header")]
    NoRows { path: PathBuf },
    #[error("{path}: no column named '{column}' (columns: {available})")]
    MissingColumn {
        path: PathBuf,
        column: String,
        available: String,
    },
    #[error("{path}: column '{column}' appears twice in the header")]
    DuplicateColumn { path: PathBuf, column: String },
    #[error("{path}: line {line}: {message}")]
    Line {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{path}: line {line}, column '{column}': {message}")]
    Field {
        path: PathBuf,
        line: u64,
        column: String,
        message: String,
    },
    #[error("{path}: label column '{column}' has a single class ('{class}'); a classifier needs at least two")]
    OneClass {
        path: PathBuf,
        column: String,
        class: String,
    },
    #[error("{path}: no feature columns besides the label '{column}'")]
    NoFeatures { path: PathBuf, column: String },
}
