//! XGBoost's JSON model (`save_model("m.json")`, versions 1 to 3), as its
//! `tree_model.cc` and `learner.cc` write it.
//!
//! A node is a leaf when its left child is -1, and then its value is in
//! `split_conditions` (XGBoost keeps leaf values and split conditions in
//! one union). A split sends `x < condition` left and missing values to
//! `default_left`; here that is `x <= the largest f32 below condition`.
//! Tree `i` feeds output `tree_info[i]`; random forests
//! (`num_parallel_tree`) are summed like everything else. XGBoost starts
//! each sum at the base margin and adds in `f32`, then applies its own
//! sigmoid or softmax: the ensemble rule `f32_base_first` does the same.
//! `base_score` is a probability for `binary:logistic` (the margin is its
//! logit, in `f32` as XGBoost computes it) and a margin for `multi:*`.
//! Refused: categorical splits, multi-output trees, `gblinear`, DART
//! (its weights are not the trees' own) and other objectives.

use forest_core::{Ensemble, Link, Precision, Sum};
use serde_json::Value;

use super::{layout, next_down, numbered, Blame, ImportError, Imported, SourceNode};

pub(crate) fn convert(bytes: &[u8], path: &str) -> Result<Imported, ImportError> {
    let blame = Blame::file(path);
    let format = |message: String| blame.format(message);
    let unsupported_model = |what: String| blame.unsupported_model(what);
    let root: Value =
        serde_json::from_slice(bytes).map_err(|e| format(format!("not JSON: {e}")))?;
    let learner = &root["learner"];
    if !learner.is_object() {
        return Err(format(
            "no `learner` object: not an XGBoost JSON model".into(),
        ));
    }
    let booster = &learner["gradient_booster"];
    match booster["name"].as_str() {
        Some("gbtree") => {}
        Some(other) => return Err(unsupported_model(format!("booster `{other}`"))),
        None => return Err(format("no `gradient_booster.name`".into())),
    }
    let model = &booster["model"];
    let param = &learner["learner_model_param"];
    let number = |v: &Value, key: &str| -> Result<f64, ImportError> {
        v[key]
            .as_str()
            .and_then(|s| s.parse().ok())
            .or_else(|| v[key].as_f64())
            .ok_or_else(|| format(format!("`{key}` is missing or not a number")))
    };
    let num_class = number(param, "num_class")? as usize;
    let n_features = number(param, "num_feature")? as usize;
    if param["num_target"]
        .as_str()
        .is_some_and(|t| t != "1" && t != "0")
    {
        return Err(unsupported_model("a multi-target model".into()));
    }
    let objective = learner["objective"]["name"]
        .as_str()
        .ok_or_else(|| format("no `objective.name`".into()))?;
    let (n_classes, link) = match objective {
        "binary:logistic" => (2, Link::Logistic { scale: 1.0 }),
        "multi:softprob" | "multi:softmax" if num_class >= 2 => (num_class, Link::Softmax),
        other => {
            return Err(unsupported_model(format!(
                "objective `{other}` (binary:logistic and multi:softprob import)"
            )))
        }
    };
    // `base_score`: "5E-1" before 3.1, "[5E-1]" or one per class after.
    let base_text = param["base_score"]
        .as_str()
        .ok_or_else(|| format("no `base_score`".into()))?;
    let scores: Vec<f32> = base_text
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|s| s.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .map_err(|_| format(format!("`base_score` {base_text:?} is not a number list")))?;
    let outputs = if n_classes == 2 && num_class < 2 {
        1
    } else {
        n_classes
    };
    let scores = match scores.len() {
        1 => vec![scores[0]; outputs],
        n if n == outputs => scores,
        n => return Err(format(format!("{n} base scores for {outputs} outputs"))),
    };
    let margins: Vec<f32> = if link == Link::Softmax {
        scores
    } else {
        // ProbToMargin of binary:logistic, in f32 (XGBoost clamps first).
        scores
            .iter()
            .map(|&b| {
                let b = b.clamp(1e-6, 1.0 - 1e-6);
                -(1.0f32 / b - 1.0f32).ln()
            })
            .collect()
    };
    let mut base = vec![0.0f64; n_classes];
    if outputs == 1 {
        base[1] = f64::from(margins[0]);
    } else {
        for (b, m) in base.iter_mut().zip(&margins) {
            *b = f64::from(*m);
        }
    }

    let trees_json = model["trees"]
        .as_array()
        .ok_or_else(|| format("no `gradient_booster.model.trees`".into()))?;
    let tree_info = model["tree_info"]
        .as_array()
        .ok_or_else(|| format("no `tree_info`".into()))?;
    if tree_info.len() != trees_json.len() || trees_json.is_empty() {
        return Err(format(format!(
            "{} trees with {} tree_info entries",
            trees_json.len(),
            tree_info.len()
        )));
    }
    let mut trees = Vec::with_capacity(trees_json.len());
    for (t, (tree, info)) in trees_json.iter().zip(tree_info).enumerate() {
        let output = info.as_u64().unwrap_or(u64::MAX) as usize;
        if output >= outputs {
            return Err(format(format!(
                "tree {t}: tree_info {info} is not an output"
            )));
        }
        let slot = if outputs == 1 { 1 } else { output };
        let nodes = tree_nodes(tree, t, slot, n_classes, n_features, path)?;
        trees.push(layout(&nodes, 0, t, path)?);
    }
    let feature_names: Vec<String> = match learner["feature_names"].as_array() {
        Some(names) if names.len() == n_features => names
            .iter()
            .map(|n| n.as_str().unwrap_or_default().to_string())
            .collect(),
        _ => (0..n_features).map(|i| format!("f{i}")).collect(),
    };
    Ok(Imported {
        classes: numbered(n_classes),
        feature_names,
        trees,
        ensemble: Ensemble::Sum(Sum {
            base,
            divisor: 1.0,
            precision: Precision::F32BaseFirst,
            link,
        }),
        params: serde_json::json!({
            "objective": objective,
            "version": root["version"],
            "base_score": base_text,
            "trees": trees_json.len(),
        }),
    })
}

