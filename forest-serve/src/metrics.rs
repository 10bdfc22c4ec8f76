//! Request metrics: lock-free counters shared by every worker, rendered as
//! Prometheus text on `/metrics` and summarised per interval as CloudWatch
//! embedded-metric-format (EMF) records on stdout.
//!
//! Latency goes into one log-linear histogram per route (16 buckets per
//! power of two of nanoseconds, so any quantile read from it is within
//! 6.25% of the truth). Prometheus gets its cumulative buckets at the
//! powers of two, which are exact bucket edges; the EMF task keeps the
//! previous snapshot and reports the difference, so both views come from
//! the same counters and a request costs a handful of relaxed atomic adds.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::engine::ModelInfo;
use crate::route::Route;

const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Latencies are clamped to 2^40 ns (about 18 minutes).
const MAX_EXP: u32 = 40;
const N_BUCKETS: usize = (MAX_EXP - SUB_BITS + 1) as usize * SUB;
/// Prometheus `le` edges: 2^13 ns (8.2 us) to 2^35 ns (34 s).
const PROM_EXPS: std::ops::RangeInclusive<u32> = 13..=35;

/// The status codes counted one by one; anything else is `other`.
const STATUSES: [u16; 11] = [200, 400, 404, 405, 408, 413, 415, 422, 500, 503, 0];

fn status_index(status: u16) -> usize {
    STATUSES
        .iter()
        .position(|&s| s == status)
        .unwrap_or(STATUSES.len() - 1)
}

fn bucket_of(ns: u64) -> usize {
    let v = ns.min((1u64 << MAX_EXP) - 1);
    if v < SUB as u64 {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros();
    let shift = msb - SUB_BITS;
    (shift as usize + 1) * SUB + ((v >> shift) as usize & (SUB - 1))
}

/// Exclusive upper edge of a bucket, in ns.
fn bucket_upper(i: usize) -> u64 {
    if i < SUB {
        return i as u64 + 1;
    }
    let shift = (i / SUB - 1) as u32;
    ((SUB + i % SUB) as u64 + 1) << shift
}

/// A log-linear latency histogram (see the module's header), lock-free.
pub(crate) struct LatencyHistogram {
    buckets: Box<[AtomicU64]>,
    sum_ns: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            buckets: (0..N_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
        }
    }
}

impl LatencyHistogram {
    /// Counts one latency; returns it in ns.
    pub(crate) fn record(&self, latency: Duration) -> u64 {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(ns)].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
        ns
    }

    /// The Prometheus histogram `name` with the extra `labels` (`k="v"`
    /// pairs, comma-separated); nothing before the first observation.
    pub(crate) fn render_prometheus(&self, w: &mut String, name: &str, labels: &str) {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return;
        }
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0u64;
        let mut next = 0usize;
        for exp in PROM_EXPS {
            let edge = 1u64 << exp;
            while next < counts.len() && bucket_upper(next) <= edge {
                cumulative += counts[next];
                next += 1;
            }
            let le = edge as f64 / 1e9;
            let _ = writeln!(
                w,
                "{name}_bucket{{{labels}{sep}le=\"{le:e}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            w,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {total}\n\
             {name}_sum{{{labels}}} {}\n\
             {name}_count{{{labels}}} {total}",
            self.sum_ns.load(Relaxed) as f64 / 1e9
        );
    }
}

struct RouteMetrics {
    by_status: [AtomicU64; STATUSES.len()],
    latency: LatencyHistogram,
    /// Largest latency since the EMF task last looked.
    interval_max_ns: AtomicU64,
}

impl RouteMetrics {
    fn new() -> Self {
        RouteMetrics {
            by_status: std::array::from_fn(|_| AtomicU64::new(0)),
            latency: LatencyHistogram::default(),
            interval_max_ns: AtomicU64::new(0),
        }
    }
}

/// Every counter of the server.
pub struct Metrics {
    routes: Vec<RouteMetrics>,
    predictions: Vec<AtomicU64>,
    in_flight: AtomicI64,
    started: SystemTime,
}

