//! `forest`: the approved model, compiled into the crate.
//!
//! `build.rs` reads `models/approved.forest` (or `$FOREST_MODEL`), checks it
//! and generates Rust with the code emitter (the `forest-codegen` crate):
//! the forest's node arrays as static tables, a
//! walk over them with no branch on any feature value, the feature encoder
//! with its vocabularies and product priors, and the model's metadata as
//! constants. Nothing is loaded or parsed at run time.
//!
//! Inputs come in the shapes the server accepts: a [`Basket`] with its named
//! fields and line items, or a ready feature vector (`&[f32]`, in
//! [`FEATURE_NAMES`] order). Answers are [`Prediction`]s: class
//! probabilities, the most probable class's code and its readable label.
//!
//! Three engines run the same model, for tests and benchmarks to compare:
//! [`compiled`] (what the `predict_*` functions use), `baseline` (nested
//! if/else, as common forest compilers emit; cargo feature `baseline`) and
//! `interpreter` (forest-core's reference walk over the embedded artifact;
//! cargo feature `interpreter`). All three give bit-identical
//! probabilities. Both features are off by default: a server needs neither.
//!
//! ```
//! use forest::{predict_basket, Basket, Item, CLASSES};
//!
//! let basket = Basket {
//!     store_format: "LS".into(),
//!     store_region: "E02".into(),
//!     basket_size: "L".into(),
//!     basket_type: "Top Up".into(),
//!     dominant_mission: "Fresh".into(),
//!     customer_price_sensitivity: Some("MM".into()),
//!     items: vec![Item {
//!         prod_code: "PRD0900097".into(),
//!         prod_code_10: "CL00001".into(),
//!         prod_code_20: "DEP00001".into(),
//!         prod_code_30: "G00001".into(),
//!         prod_code_40: Some("D00001".into()),
//!         quantity: 2.0,
//!         spend: 2.06,
//!     }],
//! };
//! # if forest::IS_BASKET_MODEL {
//! let prediction = predict_basket(&basket).unwrap();
//! assert!(CLASSES.contains(&prediction.code));
//! let total: f32 = prediction.probabilities.iter().sum();
//! assert!((total - 1.0).abs() < 1e-5);
//! # }
//! ```

use forest_core::compiled as runtime;
use forest_core::encode_basket_with;

pub use forest_core::{Basket, Item, ModelError};

/// The generated module: tables, walks, encoder tables and metadata.
#[allow(unsafe_code, clippy::approx_constant, clippy::unnecessary_cast)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/forest_model.rs"));
}

pub use generated::{
    CLASSES, CLASS_LABELS, CONTENT_HASH, FEATURE_NAMES, GIT_REVISION, IS_BASKET_MODEL, LABEL,
    MAX_DEPTH, METRICS_JSON, MODEL_VERSION, N_CLASSES, N_FEATURES, N_NODES, N_TREES, PARAMS_JSON,
    TRAINER, TRAINING_DISTRIBUTION_JSON, TRAINING_FINGERPRINT, TRAINING_ROWS, TRAINING_SOURCE,
};

/// A feature vector, in [`FEATURE_NAMES`] order.
pub type Features = [f32; N_FEATURES];
/// Class probabilities, in [`CLASSES`] order.
pub type Probabilities = [f32; N_CLASSES];

/// The answer for one input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// Index of the most probable class (the first one on ties).
    pub class: usize,
    /// Its code, e.g. `LA`.
    pub code: &'static str,
    /// Its meaning, e.g. `High price sensitivity`.
    pub label: &'static str,
    /// Every class's probability, in [`CLASSES`] order.
    pub probabilities: Probabilities,
}

impl Prediction {
    /// The prediction that `probabilities` make.
    pub fn from_probabilities(probabilities: Probabilities) -> Prediction {
        let class = forest_core::argmax(&probabilities);
        Prediction {
            class,
            code: CLASSES[class],
            label: CLASS_LABELS[class],
            probabilities,
        }
    }
}

/// The feature vector of a basket, computed as the ETL computed the
/// training features. Fails only for a model that reads table rows.
pub fn encode_basket(basket: &Basket) -> Result<Features, ModelError> {
    let tables = generated::BASKET
        .as_ref()
        .ok_or_else(|| ModelError::input("this model reads table rows, not baskets"))?;
    let mut x = [0.0; N_FEATURES];
    encode_basket_with(tables, basket, &mut x)?;
    Ok(x)
}

/// The feature vector of a table row given as raw text values in
/// [`FEATURE_NAMES`] order (missing: empty, `NA`, `NaN`, `nan`, `null`).
pub fn encode_row(raw: &[&str]) -> Result<Features, ModelError> {
    let mut x = [0.0; N_FEATURES];
    runtime::encode_row(&generated::ROW_FEATURES, raw, &mut x)?;
    Ok(x)
}

/// Predicts from a feature vector.
pub fn predict(x: &Features) -> Prediction {
    Prediction::from_probabilities(compiled::predict_proba(x))
}

/// Predicts from a feature vector of unchecked length.
pub fn predict_features(x: &[f32]) -> Result<Prediction, ModelError> {
    Ok(predict(&features(x)?))
}

/// Predicts for one basket.
pub fn predict_basket(basket: &Basket) -> Result<Prediction, ModelError> {
    Ok(predict(&encode_basket(basket)?))
}

/// Predicts for one table row of raw text values.
pub fn predict_row(raw: &[&str]) -> Result<Prediction, ModelError> {
    Ok(predict(&encode_row(raw)?))
}

