//! The branch-free walk: the heart of the compiled model.
//!
//! At every step a tree's next node is computed, not chosen:
//!
//! ```text
//! next = g + offset(g) + (key[select(g)] > threshold_key(g))
//! ```
//!
//! which is the interpreter's split rule, `left + ((x > t) | (x.is_nan() &
//! !missing_left))`, in integers. Before walking, the row's values become
//! order keys ([`super::runtime::order_key`]: integers that sort as the
//! floats do), twice: once with NaN above every number, once with NaN below.
//! A node that sends NaN right reads the first copy, one that sends NaN left
//! the second (select = feature, or feature + N_FEATURES), and a single
//! unsigned comparison then gives the split rule exactly, NaN and all. The
//! float form costs three comparisons and two logic operations per step;
//! this one step is six instructions.
//!
//! The comparison becomes a flag, the flag an integer, and the integer part
//! of an address: no instruction's execution depends on which way a row
//! goes, so nothing can mispredict. A leaf's threshold key is that of `+inf`,
//! it reads the NaN-below copy and its child offset is 0, so no key exceeds
//! it and a finished walk stays in place: each tree simply runs its depth in
//! steps.
//!
//! A node is two adjacent words (threshold key, and a link holding select
//! and the left child's offset; see [`super::tables`]). What bounds the walk
//! is the chain of dependent loads in each walk: node, then the row's key,
//! then the next node. So walks run side by side: for one row,
//! `TREE_LANES` trees at a time (up to 16, spread evenly over the groups:
//! measured here, 8 lanes leave the core waiting and 24 spill registers);
//! for a batch, [`ROW_LANES`] rows through the same tree (whose nodes stay
//! in cache), in blocks of rows whose keys stay in cache while every tree
//! visits them. The emitted
//! source is a template: one walk over the static tables, the same for
//! every model, which is why it compiles in no time.
//!
//! [`ROW_LANES`]: super::EmitOptions::row_lanes

use forest_core::{Ensemble, Link, Precision};

use crate::Emitter;

/// Marks the start of the emitted walk in the source; [`check_branch_free`]
/// reads what lies between the markers.
pub const BEGIN: &str = "// ---- BEGIN BRANCH-FREE WALK ----";
/// Marks the end of the emitted walk.
pub const END: &str = "// ---- END BRANCH-FREE WALK ----";

/// Rows per cache block in batch prediction: every tree visits the whole
/// block before the next tree starts, so a tree's nodes come from memory
/// once per block. The block's keys (8 bytes per feature per row) should
/// fit in the second-level cache beside one tree's nodes: 256 KiB of keys.
/// (Sized for the first-level cache instead, a 500-tree forest whose trees
/// outgrow it streamed every tree from memory once per 80 rows, at half
/// the rows per second measured with the larger block.)
fn row_block(n_features: usize, row_lanes: usize) -> usize {
    let rows = (256 * 1024 / (8 * n_features.max(1))).clamp(row_lanes, 4096);
    rows - rows % row_lanes
}

/// The accumulator of the emitted walk for `ensemble`: its element type,
/// and the bodies of `start()` and `finish(acc)`, which call forest-core's
/// own [`forest_core::SumView`] for sums (so the arithmetic is the
/// interpreter's).
fn accumulator(ensemble: &Ensemble, core: &str) -> (String, String, String) {
    match ensemble {
        Ensemble::Average => (
            "f32".into(),
            "[0.0; N_CLASSES]".into(),
            "let mut out = *acc;\n    for a in out.iter_mut() {\n        *a /= N_TREES as f32;\n    }\n    out".into(),
        ),
        Ensemble::Sum(sum) => {
            let f64_sums = sum.precision == Precision::F64;
            let acc = if f64_sums { "f64" } else { "f32" };
            let start = if f64_sums {
                "[0.0; N_CLASSES]".to_string()
            } else {
                "let mut acc = [0.0f32; N_CLASSES];\n    ENSEMBLE.start(&mut acc);\n    acc".to_string()
            };
            let finish = format!(
                "let mut out = [0.0f32; N_CLASSES];\n    ENSEMBLE.finish_{acc}(acc, &mut out);\n    out"
            );
            let _ = core;
            (acc.into(), start, finish)
        }
    }
}

