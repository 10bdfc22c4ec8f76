//! The ETL of issue 3 end to end, through `etl::run` and the command line:
//! leakage (disjoint splits, priors from the training baskets only),
//! determinism (runs and thread counts), train/serve parity (gold features
//! are what the encoder computes from a basket), the S3 backend against
//! moto (same gold bytes as a local run), bad input (quarantined with file,
//! line and reason; counts add up) and the real dunnhumby week (macro-F1 of
//! the issue's bar).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int32Type};
use arrow_array::Array;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use forest_learn::{fit, ForestParams};
use forest_train::etl::baskets::{assemble, key_kind, KeyKind};
use forest_train::etl::gold::{GoldSpec, Split};
use forest_train::etl::priors::FOLDS;
use forest_train::etl::{self, silver, EtlConfig, EtlError, EtlReport};
use forest_train::lake::{Lake, S3Options};
use forest_train::synth::{self, SynthConfig};

use crate::write_file;

/// The real week, beside the repository (CI checks out `../shared`).
const REAL_WEEK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/dunnhumby/transactions_200607.csv"
);

/// Seed of the ETL's split in the synthetic tests.
const SEED: u64 = 3;

/// Column indices in a raw line.
const QUANTITY: usize = 4;
const SPEND: usize = 5;
const PROD_CODE: usize = 6;
const BASKET_ID: usize = 14;
const LABEL: usize = 16;

// ---------------------------------------------------------------- helpers

/// Three synthetic weeks of 300 baskets: (file name, CSV bytes).
fn synth_raw() -> &'static [(String, Vec<u8>)] {
    static FILES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    FILES.get_or_init(|| synth_weeks(3, 0))
}

fn synth_weeks(weeks: usize, skip: usize) -> Vec<(String, Vec<u8>)> {
    let config = SynthConfig {
        seed: 11,
        weeks: weeks + skip,
        baskets_per_week: 300,
        ..SynthConfig::default()
    };
    (skip..skip + weeks)
        .map(|i| (config.file_name(i), synth::generate_week(&config, i)))
        .collect()
}

fn config(seed: u64) -> EtlConfig {
    EtlConfig {
        seed,
        ..EtlConfig::default()
    }
}

/// A temporary directory holding `files`.
fn raw_dir(files: &[(String, Vec<u8>)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        write_file(dir.path(), name, bytes);
    }
    dir
}

fn local(path: &Path) -> Lake {
    Lake::open(path.to_str().unwrap(), &S3Options::default()).unwrap()
}

fn run_local(raw: &Path, lake: &Path, config: &EtlConfig) -> Result<EtlReport, EtlError> {
    etl::run(&local(raw), &local(lake), config, &|_| {})
}

/// Every object under `prefix`, by key.
fn objects(lake: &Lake, prefix: &str) -> BTreeMap<String, Vec<u8>> {
    lake.list(prefix)
        .unwrap()
        .into_iter()
        .map(|k| {
            let bytes = lake.get(&k).unwrap();
            (k, bytes)
        })
        .collect()
}

/// The data lines of a raw CSV file without quoting (synthetic files have
/// none): fields per line, and the line ending kept apart.
fn data_lines(bytes: &[u8]) -> Vec<(Vec<String>, &'static str)> {
    let text = std::str::from_utf8(bytes).unwrap();
    assert!(!text.contains('"'), "synthetic files need no quoting");
    text.split_inclusive('\n')
        .skip(1)
        .map(|line| {
            let (body, end) = if let Some(b) = line.strip_suffix("\r\n") {
                (b, "\r\n")
            } else if let Some(b) = line.strip_suffix('\n') {
                (b, "\n")
            } else {
                (line, "")
            };
            let fields: Vec<String> = body.split(',').map(String::from).collect();
            assert_eq!(fields.len(), 22, "{body}");
            (fields, end)
        })
        .collect()
}

fn header(bytes: &[u8]) -> &str {
    let text = std::str::from_utf8(bytes).unwrap();
    text.split_inclusive('\n').next().unwrap()
}

/// A copy of `bytes` with every data line passed through `edit`.
fn edit_lines(bytes: &[u8], mut edit: impl FnMut(&mut Vec<String>)) -> Vec<u8> {
    let mut out = header(bytes).to_string();
    for (mut fields, end) in data_lines(bytes) {
        edit(&mut fields);
        out.push_str(&fields.join(","));
        out.push_str(end);
    }
    out.into_bytes()
}

/// LA -> MM -> UM -> LA; XX stays out of it.
fn rotate(label: &str) -> &'static str {
    match label {
        "LA" => "MM",
        "MM" => "UM",
        "UM" => "LA",
        other => panic!("cannot rotate {other}"),
    }
}

/// The files with the labels of the baskets in `split` rotated; and how
/// many baskets changed.
fn relabel(
    files: &[(String, Vec<u8>)],
    config: &EtlConfig,
    split: Split,
) -> (Vec<(String, Vec<u8>)>, usize) {
    let mut changed = BTreeSet::new();
    let files = files
        .iter()
        .map(|(name, bytes)| {
            let edited = edit_lines(bytes, |f| {
                // Synthetic BASKET_IDs are real ids, so the key is `id:<BASKET_ID>`.
                let key = format!("id:{}", f[BASKET_ID]);
                if etl::assign(&key, config.seed, &config.split).0 == split && f[LABEL] != "XX" {
                    f[LABEL] = rotate(&f[LABEL]).to_string();
                    changed.insert(key);
                }
            });
            (name.clone(), edited)
        })
        .collect();
    (files, changed.len())
}

/// One gold row as the Parquet file holds it.
#[derive(Debug, Clone)]
struct Row {
    key: String,
    week: i32,
    split: String,
    fold: i32,
    label: String,
    features: Vec<f32>,
}

