//! ONNX tree ensembles: the `ai.onnx.ml` `TreeEnsembleClassifier` (opsets
//! 1 and 3), which is how skl2onnx exports scikit-learn forests and
//! gradient boosting, and what other converters (onnxmltools) write.
//!
//! The protobuf messages are decoded with `prost` from the few fields the
//! converter reads (field numbers from `onnx-ml.proto`); a graph may hold
//! one tree ensemble and anything after it that only reshapes its output
//! (`ZipMap`, `Identity`, `Cast`, `ArgMax`).
//!
//! onnxruntime sums a leaf's class weights per class in `f32`, tree by tree
//! in the order of the trees' first nodes, adds `base_values` at the end
//! and applies `post_transform`: the ensemble rule `f32_base_last`. A
//! two-class model that stores only the second class's score (all
//! `class_ids` 0, as skl2onnx writes binary forests) answers `[1 - s, s]`
//! (`NONE`) or the logistic of `s` (`LOGISTIC`). Splits become `x <= t`:
//! `BRANCH_LEQ` as is, `BRANCH_LT` with the largest `f32` below `t`, and
//! the `GT`/`GTE` modes with their branches swapped; NaN follows
//! `nodes_missing_value_tracks_true`. Refused: `BRANCH_EQ`/`NEQ`, other
//! post-transforms, regressors (a forest here answers classes), and
//! anything before the ensemble in the graph.

use std::collections::{BTreeMap, HashMap};

use forest_core::{Ensemble, Link, Precision, Sum};
use prost::Message;

use super::{below_f32, layout, Blame, ImportError, Imported, SourceNode};

#[derive(Clone, PartialEq, Message)]
struct ModelProto {
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
    #[prost(message, repeated, tag = "8")]
    opset_import: Vec<OperatorSetIdProto>,
}

#[derive(Clone, PartialEq, Message)]
struct OperatorSetIdProto {
    #[prost(string, tag = "1")]
    domain: String,
    #[prost(int64, tag = "2")]
    version: i64,
}

#[derive(Clone, PartialEq, Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeProto>,
    #[prost(message, repeated, tag = "11")]
    input: Vec<ValueInfoProto>,
}

#[derive(Clone, PartialEq, Message)]
struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    output: Vec<String>,
    #[prost(string, tag = "4")]
    op_type: String,
    #[prost(message, repeated, tag = "5")]
    attribute: Vec<AttributeProto>,
    #[prost(string, tag = "7")]
    domain: String,
}

#[derive(Clone, PartialEq, Message)]
struct AttributeProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(float, tag = "2")]
    f: f32,
    #[prost(int64, tag = "3")]
    i: i64,
    #[prost(bytes = "vec", tag = "4")]
    s: Vec<u8>,
    #[prost(message, optional, tag = "5")]
    t: Option<TensorProto>,
    #[prost(float, repeated, tag = "7")]
    floats: Vec<f32>,
    #[prost(int64, repeated, tag = "8")]
    ints: Vec<i64>,
    #[prost(bytes = "vec", repeated, tag = "9")]
    strings: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    data_type: i32,
    #[prost(float, repeated, tag = "4")]
    float_data: Vec<f32>,
    #[prost(bytes = "vec", tag = "9")]
    raw_data: Vec<u8>,
    #[prost(double, repeated, tag = "10")]
    double_data: Vec<f64>,
}

#[derive(Clone, PartialEq, Message)]
struct ValueInfoProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    r#type: Option<TypeProto>,
}

#[derive(Clone, PartialEq, Message)]
struct TypeProto {
    #[prost(message, optional, tag = "1")]
    tensor_type: Option<TensorTypeProto>,
}

#[derive(Clone, PartialEq, Message)]
struct TensorTypeProto {
    #[prost(int32, tag = "1")]
    elem_type: i32,
    #[prost(message, optional, tag = "2")]
    shape: Option<ShapeProto>,
}

#[derive(Clone, PartialEq, Message)]
struct ShapeProto {
    #[prost(message, repeated, tag = "1")]
    dim: Vec<DimProto>,
}

#[derive(Clone, PartialEq, Message)]
struct DimProto {
    #[prost(int64, tag = "1")]
    dim_value: i64,
}

/// ONNX's element type of 32-bit floats, the only input this imports.
const FLOAT: i32 = 1;
/// Ops that may follow the ensemble: they only reshape or relabel its
/// output.
const AFTER: [&str; 4] = ["ZipMap", "Identity", "Cast", "ArgMax"];

/// The attributes of one node, by name.
struct Attributes<'a>(HashMap<&'a str, &'a AttributeProto>);

