//! The local registry: a directory per model group, a directory per
//! version.
//!
//! ```text
//! REG/<group>/<version>/model.forest    the artifact
//!                       metrics.json    the evaluation it was registered with
//!                       status.json     the version record: status, history, sha256, figures
//! ```
//!
//! * Versions are allocated by creating the directory of the next number
//!   (`create_dir` is atomic: of two processes racing for the same number
//!   one gets `AlreadyExists` and tries the next), so they are unique and
//!   increasing, also across processes.
//! * Every file is written to a temporary name, synced and renamed into
//!   place, and `status.json` is written last: a version without it is a
//!   registration in progress (or one that crashed) and is not listed.
//! * Status changes read, update and rewrite `status.json` under an
//!   exclusive lock on the version's `.lock` file, so two people approving
//!   and rejecting at once cannot lose one of the two history entries.

use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::{ModelVersion, NewVersion, RegistryError, Status, StatusChange, QUALITY_GATE};
use crate::fsutil::{now_rfc3339, write_atomically};

/// The artifact's file name in a version directory.
pub const MODEL_FILE: &str = "model.forest";
/// The file name of the evaluation the version was registered with.
pub const METRICS_FILE: &str = "metrics.json";
/// The file name of the version record (status, history, sha256, figures);
/// written last, so a version without it is not listed.
pub const STATUS_FILE: &str = "status.json";
const LOCK_FILE: &str = ".lock";

/// A model group in a local registry directory.
#[derive(Debug)]
pub struct LocalRegistry {
    root: PathBuf,
    group: String,
}

impl LocalRegistry {
    /// Opens `root/<group>`; directories are created on first registration.
    pub fn open(root: &str, group: &str) -> Result<Self, RegistryError> {
        let invalid = |reason: &str| RegistryError::InvalidSpec {
            spec: root.to_string(),
            reason: reason.to_string(),
        };
        if root.is_empty() {
            return Err(invalid("empty path"));
        }
        let group_ok = !group.is_empty()
            && group.len() <= 63
            && group
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            && !group.starts_with('.');
        if !group_ok {
            return Err(invalid(&format!(
                "group {group:?}: use 1-63 letters, digits, '-', '_' or '.', not starting with '.'"
            )));
        }
        Ok(LocalRegistry {
            root: PathBuf::from(root),
            group: group.to_string(),
        })
    }

    /// The group's directory, for messages.
    pub fn describe(&self) -> String {
        self.group_dir().display().to_string()
    }

    fn group_dir(&self) -> PathBuf {
        self.root.join(&self.group)
    }

    /// The directory of `version`.
    pub fn version_dir(&self, version: u64) -> PathBuf {
        self.group_dir().join(version.to_string())
    }

    fn io(path: &Path, error: std::io::Error) -> RegistryError {
        RegistryError::Io {
            path: path.display().to_string(),
            error,
        }
    }