/// Decrements the in-flight gauge when the request ends, however it ends.
pub struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

impl Metrics {
    pub fn new(n_classes: usize) -> Metrics {
        Metrics {
            routes: Route::ALL.iter().map(|_| RouteMetrics::new()).collect(),
            predictions: (0..n_classes).map(|_| AtomicU64::new(0)).collect(),
            in_flight: AtomicI64::new(0),
            started: SystemTime::now(),
        }
    }

    pub fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Relaxed);
        InFlight(&self.in_flight)
    }

    pub fn observe(&self, route: Route, status: u16, latency: Duration) {
        let m = &self.routes[route as usize];
        m.by_status[status_index(status)].fetch_add(1, Relaxed);
        let ns = m.latency.record(latency);
        m.interval_max_ns.fetch_max(ns, Relaxed);
    }

    pub fn predicted(&self, class: usize) {
        if let Some(c) = self.predictions.get(class) {
            c.fetch_add(1, Relaxed);
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    /// `shadow` is the candidate model beside the served one, if any: its
    /// version goes into `forest_model_info`.
    pub fn render_prometheus(
        &self,
        info: &ModelInfo,
        shadow: Option<&ModelInfo>,
        ready: bool,
    ) -> String {
        let mut out = String::with_capacity(8192);
        let w = &mut out;
        let _ = writeln!(
            w,
            "# HELP forest_http_requests_total HTTP requests answered, by route and status.\n\
             # TYPE forest_http_requests_total counter"
        );
        for route in Route::ALL {
            let m = &self.routes[route as usize];
            for (i, c) in m.by_status.iter().enumerate() {
                let n = c.load(Relaxed);
                if n > 0 {
                    let status = match STATUSES[i] {
                        0 => "other".to_string(),
                        s => s.to_string(),
                    };
                    let _ = writeln!(
                        w,
                        "forest_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                        route.label()
                    );
                }
            }
        }
        let _ = writeln!(
            w,
            "# HELP forest_http_request_duration_seconds Time from request head to response, by route.\n\
             # TYPE forest_http_request_duration_seconds histogram"
        );
        for route in Route::ALL {
            let label = format!("route=\"{}\"", route.label());
            self.routes[route as usize].latency.render_prometheus(
                w,
                "forest_http_request_duration_seconds",
                &label,
            );
        }
        let _ = writeln!(
            w,
            "# HELP forest_predictions_total Baskets and rows predicted, by most probable class.\n\
             # TYPE forest_predictions_total counter"
        );
        for (class, c) in info.classes.iter().zip(&self.predictions) {
            let _ = writeln!(
                w,
                "forest_predictions_total{{class=\"{}\",price_sensitivity=\"{}\"}} {}",
                escape_label(class),
                escape_label(forest_core::class_level(class)),
                c.load(Relaxed)
            );
        }
        let _ = writeln!(
            w,
            "# HELP forest_http_requests_in_flight Requests being handled now.\n\
             # TYPE forest_http_requests_in_flight gauge\n\
             forest_http_requests_in_flight {}\n\
             # HELP forest_model_info The model being served (always 1).\n\
             # TYPE forest_model_info gauge\n\
             forest_model_info{{name=\"{}\",version=\"{}\",engine=\"{}\",n_trees=\"{}\",classes=\"{}\",content_hash=\"{}\"{}}} 1\n\
             # HELP forest_ready Whether the server takes traffic (0 while draining).\n\
             # TYPE forest_ready gauge\n\
             forest_ready {}\n\
             # HELP process_start_time_seconds Start time of the process since the Unix epoch.\n\
             # TYPE process_start_time_seconds gauge\n\
             process_start_time_seconds {}",
            self.in_flight.load(Relaxed),
            escape_label(&info.name),
            escape_label(&info.version),
            info.engine,
            info.n_trees,
            escape_label(&info.classes.join(",")),
            info.content_hash,
            shadow.map_or(String::new(), |s| format!(
                ",shadow_version=\"{}\"",
                escape_label(&s.version)
            )),
            u8::from(ready),
            self.started
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64()
        );
        out
    }
}

pub(crate) fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Turns the cumulative counters into per-interval EMF records. Owned by
/// the one task that emits them.
pub struct EmfReporter {
    namespace: String,
    service: String,
    last_buckets: Vec<Vec<u64>>,
    last_status: Vec<[u64; STATUSES.len()]>,
    last_predictions: Vec<u64>,
}

impl EmfReporter {
    pub fn new(metrics: &Metrics, namespace: &str, service: &str) -> EmfReporter {
        EmfReporter {
            namespace: namespace.to_string(),
            service: service.to_string(),
            last_buckets: metrics.routes.iter().map(|_| vec![0; N_BUCKETS]).collect(),
            last_status: metrics.routes.iter().map(|_| [0; STATUSES.len()]).collect(),
            last_predictions: vec![0; metrics.predictions.len()],
        }
    }

    /// The records for the interval since the previous call: one per route
    /// that saw traffic, and one for the predictions by class when there
    /// were any. Routes without traffic produce nothing.
    pub fn records(&mut self, metrics: &Metrics, info: &ModelInfo) -> Vec<Value> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let mut records = Vec::new();
        for route in Route::ALL {
            let m = &metrics.routes[route as usize];
            let i = route as usize;
            let mut delta = vec![0u64; N_BUCKETS];
            for (j, b) in m.latency.buckets.iter().enumerate() {
                let now = b.load(Relaxed);
                delta[j] = now.saturating_sub(self.last_buckets[i][j]);
                self.last_buckets[i][j] = now;
            }
            let mut status_delta = [0u64; STATUSES.len()];
            for (j, c) in m.by_status.iter().enumerate() {
                let now = c.load(Relaxed);
                status_delta[j] = now.saturating_sub(self.last_status[i][j]);
                self.last_status[i][j] = now;
            }
            let max_ns = m.interval_max_ns.swap(0, Relaxed);
            let count: u64 = delta.iter().sum();
            if count == 0 {
                continue;
            }
            // A bucket edge can lie above the largest value seen.
            let cap = if max_ns > 0 { max_ns } else { u64::MAX };
            let us = |ns: u64| (ns.min(cap) as f64 / 1e3 * 10.0).round() / 10.0;
            let client_errors: u64 = STATUSES
                .iter()
                .zip(status_delta)
                .filter(|(s, _)| (400..500).contains(*s))
                .map(|(_, n)| n)
                .sum();
            let server_errors: u64 = STATUSES
                .iter()
                .zip(status_delta)
                .filter(|(s, _)| (500..600).contains(*s))
                .map(|(_, n)| n)
                .sum();
            records.push(json!({
                "_aws": {
                    "Timestamp": now_ms,
                    "CloudWatchMetrics": [{
                        "Namespace": self.namespace,
                        "Dimensions": [["Service", "Route"]],
                        "Metrics": [
                            {"Name": "LatencyP50", "Unit": "Microseconds"},
                            {"Name": "LatencyP99", "Unit": "Microseconds"},
                            {"Name": "LatencyMax", "Unit": "Microseconds"},
                            {"Name": "Requests", "Unit": "Count"},
                            {"Name": "ClientErrors", "Unit": "Count"},
                            {"Name": "ServerErrors", "Unit": "Count"},
                        ],
                    }],
                },
                "Service": self.service,
                "Route": route.label(),
                "ModelVersion": info.version,
                "LatencyP50": us(quantile(&delta, count, 0.50)),
                "LatencyP99": us(quantile(&delta, count, 0.99)),
                "LatencyMax": us(max_ns),
                "Requests": count,
                "ClientErrors": client_errors,
                "ServerErrors": server_errors,
            }));
        }
        let mut by_class = Map::new();
        let mut total = 0;
        for (c, class) in info.classes.iter().enumerate() {
            let now = metrics.predictions[c].load(Relaxed);
            let n = now.saturating_sub(self.last_predictions[c]);
            self.last_predictions[c] = now;
            total += n;
            by_class.insert(format!("Predictions_{class}"), n.into());
        }
        if total > 0 {
            let mut names: Vec<Value> = vec![json!({"Name": "Predictions", "Unit": "Count"})];
            names.extend(by_class.keys().map(|k| json!({"Name": k, "Unit": "Count"})));
            let mut record = json!({
                "_aws": {
                    "Timestamp": now_ms,
                    "CloudWatchMetrics": [{
                        "Namespace": self.namespace,
                        "Dimensions": [["Service"]],
                        "Metrics": names,
                    }],
                },
                "Service": self.service,
                "ModelVersion": info.version,
                "Predictions": total,
            });
            if let Value::Object(o) = &mut record {
                o.extend(by_class);
            }
            records.push(record);
        }
        records
    }
}