/// Every gold row of the lake, partition by partition in key order.
fn gold_rows(lake: &Lake) -> Vec<Row> {
    let mut rows = Vec::new();
    for key in lake.list("gold/").unwrap() {
        if !key.ends_with(".parquet") {
            continue;
        }
        let bytes = bytes::Bytes::from(lake.get(&key).unwrap());
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let names: Vec<&str> = batch
                .schema_ref()
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>();
            assert_eq!(
                &names[..5],
                ["basket_key", "shop_week", "split", "fold", "label"],
                "{key}"
            );
            let text = |c: usize| batch.column(c).as_string::<i32>().clone();
            let int = |c: usize| batch.column(c).as_primitive::<Int32Type>().clone();
            let (keys, weeks, splits, folds, labels) = (text(0), int(1), text(2), int(3), text(4));
            let features: Vec<_> = (5..batch.num_columns())
                .map(|c| batch.column(c).as_primitive::<Float32Type>().clone())
                .collect();
            for i in 0..batch.num_rows() {
                rows.push(Row {
                    key: keys.value(i).to_string(),
                    week: weeks.value(i),
                    split: splits.value(i).to_string(),
                    fold: folds.value(i),
                    label: labels.value(i).to_string(),
                    features: features
                        .iter()
                        .map(|f| {
                            assert!(!f.is_null(i), "{key}: null feature");
                            f.value(i)
                        })
                        .collect(),
                });
            }
        }
    }
    rows
}

fn gold_spec(lake: &Lake) -> GoldSpec {
    serde_json::from_slice(&lake.get("gold/_spec.json").unwrap()).unwrap()
}

/// Bit-equal, except that any NaN equals any NaN.
fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn same_features(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(*x, *y))
}

/// Re-assembles every val and test basket of the lake's gold table from
/// silver, as a server would receive it, encodes it with the spec of
/// `gold/_spec.json` and checks the features are the gold row's. Returns
/// how many rows were checked.
fn check_parity(lake: &Lake) -> usize {
    let spec = gold_spec(lake).features;
    let rows = gold_rows(lake);
    let weeks: BTreeSet<i32> = rows.iter().map(|r| r.week).collect();
    let mut checked = 0;
    let mut x = Vec::new();
    for week in weeks {
        // The basket's items in the order of the raw lines.
        let lines = etl::week_lines(lake, week).unwrap();
        let baskets: HashMap<String, _> = assemble(&lines, key_kind(&lines))
            .into_iter()
            .map(|b| (b.key.clone(), b))
            .collect();
        for row in rows.iter().filter(|r| r.week == week && r.split != "train") {
            let b = baskets
                .get(&row.key)
                .unwrap_or_else(|| panic!("gold basket {} is not in silver", row.key));
            assert_eq!(b.label, row.label, "{}", row.key);
            spec.encode_basket(&b.basket, &mut x).unwrap();
            assert!(
                same_features(&x, &row.features),
                "basket {} ({}): gold {:?} != served {:?}",
                row.key,
                row.split,
                row.features,
                x
            );
            checked += 1;
        }
    }
    checked
}

fn macro_f1(truth: &[u32], predicted: &[usize], k: usize) -> f64 {
    let mut sum = 0.0;
    for c in 0..k {
        let tp = (0..truth.len())
            .filter(|&i| truth[i] as usize == c && predicted[i] == c)
            .count() as f64;
        let fp = (0..truth.len())
            .filter(|&i| truth[i] as usize != c && predicted[i] == c)
            .count() as f64;
        let fn_ = (0..truth.len())
            .filter(|&i| truth[i] as usize == c && predicted[i] != c)
            .count() as f64;
        if tp > 0.0 {
            sum += 2.0 * tp / (2.0 * tp + fp + fn_);
        }
    }
    sum / k as f64
}

// ---------------------------------------------------------------- leakage

#[test]
fn etl_splits_are_disjoint_and_follow_the_configured_fractions() {
    let files = synth_raw();
    let raw = raw_dir(files);
    let lake_dir = tempfile::tempdir().unwrap();
    let config = config(SEED);
    let report = run_local(raw.path(), lake_dir.path(), &config).unwrap();
    assert_eq!(report.weeks.len(), 3);
    for w in &report.weeks {
        assert_eq!(w.key, KeyKind::BasketId, "week {}: real ids", w.week);
    }

    // The raw baskets: ids and labels.
    let mut raw_baskets: BTreeMap<String, String> = BTreeMap::new();
    for (_, bytes) in files {
        for (f, _) in data_lines(bytes) {
            raw_baskets.insert(format!("id:{}", f[BASKET_ID]), f[LABEL].clone());
        }
    }
    let xx = raw_baskets.values().filter(|l| *l == "XX").count();

    let rows = gold_rows(&local(lake_dir.path()));
    assert_eq!(rows.len() + xx, raw_baskets.len(), "every labelled basket");
    assert_eq!(report.unlabelled_baskets as usize, xx);
    let mut split_of: HashMap<&str, &str> = HashMap::new();
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &rows {
        if let Some(other) = split_of.insert(&r.key, &r.split) {
            panic!("basket {} is in {} and in {}", r.key, other, r.split);
        }
        *counts.entry(&r.split).or_default() += 1;
        let (split, fold) = etl::assign(&r.key, SEED, &config.split);
        assert_eq!(r.split, split.name(), "{}: split is assign()'s", r.key);
        let expected_fold = if split == Split::Train {
            fold as i32
        } else {
            -1
        };
        assert_eq!(r.fold, expected_fold, "{}", r.key);
        assert!((0..FOLDS as i32).contains(&r.fold) || r.fold == -1);
        assert_eq!(&r.label, &raw_baskets[&r.key], "{}", r.key);
    }
    let total = rows.len() as f64;
    for (i, split) in Split::ALL.iter().enumerate() {
        let n = counts.get(split.name()).copied().unwrap_or(0);
        assert_eq!(report.baskets.get(split.name()).copied(), Some(n));
        let fraction = n as f64 / total;
        assert!(
            (fraction - config.split[i]).abs() < 0.05,
            "{}: {n} of {total} baskets = {fraction:.3}, configured {}",
            split.name(),
            config.split[i]
        );
    }
}

