//! forest-serve over real HTTP on loopback: every route, every error path,
//! answers against the interpreter, the OpenAPI document (validated by
//! openapi-spec-validator, every example answered), and shutdown: in
//! process, and the binary under load receiving SIGTERM.

mod bad_inputs;
mod drift;
mod model;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use forest_core::{Basket, Model};
use forest_serve::{Config, Running};
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Client = hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>;

const MODEL_NAME: &str = "price-sensitivity";

fn client() -> Client {
    hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http()
}

/// A model artifact on disk, and the model the interpreter reads from it.
struct ModelFile {
    _dir: Option<tempfile::TempDir>,
    path: PathBuf,
    model: Model,
    version: String,
}

/// The test model, with the training distribution `fit` would store (so
/// drift is on), in a temporary file.
fn model_file() -> ModelFile {
    model_file_of(model::with_training_distribution(
        model::basket_model(7, 40),
        99,
        model::TRAINING_ROWS,
    ))
}

fn model_file_of(model: Model) -> ModelFile {
    let bytes = forest_core::artifact::encode(&model);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.forest");
    std::fs::write(&path, &bytes).unwrap();
    let version = forest_core::artifact::content_hash(&bytes)[..12].to_string();
    ModelFile {
        _dir: Some(dir),
        path,
        model,
        version,
    }
}

#[cfg(feature = "compiled")]
/// The model compiled into this build, decoded by forest-core from the very
/// bytes the build compiled: what the interpreter would answer.
fn compiled_model() -> ModelFile {
    let bytes = forest::interpreter::artifact_bytes();
    ModelFile {
        _dir: None,
        path: PathBuf::new(),
        model: forest_core::artifact::decode(bytes).unwrap(),
        version: forest_core::artifact::content_hash(bytes)[..12].to_string(),
    }
}

struct Server {
    running: Option<Running>,
    url: String,
    client: Client,
    model: ModelFile,
}

async fn server_with(tweak: impl FnOnce(&mut Config)) -> Server {
    let model = model_file();
    let mut config = Config::with_addr("127.0.0.1:0".parse().unwrap());
    config.model = Some(model.path.clone());
    config.model_name = MODEL_NAME.into();
    config.emf_interval_secs = 0.0;
    config.max_batch = 4;
    config.max_body_bytes = 16 * 1024;
    tweak(&mut config);
    let engine = forest_serve::load_engine(&config).unwrap();
    let running = forest_serve::start(config, engine).await.unwrap();
    Server {
        url: format!("http://{}", running.addr),
        running: Some(running),
        client: client(),
        model,
    }
}

async fn server() -> Server {
    server_with(|_| {}).await
}

#[cfg(feature = "compiled")]
/// A server on the default engine, the compiled model.
async fn compiled_server() -> Server {
    let mut config = Config::with_addr("127.0.0.1:0".parse().unwrap());
    config.model = None;
    config.model_name = MODEL_NAME.into();
    config.emf_interval_secs = 0.0;
    let engine = forest_serve::load_engine(&config).unwrap();
    assert_eq!(engine.info().engine, "compiled");
    let running = forest_serve::start(config, engine).await.unwrap();
    Server {
        url: format!("http://{}", running.addr),
        running: Some(running),
        client: client(),
        model: compiled_model(),
    }
}

#[cfg(feature = "compiled")]
/// Random baskets over a model's own codes (and some it has never seen).
fn baskets_for(model: &Model, seed: u64, n: usize) -> Vec<Basket> {
    let priors = model.meta.features.basket.as_ref().unwrap();
    let mut rng = model::Rng::new(seed);
    let code = |rng: &mut model::Rng, level: usize| {
        let codes = &priors.levels[level].codes;
        if codes.is_empty() || rng.unit() < 0.1 {
            format!("UNSEEN{}", rng.below(1000))
        } else {
            codes[rng.below(codes.len())].clone()
        }
    };
    let vocab = |f: usize| match &model.meta.features.features[f].kind {
        forest_core::FeatureKind::Categorical { vocabulary } => vocabulary.clone(),
        forest_core::FeatureKind::Numeric => vec![],
    };
    let pick = |rng: &mut model::Rng, f: usize| {
        let v = vocab(f);
        if v.is_empty() || rng.unit() < 0.1 {
            "ZZ".to_string()
        } else {
            v[rng.below(v.len())].clone()
        }
    };
    (0..n)
        .map(|_| Basket {
            store_format: pick(&mut rng, 0),
            store_region: pick(&mut rng, 1),
            basket_size: pick(&mut rng, 2),
            basket_type: pick(&mut rng, 3),
            dominant_mission: pick(&mut rng, 4),
            customer_price_sensitivity: (rng.unit() < 0.7).then(|| pick(&mut rng, 5)),
            items: (0..1 + rng.below(12))
                .map(|_| forest_core::Item {
                    // CHAIN order: _40, _30, _20, _10, product.
                    prod_code: code(&mut rng, 4),
                    prod_code_10: code(&mut rng, 3),
                    prod_code_20: code(&mut rng, 2),
                    prod_code_30: code(&mut rng, 1),
                    prod_code_40: (rng.unit() < 0.9).then(|| code(&mut rng, 0)),
                    quantity: 1.0 + rng.below(5) as f64,
                    spend: (rng.unit() * 1000.0).round() / 100.0,
                })
                .collect(),
        })
        .collect()
}

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }
}

impl Server {
    async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<Bytes>,
    ) -> Answer {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url));
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = self
            .client
            .request(req.body(Full::new(body.into())).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None, Bytes::new()).await
    }

    async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(
            Method::POST,
            path,
            Some("application/json"),
            serde_json::to_vec(body).unwrap(),
        )
        .await
    }

    async fn stop(mut self) -> forest_serve::DrainReport {
        self.running.take().unwrap().stop().await
    }
}

fn basket_json(b: &Basket) -> Value {
    serde_json::to_value(b).unwrap()
}

