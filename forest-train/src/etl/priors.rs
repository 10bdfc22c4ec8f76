//! Fitting the basket encoder's priors on the training split.
//!
//! Counts are gathered week by week (so memory grows with the catalogue,
//! not with the weeks) and kept per fold. Training baskets are encoded with
//! priors that exclude their own fold (out-of-fold target encoding):
//! otherwise a basket's own label would leak into its product priors and
//! the forest would learn to trust priors more than they deserve on new
//! baskets. Validation and test baskets, and serving, use priors from all
//! training baskets, which is the spec that travels with the model.

use std::collections::BTreeSet;

use hashbrown::HashMap;

use forest_core::tags::TagModel;
use forest_core::FeatureSpec;
use forest_core::{BasketPriors, PriorLevel, ProductLevel, CATEGORICAL_FIELDS};

use super::baskets::{Counted, PRODUCT};
use super::tags::TagTables;

/// Folds of the out-of-fold encoding.
pub const FOLDS: usize = 5;

/// The classes a basket model predicts, in the order of its outputs.
pub const CLASSES: [&str; 3] = ["LA", "MM", "UM"];

/// The index of a label in [`CLASSES`]; `None` for `XX` (unclassified).
pub fn class_index(label: &str) -> Option<usize> {
    CLASSES.iter().position(|c| *c == label)
}

/// What pass 1 learns of one code at one level.
#[derive(Debug, Clone, Default)]
struct CodeStats {
    /// Training baskets holding the code, by fold and class.
    counts: [f32; FOLDS * 3],
    /// The number of the last basket counted (see [`PriorStats::add`]):
    /// a basket counts once per code however many of its lines hold it,
    /// without sorting its codes to find the repeats.
    last_basket: u64,
    /// Sum of the log unit prices of its priced lines, and how many there
    /// are. Prices carry no label, so they are not kept per fold.
    prices: (f64, u64),
    /// A product's codes at the four levels above it, from its first line
    /// (the product level only).
    above: Option<Box<[Option<String>; 4]>>,
}

/// Basket counts by fold and class, per product code and level, plus the
/// vocabularies of the categorical fields.
#[derive(Debug, Clone, Default)]
pub struct PriorStats {
    /// Per level ([`ProductLevel::CHAIN`] order) and code: one lookup a
    /// line and level counts the basket, the price and the product's
    /// ancestors.
    levels: [HashMap<String, CodeStats>; 5],
    /// Baskets added so far: the number [`CodeStats::last_basket`] holds.
    baskets: u64,
    all_prices: (f64, u64),
    global: [f32; FOLDS * 3],
    vocab: [BTreeSet<String>; 6],
}

impl PriorStats {
    /// Counts one training basket of class `class` in fold `fold`.
    pub fn add(&mut self, basket: &impl Counted, class: usize, fold: usize) {
        let slot = fold * CLASSES.len() + class;
        self.global[slot] += 1.0;
        self.baskets += 1;
        for line in basket.lines() {
            let log_price = (line.spend > 0.0 && line.quantity > 0.0)
                .then(|| (line.spend / line.quantity).ln());
            if let Some(log_price) = log_price {
                self.all_prices.0 += log_price;
                self.all_prices.1 += 1;
            }
            for (l, codes) in self.levels.iter_mut().enumerate() {
                let Some(code) = line.code(l) else {
                    continue;
                };
                // Looked up by `&str`, hashed once; the code is copied into
                // the map only the first time.
                let stats = codes.entry_ref(code).or_default();
                if let Some(log_price) = log_price {
                    stats.prices.0 += log_price;
                    stats.prices.1 += 1;
                }
                // A basket counts once per code, however many lines hold it.
                if stats.last_basket != self.baskets {
                    stats.last_basket = self.baskets;
                    stats.counts[slot] += 1.0;
                }
                if l == PRODUCT && stats.above.is_none() {
                    stats.above = Some(Box::new(std::array::from_fn(|l| {
                        line.code(l).map(str::to_string)
                    })));
                }
            }
        }
        for (vocab, value) in self.vocab.iter_mut().zip(basket.fields()) {
            if let Some(v) = value.filter(|v| !forest_core::is_missing(v)) {
                if !vocab.contains(v.trim()) {
                    vocab.insert(v.trim().to_string());
                }
            }
        }
    }

