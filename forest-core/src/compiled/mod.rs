//! What a compiled model calls at run time: the order keys its branch-free
//! walk compares, the table-row encoder, and the types its basket encoder
//! tables are built from. The code that writes compiled models is
//! `forest-codegen`, which only the `forest` crate's build script uses;
//! [`BasketIndex`] builds the same basket tables at run time from a decoded
//! spec (the ETL encodes its gold tables with them).
//!
//! The tables borrow (in generated code: `'static` arrays), so a compiled
//! model's encoder needs no allocation and no start-up work.
//! [`StaticBasket`] implements [`BasketTables`], so compiled models encode
//! baskets with forest-core's own [`encode_basket_with`]: the code that
//! computes the gold table's features in the ETL.
//!
//! [`encode_basket_with`]: crate::encode::encode_basket_with

mod index;
pub mod phf;

pub use index::{product_cache, BasketIndex};

use crate::basket::{Item, ProductLevel};
use crate::encode::{BasketTables, CachedLine};
use crate::error::ModelError;
use crate::feature::{category_code, encode_value};
use phf::PerfectHash;

/// The order key of a float: an integer that sorts as the float does, so
/// that `order_key(x) > order_key(t)` exactly when `x > t`, for every
/// non-NaN `x` and `t` (infinities included; `-0.0` is keyed as `+0.0`,
/// which IEEE compares equal to it). Non-negative floats get their bits with
/// the sign bit set, negative ones their bits inverted. NaN, which has no
/// place in the order, gets the key of some number; callers place it
/// themselves (see [`row_keys`]).
///
/// The emitted walk computes the same function in its own source (it must
/// be visible to the branch-free check); the tests hold the two together.
#[inline]
pub fn order_key(v: f32) -> u32 {
    let b = (v + 0.0).to_bits();
    b ^ ((((b as i32) >> 31) as u32) | 0x8000_0000)
}

/// A row's keys for the walk: `keys[j]` is `x[j]`'s key with NaN as
/// `u32::MAX`, above every number's key (so NaN "goes right" of every
/// threshold), and `keys[n + j]` the same with NaN as `0`, below every
/// number's key (NaN "goes left"). `keys` must hold `2 * x.len()` numbers.
pub fn row_keys(x: &[f32], keys: &mut [u32]) {
    let (high, low) = keys.split_at_mut(x.len());
    for ((&v, h), l) in x.iter().zip(high).zip(low) {
        let key = order_key(v);
        let nan = 0u32.wrapping_sub(u32::from(v.is_nan()));
        *h = key | nan;
        *l = key & !nan;
    }
}

/// One input column of a table-row model: its name, and its vocabulary if
/// it is categorical.
pub type RowFeature<'a> = (&'a str, Option<&'a [&'a str]>);

/// Encodes one table row given as raw text values in feature order, as
/// [`FeatureSpec::encode_row`](crate::FeatureSpec::encode_row) does.
pub fn encode_row(
    features: &[RowFeature<'_>],
    raw: &[&str],
    out: &mut [f32],
) -> Result<(), ModelError> {
    if raw.len() != features.len() || out.len() != features.len() {
        return Err(ModelError::input(format!(
            "expected {} values, got {}",
            features.len(),
            raw.len()
        )));
    }
    for (((name, vocabulary), value), o) in features.iter().zip(raw).zip(out) {
        *o = encode_value(name, *vocabulary, value)?;
    }
    Ok(())
}

/// The basket encoder's tables, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct StaticBasket<'a> {
    /// Sorted vocabulary of each field of
    /// [`CATEGORICAL_FIELDS`](crate::CATEGORICAL_FIELDS).
    pub vocabularies: [&'a [&'a str]; 6],
    /// Class distribution of all training baskets.
    pub global: &'a [f32],
    /// Pseudo-count pulling a code's distribution towards its parent's.
    pub smoothing: f32,
    /// Mean log unit price of all training lines.
    pub global_log_price: f32,
    /// In [`ProductLevel::CHAIN`] order.
    pub levels: &'a [StaticLevel<'a>],
    /// The tag model's threshold and global tag distribution, if the model
    /// has one ([`crate::tags`]).
    pub tags: Option<(f32, &'a [f32])>,
    /// The tag model's customer segments and their likelihood rows.
    pub segments: &'a [&'a str],
    /// Three likelihoods per segment of `segments`.
    pub segment_likelihood: &'a [f32],
    /// Precomputed priors of known products, when the spec records their
    /// category chains.
    pub cache: Option<StaticCache<'a>>,
}

/// Per product of the product level: its recorded chain (`parents`, 4 a
/// product, as in the spec) and the priors a line with exactly that chain
/// gets (`values`, `2k + 1` a product, from
/// [`line_priors`](crate::encode::line_priors)).
#[derive(Debug, Clone, Copy)]
pub struct StaticCache<'a> {
    /// Four indices per product into the levels above.
    pub parents: &'a [u32],
    /// `2k + 1` numbers per product.
    pub values: &'a [f64],
}

