//! `train` (the SageMaker container entrypoint), `merge` and
//! `sagemaker submit`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use forest_core::artifact;
use forest_learn::merge;
use forest_train::fsutil::write_atomically;
use forest_train::sagemaker::entrypoint::{Layout, DEFAULT_ROOT};

use super::container;

#[derive(Args)]
pub struct TrainArgs {
    /// The SageMaker root holding input/, model/ and output/.
    #[arg(long, env = "SM_ROOT", default_value = DEFAULT_ROOT)]
    sm_root: PathBuf,
}

/// Runs the container contract; on error writes output/failure and fails.
pub fn cmd_train(a: &TrainArgs) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match container::run(&a.sm_root, &mut stdout) {
        Ok(outcome) => {
            eprintln!(
                "training finished: {} ({} trees{})",
                outcome.model.display(),
                outcome.trees.len(),
                if outcome.from_checkpoint {
                    ", from a checkpoint"
                } else {
                    ""
                }
            );
            Ok(())
        }
        Err(e) => {
            if let Err(io) = container::write_failure(&a.sm_root, &e) {
                eprintln!(
                    "could not write {}: {io}",
                    Layout::new(&a.sm_root).failure().display()
                );
            }
            Err(e.context("training failed"))
        }
    }
}

#[derive(Args)]
pub struct MergeArgs {
    /// Part artifacts written by the hosts of a multi-host job
    /// (part-<i>-of-<n>.forest), or directories holding them.
    #[arg(required = true)]
    parts: Vec<PathBuf>,
    /// Where to write the merged model (atomically).
    #[arg(long)]
    out: PathBuf,
}

pub fn cmd_merge(a: &MergeArgs) -> Result<()> {
    let mut files = Vec::new();
    for p in &a.parts {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("part-") && n.ends_with(".forest"))
                })
                .collect();
            if found.is_empty() {
                bail!("{} holds no part-*.forest files", p.display());
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    let mut models = Vec::with_capacity(files.len());
    for f in &files {
        let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        models.push(artifact::decode(&bytes).with_context(|| format!("loading {}", f.display()))?);
    }
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let merged = merge(&models, &names)?;
    let bytes = artifact::encode(&merged);
    write_atomically(&a.out, &bytes).with_context(|| format!("writing {}", a.out.display()))?;
    println!(
        "merged {} part(s) into {}: {} trees, {} bytes, sha256 {}",
        files.len(),
        a.out.display(),
        merged.forest.n_trees(),
        bytes.len(),
        artifact::content_hash(&bytes)
    );
    Ok(())
}

#[derive(Subcommand)]
pub enum SagemakerCommand {
    /// Start a SageMaker training job running the training image
    /// (CreateTrainingJob): gold channels from S3, instance type and
    /// count, optional managed spot training with checkpoints, metric
    /// definitions for the container's metric lines.
    Submit(SubmitArgs),
}

#[derive(Args)]
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
pub struct SubmitArgs {
    /// Job name (default forest-YYYYMMDD-hhmmss).
    #[arg(long)]
    name: Option<String>,
    /// The training image URI (built from deploy/docker/train.Dockerfile).
    #[arg(long, env = "FOREST_TRAIN_IMAGE")]
    image: String,
    /// The IAM role SageMaker assumes for the job.
    #[arg(long, env = "SAGEMAKER_ROLE_ARN")]
    role: String,
    /// s3:// prefix of the gold table for the train channel (LAKE/gold).
    #[arg(long)]
    train: String,
    /// s3:// prefix of the gold table for the validation channel (usually
    /// the same gold table; the container scores its val split).
    #[arg(long)]
    validation: Option<String>,
    /// s3:// prefix for the job's output (model.tar.gz).
    #[arg(long)]
    output: String,
    #[arg(long, default_value = "ml.m5.xlarge")]
    instance_type: String,
    /// Instances; each grows its share of the trees (merge the parts after).
    #[arg(long, default_value_t = 1)]
    instance_count: i32,
    /// EBS volume per instance, GB.
    #[arg(long, default_value_t = 30)]
    volume_gb: i32,
    /// StoppingCondition.MaxRuntimeInSeconds.
    #[arg(long, default_value_t = 3600)]
    max_runtime: i32,
    /// Managed spot training.
    #[arg(long)]
    spot: bool,
    /// Spot only: MaxWaitTimeInSeconds (default twice --max-runtime).
    #[arg(long, requires = "spot")]
    max_wait: Option<i32>,
    /// s3:// URI synced with /opt/ml/checkpoints (default with --spot:
    /// OUTPUT/NAME/checkpoints).
    #[arg(long)]
    checkpoint: Option<String>,
    /// A hyper-parameter, KEY=VALUE (repeatable): trees, max_depth, seed, ...
    #[arg(long = "hp", value_name = "KEY=VALUE")]
    hyperparameters: Vec<String>,
    /// Wait for the job to end, printing status changes and the final metrics.
    #[arg(long)]
    wait: bool,
    /// Give up waiting after this many seconds (default: the job's own limit
    /// plus 30 minutes).
    #[arg(long)]
    wait_timeout: Option<u64>,
    /// First delay between status polls, seconds (doubling-ish to 60).
    #[arg(long, default_value_t = 5.0)]
    poll: f64,
    /// AWS endpoint to use instead of AWS's (moto on loopback).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
}

