//! The feature layout of a basket model: which features a basket becomes,
//! in which order, and the feature spec that names them.

use crate::error::ModelError;
use crate::feature::{FeatureDef, FeatureKind, FeatureSpec};
use crate::priors::BasketPriors;
use crate::tags::{LEAN_FIELDS, TAG_FIELDS};

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

/// The length of a basket model's feature vector for `n_classes` classes,
/// with or without a tag model.
pub const fn basket_width(n_classes: usize, tagged: bool) -> usize {
    let plain = CATEGORICAL_FIELDS.len()
        + TOTAL_FIELDS.len()
        + PRICE_FIELDS.len()
        + PRIOR_FAMILIES.len() * n_classes;
    if tagged {
        plain + n_classes + TAG_FIELDS.len() + LEAN_FIELDS.len()
    } else {
        plain
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