/// The upper edge (ns) of the bucket holding the `q` quantile.
fn quantile(counts: &[u64], total: u64, q: f64) -> u64 {
    let rank = ((q * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (i, &c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return bucket_upper(i);
        }
    }
    bucket_upper(counts.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        let mut prev_upper = 0;
        for i in 0..N_BUCKETS {
            let upper = bucket_upper(i);
            assert!(upper > prev_upper);
            // The lowest value of bucket i is the previous upper edge.
            assert_eq!(bucket_of(prev_upper), i, "bucket {i}");
            assert_eq!(bucket_of(upper - 1), i);
            if i >= SUB {
                assert!((upper - prev_upper) as f64 / prev_upper as f64 <= 1.0 / 16.0 + 1e-12);
            }
            prev_upper = upper;
        }
        for exp in PROM_EXPS {
            assert!((0..N_BUCKETS).any(|i| bucket_upper(i) == 1 << exp));
        }
        assert_eq!(bucket_of(u64::MAX), N_BUCKETS - 1);
    }

    #[test]
    fn quantiles_come_from_the_interval() {
        let m = Metrics::new(3);
        for us in 1..=100u64 {
            m.observe(Route::Predict, 200, Duration::from_micros(us));
        }
        m.observe(Route::Predict, 422, Duration::from_micros(50));
        let info = ModelInfo {
            name: "forest".into(),
            version: "v1".into(),
            classes: vec!["LA".into(), "MM".into(), "UM".into()],
            feature_names: vec![],
            n_trees: 1,
            engine: "interpreted",
            content_hash: "00".into(),
        };
        m.predicted(2);
        let mut emf = EmfReporter::new(&m, "Forest/Serve", "forest-serve");
        let records = emf.records(&m, &info);
        assert_eq!(records.len(), 2, "{records:?}");
        let r = &records[0];
        assert_eq!(r["Route"], "/predict");
        assert_eq!(r["Requests"], 101);
        assert_eq!(r["ClientErrors"], 1);
        let p50 = r["LatencyP50"].as_f64().unwrap();
        assert!((50.0..=54.0).contains(&p50), "{p50}");
        let p99 = r["LatencyP99"].as_f64().unwrap();
        assert!((99.0..=100.0).contains(&p99), "{p99}");
        assert_eq!(r["LatencyMax"], 100.0);
        assert_eq!(records[1]["Predictions_UM"], 1);
        // The next interval starts from zero.
        assert!(emf.records(&m, &info).is_empty());
        m.observe(Route::Health, 200, Duration::from_micros(3));
        let next = emf.records(&m, &info);
        assert_eq!(next.len(), 1);
        assert_eq!(next[0]["Requests"], 1);
        let text = m.render_prometheus(&info, None, true);
        assert!(text.contains("forest_http_requests_total{route=\"/predict\",status=\"200\"} 100"));
        assert!(text.contains(
            "forest_http_request_duration_seconds_bucket{route=\"/predict\",le=\"+Inf\"} 101"
        ));
        assert!(text.contains("forest_predictions_total{class=\"UM\",price_sensitivity=\"Low\"} 1"));
    }
}