#[test]
fn etl_priors_come_from_train_labels_only() {
    let files = synth_raw();
    let config = config(SEED);
    let base_lake = tempfile::tempdir().unwrap();
    run_local(raw_dir(files).path(), base_lake.path(), &config).unwrap();
    let base = local(base_lake.path());
    let base_rows = gold_rows(&base);
    let base_spec = base.get("gold/_spec.json").unwrap();
    // The spec holds the tag model's tables, so "the spec is unchanged"
    // below covers them: the tag model never read a val or test label.
    let tag_tables = |spec: &GoldSpec| spec.features.basket.clone().unwrap();
    let base_priors = tag_tables(&gold_spec(&base));
    assert!(base_priors.tags.is_some());
    assert!(base_priors
        .levels
        .iter()
        .all(|l| l.tags.len() == 3 * l.codes.len()));

    // Changing the labels of val or test baskets changes no feature value
    // and not the spec; only those rows' labels.
    for split in [Split::Test, Split::Val] {
        let (edited, changed) = relabel(files, &config, split);
        assert!(
            changed > 20,
            "{changed} {} baskets relabelled",
            split.name()
        );
        let lake_dir = tempfile::tempdir().unwrap();
        run_local(raw_dir(&edited).path(), lake_dir.path(), &config).unwrap();
        let lake = local(lake_dir.path());
        assert!(
            lake.get("gold/_spec.json").unwrap() == base_spec,
            "relabelling {} baskets changed gold/_spec.json",
            split.name()
        );
        let rows = gold_rows(&lake);
        assert_eq!(rows.len(), base_rows.len());
        let mut relabelled = 0;
        for (a, b) in base_rows.iter().zip(&rows) {
            assert_eq!((&a.key, &a.split, a.fold), (&b.key, &b.split, b.fold));
            assert!(
                same_features(&a.features, &b.features),
                "relabelling {} baskets changed the features of {} basket {}",
                split.name(),
                a.split,
                a.key
            );
            if a.split == split.name() {
                assert_eq!(b.label, rotate(&a.label), "{}", a.key);
                relabelled += 1;
            } else {
                assert_eq!(a.label, b.label, "{}", a.key);
            }
        }
        assert_eq!(relabelled, changed);
    }

    // The converse: the same edit on training baskets does move the priors
    // (so the check above can fail), for every split's rows.
    let (edited, changed) = relabel(files, &config, Split::Train);
    assert!(changed > 100);
    let lake_dir = tempfile::tempdir().unwrap();
    run_local(raw_dir(&edited).path(), lake_dir.path(), &config).unwrap();
    let lake = local(lake_dir.path());
    assert!(lake.get("gold/_spec.json").unwrap() != base_spec);
    let moved_priors = tag_tables(&gold_spec(&lake));
    assert!(
        moved_priors.levels[4].tags != base_priors.levels[4].tags,
        "relabelling training baskets left the products' tag posteriors alone"
    );
    let rows = gold_rows(&lake);
    for split in Split::ALL {
        let moved = base_rows
            .iter()
            .zip(&rows)
            .filter(|(a, b)| a.split == split.name() && !same_features(&a.features, &b.features))
            .count();
        assert!(
            moved > 0,
            "relabelling training baskets moved no {} row",
            split.name()
        );
    }
}

// ---------------------------------------------------------------- determinism

#[test]
fn etl_output_is_the_same_bytes_across_runs_and_thread_counts() {
    let raw = raw_dir(synth_raw());
    let config = config(SEED);
    let run_in = |threads: Option<usize>, lake: &Path| {
        let run = || run_local(raw.path(), lake, &config).unwrap();
        match threads {
            None => run(),
            Some(n) => rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .unwrap()
                .install(run),
        };
        let lake = local(lake);
        (objects(&lake, "gold/"), objects(&lake, "silver/"))
    };
    let first_dir = tempfile::tempdir().unwrap();
    let first = run_in(None, first_dir.path());
    let keys: Vec<&str> = first.0.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "gold/SHOP_WEEK=200607/part-0.parquet",
            "gold/SHOP_WEEK=200608/part-0.parquet",
            "gold/SHOP_WEEK=200609/part-0.parquet",
            "gold/_manifest.json",
            "gold/_spec.json",
        ]
    );
    assert_eq!(first.1.len(), 3, "one silver part per week, no rejects");
    for threads in [None, Some(1), Some(2)] {
        let dir = tempfile::tempdir().unwrap();
        let again = run_in(threads, dir.path());
        for (key, bytes) in first.0.iter().chain(&first.1) {
            let other = again.0.get(key).or_else(|| again.1.get(key));
            assert!(
                other == Some(bytes),
                "{key} differs with {threads:?} threads"
            );
        }
        assert_eq!(
            (again.0.len(), again.1.len()),
            (first.0.len(), first.1.len())
        );
    }
    // A re-run over the same lake rebuilds the same bytes...
    let rerun = run_in(Some(2), first_dir.path());
    assert!(rerun == first, "a re-run into the same lake differs");
    // ...and a run over fewer weeks leaves none of the old partitions behind.
    let two = raw_dir(&synth_raw()[..2]);
    run_local(two.path(), first_dir.path(), &config).unwrap();
    let lake = local(first_dir.path());
    assert_eq!(lake.list("gold/").unwrap().len(), 4);
    assert_eq!(lake.list("silver/").unwrap().len(), 2);

    // The seed matters: another one splits the baskets differently.
    let other_dir = tempfile::tempdir().unwrap();
    run_local(raw.path(), other_dir.path(), &self::config(SEED + 1)).unwrap();
    let other = objects(&local(other_dir.path()), "gold/");
    assert!(other["gold/_spec.json"] != first.0["gold/_spec.json"]);
}

