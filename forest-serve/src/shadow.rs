//! The shadow model: a candidate artifact (`--shadow FILE`) answers a
//! sampled share of the baskets the served model answers, off the response
//! path, and the server counts how often the two agree on the most probable
//! class.
//!
//! A sampled request appends its baskets and the served model's classes to
//! a bounded queue (a mutex held for a push, no wake-up: a request never
//! makes a system call for the shadow) and goes on. One background thread
//! wakes every [`TICK`], takes the whole queue and runs the candidate
//! through the interpreter's batch walk (so it may read its own features:
//! the candidate encodes the baskets with its own spec). When the queue is
//! full the sample is dropped and counted, never waited for: the shadow can
//! neither change nor delay an answer. On Linux the thread also runs at the
//! lowest scheduling priority (nice 19): when the server's cores are busy
//! the shadow yields to the requests, falls behind, and its queue drops
//! samples (counted) rather than take CPU from answers. Sampling is by request count
//! (request `i` is taken when `floor((i + 1) * rate)` passes an integer),
//! so a rate of 0.1 takes exactly one request in ten.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use forest_core::{argmax, Basket};

use crate::engine::{Engine, Interpreted, ModelInfo};
use crate::metrics::{escape_label, LatencyHistogram};

/// Baskets waiting for the shadow thread at most.
const QUEUE: usize = 4096;

/// How often the shadow thread takes the queue.
pub const TICK: Duration = Duration::from_millis(2);

/// What sampled requests left for the shadow thread: their baskets and the
/// served model's class for each.
#[derive(Default)]
struct Queue {
    baskets: Vec<Basket>,
    served: Vec<usize>,
}

/// What the shadow thread counts.
#[derive(Default)]
struct Counts {
    agree: AtomicU64,
    disagree: AtomicU64,
    errors: AtomicU64,
    dropped: AtomicU64,
    latency: LatencyHistogram,
}

/// A candidate model beside the served one.
pub struct Shadow {
    info: ModelInfo,
    rate: f64,
    requests: AtomicU64,
    queue: Arc<Mutex<Queue>>,
    counts: Arc<Counts>,
    /// Tells the thread to stop when the server drops the shadow.
    stop: Arc<AtomicBool>,
}

/// Puts the calling thread at nice 19, so the scheduler runs it only when
/// the request threads leave CPU to spare. Best effort: where it fails the
/// shadow runs at normal priority.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority reads its three integer arguments and touches no
    // memory of ours; on Linux, PRIO_PROCESS with a thread id sets that
    // thread's nice value.
    unsafe {
        let tid = libc::gettid();
        if libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19) != 0 {
            tracing::debug!("the shadow thread keeps its priority (setpriority failed)");
        }
    }
}

impl Drop for Shadow {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
    }
}

impl Shadow {
    /// Starts the shadow thread over `engine` (the candidate), taking a
    /// `rate` share (0 to 1) of requests.
    pub fn start(engine: Interpreted, rate: f64) -> std::io::Result<Shadow> {
        let info = engine.info().clone();
        let counts = Arc::new(Counts::default());
        let queue = Arc::new(Mutex::new(Queue::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (worker, jobs, stopped) = (counts.clone(), queue.clone(), stop.clone());
        std::thread::Builder::new()
            .name("forest-shadow".into())
            .spawn(move || {
                lowest_priority();
                let k = engine.info().n_classes();
                let mut taken = Queue::default();
                let mut out = Vec::new();
                while !stopped.load(Relaxed) {
                    std::thread::sleep(TICK);
                    std::mem::swap(
                        &mut taken,
                        &mut jobs.lock().unwrap_or_else(|e| e.into_inner()),
                    );
                    if taken.baskets.is_empty() {
                        continue;
                    }
                    let start = Instant::now();
                    out.clear();
                    out.resize(taken.baskets.len() * k, 0.0);
                    if engine.predict_baskets(&taken.baskets, &mut out).is_ok() {
                        // One observation per batch: its time per basket.
                        worker
                            .latency
                            .record(start.elapsed() / taken.baskets.len() as u32);
                        for (p, &served) in out.chunks_exact(k).zip(&taken.served) {
                            if argmax(p) == served {
                                worker.agree.fetch_add(1, Relaxed);
                            } else {
                                worker.disagree.fetch_add(1, Relaxed);
                            }
                        }
                    } else {
                        worker.errors.fetch_add(1, Relaxed);
                    }
                    taken.baskets.clear();
                    taken.served.clear();
                }
            })?;
        Ok(Shadow {
            info,
            rate: rate.clamp(0.0, 1.0),
            requests: AtomicU64::new(0),
            queue,
            counts,
            stop,
        })
    }

    /// The candidate.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Whether this request is in the sample.
    pub fn sampled(&self) -> bool {
        let i = self.requests.fetch_add(1, Relaxed) as f64;
        ((i + 1.0) * self.rate).floor() > (i * self.rate).floor()
    }

    /// Hands a sampled request's baskets and the served model's classes to
    /// the shadow thread, or drops them when it is behind.
    pub fn offer(&self, baskets: &[Basket], served: impl Iterator<Item = usize>) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if q.baskets.len() + baskets.len() > QUEUE {
            drop(q);
            self.counts.dropped.fetch_add(1, Relaxed);
            return;
        }
        q.baskets.extend_from_slice(baskets);
        q.served.extend(served);
    }

    /// Baskets compared so far, and how many of them agreed.
    pub fn agreement(&self) -> (u64, u64) {
        let agree = self.counts.agree.load(Relaxed);
        (agree + self.counts.disagree.load(Relaxed), agree)
    }

    /// The Prometheus lines of the shadow.
    pub fn render_prometheus(&self, w: &mut String) {
        let c = &self.counts;
        let (total, agree) = self.agreement();
        let _ = writeln!(
            w,
            "# HELP forest_shadow_predictions_total Baskets the shadow model answered, by whether its most probable class agreed with the served model's.\n\
             # TYPE forest_shadow_predictions_total counter\n\
             forest_shadow_predictions_total{{agree=\"true\"}} {agree}\n\
             forest_shadow_predictions_total{{agree=\"false\"}} {}\n\
             # HELP forest_shadow_agreement_ratio Share of shadow baskets whose class agreed with the served model's.\n\
             # TYPE forest_shadow_agreement_ratio gauge\n\
             forest_shadow_agreement_ratio {}\n\
             # HELP forest_shadow_dropped_total Sampled requests dropped because the shadow was behind.\n\
             # TYPE forest_shadow_dropped_total counter\n\
             forest_shadow_dropped_total {}\n\
             # HELP forest_shadow_errors_total Batches the shadow model could not answer.\n\
             # TYPE forest_shadow_errors_total counter\n\
             forest_shadow_errors_total {}",
            total - agree,
            if total == 0 {
                f64::NAN
            } else {
                agree as f64 / total as f64
            },
            c.dropped.load(Relaxed),
            c.errors.load(Relaxed),
        );
        let _ = writeln!(
            w,
            "# HELP forest_shadow_duration_seconds The shadow model's time per basket (each batch it takes from its queue, every 2 ms, over its baskets).\n\
             # TYPE forest_shadow_duration_seconds histogram"
        );
        let version = format!("version=\"{}\"", escape_label(&self.info.version));
        c.latency
            .render_prometheus(w, "forest_shadow_duration_seconds", &version);
    }
}
