//! `forest-train train`: the SageMaker training-container contract
//! (`forest_train::sagemaker::entrypoint` describes the layout) run end to
//! end: read the channels, grow this host's share of the trees, write the
//! model, its report and the metric lines, or `output/failure`.

use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use forest_core::{artifact, metrics, Model};
use forest_learn::{fit_trees, Dataset};
use forest_train::etl::gold::Split;
use forest_train::etl::read_gold;
use forest_train::fsutil::write_atomically;
use forest_train::lake::{Lake, S3Options};
use forest_train::report::{build_report, ReportInput};
use forest_train::sagemaker::entrypoint::{parse_hyperparameters, shard, Layout, ResourceConfig};
use forest_train::sagemaker::metric_line;

/// What a training run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The artifact written under `model/`.
    pub model: PathBuf,
    /// The global indices of the trees this host grew.
    pub trees: Range<usize>,
    /// Whether the part came from a checkpoint instead of being grown.
    pub from_checkpoint: bool,
}

fn read_json(path: &Path) -> Result<Option<serde_json::Value>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("{} is not valid JSON", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Reads a channel's gold table at `split`. Missing channel, missing spec,
/// no partitions and no rows are all errors naming the channel.
fn read_channel(layout: &Layout, name: &str, split: Split) -> Result<Dataset> {
    let dir = layout.channel(name);
    if !dir.is_dir() {
        bail!(
            "missing channel '{name}': {} does not exist (the training job needs an \
             InputDataConfig channel named {name} holding a gold table)",
            dir.display()
        );
    }
    let location = dir.to_string_lossy().into_owned();
    let lake = Lake::open(&location, &S3Options::default())?;
    let data = read_gold(&lake, Some(split))
        .with_context(|| format!("channel '{name}': reading the gold table at {location}"))?;
    if data.n_rows() == 0 {
        bail!(
            "channel '{name}': the gold table at {location} has no rows in split {}",
            split.name()
        );
    }
    Ok(data)
}

fn evaluate(model: &Model, data: &Dataset) -> Result<metrics::Evaluation> {
    let proba = model.forest.predict_proba_batch(&data.rows_row_major())?;
    let truth: Vec<usize> = data.labels.iter().map(|&y| y as usize).collect();
    Ok(metrics::evaluate_proba(
        &model.meta.classes,
        &truth,
        &proba,
    )?)
}

/// A checkpointed part that was grown from the same data, parameters and
/// trees as this run would grow, or `None`.
fn usable_checkpoint(
    path: &Path,
    data: &Dataset,
    params_json: &serde_json::Value,
) -> Option<Model> {
    let bytes = std::fs::read(path).ok()?;
    let model = artifact::decode(&bytes).ok()?;
    (model.meta.training.fingerprint == data.fingerprint() && &model.meta.params == params_json)
        .then_some(model)
}

/// Runs the training contract under `root`, writing metric lines to `out`
/// and progress to standard error.
pub fn run(root: &Path, out: &mut dyn Write) -> Result<Outcome> {
    let layout = Layout::new(root);
    let hp_json = read_json(&layout.hyperparameters())?
        .unwrap_or_else(|| serde_json::Value::Object(Default::default()));
    let hp = parse_hyperparameters(&hp_json)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("in {}", layout.hyperparameters().display()))?;
    let resources = match read_json(&layout.resource_config())? {
        Some(v) => serde_json::from_value::<ResourceConfig>(v).with_context(|| {
            format!(
                "{}: expected current_host and hosts",
                layout.resource_config().display()
            )
        })?,
        None => ResourceConfig {
            current_host: "algo-1".into(),
            hosts: vec!["algo-1".into()],
        },
    };
    let index = resources.index().map_err(anyhow::Error::msg)?;
    let n_hosts = resources.hosts.len();
    let trees = shard(hp.params.n_trees, index, n_hosts);
    if trees.is_empty() {
        bail!(
            "{} trees cannot be shared among {n_hosts} hosts: use at least as many trees as instances",
            hp.params.n_trees
        );
    }
    let pool = {
        let mut b = rayon::ThreadPoolBuilder::new();
        if let Some(n) = hp.threads {
            b = b.num_threads(n);
        }
        b.build().context("starting worker threads")?
    };

    let train = read_channel(&layout, "train", hp.train_split)?;
    let validation = if layout.channel("validation").exists() {
        let v = read_channel(&layout, "validation", hp.validation_split)?;
        if v.spec != train.spec || v.classes != train.classes {
            bail!(
                "channel 'validation' holds a gold table built with another feature spec than \
                 channel 'train'; give both channels the same ETL run's gold table"
            );
        }
        Some(v)
    } else {
        eprintln!("no validation channel: reporting training metrics only");
        None
    };
    eprintln!(
        "host {} ({} of {n_hosts}): trees {}..{} of {}, {} training rows, {} features",
        resources.current_host,
        index + 1,
        trees.start,
        trees.end,
        hp.params.n_trees,
        train.n_rows(),
        train.n_features()
    );

    let name = if n_hosts == 1 {
        "model".to_string()
    } else {
        format!("part-{}-of-{n_hosts}", index + 1)
    };
    let mut params_json = serde_json::to_value(&hp.params)?;
    if let Some(obj) = params_json.as_object_mut() {
        obj.insert("trees".into(), serde_json::json!([trees.start, trees.end]));
    }
    let checkpoint = layout.checkpoints().join(format!("{name}.forest"));
    let (model, from_checkpoint) = match usable_checkpoint(&checkpoint, &train, &params_json) {
        Some(model) => {
            eprintln!("reusing the finished part in {}", checkpoint.display());
            (model, true)
        }
        None => {
            let total = trees.len();
            let step = (total / 10).max(1);
            let progress = move |done: usize, total: usize| {
                if done % step == 0 || done == total {
                    eprintln!("  grown {done:>4}/{total} trees");
                }
            };
            let (model, _) =
                pool.install(|| fit_trees(&train, &hp.params, trees.clone(), &progress))?;
            (model, false)
        }
    };
    let bytes = artifact::encode(&model);
    let sha256 = artifact::content_hash(&bytes);
    if layout.checkpoints().is_dir() && !from_checkpoint {
        write_atomically(&checkpoint, &bytes)
            .with_context(|| format!("writing {}", checkpoint.display()))?;
    }

    // Metrics: in-sample and OOB on train, held out on validation.
    let mut figures = Vec::new();
    let train_eval = pool.install(|| evaluate(&model, &train))?;
    figures.push(("train:accuracy".to_string(), train_eval.accuracy));
    figures.push(("train:macro_f1".to_string(), train_eval.macro_f1));
    if let Some(oob) = model.meta.metrics.get("oob_score").and_then(|v| v.as_f64()) {
        figures.push(("train:oob_score".to_string(), oob));
    }
    let val_eval = match &validation {
        Some(v) => {
            let e = pool.install(|| evaluate(&model, v))?;
            figures.push(("validation:accuracy".to_string(), e.accuracy));
            figures.push(("validation:macro_f1".to_string(), e.macro_f1));
            if let Some(ll) = e.log_loss {
                figures.push(("validation:log_loss".to_string(), ll));
            }
            Some(e)
        }
        None => None,
    };
    figures.retain(|(_, v)| v.is_finite());
    for (metric, value) in &figures {
        writeln!(out, "{}", metric_line(metric, *value))?;
    }
    out.flush()?;

    // The model and its report. One host: model/ is the report directory,
    // so metrics.json sits next to model.forest. Several: each part gets
    // its own file and directory so the hosts' outputs never collide.
    let model_dir = layout.model_dir();
    let model_path = model_dir.join(format!("{name}.forest"));
    let report_dir = if n_hosts == 1 {
        model_dir.clone()
    } else {
        model_dir.join(&name)
    };
    let (evaluation, described) = match (&val_eval, &validation) {
        (Some(e), Some(v)) => (e, format!("{}, {} rows", v.source, v.n_rows())),
        _ => (
            &train_eval,
            format!("{} (training rows), {} rows", train.source, train.n_rows()),
        ),
    };
    let model_name = format!("{name}.forest");
    let files = build_report(&ReportInput {
        model_name: &model_name,
        model_sha256: &sha256,
        meta: &model.meta,
        evaluation,
        data_description: &described,
        permutation: None,
    })?;
    write_atomically(&model_path, &bytes)
        .with_context(|| format!("writing {}", model_path.display()))?;
    for (file, content) in &files.files {
        let path = report_dir.join(file);
        write_atomically(&path, content).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(uri) = &hp.parts_uri {
        let lake = Lake::open(uri, &S3Options::from_env())?;
        lake.put(&model_name, &bytes)?;
        eprintln!("put {}", lake.url(&model_name));
    }
    eprintln!(
        "wrote {} ({} trees, sha256 {sha256}) and its report",
        model_path.display(),
        model.forest.n_trees()
    );
    Ok(Outcome {
        model: model_path,
        trees,
        from_checkpoint,
    })
}

/// Writes `ROOT/output/failure` with the error, as SageMaker expects (it
/// shows the start of the file as the job's FailureReason).
pub fn write_failure(root: &Path, error: &anyhow::Error) -> std::io::Result<()> {
    let path = Layout::new(root).failure();
    write_atomically(&path, format!("{error:#}\n").as_bytes())
}
