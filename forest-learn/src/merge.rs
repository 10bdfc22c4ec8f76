//! Joining the parts of a forest grown on several hosts.
//!
//! Host `i` of a multi-host training job grows trees `a..b` of a `T`-tree
//! forest with the seeds a single host would use ([`crate::tree_seed`]) and
//! records `"trees": [a, b]` in its parameters. [`merge`] checks that the
//! parts come from the same data, spec and parameters and together hold
//! trees `0..T` exactly once, then concatenates them in tree order: the
//! result has the single-host forest's trees, in its order, and so predicts
//! exactly what the single-host forest predicts.
//!
//! The metadata is merged too: tree seeds concatenated, impurity importances
//! averaged weighted by each part's tree count. Out-of-bag scores cannot be
//! combined without the data (a row's OOB vote spans all parts), so the
//! merged model keeps each part's figures under `metrics.parts` and has no
//! overall `oob_score`; evaluate the merged model for its scores.

use forest_core::{Forest, Metadata, Model};

/// Why parts cannot be merged; names the part (by position in the input).
#[derive(Debug, thiserror::Error)]
#[error("cannot merge: {0}")]
pub struct MergeError(pub String);

/// The `[start, end)` tree range a part records in its parameters.
fn tree_range(meta: &Metadata) -> Option<(usize, usize)> {
    let r = meta.params.get("trees")?.as_array()?;
    match r.as_slice() {
        [a, b] => Some((a.as_u64()? as usize, b.as_u64()? as usize)),
        _ => None,
    }
}

fn n_trees(meta: &Metadata) -> Option<usize> {
    meta.params.get("n_trees")?.as_u64().map(|n| n as usize)
}

/// The parameters without the part-specific tree range.
fn shared_params(meta: &Metadata) -> serde_json::Value {
    let mut p = meta.params.clone();
    if let Some(obj) = p.as_object_mut() {
        obj.remove("trees");
    }
    p
}

/// Merges `parts` (any order; `names` label them in errors) into one model.
pub fn merge(parts: &[Model], names: &[String]) -> Result<Model, MergeError> {
    let name = |i: usize| names.get(i).cloned().unwrap_or_else(|| format!("part {i}"));
    if parts.is_empty() {
        return Err(MergeError("no parts given".into()));
    }
    let mut order: Vec<(usize, (usize, usize))> = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let range = tree_range(&part.meta).ok_or_else(|| {
            MergeError(format!(
                "{} records no tree range (params.trees); was it trained by this version of forest-train?",
                name(i)
            ))
        })?;
        if range.1 - range.0.min(range.1) != part.forest.n_trees()
            || part.meta.tree_seeds.len() != part.forest.n_trees()
        {
            return Err(MergeError(format!(
                "{} claims trees {}..{} but holds {} trees and {} seeds",
                name(i),
                range.0,
                range.1,
                part.forest.n_trees(),
                part.meta.tree_seeds.len()
            )));
        }
        order.push((i, range));
    }
    order.sort_by_key(|&(_, r)| r);

    let first = &parts[order[0].0];
    let total = n_trees(&first.meta)
        .ok_or_else(|| MergeError(format!("{} records no n_trees", name(order[0].0))))?;
    let params = shared_params(&first.meta);
    let mut expected_start = 0;
    for &(i, (start, end)) in &order {
        let m = &parts[i].meta;
        let differs = |what: &str| {
            MergeError(format!(
                "{} has other {what} than {}",
                name(i),
                name(order[0].0)
            ))
        };
        if shared_params(m) != params {
            return Err(differs("hyper-parameters"));
        }
        if m.label != first.meta.label || m.classes != first.meta.classes {
            return Err(differs("label or classes"));
        }
        if m.features != first.meta.features {
            return Err(differs("a feature spec"));
        }
        if m.training.fingerprint != first.meta.training.fingerprint
            || m.training.rows != first.meta.training.rows
        {
            return Err(differs("training data (fingerprint)"));
        }
        if start != expected_start {
            return Err(MergeError(if start < expected_start {
                format!(
                    "{} (trees {start}..{end}) overlaps another part; every tree must come from exactly one part",
                    name(i)
                )
            } else {
                format!("trees {expected_start}..{start} are missing (no part holds them)")
            }));
        }
        expected_start = end;
    }
    if expected_start != total {
        return Err(MergeError(format!(
            "trees {expected_start}..{total} of the {total}-tree forest are missing"
        )));
    }

    let forests: Vec<Forest> = order
        .iter()
        .map(|&(i, _)| parts[i].forest.clone())
        .collect();
    let forest =
        Forest::concat(&forests).map_err(|e| MergeError(format!("joining the trees: {e}")))?;

    // Importances: each part's is a mean over its trees; weight by count.
    let n_features = first.meta.feature_importance.len();
    let mut importance = vec![0.0; n_features];
    for &(i, (start, end)) in &order {
        let imp = &parts[i].meta.feature_importance;
        if imp.len() != n_features {
            return Err(MergeError(format!(
                "{} has {} importances, {} has {n_features}",
                name(i),
                imp.len(),
                name(order[0].0)
            )));
        }
        for (acc, v) in importance.iter_mut().zip(imp) {
            *acc += v * (end - start) as f64;
        }
    }
    let sum: f64 = importance.iter().sum();
    if sum > 0.0 {
        importance.iter_mut().for_each(|v| *v /= sum);
    }

    let mut merged_params = params;
    if let Some(obj) = merged_params.as_object_mut() {
        obj.insert("trees".into(), serde_json::json!([0, total]));
    }
    let part_metrics: Vec<serde_json::Value> = order
        .iter()
        .map(|&(i, (start, end))| {
            serde_json::json!({"trees": [start, end], "metrics": parts[i].meta.metrics})
        })
        .collect();
    let meta = Metadata {
        label: first.meta.label.clone(),
        classes: first.meta.classes.clone(),
        features: first.meta.features.clone(),
        params: merged_params,
        training: first.meta.training.clone(),
        metrics: serde_json::json!({ "parts": part_metrics }),
        feature_importance: importance,
        tree_seeds: order
            .iter()
            .flat_map(|&(i, _)| parts[i].meta.tree_seeds.iter().copied())
            .collect(),
        trainer: first.meta.trainer.clone(),
        git_revision: first.meta.git_revision.clone(),
        ensemble: first.meta.ensemble.clone(),
        // The parts share their training rows (the fingerprint check above).
        training_distribution: first.meta.training_distribution.clone(),
    };
    Model::new(meta, forest).map_err(|e| MergeError(e.to_string()))
}
