//! The Open Inference Protocol (KServe V2 / Triton HTTP) beside `/predict`,
//! so KServe and Triton clients work unchanged, with Triton's binary
//! tensor data extension.
//!
//! The model takes one input and answers two outputs:
//!
//! - input `features`, `FP32` (or `FP64`), shape `[N, n_features]` (or
//!   `[n_features]` for one row): ready feature vectors, row-major, flat or
//!   nested; `null` stands for a missing value (NaN), which JSON cannot
//!   spell;
//! - or input `baskets`, `BYTES`, shape `[N]` (or `[N, 1]`): each element
//!   one basket as JSON text (the `/predict` shape), or the basket object
//!   itself;
//! - output `probabilities`, `FP32`, shape `[N, n_classes]`, and output
//!   `code`, `BYTES`, shape `[N]`, the most probable class.
//!
//! # Binary tensor data
//!
//! As Triton defines it (`extension_binary_data.md` of its server): a body
//! whose `Inference-Header-Content-Length` header is `n` holds `n` bytes of
//! JSON, then the binary data of every input that says
//! `"parameters": {"binary_data_size": k}` instead of giving `data`, in
//! input order: little-endian, row-major, no padding; `FP32` 4 bytes an
//! element, `FP64` 8; `BYTES` each element a 4-byte little-endian length
//! and its bytes. An output is answered in binary when it asks
//! (`"parameters": {"binary_data": true}`) or, when it does not say, when
//! the request asks for all (`"parameters": {"binary_data_output": true}`);
//! the answer then carries `binary_data_size` per binary output, the bytes
//! after the JSON, `Inference-Header-Content-Length` and
//! `Content-Type: application/octet-stream`.
//!
//! Errors take the protocol's shape, `{"error": "message"}`, with 400.

use forest_core::Basket;
use hyper::StatusCode;
use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::{parse_json, ApiError};
use crate::engine::ModelInfo;

/// The input of ready feature vectors.
pub const FEATURES: &str = "features";
/// The input of baskets as JSON text.
pub const BASKETS: &str = "baskets";
/// The output of class probabilities.
pub const PROBABILITIES: &str = "probabilities";
/// The output of the most probable class.
pub const CODE: &str = "code";

/// The header that splits a body into its JSON and binary parts.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

/// A parameter value: the protocol allows strings, numbers and booleans.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
enum Parameter {
    Bool(bool),
    Number(serde_json::Number),
    String(String),
}

type Parameters = Map<String, Value>;

/// `parameters` as the protocol allows it: an object whose values are
/// strings, numbers or booleans (`null`, arrays and objects are refused).
fn parameters<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Parameters>, D::Error> {
    let raw: std::collections::BTreeMap<String, Parameter> = Deserialize::deserialize(d)?;
    Ok(Some(
        raw.into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Parameter::Bool(b) => Value::Bool(b),
                    Parameter::Number(n) => Value::Number(n),
                    Parameter::String(s) => Value::String(s),
                };
                (k, v)
            })
            .collect(),
    ))
}

/// An optional member that, when present, must not be `null` (serde's
/// `Option` would take `null` for absent).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A tensor dimension: a non-negative integer (`2` or `2.0`, which JSON
/// Schema counts as an integer too).
fn dims<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    let raw: Vec<serde_json::Number> = Deserialize::deserialize(d)?;
    raw.iter()
        .map(|n| {
            n.as_u64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u32::MAX as f64)
                        .map(|f| f as u64)
                })
                .ok_or_else(|| {
                    de::Error::custom(format!("shape: {n} is not a non-negative integer"))
                })
        })
        .collect()
}

#[derive(Deserialize)]
struct InferRequest {
    #[serde(default, deserialize_with = "present")]
    id: Option<String>,
    #[serde(default, deserialize_with = "parameters")]
    parameters: Option<Parameters>,
    inputs: Vec<InferInput>,
    #[serde(default, deserialize_with = "present")]
    outputs: Option<Vec<RequestedOutput>>,
}

#[derive(Deserialize)]
struct InferInput {
    name: String,
    #[serde(deserialize_with = "dims")]
    shape: Vec<u64>,
    datatype: String,
    #[serde(default, deserialize_with = "parameters")]
    parameters: Option<Parameters>,
    #[serde(default, deserialize_with = "present")]
    data: Option<Value>,
}

#[derive(Deserialize)]
struct RequestedOutput {
    name: String,
    #[serde(default, deserialize_with = "parameters")]
    parameters: Option<Parameters>,
}

/// What an infer request asks the engine for.
pub enum Batch {
    /// `n_rows * n_features` values, row-major.
    Features(Vec<f32>),
    /// One basket a row.
    Baskets(Vec<Basket>),
}

