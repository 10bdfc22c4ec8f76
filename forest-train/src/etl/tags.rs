//! Fitting the latent product-tag model ([`forest_core::tags`]) on the
//! training baskets.
//!
//! Each product gets a hidden tag (-1 LA, 0 MM, +1 UM); a basket's label
//! is the class the rule gives its tag sum, except for a small share
//! `ε` of baskets that break the rule. A product's tag is a priori drawn
//! from its category's (PROD_CODE_10's) tag mix, so a product seen in one
//! basket borrows from the products beside it on the shelf; and every line
//! bought by a known shopper is weak evidence of the tag through the
//! shopper's own segment (`CUST_PRICE_SENSITIVITY`, an input, not the
//! label: LA shoppers buy LA-tagged products more often):
//!
//! ```text
//! P(tag_p = t | the rest) ∝ (n[class(p)][t] + α·π[t])
//!                           · Π_{b ∋ p} L(y_b | sum_b with tag_p = t)
//!                           · Π_{s} P(segment s | t)^(w · lines of p bought by segment s)
//! L(y | sum) = 1 - ε when the rule gives y, ε / 2 otherwise
//! ```
//!
//! where `n[c][t]` counts the other products of class `c` tagged `t`, `π`
//! is the share of each tag over all products (a collapsed Dirichlet
//! prior) and `w` is [`TagConfig::segment_weight`]. The sampler visits
//! every product once a sweep in a shuffled order and draws its tag from
//! that conditional; after each sweep it re-estimates ε (the share of
//! baskets that break the rule) and `P(segment | tag)` from the current
//! tags. After [`TagConfig::burn_in`] sweeps it averages the conditionals
//! themselves (not the draws: Rao-Blackwellised, less noisy) over
//! [`TagConfig::samples`] sweeps, pooled over [`TagConfig::chains`]
//! chains: that average is the product's posterior. On large training sets
//! the sweeps shrink so that a fit visits at most
//! [`TagConfig::line_budget`] basket lines ([`TagConfig::for_lines`]).
//!
//! θ is chosen first, once, on all training baskets
//! ([`TagIndex::choose_bracket`]): a sampler cannot move θ by itself, as its
//! tags adapt to whatever θ it holds (measured: re-fitting θ every sweep
//! settled at 0.19 with 98.6% of baskets fitted, where 0.21 fits 99.2%).
//!
//! Categories get the mean posterior of their products, shrunk towards the
//! category above with [`TagConfig::level_smoothing`] pseudo-products, so
//! a product never seen in training takes its category's tag mix.
//!
//! Only training baskets are read, and the training baskets' own features
//! come from fits that leave their fold out (like the product priors), so
//! no basket's label reaches its own features. One fit is one thread with
//! its own ChaCha8 stream seeded from the ETL seed and the fold: the same
//! data and seed give the same tables on any number of threads.

use std::collections::BTreeMap;

use foldhash::HashMap;

use forest_core::tags::{rule_bound, rule_class, N_TAGS};
#[cfg(doc)]
use forest_core::ProductLevel;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use super::baskets::{Counted, PRODUCT};

/// The sampler's settings; the defaults are what the ETL uses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagConfig {
    /// Sweeps before the posterior is averaged.
    pub burn_in: usize,
    /// Sweeps averaged, per chain.
    pub samples: usize,
    /// Independent chains pooled.
    pub chains: usize,
    /// `α`: how many products' worth of weight the global tag mix has in a
    /// category's prior. The default, 5, had the best out-of-fold log-loss
    /// of the rule's class probabilities on the real week's training
    /// baskets (mean of 5 split seeds: 0.496 at 2, 0.484 at 5, 0.506 at
    /// 20), a choice made on training baskets only.
    pub prior_strength: f64,
    /// Pseudo-products pulling a category's tag mix towards its parent's.
    pub level_smoothing: f64,
    /// Sweeps of each short run that scores one of θ's brackets.
    pub bracket_sweeps: usize,
    /// Weight of each known shopper's segment as evidence of the tags of
    /// the products they bought (0 ignores it).
    pub segment_weight: f64,
    /// The most basket lines one fit visits, over all its chains and
    /// sweeps; a larger training set gets fewer sweeps (see
    /// [`TagConfig::for_lines`]). The default runs the settings above in
    /// full on up to 40,000 distinct basket lines: the real week's training
    /// baskets (17,671 lines) and the approved model's four synthetic weeks
    /// (34,774) keep the tables the quality work chose.
    pub line_budget: u64,
}

impl Default for TagConfig {
    fn default() -> Self {
        TagConfig {
            burn_in: 50,
            samples: 150,
            chains: 4,
            prior_strength: 5.0,
            level_smoothing: 2.0,
            bracket_sweeps: 30,
            segment_weight: 0.5,
            line_budget: 32_000_000,
        }
    }
}

/// The fewest sweeps a budget leaves to burn-in, to sampling and to each
/// bracket's run.
const MIN_SWEEPS: usize = 5;

impl TagConfig {
    /// The settings a fit over `lines` distinct basket lines runs with:
    /// these, or fewer sweeps when they would visit more than
    /// [`TagConfig::line_budget`] lines. Chains go first (down to one),
    /// then burn-in, samples and the brackets' sweeps shrink by one factor,
    /// to at least five each.
    ///
    /// Why fewer sweeps lose nothing on more data: a product seen in more
    /// baskets has a sharper conditional, so each sweep's average says
    /// more and the chains agree. Measured on 52 synthetic weeks (870,000
    /// lines; gold test accuracy of the default forest): 0.8723 with 4
    /// chains of 50 + 150 sweeps, 0.8734 with 1 chain of 5 + 5 (and 4
    /// sweeps a bracket), 0.8722 with 1 chain of 5 + 13 (5 a bracket), the
    /// same threshold each time; the ETL took 20.1 s with the full settings
    /// and 7.5 s with 5 + 13. The default budget gives 1 chain of 9 + 27
    /// there.
    pub fn for_lines(&self, lines: u64) -> TagConfig {
        let sweeps = (self.burn_in + self.samples).max(1) as u64;
        let lines = lines.max(1);
        let chains = self.chains.max(1) as u64;
        if lines.saturating_mul(chains * sweeps) <= self.line_budget {
            return self.clone();
        }
        let chains = (self.line_budget / lines.saturating_mul(sweeps)).clamp(1, chains);
        let factor = (self.line_budget as f64 / (lines as f64 * (chains * sweeps) as f64)).min(1.0);
        let shrink = |n: usize| {
            ((n as f64 * factor).round() as usize)
                .max(MIN_SWEEPS)
                .min(n)
        };
        TagConfig {
            chains: chains as usize,
            burn_in: shrink(self.burn_in),
            samples: shrink(self.samples),
            bracket_sweeps: shrink(self.bracket_sweeps),
            ..self.clone()
        }
    }
}

/// θ is chosen among `k / THRESHOLD_STEPS`: exact in f32 and f64, finer
/// than the line fractions of any basket of up to 22 lines tell apart.
const THRESHOLD_STEPS: u32 = 512;

/// Line fractions `a / b` for `b` up to this bound are the edges of θ's
/// candidate brackets: between two neighbours, every basket of up to this
/// many lines gets the same class from the rule.
const BRACKET_LINES: u32 = 10;

