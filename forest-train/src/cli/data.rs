//! Commands on data: `synth` writes synthetic raw weeks, `etl` turns raw
//! weeks into the lake's silver and gold tables, `requests` turns a raw
//! week into /predict bodies.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use forest_train::etl::{self, EtlConfig};
use forest_train::lake::{Lake, S3Options};
use forest_train::synth::{self, SynthConfig};

use super::S3Args;

#[derive(Args)]
pub struct EtlArgs {
    /// Where the raw weekly files (*.csv) are: a directory or s3://bucket/prefix.
    #[arg(long)]
    pub raw: String,
    /// The lake: a directory or s3://bucket/prefix holding raw/, silver/,
    /// gold/, artifacts/, logs/ and tmp/.
    #[arg(long)]
    pub lake: String,
    /// Seed of the train/val/test split (a pure function of basket key and seed).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Fractions of baskets in train, val and test.
    #[arg(long, default_value = "0.7,0.15,0.15", value_parser = parse_split)]
    pub split: [f64; 3],
    /// Pseudo-count pulling a product's prior towards its category's.
    #[arg(long, default_value_t = 10.0)]
    pub smoothing: f32,
    /// Leave out the latent product-tag model and its features (the
    /// feature layout of gold tables made before it existed).
    #[arg(long)]
    pub no_tags: bool,
    /// Worker threads (default: all cores). The output is the same for any value.
    #[arg(long)]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub s3: S3Args,
}

pub fn parse_split(s: &str) -> Result<[f64; 3], String> {
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
pub struct SynthArgs {
    /// Output directory or s3://bucket/prefix (files are written atomically).
    #[arg(long)]
    pub out: String,
    /// Number of weekly files.
    #[arg(long, default_value_t = 4)]
    pub weeks: usize,
    /// Seed of the catalogue, customers, stores and every week.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Baskets per weekly file.
    #[arg(long, default_value_t = 1000)]
    pub baskets_per_week: usize,
    /// First shop week, YYYYWW (weeks run 01..52, then the next year's 01).
    #[arg(long, default_value_t = 200607)]
    pub first_week: u32,
    /// Worker threads (default: all cores). The files are the same for any value.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Shift the mix of basket sizes: relative weights of small, medium and
    /// large baskets (e.g. `10,30,60`; the world's own mix is 35,40,25).
    /// Bigger baskets change the line counts, quantities and spends the
    /// model sees: a week to show drift monitoring.
    #[arg(long, value_name = "S,M,L", value_parser = parse_size_mix)]
    pub size_mix: Option<[u32; 3]>,
}

#[derive(Args)]
pub struct RequestsArgs {
    /// A raw weekly file (transactions_YYYYWW.csv, as `synth` writes and
    /// dunnhumby ships).
    #[arg(long)]
    pub raw: PathBuf,
    /// Where to write the bodies, one per line (atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// Baskets per request: 1 writes a basket object, more a
    /// `{"instances": [...]}` batch.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub batch: u64,
}

/// `forest-train requests`: a raw week as /predict bodies. Lines that do
/// not parse are reported and left out.
pub fn cmd_requests(a: &RequestsArgs) -> Result<()> {
    let bytes =
        std::fs::read(&a.raw).with_context(|| format!("cannot read {}", a.raw.display()))?;
    let (baskets, rejects) =
        forest_train::etl::baskets::baskets_of_file(&a.raw.display().to_string(), &bytes);
    for r in rejects.iter().take(5) {
        eprintln!("skipped: {} line {}: {}", r.file, r.line, r.reason);
    }
    if rejects.len() > 5 {
        eprintln!("skipped: {} more lines", rejects.len() - 5);
    }
    let mut out = Vec::with_capacity(bytes.len());
    for chunk in baskets.chunks(a.batch as usize) {
        let baskets: Vec<&forest_core::Basket> = chunk.iter().map(|b| &b.basket).collect();
        if a.batch == 1 {
            serde_json::to_writer(&mut out, baskets[0])?;
        } else {
            serde_json::to_writer(&mut out, &serde_json::json!({ "instances": baskets }))?;
        }
        out.push(b'\n');
    }
    forest_train::fsutil::write_atomically(&a.out, &out)
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    eprintln!(
        "{} baskets in {} requests -> {}",
        baskets.len(),
        baskets.len().div_ceil(a.batch as usize),
        a.out.display()
    );
    Ok(())
}

fn parse_size_mix(s: &str) -> Result<[u32; 3], String> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let weights: Vec<u32> = parts
        .iter()
        .map(|p| p.parse::<u32>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("`{s}` is not three whole weights, e.g. 10,30,60"))?;
    weights
        .try_into()
        .map_err(|_| format!("`{s}` is not three weights (small, medium, large)"))
}

pub fn cmd_synth(a: &SynthArgs) -> Result<()> {
    let config = SynthConfig {
        seed: a.seed,
        weeks: a.weeks,
        baskets_per_week: a.baskets_per_week,
        first_week: a.first_week,
        size_mix: a.size_mix,
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

pub fn cmd_etl(a: &EtlArgs) -> Result<()> {
    let s3 = a.s3.options();
    let raw = Lake::open(&a.raw, &s3)?;
    let lake = Lake::open(&a.lake, &s3)?;
    let config = EtlConfig {
        seed: a.seed,
        split: a.split,
        smoothing: a.smoothing,
        tags: (!a.no_tags).then(etl::tags::TagConfig::default),
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
