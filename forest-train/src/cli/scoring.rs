//! Commands that take models from elsewhere and put them to work: `import`
//! converts a LightGBM, XGBoost or ONNX model into a `.forest` artifact,
//! `predict` scores a CSV file or a gold table in batch.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use forest_core::artifact;
use forest_train::etl::gold::Split;
use forest_train::fsutil::{write_atomically, AtomicFile};
use forest_train::import::{import, Source};
use forest_train::lake::Lake;
use forest_train::score::{score_csv, score_gold, ScoreSummary};

use super::S3Args;

#[derive(Args)]
pub struct ImportArgs {
    /// The library that wrote the model: lightgbm (its text model,
    /// `Booster.save_model`), xgboost (its JSON model, `save_model("m.json")`)
    /// or onnx (a TreeEnsembleClassifier, as skl2onnx exports scikit-learn
    /// forests and gradient boosting).
    #[arg(long = "from", value_name = "LIBRARY")]
    pub from: Source,
    /// The model file.
    pub file: PathBuf,
    /// Where to write the .forest artifact (written atomically).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct PredictArgs {
    /// The .forest model (trained here or imported).
    #[arg(long)]
    pub model: PathBuf,
    /// A CSV file with a header line and a column per model feature (by
    /// name; other columns, a label among them, are ignored), or a gold
    /// table made by `etl` (a directory or s3://bucket/prefix/gold).
    #[arg(long)]
    pub data: String,
    /// Rows of a gold table to score: train, val or test (default: all).
    #[arg(long)]
    pub split: Option<String>,
    /// A CSV column to copy into the output as each row's id (default: the
    /// row number, counting from 0; a gold table's rows carry their basket
    /// key).
    #[arg(long, value_name = "COLUMN")]
    pub id: Option<String>,
    #[command(flatten)]
    pub s3: S3Args,
    /// Where to write the scores: CSV with the id, the predicted class and
    /// a p_<class> probability column per class, a line per input row
    /// (written atomically: the file appears when every row is scored).
    #[arg(long)]
    pub out: PathBuf,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn cmd_import(a: &ImportArgs) -> Result<()> {
    let model = import(a.from, &a.file)?;
    let bytes = artifact::encode(&model);
    write_atomically(&a.out, &bytes).with_context(|| format!("writing {}", a.out.display()))?;
    let forest = &model.forest;
    println!(
        "imported {} ({}): {} trees, {} nodes, {} features, classes {}; {} written ({} bytes)",
        a.file.display(),
        a.from.name(),
        forest.n_trees(),
        forest.n_nodes(),
        forest.n_features(),
        model.meta.classes.join(", "),
        a.out.display(),
        bytes.len()
    );
    Ok(())
}

pub fn cmd_predict(a: &PredictArgs) -> Result<()> {
    let bytes =
        std::fs::read(&a.model).with_context(|| format!("reading {}", a.model.display()))?;
    let model =
        artifact::decode(&bytes).with_context(|| format!("loading {}", a.model.display()))?;
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut progress = |rows: u64| {
        // A line every few seconds on long inputs; nothing on short ones.
        if last_report.elapsed().as_secs() >= 5 {
            let rate = rows as f64 / started.elapsed().as_secs_f64();
            eprintln!("  {rows} rows scored ({rate:.0} rows/s)");
            last_report = Instant::now();
        }
    };
    let mut out =
        AtomicFile::create(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let is_csv = a.data.to_ascii_lowercase().ends_with(".csv");
    let summary: ScoreSummary = if is_csv {
        anyhow::ensure!(
            a.split.is_none(),
            "--split selects rows of a gold table; {} is a CSV file",
            a.data
        );
        score_csv(
            &model,
            a.data.as_ref(),
            a.id.as_deref(),
            &mut out,
            &mut progress,
        )?
    } else {
        anyhow::ensure!(
            a.id.is_none(),
            "--id names a CSV column; the rows of a gold table carry their basket key"
        );
        let split = a
            .split
            .as_deref()
            .map(Split::parse)
            .transpose()
            .map_err(anyhow::Error::msg)?;
        let lake = Lake::open(&a.data, &a.s3.options())?;
        score_gold(&model, &lake, split, &mut out, &mut progress)?
    };
    out.commit()
        .with_context(|| format!("writing {}", a.out.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    let counts: Vec<String> = model
        .meta
        .classes
        .iter()
        .zip(&summary.predicted)
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    println!(
        "scored {} rows of {} in {seconds:.2} s ({:.0} rows/s): predicted {}; {} written",
        summary.rows,
        a.data,
        summary.rows as f64 / seconds.max(1e-9),
        counts.join(", "),
        a.out.display()
    );
    Ok(())
}
