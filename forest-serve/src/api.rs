//! The `/predict` API: parsing and validating request bodies, the JSON
//! error shape, and the answers.
//!
//! Status codes, the same on every route of this API:
//!
//! | status | when | `error.code` |
//! |---|---|---|
//! | 400 | the body is not JSON (syntax, truncated, not UTF-8) | `malformed_json` |
//! | 404 | no such route | `not_found` |
//! | 405 | the route does not take this method (`Allow` names those it does) | `method_not_allowed` |
//! | 408 | the body did not arrive within `--body-read-timeout-secs` | `body_timeout` |
//! | 413 | the body is over `--max-body-bytes` | `body_too_large` |
//! | 413 | more baskets than `--max-batch` | `batch_too_large` |
//! | 415 | `Content-Type` is not `application/json` (parameters allowed) | `unsupported_media_type` |
//! | 422 | valid JSON of the wrong shape: a wrong type, a missing or unknown field | `invalid_type`, `missing_field`, `unknown_field`, `invalid_value` |
//! | 422 | a basket without items, an empty batch | `empty_items`, `empty_batch` |
//! | 422 | an item whose quantity is not above zero | `invalid_quantity` |
//! | 503 | the server is draining (`/ready`) | `draining` |
//!
//! `error.field` names the offending field as a path into the body
//! (`items[2].quantity`, `instances[0].store_format`) whenever there is one.
//! Unknown store, basket or product codes are not errors: the model's
//! fallbacks (the unseen category code, the parent category's prior) answer
//! them, exactly as in training.

use std::cell::RefCell;
use std::fmt;

use forest_core::{Basket, BASKET_FIELDS};
use hyper::StatusCode;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Deserialize, Serialize, Serializer};

use crate::fastjson::Fast;

/// A 4xx or 5xx answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable, machine-readable code (`missing_field`, ...).
    pub code: &'static str,
    /// What is wrong, for people.
    pub message: String,
    /// The path of the offending field in the body, when there is one.
    pub field: Option<String>,
}

impl ApiError {
    /// An error without a field.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// The same error, naming the field at fault.
    pub fn field(mut self, field: impl Into<String>) -> ApiError {
        let field = field.into();
        self.field = (!field.is_empty()).then_some(field);
        self
    }

    /// A 422: valid JSON of the wrong shape.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// The body of this API's errors.
    pub fn to_json(&self) -> Vec<u8> {
        let mut error = serde_json::json!({"code": self.code, "message": self.message});
        if let Some(field) = &self.field {
            error["field"] = field.clone().into();
        }
        serde_json::to_vec(&serde_json::json!({ "error": error })).unwrap_or_default()
    }

    /// The body of an Open Inference Protocol error: `{"error": "message"}`.
    pub fn to_v2_json(&self) -> Vec<u8> {
        let message = match &self.field {
            Some(field) => format!("{}: {}", field, self.message),
            None => self.message.clone(),
        };
        serde_json::to_vec(&serde_json::json!({ "error": message })).unwrap_or_default()
    }
}

/// A parsed `/predict` request.
#[derive(Debug, Clone, PartialEq)]
pub enum PredictRequest {
    /// One basket: the body is a basket object.
    One(Basket),
    /// `{"instances": [...]}`.
    Batch(Vec<Basket>),
}

/// The key that makes a body a batch.
const INSTANCES: &str = "instances";

/// A body is a batch when its first key is `instances` (then no other key
/// may follow), else one basket, read by [`Basket`]'s own deserialiser (so
/// the schema, its required fields and its errors are written once, in
/// forest-core).
impl<'de> Deserialize<'de> for PredictRequest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RequestVisitor)
    }
}

struct RequestVisitor;

impl<'de> Visitor<'de> for RequestVisitor {
    type Value = PredictRequest;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("one basket, or {\"instances\": [...]}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PredictRequest, A::Error> {
        let Some(first) = map.next_key::<String>()? else {
            return Err(de::Error::missing_field(BASKET_FIELDS[0].name));
        };
        if first == INSTANCES {
            let baskets = map.next_value()?;
            if let Some(other) = map.next_key::<String>()? {
                return Err(de::Error::custom(format_args!(
                    "unknown field `{other}`: not allowed beside `{INSTANCES}`; send one basket, or a batch"
                )));
            }
            return Ok(PredictRequest::Batch(baskets));
        }
        let replay = Replay {
            first: Some(first),
            map,
        };
        Basket::deserialize(de::value::MapAccessDeserializer::new(replay)).map(PredictRequest::One)
    }
}

