//! The local model registry (issue 6): monotonic versions, concurrent
//! registration from threads and processes, status history, quality gates,
//! approve/reject rules, pull with sha256 verification; and the shared
//! fixture of the registry and SageMaker tests (a small synthetic gold
//! table and tiny forests).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use forest_core::artifact;
use forest_learn::{fit, ForestParams};
use forest_train::etl::gold::Split;
use forest_train::etl::{self, read_gold, EtlConfig};
use forest_train::lake::{Lake, S3Options};
use forest_train::registry::local::{METRICS_FILE, MODEL_FILE, STATUS_FILE};
use forest_train::registry::{
    register, Gates, Registration, Registry, RegistryError, Status, QUALITY_GATE,
};
use forest_train::synth::{self, SynthConfig};

use crate::write_file;

// ---------------------------------------------------------------- fixture

/// A temporary directory with `raw/` (two synthetic weeks of 300 baskets)
/// and `lake/` (the ETL's silver and gold).
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let config = SynthConfig {
            seed: 21,
            weeks: 2,
            baskets_per_week: 300,
            ..SynthConfig::default()
        };
        let raw = dir.path().join("raw");
        std::fs::create_dir_all(&raw).unwrap();
        for i in 0..config.weeks {
            write_file(
                &raw,
                &config.file_name(i),
                &synth::generate_week(&config, i),
            );
        }
        let open = |p: &Path| Lake::open(p.to_str().unwrap(), &S3Options::default()).unwrap();
        etl::run(
            &open(&raw),
            &open(&dir.path().join("lake")),
            &EtlConfig::default(),
            &|_| {},
        )
        .expect("etl of the synthetic weeks");
        Fixture { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn lake(&self) -> PathBuf {
        self.path().join("lake")
    }

    pub fn gold(&self) -> PathBuf {
        self.lake().join("gold")
    }

    /// A forest of `trees` trees fitted on the gold train split, as bytes.
    pub fn model(&self, trees: usize, seed: u64) -> Vec<u8> {
        let gold = Lake::open(self.gold().to_str().unwrap(), &S3Options::default()).unwrap();
        let data = read_gold(&gold, Some(Split::Train)).unwrap();
        let params = ForestParams {
            n_trees: trees,
            seed,
            ..ForestParams::default()
        };
        let (model, _) = fit(&data, &params, &|_, _| {}).unwrap();
        artifact::encode(&model)
    }

    /// Writes a model to `name` in the fixture directory.
    pub fn model_file(&self, name: &str, trees: usize, seed: u64) -> PathBuf {
        write_file(self.path(), name, &self.model(trees, seed))
    }
}

/// An evaluation metrics.json for `model` with the given scores.
pub fn metrics_for(model: &[u8], accuracy: f64, macro_f1: f64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "model": {"sha256": artifact::content_hash(model)},
        "accuracy": accuracy,
        "macro_f1": macro_f1,
        "rows": 90,
    }))
    .unwrap()
}

