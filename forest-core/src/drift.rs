//! Training distributions and the population stability index (PSI): what a
//! server needs to tell whether its live inputs still look like the rows the
//! model learned from.
//!
//! `fit` stores, per feature, a [`FeatureDistribution`] of the train split:
//! up to [`DEFAULT_BINS`] bins with quantile edges (or one bin per value for
//! a feature with few distinct values, such as a categorical code), one bin
//! above the last edge, and one for missing values (NaN), with the share of
//! training rows in each. The server bins live rows with the same edges
//! ([`FeatureDistribution::bin`]) and compares the two with [`psi`].
//!
//! ```
//! use forest_core::drift::{psi, FeatureDistribution};
//!
//! let train: Vec<f32> = (0..1000).map(|i| (i % 100) as f32).collect();
//! let dist = FeatureDistribution::fit(&train, 10);
//! assert_eq!(dist.frequencies.len(), dist.edges.len() + 2);
//!
//! // The same draw scores near 0; values all above the old range score high.
//! let mut same = vec![0u64; dist.frequencies.len()];
//! let mut shifted = same.clone();
//! for &x in &train {
//!     same[dist.bin(x)] += 1;
//!     shifted[dist.bin(x + 1000.0)] += 1;
//! }
//! assert!(psi(&dist.frequencies, &same).unwrap() < 1e-9);
//! assert!(psi(&dist.frequencies, &shifted).unwrap() > 1.0);
//! ```
//!
//! The key decision: bins are fixed at training time and stored in the
//! artifact, so the server does no fitting, and a live row costs one short
//! binary search per feature. PSI floors every share at [`PSI_FLOOR`], the
//! usual guard against an empty bin making it infinite.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// Bins per feature that `fit` uses (quantile bins; the missing bin and the
/// bin above the last edge come on top).
pub const DEFAULT_BINS: usize = 10;

/// The smallest share [`psi`] uses for a bin, so that a bin empty on one
/// side gives a large but finite term.
pub const PSI_FLOOR: f64 = 1e-4;

/// Rows `fit` reads to place the edges: a larger train split is read at an
/// even stride (the shares still count every row).
const EDGE_SAMPLE: usize = 100_000;

/// One feature's training distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDistribution {
    /// Upper bin edges, strictly increasing and finite: bin `i` holds the
    /// values `x <= edges[i]` above `edges[i - 1]`; bin `edges.len()` holds
    /// values above the last edge; bin `edges.len() + 1` holds NaN.
    pub edges: Vec<f32>,
    /// The share of training rows in each bin (`edges.len() + 2` values
    /// that sum to 1).
    pub frequencies: Vec<f64>,
}

impl FeatureDistribution {
    /// The distribution of `values` in at most `max_bins` bins (plus the
    /// missing bin). A feature with at most `max_bins` distinct finite
    /// values gets one bin per value; otherwise the edges are the values at
    /// the `k / max_bins` quantiles, ties merged. Deterministic: the same
    /// values in the same order give the same edges and shares.
    pub fn fit(values: &[f32], max_bins: usize) -> FeatureDistribution {
        let max_bins = max_bins.max(1);
        let stride = values.len().div_ceil(EDGE_SAMPLE).max(1);
        let mut sample: Vec<f32> = values
            .iter()
            .step_by(stride)
            .copied()
            .filter(|x| x.is_finite())
            .collect();
        sample.sort_unstable_by(f32::total_cmp);
        let mut distinct = sample.clone();
        distinct.dedup();
        let edges = if distinct.len() <= max_bins {
            // One bin per value: every value but the largest is an edge.
            distinct[..distinct.len().saturating_sub(1)].to_vec()
        } else {
            let n = sample.len();
            let mut edges: Vec<f32> = (1..max_bins).map(|k| sample[k * n / max_bins]).collect();
            edges.dedup();
            edges
        };
        let mut dist = FeatureDistribution {
            frequencies: vec![0.0; edges.len() + 2],
            edges,
        };
        let mut counts = vec![0u64; dist.frequencies.len()];
        for &x in values {
            counts[dist.bin(x)] += 1;
        }
        let total = values.len().max(1) as f64;
        for (f, c) in dist.frequencies.iter_mut().zip(counts) {
            *f = c as f64 / total;
        }
        dist
    }

    /// The bin of a value (see [`FeatureDistribution::edges`]): the number
    /// of edges below it. A server bins every feature of every request, and
    /// with a handful of edges a straight count has no branch on the value
    /// to mispredict, where a binary search has one per step.
    #[inline]
    pub fn bin(&self, x: f32) -> usize {
        if x.is_nan() {
            return self.edges.len() + 1;
        }
        self.edges.iter().map(|&e| usize::from(e < x)).sum()
    }

    /// Bins, the missing bin included.
    pub fn n_bins(&self) -> usize {
        self.edges.len() + 2
    }

