//! `forest-train import` against the real libraries: models trained by
//! LightGBM, XGBoost and scikit-learn (exported to ONNX) are imported and
//! must answer what their library answers on 10,000 rows, within 1e-6
//! relative, in the interpreter here and compiled (`forest` built with
//! `FOREST_MODEL` set to the imported artifact). Constructs the format
//! cannot reproduce are refused with an error naming tree and node.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use forest_core::{artifact, Model};
use forest_train::import::{import, Source};

use crate::nested_target_dir;
use serde_json::Value;

/// The models, built once per test binary by `tests/import_models.py`.
struct Models {
    _dir: tempfile::TempDir,
    path: PathBuf,
    manifest: Value,
}

fn models() -> &'static Models {
    static MODELS: OnceLock<Models> = OnceLock::new();
    MODELS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/import_models.py");
        let status = Command::new("python3")
            .arg(&script)
            .arg(dir.path())
            .status()
            .expect("python3 must be installed (with lightgbm, xgboost, skl2onnx, onnxruntime; .ci/run installs them)");
        assert!(status.success(), "{} failed", script.display());
        let manifest =
            serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap())
                .unwrap();
        Models {
            path: dir.path().to_path_buf(),
            _dir: dir,
            manifest,
        }
    })
}

fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn read_f64(path: &Path) -> Vec<f64> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// The largest relative difference between our probabilities and the
/// reference's (absolute below 1e-30, where relative means nothing).
fn worst_relative(ours: &[f32], reference: &[f64]) -> (f64, usize) {
    assert_eq!(ours.len(), reference.len());
    let mut worst = (0.0, 0);
    for (i, (&a, &b)) in ours.iter().zip(reference).enumerate() {
        let diff = (f64::from(a) - b).abs();
        let rel = if b.abs() < 1e-30 {
            diff
        } else {
            diff / b.abs()
        };
        if rel > worst.0 || rel.is_nan() {
            worst = (rel, i);
        }
    }
    worst
}

fn imported(name: &str) -> (Model, &'static Value) {
    let m = models();
    let entry = &m.manifest["models"][name];
    let source: Source = entry["source"].as_str().unwrap().parse().unwrap();
    let model = import(source, &m.path.join(entry["file"].as_str().unwrap()))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    (model, entry)
}

