//! The SageMaker training contract (`forest-train train` against a
//! temporary /opt/ml-shaped root), multi-host sharding + `merge` against
//! the single-host forest, and `sagemaker submit` against moto.

use std::path::{Path, PathBuf};

use forest_core::{artifact, Model};
use forest_train::etl::read_gold;
use forest_train::lake::{Lake, S3Options};
use forest_train::sagemaker::jobs;
use forest_train::sagemaker::{metric_regex, SageMaker, METRICS};

use crate::moto::Moto;
use crate::registry::{assert_fails, assert_ok, forest_train, stderr, stdout, Fixture};

/// Copies a directory tree.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// An /opt/ml-shaped root whose train and validation channels hold copies
/// of the fixture's gold table.
fn sm_root(fx: &Fixture, name: &str, hyperparameters: serde_json::Value) -> PathBuf {
    let root = fx.path().join(name);
    copy_dir(&fx.gold(), &root.join("input/data/train"));
    copy_dir(&fx.gold(), &root.join("input/data/validation"));
    set_json(&root, "hyperparameters.json", &hyperparameters);
    root
}

fn set_json(root: &Path, name: &str, value: &serde_json::Value) {
    let dir = root.join("input/config");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), serde_json::to_vec(value).unwrap()).unwrap();
}

fn set_host(root: &Path, current: &str, hosts: &[&str]) {
    set_json(
        root,
        "resourceconfig.json",
        &serde_json::json!({"current_host": current, "hosts": hosts, "network_interface_name": "eth0"}),
    );
}

fn train(root: &Path) -> std::process::Output {
    forest_train(["train", "--sm-root", root.to_str().unwrap()], &[])
}

fn load(path: &Path) -> Model {
    artifact::decode(&std::fs::read(path).unwrap()).unwrap()
}

/// The value a metric line gives for `name` in `text`.
fn metric(text: &str, name: &str) -> Option<f64> {
    let prefix = metric_regex(name);
    let prefix = prefix.split('(').next().unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(prefix)?.strip_suffix(';')?.parse().ok())
}

