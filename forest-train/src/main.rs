//! The `forest-train` command line. Each subcommand is a thin shell over the
//! library: parse flags, call it, print a summary a person can read.

mod cli;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use forest_core::{artifact, metrics, Model};
use forest_train::etl::gold::Split;
use forest_train::etl::{self, EtlConfig};
use forest_train::importance::permutation_importance;
use forest_train::input::Source;
use forest_train::lake::{Lake, S3Options};
use forest_train::synth::{self, SynthConfig};
use forest_train::{fit, ClassWeight, Criterion, ForestParams, MaxFeatures, MaxSamples};

/// Train, evaluate and inspect random-forest models in the `.forest` format.
#[derive(Parser)]
#[command(name = "forest-train", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a forest on a CSV table and write a .forest artifact.
    ///
    /// Every column except the label is a feature: numeric when all its
    /// non-empty values are numbers, categorical otherwise. Empty cells and
    /// NA/NaN/null are missing values, which the trees route by a learned
    /// direction. Defaults follow scikit-learn's RandomForestClassifier.
    Fit(FitArgs),
    /// Score a model on a labelled CSV table.
    Eval(EvalArgs),
    /// Show what a .forest artifact holds: metadata, sizes, tree depths and
    /// the most important features.
    Inspect(InspectArgs),
    /// Write synthetic raw weekly files (transactions_YYYYWW.csv) in the
    /// dunnhumby schema, with a planted relation between products' price
    /// tiers, customers, stores and BASKET_PRICE_SENSITIVITY.
    ///
    /// The same seed gives the same bytes whatever the thread count; each
    /// week's content depends only on the seed and its shop week.
    Synth(SynthArgs),
    /// Raw weekly CSV files to silver Parquet (typed, partitioned by
    /// SHOP_WEEK, bad lines quarantined under silver/_rejects/ with file,
    /// line and reason) to gold Parquet (one row per basket: encoded
    /// features, label, train/val/test split) plus gold/_spec.json, the
    /// feature spec fitted on the train split that `fit` puts in the model.
    ///
    /// --raw and --lake are directories or s3://bucket/prefix locations.
    /// A run rebuilds silver/ and gold/ from the raw files it is given.
    Etl(EtlArgs),
    /// Register a model in a registry (a directory, or
    /// sagemaker:<ModelPackageGroupName>) after the quality gates: its
    /// artifact goes to the lake's artifacts/ by sha256, and a model that
    /// misses the gates is registered as Rejected with the reason.
    Register(cli::registry::RegisterArgs),
    /// Approve a pending model version (a person's decision).
    Approve(cli::registry::ApproveArgs),
    /// Reject a model version (pending, or approved to revoke it), with a reason.
    Reject(cli::registry::RejectArgs),
    /// List the versions of a registry with their status and scores.
    List(cli::registry::ListArgs),
    /// Show one version: status, history, metrics, artifact.
    Show(cli::registry::ShowArgs),
    /// Download the latest approved model (or --version N), check its
    /// sha256 and that it loads, and write it atomically.
    Pull(cli::registry::PullArgs),
    /// The SageMaker training-container entrypoint: read ROOT/input/
    /// (hyper-parameters, resource config, train and validation channels),
    /// grow this host's share of the trees, write ROOT/model/ and metric
    /// lines, or ROOT/output/failure and a non-zero exit on error.
    Train(cli::training::TrainArgs),
    /// Join the part artifacts of a multi-host training job into one
    /// forest, identical to the single-host forest with the same tree seeds.
    Merge(cli::training::MergeArgs),
    /// SageMaker training jobs.
    #[command(subcommand)]
    Sagemaker(cli::training::SagemakerCommand),
}

/// Where S3 locations live; the rest comes from the usual AWS configuration
/// (environment, profile, instance role).
#[derive(Args)]
struct S3Args {
    /// S3 endpoint to use instead of AWS's (a local S3-compatible server).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
}

impl S3Args {
    fn options(&self) -> S3Options {
        let mut options = S3Options::from_env();
        if self.endpoint_url.is_some() {
            options.endpoint_url = self.endpoint_url.clone();
        }
        options
    }
}

#[derive(Args)]
struct EtlArgs {
    /// Where the raw weekly files (*.csv) are: a directory or s3://bucket/prefix.
    #[arg(long)]
    raw: String,
    /// The lake: a directory or s3://bucket/prefix holding raw/, silver/,
    /// gold/, artifacts/, logs/ and tmp/.
    #[arg(long)]
    lake: String,
    /// Seed of the train/val/test split (a pure function of basket key and seed).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fractions of baskets in train, val and test.
    #[arg(long, default_value = "0.7,0.15,0.15", value_parser = parse_split)]
    split: [f64; 3],
    /// Pseudo-count pulling a product's prior towards its category's.
    #[arg(long, default_value_t = 10.0)]
    smoothing: f32,
    /// Worker threads (default: all cores). The output is the same for any value.
    #[arg(long)]
    threads: Option<usize>,
    #[command(flatten)]
    s3: S3Args,
}