/// Silver is read by other tools than ours: pyarrow reads every silver
/// part's text and integer columns (their dictionary chunks are written by
/// hand) with the values ours read, and with chunk statistics that match
/// them.
#[test]
fn silver_parts_read_the_same_in_pyarrow() {
    const READ: &str = r#"
import json, sys
import pyarrow.parquet as pq
f = pq.ParquetFile(sys.argv[1])
assert f.metadata.num_row_groups == 1, f.metadata.num_row_groups
table = f.read()
out = {}
for i, field in enumerate(table.schema):
    if str(field.type) not in ("string_view", "int32"):
        continue
    s = f.metadata.row_group(0).column(i).statistics
    out[field.name] = {
        "values": table.column(i).to_pylist(),
        "stats": [s.min, s.max, s.null_count],
    }
print(json.dumps(out))
"#;
    let raw = raw_dir(synth_raw());
    let dir = tempfile::tempdir().unwrap();
    run_local(raw.path(), dir.path(), &config(SEED)).unwrap();
    let parts = objects(&local(dir.path()), "silver/SHOP_WEEK=");
    assert_eq!(parts.len(), 3);
    for (key, bytes) in parts {
        let output = Command::new("python3")
            .args(["-c", READ])
            .arg(dir.path().join(&key))
            .output()
            .expect("python3 must be installed (with pyarrow; .ci/run installs it)");
        assert!(
            output.status.success(),
            "pyarrow could not read {key}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let theirs: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let lines = silver::read_lines(bytes).unwrap();
        let batch = lines.batch();
        let mut texts = 0;
        let mut ints = 0;
        for (c, field) in batch.schema().fields().iter().enumerate() {
            let read = &theirs[field.name()];
            if let Some(column) = batch.column(c).as_primitive_opt::<Int32Type>() {
                ints += 1;
                let ours: Vec<Option<i64>> = column.iter().map(|v| v.map(i64::from)).collect();
                let values: Vec<Option<i64>> = read["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_i64())
                    .collect();
                assert!(values == ours, "{key}: {} differs in pyarrow", field.name());
                let present = || ours.iter().flatten().copied();
                let stats = &read["stats"];
                assert_eq!(
                    (stats[0].as_i64(), stats[1].as_i64(), stats[2].as_u64()),
                    (present().min(), present().max(), Some(0)),
                    "{key}: statistics of {}",
                    field.name()
                );
                continue;
            }
            let Some(column) = batch.column(c).as_string_view_opt() else {
                continue;
            };
            texts += 1;
            let ours: Vec<Option<&str>> = column.iter().collect();
            let values: Vec<Option<&str>> = read["values"]
                .as_array()
                .unwrap_or_else(|| panic!("{key}: pyarrow has no text column {}", field.name()))
                .iter()
                .map(|v| v.as_str())
                .collect();
            assert!(values == ours, "{key}: {} differs in pyarrow", field.name());
            let present = || ours.iter().flatten().copied();
            let nulls = ours.iter().filter(|v| v.is_none()).count() as u64;
            let stats = &read["stats"];
            assert_eq!(
                (stats[0].as_str(), stats[1].as_str(), stats[2].as_u64()),
                (present().min(), present().max(), Some(nulls)),
                "{key}: statistics of {}",
                field.name()
            );
        }
        assert_eq!(ints, 5, "{key}: the integer columns of silver");
        assert_eq!(texts, 17, "{key}: the text columns of silver");
    }
}

/// A week is counted from its lines as its file is parsed when one file
/// holds it, and from all its silver parts when several do: the same week
/// cut into two files (mid-basket) gives the gold of the whole file.
#[test]
fn a_week_spread_over_files_gives_the_gold_of_the_whole_week() {
    let (name, bytes) = &synth_raw()[0];
    let text = std::str::from_utf8(bytes).unwrap();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let (head, body) = lines.split_first().unwrap();
    let cut = body.len() / 2;
    let id = |line: &str| line.split(',').nth(BASKET_ID).unwrap().to_string();
    assert_eq!(id(body[cut - 1]), id(body[cut]), "the cut splits a basket");
    let part = |lines: &[&str]| format!("{head}{}", lines.concat()).into_bytes();
    let whole = raw_dir(&[(name.clone(), bytes.clone())]);
    let halves = raw_dir(&[
        ("a.csv".to_string(), part(&body[..cut])),
        ("b.csv".to_string(), part(&body[cut..])),
    ]);
    let config = config(SEED);
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let one_report = run_local(whole.path(), one.path(), &config).unwrap();
    let two_report = run_local(halves.path(), two.path(), &config).unwrap();
    assert_eq!(two_report.raw_files, 2);
    assert_eq!(
        local(two.path())
            .list("silver/SHOP_WEEK=200607/")
            .unwrap()
            .len(),
        2
    );
    assert_eq!(one_report.baskets, two_report.baskets);
    let (one, two) = (
        objects(&local(one.path()), "gold/"),
        objects(&local(two.path()), "gold/"),
    );
    for key in ["gold/SHOP_WEEK=200607/part-0.parquet", "gold/_spec.json"] {
        assert!(one[key] == two[key], "{key} differs");
    }
}

// ---------------------------------------------------------------- parity

#[test]
fn etl_gold_features_are_what_serving_computes_from_the_basket() {
    let raw = raw_dir(synth_raw());
    let lake_dir = tempfile::tempdir().unwrap();
    let report = run_local(raw.path(), lake_dir.path(), &config(SEED)).unwrap();
    let lake = local(lake_dir.path());
    let checked = check_parity(&lake);
    let held_out = report.baskets["val"] + report.baskets["test"];
    assert_eq!(checked as u64, held_out);
    assert!(checked > 100, "{checked} rows checked");

    // And `fit` on the gold table embeds exactly that spec in the model.
    let gold = Lake::open(
        lake_dir.path().join("gold").to_str().unwrap(),
        &S3Options::default(),
    )
    .unwrap();
    let train = etl::read_gold(&gold, Some(Split::Train)).unwrap();
    assert_eq!(train.n_rows() as u64, report.baskets["train"]);
    let params = ForestParams {
        n_trees: 3,
        ..ForestParams::default()
    };
    let (model, _) = fit(&train, &params, &|_, _| {}).unwrap();
    let spec = gold_spec(&lake);
    assert!(model.meta.features == spec.features, "the model's spec");
    assert_eq!(model.meta.classes, spec.classes);
}

// ---------------------------------------------------------------- S3

/// Only with the `aws` feature.
#[cfg(feature = "aws")]
mod on_s3 {
    use forest_core::artifact;

    use super::*;
    use crate::moto::Moto;

    fn s3_options(endpoint: &str) -> S3Options {
        S3Options {
            endpoint_url: Some(endpoint.to_string()),
            region: Some("us-east-1".into()),
            credentials: Some(("testing".into(), "testing".into())),
        }
    }

    fn forest_train(args: &[&str], endpoint: &str) -> std::process::Output {
        let output = Command::new(env!("CARGO_BIN_EXE_forest-train"))
            .args(args)
            .args(["--endpoint-url", endpoint])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_ENDPOINT_URL_S3")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "forest-train {args:?} failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    #[test]
    fn etl_on_s3_writes_the_same_gold_bytes_as_a_local_run() {
        let files = synth_raw();
        // The command line's defaults, so its run compares too.
        let config = EtlConfig::default();
        let local_raw = raw_dir(files);
        let local_dir = tempfile::tempdir().unwrap();
        let local_report = run_local(local_raw.path(), local_dir.path(), &config).unwrap();
        let local_lake = local(local_dir.path());
        let local_gold = objects(&local_lake, "gold/");
        let local_silver = objects(&local_lake, "silver/");

        let moto = Moto::start();
        let options = s3_options(&moto.endpoint);
        let raw = Lake::open("s3://etl-test/raw-in", &options).unwrap();
        raw.create_bucket_if_missing().unwrap();
        for (name, bytes) in files {
            raw.put(name, bytes).unwrap();
        }
        let lake = Lake::open("s3://etl-test/lake", &options).unwrap();
        let report = etl::run(&raw, &lake, &config, &|_| {}).unwrap();
        assert_eq!(
            (report.input_rows, report.silver_rows, report.rejected_rows),
            (
                local_report.input_rows,
                local_report.silver_rows,
                local_report.rejected_rows
            )
        );
        assert_eq!(report.baskets, local_report.baskets);
        let gold = objects(&lake, "gold/");
        assert_eq!(
            gold.keys().collect::<Vec<_>>(),
            local_gold.keys().collect::<Vec<_>>()
        );
        for (key, bytes) in &local_gold {
            assert!(gold[key] == *bytes, "{key}: S3 and local bytes differ");
        }
        let silver = objects(&lake, "silver/");
        let parts =
            |m: &BTreeMap<String, Vec<u8>>| m.keys().filter(|k| k.ends_with(".parquet")).count();
        assert_eq!(parts(&silver), parts(&local_silver));
        assert_eq!(parts(&silver), 3);
        assert!(
            silver == local_silver,
            "silver differs between S3 and local"
        );
        let landed: Vec<String> = files.iter().map(|(n, _)| format!("raw/{n}")).collect();
        assert_eq!(lake.list("raw/").unwrap(), landed, "raw files landed");

        // The binary, with the endpoint on the command line and credentials
        // from the environment, then `fit` straight from the S3 gold table.
        forest_train(
            &[
                "etl",
                "--raw",
                "s3://etl-test/raw-in",
                "--lake",
                "s3://etl-test/lake-cli",
            ],
            &moto.endpoint,
        );
        let cli = Lake::open("s3://etl-test/lake-cli", &options).unwrap();
        let cli_gold = objects(&cli, "gold/");
        assert!(
            cli_gold == local_gold,
            "the command line's S3 gold differs from the local run's"
        );
        let out = tempfile::tempdir().unwrap();
        let model_path = out.path().join("m.forest");
        forest_train(
            &[
                "fit",
                "--data",
                "s3://etl-test/lake-cli/gold",
                "--out",
                model_path.to_str().unwrap(),
                "--trees",
                "10",
            ],
            &moto.endpoint,
        );
        let model = artifact::decode(&std::fs::read(&model_path).unwrap()).unwrap();
        assert_eq!(model.forest.n_trees(), 10);
        assert!(model.meta.features == gold_spec(&local_lake).features);
        assert_eq!(model.meta.training.rows, local_report.baskets["train"]);
    }
}

// ---------------------------------------------------------------- bad input

/// Line `n` (1-based) of a file as text, without its line ending.
fn nth_line(bytes: &[u8], n: u64) -> String {
    let line = bytes.split(|&b| b == b'\n').nth(n as usize - 1).unwrap();
    String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line)).into_owned()
}

/// One rejected line expected in a file: its line number and words its
/// reason must hold.
struct Expected {
    file: &'static str,
    line: u64,
    reason: &'static [&'static str],
}