/// A map whose first key was already read: it hands that key out again,
/// then the rest of the map.
struct Replay<A> {
    first: Option<String>,
    map: A,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Replay<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        match self.first.take() {
            Some(key) => seed
                .deserialize(de::value::StringDeserializer::<A::Error>::new(key))
                .map(Some),
            None => self.map.next_key_seed(seed),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

impl PredictRequest {
    /// The baskets, one or many.
    pub fn baskets(&self) -> &[Basket] {
        match self {
            PredictRequest::One(b) => std::slice::from_ref(b),
            PredictRequest::Batch(v) => v,
        }
    }
}

/// Parses and validates a `/predict` body: through the fast reader when the
/// body has the common shape, else through serde, which names any error.
pub fn parse_predict(body: &[u8], max_batch: usize) -> Result<PredictRequest, ApiError> {
    let request = match crate::fastjson::parse(body) {
        Some(Fast::One(basket)) => PredictRequest::One(basket),
        Some(Fast::Batch(baskets)) => PredictRequest::Batch(baskets),
        None => parse_predict_serde(body)?,
    };
    let batch = matches!(request, PredictRequest::Batch(_));
    validate(request.baskets(), batch, max_batch)?;
    Ok(request)
}

thread_local! {
    /// Each worker's baskets, reused from request to request.
    static SCRATCH: RefCell<Vec<Basket>> = const { RefCell::new(Vec::new()) };
}

/// Baskets kept in a worker's scratch space between requests, at most.
const SCRATCH_KEEP: usize = 64;

/// Parses and validates a `/predict` body, then hands its baskets (and
/// whether it was a batch) to `f`. The same answers as [`parse_predict`],
/// but a body of the common shape is read into the worker's scratch
/// baskets, reusing their allocations.
pub fn with_predict<R>(
    body: &[u8],
    max_batch: usize,
    f: impl FnOnce(&[Basket], bool) -> R,
) -> Result<R, ApiError> {
    SCRATCH.with(|cell| {
        // Never re-entered; should it be, a fresh vector does the job.
        let mut fresh = Vec::new();
        let mut borrowed = cell.try_borrow_mut().ok();
        let scratch = borrowed.as_deref_mut().unwrap_or(&mut fresh);
        let result = match crate::fastjson::parse_into(body, scratch) {
            Some(batch) => validate(scratch, batch, max_batch).map(|()| f(scratch, batch)),
            None => parse_predict_serde(body).and_then(|request| {
                let batch = matches!(request, PredictRequest::Batch(_));
                validate(request.baskets(), batch, max_batch)?;
                Ok(f(request.baskets(), batch))
            }),
        };
        if scratch.len() > SCRATCH_KEEP {
            scratch.truncate(SCRATCH_KEEP);
            scratch.shrink_to_fit();
        }
        result
    })
}

/// The checks JSON types cannot express, and the batch limits.
fn validate(baskets: &[Basket], batch: bool, max_batch: usize) -> Result<(), ApiError> {
    if !batch {
        return baskets.iter().try_for_each(|b| validate_basket(b, ""));
    }
    if baskets.is_empty() {
        return Err(
            ApiError::unprocessable("empty_batch", "`instances` holds no basket")
                .field("instances"),
        );
    }
    if baskets.len() > max_batch {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!(
                "{} baskets in one request, at most {max_batch} allowed",
                baskets.len()
            ),
        )
        .field("instances"));
    }
    for (i, basket) in baskets.iter().enumerate() {
        validate_basket(basket, &format!("instances[{i}]."))?;
    }
    Ok(())
}

/// The shape of a body, through serde: the reference the fast reader
/// (the crate's `fastjson` module, [`crate::parse_predict_fast`]) is tested and benchmarked against.
pub fn parse_predict_serde(body: &[u8]) -> Result<PredictRequest, ApiError> {
    parse_json(body)
}

/// The checks JSON types cannot express. Text fields take any value.
fn validate_basket(basket: &Basket, prefix: &str) -> Result<(), ApiError> {
    if basket.items.is_empty() {
        return Err(
            ApiError::unprocessable("empty_items", "a basket needs at least one item")
                .field(format!("{prefix}items")),
        );
    }
    for (i, item) in basket.items.iter().enumerate() {
        // The ETL rejects lines without a positive quantity, so no model
        // has seen one; NaN cannot come from JSON but is refused too.
        if item.quantity.is_nan() || item.quantity <= 0.0 {
            return Err(ApiError::unprocessable(
                "invalid_quantity",
                format!("quantity must be greater than 0, got {}", item.quantity),
            )
            .field(format!("{prefix}items[{i}].quantity")));
        }
    }
    Ok(())
}

