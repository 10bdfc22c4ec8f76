//! SageMaker training jobs: `forest-train sagemaker submit`.
//!
//! A job runs the training image (whose entrypoint is `forest-train`, given
//! `train` by SageMaker) on `instance_count` instances, each with the gold
//! table copied in as the `train` (and `validation`) channel
//! (S3DataSource, FullyReplicated: every host needs every row, since hosts
//! split trees, not rows). Managed spot training, with a checkpoint S3 URI
//! SageMaker syncs with `/opt/ml/checkpoints`, lets an interrupted host
//! reuse its finished part. MetricDefinitions read the container's metric
//! lines ([`super::METRICS`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_sagemaker::types::{
    AlgorithmSpecification, Channel, CheckpointConfig, DataSource, MetricDefinition,
    OutputDataConfig, ResourceConfig, S3DataDistribution, S3DataSource, S3DataType,
    StoppingCondition, TrainingInputMode, TrainingInstanceType, TrainingJobStatus,
};

use super::entrypoint::parse_hyperparameters;
use super::{metric_regex, SageMaker, SageMakerError, METRICS};

/// Where SageMaker syncs the checkpoint S3 URI inside the container.
pub const CHECKPOINT_LOCAL_PATH: &str = "/opt/ml/checkpoints";

/// Everything a training job is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    /// The job's name: 1-63 letters, digits and inner `-`, unique in the
    /// account and region.
    pub name: String,
    /// The training image (ECR URI).
    pub image: String,
    /// The execution role SageMaker assumes (S3 read of the gold table,
    /// write of the output and checkpoints, ECR pull, CloudWatch logs).
    pub role_arn: String,
    /// `s3://` prefix of the gold table for the `train` channel.
    pub train: String,
    /// `s3://` prefix of the gold table for the `validation` channel.
    pub validation: Option<String>,
    /// `s3://` prefix where SageMaker writes `<job>/output/model.tar.gz`.
    pub output: String,
    /// The instance type, e.g. `ml.m5.xlarge`.
    pub instance_type: String,
    /// Instances (hosts); each grows its share of the trees, so there must
    /// be at least as many trees.
    pub instance_count: i32,
    /// Storage volume per instance, in GB.
    pub volume_gb: i32,
    /// How long the job may run, in seconds, before SageMaker stops it.
    pub max_runtime_secs: i32,
    /// Managed spot training.
    pub spot: bool,
    /// Spot only: how long to wait for capacity plus run (>= max runtime).
    pub max_wait_secs: Option<i32>,
    /// `s3://` prefix synced with `/opt/ml/checkpoints` (default with spot:
    /// `<output>/<job>/checkpoints`).
    pub checkpoint: Option<String>,
    /// Sent as strings, checked here with the container's own parser.
    pub hyperparameters: BTreeMap<String, String>,
}

impl JobSpec {
    /// Checks everything SageMaker would reject only after accepting the
    /// request, or the container only after instances started.
    pub fn validate(&self) -> Result<(), String> {
        let n = &self.name;
        let name_ok = (1..=63).contains(&n.len())
            && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !n.starts_with('-')
            && !n.ends_with('-');
        if !name_ok {
            return Err(format!(
                "job name {n:?}: 1-63 letters, digits and inner '-'"
            ));
        }
        for (what, uri) in [
            ("--train", Some(&self.train)),
            ("--output", Some(&self.output)),
        ]
        .into_iter()
        .chain([
            ("--validation", self.validation.as_ref()),
            ("--checkpoint", self.checkpoint.as_ref()),
        ]) {
            if let Some(uri) = uri {
                if !uri.starts_with("s3://") || uri.len() <= 5 {
                    return Err(format!("{what} {uri:?}: expected s3://bucket/prefix"));
                }
            }
        }
        if self.image.trim().is_empty() {
            return Err("--image: the training image URI is required".into());
        }
        if !self.role_arn.starts_with("arn:") {
            return Err(format!(
                "--role {:?}: expected an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
                self.role_arn
            ));
        }
        if self.instance_count < 1 {
            return Err("--instance-count must be at least 1".into());
        }
        if self.max_runtime_secs < 1 {
            return Err("--max-runtime must be at least 1 second".into());
        }
        match (self.spot, self.max_wait_secs) {
            (true, Some(w)) if w < self.max_runtime_secs => {
                return Err(format!(
                    "--max-wait ({w} s) must be at least --max-runtime ({} s)",
                    self.max_runtime_secs
                ))
            }
            (false, Some(_)) => {
                return Err("--max-wait applies to managed spot training (--spot)".into())
            }
            _ => {}
        }
        let json = serde_json::Value::Object(
            self.hyperparameters
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        );
        let hp = parse_hyperparameters(&json)?;
        if hp.params.n_trees < self.instance_count as usize {
            return Err(format!(
                "{} trees cannot be shared among {} instances",
                hp.params.n_trees, self.instance_count
            ));
        }
        Ok(())
    }

