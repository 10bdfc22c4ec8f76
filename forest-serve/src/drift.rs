//! Drift: the server watches its own inputs. Every feature vector the model
//! reads (sampled, `--drift-sample-every`) is binned with the training
//! distribution the artifact carries (`forest_core::drift`), and the
//! population stability index per feature over a sliding window of recent
//! rows is exported on `/metrics`, in the EMF records and on `GET /drift`.
//!
//! Cost on the hot path: one short branch-free bin count per feature and
//! plain stores. Each worker thread writes its own shard (found through a
//! thread-local), so no counter is shared between writers; one relaxed
//! atomic add per sampled row numbers the rows, which places them in the
//! window. Readers merge the shards.
//!
//! The window is [`SEGMENTS`] segments of `window / SEGMENTS` rows: a row
//! goes to the segment of its number, a segment is cleared when it is reused
//! for a newer stretch, and a reader sums the segments of the last
//! `SEGMENTS` stretches, so the PSI covers between `(SEGMENTS - 1) / SEGMENTS`
//! of the window and all of it. Counts are relaxed: a reader racing a
//! writer can see a row's features half counted, which moves a PSI by one
//! row's worth; monitoring tolerates that.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use std::time::{SystemTime, UNIX_EPOCH};

use forest_core::drift::{psi, FeatureDistribution};
use serde::Serialize;
use serde_json::{json, Value};

/// Segments of the sliding window.
pub const SEGMENTS: u64 = 4;

/// PSI above which a feature counts as drifted (the common reading, and the
/// CloudWatch alarm's threshold).
pub const PSI_ALERT: f64 = 0.2;

/// A segment that has never held rows.
const UNUSED: u64 = u64::MAX;

/// Monitors get distinct ids, so a thread finds its shard of each.
static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's shard of each monitor it has written to.
    static SHARDS: RefCell<Vec<(usize, Arc<Shard>)>> = const { RefCell::new(Vec::new()) };
}

/// One stretch of rows in one shard: its rows and the bin counts of every
/// feature, flat.
struct Segment {
    stretch: AtomicU64,
    rows: AtomicU32,
    counts: Box<[AtomicU32]>,
}

/// What one thread writes. Only that thread writes, hence load-then-store
/// instead of read-modify-write atomics.
struct Shard {
    /// Rows offered by this thread, for the sampling stride.
    offered: AtomicU64,
    segments: Vec<Segment>,
}

/// The live inputs of one model against its training distribution.
pub struct DriftMonitor {
    id: usize,
    names: Vec<String>,
    distributions: Vec<FeatureDistribution>,
    /// Where each feature's bins start in a segment's counts.
    offsets: Vec<usize>,
    bins: usize,
    window: u64,
    stretch_rows: u64,
    sample_every: u64,
    /// Rows counted so far, over every thread.
    counted: AtomicU64,
    shards: Mutex<Vec<Arc<Shard>>>,
}

/// `GET /drift`.
#[derive(Debug, Serialize)]
pub struct DriftReport {
    /// Rows the window holds when full.
    pub window_rows: u64,
    /// Rows the window holds now.
    pub rows_in_window: u64,
    /// Rows counted since the server started.
    pub rows_seen: u64,
    /// One row in this many is counted.
    pub sample_every: u64,
    /// PSI above this counts as drift.
    pub psi_alert: f64,
    /// Features whose PSI is above `psi_alert`.
    pub drifted: Vec<String>,
    /// Per feature, in the model's order.
    pub features: Vec<FeatureDrift>,
}

/// One feature in a [`DriftReport`].
#[derive(Debug, Serialize)]
pub struct FeatureDrift {
    /// The feature's name.
    pub name: String,
    /// Its PSI over the window (`null` before any row).
    pub psi: Option<f64>,
    /// Upper bin edges (then a bin above the last edge, then the missing bin).
    pub edges: Vec<f32>,
    /// Training shares per bin.
    pub training: Vec<f64>,
    /// Live shares per bin over the window.
    pub live: Vec<f64>,
}

impl DriftMonitor {
    /// A monitor over `names` (the model's features, in order) with their
    /// training distributions; a window of `window` rows (at least
    /// the number of segments, 4) and one row in `sample_every` counted. `None` when the
    /// lengths disagree.
    pub fn new(
        names: Vec<String>,
        distributions: Vec<FeatureDistribution>,
        window: u64,
        sample_every: u64,
    ) -> Option<DriftMonitor> {
        if names.len() != distributions.len() {
            return None;
        }
        let mut offsets = Vec::with_capacity(distributions.len());
        let mut bins = 0;
        for d in &distributions {
            offsets.push(bins);
            bins += d.n_bins();
        }
        let window = window.max(SEGMENTS);
        Some(DriftMonitor {
            id: NEXT_ID.fetch_add(1, Relaxed),
            names,
            distributions,
            offsets,
            bins,
            window,
            stretch_rows: window / SEGMENTS,
            sample_every: sample_every.max(1),
            counted: AtomicU64::new(0),
            shards: Mutex::new(Vec::new()),
        })
    }