    /// Adds another week's counts. Counts are whole numbers well below
    /// 2^24, so the sums are exact and the merge order cannot matter; the
    /// price sums are merged in week order by the caller, which fixes their
    /// rounding.
    pub fn merge(&mut self, other: PriorStats) {
        self.all_prices.0 += other.all_prices.0;
        self.all_prices.1 += other.all_prices.1;
        for (mine, theirs) in self.levels.iter_mut().zip(other.levels) {
            for (code, theirs) in theirs {
                let stats = mine.entry(code).or_default();
                for (a, b) in stats.counts.iter_mut().zip(theirs.counts) {
                    *a += b;
                }
                stats.prices.0 += theirs.prices.0;
                stats.prices.1 += theirs.prices.1;
                // The week merged first saw the product first.
                if stats.above.is_none() {
                    stats.above = theirs.above;
                }
            }
        }
        for (a, b) in self.global.iter_mut().zip(other.global) {
            *a += b;
        }
        for (mine, theirs) in self.vocab.iter_mut().zip(other.vocab) {
            mine.extend(theirs);
        }
    }

    /// Training baskets counted per class, over all folds.
    pub fn class_counts(&self) -> [f32; 3] {
        let mut out = [0.0; 3];
        for f in 0..FOLDS {
            for (c, o) in out.iter_mut().enumerate() {
                *o += self.global[f * 3 + c];
            }
        }
        out
    }

