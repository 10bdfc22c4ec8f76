//! Engines: what turns baskets or feature rows into class probabilities.
//!
//! The server only knows the [`Engine`] trait, so the model behind it is
//! pluggable: [`Compiled`], the approved model compiled in (the `forest`
//! package, cargo feature `compiled`, on by default), or [`Interpreted`],
//! any `.forest` artifact through forest-core's interpreter (`--model FILE`:
//! development, comparison, emergency rollback).

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use forest_core::drift::FeatureDistribution;
use forest_core::{Basket, Model, ModelError};
use thiserror::Error;

/// Why an engine could not start or answer.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The artifact file could not be read.
    #[error("cannot read model {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        error: std::io::Error,
    },
    /// The artifact is not a model this server can serve: the decoder's
    /// error names the section, offset or field.
    #[error("model {path}: {error}")]
    Artifact {
        /// Where it came from (a path, or `embedded`).
        path: String,
        /// The decoder's answer.
        error: ModelError,
    },
    /// The model reads table rows, while this server answers baskets.
    #[error("model {0}: it reads table rows, not baskets; train it on the ETL's gold table")]
    NotABasketModel(String),
    /// This build has no compiled model and none was named.
    #[error("no compiled model in this build (feature `compiled` off): pass --model FILE (or FOREST_SERVE_MODEL) to serve an artifact")]
    NoModel,
    /// A request's rows did not fit the model.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The caller's output buffer does not fit the answer (a bug).
    #[error("{got} probabilities for an output of {room}")]
    Output {
        /// Values the engine produced.
        got: usize,
        /// Room the caller gave.
        room: usize,
    },
}

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
    /// Trees in the forest.
    pub n_trees: usize,
    /// `compiled` or `interpreted`.
    pub engine: &'static str,
    /// Lowercase hex SHA-256 of the artifact the model came from.
    pub content_hash: String,
}

impl ModelInfo {
    /// The number of classes.
    pub fn n_classes(&self) -> usize {
        self.classes.len()
    }
    /// The width of the feature vector.
    pub fn n_features(&self) -> usize {
        self.feature_names.len()
    }
}

/// A model that answers batches. Implementations must be cheap to call
/// concurrently from every worker thread (`&self`, no locks on the hot path).
pub trait Engine: Send + Sync + 'static {
    /// What the engine serves.
    fn info(&self) -> &ModelInfo;

    /// Class probabilities of each basket, row-major into `out`
    /// (`baskets.len() * n_classes` values, overwritten).
    fn predict_baskets(&self, baskets: &[Basket], out: &mut [f32]) -> Result<(), EngineError> {
        self.predict_baskets_watched(baskets, out, &|_| {})
    }

    /// [`Engine::predict_baskets`], handing each basket's feature vector to
    /// `seen` as it is encoded (drift monitoring watches them there).
    fn predict_baskets_watched(
        &self,
        baskets: &[Basket],
        out: &mut [f32],
        seen: &dyn Fn(&[f32]),
    ) -> Result<(), EngineError>;

    /// Class probabilities of ready feature rows (`rows.len() / n_features`
    /// rows, row-major), into `out` (`n_rows * n_classes` values).
    fn predict_features(&self, rows: &[f32], out: &mut [f32]) -> Result<(), EngineError>;

    /// The model's feature vector for a basket, when the engine can show it
    /// (used for the examples of the documentation).
    fn encode_basket(&self, _basket: &Basket) -> Option<Vec<f32>> {
        None
    }

    /// Each feature's training distribution, when the model carries one
    /// (models trained before format 3's drift data, or imported, do not).
    fn training_distribution(&self) -> Option<&[FeatureDistribution]> {
        None
    }
}

