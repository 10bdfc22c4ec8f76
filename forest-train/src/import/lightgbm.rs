//! LightGBM's text model (`Booster.save_model`): a `key=value` header, then
//! one `Tree=` block per tree, as LightGBM's `gbdt_model_text.cpp` writes
//! it.
//!
//! LightGBM sums leaf values in `f64` (tree `i` feeds class `i % K`),
//! divides by the iteration count in random forest mode
//! (`average_output`), and maps the sums with a sigmoid (`binary`, with
//! its `sigmoid:` scale) or a softmax (`multiclass`). Features are `f64`
//! there, `f32` here: a split `x <= t` keeps its meaning with the largest
//! `f32` at or below `t`. Before any tree, LightGBM reads every
//! `|x| <= 1e-35` as zero; thresholds inside that band are moved so that
//! the band goes where zero would. NaN follows the node's missing type:
//! `NaN` routes it by `default_left`, `None` treats it as zero. The `Zero`
//! missing type (`zero_as_missing`), categorical splits and linear trees
//! are refused.

use std::collections::HashMap;

use forest_core::{Ensemble, Link, Precision, Sum};

use super::{floor_f32, layout, next_down, numbered, Blame, ImportError, Imported, SourceNode};

/// LightGBM's `kZeroThreshold`: inputs this close to zero are zero.
const ZERO_BAND: f32 = 1e-35;

pub(crate) fn convert(bytes: &[u8], path: &str) -> Result<Imported, ImportError> {
    let blame = Blame::file(path);
    let format = |message: String| blame.format(message);
    let text = std::str::from_utf8(bytes)
        .map_err(|e| format(format!("not UTF-8 text at byte {}", e.valid_up_to())))?;
    let mut lines = text.lines().enumerate().peekable();
    // The header, up to the first tree.
    let mut header: HashMap<&str, &str> = HashMap::new();
    while let Some((_, line)) = lines.peek() {
        if line.starts_with("Tree=") {
            break;
        }
        let (_, line) = lines.next().unwrap_or_default();
        match line.split_once('=') {
            Some((k, v)) => header.insert(k.trim(), v.trim()),
            None => header.insert(line.trim(), ""),
        };
    }
    if !header.contains_key("tree") && !text.starts_with("tree") {
        return Err(format(
            "no `tree` header line: not a LightGBM text model".into(),
        ));
    }
    let get = |key: &str| {
        header
            .get(key)
            .copied()
            .ok_or_else(|| format(format!("the header has no `{key}`")))
    };
    let parse_usize = |key: &str| -> Result<usize, ImportError> {
        get(key)?
            .parse()
            .map_err(|_| format(format!("`{key}` is not a number")))
    };
    let num_class = parse_usize("num_class")?;
    let per_iteration = header
        .get("num_tree_per_iteration")
        .map_or(Ok(num_class), |v| {
            v.parse()
                .map_err(|_| format("`num_tree_per_iteration` is not a number".into()))
        })?;
    let n_features = parse_usize("max_feature_idx")? + 1;
    let objective = get("objective")?;
    let mut words = objective.split_whitespace();
    let kind = words.next().unwrap_or_default();
    let options: HashMap<&str, &str> = words.filter_map(|w| w.split_once(':')).collect();
    let (n_classes, link) = match kind {
        "binary" if num_class == 1 => {
            let scale: f64 = options
                .get("sigmoid")
                .map_or(Ok(1.0), |s| s.parse())
                .map_err(|_| format("`objective` has a bad sigmoid".into()))?;
            (2, Link::Logistic { scale })
        }
        "multiclass" if num_class >= 2 => (num_class, Link::Softmax),
        _ => {
            return Err(ImportError::UnsupportedModel {
                path: path.to_string(),
                what: format!(
                    "objective `{objective}` (only binary and multiclass classifiers import)"
                ),
            })
        }
    };
    if per_iteration != num_class {
        return Err(format(format!(
            "num_tree_per_iteration {per_iteration} differs from num_class {num_class}"
        )));
    }
    let feature_names: Vec<String> = match header.get("feature_names") {
        Some(names) => names.split_whitespace().map(str::to_string).collect(),
        None => (0..n_features).map(|i| format!("Column_{i}")).collect(),
    };
    if feature_names.len() != n_features {
        return Err(format(format!(
            "{} feature names for max_feature_idx + 1 = {n_features}",
            feature_names.len()
        )));
    }

    // The trees.
    let mut trees = Vec::new();
    let mut block: HashMap<&str, &str> = HashMap::new();
    let mut in_tree = false;
    let finish = |block: &HashMap<&str, &str>, trees: &mut Vec<_>| -> Result<(), ImportError> {
        let t = trees.len();
        let nodes = tree_nodes(block, t, num_class, n_classes, n_features, path)?;
        // Split 0 is the root (the only leaf of a one-leaf tree).
        trees.push(layout(&nodes, 0, t, path)?);
        Ok(())
    };
    for (_, line) in lines {
        if line.starts_with("Tree=") {
            if in_tree {
                finish(&block, &mut trees)?;
            }
            block.clear();
            in_tree = true;
        } else if line.starts_with("end of trees") {
            break;
        } else if let Some((k, v)) = line.split_once('=') {
            block.insert(k.trim(), v.trim());
        }
    }
    if in_tree {
        finish(&block, &mut trees)?;
    }
    if trees.is_empty() || trees.len() % num_class != 0 {
        return Err(format(format!(
            "{} trees is not a whole number of iterations of {num_class}",
            trees.len()
        )));
    }
    let iterations = trees.len() / num_class;
    let divisor = if header.contains_key("average_output") {
        iterations as f64
    } else {
        1.0
    };
    Ok(Imported {
        classes: numbered(n_classes),
        feature_names,
        trees,
        ensemble: Ensemble::Sum(Sum {
            base: vec![0.0; n_classes],
            divisor,
            precision: Precision::F64,
            link,
        }),
        params: serde_json::json!({
            "objective": objective,
            "version": header.get("version"),
            "trees": iterations * num_class,
            "average_output": header.contains_key("average_output"),
        }),
    })
}

