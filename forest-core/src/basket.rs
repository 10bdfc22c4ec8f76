//! The basket: the one definition of the request schema (a basket's
//! fields and its line items), the product hierarchy of a line, and the
//! labels of the classes the models predict.
//!
//! [`Basket`] and [`Item`] are what the server reads, what the ETL
//! assembles from raw lines and what the encoder turns into features.
//! [`BASKET_FIELDS`] and [`ITEM_FIELDS`] describe the same fields as data
//! (JSON name, type, whether required, meaning, an example): the server's
//! fast body reader takes its keys from them and its OpenAPI document its
//! schemas, and the tests below hold them to the serde shape, so the
//! schema is written once.

use serde::{Deserialize, Serialize};

use crate::feature::{is_missing_trimmed, trim};

/// One line of a basket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Product code (`PROD_CODE`).
    pub prod_code: String,
    /// Product class (`PROD_CODE_10`).
    pub prod_code_10: String,
    /// Department (`PROD_CODE_20`).
    pub prod_code_20: String,
    /// Group (`PROD_CODE_30`).
    pub prod_code_30: String,
    /// Empty in some source rows; a missing level is skipped by the priors.
    #[serde(default)]
    pub prod_code_40: Option<String>,
    /// Units bought.
    pub quantity: f64,
    /// Amount spent on the line.
    pub spend: f64,
}

/// A basket as the server receives it and as the ETL assembles it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Basket {
    /// Store format code.
    pub store_format: String,
    /// Store region code.
    pub store_region: String,
    /// Basket size (S, M, L).
    pub basket_size: String,
    /// Basket type.
    pub basket_type: String,
    /// The basket's dominant mission.
    pub dominant_mission: String,
    /// The customer's own price-sensitivity segment, when the shopper is
    /// known.
    #[serde(default)]
    pub customer_price_sensitivity: Option<String>,
    /// The basket's lines.
    pub items: Vec<Item>,
}

/// The JSON type of a schema field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// A string (for optional fields: or `null`).
    String,
    /// A number.
    Number,
    /// An array of [`Item`]s.
    Items,
}

/// One field of the request schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Field {
    /// The JSON key, as serde reads and writes it.
    pub name: &'static str,
    /// Its JSON type.
    pub kind: FieldType,
    /// Whether a body without it is refused (optional fields may be
    /// absent or `null`).
    pub required: bool,
    /// What it means, for people (the OpenAPI document shows it).
    pub description: &'static str,
    /// An example value, as JSON text.
    pub example: &'static str,
}

/// A [`Basket`]'s fields, in the order of the struct (and of the fast
/// reader's expected key order).
pub const BASKET_FIELDS: [Field; 7] = [
    Field {
        name: "store_format",
        kind: FieldType::String,
        required: true,
        description: "Store format code (LS, MS, SS, XLS).",
        example: "\"LS\"",
    },
    Field {
        name: "store_region",
        kind: FieldType::String,
        required: true,
        description: "Store region code (E01, W02, ...).",
        example: "\"E02\"",
    },
    Field {
        name: "basket_size",
        kind: FieldType::String,
        required: true,
        description: "Basket size: S, M or L.",
        example: "\"L\"",
    },
    Field {
        name: "basket_type",
        kind: FieldType::String,
        required: true,
        description: "Basket type: Top Up, Full Shop, Small Shop, ...",
        example: "\"Top Up\"",
    },
    Field {
        name: "dominant_mission",
        kind: FieldType::String,
        required: true,
        description: "The basket's dominant mission: Fresh, Grocery, Mixed, Non Food, ...",
        example: "\"Fresh\"",
    },
    Field {
        name: "customer_price_sensitivity",
        kind: FieldType::String,
        required: false,
        description: "The customer's own price-sensitivity segment (LA, MM, UM) when the shopper is known; absent or null for anonymous shoppers.",
        example: "\"MM\"",
    },
    Field {
        name: "items",
        kind: FieldType::Items,
        required: true,
        description: "The basket's lines, at least one.",
        example: "[]",
    },
];

