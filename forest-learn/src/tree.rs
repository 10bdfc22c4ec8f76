//! Growing one CART tree, depth first, straight into the flat layout of
//! `forest_core::Forest`: when a node splits, its two children get adjacent
//! slots (`right = left + 1`) at the end of the node arrays.

use forest_core::{Forest, ForestParts, ModelError};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::binned_rows::BinnedRows;
use crate::binning::{bin_of, BinnedTable};
use crate::histogram::Histograms;
use crate::params::{Criterion, ForestParams};
use crate::split::{scan_sorted, ClassStats, Sample, Scan, Scratch, Split};

/// The data a tree is grown from, shared by all trees of a forest.
pub struct TrainView<'a> {
    pub columns: &'a [Vec<f32>],
    pub binned: &'a BinnedTable,
    pub n_classes: usize,
    /// Nodes with at least this many rows use histograms (resolved from
    /// the parameters for this table).
    pub histogram_min_rows: usize,
}

/// A grown tree and the impurity decrease it credits to each feature.
pub struct GrownTree {
    pub forest: Forest,
    /// Weighted impurity decrease per feature, divided by the root weight
    /// (scikit-learn's un-normalised `feature_importances_`).
    pub importance: Vec<f64>,
}

struct Pending {
    node: usize,
    /// The node's class weights: the root's counted, a child's taken from
    /// its parent's split (exact, the weights being whole bootstrap counts
    /// unless class weights are set, and deterministic either way).
    stats: ClassStats,
    start: usize,
    end: usize,
    depth: usize,
}

/// Grows one tree over `samples` (the in-bag rows with their weights).
pub fn grow_tree(
    view: &TrainView<'_>,
    params: &ForestParams,
    mut samples: Vec<Sample>,
    rng: &mut ChaCha8Rng,
) -> Result<GrownTree, ModelError> {
    let n_features = view.columns.len();
    let k = view.n_classes;
    let mtry = params.max_features.resolve(n_features);
    let min_leaf = params.min_samples_leaf;
    let criterion = params.criterion;
    let mut parts = ForestParts {
        n_features,
        n_classes: k,
        tree_offsets: vec![0],
        ..ForestParts::default()
    };
    let mut importance = vec![0.0; n_features];
    let mut features: Vec<u32> = (0..n_features as u32).collect();
    let mut scratch = Scratch::new(k);
    let mut histograms = Histograms::new(k);
    let mut scans = Vec::with_capacity(mtry);
    // Each sample's bins, row-major and in sample order, for as long as
    // nodes are large enough to use histograms.
    let mut binned_rows = (samples.len() >= view.histogram_min_rows)
        .then(|| BinnedRows::gather(view.binned, &samples));

    push_leaf(&mut parts, k);
    let mut root_weight = 0.0;
    let mut stack = vec![Pending {
        node: 0,
        stats: ClassStats::of(&samples, k),
        start: 0,
        end: samples.len(),
        depth: 0,
    }];
    while let Some(p) = stack.pop() {
        let rows = &samples[p.start..p.end];
        let stats = p.stats;
        if p.node == 0 {
            root_weight = stats.total;
        }
        let value = &mut parts.values[p.node * k..(p.node + 1) * k];
        for (v, w) in value.iter_mut().zip(&stats.weights) {
            *v = if stats.total > 0.0 {
                (w / stats.total) as f32
            } else {
                0.0
            };
        }
        let impurity = criterion.impurity(&stats);
        let n = rows.len();
        let binned = n >= view.histogram_min_rows;
        let is_leaf = params.max_depth.is_some_and(|d| p.depth >= d)
            || n < params.min_samples_split
            || n < 2 * min_leaf
            || impurity <= f64::EPSILON;
        if is_leaf {
            continue;
        }

        // Draw features without replacement until `mtry` non-constant ones
        // have been scanned, as scikit-learn's best splitter does. Each
        // round draws as many as are still wanted and scans them together
        // (one pass over the node for up to four histograms): the draws and
        // the features scanned are those of drawing one at a time.
        let mut best: Option<Split> = None;
        let mut visited = 0;
        let mut drawn = 0;
        while visited < mtry && drawn < n_features {
            let first = drawn;
            while drawn < n_features && drawn - first < mtry - visited {
                let j = rng.random_range(drawn..n_features);
                features.swap(drawn, j);
                drawn += 1;
            }
            let batch = &features[first..drawn];
            scans.clear();
            if let Some(binned_rows) = binned_rows.as_ref().filter(|_| binned) {
                histograms.scan(
                    &stats,
                    criterion,
                    min_leaf,
                    batch,
                    binned_rows.node(p.start..p.end),
                    &view.binned.edges,
                    rows,
                    &mut scans,
                );
            } else {
                scans.extend(batch.iter().map(|&f| {
                    let column = &view.columns[f as usize];
                    scan_sorted(&mut scratch, criterion, min_leaf, f, column, rows)
                }));
            }
            for scan in scans.drain(..) {
                match scan {
                    Scan::Constant => {}
                    Scan::NoValidCut => visited += 1,
                    Scan::Found(split) => {
                        visited += 1;
                        if best.as_ref().is_none_or(|b| split.beats(b)) {
                            best = Some(split);
                        }
                    }
                }
            }
        }
        let Some(split) = best else { continue };

        let fi = split.feature as usize;
        let n_left = match binned_rows.as_mut().filter(|_| binned) {
            // A histogram split's threshold is a bin edge, so "bin <= b"
            // sends each row where "x <= threshold" does.
            Some(binned_rows) => binned_rows.partition(
                &mut samples,
                p.start..p.end,
                fi,
                bin_of(&view.binned.edges[fi], split.threshold),
                split.missing_left,
            ),
            None => partition(
                &mut samples[p.start..p.end],
                &view.columns[fi],
                split.threshold,
                split.missing_left,
            ),
        };
        debug_assert_eq!(n_left, split.left.rows);
        let right = right_of(&stats, &split.left);
        importance[split.feature as usize] += stats.total * impurity
            - split.left.total * criterion.impurity(&split.left)
            - right.total * criterion.impurity(&right);

        let left = parts.feature.len();
        push_leaf(&mut parts, k);
        push_leaf(&mut parts, k);
        parts.feature[p.node] = split.feature;
        parts.threshold[p.node] = split.threshold;
        parts.left[p.node] = left as u32;
        parts.missing_left[p.node] = u8::from(split.missing_left);
        let mid = p.start + n_left;
        stack.push(Pending {
            node: left + 1,
            stats: right,
            start: mid,
            end: p.end,
            depth: p.depth + 1,
        });
        stack.push(Pending {
            node: left,
            stats: split.left,
            start: p.start,
            end: mid,
            depth: p.depth + 1,
        });
    }
    parts.tree_offsets.push(parts.feature.len() as u32);
    // Kept until the forest is joined: only what the tree needs, not what
    // doubling left spare.
    parts.feature.shrink_to_fit();
    parts.threshold.shrink_to_fit();
    parts.left.shrink_to_fit();
    parts.missing_left.shrink_to_fit();
    parts.values.shrink_to_fit();
    if root_weight > 0.0 {
        for v in importance.iter_mut() {
            *v /= root_weight;
        }
    }
    Ok(GrownTree {
        forest: Forest::new(parts)?,
        importance,
    })
}

