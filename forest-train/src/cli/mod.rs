//! The subcommands of the `forest-train` binary, one module per family:
//! [`data`] (synth, etl), [`model`] (fit, eval, inspect), [`registry`]
//! (register, approve, reject, list, show, pull), [`scoring`] (predict,
//! import) and [`training`] (the
//! SageMaker entrypoint, merge, submit). `main.rs` only parses and
//! dispatches.

use clap::Args;
use forest_train::lake::S3Options;

mod container;
pub mod data;
mod input;
pub mod model;
pub mod registry;
pub mod scoring;
pub mod training;

/// Where S3 locations live; the rest comes from the usual AWS configuration
/// (environment, profile, instance role).
#[derive(Args)]
pub struct S3Args {
    /// S3 endpoint to use instead of AWS's (a local S3-compatible server).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
}

impl S3Args {
    pub fn options(&self) -> S3Options {
        let mut options = S3Options::from_env();
        if self.endpoint_url.is_some() {
            options.endpoint_url = self.endpoint_url.clone();
        }
        options
    }
}
