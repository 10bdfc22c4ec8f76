//! The request handler: routing, body limits, content types, the routes
//! themselves, and metrics around each request.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, ALLOW, CACHE_CONTROL, CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE,
};
use hyper::{Request, Response, StatusCode};
use serde_json::json;

use crate::api::{self, ApiError, Prediction, Predictions};
use crate::config::Config;
use crate::drift::DriftMonitor;
use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::route::{ModelPath, Route};
use crate::server::Handler;
use crate::shadow::Shadow;
use crate::v2;

const JSON: &str = "application/json";
const OCTET_STREAM: &str = "application/octet-stream";

/// Everything a request can touch.
pub struct App {
    engine: Arc<dyn Engine>,
    pub(crate) metrics: Metrics,
    pub(crate) drift: Option<DriftMonitor>,
    shadow: Option<Shadow>,
    draining: AtomicBool,
    max_body_bytes: usize,
    max_batch: usize,
    body_read_timeout: Option<Duration>,
    openapi: Bytes,
    docs: Bytes,
}

impl App {
    /// The handler for `engine` under `config`'s limits, with a `shadow`
    /// candidate beside it if one was started ([`crate::load_shadow`]).
    /// Drift is watched when the model carries its training distribution
    /// and `--drift-window` is not 0.
    pub fn new(engine: Arc<dyn Engine>, shadow: Option<Shadow>, config: &Config) -> App {
        let (max_body_bytes, max_batch) = (config.max_body_bytes, config.max_batch);
        let openapi = crate::openapi::document(engine.as_ref(), max_body_bytes, max_batch);
        let docs = crate::openapi::docs_page(&openapi);
        let drift = match (engine.training_distribution(), config.drift_window) {
            (Some(d), window) if window > 0 => DriftMonitor::new(
                engine.info().feature_names.clone(),
                d.to_vec(),
                window,
                config.drift_sample_every,
            ),
            _ => None,
        };
        App {
            metrics: Metrics::new(engine.info().n_classes()),
            drift,
            shadow,
            engine,
            draining: AtomicBool::new(false),
            max_body_bytes,
            max_batch,
            body_read_timeout: config.body_read_timeout(),
            openapi: Bytes::from(serde_json::to_vec_pretty(&openapi).unwrap_or_default()),
            docs: Bytes::from(docs),
        }
    }

    /// The engine it serves.
    pub fn engine(&self) -> &dyn Engine {
        self.engine.as_ref()
    }

    /// Whether it takes traffic (not draining).
    pub fn is_ready(&self) -> bool {
        !self.draining.load(Ordering::Relaxed)
    }

