//! Amazon SageMaker: the client this crate shares between the model
//! registry and training jobs, the training-container contract
//! ([`entrypoint`], what `forest-train train` does inside the image) and
//! training jobs ([`jobs`], `forest-train sagemaker submit`).
//!
//! The client is built from the same configuration as the lake's S3 client
//! (`lake::s3::shared_config`: endpoint override, region, credentials,
//! 3 attempts, 3 s connect and 60 s operation timeouts), so a registry call
//! to a dead endpoint fails within seconds with the operation named.

pub mod entrypoint;
pub mod jobs;

use std::future::Future;

use aws_sdk_sagemaker::config::Region;
use aws_sdk_sagemaker::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_sagemaker::Client;

use crate::lake::s3::{shared_config, DEFAULT_REGION};
use crate::lake::S3Options;

/// A failed SageMaker request, naming the operation, what it was about, and
/// the SDK's error code and cause chain.
#[derive(Debug, thiserror::Error)]
#[error("SageMaker {operation} on {target} failed: {message}")]
pub struct SageMakerError {
    pub operation: &'static str,
    pub target: String,
    pub message: String,
    /// The service's error code (`ValidationException`, ...), if it answered.
    pub code: Option<String>,
}

/// Endpoint from `AWS_ENDPOINT_URL_SAGEMAKER` or `AWS_ENDPOINT_URL`, region
/// from `AWS_REGION` or `AWS_DEFAULT_REGION`, default credentials chain.
pub fn options_from_env() -> S3Options {
    let endpoint = ["AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL"]
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()));
    S3Options {
        endpoint_url: endpoint,
        ..S3Options::from_env()
    }
}

/// A SageMaker client with its own runtime: a blocking API, like the lake.
/// Must not be used from inside an async context.
#[derive(Debug)]
pub struct SageMaker {
    client: Client,
    runtime: tokio::runtime::Runtime,
    endpoint: Option<String>,
}

impl SageMaker {
    /// Builds the client; makes no request.
    pub fn connect(options: &S3Options) -> Result<SageMaker, SageMakerError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SageMakerError {
                operation: "connect",
                target: "the SageMaker client".into(),
                message: format!("starting the I/O runtime: {e}"),
                code: None,
            })?;
        let shared = runtime.block_on(shared_config(options));
        let mut config = aws_sdk_sagemaker::config::Builder::from(&shared);
        if shared.region().is_none() {
            config = config.region(Region::new(DEFAULT_REGION));
        }
        Ok(SageMaker {
            client: Client::from_conf(config.build()),
            runtime,
            endpoint: options.endpoint_url.clone(),
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs a request to completion on the client's runtime.
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// The region requests go to.
    pub fn region(&self) -> String {
        self.client
            .config()
            .region()
            .map_or_else(|| DEFAULT_REGION.to_string(), |r| r.to_string())
    }

    /// Wraps an SDK error with the operation and target, and the endpoint
    /// when it is not AWS's own.
    pub fn error<E>(&self, operation: &'static str, target: &str, e: E) -> SageMakerError
    where
        E: std::error::Error + ProvideErrorMetadata,
    {
        let code = e.code().map(str::to_string);
        let mut message = DisplayErrorContext(&e).to_string();
        if let Some(endpoint) = &self.endpoint {
            message.push_str(&format!(" (endpoint {endpoint})"));
        }
        SageMakerError {
            operation,
            target: target.to_string(),
            message,
            code,
        }
    }
}

/// The figures the training container prints as `name=value;` lines, and
/// that a training job's MetricDefinitions read back with [`metric_regex`].
pub const METRICS: [&str; 6] = [
    "train:accuracy",
    "train:macro_f1",
    "train:oob_score",
    "validation:accuracy",
    "validation:macro_f1",
    "validation:log_loss",
];

/// One metric line, e.g. `validation:macro_f1=0.771234;`.
pub fn metric_line(name: &str, value: f64) -> String {
    format!("{name}={value:.6};")
}

/// The regex that captures `name`'s value from a [`metric_line`]
/// (SageMaker's MetricDefinitions take the first capture group).
pub fn metric_regex(name: &str) -> String {
    format!("{name}=([-+0-9.eE]+);")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_lines_carry_the_names_the_regexes_expect() {
        let line = metric_line("validation:macro_f1", 0.7712345);
        assert_eq!(line, "validation:macro_f1=0.771235;");
        let regex = metric_regex("validation:macro_f1");
        // No regex crate here: check the literal part and the class.
        let prefix = regex.split('(').next().unwrap();
        assert!(line.starts_with(prefix));
        assert!(line[prefix.len()..line.len() - 1]
            .chars()
            .all(|c| "-+0123456789.eE".contains(c)));
    }
}
