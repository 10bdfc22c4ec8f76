//! Single-row walks of the approved model, each checked leaf for leaf
//! against the interleaved scalar walk that `forest-codegen` emits and
//! timed beside it in one process: the record of what was tried to bring
//! the walk under half a microsecond (issue 18) and set aside.
//!
//! ```sh
//! cargo run --release --manifest-path benches/walk_variants/Cargo.toml [-- MODEL]
//! ```
//!
//! Variants (node layout and keys as in `forest-codegen/src/tables.rs`):
//!
//! * `scalar-N`: N trees side by side, one step each in turn, every tree
//!   to its group's depth: the emitted walk (N = 15 for 100 trees).
//! * `prefetch-N`: the emitted step, but each step also prefetches the
//!   left child's node (the right one is the next node, on the same cache
//!   line as a rule) before the row's key is compared: tests whether the
//!   walk waits on the second-level cache (the approved model's nodes,
//!   428 KB, do not fit the first).
//! * `wide-15`: the emitted step reading a node's two words as one 64-bit
//!   load: one load fewer a step, a shift more.
//! * `avx2-gather`: 16 trees as two 8-lane vectors; each step gathers the
//!   nodes' thresholds and links and the row's keys (three gathers).
//! * `avx512-gather`: the same in one 16-lane vector.
//! * `compact`: 7 steps for every tree, then only the walks not yet at a
//!   leaf (gathered into a list without a branch) 2 more, then 3 more.
//! * `avx512-top4`: the top 4 levels of 16 trees at once in vector
//!   registers (the row's keys are permuted, not gathered; a level's
//!   thresholds picked per lane by masked loads), the rest scalar.
//!
//! Rows are feature vectors made of the model's own thresholds, nudged,
//! one after another (as `benches/predict.rs` makes them), so no branch
//! predictor or cache learns a path. Only the walk is timed: keys are
//! computed once per row beforehand, leaves are not summed.

use std::time::Instant;

use forest_core::compiled::{order_key, row_keys};
use forest_core::splitmix::SplitMix64;
use forest_core::Forest;

/// Rows cycled through.
const ROWS: usize = 1024;
/// Passes over the rows per measurement.
const PASSES: usize = 200;

/// The emitted walk's tables: two words per node (threshold key; link =
/// left-child offset << 8 | select), for up to 128 features.
struct Tables {
    nodes: Vec<u32>,
    roots: Vec<usize>,
    depths: Vec<usize>,
}

impl Tables {
    fn new(forest: &Forest) -> Tables {
        let n_features = forest.n_features();
        assert!(
            2 * n_features <= 256,
            "this program reads up to 128 features"
        );
        let mut t = Tables {
            nodes: Vec::new(),
            roots: Vec::new(),
            depths: Vec::new(),
        };
        for tree in 0..forest.n_trees() {
            let range = forest.tree_range(tree);
            t.roots.push(range.start);
            t.depths.push(forest.tree_shape(tree).depth);
            for (i, g) in range.enumerate() {
                let select = forest.feature()[g] as usize
                    + n_features * usize::from(forest.missing_left()[g]);
                let offset = forest.left()[g] as usize - i;
                t.nodes.push(order_key(forest.threshold()[g]));
                t.nodes.push((offset as u32) << 8 | select as u32);
            }
        }
        t
    }

    #[inline(always)]
    fn step(&self, g: usize, keys: &[u32]) -> usize {
        // SAFETY: a walk stays inside its tree (see forest-codegen), and a
        // select is below 2 * n_features = keys.len().
        unsafe {
            let threshold = *self.nodes.get_unchecked(2 * g);
            let link = *self.nodes.get_unchecked(2 * g + 1) as usize;
            let right = *keys.get_unchecked(link & 255) > threshold;
            g + (link >> 8) + right as usize
        }
    }

    #[inline(always)]
    fn step_prefetch(&self, g: usize, keys: &[u32]) -> usize {
        // SAFETY: as in `step`.
        unsafe {
            let threshold = *self.nodes.get_unchecked(2 * g);
            let link = *self.nodes.get_unchecked(2 * g + 1) as usize;
            let left = g + (link >> 8);
            #[cfg(target_arch = "x86_64")]
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                self.nodes.as_ptr().add(2 * left) as *const i8,
            );
            let right = *keys.get_unchecked(link & 255) > threshold;
            left + right as usize
        }
    }

    #[inline(always)]
    fn step_wide(&self, g: usize, keys: &[u32]) -> usize {
        // SAFETY: as in `step`; a node's two words are one aligned u64.
        unsafe {
            let word = *(self.nodes.as_ptr() as *const u64).add(g);
            let threshold = word as u32;
            let link = (word >> 32) as usize;
            let right = *keys.get_unchecked(link & 255) > threshold;
            g + (link >> 8) + right as usize
        }
    }

    fn is_leaf(&self, g: usize) -> bool {
        self.nodes[2 * g + 1] >> 8 == 0
    }
}

