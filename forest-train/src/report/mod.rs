//! The evaluation report written next to a model: `metrics.json` for
//! programs, `report.md` for people, and SVG pictures of the confusion matrix
//! and the feature importances that the Markdown embeds by relative link.
//!
//! [`build_report`] only returns bytes, so the caller decides where they go
//! (a local directory, an S3 lake) and how they are written atomically. The
//! bytes are a pure function of the input: no timestamps, no host names, no
//! hash-map iteration order, so re-running an evaluation gives the same
//! files and a diff of two reports shows only what changed.
//!
//! The pictures are drawn with plotters' SVG backend and laid out here by
//! hand (label widths are estimated from character classes, long names are
//! shortened with an ellipsis in the middle), because the SVG backend has no
//! font metrics and its automatic layout would clip or overlap long labels.
//!
//! # How it is put together
//!
//! [`build_report`] checks that the input agrees with itself, ranks the
//! features once (largest importance first, ties in the model's order) and
//! hands the same rankings to every writer, each in a module of its own:
//!
//! * `metrics_json`: `metrics.json`, the scores as pretty JSON whose keys
//!   come from struct declarations, so their order never varies;
//! * `markdown`: `report.md`, the tables people read, linking the pictures;
//! * `confusion`: the confusion-matrix heat map;
//! * `bars`: the bar charts of impurity and permutation importance;
//! * `draw`: what the pictures share: a pixel canvas over plotters' SVG
//!   backend, text widths and shortening, colours, the heading, axis ticks.
//!
//! This file holds the public API (the file names, [`ReportInput`],
//! [`ReportFiles`], [`ReportError`], [`build_report`]) and the ranking.

use forest_core::metrics::Evaluation;
use forest_core::Metadata;
use serde::Serialize;
use thiserror::Error;

use forest_learn::PermutationImportance;

mod bars;
mod confusion;
mod draw;
mod markdown;
mod metrics_json;
#[cfg(test)]
mod tests;

use bars::{importance_svg, permutation_svg};
use confusion::confusion_svg;
use markdown::report_markdown;
use metrics_json::metrics_json;

/// Scores as JSON: the evaluation, the model's identity and training-time
/// metrics, and the importances.
pub const METRICS_JSON: &str = "metrics.json";
/// The human report, in Markdown, linking the pictures.
pub const REPORT_MD: &str = "report.md";
/// Heat map of the confusion matrix.
pub const CONFUSION_SVG: &str = "confusion_matrix.svg";
/// Bar chart of the top features by mean decrease in impurity.
pub const IMPORTANCE_SVG: &str = "feature_importance.svg";
/// Bar chart of permutation importance with error bars (only when given).
pub const PERMUTATION_SVG: &str = "permutation_importance.svg";

/// How many features the charts and tables show.
pub const TOP_FEATURES: usize = 20;

/// Everything a report is made from.
pub struct ReportInput<'a> {
    /// The model's file name, e.g. `model.forest`.
    pub model_name: &'a str,
    /// Hex SHA-256 of the artifact bytes.
    pub model_sha256: &'a str,
    /// The model's metadata: classes, features, training metrics and impurity
    /// importances.
    pub meta: &'a Metadata,
    /// The scores measured on the evaluation rows.
    pub evaluation: &'a Evaluation,
    /// What the model was evaluated on, e.g. `gold/ split test, 566 baskets`.
    pub data_description: &'a str,
    /// Permutation importance measured on the evaluation rows, if any.
    pub permutation: Option<&'a [PermutationImportance]>,
}

/// The report's files, as (file name, bytes), in a safe write order: the
/// pictures first, then `report.md`, and `metrics.json` last, so that a
/// reader who finds `metrics.json` finds the rest of the report beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    /// (file name, bytes) pairs, in write order.
    pub files: Vec<(String, Vec<u8>)>,
}

impl ReportFiles {
    /// The bytes of the file called `name`, if the report has one.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.as_slice())
    }
}

