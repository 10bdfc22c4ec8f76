//! `forest-learn`: the random-forest learner, and nothing else.
//!
//! It turns a [`Dataset`] (column-major `f32` features, class indices) and
//! [`ForestParams`] into a `forest_core::Model`: bootstrap samples, CART
//! trees grown in parallel, out-of-bag score and impurity importance. It
//! also measures [`permutation_importance`] and [`merge`]s forests that
//! several hosts grew. Reading tables, lakes and registries is
//! `forest-train`'s job; this crate does no I/O.
//!
//! ```
//! use forest_core::{FeatureDef, FeatureKind, FeatureSpec};
//! use forest_learn::{fit, Dataset, ForestParams};
//!
//! // y = [x > 0.5], on a hundred rows.
//! let x: Vec<f32> = (0..100).map(|i| i as f32 / 100.0).collect();
//! let data = Dataset {
//!     source: "example".into(),
//!     spec: FeatureSpec {
//!         features: vec![FeatureDef { name: "x".into(), kind: FeatureKind::Numeric }],
//!         basket: None,
//!     },
//!     labels: x.iter().map(|&v| u32::from(v > 0.5)).collect(),
//!     columns: vec![x],
//!     label: "y".into(),
//!     classes: vec!["no".into(), "yes".into()],
//! };
//! let params = ForestParams { n_trees: 10, ..ForestParams::default() };
//! let (model, report) = fit(&data, &params, &|_done, _total| {}).unwrap();
//! assert_eq!(model.forest.predict_batch(&[0.1, 0.9]).unwrap(), [0, 1]);
//! assert!(report.oob_score.unwrap() > 0.9);
//! ```
//!
//! # The key decisions
//!
//! - **Determinism.** Every tree's seed is derived from the forest seed and
//!   the tree's index before any thread starts ([`tree_seed`]), and ties
//!   between splits go to the lowest feature index, so the same data,
//!   parameters and seed give the same model bytes on any number of
//!   threads.
//! - **Two split searches.** Every feature is pre-binned once into at most
//!   255 ordered bins (the `binning` module); large nodes scan class
//!   histograms of bins (the `histogram` module, each sample's bins kept
//!   beside it by `binned_rows`), small ones the sorted raw values, where
//!   exact thresholds pay: on small tables ([`HistogramMinRows`]'s `auto`;
//!   on large ones histograms everywhere cost half the time for the same
//!   accuracy). Both place a threshold at the midpoint of two neighbouring
//!   values, as scikit-learn does, so the two agree on where a cut lies.
//! - **Missing values** are learned, not imputed: each split sends NaN to
//!   the side that lowers impurity most, and remembers it in the node.
//!
//! The defaults are scikit-learn's `RandomForestClassifier`'s.

#![warn(missing_docs)]

mod binned_rows;
mod binning;
mod dataset;
mod histogram;
mod importance;
mod merge;
mod params;
mod split;
mod train;
mod tree;

pub use dataset::Dataset;
pub use importance::{permutation_importance, PermutationImportance};
pub use merge::{merge, MergeError};
pub use params::{ClassWeight, Criterion, ForestParams, HistogramMinRows, MaxFeatures, MaxSamples};
pub use train::{fit, fit_trees, tree_seed, FitReport, Progress, TrainError};