    /// Version numbers that have a directory, complete or not.
    fn allocated(&self) -> Result<Vec<u64>, RegistryError> {
        let dir = self.group_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Self::io(&dir, e)),
        };
        let mut versions = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Self::io(&dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            // Canonical decimal only: "007" is not version 7.
            if let Ok(v) = name.parse::<u64>() {
                if v > 0 && v.to_string() == name {
                    versions.push(v);
                }
            }
        }
        versions.sort_unstable();
        Ok(versions)
    }

    /// Claims the next free version number by creating its directory.
    fn allocate(&self) -> Result<u64, RegistryError> {
        let dir = self.group_dir();
        fs::create_dir_all(&dir).map_err(|e| Self::io(&dir, e))?;
        let mut next = self.allocated()?.last().copied().unwrap_or(0) + 1;
        loop {
            let path = self.version_dir(next);
            match fs::create_dir(&path) {
                Ok(()) => return Ok(next),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => next += 1,
                Err(e) => return Err(Self::io(&path, e)),
            }
        }
    }

    /// Claims the next version number and writes the artifact, the metrics
    /// and, last, the record.
    pub fn create(&self, new: &NewVersion) -> Result<ModelVersion, RegistryError> {
        let version = self.allocate()?;
        let dir = self.version_dir(version);
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            write_atomically(&path, bytes).map_err(|e| Self::io(&path, e))
        };
        write(MODEL_FILE, new.artifact)?;
        write(METRICS_FILE, new.metrics_json)?;
        let now = now_rfc3339();
        let mut record = ModelVersion {
            group: self.group.clone(),
            version,
            status: Status::PendingManualApproval,
            sha256: Some(new.sha256.to_string()),
            artifact: dir.join(MODEL_FILE).display().to_string(),
            metrics: new.metrics.clone(),
            description: Some(new.description.clone()),
            created_at: now.clone(),
            history: vec![StatusChange {
                status: Status::PendingManualApproval,
                at: now,
                by: new.by.to_string(),
                reason: Some(match &new.artifact_url {
                    Some(url) => format!("registered; artifact also at {url}"),
                    None => "registered".to_string(),
                }),
            }],
            arn: None,
        };
        if let Some(reason) = &new.rejected {
            record.status = Status::Rejected;
            record.history.push(StatusChange {
                status: Status::Rejected,
                at: now_rfc3339(),
                by: QUALITY_GATE.to_string(),
                reason: Some(reason.clone()),
            });
        }
        // Written last and whole: the version appears with its final status.
        self.write_record(&record)?;
        Ok(record)
    }

    fn write_record(&self, record: &ModelVersion) -> Result<(), RegistryError> {
        let path = self.version_dir(record.version).join(STATUS_FILE);
        let mut bytes = serde_json::to_vec_pretty(record)
            .map_err(|e| RegistryError::Invalid(format!("encoding {}: {e}", path.display())))?;
        bytes.push(b'\n');
        write_atomically(&path, &bytes).map_err(|e| Self::io(&path, e))
    }

    /// The record of `version`, `None` if it has no `status.json` (yet).
    fn read_record(&self, version: u64) -> Result<Option<ModelVersion>, RegistryError> {
        let path = self.version_dir(version).join(STATUS_FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Self::io(&path, e)),
        };
        let record: ModelVersion =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::Corrupt {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        if record.version != version || record.group != self.group {
            return Err(RegistryError::Corrupt {
                path: path.display().to_string(),
                message: format!(
                    "records version {} of group {}, but sits at version {version} of {}",
                    record.version, record.group, self.group
                ),
            });
        }
        Ok(Some(record))
    }

    /// The record of `version`; [`RegistryError::NoSuchVersion`] if it has
    /// none (yet).
    pub fn get(&self, version: u64) -> Result<ModelVersion, RegistryError> {
        self.read_record(version)?
            .ok_or_else(|| RegistryError::NoSuchVersion {
                registry: self.describe(),
                version,
            })
    }

    /// Every version that has a record, oldest first.
    pub fn list(&self) -> Result<Vec<ModelVersion>, RegistryError> {
        let mut out = Vec::new();
        for v in self.allocated()? {
            if let Some(record) = self.read_record(v)? {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// The highest-numbered approved version, if any.
    pub fn latest_approved(&self) -> Result<Option<ModelVersion>, RegistryError> {
        // Versions are allocated in creation order, so the highest approved
        // number is the most recently created approved version.
        Ok(self
            .list()?
            .into_iter()
            .rev()
            .find(|v| v.status == Status::Approved))
    }

    /// Moves `version` to `status` and appends the change to its history,
    /// under the version's lock.
    pub fn set_status(
        &self,
        version: u64,
        status: Status,
        reason: Option<&str>,
        by: &str,
    ) -> Result<ModelVersion, RegistryError> {
        let _lock = self.lock(version)?;
        let mut record = self.get(version)?;
        if !super::check_transition(&self.describe(), &record, status)? {
            return Ok(record);
        }
        record.status = status;
        record.history.push(StatusChange {
            status,
            at: now_rfc3339(),
            by: by.to_string(),
            reason: reason.map(str::to_string),
        });
        self.write_record(&record)?;
        Ok(record)
    }

    /// Holds an exclusive lock on the version's `.lock` file until dropped.
    #[allow(clippy::incompatible_msrv)] // File::lock is 1.89; the AWS SDK already needs 1.94.
    fn lock(&self, version: u64) -> Result<File, RegistryError> {
        let path = self.version_dir(version).join(LOCK_FILE);
        if !self.version_dir(version).is_dir() {
            return Err(RegistryError::NoSuchVersion {
                registry: self.describe(),
                version,
            });
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Self::io(&path, e))?;
        file.lock().map_err(|e| Self::io(&path, e))?;
        Ok(file)
    }

    /// The artifact bytes of `version`, checked against its recorded SHA-256.
    pub fn fetch(&self, version: &ModelVersion) -> Result<Vec<u8>, RegistryError> {
        let path = self.version_dir(version.version).join(MODEL_FILE);
        let bytes = fs::read(&path).map_err(|e| Self::io(&path, e))?;
        let expected = version
            .sha256
            .as_deref()
            .ok_or_else(|| RegistryError::Corrupt {
                path: path.display().to_string(),
                message: "the version record has no sha256".into(),
            })?;
        super::verify_sha256(&path.display().to_string(), &bytes, expected)?;
        Ok(bytes)
    }
}
