//! The SageMaker training-container contract: what `forest-train train`
//! (the argument SageMaker passes to the image) reads and writes. The
//! command itself (reading the channels, training, writing the model, its
//! report and the metric lines) is the CLI's `train`; this module is the
//! contract's data: the paths, the hyper-parameters and the host shards.
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

use std::ops::Range;
use std::path::PathBuf;

use crate::etl::gold::Split;
use forest_learn::ForestParams;

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
    /// The forest's hyper-parameters, defaults where none is given.
    pub params: ForestParams,
    /// Rows of the train channel's gold table to train on (default train).
    pub train_split: Split,
    /// Rows of the validation channel to score (default val).
    pub validation_split: Split,
    /// Worker threads for training (at least 1); `None` uses rayon's
    /// default, one per CPU.
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
            "histogram_min_rows" => {
                p.histogram_min_rows = s
                    .parse()
                    .map_err(|e| format!("hyper-parameter {key}: {e}"))?
            }
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
    /// This host's name (`algo-1`, ...).
    pub current_host: String,
    /// Every host of the job, in SageMaker's order, which decides the shards.
    pub hosts: Vec<String>,
}

impl ResourceConfig {
    /// This host's position in `hosts`.
    pub fn index(&self) -> Result<usize, String> {
        if self.hosts.is_empty() {
            return Err("resourceconfig.json lists no hosts".into());
        }
        self.hosts
            .iter()
            .position(|h| h == &self.current_host)
            .ok_or_else(|| {
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
    /// ROOT: [`DEFAULT_ROOT`] in the container.
    pub root: PathBuf,
}

impl Layout {
    /// The contract's paths below `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }
    /// `input/config/hyperparameters.json`: see [`parse_hyperparameters`].
    pub fn hyperparameters(&self) -> PathBuf {
        self.root.join("input/config/hyperparameters.json")
    }
    /// `input/config/resourceconfig.json`: see [`ResourceConfig`].
    pub fn resource_config(&self) -> PathBuf {
        self.root.join("input/config/resourceconfig.json")
    }
    /// `input/data/<name>`: the directory of the input channel `name`
    /// (`train`, `validation`).
    pub fn channel(&self, name: &str) -> PathBuf {
        self.root.join("input/data").join(name)
    }
    /// `model/`: what SageMaker uploads as the job's model artifacts.
    pub fn model_dir(&self) -> PathBuf {
        self.root.join("model")
    }
    /// `checkpoints/`: finished parts, kept across spot interruptions when
    /// the directory exists.
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints")
    }
    /// `output/failure`: the error message, when training fails.
    pub fn failure(&self) -> PathBuf {
        self.root.join("output/failure")
    }
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
