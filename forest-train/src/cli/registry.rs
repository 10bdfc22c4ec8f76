//! `register`, `approve`, `reject`, `list`, `show` and `pull`.

use std::path::{Path, PathBuf};

use super::input::Source;
use anyhow::{bail, Context, Result};
use clap::Args;
use forest_core::{artifact, metrics};
use forest_train::etl::gold::Split;
use forest_train::fsutil::write_atomically;
use forest_train::lake::{Lake, S3Options};
use forest_train::registry::{
    self, default_actor, Gates, ModelVersion, Registration, Registry, Status,
};
use forest_train::report::{build_report, ReportInput, METRICS_JSON};

/// Which registry, and how to reach AWS when it is SageMaker.
#[derive(Args)]
pub struct RegistryArgs {
    /// The registry: a directory (the embedded default) or
    /// sagemaker:<ModelPackageGroupName>.
    #[arg(long, env = "FOREST_REGISTRY")]
    registry: String,
    /// The model group inside a local registry directory (a SageMaker
    /// registry names its group after "sagemaker:").
    #[arg(long)]
    group: Option<String>,
    /// AWS endpoint to use instead of AWS's, for SageMaker and S3 (moto on
    /// loopback in the tests).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
}

impl RegistryArgs {
    fn sagemaker_options(&self) -> S3Options {
        let mut options = forest_train::sagemaker::options_from_env();
        if self.endpoint_url.is_some() {
            options.endpoint_url = self.endpoint_url.clone();
        }
        options
    }

    fn s3_options(&self) -> S3Options {
        let mut options = S3Options::from_env();
        if self.endpoint_url.is_some() {
            options.endpoint_url = self.endpoint_url.clone();
        }
        options
    }

    fn open(&self) -> Result<Registry> {
        Ok(Registry::open(
            &self.registry,
            self.group.as_deref(),
            &self.sagemaker_options(),
        )?)
    }
}

