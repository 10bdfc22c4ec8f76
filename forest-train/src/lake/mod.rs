//! The data lake: one blocking interface over a local directory or an S3
//! prefix, so the ETL, the trainer and the registry run the same code on a
//! laptop and on AWS.
//!
//! A lake is a root (a directory, or `s3://bucket/prefix`) holding objects
//! under relative, `/`-separated keys such as `silver/SHOP_WEEK=200607/part-0.parquet`.
//! The layout's top-level prefixes are [`PREFIXES`]; `tmp/` is scratch space
//! for atomic writes and never appears in listings.
//!
//! Every write is atomic: a reader sees the old object, the new one, or
//! nothing, never half an object. How each backend gets there is described in
//! [`local`] and [`s3`].
//!
//! The interface is synchronous on purpose: callers fan work out with rayon,
//! and the S3 backend hides its async SDK behind a private tokio runtime.
//! Consequently the methods must not be called from inside an async context.

pub mod local;
#[cfg(feature = "aws")]
pub mod s3;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

pub use local::LocalLake;
#[cfg(feature = "aws")]
pub use s3::S3Lake;

/// How to reach S3. Empty fields fall back to the usual AWS configuration
/// (environment, profile, instance role).
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// A non-AWS endpoint such as moto or MinIO on loopback; implies
    /// path-style addressing.
    pub endpoint_url: Option<String>,
    /// The AWS region; `None` takes it from the usual configuration.
    pub region: Option<String>,
    /// Static (access key, secret) for tests; `None` uses the default chain.
    pub credentials: Option<(String, String)>,
}

impl S3Options {
    /// Endpoint from `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`, region
    /// from `AWS_REGION` or `AWS_DEFAULT_REGION`, default credentials chain.
    pub fn from_env() -> Self {
        let var = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
        };
        S3Options {
            endpoint_url: var(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]),
            region: var(&["AWS_REGION", "AWS_DEFAULT_REGION"]),
            credentials: None,
        }
    }
}

/// The lake's top-level prefixes. `tmp/` holds in-flight writes only.
pub const PREFIXES: [&str; 6] = ["raw/", "silver/", "gold/", "artifacts/", "logs/", "tmp/"];

/// Scratch prefix for atomic writes; excluded from [`Lake::list`].
pub(crate) const TMP_PREFIX: &str = "tmp/";

/// What went wrong, always naming the object or location involved.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// The object does not exist (distinct so callers can treat it as "absent").
    #[error("{url}: no such object")]
    NotFound {
        /// The object's full path or `s3://` URL.
        url: String,
    },
    /// A key that could escape the lake or means different things on the two backends.
    #[error("invalid lake key {key:?}: {reason}")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// What is wrong with it (`..`, a backslash, an empty segment, ...).
        reason: String,
    },
    /// A location that is neither a usable directory path nor `s3://bucket[/prefix]`.
    #[error("invalid lake location {location:?}: {reason}")]
    InvalidLocation {
        /// The location as given.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file-system failure on the local backend.
    #[error("{url}: {error}")]
    Io {
        /// The file or directory involved.
        url: String,
        /// What the operating system reported.
        error: std::io::Error,
    },
    /// An S3 request failed; `message` carries the SDK's error code and chain.
    #[error("S3 {operation} on {url} failed: {message}")]
    S3 {
        /// The `s3://` URL of the object or prefix involved.
        url: String,
        /// The S3 API operation that failed (`PutObject`, `DeleteObjects`, ...).
        operation: &'static str,
        /// The SDK's error code, message and cause chain.
        message: String,
    },
}

/// A lake on one of the two backends. `Send + Sync`: share it by reference
/// (or `Arc`) across rayon tasks.
#[derive(Debug)]
pub enum Lake {
    /// A local directory.
    Local(LocalLake),
    /// An S3 prefix (with the `aws` feature).
    #[cfg(feature = "aws")]
    S3(S3Lake),
}