/// θ's candidate range.
const BRACKET_RANGE: (f64, f64) = (0.1, 0.4);

/// A range of θ between two neighbouring line fractions, `[lo, hi)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bracket {
    /// Lower edge, included: a line fraction `a / b`.
    pub lo: f64,
    /// Upper edge, excluded: the next line fraction above `lo`.
    pub hi: f64,
}

impl Bracket {
    /// The brackets between neighbouring fractions `a / b`, `b <=`
    /// [`BRACKET_LINES`], within [`BRACKET_RANGE`].
    fn candidates() -> Vec<Bracket> {
        let mut edges: Vec<(u32, u32)> = (1..=BRACKET_LINES)
            .flat_map(|b| (1..b).map(move |a| (a, b)))
            .filter(|&(a, b)| {
                let f = f64::from(a) / f64::from(b);
                f >= BRACKET_RANGE.0 && f <= BRACKET_RANGE.1
            })
            .collect();
        // Sort exactly: a/b < c/d iff a·d < c·b.
        edges.sort_by(|x, y| (x.0 * y.1).cmp(&(y.0 * x.1)));
        edges.dedup_by(|x, y| x.0 * y.1 == y.0 * x.1);
        edges
            .windows(2)
            .map(|w| Bracket {
                lo: f64::from(w[0].0) / f64::from(w[0].1),
                hi: f64::from(w[1].0) / f64::from(w[1].1),
            })
            .collect()
    }

    /// θ for this bracket: the grid value nearest its middle. Inside a
    /// bracket only baskets of more than `BRACKET_LINES` (10) lines tell θ
    /// values apart, too few to place it (measured: fitting θ within the
    /// bracket on them predicted held-out baskets worse than its middle).
    pub fn threshold(self) -> f32 {
        let step = f64::from(THRESHOLD_STEPS);
        let lo = (self.lo * step).ceil();
        let hi = ((self.hi * step).ceil() - 1.0).max(lo);
        (((lo + hi) / 2.0).floor() / step) as f32
    }
}

/// `ε` stays within these bounds, so no basket is ever impossible and no
/// rule is ever certain.
const NOISE_BOUNDS: (f64, f64) = (1e-3, 0.3);

/// One training basket as the tag model sees it.
#[derive(Debug, Clone)]
struct TagBasket {
    class: u8,
    fold: u8,
    lines: u32,
    /// The customer's own segment (class index), when the shopper is known.
    segment: Option<u8>,
    /// The product of each line that has one, as its number in
    /// [`TagData::codes`].
    products: Vec<u32>,
}

/// The training baskets, gathered week by week in pass 1 of the ETL.
///
/// Products are numbered in the order they are first seen: a basket line
/// is 4 bytes rather than an owned code (about 40 with its allocation), and
/// the ETL holds every training line of the run here until the tag model
/// is fitted.
#[derive(Debug, Clone, Default)]
pub struct TagData {
    baskets: Vec<TagBasket>,
    /// Each product's code, by number.
    codes: Vec<String>,
    /// Each product's codes at the four levels above it
    /// ([`ProductLevel::CHAIN`] order), from its first line, by number.
    ancestors: Vec<[Option<String>; 4]>,
    /// The number of each product code.
    numbers: HashMap<String, u32>,
}

impl TagData {
    /// Adds one training basket of class `class` in fold `fold`.
    pub fn add(&mut self, basket: &impl Counted, class: usize, fold: usize) {
        let mut products = Vec::with_capacity(basket.line_count());
        for line in basket.lines() {
            let Some(code) = line.code(PRODUCT) else {
                continue;
            };
            let number = match self.numbers.get(code) {
                Some(&number) => number,
                None => self.number(
                    code,
                    std::array::from_fn(|l| line.code(l).map(str::to_string)),
                ),
            };
            products.push(number);
        }
        let [.., segment] = basket.fields();
        let segment = segment
            .and_then(|s| super::priors::class_index(s.trim()))
            .map(|s| s as u8);
        self.baskets.push(TagBasket {
            class: class as u8,
            fold: fold as u8,
            lines: basket.line_count() as u32,
            segment,
            products,
        });
    }

    /// Numbers a product not seen before.
    fn number(&mut self, code: &str, above: [Option<String>; 4]) -> u32 {
        let number = self.codes.len() as u32;
        self.codes.push(code.to_string());
        self.ancestors.push(above);
        self.numbers.insert(code.to_string(), number);
        number
    }

    /// Appends another week's baskets (callers merge in week order, which
    /// fixes the order of the baskets and so the sampler's path). A product
    /// keeps the codes above it from the week that saw it first.
    pub fn merge(&mut self, other: TagData) {
        let renumber: Vec<u32> = other
            .codes
            .into_iter()
            .zip(other.ancestors)
            .map(|(code, above)| match self.numbers.get(&code) {
                Some(&number) => number,
                None => self.number(&code, above),
            })
            .collect();
        self.baskets.extend(other.baskets.into_iter().map(|mut b| {
            for p in &mut b.products {
                *p = renumber[*p as usize];
            }
            b
        }));
    }

