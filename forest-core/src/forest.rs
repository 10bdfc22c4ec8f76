//! The flat forest: one array per node field over all nodes of all trees.
//!
//! Layout rules, relied on by the interpreter, the artifact decoder and the
//! code emitter alike:
//!
//! * Node indices are local to their tree; tree `t` owns the global nodes
//!   `tree_offsets[t] .. tree_offsets[t + 1]`, and its root is local node 0.
//!   Trees are therefore relocatable: joining two forests is concatenation.
//! * A split node `i` sends a row to `left[i]` when `x <= threshold[i]`, to
//!   `left[i] + 1` when `x > threshold[i]`, and NaN to the side that
//!   `missing_left[i]` names. Children always come after their parent
//!   (`left[i] > i`), so every walk terminates.
//! * A leaf is a node whose `left` is itself. Leaves carry `threshold = +inf`
//!   and `missing_left = 1`, so that the split rule above keeps a walk that
//!   reached a leaf on that leaf: a branch-free walk can run a fixed number
//!   of steps and still stop at the right place.
//! * `values` holds, for every node (split nodes too, which helps to explain
//!   a prediction), the class distribution of the training rows that reached
//!   it: `n_classes` probabilities that sum to one. Under an
//!   [`Ensemble::Sum`] (boosted trees) a leaf holds instead the value it
//!   adds to each class's sum, any finite number.

use crate::ensemble::Ensemble;
use crate::error::ModelError;

/// A random forest in structure-of-arrays form. Construct it through
/// [`Forest::new`], which checks every invariant listed in the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct Forest {
    n_features: usize,
    n_classes: usize,
    tree_offsets: Vec<u32>,
    feature: Vec<u32>,
    threshold: Vec<f32>,
    left: Vec<u32>,
    missing_left: Vec<u8>,
    values: Vec<f32>,
    ensemble: Ensemble,
}

/// The arrays of a forest before they are checked; what a trainer or a
/// decoder assembles and hands to [`Forest::new`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ForestParts {
    /// Width of the feature vectors the forest reads.
    pub n_features: usize,
    /// Classes each leaf distribution covers.
    pub n_classes: usize,
    /// `n_trees + 1` entries: start of each tree, then the total node count.
    pub tree_offsets: Vec<u32>,
    /// Per node, the feature its split reads (0 for leaves).
    pub feature: Vec<u32>,
    /// Per node, the split threshold: `x <= t` goes left (`+inf` for leaves).
    pub threshold: Vec<f32>,
    /// Per node, its left child's index within its tree (right = left + 1); a leaf points to itself.
    pub left: Vec<u32>,
    /// Per node, 1 when NaN goes left, else 0.
    pub missing_left: Vec<u8>,
    /// `n_nodes * n_classes` class probabilities, node-major.
    pub values: Vec<f32>,
}

/// One node of a tree, as a trainer emits it. A tree is a `Vec<Node>` in
/// which node 0 is the root and children follow the layout rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The feature the split reads.
    pub feature: u32,
    /// `x <= threshold` goes left.
    pub threshold: f32,
    /// Index of the left child within the tree (the right one follows it); its own index for a leaf.
    pub left: u32,
    /// Whether NaN goes left.
    pub missing_left: bool,
    /// The node's class distribution (a leaf's is its prediction).
    pub value: Vec<f32>,
}

impl Node {
    /// A leaf at local index `index` with the given class distribution.
    pub fn leaf(index: u32, value: Vec<f32>) -> Self {
        Node {
            feature: 0,
            threshold: f32::INFINITY,
            left: index,
            missing_left: true,
            value,
        }
    }
}

/// Per-tree shape statistics, for reports and for the code emitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeShape {
    /// Nodes in the tree.
    pub nodes: usize,
    /// Leaves in the tree.
    pub leaves: usize,
    /// Edges on the longest root-to-leaf path (a single leaf has depth 0).
    pub depth: usize,
}

