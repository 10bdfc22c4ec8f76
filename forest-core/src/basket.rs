//! Baskets and the basket encoder: how one shopping basket (store, basket
//! attributes and line items) becomes the feature vector of a basket model.
//!
//! The label the models predict (price sensitivity) belongs to a basket, not
//! to a line, and most of the signal is in *which products* a basket holds.
//! A product code alone is useless to a tree (thousands of codes, most rare),
//! so each product is replaced by a prior: the class distribution of the
//! training baskets that contained it, shrunk towards the distribution of
//! its parent category when the product was seen in few baskets. The levels
//! of the product hierarchy chain the shrinkage, coarse to fine:
//!
//! ```text
//! global -> PROD_CODE_40 -> PROD_CODE_30 -> PROD_CODE_20 -> PROD_CODE_10 -> PROD_CODE
//! p(level) = (counts(code) + m * p(parent)) / (baskets(code) + m)
//! ```
//!
//! so a product never seen in training falls back to its category's prior,
//! and a category never seen to the one above it. The same code computes the
//! features in the ETL (for the gold table the model trains on) and at
//! serving time, from the tables carried inside the model: train/serve
//! parity by construction.

use serde::{Deserialize, Serialize};

use crate::encode::{basket_width, encode_basket_with, BasketTables};
use crate::error::ModelError;
use crate::feature::{FeatureDef, FeatureKind, FeatureSpec};
use crate::tags::{TagModel, LEAN_FIELDS, N_TAGS, TAG_FIELDS};

/// One line of a basket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub prod_code: String,
    pub prod_code_10: String,
    pub prod_code_20: String,
    pub prod_code_30: String,
    /// Empty in some source rows; a missing level is skipped by the priors.
    #[serde(default)]
    pub prod_code_40: Option<String>,
    pub quantity: f64,
    pub spend: f64,
}

/// A basket as the server receives it and as the ETL assembles it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Basket {
    pub store_format: String,
    pub store_region: String,
    pub basket_size: String,
    pub basket_type: String,
    pub dominant_mission: String,
    /// The customer's own price-sensitivity segment, when the shopper is
    /// known.
    #[serde(default)]
    pub customer_price_sensitivity: Option<String>,
    pub items: Vec<Item>,
}

/// A level of the product hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductLevel {
    ProdCode40,
    ProdCode30,
    ProdCode20,
    ProdCode10,
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
        let code = crate::feature::trim(code);
        (!crate::feature::is_missing_trimmed(code)).then_some(code)
    }
}

/// Basket counts by class for every code seen at one product level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriorLevel {
    pub level: ProductLevel,
    /// Sorted, distinct codes.
    pub codes: Vec<String>,
    /// `codes.len() * n_classes` counts: how many training baskets of each
    /// class held the code (a basket counts once however many lines).
    pub counts: Vec<f32>,
    /// Per code, the mean natural log of the unit price (spend / quantity)
    /// of its training lines; `None` (JSON `null`) when no line had a price.
    pub log_price: Vec<Option<f32>>,
    /// With a tag model ([`BasketPriors::tags`]): `codes.len() * 3` numbers,
    /// per code the distribution of the hidden tag (-1, 0, +1) of a line
    /// whose finest known code this is (see [`crate::tags`]). Empty
    /// without one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<f32>,
    /// Product level only, optional: `codes.len() * 4` indices, per product
    /// the codes of its first training line at the four levels above
    /// ([`ProductLevel::CHAIN`] order), as indices into those levels' codes
    /// (`u32::MAX` where the line had none or the table does not hold it).
    /// Nothing is computed from it that the codes themselves would not
    /// give; a compiled model precomputes the priors of a line with exactly
    /// this chain, so that a known product costs one lookup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<u32>,
}

impl PriorLevel {
    fn index_of(&self, code: &str) -> Option<usize> {
        self.codes.binary_search_by(|c| c.as_str().cmp(code)).ok()
    }
}