/// The class weights of a split's right side: the node's less the left's.
/// Exact for whole weights; with class weights, a class absent on the right
/// may come out a rounding error either side of zero, and a negative one
/// would make the leaf's distribution invalid, so it is clamped to zero.
fn right_of(node: &ClassStats, left: &ClassStats) -> ClassStats {
    let weights: Vec<f64> = node
        .weights
        .iter()
        .zip(&left.weights)
        .map(|(a, b)| (a - b).max(0.0))
        .collect();
    ClassStats {
        total: weights.iter().sum(),
        weights,
        rows: node.rows - left.rows,
    }
}

/// Appends a leaf (a node that loops to itself) with zero class values.
fn push_leaf(parts: &mut ForestParts, k: usize) {
    let index = parts.feature.len() as u32;
    parts.feature.push(0);
    parts.threshold.push(f32::INFINITY);
    parts.left.push(index);
    parts.missing_left.push(1);
    parts.values.extend(std::iter::repeat_n(0.0, k));
}

/// Moves the rows that go left to the front; returns how many there are.
fn partition(samples: &mut [Sample], column: &[f32], threshold: f32, missing_left: bool) -> usize {
    let goes_left = |s: &Sample| {
        let x = column[s.row as usize];
        x <= threshold || (x.is_nan() && missing_left)
    };
    let mut i = 0;
    let mut j = samples.len();
    while i < j {
        if goes_left(&samples[i]) {
            i += 1;
        } else {
            j -= 1;
            samples.swap(i, j);
        }
    }
    i
}

impl Criterion {
    /// For reports: the criterion's name as scikit-learn spells it.
    pub fn name(self) -> &'static str {
        match self {
            Criterion::Gini => "gini",
            Criterion::Entropy => "entropy",
        }
    }
}