impl Lake {
    /// Opens `s3://bucket[/prefix]` or a local directory (created if absent).
    /// Opening an S3 lake makes no request; errors surface on first use.
    pub fn open(location: &str, s3: &S3Options) -> Result<Lake, LakeError> {
        if location.starts_with("s3://") {
            #[cfg(feature = "aws")]
            return Ok(Lake::S3(S3Lake::open(location, s3)?));
            #[cfg(not(feature = "aws"))]
            return Err(LakeError::InvalidLocation {
                location: location.to_string(),
                reason: format!(
                    "this forest-train was built without S3 support (cargo feature `aws`); \
                     rebuild it with default features to use s3:// locations{}",
                    if s3.endpoint_url.is_some() {
                        " and --endpoint-url"
                    } else {
                        ""
                    }
                ),
            });
        }
        if let Some((scheme, _)) = location.split_once("://") {
            return Err(LakeError::InvalidLocation {
                location: location.to_string(),
                reason: format!(
                    "unsupported scheme {scheme:?}; use s3://bucket/prefix or a directory path"
                ),
            });
        }
        Ok(Lake::Local(LocalLake::open(location)?))
    }

    /// The location as given to [`Lake::open`], for messages and provenance.
    pub fn location(&self) -> String {
        match self {
            Lake::Local(l) => l.location().to_string(),
            #[cfg(feature = "aws")]
            Lake::S3(l) => l.location().to_string(),
        }
    }

    /// Whether the lake is an S3 prefix (else a local directory).
    pub fn is_s3(&self) -> bool {
        self.location().starts_with("s3://")
    }

    /// The full path or `s3://` URL of `key` (not validated; for messages).
    pub fn url(&self, key: &str) -> String {
        match self {
            Lake::Local(l) => l.url(key),
            #[cfg(feature = "aws")]
            Lake::S3(l) => l.url(key),
        }
    }

    /// The whole object; [`LakeError::NotFound`] if it does not exist.
    pub fn get(&self, key: &str) -> Result<Vec<u8>, LakeError> {
        validate_key(key)?;
        match self {
            Lake::Local(l) => l.get(key),
            #[cfg(feature = "aws")]
            Lake::S3(l) => l.get(key),
        }
    }

    /// Writes the object atomically, replacing any previous version.
    pub fn put(&self, key: &str, bytes: &[u8]) -> Result<(), LakeError> {
        validate_key(key)?;
        match self {
            Lake::Local(l) => l.put(key, bytes),
            #[cfg(feature = "aws")]
            Lake::S3(l) => l.put(key, bytes),
        }
    }

    /// Keys starting with `prefix` (a plain string prefix, as in S3), at any
    /// depth, sorted, relative to the lake root; nothing under `tmp/`.
    pub fn list(&self, prefix: &str) -> Result<Vec<String>, LakeError> {
        validate_prefix(prefix)?;
        let mut keys = match self {
            Lake::Local(l) => l.list(prefix)?,
            #[cfg(feature = "aws")]
            Lake::S3(l) => l.list(prefix)?,
        };
        keys.sort();
        Ok(keys)
    }

    /// Whether the object exists.
    pub fn exists(&self, key: &str) -> Result<bool, LakeError> {
        validate_key(key)?;
        match self {
            Lake::Local(l) => l.exists(key),
            #[cfg(feature = "aws")]
            Lake::S3(l) => l.exists(key),
        }
    }

    /// Removes the object. Deleting a missing key succeeds, as it does in S3.
    pub fn delete(&self, key: &str) -> Result<(), LakeError> {
        validate_key(key)?;
        match self {
            Lake::Local(l) => l.delete(key),
            #[cfg(feature = "aws")]
            Lake::S3(l) => l.delete(key),
        }
    }

    /// Removes every key [`Lake::list`] returns for `prefix` and says how
    /// many; re-runs use it to replace a partition wholesale. An empty
    /// prefix is refused: wiping a whole lake should not be one typo away.
    pub fn delete_prefix(&self, prefix: &str) -> Result<usize, LakeError> {
        if prefix.is_empty() {
            return Err(LakeError::InvalidKey {
                key: String::new(),
                reason: "refusing to delete the whole lake; give a prefix".into(),
            });
        }
        let keys = self.list(prefix)?;
        match self {
            Lake::Local(l) => l.delete_keys(&keys)?,
            #[cfg(feature = "aws")]
            Lake::S3(l) => l.delete_keys(&keys)?,
        }
        Ok(keys.len())
    }

    /// Makes sure an S3 lake's bucket exists (creating it in the client's
    /// region if not); returns whether it was created. Local lakes: no-op.
    pub fn create_bucket_if_missing(&self) -> Result<bool, LakeError> {
        match self {
            Lake::Local(_) => Ok(false),
            #[cfg(feature = "aws")]
            Lake::S3(l) => l.create_bucket_if_missing(),
        }
    }
}

