//! Models trained elsewhere, as `.forest` artifacts: LightGBM's text model,
//! XGBoost's JSON model and ONNX's `TreeEnsembleClassifier` (scikit-learn
//! forests through skl2onnx, and anything else that exports ONNX trees).
//!
//! An imported model answers what its library answers: every split becomes
//! our `x <= t` (NaN to a stored side) with the threshold moved to the
//! nearest `f32` that keeps every comparison ([`floor_f32`],
//! [`below_f32`]), leaf values become what a tree adds to its class's sum,
//! and the metadata's ensemble rule reproduces the library's arithmetic
//! (`forest_core::Ensemble`). Anything the format cannot express exactly
//! (categorical splits, linear trees, other objectives) is refused with an
//! error naming the tree and node.
//!
//! Imported models then take the same paths as trained ones: `build.rs`
//! compiles them, the interpreter runs them, the server serves them.

mod lightgbm;
mod onnx;
mod xgboost;

use std::path::Path;

use forest_core::{
    Ensemble, FeatureDef, FeatureSpec, Forest, Metadata, Model, ModelError, Node, TrainingInfo,
};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// A library a model can be imported from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// LightGBM's text model (`Booster.save_model`, `model.txt`).
    LightGbm,
    /// XGBoost's JSON model (`save_model("m.json")`).
    XgBoost,
    /// An ONNX model holding an `ai.onnx.ml` `TreeEnsembleClassifier`.
    Onnx,
}

impl Source {
    /// The library's name, as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Source::LightGbm => "lightgbm",
            Source::XgBoost => "xgboost",
            Source::Onnx => "onnx",
        }
    }
}

impl std::str::FromStr for Source {
    type Err = String;
    fn from_str(s: &str) -> Result<Source, String> {
        match s.to_ascii_lowercase().as_str() {
            "lightgbm" | "lgb" => Ok(Source::LightGbm),
            "xgboost" | "xgb" => Ok(Source::XgBoost),
            "onnx" => Ok(Source::Onnx),
            other => Err(format!(
                "unknown source '{other}': expected lightgbm, xgboost or onnx"
            )),
        }
    }
}

/// Why a model could not be imported: the file, and where in it.
#[derive(Debug, Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("{path}: {error}")]
    Read {
        /// The model file.
        path: String,
        /// What the file system said.
        error: std::io::Error,
    },
    /// The file is not a model of that kind (syntax, missing keys).
    #[error("{path}: {message}")]
    Format {
        /// The model file.
        path: String,
        /// What is wrong, naming the key or line.
        message: String,
    },
    /// A construct the format cannot reproduce exactly.
    #[error("{path}: tree {tree}, node {node}: {what} is not supported")]
    Unsupported {
        /// The model file.
        path: String,
        /// The tree, in the file's order.
        tree: usize,
        /// The node, in the tree's own numbering.
        node: usize,
        /// The construct.
        what: String,
    },
    /// A model-wide setting the format cannot reproduce (an objective, a
    /// booster, a post-transform).
    #[error("{path}: {what} is not supported")]
    UnsupportedModel {
        /// The model file.
        path: String,
        /// The setting.
        what: String,
    },
    /// The converted trees broke a forest rule (a bug if it happens).
    #[error("{path}: {error}")]
    Model {
        /// The model file.
        path: String,
        /// The forest's objection.
        error: ModelError,
    },
}

/// The errors of one model file, built the same way by every reader: the
/// file's path and, from [`Blame::tree`], the tree the problem is in.
#[derive(Clone, Copy)]
pub(crate) struct Blame<'a> {
    path: &'a str,
    tree: Option<usize>,
}

impl<'a> Blame<'a> {
    pub(crate) fn file(path: &'a str) -> Self {
        Blame { path, tree: None }
    }

    pub(crate) fn tree(self, tree: usize) -> Self {
        Blame {
            tree: Some(tree),
            ..self
        }
    }

    /// The file is not a model of its kind; in a tree, the message names it.
    pub(crate) fn format(&self, message: String) -> ImportError {
        let message = match self.tree {
            Some(t) => format!("tree {t}: {message}"),
            None => message,
        };
        ImportError::Format {
            path: self.path.to_string(),
            message,
        }
    }

