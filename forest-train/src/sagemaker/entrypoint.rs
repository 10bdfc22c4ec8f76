//! The SageMaker training-container contract: what `forest-train train`
//! (the argument SageMaker passes to the image) reads and writes.
//!
//! ```text
//! ROOT/input/config/hyperparameters.json  {"trees": "100", ...}; values may be JSON-encoded strings
//! ROOT/input/config/resourceconfig.json   {"current_host": "algo-1", "hosts": ["algo-1", ...]}
//! ROOT/input/data/train/                  a gold table: _spec.json + SHOP_WEEK=*/part-*.parquet
//! ROOT/input/data/validation/             the same (optional), scored for the validation metrics
//! ROOT/model/                             model.forest + metrics.json + report (one host), or
//!                                         part-<i>-of-<n>.forest + part-<i>-of-<n>/ (host i of n)
//! ROOT/checkpoints/                       a finished part is kept here when the directory exists
//!                                         (CheckpointConfig), and reused after a spot interruption
//! ROOT/output/failure                     the error, when training fails (exit status 1)
//! ```
//!
//! ROOT is `/opt/ml` in the container, `SM_ROOT` or `--sm-root` elsewhere.
//!
//! Metric lines go to standard output as `train:accuracy=0.812345;` (see
//! [`super::METRICS`]) for the job's MetricDefinitions regexes.
//!
//! Several hosts: host `i` of `n` (its position in `hosts`) grows trees
//! `[i*T/n, (i+1)*T/n)` of the `T`-tree forest, each with the seed a single
//! host would give it ([`forest_learn::tree_seed`]), so `forest-train merge` of the
//! parts is the single-host forest, tree for tree.

use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use forest_core::{artifact, metrics, Model};

use crate::etl::gold::Split;
use crate::etl::read_gold;
use crate::fsutil::write_atomically;
use crate::lake::{Lake, S3Options};
use crate::report::{build_report, ReportInput};
use forest_learn::fit_trees;
use forest_learn::Dataset;
use forest_learn::ForestParams;

use super::metric_line;

/// Where SageMaker mounts everything.
pub const DEFAULT_ROOT: &str = "/opt/ml";

/// Hyper-parameters the container understands, besides SageMaker's own
/// (`sagemaker_*`, `_tuning_objective_metric`, ...), which are ignored.
pub const HYPERPARAMETERS: [&str; 17] = [
    "trees",
    "criterion",
    "max_depth",
    "min_samples_split",
    "min_samples_leaf",
    "max_features",
    "max_samples",
    "bootstrap",
    "class_weight",
    "oob_score",
    "seed",
    "max_bins",
    "histogram_min_rows",
    "train_split",
    "validation_split",
    "threads",
    "parts_uri",
];

/// What the hyper-parameters ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct Hyperparameters {
    pub params: ForestParams,
    /// Rows of the train channel's gold table to train on (default train).
    pub train_split: Split,
    /// Rows of the validation channel to score (default val).
    pub validation_split: Split,
    pub threads: Option<usize>,
    /// A lake location (directory or `s3://`) where each host also puts its
    /// part, for `merge` to pick up.
    pub parts_uri: Option<String>,
}

/// A value as text: `"100"`, `"\"100\""` (JSON-encoded, as some SDKs send
/// it), `100` and `true` all work.
fn value_text(key: &str, v: &serde_json::Value) -> Result<String, String> {
    let text = match v {
        serde_json::Value::String(s) => s.trim().to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::Bool(b) => b.to_string(),
        other => {
            return Err(format!(
                "hyper-parameter {key}: expected a string, number or boolean, got {other}"
            ))
        }
    };
    if text.len() >= 2 && text.starts_with('"') && text.ends_with('"') {
        return serde_json::from_str::<String>(&text)
            .map(|s| s.trim().to_string())
            .map_err(|e| format!("hyper-parameter {key}: bad JSON string {text}: {e}"));
    }
    Ok(text)
}

fn parse_bool(key: &str, s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("hyper-parameter {key}: '{s}' is not true or false")),
    }
}

