//! Commands on models: `fit` trains one, `eval` scores one (and writes its
//! report), `inspect` shows what an artifact holds.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::input::Source;
use anyhow::{Context, Result};
use clap::Args;
use forest_core::{artifact, metrics, Model};
use forest_learn::permutation_importance;
use forest_learn::{
    fit, ClassWeight, Criterion, ForestParams, HistogramMinRows, MaxFeatures, MaxSamples,
};
use forest_train::etl::gold::Split;
use forest_train::fsutil::write_atomically;

use super::S3Args;

#[derive(Args)]
pub struct FitArgs {
    /// A CSV file with a header line, or a gold table made by `etl`
    /// (LAKE/gold, a directory or s3://bucket/prefix/gold).
    #[arg(long)]
    pub data: String,
    /// Name of the label column (required for a CSV file; a gold table
    /// names its own).
    #[arg(long)]
    pub label: Option<String>,
    /// Rows of a gold table to train on: train, val or test.
    #[arg(long, default_value = None)]
    pub split: Option<String>,
    #[command(flatten)]
    pub s3: S3Args,
    /// Where to write the model (written atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of trees.
    #[arg(long, default_value_t = 100)]
    pub trees: usize,
    /// Split criterion: gini or entropy.
    #[arg(long, default_value = "gini")]
    pub criterion: Criterion,
    /// Maximum tree depth; unlimited when omitted.
    #[arg(long)]
    pub max_depth: Option<usize>,
    /// Smallest node that may be split.
    #[arg(long, default_value_t = 2)]
    pub min_samples_split: usize,
    /// Smallest number of rows in a leaf.
    #[arg(long, default_value_t = 1)]
    pub min_samples_leaf: usize,
    /// Features tried per split: sqrt, log2, all, a fraction (0.5) or a count (7).
    #[arg(long, default_value = "sqrt")]
    pub max_features: MaxFeatures,
    /// Draws per bootstrap sample: all, a fraction (0.5) or a count.
    #[arg(long, default_value = "all")]
    pub max_samples: MaxSamples,
    /// Grow every tree on all rows instead of a bootstrap sample (turns off
    /// the OOB score).
    #[arg(long)]
    pub no_bootstrap: bool,
    /// Class weights: none, balanced or balanced_subsample.
    #[arg(long, default_value = "none")]
    pub class_weight: ClassWeight,
    /// Seed for bootstrap samples and feature draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads (default: all cores). The model is the same for any value.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Bins per feature for histogram split search (2..=255).
    #[arg(long, default_value_t = 255)]
    pub max_bins: usize,
    /// Nodes with at least this many rows search splits on histograms,
    /// smaller ones sort their raw values and try every cut. `auto`: 1024 on
    /// tables under 100,000 rows, where exact splits pay, and histograms in
    /// every node from 100,000, where they do not and cost twice the time.
    #[arg(long, default_value_t = HistogramMinRows::Auto)]
    pub histogram_min_rows: HistogramMinRows,
    /// Skip the out-of-bag score.
    #[arg(long)]
    pub no_oob: bool,
    /// Source revision to record in the model (kept out by default so that
    /// the same data and seed give the same bytes across commits).
    #[arg(long, env = "FOREST_GIT_REVISION")]
    pub git_revision: Option<String>,
}

