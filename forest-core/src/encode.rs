//! The basket encoder itself, generic over where its fitted tables live.
//!
//! A decoded model keeps its vocabularies and priors in a [`FeatureSpec`]
//! (owned strings, binary search); a model compiled by `build.rs` keeps them
//! in static arrays with perfect-hash lookups. Both run [`encode_basket_with`]
//! through the [`BasketTables`] trait, so the compiled encoder does the same
//! f64 arithmetic in the same order as the ETL and the interpreter: their
//! features agree bit for bit by construction, and the tests only confirm it.
//!
//! The product priors: each product is replaced by the class distribution
//! of the training baskets that held it, shrunk towards its category's
//! when it was seen in few baskets, chained coarse to fine over the
//! hierarchy:
//!
//! ```text
//! global -> PROD_CODE_40 -> PROD_CODE_30 -> PROD_CODE_20 -> PROD_CODE_10 -> PROD_CODE
//! p(level) = (counts(code) + m * p(parent)) / (baskets(code) + m)
//! ```
//!
//! so a product never seen in training falls back to its category's prior,
//! and a category never seen to the one above it. The tag features are
//! [`crate::tags`]'s.
//!
//! [`FeatureSpec`]: crate::FeatureSpec

use crate::basket::{Basket, Item, ProductLevel};
use crate::error::ModelError;
use crate::feature::{is_missing, FeatureKind, FeatureSpec};
use crate::layout::{basket_width, CATEGORICAL_FIELDS, PRICE_FIELDS, PRIOR_FAMILIES, TOTAL_FIELDS};
use crate::priors::BasketPriors;
use crate::tags::{rule_bound, sum_distribution, sum_scratch_len, N_TAGS, TAG_FIELDS};

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
        return Err(ModelError::input(format!(
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
        let mut stack = [0.0f64; sum_scratch_len(STACK_LINES)];
        let mut heap = Vec::new();
        let scratch: &mut [f64] = if n <= STACK_LINES {
            &mut stack
        } else {
            heap.resize(sum_scratch_len(n), 0.0);
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
impl FeatureSpec {
    /// Encodes a basket into `out` (cleared first). Works for any input:
    /// unknown codes take their fallbacks, an empty basket gives NaN priors
    /// and zero totals, which the trees route like any missing value. The
    /// arithmetic is [`encode_basket_with`], shared with compiled models.
    pub fn encode_basket(&self, basket: &Basket, out: &mut Vec<f32>) -> Result<(), ModelError> {
        let priors = self
            .basket
            .as_ref()
            .ok_or_else(|| ModelError::input("this model reads table rows, not baskets"))?;
        out.clear();
        out.resize(basket_width(priors.n_classes(), priors.tags.is_some()), 0.0);
        encode_basket_with(&SpecTables { spec: self, priors }, basket, out)
    }

    /// The encoder's tables over this spec, for a basket model.
    pub fn basket_tables(&self) -> Option<impl BasketTables + '_> {
        let priors = self.basket.as_ref()?;
        Some(SpecTables { spec: self, priors })
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
    use crate::layout::feature_names;
    use crate::priors::PriorLevel;
    use crate::tags::TagModel;

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
