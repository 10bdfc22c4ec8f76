//! The OpenAPI 3.1 document of the server, written by hand and completed
//! with the served model's classes, version, feature count and limits, and
//! the self-contained HTML page that renders it at `/docs`.

use forest_core::{Basket, Item};
use serde_json::{json, Value};

use crate::engine::Engine;

/// A basket as a till would send it: codes in the dunnhumby formats.
pub fn example_basket() -> Basket {
    let item = |p: &str, c10: &str, c20: &str, c30: &str, c40: &str, q: f64, s: f64| Item {
        prod_code: p.into(),
        prod_code_10: c10.into(),
        prod_code_20: c20.into(),
        prod_code_30: c30.into(),
        prod_code_40: Some(c40.into()),
        quantity: q,
        spend: s,
    };
    Basket {
        store_format: "LS".into(),
        store_region: "E02".into(),
        basket_size: "L".into(),
        basket_type: "Top Up".into(),
        dominant_mission: "Fresh".into(),
        customer_price_sensitivity: Some("LA".into()),
        items: vec![
            item(
                "PRD0900097",
                "CL00001",
                "DEP00001",
                "G00001",
                "D00001",
                1.0,
                1.03,
            ),
            item(
                "PRD0900121",
                "CL00063",
                "DEP00019",
                "G00007",
                "D00002",
                2.0,
                1.96,
            ),
            item(
                "PRD0901265",
                "CL00144",
                "DEP00052",
                "G00015",
                "D00003",
                1.0,
                2.49,
            ),
        ],
    }
}

/// A basket with codes no model has seen: answered from the fallbacks.
fn unknown_codes_basket() -> Basket {
    Basket {
        store_format: "XL".into(),
        store_region: "Z99".into(),
        basket_size: "M".into(),
        basket_type: "Small Shop".into(),
        dominant_mission: "Mixed".into(),
        customer_price_sensitivity: None,
        items: vec![Item {
            prod_code: "PRD9999999".into(),
            prod_code_10: "CL99999".into(),
            prod_code_20: "DEP99999".into(),
            prod_code_30: "G99999".into(),
            prod_code_40: None,
            quantity: 3.0,
            spend: 4.5,
        }],
    }
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    })
}

fn v2_error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/V2Error"}}},
    })
}

fn json_ok(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}},
    })
}