#[test]
fn etl_quarantines_bad_lines_and_files_with_counts_that_add_up() {
    let weeks = synth_weeks(3, 0);
    let header_line = header(&weeks[0].1).to_string();
    let good = data_lines(&weeks[1].1);
    let line = |fields: &[String]| format!("{}\r\n", fields.join(",")).into_bytes();
    let mut files: Vec<(String, Vec<u8>)> = vec![weeks[0].clone()];
    let mut expected: Vec<Expected> = Vec::new();

    // Good lines of week 2 with bad ones among them.
    let mut mixed = header_line.clone().into_bytes();
    let mut mixed_rows = 0;
    for (i, (fields, _)) in good.iter().enumerate() {
        let mut f = fields.clone();
        let line_no = i as u64 + 2;
        let mut bad = |reason: &'static [&'static str]| {
            expected.push(Expected {
                file: "mixed.csv",
                line: line_no,
                reason,
            })
        };
        let bytes = match i {
            3 => {
                f[SPEND] = "1.2x".into();
                bad(&["SPEND", "not a number"]);
                line(&f)
            }
            10 => {
                f[QUANTITY] = "0".into();
                bad(&["QUANTITY", "not positive"]);
                line(&f)
            }
            17 => {
                f[QUANTITY] = "-2".into();
                bad(&["QUANTITY", "not positive"]);
                line(&f)
            }
            24 => {
                let mut b = line(&f);
                let at = b.windows(3).position(|w| w == b"PRD").unwrap();
                b.splice(at + 3..at + 3, [0xff, 0xfe]);
                bad(&["PROD_CODE", "UTF-8"]);
                b
            }
            31 => {
                f[PROD_CODE] = format!("PRD{}", "9".repeat(10 << 20));
                bad(&["PROD_CODE", "bytes"]);
                line(&f)
            }
            _ => line(&f),
        };
        mixed.extend(bytes);
        mixed_rows += 1;
    }
    files.push(("mixed.csv".into(), mixed));

    // Week 3's first lines under a header with two columns swapped...
    let some = &data_lines(&weeks[2].1)[..4];
    let swapped = header_line.replacen("SHOP_WEEK,SHOP_DATE", "SHOP_DATE,SHOP_WEEK", 1);
    let mut wrong = swapped.into_bytes();
    for (i, (f, _)) in some.iter().enumerate() {
        wrong.extend(line(f));
        expected.push(Expected {
            file: "wrong_header.csv",
            line: i as u64 + 2,
            reason: &["file header", "in that order"],
        });
    }
    files.push(("wrong_header.csv".into(), wrong));
    // ...under a header without STORE_REGION, the lines without it too...
    let mut missing = header_line.replace(",STORE_REGION", "").into_bytes();
    for (i, (f, _)) in some.iter().enumerate() {
        missing.extend(line(&f[..21]));
        expected.push(Expected {
            file: "missing_columns.csv",
            line: i as u64 + 2,
            reason: &["file header", "missing columns STORE_REGION"],
        });
    }
    files.push(("missing_columns.csv".into(), missing));
    // ...and the rest of week 3 with its last line cut short.
    let rest = &data_lines(&weeks[2].1)[4..];
    let mut truncated = header_line.clone().into_bytes();
    for (f, _) in rest {
        truncated.extend(line(f));
    }
    let last = line(&rest[rest.len() - 1].0);
    truncated.extend(&last[..last.len() / 2]);
    expected.push(Expected {
        file: "truncated.csv",
        line: rest.len() as u64 + 2,
        reason: &["expected 22 fields"],
    });
    files.push(("truncated.csv".into(), truncated));
    files.push(("empty.csv".into(), Vec::new()));

    let raw = raw_dir(&files);
    let lake_dir = tempfile::tempdir().unwrap();
    let report = run_local(raw.path(), lake_dir.path(), &config(SEED)).unwrap();
    let lake = local(lake_dir.path());

    let data_rows = data_lines(&weeks[0].1).len() + mixed_rows + 2 * some.len() + rest.len() + 1;
    assert_eq!(report.raw_files, 6);
    assert_eq!(report.input_rows as usize, data_rows);
    assert_eq!(report.input_rows, report.silver_rows + report.rejected_rows);
    assert_eq!(report.rejected_rows as usize, expected.len(), "{report:#?}");
    assert_eq!(report.file_problems.len(), 1, "{:?}", report.file_problems);
    assert!(
        report.file_problems[0].contains("empty.csv") && report.file_problems[0].contains("empty"),
        "{:?}",
        report.file_problems
    );

    // Each rejected line is in its file's rejects with line and reason.
    let mut quarantined: BTreeMap<(String, u64), (String, String)> = BTreeMap::new();
    for (key, bytes) in objects(&lake, "silver/_rejects/") {
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        assert_eq!(
            reader.headers().unwrap(),
            vec!["file", "line", "reason", "raw"]
        );
        for record in reader.records() {
            let r = record.unwrap();
            let stem = r[0].strip_suffix(".csv").unwrap();
            assert_eq!(key, format!("silver/_rejects/{stem}.csv"));
            let line: u64 = r[1].parse().unwrap();
            quarantined.insert(
                (r[0].to_string(), line),
                (r[2].to_string(), r[3].to_string()),
            );
        }
    }
    let empty = quarantined
        .remove(&("empty.csv".to_string(), 0))
        .expect("the empty file's problem is quarantined too");
    assert!(empty.0.contains("empty"), "{empty:?}");
    for e in &expected {
        let (reason, raw_text) = quarantined
            .remove(&(e.file.to_string(), e.line))
            .unwrap_or_else(|| panic!("{} line {} is not in the rejects", e.file, e.line));
        for word in e.reason {
            assert!(
                reason.contains(word),
                "{} line {}: reason {reason:?} does not say {word:?}",
                e.file,
                e.line
            );
        }
        // The line as it was (invalid UTF-8 replaced), at least its start.
        let (_, bytes) = files.iter().find(|(n, _)| n == e.file).unwrap();
        let text = nth_line(bytes, e.line);
        let start: String = raw_text.chars().take(40).collect();
        assert!(
            start.chars().count() == 40 && text.starts_with(&start),
            "{} line {}: raw {start:?} is not the line {:?}",
            e.file,
            e.line,
            text.chars().take(40).collect::<String>()
        );
    }
    assert!(quarantined.is_empty(), "unexpected rejects {quarantined:?}");

    // No row vanishes: every data line is in silver or in the rejects,
    // exactly once.
    let mut in_silver: BTreeSet<(String, u64)> = BTreeSet::new();
    for (key, bytes) in objects(&lake, "silver/SHOP_WEEK=") {
        for l in silver::read_lines(bytes).unwrap().iter() {
            assert!(
                in_silver.insert((l.source_file.to_string(), l.source_line)),
                "{key}: {} line {} twice",
                l.source_file,
                l.source_line
            );
        }
    }
    assert_eq!(in_silver.len() as u64, report.silver_rows);
    let rejected: BTreeSet<(String, u64)> = expected
        .iter()
        .map(|e| (e.file.to_string(), e.line))
        .collect();
    for (name, bytes) in &files {
        let n = bytes.iter().filter(|&&b| b == b'\n').count() as u64
            + u64::from(!bytes.is_empty() && !bytes.ends_with(b"\n"));
        for line in 2..=n {
            let key = (name.clone(), line);
            assert!(
                in_silver.contains(&key) != rejected.contains(&key),
                "{name} line {line}: in silver {}, rejected {}",
                in_silver.contains(&key),
                rejected.contains(&key)
            );
        }
    }
    // What went to gold is small: no 10 MB code in the spec.
    let spec = lake.get("gold/_spec.json").unwrap();
    assert!(
        spec.len() < 2 << 20,
        "gold/_spec.json is {} bytes",
        spec.len()
    );
}

