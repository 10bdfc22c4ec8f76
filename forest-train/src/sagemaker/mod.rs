//! Amazon SageMaker: the training-container contract ([`entrypoint`],
//! what `forest-train train` does inside the image, which needs no AWS
//! client) and, with the `aws` feature, the client the model registry and
//! training jobs share ([`SageMaker`]) and training jobs ([`jobs`],
//! `forest-train sagemaker submit`).

#[cfg(feature = "aws")]
mod client;
pub mod entrypoint;
#[cfg(feature = "aws")]
pub mod jobs;

#[cfg(feature = "aws")]
pub use client::{SageMaker, SageMakerError};

use crate::lake::S3Options;

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