/// One product level's prior table, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct StaticLevel<'a> {
    /// Which level of the hierarchy.
    pub level: ProductLevel,
    /// Sorted, distinct.
    pub codes: &'a [&'a str],
    /// `codes.len() * n_classes` basket counts.
    pub counts: &'a [f32],
    /// Per code, the mean log unit price of its training lines.
    pub log_price: &'a [Option<f32>],
    /// `codes.len() * 3` tag probabilities with a tag model, else empty.
    pub tags: &'a [f32],
    /// A perfect hash over `codes`; without one, lookups binary-search.
    pub hash: Option<PerfectHash<'a>>,
}

impl StaticLevel<'_> {
    fn find(&self, code: &str) -> Option<usize> {
        match &self.hash {
            Some(h) => h.find(self.codes, code),
            None => self.codes.binary_search(&code).ok(),
        }
    }
}

impl BasketTables for StaticBasket<'_> {
    fn category(&self, field: usize, raw: &str) -> f32 {
        self.vocabularies
            .get(field)
            .map_or(f32::NAN, |v| category_code(v, raw))
    }
    fn global(&self) -> &[f32] {
        self.global
    }
    fn smoothing(&self) -> f32 {
        self.smoothing
    }
    fn global_log_price(&self) -> f32 {
        self.global_log_price
    }
    fn n_levels(&self) -> usize {
        self.levels.len()
    }
    fn level(&self, level: usize) -> ProductLevel {
        self.levels[level].level
    }
    #[inline]
    fn find(&self, level: usize, code: &str) -> Option<usize> {
        self.levels[level].find(code)
    }
    fn counts(&self, level: usize, index: usize) -> &[f32] {
        let k = self.global.len();
        &self.levels[level].counts[index * k..(index + 1) * k]
    }
    fn log_price(&self, level: usize, index: usize) -> Option<f32> {
        self.levels[level].log_price[index]
    }
    fn tag_model(&self) -> Option<(f32, &[f32])> {
        self.tags
    }
    fn tags(&self, level: usize, index: usize) -> &[f32] {
        &self.levels[level].tags[index * 3..index * 3 + 3]
    }
    fn segment_likelihood(&self, segment: &str) -> Option<&[f32]> {
        let i = self.segments.iter().position(|s| *s == segment)?;
        Some(&self.segment_likelihood[i * 3..i * 3 + 3])
    }
    #[inline]
    fn cached_line(&self, item: &Item) -> Option<CachedLine<'_>> {
        let cache = self.cache.as_ref()?;
        let (above, products) = self.levels.split_at(self.levels.len().checked_sub(1)?);
        let i = products[0].find(ProductLevel::ProdCode.code(item)?)?;
        let chain = cache.parents.get(4 * i..4 * i + 4)?;
        // The cached priors hold for an item whose codes the level-by-level
        // walk would find exactly where the chain says: the chain's code at
        // each level, or none the table holds where the chain has none.
        for (level, &parent) in above.iter().zip(chain) {
            match (parent, level.level.code(item)) {
                (u32::MAX, None) => {}
                (u32::MAX, Some(code)) if level.find(code).is_none() => {}
                (p, Some(code))
                    if p != u32::MAX
                        && phf::same_bytes(level.codes[p as usize].as_bytes(), code.as_bytes()) => {
                }
                _ => return None,
            }
        }
        let width = 2 * self.global.len() + 1;
        Some(CachedLine {
            values: cache.values.get(i * width..(i + 1) * width)?,
            product: i,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn edge() -> impl Strategy<Value = f32> {
        prop_oneof![
            proptest::sample::select(vec![
                f32::NAN,
                -f32::NAN,
                f32::INFINITY,
                f32::NEG_INFINITY,
                0.0,
                -0.0,
                f32::MAX,
                f32::MIN,
                f32::MIN_POSITIVE,
                f32::from_bits(1),
                -f32::from_bits(1),
                1.0,
                -1.0,
            ]),
            any::<u32>().prop_map(f32::from_bits),
            -10.0f32..10.0,
        ]
    }

    proptest! {
        /// The walk's single integer comparison is the interpreter's split
        /// rule: `x > t`, and NaN to the stored side.
        #[test]
        fn key_comparison_is_the_split_rule(x in edge(), t in edge(), missing_left in any::<bool>()) {
            prop_assume!(!t.is_nan());
            let mut keys = [0u32; 2];
            row_keys(&[x], &mut keys);
            let key = keys[usize::from(missing_left)];
            let right = key > order_key(t);
            let rule = x > t || (x.is_nan() && !missing_left);
            prop_assert_eq!(right, rule, "x {:?} t {:?} missing_left {}", x, t, missing_left);
        }
    }

    #[test]
    fn leaves_keep_every_value() {
        for x in [f32::NAN, f32::INFINITY, f32::MAX, -0.0] {
            let mut keys = [0u32; 2];
            row_keys(&[x], &mut keys);
            assert!(keys[1] <= order_key(f32::INFINITY), "{x}");
        }
    }
}