#[test]
fn etl_without_csv_files_or_with_one_training_class_fails_clearly() {
    let raw = tempfile::tempdir().unwrap();
    write_file(raw.path(), "notes.txt", b"not a table\n");
    let lake = tempfile::tempdir().unwrap();
    let err = run_local(raw.path(), lake.path(), &config(SEED)).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("no .csv files") && message.contains(raw.path().to_str().unwrap()),
        "{message}"
    );

    let (name, bytes) = &synth_raw()[0];
    let one_class = edit_lines(bytes, |f| {
        if f[LABEL] != "XX" {
            f[LABEL] = "MM".into();
        }
    });
    let raw = raw_dir(&[(name.clone(), one_class)]);
    let err = run_local(raw.path(), lake.path(), &config(SEED)).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("train split holds 1 label class"),
        "{message}"
    );
}

#[test]
fn etl_reads_subdirectories_and_refuses_two_files_of_one_name() {
    let files = synth_raw();
    let raw = tempfile::tempdir().unwrap();
    for (i, (name, bytes)) in files.iter().enumerate() {
        let dir = raw.path().join(format!("part{i}"));
        std::fs::create_dir(&dir).unwrap();
        write_file(&dir, name, bytes);
    }
    let lake_dir = tempfile::tempdir().unwrap();
    let report = run_local(raw.path(), lake_dir.path(), &config(SEED)).unwrap();
    let lake = local(lake_dir.path());
    let in_silver: usize = objects(&lake, "silver/")
        .into_values()
        .map(|b| silver::read_lines(b).unwrap().len())
        .sum();
    assert_eq!(in_silver as u64, report.silver_rows);
    assert_eq!(report.input_rows, report.silver_rows);

    // Two files named alike (another week's lines under the first's name)
    // would write the same silver part: one file's rows would vanish.
    write_file(&raw.path().join("part1"), &files[0].0, &files[0].1);
    let err = run_local(raw.path(), lake_dir.path(), &config(SEED)).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("same name transactions_200607.csv")
            && message.contains("part0/transactions_200607.csv")
            && message.contains("part1/transactions_200607.csv"),
        "{message}"
    );
}

