//! Pre-binning: each feature's values are mapped once to at most 255 ordered
//! bins, so that split finding at large nodes builds small histograms instead
//! of sorting rows.
//!
//! Bin edges are chosen so that a split "bin <= j" is exactly the split
//! `x <= edges[j]` on raw values: bin(x) = the number of edges below x. The
//! trainer can therefore store `edges[j]` as the node's threshold and every
//! engine gets the same answer from raw values. Missing values get a bin of
//! their own, [`MISSING_BIN`].

/// The bin of NaN.
pub const MISSING_BIN: u8 = 255;

/// How many values per feature are used to place quantile edges. Sorting a
/// deterministic stride sample instead of the whole column keeps binning
/// cheap on large tables; edges only need to be approximately quantiles.
const EDGE_SAMPLE: usize = 200_000;

/// Bin edges of every feature and the binned table, column-major.
#[derive(Debug, Clone)]
pub struct BinnedTable {
    pub edges: Vec<Vec<f32>>,
    pub bins: Vec<Vec<u8>>,
}

impl BinnedTable {
    pub fn build(columns: &[Vec<f32>], max_bins: usize) -> BinnedTable {
        use rayon::prelude::*;
        let (edges, bins) = columns
            .par_iter()
            .map(|column| {
                let edges = bin_edges(column, max_bins);
                let bins = column.iter().map(|&x| bin_of(&edges, x)).collect();
                (edges, bins)
            })
            .unzip();
        BinnedTable { edges, bins }
    }
}

/// The bin of `x` given sorted `edges`.
#[inline]
pub fn bin_of(edges: &[f32], x: f32) -> u8 {
    if x.is_nan() {
        MISSING_BIN
    } else {
        edges.partition_point(|&e| e < x) as u8
    }
}

/// A threshold strictly between two distinct values `a < b`, as close to
/// their midpoint as `f32` allows (scikit-learn's choice), and never equal to
/// `b`, so that `x <= t` keeps `a` left and `b` right.
#[inline]
pub fn midpoint(a: f32, b: f32) -> f32 {
    let t = ((f64::from(a) + f64::from(b)) / 2.0) as f32;
    if t >= b || t.is_nan() {
        a
    } else {
        t
    }
}

/// Up to `max_bins - 1` increasing edges. A feature with at most `max_bins`
/// distinct values gets an edge between every pair of neighbours, so its
/// histogram splits are exactly the exhaustive ones.
pub fn bin_edges(column: &[f32], max_bins: usize) -> Vec<f32> {
    let stride = column.len().div_ceil(EDGE_SAMPLE).max(1);
    let mut sample: Vec<f32> = column
        .iter()
        .step_by(stride)
        .copied()
        .filter(|x| !x.is_nan())
        .collect();
    sample.sort_unstable_by(f32::total_cmp);
    // Distinct values with their counts; -0.0 and 0.0 are one value.
    let mut distinct: Vec<(f32, usize)> = Vec::new();
    for x in sample {
        match distinct.last_mut() {
            Some((v, n)) if *v == x => *n += 1,
            _ => distinct.push((x, 1)),
        }
    }
    if distinct.len() <= max_bins {
        return distinct
            .windows(2)
            .map(|w| midpoint(w[0].0, w[1].0))
            .collect();
    }
    // Quantile edges: close a bin once it holds its share of the remaining
    // values, so that one very frequent value does not starve the others.
    let total: usize = distinct.iter().map(|d| d.1).sum();
    let mut edges = Vec::with_capacity(max_bins - 1);
    let mut seen = 0usize;
    let mut in_bin = 0usize;
    for i in 0..distinct.len() - 1 {
        seen += distinct[i].1;
        in_bin += distinct[i].1;
        let bins_left = max_bins - edges.len();
        let target = (total - (seen - in_bin)) / bins_left;
        if in_bin >= target.max(1) {
            edges.push(midpoint(distinct[i].0, distinct[i + 1].0));
            in_bin = 0;
            if edges.len() == max_bins - 1 {
                break;
            }
        }
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_agree_with_thresholds() {
        let column: Vec<f32> = (0..10_000)
            .map(|i| ((i * 7919) % 1000) as f32 / 10.0)
            .collect();
        let edges = bin_edges(&column, 32);
        assert!(edges.len() <= 31 && edges.len() > 20, "{}", edges.len());
        assert!(edges.windows(2).all(|w| w[0] < w[1]));
        for &x in &column {
            let b = bin_of(&edges, x) as usize;
            for (j, &e) in edges.iter().enumerate() {
                assert_eq!(b <= j, x <= e, "x={x} edge {j}={e}");
            }
        }
    }

    #[test]
    fn few_distinct_values_get_exact_midpoints() {
        let edges = bin_edges(&[3.0, 1.0, f32::NAN, 2.0, 1.0, f32::INFINITY], 255);
        assert_eq!(edges, vec![1.5, 2.5, 3.0]);
        assert_eq!(bin_of(&edges, f32::INFINITY), 3);
        assert_eq!(bin_of(&edges, 3.0), 2);
        assert_eq!(bin_of(&edges, f32::NAN), MISSING_BIN);
    }

    #[test]
    fn midpoint_stays_strictly_below_the_upper_value() {
        let a = 1.0f32;
        let b = f32::from_bits(a.to_bits() + 1);
        assert_eq!(midpoint(a, b), a);
        assert_eq!(midpoint(f32::NEG_INFINITY, 0.0), f32::NEG_INFINITY);
        assert_eq!(midpoint(-1.0, 1.0), 0.0);
    }
}