fn names() -> Vec<String> {
    let mut names: Vec<String> = models().manifest["models"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

#[test]
fn imported_models_answer_what_their_library_answers() {
    let m = models();
    let mut report = Vec::new();
    for name in names() {
        let (model, entry) = imported(&name);
        let x = read_f32(&m.path.join(entry["x"].as_str().unwrap()));
        let reference = read_f64(&m.path.join(format!("{name}.proba")));
        let k = entry["classes"].as_u64().unwrap() as usize;
        assert_eq!(model.forest.n_classes(), k, "{name}");
        assert_eq!(x.len() / model.forest.n_features(), 10_000, "{name}");
        let ours = model.forest.predict_proba_batch(&x).unwrap();
        let (worst, at) = worst_relative(&ours, &reference);
        report.push(format!("{name}: worst relative difference {worst:.2e}"));
        assert!(
            worst <= 1e-6,
            "{name}: row {}, class {}: ours {} vs the library's {} (relative {worst:.2e})",
            at / k,
            at % k,
            ours[at],
            reference[at]
        );
        // Single rows answer what the batch answers.
        for row in x.chunks_exact(model.forest.n_features()).take(500) {
            let single = model.forest.predict_proba(row).unwrap();
            let batch_row = model.forest.predict_proba_batch(row).unwrap();
            assert_eq!(single, batch_row, "{name}");
        }
        // An imported model survives its own artifact.
        let bytes = artifact::encode(&model);
        let decoded = artifact::decode(&bytes).unwrap();
        assert_eq!(decoded.forest.predict_proba_batch(&x).unwrap(), ours);
    }
    eprintln!("{}", report.join("\n"));
}

/// skl2onnx rounds thresholds to f32 and onnxruntime sums in f32; the
/// model scikit-learn itself runs is in f64. Ours follows the ONNX file,
/// and stays within f32 rounding of scikit-learn's own answer on rows
/// that do not sit on a threshold.
#[test]
fn onnx_imports_stay_close_to_scikit_learn_itself() {
    let m = models();
    for name in names().into_iter().filter(|n| n.starts_with("onnx_")) {
        let (model, entry) = imported(&name);
        let x = read_f32(&m.path.join(entry["x"].as_str().unwrap()));
        let sklearn = read_f64(&m.path.join(format!("{name}.sklearn.proba")));
        let ours = model.forest.predict_proba_batch(&x).unwrap();
        let k = model.forest.n_classes();
        let far = ours
            .chunks_exact(k)
            .zip(sklearn.chunks_exact(k))
            .filter(|(a, b)| {
                a.iter()
                    .zip(*b)
                    .any(|(a, b)| (f64::from(*a) - b).abs() > 1e-5)
            })
            .count();
        assert!(
            far <= 10,
            "{name}: {far} of 10000 rows differ by more than 1e-5"
        );
    }
}

#[test]
fn constructs_the_format_cannot_reproduce_are_refused_by_name() {
    let m = models();
    for (name, entry) in m.manifest["refuse"].as_object().unwrap() {
        let source: Source = entry["source"].as_str().unwrap().parse().unwrap();
        let path = m.path.join(entry["file"].as_str().unwrap());
        let err = import(source, &path).expect_err(name).to_string();
        let expect = entry["expect"].as_str().unwrap();
        assert!(err.contains(expect), "{name}: {err}");
        assert!(
            err.contains(entry["file"].as_str().unwrap()),
            "{name}: {err}"
        );
        assert!(err.contains("not supported"), "{name}: {err}");
    }
}

#[test]
fn a_file_of_the_wrong_kind_is_an_error_naming_it() {
    let m = models();
    let lightgbm = m.path.join("lightgbm_binary.txt");
    for source in [Source::XgBoost, Source::Onnx] {
        let err = import(source, &lightgbm).unwrap_err().to_string();
        assert!(err.contains("lightgbm_binary.txt"), "{err}");
    }
    let err = import(Source::LightGbm, &m.path.join("xgboost_binary.json"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("xgboost_binary.json"), "{err}");
    let err = import(Source::LightGbm, &m.path.join("missing.txt"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.txt"), "{err}");
}

/// The compiled path: `forest` built around each imported artifact
/// (`FOREST_MODEL`, as a server image is built), its `score_rows` example
/// run on the same rows (it checks single-row against batch itself).
#[test]
fn imported_models_compile_and_answer_what_their_library_answers() {
    let m = models();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for name in names() {
        let (model, entry) = imported(&name);
        let artifact_path = m.path.join(format!("{name}.forest"));
        std::fs::write(&artifact_path, artifact::encode(&model)).unwrap();
        let out = m.path.join(format!("{name}.compiled"));
        let status = Command::new(&cargo)
            .current_dir(workspace)
            .args([
                "run",
                "--quiet",
                "-p",
                "forest",
                "--example",
                "score_rows",
                "--",
            ])
            .arg("score")
            .arg(m.path.join(entry["x"].as_str().unwrap()))
            .arg(&out)
            .env("FOREST_MODEL", &artifact_path)
            .env("CARGO_TARGET_DIR", nested_target_dir())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "{name}: building or running the compiled model failed"
        );
        let ours = read_f32(&out);
        let reference = read_f64(&m.path.join(format!("{name}.proba")));
        let (worst, at) = worst_relative(&ours, &reference);
        assert!(
            worst <= 1e-6,
            "{name} compiled: value {at}: {} vs the library's {} (relative {worst:.2e})",
            ours[at],
            reference[at]
        );
        let x = read_f32(&m.path.join(entry["x"].as_str().unwrap()));
        assert_eq!(
            ours,
            model.forest.predict_proba_batch(&x).unwrap(),
            "{name}: compiled and interpreted differ"
        );
    }
}

/// The commands a user runs: `import`, then `predict` on a CSV file whose
/// columns carry the model's feature names.
#[test]
fn import_then_predict_from_the_command_line() {
    let m = models();
    let dir = tempfile::tempdir().unwrap();
    for (name, library) in [
        ("lightgbm_3class", "lightgbm"),
        ("xgboost_binary", "xgboost"),
        ("onnx_random_forest_binary", "onnx"),
    ] {
        let entry = &m.manifest["models"][name];
        let artifact_path = dir.path().join(format!("{name}.forest"));
        let source = m.path.join(entry["file"].as_str().unwrap());
        let out = crate::run([
            std::ffi::OsStr::new("import"),
            "--from".as_ref(),
            library.as_ref(),
            source.as_os_str(),
            "--out".as_ref(),
            artifact_path.as_os_str(),
        ]);
        assert_succeeded(&out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("imported") && stdout.contains("trees"),
            "{stdout}"
        );

        let model = artifact::decode(&std::fs::read(&artifact_path).unwrap()).unwrap();
        let names: Vec<&str> = model.meta.features.names().collect();
        let x = read_f32(&m.path.join(entry["x"].as_str().unwrap()));
        let mut csv = names.join(",") + "\n";
        for row in x.chunks_exact(names.len()) {
            let cells: Vec<String> = row
                .iter()
                .map(|v| {
                    if v.is_nan() {
                        String::new()
                    } else {
                        v.to_string()
                    }
                })
                .collect();
            csv.push_str(&cells.join(","));
            csv.push('\n');
        }
        let data = dir.path().join(format!("{name}.csv"));
        std::fs::write(&data, csv).unwrap();
        let scores = dir.path().join(format!("{name}.scores.csv"));
        let out = crate::run([
            std::ffi::OsStr::new("predict"),
            "--model".as_ref(),
            artifact_path.as_os_str(),
            "--data".as_ref(),
            data.as_os_str(),
            "--out".as_ref(),
            scores.as_os_str(),
        ]);
        assert_succeeded(&out);
        let reference = read_f64(&m.path.join(format!("{name}.proba")));
        let k = model.forest.n_classes();
        let mut reader = csv::Reader::from_path(&scores).unwrap();
        let mut ours = Vec::new();
        for record in reader.records() {
            let record = record.unwrap();
            ours.extend(record.iter().skip(2).map(|v| v.parse::<f32>().unwrap()));
        }
        assert_eq!(ours.len(), 10_000 * k);
        let (worst, _) = worst_relative(&ours, &reference);
        assert!(
            worst <= 1e-6,
            "{name}: worst relative difference {worst:.2e}"
        );
    }
}

fn assert_succeeded(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
