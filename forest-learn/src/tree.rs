//! Growing one CART tree, depth first, straight into the flat layout of
//! `forest_core::Forest`: when a node splits, its two children get adjacent
//! slots (`right = left + 1`) at the end of the node arrays.

use forest_core::{Forest, ForestParts, ModelError};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::binning::{bin_of, BinnedTable, MISSING_BIN};
use crate::params::{Criterion, ForestParams};
use crate::split::{
    scan_histogram, scan_sorted, ClassStats, NodeBins, Sample, Scan, Scratch, Split,
};

/// The data a tree is grown from, shared by all trees of a forest.
pub struct TrainView<'a> {
    pub columns: &'a [Vec<f32>],
    pub binned: &'a BinnedTable,
    pub n_classes: usize,
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
    // Each sample's bins, row-major and in sample order, for as long as
    // nodes are large enough to use histograms.
    let mut codes = if samples.len() >= params.histogram_min_rows {
        gather_codes(view.binned, &samples)
    } else {
        Vec::new()
    };

    push_leaf(&mut parts, k);
    let mut root_weight = 0.0;
    let mut stack = vec![Pending {
        node: 0,
        start: 0,
        end: samples.len(),
        depth: 0,
    }];
    while let Some(p) = stack.pop() {
        let rows = &samples[p.start..p.end];
        let stats = ClassStats::of(rows, k);
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
        let binned = n >= params.histogram_min_rows;
        let is_leaf = params.max_depth.is_some_and(|d| p.depth >= d)
            || n < params.min_samples_split
            || n < 2 * min_leaf
            || impurity <= f64::EPSILON;
        if is_leaf {
            continue;
        }

        // Draw features without replacement until `mtry` non-constant ones
        // have been scanned, as scikit-learn's best splitter does.
        let mut best: Option<Split> = None;
        let mut visited = 0;
        let mut drawn = 0;
        while visited < mtry && drawn < n_features {
            let j = rng.random_range(drawn..n_features);
            features.swap(drawn, j);
            let f = features[drawn];
            drawn += 1;
            let fi = f as usize;
            let scan = if binned {
                scan_histogram(
                    &mut scratch,
                    criterion,
                    min_leaf,
                    f,
                    NodeBins::new(
                        &codes[p.start * n_features..p.end * n_features],
                        n_features,
                        fi,
                    ),
                    &view.binned.edges[fi],
                    rows,
                )
            } else {
                scan_sorted(
                    &mut scratch,
                    criterion,
                    min_leaf,
                    f,
                    &view.columns[fi],
                    rows,
                )
            };
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
        let Some(split) = best else { continue };

        let fi = split.feature as usize;
        let node_samples = &mut samples[p.start..p.end];
        let n_left = if binned {
            // A histogram split's threshold is a bin edge, so "bin <= b"
            // sends each row where "x <= threshold" does.
            let b = bin_of(&view.binned.edges[fi], split.threshold);
            let node_codes = &mut codes[p.start * n_features..p.end * n_features];
            partition_binned(
                node_samples,
                node_codes,
                n_features,
                fi,
                b,
                split.missing_left,
            )
        } else {
            partition(
                node_samples,
                &view.columns[fi],
                split.threshold,
                split.missing_left,
            )
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
            start: mid,
            end: p.end,
            depth: p.depth + 1,
        });
        stack.push(Pending {
            node: left,
            start: p.start,
            end: mid,
            depth: p.depth + 1,
        });
    }
    parts.tree_offsets.push(parts.feature.len() as u32);
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

fn right_of(node: &ClassStats, left: &ClassStats) -> ClassStats {
    let weights: Vec<f64> = node
        .weights
        .iter()
        .zip(&left.weights)
        .map(|(a, b)| a - b)
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

/// Each sample's bins for every feature, row-major: `width` bytes a sample.
fn gather_codes(binned: &BinnedTable, samples: &[Sample]) -> Vec<u8> {
    let mut codes = Vec::with_capacity(samples.len() * binned.bins.len());
    for s in samples {
        codes.extend(binned.bins.iter().map(|column| column[s.row as usize]));
    }
    codes
}

/// [`partition`] on bins: moves the samples whose bin of `feature` is at
/// most `bin` (or missing, when missing goes left) to the front, their bins
/// with them. The same rows move the same way as the raw-value partition
/// on the bin's edge, so the two give the same sample order.
fn partition_binned(
    samples: &mut [Sample],
    codes: &mut [u8],
    width: usize,
    feature: usize,
    bin: u8,
    missing_left: bool,
) -> usize {
    let goes_left = |code: u8| {
        if code == MISSING_BIN {
            missing_left
        } else {
            code <= bin
        }
    };
    let mut i = 0;
    let mut j = samples.len();
    while i < j {
        if goes_left(codes[i * width + feature]) {
            i += 1;
        } else {
            j -= 1;
            if i < j {
                samples.swap(i, j);
                let (head, tail) = codes.split_at_mut(j * width);
                head[i * width..(i + 1) * width].swap_with_slice(&mut tail[..width]);
            }
        }
    }
    i
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
