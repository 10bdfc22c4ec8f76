//! The ETL: raw weekly CSV files to silver Parquet to basket-level gold.
//!
//! ```text
//! raw/*.csv --parse--> silver/SHOP_WEEK=w/part-<file>.parquet   (+ silver/_rejects/<file>.csv)
//!           --baskets, split, priors on train--> gold/SHOP_WEEK=w/part-0.parquet + gold/_spec.json
//! ```
//!
//! It works partition by partition so memory stays flat as weeks are added:
//! raw files are parsed in parallel, one per task, and each file's weeks
//! are counted as it is parsed (the training baskets' labels per product:
//! the priors; a week spread over several files is counted again from all
//! its silver parts); then each shop week is read back from silver once, to
//! encode its baskets with the fitted priors. Only the counts, which grow
//! with the product catalogue and not with the weeks, and the tag model's
//! training baskets (products and line counts) are held for all weeks at
//! once.
//!
//! A run rebuilds `silver/` and `gold/` from the raw files it is given.

pub mod baskets;
mod dictionary_chunk;
pub mod gold;
pub mod lines;
mod parquet_io;
pub mod priors;
pub mod raw;
mod rle_hybrid;
pub mod silver;
pub mod tags;
mod text_column;
mod writes;

use std::collections::BTreeMap;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::lake::{Lake, LakeError};
use baskets::{group, key_kind, KeyKind};
use forest_core::compiled::{BasketIndex, StaticBasket, StaticLevel};
use forest_core::{encode_basket_with, Basket, FeatureSpec};
use forest_learn::Dataset;
use gold::{GoldRow, GoldSpec, Split};
use lines::Lines;
use priors::{class_index, PriorStats, CLASSES, FOLDS};
use tags::{TagConfig, TagData, TagTables};
use writes::{with_background_writes, Writes};

/// Why an ETL run, or reading a gold table, failed.
#[derive(Debug, Error)]
pub enum EtlError {
    /// Reading, writing, listing or deleting in a lake failed.
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// A Parquet or JSON table in the lake could not be written or read.
    #[error("{url}: {message}")]
    Table {
        /// Where the table is (a lake URL).
        url: String,
        /// What went wrong with it.
        message: String,
    },
    /// Anything else that stops a run: bad settings, no raw files, a train
    /// split with fewer than two classes, no gold partitions, ...
    #[error("{0}")]
    Invalid(String),
}

/// Settings of an ETL run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EtlConfig {
    /// Seed of the split (a pure function of the basket key and this seed).
    pub seed: u64,
    /// Fractions of baskets in train, val and test; they sum to 1.
    pub split: [f64; 3],
    /// Pseudo-count pulling a product's prior towards its category's.
    pub smoothing: f32,
    /// The latent product-tag model's settings; `None` leaves it (and its
    /// features) out, which gives the feature layout of specs written
    /// before it existed.
    pub tags: Option<TagConfig>,
}

impl Default for EtlConfig {
    fn default() -> Self {
        EtlConfig {
            seed: 0,
            split: [0.7, 0.15, 0.15],
            smoothing: 10.0,
            tags: Some(TagConfig::default()),
        }
    }
}

impl EtlConfig {
    /// Checks the settings before a run: split fractions in [0, 1] that sum to
    /// 1 with a non-empty train split, and a finite smoothing >= 0.
    pub fn validate(&self) -> Result<(), EtlError> {
        let sum: f64 = self.split.iter().sum();
        if self.split.iter().any(|f| !(0.0..=1.0).contains(f)) || (sum - 1.0).abs() > 1e-9 {
            return Err(EtlError::Invalid(format!(
                "split fractions {:?} must be in [0, 1] and sum to 1",
                self.split
            )));
        }
        if self.split[0] <= 0.0 {
            return Err(EtlError::Invalid("the train split cannot be empty".into()));
        }
        if !(self.smoothing.is_finite() && self.smoothing >= 0.0) {
            return Err(EtlError::Invalid(
                "smoothing must be finite and >= 0".into(),
            ));
        }
        Ok(())
    }
}