    /// The checkpoint URI the job uses: the given one, or with spot
    /// training `<output>/<name>/checkpoints`.
    pub fn checkpoint_uri(&self) -> Option<String> {
        self.checkpoint.clone().or_else(|| {
            self.spot.then(|| {
                format!(
                    "{}/{}/checkpoints",
                    self.output.trim_end_matches('/'),
                    self.name
                )
            })
        })
    }
}

fn channel(name: &str, uri: &str) -> Channel {
    Channel::builder()
        .channel_name(name)
        .content_type("application/x-parquet")
        .input_mode(TrainingInputMode::File)
        .data_source(
            DataSource::builder()
                .s3_data_source(
                    S3DataSource::builder()
                        .s3_data_type(S3DataType::S3Prefix)
                        .s3_uri(uri)
                        .s3_data_distribution_type(S3DataDistribution::FullyReplicated)
                        .build(),
                )
                .build(),
        )
        .build()
}

/// CreateTrainingJob; returns the job's ARN.
pub fn submit(sm: &SageMaker, spec: &JobSpec) -> Result<String, SubmitError> {
    spec.validate().map_err(SubmitError::Invalid)?;
    let mut algorithm = AlgorithmSpecification::builder()
        .training_image(&spec.image)
        .training_input_mode(TrainingInputMode::File);
    for name in METRICS {
        algorithm = algorithm.metric_definitions(
            MetricDefinition::builder()
                .name(name)
                .regex(metric_regex(name))
                .build(),
        );
    }
    let mut stopping = StoppingCondition::builder().max_runtime_in_seconds(spec.max_runtime_secs);
    if spec.spot {
        stopping = stopping
            .max_wait_time_in_seconds(spec.max_wait_secs.unwrap_or(spec.max_runtime_secs * 2));
    }
    let mut request = sm
        .client()
        .create_training_job()
        .training_job_name(&spec.name)
        .algorithm_specification(algorithm.build())
        .role_arn(&spec.role_arn)
        .input_data_config(channel("train", &spec.train))
        .output_data_config(
            OutputDataConfig::builder()
                .s3_output_path(&spec.output)
                .build(),
        )
        .resource_config(
            ResourceConfig::builder()
                .instance_type(TrainingInstanceType::from(spec.instance_type.as_str()))
                .instance_count(spec.instance_count)
                .volume_size_in_gb(spec.volume_gb)
                .build(),
        )
        .stopping_condition(stopping.build())
        .enable_managed_spot_training(spec.spot);
    if let Some(v) = &spec.validation {
        request = request.input_data_config(channel("validation", v));
    }
    if let Some(uri) = spec.checkpoint_uri() {
        request = request.checkpoint_config(
            CheckpointConfig::builder()
                .s3_uri(uri)
                .local_path(CHECKPOINT_LOCAL_PATH)
                .build(),
        );
    }
    for (k, v) in &spec.hyperparameters {
        request = request.hyper_parameters(k, v);
    }
    let out = sm.block_on(request.send()).map_err(|e| {
        sm.error(
            "CreateTrainingJob",
            &format!("training job {}", spec.name),
            e,
        )
    })?;
    Ok(out.training_job_arn().unwrap_or_default().to_string())
}

