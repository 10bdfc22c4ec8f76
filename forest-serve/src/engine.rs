//! Engines: what turns baskets or feature rows into class probabilities.
//!
//! The server only knows the [`Engine`] trait, so the model behind it is
//! pluggable: [`Compiled`], the approved model compiled in (the `forest`
//! package, cargo feature `compiled`, on by default), or [`Interpreted`],
//! any `.forest` artifact through forest-core's interpreter (`--model FILE`:
//! development, comparison, emergency rollback).

use std::cell::RefCell;
use std::path::Path;

use anyhow::{bail, Context};
use forest_core::{Basket, Model};

/// What the server tells about the model it serves.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// The name clients use on the Open Inference Protocol routes.
    pub name: String,
    /// What answers carry as `model_version`.
    pub version: String,
    /// Class codes; probability `i` of every answer is `classes[i]`.
    pub classes: Vec<String>,
    /// The model's feature vector, in order (what `/v2/.../infer` takes).
    pub feature_names: Vec<String>,
    pub n_trees: usize,
    /// `compiled` or `interpreted`.
    pub engine: &'static str,
    /// Lowercase hex SHA-256 of the artifact the model came from.
    pub content_hash: String,
}

impl ModelInfo {
    pub fn n_classes(&self) -> usize {
        self.classes.len()
    }
    pub fn n_features(&self) -> usize {
        self.feature_names.len()
    }
}

/// A model that answers batches. Implementations must be cheap to call
/// concurrently from every worker thread (`&self`, no locks on the hot path).
pub trait Engine: Send + Sync + 'static {
    fn info(&self) -> &ModelInfo;

    /// Class probabilities of each basket, row-major into `out`
    /// (`baskets.len() * n_classes` values, overwritten).
    fn predict_baskets(&self, baskets: &[Basket], out: &mut [f32]) -> anyhow::Result<()>;

    /// Class probabilities of ready feature rows (`rows.len() / n_features`
    /// rows, row-major), into `out` (`n_rows * n_classes` values).
    fn predict_features(&self, rows: &[f32], out: &mut [f32]) -> anyhow::Result<()>;

    /// The model's feature vector for a basket, when the engine can show it
    /// (used for the examples of the documentation).
    fn encode_basket(&self, _basket: &Basket) -> Option<Vec<f32>> {
        None
    }
}

/// `copy_from_slice` without its panic on a length mismatch.
fn copy_out(probabilities: &[f32], out: &mut [f32]) -> anyhow::Result<()> {
    if probabilities.len() != out.len() {
        bail!(
            "{} probabilities for an output of {}",
            probabilities.len(),
            out.len()
        );
    }
    out.copy_from_slice(probabilities);
    Ok(())
}

thread_local! {
    /// Feature scratch of the interpreter, one per worker thread.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// A `.forest` artifact run by `forest-core`'s interpreter.
pub struct Interpreted {
    model: Model,
    info: ModelInfo,
}

impl Interpreted {
    /// Decodes and checks an artifact; the model must read baskets.
    pub fn from_bytes(bytes: &[u8], name: &str) -> anyhow::Result<Interpreted> {
        let model = forest_core::artifact::decode(bytes)?;
        if model.meta.features.basket.is_none() {
            bail!("the model reads table rows, not baskets: train it on the ETL's gold table");
        }
        let hash = forest_core::artifact::content_hash(bytes);
        let info = ModelInfo {
            name: name.to_string(),
            version: hash[..12].to_string(),
            classes: model.meta.classes.clone(),
            feature_names: model
                .meta
                .features
                .features
                .iter()
                .map(|f| f.name.clone())
                .collect(),
            n_trees: model.forest.n_trees(),
            engine: "interpreted",
            content_hash: hash,
        };
        Ok(Interpreted { model, info })
    }

    pub fn load(path: &Path, name: &str) -> anyhow::Result<Interpreted> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read model {}", path.display()))?;
        Interpreted::from_bytes(&bytes, name).with_context(|| format!("model {}", path.display()))
    }

    pub fn model(&self) -> &Model {
        &self.model
    }
}

impl Engine for Interpreted {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn predict_baskets(&self, baskets: &[Basket], out: &mut [f32]) -> anyhow::Result<()> {
        let spec = &self.model.meta.features;
        let forest = &self.model.forest;
        let k = self.info.n_classes();
        if out.len() != baskets.len() * k {
            bail!("output has room for {} values", out.len());
        }
        SCRATCH.with_borrow_mut(|x| {
            if let [basket] = baskets {
                spec.encode_basket(basket, x)?;
                forest.predict_proba_into(x, out)?;
                return Ok(());
            }
            // A batch: encode every basket, then walk the trees tree-major.
            let mut rows = Vec::with_capacity(baskets.len() * forest.n_features());
            for basket in baskets {
                spec.encode_basket(basket, x)?;
                rows.extend_from_slice(x);
            }
            copy_out(&forest.predict_proba_batch(&rows)?, out)
        })
    }

    fn predict_features(&self, rows: &[f32], out: &mut [f32]) -> anyhow::Result<()> {
        copy_out(&self.model.forest.predict_proba_batch(rows)?, out)
    }

    fn encode_basket(&self, basket: &Basket) -> Option<Vec<f32>> {
        let mut x = Vec::new();
        self.model
            .meta
            .features
            .encode_basket(basket, &mut x)
            .ok()?;
        Some(x)
    }
}

/// The approved model compiled into the binary (the `forest` package): no
/// file to load, a branch-free walk over static tables, and forest-core's
/// basket encoder over compiled tables with perfect hashes.
#[cfg(feature = "compiled")]
pub struct Compiled {
    info: ModelInfo,
}

#[cfg(feature = "compiled")]
impl Compiled {
    pub fn new(name: &str) -> anyhow::Result<Compiled> {
        if !forest::IS_BASKET_MODEL {
            bail!(
                "the compiled model reads table rows, not baskets: build with FOREST_MODEL naming a basket model"
            );
        }
        Ok(Compiled {
            info: ModelInfo {
                name: name.to_string(),
                version: forest::MODEL_VERSION.to_string(),
                classes: forest::CLASSES.iter().map(|c| c.to_string()).collect(),
                feature_names: forest::FEATURE_NAMES
                    .iter()
                    .map(|f| f.to_string())
                    .collect(),
                n_trees: forest::N_TREES,
                engine: "compiled",
                content_hash: forest::CONTENT_HASH.to_string(),
            },
        })
    }
}

#[cfg(feature = "compiled")]
impl Engine for Compiled {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn predict_baskets(&self, baskets: &[Basket], out: &mut [f32]) -> anyhow::Result<()> {
        if let [basket] = baskets {
            // One basket: the single-row walk, no batch buffers.
            return copy_out(&forest::predict_basket(basket)?.probabilities, out);
        }
        Ok(forest::predict_proba_baskets(baskets, out)?)
    }

    fn predict_features(&self, rows: &[f32], out: &mut [f32]) -> anyhow::Result<()> {
        Ok(forest::predict_proba_features(rows, out)?)
    }

    fn encode_basket(&self, basket: &Basket) -> Option<Vec<f32>> {
        forest::encode_basket(basket).ok().map(|x| x.to_vec())
    }
}