/// The split and out-of-fold group of a basket: both from SHA-256 of the
/// seed and the key, so they depend on nothing else (not on the week, the
/// file order or the other baskets).
pub fn assign(key: &str, seed: u64, fractions: &[f64; 3]) -> (Split, usize) {
    let digest = Sha256::new()
        .chain_update(seed.to_le_bytes())
        .chain_update(key.as_bytes())
        .finalize();
    let word = |i: usize| u64::from_le_bytes(digest[i..i + 8].try_into().expect("8 bytes"));
    let u = (word(0) >> 11) as f64 / (1u64 << 53) as f64;
    let split = if u < fractions[0] {
        Split::Train
    } else if u < fractions[0] + fractions[1] {
        Split::Val
    } else {
        Split::Test
    };
    (split, (word(8) % FOLDS as u64) as usize)
}

/// What a run did, for the console, `gold/_manifest.json` and tests.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EtlReport {
    /// Raw `.csv` files read.
    pub raw_files: usize,
    /// Data lines in the raw files; always `silver_rows + rejected_rows`.
    pub input_rows: u64,
    /// Lines parsed and written to silver.
    pub silver_rows: u64,
    /// Lines quarantined in `silver/_rejects/`, each with its reason.
    pub rejected_rows: u64,
    /// Problems of whole files that hold no data line (empty file, ...).
    pub file_problems: Vec<String>,
    /// One entry per shop week, in week order.
    pub weeks: Vec<WeekReport>,
    /// Labelled baskets written to gold, per split (`train`, `val`, `test`).
    pub baskets: BTreeMap<String, u64>,
    /// Baskets labelled XX (unclassified), left out of gold.
    pub unlabelled_baskets: u64,
    /// Baskets whose lines disagreed on the label.
    pub label_conflicts: u64,
    /// The tag model fitted on all training baskets (the one in the spec),
    /// when the run fits one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_model: Option<TagTables>,
    /// Wall-clock time of the run; 0 in `gold/_manifest.json`, which keeps
    /// only what follows from the inputs.
    pub seconds: f64,
}

/// What a run found in one shop week.
#[derive(Debug, Clone, Serialize)]
pub struct WeekReport {
    /// The shop week, `YYYYWW`.
    pub week: i32,
    /// Silver lines in the week.
    pub lines: u64,
    /// Baskets the lines make up, labelled or not.
    pub baskets: u64,
    /// How the week's baskets were told apart.
    pub key: KeyKind,
}

/// Called with a short line of progress.
pub type Progress<'a> = &'a (dyn Fn(&str) + Sync);