fn parse_split(s: &str) -> Result<[f64; 3], String> {
    let parts: Vec<f64> = s
        .split(',')
        .map(|p| {
            p.trim()
                .parse::<f64>()
                .map_err(|_| format!("'{p}' is not a number"))
        })
        .collect::<Result<_, _>>()?;
    <[f64; 3]>::try_from(parts).map_err(|_| "expected three fractions: train,val,test".into())
}

#[derive(Args)]
struct FitArgs {
    /// A CSV file with a header line, or a gold table made by `etl`
    /// (LAKE/gold, a directory or s3://bucket/prefix/gold).
    #[arg(long)]
    data: String,
    /// Name of the label column (required for a CSV file; a gold table
    /// names its own).
    #[arg(long)]
    label: Option<String>,
    /// Rows of a gold table to train on: train, val or test.
    #[arg(long, default_value = None)]
    split: Option<String>,
    #[command(flatten)]
    s3: S3Args,
    /// Where to write the model (written atomically).
    #[arg(long)]
    out: PathBuf,
    /// Number of trees.
    #[arg(long, default_value_t = 100)]
    trees: usize,
    /// Split criterion: gini or entropy.
    #[arg(long, default_value = "gini")]
    criterion: Criterion,
    /// Maximum tree depth; unlimited when omitted.
    #[arg(long)]
    max_depth: Option<usize>,
    /// Smallest node that may be split.
    #[arg(long, default_value_t = 2)]
    min_samples_split: usize,
    /// Smallest number of rows in a leaf.
    #[arg(long, default_value_t = 1)]
    min_samples_leaf: usize,
    /// Features tried per split: sqrt, log2, all, a fraction (0.5) or a count (7).
    #[arg(long, default_value = "sqrt")]
    max_features: MaxFeatures,
    /// Draws per bootstrap sample: all, a fraction (0.5) or a count.
    #[arg(long, default_value = "all")]
    max_samples: MaxSamples,
    /// Grow every tree on all rows instead of a bootstrap sample (turns off
    /// the OOB score).
    #[arg(long)]
    no_bootstrap: bool,
    /// Class weights: none, balanced or balanced_subsample.
    #[arg(long, default_value = "none")]
    class_weight: ClassWeight,
    /// Seed for bootstrap samples and feature draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads (default: all cores). The model is the same for any value.
    #[arg(long)]
    threads: Option<usize>,
    /// Bins per feature for histogram split search (2..=255).
    #[arg(long, default_value_t = 255)]
    max_bins: usize,
    /// Nodes with at least this many rows use histograms; smaller ones an
    /// exact sorted scan.
    #[arg(long, default_value_t = 1024)]
    histogram_min_rows: usize,
    /// Skip the out-of-bag score.
    #[arg(long)]
    no_oob: bool,
    /// Source revision to record in the model (kept out by default so that
    /// the same data and seed give the same bytes across commits).
    #[arg(long, env = "FOREST_GIT_REVISION")]
    git_revision: Option<String>,
}

#[derive(Args)]
struct EvalArgs {
    /// The .forest model.
    #[arg(long)]
    model: PathBuf,
    /// Labelled CSV file with the model's feature columns, or the gold
    /// table the model was trained from.
    #[arg(long)]
    data: String,
    /// Rows of a gold table to score: train, val or test (default test).
    #[arg(long)]
    split: Option<String>,
    #[command(flatten)]
    s3: S3Args,
    /// Label column (default: the one the model was trained on).
    #[arg(long)]
    label: Option<String>,
    /// Print one JSON object instead of a text report.
    #[arg(long)]
    json: bool,
    /// Also measure permutation importance with this many shuffles per feature.
    #[arg(long, value_name = "REPEATS")]
    permutation_importance: Option<usize>,
    /// Also write the evaluation report into this directory (created if
    /// need be): metrics.json, report.md and SVG pictures of the confusion
    /// matrix and feature importance, each file written atomically.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args)]
struct InspectArgs {
    /// The .forest model.
    model: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// How many features to list, most important first.
    #[arg(long, default_value_t = 10)]
    top: usize,
}

#[derive(Args)]
struct SynthArgs {
    /// Output directory or s3://bucket/prefix (files are written atomically).
    #[arg(long)]
    out: String,
    /// Number of weekly files.
    #[arg(long, default_value_t = 4)]
    weeks: usize,
    /// Seed of the catalogue, customers, stores and every week.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Baskets per weekly file.
    #[arg(long, default_value_t = 1000)]
    baskets_per_week: usize,
    /// First shop week, YYYYWW (weeks run 01..52, then the next year's 01).
    #[arg(long, default_value_t = 200607)]
    first_week: u32,
    /// Worker threads (default: all cores). The files are the same for any value.
    #[arg(long)]
    threads: Option<usize>,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Fit(a) => with_threads(a.threads, || cmd_fit(&a)),
        Command::Eval(a) => with_threads(a.threads, || cmd_eval(&a)),
        Command::Inspect(a) => cmd_inspect(&a),
        Command::Synth(a) => with_threads(a.threads, || cmd_synth(&a)),
        Command::Etl(a) => with_threads(a.threads, || cmd_etl(&a)),
        Command::Register(a) => cli::registry::cmd_register(&a),
        Command::Approve(a) => cli::registry::cmd_approve(&a),
        Command::Reject(a) => cli::registry::cmd_reject(&a),
        Command::List(a) => cli::registry::cmd_list(&a),
        Command::Show(a) => cli::registry::cmd_show(&a),
        Command::Pull(a) => cli::registry::cmd_pull(&a),
        Command::Train(a) => cli::training::cmd_train(&a),
        Command::Merge(a) => cli::training::cmd_merge(&a),
        Command::Sagemaker(c) => cli::training::cmd_sagemaker(&c),
    }
}

