//! `forest-core`: the model, and nothing but the model.
//!
//! A random forest here is a [`Forest`]: flat arrays, one per node field,
//! over all nodes of all trees (a node's right child follows its left one,
//! so one index suffices). A [`Model`] pairs it with [`Metadata`]: class
//! labels, the [`FeatureSpec`] that turns raw inputs into feature vectors,
//! hyper-parameters and provenance. [`artifact`] turns a model into the
//! `.forest` byte format and back, safely for untrusted bytes; the
//! [`Forest`]'s own `predict_*` methods are the reference interpreter;
//! [`metrics`] scores predictions. A [`Basket`] (the one definition of the
//! request schema) becomes features through [`FeatureSpec::encode_basket`],
//! from whichever storage holds the fitted tables ([`BasketTables`]), with
//! [`tags`] for the latent product-tag features; and [`compiled`] is what a
//! model compiled into Rust (by `forest-codegen`, from the root crate's
//! `build.rs`) calls at run time.
//!
//! ```
//! use forest_core::{artifact, FeatureDef, FeatureSpec, Forest, Metadata, Model, Node, TrainingInfo};
//!
//! // One split: x <= 0.5 goes left (class "no"), else right ("yes"); NaN right.
//! let tree = vec![
//!     Node { feature: 0, threshold: 0.5, left: 1, missing_left: false, value: vec![0.5, 0.5] },
//!     Node::leaf(1, vec![1.0, 0.0]),
//!     Node::leaf(2, vec![0.0, 1.0]),
//! ];
//! let meta = Metadata {
//!     label: "y".into(),
//!     classes: vec!["no".into(), "yes".into()],
//!     features: FeatureSpec { features: vec![FeatureDef::numeric("x")], basket: None },
//!     params: serde_json::json!({}),
//!     training: TrainingInfo { source: "example".into(), rows: 2, fingerprint: String::new() },
//!     metrics: serde_json::json!({}),
//!     feature_importance: vec![],
//!     tree_seeds: vec![],
//!     trainer: "example".into(),
//!     git_revision: None,
//!     ensemble: Default::default(),
//!     training_distribution: None,
//! };
//! let model = Model::new(meta, Forest::from_trees(1, 2, &[tree]).unwrap()).unwrap();
//!
//! // The artifact round-trips bit for bit, and any bytes give a model or an error.
//! let bytes = artifact::encode(&model);
//! let back = artifact::decode(&bytes).unwrap();
//! assert_eq!(back, model);
//! assert!(artifact::decode(&bytes[..bytes.len() - 1]).is_err());
//! assert_eq!(back.forest.predict_proba(&[0.7]).unwrap(), [0.0, 1.0]);
//! assert_eq!(back.forest.predict_proba(&[f32::NAN]).unwrap(), [0.0, 1.0]);
//! ```
//!
//! The crate does no I/O and starts no threads, so the trainer, the server
//! and the build script can all depend on it.

#![warn(missing_docs)]

pub mod artifact;
mod basket;
pub mod compiled;
pub mod drift;
mod encode;
mod ensemble;
mod error;
mod feature;
mod forest;
mod layout;
pub mod metrics;
mod model;
mod predict;
mod priors;
pub mod splitmix;
pub mod tags;

pub use basket::{
    class_label, class_level, set_optional_text, set_text, Basket, ClassMeaning, Field, FieldType,
    Item, ProductLevel, BASKET_FIELDS, ITEM_FIELDS, PRICE_SENSITIVITY,
};
pub use encode::{encode_basket_with, line_priors, BasketTables, CachedLine};
pub use ensemble::{Ensemble, Link, Precision, Sum, SumView};
pub use error::{ArtifactError, ModelError};
pub use feature::{
    category_code, encode_value, is_missing, is_missing_trimmed, parse_number, shorten, shorten_to,
    trim, FeatureDef, FeatureKind, FeatureSpec, MISSING_TOKENS,
};
pub use forest::{Forest, ForestParts, Node, TreeShape};
pub use layout::{
    basket_width, feature_names, CATEGORICAL_FIELDS, PRICE_FIELDS, PRIOR_FAMILIES, TOTAL_FIELDS,
};
pub use model::{Metadata, Model, TrainingInfo};
pub use predict::argmax;
pub use priors::{BasketPriors, PriorLevel};
