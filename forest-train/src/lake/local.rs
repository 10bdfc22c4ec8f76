//! The file-system backend: a directory is the lake root, keys are paths
//! below it.
//!
//! Atomic writes: the bytes go to `<root>/tmp/<unique>`, are fsynced, and are
//! renamed over the final path. `tmp/` lives inside the root so the rename
//! never crosses file systems (where it would degrade to a copy). The parent
//! directory is fsynced afterwards so the rename survives a crash.

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use super::{unique_name, LakeError, TMP_PREFIX};

/// A lake rooted at a local directory.
#[derive(Debug)]
pub struct LocalLake {
    root: PathBuf,
    location: String,
}

impl LocalLake {
    /// Opens (creating if absent) the directory `location`.
    pub fn open(location: &str) -> Result<Self, LakeError> {
        if location.is_empty() {
            return Err(LakeError::InvalidLocation {
                location: String::new(),
                reason: "empty path".into(),
            });
        }
        let root = PathBuf::from(location);
        fs::create_dir_all(&root).map_err(|error| LakeError::Io {
            url: location.to_string(),
            error,
        })?;
        Ok(LocalLake {
            root,
            location: location.to_string(),
        })
    }

    /// The location as given to [`LocalLake::open`].
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The root directory, which every key is relative to.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of `key` (segment by segment, so '/' works on every OS).
    pub fn path(&self, key: &str) -> PathBuf {
        let mut path = self.root.clone();
        path.extend(key.split('/').filter(|s| !s.is_empty()));
        path
    }

    /// The path of `key` as text, for messages.
    pub fn url(&self, key: &str) -> String {
        self.path(key).display().to_string()
    }