/// The emitted walk: `N` trees at a time, spread evenly over the groups.
fn scalar<const N: usize>(t: &Tables, keys: &[u32], out: &mut [u32]) {
    scalar_with::<N>(t, keys, out, Tables::step)
}

/// [`scalar`] with another step.
fn scalar_with<const N: usize>(
    t: &Tables,
    keys: &[u32],
    out: &mut [u32],
    step: impl Fn(&Tables, usize, &[u32]) -> usize,
) {
    let n = t.roots.len();
    let groups = n.div_ceil(N);
    let per = n.div_ceil(groups);
    let mut first = 0;
    while first < n {
        let m = (n - first).min(per);
        let mut at = [0usize; N];
        for (l, g) in at.iter_mut().enumerate() {
            *g = t.roots[first + l.min(m - 1)];
        }
        let depth = (first..first + m).map(|i| t.depths[i]).max().unwrap_or(0);
        for _ in 0..depth {
            for g in at.iter_mut() {
                *g = step(t, *g, keys);
            }
        }
        for l in 0..m {
            out[first + l] = at[l] as u32;
        }
        first += m;
    }
}

/// Walks the trees listed in `walks` (indices into `out`, which holds each
/// walk's node) `steps` more steps, `N` at a time; the list is padded with
/// its last entry to a multiple of `N`.
fn continue_walks<const N: usize>(
    t: &Tables,
    keys: &[u32],
    out: &mut [u32],
    walks: &mut [u8; 256],
    len: usize,
    steps: usize,
) {
    let padded = len.div_ceil(N) * N;
    let last = walks[len.max(1) - 1];
    walks[len..padded].fill(last);
    for chunk in walks[..padded].chunks_exact(N) {
        let mut at = [0usize; N];
        for (g, &w) in at.iter_mut().zip(chunk) {
            *g = out[w as usize] as usize;
        }
        for _ in 0..steps {
            for g in at.iter_mut() {
                *g = t.step(*g, keys);
            }
        }
        for (&g, &w) in at.iter().zip(chunk) {
            out[w as usize] = g as u32;
        }
    }
}

/// Keeps the walks of `walks[..len]` not yet at a leaf, without a branch.
fn unfinished(t: &Tables, out: &[u32], walks: &mut [u8; 256], len: usize) -> usize {
    let mut kept = 0;
    for i in 0..len {
        let w = walks[i];
        walks[kept] = w;
        kept += usize::from(!t.is_leaf(out[w as usize] as usize));
    }
    kept
}

