//! Integration tests of forest-train, one binary, a module per topic.

mod approved_model;
mod bad_input;
mod determinism;
mod etl;
mod lake_s3;
mod moto;
mod parity;
mod registry;
mod registry_sagemaker;
mod report_cli;
mod sagemaker_training;

/// Path of a file in a temporary directory, for tests that write tables.
pub fn write_file(dir: &std::path::Path, name: &str, contents: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write test file");
    path
}