impl<'a> Attributes<'a> {
    fn ints(&self, name: &str) -> &'a [i64] {
        self.0.get(name).map_or(&[], |a| a.ints.as_slice())
    }
    fn floats(&self, name: &str) -> Vec<f64> {
        match self.0.get(name) {
            Some(a) => a.floats.iter().map(|&f| f64::from(f)).collect(),
            None => self
                .0
                .get(format!("{name}_as_tensor").as_str())
                .and_then(|a| a.t.as_ref())
                .map(tensor_f64)
                .unwrap_or_default(),
        }
    }
    fn strings(&self, name: &str) -> Vec<String> {
        self.0.get(name).map_or_else(Vec::new, |a| {
            a.strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
    }
    fn string(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }
}

fn tensor_f64(t: &TensorProto) -> Vec<f64> {
    match t.data_type {
        1 if !t.raw_data.is_empty() => t
            .raw_data
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        1 => t.float_data.iter().map(|&f| f64::from(f)).collect(),
        11 if !t.raw_data.is_empty() => t
            .raw_data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect(),
        11 => t.double_data.clone(),
        _ => Vec::new(),
    }
}

pub(crate) fn convert(bytes: &[u8], path: &str) -> Result<Imported, ImportError> {
    let blame = Blame::file(path);
    let format = |message: String| blame.format(message);
    let unsupported_model = |what: String| blame.unsupported_model(what);
    let model = ModelProto::decode(bytes).map_err(|e| format(format!("not an ONNX model: {e}")))?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| format("no graph".into()))?;
    let position = graph
        .node
        .iter()
        .position(|n| n.op_type.starts_with("TreeEnsemble"))
        .ok_or_else(|| format("no TreeEnsembleClassifier node in the graph".into()))?;
    let node = &graph.node[position];
    if node.op_type != "TreeEnsembleClassifier" {
        return Err(unsupported_model(format!(
            "`{}` (this imports classifiers: a forest here answers classes)",
            node.op_type
        )));
    }
    if node.domain != "ai.onnx.ml" {
        return Err(format(format!(
            "the tree ensemble is in domain `{}`, not ai.onnx.ml",
            node.domain
        )));
    }
    if position != 0 {
        return Err(unsupported_model(format!(
            "`{}` before the tree ensemble (its inputs must be the model's)",
            graph.node[0].op_type
        )));
    }
    if let Some(other) = graph.node[1..]
        .iter()
        .find(|n| !AFTER.contains(&n.op_type.as_str()))
    {
        return Err(unsupported_model(format!(
            "`{}` after the tree ensemble",
            other.op_type
        )));
    }
    let input = graph
        .input
        .iter()
        .find(|i| node.input.first() == Some(&i.name))
        .ok_or_else(|| format("the tree ensemble's input is not a graph input".into()))?;
    let tensor = input
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .ok_or_else(|| format("the input is not a tensor".into()))?;
    if tensor.elem_type != FLOAT {
        return Err(unsupported_model(format!(
            "input element type {} (float inputs import)",
            tensor.elem_type
        )));
    }
    let attrs = Attributes(
        node.attribute
            .iter()
            .map(|a| (a.name.as_str(), a))
            .collect(),
    );

    // Classes.
    let labels: Vec<String> = match (
        attrs.ints("classlabels_int64s"),
        attrs.strings("classlabels_strings"),
    ) {
        (ints, _) if !ints.is_empty() => ints.iter().map(|c| c.to_string()).collect(),
        (_, strings) if !strings.is_empty() => strings,
        _ => return Err(format("no class labels".into())),
    };
    let k = labels.len();
    if k < 2 {
        return Err(format(format!("{k} class label")));
    }

    // Nodes, grouped by tree in the order of the trees' first nodes.
    let tree_ids = attrs.ints("nodes_treeids");
    let node_ids = attrs.ints("nodes_nodeids");
    let feature_ids = attrs.ints("nodes_featureids");
    let values = attrs.floats("nodes_values");
    let modes = attrs.strings("nodes_modes");
    let trues = attrs.ints("nodes_truenodeids");
    let falses = attrs.ints("nodes_falsenodeids");
    let tracks = attrs.ints("nodes_missing_value_tracks_true");
    let n = tree_ids.len();
    if [
        node_ids.len(),
        feature_ids.len(),
        values.len(),
        modes.len(),
        trues.len(),
        falses.len(),
    ]
    .iter()
    .any(|&l| l != n)
        || !(tracks.is_empty() || tracks.len() == n)
        || n == 0
    {
        return Err(format("the nodes_* attributes differ in length".into()));
    }
    let mut order: Vec<i64> = Vec::new();
    let mut by_tree: HashMap<i64, Vec<usize>> = HashMap::new();
    for (i, &t) in tree_ids.iter().enumerate() {
        by_tree
            .entry(t)
            .or_insert_with(|| {
                order.push(t);
                Vec::new()
            })
            .push(i);
    }
    // Leaf weights per (tree, node): class id and weight.
    let class_trees = attrs.ints("class_treeids");
    let class_nodes = attrs.ints("class_nodeids");
    let class_ids = attrs.ints("class_ids");
    let class_weights = attrs.floats("class_weights");
    if [class_nodes.len(), class_ids.len(), class_weights.len()]
        .iter()
        .any(|&l| l != class_trees.len())
    {
        return Err(format("the class_* attributes differ in length".into()));
    }
    let single_id = k == 2 && class_ids.iter().all(|&c| c == 0);
    let mut weights: HashMap<(i64, i64), Vec<f32>> = HashMap::new();
    for i in 0..class_trees.len() {
        let class = class_ids[i];
        if class < 0 || class as usize >= k {
            return Err(format(format!("class id {class} for {k} classes")));
        }
        // A single-id binary model scores the second class.
        let slot = if single_id { 1 } else { class as usize };
        let w = weights
            .entry((class_trees[i], class_nodes[i]))
            .or_insert_with(|| vec![0.0; k]);
        w[slot] += class_weights[i] as f32;
    }

    let mut max_feature = 0usize;
    let mut trees = Vec::with_capacity(order.len());
    for (t, tree) in order.iter().enumerate() {
        let members = &by_tree[tree];
        let local: HashMap<i64, usize> = members
            .iter()
            .enumerate()
            .map(|(at, &i)| (node_ids[i], at))
            .collect();
        let child = |id: i64, i: usize| {
            local.get(&id).copied().ok_or_else(|| {
                format(format!(
                    "tree {tree}, node {}: no child node {id}",
                    node_ids[i]
                ))
            })
        };
        let mut nodes = Vec::with_capacity(members.len());
        for &i in members {
            let unsupported = |what: String| blame.tree(t).unsupported(node_ids[i] as usize, &what);
            let mode = modes[i].as_str();
            if mode == "LEAF" {
                let w = weights
                    .get(&(*tree, node_ids[i]))
                    .cloned()
                    .ok_or_else(|| unsupported("a leaf without class weights".into()))?;
                nodes.push(SourceNode::Leaf(w));
                continue;
            }
            let feature = feature_ids[i];
            if feature < 0 {
                return Err(format(format!("tree {tree}: feature {feature}")));
            }
            max_feature = max_feature.max(feature as usize);
            let tracks_true = tracks.get(i).is_some_and(|&v| v != 0);
            let (true_child, false_child) = (child(trues[i], i)?, child(falses[i], i)?);
            let v = values[i];
            if v.is_nan() {
                return Err(unsupported("a NaN threshold".into()));
            }
            // (threshold, true branch goes left)
            let (threshold, true_left) = match mode {
                "BRANCH_LEQ" => (v as f32, true),
                "BRANCH_LT" => (below_f32(v), true),
                "BRANCH_GT" => (v as f32, false),
                "BRANCH_GTE" => (below_f32(v), false),
                other => return Err(unsupported(format!("mode {other}"))),
            };
            let (left, right) = if true_left {
                (true_child, false_child)
            } else {
                (false_child, true_child)
            };
            nodes.push(SourceNode::Split {
                feature: feature as u32,
                threshold,
                missing_left: tracks_true == true_left,
                left,
                right,
            });
        }
        // The root is the node no other node points to.
        let mut pointed = vec![false; nodes.len()];
        for n in &nodes {
            if let SourceNode::Split { left, right, .. } = n {
                pointed[*left] = true;
                pointed[*right] = true;
            }
        }
        let root = pointed
            .iter()
            .position(|p| !p)
            .ok_or_else(|| format(format!("tree {tree} has no root")))?;
        trees.push(layout(&nodes, root, t, path)?);
    }

    let transform = attrs
        .string("post_transform")
        .unwrap_or_else(|| "NONE".into());
    let mut base: Vec<f64> = attrs
        .floats("base_values")
        .iter()
        .map(|&b| f64::from(b as f32))
        .collect();
    let link = match (transform.as_str(), single_id) {
        ("NONE", true) => Link::Complement,
        ("NONE", false) => Link::Identity,
        ("LOGISTIC", true) => Link::Logistic { scale: 1.0 },
        ("SOFTMAX", false) => Link::Softmax,
        (other, _) => {
            return Err(unsupported_model(format!(
                "post_transform {other} for {k} classes{}",
                if single_id {
                    " stored as one score"
                } else {
                    ""
                }
            )))
        }
    };
    base = match (base.len(), single_id) {
        (0, _) => vec![0.0; k],
        (1, true) => vec![0.0, base[0]],
        (n, false) if n == k => base,
        (n, _) => {
            return Err(unsupported_model(format!(
                "{n} base values for {k} classes{}",
                if single_id {
                    " stored as one score"
                } else {
                    ""
                }
            )))
        }
    };
    let width = tensor
        .shape
        .as_ref()
        .and_then(|s| s.dim.get(1))
        .map(|d| d.dim_value)
        .filter(|&d| d > 0)
        .map_or(max_feature + 1, |d| d as usize);
    if width <= max_feature {
        return Err(format(format!(
            "the input has {width} features, a split reads feature {max_feature}"
        )));
    }
    let opsets: BTreeMap<String, i64> = model
        .opset_import
        .iter()
        .map(|o| (o.domain.clone(), o.version))
        .collect();
    Ok(Imported {
        classes: labels,
        feature_names: (0..width).map(|i| format!("x{i}")).collect(),
        trees,
        ensemble: Ensemble::Sum(Sum {
            base,
            divisor: 1.0,
            precision: Precision::F32BaseLast,
            link,
        }),
        params: serde_json::json!({
            "op": node.op_type,
            "post_transform": transform,
            "opsets": opsets,
        }),
    })
}
