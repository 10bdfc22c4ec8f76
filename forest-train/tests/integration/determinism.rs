//! Determinism: the same data, parameters and seed give byte-identical
//! artifacts whatever the number of worker threads, through the library and
//! through the command line; a different seed gives different bytes.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use forest_core::splitmix::SplitMix64;
use forest_core::{artifact, FeatureDef, FeatureSpec};
use forest_learn::{fit, ClassWeight, Dataset, ForestParams, HistogramMinRows, MaxSamples};

const ROWS: usize = 5_000;

/// Uniform in [0, 1), as an f32 (24 random bits).
fn unit(s: &mut SplitMix64) -> f32 {
    (s.next_u64() >> 40) as f32 / (1u64 << 24) as f32
}

/// 5,000 rows of five numeric features (continuous, so more distinct values
/// than bins; about 2% missing) and one categorical feature of six values,
/// with three noisy classes.
fn synthetic() -> Dataset {
    let mut s = SplitMix64::new(42);
    let mut columns: Vec<Vec<f32>> = (0..6).map(|_| Vec::with_capacity(ROWS)).collect();
    let mut labels = Vec::with_capacity(ROWS);
    for _ in 0..ROWS {
        let x: Vec<f32> = (0..5).map(|_| unit(&mut s) * 10.0 - 5.0).collect();
        let cat = (s.next_u64() % 6) as f32;
        let score = x[0] + 0.5 * x[1] * x[2].signum() + if cat < 2.0 { 2.0 } else { 0.0 };
        let noise = unit(&mut s) * 3.0 - 1.5;
        let class = if score + noise < -1.0 {
            0
        } else if score + noise < 2.0 {
            1
        } else {
            2
        };
        for (j, v) in x.into_iter().enumerate() {
            // Gaps: about one value in fifty, in every numeric column.
            columns[j].push(if s.next_u64() % 50 == 0 { f32::NAN } else { v });
        }
        columns[5].push(if s.next_u64() % 50 == 0 {
            f32::NAN
        } else {
            cat
        });
        labels.push(class);
    }
    let mut features: Vec<FeatureDef> = (0..5)
        .map(|j| FeatureDef::numeric(format!("x{j}")))
        .collect();
    features.push(FeatureDef::categorical(
        "colour",
        ["red", "orange", "yellow", "green", "blue", "violet"].map(String::from),
    ));
    Dataset {
        source: "synthetic".into(),
        spec: FeatureSpec {
            features,
            basket: None,
        },
        columns,
        label: "class".into(),
        classes: vec!["low".into(), "mid".into(), "high".into()],
        labels,
    }
}

fn params(seed: u64) -> ForestParams {
    ForestParams {
        n_trees: 20,
        seed,
        histogram_min_rows: HistogramMinRows::Rows(256),
        ..ForestParams::default()
    }
}

/// The artifact bytes of `fit` run on a pool of `threads` workers.
fn artifact_with_threads(data: &Dataset, params: &ForestParams, threads: usize) -> Vec<u8> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let (model, _) = pool.install(|| fit(data, params, &|_, _| {})).unwrap();
    artifact::encode(&model)
}

fn assert_same_bytes(a: &[u8], b: &[u8], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: artifact sizes differ");
    if let Some(i) = a.iter().zip(b).position(|(x, y)| x != y) {
        panic!("{what}: artifacts differ from byte {i} of {}", a.len());
    }
}

#[test]
fn one_and_two_threads_give_the_same_artifact() {
    let data = synthetic();
    let p = params(7);
    let one = artifact_with_threads(&data, &p, 1);
    let two = artifact_with_threads(&data, &p, 2);
    assert_same_bytes(&one, &two, "1 vs 2 threads");

    // The forest has real trees, and the OOB score made it into the bytes.
    let model = artifact::decode(&one).unwrap();
    assert_eq!(model.forest.n_trees(), 20);
    assert!(
        model.forest.n_nodes() > 20 * 50,
        "{}",
        model.forest.n_nodes()
    );
    assert!(model.meta.metrics["oob_score"].as_f64().unwrap() > 0.5);

    // A different seed grows other trees: the comparison above can fail.
    let other = artifact_with_threads(&data, &params(8), 2);
    assert_ne!(one, other, "seed 8 gave the bytes of seed 7");
    let other = artifact::decode(&other).unwrap();
    assert_ne!(other.forest, model.forest);
}