    /// The feature spec from all folds but `exclude` (all when `None`),
    /// with the tag model fitted on the same baskets when there is one.
    pub fn spec(
        &self,
        exclude: Option<usize>,
        smoothing: f32,
        tags: Option<&TagTables>,
    ) -> FeatureSpec {
        let k = CLASSES.len();
        let sum = |counts: &[f32; FOLDS * 3]| -> [f32; 3] {
            let mut out = [0.0; 3];
            for f in (0..FOLDS).filter(|f| Some(*f) != exclude) {
                for c in 0..k {
                    out[c] += counts[f * k + c];
                }
            }
            out
        };
        let global = sum(&self.global);
        let total: f32 = global.iter().sum();
        let levels = self
            .levels
            .iter()
            .zip(ProductLevel::CHAIN)
            .enumerate()
            .map(|(l, (codes, level))| {
                let mut rows: Vec<(&String, [f32; 3], &CodeStats)> = codes
                    .iter()
                    .map(|(code, c)| (code, sum(&c.counts), c))
                    .filter(|(_, c, _)| c.iter().sum::<f32>() > 0.0)
                    .collect();
                rows.sort_unstable_by(|a, b| a.0.cmp(b.0));
                let log_price = rows
                    .iter()
                    .map(|r| match r.2.prices {
                        (sum, n) if n > 0 => Some((sum / n as f64) as f32),
                        _ => None,
                    })
                    .collect();
                // A code the tag model has no product under (its lines
                // had no product code) takes the global tag mix.
                let tag_rows = tags.map_or(Vec::new(), |t| {
                    rows.iter()
                        .flat_map(|r| *t.levels[l].get(r.0).unwrap_or(&t.global))
                        .collect()
                });
                PriorLevel {
                    level,
                    codes: rows.iter().map(|r| r.0.clone()).collect(),
                    counts: rows.iter().flat_map(|r| r.1).collect(),
                    log_price,
                    tags: tag_rows,
                    parents: Vec::new(),
                }
            })
            .collect::<Vec<PriorLevel>>();
        let mut levels = levels;
        if let Some((products, above)) = levels.split_last_mut() {
            let index = |l: usize, code: &Option<String>| -> u32 {
                code.as_deref()
                    .and_then(|c| above[l].codes.binary_search_by(|x| x.as_str().cmp(c)).ok())
                    .map_or(u32::MAX, |i| i as u32)
            };
            products.parents = products
                .codes
                .iter()
                .flat_map(|code| {
                    let chain = self.levels[PRODUCT]
                        .get(code)
                        .and_then(|p| p.above.as_deref());
                    (0..4).map(move |l| chain.map_or(u32::MAX, |c| index(l, &c[l])))
                })
                .collect();
        }
        let priors = BasketPriors {
            global: global
                .iter()
                .map(|g| {
                    if total > 0.0 {
                        g / total
                    } else {
                        1.0 / k as f32
                    }
                })
                .collect(),
            smoothing,
            global_log_price: if self.all_prices.1 > 0 {
                (self.all_prices.0 / self.all_prices.1 as f64) as f32
            } else {
                0.0
            },
            levels,
            tags: tags.map(|t| TagModel {
                threshold: t.threshold,
                global: t.global.to_vec(),
                segments: CLASSES.iter().map(|c| c.to_string()).collect(),
                segment_likelihood: t.segment_likelihood.iter().flatten().copied().collect(),
            }),
        };
        let vocabularies: [Vec<String>; 6] =
            std::array::from_fn(|i| self.vocab[i].iter().cloned().collect());
        debug_assert_eq!(vocabularies.len(), CATEGORICAL_FIELDS.len());
        let classes: Vec<String> = CLASSES.iter().map(|c| c.to_string()).collect();
        FeatureSpec::for_baskets(&classes, vocabularies, priors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use forest_core::{Basket, Item};

    fn basket(products: &[(&str, &str)]) -> Basket {
        Basket {
            items: products
                .iter()
                .map(|&(product, class)| Item {
                    prod_code: product.into(),
                    prod_code_10: class.into(),
                    prod_code_20: "DEP1".into(),
                    prod_code_30: "G1".into(),
                    prod_code_40: None,
                    quantity: 1.0,
                    spend: 2.0,
                })
                .collect(),
            ..Basket::default()
        }
    }

    /// Level 4 is the product, 3 its class; a count's slot is
    /// fold * 3 + class.
    fn count(stats: &PriorStats, level: usize, code: &str, slot: usize) -> f32 {
        stats.levels[level]
            .get(code)
            .map_or(0.0, |c| c.counts[slot])
    }

    #[test]
    fn a_basket_counts_once_per_code_and_weeks_merge_by_adding() {
        let mut week = PriorStats::default();
        // PRD1 on two lines, and two products of one class.
        week.add(
            &basket(&[("PRD1", "CL1"), ("PRD1", "CL1"), ("PRD2", "CL1")]),
            1,
            0,
        );
        assert_eq!(count(&week, 4, "PRD1", 1), 1.0);
        assert_eq!(count(&week, 4, "PRD2", 1), 1.0);
        assert_eq!(count(&week, 3, "CL1", 1), 1.0);
        // The next basket counts again, in its own fold and class.
        week.add(&basket(&[("PRD1", "CL1")]), 2, 3);
        assert_eq!(count(&week, 4, "PRD1", 3 * 3 + 2), 1.0);
        assert_eq!(count(&week, 3, "CL1", 1), 1.0);

        let mut other = PriorStats::default();
        other.add(&basket(&[("PRD1", "CL2"), ("PRD1", "CL2")]), 1, 0);
        week.merge(other);
        assert_eq!(count(&week, 4, "PRD1", 1), 2.0);
        assert_eq!(count(&week, 3, "CL2", 1), 1.0);
        // Added after a merge, a basket still counts once per code.
        week.add(&basket(&[("PRD1", "CL2"), ("PRD1", "CL2")]), 1, 0);
        assert_eq!(count(&week, 4, "PRD1", 1), 3.0);
        assert_eq!(count(&week, 3, "CL2", 1), 2.0);
    }
}