fn baskets(seed: u64, n: usize) -> Vec<Basket> {
    let mut rng = model::Rng::new(seed);
    (0..n).map(|_| model::random_basket(&mut rng)).collect()
}

/// Checks one answered prediction against the interpreter.
/// A V2 output tensor's `data`, as the f32 probabilities it carries.
fn f32s(data: &Value) -> Vec<f32> {
    data.as_array()
        .expect("a data array")
        .iter()
        .map(|x| x.as_f64().expect("a number") as f32)
        .collect()
}

fn check_prediction(p: &Value, expected: &[f32], version: &str) {
    let probs = &p["probabilities"];
    let got: Vec<f32> = model::CLASSES
        .iter()
        .map(|c| probs[c].as_f64().unwrap_or_else(|| panic!("{p}")) as f32)
        .collect();
    assert_eq!(got, expected, "{p}");
    let best = forest_core::argmax(expected);
    assert_eq!(p["code"], model::CLASSES[best], "{p}");
    let label = ["High", "Medium", "Low"][best];
    assert_eq!(p["price_sensitivity"], label, "{p}");
    assert_eq!(p["model_version"], version, "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predict_answers_what_the_interpreter_answers() {
    let s = server().await;
    let all = baskets(1, 40);
    let mut examples = vec![forest_serve::example_basket()];
    examples.extend(all.iter().cloned());
    for b in &examples {
        let a = s.post("/predict", &basket_json(b)).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        assert_eq!(a.header("content-type"), "application/json");
        check_prediction(
            &a.json(),
            &model::expected(&s.model.model, b),
            &s.model.version,
        );
    }
    for chunk in all.chunks(4) {
        let body = json!({"instances": chunk.iter().map(basket_json).collect::<Vec<_>>()});
        let a = s.post("/predict", &body).await;
        assert_eq!(a.status, 200);
        let answer = a.json();
        let predictions = answer["predictions"].as_array().unwrap();
        assert_eq!(predictions.len(), chunk.len());
        for (p, b) in predictions.iter().zip(chunk) {
            check_prediction(p, &model::expected(&s.model.model, b), &s.model.version);
        }
    }
    // Content-Type with parameters and in another case is JSON too.
    let a = s
        .send(
            Method::POST,
            "/predict",
            Some("Application/JSON; charset=utf-8"),
            serde_json::to_vec(&basket_json(&all[0])).unwrap(),
        )
        .await;
    assert_eq!(a.status, 200);
    s.stop().await;
}

#[cfg(feature = "compiled")]
/// The default engine, the compiled model, answers what forest-core's
/// interpreter answers on the artifact it was compiled from, on `/predict`
/// and on both Open Inference Protocol inputs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_engine_answers_what_the_interpreter_answers() {
    let s = compiled_server().await;
    assert_eq!(s.model.version, forest::MODEL_VERSION);
    let m = &s.model.model;
    let bs = baskets_for(m, 11, 60);
    for b in bs.iter().take(30) {
        let a = s.post("/predict", &basket_json(b)).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        check_prediction(&a.json(), &model::expected(m, b), &s.model.version);
    }
    let body = json!({"instances": bs.iter().map(basket_json).collect::<Vec<_>>()});
    let a = s.post("/predict", &body).await;
    assert_eq!(a.status, 200);
    for (p, b) in a.json()["predictions"].as_array().unwrap().iter().zip(&bs) {
        check_prediction(p, &model::expected(m, b), &s.model.version);
    }
    let nf = m.forest.n_features();
    let rows: Vec<Vec<f32>> = bs
        .iter()
        .map(|b| {
            let mut x = Vec::new();
            m.meta.features.encode_basket(b, &mut x).unwrap();
            x
        })
        .collect();
    let expected: Vec<f32> = bs.iter().flat_map(|b| model::expected(m, b)).collect();
    let infer = format!("/v2/models/{MODEL_NAME}/infer");
    let texts: Vec<String> = bs
        .iter()
        .map(|b| serde_json::to_string(b).unwrap())
        .collect();
    for input in [
        json!({"name": "features", "shape": [bs.len(), nf], "datatype": "FP32", "data": rows}),
        json!({"name": "baskets", "shape": [bs.len()], "datatype": "BYTES", "data": texts}),
    ] {
        let a = s.post(&infer, &json!({ "inputs": [input] })).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        let got = f32s(&a.json()["outputs"][0]["data"]);
        assert_eq!(got, expected);
    }
    let meta = s.get(&format!("/v2/models/{MODEL_NAME}")).await.json();
    assert_eq!(meta["platform"], "forest_compiled");
    assert_eq!(meta["parameters"]["n_trees"], forest::N_TREES);
    let metrics = String::from_utf8(s.get("/metrics").await.body.to_vec()).unwrap();
    assert!(metrics.contains(&format!(
        "forest_model_info{{name=\"{MODEL_NAME}\",version=\"{}\",engine=\"compiled\"",
        forest::MODEL_VERSION
    )));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_codes_are_answered_from_the_fallbacks() {
    let s = server().await;
    let mut b = forest_serve::example_basket();
    b.store_format = "HYPER".into();
    b.store_region = "Q42".into();
    b.customer_price_sensitivity = None;
    for (i, item) in b.items.iter_mut().enumerate() {
        item.prod_code = format!("PRD77{i:05}");
        item.prod_code_10 = "CL77777".into();
        if i == 0 {
            // Nothing known at any level: the global prior.
            item.prod_code_20 = "DEP77777".into();
            item.prod_code_30 = "G77777".into();
            item.prod_code_40 = None;
        }
    }
    let a = s.post("/predict", &basket_json(&b)).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    check_prediction(
        &a.json(),
        &model::expected(&s.model.model, &b),
        &s.model.version,
    );
    s.stop().await;
}

/// What is sent, then the status, `error.code` and `error.field` expected.
type ErrorCase = (
    &'static str,
    Vec<u8>,
    u16,
    &'static str,
    Option<&'static str>,
);

/// Every `/predict` error: status, JSON body, code and field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predict_errors_name_the_field() {
    let s = server().await;
    let good = basket_json(&forest_serve::example_basket());
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    let batch =
        |n: usize| serde_json::to_vec(&json!({"instances": vec![good.clone(); n]})).unwrap();
    let cases: Vec<ErrorCase> = vec![
        (
            "truncated JSON",
            br#"{"store_format": "LS","#.to_vec(),
            400,
            "malformed_json",
            None,
        ),
        (
            "not JSON",
            b"store_format=LS".to_vec(),
            400,
            "malformed_json",
            None,
        ),
        ("empty body", Vec::new(), 400, "malformed_json", None),
        (
            "invalid UTF-8",
            b"{\"store_format\": \"\xff\"}".to_vec(),
            400,
            "malformed_json",
            None,
        ),
        ("a JSON array", b"[]".to_vec(), 422, "invalid_type", None),
        (
            "quantity as text",
            with(&|v| v["items"][1]["quantity"] = json!("2")),
            422,
            "invalid_type",
            Some("items[1].quantity"),
        ),
        (
            "store_format as number",
            with(&|v| v["store_format"] = json!(5)),
            422,
            "invalid_type",
            Some("store_format"),
        ),
        (
            "items as object",
            with(&|v| v["items"] = json!({})),
            422,
            "invalid_type",
            Some("items"),
        ),
        (
            "missing store_region",
            with(&|v| {
                v.as_object_mut().unwrap().remove("store_region");
            }),
            422,
            "missing_field",
            Some("store_region"),
        ),
        (
            "missing spend",
            with(&|v| {
                v["items"][2].as_object_mut().unwrap().remove("spend");
            }),
            422,
            "missing_field",
            Some("items[2].spend"),
        ),
        (
            "unknown field",
            with(&|v| v["coupon"] = json!("SAVE10")),
            422,
            "unknown_field",
            Some("coupon"),
        ),
        (
            "unknown item field",
            with(&|v| v["items"][0]["discount"] = json!(1)),
            422,
            "unknown_field",
            Some("items[0].discount"),
        ),
        (
            "empty items",
            with(&|v| v["items"] = json!([])),
            422,
            "empty_items",
            Some("items"),
        ),
        (
            "negative quantity",
            with(&|v| v["items"][2]["quantity"] = json!(-1)),
            422,
            "invalid_quantity",
            Some("items[2].quantity"),
        ),
        (
            "zero quantity",
            with(&|v| v["items"][0]["quantity"] = json!(0)),
            422,
            "invalid_quantity",
            Some("items[0].quantity"),
        ),
        (
            "batch over the limit",
            batch(5),
            413,
            "batch_too_large",
            Some("instances"),
        ),
        (
            "empty batch",
            batch(0),
            422,
            "empty_batch",
            Some("instances"),
        ),
        (
            "bad basket in a batch",
            {
                let mut bad = good.clone();
                bad["items"][0]["quantity"] = json!(-2);
                serde_json::to_vec(&json!({"instances": [good.clone(), bad]})).unwrap()
            },
            422,
            "invalid_quantity",
            Some("instances[1].items[0].quantity"),
        ),
        (
            "missing field in a batch",
            {
                let mut bad = good.clone();
                bad.as_object_mut().unwrap().remove("dominant_mission");
                serde_json::to_vec(&json!({"instances": [bad]})).unwrap()
            },
            422,
            "missing_field",
            Some("instances[0].dominant_mission"),
        ),
        (
            "basket fields beside instances",
            {
                let mut v = json!({"instances": [good.clone()]});
                v["store_format"] = json!("LS");
                serde_json::to_vec(&v).unwrap()
            },
            422,
            "unknown_field",
            Some("store_format"),
        ),
        (
            "body over the limit",
            with(&|v| {
                let item = v["items"][0].clone();
                v["items"] = Value::Array(vec![item; 200]);
            }),
            413,
            "body_too_large",
            None,
        ),
    ];
    for (what, body, status, code, field) in cases {
        let a = s
            .send(Method::POST, "/predict", Some("application/json"), body)
            .await;
        assert_eq!(a.status, status, "{what}: {:?}", a.body);
        assert_eq!(a.header("content-type"), "application/json", "{what}");
        let e = &a.json()["error"];
        assert_eq!(e["code"], code, "{what}: {e}");
        assert!(!e["message"].as_str().unwrap().is_empty(), "{what}");
        assert_eq!(e["field"].as_str(), field, "{what}: {e}");
    }

    // Wrong content type, wrong method, unknown route.
    let body = serde_json::to_vec(&good).unwrap();
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let a = s.send(Method::POST, "/predict", ct, body.clone()).await;
        assert_eq!(a.status, 415, "{ct:?}");
        assert_eq!(a.json()["error"]["code"], "unsupported_media_type");
    }
    for (method, path, allow) in [
        (Method::GET, "/predict", "POST"),
        (Method::PUT, "/predict", "POST"),
        (Method::POST, "/health", "GET, HEAD"),
        (Method::DELETE, "/metrics", "GET, HEAD"),
    ] {
        let a = s
            .send(method.clone(), path, Some("application/json"), body.clone())
            .await;
        assert_eq!(a.status, 405, "{method} {path}");
        assert_eq!(a.header("allow"), allow);
        assert_eq!(a.json()["error"]["code"], "method_not_allowed");
    }
    for path in ["/", "/nope", "/predict/", "/v1/predict", "/v2/models"] {
        let a = s.get(path).await;
        assert_eq!(a.status, 404, "{path}");
        assert_eq!(a.json()["error"]["code"], "not_found");
    }
    // The server is still well after all that.
    assert_eq!(s.post("/predict", &good).await.status, 200);
    s.stop().await;
}