#[derive(Args)]
pub struct RegisterArgs {
    /// The .forest model to register.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    registry: RegistryArgs,
    /// The lake whose artifacts/ receives the model (and its metrics) by
    /// content hash: a directory or s3://bucket/prefix. Required for a
    /// SageMaker registry, whose ModelDataUrl must be in S3.
    #[arg(long)]
    lake: Option<String>,
    /// The evaluation metrics.json to gate on. Default: metrics.json beside
    /// the model or in MODEL.report/ (what `eval --report` and the training
    /// container write), if it is for this model.
    #[arg(long)]
    metrics: Option<PathBuf>,
    /// Evaluate the model now on this table instead (a gold table or a CSV).
    #[arg(long, conflicts_with = "metrics")]
    data: Option<String>,
    /// Rows of a gold table to evaluate on (default test).
    #[arg(long, requires = "data")]
    split: Option<String>,
    /// Quality gate: least accuracy.
    #[arg(long, default_value_t = 0.80)]
    min_accuracy: f64,
    /// Quality gate: least macro-F1.
    #[arg(long, default_value_t = 0.70)]
    min_macro_f1: f64,
    /// Inference image a SageMaker model package names.
    #[arg(long, env = "FOREST_SERVE_IMAGE")]
    image: Option<String>,
    /// Who registers, for the history (default: $FOREST_USER or $USER).
    #[arg(long)]
    by: Option<String>,
    /// Print the version record as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ApproveArgs {
    /// The version to approve.
    version: u64,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Why (kept in the history; SageMaker's ApprovalDescription).
    #[arg(long)]
    reason: Option<String>,
    /// Who approves (default: $FOREST_USER or $USER; SageMaker records the
    /// IAM identity itself).
    #[arg(long)]
    by: Option<String>,
}

#[derive(Args)]
pub struct RejectArgs {
    /// The version to reject (pending, or approved to revoke it).
    version: u64,
    /// Why (required; SageMaker's ApprovalDescription).
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Who rejects (default: $FOREST_USER or $USER).
    #[arg(long)]
    by: Option<String>,
}

#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ShowArgs {
    /// The version to show.
    version: u64,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct PullArgs {
    /// Pull the latest approved version.
    #[arg(long, required_unless_present = "version", conflicts_with = "version")]
    approved: bool,
    /// Pull this version instead (it must be approved).
    #[arg(long)]
    version: Option<u64>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Where to write the model (atomically), after checking its sha256
    /// and that it loads.
    #[arg(long, default_value = "models/approved.forest")]
    out: PathBuf,
}

/// The metrics to gate on, as metrics.json bytes, and where they came from.
fn find_metrics(a: &RegisterArgs, model_bytes: &[u8], sha256: &str) -> Result<(Vec<u8>, String)> {
    if let Some(path) = &a.metrics {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        return Ok((bytes, path.display().to_string()));
    }
    if let Some(data) = &a.data {
        let model = artifact::decode(model_bytes)?;
        let source = Source::parse(data, a.split.as_deref(), Split::Test)?;
        let rows = source.for_model(&model, None, &a.registry.s3_options())?;
        let proba = model.forest.predict_proba_batch(&rows.rows_row_major())?;
        let truth: Vec<usize> = rows.labels.iter().map(|&y| y as usize).collect();
        let evaluation = metrics::evaluate_proba(&model.meta.classes, &truth, &proba)?;
        let description = format!("{}, {} rows", source.describe(), rows.n_rows());
        let name = a.model.file_name().map_or_else(
            || a.model.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let files = build_report(&ReportInput {
            model_name: &name,
            model_sha256: sha256,
            meta: &model.meta,
            evaluation: &evaluation,
            data_description: &description,
            permutation: None,
        })?;
        let bytes = files
            .get(METRICS_JSON)
            .context("the report has no metrics.json")?
            .to_vec();
        return Ok((bytes, format!("evaluation on {description}")));
    }
    let mut candidates = Vec::new();
    if let Some(dir) = a.model.parent() {
        candidates.push(dir.join(METRICS_JSON));
    }
    candidates.push(a.model.with_extension("report").join(METRICS_JSON));
    let mut stale = Vec::new();
    for path in candidates {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let claimed = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.pointer("/model/sha256")?.as_str().map(str::to_string));
        if claimed.as_deref() == Some(sha256) {
            return Ok((bytes, path.display().to_string()));
        }
        stale.push(path.display().to_string());
    }
    if stale.is_empty() {
        bail!(
            "no metrics for {}: evaluate it first (forest-train eval --model {} --data LAKE/gold \
             --report {}), or give --metrics FILE or --data TABLE",
            a.model.display(),
            a.model.display(),
            a.model.with_extension("report").display()
        );
    }
    bail!(
        "the metrics found ({}) are for another model than {} (sha256 {sha256}); evaluate this \
         model again, or give --metrics FILE or --data TABLE",
        stale.join(", "),
        a.model.display()
    )
}

pub fn cmd_register(a: &RegisterArgs) -> Result<()> {
    let gates = Gates {
        min_accuracy: a.min_accuracy,
        min_macro_f1: a.min_macro_f1,
    };
    let model_bytes =
        std::fs::read(&a.model).with_context(|| format!("reading {}", a.model.display()))?;
    let sha256 = artifact::content_hash(&model_bytes);
    let (metrics_json, metrics_from) = find_metrics(a, &model_bytes, &sha256)?;
    let mut reg = a.registry.open()?;
    if let Some(image) = &a.image {
        reg.set_inference_image(image);
    }
    let lake = match &a.lake {
        Some(location) => Some(Lake::open(location, &a.registry.s3_options())?),
        None => None,
    };
    let by = a.by.clone().unwrap_or_else(default_actor);
    let registered = registry::register(
        &reg,
        &Registration {
            artifact: &model_bytes,
            metrics_json: &metrics_json,
            gates,
            by: &by,
            lake: lake.as_ref(),
        },
    )
    .with_context(|| format!("registering {} in {}", a.model.display(), reg.describe()))?;
    let v = &registered.version;
    if a.json {
        println!("{}", serde_json::to_string_pretty(v)?);
        return Ok(());
    }
    println!("metrics: {metrics_from}");
    println!("{}", registered.gates.summary);
    println!(
        "registered {} version {}: {}",
        reg.describe(),
        v.version,
        v.status
    );
    println!("  sha256   {sha256}");
    println!("  artifact {}", v.artifact);
    if let Some(arn) = &v.arn {
        println!("  arn      {arn}");
    }
    if v.status == Status::Rejected {
        println!("  rejected: the model misses the quality gates and cannot be approved");
    } else {
        println!(
            "  next: forest-train approve {} --registry {}",
            v.version, a.registry.registry
        );
    }
    Ok(())
}

pub fn cmd_approve(a: &ApproveArgs) -> Result<()> {
    let reg = a.registry.open()?;
    let by = a.by.clone().unwrap_or_else(default_actor);
    let v = reg.approve(a.version, a.reason.as_deref(), &by)?;
    println!(
        "{} version {}: {} (sha256 {})",
        reg.describe(),
        v.version,
        v.status,
        v.sha256.as_deref().unwrap_or("?")
    );
    Ok(())
}

pub fn cmd_reject(a: &RejectArgs) -> Result<()> {
    let reg = a.registry.open()?;
    let by = a.by.clone().unwrap_or_else(default_actor);
    let v = reg.reject(a.version, &a.reason, &by)?;
    println!(
        "{} version {}: {} ({})",
        reg.describe(),
        v.version,
        v.status,
        v.history
            .last()
            .and_then(|c| c.reason.as_deref())
            .unwrap_or("")
    );
    Ok(())
}

pub fn cmd_list(a: &ListArgs) -> Result<()> {
    let reg = a.registry.open()?;
    let versions = reg.list()?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&versions)?);
        return Ok(());
    }
    println!("{}: {} version(s)", reg.describe(), versions.len());
    if !versions.is_empty() {
        println!(
            "  {:>7}  {:<21}  {:<20}  {:<12}  {:>8}  {:>8}",
            "version", "status", "created", "sha256", "accuracy", "macro-F1"
        );
    }
    let figure = |v: &ModelVersion, name: &str| {
        v.metrics
            .get(name)
            .and_then(|s| s.parse::<f64>().ok())
            .map_or_else(|| "-".to_string(), |x| format!("{x:.4}"))
    };
    for v in &versions {
        println!(
            "  {:>7}  {:<21}  {:<20}  {:<12}  {:>8}  {:>8}",
            v.version,
            v.status.as_str(),
            v.created_at,
            v.sha256.as_deref().map_or("-", |s| &s[..s.len().min(12)]),
            figure(v, "accuracy"),
            figure(v, "macro_f1")
        );
    }
    Ok(())
}

