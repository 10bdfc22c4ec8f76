//! The model registry: which models exist, which one is approved for
//! serving, and who decided. One interface, two backends:
//!
//! * [`local`]: a directory, `REG/<group>/<version>/` holding `model.forest`,
//!   `metrics.json` and `status.json` (status and history). The embedded
//!   default; needs no cloud.
//! * [`sagemaker`]: SageMaker Model Registry, `sagemaker:<ModelPackageGroup>`.
//!   Versions are model packages; the artifact lives in the lake's
//!   `artifacts/<sha256>.forest`, which the package's `ModelDataUrl` names.
//!
//! A version starts as [`Status::PendingManualApproval`]; a person approves
//! or rejects it. [`register`] applies the quality [`Gates`] first: a model
//! whose metrics miss them is registered and immediately rejected with the
//! reason, so it is on record but can never be approved.
//!
//! Artifacts are addressed by their SHA-256 in the lake, and every download
//! ([`Registry::fetch`]) checks the bytes against it, whatever the backend
//! reports (moto's DescribeModelPackage, for one, drops
//! CustomerMetadataProperties, so the hash in the artifact key is what
//! counts).

pub mod local;
#[cfg(feature = "aws")]
pub mod sagemaker;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::lake::{Lake, LakeError, S3Options};
pub use local::LocalRegistry;
#[cfg(feature = "aws")]
pub use sagemaker::SageMakerRegistry;

/// Who rejects a version that misses the quality gates, in its history.
pub const QUALITY_GATE: &str = "quality-gate";

/// The group a local registry uses when none is given.
pub const DEFAULT_GROUP: &str = "price-sensitivity";

/// The lake key of an artifact: `artifacts/<sha256>.forest`.
pub fn artifact_key(sha256: &str) -> String {
    format!("artifacts/{sha256}.forest")
}

/// The lake key of a metrics document, addressed by its own hash.
pub fn metrics_key(metrics_sha256: &str) -> String {
    format!("artifacts/metrics/{metrics_sha256}.json")
}

/// The SHA-256 that an artifact key or URL carries (`.../<64 hex>.forest`).
pub fn sha256_from_key(key: &str) -> Option<String> {
    let name = key.rsplit('/').next()?;
    let hash = name.strip_suffix(".forest")?;
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hash.to_ascii_lowercase())
}

/// Where a model version stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Registered and waiting for a person to approve or reject it.
    PendingManualApproval,
    /// Approved for serving.
    Approved,
    /// Rejected, by a person or by the quality gates; it can never be
    /// approved.
    Rejected,
}

impl Status {
    /// SageMaker's spelling, which the local registry uses too.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::PendingManualApproval => "PendingManualApproval",
            Status::Approved => "Approved",
            Status::Rejected => "Rejected",
        }
    }

    /// Reads SageMaker's spelling back; `None` for anything else.
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "PendingManualApproval" => Some(Status::PendingManualApproval),
            "Approved" => Some(Status::Approved),
            "Rejected" => Some(Status::Rejected),
            _ => None,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a version's status history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    /// The status the version moved to.
    pub status: Status,
    /// RFC 3339 UTC.
    pub at: String,
    /// Who made the change (a user name, an IAM identity, `quality-gate`).
    pub by: String,
    /// Why, when a reason was given (a rejection always has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A registered model version as a backend reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelVersion {
    /// The model group (local) or ModelPackageGroup (SageMaker).
    pub group: String,
    /// The version number within the group: 1, 2, ... in creation order.
    pub version: u64,
    /// The current status (the last entry of `history`).
    pub status: Status,
    /// SHA-256 of the artifact bytes; `None` only in SageMaker listings,
    /// which do not describe each package.
    pub sha256: Option<String>,
    /// Where the artifact is: a path (local) or an `s3://` URL.
    pub artifact: String,
    /// The gated metrics and provenance recorded at registration
    /// (accuracy, macro_f1, ...). May be empty when a backend does not
    /// return them.
    #[serde(default)]
    pub metrics: BTreeMap<String, String>,
    /// One line about the model: its trees, label, classes and training
    /// data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// Oldest first; the last entry is the current status.
    pub history: Vec<StatusChange>,
    /// The model package ARN (SageMaker only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
}

