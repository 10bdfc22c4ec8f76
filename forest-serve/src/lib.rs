//! `forest-serve`: the price-sensitivity model over HTTP, on hyper and tokio
//! with no web framework, so that a prediction costs little more than the
//! HTTP exchange around it.
//!
//! - [`engine`]: the [`Engine`] trait and its implementations, the compiled
//!   approved model and the interpreter over a `.forest` artifact;
//! - [`route`]: paths to routes; [`app`]: the handler (limits, content
//!   types, the routes); [`api`]: `/predict` bodies, validation and the
//!   JSON error shape, with [`fastjson`], the allocation-free reader for
//!   the common body shape; [`v2`]: the Open Inference Protocol (KServe V2);
//! - [`metrics`]: Prometheus counters and the CloudWatch embedded-metric
//!   records; [`openapi`]: the OpenAPI 3.1 document and the `/docs` page;
//! - [`server`]: the connection loop and the drain on shutdown, shared with
//!   the hello-world of the benchmark (`examples/hello.rs`).
//!
//! [`start`] runs a server on the current tokio runtime and hands back its
//! address, which is how the tests run one on port 0.

// The OpenAPI document is one large `json!` literal.
#![recursion_limit = "512"]

pub mod api;
pub mod app;
pub mod config;
pub mod engine;
pub mod fastjson;
pub mod metrics;
pub mod openapi;
pub mod route;
pub mod server;
pub mod v2;

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

pub use app::App;
pub use config::Config;
#[cfg(feature = "compiled")]
pub use engine::Compiled;
pub use engine::{Engine, Interpreted, ModelInfo};
pub use server::DrainReport;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The engine the configuration asks for: `--model FILE` through the
/// interpreter, otherwise the compiled approved model.
pub fn load_engine(config: &Config) -> anyhow::Result<Arc<dyn Engine>> {
    match &config.model {
        Some(path) => Ok(Arc::new(Interpreted::load(path, &config.model_name)?)),
        #[cfg(feature = "compiled")]
        None => Ok(Arc::new(engine::Compiled::new(&config.model_name)?)),
        #[cfg(not(feature = "compiled"))]
        None => anyhow::bail!(
            "no compiled model in this build (feature `compiled` off): pass --model FILE (or FOREST_SERVE_MODEL) to serve an artifact"
        ),
    }
}

/// Binds the configured address.
pub async fn bind(config: &Config) -> anyhow::Result<TcpListener> {
    TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))
}

/// Serves until `shutdown` completes, then drains (see [`server`]); EMF
/// records go to stdout every `--emf-interval-secs`, and once more at the
/// end for the last partial interval.
pub async fn run(
    listener: TcpListener,
    engine: Arc<dyn Engine>,
    config: &Config,
    shutdown: impl Future<Output = ()>,
) -> DrainReport {
    let app = Arc::new(App::new(engine, config));
    let emf = config.emf_interval().map(|interval| {
        let app = app.clone();
        let namespace = config.emf_namespace.clone();
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut reporter = metrics::EmfReporter::new(&app.metrics, &namespace, "forest-serve");
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                let last = tokio::select! {
                    _ = tick.tick() => false,
                    _ = &mut stop_rx => true,
                };
                write_records(&reporter.records(&app.metrics, app.engine().info()));
                if last {
                    break;
                }
            }
        });
        (stop_tx, task)
    });
    let settings = server::HttpSettings::from_config(config);
    let report = server::serve(listener, app, settings, shutdown).await;
    if let Some((stop, task)) = emf {
        let _ = stop.send(());
        let _ = task.await;
    }
    report
}

/// One JSON object per line, each in a single write so that lines from the
/// log and from the records never interleave.
fn write_records(records: &[serde_json::Value]) {
    if records.is_empty() {
        return;
    }
    let mut buf = Vec::with_capacity(1024 * records.len());
    for r in records {
        if serde_json::to_writer(&mut buf, r).is_ok() {
            buf.push(b'\n');
        }
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&buf);
    let _ = out.flush();
}

/// A server running on the current runtime.
pub struct Running {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<DrainReport>,
}

impl Running {
    /// Starts the drain, as SIGTERM would.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Starts the drain and waits for it to end.
    pub async fn stop(mut self) -> DrainReport {
        self.begin_shutdown();
        self.task.await.unwrap_or(DrainReport {
            connections: 0,
            cut: usize::MAX,
        })
    }
}

/// Binds `config.addr` (port 0 picks a free port) and serves `engine` on
/// the current runtime until [`Running::stop`].
pub async fn start(config: Config, engine: Arc<dyn Engine>) -> anyhow::Result<Running> {
    let listener = bind(&config).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        run(listener, engine, &config, async {
            let _ = rx.await;
        })
        .await
    });
    Ok(Running {
        addr,
        shutdown: Some(tx),
        task,
    })
}