/// `copy_from_slice` without its panic on a length mismatch.
fn copy_out(probabilities: &[f32], out: &mut [f32]) -> Result<(), EngineError> {
    if probabilities.len() != out.len() {
        return Err(EngineError::Output {
            got: probabilities.len(),
            room: out.len(),
        });
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
    /// `source` names where the bytes came from, for errors.
    pub fn from_bytes(bytes: &[u8], name: &str, source: &str) -> Result<Interpreted, EngineError> {
        let model =
            forest_core::artifact::decode(bytes).map_err(|error| EngineError::Artifact {
                path: source.to_string(),
                error,
            })?;
        if model.meta.features.basket.is_none() {
            return Err(EngineError::NotABasketModel(source.to_string()));
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

    /// Reads, decodes and checks an artifact file.
    pub fn load(path: &Path, name: &str) -> Result<Interpreted, EngineError> {
        let bytes = std::fs::read(path).map_err(|error| EngineError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Interpreted::from_bytes(&bytes, name, &path.display().to_string())
    }

    /// The decoded model.
    pub fn model(&self) -> &Model {
        &self.model
    }
}

impl Engine for Interpreted {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn predict_baskets_watched(
        &self,
        baskets: &[Basket],
        out: &mut [f32],
        seen: &dyn Fn(&[f32]),
    ) -> Result<(), EngineError> {
        let spec = &self.model.meta.features;
        let forest = &self.model.forest;
        let k = self.info.n_classes();
        if out.len() != baskets.len() * k {
            return Err(EngineError::Output {
                got: baskets.len() * k,
                room: out.len(),
            });
        }
        SCRATCH.with_borrow_mut(|x| {
            if let [basket] = baskets {
                spec.encode_basket(basket, x)?;
                seen(x);
                forest.predict_proba_into(x, out)?;
                return Ok(());
            }
            // A batch: encode every basket, then walk the trees tree-major.
            let mut rows = Vec::with_capacity(baskets.len() * forest.n_features());
            for basket in baskets {
                spec.encode_basket(basket, x)?;
                seen(x);
                rows.extend_from_slice(x);
            }
            copy_out(&forest.predict_proba_batch(&rows)?, out)
        })
    }

    fn predict_features(&self, rows: &[f32], out: &mut [f32]) -> Result<(), EngineError> {
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

    fn training_distribution(&self) -> Option<&[FeatureDistribution]> {
        self.model.meta.training_distribution.as_deref()
    }
}

/// The approved model compiled into the binary (the `forest` package): no
/// file to load, a branch-free walk over static tables, and forest-core's
/// basket encoder over compiled tables with perfect hashes.
#[cfg(feature = "compiled")]
pub struct Compiled {
    info: ModelInfo,
    training_distribution: Option<Vec<FeatureDistribution>>,
}

#[cfg(feature = "compiled")]
impl Compiled {
    /// The compiled model, served under `name`.
    pub fn new(name: &str) -> Result<Compiled, EngineError> {
        if !forest::IS_BASKET_MODEL {
            return Err(EngineError::NotABasketModel(format!(
                "compiled in (version {}); build with FOREST_MODEL naming a basket model",
                forest::MODEL_VERSION
            )));
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
            // Written by the build from a model that decoded, so it parses;
            // were it not to, drift would be off, never the server down.
            training_distribution: forest::TRAINING_DISTRIBUTION_JSON
                .and_then(|json| serde_json::from_str(json).ok()),
        })
    }
}

#[cfg(feature = "compiled")]
impl Engine for Compiled {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn predict_baskets_watched(
        &self,
        baskets: &[Basket],
        out: &mut [f32],
        seen: &dyn Fn(&[f32]),
    ) -> Result<(), EngineError> {
        if let [basket] = baskets {
            // One basket: the single-row walk, no batch buffers.
            let x = forest::encode_basket(basket)?;
            seen(&x);
            return copy_out(&forest::predict(&x).probabilities, out);
        }
        let rows = baskets
            .iter()
            .map(|b| {
                let x = forest::encode_basket(b)?;
                seen(&x);
                Ok(x)
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        Ok(forest::predict_proba_into(&rows, out)?)
    }

    fn predict_features(&self, rows: &[f32], out: &mut [f32]) -> Result<(), EngineError> {
        Ok(forest::predict_proba_features(rows, out)?)
    }

    fn encode_basket(&self, basket: &Basket) -> Option<Vec<f32>> {
        forest::encode_basket(basket).ok().map(|x| x.to_vec())
    }

    fn training_distribution(&self) -> Option<&[FeatureDistribution]> {
        self.training_distribution.as_deref()
    }
}
