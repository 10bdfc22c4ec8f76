//! Split finding for one feature at one node: what a split is, how a cut is
//! scored, and the exact search.
//!
//! Two strategies give the same kind of answer: the histogram search
//! (`crate::histogram`) for large nodes, over the pre-binned values (cost
//! linear in the rows plus the bins touched), and [`scan_sorted`] here for
//! small ones, over the raw values sorted (every distinct cut, with
//! scikit-learn's midpoint thresholds). Both hand their ordered groups of
//! rows to the same [`CutScanner`] rules, which score every cut with missing
//! values sent left and sent right.

use crate::binning::midpoint;
use crate::params::Criterion;

/// A row of the node: which table row, its class and its weight (bootstrap
/// multiplicity times class weight).
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub row: u32,
    pub class: u32,
    pub weight: f32,
}

/// Weighted class counts of a set of rows, and how many rows it has.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassStats {
    pub weights: Vec<f64>,
    pub total: f64,
    pub rows: usize,
}

impl ClassStats {
    pub fn new(n_classes: usize) -> Self {
        ClassStats {
            weights: vec![0.0; n_classes],
            total: 0.0,
            rows: 0,
        }
    }

    pub fn of(samples: &[Sample], n_classes: usize) -> Self {
        let mut s = ClassStats::new(n_classes);
        for x in samples {
            s.weights[x.class as usize] += f64::from(x.weight);
            s.rows += 1;
        }
        s.total = s.weights.iter().sum();
        s
    }

    pub(crate) fn clear(&mut self) {
        self.weights.fill(0.0);
        self.total = 0.0;
        self.rows = 0;
    }

    /// Adds one row.
    #[inline(always)]
    fn add_row(&mut self, class: u32, weight: f32) {
        self.weights[class as usize] += f64::from(weight);
        self.total += f64::from(weight);
        self.rows += 1;
    }

    /// Adds a group of rows (a histogram bin): the weights per class, then
    /// their sum to the total.
    #[inline(always)]
    fn add_group(&mut self, weights: &[f64], rows: usize) {
        for (a, b) in self.weights.iter_mut().zip(weights) {
            *a += b;
        }
        self.total += weights.iter().sum::<f64>();
        self.rows += rows;
    }
}

impl Criterion {
    /// Impurity of a node: Gini index, or entropy in bits.
    pub fn impurity(self, s: &ClassStats) -> f64 {
        if s.total <= 0.0 {
            return 0.0;
        }
        match self {
            Criterion::Gini => 1.0 - s.weights.iter().map(|w| (w / s.total).powi(2)).sum::<f64>(),
            Criterion::Entropy => -s
                .weights
                .iter()
                .filter(|&&w| w > 0.0)
                .map(|w| {
                    let p = w / s.total;
                    p * p.log2()
                })
                .sum::<f64>(),
        }
    }
}

/// The best cut found on one feature.
#[derive(Debug, Clone)]
pub struct Split {
    pub feature: u32,
    pub threshold: f32,
    pub missing_left: bool,
    pub proxy: f64,
    /// Rows and weights that go left (missing values included when they do).
    pub left: ClassStats,
}

impl Split {
    /// Whether `self` beats `other`: a higher score, or an equal score on a
    /// lower feature index, so that the choice never depends on the order in
    /// which features were drawn.
    pub fn beats(&self, other: &Split) -> bool {
        self.proxy > other.proxy || (self.proxy == other.proxy && self.feature < other.feature)
    }
}

/// The outcome of scanning one feature.
#[derive(Debug)]
pub enum Scan {
    /// The feature takes one value at this node: no cut exists. Constant
    /// features do not count towards `max_features`, as in scikit-learn.
    Constant,
    /// Cuts exist but none leaves `min_samples_leaf` rows on both sides.
    NoValidCut,
    Found(Split),
}

