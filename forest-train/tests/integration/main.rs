//! Integration tests of forest-train, one binary, a module per topic.

mod approved_model;
mod bad_input;
mod determinism;
mod etl;
mod import;
// Against moto's S3 and SageMaker: only with the `aws` feature (a default
// one; the README's test command turns every feature on).
#[cfg(feature = "aws")]
mod lake_s3;
#[cfg(feature = "aws")]
mod moto;
mod parity;
mod predict_cli;
mod registry;
#[cfg(feature = "aws")]
mod registry_sagemaker;
mod report_cli;
#[cfg(feature = "aws")]
mod sagemaker_training;

/// Path of a file in a temporary directory, for tests that write tables.
pub fn write_file(dir: &std::path::Path, name: &str, contents: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write test file");
    path
}
