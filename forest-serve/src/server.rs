//! The connection loop, shared by the real server and the hello-world of
//! the benchmark so that both run exactly the same HTTP stack: HTTP/1.1
//! connections from hyper, `TCP_NODELAY`, a header read timeout,
//! keep-alive, one task per connection on the tokio runtime.
//!
//! Shutdown, in order, once the `shutdown` future completes:
//!
//! 1. connections the kernel already accepted are taken from the backlog,
//!    then the listener is closed, so new connections are refused;
//! 2. the handler is told ([`Handler::begin_drain`]): `/ready` answers 503
//!    and every response carries `Connection: close`;
//! 3. clients with an idle keep-alive connection get up to
//!    [`IDLE_GRACE`] to send one more request, answered with
//!    `Connection: close` (closing an idle connection at once races with a
//!    request already on the wire, which the client would see as a
//!    failure);
//! 4. every connection still open is shut down gracefully (idle ones at
//!    once, busy ones after their current response), waiting at most until
//!    the drain timeout since step 1.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// How long idle keep-alive connections may stay open once draining, at
/// most (and never past the drain timeout).
pub const IDLE_GRACE: Duration = Duration::from_millis(1000);

/// Answers requests.
pub trait Handler: Send + Sync + 'static {
    /// The response to one request.
    fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> impl Future<Output = Response<Full<Bytes>>> + Send;

    /// Called once when shutdown starts.
    fn begin_drain(&self) {}
}

/// HTTP settings of every connection.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// `None` or zero: no timeout.
    pub header_read_timeout: Option<Duration>,
    /// Whether connections stay open between requests.
    pub keep_alive: bool,
    /// How long the drain may take at most.
    pub drain_timeout: Duration,
}

impl HttpSettings {
    /// The settings a configuration asks for.
    pub fn from_config(config: &crate::Config) -> HttpSettings {
        HttpSettings {
            header_read_timeout: Some(config.header_read_timeout()),
            keep_alive: config.keep_alive,
            drain_timeout: config.drain_timeout(),
        }
    }

    fn builder(&self) -> http1::Builder {
        let mut b = http1::Builder::new();
        b.timer(TokioTimer::new()).keep_alive(self.keep_alive);
        match self.header_read_timeout {
            Some(t) if !t.is_zero() => b.header_read_timeout(t),
            _ => b.header_read_timeout(None),
        };
        b
    }
}

/// How shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainReport {
    /// Connections served in all.
    pub connections: u64,
    /// Connections still open when the drain timeout ran out.
    pub cut: usize,
}

/// Serves connections from `listener` until `shutdown` completes, then
/// drains as the module docs describe.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    settings: HttpSettings,
    shutdown: impl Future<Output = ()>,
) -> DrainReport {
    let http = settings.builder();
    let graceful = GracefulShutdown::new();
    let mut connections = 0u64;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections += 1;
                    spawn_connection(&http, &graceful, &handler, stream);
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off rather
                    // than spin, and keep serving the open connections.
                    tracing::error!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }

    let started = Instant::now();
    let deadline = started + settings.drain_timeout;
    // Connections the kernel completed before the listener closes are
    // clients that think they are connected: serve them too.
    while let Ok(Ok((stream, _))) = tokio::time::timeout(Duration::ZERO, listener.accept()).await {
        connections += 1;
        spawn_connection(&http, &graceful, &handler, stream);
    }
    drop(listener);
    // Only now, so that a client told `Connection: close` finds the port
    // closed when it reconnects, rather than a backlog about to be reset.
    handler.begin_drain();
    let open = graceful.count();
    tracing::info!(
        open_connections = open,
        drain_timeout_secs = settings.drain_timeout.as_secs_f64(),
        "draining: listener closed"
    );

    let idle_deadline = (started + IDLE_GRACE).min(deadline);
    while graceful.count() > 0 && Instant::now() < idle_deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let remaining = graceful.count();
    let cut = match tokio::time::timeout_at(deadline, graceful.shutdown()).await {
        Ok(()) => 0,
        Err(_) => remaining,
    };
    DrainReport { connections, cut }
}

/// Serves one connection over any byte stream (a TCP socket, or an
/// in-memory pipe in the fuzz target and tests) with the server's HTTP
/// settings, until the client closes it or it fails; what a TCP
/// connection of [`serve`] runs, without the drain.
pub async fn serve_connection<H, S>(
    stream: S,
    handler: Arc<H>,
    settings: &HttpSettings,
) -> Result<(), hyper::Error>
where
    H: Handler,
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(handler.handle(req).await) }
    });
    settings
        .builder()
        .serve_connection(TokioIo::new(stream), service)
        .await
}

fn spawn_connection<H: Handler>(
    http: &http1::Builder,
    graceful: &GracefulShutdown,
    handler: &Arc<H>,
    stream: TcpStream,
) {
    // Answers are small and written at once: do not wait for Nagle.
    let _ = stream.set_nodelay(true);
    let handler = handler.clone();
    let service = service_fn(move |req| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(handler.handle(req).await) }
    });
    let conn = http.serve_connection(TokioIo::new(stream), service);
    let conn = graceful.watch(conn);
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            // Timeouts, resets and malformed requests: the client's doing.
            tracing::debug!(error = %e, "connection ended with an error");
        }
    });
}