    fn io(&self, key: &str) -> impl Fn(std::io::Error) -> LakeError + '_ {
        let url = self.url(key);
        move |error| LakeError::Io {
            url: url.clone(),
            error,
        }
    }

    pub(crate) fn get(&self, key: &str) -> Result<Vec<u8>, LakeError> {
        fs::read(self.path(key)).map_err(|error| match error.kind() {
            ErrorKind::NotFound => LakeError::NotFound { url: self.url(key) },
            _ => self.io(key)(error),
        })
    }

    pub(crate) fn put(&self, key: &str, bytes: &[u8]) -> Result<(), LakeError> {
        let tmp_dir = self.path(TMP_PREFIX);
        fs::create_dir_all(&tmp_dir).map_err(self.io(TMP_PREFIX))?;
        let tmp = tmp_dir.join(unique_name());
        let target = self.path(key);
        let written = write_synced(&tmp, bytes).and_then(|()| {
            let parent = target.parent().unwrap_or(&self.root);
            fs::create_dir_all(parent)?;
            fs::rename(&tmp, &target)?;
            sync_dir(parent);
            Ok(())
        });
        if written.is_err() {
            // Best effort: the tmp file may not exist, and its removal failing
            // must not hide the error that matters.
            let _ = fs::remove_file(&tmp);
        }
        written.map_err(self.io(key))
    }

    pub(crate) fn list(&self, prefix: &str) -> Result<Vec<String>, LakeError> {
        // Walk only the deepest directory the prefix names, then filter by the
        // string prefix, which gives S3's semantics for "silver/part-" too.
        let dir_key = match prefix.rfind('/') {
            Some(i) => &prefix[..=i],
            None => "",
        };
        let mut keys = Vec::new();
        self.walk(&self.path(dir_key), dir_key, &mut keys)?;
        keys.retain(|k| k.starts_with(prefix) && !k.starts_with(TMP_PREFIX));
        Ok(keys)
    }

    /// Appends the keys of all files below `dir` (whose key is `dir_key`,
    /// empty or ending in '/').
    fn walk(&self, dir: &Path, dir_key: &str, keys: &mut Vec<String>) -> Result<(), LakeError> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.io(dir_key)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(self.io(dir_key))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                return Err(LakeError::InvalidKey {
                    key: entry.path().display().to_string(),
                    reason: "file name is not UTF-8, so it cannot be a lake key".into(),
                });
            };
            let key = format!("{dir_key}{name}");
            if key == "tmp" {
                continue;
            }
            // Follows symlinks to files; does not descend into symlinked
            // directories (no loops).
            let file_type = entry.file_type().map_err(self.io(&key))?;
            if file_type.is_dir() {
                self.walk(&entry.path(), &format!("{key}/"), keys)?;
            } else if file_type.is_file() || entry.path().is_file() {
                keys.push(key);
            }
        }
        Ok(())
    }

    pub(crate) fn exists(&self, key: &str) -> Result<bool, LakeError> {
        match fs::metadata(self.path(key)) {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.io(key)(e)),
        }
    }

    pub(crate) fn delete(&self, key: &str) -> Result<(), LakeError> {
        match fs::remove_file(self.path(key)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io(key)(e)),
        }
    }

    /// Deletes `keys`, then prunes directories left empty (but never a
    /// top-level prefix directory such as `silver/`), so a replaced
    /// partition leaves no husk behind, as on S3.
    pub(crate) fn delete_keys(&self, keys: &[String]) -> Result<(), LakeError> {
        for key in keys {
            self.delete(key)?;
        }
        for key in keys {
            let mut dir = key.as_str();
            while let Some(i) = dir.rfind('/') {
                dir = &dir[..i];
                if !dir.contains('/') || fs::remove_dir(self.path(dir)).is_err() {
                    break;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn make_dir(&self, prefix: &str) -> Result<(), LakeError> {
        fs::create_dir_all(self.path(prefix)).map_err(self.io(prefix))
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = File::create_new(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Persists a rename. Only possible on Unix (directories cannot be opened
/// for syncing on Windows), and a failure here loses durability, not
/// atomicity, so it is ignored.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::super::{init, Lake, LakeError, S3Options, PREFIXES};
    use std::sync::atomic::{AtomicBool, Ordering};

    fn lake() -> (tempfile::TempDir, Lake) {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(
            dir.path().join("lake").to_str().unwrap(),
            &S3Options::default(),
        )
        .unwrap();
        (dir, lake)
    }

    fn tmp_entries(lake: &Lake) -> usize {
        // Irrefutable without the `aws` feature (no S3 variant).
        #[allow(irrefutable_let_patterns)]
        let Lake::Local(l) = lake
        else {
            unreachable!()
        };
        std::fs::read_dir(l.path("tmp"))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    #[test]
    fn local_lake_round_trip_and_overwrite() {
        let (_dir, lake) = lake();
        lake.put("raw/week1.csv", b"a,b\n1,2\n").unwrap();
        assert_eq!(lake.get("raw/week1.csv").unwrap(), b"a,b\n1,2\n");
        lake.put("raw/week1.csv", b"new").unwrap();
        assert_eq!(lake.get("raw/week1.csv").unwrap(), b"new");
        lake.put("empty", b"").unwrap();
        assert_eq!(lake.get("empty").unwrap(), b"");
        assert!(lake.exists("raw/week1.csv").unwrap());
        assert!(!lake.exists("raw/week2.csv").unwrap());
        assert!(!lake.exists("raw").unwrap(), "a directory is not an object");
        assert_eq!(
            tmp_entries(&lake),
            0,
            "no tmp leftovers after successful puts"
        );
        assert!(lake.url("raw/week1.csv").ends_with("week1.csv"));
    }

    #[test]
    fn local_lake_not_found_names_the_path() {
        let (_dir, lake) = lake();
        let err = lake.get("gold/missing.parquet").unwrap_err();
        assert!(matches!(err, LakeError::NotFound { .. }), "{err}");
        assert!(err.to_string().contains("missing.parquet"), "{err}");
        lake.delete("gold/missing.parquet").unwrap();
    }

    #[test]
    fn local_lake_list_is_sorted_recursive_and_skips_tmp() {
        let (_dir, lake) = lake();
        init(&lake).unwrap();
        for key in [
            "silver/w=2/b",
            "silver/w=1/a",
            "silver/w=10/c",
            "gold/g",
            "silverish",
            "tmp/x",
        ] {
            lake.put(key, key.as_bytes()).unwrap();
        }
        assert_eq!(
            lake.list("silver/").unwrap(),
            ["silver/w=1/a", "silver/w=10/c", "silver/w=2/b"]
        );
        assert_eq!(
            lake.list("silver/w=1").unwrap(),
            ["silver/w=1/a", "silver/w=10/c"]
        );
        assert_eq!(
            lake.list("silver").unwrap(),
            ["silver/w=1/a", "silver/w=10/c", "silver/w=2/b", "silverish"]
        );
        assert_eq!(
            lake.list("").unwrap().len(),
            5,
            "tmp/ excluded, prefix directories are not keys"
        );
        assert!(lake.list("nothing/").unwrap().is_empty());
        assert!(lake.list("tmp/").unwrap().is_empty());
        assert_eq!(lake.delete_prefix("silver/w=1").unwrap(), 2);
        assert_eq!(lake.list("silver/").unwrap(), ["silver/w=2/b"]);
        #[allow(irrefutable_let_patterns)]
        let Lake::Local(l) = &lake
        else {
            unreachable!()
        };
        assert!(
            !l.path("silver/w=1").exists(),
            "emptied partition directory pruned"
        );
        assert!(l.path("silver").is_dir(), "top-level prefix kept");
        for prefix in PREFIXES {
            assert!(l.path(prefix).is_dir(), "{prefix}");
        }
        lake.delete_prefix("").unwrap_err();
    }

    #[test]
    fn local_lake_rejects_invalid_keys() {
        let (_dir, lake) = lake();
        for bad in ["../escape", "/etc/passwd", "a//b", "a\\b", ""] {
            let err = lake.put(bad, b"x").unwrap_err();
            assert!(
                matches!(err, LakeError::InvalidKey { .. }),
                "{bad:?}: {err}"
            );
            lake.get(bad).unwrap_err();
        }
        lake.list("../").unwrap_err();
    }

    /// Readers racing a writer see only whole versions, never a mix.
    #[test]
    fn local_lake_readers_never_see_partial_objects() {
        let (_dir, lake) = lake();
        const LEN: usize = 1 << 20;
        lake.put("gold/x", &vec![0u8; LEN]).unwrap();
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                for round in 1..=20u8 {
                    lake.put("gold/x", &vec![round; LEN]).unwrap();
                }
                done.store(true, Ordering::SeqCst);
            });
            s.spawn(|| {
                while !done.load(Ordering::SeqCst) {
                    let bytes = lake.get("gold/x").unwrap();
                    assert_eq!(bytes.len(), LEN);
                    assert!(bytes.iter().all(|&b| b == bytes[0]), "torn read");
                }
            });
        });
        assert_eq!(lake.get("gold/x").unwrap()[0], 20);
        assert_eq!(tmp_entries(&lake), 0);
    }
}