    async fn route(
        &self,
        route: Route,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        if route == Route::NotFound {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no route {} {}", req.method(), req.uri().path()),
            ));
        }
        if !route.accepts(req.method()) {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!(
                    "{} takes {}, not {}",
                    route.label(),
                    route.allow(),
                    req.method()
                ),
            ));
        }
        let info = self.engine.info();
        if let (_, Some(ModelPath { name, version })) = Route::of(req.uri().path()) {
            if name != info.name || version.is_some_and(|v| v != info.version) {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "model_not_found",
                    format!(
                        "no model {name}{}: this server has {} version {}",
                        version.map_or(String::new(), |v| format!(" version {v}")),
                        info.name,
                        info.version
                    ),
                ));
            }
        }
        let ready = self.is_ready();
        Ok(match route {
            Route::Predict => {
                let body = self.read_body(req, BodyKind::Json).await?;
                self.predict(&body)?
            }
            Route::V2Infer => {
                let header_length = req
                    .headers()
                    .get(v2::HEADER_LENGTH)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                let body = self.read_body(req, BodyKind::Inference).await?;
                self.infer(&body, header_length.as_deref())?
            }
            Route::Health => json_response(StatusCode::OK, br#"{"status":"ok"}"#.to_vec()),
            Route::Ready | Route::V2Ready | Route::V2ModelReady => {
                let body = if route == Route::Ready {
                    json!({
                        "status": if ready { "ready" } else { "draining" },
                        "model_version": info.version,
                    })
                } else {
                    json!({ "ready": ready })
                };
                let status = if ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                json_response(status, serde_json::to_vec(&body).unwrap_or_default())
            }
            Route::V2Live => json_response(StatusCode::OK, br#"{"live":true}"#.to_vec()),
            Route::V2Server => json_response(
                StatusCode::OK,
                serde_json::to_vec(&v2::server_metadata()).unwrap_or_default(),
            ),
            Route::V2Model => json_response(
                StatusCode::OK,
                serde_json::to_vec(&v2::model_metadata(info)).unwrap_or_default(),
            ),
            Route::OpenApi => json_response(StatusCode::OK, self.openapi.clone()),
            Route::Docs => response(
                StatusCode::OK,
                "text/html; charset=utf-8",
                self.docs.clone(),
            ),
            Route::Metrics => response(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                self.render_metrics(ready),
            ),
            Route::Drift => match &self.drift {
                Some(d) => json_response(
                    StatusCode::OK,
                    serde_json::to_vec(&d.report()).unwrap_or_default(),
                ),
                None => {
                    return Err(ApiError::new(
                        StatusCode::NOT_FOUND,
                        "drift_off",
                        if self.engine.training_distribution().is_none() {
                            "drift is off: the model carries no training distribution (retrain it with this version's fit)"
                        } else {
                            "drift is off (--drift-window 0)"
                        },
                    ))
                }
            },
            // Answered above.
            Route::NotFound => {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "no such route",
                ))
            }
        })
    }

    /// Checks the content type and encoding and reads the body, never more
    /// than the limit: a declared length over it is refused before
    /// reading, and a chunked body is cut off as soon as it passes it.
    async fn read_body(&self, req: Request<Incoming>, kind: BodyKind) -> Result<Bytes, ApiError> {
        let content_type = req.headers().get(CONTENT_TYPE).map(HeaderValue::as_bytes);
        if !kind.accepts(content_type) {
            let got =
                content_type.map_or("none".into(), |v| String::from_utf8_lossy(v).into_owned());
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("send Content-Type: {}, not {got}", kind.expected()),
            )
            .field("Content-Type"));
        }
        if let Some(encoding) = req.headers().get(CONTENT_ENCODING) {
            if !encoding.as_bytes().eq_ignore_ascii_case(b"identity") {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    format!(
                        "Content-Encoding {} is not supported: send the body uncompressed",
                        String::from_utf8_lossy(encoding.as_bytes())
                    ),
                )
                .field("Content-Encoding"));
            }
        }
        let limit = self.max_body_bytes;
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the body is over the limit of {limit} bytes"),
            )
        };
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let collect = Limited::new(req.into_body(), limit).collect();
        let collected = match self.body_read_timeout {
            // A body already in the buffer completes on the first poll,
            // before the timer is ever registered.
            Some(t) => tokio::time::timeout(t, collect).await.map_err(|_| {
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_timeout",
                    format!("the body did not arrive within {} s", t.as_secs_f64()),
                )
            })?,
            None => collect.await,
        };
        match collected {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
            Err(e) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "body_read_error",
                format!("could not read the body: {e}"),
            )),
        }
    }

    /// The Prometheus text of every counter: requests, drift, shadow.
    fn render_metrics(&self, ready: bool) -> String {
        let mut text = self.metrics.render_prometheus(
            self.engine.info(),
            self.shadow.as_ref().map(Shadow::info),
            ready,
        );
        if let Some(d) = &self.drift {
            d.render_prometheus(&mut text);
        }
        if let Some(s) = &self.shadow {
            s.render_prometheus(&mut text);
        }
        text
    }

    /// The served model's probabilities for `baskets`, with their feature
    /// vectors shown to the drift monitor and a sample handed to the shadow.
    fn predict_baskets(
        &self,
        baskets: &[forest_core::Basket],
        out: &mut [f32],
    ) -> Result<(), ApiError> {
        match &self.drift {
            Some(d) => self
                .engine
                .predict_baskets_watched(baskets, out, &|x| d.observe(x)),
            None => self.engine.predict_baskets(baskets, out),
        }
        .map_err(internal)?;
        if let Some(shadow) = self.shadow.as_ref().filter(|s| s.sampled()) {
            let k = self.engine.info().n_classes();
            shadow.offer(baskets, out.chunks_exact(k).map(forest_core::argmax));
        }
        Ok(())
    }

    fn predict(&self, body: &[u8]) -> Result<Response<Full<Bytes>>, ApiError> {
        let info = self.engine.info();
        let k = info.n_classes();
        let body = api::with_predict(body, self.max_batch, |baskets, batch| {
            let mut probabilities = vec![0.0f32; baskets.len() * k];
            self.predict_baskets(baskets, &mut probabilities)?;
            let predictions: Vec<Prediction> = probabilities
                .chunks_exact(k)
                .map(|p| Prediction {
                    classes: &info.classes,
                    probabilities: p,
                    model_version: &info.version,
                })
                .collect();
            for p in &predictions {
                self.metrics.predicted(p.class());
            }
            match (batch, predictions.first()) {
                (false, Some(one)) => serde_json::to_vec(one),
                _ => serde_json::to_vec(&Predictions(predictions)),
            }
            .map_err(internal)
        })??;
        Ok(json_response(StatusCode::OK, body))
    }

    fn infer(
        &self,
        body: &[u8],
        header_length: Option<&str>,
    ) -> Result<Response<Full<Bytes>>, ApiError> {
        let info = self.engine.info();
        let (json_part, binary) = v2::split_body(body, header_length)?;
        let parsed = v2::parse_infer(json_part, binary, info, self.max_batch)?;
        let mut probabilities = vec![0.0f32; parsed.n_rows * info.n_classes()];
        match &parsed.batch {
            v2::Batch::Features(rows) => {
                self.engine
                    .predict_features(rows, &mut probabilities)
                    .map_err(internal)?;
                if let Some(d) = &self.drift {
                    rows.chunks_exact(info.n_features())
                        .for_each(|x| d.observe(x));
                }
            }
            v2::Batch::Baskets(baskets) => self.predict_baskets(baskets, &mut probabilities)?,
        }
        for p in probabilities.chunks_exact(info.n_classes()) {
            self.metrics.predicted(forest_core::argmax(p));
        }
        let answer = v2::infer_response(info, &parsed, &probabilities);
        Ok(match answer.header_length {
            None => json_response(StatusCode::OK, answer.body),
            Some(n) => {
                let mut r = response(StatusCode::OK, OCTET_STREAM, answer.body);
                r.headers_mut()
                    .insert(v2::HEADER_LENGTH, HeaderValue::from(n));
                r
            }
        })
    }
}