    /// A construct of node `node` of the current tree.
    pub(crate) fn unsupported(&self, node: usize, what: &str) -> ImportError {
        ImportError::Unsupported {
            path: self.path.to_string(),
            tree: self.tree.unwrap_or(0),
            node,
            what: what.to_string(),
        }
    }

    /// A model-wide setting.
    pub(crate) fn unsupported_model(&self, what: String) -> ImportError {
        ImportError::UnsupportedModel {
            path: self.path.to_string(),
            what,
        }
    }
}

/// One node of a source tree, in the source's own numbering.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SourceNode {
    /// `x <= threshold` goes to `left`, else to `right`; NaN to `left`
    /// when `missing_left`.
    Split {
        feature: u32,
        threshold: f32,
        missing_left: bool,
        left: usize,
        right: usize,
    },
    /// What the tree adds to each class's sum.
    Leaf(Vec<f32>),
}

/// Lays a source tree out as our format wants it: root at 0, every split's
/// children side by side after it. Checks that the nodes form a tree (each
/// reached once, all indices inside) so a corrupt file is an error, never
/// a loop.
pub(crate) fn layout(
    nodes: &[SourceNode],
    root: usize,
    tree: usize,
    path: &str,
) -> Result<Vec<Node>, ImportError> {
    let broken = |node: usize, what: &str| ImportError::Format {
        path: path.to_string(),
        message: format!("tree {tree}, node {node}: {what}"),
    };
    let mut out: Vec<Option<Node>> = vec![None];
    let mut seen = vec![false; nodes.len()];
    // (source node, our index), breadth first.
    let mut queue = std::collections::VecDeque::from([(root, 0usize)]);
    while let Some((src, at)) = queue.pop_front() {
        let node = nodes.get(src).ok_or_else(|| broken(src, "no such node"))?;
        if std::mem::replace(&mut seen[src], true) {
            return Err(broken(src, "reached twice: the nodes do not form a tree"));
        }
        out[at] = Some(match node {
            SourceNode::Leaf(values) => Node::leaf(at as u32, values.clone()),
            SourceNode::Split {
                feature,
                threshold,
                missing_left,
                left,
                right,
            } => {
                let l = out.len();
                out.extend([None, None]);
                queue.push_back((*left, l));
                queue.push_back((*right, l + 1));
                Node {
                    feature: *feature,
                    threshold: *threshold,
                    left: l as u32,
                    missing_left: *missing_left,
                    value: vec![0.0; nodes_width(nodes)],
                }
            }
        });
    }
    out.into_iter()
        .enumerate()
        .map(|(i, n)| n.ok_or_else(|| broken(i, "a child was never placed")))
        .collect()
}

/// The class count of a tree's leaves (split nodes carry zeros).
fn nodes_width(nodes: &[SourceNode]) -> usize {
    nodes
        .iter()
        .find_map(|n| match n {
            SourceNode::Leaf(v) => Some(v.len()),
            SourceNode::Split { .. } => None,
        })
        .unwrap_or(0)
}

/// The largest `f32` at or below `t`: for an `f32` value `x`,
/// `x <= floor_f32(t)` exactly when `x <= t` (as `f64`).
pub fn floor_f32(t: f64) -> f32 {
    if t.is_nan() {
        return f32::NAN;
    }
    let c = t as f32;
    if f64::from(c) > t {
        next_down(c)
    } else {
        c
    }
}

/// The largest `f32` strictly below `t`: for an `f32` value `x`,
/// `x <= below_f32(t)` exactly when `x < t`.
pub fn below_f32(t: f64) -> f32 {
    let f = floor_f32(t);
    if f64::from(f) == t {
        next_down(f)
    } else {
        f
    }
}

/// The largest `f32` below `c` (by bits; `-inf` has none and stays).
pub fn next_down(c: f32) -> f32 {
    if c.is_nan() || c == f32::NEG_INFINITY {
        return c;
    }
    if c == 0.0 {
        return -f32::from_bits(1);
    }
    let bits = c.to_bits();
    f32::from_bits(if c > 0.0 { bits - 1 } else { bits + 1 })
}

/// What every source gives the builder.
pub(crate) struct Imported {
    pub classes: Vec<String>,
    pub feature_names: Vec<String>,
    pub trees: Vec<Vec<Node>>,
    pub ensemble: Ensemble,
    /// A short description for the metadata (objective, version, ...).
    pub params: serde_json::Value,
}