/// The `ENSEMBLE` constant of a sum ensemble (nothing for the average).
fn ensemble_const(ensemble: &Ensemble, core: &str) -> String {
    let Ensemble::Sum(sum) = ensemble else {
        return String::new();
    };
    let base = sum
        .base
        .iter()
        .map(|b| format!("f64::from_bits({:#018x})", b.to_bits()))
        .collect::<Vec<_>>()
        .join(", ");
    let precision = match sum.precision {
        Precision::F64 => "F64",
        Precision::F32BaseFirst => "F32BaseFirst",
        Precision::F32BaseLast => "F32BaseLast",
    };
    let link = match sum.link {
        Link::Identity => format!("{core}::Link::Identity"),
        Link::Complement => format!("{core}::Link::Complement"),
        Link::Softmax => format!("{core}::Link::Softmax"),
        Link::Logistic { scale } => format!(
            "{core}::Link::Logistic {{ scale: f64::from_bits({:#018x}) }}",
            scale.to_bits()
        ),
    };
    format!(
        "/// How the trees' sums become probabilities (forest-core's arithmetic).\n\
         pub const ENSEMBLE: {core}::SumView<'static> = {core}::SumView {{\n    \
         base: &[{base}],\n    \
         divisor: f64::from_bits({:#018x}),\n    \
         precision: {core}::Precision::{precision},\n    \
         link: {link},\n}};\n",
        sum.divisor.to_bits()
    )
}

