//! `forest-serve`: the price-sensitivity model over HTTP, on hyper and tokio
//! with no web framework, so that a prediction costs little more than the
//! HTTP exchange around it.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use forest_serve::{load_engine, start, Config};
//! use clap::Parser;
//!
//! // The approved model compiled in (or `--model FILE`), on a free port.
//! let config = Config::parse_from(["forest-serve", "--addr", "127.0.0.1:0"]);
//! let engine = load_engine(&config)?;
//! let server = start(config, engine).await?;
//! println!("POST http://{}/predict", server.addr);
//! server.stop().await; // drains in-flight requests, as SIGTERM does
//! # Ok(())
//! # }
//! ```
//!
//! Inside (private modules, the public surface is re-exported here):
//!
//! - `engine`: the [`Engine`] trait and its implementations, [`Compiled`]
//!   (the approved model built in, feature `compiled`) and [`Interpreted`]
//!   (any `.forest` artifact through forest-core's interpreter);
//! - `route`: paths to routes; `app`: the handler ([`App`]: limits,
//!   content types, the routes); `api`: `/predict` bodies
//!   ([`parse_predict`]), validation and the JSON error shape ([`ApiError`]),
//!   with `fastjson`, the allocation-free reader for the common body shape
//!   ([`parse_predict_fast`], which answers only what serde answers,
//!   [`parse_predict_serde`]); `v2`: the Open Inference Protocol (KServe V2)
//!   with Triton's binary tensor data extension ([`parse_infer`]);
//! - `metrics`: Prometheus counters and the CloudWatch embedded-metric
//!   records; `openapi`: the OpenAPI 3.1 document (its static part in
//!   `src/openapi.json`, the basket schema from forest-core's field tables)
//!   and the `/docs` page;
//! - `server`: the connection loop and the drain on shutdown ([`serve`],
//!   [`serve_connection`]), shared with the hello-world of the benchmark
//!   (`examples/hello.rs`).
//!
//! The key decision: the body reader and the engine are on the hot path, so
//! each has a fast implementation held to a reference (the fast reader to
//! serde, the compiled model to the interpreter) by property tests and
//! fuzzing, rather than a framework's extractor and a boxed model.
//!
//! [`start`] runs a server on the current tokio runtime and hands back its
//! address, which is how the tests run one on port 0.

#![warn(missing_docs)]

mod api;
mod app;
mod config;
mod drift;
mod engine;
mod fastjson;
mod metrics;
mod openapi;
mod route;
mod server;
mod shadow;
mod v2;

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

pub use api::{parse_predict, parse_predict_serde, with_predict, ApiError, PredictRequest};
pub use app::App;
pub use config::Config;
pub use drift::{DriftMonitor, DriftReport, FeatureDrift, PSI_ALERT};
#[cfg(feature = "compiled")]
pub use engine::Compiled;
pub use engine::{Engine, EngineError, Interpreted, ModelInfo};
pub use fastjson::{parse as parse_predict_fast, parse_into as parse_predict_fast_into, Fast};
pub use openapi::example_basket;
pub use server::{serve, serve_connection, DrainReport, Handler, HttpSettings};
pub use shadow::Shadow;
pub use v2::{parse_infer, split_body, Batch as InferBatch, Parsed as InferRequest};

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The engine the configuration asks for: `--model FILE` through the
/// interpreter, otherwise the compiled approved model.
pub fn load_engine(config: &Config) -> Result<Arc<dyn Engine>, EngineError> {
    match &config.model {
        Some(path) => Ok(Arc::new(Interpreted::load(path, &config.model_name)?)),
        #[cfg(feature = "compiled")]
        None => Ok(Arc::new(engine::Compiled::new(&config.model_name)?)),
        #[cfg(not(feature = "compiled"))]
        None => Err(EngineError::NoModel),
    }
}

/// The candidate model of `--shadow`, loaded and checked (a broken
/// artifact is refused here, at start) and its thread started; `None`
/// without `--shadow` or with a rate of 0.
pub fn load_shadow(config: &Config) -> Result<Option<Shadow>, EngineError> {
    let Some(path) = &config.shadow else {
        return Ok(None);
    };
    let engine = Interpreted::load(path, &format!("{}-shadow", config.model_name))?;
    if config.shadow_rate == 0.0 {
        return Ok(None);
    }
    Shadow::start(engine, config.shadow_rate)
        .map(Some)
        .map_err(|error| EngineError::Read {
            path: path.clone(),
            error,
        })
}

/// Why [`start`] could not serve.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The shadow model could not be loaded.
    #[error(transparent)]
    Shadow(#[from] EngineError),
    /// The address could not be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
}

/// The listening socket could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {error}")]
pub struct BindError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// What the operating system said.
    pub error: std::io::Error,
}

/// Binds the configured address.
pub async fn bind(config: &Config) -> Result<TcpListener, BindError> {
    TcpListener::bind(config.addr)
        .await
        .map_err(|error| BindError {
            addr: config.addr,
            error,
        })
}

/// Serves until `shutdown` completes, then drains (see [`serve`]); EMF
/// records go to stdout every `--emf-interval-secs`, and once more at the
/// end for the last partial interval.
pub async fn run(
    listener: TcpListener,
    engine: Arc<dyn Engine>,
    shadow: Option<Shadow>,
    config: &Config,
    shutdown: impl Future<Output = ()>,
) -> DrainReport {
    let app = Arc::new(App::new(engine, shadow, config));
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
                let mut records = reporter.records(&app.metrics, app.engine().info());
                if let Some(d) = &app.drift {
                    records.extend(d.emf_record(
                        &namespace,
                        "forest-serve",
                        &app.engine().info().version,
                    ));
                }
                write_records(&records);
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
    /// Where it listens.
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

/// Binds `config.addr` (port 0 picks a free port) and serves `engine` (and
/// the `--shadow` model, if any) on the current runtime until
/// [`Running::stop`].
pub async fn start(config: Config, engine: Arc<dyn Engine>) -> Result<Running, StartError> {
    let shadow = load_shadow(&config)?;
    let listener = bind(&config).await?;
    let addr = listener.local_addr().map_err(|error| BindError {
        addr: config.addr,
        error,
    })?;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        run(listener, engine, shadow, &config, async {
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