/// Makes the layout's prefixes exist: directories locally, zero-byte
/// `prefix/` marker objects on S3 (so consoles and `aws s3 ls` show them).
pub fn init(lake: &Lake) -> Result<(), LakeError> {
    for prefix in PREFIXES {
        match lake {
            Lake::Local(l) => l.make_dir(prefix)?,
            #[cfg(feature = "aws")]
            Lake::S3(l) => l.put_marker(prefix)?,
        }
    }
    Ok(())
}

/// Rejects keys that could escape the root or mean different things on the
/// two backends: empty, absolute, `..`/`.`, empty segments, backslashes,
/// control characters.
pub fn validate_key(key: &str) -> Result<(), LakeError> {
    let reason = if key.is_empty() {
        Some("key is empty")
    } else if key.starts_with('/') {
        Some("must be relative (no leading '/')")
    } else if key.contains('\\') {
        Some("backslashes are not separators; use '/'")
    } else if key.chars().any(char::is_control) {
        Some("control characters are not allowed")
    } else {
        key.split('/').find_map(|segment| match segment {
            "" => Some("empty path segment ('//' or a trailing '/')"),
            "." | ".." => Some("'.' and '..' segments are not allowed"),
            _ => None,
        })
    };
    match reason {
        Some(reason) => Err(LakeError::InvalidKey {
            key: key.to_string(),
            reason: reason.to_string(),
        }),
        None => Ok(()),
    }
}

/// A listing prefix: empty (everything), or a key optionally ending in '/'.
pub fn validate_prefix(prefix: &str) -> Result<(), LakeError> {
    match prefix.strip_suffix('/').unwrap_or(prefix) {
        "" if prefix.is_empty() => Ok(()),
        "" => Err(LakeError::InvalidKey {
            key: prefix.to_string(),
            reason: "a prefix cannot be just '/'".into(),
        }),
        trimmed => validate_key(trimmed).map_err(|e| match e {
            LakeError::InvalidKey { reason, .. } => LakeError::InvalidKey {
                key: prefix.to_string(),
                reason,
            },
            other => other,
        }),
    }
}

/// A name no other writer uses at the same time, for objects under `tmp/`:
/// pid + per-process counter + thread id, plus a per-process random nonce
/// because containers on different hosts (SageMaker) often share pid 1 and
/// write to the same S3 lake.
pub(crate) fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static NONCE: OnceLock<u64> = OnceLock::new();
    let nonce = *NONCE.get_or_init(|| {
        // RandomState is seeded from the OS's randomness: no extra crate needed.
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            hasher.write_u128(now.as_nanos());
        }
        hasher.finish()
    });
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let thread: String = format!("{:?}", std::thread::current().id())
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    format!(
        "{}-{count}-t{thread}-{nonce:016x}.partial",
        std::process::id()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lake_keys_are_validated() {
        for good in [
            "a",
            "raw/x.csv",
            "silver/SHOP_WEEK=200607/part-0.parquet",
            "a b/ü.txt",
        ] {
            validate_key(good).unwrap();
        }
        for bad in [
            "", "/abs", "a//b", "a/", "../x", "a/../b", "./a", "a\\b", "a\nb",
        ] {
            let err = validate_key(bad).unwrap_err();
            assert!(
                matches!(err, LakeError::InvalidKey { ref key, .. } if key == bad),
                "{bad:?}: {err}"
            );
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        validate_prefix("").unwrap();
        validate_prefix("silver/").unwrap();
        validate_prefix("silver/part-").unwrap();
        for bad in ["/", "silver//", "../"] {
            validate_prefix(bad).unwrap_err();
        }
    }

    #[test]
    fn lake_unique_names_differ() {
        let names: std::collections::HashSet<String> = (0..1000).map(|_| unique_name()).collect();
        assert_eq!(names.len(), 1000);
        validate_key(&format!("tmp/{}", unique_name())).unwrap();
    }

    #[test]
    fn lake_rejects_unknown_schemes() {
        let err = Lake::open("gs://bucket/x", &S3Options::default()).unwrap_err();
        assert!(matches!(err, LakeError::InvalidLocation { .. }), "{err}");
        assert!(err.to_string().contains("gs://bucket/x"), "{err}");
    }

    #[test]
    fn lake_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Lake>();
    }
}