#[test]
fn training_entrypoint_writes_model_metrics_and_report() {
    let fx = Fixture::new();
    // Values as SageMaker's SDKs send them: JSON-encoded strings, plain ones.
    let root = sm_root(
        &fx,
        "ml",
        serde_json::json!({"trees": "\"20\"", "seed": "3", "max_depth": "\"none\"", "sagemaker_region": "\"us-east-1\""}),
    );
    let out = train(&root);
    assert_ok(&out, "train");
    let text = stdout(&out);
    for name in METRICS {
        let v = metric(&text, name).unwrap_or_else(|| panic!("no {name} line in {text}"));
        assert!(v.is_finite() && v >= 0.0, "{name}={v}");
    }
    assert!(
        metric(&text, "validation:accuracy").unwrap() > 0.5,
        "{text}"
    );
    assert!(!root.join("output/failure").exists());

    let model_path = root.join("model/model.forest");
    let bytes = std::fs::read(&model_path).unwrap();
    let model = artifact::decode(&bytes).expect("a loadable artifact");
    assert_eq!(model.forest.n_trees(), 20);
    assert_eq!(model.meta.params["seed"], 3);
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("model/metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["model"]["sha256"], artifact::content_hash(&bytes));
    let accuracy = metrics["accuracy"].as_f64().unwrap();
    assert!((accuracy - metric(&text, "validation:accuracy").unwrap()).abs() < 1e-6);
    for f in [
        "report.md",
        "confusion_matrix.svg",
        "feature_importance.svg",
    ] {
        assert!(root.join("model").join(f).exists(), "{f}");
    }

    // SM_ROOT works as well as --sm-root, and the same inputs give the same bytes.
    std::fs::remove_dir_all(root.join("model")).unwrap();
    let out = forest_train(["train"], &[("SM_ROOT", root.to_str().unwrap())]);
    assert_ok(&out, "train with SM_ROOT");
    assert_eq!(std::fs::read(&model_path).unwrap(), bytes);

    // The container's output registers as is: metrics.json sits beside the model.
    let registry = fx.path().join("registry");
    let out = forest_train(
        [
            "register",
            "--model",
            model_path.to_str().unwrap(),
            "--registry",
            registry.to_str().unwrap(),
            "--min-accuracy",
            "0",
            "--min-macro-f1",
            "0",
        ],
        &[],
    );
    assert_ok(&out, "register the container's model");
    assert!(
        stdout(&out).contains("version 1: PendingManualApproval"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn training_entrypoint_fails_clearly_on_bad_input() {
    let fx = Fixture::new();
    let good = serde_json::json!({"trees": "5"});
    type Breakage = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Breakage, &str)> = vec![
        (
            "missing train channel",
            Box::new(|root: &Path| std::fs::remove_dir_all(root.join("input/data/train")).unwrap()),
            "missing channel 'train'",
        ),
        (
            "bad hyper-parameter value",
            Box::new(|root: &Path| {
                set_json(
                    root,
                    "hyperparameters.json",
                    &serde_json::json!({"trees": "\"many\""}),
                )
            }),
            "hyper-parameter trees: 'many'",
        ),
        (
            "unknown hyper-parameter",
            Box::new(|root: &Path| {
                set_json(
                    root,
                    "hyperparameters.json",
                    &serde_json::json!({"tress": "10"}),
                )
            }),
            "unknown hyper-parameter 'tress'",
        ),
        (
            "hyper-parameters that are not JSON",
            Box::new(|root: &Path| {
                std::fs::write(root.join("input/config/hyperparameters.json"), b"{trees: 5")
                    .unwrap()
            }),
            "is not valid JSON",
        ),
        (
            "empty data (a spec but no partitions)",
            Box::new(|root: &Path| {
                let train = root.join("input/data/train");
                for entry in std::fs::read_dir(&train).unwrap() {
                    let p = entry.unwrap().path();
                    if p.is_dir() {
                        std::fs::remove_dir_all(p).unwrap();
                    }
                }
            }),
            "no gold partitions",
        ),
        (
            "empty channel directory",
            Box::new(|root: &Path| {
                let train = root.join("input/data/train");
                std::fs::remove_dir_all(&train).unwrap();
                std::fs::create_dir_all(&train).unwrap();
            }),
            "channel 'train'",
        ),
        (
            "this host not among the hosts",
            Box::new(|root: &Path| set_host(root, "algo-3", &["algo-1", "algo-2"])),
            "current_host \"algo-3\"",
        ),
        (
            "more hosts than trees",
            Box::new(|root: &Path| {
                set_json(
                    root,
                    "hyperparameters.json",
                    &serde_json::json!({"trees": "1"}),
                );
                set_host(root, "algo-1", &["algo-1", "algo-2"]);
            }),
            "cannot be shared among 2 hosts",
        ),
    ];
    for (i, (what, break_it, needle)) in cases.iter().enumerate() {
        let root = sm_root(&fx, &format!("ml-{i}"), good.clone());
        break_it(&root);
        let out = train(&root);
        assert!(!out.status.success(), "{what}: should fail");
        assert_eq!(out.status.code(), Some(1), "{what}");
        let failure = std::fs::read_to_string(root.join("output/failure"))
            .unwrap_or_else(|e| panic!("{what}: no failure file ({e}); stderr: {}", stderr(&out)));
        assert!(failure.contains(needle), "{what}: {failure}");
        assert!(stderr(&out).contains(needle), "{what}: {}", stderr(&out));
        assert!(!root.join("model/model.forest").exists(), "{what}");
    }
}

#[test]
fn two_host_training_merges_into_the_single_host_forest() {
    let fx = Fixture::new();
    let hp = serde_json::json!({"trees": "21", "seed": "\"5\"", "max_features": "0.5"});
    // One root for all runs, as on SageMaker every host sees the same paths.
    let root = sm_root(&fx, "ml", hp);

    set_host(&root, "algo-1", &["algo-1"]);
    assert_ok(&train(&root), "single-host train");
    let single_path = fx.path().join("single.forest");
    std::fs::rename(root.join("model/model.forest"), &single_path).unwrap();

    let parts = fx.path().join("parts");
    std::fs::create_dir_all(&parts).unwrap();
    for host in ["algo-1", "algo-2"] {
        std::fs::remove_dir_all(root.join("model")).unwrap();
        set_host(&root, host, &["algo-1", "algo-2"]);
        let out = train(&root);
        assert_ok(&out, host);
        let i = if host == "algo-1" { 1 } else { 2 };
        let name = format!("part-{i}-of-2.forest");
        assert!(root
            .join(format!("model/part-{i}-of-2/metrics.json"))
            .exists());
        std::fs::rename(root.join("model").join(&name), parts.join(&name)).unwrap();
    }
    let p1 = load(&parts.join("part-1-of-2.forest"));
    let p2 = load(&parts.join("part-2-of-2.forest"));
    assert_eq!((p1.forest.n_trees(), p2.forest.n_trees()), (10, 11));

    // Parts in either order, or their directory.
    let merged_path = fx.path().join("merged.forest");
    let out = forest_train(
        [
            "merge",
            parts.join("part-2-of-2.forest").to_str().unwrap(),
            parts.join("part-1-of-2.forest").to_str().unwrap(),
            "--out",
            merged_path.to_str().unwrap(),
        ],
        &[],
    );
    assert_ok(&out, "merge");
    let single = load(&single_path);
    let merged = load(&merged_path);
    assert_eq!(
        merged.forest, single.forest,
        "tree for tree the same forest"
    );
    assert_eq!(merged.meta.tree_seeds, single.meta.tree_seeds);
    assert_eq!(merged.meta.params, single.meta.params);
    assert_eq!(merged.meta.training, single.meta.training);
    assert_eq!(merged.meta.features, single.meta.features);
    for (m, s) in merged
        .meta
        .feature_importance
        .iter()
        .zip(&single.meta.feature_importance)
    {
        assert!((m - s).abs() < 1e-9, "importance {m} vs {s}");
    }
    // Prediction for prediction, on every gold row.
    let gold = Lake::open(fx.gold().to_str().unwrap(), &S3Options::default()).unwrap();
    let rows = read_gold(&gold, None).unwrap().rows_row_major();
    let a = merged.forest.predict_proba_batch(&rows).unwrap();
    let b = single.forest.predict_proba_batch(&rows).unwrap();
    assert!(!a.is_empty());
    assert!(
        a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
        "every probability identical"
    );

    let from_dir = fx.path().join("merged-dir.forest");
    let out = forest_train(
        [
            "merge",
            parts.to_str().unwrap(),
            "--out",
            from_dir.to_str().unwrap(),
        ],
        &[],
    );
    assert_ok(&out, "merge DIR");
    assert_eq!(
        std::fs::read(&from_dir).unwrap(),
        std::fs::read(&merged_path).unwrap()
    );

    // Incomplete or overlapping sets of parts are refused.
    let p1_path = parts.join("part-1-of-2.forest");
    let out = forest_train(
        ["merge", p1_path.to_str().unwrap(), "--out", "/dev/null"],
        &[],
    );
    assert_fails(&out, "merge of one part", "trees 10..21");
    let out = forest_train(
        [
            "merge",
            p1_path.to_str().unwrap(),
            p1_path.to_str().unwrap(),
            "--out",
            "/dev/null",
        ],
        &[],
    );
    assert_fails(&out, "merge of a part twice", "overlaps");
    let out = forest_train(
        [
            "merge",
            p1_path.to_str().unwrap(),
            single_path.to_str().unwrap(),
            "--out",
            "/dev/null",
        ],
        &[],
    );
    assert_fails(&out, "merge of a part with a whole forest", "overlaps");
}

#[test]
fn sagemaker_submit_creates_the_training_job() {
    let moto = Moto::start();
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "sagemaker",
            "submit",
            "--image",
            "111122223333.dkr.ecr.us-east-1.amazonaws.com/forest-train:1",
            "--role",
            "arn:aws:iam::111122223333:role/forest-sagemaker",
            "--train",
            "s3://forest-lake/lake/gold",
            "--validation",
            "s3://forest-lake/lake/gold",
            "--output",
            "s3://forest-lake/jobs",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let out = forest_train(
        args(&[
            "--name",
            "forest-test-1",
            "--instance-count",
            "2",
            "--instance-type",
            "ml.c5.2xlarge",
            "--spot",
            "--max-runtime",
            "3600",
            "--max-wait",
            "7200",
            "--hp",
            "trees=50",
            "--hp",
            "seed=3",
            "--wait",
            "--poll",
            "0.2",
        ]),
        &env,
    );
    assert_ok(&out, "sagemaker submit --wait");
    let text = stdout(&out);
    assert!(
        text.contains("submitted training job forest-test-1"),
        "{text}"
    );
    assert!(text.contains("Completed"), "{text}");
    assert!(text.contains("final metrics:"), "{text}");
    assert!(
        text.contains("checkpoints: s3://forest-lake/jobs/forest-test-1/checkpoints"),
        "{text}"
    );

    let mut options = forest_train::sagemaker::options_from_env();
    options.endpoint_url = Some(moto.endpoint.clone());
    options.region = Some("us-east-1".into());
    options.credentials = Some(("testing".into(), "testing".into()));
    let sm = SageMaker::connect(&options).unwrap();
    let job = jobs::describe(&sm, "forest-test-1").unwrap();
    assert_eq!(job.status, "Completed");
    assert_eq!(
        job.hyperparameters,
        [
            ("seed".to_string(), "3".to_string()),
            ("trees".to_string(), "50".to_string())
        ]
        .into()
    );
    assert_eq!(job.spot, Some(true));
    assert_eq!(job.max_runtime_secs, Some(3600));
    assert_eq!(job.max_wait_secs, Some(7200));
    assert_eq!(
        job.checkpoint.as_deref(),
        Some("s3://forest-lake/jobs/forest-test-1/checkpoints")
    );
    assert_eq!(job.instance_count, Some(2));
    assert_eq!(job.instance_type.as_deref(), Some("ml.c5.2xlarge"));
    let channels: Vec<(&str, &str, &str)> = job
        .channels
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    assert_eq!(
        channels,
        [
            ("train", "s3://forest-lake/lake/gold", "FullyReplicated"),
            (
                "validation",
                "s3://forest-lake/lake/gold",
                "FullyReplicated"
            )
        ]
    );

    // Problems the container would only find after instances started are
    // caught before anything is submitted.
    let out = forest_train(args(&["--hp", "tress=10"]), &env);
    assert_fails(
        &out,
        "a misspelt hyper-parameter",
        "unknown hyper-parameter 'tress'",
    );
    let out = forest_train(
        args(&["--spot", "--max-runtime", "3600", "--max-wait", "60"]),
        &env,
    );
    assert_fails(&out, "max wait below max runtime", "--max-wait");
    let out = forest_train(
        args(&["--name", "forest-test-1"])
            .into_iter()
            .map(|s| s.replace("s3://forest-lake/jobs", "/local/jobs"))
            .collect::<Vec<_>>(),
        &env,
    );
    assert_fails(&out, "a local output path", "--output");
}