/// Scores cuts between consecutive groups of rows in increasing value order.
///
/// It runs once per candidate cut, the innermost loop of training, so it
/// works in place on reused buffers and allocates only when a cut becomes
/// the best so far.
pub struct CutScanner<'a> {
    criterion: Criterion,
    min_leaf: usize,
    /// All rows of the node with a value (not missing).
    present: &'a ClassStats,
    missing: &'a ClassStats,
    /// Rows with a value at or below the current cut.
    below: &'a mut ClassStats,
    /// The left side of the best cut, written out when one is found.
    left: &'a mut ClassStats,
    best: Option<Split>,
    feature: u32,
    cuts: usize,
}

/// Which rows a side of a cut holds, besides those below or above it.
#[derive(Clone, Copy)]
enum Side {
    Below,
    BelowWithMissing,
    Above,
    AboveWithMissing,
}

impl<'a> CutScanner<'a> {
    /// A scanner over the node's `present` and `missing` rows, scoring
    /// cuts with the buffers of `sides` (cleared here).
    pub fn new(
        criterion: Criterion,
        min_leaf: usize,
        feature: u32,
        present: &'a ClassStats,
        missing: &'a ClassStats,
        sides: &'a mut [ClassStats; 2],
    ) -> Self {
        let [below, left] = sides;
        below.clear();
        CutScanner {
            criterion,
            min_leaf,
            present,
            missing,
            below,
            left,
            best: None,
            feature,
            cuts: 0,
        }
    }

    /// Weight of class `i` on `side` of the current cut.
    #[inline(always)]
    fn weight(&self, side: Side, i: usize) -> f64 {
        let below = self.below.weights[i];
        match side {
            Side::Below => below,
            Side::BelowWithMissing => below + self.missing.weights[i],
            Side::Above => self.present.weights[i] - below,
            Side::AboveWithMissing => self.present.weights[i] - below + self.missing.weights[i],
        }
    }

    /// Rows and total weight on `side` of the current cut.
    #[inline(always)]
    fn size(&self, side: Side) -> (usize, f64) {
        let (b, p, m) = (&*self.below, self.present, self.missing);
        match side {
            Side::Below => (b.rows, b.total),
            Side::BelowWithMissing => (b.rows + m.rows, b.total + m.total),
            Side::Above => (p.rows - b.rows, p.total - b.total),
            Side::AboveWithMissing => (p.rows - b.rows + m.rows, p.total - b.total + m.total),
        }
    }

    /// Scores the cut "value <= threshold" with everything pushed so far on
    /// the lower side.
    fn score_cut(&mut self, threshold: f32) {
        self.cuts += 1;
        if self.missing.rows == 0 {
            // No missing values here: send future ones to the larger side.
            let missing_left = self.below.rows >= self.present.rows - self.below.rows;
            self.consider(threshold, missing_left, Side::Below, Side::Above);
        } else {
            self.consider(threshold, true, Side::BelowWithMissing, Side::Above);
            self.consider(threshold, false, Side::Below, Side::AboveWithMissing);
        }
    }

    /// Scores one assignment of rows to the two sides with a proxy that
    /// orders splits as the weighted child impurity does but is cheaper, as
    /// scikit-learn's `proxy_impurity_improvement` (higher is better). The
    /// class weights are only written out when the cut is the best so far.
    #[inline(always)]
    fn consider(&mut self, threshold: f32, missing_left: bool, left: Side, right: Side) {
        let (lr, wl) = self.size(left);
        let (rr, wr) = self.size(right);
        // Row counts first: most cuts near the ends fail min_samples_leaf.
        if lr < self.min_leaf || rr < self.min_leaf || wl <= 0.0 || wr <= 0.0 {
            return;
        }
        let k = self.present.weights.len();
        let proxy = match self.criterion {
            Criterion::Gini => {
                let (mut sl, mut sr) = (0.0, 0.0);
                for i in 0..k {
                    let (l, r) = (self.weight(left, i), self.weight(right, i));
                    sl += l * l;
                    sr += r * r;
                }
                sl / wl + sr / wr
            }
            Criterion::Entropy => {
                let mut sum = 0.0;
                for i in 0..k {
                    let (l, r) = (self.weight(left, i), self.weight(right, i));
                    if l > 0.0 {
                        sum += l * (l / wl).ln();
                    }
                    if r > 0.0 {
                        sum += r * (r / wr).ln();
                    }
                }
                sum
            }
        };
        if self.best.as_ref().is_some_and(|b| proxy <= b.proxy) {
            return;
        }
        for i in 0..k {
            self.left.weights[i] = self.weight(left, i);
        }
        self.left.total = wl;
        self.left.rows = lr;
        self.best = Some(Split {
            feature: self.feature,
            threshold,
            missing_left,
            proxy,
            left: self.left.clone(),
        });
    }