/// Why a training job could not be submitted or waited for.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The spec failed [`JobSpec::validate`]; nothing was sent.
    #[error("invalid training job: {0}")]
    Invalid(String),
    /// A SageMaker request failed.
    #[error(transparent)]
    SageMaker(#[from] SageMakerError),
    /// [`wait`] gave up before the job ended; the job itself goes on.
    #[error("training job {name} is still {status} after {waited:?}; it keeps running (check with DescribeTrainingJob)")]
    Timeout {
        /// The job's name.
        name: String,
        /// Its status at the last poll.
        status: String,
        /// How long [`wait`] polled.
        waited: Duration,
    },
}

/// What DescribeTrainingJob says about a job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobStatus {
    /// The job's name.
    pub name: String,
    /// InProgress, Completed, Failed, Stopping, Stopped.
    pub status: String,
    /// SageMaker's finer status: Starting, Downloading, Training, Uploading,
    /// Interrupted, ...
    pub secondary: Option<String>,
    /// Why the job failed, when it did.
    pub failure_reason: Option<String>,
    /// FinalMetricDataList: (name, value).
    pub final_metrics: Vec<(String, f64)>,
    /// `s3://` URL of the job's `model.tar.gz`, once it is written.
    pub model_artifacts: Option<String>,
    /// Seconds the instances ran for the job.
    pub training_secs: Option<i32>,
    /// Seconds billed; fewer than `training_secs` with spot savings.
    pub billable_secs: Option<i32>,
    /// The hyper-parameters the job was given.
    pub hyperparameters: BTreeMap<String, String>,
    /// Whether the job uses managed spot training.
    pub spot: Option<bool>,
    /// The job's runtime limit, in seconds.
    pub max_runtime_secs: Option<i32>,
    /// Spot only: the limit on waiting for capacity plus running, in seconds.
    pub max_wait_secs: Option<i32>,
    /// The checkpoint `s3://` prefix, when the job has one.
    pub checkpoint: Option<String>,
    /// (channel, S3 URI, distribution).
    pub channels: Vec<(String, String, String)>,
    /// The instance type.
    pub instance_type: Option<String>,
    /// How many instances the job runs on.
    pub instance_count: Option<i32>,
}

impl JobStatus {
    /// Whether the job has ended: Completed, Failed or Stopped.
    pub fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "Completed" | "Failed" | "Stopped")
    }
}

/// DescribeTrainingJob.
pub fn describe(sm: &SageMaker, name: &str) -> Result<JobStatus, SageMakerError> {
    let out = sm
        .block_on(
            sm.client()
                .describe_training_job()
                .training_job_name(name)
                .send(),
        )
        .map_err(|e| sm.error("DescribeTrainingJob", &format!("training job {name}"), e))?;
    let stopping = out.stopping_condition();
    let resources = out.resource_config();
    Ok(JobStatus {
        name: name.to_string(),
        status: out.training_job_status().map_or_else(
            || "Unknown".into(),
            |s: &TrainingJobStatus| s.as_str().to_string(),
        ),
        secondary: out.secondary_status().map(|s| s.as_str().to_string()),
        failure_reason: out.failure_reason().map(str::to_string),
        final_metrics: out
            .final_metric_data_list()
            .iter()
            .filter_map(|m| Some((m.metric_name()?.to_string(), f64::from(m.value()?))))
            .collect(),
        model_artifacts: out
            .model_artifacts()
            .and_then(|a| a.s3_model_artifacts())
            .map(str::to_string),
        training_secs: out.training_time_in_seconds(),
        billable_secs: out.billable_time_in_seconds(),
        hyperparameters: out
            .hyper_parameters()
            .map(|h| h.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        spot: out.enable_managed_spot_training(),
        max_runtime_secs: stopping.and_then(|s| s.max_runtime_in_seconds()),
        max_wait_secs: stopping.and_then(|s| s.max_wait_time_in_seconds()),
        checkpoint: out
            .checkpoint_config()
            .and_then(|c| c.s3_uri())
            .map(str::to_string),
        channels: out
            .input_data_config()
            .iter()
            .map(|c| {
                let s3 = c.data_source().and_then(|d| d.s3_data_source());
                (
                    c.channel_name().unwrap_or_default().to_string(),
                    s3.and_then(|s| s.s3_uri()).unwrap_or_default().to_string(),
                    s3.and_then(|s| s.s3_data_distribution_type())
                        .map(|d| d.as_str().to_string())
                        .unwrap_or_default(),
                )
            })
            .collect(),
        instance_type: resources
            .and_then(|r| r.instance_type())
            .map(|t| t.as_str().to_string()),
        instance_count: resources.and_then(|r| r.instance_count()),
    })
}

/// How `wait` polls: the first delay, the growth factor and the cap.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The delay after the first poll.
    pub first: Duration,
    /// Each delay is the one before times this.
    pub factor: f64,
    /// No delay is longer than this.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_secs(5),
            factor: 1.5,
            max: Duration::from_secs(60),
        }
    }
}