/// Deserialises JSON, mapping every failure to an [`ApiError`] that names
/// the field. The fast path is plain serde_json; only a failing body is
/// parsed again, with path tracking, to find where it failed.
/// Every body of this server is a JSON object (serde would also read a
/// struct from an array, by position, which no client means).
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|&b| b != b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                Ok(_) => ApiError::unprocessable("invalid_type", "the body must be a JSON object"),
                Err(e) => ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "malformed_json",
                    format!("the body is not valid JSON: {}", shorten(&e.to_string())),
                ),
            },
        );
    }
    match serde_json::from_slice::<T>(body) {
        Ok(value) => Ok(value),
        Err(_) => {
            let mut de = serde_json::Deserializer::from_slice(body);
            match serde_path_to_error::deserialize::<_, T>(&mut de) {
                // The value parsed, so what failed is what follows it
                // (`{...}xyz`, `{...}{...}`): `end` names it, as
                // `from_slice` does. Never accept it.
                Ok(_) => Err(match de.end() {
                    Err(e) => ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "malformed_json",
                        format!("the body is not valid JSON: {}", shorten(&e.to_string())),
                    ),
                    Ok(()) => ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "malformed_json",
                        "the body is not valid JSON",
                    ),
                }),
                Err(e) => Err(json_error(e)),
            }
        }
    }
}

fn json_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    use serde_json::error::Category;
    let path = e.path().to_string();
    let path = if path == "." { String::new() } else { path };
    let inner = e.inner();
    let full = shorten(&inner.to_string());
    match inner.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {full}"),
        ),
        Category::Data => {
            let message = strip_position(&full);
            let join = |field: &str| {
                if path.is_empty() {
                    field.to_string()
                } else {
                    format!("{path}.{field}")
                }
            };
            if let Some(field) = quoted(&message, "missing field `") {
                ApiError::unprocessable("missing_field", message.clone()).field(join(field))
            } else if let Some(field) = quoted(&message, "unknown field `") {
                // The path already ends at the unknown key on some serde
                // versions; do not name it twice.
                let field_path = if path.ends_with(field) {
                    path.clone()
                } else {
                    join(field)
                };
                ApiError::unprocessable("unknown_field", message.clone()).field(field_path)
            } else if message.starts_with("invalid type") {
                let message = if path.is_empty() {
                    format!("the body must be a JSON object: {message}")
                } else {
                    message
                };
                ApiError::unprocessable("invalid_type", message).field(path)
            } else {
                ApiError::unprocessable("invalid_value", message).field(path)
            }
        }
    }
}

/// `missing field `x`` -> `x`.
fn quoted<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}

/// serde_json appends " at line L column C"; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// serde quotes offending values, which may be megabytes long.
fn shorten(message: &str) -> String {
    forest_core::shorten_to(message, 300)
}

/// One answer: borrowed from the engine's output, serialised directly.
pub struct Prediction<'a> {
    pub classes: &'a [String],
    pub probabilities: &'a [f32],
    pub model_version: &'a str,
}

impl Prediction<'_> {
    pub fn class(&self) -> usize {
        forest_core::argmax(self.probabilities)
    }
}

struct Probabilities<'a>(&'a [String], &'a [f32]);

impl Serialize for Probabilities<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (class, p) in self.0.iter().zip(self.1) {
            map.serialize_entry(class, p)?;
        }
        map.end()
    }
}

impl Serialize for Prediction<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let code = self.classes.get(self.class()).map_or("", String::as_str);
        let mut st = s.serialize_struct("Prediction", 4)?;
        st.serialize_field("code", code)?;
        st.serialize_field("price_sensitivity", forest_core::class_level(code))?;
        st.serialize_field(
            "probabilities",
            &Probabilities(self.classes, self.probabilities),
        )?;
        st.serialize_field("model_version", self.model_version)?;
        st.end()
    }
}

/// `{"predictions": [...]}`.
pub struct Predictions<'a>(pub Vec<Prediction<'a>>);