/// 7 steps for all, then 2 and 3 more for the unfinished (depth 12).
fn compact(t: &Tables, keys: &[u32], out: &mut [u32]) {
    let n = t.roots.len();
    assert!(n <= 256 && t.depths.iter().all(|&d| d <= 12));
    for (o, &r) in out.iter_mut().zip(&t.roots) {
        *o = r as u32;
    }
    let mut walks = [0u8; 256];
    for (i, w) in walks.iter_mut().enumerate().take(n) {
        *w = i as u8;
    }
    let mut len = n;
    for steps in [7, 2, 3] {
        continue_walks::<16>(t, keys, out, &mut walks, len, steps);
        len = unfinished(t, out, &mut walks, len);
    }
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    use super::Tables;

    /// The same tables as separate threshold and link arrays, for gathers.
    pub struct Split {
        pub thresholds: Vec<i32>,
        pub links: Vec<i32>,
    }

    impl Split {
        pub fn new(t: &Tables) -> Split {
            Split {
                thresholds: t.nodes.iter().step_by(2).map(|&w| w as i32).collect(),
                links: t
                    .nodes
                    .iter()
                    .skip(1)
                    .step_by(2)
                    .map(|&w| w as i32)
                    .collect(),
            }
        }
    }

    fn lanes(t: &Tables, first: usize) -> ([i32; 16], usize, usize) {
        let n = t.roots.len();
        let m = (n - first).min(16);
        let roots = std::array::from_fn(|l| t.roots[first + l.min(m - 1)] as i32);
        let depth = (first..first + m).map(|i| t.depths[i]).max().unwrap_or(0);
        (roots, m, depth)
    }

    /// Two 8-lane vectors, three gathers each a step.
    #[target_feature(enable = "avx2")]
    pub unsafe fn avx2_gather(t: &Tables, s: &Split, keys: &[u32], out: &mut [u32]) {
        let select = _mm256_set1_epi32(255);
        let sign = _mm256_set1_epi32(i32::MIN);
        let key_base = keys.as_ptr() as *const i32;
        let mut first = 0;
        while first < t.roots.len() {
            let (mut at, m, depth) = lanes(t, first);
            let mut g0 = _mm256_loadu_si256(at.as_ptr() as *const __m256i);
            let mut g1 = _mm256_loadu_si256(at.as_ptr().add(8) as *const __m256i);
            for _ in 0..depth {
                let t0 = _mm256_i32gather_epi32::<4>(s.thresholds.as_ptr(), g0);
                let t1 = _mm256_i32gather_epi32::<4>(s.thresholds.as_ptr(), g1);
                let l0 = _mm256_i32gather_epi32::<4>(s.links.as_ptr(), g0);
                let l1 = _mm256_i32gather_epi32::<4>(s.links.as_ptr(), g1);
                let k0 = _mm256_i32gather_epi32::<4>(key_base, _mm256_and_si256(l0, select));
                let k1 = _mm256_i32gather_epi32::<4>(key_base, _mm256_and_si256(l1, select));
                // Unsigned `key > threshold` as a signed compare of both
                // with the sign bit flipped; true lanes are -1.
                let r0 = _mm256_cmpgt_epi32(_mm256_xor_si256(k0, sign), _mm256_xor_si256(t0, sign));
                let r1 = _mm256_cmpgt_epi32(_mm256_xor_si256(k1, sign), _mm256_xor_si256(t1, sign));
                g0 = _mm256_sub_epi32(_mm256_add_epi32(g0, _mm256_srli_epi32::<8>(l0)), r0);
                g1 = _mm256_sub_epi32(_mm256_add_epi32(g1, _mm256_srli_epi32::<8>(l1)), r1);
            }
            _mm256_storeu_si256(at.as_mut_ptr() as *mut __m256i, g0);
            _mm256_storeu_si256(at.as_mut_ptr().add(8) as *mut __m256i, g1);
            for l in 0..m {
                out[first + l] = at[l] as u32;
            }
            first += m;
        }
    }

    /// One 16-lane vector, three gathers a step.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn avx512_gather(t: &Tables, s: &Split, keys: &[u32], out: &mut [u32]) {
        let select = _mm512_set1_epi32(255);
        let one = _mm512_set1_epi32(1);
        let key_base = keys.as_ptr() as *const i32;
        let mut first = 0;
        while first < t.roots.len() {
            let (mut at, m, depth) = lanes(t, first);
            let mut g = _mm512_loadu_si512(at.as_ptr() as *const __m512i);
            for _ in 0..depth {
                let th = _mm512_i32gather_epi32::<4>(g, s.thresholds.as_ptr());
                let link = _mm512_i32gather_epi32::<4>(g, s.links.as_ptr());
                let key = _mm512_i32gather_epi32::<4>(_mm512_and_si512(link, select), key_base);
                let right = _mm512_cmpgt_epu32_mask(key, th);
                g = _mm512_add_epi32(g, _mm512_srli_epi32::<8>(link));
                g = _mm512_mask_add_epi32(g, right, g, one);
            }
            _mm512_storeu_si512(at.as_mut_ptr() as *mut __m512i, g);
            for l in 0..m {
                out[first + l] = at[l] as u32;
            }
            first += m;
        }
    }

    /// Levels decided in vector registers before the scalar walk.
    pub const TOP: usize = 4;

    /// Per group of 16 trees, the top `TOP` levels as a complete tree
    /// (a leaf above the last level stands in for all its virtual
    /// descendants: threshold +inf, so every key goes left), one vector per
    /// virtual node, and where each virtual node of level `TOP` is.
    pub struct Top {
        groups: Vec<[usize; 16]>,
        thresholds: Vec<[u32; 16]>,
        selects: Vec<[u32; 16]>,
        below: Vec<[u32; 16]>,
    }

    impl Top {
        pub fn new(t: &Tables) -> Top {
            let n = t.roots.len();
            let inner = (1 << TOP) - 1;
            let mut top = Top {
                groups: Vec::new(),
                thresholds: Vec::new(),
                selects: Vec::new(),
                below: Vec::new(),
            };
            for first in (0..n).step_by(16) {
                let trees: [usize; 16] = std::array::from_fn(|l| (first + l).min(n - 1));
                let mut thresholds = vec![[0u32; 16]; inner];
                let mut selects = vec![[0u32; 16]; inner];
                let mut below = vec![[0u32; 16]; 1 << TOP];
                for (l, &tree) in trees.iter().enumerate() {
                    let mut level = vec![t.roots[tree]];
                    for d in 0..TOP {
                        let mut next = Vec::new();
                        for (v, &g) in level.iter().enumerate() {
                            let at = (1 << d) - 1 + v;
                            let link = t.nodes[2 * g + 1] as usize;
                            if t.is_leaf(g) {
                                thresholds[at][l] = order_key_inf();
                                selects[at][l] = (link & 255) as u32;
                                next.extend([g, g]);
                            } else {
                                thresholds[at][l] = t.nodes[2 * g];
                                selects[at][l] = (link & 255) as u32;
                                let left = g + (link >> 8);
                                next.extend([left, left + 1]);
                            }
                        }
                        level = next;
                    }
                    for (v, &g) in level.iter().enumerate() {
                        below[v][l] = g as u32;
                    }
                }
                top.groups.push(trees);
                top.thresholds.extend(thresholds);
                top.selects.extend(selects);
                top.below.extend(below);
            }
            top
        }
    }

    fn order_key_inf() -> u32 {
        super::order_key(f32::INFINITY)
    }

    /// The top levels in registers (keys permuted from five registers, up
    /// to 80 keys), then the scalar walk for the remaining depth.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn avx512_top(t: &Tables, top: &Top, keys: &[u32], out: &mut [u32]) {
        let mut padded = [0u32; 80];
        padded[..keys.len()].copy_from_slice(keys);
        let kp = padded.as_ptr() as *const __m512i;
        let (k0, k1, k2, k3, k4) = (
            _mm512_loadu_si512(kp),
            _mm512_loadu_si512(kp.add(1)),
            _mm512_loadu_si512(kp.add(2)),
            _mm512_loadu_si512(kp.add(3)),
            _mm512_loadu_si512(kp.add(4)),
        );
        let (c31, c63, one) = (
            _mm512_set1_epi32(31),
            _mm512_set1_epi32(63),
            _mm512_set1_epi32(1),
        );
        let inner = (1 << TOP) - 1;
        for (group, trees) in top.groups.iter().enumerate() {
            let mut v = _mm512_setzero_si512();
            for d in 0..TOP {
                let base = group * inner + (1 << d) - 1;
                let mut th = _mm512_loadu_si512(top.thresholds[base].as_ptr() as *const __m512i);
                let mut se = _mm512_loadu_si512(top.selects[base].as_ptr() as *const __m512i);
                for p in 1..(1i32 << d) {
                    let here = _mm512_cmpeq_epi32_mask(v, _mm512_set1_epi32(p));
                    let at = base + p as usize;
                    th = _mm512_mask_loadu_epi32(
                        th,
                        here,
                        top.thresholds[at].as_ptr() as *const i32,
                    );
                    se = _mm512_mask_loadu_epi32(se, here, top.selects[at].as_ptr() as *const i32);
                }
                let low = _mm512_permutex2var_epi32(k0, se, k1);
                let mid = _mm512_permutex2var_epi32(k2, se, k3);
                let high = _mm512_permutexvar_epi32(se, k4);
                let key = _mm512_mask_blend_epi32(
                    _mm512_cmpgt_epu32_mask(se, c63),
                    _mm512_mask_blend_epi32(_mm512_cmpgt_epu32_mask(se, c31), low, mid),
                    high,
                );
                let right = _mm512_cmpgt_epu32_mask(key, th);
                let twice = _mm512_slli_epi32::<1>(v);
                v = _mm512_mask_add_epi32(twice, right, twice, one);
            }
            let mut virtual_node = [0u32; 16];
            _mm512_storeu_si512(virtual_node.as_mut_ptr() as *mut __m512i, v);
            let mut at: [usize; 16] = std::array::from_fn(|l| {
                top.below[group * (1 << TOP) + virtual_node[l] as usize][l] as usize
            });
            let depth = trees.iter().map(|&tr| t.depths[tr]).max().unwrap_or(0);
            for _ in TOP..depth.max(TOP) {
                for g in at.iter_mut() {
                    *g = t.step(*g, keys);
                }
            }
            for (&tree, &g) in trees.iter().zip(&at) {
                out[tree] = g as u32;
            }
        }
    }
}

