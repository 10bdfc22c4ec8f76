//! The floor for `benches/serve_vs_hello.sh`: a hyper hello-world on exactly
//! forest-serve's HTTP stack (the same connection loop, HTTP/1.1 settings,
//! runtime and flags), which reads the request body and answers a fixed
//! small JSON object. Whatever `/predict` costs beyond this is the
//! server's own work: JSON, validation, the model, metrics.
//!
//! `cargo run --release -p forest-serve --example hello -- --addr 127.0.0.1:8081`

use std::sync::Arc;

use bytes::Bytes;
use clap::Parser;
use forest_serve::Config;
use forest_serve::{serve, Handler, HttpSettings};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response};

struct Hello;

impl Handler for Hello {
    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let _ = req.into_body().collect().await;
        let mut r = Response::new(Full::new(Bytes::from_static(br#"{"hello":"world"}"#)));
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r
    }
}

fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if config.workers > 0 {
        runtime.worker_threads(config.workers);
    }
    runtime.enable_all().build()?.block_on(async {
        let listener = forest_serve::bind(&config).await?;
        println!("hello listening on {}", listener.local_addr()?);
        let settings = HttpSettings::from_config(&config);
        serve(listener, Arc::new(Hello), settings, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
        Ok(())
    })
}
