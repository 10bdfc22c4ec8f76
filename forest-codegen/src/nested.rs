//! The comparison baseline: one function per tree, a nested if/else per
//! split, as the forest compilers in common use emit.
//!
//! It is exact in the same way as the walk (each split's comparison is
//! written so that NaN falls to the stored side: `x > t` when NaN goes left,
//! `x <= t` when it goes right, both false for NaN) and returns the same
//! leaf, but every split is a real branch: fast when the predictor guesses
//! right, a pipeline flush when it does not, and a large function for the
//! optimiser. It exists to measure the walk against, and is not what the
//! server calls.

use crate::{f32_lit, list, Emitter};
use forest_core::Forest;

/// Emits `pub mod nested` with `TREES` (one `fn` per tree, returning the
/// global index of the leaf reached), `predict_proba` and
/// `predict_proba_batch`.
pub(crate) fn emit(out: &mut Emitter<'_>, forest: &Forest) {
    out.line(
        "/// The nested if/else baseline: one function per tree, a branch per split.
pub mod nested {
use super::{add_leaf, finish, start, N_CLASSES, N_FEATURES, N_TREES};
",
    );
    let mut body = String::new();
    for t in 0..forest.n_trees() {
        body.clear();
        node(&mut body, forest, t, 0, 1);
        out.line(&format!(
            "fn tree_{t}(x: &[f32; N_FEATURES]) -> u32 {{\n{body}}}"
        ));
    }
    let names: Vec<usize> = (0..forest.n_trees()).collect();
    out.line(&format!(
        "/// Every tree's function, in tree order.
pub static TREES: [fn(&[f32; N_FEATURES]) -> u32; N_TREES] = [
    {}
];

/// Class probabilities of one feature vector, summed in tree order.
pub fn predict_proba(x: &[f32; N_FEATURES]) -> [f32; N_CLASSES] {{
    let mut acc = start();
    for tree in &TREES {{
        add_leaf(&mut acc, tree(x) as usize);
    }}
    finish(&acc)
}}

/// [`predict_proba`] for each row, `out[r]` for `rows[r]`.
pub fn predict_proba_batch(rows: &[[f32; N_FEATURES]], out: &mut [[f32; N_CLASSES]]) {{
    for (x, o) in rows.iter().zip(out.iter_mut()) {{
        *o = predict_proba(x);
    }}
}}
}}
",
        list(&names, 12, |t| format!("tree_{t}"))
    ));
}

/// Writes local node `i` of tree `t` as an expression: a leaf's global
/// index, or an if/else over its children. Indented one space per level to
/// keep deep trees' source small.
fn node(s: &mut String, forest: &Forest, t: usize, i: usize, depth: usize) {
    let base = forest.tree_offsets()[t] as usize;
    let g = base + i;
    let pad = " ".repeat(depth);
    let left = forest.left()[g] as usize;
    if left == i {
        s.push_str(&format!("{pad}{g}\n"));
        return;
    }
    let x = format!("x[{}]", forest.feature()[g]);
    let threshold = f32_lit(forest.threshold()[g]);
    // The first branch taken when the test holds; NaN fails both tests and
    // takes the second, which is the side missing_left names.
    let (test, first, second) = if forest.missing_left()[g] == 1 {
        (format!("{x} > {threshold}"), left + 1, left)
    } else {
        (format!("{x} <= {threshold}"), left, left + 1)
    };
    s.push_str(&format!("{pad}if {test} {{\n"));
    node(s, forest, t, first, depth + 1);
    let second_is_leaf = forest.left()[base + second] as usize == second;
    if second_is_leaf {
        s.push_str(&format!("{pad}}} else {{\n"));
        node(s, forest, t, second, depth + 1);
        s.push_str(&format!("{pad}}}\n"));
    } else {
        // `else if` rather than `else { if }`: same meaning, flatter source.
        s.push_str(&format!("{pad}}} else "));
        let mut nested = String::new();
        node(&mut nested, forest, t, second, depth);
        s.push_str(nested.trim_start());
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::{brace_balance, small_model};
    use crate::{emit, EmitOptions};

    #[test]
    fn splits_become_nested_ifs_with_nan_on_the_stored_side() {
        let options = EmitOptions {
            nested_baseline: true,
            ..EmitOptions::default()
        };
        let s = emit(&small_model(), &options).unwrap().source;
        // Node 0: NaN goes right, so the test is `<=`; node 2: NaN goes
        // left, so the test is `>` and the right child comes first.
        let expected = "fn tree_0(x: &[f32; N_FEATURES]) -> u32 {
 if x[0] <= 0.5 {
  1
 } else if x[1] > -2.0 {
  4
 } else {
  3
 }
}";
        assert!(s.contains(expected), "{s}");
        assert!(s.contains("fn tree_1(x: &[f32; N_FEATURES]) -> u32 {\n 5\n}"));
        assert_eq!(brace_balance(&s), 0);
    }

    #[test]
    fn the_baseline_is_left_out_by_default() {
        let s = emit(&small_model(), &EmitOptions::default())
            .unwrap()
            .source;
        assert!(!s.contains("pub mod nested"));
        assert!(!s.contains("fn tree_0"));
        assert_eq!(brace_balance(&s), 0);
    }
}
