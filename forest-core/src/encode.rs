//! The basket encoder itself, generic over where its fitted tables live.
//!
//! A decoded model keeps its vocabularies and priors in a [`FeatureSpec`]
//! (owned strings, binary search); a model compiled by `build.rs` keeps them
//! in static arrays with perfect-hash lookups. Both run [`encode_basket_with`]
//! through the [`BasketTables`] trait, so the compiled encoder does the same
//! f64 arithmetic in the same order as the ETL and the interpreter: their
//! features agree bit for bit by construction, and the tests only confirm it.
//!
//! The formulas are documented in [`crate::basket`].
//!
//! [`FeatureSpec`]: crate::FeatureSpec

use crate::basket::{Basket, Item, ProductLevel, CATEGORICAL_FIELDS, PRICE_FIELDS, TOTAL_FIELDS};
use crate::error::ModelError;
use crate::feature::is_missing;

/// What the basket encoder reads: the categorical vocabularies and the
/// fitted product priors.
pub trait BasketTables {
    /// The code of a present value (trimmed, not a missing token) of the
    /// categorical field `CATEGORICAL_FIELDS[field]`.
    fn category(&self, field: usize, raw: &str) -> f32;
    /// Class distribution of all training baskets; its length is the class
    /// count.
    fn global(&self) -> &[f32];
    /// Pseudo-count pulling a code's distribution towards its parent's.
    fn smoothing(&self) -> f32;
    /// Mean log unit price of all training lines.
    fn global_log_price(&self) -> f32;
    /// Number of product levels (5 in a valid spec).
    fn n_levels(&self) -> usize;
    /// Which hierarchy level table `level` holds ([`ProductLevel::CHAIN`]
    /// order in a valid spec).
    fn level(&self, level: usize) -> ProductLevel;
    /// The index of `code` among the codes of table `level`, if training
    /// saw it.
    fn find(&self, level: usize, code: &str) -> Option<usize>;
    /// The per-class basket counts of code `index` of table `level`.
    fn counts(&self, level: usize, index: usize) -> &[f32];
    /// The mean log unit price of code `index` of table `level`.
    fn log_price(&self, level: usize, index: usize) -> Option<f32>;
}

/// The length of a basket model's feature vector for `n_classes` classes.
pub const fn basket_width(n_classes: usize) -> usize {
    CATEGORICAL_FIELDS.len() + TOTAL_FIELDS.len() + PRICE_FIELDS.len() + 4 * n_classes
}

/// Classes up to which the encoder's scratch sums live on the stack.
const STACK_CLASSES: usize = 8;