/// What a backend needs to record a new version. The artifact is already
/// in the lake when a lake is used (SageMaker always uses one).
pub struct NewVersion<'a> {
    /// The `.forest` artifact bytes.
    pub artifact: &'a [u8],
    /// SHA-256 (hex) of `artifact`.
    pub sha256: &'a str,
    /// The evaluation's `metrics.json`.
    pub metrics_json: &'a [u8],
    /// The figures to keep with the version (gated metrics, provenance).
    pub metrics: BTreeMap<String, String>,
    /// One line about the model, at most 1000 characters.
    pub description: String,
    /// Who registers it, for the history.
    pub by: &'a str,
    /// `s3://` URL of the artifact in the lake (required by SageMaker).
    pub artifact_url: Option<String>,
    /// `s3://` URL of `metrics.json` in the lake.
    pub metrics_url: Option<String>,
    /// Set when the quality gates failed: the version is created already
    /// rejected with this reason, so it is never approvable, not even for
    /// a moment.
    pub rejected: Option<String>,
}

/// Why a registry operation failed.
#[derive(Debug, Error)]
pub enum RegistryError {
    /// The registry location or its group name is not usable.
    #[error("invalid registry {spec:?}: {reason}")]
    InvalidSpec {
        /// The registry as given: a directory or `sagemaker:<group>`.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The group has no such version (or its registration has not finished).
    #[error("{registry}: no version {version}")]
    NoSuchVersion {
        /// The registry, as [`Registry::describe`] names it.
        registry: String,
        /// The version asked for.
        version: u64,
    },
    /// No version of the group is approved.
    #[error("{registry}: no approved version")]
    NoApprovedVersion {
        /// The registry, as [`Registry::describe`] names it.
        registry: String,
    },
    /// A status change that is not allowed: approving a rejected version, or
    /// going back to PendingManualApproval.
    #[error("{registry} version {version}: {message}")]
    Transition {
        /// The registry, as [`Registry::describe`] names it.
        registry: String,
        /// The version whose status was to change.
        version: u64,
        /// Why the change is refused, and what to do instead.
        message: String,
    },
    /// A file of a local registry could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file or directory involved.
        path: String,
        /// What the operating system reported.
        error: std::io::Error,
    },
    /// A local registry file does not hold what it should.
    #[error("{path}: {message}")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// An artifact does not have the SHA-256 recorded for it.
    #[error("integrity check failed for {url}: expected sha256 {expected}, got {actual}")]
    Integrity {
        /// Where the artifact is.
        url: String,
        /// The SHA-256 (hex) the version records.
        expected: String,
        /// The SHA-256 (hex) found: of the bytes read, or the one the
        /// artifact's key names.
        actual: String,
    },
    /// A SageMaker request failed (with the `aws` feature).
    #[cfg(feature = "aws")]
    #[error(transparent)]
    SageMaker(#[from] crate::sagemaker::SageMakerError),
    /// Reading or writing an artifact or metrics document in the lake failed.
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// Anything else: a model that does not load, metrics that are not its
    /// own, a rejection without a reason, ...
    #[error("{0}")]
    Invalid(String),
}

/// A registry on one of the two backends.
#[derive(Debug)]
pub enum Registry {
    /// A local directory.
    Local(LocalRegistry),
    /// SageMaker Model Registry (with the `aws` feature). Boxed: the client
    /// and its runtime are large.
    #[cfg(feature = "aws")]
    SageMaker(Box<SageMakerRegistry>),
}

impl Registry {
    /// `sagemaker:<ModelPackageGroupName>` or a directory (the model group
    /// inside it is `group`, [`DEFAULT_GROUP`] when `None`). SageMaker makes
    /// no request until first use.
    pub fn open(
        spec: &str,
        group: Option<&str>,
        options: &S3Options,
    ) -> Result<Registry, RegistryError> {
        if let Some(name) = spec.strip_prefix("sagemaker:") {
            if group.is_some_and(|g| g != name) {
                return Err(RegistryError::InvalidSpec {
                    spec: spec.into(),
                    reason: "a SageMaker registry names its group after 'sagemaker:'; \
                             --group is for local registries"
                        .into(),
                });
            }
            #[cfg(feature = "aws")]
            return Ok(Registry::SageMaker(Box::new(SageMakerRegistry::open(
                name, options,
            )?)));
            #[cfg(not(feature = "aws"))]
            return Err(RegistryError::InvalidSpec {
                spec: spec.into(),
                reason: format!(
                    "this forest-train was built without SageMaker support (cargo feature \
                     `aws`); rebuild it with default features to use group {name}{}",
                    if options.endpoint_url.is_some() {
                        " at --endpoint-url"
                    } else {
                        ""
                    }
                ),
            });
        }
        if spec.contains("://") {
            return Err(RegistryError::InvalidSpec {
                spec: spec.into(),
                reason: "expected a directory or sagemaker:<ModelPackageGroupName>".into(),
            });
        }
        Ok(Registry::Local(LocalRegistry::open(
            spec,
            group.unwrap_or(DEFAULT_GROUP),
        )?))
    }