fn parse_num<T: std::str::FromStr>(key: &str, s: &str) -> Result<T, String> {
    s.parse::<T>()
        .map_err(|_| format!("hyper-parameter {key}: '{s}' is not a valid whole number"))
}

/// Parses `hyperparameters.json` (an object of strings). Unknown names are
/// errors (a typo must not silently train with defaults); names starting
/// with `sagemaker_` or `_` belong to SageMaker and are skipped. `-` and
/// `_` are interchangeable in names.
pub fn parse_hyperparameters(json: &serde_json::Value) -> Result<Hyperparameters, String> {
    let object = json
        .as_object()
        .ok_or_else(|| format!("hyper-parameters must be a JSON object, got {json}"))?;
    let mut hp = Hyperparameters {
        params: ForestParams::default(),
        train_split: Split::Train,
        validation_split: Split::Val,
        threads: None,
        parts_uri: None,
    };
    let mut oob_given = None;
    for (raw_key, value) in object {
        let key = raw_key.replace('-', "_");
        if key.starts_with("sagemaker_") || key.starts_with('_') {
            continue;
        }
        let s = value_text(&key, value)?;
        let p = &mut hp.params;
        match key.as_str() {
            "trees" | "n_estimators" => p.n_trees = parse_num(&key, &s)?,
            "criterion" => p.criterion = s.parse()?,
            "max_depth" => {
                p.max_depth = match s.to_ascii_lowercase().as_str() {
                    "" | "none" | "null" => None,
                    _ => Some(parse_num(&key, &s)?),
                }
            }
            "min_samples_split" => p.min_samples_split = parse_num(&key, &s)?,
            "min_samples_leaf" => p.min_samples_leaf = parse_num(&key, &s)?,
            "max_features" => p.max_features = s.parse()?,
            "max_samples" => p.max_samples = s.parse()?,
            "bootstrap" => p.bootstrap = parse_bool(&key, &s)?,
            "class_weight" => p.class_weight = s.parse()?,
            "oob_score" => oob_given = Some(parse_bool(&key, &s)?),
            "seed" | "random_state" => p.seed = parse_num(&key, &s)?,
            "max_bins" => p.max_bins = parse_num(&key, &s)?,
            "histogram_min_rows" => p.histogram_min_rows = parse_num(&key, &s)?,
            "train_split" => hp.train_split = Split::parse(&s)?,
            "validation_split" => hp.validation_split = Split::parse(&s)?,
            "threads" => {
                let n: usize = parse_num(&key, &s)?;
                if n == 0 {
                    return Err("hyper-parameter threads must be at least 1".into());
                }
                hp.threads = Some(n);
            }
            "parts_uri" => hp.parts_uri = Some(s).filter(|s| !s.is_empty()),
            _ => {
                return Err(format!(
                    "unknown hyper-parameter '{raw_key}'; known: {}",
                    HYPERPARAMETERS.join(", ")
                ))
            }
        }
    }
    // The OOB score follows bootstrap unless asked for explicitly.
    hp.params.oob_score = oob_given.unwrap_or(hp.params.bootstrap);
    hp.params
        .validate()
        .map_err(|e| format!("hyper-parameters: {e}"))?;
    Ok(hp)
}

/// `resourceconfig.json`: this host and all hosts of the job.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct ResourceConfig {
    pub current_host: String,
    pub hosts: Vec<String>,
}

impl ResourceConfig {
    /// This host's position in `hosts`.
    pub fn index(&self) -> Result<usize> {
        if self.hosts.is_empty() {
            bail!("resourceconfig.json lists no hosts");
        }
        self.hosts
            .iter()
            .position(|h| h == &self.current_host)
            .with_context(|| {
                format!(
                    "resourceconfig.json: current_host {:?} is not among hosts {:?}",
                    self.current_host, self.hosts
                )
            })
    }
}

