//! The OpenAPI 3.1 document of the server and the self-contained HTML page
//! that renders it at `/docs`. The static part is `openapi.json` beside
//! this file; the basket and item schemas come from forest-core's field
//! tables (the one definition of the request schema), and the served
//! model's classes, version, feature count and the limits are filled in.

use forest_core::{
    class_level, Basket, Field, FieldType, Item, BASKET_FIELDS, ITEM_FIELDS, PRICE_SENSITIVITY,
};
use serde_json::{json, Map, Value};

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

/// The static part of the document: paths, operations, responses and the
/// schemas that do not depend on the model; [`document`] fills in the rest
/// (every `"FILLED"` in it).
const TEMPLATE: &str = include_str!("openapi.json");

/// A schema field's JSON Schema, from forest-core's field table.
fn field_schema(field: &Field) -> Value {
    let example: Value = serde_json::from_str(field.example).unwrap_or(Value::Null);
    let mut schema = match field.kind {
        FieldType::String if field.required => json!({"type": "string"}),
        FieldType::String => json!({"type": ["string", "null"]}),
        FieldType::Number => json!({"type": "number"}),
        FieldType::Items => json!({
            "type": "array",
            // `validate_basket` refuses a basket without items.
            "minItems": 1,
            "items": {"$ref": "#/components/schemas/Item"},
        }),
    };
    schema["description"] = field.description.into();
    if field.kind != FieldType::Items {
        schema["examples"] = json!([example]);
    }
    schema
}

/// An object schema over a field table.
fn object_schema(fields: &[Field], description: &str) -> Value {
    let properties: Map<String, Value> = fields
        .iter()
        .map(|f| (f.name.to_string(), field_schema(f)))
        .collect();
    let required: Vec<&str> = fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name)
        .collect();
    json!({
        "type": "object",
        "description": description,
        "required": required,
        "additionalProperties": false,
        "properties": properties,
    })
}