/// The OpenAPI document for the engine being served.
pub fn document(engine: &dyn Engine, max_body_bytes: usize, max_batch: usize) -> Value {
    let info = engine.info();
    let classes = &info.classes;
    let labels: Vec<&str> = classes
        .iter()
        .map(|c| crate::api::price_sensitivity(c))
        .collect();
    let basket = example_basket();
    let nf = info.n_features();
    let features: Vec<f32> = engine
        .encode_basket(&basket)
        .filter(|x| x.len() == nf)
        .unwrap_or_else(|| vec![0.0; nf]);
    let class_probs: serde_json::Map<String, Value> = classes
        .iter()
        .map(|c| {
            (
                c.clone(),
                json!({"type": "number", "minimum": 0, "maximum": 1}),
            )
        })
        .collect();
    let name_param = json!({
        "name": "name",
        "in": "path",
        "required": true,
        "description": "The model's name (`--model-name`).",
        "schema": {"type": "string"},
        "example": info.name,
    });
    let limits = format!(
        "Bodies are limited to {max_body_bytes} bytes (413 `body_too_large`), batches to {max_batch} baskets (413 `batch_too_large`)."
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "forest-serve",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "Price sensitivity of a shopping basket, from a random forest.",
            "description": format!(
                "Serves model `{}` version `{}` ({} engine, {} trees, classes {}). \
                 Errors are JSON `{{\"error\": {{\"code\", \"message\", \"field\"}}}}`: 400 for a body that is not JSON, \
                 422 for valid JSON of the wrong shape (a wrong type, a missing or unknown field, no items, a quantity not above 0), \
                 413 for a body or batch over the limit, 415 for a Content-Type other than application/json, \
                 405 (with `Allow`) for a wrong method, 404 for an unknown route. \
                 Unknown store, basket or product codes are not errors: the model's fallbacks answer them. {limits} \
                 The Open Inference Protocol routes under `/v2` answer errors in that protocol's shape, `{{\"error\": \"message\"}}`, with 400.",
                info.name, info.version, info.engine, info.n_trees, classes.join(", ")
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": [
            {"name": "predict", "description": "Price sensitivity of baskets."},
            {"name": "operations", "description": "Probes, metrics and documentation."},
            {"name": "open-inference", "description": "The Open Inference Protocol (KServe V2), for KServe and Triton clients."},
        ],
        "paths": {
            "/predict": {
                "post": {
                    "tags": ["predict"],
                    "operationId": "predict",
                    "summary": "Predict the price sensitivity of one basket or a batch",
                    "description": format!("Send one basket, or `{{\"instances\": [...]}}` with up to {max_batch} baskets. {limits}"),
                    "requestBody": {
                        "required": true,
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/PredictRequest"},
                            "examples": {
                                "basket": {
                                    "summary": "One basket",
                                    "value": basket,
                                },
                                "unknown_codes": {
                                    "summary": "Codes the model has never seen (answered from its fallbacks)",
                                    "value": unknown_codes_basket(),
                                },
                                "batch": {
                                    "summary": "A batch of baskets",
                                    "value": {"instances": [example_basket(), unknown_codes_basket()]},
                                },
                            },
                        }},
                    },
                    "responses": {
                        "200": {
                            "description": "One prediction for one basket; `{\"predictions\": [...]}` in the order of `instances` for a batch.",
                            "content": {"application/json": {
                                "schema": {"oneOf": [
                                    {"$ref": "#/components/schemas/Prediction"},
                                    {"$ref": "#/components/schemas/PredictionBatch"},
                                ]},
                            }},
                        },
                        "400": error_response("The body is not valid JSON (`malformed_json`)."),
                        "405": error_response("Wrong method (`method_not_allowed`); `Allow` names the right one."),
                        "408": error_response("The body did not arrive in time (`body_timeout`)."),
                        "413": error_response("Body over the byte limit (`body_too_large`) or batch over the basket limit (`batch_too_large`)."),
                        "415": error_response("Content-Type is not application/json (`unsupported_media_type`)."),
                        "422": error_response("Valid JSON that is not a basket: `invalid_type`, `missing_field`, `unknown_field`, `invalid_value`, `empty_items`, `empty_batch`, `invalid_quantity`; `field` names where."),
                    },
                },
            },
            "/health": {
                "get": {
                    "tags": ["operations"],
                    "operationId": "health",
                    "summary": "Liveness: the process answers",
                    "responses": {"200": json_ok("Alive.", "Health")},
                },
            },
            "/ready": {
                "get": {
                    "tags": ["operations"],
                    "operationId": "ready",
                    "summary": "Readiness: the model is loaded and the server is not draining",
                    "responses": {
                        "200": json_ok("Ready to take traffic.", "Ready"),
                        "503": json_ok("Draining after SIGTERM: send traffic elsewhere.", "Ready"),
                    },
                },
            },
            "/metrics": {
                "get": {
                    "tags": ["operations"],
                    "operationId": "metrics",
                    "summary": "Prometheus metrics",
                    "description": "Requests by route and status, a latency histogram by route, predictions by class, requests in flight, model info, readiness.",
                    "responses": {"200": {
                        "description": "Prometheus text exposition format 0.0.4.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }},
                },
            },
            "/openapi.json": {
                "get": {
                    "tags": ["operations"],
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {"200": {
                        "description": "OpenAPI 3.1.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }},
                },
            },
            "/docs": {
                "get": {
                    "tags": ["operations"],
                    "operationId": "docs",
                    "summary": "This document as a web page (self-contained, nothing fetched from elsewhere)",
                    "responses": {"200": {
                        "description": "HTML.",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }},
                },
            },
            "/v2": {
                "get": {
                    "tags": ["open-inference"],
                    "operationId": "v2ServerMetadata",
                    "summary": "Server metadata",
                    "responses": {"200": json_ok("The server.", "V2ServerMetadata")},
                },
            },
            "/v2/health/live": {
                "get": {
                    "tags": ["open-inference"],
                    "operationId": "v2Live",
                    "summary": "Server liveness",
                    "responses": {"200": json_ok("Alive.", "V2Live")},
                },
            },
            "/v2/health/ready": {
                "get": {
                    "tags": ["open-inference"],
                    "operationId": "v2Ready",
                    "summary": "Server readiness",
                    "responses": {
                        "200": json_ok("Ready.", "V2Ready"),
                        "503": json_ok("Draining.", "V2Ready"),
                    },
                },
            },
            "/v2/models/{name}": {
                "get": {
                    "tags": ["open-inference"],
                    "operationId": "v2ModelMetadata",
                    "summary": "Model metadata: inputs and outputs",
                    "parameters": [name_param],
                    "responses": {
                        "200": json_ok("The model.", "V2ModelMetadata"),
                        "404": v2_error_response("No model of that name."),
                    },
                },
            },
            "/v2/models/{name}/ready": {
                "get": {
                    "tags": ["open-inference"],
                    "operationId": "v2ModelReady",
                    "summary": "Model readiness",
                    "parameters": [name_param],
                    "responses": {
                        "200": json_ok("Ready.", "V2Ready"),
                        "404": v2_error_response("No model of that name."),
                        "503": json_ok("Draining.", "V2Ready"),
                    },
                },
            },
            "/v2/models/{name}/infer": {
                "post": {
                    "tags": ["open-inference"],
                    "operationId": "v2Infer",
                    "summary": "Inference on feature vectors or baskets",
                    "description": format!(
                        "One input: `features`, FP32 (or FP64) of shape [N, {nf}], ready feature vectors in the model's order \
                         (see `parameters.feature_names` of the model metadata; `null` for a missing value); or `baskets`, BYTES of shape [N], \
                         each element one basket as JSON text. Outputs: `probabilities`, FP32 [N, {}] in class order {}, and `code`, BYTES [N]. \
                         `/v2/models/{{name}}/versions/{{version}}/infer` answers too when the version is the served one.",
                        classes.len(), classes.join(", ")
                    ),
                    "parameters": [name_param],
                    "requestBody": {
                        "required": true,
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/V2InferRequest"},
                            "examples": {
                                "features": {
                                    "summary": "One feature vector (the example basket, encoded)",
                                    "value": {
                                        "id": "example-1",
                                        "inputs": [{"name": "features", "shape": [1, nf], "datatype": "FP32", "data": features}],
                                    },
                                },
                                "baskets": {
                                    "summary": "Baskets as JSON text",
                                    "value": {
                                        "inputs": [{
                                            "name": "baskets",
                                            "shape": [2],
                                            "datatype": "BYTES",
                                            "data": [
                                                serde_json::to_string(&example_basket()).unwrap_or_default(),
                                                serde_json::to_string(&unknown_codes_basket()).unwrap_or_default(),
                                            ],
                                        }],
                                        "outputs": [{"name": "probabilities"}, {"name": "code"}],
                                    },
                                },
                            },
                        }},
                    },
                    "responses": {
                        "200": json_ok("The outputs.", "V2InferResponse"),
                        "400": v2_error_response("A request the model cannot take (shape, datatype, JSON)."),
                        "404": v2_error_response("No model of that name or version."),
                        "413": v2_error_response("Body or batch over the limit."),
                        "415": v2_error_response("Content-Type is not application/json."),
                    },
                },
            },
        },
        "components": {
            "schemas": {
                "Item": {
                    "type": "object",
                    "description": "One line of a basket. Codes the model has not seen are answered from their category's prior.",
                    "required": ["prod_code", "prod_code_10", "prod_code_20", "prod_code_30", "quantity", "spend"],
                    "additionalProperties": false,
                    "properties": {
                        "prod_code": {"type": "string", "description": "Product (PROD_CODE).", "examples": ["PRD0900097"]},
                        "prod_code_10": {"type": "string", "description": "Product class (PROD_CODE_10).", "examples": ["CL00001"]},
                        "prod_code_20": {"type": "string", "description": "Department (PROD_CODE_20).", "examples": ["DEP00001"]},
                        "prod_code_30": {"type": "string", "description": "Group (PROD_CODE_30).", "examples": ["G00001"]},
                        "prod_code_40": {"type": ["string", "null"], "description": "Division (PROD_CODE_40), may be missing.", "examples": ["D00001"]},
                        "quantity": {"type": "number", "exclusiveMinimum": 0, "description": "Units bought; must be above 0 (422 `invalid_quantity`)."},
                        "spend": {"type": "number", "description": "Amount paid for the line."},
                    },
                },
                "Basket": {
                    "type": "object",
                    "description": "One shopping basket. Text fields take any value; empty, NA or null count as missing.",
                    "required": ["store_format", "store_region", "basket_size", "basket_type", "dominant_mission", "items"],
                    "additionalProperties": false,
                    "properties": {
                        "store_format": {"type": "string", "examples": ["LS"]},
                        "store_region": {"type": "string", "examples": ["E02"]},
                        "basket_size": {"type": "string", "examples": ["L"]},
                        "basket_type": {"type": "string", "examples": ["Top Up"]},
                        "dominant_mission": {"type": "string", "examples": ["Fresh"]},
                        "customer_price_sensitivity": {"type": ["string", "null"], "description": "The shopper's own segment, when known.", "examples": ["LA"]},
                        "items": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Item"}},
                    },
                },
                "BatchRequest": {
                    "type": "object",
                    "required": ["instances"],
                    "additionalProperties": false,
                    "properties": {
                        "instances": {"type": "array", "minItems": 1, "maxItems": max_batch, "items": {"$ref": "#/components/schemas/Basket"}},
                    },
                },
                "PredictRequest": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/Basket"},
                        {"$ref": "#/components/schemas/BatchRequest"},
                    ],
                },
                "Prediction": {
                    "type": "object",
                    "required": ["code", "price_sensitivity", "probabilities", "model_version"],
                    "properties": {
                        "code": {"type": "string", "enum": classes, "description": "The most probable class."},
                        "price_sensitivity": {"type": "string", "enum": labels, "description": "The class as a label: LA = High, MM = Medium, UM = Low."},
                        "probabilities": {"type": "object", "properties": class_probs, "required": classes, "description": "Probability of each class; they sum to 1."},
                        "model_version": {"type": "string", "examples": [info.version]},
                    },
                },
                "PredictionBatch": {
                    "type": "object",
                    "required": ["predictions"],
                    "properties": {"predictions": {"type": "array", "items": {"$ref": "#/components/schemas/Prediction"}}},
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string", "examples": ["invalid_quantity"]},
                            "message": {"type": "string"},
                            "field": {"type": "string", "description": "Path of the offending field in the body.", "examples": ["items[2].quantity"]},
                        },
                    }},
                },
                "Health": {"type": "object", "properties": {"status": {"const": "ok"}}},
                "Ready": {"type": "object", "properties": {
                    "status": {"enum": ["ready", "draining"]},
                    "model_version": {"type": "string"},
                }},
                "V2ServerMetadata": {"type": "object", "properties": {
                    "name": {"type": "string"}, "version": {"type": "string"},
                    "extensions": {"type": "array", "items": {"type": "string"}},
                }},
                "V2Live": {"type": "object", "properties": {"live": {"type": "boolean"}}},
                "V2Ready": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
                "V2Tensor": {
                    "type": "object",
                    "required": ["name", "shape", "datatype", "data"],
                    "properties": {
                        "name": {"type": "string"},
                        "shape": {"type": "array", "items": {"type": "integer"}},
                        "datatype": {"type": "string", "enum": ["FP32", "FP64", "BYTES"]},
                        "parameters": {"type": "object"},
                        "data": {"type": "array", "description": "Row-major, flat or nested."},
                    },
                },
                "V2TensorMetadata": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "datatype": {"type": "string"},
                        "shape": {"type": "array", "items": {"type": "integer"}},
                    },
                },
                "V2ModelMetadata": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "versions": {"type": "array", "items": {"type": "string"}},
                        "platform": {"type": "string"},
                        "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/V2TensorMetadata"}},
                        "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/V2TensorMetadata"}},
                        "parameters": {"type": "object"},
                    },
                },
                "V2InferRequest": {
                    "type": "object",
                    "required": ["inputs"],
                    "properties": {
                        "id": {"type": "string"},
                        "parameters": {"type": "object"},
                        "inputs": {"type": "array", "minItems": 1, "maxItems": 1, "items": {"$ref": "#/components/schemas/V2Tensor"}},
                        "outputs": {"type": "array", "items": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {"name": {"enum": ["probabilities", "code"]}, "parameters": {"type": "object"}},
                        }},
                    },
                },
                "V2InferResponse": {
                    "type": "object",
                    "properties": {
                        "model_name": {"type": "string"},
                        "model_version": {"type": "string"},
                        "id": {"type": "string"},
                        "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/V2Tensor"}},
                    },
                },
                "V2Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
            },
        },
    })
}

/// `/docs`: one HTML page, the document embedded in it, rendered by inline
/// script; it fetches nothing (the "Send" buttons call this server).
pub fn docs_page(document: &Value) -> String {
    // `<` is escaped so that no string in the document can end the script.
    let spec = serde_json::to_string(document)
        .unwrap_or_default()
        .replace('<', "\\u003c");
    include_str!("docs.html").replace("/*SPEC*/null", &spec)
}