/// The global tree indices host `index` of `hosts` grows: contiguous,
/// disjoint, covering `0..n_trees`, sizes differing by at most one.
pub fn shard(n_trees: usize, index: usize, hosts: usize) -> Range<usize> {
    let at = |i: usize| (n_trees as u128 * i as u128 / hosts.max(1) as u128) as usize;
    at(index)..at(index + 1)
}

/// The paths of the contract below a root.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }
    pub fn hyperparameters(&self) -> PathBuf {
        self.root.join("input/config/hyperparameters.json")
    }
    pub fn resource_config(&self) -> PathBuf {
        self.root.join("input/config/resourceconfig.json")
    }
    pub fn channel(&self, name: &str) -> PathBuf {
        self.root.join("input/data").join(name)
    }
    pub fn model_dir(&self) -> PathBuf {
        self.root.join("model")
    }
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints")
    }
    pub fn failure(&self) -> PathBuf {
        self.root.join("output/failure")
    }
}

/// What a training run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The artifact written under `model/`.
    pub model: PathBuf,
    pub host_index: usize,
    pub hosts: usize,
    pub trees: Range<usize>,
    /// Every metric line's (name, value).
    pub metrics: Vec<(String, f64)>,
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
    let index = resources.index()?;
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
        host_index: index,
        hosts: n_hosts,
        trees,
        metrics: figures,
        from_checkpoint,
    })
}

/// Writes `ROOT/output/failure` with the error, as SageMaker expects (it
/// shows the start of the file as the job's FailureReason).
pub fn write_failure(root: &Path, error: &anyhow::Error) -> std::io::Result<()> {
    let path = Layout::new(root).failure();
    write_atomically(&path, format!("{error:#}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyperparameters_accept_plain_and_json_encoded_strings() {
        let hp = parse_hyperparameters(&serde_json::json!({
            "trees": "\"40\"",
            "max_depth": "12",
            "max_features": "\"0.5\"",
            "bootstrap": "true",
            "seed": 7,
            "class-weight": "balanced",
            "sagemaker_program": "ignored",
            "_tuning_objective_metric": "validation:macro_f1",
        }))
        .unwrap();
        assert_eq!(hp.params.n_trees, 40);
        assert_eq!(hp.params.max_depth, Some(12));
        assert_eq!(hp.params.seed, 7);
        assert!(hp.params.oob_score);
        assert_eq!(hp.params.class_weight, forest_learn::ClassWeight::Balanced);
        assert_eq!(
            parse_hyperparameters(&serde_json::json!({}))
                .unwrap()
                .params,
            ForestParams::default()
        );
        let no_boot = parse_hyperparameters(&serde_json::json!({"bootstrap": "false"})).unwrap();
        assert!(!no_boot.params.oob_score);
    }

    #[test]
    fn bad_hyperparameters_are_named() {
        for (json, needle) in [
            (serde_json::json!({"trees": "many"}), "trees"),
            (
                serde_json::json!({"tress": "10"}),
                "unknown hyper-parameter 'tress'",
            ),
            (serde_json::json!({"trees": "0"}), "at least one tree"),
            (serde_json::json!({"max_features": "2.5"}), "max_features"),
            (serde_json::json!({"bootstrap": "maybe"}), "bootstrap"),
            (serde_json::json!({"trees": [1]}), "trees"),
            (serde_json::json!([1, 2]), "object"),
        ] {
            let err = parse_hyperparameters(&json).unwrap_err();
            assert!(err.contains(needle), "{json}: {err}");
        }
    }

    #[test]
    fn shards_cover_the_forest_contiguously() {
        for (n, hosts) in [(100, 1), (100, 3), (7, 7), (10, 4), (1, 1)] {
            let ranges: Vec<_> = (0..hosts).map(|i| shard(n, i, hosts)).collect();
            assert_eq!(ranges[0].start, 0);
            assert_eq!(ranges[hosts - 1].end, n);
            for w in ranges.windows(2) {
                assert_eq!(w[0].end, w[1].start);
            }
            let sizes: Vec<_> = ranges.iter().map(|r| r.len()).collect();
            assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
        }
        assert!(shard(2, 0, 3).is_empty());
    }
}
