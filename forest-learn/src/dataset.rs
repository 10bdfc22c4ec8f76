//! The training table in memory: column-major `f32` features, class indices
//! for the label, and the feature spec that produced the features.

use forest_core::FeatureSpec;
use sha2::{Digest, Sha256};

/// A labelled table ready for the trainer or for evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Where the rows came from, for provenance and messages.
    pub source: String,
    /// How each column was encoded; `columns[i]` follows `spec.features[i]`.
    pub spec: FeatureSpec,
    /// One vector per feature, each `n_rows` long. NaN marks a missing value.
    pub columns: Vec<Vec<f32>>,
    /// Name of the label column.
    pub label: String,
    /// Class labels; `labels[r]` indexes into this.
    pub classes: Vec<String>,
    /// Each row's class, an index into `classes`.
    pub labels: Vec<u32>,
}

impl Dataset {
    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.labels.len()
    }

    /// Number of feature columns.
    pub fn n_features(&self) -> usize {
        self.columns.len()
    }

    /// Copies row `r` into `out` (resized to `n_features`).
    pub fn row_into(&self, r: usize, out: &mut Vec<f32>) {
        out.clear();
        out.extend(self.columns.iter().map(|c| c[r]));
    }

    /// All rows, row-major, as the interpreter's batch API takes them.
    pub fn rows_row_major(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.n_rows() * self.n_features());
        for r in 0..self.n_rows() {
            out.extend(self.columns.iter().map(|c| c[r]));
        }
        out
    }

    /// Row counts per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &y in &self.labels {
            counts[y as usize] += 1;
        }
        counts
    }

    /// SHA-256 over what the trainer sees (spec, classes, feature bits and
    /// labels), so two tables that would train the same model share it.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(serde_json::to_vec(&self.spec).unwrap_or_default());
        h.update(self.label.as_bytes());
        for c in &self.classes {
            h.update((c.len() as u64).to_le_bytes());
            h.update(c.as_bytes());
        }
        for column in &self.columns {
            for v in column {
                h.update(v.to_bits().to_le_bytes());
            }
        }
        for y in &self.labels {
            h.update(y.to_le_bytes());
        }
        hex(&h.finalize())
    }

    /// The rows selected by `keep`, in order.
    pub fn subset(&self, keep: &[usize]) -> Dataset {
        Dataset {
            source: self.source.clone(),
            spec: self.spec.clone(),
            columns: self
                .columns
                .iter()
                .map(|c| keep.iter().map(|&r| c[r]).collect())
                .collect(),
            label: self.label.clone(),
            classes: self.classes.clone(),
            labels: keep.iter().map(|&r| self.labels[r]).collect(),
        }
    }
}

/// Lowercase hex of a byte string.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
