//! The forest's structure-of-arrays as static tables, and the schedule in
//! which the single-row walk visits the trees.
//!
//! Each node becomes two adjacent 32-bit words in `NODES`, in one cache
//! line, and a step of the walk reads nothing else but the row's key:
//!
//! * `NODES[2g]`: [`order_key`]`(threshold)`, an integer that sorts like
//!   the float (a leaf's `+inf` is above every number's key);
//! * `NODES[2g + 1]`, the link: `offset << SELECT_BITS | select`, where
//!   `select = feature + N_FEATURES * missing_left` picks which of the
//!   row's two key vectors the node reads (NaN above every number, so NaN
//!   goes right, or below, so NaN goes left), and `offset = left - node`
//!   is how far ahead the left child lies (the right child is the next
//!   node). Children come after their parent, so the offset is positive;
//!   a leaf's is 0, which keeps a finished walk in place.
//!
//! `SELECT_BITS` is 8 (16 past 128 features), so select is the link's low
//! byte, one zero-extending move; relative offsets let a walk carry one
//! global node index and nothing else (no per-tree base to add), so many
//! interleaved walks fit in registers. The step is then six instructions.
//! `VALUES` keeps one class distribution per node. Nodes keep the
//! artifact's depth-first order: a subtree's nodes lie together, so the
//! lower part of a path stays within a few cache lines (measured: a
//! breadth-first layout made the single-row walk 15% slower).

use crate::{list, Emitter};
use forest_core::compiled::order_key;
use forest_core::Forest;
use forest_core::ModelError;

/// Bits the link of a node gives to `select`, for a model with
/// `n_features` features (selects run below `2 * n_features`): a whole byte
/// (or two), so that the walk reads select with one zero-extending move.
/// `None` past 32,768 features.
pub fn select_bits(n_features: usize) -> Option<u32> {
    match 2 * n_features {
        0..=256 => Some(8),
        257..=65_536 => Some(16),
        _ => None,
    }
}

/// A node's two words, threshold key and link (see the module docs), or
/// `None` when the child offset does not fit beside the select bits.
pub fn node_words(
    threshold: f32,
    select: usize,
    offset: usize,
    select_bits: u32,
) -> Option<[u32; 2]> {
    let link = u32::try_from(offset)
        .ok()
        .and_then(|o| o.checked_shl(select_bits))
        .filter(|l| (l >> select_bits) as usize == offset)?;
    Some([order_key(threshold), link | select as u32])
}

/// At most `max_lanes` trees a group, as evenly spread as the group count
/// allows: 100 trees walk as 7 groups of 15 rather than 6 of 16 and one of
/// 4 padded to 16, which would repeat 12 walks for nothing.
pub fn balanced_lanes(n_trees: usize, max_lanes: usize) -> usize {
    let groups = n_trees.div_ceil(max_lanes).max(1);
    n_trees.div_ceil(groups).max(1)
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

/// Emits `TREE_OFFSETS`, `TREE_DEPTH`, `TREE_GROUPS`, `SELECT_BITS`,
/// `SELECT_MASK` and the node tables `NODES` and `VALUES`. Fails only for a
/// tree too large for the link (2^24 nodes; 2^16 past 128 features).
pub(crate) fn emit(out: &mut Emitter<'_>, forest: &Forest) -> Result<(), ModelError> {
    let n_trees = forest.n_trees();
    let n = forest.n_nodes();
    let depths: Vec<usize> = (0..n_trees).map(|t| forest.tree_shape(t).depth).collect();
    let lanes = balanced_lanes(n_trees, out.options().tree_lanes);
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
    let bits = select_bits(n_features).ok_or_else(|| {
        ModelError::Invalid(format!(
            "{n_features} features: a compiled model reads at most 32,768"
        ))
    })?;
    let mut words = Vec::with_capacity(2 * n);
    for t in 0..n_trees {
        let range = forest.tree_range(t);
        for (i, g) in range.clone().enumerate() {
            let select =
                forest.feature()[g] as usize + n_features * usize::from(forest.missing_left()[g]);
            let offset = forest.left()[g] as usize - i;
            let pair =
                node_words(forest.threshold()[g], select, offset, bits).ok_or_else(|| {
                    ModelError::Invalid(format!(
                        "tree {t} has {} nodes: with {n_features} features a compiled tree \
                         holds at most {} (the node link); train smaller trees",
                        range.len(),
                        (1u64 << (32 - bits)) - 1
                    ))
                })?;
            words.extend(pair);
        }
    }
    out.line(&format!(
        "/// Low bits of a node's link: which key of the row it compares.
pub const SELECT_BITS: u32 = {bits};
/// Mask of those bits.
pub const SELECT_MASK: usize = {mask};",
        mask = (1u64 << bits) - 1
    ));
    let nodes = out.int_blob(words.into_iter(), u32::to_le_bytes, u32::to_be_bytes);
    let values = out.int_blob(
        forest.values().iter().map(|v| v.to_bits()),
        u32::to_le_bytes,
        u32::to_be_bytes,
    );
    out.blob_array(
        "NODES",
        "Two words per node: the threshold's order key, then the link (left-child offset << SELECT_BITS | select).",
        "u32",
        2 * n,
        nodes,
    );
    out.blob_array(
        "VALUES",
        "Class distribution of every node, node-major.",
        "f32",
        n * forest.n_classes(),
        values,
    );
    out.line("");
    Ok(())
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
    }

    #[test]
    fn lanes_spread_trees_evenly() {
        assert_eq!(balanced_lanes(100, 16), 15);
        assert_eq!(balanced_lanes(96, 16), 16);
        assert_eq!(balanced_lanes(500, 16), 16);
        assert_eq!(balanced_lanes(3, 16), 3);
        assert_eq!(balanced_lanes(0, 16), 1);
    }

    #[test]
    fn node_words_pack_key_select_and_offset() {
        assert_eq!(select_bits(1), Some(8));
        assert_eq!(select_bits(128), Some(8));
        assert_eq!(select_bits(129), Some(16));
        assert_eq!(select_bits(32_769), None);
        let [key, link] = node_words(0.5, 5, 3, 8).unwrap();
        assert_eq!(key, order_key(0.5));
        assert_eq!(link & 0xFF, 5);
        assert_eq!(link >> 8, 3);
        assert!(node_words(0.5, 5, (1 << 24) - 1, 8).is_some());
        assert!(node_words(0.5, 5, 1 << 24, 8).is_none());
    }
}
