//! Errors of the model crate. Each names what was wrong and where, because the
//! bytes or rows that caused it usually came from somebody else.

use thiserror::Error;

/// A forest, an artifact or a feature spec that breaks the model's rules.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ModelError {
    /// The arrays do not describe a valid forest.
    #[error("invalid forest: {0}")]
    Invalid(String),
    /// The bytes are not a `.forest` artifact this version can read.
    #[error("invalid artifact: {0}")]
    Artifact(String),
    /// A row does not fit the model (wrong width, a value it cannot encode).
    #[error("invalid input: {0}")]
    Input(String),
}