    /// A name for messages: the group's directory or `sagemaker:<group>`.
    pub fn describe(&self) -> String {
        match self {
            Registry::Local(r) => r.describe(),
            #[cfg(feature = "aws")]
            Registry::SageMaker(r) => r.describe(),
        }
    }

    /// The inference image new SageMaker versions name; a local registry
    /// has no use for it.
    #[cfg_attr(not(feature = "aws"), allow(unused_variables))]
    pub fn set_inference_image(&mut self, image: &str) {
        match self {
            Registry::Local(_) => {}
            #[cfg(feature = "aws")]
            Registry::SageMaker(r) => r.set_image(image),
        }
    }

    /// Whether artifacts must be in an S3 lake (SageMaker's ModelDataUrl).
    pub fn needs_s3_lake(&self) -> bool {
        !matches!(self, Registry::Local(_))
    }

    /// Records a new version as PendingManualApproval (or Rejected, see
    /// [`NewVersion::rejected`]).
    pub fn create(&self, new: &NewVersion) -> Result<ModelVersion, RegistryError> {
        match self {
            Registry::Local(r) => r.create(new),
            #[cfg(feature = "aws")]
            Registry::SageMaker(r) => r.create(new),
        }
    }

    /// The version numbered `version`; [`RegistryError::NoSuchVersion`] if
    /// there is none.
    pub fn get(&self, version: u64) -> Result<ModelVersion, RegistryError> {
        match self {
            Registry::Local(r) => r.get(version),
            #[cfg(feature = "aws")]
            Registry::SageMaker(r) => r.get(version),
        }
    }

    /// Every version, oldest first.
    pub fn list(&self) -> Result<Vec<ModelVersion>, RegistryError> {
        match self {
            Registry::Local(r) => r.list(),
            #[cfg(feature = "aws")]
            Registry::SageMaker(r) => r.list(),
        }
    }

    /// The most recently created approved version.
    pub fn latest_approved(&self) -> Result<ModelVersion, RegistryError> {
        let latest = match self {
            Registry::Local(r) => r.latest_approved()?,
            #[cfg(feature = "aws")]
            Registry::SageMaker(r) => r.latest_approved()?,
        };
        latest.ok_or_else(|| RegistryError::NoApprovedVersion {
            registry: self.describe(),
        })
    }