    /// Interns the products (sorted by code) for fitting.
    pub fn index(&self) -> TagIndex {
        let mut by_code: Vec<u32> = (0..self.codes.len() as u32).collect();
        by_code.sort_unstable_by(|&a, &b| self.codes[a as usize].cmp(&self.codes[b as usize]));
        // A product's place in code order, by number.
        let mut id = vec![0u32; self.codes.len()];
        for (i, &number) in by_code.iter().enumerate() {
            id[number as usize] = i as u32;
        }
        let ancestors: Vec<[Option<String>; 4]> = by_code
            .iter()
            .map(|&n| self.ancestors[n as usize].clone())
            .collect();
        let mut class_ids: BTreeMap<&str, u32> = BTreeMap::new();
        for above in &ancestors {
            if let Some(class) = above[3].as_deref() {
                let next = class_ids.len() as u32;
                class_ids.entry(class).or_insert(next);
            }
        }
        // Products without a class share one pseudo-class.
        let no_class = class_ids.len() as u32;
        let class_of = ancestors
            .iter()
            .map(|above| above[3].as_deref().map_or(no_class, |k| class_ids[k]))
            .collect();
        let baskets = self
            .baskets
            .iter()
            .map(|b| {
                let mut products: Vec<(u32, u32)> = Vec::with_capacity(b.products.len());
                for &number in &b.products {
                    let p = id[number as usize];
                    match products.iter_mut().find(|(q, _)| *q == p) {
                        Some((_, c)) => *c += 1,
                        None => products.push((p, 1)),
                    }
                }
                IndexedBasket {
                    class: b.class,
                    fold: b.fold,
                    lines: b.lines,
                    segment: b.segment,
                    products,
                }
            })
            .collect::<Vec<_>>();
        let occurrences = Occurrences::of(&baskets, self.codes.len());
        TagIndex {
            occurrences,
            codes: by_code
                .iter()
                .map(|&n| self.codes[n as usize].clone())
                .collect(),
            ancestors,
            class_of,
            n_classes: no_class as usize + 1,
            baskets,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct IndexedBasket {
    class: u8,
    fold: u8,
    lines: u32,
    segment: Option<u8>,
    /// Distinct products and their line counts.
    products: Vec<(u32, u32)>,
}

/// The training baskets with products as integers.
#[derive(Debug, Clone, PartialEq)]
pub struct TagIndex {
    /// Product codes, sorted; a product's id is its position.
    codes: Vec<String>,
    ancestors: Vec<[Option<String>; 4]>,
    /// Each product's category id (its PROD_CODE_10).
    class_of: Vec<u32>,
    n_classes: usize,
    baskets: Vec<IndexedBasket>,
    /// Where each product occurs among all the baskets: built once, read
    /// by every bracket's run and the fit on all baskets, filtered for
    /// each fold's.
    occurrences: Occurrences,
}

/// Per product, the baskets of one fit that hold it and its lines in
/// each, `list[start[p]..start[p + 1]]` as (basket, lines), baskets in
/// their order. Built once per index by one scatter over all baskets'
/// products; a fit that leaves a fold out filters that list in one
/// sequential pass ([`Occurrences::keeping`]). Scattered again for each of
/// the 12 brackets and 6 fits, building samplers took 7% of the ETL's CPU
/// on 52 synthetic weeks; 2.6% with this.
#[derive(Debug, Clone, PartialEq)]
struct Occurrences {
    start: Vec<usize>,
    list: Vec<(u32, u32)>,
}

impl Occurrences {
    /// The occurrences of `n_products` products in `baskets`.
    fn of(baskets: &[IndexedBasket], n_products: usize) -> Occurrences {
        let mut start = vec![0usize; n_products + 1];
        for b in baskets {
            for &(p, _) in &b.products {
                start[p as usize + 1] += 1;
            }
        }
        for p in 0..n_products {
            start[p + 1] += start[p];
        }
        let mut fill = start.clone();
        let mut list = vec![(0u32, 0u32); start[n_products]];
        for (bi, b) in baskets.iter().enumerate() {
            for &(p, c) in &b.products {
                list[fill[p as usize]] = (bi as u32, c);
                fill[p as usize] += 1;
            }
        }
        Occurrences { start, list }
    }

    /// Product `p`'s (basket, lines) pairs.
    fn of_product(&self, p: usize) -> &[(u32, u32)] {
        &self.list[self.start[p]..self.start[p + 1]]
    }

    /// The products that occur at all, in id order.
    fn products(&self) -> Vec<u32> {
        (0..self.start.len().saturating_sub(1) as u32)
            .filter(|&p| self.start[p as usize] < self.start[p as usize + 1])
            .collect()
    }

    /// The occurrences among the baskets `keep` selects, each basket
    /// renumbered to its place among the kept ones; the same as building
    /// them from the kept baskets.
    fn keeping(
        &self,
        baskets: &[IndexedBasket],
        keep: impl Fn(&IndexedBasket) -> bool,
    ) -> Occurrences {
        let mut place = Vec::with_capacity(baskets.len());
        let mut kept = 0u32;
        for b in baskets {
            if keep(b) {
                place.push(kept);
                kept += 1;
            } else {
                place.push(u32::MAX);
            }
        }
        let mut start = Vec::with_capacity(self.start.len());
        let mut list = Vec::with_capacity(self.list.len());
        start.push(0);
        for p in 0..self.start.len().saturating_sub(1) {
            list.extend(
                self.of_product(p)
                    .iter()
                    .filter(|&&(b, _)| place[b as usize] != u32::MAX)
                    .map(|&(b, c)| (place[b as usize], c)),
            );
            start.push(list.len());
        }
        Occurrences { start, list }
    }
}

/// A fitted tag model, as the spec builder needs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagTables {
    /// θ: the rule gives the last class (UM) to a basket whose tag sum is
    /// above θ·lines and the first (LA) below -θ·lines (see
    /// [`forest_core::tags::rule_bound`]).
    pub threshold: f32,
    /// Mean posterior over all products.
    pub global: [f32; N_TAGS],
    /// `P(segment | tag)^w` (w: [`TagConfig::segment_weight`]), by segment
    /// (class order) then tag, averaged over the sampling sweeps.
    pub segment_likelihood: [[f32; N_TAGS]; N_TAGS],
    /// Per level ([`ProductLevel::CHAIN`] order), per code: its tag mix.
    #[serde(skip)]
    pub levels: [BTreeMap<String, [f32; N_TAGS]>; 5],
    /// Training baskets the fit read, and the share of them whose rule, with
    /// each product's most probable tag, gives their label.
    pub baskets: usize,
    /// Products the fit tagged: those on a line of a basket it read.
    pub products: usize,
    /// The share (0..=1) of those baskets whose rule gives their label.
    pub rule_fit: f64,
}

/// One category's running sum while its mix is built: the posteriors of
/// its products, their count, and its parent (level, code).
type CategorySum<'a> = ([f64; N_TAGS], f64, Option<(usize, &'a str)>);

/// A basket's tag sum under the current tags, as where it stands in the
/// range of sums whose rule class is the basket's label: the rule agrees
/// with the label when `0 <= offset <= width`. Eight bytes, one unsigned
/// comparison per tag tried: counting a product's misses reads one at
/// random per basket of the product and tries three tags there, and
/// passing a tag change on tries six per product in the basket (this form
/// against the sum, θ's bound and the label with [`rule_class`]: 12 bytes
/// and two comparisons and a select per tag; the sampler went from 25% to
/// 16% of the ETL's CPU on 52 synthetic weeks, with the occurrences built
/// once).
///
/// A basket's sum stays within ± its line count, so the range's open ends
/// are cut there; offsets and widths are at most twice the line count,
/// which an `i32` holds for any basket that fits in memory.
#[derive(Debug, Clone, Copy)]
struct BasketState {
    offset: i32,
    width: u32,
}

impl BasketState {
    /// The state of a basket of `lines` lines, label `label` and tag sum
    /// `sum`, with the rule's bound `bound` (θ >= 0, so `bound >= 0`).
    fn new(sum: i64, lines: i64, bound: i64, label: u8) -> BasketState {
        debug_assert!(bound >= 0 && sum.abs() <= lines);
        // The sums whose rule class is the label: above `bound` (UM),
        // below `-bound` (LA), or between them.
        let (lo, hi) = match label {
            2 => (bound + 1, lines.max(bound + 1)),
            0 => ((-lines).min(-bound - 1), -bound - 1),
            _ => (-bound, bound),
        };
        let narrow = |x: i64| i32::try_from(x).unwrap_or(if x < 0 { i32::MIN } else { i32::MAX });
        BasketState {
            offset: narrow(sum - lo),
            width: u32::try_from(hi - lo).unwrap_or(u32::MAX),
        }
    }

    /// Whether the rule gives the label with the sum shifted by `shift`.
    #[inline(always)]
    fn agrees(self, shift: i64) -> bool {
        (i64::from(self.offset) + shift) as u64 <= u64::from(self.width)
    }
}