    /// The best cut, after also trying "values left, missing right".
    fn best(mut self) -> Scan {
        if self.missing.rows > 0 && self.present.rows > 0 {
            self.cuts += 1;
            // With nothing below the cut, "below plus missing" is the
            // missing rows and "above" is every row with a value.
            self.below.clear();
            self.consider(f32::INFINITY, false, Side::Above, Side::BelowWithMissing);
        }
        match (self.best, self.cuts) {
            (Some(s), _) => Scan::Found(s),
            (None, 0) => Scan::Constant,
            (None, _) => Scan::NoValidCut,
        }
    }
}

/// What a split search feeds its groups of rows to, in increasing value
/// order: [`CutScanner`] in general, [`GiniCuts`] for the common case. The
/// searches are written once, generic over it.
pub trait Cuts {
    /// The rows at or below the current cut.
    fn below(&mut self) -> &mut ClassStats;
    /// Adds one row to the lower side.
    #[inline(always)]
    fn push_row(&mut self, class: u32, weight: f32) {
        self.below().add_row(class, weight);
    }
    /// Adds a group of rows (a histogram bin) to the lower side.
    #[inline(always)]
    fn push_group(&mut self, weights: &[f64], rows: usize) {
        self.below().add_group(weights, rows);
    }
    /// Scores the cut "value <= threshold" with everything pushed so far
    /// on the lower side.
    fn cut(&mut self, threshold: f32);
    /// The best cut seen.
    fn finish(self) -> Scan;
}

impl Cuts for CutScanner<'_> {
    #[inline(always)]
    fn below(&mut self) -> &mut ClassStats {
        self.below
    }
    #[inline(always)]
    fn cut(&mut self, threshold: f32) {
        self.score_cut(threshold);
    }
    fn finish(self) -> Scan {
        self.best()
    }
}

/// [`CutScanner`] in its most common case, Gini with no missing value at
/// the node, without its per-cut dispatch on the criterion and on the
/// missing values' side: the same sums in the same order, and ties to the
/// first cut as there, so the same split, at about half the cost of the
/// general loop (the largest cost of training after the histograms).
pub struct GiniCuts<'a> {
    min_leaf: usize,
    feature: u32,
    present: &'a ClassStats,
    below: &'a mut ClassStats,
    left: &'a mut ClassStats,
    /// The best cut so far: its proxy and threshold.
    best: Option<(f64, f32)>,
    cuts: usize,
}

impl<'a> GiniCuts<'a> {
    /// Cuts of a node whose rows all have a value (`present`), scored with
    /// the buffers of `sides` (cleared here).
    pub fn new(
        min_leaf: usize,
        feature: u32,
        present: &'a ClassStats,
        sides: &'a mut [ClassStats; 2],
    ) -> Self {
        let [below, left] = sides;
        below.clear();
        GiniCuts {
            min_leaf,
            feature,
            present,
            below,
            left,
            best: None,
            cuts: 0,
        }
    }
}