/// Runs `forest-train` with no AWS or registry settings from the caller's
/// environment.
pub fn forest_train<I, S>(args: I, env: &[(&str, &str)]) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_forest-train"));
    cmd.args(args);
    for var in [
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_SAGEMAKER",
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "FOREST_REGISTRY",
        "FOREST_SERVE_IMAGE",
        "FOREST_TRAIN_IMAGE",
        "SAGEMAKER_ROLE_ARN",
        "SM_ROOT",
        "FOREST_GIT_REVISION",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run forest-train")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

pub fn assert_fails(out: &Output, what: &str, needle: &str) {
    assert!(
        !out.status.success(),
        "{what} should fail; stdout: {}",
        stdout(out)
    );
    let err = stderr(out);
    assert!(
        err.contains(needle),
        "{what}: expected {needle:?} in: {err}"
    );
}

fn local(dir: &Path) -> Registry {
    Registry::open(dir.to_str().unwrap(), None, &S3Options::default()).unwrap()
}

fn register_bytes(
    reg: &Registry,
    model: &[u8],
    accuracy: f64,
    macro_f1: f64,
) -> Result<forest_train::registry::ModelVersion, RegistryError> {
    let metrics = metrics_for(model, accuracy, macro_f1);
    register(
        reg,
        &Registration {
            artifact: model,
            metrics_json: &metrics,
            gates: Gates::default(),
            by: "tester",
            lake: None,
        },
    )
    .map(|r| r.version)
}

// ---------------------------------------------------------------- tests

#[test]
fn local_registry_versions_history_gates_and_pull() {
    let fx = Fixture::new();
    let (a, b) = (fx.model(5, 0), fx.model(5, 1));
    let dir = fx.path().join("registry");
    let reg = local(&dir);
    assert!(reg.list().unwrap().is_empty());
    assert!(matches!(
        reg.latest_approved(),
        Err(RegistryError::NoApprovedVersion { .. })
    ));

    // A passing model: pending, its files in place.
    let v1 = register_bytes(&reg, &a, 0.85, 0.8).unwrap();
    assert_eq!((v1.version, v1.status), (1, Status::PendingManualApproval));
    assert_eq!(
        v1.sha256.as_deref(),
        Some(artifact::content_hash(&a).as_str())
    );
    let vdir = dir.join("price-sensitivity/1");
    assert_eq!(std::fs::read(vdir.join(MODEL_FILE)).unwrap(), a);
    assert_eq!(
        std::fs::read(vdir.join(METRICS_FILE)).unwrap(),
        metrics_for(&a, 0.85, 0.8)
    );
    assert!(vdir.join(STATUS_FILE).exists());
    assert_eq!(v1.history.len(), 1);
    assert_eq!(v1.history[0].by, "tester");
    assert_eq!(v1.metrics["accuracy"], "0.850000");

    // A failing model: registered, rejected at once with the reason.
    let v2 = register_bytes(&reg, &b, 0.79, 0.65).unwrap();
    assert_eq!((v2.version, v2.status), (2, Status::Rejected));
    let last = v2.history.last().unwrap();
    assert_eq!(last.by, QUALITY_GATE);
    let reason = last.reason.as_deref().unwrap();
    assert!(
        reason.contains("accuracy 0.7900 < 0.8") && reason.contains("macro-F1 0.6500 < 0.7"),
        "{reason}"
    );
    // ... and can never be approved.
    let err = reg.approve(2, None, "alice").unwrap_err();
    assert!(matches!(err, RegistryError::Transition { .. }), "{err}");
    assert!(err.to_string().contains("cannot be approved"), "{err}");
    assert_eq!(reg.get(2).unwrap().status, Status::Rejected);

    // Approve: history records who and when; approving twice is a no-op.
    let v1 = reg.approve(1, Some("looks good"), "alice").unwrap();
    assert_eq!(v1.status, Status::Approved);
    assert_eq!(v1.history.len(), 2);
    assert_eq!(v1.history[1].by, "alice");
    assert_eq!(v1.history[1].reason.as_deref(), Some("looks good"));
    assert!(v1.history[1].at.ends_with('Z') && v1.history[1].at.len() == 20);
    assert_eq!(reg.approve(1, None, "bob").unwrap().history.len(), 2);
    assert_eq!(reg.latest_approved().unwrap().version, 1);
    assert_eq!(reg.fetch(&reg.latest_approved().unwrap()).unwrap(), a);

    // Versions keep counting; the latest approved follows approvals and
    // rejections (rejecting an approved version revokes it).
    let v3 = register_bytes(&reg, &a, 0.9, 0.9).unwrap();
    assert_eq!(v3.version, 3);
    reg.approve(3, None, "alice").unwrap();
    assert_eq!(reg.latest_approved().unwrap().version, 3);
    let err = reg.reject(3, "  ", "bob").unwrap_err();
    assert!(err.to_string().contains("needs a reason"), "{err}");
    let v3 = reg.reject(3, "drift on week 200610", "bob").unwrap();
    assert_eq!(v3.status, Status::Rejected);
    let statuses: Vec<Status> = v3.history.iter().map(|c| c.status).collect();
    assert_eq!(
        statuses,
        [
            Status::PendingManualApproval,
            Status::Approved,
            Status::Rejected
        ]
    );
    assert_eq!(reg.latest_approved().unwrap().version, 1);
    let listed: Vec<(u64, Status)> = reg
        .list()
        .unwrap()
        .iter()
        .map(|v| (v.version, v.status))
        .collect();
    assert_eq!(
        listed,
        [
            (1, Status::Approved),
            (2, Status::Rejected),
            (3, Status::Rejected)
        ]
    );
    assert!(matches!(
        reg.get(9),
        Err(RegistryError::NoSuchVersion { version: 9, .. })
    ));

    // A registration in progress (no status.json yet) is not listed, and
    // its number is not reused.
    std::fs::create_dir_all(dir.join("price-sensitivity/4")).unwrap();
    assert_eq!(reg.list().unwrap().len(), 3);
    assert_eq!(register_bytes(&reg, &a, 0.9, 0.9).unwrap().version, 5);

    // Metrics of another model are refused.
    let err = register(
        &reg,
        &Registration {
            artifact: &a,
            metrics_json: &metrics_for(&b, 0.9, 0.9),
            gates: Gates::default(),
            by: "tester",
            lake: None,
        },
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("metrics are for model"), "{err}");

    // A tampered artifact fails the sha256 check.
    std::fs::write(vdir.join(MODEL_FILE), &b).unwrap();
    let err = reg.fetch(&reg.get(1).unwrap()).unwrap_err();
    assert!(matches!(err, RegistryError::Integrity { .. }), "{err}");
    assert!(
        err.to_string().contains(&artifact::content_hash(&a)),
        "{err}"
    );

    // Another group in the same directory is another registry.
    let other =
        Registry::open(dir.to_str().unwrap(), Some("other"), &S3Options::default()).unwrap();
    assert!(other.list().unwrap().is_empty());
}

#[test]
fn local_registry_concurrent_threads_get_distinct_versions() {
    let fx = Fixture::new();
    let model = fx.model(3, 0);
    let dir = fx.path().join("registry");
    let per_thread = 8;
    let versions: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    // Each thread opens its own handle, as a process would.
                    let reg = local(&dir);
                    (0..per_thread)
                        .map(|_| register_bytes(&reg, &model, 0.9, 0.9).unwrap().version)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut sorted = versions.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=2 * per_thread as u64).collect::<Vec<_>>());
    // Each thread saw its own versions increase.
    for chunk in versions.chunks(per_thread) {
        assert!(chunk.windows(2).all(|w| w[0] < w[1]), "{chunk:?}");
    }
    assert_eq!(local(&dir).list().unwrap().len(), 2 * per_thread);
}