/// Each basket's (product, lines) pairs in one list,
/// `list[start[b]..start[b + 1]]` for the `b`-th basket of a fit: what a
/// changed tag passes on to the misses of the basket's other products
/// ([`Sampler::resample`]). In one list, a basket's products are a
/// lookup away rather than behind its `IndexedBasket` and that one's
/// vector (two loads that each missed the cache), and the list of a basket
/// a few ahead can be asked for early. Built once per fit (or once for all
/// brackets) and shared by its chains.
struct Members {
    start: Vec<u32>,
    list: Vec<(u32, u32)>,
    /// Per basket, whether a product of it is on more than one line.
    has_repeats: Vec<bool>,
}

impl Members {
    fn of(baskets: &[&IndexedBasket]) -> Members {
        let mut start = Vec::with_capacity(baskets.len() + 1);
        let mut list = Vec::with_capacity(baskets.iter().map(|b| b.products.len()).sum());
        start.push(0);
        for b in baskets {
            list.extend_from_slice(&b.products);
            start.push(list.len() as u32);
        }
        let has_repeats = baskets
            .iter()
            .map(|b| b.products.iter().any(|&(_, lines)| lines > 1))
            .collect();
        Members {
            start,
            list,
            has_repeats,
        }
    }

    /// Basket `b`'s (product, lines) pairs.
    fn of_basket(&self, b: usize) -> &[(u32, u32)] {
        &self.list[self.start[b] as usize..self.start[b + 1] as usize]
    }
}

/// The sampler's state over the baskets and products of one fit.
struct Sampler<'a> {
    baskets: Vec<&'a IndexedBasket>,
    /// The products of `baskets`, in one list.
    members: &'a Members,
    /// Per product, the (basket, lines) it appears in among `baskets`.
    occurrences: &'a Occurrences,
    tag: Vec<u8>,
    /// Per basket, where its tag sum stands against its label's range.
    state: Vec<BasketState>,
    /// Per product and tag `t`: how many of its baskets would break the
    /// rule if the product took `t`, the others keeping theirs; up to date
    /// while `counting` is off (see [`Sampler::misses_of`]).
    misses: Vec<[i32; N_TAGS]>,
    /// Whether a resample counts its product's misses over its baskets
    /// (`misses` stale) rather than reading them from `misses`.
    counting: bool,
    /// Per product, the other products' places in its baskets: what a
    /// change of its tag costs to pass on to `misses`.
    co_members: Vec<u64>,
    /// This sweep's changes, weighed by `co_members`.
    sweep_updates: u64,
    class_counts: Vec<[u32; N_TAGS]>,
    global_counts: [u32; N_TAGS],
    noise: f64,
    /// Per product, its lines by the customer's segment (known shoppers).
    segments: Vec<[u32; N_TAGS]>,
    /// `ln P(segment | tag)`, re-estimated every sweep.
    log_emission: [[f64; N_TAGS]; N_TAGS],
    /// Per product, the weighted likelihood of its shoppers' segments under
    /// each tag, scaled so the largest is 1; refreshed with the emission.
    segment_evidence: Vec<[f64; N_TAGS]>,
}

impl TagIndex {
    /// Distinct (basket, product) lines over all training baskets: what
    /// one sweep on all of them visits.
    pub fn lines(&self) -> u64 {
        self.baskets.iter().map(|b| b.products.len() as u64).sum()
    }

    /// Chooses θ's bracket on all training baskets: for each candidate
    /// bracket (between neighbouring line fractions of up to 10 lines) a
    /// short run with θ fixed inside it, scored by how many baskets its
    /// tags satisfy over the run's second half. The
    /// sampler cannot be trusted to move θ across a fraction by itself: its
    /// tags adapt to whatever θ it holds, so every θ looks self-consistent
    /// from inside its own mode.
    pub fn choose_bracket(&self, config: &TagConfig, seed: u64) -> Bracket {
        let brackets = Bracket::candidates();
        let all: Vec<&IndexedBasket> = self.baskets.iter().collect();
        let members = Members::of(&all);
        let start = SamplerStart::of(self, &all, &self.occurrences);
        let scores: Vec<u64> = brackets
            .par_iter()
            .enumerate()
            .map(|(i, &bracket)| {
                let mut rng = ChaCha8Rng::seed_from_u64(forest_core::splitmix::mix(
                    seed ^ (0xB4AC << 32) ^ i as u64,
                ));
                let mut sampler = Sampler::new(
                    all.clone(),
                    &members,
                    &self.occurrences,
                    &start,
                    bracket.threshold(),
                );
                let mut order = self.occurrences.products();
                let mut score = 0u64;
                for sweep in 0..config.bracket_sweeps {
                    shuffle(&mut order, &mut rng);
                    for &p in &order {
                        sampler.resample(self, p as usize, config, &mut rng);
                    }
                    sampler.end_sweep();
                    sampler.refit_noise();
                    sampler.refit_emission(config.segment_weight);
                    if 2 * sweep >= config.bracket_sweeps {
                        score += sampler.agreeing() as u64;
                    }
                }
                score
            })
            .collect();
        let best = (0..brackets.len())
            .max_by_key(|&i| (scores[i], std::cmp::Reverse(i)))
            .unwrap_or(0);
        brackets[best]
    }

    /// Fits the tag model on the training baskets outside fold `exclude`
    /// (all of them when `None`), with θ inside `bracket`.
    pub fn fit(
        &self,
        exclude: Option<usize>,
        bracket: Bracket,
        config: &TagConfig,
        seed: u64,
    ) -> TagTables {
        let kept = |b: &IndexedBasket| Some(b.fold as usize) != exclude;
        let baskets: Vec<&IndexedBasket> = self.baskets.iter().filter(|b| kept(b)).collect();
        let filtered = exclude.map(|_| self.occurrences.keeping(&self.baskets, kept));
        let occurrences = filtered.as_ref().unwrap_or(&self.occurrences);
        let members = Members::of(&baskets);
        let start = SamplerStart::of(self, &baskets, occurrences);
        let products = occurrences.products();
        let mut posterior = vec![[0.0f64; N_TAGS]; self.codes.len()];
        let mut emission = [[0.0f64; N_TAGS]; N_TAGS];
        let mut last = None;
        // Chains start alike and differ by their streams; their averages
        // are pooled, which smooths the Monte Carlo noise of any one chain
        // and lets the posterior cover more than one mode.
        for chain in 0..config.chains.max(1) {
            let mut rng = ChaCha8Rng::seed_from_u64(forest_core::splitmix::mix(
                seed ^ (exclude.map_or(0, |f| f as u64 + 1) << 32) ^ ((chain as u64) << 48),
            ));
            let mut sampler = Sampler::new(
                baskets.clone(),
                &members,
                occurrences,
                &start,
                bracket.threshold(),
            );
            let mut order = products.clone();
            for sweep in 0..config.burn_in + config.samples {
                shuffle(&mut order, &mut rng);
                let keep = sweep >= config.burn_in;
                for &p in &order {
                    let w = sampler.resample(self, p as usize, config, &mut rng);
                    if keep {
                        for (a, b) in posterior[p as usize].iter_mut().zip(w) {
                            *a += b;
                        }
                    }
                }
                sampler.end_sweep();
                sampler.refit_noise();
                sampler.refit_emission(config.segment_weight);
                if keep {
                    for (e, l) in emission.iter_mut().zip(&sampler.log_emission) {
                        for (a, b) in e.iter_mut().zip(l) {
                            *a += b.exp();
                        }
                    }
                }
            }
            last = Some(sampler);
        }
        let sampler = last.expect("at least one chain");
        let threshold = bracket.threshold();
        let samples = (config.samples.max(1) * config.chains.max(1)) as f64;
        for q in &mut posterior {
            for v in q.iter_mut() {
                *v /= samples;
            }
        }
        let rule_fit = sampler.map_fit(&posterior, threshold);
        // Rows by segment: P(segment | tag) for each tag, to the weight.
        let segment_likelihood = std::array::from_fn(|seg| {
            std::array::from_fn(|t| (emission[t][seg] / samples).powf(config.segment_weight) as f32)
        });
        let mut tables = self.tables(
            &products,
            &posterior,
            threshold,
            config,
            sampler.baskets.len(),
            rule_fit,
        );
        tables.segment_likelihood = segment_likelihood;
        tables
    }

