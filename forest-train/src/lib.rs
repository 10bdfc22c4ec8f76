//! `forest-train`: from raw data to a governed `.forest` artifact.
//!
//! The path data takes through this crate:
//!
//! 1. [`lake`] stores everything, in a local directory or under an S3
//!    prefix, with atomic writes. [`synth`] writes raw weeks in the
//!    dunnhumby layout when there is no real data.
//! 2. [`etl`] turns raw weekly CSV into typed silver Parquet (quarantining
//!    bad lines with their reason) and basket-level gold Parquet, whose
//!    features come from `forest_core::basket` with priors fitted on the
//!    train split.
//! 3. [`input`] reads what `fit` and `eval` are given: a gold table at a
//!    split, or a CSV through [`csv_input`], into a [`Dataset`]
//!    (column-major `f32` features, class indices).
//! 4. [`binning`] maps every feature once to at most 255 ordered bins;
//!    [`train`] draws a bootstrap sample per tree and grows the trees in
//!    parallel with [`tree`], whose splits come from [`split`]: histograms
//!    of bins at large nodes, sorted raw values at small ones. The result is
//!    a `forest_core::Model`, which `forest_core::artifact` encodes.
//! 5. [`report`] writes the evaluation report (metrics.json, Markdown, SVG
//!    pictures); [`importance`] measures permutation importance.
//! 6. [`registry`] versions models behind quality gates, locally or in the
//!    SageMaker Model Registry; [`sagemaker`] is the training-container
//!    contract and job submission, and [`merge`] joins the forests that
//!    several hosts grew.
//!
//! [`params`] holds the hyper-parameters, [`error`] the data errors and
//! [`fsutil`] the atomic file write the commands share.

pub mod csv_input;
pub mod error;
pub mod etl;
pub mod fsutil;
pub mod input;
pub mod lake;
pub mod registry;
pub mod report;
pub mod sagemaker;
pub mod synth;

pub use error::DataError;