/// Predicts for many feature vectors with the batch walk (several rows
/// through each tree at once); the same answers as [`predict`] row by row.
pub fn predict_batch(rows: &[Features]) -> Vec<Prediction> {
    let mut out = vec![[0.0; N_CLASSES]; rows.len()];
    compiled::predict_proba_batch(rows, &mut out);
    out.into_iter()
        .map(Prediction::from_probabilities)
        .collect()
}

/// Predicts for a row-major batch of feature vectors
/// (`rows.len()` = rows × [`N_FEATURES`]).
pub fn predict_features_batch(rows: &[f32]) -> Result<Vec<Prediction>, ModelError> {
    Ok(predict_batch(&feature_rows(rows)?))
}

/// Predicts for many baskets; fails on the first basket that cannot be
/// encoded (only a table-row model refuses baskets).
pub fn predict_basket_batch(baskets: &[Basket]) -> Result<Vec<Prediction>, ModelError> {
    Ok(predict_batch(&basket_rows(baskets)?))
}

/// Class probabilities of each basket, row-major into `out`
/// (`baskets.len() * N_CLASSES` values, overwritten): the shape a server's
/// batch answer takes.
pub fn predict_proba_baskets(baskets: &[Basket], out: &mut [f32]) -> Result<(), ModelError> {
    predict_proba_into(&basket_rows(baskets)?, out)
}

/// Class probabilities of row-major feature rows (`rows.len() / N_FEATURES`
/// rows) into `out` (`n_rows * N_CLASSES` values, overwritten).
pub fn predict_proba_features(rows: &[f32], out: &mut [f32]) -> Result<(), ModelError> {
    predict_proba_into(&feature_rows(rows)?, out)
}

/// Row-major feature values as feature vectors; fails unless the length is
/// a whole number of rows.
fn feature_rows(rows: &[f32]) -> Result<Vec<Features>, ModelError> {
    if rows.len() % N_FEATURES != 0 {
        return Err(width_error(rows.len()));
    }
    rows.chunks_exact(N_FEATURES).map(features).collect()
}

/// Each basket's feature vector; fails on the first that cannot be encoded.
fn basket_rows(baskets: &[Basket]) -> Result<Vec<Features>, ModelError> {
    baskets.iter().map(encode_basket).collect()
}

/// Class probabilities of ready feature vectors, row-major into `out`
/// (`rows.len() * N_CLASSES` values, overwritten), with the batch walk.
pub fn predict_proba_into(rows: &[Features], out: &mut [f32]) -> Result<(), ModelError> {
    if out.len() != rows.len() * N_CLASSES {
        return Err(ModelError::input(format!(
            "{} rows need room for {} probabilities, the output has {}",
            rows.len(),
            rows.len() * N_CLASSES,
            out.len()
        )));
    }
    let mut proba = vec![[0.0; N_CLASSES]; rows.len()];
    compiled::predict_proba_batch(rows, &mut proba);
    for (o, p) in out.chunks_exact_mut(N_CLASSES).zip(&proba) {
        o.copy_from_slice(p);
    }
    Ok(())
}

fn features(x: &[f32]) -> Result<Features, ModelError> {
    x.try_into().map_err(|_| width_error(x.len()))
}

fn width_error(len: usize) -> ModelError {
    ModelError::input(format!(
        "expected rows of {N_FEATURES} features, got {len} values"
    ))
}

/// The branch-free compiled walk over static tables: what the `predict_*`
/// functions run.
pub mod compiled {
    pub use crate::generated::{leaves, predict_proba, predict_proba_batch, ROW_LANES, TREE_LANES};
}

/// The nested if/else baseline, one function per tree; for comparison only
/// (cargo feature `baseline`).
#[cfg(feature = "baseline")]
pub mod baseline {
    pub use crate::generated::nested::{predict_proba, predict_proba_batch};
}

/// forest-core's interpreter over the artifact embedded in the crate: the
/// reference the compiled engines are checked against, and a way to run the
/// very same model without them (cargo feature `interpreter`).
#[cfg(feature = "interpreter")]
pub mod interpreter {
    use std::sync::OnceLock;

    use forest_core::{artifact, Model, ModelError};

    use crate::{Basket, Features, Probabilities, N_CLASSES, N_FEATURES};

    /// The embedded artifact's bytes.
    pub fn artifact_bytes() -> &'static [u8] {
        crate::generated::ARTIFACT
    }

    /// The embedded model, decoded on first use.
    pub fn model() -> &'static Model {
        static MODEL: OnceLock<Model> = OnceLock::new();
        MODEL.get_or_init(|| {
            artifact::decode(artifact_bytes())
                .expect("build.rs decoded and validated these very bytes")
        })
    }

    /// Class probabilities of one feature vector.
    pub fn predict_proba(x: &Features) -> Probabilities {
        let mut p = [0.0; N_CLASSES];
        model()
            .forest
            .predict_proba_into(x, &mut p)
            .expect("the vector has the model's width");
        p
    }

    /// Class probabilities of a batch (forest-core's tree-major batch walk).
    pub fn predict_proba_batch(rows: &[Features]) -> Vec<Probabilities> {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        let proba = model()
            .forest
            .predict_proba_batch(&flat)
            .expect("rows have the model's width");
        proba
            .chunks_exact(N_CLASSES)
            .map(|p| p.try_into().expect("chunks of N_CLASSES"))
            .collect()
    }

    /// The feature vector of a basket, by the decoded spec.
    pub fn encode_basket(basket: &Basket) -> Result<Features, ModelError> {
        let mut x = Vec::with_capacity(N_FEATURES);
        model().meta.features.encode_basket(basket, &mut x)?;
        crate::features(&x)
    }
}