    /// Approves a pending version. A rejected version cannot be approved
    /// (register the model again instead); approving an approved one
    /// changes nothing.
    pub fn approve(
        &self,
        version: u64,
        reason: Option<&str>,
        by: &str,
    ) -> Result<ModelVersion, RegistryError> {
        self.set_status(version, Status::Approved, reason, by)
    }

    /// Rejects a pending or approved version (revoking an approval) with a
    /// reason; rejecting a rejected one changes nothing.
    pub fn reject(
        &self,
        version: u64,
        reason: &str,
        by: &str,
    ) -> Result<ModelVersion, RegistryError> {
        if reason.trim().is_empty() {
            return Err(RegistryError::Invalid("a rejection needs a reason".into()));
        }
        self.set_status(version, Status::Rejected, Some(reason), by)
    }

    fn set_status(
        &self,
        version: u64,
        status: Status,
        reason: Option<&str>,
        by: &str,
    ) -> Result<ModelVersion, RegistryError> {
        match self {
            Registry::Local(r) => r.set_status(version, status, reason, by),
            #[cfg(feature = "aws")]
            Registry::SageMaker(r) => r.set_status(version, status, reason),
        }
    }

    /// The artifact bytes of `version`, checked against its SHA-256.
    pub fn fetch(&self, version: &ModelVersion) -> Result<Vec<u8>, RegistryError> {
        match self {
            Registry::Local(r) => r.fetch(version),
            #[cfg(feature = "aws")]
            Registry::SageMaker(r) => r.fetch(version),
        }
    }
}

/// Whether `current` may move to `to`: `Ok(true)` to go ahead, `Ok(false)`
/// when it is there already, an error for a rejected version that someone
/// tries to approve. Backends call it on the status they just read (the
/// local one under the version's lock).
pub(crate) fn check_transition(
    registry: &str,
    current: &ModelVersion,
    to: Status,
) -> Result<bool, RegistryError> {
    if current.status == to {
        return Ok(false);
    }
    if current.status == Status::Rejected && to == Status::Approved {
        let reason = current
            .history
            .last()
            .and_then(|c| c.reason.as_deref())
            .unwrap_or("no reason given");
        return Err(RegistryError::Transition {
            registry: registry.to_string(),
            version: current.version,
            message: format!(
                "was rejected ({reason}); a rejected version cannot be approved, register the model again"
            ),
        });
    }
    if to == Status::PendingManualApproval {
        return Err(RegistryError::Transition {
            registry: registry.to_string(),
            version: current.version,
            message: "a version cannot go back to PendingManualApproval".into(),
        });
    }
    Ok(true)
}

/// Checks that `bytes` hash to `expected`.
pub fn verify_sha256(url: &str, bytes: &[u8], expected: &str) -> Result<(), RegistryError> {
    let actual = forest_core::artifact::content_hash(bytes);
    if actual != expected.to_ascii_lowercase() {
        return Err(RegistryError::Integrity {
            url: url.to_string(),
            expected: expected.to_string(),
            actual,
        });
    }
    Ok(())
}

/// The quality bar a model must clear to be approvable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gates {
    /// Lowest accuracy (0..=1) that passes; 0.80 by default.
    pub min_accuracy: f64,
    /// Lowest macro-averaged F1 (0..=1) that passes; 0.70 by default.
    pub min_macro_f1: f64,
}

impl Default for Gates {
    fn default() -> Self {
        Gates {
            min_accuracy: 0.80,
            min_macro_f1: 0.70,
        }
    }
}

/// What the gates said.
#[derive(Debug, Clone, PartialEq)]
pub struct GateOutcome {
    /// Whether every figure reached its bar.
    pub passed: bool,
    /// The accuracy read from the metrics.
    pub accuracy: f64,
    /// The macro-F1 read from the metrics.
    pub macro_f1: f64,
    /// One line naming every figure against its bar.
    pub summary: String,
}

