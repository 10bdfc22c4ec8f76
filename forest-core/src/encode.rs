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

use crate::basket::{
    Basket, Item, ProductLevel, CATEGORICAL_FIELDS, PRICE_FIELDS, PRIOR_FAMILIES, TOTAL_FIELDS,
};
use crate::error::ModelError;
use crate::feature::is_missing;
use crate::tags::{rule_bound, sum_distribution, LEAN_FIELDS, N_TAGS, TAG_FIELDS};

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
    /// The tag model's threshold and global tag distribution, if the spec
    /// has a tag model ([`crate::tags`]).
    fn tag_model(&self) -> Option<(f32, &[f32])>;
    /// The tag distribution (three numbers) of code `index` of table
    /// `level`; called only when [`BasketTables::tag_model`] is `Some`.
    fn tags(&self, level: usize, index: usize) -> &[f32];
    /// The tag model's likelihood row of a customer segment (trimmed), if
    /// it has one for it.
    fn segment_likelihood(&self, segment: &str) -> Option<&[f32]>;
    /// The line's priors when they are precomputed: a known product whose
    /// codes at every level are those its cache entry was computed for.
    /// Compiled models answer from tables built with [`line_priors`]; the
    /// default, and any miss, computes them level by level.
    fn cached_line(&self, _item: &Item) -> Option<CachedLine<'_>> {
        None
    }
}

/// What a compiled model's cache holds for a known product: exactly what
/// [`line_priors`] returns for it.
#[derive(Debug, Clone, Copy)]
pub struct CachedLine<'a> {
    /// `k` product-prior numbers, `k` department-prior numbers, then the
    /// reference log price.
    pub values: &'a [f64],
    /// The product's index in the product-level table.
    pub product: usize,
}