    /// Category tag mixes from the products' posteriors, top level first,
    /// each shrunk towards its parent's.
    fn tables(
        &self,
        products: &[u32],
        posterior: &[[f64; N_TAGS]],
        threshold: f32,
        config: &TagConfig,
        baskets: usize,
        rule_fit: f64,
    ) -> TagTables {
        let n = products.len().max(1) as f64;
        let mut global = [0.0f64; N_TAGS];
        for &p in products {
            for (g, q) in global.iter_mut().zip(posterior[p as usize]) {
                *g += q / n;
            }
        }
        if products.is_empty() {
            global = [1.0 / 3.0; N_TAGS];
        }
        let beta = config.level_smoothing;
        // Sums of posteriors and product counts per code, for the four
        // category levels; each code's parent is the finest known code above
        // it on its first product's chain.
        let mut sums: [BTreeMap<&str, CategorySum>; 4] = Default::default();
        for &p in products {
            let chain = &self.ancestors[p as usize];
            let mut parent: Option<(usize, &str)> = None;
            for (l, code) in chain.iter().enumerate() {
                let Some(code) = code.as_deref() else {
                    continue;
                };
                let slot = sums[l].entry(code).or_insert(([0.0; N_TAGS], 0.0, parent));
                for (s, q) in slot.0.iter_mut().zip(posterior[p as usize]) {
                    *s += q;
                }
                slot.1 += 1.0;
                parent = Some((l, code));
            }
        }
        let mut mixes: [BTreeMap<String, [f64; N_TAGS]>; 4] = Default::default();
        for l in 0..4 {
            for (code, (sum, count, parent)) in &sums[l] {
                let prior = match parent {
                    Some((pl, pc)) => mixes[*pl][*pc],
                    None => global,
                };
                let mix = std::array::from_fn(|t| (sum[t] + beta * prior[t]) / (count + beta));
                mixes[l].insert(code.to_string(), mix);
            }
        }
        let to_f32 = |q: [f64; N_TAGS]| q.map(|v| v as f32);
        let mut levels: [BTreeMap<String, [f32; N_TAGS]>; 5] = Default::default();
        for (l, mix) in mixes.into_iter().enumerate() {
            levels[l] = mix.into_iter().map(|(c, q)| (c, to_f32(q))).collect();
        }
        levels[4] = products
            .iter()
            .map(|&p| {
                (
                    self.codes[p as usize].clone(),
                    to_f32(posterior[p as usize]),
                )
            })
            .collect();
        TagTables {
            threshold,
            global: to_f32(global),
            segment_likelihood: [[1.0; N_TAGS]; N_TAGS],
            levels,
            baskets,
            products: products.len(),
            rule_fit,
        }
    }
}

/// What every sampler over one set of baskets starts from, whatever its
/// θ and its stream: each product's first tag (its majority label among
/// the baskets, ties to MM, the middle tag), the counts of those tags,
/// each product's co-members and its lines by shopper segment. Computed
/// once per set of baskets and cloned by each of its samplers (the 12
/// brackets' runs share one, a fit's chains another): computed by each
/// sampler it was most of the 2% of the ETL's CPU that building samplers
/// took on 52 synthetic weeks.
#[derive(Clone)]
struct SamplerStart {
    tag: Vec<u8>,
    co_members: Vec<u64>,
    class_counts: Vec<[u32; N_TAGS]>,
    global_counts: [u32; N_TAGS],
    segments: Vec<[u32; N_TAGS]>,
}

impl SamplerStart {
    fn of(index: &TagIndex, baskets: &[&IndexedBasket], occurrences: &Occurrences) -> Self {
        let n_products = index.codes.len();
        // Votes and co-members are counted basket by basket, in basket
        // order: the per-product tables stay in cache, where a walk over
        // each product's baskets would jump between them.
        let mut votes = vec![[0u32; N_TAGS]; n_products];
        let mut co_members = vec![0u64; n_products];
        let mut segments = vec![[0u32; N_TAGS]; n_products];
        for b in baskets {
            for &(p, c) in &b.products {
                votes[p as usize][b.class as usize] += 1;
                co_members[p as usize] += b.products.len() as u64 - 1;
                if let Some(seg) = b.segment {
                    segments[p as usize][seg as usize] += c;
                }
            }
        }
        let mut tag = vec![1u8; n_products];
        for (tag, votes) in tag.iter_mut().zip(&votes) {
            let best = *votes.iter().max().unwrap_or(&0);
            if best > 0 && votes[1] != best {
                *tag = if votes[0] == best { 0 } else { 2 };
            }
        }
        let mut class_counts = vec![[0u32; N_TAGS]; index.n_classes];
        let mut global_counts = [0u32; N_TAGS];
        for p in 0..n_products {
            if !occurrences.of_product(p).is_empty() {
                class_counts[index.class_of[p] as usize][tag[p] as usize] += 1;
                global_counts[tag[p] as usize] += 1;
            }
        }
        SamplerStart {
            tag,
            co_members,
            class_counts,
            global_counts,
            segments,
        }
    }
}

