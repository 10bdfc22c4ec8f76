//! The Open Inference Protocol (KServe V2 / Triton HTTP) beside `/predict`,
//! so KServe and Triton clients work unchanged.
//!
//! The model takes one input and answers two outputs:
//!
//! - input `features`, `FP32` (or `FP64`), shape `[N, n_features]`: ready
//!   feature vectors, row-major, flat or nested; `null` stands for a missing
//!   value (NaN), which JSON cannot spell;
//! - or input `baskets`, `BYTES`, shape `[N]`: each element one basket as
//!   JSON text (the `/predict` shape), or the basket object itself;
//! - output `probabilities`, `FP32`, shape `[N, n_classes]`, and output
//!   `code`, `BYTES`, shape `[N]`, the most probable class.
//!
//! Errors take the protocol's shape, `{"error": "message"}`.

use forest_core::Basket;
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{parse_json, ApiError};
use crate::engine::ModelInfo;

pub const FEATURES: &str = "features";
pub const BASKETS: &str = "baskets";
pub const PROBABILITIES: &str = "probabilities";
pub const CODE: &str = "code";

#[derive(Deserialize)]
pub struct InferRequest {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    pub parameters: Option<Value>,
    pub inputs: Vec<InferInput>,
    #[serde(default)]
    pub outputs: Option<Vec<RequestedOutput>>,
}

#[derive(Deserialize)]
pub struct InferInput {
    pub name: String,
    pub shape: Vec<i64>,
    pub datatype: String,
    #[serde(default)]
    #[allow(dead_code)]
    pub parameters: Option<Value>,
    pub data: Value,
}

#[derive(Deserialize)]
pub struct RequestedOutput {
    pub name: String,
    #[serde(default)]
    #[allow(dead_code)]
    pub parameters: Option<Value>,
}

/// What an infer request asks the engine for.
pub enum Batch {
    /// `n_rows * n_features` values, row-major.
    Features(Vec<f32>),
    Baskets(Vec<Basket>),
}

pub struct Parsed {
    pub id: Option<String>,
    pub batch: Batch,
    pub n_rows: usize,
    pub want_probabilities: bool,
    pub want_code: bool,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
}