fn tree_nodes(
    tree: &Value,
    t: usize,
    slot: usize,
    n_classes: usize,
    n_features: usize,
    path: &str,
) -> Result<Vec<SourceNode>, ImportError> {
    let blame = Blame::file(path).tree(t);
    let format = |message: String| blame.format(message);
    let unsupported = |node: usize, what: &str| blame.unsupported(node, what);
    if tree["tree_param"]["size_leaf_vector"]
        .as_str()
        .is_some_and(|s| s != "1" && s != "0")
    {
        return Err(unsupported(0, "a vector leaf (multi-output tree)"));
    }
    let array = |key: &str| {
        tree[key]
            .as_array()
            .ok_or_else(|| format(format!("no `{key}`")))
    };
    let lefts = array("left_children")?;
    let rights = array("right_children")?;
    let features = array("split_indices")?;
    let conditions = array("split_conditions")?;
    let defaults = array("default_left")?;
    let types = tree["split_type"].as_array();
    let n = lefts.len();
    if [
        rights.len(),
        features.len(),
        conditions.len(),
        defaults.len(),
    ]
    .iter()
    .any(|&l| l != n)
        || n == 0
    {
        return Err(format("node arrays differ in length".into()));
    }
    let int = |v: &Value| v.as_i64();
    (0..n)
        .map(|i| {
            let left = int(&lefts[i]).ok_or_else(|| format(format!("node {i}: bad left child")))?;
            let condition = conditions[i]
                .as_f64()
                .ok_or_else(|| format(format!("node {i}: bad split condition")))?
                as f32;
            if left == -1 {
                let mut values = vec![0.0f32; n_classes];
                values[slot] = condition;
                return Ok(SourceNode::Leaf(values));
            }
            if types
                .and_then(|ty| ty.get(i))
                .and_then(Value::as_i64)
                .unwrap_or(0)
                != 0
            {
                return Err(unsupported(i, "a categorical split"));
            }
            let right =
                int(&rights[i]).ok_or_else(|| format(format!("node {i}: bad right child")))?;
            let feature = int(&features[i]).unwrap_or(-1);
            if feature < 0 || feature as usize >= n_features {
                return Err(format(format!("node {i} reads feature {feature}")));
            }
            if condition.is_nan() || condition == f32::NEG_INFINITY {
                return Err(unsupported(i, "a split that no value passes (NaN or -inf)"));
            }
            // 1.x wrote booleans, later versions 0/1.
            let default_left = defaults[i]
                .as_bool()
                .or_else(|| defaults[i].as_i64().map(|d| d != 0))
                .unwrap_or(false);
            if left < 0 || right < 0 || left as usize >= n || right as usize >= n {
                return Err(format(format!("node {i} points outside the tree")));
            }
            Ok(SourceNode::Split {
                feature: feature as u32,
                threshold: next_down(condition),
                missing_left: default_left,
                left: left as usize,
                right: right as usize,
            })
        })
        .collect()
}
