//! The SageMaker Model Registry backend against moto's server on loopback:
//! artifacts uploaded to S3 by content hash, a passing and a failing model
//! registered, approve, reject, latest approved, pull with the sha256
//! checked; and a dead endpoint failing fast and clearly.

use std::time::{Duration, Instant};

use forest_core::artifact;
use forest_train::lake::{Lake, S3Options};
use forest_train::registry::{Registry, RegistryError, Status};

use crate::moto::{free_port, Moto};
use crate::registry::{assert_fails, assert_ok, forest_train, stdout, Fixture};

const GROUP: &str = "forest-price-sensitivity";
const LAKE: &str = "s3://forest-lake/lake";

fn options(endpoint: &str) -> S3Options {
    S3Options {
        endpoint_url: Some(endpoint.to_string()),
        region: Some("us-east-1".into()),
        credentials: Some(("testing".into(), "testing".into())),
    }
}

fn aws_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

#[test]
fn sagemaker_registry_register_approve_reject_pull() {
    let moto = Moto::start();
    let fx = Fixture::new();
    let lake = Lake::open(LAKE, &options(&moto.endpoint)).unwrap();
    lake.create_bucket_if_missing().unwrap();
    let env_owned = aws_env(&moto.endpoint);
    let env: Vec<(&str, &str)> = env_owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let registry = format!("sagemaker:{GROUP}");
    let gold = fx.gold().display().to_string();
    let run = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--registry", &registry]);
        forest_train(all, &env)
    };
    let register = |model: &std::path::Path, min_accuracy: &str| {
        run(&[
            "register",
            "--model",
            model.to_str().unwrap(),
            "--lake",
            LAKE,
            "--data",
            &gold,
            "--split",
            "test",
            "--min-accuracy",
            min_accuracy,
            "--min-macro-f1",
            "0",
            "--image",
            "111122223333.dkr.ecr.us-east-1.amazonaws.com/forest-serve:test",
        ])
    };
    let a = fx.model_file("a.forest", 20, 0);
    let b = fx.model_file("b.forest", 20, 1);
    let c = fx.model_file("c.forest", 20, 2);
    let sha_a = artifact::content_hash(&std::fs::read(&a).unwrap());

    // A passing model (gates lowered) and a failing one (gates raised).
    let out = register(&a, "0");
    assert_ok(&out, "register a");
    let text = stdout(&out);
    assert!(text.contains("version 1: PendingManualApproval"), "{text}");
    assert!(
        text.contains(&format!("{LAKE}/artifacts/{sha_a}.forest")),
        "{text}"
    );
    assert!(
        lake.get(&format!("artifacts/{sha_a}.forest")).unwrap() == std::fs::read(&a).unwrap(),
        "the artifact is in S3 under its sha256"
    );
    assert_eq!(lake.list("artifacts/metrics/").unwrap().len(), 1);
    let out = register(&b, "0.999");
    assert_ok(&out, "register b");
    let text = stdout(&out);
    assert!(text.contains("version 2: Rejected"), "{text}");

    // The library view of the same registry.
    let reg = Registry::open(&registry, None, &options(&moto.endpoint)).unwrap();
    let v2 = reg.get(2).unwrap();
    assert_eq!(v2.status, Status::Rejected);
    let reason = v2
        .history
        .last()
        .unwrap()
        .reason
        .clone()
        .unwrap_or_default();
    assert!(reason.contains("quality gates failed"), "{reason}");
    assert!(v2.arn.as_deref().unwrap().contains("model-package/"));
    let v1 = reg.get(1).unwrap();
    assert_eq!(v1.sha256.as_deref(), Some(sha_a.as_str()));
    assert_eq!(v1.artifact, format!("{LAKE}/artifacts/{sha_a}.forest"));

    let out = run(&["approve", "2"]);
    assert_fails(&out, "approve a rejected version", "cannot be approved");
    let pulled = fx.path().join("pulled/approved.forest");
    let out = run(&["pull", "--approved", "--out", pulled.to_str().unwrap()]);
    assert_fails(&out, "pull with nothing approved", "no approved version");

    let out = run(&["approve", "1", "--reason", "holdout ok"]);
    assert_ok(&out, "approve 1");
    assert_eq!(reg.latest_approved().unwrap().version, 1);
    let out = register(&c, "0");
    assert_ok(&out, "register c");
    assert!(stdout(&out).contains("version 3"), "{}", stdout(&out));
    assert_ok(&run(&["approve", "3"]), "approve 3");
    assert_eq!(reg.latest_approved().unwrap().version, 3);
    let out = run(&["reject", "3", "--reason", "drift on the new weeks"]);
    assert_ok(&out, "reject 3");
    let v3 = reg.get(3).unwrap();
    assert_eq!(v3.status, Status::Rejected);
    assert_eq!(
        v3.history.last().unwrap().reason.as_deref(),
        Some("drift on the new weeks")
    );
    // Latest approved = ListModelPackages(Approved, CreationTime, Descending).
    assert_eq!(reg.latest_approved().unwrap().version, 1);

    let out = run(&["list"]);
    assert_ok(&out, "list");
    let text = stdout(&out);
    assert!(text.contains("3 version(s)"), "{text}");
    let out = run(&["show", "1"]);
    assert_ok(&out, "show");
    assert!(stdout(&out).contains(&sha_a), "{}", stdout(&out));

    // Pull: the approved artifact, sha256 equal.
    let out = run(&["pull", "--approved", "--out", pulled.to_str().unwrap()]);
    assert_ok(&out, "pull --approved");
    assert!(stdout(&out).contains("version 1"), "{}", stdout(&out));
    let bytes = std::fs::read(&pulled).unwrap();
    assert_eq!(artifact::content_hash(&bytes), sha_a);
    assert_eq!(bytes, std::fs::read(&a).unwrap());

    // Bytes in S3 that do not match their key are refused.
    lake.put(
        &format!("artifacts/{sha_a}.forest"),
        &std::fs::read(&b).unwrap(),
    )
    .unwrap();
    let err = reg.fetch(&reg.latest_approved().unwrap()).unwrap_err();
    assert!(matches!(err, RegistryError::Integrity { .. }), "{err}");
    let out = run(&["pull", "--approved", "--out", pulled.to_str().unwrap()]);
    assert_fails(
        &out,
        "pull of a tampered artifact",
        "integrity check failed",
    );
    assert_eq!(
        std::fs::read(&pulled).unwrap(),
        std::fs::read(&a).unwrap(),
        "a failed pull leaves the previous file alone"
    );

    // SageMaker needs the artifact in S3.
    let out = run(&["register", "--model", a.to_str().unwrap(), "--data", &gold]);
    assert_fails(&out, "register to SageMaker without a lake", "--lake s3://");
}

#[test]
fn sagemaker_registry_dead_endpoint_fails_fast_and_clearly() {
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let reg = Registry::open(&format!("sagemaker:{GROUP}"), None, &options(&endpoint)).unwrap();
    let start = Instant::now();
    let err = reg.list().unwrap_err();
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}: {err}");
    let message = err.to_string();
    assert!(message.contains("ListModelPackages"), "{message}");
    assert!(message.contains(GROUP), "{message}");
    assert!(message.contains(&endpoint), "{message}");

    let env_owned = aws_env(&endpoint);
    let env: Vec<(&str, &str)> = env_owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let start = Instant::now();
    let out = forest_train(
        ["approve", "1", "--registry", &format!("sagemaker:{GROUP}")],
        &env,
    );
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
    assert_fails(&out, "approve with the endpoint down", "ListModelPackages");
}
