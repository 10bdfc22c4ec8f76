//! A decoded spec's basket tables in the compiled encoder's form, built at
//! run time: perfect hashes over every product-code table and the product
//! cache, so that a program encoding many baskets with one spec (the ETL's
//! gold tables) gets the compiled encoder's lookups without a build step.
//!
//! Nothing here encodes: [`BasketIndex::tables`] is a [`StaticBasket`],
//! which runs forest-core's own [`encode_basket_with`], so the features are
//! the interpreter's and the compiled model's bit for bit. Building one
//! costs a few milliseconds for 3,000 products (a hash per level, the
//! cached priors per product); it pays after a few hundred baskets, where
//! a spec's binary searches cost about 8 us a basket of 12 lines. The
//! ETL encodes its gold tables with it; its parity test holds every gold
//! row to the spec's own encoder.
//!
//! [`encode_basket_with`]: crate::encode::encode_basket_with

use super::phf::{build, PerfectHashTables};
use super::{StaticBasket, StaticCache, StaticLevel};
use crate::basket::Item;
use crate::encode::line_priors;
use crate::feature::{FeatureKind, FeatureSpec};
use crate::priors::BasketPriors;

/// What a [`StaticBasket`] borrows, owned: the spec's codes as slices of
/// `&str`, their perfect hashes and the product cache. Building the tables
/// takes two steps ([`BasketIndex::levels`], then [`BasketIndex::tables`])
/// because a `StaticBasket` borrows its levels as a slice.
#[derive(Debug, Clone)]
pub struct BasketIndex<'s> {
    priors: &'s BasketPriors,
    vocabularies: [Vec<&'s str>; 6],
    codes: Vec<Vec<&'s str>>,
    hashes: Vec<Option<PerfectHashTables>>,
    segments: Vec<&'s str>,
    cache: Option<Vec<f64>>,
}

impl<'s> BasketIndex<'s> {
    /// The index of a basket model's spec; `None` for a table-row spec.
    pub fn new(spec: &'s FeatureSpec) -> Option<Self> {
        let priors = spec.basket.as_ref()?;
        let vocabularies = std::array::from_fn(|i| match spec.features.get(i).map(|f| &f.kind) {
            Some(FeatureKind::Categorical { vocabulary }) => {
                vocabulary.iter().map(String::as_str).collect()
            }
            _ => Vec::new(),
        });
        let codes: Vec<Vec<&str>> = priors
            .levels
            .iter()
            .map(|l| l.codes.iter().map(String::as_str).collect())
            .collect();
        let hashes = codes.iter().map(|c| build(c)).collect();
        Some(BasketIndex {
            priors,
            vocabularies,
            codes,
            hashes,
            segments: priors.tags.as_ref().map_or(Vec::new(), |t| {
                t.segments.iter().map(String::as_str).collect()
            }),
            cache: product_cache(spec),
        })
    }

    /// The product-code tables as [`StaticBasket::levels`] holds them.
    pub fn levels(&self) -> Vec<StaticLevel<'_>> {
        self.priors
            .levels
            .iter()
            .zip(&self.codes)
            .zip(&self.hashes)
            .map(|((level, codes), hash)| StaticLevel {
                level: level.level,
                codes,
                counts: &level.counts,
                log_price: &level.log_price,
                tags: &level.tags,
                hash: hash.as_ref().map(PerfectHashTables::view),
            })
            .collect()
    }

    /// The encoder's tables over `levels` (this index's
    /// [`BasketIndex::levels`]).
    pub fn tables<'t>(&'t self, levels: &'t [StaticLevel<'t>]) -> StaticBasket<'t> {
        let products = self.priors.levels.last();
        StaticBasket {
            vocabularies: std::array::from_fn(|i| self.vocabularies[i].as_slice()),
            global: &self.priors.global,
            smoothing: self.priors.smoothing,
            global_log_price: self.priors.global_log_price,
            levels,
            tags: self
                .priors
                .tags
                .as_ref()
                .map(|t| (t.threshold, t.global.as_slice())),
            segments: &self.segments,
            segment_likelihood: self
                .priors
                .tags
                .as_ref()
                .map_or(&[], |t| t.segment_likelihood.as_slice()),
            cache: match (&self.cache, products) {
                (Some(values), Some(products)) => Some(StaticCache {
                    parents: &products.parents,
                    values,
                }),
                _ => None,
            },
        }
    }
}

/// The product cache of a basket spec that records its products' chains
/// ([`crate::PriorLevel::parents`]): per product, the `2k + 1` numbers
/// [`line_priors`] gives a line with exactly its recorded chain, computed
/// over the spec's own tables, so a cache hit gives the bits a miss would
/// compute. `None` without chains. `forest-codegen` emits the same numbers
/// into compiled models.
pub fn product_cache(spec: &FeatureSpec) -> Option<Vec<f64>> {
    let priors = spec.basket.as_ref()?;
    let tables = spec.basket_tables()?;
    let (products, above) = priors.levels.split_last()?;
    if products.parents.is_empty() {
        return None;
    }
    let code = |l: usize, p: u32| -> String {
        match above.get(l).and_then(|level| level.codes.get(p as usize)) {
            Some(code) if p != u32::MAX => code.clone(),
            _ => String::new(),
        }
    };
    let mut values = Vec::with_capacity(products.codes.len() * (2 * priors.global.len() + 1));
    for (i, chain) in products.parents.chunks(4).enumerate() {
        let item = Item {
            prod_code: products.codes[i].clone(),
            prod_code_10: code(3, chain[3]),
            prod_code_20: code(2, chain[2]),
            prod_code_30: code(1, chain[1]),
            prod_code_40: Some(code(0, chain[0])),
            quantity: 1.0,
            spend: 1.0,
        };
        values.extend(line_priors(&tables, &item));
    }
    Some(values)
}