impl Forest {
    /// Checks the parts against every layout rule and returns the forest, or
    /// the first violation found. Works on untrusted input in time linear in
    /// its size.
    pub fn new(parts: ForestParts) -> Result<Forest, ModelError> {
        Forest::new_with(parts, Ensemble::Average)
    }

    /// [`Forest::new`] for trees that combine by `ensemble`.
    pub fn new_with(parts: ForestParts, ensemble: Ensemble) -> Result<Forest, ModelError> {
        ensemble.validate(parts.n_classes)?;
        validate(&parts, &ensemble)?;
        let ForestParts {
            n_features,
            n_classes,
            tree_offsets,
            feature,
            threshold,
            left,
            missing_left,
            values,
        } = parts;
        Ok(Forest {
            n_features,
            n_classes,
            tree_offsets,
            feature,
            threshold,
            left,
            missing_left,
            values,
            ensemble,
        })
    }

    /// Assembles a random forest from trees given node by node.
    pub fn from_trees(
        n_features: usize,
        n_classes: usize,
        trees: &[Vec<Node>],
    ) -> Result<Forest, ModelError> {
        Forest::from_trees_with(n_features, n_classes, trees, Ensemble::Average)
    }

    /// [`Forest::from_trees`] for trees that combine by `ensemble`.
    pub fn from_trees_with(
        n_features: usize,
        n_classes: usize,
        trees: &[Vec<Node>],
        ensemble: Ensemble,
    ) -> Result<Forest, ModelError> {
        let n_nodes: usize = trees.iter().map(Vec::len).sum();
        let mut parts = ForestParts {
            n_features,
            n_classes,
            tree_offsets: Vec::with_capacity(trees.len() + 1),
            feature: Vec::with_capacity(n_nodes),
            threshold: Vec::with_capacity(n_nodes),
            left: Vec::with_capacity(n_nodes),
            missing_left: Vec::with_capacity(n_nodes),
            values: Vec::with_capacity(n_nodes * n_classes),
        };
        parts.tree_offsets.push(0);
        for tree in trees {
            for node in tree {
                if node.value.len() != n_classes {
                    return Err(ModelError::Invalid(format!(
                        "a node carries {} class values, the forest has {n_classes} classes",
                        node.value.len()
                    )));
                }
                parts.feature.push(node.feature);
                parts.threshold.push(node.threshold);
                parts.left.push(node.left);
                parts.missing_left.push(u8::from(node.missing_left));
                parts.values.extend_from_slice(&node.value);
            }
            let total = u32::try_from(parts.feature.len())
                .map_err(|_| ModelError::Invalid("more than 2^32 nodes".into()))?;
            parts.tree_offsets.push(total);
        }
        Forest::new_with(parts, ensemble)
    }

    /// Joins forests over the same features and classes into one whose
    /// trees are those of `forests` in order.
    pub fn concat(forests: &[Forest]) -> Result<Forest, ModelError> {
        let first = forests
            .first()
            .ok_or_else(|| ModelError::Invalid("no forest to join".into()))?;
        // Sized once: grown by doubling, the arrays would hold up to twice
        // the forest at the moment memory peaks.
        let nodes: usize = forests.iter().map(|f| f.feature.len()).sum();
        let trees: usize = forests.iter().map(|f| f.tree_offsets.len() - 1).sum();
        let mut parts = ForestParts {
            n_features: first.n_features,
            n_classes: first.n_classes,
            tree_offsets: Vec::with_capacity(trees + 1),
            feature: Vec::with_capacity(nodes),
            threshold: Vec::with_capacity(nodes),
            left: Vec::with_capacity(nodes),
            missing_left: Vec::with_capacity(nodes),
            values: Vec::with_capacity(nodes * first.n_classes),
        };
        parts.tree_offsets.push(0);
        for forest in forests {
            if forest.ensemble != first.ensemble {
                return Err(ModelError::Invalid(
                    "cannot join forests whose trees combine differently".into(),
                ));
            }
            if forest.n_features != first.n_features || forest.n_classes != first.n_classes {
                return Err(ModelError::Invalid(format!(
                    "cannot join a forest of {} features and {} classes to one of {} and {}",
                    forest.n_features, forest.n_classes, first.n_features, first.n_classes
                )));
            }
            let base = *parts.tree_offsets.last().unwrap_or(&0);
            for window in forest.tree_offsets.windows(2) {
                let end = base
                    .checked_add(window[1])
                    .ok_or_else(|| ModelError::Invalid("more than 2^32 nodes".into()))?;
                parts.tree_offsets.push(end);
            }
            parts.feature.extend_from_slice(&forest.feature);
            parts.threshold.extend_from_slice(&forest.threshold);
            parts.left.extend_from_slice(&forest.left);
            parts.missing_left.extend_from_slice(&forest.missing_left);
            parts.values.extend_from_slice(&forest.values);
        }
        Forest::new_with(parts, first.ensemble.clone())
    }

