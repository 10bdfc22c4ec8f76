//! The shadow model: a candidate artifact (`--shadow FILE`) answers a
//! sampled share of the baskets the served model answers, off the response
//! path, and the server counts how often the two agree on the most probable
//! class.
//!
//! A sampled request hands its baskets and the served model's classes to a
//! bounded queue and goes on; one background thread runs the candidate
//! through the interpreter (so it may read its own features: the candidate
//! encodes the baskets with its own spec). When the queue is full the
//! sample is dropped and counted, never waited for: the shadow can neither
//! change nor delay an answer. Sampling is by request count (request `i` is
//! taken when `floor((i + 1) * rate)` passes an integer), so a rate of 0.1
//! takes exactly one request in ten.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Instant;

use forest_core::{argmax, Basket};

use crate::engine::{Engine, Interpreted, ModelInfo};
use crate::metrics::{escape_label, LatencyHistogram};

/// Samples waiting for the shadow thread at most.
const QUEUE: usize = 1024;

/// One sampled request.
struct Job {
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
    queue: SyncSender<Job>,
    counts: Arc<Counts>,
}

impl Shadow {
    /// Starts the shadow thread over `engine` (the candidate), taking a
    /// `rate` share (0 to 1) of requests.
    pub fn start(engine: Interpreted, rate: f64) -> std::io::Result<Shadow> {
        let info = engine.info().clone();
        let counts = Arc::new(Counts::default());
        let (queue, jobs) = sync_channel::<Job>(QUEUE);
        let worker = counts.clone();
        std::thread::Builder::new()
            .name("forest-shadow".into())
            .spawn(move || {
                let k = engine.info().n_classes();
                let mut out = Vec::new();
                // Ends when the server (the queue's sender) is gone.
                for job in jobs {
                    let start = Instant::now();
                    out.clear();
                    out.resize(job.baskets.len() * k, 0.0);
                    if engine.predict_baskets(&job.baskets, &mut out).is_err() {
                        worker.errors.fetch_add(1, Relaxed);
                        continue;
                    }
                    worker.latency.record(start.elapsed());
                    for (p, &served) in out.chunks_exact(k).zip(&job.served) {
                        if argmax(p) == served {
                            worker.agree.fetch_add(1, Relaxed);
                        } else {
                            worker.disagree.fetch_add(1, Relaxed);
                        }
                    }
                }
            })?;
        Ok(Shadow {
            info,
            rate: rate.clamp(0.0, 1.0),
            requests: AtomicU64::new(0),
            queue,
            counts,
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
    pub fn offer(&self, baskets: &[Basket], served: Vec<usize>) {
        let job = Job {
            baskets: baskets.to_vec(),
            served,
        };
        match self.queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.counts.dropped.fetch_add(1, Relaxed);
            }
        }
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
             # HELP forest_shadow_errors_total Sampled requests the shadow model could not answer.\n\
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
            "# HELP forest_shadow_duration_seconds Time the shadow model took per sampled request.\n\
             # TYPE forest_shadow_duration_seconds histogram"
        );
        let version = format!("version=\"{}\"", escape_label(&self.info.version));
        c.latency
            .render_prometheus(w, "forest_shadow_duration_seconds", &version);
    }
}