/// One tree's nodes: its splits in LightGBM's numbering (split 0 is the
/// root), then its leaves (leaf `j` at `splits + j`; LightGBM's child `-1 -
/// j`).
fn tree_nodes(
    block: &HashMap<&str, &str>,
    t: usize,
    num_class: usize,
    n_classes: usize,
    n_features: usize,
    path: &str,
) -> Result<Vec<SourceNode>, ImportError> {
    let blame = Blame::file(path).tree(t);
    let format = |message: String| blame.format(message);
    let unsupported = |node: usize, what: &str| blame.unsupported(node, what);
    let field = |key: &str| {
        block
            .get(key)
            .copied()
            .ok_or_else(|| format(format!("no `{key}`")))
    };
    let list = |key: &str| -> Result<Vec<&str>, ImportError> {
        Ok(field(key)?.split_whitespace().collect())
    };
    let leaves: usize = field("num_leaves")?
        .parse()
        .map_err(|_| format("`num_leaves` is not a number".into()))?;
    if block.get("is_linear").is_some_and(|v| *v != "0") {
        return Err(unsupported(0, "a linear tree (is_linear=1)"));
    }
    if block.get("num_cat").is_some_and(|v| *v != "0") {
        return Err(unsupported(0, "a categorical split (num_cat > 0)"));
    }
    let class = t % num_class;
    // Binary models keep one score: it goes to the second class.
    let slot = if num_class == 1 { 1 } else { class };
    let leaf = |v: f64| {
        let mut values = vec![0.0f32; n_classes];
        values[slot] = v as f32;
        SourceNode::Leaf(values)
    };
    let leaf_values: Vec<f64> = list("leaf_value")?
        .iter()
        .map(|v| v.parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format("a leaf value is not a number".into()))?;
    if leaf_values.len() != leaves || leaves == 0 {
        return Err(format(format!(
            "{} leaf values for num_leaves {leaves}",
            leaf_values.len()
        )));
    }
    if leaves == 1 {
        return Ok(vec![leaf(leaf_values[0])]);
    }
    let splits = leaves - 1;
    let numbers = |key: &str| -> Result<Vec<f64>, ImportError> {
        let v: Vec<f64> = list(key)?
            .iter()
            .map(|x| x.parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| format(format!("`{key}` holds a value that is not a number")))?;
        if v.len() != splits {
            return Err(format(format!(
                "`{key}` has {} values for {splits} splits",
                v.len()
            )));
        }
        Ok(v)
    };
    let features = numbers("split_feature")?;
    let thresholds = numbers("threshold")?;
    let decision = numbers("decision_type")?;
    let children = |key: &str| -> Result<Vec<i64>, ImportError> {
        let v: Vec<i64> = list(key)?
            .iter()
            .map(|x| x.parse::<i64>())
            .collect::<Result<_, _>>()
            .map_err(|_| format(format!("`{key}` holds a value that is not an integer")))?;
        if v.len() != splits {
            return Err(format(format!(
                "`{key}` has {} values for {splits} splits",
                v.len()
            )));
        }
        Ok(v)
    };
    let lefts = children("left_child")?;
    let rights = children("right_child")?;
    let index = |child: i64| -> usize {
        if child < 0 {
            splits + (!child) as usize
        } else {
            child as usize
        }
    };
    let mut nodes = Vec::with_capacity(splits + leaves + 1);
    for i in 0..splits {
        let dt = decision[i] as u32;
        if dt & 1 != 0 {
            return Err(unsupported(i, "a categorical split"));
        }
        let default_left = dt & 2 != 0;
        let missing_type = (dt >> 2) & 3;
        let feature = features[i];
        if feature < 0.0 || feature as usize >= n_features {
            return Err(format(format!("split {i} reads feature {feature}")));
        }
        let t = thresholds[i];
        let (threshold, missing_left) = match missing_type {
            // None: NaN is read as zero, which goes left when 0 <= t.
            0 => (band_threshold(t), 0.0 <= t),
            // NaN: NaN goes to the default side.
            2 => (band_threshold(t), default_left),
            _ => {
                return Err(unsupported(
                    i,
                    "the Zero missing type (zero_as_missing); train without it",
                ))
            }
        };
        let (l, r) = (index(lefts[i]), index(rights[i]));
        if l >= splits + leaves || r >= splits + leaves {
            return Err(format(format!("split {i} points outside the tree")));
        }
        nodes.push(SourceNode::Split {
            feature: feature as u32,
            threshold,
            missing_left,
            left: l,
            right: r,
        });
    }
    nodes.extend(leaf_values.iter().map(|&v| leaf(v)));
    Ok(nodes)
}

