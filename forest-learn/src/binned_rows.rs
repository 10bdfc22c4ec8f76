//! A tree's samples with their bins beside them, row-major, partitioned
//! node by node with the samples.
//!
//! The histogram search reads, for each of a node's samples, the bins of a
//! few features. Gathered from the column-major table by row number, each
//! read was a cache miss (a third of the search's time); kept beside the
//! sample and moved with it, a node's bins are one contiguous block read in
//! order. Rows are padded to a multiple of eight bytes so that moving one is
//! a fixed-size copy of whole words, and the partition is stable and free
//! of data-dependent branches: every sample is written to both sides and
//! only the cursors move, since which side a row goes to is a coin toss the
//! branch predictor loses half the time.

use std::ops::Range;

use crate::binning::{BinnedTable, MISSING_BIN};
use crate::split::Sample;

/// The bins of a node's rows: the bin of feature `f` for the node's sample
/// `i` is `codes[i * stride + f]`.
#[derive(Clone, Copy)]
pub struct NodeCodes<'a> {
    pub codes: &'a [u8],
    pub stride: usize,
}

/// Each sample's bins for every feature, in the samples' current order.
pub struct BinnedRows {
    codes: Vec<u8>,
    stride: usize,
    /// Where the rows going right wait during a partition.
    spill_samples: Vec<Sample>,
    spill_codes: Vec<u8>,
}

impl BinnedRows {
    /// The bins of `samples`, in their order.
    pub fn gather(binned: &BinnedTable, samples: &[Sample]) -> Self {
        let width = binned.bins.len();
        let stride = width.next_multiple_of(8);
        let mut codes = Vec::with_capacity(samples.len() * stride);
        for s in samples {
            codes.extend(binned.bins.iter().map(|column| column[s.row as usize]));
            codes.resize(codes.len() + stride - width, 0);
        }
        BinnedRows {
            codes,
            stride,
            spill_samples: Vec::with_capacity(samples.len()),
            spill_codes: vec![0; samples.len() * stride],
        }
    }

    /// The bins of the samples in `range`.
    pub fn node(&self, range: Range<usize>) -> NodeCodes<'_> {
        NodeCodes {
            codes: &self.codes[range.start * self.stride..range.end * self.stride],
            stride: self.stride,
        }
    }

    /// Moves the samples in `range` whose bin of `feature` is at most `bin`
    /// (or missing, when `missing_left`) to the front of the range, their
    /// bins with them, keeping their order on each side; `samples` is the
    /// whole tree's. Returns how many went left.
    pub fn partition(
        &mut self,
        samples: &mut [Sample],
        range: Range<usize>,
        feature: usize,
        bin: u8,
        missing_left: bool,
    ) -> usize {
        let rule = Rule {
            feature,
            bin,
            missing_left,
        };
        let samples = &mut samples[range.clone()];
        let codes = &mut self.codes[range.start * self.stride..range.end * self.stride];
        self.spill_samples.clear();
        self.spill_samples.resize(samples.len(), samples[0]);
        let spill = (&mut self.spill_samples[..], &mut self.spill_codes[..]);
        // Rows of 8 to 64 bytes get a width known at compile time, so each
        // row moves as a few word copies, not a call to memmove.
        let stride = self.stride;
        match stride {
            8 => partition_rows::<8>(samples, codes, spill, rule, stride),
            16 => partition_rows::<16>(samples, codes, spill, rule, stride),
            24 => partition_rows::<24>(samples, codes, spill, rule, stride),
            32 => partition_rows::<32>(samples, codes, spill, rule, stride),
            40 => partition_rows::<40>(samples, codes, spill, rule, stride),
            48 => partition_rows::<48>(samples, codes, spill, rule, stride),
            56 => partition_rows::<56>(samples, codes, spill, rule, stride),
            64 => partition_rows::<64>(samples, codes, spill, rule, stride),
            _ => partition_rows::<0>(samples, codes, spill, rule, stride),
        }
    }
}

/// Which side a row goes to.
#[derive(Clone, Copy)]
struct Rule {
    feature: usize,
    bin: u8,
    missing_left: bool,
}

impl Rule {
    #[inline(always)]
    fn goes_left(self, row: &[u8]) -> bool {
        let code = row[self.feature];
        (code <= self.bin && code != MISSING_BIN) | (code == MISSING_BIN && self.missing_left)
    }
}

/// [`BinnedRows::partition`] for rows of `W` bytes (0: of `stride`).
#[inline(always)]
fn partition_rows<const W: usize>(
    samples: &mut [Sample],
    codes: &mut [u8],
    spill: (&mut [Sample], &mut [u8]),
    rule: Rule,
    stride: usize,
) -> usize {
    let width = if W > 0 { W } else { stride };
    let (spill_samples, spill_codes) = spill;
    let (mut left, mut right) = (0, 0);
    for i in 0..samples.len() {
        let s = samples[i];
        let row = i * width..(i + 1) * width;
        let go = rule.goes_left(&codes[row.clone()]);
        // Both sides get the row; only the cursor of its side moves. The
        // left cursor never passes `i`, so nothing unread is overwritten.
        spill_codes[right * width..(right + 1) * width].copy_from_slice(&codes[row.clone()]);
        codes.copy_within(row, left * width);
        samples[left] = s;
        spill_samples[right] = s;
        left += usize::from(go);
        right += usize::from(!go);
    }
    samples[left..].copy_from_slice(&spill_samples[..right]);
    codes[left * width..].copy_from_slice(&spill_codes[..right * width]);
    left
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every width, the fixed and the general copy: the rows that go left
    /// are those the rule picks, both sides keep their order, and each
    /// sample keeps its own bins.
    #[test]
    fn partition_is_stable_and_moves_bins_with_samples() {
        for width in [1, 7, 8, 20, 63, 64, 65, 100] {
            let n = 50;
            let columns: Vec<Vec<u8>> = (0..width)
                .map(|f| {
                    (0..n)
                        .map(|r| match (r * 7 + f * 3) % 11 {
                            10 => MISSING_BIN,
                            v => v as u8,
                        })
                        .collect()
                })
                .collect();
            let binned = BinnedTable {
                edges: vec![Vec::new(); width],
                bins: columns.clone(),
            };
            let mut samples: Vec<Sample> = (0..n as u32)
                .map(|row| Sample {
                    row,
                    class: row % 3,
                    weight: 1.0,
                })
                .collect();
            let mut rows = BinnedRows::gather(&binned, &samples);
            let feature = width / 2;
            let range = 5..45;
            let left = rows.partition(&mut samples, range.clone(), feature, 4, true);
            let goes_left = |r: u32| {
                let c = columns[feature][r as usize];
                c <= 4 || c == MISSING_BIN
            };
            let expected: Vec<u32> = range
                .clone()
                .map(|r| r as u32)
                .filter(|&r| goes_left(r))
                .chain(range.clone().map(|r| r as u32).filter(|&r| !goes_left(r)))
                .collect();
            let got: Vec<u32> = samples[range.clone()].iter().map(|s| s.row).collect();
            assert_eq!(got, expected, "width {width}");
            assert_eq!(left, expected.iter().filter(|&&r| goes_left(r)).count());
            let node = rows.node(0..n);
            for (i, s) in samples.iter().enumerate() {
                for (f, column) in columns.iter().enumerate() {
                    assert_eq!(node.codes[i * node.stride + f], column[s.row as usize]);
                }
            }
        }
    }
}