#[test]
fn register_from_concurrent_processes_gets_distinct_versions() {
    let fx = Fixture::new();
    let model = fx.model_file("m.forest", 3, 0);
    let metrics = write_file(
        fx.path(),
        "metrics.json",
        &metrics_for(&std::fs::read(&model).unwrap(), 0.9, 0.9),
    );
    let registry = fx.path().join("registry");
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_forest-train"))
                .args([
                    OsStr::new("register"),
                    "--model".as_ref(),
                    model.as_os_str(),
                ])
                .args(["--metrics".as_ref(), metrics.as_os_str()])
                .args(["--registry".as_ref(), registry.as_os_str()])
                .arg("--json")
                .env_remove("FOREST_REGISTRY")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut versions: Vec<u64> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert_ok(&out, "register");
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            v["version"].as_u64().unwrap()
        })
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, [1, 2, 3, 4]);
}

#[test]
fn cli_local_registry_workflow() {
    let fx = Fixture::new();
    let model = fx.model_file("model.forest", 20, 0);
    let sha = artifact::content_hash(&std::fs::read(&model).unwrap());
    let gold = fx.gold();
    let registry = fx.path().join("registry");
    let lake = fx.lake();
    let reg = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        v.extend(["--registry".into(), registry.display().to_string()]);
        v
    };

    // Without metrics, register says how to get them.
    let out = forest_train(
        [
            vec![
                "register".into(),
                "--model".into(),
                model.display().to_string(),
            ],
            reg(&[]),
        ]
        .concat(),
        &[],
    );
    assert_fails(&out, "register without metrics", "eval --model");

    // eval --report writes MODEL.report/metrics.json, which register finds.
    let report = fx.path().join("model.report");
    let out = forest_train(
        [
            "eval",
            "--model",
            model.to_str().unwrap(),
            "--data",
            gold.to_str().unwrap(),
            "--split",
            "test",
            "--report",
            report.to_str().unwrap(),
        ],
        &[],
    );
    assert_ok(&out, "eval --report");
    let out = forest_train(
        [
            vec![
                "register".into(),
                "--model".into(),
                model.display().to_string(),
                "--lake".into(),
                lake.display().to_string(),
                "--min-accuracy".into(),
                "0".into(),
                "--min-macro-f1".into(),
                "0".into(),
                "--by".into(),
                "carol".into(),
            ],
            reg(&[]),
        ]
        .concat(),
        &[],
    );
    assert_ok(&out, "register (passing)");
    let text = stdout(&out);
    assert!(text.contains("version 1: PendingManualApproval"), "{text}");
    assert!(text.contains("quality gates passed"), "{text}");
    assert!(text.contains("model.report/metrics.json"), "{text}");
    // The artifact is in the lake by content hash.
    assert_eq!(
        std::fs::read(lake.join(format!("artifacts/{sha}.forest"))).unwrap(),
        std::fs::read(&model).unwrap()
    );

    // The same model against strict gates, evaluated on the fly: rejected.
    let out = forest_train(
        [
            vec![
                "register".into(),
                "--model".into(),
                model.display().to_string(),
                "--data".into(),
                gold.display().to_string(),
                "--split".into(),
                "val".into(),
                "--min-accuracy".into(),
                "0.999".into(),
            ],
            reg(&[]),
        ]
        .concat(),
        &[],
    );
    assert_ok(&out, "register (failing the gates)");
    let text = stdout(&out);
    assert!(text.contains("version 2: Rejected"), "{text}");
    assert!(
        text.contains("accuracy") && text.contains("< 0.999"),
        "{text}"
    );

    let out = forest_train([reg(&["approve", "2"])].concat(), &[]);
    assert_fails(&out, "approving a rejected version", "cannot be approved");
    let out = forest_train(
        [
            reg(&["pull", "--approved"]),
            vec![
                "--out".into(),
                fx.path().join("none.forest").display().to_string(),
            ],
        ]
        .concat(),
        &[],
    );
    assert_fails(&out, "pull with nothing approved", "no approved version");
    let out = forest_train([reg(&["approve", "1", "--by", "dave"])].concat(), &[]);
    assert_ok(&out, "approve");
    assert!(stdout(&out).contains("Approved"), "{}", stdout(&out));

    let out = forest_train([reg(&["list"])].concat(), &[]);
    assert_ok(&out, "list");
    let text = stdout(&out);
    assert!(text.contains("2 version(s)"), "{text}");
    assert!(
        text.contains("Approved") && text.contains("Rejected"),
        "{text}"
    );
    let out = forest_train([reg(&["show", "2"])].concat(), &[]);
    assert_ok(&out, "show");
    let text = stdout(&out);
    assert!(
        text.contains("quality-gate") && text.contains("quality gates failed"),
        "{text}"
    );
    let out = forest_train([reg(&["show", "1", "--json"])].concat(), &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["history"][0]["by"], "carol");
    assert_eq!(v["history"][1]["by"], "dave");
    assert_eq!(v["sha256"], sha.as_str());

    let pulled = fx.path().join("out/approved.forest");
    let out = forest_train(
        [
            reg(&["pull", "--approved"]),
            vec!["--out".into(), pulled.display().to_string()],
        ]
        .concat(),
        &[],
    );
    assert_ok(&out, "pull --approved");
    assert!(stdout(&out).contains(&sha), "{}", stdout(&out));
    assert_eq!(
        std::fs::read(&pulled).unwrap(),
        std::fs::read(&model).unwrap()
    );
    let out = forest_train(
        [
            reg(&["pull", "--version", "2"]),
            vec!["--out".into(), pulled.display().to_string()],
        ]
        .concat(),
        &[],
    );
    assert_fails(&out, "pulling a rejected version", "not Approved");
    let out = forest_train([reg(&["reject", "1"])].concat(), &[]);
    assert_fails(&out, "reject without a reason", "--reason");
}