/// How an output is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Not asked for.
    Skip,
    /// As JSON `data`.
    Json,
    /// As binary data after the JSON.
    Binary,
}

/// A checked infer request.
pub struct Parsed {
    /// The request's `id`, echoed in the answer.
    pub id: Option<String>,
    /// The rows.
    pub batch: Batch,
    /// How many rows.
    pub n_rows: usize,
    /// How `probabilities` is answered.
    pub probabilities: Encoding,
    /// How `code` is answered.
    pub code: Encoding,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
}

/// A boolean parameter, refusing other types.
fn flag(params: Option<&Parameters>, key: &str, whose: &str) -> Result<Option<bool>, ApiError> {
    match params.and_then(|p| p.get(key)) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(bad(format!(
            "{whose}: parameter `{key}` must be a boolean, got {other}"
        ))),
    }
}

/// Splits a body by its `Inference-Header-Content-Length` (`None`: all
/// JSON) into the JSON header and the binary data after it.
pub fn split_body<'a>(
    body: &'a [u8],
    header_length: Option<&str>,
) -> Result<(&'a [u8], &'a [u8]), ApiError> {
    let Some(raw) = header_length else {
        return Ok((body, &[]));
    };
    let n: usize = raw.trim().parse().map_err(|_| {
        bad(format!(
            "Inference-Header-Content-Length `{raw}` is not a number of bytes"
        ))
    })?;
    if n == 0 {
        return Err(bad(
            "Inference-Header-Content-Length is 0: this model takes a JSON header naming its input",
        ));
    }
    if n > body.len() {
        return Err(bad(format!(
            "Inference-Header-Content-Length {n} is more than the {}-byte body",
            body.len()
        )));
    }
    Ok(body.split_at(n))
}

/// Parses and checks an infer request (its JSON header and binary data)
/// against the model.
pub fn parse_infer(
    json_part: &[u8],
    binary: &[u8],
    info: &ModelInfo,
    max_batch: usize,
) -> Result<Parsed, ApiError> {
    let request: InferRequest = parse_json(json_part).map_err(|mut e| {
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
    let all_binary = flag(request.parameters.as_ref(), "binary_data_output", "request")?;
    let default = if all_binary == Some(true) {
        Encoding::Binary
    } else {
        Encoding::Json
    };
    let (mut probabilities, mut code) = (default, default);
    if let Some(outputs) = &request.outputs {
        (probabilities, code) = (Encoding::Skip, Encoding::Skip);
        for o in outputs {
            let whose = format!("output `{}`", o.name);
            if o.parameters
                .as_ref()
                .is_some_and(|p| p.contains_key("classification"))
            {
                return Err(bad(format!(
                    "{whose}: the classification extension is not supported; ask for `{CODE}`"
                )));
            }
            let encoding = match flag(o.parameters.as_ref(), "binary_data", &whose)? {
                Some(true) => Encoding::Binary,
                Some(false) => Encoding::Json,
                None => default,
            };
            match o.name.as_str() {
                PROBABILITIES => probabilities = encoding,
                CODE => code = encoding,
                other => {
                    return Err(bad(format!(
                        "unknown output `{other}`: the model answers `{PROBABILITIES}` and `{CODE}`"
                    )))
                }
            }
        }
    }
    let binary_size = match input
        .parameters
        .as_ref()
        .and_then(|p| p.get("binary_data_size"))
    {
        None => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            bad(format!(
                "input `{}`: binary_data_size must be a non-negative integer, got {v}",
                input.name
            ))
        })? as usize),
    };
    let data = match (&input.data, binary_size) {
        (Some(data), None) => TensorData::Json(data),
        (None, Some(size)) => {
            if size != binary.len() {
                return Err(bad(format!(
                    "input `{}`: binary_data_size {size}, but {} bytes follow the JSON header",
                    input.name,
                    binary.len()
                )));
            }
            TensorData::Binary(binary)
        }
        (Some(_), Some(_)) => {
            return Err(bad(format!(
                "input `{}`: both `data` and binary_data_size; send one",
                input.name
            )))
        }
        (None, None) => {
            return Err(bad(format!(
                "input `{}`: no `data` and no binary_data_size",
                input.name
            )))
        }
    };
    if matches!(data, TensorData::Json(_)) && !binary.is_empty() {
        return Err(bad(format!(
            "{} bytes after the JSON header, but no input takes binary data",
            binary.len()
        )));
    }
    let shape = &input.shape;
    let (batch, n_rows) = match (input.name.as_str(), input.datatype.as_str()) {
        (FEATURES, "FP32" | "FP64") => {
            let nf = info.n_features() as u64;
            let n_rows = match shape.as_slice() {
                [n, f] if *f == nf => *n,
                [f] if *f == nf => 1,
                _ => {
                    return Err(bad(format!(
                        "input `{FEATURES}`: shape {shape:?} is not [N, {nf}]"
                    )))
                }
            };
            let rows = check_rows(n_rows, max_batch)?;
            let width = if input.datatype == "FP32" { 4 } else { 8 };
            let values = match data {
                TensorData::Json(v) => json_numbers(v, rows * nf as usize)?,
                TensorData::Binary(b) => binary_numbers(b, width, rows * nf as usize)?,
            };
            (Batch::Features(values), rows)
        }
        (BASKETS, "BYTES") => {
            let n_rows = match shape.as_slice() {
                [n] | [n, 1] => *n,
                _ => {
                    return Err(bad(format!(
                        "input `{BASKETS}`: shape {shape:?} is not [N]"
                    )))
                }
            };
            let rows = check_rows(n_rows, max_batch)?;
            let baskets = match data {
                TensorData::Json(v) => json_baskets(v, rows)?,
                TensorData::Binary(b) => binary_baskets(b, rows)?,
            };
            (Batch::Baskets(baskets), rows)
        }
        (FEATURES, other) | (BASKETS, other) => {
            return Err(bad(format!(
                "input `{}`: datatype {other}; `{FEATURES}` is FP32 or FP64, `{BASKETS}` is BYTES",
                input.name
            )))
        }
        (other, _) => {
            return Err(bad(format!(
                "unknown input `{other}`: the model takes `{FEATURES}` (FP32 [N, {}]) or `{BASKETS}` (BYTES [N])",
                info.n_features()
            )))
        }
    };
    Ok(Parsed {
        id: request.id,
        batch,
        n_rows,
        probabilities,
        code,
    })
}

