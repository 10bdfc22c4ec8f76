//! The forest's structure-of-arrays as static tables, and the schedule in
//! which the single-row walk visits the trees.
//!
//! The node arrays keep [`crate::forest`]'s layout rules (tree-local child
//! indices in `LEFT`, right = left + 1, one entry per node in node order,
//! leaves loop to themselves), with two fields recoded for the walk
//! ([`super::predicated`] explains why):
//!
//! * `THRESHOLD_KEY[g]` = [`order_key`]`(threshold[g])`, an integer that
//!   sorts like the float;
//! * `SELECT[g]` = `feature[g] + N_FEATURES * missing_left[g]`: which of the
//!   row's two key vectors the node reads, the one where NaN sorts above
//!   every number (NaN goes right) or below (NaN goes left).
//!
//! Index types are the narrowest that fit (`u16` for ordinary forests): the
//! walk is bound by loads from these arrays, and smaller tables keep more of
//! the forest in the first cache levels (8 bytes a node, plus the values).

use super::runtime::order_key;
use super::{list, Emitter};
use crate::forest::Forest;

/// The narrowest unsigned type holding every value below `bound`.
fn index_type(bound: usize) -> &'static str {
    if bound <= usize::from(u16::MAX) + 1 {
        "u16"
    } else {
        "u32"
    }
}

/// Trees grouped for the single-row walk: `lanes` trees at a time, deepest
/// first, so that the trees of a group have (nearly) the same depth and the
/// group's walk, which runs as many steps as its deepest tree, wastes few.
/// A short last group repeats its last tree, which is harmless: the walk
/// writes the same leaf twice.
pub fn tree_groups(depths: &[usize], lanes: usize) -> Vec<(usize, Vec<usize>)> {
    let mut order: Vec<usize> = (0..depths.len()).collect();
    order.sort_by_key(|&t| (std::cmp::Reverse(depths[t]), t));
    order
        .chunks(lanes)
        .map(|chunk| {
            let mut trees = chunk.to_vec();
            let last = *chunk.last().unwrap_or(&0);
            trees.resize(lanes, last);
            (depths[chunk[0]], trees)
        })
        .collect()
}

/// Emits `TREE_OFFSETS`, `TREE_DEPTH`, `TREE_GROUPS` and the node arrays
/// `SELECT`, `THRESHOLD_KEY`, `LEFT`, `VALUES`.
pub(crate) fn emit(out: &mut Emitter<'_>, forest: &Forest) {
    let n_trees = forest.n_trees();
    let n = forest.n_nodes();
    let depths: Vec<usize> = (0..n_trees).map(|t| forest.tree_shape(t).depth).collect();
    let largest_tree = (0..n_trees)
        .map(|t| forest.tree_range(t).len())
        .max()
        .unwrap_or(1);
    let select_ty = index_type(2 * forest.n_features());
    let left_ty = index_type(largest_tree);
    let lanes = out.options().tree_lanes;
    let groups = tree_groups(&depths, lanes);
    let steps: usize = groups.iter().map(|(d, _)| d * lanes).sum();
    let needed: usize = depths.iter().sum();

    out.line(&format!(
        "/// Start of each tree's nodes, then the node count.
pub static TREE_OFFSETS: [u32; N_TREES + 1] = [{offsets}];
/// Each tree's depth: the steps its walk runs.
pub static TREE_DEPTH: [u32; N_TREES] = [{depths}];
/// Trees walked side by side by the single-row walk.
pub const TREE_LANES: usize = {lanes};
/// A group of trees the single-row walk runs together, for `depth` steps.
pub struct TreeGroup {{
    pub depth: u32,
    pub trees: [u32; TREE_LANES],
}}
/// The single-row walk's schedule: trees by decreasing depth, {lanes} at a
/// time. It runs {steps} node steps where the trees' depths add up to
/// {needed}.
pub static TREE_GROUPS: [TreeGroup; {n_groups}] = [
    {groups}
];
",
        offsets = list(forest.tree_offsets(), 16, |o| o.to_string()),
        depths = list(&depths, 16, |d| d.to_string()),
        n_groups = groups.len(),
        groups = list(&groups, 1, |(depth, trees)| format!(
            "TreeGroup {{ depth: {depth}, trees: [{}] }}",
            list(trees, lanes, |t| t.to_string())
        )),
    ));

    let n_features = forest.n_features();
    let select = forest
        .feature()
        .iter()
        .zip(forest.missing_left())
        .map(|(&f, &m)| f as usize + n_features * usize::from(m));
    let select = if select_ty == "u16" {
        out.u16_blob(select.map(|s| s as u16))
    } else {
        out.u32_blob(select.map(|s| s as u32))
    };
    let threshold = out.u32_blob(forest.threshold().iter().map(|&t| order_key(t)));
    let left = if left_ty == "u16" {
        out.u16_blob(forest.left().iter().map(|&l| l as u16))
    } else {
        out.u32_blob(forest.left().iter().copied())
    };
    let values = out.u32_blob(forest.values().iter().map(|v| v.to_bits()));
    out.blob_array(
        "SELECT",
        "Which key of the row each node compares: its feature `f`, plus N_FEATURES when NaN goes left (the key that puts NaN below every number).",
        select_ty,
        n,
        select,
    );
    out.blob_array(
        "THRESHOLD_KEY",
        "Each node's threshold as an order key (+inf, the leaves' threshold, is above every number's key).",
        "u32",
        n,
        threshold,
    );
    out.blob_array(
        "LEFT",
        "Tree-local index of the left child (the node itself for leaves); the right child is the next node.",
        left_ty,
        n,
        left,
    );
    out.blob_array(
        "VALUES",
        "Class distribution of every node, node-major.",
        "f32",
        n * forest.n_classes(),
        values,
    );
    out.line("");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_go_deepest_first_and_pad_with_a_repeat() {
        let groups = tree_groups(&[3, 5, 1, 5, 2], 2);
        assert_eq!(
            groups,
            vec![(5, vec![1, 3]), (3, vec![0, 4]), (1, vec![2, 2])]
        );
        assert_eq!(index_type(65_536), "u16");
        assert_eq!(index_type(65_537), "u32");
    }
}
