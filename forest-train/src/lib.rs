//! `forest-train`: from a table on disk to a `.forest` artifact.
//!
//! The path a training run takes through this crate:
//!
//! 1. [`csv_input`] reads a CSV into a [`Dataset`] (column-major `f32`
//!    features, class indices), inferring numeric and categorical columns
//!    and naming file, line and column in every error ([`DataError`]).
//! 2. [`binning`] maps every feature once to at most 255 ordered bins.
//! 3. [`train`] draws a bootstrap sample per tree and grows the trees in
//!    parallel with [`tree`], whose splits come from [`split`]: histograms
//!    of bins at large nodes, sorted raw values at small ones.
//! 4. The trees, the feature spec and the provenance become a
//!    `forest_core::Model`, which `forest_core::artifact` encodes.
//!
//! [`importance`] measures permutation importance on held-out rows.

pub mod binning;
pub mod csv_input;
pub mod dataset;
pub mod error;
pub mod etl;
pub mod fsutil;
pub mod importance;
pub mod input;
pub mod lake;
pub mod merge;
pub mod params;
pub mod registry;
pub mod report;
pub mod sagemaker;
pub mod split;
pub mod synth;
pub mod train;
pub mod tree;

pub use dataset::Dataset;
pub use error::DataError;
pub use params::{ClassWeight, Criterion, ForestParams, MaxFeatures, MaxSamples};
pub use train::{fit, fit_trees, tree_seed, FitReport, TrainError};