// ---------------------------------------------------------------- faults

/// Issue 15: the ETL's output disk fills up. A file-size limit on the
/// process (`ulimit -f`, with SIGXFSZ ignored so a write past it fails with
/// EFBIG: the same failed write a full disk gives, without needing a tmpfs
/// mount) stops the run at a silver partition, or at the gold spec. Either
/// way: exit status 1, an error naming the file and the cause, every
/// Parquet file visible in the lake whole, and the gold table refused as
/// incomplete rather than read in part. A run without the limit then
/// rebuilds the same bytes as before.
#[test]
fn a_full_disk_stops_the_etl_cleanly_and_leaves_no_table_to_misread() {
    let raw = raw_dir(synth_raw());
    let dir = tempfile::tempdir().unwrap();
    let lake_path = dir.path().join("lake");
    run_local(raw.path(), &lake_path, &EtlConfig::default()).unwrap();
    let lake = local(&lake_path);
    let whole = objects(&lake, "gold/");
    let largest_silver = lake
        .list("silver/")
        .unwrap()
        .iter()
        .map(|k| lake.get(k).unwrap().len())
        .max()
        .unwrap();
    let spec_len = whole["gold/_spec.json"].len();
    // The raw files are already in the lake (`--raw LAKE/raw` copies
    // nothing), so the limit bites at silver or at the spec.
    let lake_raw = lake_path.join("raw");
    for (limit_kib, fails_at) in [
        (largest_silver / 1024 / 2, "silver/"),
        (
            (spec_len / 1024 / 2).max(largest_silver / 1024 + 1),
            "gold/_spec.json",
        ),
    ] {
        assert!(limit_kib * 1024 < spec_len, "the limit must stop the spec");
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "trap '' XFSZ; ulimit -f {limit_kib}; exec \"$0\" etl --raw \"$1\" --lake \"$2\""
            ))
            .arg(env!("CARGO_BIN_EXE_forest-train"))
            .arg(&lake_raw)
            .arg(&lake_path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(fails_at) && stderr.contains("File too large"),
            "limit {limit_kib} KiB: {stderr}"
        );
        // Whatever is visible is whole: every Parquet file reads to its end.
        for key in lake.list("").unwrap() {
            if key.ends_with(".parquet") {
                let bytes = bytes::Bytes::from(lake.get(&key).unwrap());
                let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                    .unwrap_or_else(|e| panic!("{key} is not whole: {e}"))
                    .build()
                    .unwrap();
                for batch in reader {
                    batch.unwrap_or_else(|e| panic!("{key} is not whole: {e}"));
                }
            }
        }
        let err = etl::read_gold(&local(&lake_path.join("gold")), None).unwrap_err();
        assert!(err.to_string().contains("incomplete"), "{err}");
    }
    run_local(&lake_raw, &lake_path, &EtlConfig::default()).unwrap();
    assert!(
        objects(&lake, "gold/") == whole,
        "the rerun rebuilds the table"
    );
}