/// The fitted part of the basket encoder, carried in the feature spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BasketPriors {
    /// Class distribution of all training baskets: the prior of last resort.
    pub global: Vec<f32>,
    /// Pseudo-count `m` pulling a code's distribution towards its parent's.
    pub smoothing: f32,
    /// Mean log unit price of all training lines: the reference price of
    /// last resort.
    pub global_log_price: f32,
    /// One table per level, in [`ProductLevel::CHAIN`] order.
    pub levels: Vec<PriorLevel>,
    /// The latent product-tag model ([`crate::tags`]); when present the
    /// basket has the tag and lean features too. Specs written before it
    /// existed have none and encode as they always did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<TagModel>,
}

/// The categorical basket fields, in feature order.
pub const CATEGORICAL_FIELDS: [&str; 6] = [
    "store_format",
    "store_region",
    "basket_size",
    "basket_type",
    "dominant_mission",
    "customer_price_sensitivity",
];

/// The numeric basket totals, in feature order after the categorical ones.
pub const TOTAL_FIELDS: [&str; 4] = ["items", "quantity", "spend", "unit_price"];

/// Where the basket's prices sit within their categories, after the totals:
/// each line's log unit price minus the mean log price of its finest known
/// category (PROD_CODE_10, else the level above). Price sensitivity shows
/// in *what* people pay within a category, and this needs no label, so it
/// works for products never seen in training.
pub const PRICE_FIELDS: [&str; 2] = [
    // Spend-weighted mean over lines.
    "price_index",
    // Plain mean over lines.
    "price_index_mean",
];

/// The families of prior features, each with one feature per class, in
/// feature order after the totals.
pub const PRIOR_FAMILIES: [&str; 4] = [
    // Spend-weighted mean of the products' priors: what the money went on.
    "product_prior",
    // Plain mean over lines: what the basket is made of.
    "product_prior_mean",
    // The strongest single signal among the lines.
    "product_prior_max",
    // Spend-weighted department (PROD_CODE_20) prior: a coarser view that
    // is stable when the products themselves are rare.
    "department_prior",
];

/// The names of a basket model's features, in order, for these classes,
/// with or without a tag model.
pub fn feature_names(classes: &[String], tagged: bool) -> Vec<String> {
    let mut names: Vec<String> = CATEGORICAL_FIELDS
        .iter()
        .chain(TOTAL_FIELDS.iter())
        .chain(PRICE_FIELDS.iter())
        .map(|s| s.to_string())
        .collect();
    for family in PRIOR_FAMILIES {
        for class in classes {
            names.push(format!("{family}_{class}"));
        }
    }
    if tagged {
        names.extend(classes.iter().map(|class| format!("tag_prob_{class}")));
        names.extend(
            TAG_FIELDS
                .iter()
                .chain(LEAN_FIELDS.iter())
                .map(|s| s.to_string()),
        );
    }
    names
}

/// What the codes of the price-sensitivity label mean, for answers people
/// read: LA (less affluent) shoppers are the most price-sensitive, UM (up
/// market) the least.
pub const PRICE_SENSITIVITY_LABELS: [(&str, &str); 3] = [
    ("LA", "High price sensitivity"),
    ("MM", "Medium price sensitivity"),
    ("UM", "Low price sensitivity"),
];

/// The readable label of a class code; a code without one stands for itself.
pub fn class_label(code: &str) -> &str {
    PRICE_SENSITIVITY_LABELS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code, |(_, label)| label)
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

impl BasketPriors {
    /// The number of classes the priors are over.
    pub fn n_classes(&self) -> usize {
        self.global.len()
    }

