//! The SageMaker client this crate shares between the model registry and
//! training jobs (the `aws` feature).
//!
//! It is built from the same configuration as the lake's S3 client
//! (`lake::s3::shared_config`: endpoint override, region, credentials,
//! 3 attempts, 3 s connect and 60 s operation timeouts), so a registry call
//! to a dead endpoint fails within seconds with the operation named.

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
    /// The API operation that failed (`CreateModelPackage`, ...).
    pub operation: &'static str,
    /// What the request was about: a model package group, an ARN, a job.
    pub target: String,
    /// The SDK's error message and cause chain, and the endpoint when it is
    /// not AWS's own.
    pub message: String,
    /// The service's error code (`ValidationException`, ...), if it answered.
    pub code: Option<String>,
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

    /// The SDK client, for building requests; run them with
    /// [`SageMaker::block_on`].
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
