//! Permutation importance: how much a score drops when one feature's values
//! are shuffled across rows, breaking its link with the label. Unlike the
//! impurity importance it is measured on data the model did not train on,
//! and it does not favour features with many distinct values.

use forest_core::{Forest, ModelError};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use crate::dataset::Dataset;
use crate::train::tree_seed;

/// Mean and standard deviation of the accuracy drop for one feature.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PermutationImportance {
    /// The feature's name.
    pub feature: String,
    /// Mean drop in accuracy over the shuffles.
    pub mean: f64,
    /// Its standard deviation over the shuffles.
    pub std: f64,
}

fn accuracy(forest: &Forest, rows: &[f32], labels: &[u32]) -> Result<f64, ModelError> {
    let predicted = forest.predict_batch(rows)?;
    let hits = predicted
        .iter()
        .zip(labels)
        .filter(|(p, y)| **p == **y as usize)
        .count();
    Ok(hits as f64 / labels.len().max(1) as f64)
}

/// Accuracy drop per feature over `repeats` shuffles, seeded per feature and
/// repeat so the result does not depend on the thread count.
pub fn permutation_importance(
    forest: &Forest,
    data: &Dataset,
    repeats: usize,
    seed: u64,
) -> Result<Vec<PermutationImportance>, ModelError> {
    let base_rows = data.rows_row_major();
    let baseline = accuracy(forest, &base_rows, &data.labels)?;
    let nf = data.n_features();
    (0..nf)
        .into_par_iter()
        .map(|f| {
            let mut drops = Vec::with_capacity(repeats);
            let mut rows = base_rows.clone();
            for rep in 0..repeats {
                let mut rng =
                    ChaCha8Rng::seed_from_u64(tree_seed(seed, (f * repeats + rep) as u64));
                let mut column = data.columns[f].clone();
                column.shuffle(&mut rng);
                for (r, x) in column.into_iter().enumerate() {
                    rows[r * nf + f] = x;
                }
                drops.push(baseline - accuracy(forest, &rows, &data.labels)?);
            }
            let mean = drops.iter().sum::<f64>() / repeats.max(1) as f64;
            let var = drops.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / repeats.max(1) as f64;
            Ok(PermutationImportance {
                feature: data.spec.features[f].name.clone(),
                mean,
                std: var.sqrt(),
            })
        })
        .collect()
}