impl Cuts for GiniCuts<'_> {
    #[inline(always)]
    fn below(&mut self) -> &mut ClassStats {
        self.below
    }

    #[inline(always)]
    fn cut(&mut self, threshold: f32) {
        self.cuts += 1;
        let (below, present) = (&*self.below, self.present);
        let (lr, wl) = (below.rows, below.total);
        let (rr, wr) = (present.rows - below.rows, present.total - below.total);
        if lr < self.min_leaf || rr < self.min_leaf || wl <= 0.0 || wr <= 0.0 {
            return;
        }
        let (mut sl, mut sr) = (0.0, 0.0);
        for (&l, &p) in below.weights.iter().zip(&present.weights) {
            let r = p - l;
            sl += l * l;
            sr += r * r;
        }
        let proxy = sl / wl + sr / wr;
        if self.best.is_some_and(|(p, _)| proxy <= p) {
            return;
        }
        self.best = Some((proxy, threshold));
        self.left.weights.copy_from_slice(&below.weights);
        self.left.total = wl;
        self.left.rows = lr;
    }

    fn finish(self) -> Scan {
        match self.best {
            Some((proxy, threshold)) => Scan::Found(Split {
                feature: self.feature,
                threshold,
                // No missing value here: send future ones to the larger side.
                missing_left: self.left.rows >= self.present.rows - self.left.rows,
                proxy,
                left: self.left.clone(),
            }),
            None if self.cuts == 0 => Scan::Constant,
            None => Scan::NoValidCut,
        }
    }
}

/// Scratch space of the sorted search, reused across nodes and features of
/// one tree.
pub struct Scratch {
    keys: Vec<u64>,
    present: ClassStats,
    missing: ClassStats,
    sides: [ClassStats; 2],
}

impl Scratch {
    pub fn new(n_classes: usize) -> Self {
        Scratch {
            keys: Vec::new(),
            present: ClassStats::new(n_classes),
            missing: ClassStats::new(n_classes),
            sides: std::array::from_fn(|_| ClassStats::new(n_classes)),
        }
    }
}

/// Maps an `f32` to a `u32` whose unsigned order is the float order.
#[inline]
fn order_key(x: f32) -> u32 {
    let bits = x.to_bits();
    if bits & 0x8000_0000 != 0 {
        !bits
    } else {
        bits | 0x8000_0000
    }
}

#[inline]
fn from_order_key(k: u32) -> f32 {
    f32::from_bits(if k & 0x8000_0000 != 0 {
        k & 0x7fff_ffff
    } else {
        !k
    })
}

/// Best cut of feature `f` over a node's rows by sorting raw values.
pub fn scan_sorted(
    scratch: &mut Scratch,
    criterion: Criterion,
    min_leaf: usize,
    feature: u32,
    column: &[f32],
    samples: &[Sample],
) -> Scan {
    scratch.keys.clear();
    scratch.missing.clear();
    scratch.present.clear();
    for (i, s) in samples.iter().enumerate() {
        let x = column[s.row as usize];
        if x.is_nan() {
            scratch.missing.weights[s.class as usize] += f64::from(s.weight);
            scratch.missing.rows += 1;
        } else {
            scratch.present.weights[s.class as usize] += f64::from(s.weight);
            scratch.present.rows += 1;
            // Value in the high half, position in the low half: one u64 sort
            // orders by value and carries the row along.
            scratch
                .keys
                .push((u64::from(order_key(x)) << 32) | i as u64);
        }
    }
    scratch.missing.total = scratch.missing.weights.iter().sum();
    scratch.present.total = scratch.present.weights.iter().sum();
    scratch.keys.sort_unstable();
    let keys = std::mem::take(&mut scratch.keys);
    let scan = if criterion == Criterion::Gini && scratch.missing.rows == 0 {
        let cuts = GiniCuts::new(min_leaf, feature, &scratch.present, &mut scratch.sides);
        cut_sorted(cuts, &keys, samples)
    } else {
        let cuts = CutScanner::new(
            criterion,
            min_leaf,
            feature,
            &scratch.present,
            &scratch.missing,
            &mut scratch.sides,
        );
        cut_sorted(cuts, &keys, samples)
    };
    scratch.keys = keys;
    scan
}

