//! `forest-serve`: see the library docs and `forest-serve --help`.

use std::process::ExitCode;

use clap::Parser;
use forest_serve::Config;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let config = Config::parse();
    let filter = match EnvFilter::try_new(&config.log_level) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("forest-serve: --log-level {}: {e}", config.log_level);
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .init();

    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if config.workers > 0 {
        runtime.worker_threads(config.workers);
    }
    let runtime = match runtime.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "forest-serve failed to start");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let engine = forest_serve::load_engine(&config)?;
    let shadow = forest_serve::load_shadow(&config)?;
    let listener = forest_serve::bind(&config).await?;
    let shutdown = shutdown_signal()?;
    let info = engine.info();
    tracing::info!(
        addr = %listener.local_addr()?,
        engine = info.engine,
        model = %info.name,
        model_version = %info.version,
        content_hash = %info.content_hash,
        n_trees = info.n_trees,
        classes = %info.classes.join(","),
        workers = config.workers,
        max_body_bytes = config.max_body_bytes,
        max_batch = config.max_batch,
        header_read_timeout_secs = config.header_read_timeout_secs,
        body_read_timeout_secs = config.body_read_timeout_secs,
        keep_alive = config.keep_alive,
        drain_timeout_secs = config.drain_timeout_secs,
        emf_interval_secs = config.emf_interval_secs,
        drift = engine.training_distribution().is_some() && config.drift_window > 0,
        shadow_version = shadow.as_ref().map_or("", |s| s.info().version.as_str()),
        shadow_rate = config.shadow_rate,
        "forest-serve listening"
    );
    let report = forest_serve::run(listener, engine, shadow, &config, shutdown).await;
    if report.cut > 0 {
        tracing::warn!(
            cut_connections = report.cut,
            "drain timeout: connections still busy were closed"
        );
    }
    tracing::info!(connections = report.connections, "forest-serve stopped");
    Ok(())
}

/// SIGTERM (Kubernetes, ECS, systemd) or Ctrl-C. The handlers are
/// installed here, before the server says it listens, so that a signal sent
/// as soon as it is up is never the default (fatal) one.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        let signal = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        tracing::info!(signal, "shutdown requested: draining");
    })
}