// ---------------------------------------------------------------- the real week

#[test]
fn etl_then_fit_on_the_real_week_reaches_the_issue_bar() {
    let source = Path::new(REAL_WEEK);
    assert!(
        source.is_file(),
        "the real week is missing: {} (a checkout of ../shared/data/dunnhumby beside the repository; CI has it)",
        source.display()
    );
    let raw = tempfile::tempdir().unwrap();
    std::fs::copy(source, raw.path().join("transactions_200607.csv")).unwrap();
    let lake_dir = tempfile::tempdir().unwrap();
    let report = run_local(raw.path(), lake_dir.path(), &EtlConfig::default()).unwrap();
    assert_eq!(
        (report.input_rows, report.silver_rows, report.rejected_rows),
        (25_240, 25_240, 0),
        "{report:#?}"
    );
    assert!(report.file_problems.is_empty());
    assert_eq!(report.weeks.len(), 1);
    let week = &report.weeks[0];
    assert_eq!((week.week, week.lines), (200607, 25_240));
    assert_eq!(week.key, KeyKind::Composite, "BASKET_ID is flattened");
    assert!(
        (3_700..=3_900).contains(&week.baskets),
        "{} baskets",
        week.baskets
    );
    assert!(
        (30..=46).contains(&report.unlabelled_baskets),
        "{} XX baskets",
        report.unlabelled_baskets
    );
    let gold_baskets: u64 = report.baskets.values().sum();
    assert_eq!(gold_baskets + report.unlabelled_baskets, week.baskets);

    let lake = local(lake_dir.path());
    let checked = check_parity(&lake);
    assert_eq!(
        checked as u64,
        report.baskets["val"] + report.baskets["test"]
    );
    let tags = report
        .tag_model
        .as_ref()
        .expect("the default ETL fits a tag model");
    assert!(
        tags.rule_fit > 0.98,
        "the rule fits {:.4} of the training baskets",
        tags.rule_fit
    );
    // The brackets on either side of 1/5 fit the training baskets about
    // equally well (99.0% each on split seed 0); which one wins depends
    // on the split.
    assert!(
        (0.15..0.25).contains(&tags.threshold),
        "θ {}",
        tags.threshold
    );

    // Issue 13's bar: over five split seeds, held-out test accuracy and
    // macro-F1 at least 0.83 on average (both deterministic for the seeds).
    let (mut accuracy, mut f1) = (0.0, 0.0);
    for seed in 0..5 {
        let lake_dir = tempfile::tempdir().unwrap();
        let config = EtlConfig {
            seed,
            ..EtlConfig::default()
        };
        run_local(raw.path(), lake_dir.path(), &config).unwrap();
        let (a, f) = fit_and_score(&lake_dir.path().join("gold"));
        eprintln!("real week, split seed {seed}: test accuracy {a:.4}, macro-F1 {f:.4}");
        accuracy += a / 5.0;
        f1 += f / 5.0;
    }
    eprintln!("real week, mean of 5 split seeds: test accuracy {accuracy:.4}, macro-F1 {f1:.4}");
    assert!(
        accuracy >= 0.83 && f1 >= 0.83,
        "mean test accuracy {accuracy:.4}, macro-F1 {f1:.4}: below 0.83"
    );
}

/// Fits the default 100-tree forest on a gold table's train split and
/// scores it on the test split: (accuracy, macro-F1).
fn fit_and_score(gold: &Path) -> (f64, f64) {
    let gold = local(gold);
    let train = etl::read_gold(&gold, Some(Split::Train)).unwrap();
    let test = etl::read_gold(&gold, Some(Split::Test)).unwrap();
    let params = ForestParams {
        n_trees: 100,
        ..ForestParams::default()
    };
    let (model, _) = fit(&train, &params, &|_, _| {}).unwrap();
    let predicted = model.forest.predict_batch(&test.rows_row_major()).unwrap();
    let accuracy = predicted
        .iter()
        .zip(&test.labels)
        .filter(|(p, y)| **p == **y as usize)
        .count() as f64
        / test.n_rows() as f64;
    (
        accuracy,
        macro_f1(&test.labels, &predicted, test.classes.len()),
    )
}