/// The `f32` threshold of LightGBM's `m(x) <= t`, where `m(x)` is 0 for
/// `|x| <= 1e-35` and `x` otherwise: for every non-NaN `f32` `x`,
/// `x <= band_threshold(t)` exactly when `m(x) <= t`.
fn band_threshold(t: f64) -> f32 {
    let band = f64::from(ZERO_BAND);
    if t >= band || t < -band {
        floor_f32(t)
    } else if t >= 0.0 {
        // The whole band is zero, and 0 <= t: it goes left with the
        // negatives, the positives beyond it right.
        ZERO_BAND
    } else {
        // 0 > t: the band goes right, only values below it left.
        next_down(-ZERO_BAND)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// LightGBM's rule, in f64 as it computes it.
    fn lightgbm_left(x: f32, t: f64) -> bool {
        let x = f64::from(x);
        let m = if x.abs() <= f64::from(ZERO_BAND) {
            0.0
        } else {
            x
        };
        m <= t
    }

    #[test]
    fn the_zero_band_goes_where_zero_goes() {
        let xs = [
            0.0f32,
            -0.0,
            1e-36,
            -1e-36,
            ZERO_BAND,
            -ZERO_BAND,
            next_down(-ZERO_BAND),
            f32::from_bits(ZERO_BAND.to_bits() + 1),
            1e-30,
            -1e-30,
            0.5,
            -0.5,
        ];
        for t in [
            0.0, 1e-36, -1e-36, 1e-35, -1e-35, 5e-35, -5e-35, 0.25, -0.25,
        ] {
            let ours = band_threshold(t);
            for x in xs {
                assert_eq!(x <= ours, lightgbm_left(x, t), "x {x:e}, t {t:e}");
            }
        }
    }
}
