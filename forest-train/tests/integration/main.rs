//! Integration tests of forest-train, one binary, a module per topic.

mod approved_model;
mod bad_input;
mod damaged_artifact;
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

/// Runs the `forest-train` binary of this build (no git revision from the
/// environment, so artifacts do not depend on it).
pub fn run<I, S>(args: I) -> std::process::Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    std::process::Command::new(env!("CARGO_BIN_EXE_forest-train"))
        .args(args)
        .env_remove("FOREST_GIT_REVISION")
        .output()
        .expect("run forest-train")
}

/// Path of a file in a temporary directory, for tests that write tables.
pub fn write_file(dir: &std::path::Path, name: &str, contents: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write test file");
    path
}

/// The target directory of nested builds of the `forest` crate (around an
/// imported or a damaged artifact): beside this test binary's
/// (`target/debug/deps/integration-*` -> `target/imported`), so that they
/// do not wait for the lock of the build running the tests.
pub fn nested_target_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().join("imported")
}
