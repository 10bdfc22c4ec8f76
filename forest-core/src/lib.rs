//! `forest-core`: the model, and nothing but the model.
//!
//! A random forest here is a [`Forest`]: flat arrays, one per node field, over
//! all nodes of all trees (see [`forest`] for the layout rules). A [`Model`]
//! pairs it with [`Metadata`]: class labels, the [`FeatureSpec`] that turns
//! raw inputs into feature vectors, hyper-parameters and provenance. The
//! [`artifact`] module turns a model into the `.forest` byte format and back,
//! safely for untrusted bytes; [`predict`] is the reference interpreter;
//! [`metrics`] scores predictions. [`basket`] and [`encode`] turn a shopping
//! basket into features, from whichever storage holds the fitted tables; and
//! [`compiled`] is what a model compiled into Rust (by `forest-codegen`,
//! from the root crate's `build.rs`) calls at run time.
//!
//! The crate does no I/O and starts no threads, so the trainer, the server and
//! the build script can all depend on it.

pub mod artifact;
pub mod basket;
pub mod compiled;
pub mod encode;
pub mod error;
pub mod feature;
pub mod forest;
pub mod metrics;
pub mod model;
pub mod predict;
pub mod splitmix;
pub mod tags;

pub use basket::{Basket, BasketPriors, Item};
pub use encode::BasketTables;
pub use error::ModelError;
pub use feature::{FeatureDef, FeatureKind, FeatureSpec};
pub use forest::{Forest, ForestParts, Node, TreeShape};
pub use model::{Metadata, Model, TrainingInfo};
pub use predict::argmax;