enum TensorData<'a> {
    Json(&'a Value),
    Binary(&'a [u8]),
}

/// The row count of a shape, within the batch limit.
fn check_rows(n_rows: u64, max_batch: usize) -> Result<usize, ApiError> {
    if n_rows == 0 {
        return Err(bad("the input holds no rows"));
    }
    if n_rows > max_batch as u64 {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!("{n_rows} rows in one request, at most {max_batch} allowed"),
        ));
    }
    Ok(n_rows as usize)
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

fn json_numbers(data: &Value, expected: usize) -> Result<Vec<f32>, ApiError> {
    let mut flat = Vec::new();
    flatten(data, &mut flat);
    if flat.len() != expected {
        return Err(bad(format!(
            "input `{FEATURES}`: {} values for {expected} (the shape's product)",
            flat.len()
        )));
    }
    flat.iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Null => Ok(f32::NAN),
            Value::Number(n) => Ok(n.as_f64().unwrap_or(f64::NAN) as f32),
            other => Err(bad(format!(
                "input `{FEATURES}`: element {i} is {other}, not a number"
            ))),
        })
        .collect()
}

fn binary_numbers(bytes: &[u8], width: usize, expected: usize) -> Result<Vec<f32>, ApiError> {
    if Some(bytes.len()) != expected.checked_mul(width) {
        return Err(bad(format!(
            "input `{FEATURES}`: {} bytes of binary data for {expected} values of {width} bytes",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(width)
        .map(|c| match *c {
            [a, b, c, d] => f32::from_le_bytes([a, b, c, d]),
            [a, b, c, d, e, f, g, h] => f64::from_le_bytes([a, b, c, d, e, f, g, h]) as f32,
            _ => f32::NAN,
        })
        .collect())
}

fn basket(bytes: &[u8], i: usize) -> Result<Basket, ApiError> {
    let request = crate::api::parse_predict(bytes, 1).map_err(|e| {
        let field = e.field.map_or(String::new(), |f| format!(".{f}"));
        bad(format!("input `{BASKETS}`[{i}]{field}: {}", e.message))
    })?;
    match request {
        crate::api::PredictRequest::One(b) => Ok(b),
        crate::api::PredictRequest::Batch(_) => Err(bad(format!(
            "input `{BASKETS}`[{i}]: one basket per element, not a batch"
        ))),
    }
}

fn json_baskets(data: &Value, expected: usize) -> Result<Vec<Basket>, ApiError> {
    let mut flat = Vec::new();
    flatten(data, &mut flat);
    if flat.len() != expected {
        return Err(bad(format!(
            "input `{BASKETS}`: {} elements for {expected} (the shape's product)",
            flat.len()
        )));
    }
    flat.iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::String(s) => basket(s.as_bytes(), i),
            Value::Object(_) => basket(v.to_string().as_bytes(), i),
            other => Err(bad(format!(
                "input `{BASKETS}`: element {i} is {other}, not a basket as JSON text"
            ))),
        })
        .collect()
}

fn binary_baskets(mut bytes: &[u8], expected: usize) -> Result<Vec<Basket>, ApiError> {
    let mut out = Vec::with_capacity(expected);
    for i in 0..expected {
        let Some((len, rest)) = bytes.split_first_chunk::<4>() else {
            return Err(bad(format!(
                "input `{BASKETS}`: binary data ends before element {i} of {expected}"
            )));
        };
        let len = u32::from_le_bytes(*len) as usize;
        if len > rest.len() {
            return Err(bad(format!(
                "input `{BASKETS}`: element {i} claims {len} bytes, {} remain",
                rest.len()
            )));
        }
        let (element, rest) = rest.split_at(len);
        out.push(basket(element, i)?);
        bytes = rest;
    }
    if !bytes.is_empty() {
        return Err(bad(format!(
            "input `{BASKETS}`: {} bytes of binary data after the {expected} elements",
            bytes.len()
        )));
    }
    Ok(out)
}

/// An infer answer: the body, and the JSON header's length when binary
/// data follows it.
pub struct Answer {
    /// The whole body.
    pub body: Vec<u8>,
    /// `Some(n)`: the first `n` bytes are JSON and binary data follows
    /// (answer `Inference-Header-Content-Length: n` and
    /// `application/octet-stream`).
    pub header_length: Option<usize>,
}

/// The infer answer.
pub fn infer_response(info: &ModelInfo, parsed: &Parsed, probabilities: &[f32]) -> Answer {
    let k = info.n_classes();
    let mut outputs = Vec::new();
    let mut binary = Vec::new();
    let codes = || {
        probabilities
            .chunks_exact(k)
            .map(|p| info.classes[forest_core::argmax(p)].as_str())
    };
    let mut output = |name: &str,
                      datatype: &str,
                      shape: Value,
                      encoding: Encoding,
                      json_data: Value,
                      bytes: Vec<u8>| {
        let mut o = json!({"name": name, "datatype": datatype, "shape": shape});
        match encoding {
            Encoding::Skip => return,
            Encoding::Json => o["data"] = json_data,
            Encoding::Binary => {
                o["parameters"] = json!({"binary_data_size": bytes.len()});
                binary.extend_from_slice(&bytes);
            }
        }
        outputs.push(o);
    };
    output(
        PROBABILITIES,
        "FP32",
        json!([parsed.n_rows, k]),
        parsed.probabilities,
        if parsed.probabilities == Encoding::Json {
            json!(probabilities)
        } else {
            Value::Null
        },
        if parsed.probabilities == Encoding::Binary {
            probabilities.iter().flat_map(|p| p.to_le_bytes()).collect()
        } else {
            Vec::new()
        },
    );
    output(
        CODE,
        "BYTES",
        json!([parsed.n_rows]),
        parsed.code,
        if parsed.code == Encoding::Json {
            json!(codes().collect::<Vec<_>>())
        } else {
            Value::Null
        },
        if parsed.code == Encoding::Binary {
            codes()
                .flat_map(|c| (c.len() as u32).to_le_bytes().into_iter().chain(c.bytes()))
                .collect()
        } else {
            Vec::new()
        },
    );
    let mut answer = json!({
        "model_name": info.name,
        "model_version": info.version,
        "outputs": outputs,
    });
    if let Some(id) = &parsed.id {
        answer["id"] = id.clone().into();
    }
    let mut body = serde_json::to_vec(&answer).unwrap_or_default();
    let header_length = (!binary.is_empty()).then_some(body.len());
    body.extend_from_slice(&binary);
    Answer {
        body,
        header_length,
    }
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
        "extensions": ["binary_tensor_data"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ModelInfo {
        ModelInfo {
            name: "m".into(),
            version: "v".into(),
            classes: vec!["LA".into(), "MM".into(), "UM".into()],
            feature_names: vec!["a".into(), "b".into()],
            n_trees: 1,
            engine: "interpreted",
            content_hash: "h".into(),
        }
    }

    fn parse(json: Value, binary: &[u8]) -> Result<Parsed, ApiError> {
        parse_infer(json.to_string().as_bytes(), binary, &info(), 8)
    }

    #[test]
    fn binary_features_in_and_out() {
        let values = [1.0f32, f32::NAN, -2.5, 0.0];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let p = parse(
            json!({"inputs": [{"name": "features", "datatype": "FP32", "shape": [2, 2],
                   "parameters": {"binary_data_size": 16}}],
                   "parameters": {"binary_data_output": true}}),
            &bytes,
        )
        .unwrap();
        let Batch::Features(rows) = &p.batch else {
            panic!()
        };
        assert_eq!(rows.len(), 4);
        assert!(rows[1].is_nan() && rows[2] == -2.5);
        assert_eq!(
            (p.probabilities, p.code),
            (Encoding::Binary, Encoding::Binary)
        );
        let answer = infer_response(&info(), &p, &[0.5, 0.25, 0.25, 0.0, 0.0, 1.0]);
        let n = answer.header_length.unwrap();
        let head: Value = serde_json::from_slice(&answer.body[..n]).unwrap();
        assert_eq!(head["outputs"][0]["parameters"]["binary_data_size"], 24);
        assert_eq!(
            head["outputs"][1]["parameters"]["binary_data_size"],
            4 + 2 + 4 + 2
        );
        let tail = &answer.body[n..];
        assert_eq!(&tail[..4], &0.5f32.to_le_bytes());
        assert_eq!(&tail[24..], b"\x02\x00\x00\x00LA\x02\x00\x00\x00UM");
    }

    #[test]
    fn binary_sizes_must_add_up() {
        let input = |size: usize| {
            json!({"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 2],
                   "parameters": {"binary_data_size": size}}]})
        };
        assert!(parse(input(8), &[0; 8]).is_ok());
        assert!(parse(input(8), &[0; 9]).is_err(), "bytes left over");
        assert!(parse(input(12), &[0; 12]).is_err(), "three values for two");
        let both = json!({"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 2],
                          "data": [1, 2], "parameters": {"binary_data_size": 8}}]});
        assert!(parse(both, &[0; 8]).is_err());
    }

    #[test]
    fn binary_baskets_are_length_prefixed() {
        let basket = r#"{"store_format":"LS","store_region":"E02","basket_size":"L","basket_type":"Top Up","dominant_mission":"Fresh","items":[{"prod_code":"P","prod_code_10":"C","prod_code_20":"D","prod_code_30":"G","quantity":1,"spend":1}]}"#;
        let mut bytes = (basket.len() as u32).to_le_bytes().to_vec();
        bytes.extend_from_slice(basket.as_bytes());
        let req = |size: usize| {
            json!({"inputs": [{"name": "baskets", "datatype": "BYTES", "shape": [1],
                   "parameters": {"binary_data_size": size}}],
                   "outputs": [{"name": "code", "parameters": {"binary_data": false}}]})
        };
        let p = parse(req(bytes.len()), &bytes).unwrap();
        assert!(matches!(&p.batch, Batch::Baskets(b) if b.len() == 1));
        assert_eq!((p.probabilities, p.code), (Encoding::Skip, Encoding::Json));
        let mut short = bytes.clone();
        short.pop();
        assert!(parse(req(short.len()), &short).is_err());
    }

    #[test]
    fn parameters_and_nulls_are_checked() {
        let ok = json!({"inputs": [{"name": "features", "datatype": "FP32", "shape": [2], "data": [1, 2]}]});
        assert!(parse(ok.clone(), &[]).is_ok());
        // Schema-valid spellings are taken.
        let mut float_shape = ok.clone();
        float_shape["inputs"][0]["shape"] = json!([1.0, 2]);
        assert!(parse(float_shape, &[]).is_ok());
        for (path, value) in [
            ("parameters", json!([null, null])),
            ("parameters", Value::Null),
            ("parameters", json!({"a": null})),
            ("parameters", json!({"a": [1]})),
            ("id", Value::Null),
            ("outputs", Value::Null),
        ] {
            let mut body = ok.clone();
            body[path] = value.clone();
            assert!(parse(body, &[]).is_err(), "{path}: {value}");
        }
        let mut unknown = ok.clone();
        unknown["inputs"][0]["name"] = json!("AAA");
        assert!(parse(unknown, &[]).is_err());
        let mut negative = ok;
        negative["inputs"][0]["shape"] = json!([-1, 2]);
        assert!(parse(negative, &[]).is_err());
    }

    #[test]
    fn the_header_length_splits_the_body() {
        assert_eq!(
            split_body(b"{}abc", Some("2")).unwrap(),
            (&b"{}"[..], &b"abc"[..])
        );
        assert_eq!(split_body(b"{}", None).unwrap(), (&b"{}"[..], &b""[..]));
        assert!(split_body(b"{}", Some("3")).is_err());
        assert!(split_body(b"{}", Some("0")).is_err());
        assert!(split_body(b"{}", Some("x")).is_err());
    }
}