pub fn cmd_show(a: &ShowArgs) -> Result<()> {
    let reg = a.registry.open()?;
    let v = reg.get(a.version)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("{} version {}", reg.describe(), v.version);
    println!("  status    {}", v.status);
    println!("  created   {}", v.created_at);
    println!("  sha256    {}", v.sha256.as_deref().unwrap_or("?"));
    println!("  artifact  {}", v.artifact);
    if let Some(arn) = &v.arn {
        println!("  arn       {arn}");
    }
    if let Some(d) = &v.description {
        println!("  about     {d}");
    }
    if !v.metrics.is_empty() {
        println!("  metrics");
        for (k, val) in &v.metrics {
            println!("    {k:<22} {val}");
        }
    }
    println!("  history");
    for c in &v.history {
        println!(
            "    {}  {:<21}  by {}{}",
            c.at,
            c.status.as_str(),
            c.by,
            c.reason
                .as_deref()
                .map_or_else(String::new, |r| format!(": {r}"))
        );
    }
    Ok(())
}

pub fn cmd_pull(a: &PullArgs) -> Result<()> {
    let reg = a.registry.open()?;
    let v = match a.version {
        Some(n) => {
            let v = reg.get(n)?;
            if v.status != Status::Approved {
                bail!(
                    "{} version {n} is {}, not Approved; only approved models are pulled",
                    reg.describe(),
                    v.status
                );
            }
            v
        }
        None => reg.latest_approved()?,
    };
    let bytes = reg.fetch(&v)?;
    artifact::decode(&bytes).with_context(|| {
        format!(
            "{} version {} passed its sha256 check but does not load",
            reg.describe(),
            v.version
        )
    })?;
    write_out(&a.out, &bytes)?;
    println!(
        "pulled {} version {} ({}) to {} ({} bytes, sha256 {} verified)",
        reg.describe(),
        v.version,
        v.status,
        a.out.display(),
        bytes.len(),
        artifact::content_hash(&bytes)
    );
    Ok(())
}

fn write_out(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, bytes).with_context(|| format!("writing {}", path.display()))
}