impl Gates {
    /// Reads `accuracy` and `macro_f1` from an evaluation `metrics.json`
    /// (what `eval --report` and the training container write) and checks them.
    pub fn check(&self, metrics: &serde_json::Value) -> Result<GateOutcome, RegistryError> {
        let figure = |name: &str| {
            metrics
                .get(name)
                .and_then(serde_json::Value::as_f64)
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    RegistryError::Invalid(format!(
                        "the metrics have no number '{name}'; expected an evaluation metrics.json \
                         (forest-train eval --report DIR)"
                    ))
                })
        };
        let accuracy = figure("accuracy")?;
        let macro_f1 = figure("macro_f1")?;
        let mut failed = Vec::new();
        let mut passed = Vec::new();
        for (name, value, bar) in [
            ("accuracy", accuracy, self.min_accuracy),
            ("macro-F1", macro_f1, self.min_macro_f1),
        ] {
            if value >= bar {
                passed.push(format!("{name} {value:.4} >= {bar}"));
            } else {
                failed.push(format!("{name} {value:.4} < {bar}"));
            }
        }
        let ok = failed.is_empty();
        let summary = if ok {
            format!("quality gates passed: {}", passed.join(", "))
        } else {
            format!("quality gates failed: {}", failed.join(", "))
        };
        Ok(GateOutcome {
            passed: ok,
            accuracy,
            macro_f1,
            summary,
        })
    }
}

/// Who is acting, for the status history: `FOREST_USER`, `USER` or
/// `USERNAME`, else `unknown`.
pub fn default_actor() -> String {
    ["FOREST_USER", "USER", "USERNAME"]
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

/// What [`register`] needs beside the registry.
pub struct Registration<'a> {
    /// The `.forest` artifact bytes to register.
    pub artifact: &'a [u8],
    /// The evaluation's `metrics.json` for this model; its `model.sha256`,
    /// when present, must be the artifact's.
    pub metrics_json: &'a [u8],
    /// The bar the metrics must reach for the version to be approvable.
    pub gates: Gates,
    /// Who registers it, for the history.
    pub by: &'a str,
    /// Where artifacts go, addressed by hash (required for SageMaker, which
    /// needs an `s3://` lake).
    pub lake: Option<&'a Lake>,
}

/// The outcome of [`register`].
pub struct Registered {
    /// The version as created (already rejected if the gates failed).
    pub version: ModelVersion,
    /// What the gates said.
    pub gates: GateOutcome,
}