    /// Checks the invariants a decoder cannot take on trust.
    pub fn validate(&self, feature: &str) -> Result<(), ModelError> {
        let bad = |problem: String| {
            ModelError::Invalid(format!(
                "training distribution of feature '{feature}': {problem}"
            ))
        };
        if self.edges.iter().any(|e| !e.is_finite()) {
            return Err(bad("an edge is not finite".into()));
        }
        if self.edges.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad("the edges are not strictly increasing".into()));
        }
        if self.frequencies.len() != self.edges.len() + 2 {
            return Err(bad(format!(
                "{} shares for {} edges (needs edges + 2)",
                self.frequencies.len(),
                self.edges.len()
            )));
        }
        if self
            .frequencies
            .iter()
            .any(|f| !f.is_finite() || !(0.0..=1.0).contains(f))
        {
            return Err(bad("a share is not between 0 and 1".into()));
        }
        Ok(())
    }
}

/// The training distribution of every column of a column-major table, in
/// column order ([`FeatureDistribution::fit`] with [`DEFAULT_BINS`]).
pub fn fit_columns(columns: &[Vec<f32>]) -> Vec<FeatureDistribution> {
    columns
        .iter()
        .map(|c| FeatureDistribution::fit(c, DEFAULT_BINS))
        .collect()
}

/// The population stability index of live `counts` per bin against the
/// training `expected` shares: the sum over bins of
/// `(live - expected) * ln(live / expected)`, each share floored at
/// [`PSI_FLOOR`]. `None` when no live row was counted. Common reading:
/// under 0.1 stable, 0.1 to 0.2 a moderate shift, above 0.2 a significant
/// one.
pub fn psi(expected: &[f64], counts: &[u64]) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    Some(
        expected
            .iter()
            .zip(counts)
            .map(|(&e, &c)| {
                let live = (c as f64 / total as f64).max(PSI_FLOOR);
                let e = e.max(PSI_FLOOR);
                (live - e) * (live / e).ln()
            })
            .sum(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_values_get_a_bin_each_and_nan_its_own() {
        let d = FeatureDistribution::fit(&[0.0, 1.0, 1.0, 2.0, f32::NAN], 10);
        assert_eq!(d.edges, vec![0.0, 1.0]);
        assert_eq!(d.frequencies, vec![0.2, 0.4, 0.2, 0.2]);
        assert_eq!(d.bin(-5.0), 0);
        assert_eq!(d.bin(0.5), 1);
        assert_eq!(d.bin(7.0), 2);
        assert_eq!(d.bin(f32::INFINITY), 2);
        assert_eq!(d.bin(f32::NAN), 3);
        d.validate("x").unwrap();
    }

    #[test]
    fn the_bin_is_the_binary_search_position() {
        let train: Vec<f32> = (0..5000)
            .map(|i| ((i * 7919) % 1000) as f32 / 10.0)
            .collect();
        let d = FeatureDistribution::fit(&train, 10);
        let searched = |x: f32| d.edges.partition_point(|&e| e < x);
        for x in [
            -1.0,
            0.0,
            0.05,
            10.0,
            50.0,
            99.9,
            100.0,
            1e9,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ] {
            assert_eq!(d.bin(x), searched(x), "{x}");
        }
        for &x in &train {
            assert_eq!(d.bin(x), searched(x), "{x}");
        }
        assert_eq!(d.bin(f32::NAN), d.edges.len() + 1);
    }

    #[test]
    fn many_values_get_quantile_bins() {
        let values: Vec<f32> = (0..10_000).map(|i| i as f32).collect();
        let d = FeatureDistribution::fit(&values, 10);
        assert_eq!(d.edges.len(), 9);
        for f in &d.frequencies[..10] {
            assert!((f - 0.1).abs() < 1e-3, "{:?}", d.frequencies);
        }
        assert_eq!(d.frequencies[10], 0.0);
    }

    #[test]
    fn empty_and_constant_columns() {
        let d = FeatureDistribution::fit(&[], 10);
        assert!(d.edges.is_empty());
        assert_eq!(d.frequencies, vec![0.0, 0.0]);
        let d = FeatureDistribution::fit(&[3.0; 5], 10);
        assert!(d.edges.is_empty());
        assert_eq!(d.frequencies, vec![1.0, 0.0]);
        assert_eq!(psi(&d.frequencies, &[0, 0]), None);
        assert_eq!(psi(&d.frequencies, &[4, 0]), Some(0.0));
    }

    #[test]
    fn validation_names_the_problem() {
        let mut d = FeatureDistribution::fit(&[0.0, 1.0, 2.0], 10);
        d.frequencies.pop();
        assert!(d.validate("x").unwrap_err().to_string().contains("'x'"));
        let d = FeatureDistribution {
            edges: vec![1.0, 1.0],
            frequencies: vec![0.0; 4],
        };
        assert!(d.validate("x").is_err());
    }
}