/// Emits `predict_proba`, `predict_proba_batch` and `leaves`, the walk they
/// share, between [`BEGIN`] and [`END`].
pub(crate) fn emit(out: &mut Emitter<'_>, n_features: usize, ensemble: &Ensemble) {
    let core = out.options().core_path.clone();
    out.line(&ensemble_const(ensemble, &core));
    let (acc_type, start, finish) = accumulator(ensemble, &core);
    let row_lanes = out.options().row_lanes;
    let row_block = row_block(n_features, row_lanes);
    out.line(BEGIN);
    out.line(&format!(
        r#"/// Rows walked side by side through one tree in batch prediction.
pub const ROW_LANES: usize = {row_lanes};
/// Rows per block in batch prediction.
const ROW_BLOCK: usize = {row_block};
/// A row as the walk reads it: [`keys`] of its values.
type Keys = [u32; 2 * N_FEATURES];

/// The walk's view of a row: each value's order key (an integer that sorts
/// as the float does; -0.0 keyed as +0.0) with NaN as `u32::MAX` in the
/// first half, above every number, and as `0` in the second half, below
/// every number. See `forest_core::compiled::row_keys`.
#[inline(always)]
fn keys(x: &[f32; N_FEATURES], keys: &mut Keys) {{
    let (high, low) = keys.split_at_mut(N_FEATURES);
    for ((&v, h), l) in x.iter().zip(high).zip(low) {{
        let b = (v + 0.0).to_bits();
        let key = b ^ ((((b as i32) >> 31) as u32) | 0x8000_0000);
        let nan = 0u32.wrapping_sub(v.is_nan() as u32);
        *h = key | nan;
        *l = key & !nan;
    }}
}}

/// One step of a walk: from global node `g` to the child the row goes to
/// (or to `g` itself, at a leaf).
#[inline(always)]
fn step(g: usize, k: &Keys) -> usize {{
    // SAFETY: the tables come from a forest that passed `Forest::new`, so
    // `g` stays inside its tree (a walk starts at a root, a split sends it
    // to one of its children, a leaf keeps it in place) and a link's select
    // (feature + N_FEATURES * missing_left) is below 2 * N_FEATURES.
    let (threshold, link) = unsafe {{
        (*NODES.get_unchecked(2 * g), *NODES.get_unchecked(2 * g + 1) as usize)
    }};
    // SAFETY: as above.
    let right = unsafe {{ *k.get_unchecked(link & SELECT_MASK) }} > threshold;
    g + (link >> SELECT_BITS) + right as usize
}}

/// The sums' element type: the interpreter's for this ensemble.
type Acc = {acc_type};

/// The sums before the first tree.
#[inline(always)]
fn start() -> [Acc; N_CLASSES] {{
    {start}
}}

/// Adds the leaf values of global node `g` to `acc`.
#[inline(always)]
fn add_leaf(acc: &mut [Acc; N_CLASSES], g: usize) {{
    for (a, v) in acc.iter_mut().zip(&VALUES[g * N_CLASSES..(g + 1) * N_CLASSES]) {{
        *a += *v as Acc;
    }}
}}

/// The probabilities, after all trees were added in tree order, as the
/// interpreter computes them.
#[inline(always)]
fn finish(acc: &[Acc; N_CLASSES]) -> [f32; N_CLASSES] {{
    {finish}
}}

/// The global index of the leaf each tree sends `x` to, written to
/// `out[tree]`. Trees run [`TREE_LANES`] at a time, as scheduled in
/// `TREE_GROUPS`, their walks interleaved step by step.
pub fn leaves(x: &[f32; N_FEATURES], out: &mut [u32; N_TREES]) {{
    let mut k = [0u32; 2 * N_FEATURES];
    keys(x, &mut k);
    for group in &TREE_GROUPS {{
        let mut at = [0usize; TREE_LANES];
        for (g, &t) in at.iter_mut().zip(&group.trees) {{
            *g = TREE_OFFSETS[t as usize] as usize;
        }}
        for _ in 0..group.depth {{
            for g in at.iter_mut() {{
                *g = step(*g, &k);
            }}
        }}
        for (&t, &g) in group.trees.iter().zip(&at) {{
            out[t as usize] = g as u32;
        }}
    }}
}}

/// Class probabilities of one feature vector: the leaves' distributions
/// summed in tree order, then divided by the tree count.
pub fn predict_proba(x: &[f32; N_FEATURES]) -> [f32; N_CLASSES] {{
    let mut leaf = [0u32; N_TREES];
    leaves(x, &mut leaf);
    let mut acc = start();
    for &g in &leaf {{
        add_leaf(&mut acc, g as usize);
    }}
    finish(&acc)
}}

/// Class probabilities of a batch, `out[r]` for `rows[r]` (as far as the
/// shorter of the two goes). Equal, bit for bit, to [`predict_proba`] on
/// each row: every row still sums its trees in tree order.
pub fn predict_proba_batch(rows: &[[f32; N_FEATURES]], out: &mut [[f32; N_CLASSES]]) {{
    let mut block = vec![[0u32; 2 * N_FEATURES]; ROW_BLOCK];
    let mut sums = vec![start(); ROW_BLOCK];
    for (rows, out) in rows.chunks(ROW_BLOCK).zip(out.chunks_mut(ROW_BLOCK)) {{
        for ((x, k), acc) in rows.iter().zip(block.iter_mut()).zip(sums.iter_mut()) {{
            keys(x, k);
            *acc = start();
        }}
        let block = &block[..rows.len()];
        let sums = &mut sums[..rows.len()];
        for t in 0..N_TREES {{
            let root = TREE_OFFSETS[t] as usize;
            let depth = TREE_DEPTH[t];
            let mut ks = block.chunks_exact(ROW_LANES);
            let mut accs = sums.chunks_exact_mut(ROW_LANES);
            for (ks, accs) in (&mut ks).zip(&mut accs) {{
                let ks: [&Keys; ROW_LANES] = ::core::array::from_fn(|r| &ks[r]);
                let mut at = [root; ROW_LANES];
                for _ in 0..depth {{
                    for (g, k) in at.iter_mut().zip(ks) {{
                        *g = step(*g, k);
                    }}
                }}
                for (acc, &g) in accs.iter_mut().zip(&at) {{
                    add_leaf(acc, g);
                }}
            }}
            for (k, acc) in ks.remainder().iter().zip(accs.into_remainder()) {{
                let mut g = root;
                for _ in 0..depth {{
                    g = step(g, k);
                }}
                add_leaf(acc, g);
            }}
        }}
        for (o, acc) in out.iter_mut().zip(sums.iter()) {{
            *o = finish(acc);
        }}
    }}
}}"#
    ));
    out.line(END);
    out.line("");
}