/// An [`Item`]'s fields, in the order of the struct.
pub const ITEM_FIELDS: [Field; 7] = [
    Field {
        name: "prod_code",
        kind: FieldType::String,
        required: true,
        description: "Product code (PROD_CODE).",
        example: "\"PRD0900097\"",
    },
    Field {
        name: "prod_code_10",
        kind: FieldType::String,
        required: true,
        description: "Product class (PROD_CODE_10).",
        example: "\"CL00001\"",
    },
    Field {
        name: "prod_code_20",
        kind: FieldType::String,
        required: true,
        description: "Department (PROD_CODE_20).",
        example: "\"DEP00001\"",
    },
    Field {
        name: "prod_code_30",
        kind: FieldType::String,
        required: true,
        description: "Group (PROD_CODE_30).",
        example: "\"G00001\"",
    },
    Field {
        name: "prod_code_40",
        kind: FieldType::String,
        required: false,
        description: "Division (PROD_CODE_40); empty in some source rows, so optional.",
        example: "\"D00001\"",
    },
    Field {
        name: "quantity",
        kind: FieldType::Number,
        required: true,
        description: "Units bought, greater than 0.",
        example: "1",
    },
    Field {
        name: "spend",
        kind: FieldType::Number,
        required: true,
        description: "Amount spent on the line.",
        example: "1.03",
    },
];

/// A level of the product hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductLevel {
    /// Division (`PROD_CODE_40`), the coarsest level.
    ProdCode40,
    /// Group (`PROD_CODE_30`).
    ProdCode30,
    /// Department (`PROD_CODE_20`).
    ProdCode20,
    /// Class (`PROD_CODE_10`).
    ProdCode10,
    /// The product itself (`PROD_CODE`).
    ProdCode,
}

impl ProductLevel {
    /// Coarse to fine, the order in which priors are chained.
    pub const CHAIN: [ProductLevel; 5] = [
        ProductLevel::ProdCode40,
        ProductLevel::ProdCode30,
        ProductLevel::ProdCode20,
        ProductLevel::ProdCode10,
        ProductLevel::ProdCode,
    ];

    /// The item's code at this level; `None` when missing.
    pub fn code(self, item: &Item) -> Option<&str> {
        let code = match self {
            ProductLevel::ProdCode40 => item.prod_code_40.as_deref().unwrap_or(""),
            ProductLevel::ProdCode30 => &item.prod_code_30,
            ProductLevel::ProdCode20 => &item.prod_code_20,
            ProductLevel::ProdCode10 => &item.prod_code_10,
            ProductLevel::ProdCode => &item.prod_code,
        };
        ProductLevel::clean(code)
    }

    /// A code as written on a line, as every level reads it: trimmed, and
    /// `None` when missing (empty, `NA`, ...).
    pub fn clean(code: &str) -> Option<&str> {
        let code = trim(code);
        (!is_missing_trimmed(code)).then_some(code)
    }
}

/// What one class code of the price-sensitivity label means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassMeaning {
    /// The code in the data and in answers (`LA`).
    pub code: &'static str,
    /// The level of price sensitivity it stands for (`High`): what
    /// `/predict` answers as `price_sensitivity`.
    pub level: &'static str,
    /// The same as a phrase for people (`High price sensitivity`).
    pub label: &'static str,
}

/// What the codes of the price-sensitivity label mean: LA (less affluent)
/// shoppers are the most price-sensitive, UM (up market) the least.
pub const PRICE_SENSITIVITY: [ClassMeaning; 3] = [
    ClassMeaning {
        code: "LA",
        level: "High",
        label: "High price sensitivity",
    },
    ClassMeaning {
        code: "MM",
        level: "Medium",
        label: "Medium price sensitivity",
    },
    ClassMeaning {
        code: "UM",
        level: "Low",
        label: "Low price sensitivity",
    },
];

fn meaning(code: &str) -> Option<&'static ClassMeaning> {
    PRICE_SENSITIVITY.iter().find(|m| m.code == code)
}

