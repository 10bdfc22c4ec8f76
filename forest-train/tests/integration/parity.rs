//! Accuracy parity with scikit-learn's RandomForestClassifier on its bundled
//! data sets: same split, same hyper-parameters (the defaults), five seeds
//! each; our mean accuracy must be within 1.5 points of scikit-learn's, or
//! better. scikit-learn itself produces the data and its baseline at test
//! time (`.ci/run` installs it).

use std::path::Path;
use std::process::Command;

use forest_learn::{fit, ForestParams};
use forest_train::csv_input::{read_csv_with_spec, read_training_csv};

const SEEDS: u64 = 5;
const TOLERANCE: f64 = 0.015;

fn our_accuracy(dir: &Path, name: &str, seed: u64) -> f64 {
    let train = read_training_csv(&dir.join(format!("{name}_train.csv")), "target").unwrap();
    let test = read_csv_with_spec(
        &dir.join(format!("{name}_test.csv")),
        &train.spec,
        "target",
        &train.classes,
    )
    .unwrap();
    let params = ForestParams {
        seed,
        ..ForestParams::default()
    };
    let (model, _) = fit(&train, &params, &|_, _| {}).unwrap();
    let predicted = model.forest.predict_batch(&test.rows_row_major()).unwrap();
    let hits = predicted
        .iter()
        .zip(&test.labels)
        .filter(|(p, y)| **p == **y as usize)
        .count();
    hits as f64 / test.n_rows() as f64
}

#[test]
fn accuracy_matches_scikit_learn_on_bundled_datasets() {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sklearn_parity.py");
    let status = Command::new("python3")
        .arg(&script)
        .arg(dir.path())
        .arg(SEEDS.to_string())
        .status()
        .expect("python3 must be installed (with scikit-learn; .ci/run installs it)");
    assert!(status.success(), "{} failed", script.display());
    let baseline: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("baseline.json")).unwrap()).unwrap();

    let mut failures = Vec::new();
    for name in ["iris", "wine", "breast_cancer", "digits"] {
        let ours: f64 = (0..SEEDS)
            .map(|s| our_accuracy(dir.path(), name, s))
            .sum::<f64>()
            / SEEDS as f64;
        let theirs = baseline[name]["mean"].as_f64().unwrap();
        eprintln!("{name:>14}: ours {ours:.4}  scikit-learn {theirs:.4}");
        if ours < theirs - TOLERANCE {
            failures.push(format!(
                "{name}: ours {ours:.4} < scikit-learn {theirs:.4} - {TOLERANCE}"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