/// Encodes `basket` into `out`, which must hold exactly
/// [`basket_width`]`(n_classes)` values. Works for any basket: unknown codes
/// take their fallbacks, an empty basket gives NaN priors and zero totals.
pub fn encode_basket_with<T: BasketTables + ?Sized>(
    tables: &T,
    basket: &Basket,
    out: &mut [f32],
) -> Result<(), ModelError> {
    let k = tables.global().len();
    if out.len() != basket_width(k) {
        return Err(ModelError::Input(format!(
            "a basket of {k} classes encodes into {} features, the output has room for {}",
            basket_width(k),
            out.len()
        )));
    }
    for (i, field) in CATEGORICAL_FIELDS.iter().enumerate() {
        let raw = basket.categorical(field);
        out[i] = if is_missing(raw) {
            f32::NAN
        } else {
            tables.category(i, raw.trim())
        };
    }

    // Scratch, 7k numbers: sums over lines of the spend-weighted and plain
    // product priors, their maximum, the spend-weighted and plain
    // department priors, then one line's product and department priors.
    let mut stack = [0.0f64; 7 * STACK_CLASSES];
    let mut heap = Vec::new();
    let scratch: &mut [f64] = if k <= STACK_CLASSES {
        &mut stack[..7 * k]
    } else {
        heap.resize(7 * k, 0.0);
        &mut heap
    };
    let (sums, line) = scratch.split_at_mut(5 * k);
    let (product, department) = line.split_at_mut(k);
    sums[2 * k..3 * k].fill(f64::NEG_INFINITY);

    let (mut quantity, mut spend, mut weight) = (0.0f64, 0.0f64, 0.0f64);
    // Price index: weighted sum, plain sum, lines with a price.
    let (mut index_weighted, mut index_sum, mut priced) = (0.0f64, 0.0f64, 0usize);
    for item in &basket.items {
        let reference = item_prior(tables, item, product, department);
        // Negative or NaN spend carries no weight rather than a negative one.
        let w = if item.spend.is_finite() && item.spend > 0.0 {
            item.spend
        } else {
            0.0
        };
        if w > 0.0 && item.quantity.is_finite() && item.quantity > 0.0 {
            let index = (item.spend / item.quantity).ln() - reference;
            index_weighted += w * index;
            index_sum += index;
            priced += 1;
        }
        for c in 0..k {
            sums[c] += w * product[c];
            sums[k + c] += product[c];
            sums[2 * k + c] = sums[2 * k + c].max(product[c]);
            sums[3 * k + c] += w * department[c];
            sums[4 * k + c] += department[c];
        }
        quantity += item.quantity;
        spend += item.spend;
        weight += w;
    }

    let n = basket.items.len() as f64;
    let totals = CATEGORICAL_FIELDS.len();
    out[totals] = n as f32;
    out[totals + 1] = quantity as f32;
    out[totals + 2] = spend as f32;
    out[totals + 3] = if quantity > 0.0 {
        (spend / quantity) as f32
    } else {
        f32::NAN
    };
    let prices = totals + TOTAL_FIELDS.len();
    if priced > 0 {
        // Every priced line has weight > 0, so `weight` > 0 here.
        out[prices] = (index_weighted / weight) as f32;
        out[prices + 1] = (index_sum / priced as f64) as f32;
    } else {
        out[prices] = f32::NAN;
        out[prices + 1] = f32::NAN;
    }

    // Weighted means fall back to plain means when nothing was spent; an
    // empty basket has no priors at all (NaN).
    let mean = |weighted: f64, plain: f64| -> f32 {
        if weight > 0.0 {
            (weighted / weight) as f32
        } else if n > 0.0 {
            (plain / n) as f32
        } else {
            f32::NAN
        }
    };
    let priors = &mut out[prices + PRICE_FIELDS.len()..];
    for c in 0..k {
        priors[c] = mean(sums[c], sums[k + c]);
        priors[k + c] = if n > 0.0 {
            (sums[k + c] / n) as f32
        } else {
            f32::NAN
        };
        priors[2 * k + c] = if n > 0.0 {
            sums[2 * k + c] as f32
        } else {
            f32::NAN
        };
        priors[3 * k + c] = mean(sums[3 * k + c], sums[4 * k + c]);
    }
    Ok(())
}

/// Writes the chained prior of `item` into `product` (finest level) and
/// `department` (the PROD_CODE_20 level); returns the mean log price of the
/// item's finest known category above the product itself.
fn item_prior<T: BasketTables + ?Sized>(
    tables: &T,
    item: &Item,
    product: &mut [f64],
    department: &mut [f64],
) -> f64 {
    let m = f64::from(tables.smoothing());
    for (p, g) in product.iter_mut().zip(tables.global()) {
        *p = f64::from(*g);
    }
    let mut reference = f64::from(tables.global_log_price());
    for l in 0..tables.n_levels() {
        let level = tables.level(l);
        if let Some(i) = level.code(item).and_then(|c| tables.find(l, c)) {
            let counts = tables.counts(l, i);
            let n: f64 = counts.iter().map(|&c| f64::from(c)).sum();
            for (p, &c) in product.iter_mut().zip(counts) {
                *p = (f64::from(c) + m * *p) / (n + m);
            }
            if let (false, Some(p)) = (level == ProductLevel::ProdCode, tables.log_price(l, i)) {
                reference = f64::from(p);
            }
        }
        if level == ProductLevel::ProdCode20 {
            department.copy_from_slice(product);
        }
    }
    reference
}
