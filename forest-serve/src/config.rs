//! Configuration: every setting is a flag and an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "forest-serve",
    version,
    about = "Serves the price-sensitivity model over HTTP: /predict, probes, metrics, docs and the Open Inference Protocol (KServe V2)."
)]
/// The server's settings: command-line flags, each with an environment
/// variable.
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "FOREST_ADDR", default_value = "0.0.0.0:8080")]
    pub addr: SocketAddr,

    /// Serve this .forest artifact through the interpreter instead of the
    /// compiled model.
    #[arg(long, env = "FOREST_SERVE_MODEL", value_name = "FILE")]
    pub model: Option<PathBuf>,

    /// The model's name on the Open Inference Protocol routes
    /// (/v2/models/{name}).
    #[arg(long, env = "FOREST_MODEL_NAME", default_value = "price-sensitivity")]
    pub model_name: String,

    /// Tokio worker threads (0: one per core).
    #[arg(long, env = "FOREST_WORKERS", default_value_t = 0)]
    pub workers: usize,

    /// Largest request body accepted, in bytes (413 beyond it; enforced
    /// while reading).
    #[arg(long, env = "FOREST_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,

    /// Most baskets (or feature rows) in one request.
    #[arg(long, env = "FOREST_MAX_BATCH", default_value_t = 1000)]
    pub max_batch: usize,

    /// Seconds a client has to send a request's headers; an idle keep-alive
    /// connection is closed after the same time (0: no limit).
    #[arg(long, env = "FOREST_HEADER_READ_TIMEOUT_SECS", default_value_t = 30.0, value_parser = parse_secs)]
    pub header_read_timeout_secs: f64,

    /// Seconds a client has to send a request's body once its headers are
    /// in (408 beyond it; 0: no limit).
    #[arg(long, env = "FOREST_BODY_READ_TIMEOUT_SECS", default_value_t = 30.0, value_parser = parse_secs)]
    pub body_read_timeout_secs: f64,

    /// Keep connections open between requests (HTTP/1.1 keep-alive).
    #[arg(long, env = "FOREST_KEEP_ALIVE", default_value_t = true, action = clap::ArgAction::Set)]
    pub keep_alive: bool,

    /// Log filter: error, warn, info, debug, trace, or a tracing directive.
    #[arg(long, env = "FOREST_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// On SIGTERM or Ctrl-C, how long in-flight requests may take to finish.
    #[arg(long, env = "FOREST_DRAIN_TIMEOUT_SECS", default_value_t = 25.0, value_parser = parse_secs)]
    pub drain_timeout_secs: f64,

    /// Seconds between CloudWatch embedded-metric-format records on stdout
    /// (0: none).
    #[arg(long, env = "FOREST_EMF_INTERVAL_SECS", default_value_t = 60.0, value_parser = parse_secs)]
    pub emf_interval_secs: f64,

    /// CloudWatch namespace of the EMF records.
    #[arg(long, env = "FOREST_EMF_NAMESPACE", default_value = "Forest/Serve")]
    pub emf_namespace: String,

    /// Rows in the drift window: the population stability index of each
    /// feature is computed over about this many recent rows (0: drift off;
    /// also off for a model without a training distribution).
    #[arg(long, env = "FOREST_DRIFT_WINDOW", default_value_t = 10_000)]
    pub drift_window: u64,

    /// Count one row in this many for drift (1: every row).
    #[arg(long, env = "FOREST_DRIFT_SAMPLE_EVERY", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub drift_sample_every: u64,

    /// A candidate .forest artifact that answers a sample of the baskets
    /// beside the served model, through the interpreter, off the response
    /// path; agreement and latency go to /metrics.
    #[arg(long, env = "FOREST_SHADOW_MODEL", value_name = "FILE")]
    pub shadow: Option<PathBuf>,

    /// Share of /predict and V2 basket requests the shadow model answers
    /// (0 to 1).
    #[arg(long, env = "FOREST_SHADOW_RATE", default_value_t = 0.1, value_parser = parse_rate)]
    pub shadow_rate: f64,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a share between 0 and 1")),
    }
}

fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=86_400.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "`{s}` is not a number of seconds between 0 and 86400"
        )),
    }
}

impl Config {
    /// The settings with every default, listening on `addr`.
    pub fn with_addr(addr: SocketAddr) -> Config {
        let mut config = Config::parse_from(["forest-serve"]);
        config.addr = addr;
        config
    }

    /// How long a client may take to send the request headers.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.header_read_timeout_secs)
    }

    /// How long a client may take to send the body (`None`: no limit).
    pub fn body_read_timeout(&self) -> Option<Duration> {
        (self.body_read_timeout_secs > 0.0)
            .then(|| Duration::from_secs_f64(self.body_read_timeout_secs))
    }

    /// How long the drain on shutdown may take at most.
    pub fn drain_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.drain_timeout_secs)
    }

    /// How often EMF records are written (`None`: never).
    pub fn emf_interval(&self) -> Option<Duration> {
        (self.emf_interval_secs > 0.0).then(|| Duration::from_secs_f64(self.emf_interval_secs))
    }
}