/// The readable label of a class code; a code without one stands for
/// itself.
pub fn class_label(code: &str) -> &str {
    meaning(code).map_or(code, |m| m.label)
}

/// The price-sensitivity level of a class code (`High`, `Medium`, `Low`);
/// a code without one stands for itself.
pub fn class_level(code: &str) -> &str {
    meaning(code).map_or(code, |m| m.level)
}

/// Overwrites a string, keeping its allocation: for readers that fill one
/// [`Basket`] over and over (the server's body reader, the ETL), so that a
/// basket's strings are allocated once, not once a request or a basket.
pub fn set_text(dst: &mut String, value: &str) {
    dst.clear();
    dst.push_str(value);
}

/// [`set_text`] for an optional field.
pub fn set_optional_text(dst: &mut Option<String>, value: Option<&str>) {
    match (dst.as_mut(), value) {
        (Some(d), Some(v)) => set_text(d, v),
        (None, Some(v)) => *dst = Some(v.to_string()),
        (_, None) => *dst = None,
    }
}

impl Basket {
    /// The raw value of a categorical field by its feature name.
    pub(crate) fn categorical(&self, field: &str) -> &str {
        match field {
            "store_format" => &self.store_format,
            "store_region" => &self.store_region,
            "basket_size" => &self.basket_size,
            "basket_type" => &self.basket_type,
            "dominant_mission" => &self.dominant_mission,
            "customer_price_sensitivity" => {
                self.customer_price_sensitivity.as_deref().unwrap_or("")
            }
            _ => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_basket() -> Basket {
        Basket {
            store_format: "LS".into(),
            store_region: "E02".into(),
            basket_size: "L".into(),
            basket_type: "Top Up".into(),
            dominant_mission: "Fresh".into(),
            customer_price_sensitivity: Some("MM".into()),
            items: vec![Item {
                prod_code: "PRD0900097".into(),
                prod_code_10: "CL00001".into(),
                prod_code_20: "DEP00001".into(),
                prod_code_30: "G00001".into(),
                prod_code_40: Some("D00001".into()),
                quantity: 1.0,
                spend: 1.03,
            }],
        }
    }

    /// The field tables and the serde shape are one schema: the same keys
    /// in the same order, and exactly the required ones required.
    #[test]
    fn the_field_tables_are_the_serde_shape() {
        let value = serde_json::to_value(full_basket()).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut names: Vec<&str> = BASKET_FIELDS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        assert_eq!(keys, names, "serde_json's map is sorted");
        let item = &value["items"][0];
        let keys: Vec<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut names: Vec<&str> = ITEM_FIELDS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        assert_eq!(keys, names);

        for (fields, at_item) in [(&BASKET_FIELDS, false), (&ITEM_FIELDS, true)] {
            for field in fields.iter() {
                let mut v = value.clone();
                let target = if at_item { &mut v["items"][0] } else { &mut v };
                target.as_object_mut().unwrap().remove(field.name);
                let parsed = serde_json::from_value::<Basket>(v);
                assert_eq!(
                    parsed.is_ok(),
                    !field.required,
                    "{} without {}",
                    if at_item { "item" } else { "basket" },
                    field.name
                );
                // Every example is valid JSON of the field's type.
                let example: serde_json::Value = serde_json::from_str(field.example).unwrap();
                let ok = match field.kind {
                    FieldType::String => example.is_string(),
                    FieldType::Number => example.is_number(),
                    FieldType::Items => example.is_array(),
                };
                assert!(ok, "{}: example {}", field.name, field.example);
            }
        }
    }

    #[test]
    fn every_class_code_has_one_label() {
        for m in PRICE_SENSITIVITY {
            assert_eq!(
                (class_label(m.code), class_level(m.code)),
                (m.label, m.level)
            );
            assert!(m.label.starts_with(m.level));
        }
        assert_eq!((class_label("XX"), class_level("XX")), ("XX", "XX"));
    }
}