impl<'a> Sampler<'a> {
    /// A sampler over `baskets`, whose products occur as `occurrences`
    /// says, from `start` (of the same baskets), with θ at `threshold`.
    fn new(
        baskets: Vec<&'a IndexedBasket>,
        members: &'a Members,
        occurrences: &'a Occurrences,
        start: &SamplerStart,
        threshold: f32,
    ) -> Self {
        let SamplerStart {
            tag,
            co_members,
            class_counts,
            global_counts,
            segments,
        } = start.clone();
        let n_products = tag.len();
        let state: Vec<BasketState> = baskets
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let sum = members
                    .of_basket(i)
                    .iter()
                    .map(|&(p, c)| i64::from(c) * (i64::from(tag[p as usize]) - 1))
                    .sum();
                let bound = rule_bound(threshold, b.lines as usize);
                BasketState::new(sum, i64::from(b.lines), bound, b.class)
            })
            .collect();
        let mut sampler = Sampler {
            state,
            misses: vec![[0; N_TAGS]; n_products],
            counting: true,
            co_members,
            sweep_updates: 0,
            segment_evidence: vec![[1.0; N_TAGS]; n_products],
            segments,
            log_emission: [[0.0; N_TAGS]; N_TAGS],
            baskets,
            members,
            occurrences,
            tag,
            class_counts,
            global_counts,
            noise: 0.05,
        };
        sampler.refit_noise();
        sampler.refit_emission(1.0);
        sampler
    }

    /// `P(segment | tag)` from the lines of the products now carrying each
    /// tag, with one pseudo-line per cell, and from it every product's
    /// segment evidence under `weight`.
    fn refit_emission(&mut self, weight: f64) {
        let mut counts = [[1.0f64; N_TAGS]; N_TAGS];
        for (p, seg) in self.segments.iter().enumerate() {
            let t = self.tag[p] as usize;
            for (c, &n) in counts[t].iter_mut().zip(seg) {
                *c += f64::from(n);
            }
        }
        for (row, counts) in self.log_emission.iter_mut().zip(counts) {
            let total: f64 = counts.iter().sum();
            *row = counts.map(|c| (c / total).ln());
        }
        for (evidence, seg) in self.segment_evidence.iter_mut().zip(&self.segments) {
            if seg.iter().all(|&n| n == 0) {
                *evidence = [1.0; N_TAGS];
                continue;
            }
            let log: [f64; N_TAGS] = std::array::from_fn(|t| {
                weight
                    * seg
                        .iter()
                        .zip(&self.log_emission[t])
                        .map(|(&n, l)| f64::from(n) * l)
                        .sum::<f64>()
            });
            let top = log.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
            *evidence = log.map(|l| (l - top).exp());
        }
    }

    /// Draws product `p`'s tag from its conditional; returns the
    /// conditional.
    ///
    /// The rule's part of the conditional is how many of `p`'s baskets
    /// each tag would break ([`Sampler::misses_of`]).
    fn resample(
        &mut self,
        index: &TagIndex,
        p: usize,
        config: &TagConfig,
        rng: &mut ChaCha8Rng,
    ) -> [f64; N_TAGS] {
        let old = self.tag[p] as usize;
        let class = index.class_of[p] as usize;
        self.class_counts[class][old] -= 1;
        self.global_counts[old] -= 1;
        let total: u32 = self.global_counts.iter().sum();
        // Every tag is judged on the same baskets, so the rule's likelihood
        // is (1 - ε)^hits (ε/2)^misses = const · r^misses.
        let misses = self.misses_of(p);
        let fewest = *misses.iter().min().unwrap_or(&0);
        let r = (self.noise / 2.0) / (1.0 - self.noise);
        let evidence = self.segment_evidence[p];
        let mut w = [0.0f64; N_TAGS];
        for (t, w) in w.iter_mut().enumerate() {
            let share = (f64::from(self.global_counts[t]) + 1.0) / (f64::from(total) + 3.0);
            let prior = f64::from(self.class_counts[class][t]) + config.prior_strength * share;
            *w = prior * r.powi(misses[t] - fewest) * evidence[t];
        }
        let z: f64 = w.iter().sum();
        for v in &mut w {
            *v /= z;
        }
        let u: f64 = rng.random();
        let new = if u < w[0] {
            0
        } else if u < w[0] + w[1] {
            1
        } else {
            2
        };
        if new != old {
            self.sweep_updates += self.co_members[p];
            let shift = new as i64 - old as i64;
            let occurrences = self.occurrences.of_product(p);
            for (i, &(b, c)) in occurrences.iter().enumerate() {
                // The state and list start of a basket a few ahead, then
                // the products of a nearer one (its start is in cache by
                // then): the walk waits on neither.
                if let Some(&(far, _)) = occurrences.get(i + 2 * PASS_ON_PREFETCH) {
                    prefetch(&self.state[far as usize]);
                    prefetch(&self.members.start[far as usize]);
                }
                if let Some(&(near, _)) = occurrences.get(i + PASS_ON_PREFETCH) {
                    let first = self.members.start[near as usize] as usize;
                    if let Some(member) = self.members.list.get(first) {
                        prefetch(member);
                    }
                }
                let before = self.state[b as usize];
                // A basket's lines bound its sum: no overflow.
                let after = BasketState {
                    offset: before.offset + c as i32 * shift as i32,
                    ..before
                };
                self.state[b as usize] = after;
                if self.counting {
                    continue;
                }
                // What a member on one line gains in misses, by the shift
                // (-2..=2) its own change of tag would make: most members
                // are on one line, and a basket whose agreement moved for
                // none of these shifts, and that has no member on more,
                // changes no member's misses. (Shifts of -2..=2 cover every
                // change of tag while there are three tags.)
                const _: () = assert!(N_TAGS == 3);
                let flips: [i32; 5] = std::array::from_fn(|k| {
                    let d = k as i64 - 2;
                    i32::from(!after.agrees(d)) - i32::from(!before.agrees(d))
                });
                if flips == [0; 5] && !self.members.has_repeats[b as usize] {
                    continue;
                }
                for &(q, cq) in self.members.of_basket(b as usize) {
                    if q as usize == p {
                        continue;
                    }
                    let tq = usize::from(self.tag[q as usize]);
                    let misses = &mut self.misses[q as usize];
                    if cq == 1 {
                        for (t, m) in misses.iter_mut().enumerate() {
                            *m += flips[t + 2 - tq];
                        }
                        continue;
                    }
                    for (t, m) in misses.iter_mut().enumerate() {
                        let d = i64::from(cq) * (t as i64 - tq as i64);
                        *m += i32::from(!after.agrees(d)) - i32::from(!before.agrees(d));
                    }
                }
            }
            self.tag[p] = new as u8;
        }
        self.class_counts[class][new] += 1;
        self.global_counts[new] += 1;
        w
    }

    /// How many of `p`'s baskets each tag would break, the other products
    /// keeping theirs.
    ///
    /// Two ways to the same counts. Counted: a visit to each of `p`'s
    /// baskets at every resample, so a popular product costs its
    /// popularity every sweep. Kept: a product that changes its tag moves
    /// the sums of its baskets, and with them what each other product in
    /// those baskets would break; [`Sampler::resample`] passes that on to
    /// `misses`, basket by basket (a product's own counts stay as they
    /// are: its baskets' sums without it do not move). Keeping pays when
    /// few tags change: on 52 synthetic weeks 1.4% of resamples change a
    /// tag and passing the changes on visits 6x fewer basket places than
    /// counting; on the real week 22% do, and counting is cheaper.
    /// [`Sampler::end_sweep`] picks the cheaper way from the sweep just
    /// run.
    fn misses_of(&self, p: usize) -> [i32; N_TAGS] {
        if !self.counting {
            return self.misses[p];
        }
        let old = i64::from(self.tag[p]);
        let occurrences = self.occurrences.of_product(p);
        let mut misses = [0i32; N_TAGS];
        for (i, &(b, c)) in occurrences.iter().enumerate() {
            if let Some(&(ahead, _)) = occurrences.get(i + PREFETCH_DISTANCE) {
                prefetch(&self.state[ahead as usize]);
            }
            let s = self.state[b as usize];
            for (t, m) in misses.iter_mut().enumerate() {
                *m += i32::from(!s.agrees(i64::from(c) * (t as i64 - old)));
            }
        }
        misses
    }

    /// After a sweep: keeps the misses from now on when passing the
    /// sweep's changes on would have cost less than counting (a place in a
    /// basket passed on is about two visits counted: six comparisons
    /// against three), counts them again when it would have cost more.
    /// Either way the counts are the same, so the fit is too.
    fn end_sweep(&mut self) {
        let counted = self.occurrences.list.len() as u64;
        let passed_on = 2 * self.sweep_updates;
        if self.counting && passed_on < counted {
            self.misses = self.count_all_misses();
            self.counting = false;
        } else if !self.counting && passed_on > counted {
            self.counting = true;
        }
        self.sweep_updates = 0;
    }

    /// [`Sampler::misses_of`] counted for every product at once, basket by
    /// basket: the same sums, with the baskets' states read in order
    /// rather than in each product's order (and the per-product counts in
    /// cache).
    fn count_all_misses(&self) -> Vec<[i32; N_TAGS]> {
        let mut misses = vec![[0i32; N_TAGS]; self.tag.len()];
        for (b, s) in self.state.iter().enumerate() {
            for &(q, c) in self.members.of_basket(b) {
                let old = i64::from(self.tag[q as usize]);
                for (t, m) in misses[q as usize].iter_mut().enumerate() {
                    *m += i32::from(!s.agrees(i64::from(c) * (t as i64 - old)));
                }
            }
        }
        misses
    }

    /// Sets `ε` to the share of baskets that break the rule now.
    fn refit_noise(&mut self) {
        let n = self.state.len().max(1) as f64;
        let broken = (self.state.len() - self.agreeing()) as f64;
        self.noise = ((broken + 1.0) / (n + 2.0)).clamp(NOISE_BOUNDS.0, NOISE_BOUNDS.1);
    }

    /// Baskets whose label the rule gives under the current tags and θ.
    fn agreeing(&self) -> usize {
        self.state.iter().filter(|s| s.agrees(0)).count()
    }

    /// The share of baskets whose label the rule gives with every product
    /// at its most probable tag.
    fn map_fit(&self, posterior: &[[f64; N_TAGS]], threshold: f32) -> f64 {
        let agree = self
            .baskets
            .iter()
            .filter(|b| {
                let sum: i64 = b
                    .products
                    .iter()
                    .map(|&(p, c)| {
                        let q = posterior[p as usize];
                        let t = (0..N_TAGS).fold(0, |a, t| if q[t] > q[a] { t } else { a });
                        i64::from(c) * (t as i64 - 1)
                    })
                    .sum();
                rule_class(sum, rule_bound(threshold, b.lines as usize)) == b.class as usize
            })
            .count();
        agree as f64 / self.baskets.len().max(1) as f64
    }
}