    /// Checks the tables' shapes, for priors read from untrusted bytes.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::Invalid(format!("basket priors: {m}")));
        let k = self.global.len();
        if k < 2 {
            return bad(format!("{k} classes"));
        }
        if !(self.smoothing.is_finite() && self.smoothing >= 0.0) {
            return bad(format!(
                "smoothing {} must be finite and >= 0",
                self.smoothing
            ));
        }
        if self.levels.iter().map(|l| l.level).collect::<Vec<_>>() != ProductLevel::CHAIN {
            return bad(
                "levels must be prod_code_40, _30, _20, _10, prod_code in that order".into(),
            );
        }
        for level in &self.levels {
            if Some(level.counts.len()) != level.codes.len().checked_mul(k)
                || level.log_price.len() != level.codes.len()
            {
                return bad(format!(
                    "{:?}: counts do not match codes x classes",
                    level.level
                ));
            }
            if level.codes.windows(2).any(|w| w[0] >= w[1]) {
                return bad(format!(
                    "{:?}: codes must be sorted and distinct",
                    level.level
                ));
            }
            if level.log_price.iter().flatten().any(|p| !p.is_finite()) {
                return bad(format!("{:?}: log prices must be finite", level.level));
            }
            if level.counts.iter().any(|c| !c.is_finite() || *c < 0.0) {
                return bad(format!("{:?}: counts must be finite and >= 0", level.level));
            }
        }
        if self.global.iter().any(|g| !g.is_finite() || *g < 0.0) {
            return bad("global prior must be finite and >= 0".into());
        }
        if !self.global_log_price.is_finite() {
            return bad("global log price must be finite".into());
        }
        for (l, level) in self.levels.iter().enumerate() {
            if level.parents.is_empty() {
                continue;
            }
            let fits = level.level == ProductLevel::ProdCode
                && Some(level.parents.len()) == level.codes.len().checked_mul(4)
                && level.parents.chunks(4).all(|chain| {
                    chain
                        .iter()
                        .zip(&self.levels[..4])
                        .all(|(&p, above)| p == u32::MAX || (p as usize) < above.codes.len())
                });
            if !fits || l != 4 {
                return bad(format!(
                    "{:?}: parents must be product codes x 4 indices into the levels above",
                    level.level
                ));
            }
        }
        let distribution = |d: &[f32]| d.iter().all(|p| p.is_finite() && (0.0..=1.0).contains(p));
        match &self.tags {
            None => {
                if let Some(level) = self.levels.iter().find(|l| !l.tags.is_empty()) {
                    return bad(format!("{:?}: tags without a tag model", level.level));
                }
            }
            Some(model) => {
                if k != N_TAGS {
                    return bad(format!("a tag model needs {N_TAGS} classes, not {k}"));
                }
                if !(model.threshold > 0.0 && model.threshold < 1.0) {
                    return bad(format!(
                        "tag threshold {} must be in (0, 1)",
                        model.threshold
                    ));
                }
                if model.global.len() != N_TAGS || !distribution(&model.global) {
                    return bad("global tags must be 3 probabilities".into());
                }
                if Some(model.segment_likelihood.len()) != model.segments.len().checked_mul(N_TAGS)
                    || model
                        .segment_likelihood
                        .iter()
                        .any(|l| !(l.is_finite() && *l > 0.0))
                {
                    return bad("segment likelihoods must be 3 positive numbers per segment".into());
                }
                for level in &self.levels {
                    if Some(level.tags.len()) != level.codes.len().checked_mul(N_TAGS)
                        || !distribution(&level.tags)
                    {
                        return bad(format!(
                            "{:?}: tags must be codes x 3 probabilities",
                            level.level
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

impl FeatureSpec {
    /// The feature spec of a basket model: categorical fields with their
    /// vocabularies (`vocabularies[i]` for `CATEGORICAL_FIELDS[i]`), then
    /// totals and priors, numeric.
    pub fn for_baskets(
        classes: &[String],
        vocabularies: [Vec<String>; 6],
        priors: BasketPriors,
    ) -> FeatureSpec {
        let names = feature_names(classes, priors.tags.is_some());
        let mut features: Vec<FeatureDef> = CATEGORICAL_FIELDS
            .iter()
            .zip(vocabularies)
            .map(|(name, vocab)| FeatureDef::categorical(*name, vocab))
            .collect();
        features.extend(
            names[CATEGORICAL_FIELDS.len()..]
                .iter()
                .map(FeatureDef::numeric),
        );
        FeatureSpec {
            features,
            basket: Some(priors),
        }
    }

    /// Encodes a basket into `out` (cleared first). Works for any input:
    /// unknown codes take their fallbacks, an empty basket gives NaN priors
    /// and zero totals, which the trees route like any missing value. The
    /// arithmetic is [`encode_basket_with`], shared with compiled models.
    pub fn encode_basket(&self, basket: &Basket, out: &mut Vec<f32>) -> Result<(), ModelError> {
        let priors = self
            .basket
            .as_ref()
            .ok_or_else(|| ModelError::Input("this model reads table rows, not baskets".into()))?;
        out.clear();
        out.resize(basket_width(priors.n_classes(), priors.tags.is_some()), 0.0);
        encode_basket_with(&SpecTables { spec: self, priors }, basket, out)
    }

    /// The encoder's tables over this spec, for a basket model.
    pub fn basket_tables(&self) -> Option<impl BasketTables + '_> {
        let priors = self.basket.as_ref()?;
        Some(SpecTables { spec: self, priors })
    }

    /// Checks that a basket spec's features are the encoder's, in order.
    pub fn validate_basket(&self) -> Result<(), ModelError> {
        let Some(priors) = &self.basket else {
            return Ok(());
        };
        priors.validate()?;
        let expected = basket_width(priors.n_classes(), priors.tags.is_some());
        let fixed = CATEGORICAL_FIELDS
            .iter()
            .chain(TOTAL_FIELDS.iter())
            .chain(PRICE_FIELDS.iter());
        let names_match = self.features.len() == expected
            && self.features.iter().zip(fixed).all(|(f, n)| f.name == *n)
            && self.features[..CATEGORICAL_FIELDS.len()]
                .iter()
                .all(|f| matches!(f.kind, FeatureKind::Categorical { .. }))
            && self.features[CATEGORICAL_FIELDS.len()..]
                .iter()
                .all(|f| f.kind == FeatureKind::Numeric);
        if !names_match {
            return Err(ModelError::Invalid(format!(
                "a basket spec needs the {expected} encoder features in order"
            )));
        }
        Ok(())
    }
}

/// The encoder's tables as a decoded feature spec holds them: vocabularies
/// in the spec's first six features, priors in `spec.basket`.
struct SpecTables<'a> {
    spec: &'a FeatureSpec,
    priors: &'a BasketPriors,
}

impl BasketTables for SpecTables<'_> {
    fn category(&self, field: usize, raw: &str) -> f32 {
        match self.spec.features.get(field).map(|f| &f.kind) {
            Some(FeatureKind::Categorical { vocabulary }) => {
                crate::feature::category_code(vocabulary, raw)
            }
            _ => f32::NAN,
        }
    }
    fn global(&self) -> &[f32] {
        &self.priors.global
    }
    fn smoothing(&self) -> f32 {
        self.priors.smoothing
    }
    fn global_log_price(&self) -> f32 {
        self.priors.global_log_price
    }
    fn n_levels(&self) -> usize {
        self.priors.levels.len()
    }
    fn level(&self, level: usize) -> ProductLevel {
        self.priors.levels[level].level
    }
    fn find(&self, level: usize, code: &str) -> Option<usize> {
        self.priors.levels[level].index_of(code)
    }
    fn counts(&self, level: usize, index: usize) -> &[f32] {
        let k = self.priors.n_classes();
        &self.priors.levels[level].counts[index * k..(index + 1) * k]
    }
    fn log_price(&self, level: usize, index: usize) -> Option<f32> {
        self.priors.levels[level].log_price[index]
    }
    fn tag_model(&self) -> Option<(f32, &[f32])> {
        self.priors
            .tags
            .as_ref()
            .map(|t| (t.threshold, t.global.as_slice()))
    }
    fn segment_likelihood(&self, segment: &str) -> Option<&[f32]> {
        let t = self.priors.tags.as_ref()?;
        let i = t.segments.iter().position(|s| s == segment)?;
        Some(&t.segment_likelihood[i * N_TAGS..(i + 1) * N_TAGS])
    }
    fn tags(&self, level: usize, index: usize) -> &[f32] {
        &self.priors.levels[level].tags[index * N_TAGS..(index + 1) * N_TAGS]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes() -> Vec<String> {
        ["LA", "MM", "UM"].map(String::from).to_vec()
    }

    fn item(prod: &str, cl: &str, dep: &str, spend: f64) -> Item {
        Item {
            prod_code: prod.into(),
            prod_code_10: cl.into(),
            prod_code_20: dep.into(),
            prod_code_30: "G00001".into(),
            prod_code_40: Some("D00001".into()),
            quantity: 1.0,
            spend,
        }
    }

    fn level(level: ProductLevel, rows: &[(&str, [f32; 3])]) -> PriorLevel {
        PriorLevel {
            level,
            codes: rows.iter().map(|r| r.0.to_string()).collect(),
            counts: rows.iter().flat_map(|r| r.1).collect(),
            // Every known category's lines cost e^1 on average.
            log_price: rows.iter().map(|_| Some(1.0)).collect(),
            tags: vec![],
            parents: vec![],
        }
    }

    fn spec() -> FeatureSpec {
        let priors = BasketPriors {
            global: vec![0.25, 0.5, 0.25],
            smoothing: 10.0,
            global_log_price: 0.0,
            levels: vec![
                level(ProductLevel::ProdCode40, &[]),
                level(ProductLevel::ProdCode30, &[]),
                level(ProductLevel::ProdCode20, &[("DEP00001", [10.0, 0.0, 0.0])]),
                level(ProductLevel::ProdCode10, &[]),
                level(ProductLevel::ProdCode, &[("PRD0000001", [0.0, 0.0, 90.0])]),
            ],
            tags: None,
        };
        let vocab = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        FeatureSpec::for_baskets(
            &classes(),
            [
                vocab(&["LS", "SS"]),
                vocab(&["E02"]),
                vocab(&["L", "M", "S"]),
                vocab(&["Top Up"]),
                vocab(&["Fresh"]),
                vocab(&["LA", "MM", "UM"]),
            ],
            priors,
        )
    }

    fn basket(items: Vec<Item>) -> Basket {
        Basket {
            store_format: "SS".into(),
            store_region: "W09".into(),
            basket_size: "M".into(),
            basket_type: "Top Up".into(),
            dominant_mission: "Fresh".into(),
            customer_price_sensitivity: None,
            items,
        }
    }

    #[test]
    fn priors_chain_from_coarse_to_fine_and_fall_back() {
        let spec = spec();
        spec.validate_basket().unwrap();
        let names = feature_names(&classes(), false);
        assert_eq!(names.len(), spec.features.len());
        let mut x = Vec::new();
        // A known product in a known department, and an unknown product in an
        // unknown department: the second falls back to the global prior.
        spec.encode_basket(
            &basket(vec![
                item("PRD0000001", "CL1", "DEP00001", 3.0),
                item("PRD9", "CL9", "DEP9", 1.0),
            ]),
            &mut x,
        )
        .unwrap();
        let at = |name: &str| x[names.iter().position(|n| n == name).unwrap()];
        assert_eq!(&x[..5], &[1.0, 1.0, 1.0, 0.0, 0.0]);
        assert_eq!(
            at("store_region"),
            1.0,
            "unseen region gets the unseen code"
        );
        assert!(at("customer_price_sensitivity").is_nan());
        assert_eq!(
            (at("items"), at("spend"), at("unit_price")),
            (2.0, 4.0, 2.0)
        );
        // Department DEP00001: (10 LA + 10 * global) / 20 = [0.625, 0.25, 0.125].
        // Product: (90 UM + 10 * dept) / 100 = [0.0625, 0.025, 0.9125].
        let product = [0.0625f64, 0.025, 0.9125];
        let unknown = [0.25f64, 0.5, 0.25];
        for (c, class) in classes().iter().enumerate() {
            let weighted = (3.0 * product[c] + unknown[c]) / 4.0;
            assert!((f64::from(at(&format!("product_prior_{class}"))) - weighted).abs() < 1e-6);
            let mean = (product[c] + unknown[c]) / 2.0;
            assert!((f64::from(at(&format!("product_prior_mean_{class}"))) - mean).abs() < 1e-6);
        }
        assert!((at("department_prior_LA") - (3.0 * 0.625 + 0.25) / 4.0).abs() < 1e-6);
        // Line 1 (3.0 in DEP00001, reference e^1): ln 3 - 1; line 2 (1.0,
        // unknown categories, global reference 0): ln 1 - 0 = 0.
        let first = 3f64.ln() - 1.0;
        assert!((f64::from(at("price_index")) - 3.0 * first / 4.0).abs() < 1e-6);
        assert!((f64::from(at("price_index_mean")) - first / 2.0).abs() < 1e-6);
    }

    #[test]
    fn empty_and_odd_baskets_encode_without_error() {
        let spec = spec();
        let mut x = Vec::new();
        spec.encode_basket(&basket(vec![]), &mut x).unwrap();
        assert_eq!(x.len(), spec.features.len());
        assert_eq!(x[6], 0.0);
        assert!(x[10..].iter().all(|v| v.is_nan()));
        let mut odd = item("", "", "", f64::NAN);
        odd.prod_code_40 = None;
        odd.quantity = -1.0;
        spec.encode_basket(&basket(vec![odd]), &mut x).unwrap();
        assert!(
            x[10..12].iter().all(|v| v.is_nan()),
            "no priced line: {x:?}"
        );
        assert!(x[12..].iter().all(|v| v.is_finite()), "{x:?}");
    }

    /// The test spec with a tag model: PRD0000001 is certainly UM, every
    /// other code takes the global tag mix; UM shoppers double the weight of
    /// UM products and halve that of LA ones.
    fn tagged_spec() -> FeatureSpec {
        let mut spec = spec();
        let priors = spec.basket.as_mut().unwrap();
        for level in &mut priors.levels {
            level.tags = level.codes.iter().flat_map(|_| [0.25, 0.5, 0.25]).collect();
        }
        priors.levels[4].tags = vec![0.0, 0.0, 1.0];
        priors.tags = Some(TagModel {
            threshold: 0.21,
            global: vec![0.25, 0.5, 0.25],
            segments: vec!["UM".into()],
            segment_likelihood: vec![0.5, 1.0, 2.0],
        });
        let priors = spec.basket.clone().unwrap();
        FeatureSpec::for_baskets(
            &classes(),
            std::array::from_fn(|i| match &spec.features[i].kind {
                FeatureKind::Categorical { vocabulary } => vocabulary.clone(),
                FeatureKind::Numeric => vec![],
            }),
            priors,
        )
    }

    #[test]
    fn tag_features_follow_the_rule_over_the_sum_distribution() {
        let spec = tagged_spec();
        spec.validate_basket().unwrap();
        let names = feature_names(&classes(), true);
        assert_eq!(names.len(), spec.features.len());
        assert_eq!(names.len(), basket_width(3, true));
        let mut x = Vec::new();
        let items = vec![
            item("PRD0000001", "CL1", "DEP00001", 3.0),
            item("PRD9", "CL9", "DEP9", 1.0),
        ];
        spec.encode_basket(&basket(items.clone()), &mut x).unwrap();
        let at = |x: &[f32], name: &str| x[names.iter().position(|n| n == name).unwrap()];
        // Two lines, bound floor(0.42) = 0; the sum is 1 + t, t the unknown
        // product's tag: -1 -> 0 (MM, 0.25), 0 -> 1 (UM, 0.5), +1 -> 2 (UM).
        assert_eq!(at(&x, "tag_prob_LA"), 0.0);
        assert_eq!(at(&x, "tag_prob_MM"), 0.25);
        assert_eq!(at(&x, "tag_prob_UM"), 0.75);
        assert_eq!(at(&x, "tag_lean"), 0.5);
        assert!((at(&x, "tag_lean_sd") - 0.5f32.sqrt() / 2.0).abs() < 1e-6);
        assert_eq!(at(&x, "tag_confidence"), 0.75);
        assert_eq!(at(&x, "tag_seen"), 0.5);
        // Leans relative to the global prior's 0.25 - 0.25 = 0: the known
        // product leans UM (0.9125 - 0.0625), the unknown one not at all.
        assert!((at(&x, "lean_max") - 0.85).abs() < 1e-6);
        assert_eq!(at(&x, "lean_min"), 0.0);
        assert_eq!(at(&x, "lean_positive"), 0.5);
        assert_eq!(at(&x, "lean_negative"), 0.0);
        // A UM shopper: the unknown product becomes [0.125, 0.5, 0.5] / 1.125.
        let mut b = basket(items);
        b.customer_price_sensitivity = Some("UM".into());
        let mut y = Vec::new();
        spec.encode_basket(&b, &mut y).unwrap();
        assert!((f64::from(at(&y, "tag_prob_MM")) - 0.125 / 1.125).abs() < 1e-6);
        // A segment the model has no row for changes nothing but the
        // customer field itself.
        b.customer_price_sensitivity = Some("LA".into());
        spec.encode_basket(&b, &mut y).unwrap();
        assert_eq!(x[6..], y[6..]);
        // The untagged part of the vector is the plain encoder's.
        let mut plain = Vec::new();
        self::spec()
            .encode_basket(&basket(b.items.clone()), &mut plain)
            .unwrap();
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&x[..plain.len()]), bits(&plain));
    }

    #[test]
    fn lines_of_one_product_share_its_tag() {
        let spec = tagged_spec();
        let names = feature_names(&classes(), true);
        let at = |x: &[f32], name: &str| x[names.iter().position(|n| n == name).unwrap()];
        let mut x = Vec::new();
        // Three lines, two of one unknown product: the sum is 2t + u, not
        // three independent tags. bound floor(0.63) = 0, so the basket is
        // MM only when 2t + u = 0: (t, u) = (0, 0) with 0.5 * 0.5.
        let items = vec![
            item("PRD7", "CL9", "DEP9", 1.0),
            item("PRD7", "CL9", "DEP9", 1.0),
            item("PRD8", "CL9", "DEP9", 1.0),
        ];
        spec.encode_basket(&basket(items), &mut x).unwrap();
        assert_eq!(at(&x, "tag_prob_MM"), 0.25);
        assert_eq!(at(&x, "tag_prob_LA"), 0.375);
    }

    #[test]
    fn broken_tag_tables_are_rejected() {
        let mut spec = tagged_spec();
        spec.basket.as_mut().unwrap().levels[4].tags.pop();
        assert!(spec.validate_basket().is_err());
        let mut spec = tagged_spec();
        spec.basket
            .as_mut()
            .unwrap()
            .tags
            .as_mut()
            .unwrap()
            .threshold = 1.5;
        assert!(spec.validate_basket().is_err());
        let mut spec = tagged_spec();
        spec.basket.as_mut().unwrap().levels[4].tags[0] = f32::NAN;
        assert!(spec.validate_basket().is_err());
        // Tags without a model: the features would not match the layout.
        let mut spec = tagged_spec();
        spec.basket.as_mut().unwrap().tags = None;
        assert!(spec.validate_basket().is_err());
    }

    #[test]
    fn a_spec_with_unpriced_codes_survives_json() {
        // serde_json writes a NaN as null and cannot read it back into an
        // f32; a code without a price is therefore None, not NaN.
        let mut spec = spec();
        spec.basket.as_mut().unwrap().levels[2].log_price[0] = None;
        let json = serde_json::to_string(&spec).unwrap();
        assert!(json.contains(r#""log_price":[null]"#), "{json}");
        let back: FeatureSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, spec);
        back.validate_basket().unwrap();
    }

    #[test]
    fn broken_priors_are_rejected() {
        let mut spec = spec();
        spec.basket.as_mut().unwrap().levels.swap(0, 1);
        assert!(spec.validate_basket().is_err());
        let mut spec2 = self::spec();
        spec2.features.pop();
        assert!(spec2.validate_basket().is_err());
        let mut spec3 = self::spec();
        spec3.basket.as_mut().unwrap().levels[4].counts.push(1.0);
        assert!(spec3.validate_basket().is_err());
    }

    #[test]
    fn baskets_parse_from_the_api_shape() {
        let json = r#"{"store_format":"LS","store_region":"E02","basket_size":"L",
            "basket_type":"Top Up","dominant_mission":"Fresh","customer_price_sensitivity":"LA",
            "items":[{"prod_code":"PRD0900097","prod_code_10":"CL00001","prod_code_20":"DEP00001",
            "prod_code_30":"G00001","prod_code_40":"D00001","quantity":1,"spend":1.03}]}"#;
        let b: Basket = serde_json::from_str(json).unwrap();
        assert_eq!(b.items[0].quantity, 1.0);
        assert!(serde_json::from_str::<Basket>(&json.replace("\"quantity\"", "\"qty\"")).is_err());
    }
}