    /// A copy of the arrays (to rebuild the forest with another ensemble
    /// rule, say).
    pub fn parts(&self) -> ForestParts {
        ForestParts {
            n_features: self.n_features,
            n_classes: self.n_classes,
            tree_offsets: self.tree_offsets.clone(),
            feature: self.feature.clone(),
            threshold: self.threshold.clone(),
            left: self.left.clone(),
            missing_left: self.missing_left.clone(),
            values: self.values.clone(),
        }
    }

    /// How the trees' leaf values combine into probabilities.
    pub fn ensemble(&self) -> &Ensemble {
        &self.ensemble
    }

    /// Width of the feature vectors the forest reads.
    pub fn n_features(&self) -> usize {
        self.n_features
    }
    /// Classes of the leaf distributions.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }
    /// Trees in the forest.
    pub fn n_trees(&self) -> usize {
        self.tree_offsets.len() - 1
    }
    /// Nodes over all trees.
    pub fn n_nodes(&self) -> usize {
        self.feature.len()
    }
    /// Where each tree starts in the node arrays, plus the total at the end.
    pub fn tree_offsets(&self) -> &[u32] {
        &self.tree_offsets
    }
    /// Per node, the feature its split reads.
    pub fn feature(&self) -> &[u32] {
        &self.feature
    }
    /// Per node, the split threshold.
    pub fn threshold(&self) -> &[f32] {
        &self.threshold
    }
    /// Per node, the tree-local index of its left child.
    pub fn left(&self) -> &[u32] {
        &self.left
    }
    /// Per node, 1 when NaN goes left.
    pub fn missing_left(&self) -> &[u8] {
        &self.missing_left
    }
    /// Per node, `n_classes` probabilities, node-major.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The global node range of tree `t`.
    pub fn tree_range(&self, t: usize) -> std::ops::Range<usize> {
        self.tree_offsets[t] as usize..self.tree_offsets[t + 1] as usize
    }

    /// Nodes, leaves and depth of tree `t`.
    pub fn tree_shape(&self, t: usize) -> TreeShape {
        let range = self.tree_range(t);
        let base = range.start;
        let n = range.len();
        // Children come after parents, so one forward pass gives every depth.
        let mut depth = vec![0usize; n];
        let mut shape = TreeShape {
            nodes: n,
            leaves: 0,
            depth: 0,
        };
        for i in 0..n {
            let l = self.left[base + i] as usize;
            if l == i {
                shape.leaves += 1;
                shape.depth = shape.depth.max(depth[i]);
            } else {
                depth[l] = depth[i] + 1;
                depth[l + 1] = depth[i] + 1;
            }
        }
        shape
    }