/// A raw HTTP/1.1 connection, for what a well-behaved client cannot do:
/// chunked bodies over the limit, bodies sent in halves, slow headers.
struct Raw(TcpStream);

impl Raw {
    async fn connect(addr: std::net::SocketAddr) -> Raw {
        Raw(TcpStream::connect(addr).await.unwrap())
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.0.write_all(bytes).await.unwrap();
    }

    /// Reads one response (Content-Length bodies only); the status, the
    /// head in lowercase and the body.
    async fn read_response(&mut self) -> (u16, String, Vec<u8>) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = self.0.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed before a response");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
        let status: u16 = head[9..12].parse().unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |v| v.trim().parse().unwrap());
        while buf.len() < head_end + len {
            let n = self.0.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed in the body");
            buf.extend_from_slice(&chunk[..n]);
        }
        (status, head, buf[head_end..head_end + len].to_vec())
    }

    /// Whether the server closes the connection within `within`.
    async fn closed_within(&mut self, within: Duration) -> bool {
        let mut chunk = [0u8; 64];
        matches!(
            tokio::time::timeout(within, self.0.read(&mut chunk)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

fn post_head(path: &str, len: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_body_over_the_limit_is_cut_off_while_reading() {
    let s = server_with(|c| c.max_body_bytes = 4096).await;
    let addr = s.running.as_ref().unwrap().addr;
    let mut raw = Raw::connect(addr).await;
    raw.write(b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await;
    // 8 KiB in 1 KiB chunks, without ever ending the body: the server must
    // answer once it has seen more than the limit, not wait for the end.
    // The server may hang up while the client still writes: a write error
    // here is expected, the answer is already on its way.
    let chunk = format!("400\r\n{}\r\n", " ".repeat(1024));
    for _ in 0..8 {
        if raw.0.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let (status, head, body) = tokio::time::timeout(Duration::from_secs(5), raw.read_response())
        .await
        .expect("answered before the body ended");
    assert_eq!(status, 413);
    assert!(head.contains("connection: close"), "{head}");
    let e: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(e["error"]["code"], "body_too_large");
    // A declared length over the limit is refused before any byte of it.
    let mut raw = Raw::connect(addr).await;
    raw.write(post_head("/predict", 1 << 30).as_bytes()).await;
    let (status, _, _) = raw.read_response().await;
    assert_eq!(status, 413);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_docs_and_metrics() {
    let s = server().await;
    let a = s.get("/health").await;
    assert_eq!((a.status, a.json()), (200, json!({"status": "ok"})));
    let a = s.get("/ready").await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.json(),
        json!({"status": "ready", "model_version": s.model.version})
    );
    let head = s.send(Method::HEAD, "/health", None, Bytes::new()).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());

    let docs = s.get("/docs").await;
    assert_eq!(docs.status, 200);
    assert!(docs.header("content-type").starts_with("text/html"));
    let html = String::from_utf8(docs.body.to_vec()).unwrap();
    assert!(
        html.contains("\"openapi\":\"3.1.0\""),
        "the document is embedded"
    );
    // Self-contained: no external script, style, font or image.
    for needle in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        "@import",
        "url(http",
    ] {
        assert!(!html.contains(needle), "{needle} in /docs");
    }
    assert!(!html.contains("<script src"), "no external scripts");

    // Traffic, then the metrics that count it.
    let b = basket_json(&forest_serve::example_basket());
    for _ in 0..3 {
        assert_eq!(s.post("/predict", &b).await.status, 200);
    }
    assert_eq!(
        s.post("/predict", &json!({"instances": [b, b]}))
            .await
            .status,
        200
    );
    assert_eq!(s.get("/predict").await.status, 405);
    let m = s.get("/metrics").await;
    assert_eq!(m.status, 200);
    assert!(m
        .header("content-type")
        .starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8(m.body.to_vec()).unwrap();
    for line in [
        "forest_http_requests_total{route=\"/predict\",status=\"200\"} 4",
        "forest_http_requests_total{route=\"/predict\",status=\"405\"} 1",
        "forest_http_requests_total{route=\"/health\",status=\"200\"} 2",
        "forest_http_request_duration_seconds_bucket{route=\"/predict\",le=\"+Inf\"} 5",
        "forest_http_request_duration_seconds_count{route=\"/predict\"} 5",
        "# TYPE forest_http_request_duration_seconds histogram",
        "# TYPE forest_http_requests_in_flight gauge",
        "forest_http_requests_in_flight 1",
        "forest_ready 1",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    let predicted: u64 = text
        .lines()
        .filter(|l| l.starts_with("forest_predictions_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(predicted, 5);
    assert!(text.contains(&format!(
        "forest_model_info{{name=\"{MODEL_NAME}\",version=\"{}\",engine=\"interpreted\",n_trees=\"40\"",
        s.model.version
    )));
    // Buckets are cumulative.
    let buckets: Vec<u64> = text
        .lines()
        .filter(|l| l.starts_with("forest_http_request_duration_seconds_bucket{route=\"/predict\""))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_inference_protocol() {
    let s = server().await;
    assert_eq!(s.get("/v2/health/live").await.json(), json!({"live": true}));
    assert_eq!(
        s.get("/v2/health/ready").await.json(),
        json!({"ready": true})
    );
    assert_eq!(s.get("/v2").await.json()["name"], "forest-serve");
    let model_path = format!("/v2/models/{MODEL_NAME}");
    let ready = s.get(&format!("{model_path}/ready")).await;
    assert_eq!((ready.status, ready.json()), (200, json!({"ready": true})));
    let meta = s.get(&model_path).await.json();
    let nf = s.model.model.forest.n_features();
    assert_eq!(meta["name"], MODEL_NAME);
    assert_eq!(meta["versions"], json!([s.model.version]));
    assert_eq!(
        meta["inputs"][0],
        json!({"name": "features", "datatype": "FP32", "shape": [-1, nf]})
    );
    assert_eq!(
        meta["outputs"][0],
        json!({"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]})
    );
    assert_eq!(
        meta["parameters"]["feature_names"]
            .as_array()
            .unwrap()
            .len(),
        nf
    );

    // FP32 feature rows (nested, NaN as null) against the interpreter.
    let bs = baskets(5, 3);
    let rows: Vec<Vec<f32>> = bs
        .iter()
        .map(|b| {
            let mut x = Vec::new();
            s.model
                .model
                .meta
                .features
                .encode_basket(b, &mut x)
                .unwrap();
            x
        })
        .collect();
    assert!(
        rows.iter().flatten().any(|v| v.is_nan()),
        "some missing values"
    );
    let expected: Vec<f32> = bs
        .iter()
        .flat_map(|b| model::expected(&s.model.model, b))
        .collect();
    let infer = format!("{model_path}/infer");
    let a = s
        .post(
            &infer,
            &json!({"id": "r1", "inputs": [{"name": "features", "shape": [3, nf], "datatype": "FP32", "data": rows}]}),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let v = a.json();
    assert_eq!(v["id"], "r1");
    assert_eq!(v["model_name"], MODEL_NAME);
    assert_eq!(v["model_version"], s.model.version);
    let probs = &v["outputs"][0];
    assert_eq!(probs["name"], "probabilities");
    assert_eq!(probs["shape"], json!([3, 3]));
    let got = f32s(&probs["data"]);
    assert_eq!(got, expected);
    let codes: Vec<&str> = expected
        .chunks(3)
        .map(|p| model::CLASSES[forest_core::argmax(p)])
        .collect();
    assert_eq!(
        v["outputs"][1],
        json!({"name": "code", "datatype": "BYTES", "shape": [3], "data": codes})
    );

    // BYTES baskets, only the code asked for, on the versioned path.
    let texts: Vec<String> = bs
        .iter()
        .map(|b| serde_json::to_string(b).unwrap())
        .collect();
    let a = s
        .post(
            &format!("{model_path}/versions/{}/infer", s.model.version),
            &json!({"inputs": [{"name": "baskets", "shape": [3], "datatype": "BYTES", "data": texts}],
                    "outputs": [{"name": "code"}]}),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let v = a.json();
    assert_eq!(v["outputs"].as_array().unwrap().len(), 1);
    assert_eq!(v["outputs"][0]["data"], json!(codes));

    // Errors have the protocol's shape: {"error": "message"}.
    let flat: Vec<f32> = rows.concat();
    let cases = [
        (
            infer.clone(),
            json!({"inputs": [{"name": "features", "shape": [3, nf + 1], "datatype": "FP32", "data": flat}]}),
            400,
        ),
        (
            infer.clone(),
            json!({"inputs": [{"name": "features", "shape": [2, nf], "datatype": "FP32", "data": flat}]}),
            400,
        ),
        (
            infer.clone(),
            json!({"inputs": [{"name": "features", "shape": [1, nf], "datatype": "INT8", "data": rows[0]}]}),
            400,
        ),
        (
            infer.clone(),
            json!({"inputs": [{"name": "features", "shape": [1, 1], "datatype": "FP32", "data": ["a"]}]}),
            400,
        ),
        (infer.clone(), json!({"inputs": []}), 400),
        (
            infer.clone(),
            json!({"inputs": [{"name": "baskets", "shape": [1], "datatype": "BYTES", "data": ["{}"]}]}),
            400,
        ),
        (
            infer.clone(),
            json!({"inputs": [{"name": "features", "shape": [1, nf], "datatype": "FP32", "data": rows[0]}], "outputs": [{"name": "logits"}]}),
            400,
        ),
        (
            infer.clone(),
            json!({"inputs": [{"name": "features", "shape": [5, nf], "datatype": "FP32", "data": vec![0.0; 5 * nf]}]}),
            413,
        ),
        (infer.clone(), json!({"inputs": "nope"}), 400),
        (
            "/v2/models/other/infer".to_string(),
            json!({"inputs": []}),
            404,
        ),
        (
            format!("{model_path}/versions/0/infer"),
            json!({"inputs": []}),
            404,
        ),
    ];
    for (path, body, status) in cases {
        let a = s.post(&path, &body).await;
        assert_eq!(a.status, status, "{path} {body}: {:?}", a.body);
        let e = a.json();
        assert!(e["error"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
    }
    let a = s.get("/v2/models/other").await;
    assert_eq!(a.status, 404);
    assert!(a.json()["error"].is_string());
    let a = s.send(Method::POST, &infer, Some("text/plain"), "{}").await;
    assert_eq!(a.status, 415);
    assert!(a.json()["error"].is_string());
    let a = s.get(&infer).await;
    assert_eq!((a.status, a.header("allow")), (405, "POST"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_is_valid_3_1_and_every_example_is_answered() {
    check_openapi(server().await).await;
    #[cfg(feature = "compiled")]
    check_openapi(compiled_server().await).await;
}

async fn check_openapi(s: Server) {
    let a = s.get("/openapi.json").await;
    assert_eq!(a.status, 200);
    let doc = a.json();
    assert_eq!(doc["openapi"], "3.1.0");

    // The validator of record (openapi-spec-validator, from the test
    // requirements the README's test command installs).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openapi.json");
    std::fs::write(&path, &a.body).unwrap();
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys\n\
             from openapi_spec_validator import validate\n\
             from openapi_spec_validator.versions.shortcuts import get_spec_version\n\
             spec = json.load(open(sys.argv[1]))\n\
             print(get_spec_version(spec))\n\
             validate(spec)\n\
             print('valid')",
        ])
        .arg(&path)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("valid"),
        "openapi-spec-validator: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("3.1"), "{stdout}");

    // Every example of every request body is answered 200, and every path
    // of the document is a route.
    let mut answered = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let url = path.replace("{name}", MODEL_NAME);
        for (method, op) in item.as_object().unwrap() {
            if method == "get" {
                assert_eq!(s.get(&url).await.status, 200, "GET {url}");
                continue;
            }
            let examples = op["requestBody"]["content"]["application/json"]["examples"]
                .as_object()
                .unwrap_or_else(|| panic!("{method} {path} has no examples"));
            assert!(!examples.is_empty());
            for (name, example) in examples {
                let a = s.post(&url, &example["value"]).await;
                assert_eq!(a.status, 200, "{path} example {name}: {:?}", a.body);
                answered += 1;
            }
        }
    }
    assert!(answered >= 5, "{answered} examples");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_read_timeout_and_keep_alive_settings() {
    let s = server_with(|c| {
        c.header_read_timeout_secs = 0.3;
        c.body_read_timeout_secs = 0.3;
        c.keep_alive = false;
    })
    .await;
    let addr = s.running.as_ref().unwrap().addr;
    // Half a request head, then silence: the server hangs up.
    let mut raw = Raw::connect(addr).await;
    raw.write(b"GET /health HTTP/1.1\r\nHost: te").await;
    assert!(raw.closed_within(Duration::from_secs(3)).await);
    // A whole head and half a body, then silence: 408.
    let mut raw = Raw::connect(addr).await;
    raw.write(post_head("/predict", 100).as_bytes()).await;
    raw.write(b"{\"store_format\":").await;
    let (status, head, body) = raw.read_response().await;
    assert_eq!(status, 408);
    assert!(head.contains("connection: close"), "{head}");
    let e: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(e["error"]["code"], "body_timeout");
    // Without keep-alive, every response closes its connection.
    let mut raw = Raw::connect(addr).await;
    raw.write(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
        .await;
    let (status, head, _) = raw.read_response().await;
    assert_eq!(status, 200);
    assert!(head.contains("connection: close"), "{head}");
    assert!(raw.closed_within(Duration::from_secs(3)).await);
    s.stop().await;
}

/// In process: a request in flight when shutdown starts is answered, the
/// server reports not ready, refuses new connections, closes idle ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_in_flight_requests() {
    let mut s = server_with(|c| c.drain_timeout_secs = 10.0).await;
    let addr = s.running.as_ref().unwrap().addr;
    let body = serde_json::to_vec(&basket_json(&forest_serve::example_basket())).unwrap();

    let mut keep_alive = Raw::connect(addr).await;
    keep_alive
        .write(b"GET /ready HTTP/1.1\r\nHost: test\r\n\r\n")
        .await;
    assert_eq!(keep_alive.read_response().await.0, 200);
    let mut idle = Raw::connect(addr).await;
    // A request half sent: its handler is waiting for the rest of the body.
    let mut slow = Raw::connect(addr).await;
    slow.write(post_head("/predict", body.len()).as_bytes())
        .await;
    slow.write(&body[..body.len() / 2]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = Instant::now();
    s.running.as_mut().unwrap().begin_shutdown();
    // New connections are refused once the listener is closed, and the
    // drain has begun by then.
    while TcpStream::connect(addr).await.is_ok() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still accepting"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    keep_alive
        .write(b"GET /ready HTTP/1.1\r\nHost: test\r\n\r\n")
        .await;
    let (status, head, ready) = keep_alive.read_response().await;
    assert_eq!(status, 503);
    assert!(head.contains("connection: close"), "{head}");
    assert_eq!(
        serde_json::from_slice::<Value>(&ready).unwrap()["status"],
        "draining"
    );

    slow.write(&body[body.len() / 2..]).await;
    let (status, head, answer) = slow.read_response().await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    assert!(head.contains("connection: close"));
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    check_prediction(
        &answer,
        &model::expected(&s.model.model, &forest_serve::example_basket()),
        &s.model.version,
    );
    // The idle connection is closed after the grace period, not at once.
    assert!(idle.closed_within(Duration::from_secs(3)).await);
    let report = s.stop().await;
    assert_eq!(report.cut, 0);
    assert!(started.elapsed() < Duration::from_secs(5));
}

fn kill_term(pid: u32) {
    // SAFETY: kill(2) with a child's pid and a standard signal.
    let rc = unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
}

/// The binary under concurrent load gets SIGTERM: every request it accepted
/// is answered, then it exits 0. Configured through environment variables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_drains_on_sigterm_under_load() {
    let model = model_file();
    let mut child = Command::new(env!("CARGO_BIN_EXE_forest-serve"))
        .env("FOREST_ADDR", "127.0.0.1:0")
        .env("FOREST_SERVE_MODEL", &model.path)
        .env("FOREST_MODEL_NAME", MODEL_NAME)
        .env("FOREST_WORKERS", "2")
        .env("FOREST_EMF_INTERVAL_SECS", "0.2")
        .env("FOREST_DRAIN_TIMEOUT_SECS", "10")
        .env("FOREST_LOG_LEVEL", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let (line_tx, line_rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let addr: std::net::SocketAddr = loop {
        let line = line_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server says where it listens");
        let v: Value = serde_json::from_str(&line).unwrap();
        lines.push(line);
        if v["message"] == "forest-serve listening" {
            break v["addr"].as_str().unwrap().parse().unwrap();
        }
    };
    let url = format!("http://{addr}/predict");

    // Four clients, each its own keep-alive connection, looping requests
    // (a bounded count) until the server stops taking connections.
    let body = Bytes::from(
        serde_json::to_vec(
            &json!({"instances": baskets(9, 4).iter().map(basket_json).collect::<Vec<_>>()}),
        )
        .unwrap(),
    );
    let ok = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (url, body, ok) = (url.clone(), body.clone(), ok.clone());
        tasks.push(tokio::spawn(async move {
            let client = client();
            let mut failures = Vec::new();
            let mut refused = false;
            for _ in 0..20_000 {
                let req = Request::post(&url)
                    .header("content-type", "application/json")
                    .body(Full::new(body.clone()))
                    .unwrap();
                match client.request(req).await {
                    Ok(resp) => {
                        let status = resp.status();
                        match resp.into_body().collect().await {
                            Ok(_) if status == 200 => {
                                ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            Ok(_) => failures.push(format!("status {status}")),
                            Err(e) => failures.push(format!("body: {e}")),
                        }
                    }
                    // Refused: the server had stopped accepting; not a
                    // request it took.
                    Err(e) if e.is_connect() => {
                        refused = true;
                        break;
                    }
                    Err(e) => failures.push(format!("{e:?}")),
                }
            }
            (failures, refused)
        }));
    }
    // A request in flight across the signal: half its body before, half after.
    let raw_body = body.to_vec();
    let mut slow = Raw::connect(addr).await;
    slow.write(post_head("/predict", raw_body.len()).as_bytes())
        .await;
    slow.write(&raw_body[..10]).await;

    // Let the load run, then SIGTERM.
    let t0 = Instant::now();
    while ok.load(std::sync::atomic::Ordering::Relaxed) < 300
        && t0.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = ok.load(std::sync::atomic::Ordering::Relaxed);
    kill_term(pid);
    tokio::time::sleep(Duration::from_millis(200)).await;
    slow.write(&raw_body[10..]).await;
    let (status, head, _) = slow.read_response().await;
    assert_eq!(status, 200);
    assert!(head.contains("connection: close"));

    let mut all_failures = Vec::new();
    for t in tasks {
        let (failures, refused) = t.await.unwrap();
        assert!(
            refused,
            "each client ends refused, not by running out of requests"
        );
        all_failures.extend(failures);
    }
    assert!(all_failures.is_empty(), "failed requests: {all_failures:?}");
    assert!(before >= 100, "load ran: {before} answered before SIGTERM");

    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "exit status");
    reader.join().unwrap();
    lines.extend(line_rx.try_iter());

    // Stdout: JSON lines only; a handful of logs (not one per request);
    // EMF records with the latency summary of /predict.
    let records: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let (emf, logs): (Vec<&Value>, Vec<&Value>) =
        records.iter().partition(|r| r.get("_aws").is_some());
    let answered = ok.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        logs.len() < 10,
        "{} log lines for {answered} requests: {logs:?}",
        logs.len()
    );
    for message in [
        "forest-serve listening",
        "shutdown requested: draining",
        "forest-serve stopped",
    ] {
        assert!(
            logs.iter().any(|l| l["message"] == message),
            "no '{message}' in {logs:?}"
        );
    }
    assert!(logs
        .iter()
        .all(|l| l["level"].is_string() && l["timestamp"].is_string()));
    let predict: Vec<&&Value> = emf.iter().filter(|r| r["Route"] == "/predict").collect();
    assert!(!predict.is_empty(), "no EMF record for /predict: {emf:?}");
    let counted: u64 = predict
        .iter()
        .map(|r| r["Requests"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, answered + 1, "EMF counts every answered request");
    let r = predict[0];
    let cw = &r["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(cw["Namespace"], "Forest/Serve");
    assert_eq!(cw["Dimensions"], json!([["Service", "Route"]]));
    assert!(r["_aws"]["Timestamp"].is_u64());
    for name in ["LatencyP50", "LatencyP99", "LatencyMax"] {
        assert!(r[name].as_f64().unwrap() > 0.0, "{name}: {r}");
    }
    assert!(r["LatencyP50"].as_f64() <= r["LatencyP99"].as_f64());
    assert!(r["LatencyP99"].as_f64() <= r["LatencyMax"].as_f64());
}

/// Without `--model` the binary serves the model compiled into it.
#[cfg(feature = "compiled")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_the_compiled_model_by_default() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_forest-serve"))
        .args(["--addr", "127.0.0.1:0", "--emf-interval-secs", "0"])
        .env_remove("FOREST_SERVE_MODEL")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(started["message"], "forest-serve listening", "{started}");
    assert_eq!(started["engine"], "compiled");
    assert_eq!(started["model_version"], forest::MODEL_VERSION);
    let addr = started["addr"].as_str().unwrap();
    let client = client();
    let req = Request::post(format!("http://{addr}/predict"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(
            serde_json::to_vec(&forest_serve::example_basket()).unwrap(),
        )))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let expected = forest::predict_basket(&forest_serve::example_basket()).unwrap();
    assert_eq!(body["code"], expected.code);
    assert_eq!(body["model_version"], forest::MODEL_VERSION);
    kill_term(child.id());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn the_binary_explains_a_bad_model_and_bad_flags() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.forest");
    std::fs::write(&bad, b"not a model").unwrap();
    let out = run_binary(&["--model", bad.to_str().unwrap(), "--addr", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("bad.forest") && stdout.contains("\"level\":\"ERROR\""),
        "{stdout}"
    );
    // A real artifact, truncated or with one bit flipped: the error names
    // the damaged section.
    let bytes = forest_core::artifact::encode(&model::basket_model(7, 40));
    let truncated = dir.path().join("truncated.forest");
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x04;
    let flipped_path = dir.path().join("flipped.forest");
    std::fs::write(&flipped_path, &flipped).unwrap();
    for (path, problem) in [
        (&truncated, "truncated"),
        (&flipped_path, "checksum mismatch"),
    ] {
        let out = run_binary(&["--model", path.to_str().unwrap(), "--addr", "127.0.0.1:0"]);
        assert_eq!(out.status.code(), Some(1));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("section ") && stdout.contains(problem),
            "{}: {stdout}",
            path.display()
        );
    }
    let out = run_binary(&["--max-batch", "lots"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-batch"));
    let out = run_binary(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for env in [
        "FOREST_ADDR",
        "FOREST_SERVE_MODEL",
        "FOREST_MAX_BODY_BYTES",
        "FOREST_DRAIN_TIMEOUT_SECS",
    ] {
        assert!(help.contains(env), "{env} in --help");
    }
}

fn run_binary(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_forest-serve"))
        .args(args)
        .env_remove("FOREST_SERVE_MODEL")
        .output()
        .unwrap()
}

/// Issue 15: a standard Open Inference Protocol client, tritonclient's HTTP
/// clients from PyPI (the README's test command installs them), infers
/// against the real server: no Content-Type, the binary tensor data
/// extension in and out for FP32 and BYTES, JSON both ways, and the
/// asyncio client's `application/octet-stream`; every answer is the
/// interpreter's to the bit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tritonclient_infers_with_binary_and_json_tensors() {
    let s = server().await;
    let m = &s.model.model;
    let bs = baskets(21, 4);
    let rows: Vec<Vec<f32>> = bs
        .iter()
        .map(|b| {
            let mut x = Vec::new();
            m.meta.features.encode_basket(b, &mut x).unwrap();
            x
        })
        .collect();
    let expected: Vec<Vec<f32>> = bs.iter().map(|b| model::expected(m, b)).collect();
    let codes: Vec<&str> = expected
        .iter()
        .map(|p| model::CLASSES[forest_core::argmax(p)])
        .collect();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/triton_client.py");
    let addr = s.url.trim_start_matches("http://").to_string();
    // NaN cannot travel in JSON: the rows go as numbers (null for NaN is
    // the server's own JSON convention, not numpy's), so missing values
    // are left to the basket input.
    let json_rows: Vec<Vec<Value>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| if v.is_nan() { json!(0.0) } else { json!(v) })
                .collect()
        })
        .collect();
    let rows_sent: Vec<Vec<f32>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| if v.is_nan() { 0.0 } else { *v })
                .collect()
        })
        .collect();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .arg(addr)
            .arg(MODEL_NAME)
            .arg(serde_json::to_string(&json_rows).unwrap())
            .arg(serde_json::to_string(&bs).unwrap())
            .output()
            .expect("python3 runs")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "tritonclient failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&r["live"], &r["ready"], &r["model_ready"]),
        (&json!(true), &json!(true), &json!(true))
    );
    assert!(r["server_metadata"]["extensions"]
        .as_array()
        .unwrap()
        .contains(&json!("binary_tensor_data")));
    assert_eq!(r["model_metadata"]["name"], MODEL_NAME);
    let features_expected: Vec<Vec<f32>> = rows_sent
        .iter()
        .map(|x| m.forest.predict_proba(x).unwrap())
        .collect();
    let feature_codes: Vec<&str> = features_expected
        .iter()
        .map(|p| model::CLASSES[forest_core::argmax(p)])
        .collect();
    let as_rows = |v: &Value| -> Vec<Vec<f32>> { v.as_array().unwrap().iter().map(f32s).collect() };
    for (input, want, want_codes) in [
        ("features", &features_expected, &feature_codes),
        ("baskets", &expected, &codes),
    ] {
        let cases = r[input].as_object().unwrap();
        assert_eq!(cases.len(), 6, "{cases:?}");
        for (case, answer) in cases {
            assert_eq!(&as_rows(&answer["probabilities"]), want, "{input} {case}");
            assert_eq!(&answer["code"], &json!(want_codes), "{input} {case}");
        }
    }
    assert_eq!(as_rows(&r["asyncio"]["probabilities"]), features_expected);
    let bad = r["bad_input_error"].as_str().unwrap_or_default();
    assert!(bad.contains("unknown input `nope`"), "{r}");
    s.stop().await;
}

/// Issue 15: the OpenAPI document says exactly what the server does. The
/// property-based API tester schemathesis (PyPI) generates requests from
/// /openapi.json, schema-valid and schema-violating, runs every check
/// against the live server and finds nothing. `schemathesis.toml` beside
/// this file holds the one allowance JSON Schema forces: V2 infer may
/// answer 400 to a schema-valid request whose data does not hold its
/// shape's product of elements.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_disagreement_with_the_openapi_document() {
    let s = server_with(|c| {
        c.max_batch = 64;
        c.max_body_bytes = 1 << 20;
    })
    .await;
    let url = format!("{}/openapi.json", s.url);
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis.toml");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("schemathesis")
            .args(["--config-file", config, "run", &url])
            .args(["--checks", "all", "--max-examples", "60", "--seed", "1"])
            .args(["--workers", "1", "--continue-on-failure", "--no-color"])
            .output()
            .expect("schemathesis runs (installed by the README's test command)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The summary, for the test log (cargo test -- --nocapture).
    eprintln!(
        "{}",
        stdout
            .lines()
            .rev()
            .take(12)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        stdout.contains("operations") || stdout.contains("Operations"),
        "schemathesis tested nothing:\n{stdout}"
    );
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.stop().await;
}

/// Issue 15's first defect, over HTTP: a valid basket followed by trailing
/// bytes or by a second object is refused, as serde refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailing_bytes_after_a_basket_are_refused() {
    let s = server().await;
    let basket = serde_json::to_string(&basket_json(&baskets(3, 1)[0])).unwrap();
    for body in [
        format!("{basket}xyz"),
        format!("{basket}{basket}"),
        format!("{{\"instances\":[{basket}]}}]"),
    ] {
        let a = s
            .send(
                Method::POST,
                "/predict",
                Some("application/json"),
                body.clone(),
            )
            .await;
        assert_eq!(a.status, 400, "{body}: {:?}", a.body);
        assert_eq!(a.json()["error"]["code"], "malformed_json");
    }
    s.stop().await;
}

/// Issue 15: the short soak (benches/soak.sh runs the long one on the
/// release server): 16 keep-alive connections sending /predict for 3 s
/// with no error and flat memory, then 50 clients that never finish their
/// request head, all closed at the header timeout while /health answers.
#[test]
fn a_short_soak_holds() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../benches/soak.py");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = Command::new("python3")
        .arg(script)
        .args(["--server", env!("CARGO_BIN_EXE_forest-serve")])
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .args(["--connections", "16", "--seconds", "3", "--slow", "50"])
        .args(["--header-timeout", "1", "--max-health-ms", "500"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("0 errors") && stdout.contains("soak: OK"),
        "{stdout}"
    );
}
