//! The fitted tables of the basket encoder: per level of the product
//! hierarchy, how many training baskets of each class held each code, the
//! codes' mean log prices and, with a tag model, their tag distributions.
//! They travel inside the model's feature spec (see [`crate::encode`] for
//! what is computed from them).

use serde::{Deserialize, Serialize};

use crate::basket::ProductLevel;
use crate::error::ModelError;
use crate::tags::{TagModel, N_TAGS};

/// Basket counts by class for every code seen at one product level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriorLevel {
    /// Which level of the product hierarchy the table is for.
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
    pub(crate) fn index_of(&self, code: &str) -> Option<usize> {
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