pub fn cmd_sagemaker(c: &SagemakerCommand) -> Result<()> {
    match c {
        SagemakerCommand::Submit(a) => cmd_submit(a),
    }
}

#[cfg(not(feature = "aws"))]
fn cmd_submit(_: &SubmitArgs) -> Result<()> {
    bail!(
        "`sagemaker submit` needs SageMaker support: this forest-train was built without \
         the `aws` cargo feature (rebuild it with default features)"
    )
}

#[cfg(feature = "aws")]
fn cmd_submit(a: &SubmitArgs) -> Result<()> {
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    use forest_train::sagemaker::jobs::{self, Backoff, JobSpec};
    use forest_train::sagemaker::{self, SageMaker};

    let mut hyperparameters = BTreeMap::new();
    for kv in &a.hyperparameters {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--hp {kv:?}: expected KEY=VALUE"))?;
        hyperparameters.insert(k.trim().to_string(), v.trim().to_string());
    }
    let spec = JobSpec {
        name: a
            .name
            .clone()
            .unwrap_or_else(|| jobs::default_job_name("forest")),
        image: a.image.clone(),
        role_arn: a.role.clone(),
        train: a.train.clone(),
        validation: a.validation.clone(),
        output: a.output.clone(),
        instance_type: a.instance_type.clone(),
        instance_count: a.instance_count,
        volume_gb: a.volume_gb,
        max_runtime_secs: a.max_runtime,
        spot: a.spot,
        max_wait_secs: a.max_wait,
        checkpoint: a.checkpoint.clone(),
        hyperparameters,
    };
    let mut options = sagemaker::options_from_env();
    if a.endpoint_url.is_some() {
        options.endpoint_url = a.endpoint_url.clone();
    }
    let sm = SageMaker::connect(&options)?;
    let arn = jobs::submit(&sm, &spec)?;
    println!("submitted training job {} ({arn})", spec.name);
    println!(
        "  {} x {}{}, channels: train{}",
        spec.instance_count,
        spec.instance_type,
        if spec.spot { ", managed spot" } else { "" },
        if spec.validation.is_some() {
            ", validation"
        } else {
            ""
        }
    );
    if let Some(c) = spec.checkpoint_uri() {
        println!("  checkpoints: {c}");
    }
    if !a.wait {
        return Ok(());
    }
    if !(a.poll.is_finite() && a.poll > 0.0) {
        bail!("--poll must be a positive number of seconds");
    }
    let limit = spec.max_wait_secs.unwrap_or(spec.max_runtime_secs).max(0) as u64;
    let timeout = Duration::from_secs(a.wait_timeout.unwrap_or(limit + 1800));
    let start = Instant::now();
    let status = jobs::wait(
        &sm,
        &spec.name,
        timeout,
        Backoff {
            first: Duration::from_secs_f64(a.poll),
            ..Backoff::default()
        },
        &mut |s| {
            println!(
                "  [{:>5.0} s] {}{}",
                start.elapsed().as_secs_f64(),
                s.status,
                s.secondary
                    .as_deref()
                    .map_or_else(String::new, |x| format!(" / {x}"))
            )
        },
    )?;
    if let (Some(t), Some(b)) = (status.training_secs, status.billable_secs) {
        println!("  training {t} s, billable {b} s");
    }
    if !status.final_metrics.is_empty() {
        println!("final metrics:");
        for (name, value) in &status.final_metrics {
            println!("  {name:<24} {value:.4}");
        }
    }
    if let Some(m) = &status.model_artifacts {
        println!("model artifacts: {m}");
    }
    if status.status != "Completed" {
        bail!(
            "training job {} ended {}: {}",
            spec.name,
            status.status,
            status
                .failure_reason
                .as_deref()
                .unwrap_or("no reason given")
        );
    }
    Ok(())
}