/// Occurrences ahead whose basket state a count of misses asks the cache
/// for ([`Sampler::misses_of`]). A count is bound by those loads (a third
/// of its time went to the one that reads the state): with the prefetch,
/// the tag model's phase of the ETL on 52 synthetic weeks took 0.59-0.70 s
/// against 0.75-0.84 s (3 runs each, when every resample counted); 16
/// ahead measured the same as 8.
const PREFETCH_DISTANCE: usize = 8;

/// Occurrences ahead whose basket's products a pass-on asks the cache for
/// ([`Sampler::resample`]); its state and list start are asked for at twice
/// the distance.
const PASS_ON_PREFETCH: usize = 4;

/// Asks the cache for `value`'s line, without waiting for it.
#[inline(always)]
fn prefetch<T>(value: &T) {
    // SAFETY: a prefetch is a hint: it reads nothing into the program and
    // never faults, and SSE (which has it) is part of every x86_64 target.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (value as *const T).cast(),
        );
    }
}

/// Fisher-Yates with the fit's own stream.
fn shuffle(order: &mut [u32], rng: &mut ChaCha8Rng) {
    for i in (1..order.len()).rev() {
        let j = rng.random_range(0..=i);
        order.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use forest_core::splitmix::SplitMix64;
    use forest_core::{Basket, Item};

    /// Products `P000`..: tag by `p % 3` (0 LA, 1 MM, 2 UM), class
    /// `CL<p % 6>` (so each class holds one tag); baskets of
    /// 1 to 12 random products labelled by the rule with θ = 0.21, and the
    /// shopper's segment their basket's label half of the time.
    fn planted(baskets: usize, seed: u64) -> TagData {
        let mut data = TagData::default();
        for (basket, class, fold) in planted_baskets(baskets, seed) {
            data.add(&basket, class, fold);
        }
        data
    }

    /// [`planted`]'s baskets, each with its class and fold.
    fn planted_baskets(baskets: usize, seed: u64) -> Vec<(Basket, usize, usize)> {
        let mut rng = SplitMix64::new(seed);
        let mut out = Vec::with_capacity(baskets);
        for b in 0..baskets {
            let lines = 1 + rng.below(12);
            let products: Vec<usize> = (0..lines).map(|_| rng.below(60)).collect();
            let sum: i64 = products.iter().map(|&p| (p % 3) as i64 - 1).sum();
            let class = rule_class(sum, rule_bound(0.21, lines));
            let basket = Basket {
                store_format: "LS".into(),
                store_region: "E02".into(),
                basket_size: "M".into(),
                basket_type: "Top Up".into(),
                dominant_mission: "Fresh".into(),
                customer_price_sensitivity: (rng.below(2) == 0)
                    .then(|| ["LA", "MM", "UM"][class].to_string()),
                items: products
                    .iter()
                    .map(|p| Item {
                        prod_code: format!("P{p:03}"),
                        prod_code_10: format!("CL{}", p % 6),
                        prod_code_20: "DEP1".into(),
                        prod_code_30: "G1".into(),
                        prod_code_40: Some("D1".into()),
                        quantity: 1.0,
                        spend: 1.0,
                    })
                    .collect(),
            };
            out.push((basket, class, b % 5));
        }
        out
    }

    fn small() -> TagConfig {
        TagConfig {
            burn_in: 20,
            samples: 40,
            chains: 2,
            bracket_sweeps: 16,
            ..TagConfig::default()
        }
    }

    #[test]
    fn the_budget_leaves_small_sets_alone_and_shrinks_large_ones() {
        let config = TagConfig::default();
        // The real week's training lines: the settings in full.
        assert_eq!(config.for_lines(17_671), config);
        // The approved model's four synthetic weeks: in full too.
        assert_eq!(config.for_lines(34_774), config);
        // Twice the lines the full settings fit: half the chains.
        let twice = config.for_lines(80_000);
        assert_eq!((twice.chains, twice.burn_in, twice.samples), (2, 50, 150));
        // 52 synthetic weeks: one chain, sweeps shrunk to the budget.
        let big = config.for_lines(892_743);
        assert_eq!(
            (big.chains, big.burn_in, big.samples, big.bracket_sweeps),
            (1, 9, 27, 5)
        );
        assert!(892_743 * (big.burn_in + big.samples) as u64 <= config.line_budget * 11 / 10);
        // Far beyond: never below the floor, never above the settings.
        let huge = config.for_lines(u64::from(u32::MAX));
        assert_eq!((huge.burn_in, huge.samples, huge.bracket_sweeps), (5, 5, 5));
        let few = TagConfig {
            burn_in: 2,
            ..config.clone()
        };
        assert_eq!(few.for_lines(u64::from(u32::MAX)).burn_in, 2);
    }

    /// Weeks gathered apart and merged in order index like one gathering
    /// of all their baskets; a product keeps the codes above it from the
    /// week that saw it first.
    #[test]
    fn merged_weeks_index_like_one_gathering() {
        let baskets = planted_baskets(200, 11);
        let mut whole = TagData::default();
        let mut merged = TagData::default();
        for week in baskets.chunks(70) {
            let mut data = TagData::default();
            for (basket, class, fold) in week {
                whole.add(basket, *class, *fold);
                data.add(basket, *class, *fold);
            }
            merged.merge(data);
        }
        assert_eq!(merged.index(), whole.index());

        // CHAIN[3] is the product's class (PROD_CODE_10).
        let mut moved = baskets[0].0.clone();
        let first_class = moved.items[0].prod_code_10.clone();
        moved.items[0].prod_code_10 = "CL_ELSEWHERE".into();
        let product = moved.items[0].prod_code.clone();
        let mut later = TagData::default();
        later.add(&moved, 0, 0);
        let class_of = |index: &TagIndex| {
            let p = index.codes.iter().position(|c| *c == product).unwrap();
            index.ancestors[p][3].clone()
        };
        assert_eq!(class_of(&later.index()).as_deref(), Some("CL_ELSEWHERE"));
        merged.merge(later);
        assert_eq!(class_of(&merged.index()), Some(first_class));
    }

    /// A basket's state agrees with its label exactly where the rule
    /// gives the label, for every sum a basket can reach and every shift
    /// a resample tries, at every bound θ can give.
    #[test]
    fn basket_state_agrees_where_the_rule_gives_the_label() {
        for lines in 0..=12i64 {
            for bound in 0..=lines {
                for label in 0..3u8 {
                    for sum in -lines..=lines {
                        let state = BasketState::new(sum, lines, bound, label);
                        for shifted in -lines..=lines {
                            assert_eq!(
                                state.agrees(shifted - sum),
                                rule_class(shifted, bound) == label as usize,
                                "lines {lines}, bound {bound}, label {label}, sum {sum} -> {shifted}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// Misses kept up to date as tags change are the ones counted afresh,
    /// for every product after every sweep.
    #[test]
    fn kept_misses_equal_counted_ones() {
        let index = planted(300, 5).index();
        let config = small();
        let baskets: Vec<&IndexedBasket> = index.baskets.iter().collect();
        let members = Members::of(&baskets);
        let start = SamplerStart::of(&index, &baskets, &index.occurrences);
        let mut sampler = Sampler::new(baskets, &members, &index.occurrences, &start, 0.21);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let products = index.occurrences.products();
        // Kept from the start, whatever passing the changes on costs.
        sampler.misses = (0..index.codes.len())
            .map(|p| sampler.misses_of(p))
            .collect();
        sampler.counting = false;
        let mut changed = 0;
        for _ in 0..5 {
            let before = sampler.tag.clone();
            for &p in &products {
                sampler.resample(&index, p as usize, &config, &mut rng);
            }
            changed += before
                .iter()
                .zip(&sampler.tag)
                .filter(|(a, b)| a != b)
                .count();
            let kept = sampler.misses.clone();
            sampler.counting = true;
            for &p in &products {
                assert_eq!(
                    kept[p as usize],
                    sampler.misses_of(p as usize),
                    "product {p}"
                );
            }
            sampler.counting = false;
        }
        assert!(
            changed > 10,
            "only {changed} tags changed: the updates went untested"
        );
    }

    /// Occurrences filtered for a fold are the ones built from the kept
    /// baskets alone.
    #[test]
    fn filtered_occurrences_equal_rebuilt_ones() {
        let index = planted(300, 5).index();
        for fold in 0..5 {
            let keep = |b: &IndexedBasket| b.fold as usize != fold;
            let kept: Vec<IndexedBasket> =
                index.baskets.iter().filter(|b| keep(b)).cloned().collect();
            assert_eq!(
                index.occurrences.keeping(&index.baskets, keep),
                Occurrences::of(&kept, index.codes.len())
            );
        }
    }

    #[test]
    fn brackets_tile_the_range_between_small_fractions() {
        let brackets = Bracket::candidates();
        assert_eq!(brackets.first().unwrap().lo, 0.1);
        assert_eq!(brackets.last().unwrap().hi, 0.4);
        for w in brackets.windows(2) {
            assert_eq!(w[0].hi, w[1].lo);
        }
        let b = brackets.iter().find(|b| b.lo == 0.2).unwrap();
        assert!((b.hi - 2.0 / 9.0).abs() < 1e-12);
        let t = f64::from(b.threshold());
        assert!((0.2..2.0 / 9.0).contains(&t), "{t}");
        // θ is on the grid, so it is exact in f32 and in f64.
        assert_eq!(t * f64::from(THRESHOLD_STEPS), (t * 512.0).round());
    }

    #[test]
    fn the_sampler_recovers_planted_tags_and_threshold() {
        let index = planted(600, 7).index();
        let config = small();
        let bracket = index.choose_bracket(&config, 0);
        assert_eq!(bracket.lo, 0.2, "{bracket:?}");
        let tables = index.fit(None, bracket, &config, 0);
        assert!(tables.rule_fit > 0.97, "rule fit {}", tables.rule_fit);
        let mut right = 0;
        for p in 0..60usize {
            let q = tables.levels[4][&format!("P{p:03}")];
            let best = (0..3).fold(0, |a, t| if q[t] > q[a] { t } else { a });
            right += usize::from(best == p % 3);
        }
        assert!(right >= 57, "{right} of 60 products tagged right");
        // CL0 holds LA products only; its mix, shrunk towards the global
        // one by two pseudo-products over ten, shows it.
        let cl0 = tables.levels[3]["CL0"];
        assert!(cl0[0] > 0.8, "{cl0:?}");
        // Segments: LA shoppers' row favours LA-tagged products.
        let la = tables.segment_likelihood[0];
        assert!(la[0] > la[2], "{la:?}");
    }

    #[test]
    fn fits_are_deterministic_and_leave_their_fold_out() {
        let data = planted(300, 3);
        let index = data.index();
        let config = small();
        let bracket = Bracket {
            lo: 0.2,
            hi: 2.0 / 9.0,
        };
        let a = index.fit(Some(2), bracket, &config, 9);
        assert_eq!(a, index.fit(Some(2), bracket, &config, 9));
        // Relabelling fold 2's baskets changes nothing of the fit that
        // leaves fold 2 out, and something of the one on all baskets.
        let mut relabelled = data.clone();
        for b in relabelled.baskets.iter_mut().filter(|b| b.fold == 2) {
            b.class = (b.class + 1) % 3;
        }
        let relabelled = relabelled.index();
        assert_eq!(a, relabelled.fit(Some(2), bracket, &config, 9));
        assert_ne!(
            index.fit(None, bracket, &config, 9),
            relabelled.fit(None, bracket, &config, 9)
        );
    }
}