/// Feeds the sorted rows to `cuts`, cutting between distinct values.
#[inline(always)]
fn cut_sorted(mut cuts: impl Cuts, keys: &[u64], samples: &[Sample]) -> Scan {
    for pair in keys.windows(2) {
        let s = &samples[(pair[0] & 0xffff_ffff) as usize];
        cuts.push_row(s.class, s.weight);
        let (a, b) = (
            from_order_key((pair[0] >> 32) as u32),
            from_order_key((pair[1] >> 32) as u32),
        );
        if a < b {
            cuts.cut(midpoint(a, b));
        }
    }
    cuts.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_keys_sort_like_floats() {
        let mut xs = [
            3.5f32,
            -0.0,
            0.0,
            -2.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1e-30,
            -1e-30,
        ];
        let mut keys: Vec<u32> = xs.iter().map(|&x| order_key(x)).collect();
        keys.sort_unstable();
        xs.sort_by(f32::total_cmp);
        let back: Vec<f32> = keys.into_iter().map(from_order_key).collect();
        assert_eq!(
            back.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            xs.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
    }

    fn samples(classes: &[u32]) -> Vec<Sample> {
        classes
            .iter()
            .enumerate()
            .map(|(i, &c)| Sample {
                row: i as u32,
                class: c,
                weight: 1.0,
            })
            .collect()
    }

    #[test]
    fn sorted_scan_finds_the_separating_midpoint() {
        let column = [1.0, 2.0, 3.0, 10.0, 11.0, 12.0];
        let s = samples(&[0, 0, 0, 1, 1, 1]);
        let mut scratch = Scratch::new(2);
        let Scan::Found(split) = scan_sorted(&mut scratch, Criterion::Gini, 1, 0, &column, &s)
        else {
            panic!("expected a split");
        };
        assert_eq!(split.threshold, 6.5);
        assert_eq!(split.left.rows, 3);
        // The histogram scan sees the same cut with exact bins.
        let edges = crate::binning::bin_edges(&column, 255);
        let bins: Vec<u8> = column
            .iter()
            .map(|&x| crate::binning::bin_of(&edges, x))
            .collect();
        let mut scans = Vec::new();
        crate::histogram::Histograms::new(2).scan(
            &ClassStats::of(&s, 2),
            Criterion::Gini,
            1,
            &[0],
            crate::binned_rows::NodeCodes {
                codes: &bins,
                stride: 1,
            },
            &[edges],
            &s,
            &mut scans,
        );
        let [Scan::Found(h)] = &scans[..] else {
            panic!("expected a split");
        };
        assert_eq!((h.threshold, h.proxy), (split.threshold, split.proxy));
    }

    #[test]
    fn missing_values_go_where_they_help() {
        let column = [1.0, 2.0, f32::NAN, f32::NAN, 1.5, 2.5];
        let s = samples(&[0, 0, 1, 1, 1, 1]);
        let mut scratch = Scratch::new(2);
        let Scan::Found(split) = scan_sorted(&mut scratch, Criterion::Gini, 1, 0, &column, &s)
        else {
            panic!("expected a split");
        };
        // Best: {1.0 (0), 1.5 (1), 2.0 (0)} vs ... not separable by value alone;
        // the chosen split must send the missing rows (class 1) right.
        assert!(!split.missing_left);
    }

    #[test]
    fn constant_and_too_small() {
        let mut scratch = Scratch::new(2);
        let s = samples(&[0, 1, 0]);
        assert!(matches!(
            scan_sorted(&mut scratch, Criterion::Entropy, 1, 0, &[4.0; 3], &s),
            Scan::Constant
        ));
        assert!(matches!(
            scan_sorted(&mut scratch, Criterion::Entropy, 2, 0, &[1.0, 2.0, 3.0], &s),
            Scan::NoValidCut
        ));
    }
}