/// Runs the ETL from the raw files at the root of `raw` into `lake`.
pub fn run(
    raw: &Lake,
    lake: &Lake,
    config: &EtlConfig,
    progress: Progress<'_>,
) -> Result<EtlReport, EtlError> {
    config.validate()?;
    let start = Instant::now();
    let files: Vec<String> = raw
        .list("")?
        .into_iter()
        .filter(|k| k.ends_with(".csv") && !k.starts_with("silver/") && !k.starts_with("gold/"))
        .collect();
    if files.is_empty() {
        return Err(EtlError::Invalid(format!(
            "no .csv files in {}",
            raw.location()
        )));
    }
    // Silver parts, rejects and the landed copy are named after the file's
    // base name: two files of one name would overwrite each other's rows.
    let mut names: BTreeMap<&str, &str> = BTreeMap::new();
    for file in &files {
        let name = file.rsplit('/').next().unwrap_or(file);
        if let Some(other) = names.insert(name, file) {
            return Err(EtlError::Invalid(format!(
                "raw files {} and {} have the same name {name}; the lake keeps one file \
                 per name, so rename one",
                raw.url(other),
                raw.url(file)
            )));
        }
    }
    crate::lake::init(lake)?;
    lake.delete_prefix("silver/")?;
    lake.delete_prefix("gold/")?;

    // Raw to silver, one file per task; each file's weeks counted on the
    // way (pass 1 below), which stands for a week held by that file alone.
    // The files' writes go to a writer thread (see `writes`); they are all
    // in the lake before pass 1 may read silver back. Fewer files than
    // threads: each file is parsed in pieces, so one week uses every core.
    let pieces = files.len() < rayon::current_num_threads();
    let parsed: Vec<(FileOutcome, BTreeMap<i32, WeekCounts>)> =
        with_background_writes(lake, |writes| {
            files
                .par_iter()
                .map(|file| raw_to_silver(raw, lake, writes, file, pieces, config, progress))
                .collect::<Result<_, _>>()
        })?;
    let mut report = EtlReport {
        raw_files: files.len(),
        ..EtlReport::default()
    };
    let mut by_week: BTreeMap<i32, Vec<WeekCounts>> = BTreeMap::new();
    for (outcome, file_weeks) in parsed {
        report.input_rows += outcome.input_rows;
        report.silver_rows += outcome.silver_rows;
        report.rejected_rows += outcome.rejected_rows;
        report.file_problems.extend(outcome.problems);
        for (week, counts) in file_weeks {
            by_week.entry(week).or_default().push(counts);
        }
    }
    if report.input_rows != report.silver_rows + report.rejected_rows {
        return Err(EtlError::Invalid(format!(
            "row count mismatch: {} input rows, {} silver + {} rejected",
            report.input_rows, report.silver_rows, report.rejected_rows
        )));
    }
    let weeks: Vec<i32> = by_week.keys().copied().collect();
    progress(&format!(
        "silver: {} rows, {} rejected, {} week(s)",
        report.silver_rows,
        report.rejected_rows,
        weeks.len()
    ));

    // Pass 1: count the training baskets. A week held by one raw file was
    // counted from that file's lines as it was parsed; a week spread over
    // several files is counted again from all its silver parts, since its
    // baskets may span them.
    let counted: Vec<WeekCounts> = by_week
        .into_par_iter()
        .map(
            |(week, mut from_files)| match (from_files.pop(), from_files.is_empty()) {
                (Some(counted), true) => Ok(counted),
                _ => Ok(count_week(week, &week_lines(lake, week)?, config)),
            },
        )
        .collect::<Result<_, EtlError>>()?;
    let mut week_stats = Vec::with_capacity(counted.len());
    let mut week_tag_data = Vec::with_capacity(counted.len());
    for week in counted {
        week_stats.push(week.stats);
        week_tag_data.push(week.tag_data);
        report.weeks.push(week.report);
        for (k, v) in week.by_split {
            *report.baskets.entry(k).or_insert(0) += v;
        }
        report.unlabelled_baskets += week.unlabelled;
        report.label_conflicts += week.conflicts;
    }
    // Both merged in week order (which fixes the price sums' rounding and
    // the products' numbering), the two side by side: until the tag model's
    // brackets start, nothing else keeps the second core busy.
    let (stats, tag_index) = rayon::join(
        || {
            let mut stats = PriorStats::default();
            week_stats.into_iter().for_each(|week| stats.merge(week));
            stats
        },
        || {
            config.tags.as_ref().map(|_| {
                let mut tag_data = TagData::default();
                week_tag_data
                    .into_iter()
                    .for_each(|week| tag_data.merge(week));
                tag_data.index()
            })
        },
    );
    let present = stats.class_counts().iter().filter(|&&c| c > 0.0).count();
    if present < 2 {
        return Err(EtlError::Invalid(format!(
            "the train split holds {present} label class(es); a classifier needs at least two"
        )));
    }

    // The tag model on all training baskets, and one per fold left out
    // for the training baskets' own features; each fit is one task.
    // `excluded` lists the folds left out, in the order of `tag_fits`.
    let excluded: Vec<Option<usize>> = std::iter::once(None).chain((0..FOLDS).map(Some)).collect();
    let tag_fits: Vec<Option<TagTables>> = match (&config.tags, &tag_index) {
        (Some(tag_config), Some(index)) => {
            progress("tag model: fitting on the training baskets (all, and each fold left out)");
            let tag_config = &tag_config.for_lines(index.lines());
            progress(&format!(
                "tag model: {} chain(s) of {} + {} sweeps, {} a bracket, over {} basket lines",
                tag_config.chains,
                tag_config.burn_in,
                tag_config.samples,
                tag_config.bracket_sweeps,
                index.lines()
            ));
            let bracket = index.choose_bracket(tag_config, config.seed);
            progress(&format!(
                "tag model: threshold between {:.4} and {:.4}",
                bracket.lo, bracket.hi
            ));
            excluded
                .par_iter()
                .map(|&fold| Some(index.fit(fold, bracket, tag_config, config.seed)))
                .collect()
        }
        _ => vec![None; FOLDS + 1],
    };
    if let Some(t) = &tag_fits[0] {
        progress(&format!(
            "tag model: {} products over {} baskets, threshold {}, rule fits {:.1}% of them",
            t.products,
            t.baskets,
            t.threshold,
            100.0 * t.rule_fit
        ));
    }
    report.tag_model = tag_fits[0].clone();

    // The spec that travels with the model (first), and one per fold for
    // the training baskets' own features; then the encoders of pass 2: the
    // specs' tables with perfect hashes and the product cache
    // (forest-core's compiled form; the same features as the spec's own
    // encoder, several times faster over a week of baskets). One task per
    // spec.
    let specs: Vec<FeatureSpec> = excluded
        .par_iter()
        .zip(&tag_fits)
        .map(|(&exclude, tags)| stats.spec(exclude, config.smoothing, tags.as_ref()))
        .collect();
    let indexes: Vec<BasketIndex> = specs
        .par_iter()
        .map(|s| {
            BasketIndex::new(s)
                .ok_or_else(|| EtlError::Invalid("the ETL's spec is not a basket spec".into()))
        })
        .collect::<Result<_, _>>()?;
    let levels: Vec<Vec<StaticLevel>> = indexes.par_iter().map(BasketIndex::levels).collect();
    let encoders: Vec<StaticBasket> = indexes
        .iter()
        .zip(&levels)
        .map(|(index, levels)| index.tables(levels))
        .collect();
    let spec = &specs[0];
    let width = spec.len();

    // Pass 2 over silver: encode and write gold (the parts all in the lake
    // before the spec and the manifest are written).
    with_background_writes(lake, |writes| {
        weeks
            .par_iter()
            .try_for_each(|&week| -> Result<(), EtlError> {
                let lines = week_lines(lake, week)?;
                let baskets = group(&lines, key_kind(&lines));
                let mut rows = Vec::with_capacity(baskets.len());
                let mut features = vec![0.0; width];
                let mut basket = Basket::default();
                for b in baskets {
                    let (label, _) = b.label(&lines);
                    if class_index(label).is_none() {
                        continue;
                    }
                    let label = label.to_string();
                    let (split, fold) = assign(&b.key, config.seed, &config.split);
                    let encoder = if split == Split::Train {
                        &encoders[fold + 1]
                    } else {
                        &encoders[0]
                    };
                    b.fill(&lines, &mut basket);
                    encode_basket_with(encoder, &basket, &mut features)
                        .map_err(|e| EtlError::Invalid(format!("basket {}: {e}", b.key)))?;
                    rows.push(GoldRow {
                        key: b.key,
                        shop_week: week,
                        split,
                        fold: if split == Split::Train {
                            fold as i32
                        } else {
                            -1
                        },
                        label,
                        features: features.clone(),
                    });
                }
                let key = gold::part_key(week);
                let bytes = gold::write_rows(spec, &rows).map_err(|message| EtlError::Table {
                    url: lake.url(&key),
                    message,
                })?;
                writes.put(key, bytes)?;
                Ok(())
            })
    })?;

    let gold_spec = GoldSpec {
        label: gold::LABEL.into(),
        classes: CLASSES.iter().map(|c| c.to_string()).collect(),
        seed: config.seed,
        split: config.split,
        folds: FOLDS,
        features: spec.clone(),
    };
    lake.put(gold::SPEC_KEY, &to_json(&gold_spec)?)?;
    report.seconds = start.elapsed().as_secs_f64();
    let mut manifest = report.clone();
    // The manifest is part of the gold table: keep it a pure function of
    // the inputs, without the timing.
    manifest.seconds = 0.0;
    // Last: its presence says the table is whole (see `read_gold`).
    lake.put(&format!("gold/{MANIFEST}"), &to_json(&manifest)?)?;
    Ok(report)
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, EtlError> {
    let mut bytes =
        serde_json::to_vec_pretty(value).map_err(|e| EtlError::Invalid(e.to_string()))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The gold table's manifest, relative to `gold/`: the run's report,
/// written last.
pub const MANIFEST: &str = "_manifest.json";

/// What the first pass learns from one week.
struct WeekCounts {
    stats: PriorStats,
    tag_data: TagData,
    report: WeekReport,
    by_split: BTreeMap<String, u64>,
    unlabelled: u64,
    conflicts: u64,
}

struct FileOutcome {
    input_rows: u64,
    silver_rows: u64,
    rejected_rows: u64,
    problems: Vec<String>,
}

/// Parses one raw file, lands a copy in the lake's `raw/` (when it came from
/// elsewhere), writes its silver parts and rejects, and counts each of its
/// weeks as if the file held all of that week's lines. With `pieces`, the
/// file is parsed in pieces on every thread ([`raw::parse_raw`]).
fn raw_to_silver(
    raw: &Lake,
    lake: &Lake,
    writes: &Writes,
    file: &str,
    pieces: bool,
    config: &EtlConfig,
    progress: Progress<'_>,
) -> Result<(FileOutcome, BTreeMap<i32, WeekCounts>), EtlError> {
    let bytes = bytes::Bytes::from(raw.get(file)?);
    let landed = format!("raw/{}", file.rsplit('/').next().unwrap_or(file));
    if raw.url(file) != lake.url(&landed) {
        writes.put(landed, bytes.clone())?;
    }
    let parsed = if pieces {
        raw::parse_raw(file, &bytes)
    } else {
        raw::parse_raw_whole(file, &bytes)
    };
    let by_week = parsed.lines.by_week();
    let silver_rows = by_week.values().map(|v| v.len() as u64).sum();
    for (week, lines) in &by_week {
        let key = silver::part_key(*week, file);
        let bytes = silver::write_lines(lines).map_err(|message| EtlError::Table {
            url: lake.url(&key),
            message,
        })?;
        writes.put(key, bytes)?;
    }
    let mut quarantined = parsed.rejects.clone();
    quarantined.extend(parsed.problems.iter().cloned());
    if !quarantined.is_empty() {
        let key = silver::rejects_key(file);
        let bytes = silver::write_rejects(&quarantined).map_err(|message| EtlError::Table {
            url: lake.url(&key),
            message,
        })?;
        writes.put(key, bytes)?;
    }
    progress(&format!(
        "{file}: {} rows, {} silver, {} rejected",
        parsed.input_rows,
        silver_rows,
        parsed.rejects.len()
    ));
    let outcome = FileOutcome {
        input_rows: parsed.input_rows,
        silver_rows,
        rejected_rows: parsed.rejects.len() as u64,
        problems: parsed
            .problems
            .iter()
            .map(|p| format!("{} line {}: {}", p.file, p.line, p.reason))
            .collect(),
    };
    let counts = by_week
        .into_iter()
        .map(|(week, lines)| (week, count_week(week, &lines, config)))
        .collect();
    Ok((outcome, counts))
}

/// Pass 1 over one week's lines (in source order): the training baskets'
/// priors and tag data, and what the report says of the week.
fn count_week(week: i32, lines: &Lines, config: &EtlConfig) -> WeekCounts {
    let kind = key_kind(lines);
    let baskets = group(lines, kind);
    let mut stats = PriorStats::default();
    let mut tag_data = TagData::default();
    let mut by_split = BTreeMap::new();
    let (mut unlabelled, mut conflicts) = (0, 0);
    for b in &baskets {
        let (label, conflict) = b.label(lines);
        conflicts += u64::from(conflict);
        let Some(class) = class_index(label) else {
            unlabelled += 1;
            continue;
        };
        let (split, fold) = assign(&b.key, config.seed, &config.split);
        *by_split.entry(split.name().to_string()).or_insert(0) += 1;
        if split == Split::Train {
            // Counted where the lines are: no text copied into a Basket.
            let basket = b.counted(lines);
            stats.add(&basket, class, fold);
            if config.tags.is_some() {
                tag_data.add(&basket, class, fold);
            }
        }
    }
    WeekCounts {
        stats,
        tag_data,
        report: WeekReport {
            week,
            lines: lines.len() as u64,
            baskets: baskets.len() as u64,
            key: kind,
        },
        by_split,
        unlabelled,
        conflicts,
    }
}

/// One week's lines from its silver parts, as one table in source order
/// (file, line), the order [`baskets::group`] takes.
pub fn week_lines(lake: &Lake, week: i32) -> Result<Lines, EtlError> {
    let mut parts = Vec::new();
    let dir = format!("silver/SHOP_WEEK={week}/");
    for key in lake.list(&dir)? {
        let bytes = lake.get(&key)?;
        parts.push(
            silver::read_lines(bytes).map_err(|message| EtlError::Table {
                url: lake.url(&key),
                message,
            })?,
        );
    }
    Lines::join_files(parts).map_err(|message| EtlError::Table {
        url: lake.url(&dir),
        message,
    })
}

/// A gold table checked for completeness: its spec and its partitions,
/// read one at a time so that a reader's memory need not grow with the
/// table (batch scoring streams it this way; [`read_gold`] gathers it).
pub struct GoldTable<'a> {
    lake: &'a Lake,
    /// `_spec.json`: label, classes and the feature spec of the rows.
    pub spec: GoldSpec,
    /// The partitions' keys under the table's root, in key order.
    pub parts: Vec<String>,
}

impl<'a> GoldTable<'a> {
    /// Opens the gold table at `gold` (a lake location whose root holds
    /// `_manifest.json`, `_spec.json` and the week partitions). A table
    /// without its manifest, or missing a partition the manifest lists, is
    /// refused: the run that wrote it did not finish.
    pub fn open(gold: &'a Lake) -> Result<GoldTable<'a>, EtlError> {
        // `_manifest.json` is the last object a run writes: without it the
        // table is a run that did not finish (a full disk, a killed
        // process), whose partitions are whole files but not a whole table.
        let incomplete = |why: String| {
            EtlError::Invalid(format!(
                "the gold table at {} is incomplete: {why}; run `forest-train etl` again",
                gold.location()
            ))
        };
        let manifest: serde_json::Value = match gold.get(MANIFEST) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| EtlError::Table {
                url: gold.url(MANIFEST),
                message: e.to_string(),
            })?,
            Err(LakeError::NotFound { .. }) => {
                return Err(incomplete(format!(
                    "no {MANIFEST} (the ETL run that wrote it did not finish)"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let spec_bytes = gold.get("_spec.json")?;
        let spec: GoldSpec = serde_json::from_slice(&spec_bytes).map_err(|e| EtlError::Table {
            url: gold.url("_spec.json"),
            message: e.to_string(),
        })?;
        spec.features
            .validate_basket()
            .map_err(|e| EtlError::Table {
                url: gold.url("_spec.json"),
                message: e.to_string(),
            })?;
        let parts: Vec<String> = gold
            .list("")?
            .into_iter()
            .filter(|k| k.ends_with(".parquet"))
            .collect();
        if parts.is_empty() {
            return Err(EtlError::Invalid(format!(
                "no gold partitions in {}",
                gold.location()
            )));
        }
        let listed: Vec<String> = manifest["weeks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|w| w["week"].as_i64())
            .map(|week| {
                gold::part_key(week as i32)
                    .trim_start_matches("gold/")
                    .to_string()
            })
            .collect();
        if let Some(missing) = listed.iter().find(|k| !parts.contains(k)) {
            return Err(incomplete(format!(
                "{MANIFEST} lists {missing}, which is missing"
            )));
        }
        Ok(GoldTable {
            lake: gold,
            spec,
            parts,
        })
    }

    /// An empty dataset with the table's spec, label and classes.
    pub fn empty_dataset(&self, source: String) -> Dataset {
        Dataset {
            source,
            columns: vec![Vec::new(); self.spec.features.len()],
            spec: self.spec.features.clone(),
            label: self.spec.label.clone(),
            classes: self.spec.classes.clone(),
            labels: Vec::new(),
        }
    }

    /// Appends the rows of partition `key` that belong to `split` (all
    /// when `None`) to `data`, and their basket keys to `keys` if given.
    pub fn read_part(
        &self,
        key: &str,
        split: Option<Split>,
        data: &mut Dataset,
        keys: Option<&mut Vec<String>>,
    ) -> Result<(), EtlError> {
        let bytes = self.lake.get(key)?;
        gold::read_rows_into(bytes, split, data, keys).map_err(|message| EtlError::Table {
            url: self.lake.url(key),
            message,
        })
    }
}

/// Reads the gold table at `gold` (a lake location whose root holds
/// `_spec.json` and the week partitions) as a dataset, keeping the rows of
/// `split` (all rows when `None`).
pub fn read_gold(gold: &Lake, split: Option<Split>) -> Result<Dataset, EtlError> {
    let table = GoldTable::open(gold)?;
    let mut data = table.empty_dataset(match split {
        Some(s) => format!("{} (split {})", gold.location(), s.name()),
        None => gold.location(),
    });
    for key in &table.parts {
        table.read_part(key, split, &mut data, None)?;
    }
    Ok(data)
}