/// Why a report could not be built.
#[derive(Debug, Error)]
pub enum ReportError {
    /// The evaluation or the metadata contradict themselves (say, a
    /// confusion matrix with more rows than classes).
    #[error("cannot build the report: {0}")]
    Inconsistent(String),
    /// A picture could not be drawn.
    #[error("drawing {file}: {message}")]
    Draw {
        /// The picture's file name ([`CONFUSION_SVG`], ...).
        file: &'static str,
        /// What went wrong while drawing it.
        message: String,
    },
    /// `metrics.json` could not be encoded.
    #[error("encoding {METRICS_JSON}: {0}")]
    Json(#[from] serde_json::Error),
}

/// Builds every file of the report. See [`ReportFiles`] for the order.
pub fn build_report(input: &ReportInput) -> Result<ReportFiles, ReportError> {
    check(input)?;
    let names: Vec<&str> = input.meta.features.names().collect();
    let mdi = ranked_impurity(input.meta, &names);
    let permutation = input.permutation.map(ranked_permutation);

    let mut files = vec![
        (
            CONFUSION_SVG.to_string(),
            confusion_svg(input).map_err(|message| ReportError::Draw {
                file: CONFUSION_SVG,
                message,
            })?,
        ),
        (
            IMPORTANCE_SVG.to_string(),
            importance_svg(input, &mdi, names.len()).map_err(|message| ReportError::Draw {
                file: IMPORTANCE_SVG,
                message,
            })?,
        ),
    ];
    if let Some(perm) = &permutation {
        let svg = permutation_svg(input, perm).map_err(|message| ReportError::Draw {
            file: PERMUTATION_SVG,
            message,
        })?;
        files.push((PERMUTATION_SVG.to_string(), svg));
    }
    let markdown = report_markdown(input, &mdi, permutation.as_deref());
    files.push((REPORT_MD.to_string(), markdown.into_bytes()));
    files.push((METRICS_JSON.to_string(), metrics_json(input, &mdi)?));
    Ok(ReportFiles { files })
}

/// Rejects input whose parts disagree, before anything is drawn.
fn check(input: &ReportInput) -> Result<(), ReportError> {
    let e = input.evaluation;
    let n = e.classes.len();
    let bad = |m: String| Err(ReportError::Inconsistent(m));
    if n == 0 {
        return bad("the evaluation has no classes".into());
    }
    if e.per_class.len() != n {
        return bad(format!(
            "{} per-class reports for {n} classes",
            e.per_class.len()
        ));
    }
    if e.confusion.len() != n || e.confusion.iter().any(|row| row.len() != n) {
        return bad(format!(
            "the confusion matrix is not {n} x {n} for {n} classes"
        ));
    }
    let importances = input.meta.feature_importance.len();
    if importances != 0 && importances != input.meta.features.len() {
        return bad(format!(
            "{importances} impurity importances for {} features",
            input.meta.features.len()
        ));
    }
    Ok(())
}

// ------------------------------------------------------------------ ranking

/// One feature's score, for the tables and charts.
#[derive(Debug, Clone, Serialize)]
struct Ranked {
    feature: String,
    importance: f64,
}

/// All features by mean decrease in impurity, largest first; ties keep the
/// model's feature order (the sort is stable), so the ranking is
/// deterministic.
fn ranked_impurity(meta: &Metadata, names: &[&str]) -> Vec<Ranked> {
    let mut ranked: Vec<Ranked> = names
        .iter()
        .zip(&meta.feature_importance)
        .map(|(name, &v)| Ranked {
            feature: (*name).to_string(),
            importance: v,
        })
        .collect();
    ranked.sort_by(|a, b| finite(b.importance).total_cmp(&finite(a.importance)));
    ranked
}

/// Permutation importances by mean accuracy drop, largest first, stable.
fn ranked_permutation(perm: &[PermutationImportance]) -> Vec<PermutationImportance> {
    let mut ranked = perm.to_vec();
    ranked.sort_by(|a, b| finite(b.mean).total_cmp(&finite(a.mean)));
    ranked
}

/// NaN and infinities draw and sort as 0 rather than breaking a layout.
fn finite(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}
