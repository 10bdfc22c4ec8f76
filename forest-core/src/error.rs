//! Errors of the model crate. Each names what was wrong and where, because the
//! bytes or rows that caused it usually came from somebody else.

use std::fmt;

use thiserror::Error;

/// A forest, an artifact, a feature spec or an input that breaks the
/// model's rules.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ModelError {
    /// The arrays or the spec do not describe a valid model.
    #[error("invalid forest: {0}")]
    Invalid(String),
    /// The bytes are not a `.forest` artifact this version can read.
    #[error("invalid artifact: {0}")]
    Artifact(#[from] ArtifactError),
    /// An input does not fit the model (wrong width, a value it cannot
    /// encode).
    #[error("invalid input: {}{problem}", field.as_deref().map(|f| format!("{f}: ")).unwrap_or_default())]
    Input {
        /// The feature or field at fault, when one is.
        field: Option<String>,
        /// What is wrong with it.
        problem: String,
    },
}

impl ModelError {
    /// An input error about the input as a whole (its width, say).
    pub fn input(problem: impl Into<String>) -> ModelError {
        ModelError::Input {
            field: None,
            problem: problem.into(),
        }
    }

    /// An input error about one field or feature.
    pub fn field(field: impl Into<String>, problem: impl Into<String>) -> ModelError {
        ModelError::Input {
            field: Some(field.into()),
            problem: problem.into(),
        }
    }
}

/// Why bytes are not a readable `.forest` artifact: which part of the file,
/// where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactError {
    /// The section at fault (its four-letter tag: `META`, `TOFF`, ...), or
    /// `None` for the header, the section table or the file as a whole.
    pub section: Option<&'static str>,
    /// The byte offset in the file where the problem is, when one place
    /// is to blame.
    pub offset: Option<u64>,
    /// What is wrong, for people.
    pub problem: String,
}

impl ArtifactError {
    /// A problem with the file as a whole or its header.
    pub fn file(problem: impl Into<String>) -> ArtifactError {
        ArtifactError {
            section: None,
            offset: None,
            problem: problem.into(),
        }
    }

    /// A problem at a byte offset outside any one section.
    pub fn at(offset: u64, problem: impl Into<String>) -> ArtifactError {
        ArtifactError {
            offset: Some(offset),
            ..ArtifactError::file(problem)
        }
    }

    /// A problem inside one section.
    pub fn section(section: &'static str, problem: impl Into<String>) -> ArtifactError {
        ArtifactError {
            section: Some(section),
            ..ArtifactError::file(problem)
        }
    }

    /// The same problem, located at `offset`.
    pub fn with_offset(self, offset: u64) -> ArtifactError {
        ArtifactError {
            offset: Some(offset),
            ..self
        }
    }
}

impl fmt::Display for ArtifactError {
    // The offset, where it matters, is part of the problem's own sentence
    // ("... at offset 40"), so the message reads as one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.section {
            Some(section) => write!(f, "section {section}: {}", self.problem),
            None => f.write_str(&self.problem),
        }
    }
}

impl std::error::Error for ArtifactError {}