/// A line's priors computed level by level, as the encoder does without a
/// cache: `k` product-prior numbers, `k` department-prior numbers and the
/// reference log price, in the layout of [`CachedLine::values`]. For a
/// compiled model's emitter, which precomputes them per product.
pub fn line_priors<T: BasketTables + ?Sized>(tables: &T, item: &Item) -> Vec<f64> {
    let k = tables.global().len();
    let mut values = vec![0.0; 2 * k + 1];
    let (product, rest) = values.split_at_mut(k);
    let (department, reference) = rest.split_at_mut(k);
    reference[0] = item_prior(tables, item, product, department).reference;
    values
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

/// Lines up to which the tag features' scratch lives on the stack.
const STACK_LINES: usize = 16;

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
    let tag_model = tables.tag_model();
    let width = basket_width(k, tag_model.is_some());
    if out.len() != width {
        return Err(ModelError::Input(format!(
            "a basket of {k} classes encodes into {width} features, the output has room for {}",
            out.len()
        )));
    }
    for (i, field) in CATEGORICAL_FIELDS.iter().enumerate() {
        let raw = basket.categorical(field);
        out[i] = if is_missing(raw) {
            f32::NAN
        } else {
            tables.category(i, crate::feature::trim(raw))
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
    let mut stack_lines = [TagLine::default(); STACK_LINES];
    let mut lines = TagLines::new(&mut stack_lines, &basket.items, tag_model.is_some());
    let segment = match (&tag_model, basket.customer_price_sensitivity.as_deref()) {
        (Some(_), Some(s)) if !is_missing(s) => tables.segment_likelihood(crate::feature::trim(s)),
        _ => None,
    };
    let global_lean = f64::from(global_last_minus_first(tables.global()));
    for item in &basket.items {
        let line = match tables.cached_line(item) {
            Some(cached) => {
                product.copy_from_slice(&cached.values[..k]);
                department.copy_from_slice(&cached.values[k..2 * k]);
                LinePrior {
                    reference: cached.values[2 * k],
                    tags_at: Some((tables.n_levels() - 1, cached.product)),
                    product: Some(cached.product),
                }
            }
            None => item_prior(tables, item, product, department),
        };
        let reference = line.reference;
        if let Some((_, global)) = tag_model {
            let q: &[f32] = match line.tags_at {
                Some((l, i)) => tables.tags(l, i),
                None => global,
            };
            let lean = match (product.first(), product.last()) {
                (Some(first), Some(last)) => last - first - global_lean,
                _ => 0.0,
            };
            lines.push(line.product, q, segment, lean);
        }
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
    if let Some((threshold, _)) = tag_model {
        lines.features(
            threshold,
            &mut out[prices + PRICE_FIELDS.len() + PRIOR_FAMILIES.len() * k..],
        );
    }
    Ok(())
}

/// The global prior's lean: its last class minus its first.
fn global_last_minus_first(global: &[f32]) -> f32 {
    match (global.first(), global.last()) {
        (Some(first), Some(last)) => last - first,
        _ => 0.0,
    }
}

/// One line as the tag sum's distribution needs it.
#[derive(Debug, Clone, Copy, Default)]
struct TagLine {
    /// Its product's index in the product table, `u32::MAX` when training
    /// did not see it: lines of one product share its tag.
    product: u32,
    /// Its position in the basket, to group lines of one unknown product by
    /// their code.
    item: u32,
    /// Its tag distribution (its finest known code's, after the shopper's
    /// segment).
    q: [f64; N_TAGS],
}

/// The lines of one basket for the tag and lean features: the lines for
/// the sum's distribution (on the stack up to [`STACK_LINES`] lines), and
/// running sums for everything else.
struct TagLines<'b, 's> {
    items: &'b [Item],
    stack: &'s mut [TagLine; STACK_LINES],
    heap: Vec<TagLine>,
    len: usize,
    on_heap: bool,
    confidence: f64,
    seen: usize,
    lean_min: f64,
    lean_max: f64,
    lean_sum: f64,
    lean_square: f64,
    positive: usize,
    negative: usize,
}

impl<'b, 's> TagLines<'b, 's> {
    /// Lines go to `stack` up to its size, else to the heap.
    fn new(stack: &'s mut [TagLine; STACK_LINES], items: &'b [Item], tagged: bool) -> Self {
        let on_heap = tagged && items.len() > STACK_LINES;
        TagLines {
            items,
            stack,
            heap: if on_heap {
                Vec::with_capacity(items.len())
            } else {
                Vec::new()
            },
            len: 0,
            on_heap,
            confidence: 0.0,
            seen: 0,
            lean_min: f64::INFINITY,
            lean_max: f64::NEG_INFINITY,
            lean_sum: 0.0,
            lean_square: 0.0,
            positive: 0,
            negative: 0,
        }
    }

    /// Adds a line: its product index (if known), its tag distribution
    /// before the shopper's segment row, and its lean relative to the global
    /// prior's.
    fn push(&mut self, product: Option<usize>, q: &[f32], segment: Option<&[f32]>, lean: f64) {
        let mut q = [f64::from(q[0]), f64::from(q[1]), f64::from(q[2])];
        if let Some(like) = segment {
            // The shopper's segment is evidence of each product's tag.
            for (v, &l) in q.iter_mut().zip(like) {
                *v *= f64::from(l);
            }
            let z: f64 = q.iter().sum();
            if z > 0.0 {
                q = q.map(|v| v / z);
            }
        }
        self.confidence += q.iter().fold(0.0f64, |a, &b| a.max(b));
        self.seen += usize::from(product.is_some());
        self.lean_min = self.lean_min.min(lean);
        self.lean_max = self.lean_max.max(lean);
        self.lean_sum += lean;
        self.lean_square += lean * lean;
        self.positive += usize::from(lean > 0.0);
        self.negative += usize::from(lean < 0.0);
        let line = TagLine {
            product: product.map_or(u32::MAX, |p| p as u32),
            item: self.len as u32,
            q,
        };
        if self.on_heap {
            self.heap.push(line);
        } else {
            self.stack[self.len] = line;
        }
        self.len += 1;
    }

    /// Writes the tag features (`tag_prob_<class>` and [`TAG_FIELDS`]) and
    /// the lean summaries ([`LEAN_FIELDS`]) into `out`.
    fn features(&self, threshold: f32, out: &mut [f32]) {
        let lines: &[TagLine] = if self.on_heap {
            &self.heap
        } else {
            &self.stack[..self.len]
        };
        let n = lines.len();
        if n == 0 {
            out.fill(f32::NAN);
            return;
        }
        // Each distinct product enters the convolution once, with its line
        // count. Known products are told apart by their table index,
        // unknown ones by their code (a line without a product code is a
        // product of its own).
        let code = |l: &TagLine| ProductLevel::ProdCode.code(&self.items[l.item as usize]);
        let same = |a: &TagLine, b: &TagLine| {
            if a.product == u32::MAX {
                b.product == u32::MAX && code(a).is_some() && code(a) == code(b)
            } else {
                a.product == b.product
            }
        };
        let multiplicity = |i: usize| -> usize {
            if lines[..i].iter().any(|l| same(l, &lines[i])) {
                0 // counted with its first line
            } else {
                1 + lines[i + 1..].iter().filter(|l| same(&lines[i], l)).count()
            }
        };
        let mut stack = [0.0f64; 2 * (2 * STACK_LINES + 1)];
        let mut heap = Vec::new();
        let scratch: &mut [f64] = if n <= STACK_LINES {
            &mut stack
        } else {
            heap.resize(2 * (2 * n + 1), 0.0);
            &mut heap
        };
        let dist = sum_distribution((0..n).map(|i| (lines[i].q, multiplicity(i))), n, scratch);
        let bound = rule_bound(threshold, n);
        let (mut p, mut mean, mut square) = ([0.0f64; N_TAGS], 0.0f64, 0.0f64);
        for (offset, &d) in dist.iter().enumerate() {
            let sum = offset as i64 - n as i64;
            p[crate::tags::rule_class(sum, bound)] += d;
            mean += d * sum as f64;
            square += d * (sum * sum) as f64;
        }
        let lines_f = n as f64;
        let variance = (square - mean * mean).max(0.0);
        out[..N_TAGS].copy_from_slice(&p.map(|v| v as f32));
        let tag = &mut out[N_TAGS..N_TAGS + TAG_FIELDS.len()];
        tag[0] = (mean / lines_f) as f32;
        tag[1] = (variance.sqrt() / lines_f) as f32;
        tag[2] = (self.confidence / lines_f) as f32;
        tag[3] = (self.seen as f64 / lines_f) as f32;

        let lean = &mut out[N_TAGS + TAG_FIELDS.len()..];
        let mean_lean = self.lean_sum / lines_f;
        lean[0] = self.lean_min as f32;
        lean[1] = self.lean_max as f32;
        lean[2] = (self.lean_square / lines_f - mean_lean * mean_lean)
            .max(0.0)
            .sqrt() as f32;
        lean[3] = (self.positive as f64 / lines_f) as f32;
        lean[4] = (self.negative as f64 / lines_f) as f32;
    }
}

/// What [`item_prior`] finds of a line besides its priors.
#[derive(Debug, Clone, Copy)]
struct LinePrior {
    /// The mean log price of the item's finest known category above the
    /// product itself.
    reference: f64,
    /// The finest table (level, index) that knows one of its codes.
    tags_at: Option<(usize, usize)>,
    /// Its index in the product-level table, when training saw it.
    product: Option<usize>,
}

/// Writes the chained prior of `item` into `product` (finest level) and
/// `department` (the PROD_CODE_20 level), and says where its codes were
/// found.
fn item_prior<T: BasketTables + ?Sized>(
    tables: &T,
    item: &Item,
    product: &mut [f64],
    department: &mut [f64],
) -> LinePrior {
    let m = f64::from(tables.smoothing());
    for (p, g) in product.iter_mut().zip(tables.global()) {
        *p = f64::from(*g);
    }
    let mut line = LinePrior {
        reference: f64::from(tables.global_log_price()),
        tags_at: None,
        product: None,
    };
    for l in 0..tables.n_levels() {
        let level = tables.level(l);
        if let Some(i) = level.code(item).and_then(|c| tables.find(l, c)) {
            line.tags_at = Some((l, i));
            if level == ProductLevel::ProdCode {
                line.product = Some(i);
            }
            let counts = tables.counts(l, i);
            let n: f64 = counts.iter().map(|&c| f64::from(c)).sum();
            for (p, &c) in product.iter_mut().zip(counts) {
                *p = (f64::from(c) + m * *p) / (n + m);
            }
            if let (false, Some(p)) = (level == ProductLevel::ProdCode, tables.log_price(l, i)) {
                line.reference = f64::from(p);
            }
        }
        if level == ProductLevel::ProdCode20 {
            department.copy_from_slice(product);
        }
    }
    line
}
