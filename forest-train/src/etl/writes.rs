//! The ETL's lake writes on a thread of their own, so that the compute
//! threads do not wait for the disk (or the network).
//!
//! A local lake's write is atomic: the bytes are written and synced to a
//! temporary file, which is then renamed (see [`crate::lake`]). The sync
//! waits for the disk, and while a rayon worker waits its core parses
//! nothing: on 52 synthetic weeks, landing the raw files' copies alone
//! (174 of the 210 MB a run writes) cost 0.2 to 0.5 s of a 2.6 s run. Sent
//! to one writer thread through a short queue, the writes overlap the
//! parsing and encoding instead.
//!
//! What a phase wrote is all in the lake when [`with_background_writes`]
//! returns, so the next phase can read it; the first failed write is the
//! phase's error (the writer stops there, as a run stopped at its first
//! failed write before).

use std::sync::mpsc::{sync_channel, SyncSender};

use bytes::Bytes;

use super::EtlError;
use crate::lake::Lake;

/// Writes queued at most, beyond the one being written: enough to keep the
/// writer busy, few enough that queued files (a raw week is a few MB) do
/// not add up.
const QUEUE: usize = 4;

/// Queues writes to the lake's writer thread.
pub struct Writes {
    queue: SyncSender<(String, Bytes)>,
}

impl Writes {
    /// Queues `bytes` to be written at `key` (atomically, as
    /// [`Lake::put`]). Blocks while the queue is full.
    pub fn put(&self, key: String, bytes: impl Into<Bytes>) -> Result<(), EtlError> {
        self.queue.send((key, bytes.into())).map_err(|_| {
            // The writer stopped at a failed write; that error is the one
            // `with_background_writes` returns.
            EtlError::Invalid("the lake's writer stopped".into())
        })
    }
}

/// Runs `work` with a writer thread for `lake`, and waits until every write
/// it queued is in the lake. A failed write is returned before `work`'s own
/// result (which may only say that the writer stopped).
pub fn with_background_writes<T>(
    lake: &Lake,
    work: impl FnOnce(&Writes) -> Result<T, EtlError>,
) -> Result<T, EtlError> {
    std::thread::scope(|scope| {
        let (queue, queued) = sync_channel::<(String, Bytes)>(QUEUE);
        let writer = scope.spawn(move || -> Result<(), EtlError> {
            for (key, bytes) in queued {
                lake.put(&key, &bytes)?;
            }
            Ok(())
        });
        let writes = Writes { queue };
        let result = work(&writes);
        // Closes the queue: the writer finishes what is queued and ends.
        drop(writes);
        match writer.join() {
            Ok(written) => written?,
            Err(panic) => std::panic::resume_unwind(panic),
        }
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_queued_write_is_in_the_lake_when_the_phase_returns() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap(), &Default::default()).unwrap();
        let n = with_background_writes(&lake, |writes| {
            for i in 0..20 {
                writes.put(format!("silver/part-{i}"), vec![i as u8; 1000])?;
            }
            Ok(20)
        })
        .unwrap();
        assert_eq!(n, 20);
        for i in 0..20 {
            assert_eq!(
                lake.get(&format!("silver/part-{i}")).unwrap(),
                vec![i as u8; 1000]
            );
        }
    }

    #[test]
    fn a_failed_write_is_the_phases_error() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap(), &Default::default()).unwrap();
        // A file where the writer needs a directory: the put fails.
        std::fs::write(dir.path().join("silver"), b"a file").unwrap();
        let err = with_background_writes(&lake, |writes| {
            for i in 0..50 {
                writes.put(format!("silver/part-{i}"), vec![0u8; 10])?;
            }
            Ok(())
        })
        .unwrap_err();
        assert!(matches!(err, EtlError::Lake(_)), "{err}");
        assert!(err.to_string().contains("silver/part-0"), "{err}");
    }
}
