//! `forest-train`: from raw data to a governed `.forest` artifact. The
//! learner itself is `forest-learn`; this crate is everything around it:
//! storage, data preparation, evaluation, governance and the command line.
//!
//! The path data takes through this crate:
//!
//! 1. [`lake`] stores everything, in a local directory or (feature `aws`)
//!    under an S3 prefix, with atomic writes. [`synth`] writes raw weeks in
//!    the dunnhumby layout when there is no real data.
//! 2. [`etl`] turns raw weekly CSV into typed silver Parquet (quarantining
//!    bad lines with their reason) and basket-level gold Parquet, whose
//!    features come from forest-core's basket encoder with priors and the
//!    latent product-tag model fitted on the train split (out of fold for
//!    the training rows themselves).
//! 3. [`csv_input`] reads plain CSV tables for `fit` and `eval` into a
//!    `forest_learn::Dataset`; `forest_learn` grows the forest.
//! 4. [`report`] writes the evaluation report (metrics.json, Markdown, SVG
//!    pictures).
//! 5. [`registry`] versions models behind quality gates, locally or
//!    (feature `aws`) in the SageMaker Model Registry; [`sagemaker`] is the
//!    training-container contract and (feature `aws`) job submission.
//!
//! [`score`] scores CSV files and gold tables in batch, streaming, and
//! [`import`] converts models trained by LightGBM, XGBoost or exported to
//! ONNX into `.forest` artifacts that answer what their library answers.
//!
//! [`error`] holds the data errors (file, line, column) and [`fsutil`] the
//! atomic file write the commands share.
//!
//! ```
//! use forest_train::lake::{Lake, S3Options};
//! use forest_train::synth::{self, SynthConfig};
//! use forest_train::etl::{self, EtlConfig};
//!
//! let dir = std::env::temp_dir().join(format!("forest-train-doc-{}", std::process::id()));
//! let raw = Lake::open(dir.join("raw").to_str().unwrap(), &S3Options::default()).unwrap();
//! let lake = Lake::open(dir.join("lake").to_str().unwrap(), &S3Options::default()).unwrap();
//! // Two synthetic weeks in the dunnhumby layout, then the ETL to gold.
//! let config = SynthConfig { weeks: 2, baskets_per_week: 200, ..SynthConfig::default() };
//! for week in 0..config.weeks {
//!     raw.put(&config.file_name(week), &synth::generate_week(&config, week)).unwrap();
//! }
//! let report = etl::run(&raw, &lake, &EtlConfig::default(), &|_| {}).unwrap();
//! assert_eq!(report.rejected_rows, 0);
//! let gold = Lake::open(dir.join("lake/gold").to_str().unwrap(), &S3Options::default()).unwrap();
//! let train = etl::read_gold(&gold, Some(etl::gold::Split::Train)).unwrap();
//! assert!(train.n_rows() > 100);
//! # std::fs::remove_dir_all(&dir).ok();
//! ```

#![warn(missing_docs)]

pub mod csv_input;
pub mod error;
pub mod etl;
pub mod fsutil;
pub mod import;
pub mod lake;
pub mod registry;
pub mod report;
pub mod sagemaker;
pub mod score;
pub mod synth;

pub use error::DataError;