#[test]
fn the_histogram_path_is_exercised() {
    // With `histogram_min_rows` at 256 the upper nodes split on bin edges;
    // with it out of reach every node sorts raw values. The forests differ,
    // so the comparison of thread counts above covers histogram splits.
    let data = synthetic();
    let hist = artifact_with_threads(&data, &params(7), 2);
    let exact = ForestParams {
        histogram_min_rows: HistogramMinRows::Rows(usize::MAX),
        ..params(7)
    };
    let exact = artifact_with_threads(&data, &exact, 2);
    let hist = artifact::decode(&hist).unwrap();
    let exact = artifact::decode(&exact).unwrap();
    assert_ne!(hist.forest.threshold(), exact.forest.threshold());
}

#[test]
fn balanced_subsample_with_half_samples_is_deterministic_too() {
    let data = synthetic();
    let p = ForestParams {
        class_weight: ClassWeight::BalancedSubsample,
        max_samples: MaxSamples::Fraction(0.5),
        ..params(11)
    };
    let one = artifact_with_threads(&data, &p, 1);
    let two = artifact_with_threads(&data, &p, 2);
    assert_same_bytes(&one, &two, "balanced_subsample, 1 vs 2 threads");
    let three = artifact_with_threads(&data, &p, 3);
    assert_same_bytes(&one, &three, "balanced_subsample, 1 vs 3 threads");

    // And the options took effect: other bytes than the plain forest.
    let plain = artifact_with_threads(&data, &params(11), 1);
    assert_ne!(one, plain);
}

#[test]
fn histograms_in_every_node_with_class_weights_are_deterministic() {
    // What `auto` does on large tables (every node on histograms), with
    // fractional weights: children's class weights come from their
    // parent's split, and the bytes still do not depend on the threads.
    let data = synthetic();
    let p = ForestParams {
        class_weight: ClassWeight::Balanced,
        histogram_min_rows: HistogramMinRows::Rows(0),
        ..params(13)
    };
    let one = artifact_with_threads(&data, &p, 1);
    let two = artifact_with_threads(&data, &p, 2);
    assert_same_bytes(&one, &two, "histograms everywhere, 1 vs 2 threads");
    let model = artifact::decode(&one).unwrap();
    assert_eq!(model.meta.params["histogram_min_rows"], 0);
    // Every leaf is a distribution: no class weight rounded below zero.
    for v in model.forest.values() {
        assert!((0.0..=1.0).contains(v), "{v}");
    }
}

/// Writes `data` as a CSV the trainer reads back to the same table.
fn write_csv(data: &Dataset, path: &Path) {
    let mut csv = String::new();
    let names: Vec<&str> = data.spec.names().collect();
    csv.push_str(&names.join(","));
    csv.push_str(&format!(",{}\n", data.label));
    let vocabulary = match &data.spec.features[5].kind {
        forest_core::FeatureKind::Categorical { vocabulary } => vocabulary.clone(),
        kind => panic!("feature 5 is {kind:?}"),
    };
    for r in 0..data.n_rows() {
        for (j, column) in data.columns.iter().enumerate() {
            let v = column[r];
            if v.is_nan() {
                // Alternate the spellings of a gap.
                csv.push_str(["", "NA"][r % 2]);
            } else if j == 5 {
                csv.push_str(&vocabulary[v as usize]);
            } else {
                csv.push_str(&v.to_string());
            }
            csv.push(',');
        }
        csv.push_str(&data.classes[data.labels[r] as usize]);
        csv.push('\n');
    }
    std::fs::write(path, csv).unwrap();
}

#[test]
fn cli_gives_the_same_bytes_with_one_and_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    let data_path = dir.path().join("table.csv");
    write_csv(&synthetic(), &data_path);
    let fit_with = |threads: &str, seed: &str| {
        let out = dir.path().join(format!("t{threads}-s{seed}.forest"));
        let run = Command::new(env!("CARGO_BIN_EXE_forest-train"))
            .args([
                OsStr::new("fit"),
                "--data".as_ref(),
                data_path.as_os_str(),
                "--label".as_ref(),
                "class".as_ref(),
                "--out".as_ref(),
                out.as_os_str(),
                "--trees".as_ref(),
                "20".as_ref(),
                "--histogram-min-rows".as_ref(),
                "256".as_ref(),
                "--class-weight".as_ref(),
                "balanced".as_ref(),
                "--seed".as_ref(),
                seed.as_ref(),
                "--threads".as_ref(),
                threads.as_ref(),
            ])
            .env_remove("FOREST_GIT_REVISION")
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "fit --threads {threads}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        std::fs::read(out).unwrap()
    };
    let one = fit_with("1", "3");
    let two = fit_with("2", "3");
    assert_same_bytes(&one, &two, "CLI, --threads 1 vs 2");
    let model = artifact::decode(&one).unwrap();
    assert_eq!(model.meta.training.rows, ROWS as u64);
    assert_eq!(model.forest.n_features(), 6);
    assert_ne!(
        one,
        fit_with("2", "4"),
        "--seed 4 gave the bytes of --seed 3"
    );
}