/// The OpenAPI document for the engine being served.
pub fn document(engine: &dyn Engine, max_body_bytes: usize, max_batch: usize) -> Value {
    let info = engine.info();
    let classes = &info.classes;
    let nf = info.n_features();
    let features: Vec<f32> = engine
        .encode_basket(&example_basket())
        .filter(|x| x.len() == nf)
        .unwrap_or_else(|| vec![0.0; nf]);
    let limits = format!(
        "Bodies are limited to {max_body_bytes} bytes (413 `body_too_large`), batches to {max_batch} baskets (413 `batch_too_large`)."
    );
    let mut doc: Value = serde_json::from_str(TEMPLATE).unwrap_or_else(|_| json!({}));
    doc["info"]["version"] = env!("CARGO_PKG_VERSION").into();
    doc["info"]["description"] = format!(
        "Serves model `{}` version `{}` ({} engine, {} trees, classes {}). \
         Errors are JSON `{{\"error\": {{\"code\", \"message\", \"field\"}}}}`: 400 for a body that is not JSON, \
         422 for valid JSON of the wrong shape (a wrong type, a missing or unknown field, no items, a quantity not above 0), \
         413 for a body or batch over the limit, 415 for a Content-Type other than application/json, \
         405 (with `Allow`) for a wrong method, 404 for an unknown route. \
         Unknown store, basket or product codes are not errors: the model's fallbacks answer them. {limits} \
         The Open Inference Protocol routes under `/v2` answer errors in that protocol's shape, `{{\"error\": \"message\"}}`, with 400.",
        info.name, info.version, info.engine, info.n_trees, classes.join(", ")
    )
    .into();

    let predict = &mut doc["paths"]["/predict"]["post"];
    predict["description"] = format!(
        "Send one basket, or `{{\"instances\": [...]}}` with up to {max_batch} baskets. {limits}"
    )
    .into();
    predict["requestBody"]["content"]["application/json"]["examples"] = json!({
        "basket": {"summary": "One basket", "value": example_basket()},
        "unknown_codes": {
            "summary": "Codes the model has never seen (answered from its fallbacks)",
            "value": unknown_codes_basket(),
        },
        "batch": {
            "summary": "A batch of baskets",
            "value": {"instances": [example_basket(), unknown_codes_basket()]},
        },
    });

    let infer = &mut doc["paths"]["/v2/models/{name}/infer"]["post"];
    infer["description"] = format!(
        "One input: `features`, FP32 (or FP64) of shape [N, {nf}] (or [{nf}]), ready feature vectors in the model's order \
         (see `parameters.feature_names` of the model metadata; `null` for a missing value); or `baskets`, BYTES of shape [N], \
         each element one basket as JSON text. The data must hold exactly the shape's product of elements (400 otherwise: \
         JSON Schema cannot say it). Outputs: `probabilities`, FP32 [N, {}] in class order {}, and `code`, BYTES [N]. \
         Triton's binary tensor data extension is supported both ways (`Inference-Header-Content-Length`, \
         `parameters.binary_data_size`, `binary_data`, `binary_data_output`); a missing Content-Type is read as JSON. \
         `/v2/models/{{name}}/versions/{{version}}/infer` answers too when the version is the served one. Up to {max_batch} rows.",
        classes.len(),
        classes.join(", ")
    )
    .into();
    infer["requestBody"]["content"]["application/json"]["examples"] = json!({
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
    });

    let components = &mut doc["components"];
    components["parameters"]["ModelName"]["schema"]["enum"] = json!([info.name]);
    components["parameters"]["ModelName"]["example"] = info.name.clone().into();
    let schemas = &mut components["schemas"];
    schemas["Item"] = object_schema(
        &ITEM_FIELDS,
        "One line of a basket. Codes the model has not seen are answered from their category's prior.",
    );
    // `validate_basket` refuses quantities not above 0 (422 `invalid_quantity`).
    schemas["Item"]["properties"]["quantity"]["exclusiveMinimum"] = 0.into();
    schemas["Basket"] = object_schema(
        &BASKET_FIELDS,
        "One shopping basket. Text fields take any value; empty, NA or null count as missing.",
    );
    schemas["BatchRequest"]["properties"]["instances"]["maxItems"] = max_batch.into();
    let prediction = &mut schemas["Prediction"]["properties"];
    prediction["code"]["enum"] = json!(classes);
    prediction["price_sensitivity"]["enum"] =
        json!(classes.iter().map(|c| class_level(c)).collect::<Vec<_>>());
    prediction["price_sensitivity"]["description"] = format!(
        "The class as a level of price sensitivity: {}.",
        PRICE_SENSITIVITY
            .iter()
            .map(|m| format!("{} = {}", m.code, m.level))
            .collect::<Vec<_>>()
            .join(", ")
    )
    .into();
    prediction["probabilities"]["properties"] = classes
        .iter()
        .map(|c| {
            (
                c.clone(),
                json!({"type": "number", "minimum": 0, "maximum": 1}),
            )
        })
        .collect::<Map<String, Value>>()
        .into();
    prediction["probabilities"]["required"] = json!(classes);
    prediction["model_version"]["examples"] = json!([info.version]);
    doc
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{EngineError, ModelInfo};

    /// The document needs only the model's description.
    struct Described(ModelInfo);

    impl Engine for Described {
        fn info(&self) -> &ModelInfo {
            &self.0
        }
        fn predict_baskets_watched(
            &self,
            _: &[Basket],
            _: &mut [f32],
            _: &dyn Fn(&[f32]),
        ) -> Result<(), EngineError> {
            Ok(())
        }
        fn predict_features(&self, _: &[f32], _: &mut [f32]) -> Result<(), EngineError> {
            Ok(())
        }
    }

    #[test]
    fn the_template_is_json_and_every_placeholder_is_filled() {
        let template: Value = serde_json::from_str(TEMPLATE).unwrap();
        assert_eq!(template["openapi"], "3.1.0");
        let engine = Described(ModelInfo {
            name: "price-sensitivity".into(),
            version: "0123456789ab".into(),
            classes: vec!["LA".into(), "MM".into(), "UM".into()],
            feature_names: vec!["a".into(), "b".into()],
            n_trees: 1,
            engine: "interpreted",
            content_hash: "0123456789abcdef".into(),
        });
        let doc = document(&engine, 1 << 20, 64);
        let text = doc.to_string();
        assert!(!text.contains("FILLED"), "{text}");
        let basket = &doc["components"]["schemas"]["Basket"];
        assert_eq!(
            basket["properties"].as_object().unwrap().len(),
            BASKET_FIELDS.len()
        );
        assert_eq!(
            basket["required"],
            json!(BASKET_FIELDS
                .iter()
                .filter(|f| f.required)
                .map(|f| f.name)
                .collect::<Vec<_>>())
        );
    }
}