/// Reads `path` as a `source` model and converts it.
pub fn import(source: Source, path: &Path) -> Result<Model, ImportError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|error| ImportError::Read {
        path: name.clone(),
        error,
    })?;
    let imported = match source {
        Source::LightGbm => lightgbm::convert(&bytes, &name)?,
        Source::XgBoost => xgboost::convert(&bytes, &name)?,
        Source::Onnx => onnx::convert(&bytes, &name)?,
    };
    build(source, imported, &bytes, &name)
}

fn build(
    source: Source,
    imported: Imported,
    bytes: &[u8],
    path: &str,
) -> Result<Model, ImportError> {
    let model_error = |error| ImportError::Model {
        path: path.to_string(),
        error,
    };
    let forest = Forest::from_trees_with(
        imported.feature_names.len(),
        imported.classes.len(),
        &imported.trees,
        imported.ensemble.clone(),
    )
    .map_err(model_error)?;
    let fingerprint = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let meta = Metadata {
        label: "class".into(),
        classes: imported.classes,
        features: FeatureSpec {
            features: imported
                .feature_names
                .iter()
                .map(FeatureDef::numeric)
                .collect(),
            basket: None,
        },
        params: serde_json::json!({"imported_from": source.name(), "source": imported.params}),
        training: TrainingInfo {
            source: path.to_string(),
            rows: 0,
            fingerprint,
        },
        metrics: serde_json::json!({}),
        feature_importance: Vec::new(),
        tree_seeds: Vec::new(),
        trainer: format!(
            "forest-train {} import --from {}",
            env!("CARGO_PKG_VERSION"),
            source.name()
        ),
        git_revision: None,
        ensemble: imported.ensemble,
        training_distribution: None,
    };
    Model::new(meta, forest).map_err(model_error)
}

/// Class names `0 .. k-1`, for libraries that store no labels.
pub(crate) fn numbered(k: usize) -> Vec<String> {
    (0..k).map(|c| c.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_keep_every_comparison() {
        let probes = |t: f32| {
            [
                t,
                next_down(t),
                f32::from_bits(t.to_bits().wrapping_add(1)),
                0.0,
                -0.0,
                1.0,
                -1.0,
            ]
        };
        for t in [
            0.1f64,
            -0.1,
            1.0 / 3.0,
            1e-40,
            -1e-40,
            0.0,
            123456.789,
            16777217.0,
        ] {
            let f = floor_f32(t);
            let b = below_f32(t);
            for x in probes(f).into_iter().chain(probes(b)) {
                assert_eq!(x <= f, f64::from(x) <= t, "floor {t} at {x}");
                assert_eq!(x <= b, f64::from(x) < t, "below {t} at {x}");
            }
        }
        assert_eq!(floor_f32(f64::INFINITY), f32::INFINITY);
        assert_eq!(next_down(0.0), -f32::from_bits(1));
        assert_eq!(next_down(1.0), 0.99999994);
        assert_eq!(next_down(-1.0), -1.0000001);
    }

    #[test]
    fn layout_puts_children_side_by_side_and_refuses_loops() {
        let leaf = |v: f32| SourceNode::Leaf(vec![0.0, v]);
        let split = |left, right| SourceNode::Split {
            feature: 0,
            threshold: 0.5,
            missing_left: true,
            left,
            right,
        };
        // A split whose child is itself.
        let nodes = vec![leaf(1.0), leaf(2.0), leaf(3.0), split(0, 3)];
        let err = layout(&nodes, 3, 0, "m").unwrap_err();
        assert!(err.to_string().contains("reached twice"), "{err}");
        // Source order: leaves first, root last.
        let nodes = vec![leaf(1.0), leaf(2.0), leaf(3.0), split(1, 2), split(0, 3)];
        let tree = layout(&nodes, 4, 0, "m").unwrap();
        assert_eq!(tree.len(), 5);
        assert_eq!(tree[0].left, 1);
        assert_eq!(tree[1].value, [0.0, 1.0]);
        assert_eq!(tree[2].left, 3);
        assert_eq!((tree[3].value[1], tree[4].value[1]), (2.0, 3.0));
        assert!(layout(&nodes, 9, 0, "m").is_err());
    }
}