    fn new_shard(&self) -> Arc<Shard> {
        let shard = Arc::new(Shard {
            offered: AtomicU64::new(0),
            segments: (0..SEGMENTS)
                .map(|_| Segment {
                    stretch: AtomicU64::new(UNUSED),
                    rows: AtomicU32::new(0),
                    counts: (0..self.bins).map(|_| AtomicU32::new(0)).collect(),
                })
                .collect(),
        });
        self.shards
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(shard.clone());
        shard
    }

    /// Counts one feature vector (in the model's feature order); rows of
    /// another width are ignored.
    pub fn observe(&self, row: &[f32]) {
        if row.len() != self.distributions.len() {
            return;
        }
        SHARDS.with_borrow_mut(|shards| {
            let at = match shards.iter().position(|(id, _)| *id == self.id) {
                Some(at) => at,
                None => {
                    shards.push((self.id, self.new_shard()));
                    shards.len() - 1
                }
            };
            let shard = &shards[at].1;
            let offered = shard.offered.load(Relaxed);
            shard.offered.store(offered + 1, Relaxed);
            if offered % self.sample_every != 0 {
                return;
            }
            let stretch = self.counted.fetch_add(1, Relaxed) / self.stretch_rows;
            let segment = &shard.segments[(stretch % SEGMENTS) as usize];
            if segment.stretch.load(Relaxed) != stretch {
                for c in segment.counts.iter() {
                    c.store(0, Relaxed);
                }
                segment.rows.store(0, Relaxed);
                segment.stretch.store(stretch, Relaxed);
            }
            bump(&segment.rows);
            for ((x, d), offset) in row.iter().zip(&self.distributions).zip(&self.offsets) {
                bump(&segment.counts[offset + d.bin(*x)]);
            }
        });
    }

    /// The counts of the window, merged over shards: rows, then every bin.
    fn window_counts(&self) -> (u64, Vec<u64>) {
        let current = self.counted.load(Relaxed) / self.stretch_rows;
        let oldest = (current + 1).saturating_sub(SEGMENTS);
        let mut rows = 0u64;
        let mut counts = vec![0u64; self.bins];
        let shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
        for shard in shards.iter() {
            for segment in &shard.segments {
                let stretch = segment.stretch.load(Relaxed);
                if stretch == UNUSED || stretch < oldest || stretch > current {
                    continue;
                }
                rows += u64::from(segment.rows.load(Relaxed));
                for (acc, c) in counts.iter_mut().zip(segment.counts.iter()) {
                    *acc += u64::from(c.load(Relaxed));
                }
            }
        }
        (rows, counts)
    }

    /// Each feature's PSI over the window (`None` before any row).
    pub fn psi(&self) -> Vec<Option<f64>> {
        let (_, counts) = self.window_counts();
        self.per_feature(&counts)
            .map(|(d, c)| psi(&d.frequencies, c))
            .collect()
    }