#[derive(Args)]
pub struct EvalArgs {
    /// The .forest model.
    #[arg(long)]
    pub model: PathBuf,
    /// Labelled CSV file with the model's feature columns, or the gold
    /// table the model was trained from.
    #[arg(long)]
    pub data: String,
    /// Rows of a gold table to score: train, val or test (default test).
    #[arg(long)]
    pub split: Option<String>,
    #[command(flatten)]
    pub s3: S3Args,
    /// Label column (default: the one the model was trained on).
    #[arg(long)]
    pub label: Option<String>,
    /// Print one JSON object instead of a text report.
    #[arg(long)]
    pub json: bool,
    /// Also measure permutation importance with this many shuffles per feature.
    #[arg(long, value_name = "REPEATS")]
    pub permutation_importance: Option<usize>,
    /// Also write the evaluation report into this directory (created if
    /// need be): metrics.json, report.md and SVG pictures of the confusion
    /// matrix and feature importance, each file written atomically.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Args)]
pub struct InspectArgs {
    /// The .forest model.
    pub model: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// How many features to list, most important first.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

pub fn cmd_fit(a: &FitArgs) -> Result<()> {
    let params = ForestParams {
        n_trees: a.trees,
        criterion: a.criterion,
        max_depth: a.max_depth,
        min_samples_split: a.min_samples_split,
        min_samples_leaf: a.min_samples_leaf,
        max_features: a.max_features,
        bootstrap: !a.no_bootstrap,
        max_samples: a.max_samples,
        class_weight: a.class_weight,
        oob_score: !a.no_oob && !a.no_bootstrap,
        seed: a.seed,
        max_bins: a.max_bins,
        histogram_min_rows: a.histogram_min_rows,
    };
    params.validate().map_err(anyhow::Error::msg)?;
    let start = Instant::now();
    let source = Source::parse(&a.data, a.split.as_deref(), Split::Train)?;
    let data = source.training(a.label.as_deref(), &a.s3.options())?;
    eprintln!(
        "read {} rows x {} features, {} classes from {} in {:.2} s",
        data.n_rows(),
        data.n_features(),
        data.classes.len(),
        source.describe(),
        start.elapsed().as_secs_f64()
    );
    let t0 = Instant::now();
    let step = (params.n_trees / 10).max(1);
    let progress = move |done: usize, total: usize| {
        if done % step == 0 || done == total {
            eprintln!(
                "  grown {done:>4}/{total} trees  ({:.1} s)",
                t0.elapsed().as_secs_f64()
            );
        }
    };
    let (mut model, report) = fit(&data, &params, &progress)?;
    let fit_secs = t0.elapsed().as_secs_f64();
    model.meta.git_revision = a.git_revision.clone();
    let bytes = artifact::encode(&model);
    write_atomically(&a.out, &bytes).with_context(|| format!("writing {}", a.out.display()))?;

    let shapes: Vec<_> = (0..model.forest.n_trees())
        .map(|t| model.forest.tree_shape(t))
        .collect();
    let max_depth = shapes.iter().map(|s| s.depth).max().unwrap_or(0);
    let mean_depth = shapes.iter().map(|s| s.depth).sum::<usize>() as f64 / shapes.len() as f64;
    println!(
        "trained {} trees, {} nodes, depth mean {:.1} max {}, in {:.2} s",
        model.forest.n_trees(),
        model.forest.n_nodes(),
        mean_depth,
        max_depth,
        fit_secs
    );
    match report.oob_score {
        Some(s) => println!("OOB score {:.4} over {} rows", s, report.oob_rows),
        None => println!("OOB score not computed"),
    }
    println!(
        "wrote {} ({} bytes, sha256 {})",
        a.out.display(),
        bytes.len(),
        artifact::content_hash(&bytes)
    );
    Ok(())
}

/// Reads and decodes a model, keeping its bytes: their hash is the model's
/// identity in reports and registries.
fn read_model(path: &Path) -> Result<(Vec<u8>, Model)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let model = artifact::decode(&bytes).with_context(|| format!("loading {}", path.display()))?;
    Ok((bytes, model))
}

pub fn cmd_eval(a: &EvalArgs) -> Result<()> {
    let (model_bytes, model) = read_model(&a.model)?;
    let source = Source::parse(&a.data, a.split.as_deref(), Split::Test)?;
    let data = source.for_model(&model, a.label.as_deref(), &a.s3.options())?;
    let proba = model.forest.predict_proba_batch(&data.rows_row_major())?;
    let truth: Vec<usize> = data.labels.iter().map(|&y| y as usize).collect();
    let evaluation = metrics::evaluate_proba(&model.meta.classes, &truth, &proba)?;
    let importance = match a.permutation_importance {
        Some(repeats) => Some(permutation_importance(&model.forest, &data, repeats, 0)?),
        None => None,
    };
    if let Some(dir) = &a.report {
        let description = format!("{}, {} rows", source.describe(), data.n_rows());
        write_report(
            dir,
            &a.model,
            &model_bytes,
            &model,
            &evaluation,
            &description,
            importance.as_deref(),
        )?;
    }
    if a.json {
        let mut value = serde_json::to_value(&evaluation)?;
        if let (Some(obj), Some(imp)) = (value.as_object_mut(), &importance) {
            obj.insert("permutation_importance".into(), serde_json::to_value(imp)?);
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!(
            "{} on {} ({} rows)\n",
            a.model.display(),
            source.describe(),
            data.n_rows()
        );
        println!("{}", evaluation.to_text());
        if let Some(imp) = importance {
            println!("permutation importance (accuracy drop):");
            let mut imp = imp;
            imp.sort_by(|x, y| y.mean.total_cmp(&x.mean));
            for i in imp {
                println!("  {:<30} {:>8.4} ± {:.4}", i.feature, i.mean, i.std);
            }
        }
    }
    Ok(())
}

pub fn cmd_inspect(a: &InspectArgs) -> Result<()> {
    let bytes =
        std::fs::read(&a.model).with_context(|| format!("reading {}", a.model.display()))?;
    let model =
        artifact::decode(&bytes).with_context(|| format!("loading {}", a.model.display()))?;
    let f = &model.forest;
    let shapes: Vec<_> = (0..f.n_trees()).map(|t| f.tree_shape(t)).collect();
    let depths: Vec<usize> = shapes.iter().map(|s| s.depth).collect();
    let leaves: usize = shapes.iter().map(|s| s.leaves).sum();
    let mut top: Vec<(String, f64)> = model
        .meta
        .features
        .names()
        .map(String::from)
        .zip(model.meta.feature_importance.iter().copied())
        .collect();
    top.sort_by(|x, y| y.1.total_cmp(&x.1));
    top.truncate(a.top);
    let encoder = model.meta.features.basket.as_ref().map(encoder_summary);
    let summary = serde_json::json!({
        "file": a.model.display().to_string(),
        "bytes": bytes.len(),
        "sha256": artifact::content_hash(&bytes),
        "trees": f.n_trees(),
        "nodes": f.n_nodes(),
        "leaves": leaves,
        "features": f.n_features(),
        "classes": model.meta.classes,
        "depth": {
            "min": depths.iter().min(),
            "mean": depths.iter().sum::<usize>() as f64 / depths.len() as f64,
            "max": depths.iter().max(),
        },
        "top_features": top.iter().map(|(n, v)| serde_json::json!({"feature": n, "importance": v})).collect::<Vec<_>>(),
        "basket_encoder": encoder,
        "metadata": {
            "label": model.meta.label,
            "params": model.meta.params,
            "training": model.meta.training,
            "metrics": model.meta.metrics,
            "trainer": model.meta.trainer,
            "git_revision": model.meta.git_revision,
        },
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    println!("{}", a.model.display());
    println!("  sha256     {}", artifact::content_hash(&bytes));
    println!("  size       {} bytes", bytes.len());
    println!(
        "  label      {} (classes: {})",
        model.meta.label,
        model.meta.classes.join(", ")
    );
    println!("  trainer    {}", model.meta.trainer);
    if let Some(rev) = &model.meta.git_revision {
        println!("  revision   {rev}");
    }
    match model.meta.params["imported_from"].as_str() {
        Some(library) => println!(
            "  imported   from {} ({library}; sha256 {})",
            model.meta.training.source, model.meta.training.fingerprint
        ),
        None => println!(
            "  trained on {} rows of {} (fingerprint {})",
            model.meta.training.rows, model.meta.training.source, model.meta.training.fingerprint
        ),
    }
    if !model.meta.ensemble.is_average() {
        println!(
            "  ensemble   {}",
            serde_json::to_string(&model.meta.ensemble).unwrap_or_default()
        );
    }
    println!("  params     {}", model.meta.params);
    println!("  metrics    {}", model.meta.metrics);
    println!(
        "  trees {}  nodes {}  leaves {}  features {}",
        f.n_trees(),
        f.n_nodes(),
        leaves,
        f.n_features()
    );
    println!(
        "  depth min {}  mean {:.1}  max {}",
        depths.iter().min().unwrap_or(&0),
        depths.iter().sum::<usize>() as f64 / depths.len() as f64,
        depths.iter().max().unwrap_or(&0)
    );
    if let Some(encoder) = &encoder {
        let levels: Vec<String> = encoder["levels"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| format!("{} {}", l["level"].as_str().unwrap_or("?"), l["codes"]))
            .collect();
        println!("  basket encoder: codes per level: {}", levels.join(", "));
        match &encoder["tag_model"] {
            serde_json::Value::Null => println!("  tag model  none (a version 1 basket encoder)"),
            t => println!(
                "  tag model  threshold {}, {} product posteriors, {} category mixes, {} tag numbers ({} bytes as f32)",
                t["threshold"], t["products"], t["categories"], t["numbers"], t["bytes"]
            ),
        }
    }
    if top.is_empty() {
        println!("  no feature importance recorded (an imported model)");
    } else {
        println!("  top features (mean decrease in impurity):");
    }
    for (name, v) in top {
        println!("    {name:<30} {v:.4}");
    }
    Ok(())
}

/// What a basket model's encoder carries: codes per product level and the
/// tag model's tables.
fn encoder_summary(priors: &forest_core::BasketPriors) -> serde_json::Value {
    use forest_core::ProductLevel;
    let levels: Vec<_> = priors
        .levels
        .iter()
        .map(|l| serde_json::json!({"level": l.level, "codes": l.codes.len()}))
        .collect();
    let tag_model = priors.tags.as_ref().map(|t| {
        let count = |product: bool| -> usize {
            priors
                .levels
                .iter()
                .filter(|l| (l.level == ProductLevel::ProdCode) == product)
                .map(|l| l.tags.len() / 3)
                .sum()
        };
        let numbers: usize = priors.levels.iter().map(|l| l.tags.len()).sum::<usize>()
            + t.global.len()
            + t.segment_likelihood.len();
        serde_json::json!({
            "threshold": t.threshold,
            "products": count(true),
            "categories": count(false),
            "segments": t.segments,
            "numbers": numbers,
            "bytes": 4 * numbers,
        })
    });
    serde_json::json!({"levels": levels, "tag_model": tag_model})
}

/// Builds the evaluation report and writes its files into `dir`, each one
/// atomically, in the order the report gives (metrics.json last).
fn write_report(
    dir: &Path,
    model_path: &Path,
    model_bytes: &[u8],
    model: &Model,
    evaluation: &metrics::Evaluation,
    data_description: &str,
    permutation: Option<&[forest_learn::PermutationImportance]>,
) -> Result<()> {
    use forest_train::report::{build_report, ReportInput};

    let model_name = model_path.file_name().map_or_else(
        || model_path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let sha256 = artifact::content_hash(model_bytes);
    let files = build_report(&ReportInput {
        model_name: &model_name,
        model_sha256: &sha256,
        meta: &model.meta,
        evaluation,
        data_description,
        permutation,
    })?;
    for (name, bytes) in &files.files {
        let path = dir.join(name);
        write_atomically(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    let names: Vec<&str> = files.files.iter().map(|(n, _)| n.as_str()).collect();
    eprintln!("wrote report to {}: {}", dir.display(), names.join(", "));
    Ok(())
}
