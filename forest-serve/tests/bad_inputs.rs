//! The catalogue of bad requests (issue 15): every input a client can get
//! wrong, each answered with a 4xx status and a code that names what is
//! wrong, and the server unharmed afterwards. The catalogue is also the
//! table of docs/reliability.md: this test fails when the two differ
//! (`FOREST_UPDATE_DOCS=1` rewrites the table from the test).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use serde_json::{json, Value};

use crate::{basket_json, server, MODEL_NAME};

/// One bad request: what it is, how it is sent, and the answer it gets.
struct Case {
    name: &'static str,
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    /// The `error.code` of the /predict family, or for the Open Inference
    /// Protocol (which has no codes) a fragment of its `error` message.
    code: &'static str,
}

fn case(
    name: &'static str,
    path: &str,
    body: impl Into<Vec<u8>>,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        name,
        method: Method::POST,
        path: path.to_string(),
        headers: vec![("content-type", "application/json".into())],
        body: body.into(),
        status,
        code,
    }
}

fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn catalogue() -> Vec<Case> {
    let good = basket_json(&forest_serve::example_basket());
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        json_bytes(&v)
    };
    let text = serde_json::to_string(&good).unwrap();
    let batch = |v: Vec<Value>| json_bytes(&json!({ "instances": v }));
    let p = "/predict";
    let infer = format!("/v2/models/{MODEL_NAME}/infer");
    let nf = 36;
    let features = |shape: Value, data: Value| {
        json_bytes(
            &json!({"inputs": [{"name": "features", "shape": shape, "datatype": "FP32", "data": data}]}),
        )
    };
    let ok_features = || json!({"inputs": [{"name": "features", "shape": [1, nf], "datatype": "FP32", "data": vec![0.5; nf]}]});
    let v2 = |f: &dyn Fn(&mut Value)| {
        let mut v = ok_features();
        f(&mut v);
        json_bytes(&v)
    };
    let mut cases = vec![
        case("empty body", p, "", 400, "malformed_json"),
        case(
            "truncated JSON",
            p,
            r#"{"store_format": "LS","#,
            400,
            "malformed_json",
        ),
        case(
            "not JSON (a form)",
            p,
            "store_format=LS",
            400,
            "malformed_json",
        ),
        case(
            "invalid UTF-8 in a string",
            p,
            b"{\"store_format\": \"\xff\"}".to_vec(),
            400,
            "malformed_json",
        ),
        case(
            "a basket, then trailing bytes",
            p,
            format!("{text}xyz"),
            400,
            "malformed_json",
        ),
        case(
            "two baskets back to back",
            p,
            format!("{text}{text}"),
            400,
            "malformed_json",
        ),
        case(
            "a bad escape in a string",
            p,
            r#"{"store_format": "L\x"}"#,
            400,
            "malformed_json",
        ),
        case(
            "a raw control character in a string",
            p,
            b"{\"store_format\": \"L\x01\"}".to_vec(),
            400,
            "malformed_json",
        ),
        case(
            "a number out of range",
            p,
            text.replacen("\"quantity\":1.0", "\"quantity\":1e400", 1),
            400,
            "malformed_json",
        ),
        case(
            "nested 10,000 deep",
            p,
            "[".repeat(10_000),
            400,
            "malformed_json",
        ),
        case("a JSON number", p, "5", 422, "invalid_type"),
        case("a JSON array", p, "[]", 422, "invalid_type"),
        case("a JSON string", p, r#""LS""#, 422, "invalid_type"),
        case("null", p, "null", 422, "invalid_type"),
        case("an empty object", p, "{}", 422, "missing_field"),
        case(
            "store_format as a number",
            p,
            with(&|v| v["store_format"] = json!(5)),
            422,
            "invalid_type",
        ),
        case(
            "store_format null",
            p,
            with(&|v| v["store_format"] = Value::Null),
            422,
            "invalid_type",
        ),
        case(
            "quantity as text",
            p,
            with(&|v| v["items"][0]["quantity"] = json!("2")),
            422,
            "invalid_type",
        ),
        case(
            "spend as text",
            p,
            with(&|v| v["items"][0]["spend"] = json!("1.03")),
            422,
            "invalid_type",
        ),
        case(
            "spend null",
            p,
            with(&|v| v["items"][0]["spend"] = Value::Null),
            422,
            "invalid_type",
        ),
        case(
            "items as an object",
            p,
            with(&|v| v["items"] = json!({})),
            422,
            "invalid_type",
        ),
        case(
            "items null",
            p,
            with(&|v| v["items"] = Value::Null),
            422,
            "invalid_type",
        ),
        case(
            "an item as a string",
            p,
            with(&|v| v["items"][0] = json!("PRD0900097")),
            422,
            "invalid_type",
        ),
        case(
            "prod_code as an array",
            p,
            with(&|v| v["items"][0]["prod_code"] = json!(["PRD0900097"])),
            422,
            "invalid_type",
        ),
        case(
            "missing store_region",
            p,
            with(&|v| {
                v.as_object_mut().unwrap().remove("store_region");
            }),
            422,
            "missing_field",
        ),
        case(
            "missing items",
            p,
            with(&|v| {
                v.as_object_mut().unwrap().remove("items");
            }),
            422,
            "missing_field",
        ),
        case(
            "an item without prod_code",
            p,
            with(&|v| {
                v["items"][0].as_object_mut().unwrap().remove("prod_code");
            }),
            422,
            "missing_field",
        ),
        case(
            "an item without quantity",
            p,
            with(&|v| {
                v["items"][1].as_object_mut().unwrap().remove("quantity");
            }),
            422,
            "missing_field",
        ),
        case(
            "an unknown basket field",
            p,
            with(&|v| v["coupon"] = json!("SAVE10")),
            422,
            "unknown_field",
        ),
        case(
            "an unknown item field",
            p,
            with(&|v| v["items"][0]["colour"] = json!("red")),
            422,
            "unknown_field",
        ),
        case(
            "a duplicate key",
            p,
            text.replacen('{', r#"{"store_format":"SS","#, 1),
            422,
            "invalid_value",
        ),
        case(
            "no items",
            p,
            with(&|v| v["items"] = json!([])),
            422,
            "empty_items",
        ),
        case(
            "a negative quantity",
            p,
            with(&|v| v["items"][0]["quantity"] = json!(-1)),
            422,
            "invalid_quantity",
        ),
        case(
            "a zero quantity",
            p,
            with(&|v| v["items"][0]["quantity"] = json!(0)),
            422,
            "invalid_quantity",
        ),
        case("an empty batch", p, batch(vec![]), 422, "empty_batch"),
        case(
            "a batch over the limit (5 of 4)",
            p,
            batch(vec![good.clone(); 5]),
            413,
            "batch_too_large",
        ),
        case(
            "a bad basket in a batch",
            p,
            batch(vec![good.clone(), json!({"store_format": "LS"})]),
            422,
            "missing_field",
        ),
        case(
            "instances as an object",
            p,
            json_bytes(&json!({"instances": {}})),
            422,
            "invalid_type",
        ),
        case(
            "basket fields beside instances",
            p,
            json_bytes(&json!({"instances": [good.clone()], "items": []})),
            422,
            "unknown_field",
        ),
        case(
            "a body over the byte limit",
            p,
            vec![b' '; 20_000],
            413,
            "body_too_large",
        ),
    ];
    let media = [
        ("Content-Type text/plain", Some("text/plain"), None),
        ("no Content-Type", None, None),
        (
            "Content-Type application/jsonx",
            Some("application/jsonx"),
            None,
        ),
        (
            "a gzip Content-Encoding",
            Some("application/json"),
            Some("gzip"),
        ),
    ];
    for (name, ct, encoding) in media {
        let mut c = case(name, p, text.clone(), 415, "unsupported_media_type");
        c.headers = ct
            .map(|t| ("content-type", t.to_string()))
            .into_iter()
            .collect();
        if let Some(e) = encoding {
            c.headers.push(("content-encoding", e.to_string()));
        }
        cases.push(c);
    }
    for (name, method, path, status, code) in [
        (
            "GET /predict",
            Method::GET,
            "/predict",
            405,
            "method_not_allowed",
        ),
        (
            "PUT /predict",
            Method::PUT,
            "/predict",
            405,
            "method_not_allowed",
        ),
        (
            "POST /health",
            Method::POST,
            "/health",
            405,
            "method_not_allowed",
        ),
        (
            "DELETE /metrics",
            Method::DELETE,
            "/metrics",
            405,
            "method_not_allowed",
        ),
        ("an unknown path", Method::GET, "/nope", 404, "not_found"),
        (
            "/predict with a trailing slash",
            Method::GET,
            "/predict/",
            404,
            "not_found",
        ),
        (
            "another API's path",
            Method::GET,
            "/v1/predict",
            404,
            "not_found",
        ),
    ] {
        let mut c = case(name, path, "", status, code);
        c.method = method;
        c.headers.clear();
        cases.push(c);
    }
    let two_inputs = {
        let mut v = ok_features();
        let input = v["inputs"][0].clone();
        v["inputs"].as_array_mut().unwrap().push(input);
        json_bytes(&v)
    };
    cases.extend([
        case("V2: no inputs", &infer, json_bytes(&json!({"inputs": []})), 400, "exactly one input"),
        case("V2: two inputs", &infer, two_inputs, 400, "exactly one input"),
        case("V2: an unknown input", &infer, v2(&|v| v["inputs"][0]["name"] = json!("pixels")), 400, "unknown input"),
        case("V2: features as INT64", &infer, v2(&|v| v["inputs"][0]["datatype"] = json!("INT64")), 400, "datatype INT64"),
        case("V2: a row of the wrong width", &infer, features(json!([1, 3]), json!([1, 2, 3])), 400, "is not [N, 36]"),
        case("V2: data short of the shape", &infer, features(json!([2, nf]), json!(vec![0.5; nf])), 400, "the shape's product"),
        case("V2: a value that is not a number", &infer, v2(&|v| v["inputs"][0]["data"][3] = json!("x")), 400, "not a number"),
        case("V2: a negative dimension", &infer, v2(&|v| v["inputs"][0]["shape"] = json!([-1, nf])), 400, "non-negative integer"),
        case("V2: parameters null", &infer, v2(&|v| v["parameters"] = Value::Null), 400, "invalid type"),
        case("V2: parameters a list of nulls", &infer, v2(&|v| v["parameters"] = json!([null, null])), 400, "invalid type"),
        case("V2: a parameter value null", &infer, v2(&|v| v["parameters"] = json!({"a": null})), 400, "untagged"),
        case("V2: id null", &infer, v2(&|v| v["id"] = Value::Null), 400, "invalid type"),
        case("V2: an unknown output", &infer, v2(&|v| v["outputs"] = json!([{"name": "logits"}])), 400, "unknown output"),
        case("V2: the classification extension", &infer, v2(&|v| v["outputs"] = json!([{"name": "code", "parameters": {"classification": 2}}])), 400, "classification"),
        case("V2: binary_data output not a boolean", &infer, v2(&|v| v["parameters"] = json!({"binary_data_output": "yes"})), 400, "must be a boolean"),
        case("V2: a basket element that is a number", &infer, json_bytes(&json!({"inputs": [{"name": "baskets", "shape": [1], "datatype": "BYTES", "data": [42]}]})), 400, "not a basket"),
        case("V2: a basket element that is a batch", &infer, json_bytes(&json!({"inputs": [{"name": "baskets", "shape": [1], "datatype": "BYTES", "data": [json!({"instances": [good.clone()]}).to_string()]}]})), 400, "one basket per element"),
        case("V2: a basket element missing a field", &infer, json_bytes(&json!({"inputs": [{"name": "baskets", "shape": [1], "datatype": "BYTES", "data": [json!({"store_format": "LS"}).to_string()]}]})), 400, "missing field"),
        case("V2: rows over the limit", &infer, features(json!([5, nf]), json!(vec![vec![0.5; nf]; 5])), 413, "at most 4 allowed"),
        case("V2: an unknown model", "/v2/models/other/infer", json_bytes(&ok_features()), 404, "no model other"),
        case("V2: an unknown version", &format!("/v2/models/{MODEL_NAME}/versions/0/infer"), json_bytes(&ok_features()), 404, "version 0"),
    ]);
    let mut binary_short = case(
        "V2: binary data shorter than declared",
        &infer,
        Vec::new(),
        400,
        "binary_data_size 144, but 8 bytes",
    );
    let header = json!({"inputs": [{"name": "features", "shape": [1, nf], "datatype": "FP32", "parameters": {"binary_data_size": 4 * nf}}]}).to_string();
    binary_short.body = [header.as_bytes(), &[0u8; 8]].concat();
    binary_short.headers = vec![("inference-header-content-length", header.len().to_string())];
    cases.push(binary_short);
    let mut zero_header = case(
        "V2: Inference-Header-Content-Length 0",
        &infer,
        json_bytes(&ok_features()),
        400,
        "is 0",
    );
    zero_header
        .headers
        .push(("inference-header-content-length", "0".into()));
    cases.push(zero_header);
    let mut header_too_long = case(
        "V2: a JSON header longer than the body",
        &infer,
        json_bytes(&ok_features()),
        400,
        "more than the",
    );
    header_too_long
        .headers
        .push(("inference-header-content-length", "99999".into()));
    cases.push(header_too_long);
    let mut v2_text = case(
        "V2: Content-Type text/plain",
        &infer,
        json_bytes(&ok_features()),
        415,
        "application/octet-stream",
    );
    v2_text.headers = vec![("content-type", "text/plain".into())];
    cases.push(v2_text);
    let mut v2_get = case("V2: GET on infer", &infer, "", 405, "takes POST");
    v2_get.method = Method::GET;
    v2_get.headers.clear();
    cases.push(v2_get);
    cases
}

fn table(rows: &[(String, String, u16, String)]) -> String {
    let mut out = String::from(
        "| # | bad input | route | status | code (or V2 message) |\n|---:|---|---|---:|---|\n",
    );
    for (i, (name, route, status, code)) in rows.iter().enumerate() {
        out.push_str(&format!(
            "| {} | {name} | `{route}` | {status} | `{code}` |\n",
            i + 1
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_are_refused_with_a_named_status_and_code() {
    let s = server().await;
    let cases = catalogue();
    assert!(cases.len() >= 50, "{} cases", cases.len());
    let mut rows = Vec::new();
    for c in &cases {
        let mut req = Request::builder()
            .method(c.method.clone())
            .uri(format!("{}{}", s.url, c.path));
        for (k, v) in &c.headers {
            req = req.header(*k, v);
        }
        let resp = s
            .client
            .request(req.body(Full::new(Bytes::from(c.body.clone()))).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let answer: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {body:?}", c.name));
        assert_eq!(status, c.status, "{}: {answer}", c.name);
        if c.path.starts_with("/v2") {
            let message = answer["error"].as_str().unwrap_or_default();
            assert!(message.contains(c.code), "{}: {answer}", c.name);
        } else {
            assert_eq!(answer["error"]["code"], c.code, "{}: {answer}", c.name);
        }
        let route = if c.path.starts_with("/v2/models/") {
            format!("{} /v2/models/{{name}}/infer", c.method)
        } else {
            format!("{} {}", c.method, c.path)
        };
        rows.push((c.name.to_string(), route, c.status, c.code.to_string()));
        // A bad request never harms the next good one.
        assert_eq!(
            s.post("/predict", &basket_json(&forest_serve::example_basket()))
                .await
                .status,
            200,
            "after {}",
            c.name
        );
    }
    s.stop().await;

    let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/reliability.md");
    let text = std::fs::read_to_string(docs).unwrap_or_default();
    let (begin, end) = ("<!-- bad-inputs:begin -->\n", "<!-- bad-inputs:end -->");
    let expected = table(&rows);
    let current = text
        .split_once(begin)
        .and_then(|(_, rest)| rest.split_once(end))
        .map(|(t, _)| t.to_string());
    if current.as_deref() != Some(expected.as_str()) {
        if std::env::var_os("FOREST_UPDATE_DOCS").is_some() {
            let (head, rest) = text
                .split_once(begin)
                .expect("docs/reliability.md has the markers");
            let (_, tail) = rest.split_once(end).unwrap();
            std::fs::write(docs, format!("{head}{begin}{expected}{end}{tail}")).unwrap();
        } else {
            panic!(
                "docs/reliability.md's table of bad inputs is not the test's; rerun with \
                 FOREST_UPDATE_DOCS=1 to rewrite it:\n{expected}"
            );
        }
    }
}