impl Serialize for Predictions<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Predictions", 1)?;
        st.serialize_field("predictions", &self.0)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASKET: &str = r#"{"store_format":"LS","store_region":"E02","basket_size":"L",
        "basket_type":"Top Up","dominant_mission":"Fresh",
        "items":[{"prod_code":"PRD0900097","prod_code_10":"CL00001","prod_code_20":"DEP00001",
        "prod_code_30":"G00001","prod_code_40":"D00001","quantity":1,"spend":1.03}]}"#;

    fn err(body: &str) -> ApiError {
        parse_predict(body.as_bytes(), 4).unwrap_err()
    }

    #[test]
    fn one_basket_and_batches_parse() {
        let one = parse_predict(BASKET.as_bytes(), 4).unwrap();
        assert!(matches!(one, PredictRequest::One(_)));
        let batch = format!(r#"{{"instances":[{BASKET},{BASKET}]}}"#);
        let batch = parse_predict(batch.as_bytes(), 4).unwrap();
        assert_eq!(batch.baskets().len(), 2);
    }

    #[test]
    fn errors_name_the_field() {
        let e = err("{");
        assert_eq!((e.status.as_u16(), e.code), (400, "malformed_json"));
        let e = err(&BASKET.replace("\"quantity\":1", "\"quantity\":\"1\""));
        assert_eq!((e.status.as_u16(), e.code), (422, "invalid_type"));
        assert_eq!(e.field.as_deref(), Some("items[0].quantity"));
        let e = err(&BASKET.replace("\"quantity\":1,", ""));
        assert_eq!(e.code, "missing_field");
        assert_eq!(e.field.as_deref(), Some("items[0].quantity"));
        let e = err(&BASKET.replace("\"store_format\":\"LS\",", ""));
        assert_eq!(e.code, "missing_field");
        assert_eq!(e.field.as_deref(), Some("store_format"));
        let e = err(&BASKET.replace("\"quantity\":1", "\"quantity\":-1"));
        assert_eq!(e.code, "invalid_quantity");
        assert_eq!(e.field.as_deref(), Some("items[0].quantity"));
        let e = err(&BASKET.replace("\"quantity\"", "\"qty\""));
        assert_eq!(e.code, "unknown_field");
        assert_eq!(e.field.as_deref(), Some("items[0].qty"), "{e:?}");
        let e = err(&BASKET.replace("\"store_format\"", "\"shop\""));
        assert_eq!(e.code, "unknown_field");
        assert_eq!(e.field.as_deref(), Some("shop"));
        let e = err("[1]");
        assert_eq!((e.code, e.field.as_deref()), ("invalid_type", None));
        let batch = format!(
            r#"{{"instances":[{BASKET},{}]}}"#,
            BASKET.replace("\"basket_size\":\"L\",", "")
        );
        let e = err(&batch);
        assert_eq!(e.field.as_deref(), Some("instances[1].basket_size"));
        let e = err(&format!(r#"{{"instances":[{BASKET}],"items":[]}}"#));
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("unknown_field", Some("items"))
        );
        let e = err(r#"{"instances":[]}"#);
        assert_eq!(e.code, "empty_batch");
        let five = [BASKET; 5].join(",");
        let e = err(&format!(r#"{{"instances":[{five}]}}"#));
        assert_eq!((e.status.as_u16(), e.code), (413, "batch_too_large"));
        let e = err(&BASKET.replace(
            &BASKET[BASKET.find("[{").unwrap()..BASKET.rfind(']').unwrap() + 1],
            "[]",
        ));
        assert_eq!((e.code, e.field.as_deref()), ("empty_items", Some("items")));
    }

    /// Issue 15's defect: a valid body followed by more bytes was answered
    /// 200, where serde (`from_slice`) refuses it.
    #[test]
    fn trailing_bytes_after_a_valid_body_are_refused_like_serde_does() {
        let batch = format!(r#"{{"instances":[{BASKET}]}}"#);
        for body in [
            format!("{BASKET}xyz"),
            format!("{BASKET}{BASKET}"),
            format!("{BASKET} 1"),
            format!("{batch}]"),
            format!("{batch}{batch}"),
        ] {
            assert!(serde_json::from_str::<serde_json::Value>(&body).is_err());
            let e = err(&body);
            assert_eq!(
                (e.status.as_u16(), e.code),
                (400, "malformed_json"),
                "{body}"
            );
            assert!(e.message.contains("trailing"), "{}", e.message);
            let scratch = with_predict(body.as_bytes(), 4, |_, _| ()).unwrap_err();
            assert_eq!(scratch.code, "malformed_json");
        }
        // Whitespace after the body is still fine, as for serde.
        assert!(parse_predict(format!("{BASKET} \n").as_bytes(), 4).is_ok());
    }
}
