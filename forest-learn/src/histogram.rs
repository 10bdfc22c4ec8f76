//! Split finding on binned values: the search large nodes use (and every
//! node, on large tables).
//!
//! A node's rows carry their bins beside them ([`NodeCodes`], kept by
//! `crate::binned_rows`), so building a histogram reads the node in order. The features a node draws are
//! counted together, up to [`BATCH`] in one pass over its rows, and each
//! histogram is then cut after every non-empty bin by the same rules the
//! sorted search uses ([`CutScanner`], or [`GiniCuts`] for the common case,
//! Gini and no missing value). Only the bins a node touches are read and cleared, so a node of
//! five rows costs five rows, not 256 bins: that is what lets histograms
//! pay down to the leaves.
//!
//! Everything here adds the same numbers in the same order as a one-feature,
//! one-row-at-a-time scan would: batching changes the speed, never a split.

use crate::binned_rows::NodeCodes;
use crate::binning::MISSING_BIN;
use crate::params::Criterion;
use crate::split::{ClassStats, CutScanner, Cuts, GiniCuts, Sample, Scan};

/// How many features one pass over a node's rows counts at most. Four
/// histograms of three classes take 24 KiB, which stays in L1 beside the
/// rows streaming through.
pub const BATCH: usize = 4;

/// Bins per histogram: 255 value bins and [`MISSING_BIN`].
const BINS: usize = 256;

/// Histograms of up to [`BATCH`] features and the buffers their cuts are
/// scored with, reused across the nodes of a tree. All counts are zero
/// between calls.
pub struct Histograms {
    n_classes: usize,
    /// `BATCH` histograms of `BINS x n_classes` weights.
    weights: Vec<f64>,
    /// `BATCH` histograms of `BINS` row counts.
    rows: Vec<u32>,
    /// Per histogram, a bitmap of the bins the node's rows fell in.
    touched: [[u64; 4]; BATCH],
    /// The non-missing bins of the histogram being cut, in order.
    order: Vec<u8>,
    present: ClassStats,
    missing: ClassStats,
    sides: [ClassStats; 2],
}

impl Histograms {
    pub fn new(n_classes: usize) -> Self {
        Histograms {
            n_classes,
            weights: vec![0.0; BATCH * BINS * n_classes],
            rows: vec![0; BATCH * BINS],
            touched: [[0; 4]; BATCH],
            order: Vec::with_capacity(BINS),
            present: ClassStats::new(n_classes),
            missing: ClassStats::new(n_classes),
            sides: std::array::from_fn(|_| ClassStats::new(n_classes)),
        }
    }

    /// The best cut of each of `features` over the node's `samples`, in
    /// the order of `features`, appended to `out`.
    #[allow(clippy::too_many_arguments)]
    pub fn scan(
        &mut self,
        node: &ClassStats,
        criterion: Criterion,
        min_leaf: usize,
        features: &[u32],
        codes: NodeCodes<'_>,
        edges: &[Vec<f32>],
        samples: &[Sample],
        out: &mut Vec<Scan>,
    ) {
        for batch in features.chunks(BATCH) {
            match *batch {
                [a] => self.count([a], codes, samples),
                [a, b] => self.count([a, b], codes, samples),
                [a, b, c] => self.count([a, b, c], codes, samples),
                [a, b, c, d] => self.count([a, b, c, d], codes, samples),
                _ => unreachable!("chunks of 1..=BATCH"),
            }
            for (slot, &f) in batch.iter().enumerate() {
                out.push(self.best_cut(node, slot, criterion, min_leaf, f, &edges[f as usize]));
            }
        }
    }

    /// Counts the node's rows into the histograms of `N` features, one pass
    /// over the rows, marking the bins touched.
    #[inline(always)]
    fn count<const N: usize>(
        &mut self,
        features: [u32; N],
        codes: NodeCodes<'_>,
        samples: &[Sample],
    ) {
        // Marked in a local copy, so that the hot loop's bitmaps may live
        // in registers rather than behind `self`.
        let mut touched = [[0u64; 4]; BATCH];
        let k = self.n_classes;
        let features = features.map(|f| f as usize);
        let rows_of = codes.codes.chunks_exact(codes.stride);
        for (s, row) in samples.iter().zip(rows_of) {
            let weight = f64::from(s.weight);
            let class = s.class as usize;
            for slot in 0..N {
                let b = row[features[slot]] as usize;
                self.weights[(slot * BINS + b) * k + class] += weight;
                self.rows[slot * BINS + b] += 1;
                touched[slot][b / 64] |= 1 << (b % 64);
            }
        }
        self.touched = touched;
    }