    fn per_feature<'a>(
        &'a self,
        counts: &'a [u64],
    ) -> impl Iterator<Item = (&'a FeatureDistribution, &'a [u64])> {
        self.distributions
            .iter()
            .zip(&self.offsets)
            .map(move |(d, &o)| (d, &counts[o..o + d.n_bins()]))
    }

    /// What `GET /drift` answers.
    pub fn report(&self) -> DriftReport {
        let (rows, counts) = self.window_counts();
        let features: Vec<FeatureDrift> = self
            .per_feature(&counts)
            .zip(&self.names)
            .map(|((d, c), name)| {
                let total: u64 = c.iter().sum();
                FeatureDrift {
                    name: name.clone(),
                    psi: psi(&d.frequencies, c),
                    edges: d.edges.clone(),
                    training: d.frequencies.clone(),
                    live: c.iter().map(|&n| n as f64 / total.max(1) as f64).collect(),
                }
            })
            .collect();
        DriftReport {
            window_rows: self.window,
            rows_in_window: rows,
            rows_seen: self.counted.load(Relaxed),
            sample_every: self.sample_every,
            psi_alert: PSI_ALERT,
            drifted: features
                .iter()
                .filter(|f| f.psi.is_some_and(|p| p > PSI_ALERT))
                .map(|f| f.name.clone())
                .collect(),
            features,
        }
    }

    /// The Prometheus lines: PSI per feature, the window's rows.
    pub fn render_prometheus(&self, w: &mut String) {
        let (rows, counts) = self.window_counts();
        let _ = writeln!(
            w,
            "# HELP forest_feature_psi Population stability index of each feature over the drift window, live against training.\n\
             # TYPE forest_feature_psi gauge"
        );
        for ((d, c), name) in self.per_feature(&counts).zip(&self.names) {
            if let Some(p) = psi(&d.frequencies, c) {
                let _ = writeln!(
                    w,
                    "forest_feature_psi{{feature=\"{}\"}} {p}",
                    crate::metrics::escape_label(name)
                );
            }
        }
        let _ = writeln!(
            w,
            "# HELP forest_drift_window_rows Rows in the drift window now.\n\
             # TYPE forest_drift_window_rows gauge\n\
             forest_drift_window_rows {rows}\n\
             # HELP forest_drift_rows_total Rows counted for drift since the start.\n\
             # TYPE forest_drift_rows_total counter\n\
             forest_drift_rows_total {}",
            self.counted.load(Relaxed)
        );
    }
}

impl DriftMonitor {
    /// The EMF record of the window: `FeaturePsiMax` (what the CloudWatch
    /// alarm watches) and `Psi_<feature>` per feature; `None` before any
    /// row.
    pub fn emf_record(&self, namespace: &str, service: &str, version: &str) -> Option<Value> {
        let psi = self.psi();
        let max = psi.iter().flatten().copied().reduce(f64::max)?;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let mut names = vec![json!({"Name": "FeaturePsiMax", "Unit": "None"})];
        let mut record = json!({
            "_aws": {"Timestamp": now_ms},
            "Service": service,
            "ModelVersion": version,
            "FeaturePsiMax": max,
        });
        if let Value::Object(o) = &mut record {
            for (name, p) in self.names.iter().zip(&psi) {
                if let Some(p) = p {
                    let key = format!("Psi_{name}");
                    names.push(json!({"Name": key, "Unit": "None"}));
                    o.insert(key, json!(p));
                }
            }
            o["_aws"]["CloudWatchMetrics"] = json!([{
                "Namespace": namespace,
                "Dimensions": [["Service"]],
                "Metrics": names,
            }]);
        }
        Some(record)
    }
}

/// `+1` on a counter only this thread writes.
#[inline]
fn bump(c: &AtomicU32) {
    c.store(c.load(Relaxed).wrapping_add(1), Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitor(window: u64, every: u64) -> DriftMonitor {
        let train: Vec<f32> = (0..1000).map(|i| (i % 10) as f32).collect();
        let d = FeatureDistribution::fit(&train, 10);
        DriftMonitor::new(
            vec!["a".into(), "b".into()],
            vec![d.clone(), d],
            window,
            every,
        )
        .unwrap()
    }

    #[test]
    fn like_training_is_stable_and_a_shift_shows_in_its_feature_only() {
        let m = monitor(1000, 1);
        assert_eq!(m.psi(), vec![None, None]);
        for i in 0..1000 {
            m.observe(&[(i % 10) as f32, (i % 10) as f32]);
        }
        assert!(m.psi().iter().all(|p| p.unwrap() < 1e-9), "{:?}", m.psi());
        // A full window of shifted rows in feature a.
        for i in 0..1000 {
            m.observe(&[9.0, (i % 10) as f32]);
        }
        let psi = m.psi();
        assert!(
            psi[0].unwrap() > PSI_ALERT && psi[1].unwrap() < 0.01,
            "{psi:?}"
        );
        let report = m.report();
        assert_eq!(report.drifted, vec!["a".to_string()]);
        assert!(report.rows_in_window >= 750 && report.rows_in_window <= 1000);
        assert_eq!(report.rows_seen, 2000);
    }

    #[test]
    fn rows_from_many_threads_are_all_counted_and_sampling_thins_them() {
        let m = Arc::new(monitor(1_000_000, 4));
        std::thread::scope(|s| {
            for _ in 0..4 {
                let m = m.clone();
                s.spawn(move || {
                    for i in 0..1000 {
                        m.observe(&[(i % 10) as f32, 0.0]);
                    }
                });
            }
        });
        let report = m.report();
        assert_eq!(report.rows_seen, 1000);
        assert_eq!(report.rows_in_window, 1000);
        // A wrong width is ignored.
        m.observe(&[1.0]);
        assert_eq!(m.report().rows_seen, 1000);
    }
}