/// What a route's body must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    /// `/predict`: JSON, declared.
    Json,
    /// The Open Inference Protocol's infer: JSON, or JSON followed by
    /// binary tensor data (`application/octet-stream`); a missing
    /// Content-Type is read as JSON, as Triton does (its Python client
    /// sends none).
    Inference,
}

impl BodyKind {
    fn accepts(self, content_type: Option<&[u8]>) -> bool {
        match (self, content_type) {
            (BodyKind::Json, Some(t)) => is_json(t),
            (BodyKind::Json, None) => false,
            (BodyKind::Inference, None) => true,
            (BodyKind::Inference, Some(t)) => is_json(t) || is_media_type(t, OCTET_STREAM),
        }
    }

    fn expected(self) -> &'static str {
        match self {
            BodyKind::Json => JSON,
            BodyKind::Inference => "application/json or application/octet-stream",
        }
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "prediction failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the model could not answer this request",
    )
}

/// `application/json`, any case, with or without parameters.
fn is_json(value: &[u8]) -> bool {
    is_media_type(value, JSON)
}

/// Whether a Content-Type names `media_type` (any case, any parameters).
fn is_media_type(value: &[u8], media_type: &str) -> bool {
    let Ok(value) = std::str::from_utf8(value) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case(media_type)
}

fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn json_response(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    response(status, JSON, body)
}

impl Handler for App {
    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let start = Instant::now();
        let _in_flight = self.metrics.in_flight();
        let (route, _) = Route::of(req.uri().path());
        let mut resp = match self.route(route, req).await {
            Ok(r) => r,
            Err(e) => {
                if e.status.is_server_error() {
                    tracing::error!(code = e.code, route = route.label(), "{}", e.message);
                } else {
                    tracing::debug!(code = e.code, route = route.label(), status = e.status.as_u16(), field = ?e.field, "{}", e.message);
                }
                let body = if route.is_v2() {
                    e.to_v2_json()
                } else {
                    e.to_json()
                };
                let mut r = json_response(e.status, body);
                if e.status == StatusCode::METHOD_NOT_ALLOWED {
                    r.headers_mut()
                        .insert(ALLOW, HeaderValue::from_static(route.allow()));
                }
                if e.code == "body_too_large" || e.code == "body_timeout" {
                    // The rest of the body is not read: the connection
                    // cannot carry another request.
                    r.headers_mut()
                        .insert(CONNECTION, HeaderValue::from_static("close"));
                }
                r
            }
        };
        if matches!(
            route,
            Route::Metrics
                | Route::Ready
                | Route::V2Ready
                | Route::V2ModelReady
                | Route::Health
                | Route::V2Live
        ) {
            resp.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        if !self.is_ready() {
            resp.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        self.metrics
            .observe(route, resp.status().as_u16(), start.elapsed());
        resp
    }

    fn begin_drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_content_types() {
        assert!(super::is_json(b"application/json"));
        assert!(super::is_json(b"Application/JSON; charset=utf-8"));
        assert!(!super::is_json(b"text/plain"));
        assert!(!super::is_json(b"application/jsonx"));
        assert!(!super::is_json(b"application/x-www-form-urlencoded"));
    }
}
