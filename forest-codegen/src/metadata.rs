//! The model's identity and description as constants: what a server reports
//! (version, classes, feature names, metrics) without decoding anything.

use crate::{list, str_lit, Emitter};
use forest_core::class_label;
use forest_core::Model;

/// How many hex digits of the content hash make the model version: short
/// enough to read in a log line, long enough never to collide in practice.
pub const VERSION_DIGITS: usize = 12;

/// Emits `CONTENT_HASH`, `MODEL_VERSION`, `CLASSES`, `CLASS_LABELS`,
/// `FEATURE_NAMES`, the sizes, the JSON of metrics and parameters, and the
/// training distribution.
pub(crate) fn emit(out: &mut Emitter<'_>, model: &Model, hash: &str) {
    let meta = &model.meta;
    let f = &model.forest;
    let max_depth = (0..f.n_trees())
        .map(|t| f.tree_shape(t).depth)
        .max()
        .unwrap_or(0);
    let classes: Vec<String> = meta.classes.iter().map(|c| str_lit(c)).collect();
    let labels: Vec<String> = meta
        .classes
        .iter()
        .map(|c| str_lit(class_label(c)))
        .collect();
    let names: Vec<String> = meta.features.names().map(str_lit).collect();
    let json = |v: &serde_json::Value| str_lit(&v.to_string());
    let git = match &meta.git_revision {
        Some(rev) => format!("Some({})", str_lit(rev)),
        None => "None".into(),
    };
    let version = &hash[..VERSION_DIGITS.min(hash.len())];
    out.line(&format!(
        "/// SHA-256 (hex) of the artifact's bytes: the model's identity.
pub const CONTENT_HASH: &str = {hash:?};
/// The first {VERSION_DIGITS} hex digits of [`CONTENT_HASH`], reported as the model version.
pub const MODEL_VERSION: &str = {version:?};
/// The label column the model predicts.
pub const LABEL: &str = {label};
/// Class codes; class `i` of every probability vector is `CLASSES[i]`.
pub const CLASSES: [&str; N_CLASSES] = [{classes}];
/// What each class means, for people (the class code where no label is known).
pub const CLASS_LABELS: [&str; N_CLASSES] = [{labels}];
/// The model's input features, in order.
pub const FEATURE_NAMES: [&str; N_FEATURES] = [
    {names}
];
pub const N_TREES: usize = {n_trees};
pub const N_FEATURES: usize = {n_features};
pub const N_CLASSES: usize = {n_classes};
pub const N_NODES: usize = {n_nodes};
/// Edges on the longest root-to-leaf path of any tree.
pub const MAX_DEPTH: usize = {max_depth};
/// Whether the model reads baskets (else table rows).
pub const IS_BASKET_MODEL: bool = {is_basket};
/// Scores measured at training time, as JSON.
pub const METRICS_JSON: &str = {metrics};
/// The hyper-parameters the model was trained with, as JSON.
pub const PARAMS_JSON: &str = {params};
/// Name and version of the trainer.
pub const TRAINER: &str = {trainer};
/// Where the training rows came from, how many there were, and the SHA-256
/// over them.
pub const TRAINING_SOURCE: &str = {source};
pub const TRAINING_ROWS: u64 = {rows};
pub const TRAINING_FINGERPRINT: &str = {fingerprint};
/// The trainer's source revision, when it was recorded.
pub const GIT_REVISION: Option<&str> = {git};
/// Each feature's training distribution (bin edges and shares, as JSON: see
/// `forest_core::drift`), when the model carries one; drift monitoring
/// reads it.
pub const TRAINING_DISTRIBUTION_JSON: Option<&str> = {distribution};
",
        label = str_lit(&meta.label),
        classes = classes.join(", "),
        labels = labels.join(", "),
        names = list(&names, 4, |s| s.clone()),
        n_trees = f.n_trees(),
        n_features = f.n_features(),
        n_classes = f.n_classes(),
        n_nodes = f.n_nodes(),
        is_basket = meta.features.basket.is_some(),
        metrics = json(&meta.metrics),
        params = json(&meta.params),
        trainer = str_lit(&meta.trainer),
        source = str_lit(&meta.training.source),
        rows = meta.training.rows,
        fingerprint = str_lit(&meta.training.fingerprint),
        distribution = match &meta.training_distribution {
            Some(d) => format!(
                "Some({})",
                str_lit(&serde_json::to_string(d).unwrap_or_default())
            ),
            None => "None".into(),
        },
    ));
}