    /// The best cut of the histogram in `slot`, which is then cleared.
    fn best_cut(
        &mut self,
        node: &ClassStats,
        slot: usize,
        criterion: Criterion,
        min_leaf: usize,
        feature: u32,
        edges: &[f32],
    ) -> Scan {
        let k = self.n_classes;
        let weights_at = slot * BINS * k;
        let rows_at = slot * BINS;
        // The bins with rows, in increasing order, missing excluded.
        let n_bins = edges.len() + 1;
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        for (word, &mask) in self.touched[slot].iter().enumerate() {
            let mut m = mask;
            while m != 0 {
                let b = word * 64 + m.trailing_zeros() as usize;
                m &= m - 1;
                if b < n_bins {
                    order.push(b as u8);
                }
            }
        }
        let hist = &mut self.weights[weights_at..weights_at + BINS * k];
        let hist_rows = &mut self.rows[rows_at..rows_at + BINS];
        let missing_bin = MISSING_BIN as usize;
        let w = &hist[missing_bin * k..(missing_bin + 1) * k];
        self.missing.weights.copy_from_slice(w);
        self.missing.total = w.iter().sum();
        self.missing.rows = hist_rows[missing_bin] as usize;
        // The rows with a value are the node's but the missing ones.
        for ((p, n), m) in self
            .present
            .weights
            .iter_mut()
            .zip(&node.weights)
            .zip(&self.missing.weights)
        {
            *p = n - m;
        }
        self.present.rows = node.rows - self.missing.rows;
        self.present.total = self.present.weights.iter().sum();
        // Cut after every non-empty bin below the last one, at its upper edge.
        let below_last = order.split_last().map_or(&[][..], |(_, rest)| rest);
        let fast = criterion == Criterion::Gini && self.missing.rows == 0;
        let scan = if fast {
            let cuts = GiniCuts::new(min_leaf, feature, &self.present, &mut self.sides);
            cut_bins(cuts, hist, hist_rows, k, edges, below_last)
        } else {
            let cuts = CutScanner::new(
                criterion,
                min_leaf,
                feature,
                &self.present,
                &self.missing,
                &mut self.sides,
            );
            cut_bins(cuts, hist, hist_rows, k, edges, below_last)
        };
        // Back to all zeros: `cut_bins` cleared the bins it cut after; the
        // last bin is left, and the missing one when it has rows.
        let missing = (self.missing.rows > 0).then_some(&MISSING_BIN);
        for &b in order.last().into_iter().chain(missing) {
            let b = b as usize;
            hist[b * k..(b + 1) * k].fill(0.0);
            hist_rows[b] = 0;
        }
        self.order = order;
        scan
    }
}

/// Feeds the bins in `cut_bins` to `cuts`, cutting after each at its
/// upper edge. Each bin is zeroed once read (a loop of stores here, rather
/// than a call to memset a bin later); the scanners copy what they need.
#[inline(always)]
fn cut_bins(
    mut cuts: impl Cuts,
    hist: &mut [f64],
    hist_rows: &mut [u32],
    k: usize,
    edges: &[f32],
    cut_bins: &[u8],
) -> Scan {
    for &b in cut_bins {
        let b = b as usize;
        let group = &mut hist[b * k..(b + 1) * k];
        cuts.push_group(group, hist_rows[b] as usize);
        for x in group.iter_mut() {
            *x = 0.0;
        }
        hist_rows[b] = 0;
        cuts.cut(edges[b]);
    }
    cuts.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binned_rows::BinnedRows;
    use crate::binning::BinnedTable;

    fn summary(scan: &Scan) -> Option<(u32, u32, bool, u64, usize)> {
        match scan {
            Scan::Found(s) => Some((
                s.feature,
                s.threshold.to_bits(),
                s.missing_left,
                s.proxy.to_bits(),
                s.left.rows,
            )),
            Scan::NoValidCut => Some((u32::MAX, 0, false, 0, 0)),
            Scan::Constant => None,
        }
    }

    /// Counting features in batches (six features: a batch of four and one
    /// of two) finds exactly the cuts of counting each alone, with missing
    /// values, both criteria, a constant feature and fractional weights.
    #[test]
    fn batches_find_the_cuts_of_one_feature_at_a_time() {
        let n = 500;
        let columns: Vec<Vec<f32>> = (0..6)
            .map(|f| {
                (0..n)
                    .map(|r| match f {
                        // 200 values, no missing one: the fast Gini loop,
                        // with bins as fine as the values.
                        0 => ((r * 7919) % 200) as f32 / 8.0,
                        5 => 1.0,
                        _ if (r * (f + 3)) % 17 == 0 => f32::NAN,
                        _ => ((r * 7919 + f * 104_729) % 1000) as f32 / 7.0,
                    })
                    .collect()
            })
            .collect();
        let binned = BinnedTable::build(&columns, 255);
        let samples: Vec<Sample> = (0..n as u32)
            .map(|row| Sample {
                row,
                class: (row * 31 + row / 7) % 3,
                weight: 1.0 + (row % 4) as f32 * 0.25,
            })
            .collect();
        let node = ClassStats::of(&samples, 3);
        let rows = BinnedRows::gather(&binned, &samples);
        for criterion in [Criterion::Gini, Criterion::Entropy] {
            let mut histograms = Histograms::new(3);
            let mut together = Vec::new();
            let all: Vec<u32> = (0..6).collect();
            histograms.scan(
                &node,
                criterion,
                2,
                &all,
                rows.node(0..n),
                &binned.edges,
                &samples,
                &mut together,
            );
            let mut alone = Vec::new();
            for f in 0..6 {
                histograms.scan(
                    &node,
                    criterion,
                    2,
                    &[f],
                    rows.node(0..n),
                    &binned.edges,
                    &samples,
                    &mut alone,
                );
            }
            let together: Vec<_> = together.iter().map(summary).collect();
            let alone: Vec<_> = alone.iter().map(summary).collect();
            assert_eq!(together, alone);
            assert!(together[..5].iter().all(|s| s.is_some_and(|s| s.0 < 5)));
            assert_eq!(together[5], None, "the constant feature");
            // On feature 0 every value has its own bin, so the histogram
            // finds the exact search's cut, to the bit.
            let mut scratch = crate::split::Scratch::new(3);
            let exact =
                crate::split::scan_sorted(&mut scratch, criterion, 2, 0, &columns[0], &samples);
            assert_eq!(together[0], summary(&exact));
        }
    }
}