/// `ROWS` rows made of the model's thresholds (see the module docs).
fn rows(forest: &Forest) -> Vec<Vec<u32>> {
    let n_features = forest.n_features();
    let mut thresholds = vec![Vec::new(); n_features];
    for (&f, &t) in forest.feature().iter().zip(forest.threshold()) {
        if t.is_finite() {
            thresholds[f as usize].push(t);
        }
    }
    let mut rng = SplitMix64::new(0x5EED);
    (0..ROWS)
        .map(|_| {
            let x: Vec<f32> = (0..n_features)
                .map(|j| {
                    let ts = &thresholds[j];
                    if ts.is_empty() {
                        return 0.0;
                    }
                    let nudge = 1.0 + (rng.below(3) as f32 - 1.0) * 1e-3;
                    ts[rng.below(ts.len())] * nudge
                })
                .collect();
            let mut keys = vec![0u32; 2 * n_features];
            row_keys(&x, &mut keys);
            keys
        })
        .collect()
}

type Walk<'a> = Box<dyn Fn(&[u32], &mut [u32]) + 'a>;

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "models/approved.forest".into());
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let model = forest_core::artifact::decode(&bytes).expect("a valid model");
    let forest = &model.forest;
    let t = Tables::new(forest);
    let rows = rows(forest);
    let n = forest.n_trees();

    let steps: usize = rows
        .iter()
        .map(|k| {
            (0..n)
                .map(|tree| {
                    let (mut g, mut s) = (t.roots[tree], 0);
                    while !t.is_leaf(g) {
                        g = t.step(g, k);
                        s += 1;
                    }
                    s
                })
                .sum::<usize>()
        })
        .sum();
    println!(
        "{path}: {n} trees, max depth {}; a row's paths average {:.2} steps a tree",
        t.depths.iter().max().unwrap_or(&0),
        steps as f64 / (rows.len() * n) as f64
    );

    #[cfg(target_arch = "x86_64")]
    let (split, top) = (simd::Split::new(&t), simd::Top::new(&t));
    let mut walks: Vec<(&str, Walk)> = vec![
        (
            "scalar-15 (emitted)",
            Box::new(|k, o| scalar::<15>(&t, k, o)),
        ),
        ("scalar-8", Box::new(|k, o| scalar::<8>(&t, k, o))),
        (
            "prefetch-15",
            Box::new(|k, o| scalar_with::<15>(&t, k, o, Tables::step_prefetch)),
        ),
        (
            "prefetch-12",
            Box::new(|k, o| scalar_with::<12>(&t, k, o, Tables::step_prefetch)),
        ),
        (
            "wide-15",
            Box::new(|k, o| scalar_with::<15>(&t, k, o, Tables::step_wide)),
        ),
        ("scalar-12", Box::new(|k, o| scalar::<12>(&t, k, o))),
        ("scalar-17", Box::new(|k, o| scalar::<17>(&t, k, o))),
        ("scalar-20", Box::new(|k, o| scalar::<20>(&t, k, o))),
    ];
    if n <= 256 && t.depths.iter().all(|&d| d <= 12) {
        walks.push(("compact 7+2+3", Box::new(|k, o| compact(&t, k, o))));
    }
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            walks.push((
                "avx2-gather",
                Box::new(|k, o| unsafe { simd::avx2_gather(&t, &split, k, o) }),
            ));
        }
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            walks.push((
                "avx512-gather",
                Box::new(|k, o| unsafe { simd::avx512_gather(&t, &split, k, o) }),
            ));
            if 2 * forest.n_features() <= 80 {
                // SAFETY: as above; the keys fit the five registers.
                walks.push((
                    "avx512-top4",
                    Box::new(|k, o| unsafe { simd::avx512_top(&t, &top, k, o) }),
                ));
            }
        }
    }

    let mut want = vec![0u32; n];
    let mut got = vec![0u32; n];
    for k in &rows {
        scalar::<15>(&t, k, &mut want);
        for (name, walk) in &walks {
            walk(k, &mut got);
            assert_eq!(got, want, "{name} reaches other leaves");
        }
    }
    println!(
        "every variant reaches the emitted walk's leaves on all {} rows\n",
        rows.len()
    );

    println!("{:<22} {:>10} {:>14}", "walk", "ns a row", "vs emitted");
    let mut base = f64::NAN;
    for (name, walk) in &walks {
        // Best of three, against the machine's noise.
        let ns = (0..3)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..PASSES {
                    for k in &rows {
                        walk(std::hint::black_box(k), &mut got);
                        std::hint::black_box(&got);
                    }
                }
                start.elapsed().as_nanos() as f64 / (PASSES * rows.len()) as f64
            })
            .fold(f64::INFINITY, f64::min);
        if base.is_nan() {
            base = ns;
        }
        println!("{name:<22} {ns:>10.0} {:>13.2}x", ns / base);
    }
}