/// Polls DescribeTrainingJob until the job ends or `timeout` passes,
/// calling `on_change` whenever the (secondary) status changes. Each poll
/// is itself bounded by the client's retries and timeouts.
pub fn wait(
    sm: &SageMaker,
    name: &str,
    timeout: Duration,
    backoff: Backoff,
    on_change: &mut dyn FnMut(&JobStatus),
) -> Result<JobStatus, SubmitError> {
    let start = Instant::now();
    let mut delay = backoff.first;
    let mut last: Option<(String, Option<String>)> = None;
    loop {
        let status = describe(sm, name)?;
        let key = (status.status.clone(), status.secondary.clone());
        if last.as_ref() != Some(&key) {
            on_change(&status);
            last = Some(key);
        }
        if status.is_terminal() {
            return Ok(status);
        }
        let waited = start.elapsed();
        if waited >= timeout {
            return Err(SubmitError::Timeout {
                name: name.to_string(),
                status: status.status,
                waited,
            });
        }
        std::thread::sleep(delay.min(timeout - waited));
        delay = Duration::from_secs_f64(
            (delay.as_secs_f64() * backoff.factor).min(backoff.max.as_secs_f64()),
        );
    }
}

/// A job name from a prefix and the current UTC time:
/// `forest-20261127-091403`.
pub fn default_job_name(prefix: &str) -> String {
    let stamp: String = crate::fsutil::now_rfc3339()
        .chars()
        .filter(|c| c.is_ascii_digit())
        .collect();
    // YYYYMMDDhhmmss
    format!("{prefix}-{}-{}", &stamp[..8], &stamp[8..14])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> JobSpec {
        JobSpec {
            name: "forest-test".into(),
            image: "123.dkr.ecr.ap-southeast-1.amazonaws.com/forest-train:1".into(),
            role_arn: "arn:aws:iam::123456789012:role/forest".into(),
            train: "s3://lake/gold".into(),
            validation: Some("s3://lake/gold".into()),
            output: "s3://lake/jobs".into(),
            instance_type: "ml.m5.xlarge".into(),
            instance_count: 2,
            volume_gb: 10,
            max_runtime_secs: 3600,
            spot: true,
            max_wait_secs: Some(7200),
            checkpoint: None,
            hyperparameters: [("trees".to_string(), "100".to_string())].into(),
        }
    }

    #[test]
    fn job_specs_are_checked_before_submission() {
        spec().validate().unwrap();
        assert_eq!(
            spec().checkpoint_uri().as_deref(),
            Some("s3://lake/jobs/forest-test/checkpoints")
        );
        let bad = |f: &dyn Fn(&mut JobSpec), needle: &str| {
            let mut s = spec();
            f(&mut s);
            let err = s.validate().unwrap_err();
            assert!(err.contains(needle), "{err}");
        };
        bad(&|s| s.name = "bad_name".into(), "job name");
        bad(&|s| s.train = "/local/gold".into(), "--train");
        bad(&|s| s.max_wait_secs = Some(10), "--max-wait");
        bad(&|s| s.role_arn = "forest".into(), "--role");
        bad(
            &|s| {
                s.hyperparameters.insert("tress".into(), "1".into());
            },
            "unknown hyper-parameter",
        );
        bad(
            &|s| {
                s.hyperparameters.insert("trees".into(), "1".into());
            },
            "cannot be shared",
        );
    }

    #[test]
    fn default_job_names_are_valid() {
        let mut s = spec();
        s.name = default_job_name("forest");
        s.validate().unwrap();
        assert_eq!(s.name.len(), "forest-20261127-091403".len());
    }
}