/// Words that would make the walk branch (or select) on a value.
const FORBIDDEN_WORDS: [&str; 14] = [
    "if",
    "else",
    "match",
    "while",
    "loop",
    "break",
    "continue",
    "return",
    "then",
    "then_some",
    "min",
    "max",
    "clamp",
    "select_unpredictable",
];
/// Operators that branch: short-circuit logic and early return.
const FORBIDDEN_OPERATORS: [&str; 3] = ["&&", "||", "?"];

/// Checks that the walk in an emitted module has no branch on a feature
/// value: between the `BEGIN BRANCH-FREE WALK` and `END` markers, with comments removed, no
/// conditional keyword, short-circuit operator or selecting method appears,
/// and the step computes the child index from the comparison. (`for` loops
/// remain: they count steps, trees and rows, never look at a value.)
pub fn check_branch_free(source: &str) -> Result<(), String> {
    let start = source
        .find(BEGIN)
        .ok_or("the source has no walk start marker")?;
    let end = source[start..]
        .find(END)
        .ok_or("the source has no walk end marker")?;
    let code: String = source[start..start + end]
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    if code.contains('"') {
        return Err("the walk holds a string literal, which this check cannot read past".into());
    }
    for op in FORBIDDEN_OPERATORS {
        if let Some(at) = code.find(op) {
            return Err(format!("the walk uses `{op}`: ...{}", context(&code, at)));
        }
    }
    let mut offset = 0;
    for word in code.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
        if FORBIDDEN_WORDS.contains(&word) {
            return Err(format!(
                "the walk uses `{word}`: ...{}",
                context(&code, offset)
            ));
        }
        offset += word.len() + 1;
    }
    let squeezed: String = code.split_whitespace().collect();
    for needed in [
        "fnstep(",
        "letright=unsafe{*k.get_unchecked(link&SELECT_MASK)}>threshold;",
        "g+(link>>SELECT_BITS)+rightasusize",
        "*NODES.get_unchecked(2*g)",
        "*NODES.get_unchecked(2*g+1)",
    ] {
        if !squeezed.contains(needed) {
            return Err(format!("the walk lacks `{needed}`"));
        }
    }
    Ok(())
}

fn context(code: &str, at: usize) -> String {
    let from = code.floor_char_boundary_compat(at.saturating_sub(40));
    let to = code.floor_char_boundary_compat((at + 40).min(code.len()));
    code[from..to].replace('\n', " ")
}

/// `str::floor_char_boundary` is not stable on the crate's minimum Rust.
trait FloorBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}

impl FloorBoundary for str {
    fn floor_char_boundary_compat(&self, mut i: usize) -> usize {
        while !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::small_model;
    use crate::{emit as emit_all, EmitOptions};

    fn source() -> String {
        emit_all(&small_model(), &EmitOptions::default())
            .unwrap()
            .source
    }

    #[test]
    fn the_emitted_walk_is_branch_free() {
        check_branch_free(&source()).unwrap();
    }

    #[test]
    fn the_check_catches_branches() {
        let s = source();
        let step = "let right = unsafe { *k.get_unchecked(link & SELECT_MASK) } > threshold;";
        assert!(s.contains(step));
        for bad in [
            "if right { return 0; }",
            "let right = match right { _ => right };",
            "let q = right || threshold > 1;",
            "let left = if right { left } else { 0 };",
            "let w = threshold.max(0);",
            "let w = right.then(|| 1);",
            "let w = k.get(select).copied()?;",
        ] {
            let broken = s.replacen(step, &format!("{step}\n    {bad}"), 1);
            assert!(check_branch_free(&broken).is_err(), "missed: {bad}");
        }
        // A comment may say anything.
        let commented = s.replacen(step, &format!("{step} // if x, else y"), 1);
        check_branch_free(&commented).unwrap();
        // Dropping the arithmetic rule is caught too.
        let rewritten = s.replacen("g + (link >> SELECT_BITS) + right as usize", "g", 1);
        assert!(check_branch_free(&rewritten).is_err());
        assert!(check_branch_free("fn main() {}").is_err());
    }
}