fn with_threads<T: Send>(
    threads: Option<usize>,
    f: impl FnOnce() -> Result<T> + Send,
) -> Result<T> {
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = threads {
        if n == 0 {
            bail!("--threads must be at least 1");
        }
        builder = builder.num_threads(n);
    }
    builder
        .build()
        .context("starting worker threads")?
        .install(f)
}

fn cmd_fit(a: &FitArgs) -> Result<()> {
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
    write_atomically(&a.out, &bytes)?;

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

fn cmd_eval(a: &EvalArgs) -> Result<()> {
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

fn cmd_inspect(a: &InspectArgs) -> Result<()> {
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
    println!(
        "  trained on {} rows of {} (fingerprint {})",
        model.meta.training.rows, model.meta.training.source, model.meta.training.fingerprint
    );
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
    println!("  top features (mean decrease in impurity):");
    for (name, v) in top {
        println!("    {name:<30} {v:.4}");
    }
    Ok(())
}

fn cmd_synth(a: &SynthArgs) -> Result<()> {
    let config = SynthConfig {
        seed: a.seed,
        weeks: a.weeks,
        baskets_per_week: a.baskets_per_week,
        first_week: a.first_week,
    };
    config.validate()?;
    let lake = Lake::open(&a.out, &S3Options::from_env())?;
    let start = Instant::now();
    let share = |labels: [usize; 4]| {
        let n = (labels[0] + labels[1] + labels[2]).max(1) as f64;
        format!(
            "LA {:.1}%  MM {:.1}%  UM {:.1}%  (XX {})",
            100.0 * labels[0] as f64 / n,
            100.0 * labels[1] as f64 / n,
            100.0 * labels[2] as f64 / n,
            labels[3]
        )
    };
    let summary = synth::generate(
        &config,
        |name, bytes| lake.put(name, &bytes),
        |w| {
            eprintln!(
                "  {}  {:>7} rows  {:>6} baskets  {}",
                w.file_name,
                w.rows,
                w.baskets,
                share(w.labels)
            )
        },
    )?;
    println!(
        "wrote {} files to {}: {} rows, {} baskets, {:.1} MB in {:.2} s",
        summary.weeks.len(),
        lake.location(),
        summary.rows(),
        summary.baskets(),
        summary.bytes() as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    println!("class mix by basket: {}", share(summary.labels()));
    Ok(())
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
    permutation: Option<&[forest_train::importance::PermutationImportance]>,
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
        write_atomically(&dir.join(name), bytes)?;
    }
    let names: Vec<&str> = files.files.iter().map(|(n, _)| n.as_str()).collect();
    eprintln!("wrote report to {}: {}", dir.display(), names.join(", "));
    Ok(())
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, then renames
/// it over `path`: a reader sees the old file or the new one, never half.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path
        .file_name()
        .context("the output path has no file name")?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    Ok(())
}

fn cmd_etl(a: &EtlArgs) -> Result<()> {
    let s3 = a.s3.options();
    let raw = Lake::open(&a.raw, &s3)?;
    let lake = Lake::open(&a.lake, &s3)?;
    let config = EtlConfig {
        seed: a.seed,
        split: a.split,
        smoothing: a.smoothing,
    };
    let report = etl::run(&raw, &lake, &config, &|line| eprintln!("  {line}"))?;
    println!(
        "etl: {} file(s), {} input rows = {} silver + {} rejected, in {:.2} s",
        report.raw_files,
        report.input_rows,
        report.silver_rows,
        report.rejected_rows,
        report.seconds
    );
    for problem in &report.file_problems {
        println!("  file problem: {problem}");
    }
    let baskets: Vec<String> = report
        .baskets
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!(
        "gold: baskets {}; {} unlabelled (XX) left out, {} with conflicting line labels",
        baskets.join(", "),
        report.unlabelled_baskets,
        report.label_conflicts
    );
    for w in &report.weeks {
        println!(
            "  week {}: {} lines, {} baskets (key: {:?})",
            w.week, w.lines, w.baskets, w.key
        );
    }
    if report.rejected_rows > 0 {
        println!("rejects: {}", lake.url("silver/_rejects/"));
    }
    println!("gold table: {}", lake.url("gold/"));
    Ok(())
}