/// Parses and checks an infer body against the model.
pub fn parse_infer(body: &[u8], info: &ModelInfo, max_batch: usize) -> Result<Parsed, ApiError> {
    let request: InferRequest = parse_json(body).map_err(|mut e| {
        // The protocol answers every bad request with 400.
        e.status = StatusCode::BAD_REQUEST;
        e
    })?;
    let [input] = request.inputs.as_slice() else {
        return Err(bad(format!(
            "the model takes exactly one input (`{FEATURES}` FP32 [N, {}] or `{BASKETS}` BYTES [N]), got {}",
            info.n_features(),
            request.inputs.len()
        )));
    };
    let (mut want_probabilities, mut want_code) = (true, true);
    if let Some(outputs) = &request.outputs {
        (want_probabilities, want_code) = (false, false);
        for o in outputs {
            match o.name.as_str() {
                PROBABILITIES => want_probabilities = true,
                CODE => want_code = true,
                other => {
                    return Err(bad(format!(
                        "unknown output `{other}`: the model answers `{PROBABILITIES}` and `{CODE}`"
                    )))
                }
            }
        }
    }
    if input.shape.iter().any(|&d| d < 0) {
        return Err(bad(format!(
            "input `{}`: shape {:?} has a negative dimension",
            input.name, input.shape
        )));
    }
    let shape: Vec<usize> = input.shape.iter().map(|&d| d as usize).collect();
    let mut flat = Vec::new();
    flatten(&input.data, &mut flat);
    let (batch, n_rows) = match input.datatype.as_str() {
        "FP32" | "FP64" => {
            let nf = info.n_features();
            let n_rows = match shape.as_slice() {
                [n, f] if *f == nf => *n,
                [f] if *f == nf => 1,
                _ => {
                    return Err(bad(format!(
                        "input `{}`: shape {:?} is not [N, {nf}]",
                        input.name, input.shape
                    )))
                }
            };
            if flat.len() != n_rows.saturating_mul(nf) {
                return Err(bad(format!(
                    "input `{}`: {} values for shape {:?}",
                    input.name,
                    flat.len(),
                    input.shape
                )));
            }
            let mut rows = Vec::with_capacity(flat.len());
            for (i, v) in flat.iter().enumerate() {
                rows.push(match v {
                    Value::Null => f32::NAN,
                    Value::Number(n) => n.as_f64().unwrap_or(f64::NAN) as f32,
                    other => {
                        return Err(bad(format!(
                            "input `{}`: element {i} is {other}, not a number",
                            input.name
                        )))
                    }
                });
            }
            (Batch::Features(rows), n_rows)
        }
        "BYTES" => {
            let n_rows = match shape.as_slice() {
                [n] | [n, 1] => *n,
                _ => {
                    return Err(bad(format!(
                        "input `{}`: shape {:?} is not [N]",
                        input.name, input.shape
                    )))
                }
            };
            if flat.len() != n_rows {
                return Err(bad(format!(
                    "input `{}`: {} elements for shape {:?}",
                    input.name,
                    flat.len(),
                    input.shape
                )));
            }
            let mut baskets = Vec::with_capacity(n_rows);
            for (i, v) in flat.iter().enumerate() {
                let text;
                let bytes = match v {
                    Value::String(s) => s.as_bytes(),
                    Value::Object(_) => {
                        text = v.to_string();
                        text.as_bytes()
                    }
                    other => {
                        return Err(bad(format!(
                            "input `{}`: element {i} is {other}, not a basket as JSON text",
                            input.name
                        )))
                    }
                };
                let request = crate::api::parse_predict(bytes, 1).map_err(|e| {
                    let field = e.field.map_or(String::new(), |f| format!(".{f}"));
                    bad(format!("input `{}`[{i}]{field}: {}", input.name, e.message))
                })?;
                match request {
                    crate::api::PredictRequest::One(b) => baskets.push(b),
                    crate::api::PredictRequest::Batch(_) => {
                        return Err(bad(format!(
                            "input `{}`[{i}]: one basket per element, not a batch",
                            input.name
                        )))
                    }
                }
            }
            (Batch::Baskets(baskets), n_rows)
        }
        other => {
            return Err(bad(format!(
                "input `{}`: datatype {other} is not FP32, FP64 or BYTES",
                input.name
            )))
        }
    };
    if n_rows == 0 {
        return Err(bad(format!("input `{}` holds no rows", input.name)));
    }
    if n_rows > max_batch {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!("{n_rows} rows in one request, at most {max_batch} allowed"),
        ));
    }
    Ok(Parsed {
        id: request.id,
        batch,
        n_rows,
        want_probabilities,
        want_code,
    })
}

/// Tensor data may be flat or nested row-major arrays.
fn flatten<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => {
            for item in items {
                flatten(item, out);
            }
        }
        other => out.push(other),
    }
}

/// The infer answer.
pub fn infer_response(info: &ModelInfo, parsed: &Parsed, probabilities: &[f32]) -> Value {
    let k = info.n_classes();
    let mut outputs = Vec::new();
    if parsed.want_probabilities {
        outputs.push(json!({
            "name": PROBABILITIES,
            "datatype": "FP32",
            "shape": [parsed.n_rows, k],
            "data": probabilities,
        }));
    }
    if parsed.want_code {
        let codes: Vec<&str> = probabilities
            .chunks_exact(k)
            .map(|p| info.classes[forest_core::argmax(p)].as_str())
            .collect();
        outputs.push(json!({
            "name": CODE,
            "datatype": "BYTES",
            "shape": [parsed.n_rows],
            "data": codes,
        }));
    }
    let mut answer = json!({
        "model_name": info.name,
        "model_version": info.version,
        "outputs": outputs,
    });
    if let Some(id) = &parsed.id {
        answer["id"] = id.clone().into();
    }
    answer
}

/// `GET /v2/models/{name}`.
pub fn model_metadata(info: &ModelInfo) -> Value {
    json!({
        "name": info.name,
        "versions": [info.version],
        "platform": format!("forest_{}", info.engine),
        "inputs": [
            {"name": FEATURES, "datatype": "FP32", "shape": [-1, info.n_features()]},
            {"name": BASKETS, "datatype": "BYTES", "shape": [-1]},
        ],
        "outputs": [
            {"name": PROBABILITIES, "datatype": "FP32", "shape": [-1, info.n_classes()]},
            {"name": CODE, "datatype": "BYTES", "shape": [-1]},
        ],
        "parameters": {
            "classes": info.classes,
            "feature_names": info.feature_names,
            "n_trees": info.n_trees,
            "content_hash": info.content_hash,
        },
    })
}

/// `GET /v2`.
pub fn server_metadata() -> Value {
    json!({
        "name": "forest-serve",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": [],
    })
}