/// Registers a model: checks the artifact decodes and the metrics belong
/// to it, uploads both to the lake's `artifacts/` by content hash, creates
/// the version (PendingManualApproval) and, when the gates fail, rejects it
/// at once with the reason.
pub fn register(registry: &Registry, r: &Registration) -> Result<Registered, RegistryError> {
    let model = forest_core::artifact::decode(r.artifact)
        .map_err(|e| RegistryError::Invalid(format!("the model does not load: {e}")))?;
    let sha256 = forest_core::artifact::content_hash(r.artifact);
    let metrics: serde_json::Value = serde_json::from_slice(r.metrics_json)
        .map_err(|e| RegistryError::Invalid(format!("the metrics are not JSON: {e}")))?;
    if let Some(claimed) = metrics
        .pointer("/model/sha256")
        .and_then(serde_json::Value::as_str)
    {
        if claimed != sha256 {
            return Err(RegistryError::Invalid(format!(
                "the metrics are for model sha256 {claimed}, not for this model ({sha256}); \
                 evaluate this model (forest-train eval --report DIR) and register with those metrics"
            )));
        }
    }
    let gates = r.gates.check(&metrics)?;
    if registry.needs_s3_lake() && !r.lake.is_some_and(Lake::is_s3) {
        return Err(RegistryError::Invalid(
            "a SageMaker registry needs the artifact in S3: give --lake s3://bucket/prefix".into(),
        ));
    }

    let (artifact_url, metrics_url) = match r.lake {
        Some(lake) => {
            let key = artifact_key(&sha256);
            if !lake.exists(&key)? {
                lake.put(&key, r.artifact)?;
            }
            let mkey = metrics_key(&forest_core::artifact::content_hash(r.metrics_json));
            lake.put(&mkey, r.metrics_json)?;
            (Some(lake.url(&key)), Some(lake.url(&mkey)))
        }
        None => (None, None),
    };

    let mut figures = BTreeMap::new();
    figures.insert("sha256".to_string(), sha256.clone());
    figures.insert("accuracy".into(), format!("{:.6}", gates.accuracy));
    figures.insert("macro_f1".into(), format!("{:.6}", gates.macro_f1));
    for name in ["weighted_f1", "log_loss", "rows"] {
        if let Some(v) = metrics.get(name).filter(|v| v.is_number()) {
            figures.insert(name.into(), v.to_string());
        }
    }
    if let Some(data) = metrics.get("data").and_then(serde_json::Value::as_str) {
        figures.insert("evaluated_on".into(), data.chars().take(250).collect());
    }
    figures.insert("trees".into(), model.forest.n_trees().to_string());
    figures.insert(
        "training_fingerprint".into(),
        model.meta.training.fingerprint.clone(),
    );
    figures.insert("trainer".into(), model.meta.trainer.clone());
    if let Some(rev) = &model.meta.git_revision {
        figures.insert("git_revision".into(), rev.clone());
    }
    let description = format!(
        "{} trees predicting {} ({}), trained on {} rows of {}",
        model.forest.n_trees(),
        model.meta.label,
        model.meta.classes.join("/"),
        model.meta.training.rows,
        model.meta.training.source
    );
    let new = NewVersion {
        artifact: r.artifact,
        sha256: &sha256,
        metrics_json: r.metrics_json,
        metrics: figures,
        description: description.chars().take(1000).collect(),
        by: r.by,
        artifact_url,
        metrics_url,
        rejected: (!gates.passed).then(|| gates.summary.clone()),
    };
    let version = registry.create(&new)?;
    Ok(Registered { version, gates })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha_is_read_from_artifact_keys() {
        let sha = "ab".repeat(32);
        assert_eq!(
            sha256_from_key(&format!("s3://b/lake/artifacts/{sha}.forest")),
            Some(sha.clone())
        );
        assert_eq!(sha256_from_key(&format!("artifacts/{sha}.json")), None);
        assert_eq!(sha256_from_key("artifacts/abc.forest"), None);
    }

    #[test]
    fn gates_name_every_failure() {
        let gates = Gates::default();
        let ok = gates
            .check(&serde_json::json!({"accuracy": 0.85, "macro_f1": 0.8}))
            .unwrap();
        assert!(ok.passed, "{}", ok.summary);
        let bad = gates
            .check(&serde_json::json!({"accuracy": 0.75, "macro_f1": 0.6}))
            .unwrap();
        assert!(!bad.passed);
        assert!(
            bad.summary.contains("accuracy 0.7500 < 0.8"),
            "{}",
            bad.summary
        );
        assert!(
            bad.summary.contains("macro-F1 0.6000 < 0.7"),
            "{}",
            bad.summary
        );
        let err = gates
            .check(&serde_json::json!({"accuracy": 0.9}))
            .unwrap_err();
        assert!(err.to_string().contains("macro_f1"), "{err}");
    }

    #[test]
    fn registry_specs_are_checked() {
        let err = Registry::open("s3://bucket/reg", None, &S3Options::default()).unwrap_err();
        assert!(matches!(err, RegistryError::InvalidSpec { .. }), "{err}");
        let err = Registry::open("sagemaker:a", Some("b"), &S3Options::default()).unwrap_err();
        assert!(err.to_string().contains("--group"), "{err}");
    }
}