    /// The local index of the leaf that `row` reaches in tree `t`.
    #[inline]
    pub fn leaf_of(&self, t: usize, row: &[f32]) -> usize {
        let base = self.tree_offsets[t] as usize;
        let mut i = 0usize;
        loop {
            let g = base + i;
            let l = self.left[g] as usize;
            if l == i {
                return i;
            }
            let x = row[self.feature[g] as usize];
            let go_right = x > self.threshold[g] || (x.is_nan() && self.missing_left[g] == 0);
            i = l + usize::from(go_right);
        }
    }

    /// The class distribution stored at local node `i` of tree `t`.
    #[inline]
    pub fn node_value(&self, t: usize, i: usize) -> &[f32] {
        let g = self.tree_offsets[t] as usize + i;
        &self.values[g * self.n_classes..(g + 1) * self.n_classes]
    }
}

fn validate(p: &ForestParts, ensemble: &Ensemble) -> Result<(), ModelError> {
    let distributions = ensemble.is_average();
    let bad = |msg: String| Err(ModelError::Invalid(msg));
    if p.n_classes < 2 {
        return bad(format!(
            "a forest needs at least 2 classes, got {}",
            p.n_classes
        ));
    }
    if p.n_features == 0 {
        return bad("a forest needs at least one feature".into());
    }
    let n = p.feature.len();
    if p.threshold.len() != n || p.left.len() != n || p.missing_left.len() != n {
        return bad(format!(
            "node arrays differ in length: feature {}, threshold {}, left {}, missing_left {}",
            n,
            p.threshold.len(),
            p.left.len(),
            p.missing_left.len()
        ));
    }
    if Some(p.values.len()) != n.checked_mul(p.n_classes) {
        return bad(format!(
            "values holds {} numbers, expected {} nodes x {} classes",
            p.values.len(),
            n,
            p.n_classes
        ));
    }
    if p.tree_offsets.len() < 2 {
        return bad("a forest needs at least one tree".into());
    }
    if p.tree_offsets[0] != 0 || *p.tree_offsets.last().unwrap_or(&0) as usize != n {
        return bad(format!(
            "tree offsets must run from 0 to the node count {n}, got {} .. {}",
            p.tree_offsets[0],
            p.tree_offsets.last().unwrap_or(&0)
        ));
    }
    // Offsets first, all of them, so that the walk below never indexes past
    // the arrays whatever a later offset says.
    if let Some(t) = p.tree_offsets.windows(2).position(|w| w[1] <= w[0]) {
        return bad(format!("tree {t} is empty or its offsets decrease"));
    }
    // One pass over each tree: every split's children exist, come after it,
    // and are claimed by exactly one parent; that makes each tree a tree.
    let mut claimed = Vec::new();
    for (t, w) in p.tree_offsets.windows(2).enumerate() {
        let (start, end) = (w[0] as usize, w[1] as usize);
        let size = end - start;
        claimed.clear();
        claimed.resize(size, false);
        for i in 0..size {
            let g = start + i;
            let at = |what: &str| format!("tree {t} node {i}: {what}");
            if i > 0 && !claimed[i] {
                return bad(at("no parent points to this node"));
            }
            let l = p.left[g] as usize;
            if p.missing_left[g] > 1 {
                return bad(at("missing_left must be 0 or 1"));
            }
            let value = &p.values[g * p.n_classes..(g + 1) * p.n_classes];
            if value
                .iter()
                .any(|v| !v.is_finite() || (distributions && *v < 0.0))
            {
                return bad(at(if distributions {
                    "class values must be finite and non-negative"
                } else {
                    "leaf values must be finite"
                }));
            }
            if l == i {
                if p.threshold[g] != f32::INFINITY || p.missing_left[g] != 1 || p.feature[g] != 0 {
                    return bad(at(
                        "a leaf must have feature 0, threshold +inf and missing_left 1",
                    ));
                }
                continue;
            }
            if l < i || l + 1 >= size {
                return bad(at(&format!(
                    "children {l}, {} out of order or range",
                    l + 1
                )));
            }
            if claimed[l] || claimed[l + 1] {
                return bad(at("a child already has a parent"));
            }
            claimed[l] = true;
            claimed[l + 1] = true;
            if p.feature[g] as usize >= p.n_features {
                return bad(at(&format!(
                    "feature {} out of range (the forest has {})",
                    p.feature[g], p.n_features
                )));
            }
            if p.threshold[g].is_nan() {
                return bad(at("threshold is NaN"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// x0 <= 0.5 ? [1, 0] : (x1 <= 2 ? [0, 1] : [0.5, 0.5]); NaN on x0 goes right.
    pub(crate) fn small_tree() -> Vec<Node> {
        vec![
            Node {
                feature: 0,
                threshold: 0.5,
                left: 1,
                missing_left: false,
                value: vec![0.5, 0.5],
            },
            Node::leaf(1, vec![1.0, 0.0]),
            Node {
                feature: 1,
                threshold: 2.0,
                left: 3,
                missing_left: true,
                value: vec![0.25, 0.75],
            },
            Node::leaf(3, vec![0.0, 1.0]),
            Node::leaf(4, vec![0.5, 0.5]),
        ]
    }

    #[test]
    fn walks_follow_the_split_rule() {
        let f = Forest::from_trees(2, 2, &[small_tree()]).unwrap();
        assert_eq!(f.leaf_of(0, &[0.5, 9.0]), 1, "equal to threshold goes left");
        assert_eq!(f.leaf_of(0, &[0.6, 2.0]), 3);
        assert_eq!(f.leaf_of(0, &[0.6, 2.1]), 4);
        assert_eq!(
            f.leaf_of(0, &[f32::NAN, f32::NAN]),
            3,
            "NaN follows missing_left"
        );
        assert_eq!(f.leaf_of(0, &[f32::NEG_INFINITY, 0.0]), 1);
        let shape = f.tree_shape(0);
        assert_eq!((shape.nodes, shape.leaves, shape.depth), (5, 3, 2));
    }

    #[test]
    fn rejects_broken_trees() {
        let mut t = small_tree();
        t[0].left = 3; // children 3 and 4 claimed twice, node 1 orphaned
        assert!(Forest::from_trees(2, 2, &[t]).is_err());
        let mut t = small_tree();
        t[2].feature = 2;
        assert!(Forest::from_trees(2, 2, &[t]).is_err());
        let mut t = small_tree();
        t[4].threshold = 1.0;
        assert!(Forest::from_trees(2, 2, &[t]).is_err());
        assert!(Forest::from_trees(2, 2, &[]).is_err());
    }

    #[test]
    fn rejects_offsets_past_the_arrays_without_panicking() {
        let f = Forest::from_trees(2, 2, &[small_tree(), vec![Node::leaf(0, vec![1.0, 0.0])]]);
        let mut parts = ForestParts {
            n_features: 2,
            n_classes: 2,
            tree_offsets: vec![0, 10, 6],
            ..ForestParts::default()
        };
        let f = f.unwrap();
        parts.feature = f.feature().to_vec();
        parts.threshold = f.threshold().to_vec();
        parts.left = f.left().to_vec();
        parts.missing_left = f.missing_left().to_vec();
        parts.values = f.values().to_vec();
        assert!(Forest::new(parts).is_err());
    }

    #[test]
    fn concat_keeps_trees_in_order() {
        let a = Forest::from_trees(2, 2, &[small_tree()]).unwrap();
        let b = Forest::from_trees(2, 2, &[vec![Node::leaf(0, vec![0.0, 1.0])]]).unwrap();
        let j = Forest::concat(&[a.clone(), b]).unwrap();
        assert_eq!(j.n_trees(), 2);
        assert_eq!(j.tree_offsets(), &[0, 5, 6]);
        assert_eq!(j.node_value(1, 0), &[0.0, 1.0]);
        assert_eq!(j.leaf_of(0, &[0.6, 2.1]), a.leaf_of(0, &[0.6, 2.1]));
    }
}
