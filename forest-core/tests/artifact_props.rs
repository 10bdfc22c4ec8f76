//! Properties of the `.forest` artifact format, checked on random forests and
//! random (or randomly damaged) bytes.
//!
//! The decoder's promise is total: any byte string gives a model or an error,
//! never a panic and never an allocation out of proportion to the input. The
//! first half is checked by running it; the second by a counting allocator
//! that records, per thread, the peak heap use during each decode.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use forest_core::artifact::{decode, encode, FORMAT_VERSION, MAGIC};
use forest_core::{FeatureDef, FeatureSpec, Forest, Metadata, Model, Node, TrainingInfo};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

// ---------------------------------------------------------------------------
// Allocation accounting

struct Counting;

thread_local! {
    // Const-initialised `Cell`s need no lazy setup and have no destructor,
    // so the allocator can touch them at any point in a thread's life.
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn grew(n: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add(n);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrank(n: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(n)));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Decodes and returns the result with the peak extra heap it needed.
fn decode_measured(bytes: &[u8]) -> (Result<Model, forest_core::ModelError>, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = decode(bytes);
    let peak = PEAK.with(Cell::get);
    (out, peak.saturating_sub(base))
}

/// What "proportional to the input" means here. The arrays are copied once
/// (about 1x); the factor mostly covers `serde_json::Value`, whose maps cost a
/// few hundred bytes per small object, and the constant covers fixed costs.
/// A decoder that trusted a header's length would blow through this by
/// orders of magnitude.
fn budget(len: usize) -> usize {
    64 * len + 64 * 1024
}

fn check_decode(bytes: &[u8]) -> Result<Option<Model>, TestCaseError> {
    let (result, peak) = decode_measured(bytes);
    prop_assert!(
        peak <= budget(bytes.len()),
        "decoding {} bytes took {peak} bytes of heap",
        bytes.len()
    );
    Ok(result.ok())
}

// ---------------------------------------------------------------------------
// Random forests

#[derive(Debug, Clone)]
enum Shape {
    Leaf(Vec<f32>),
    Split {
        feature: u32,
        threshold: f32,
        missing_left: bool,
        value: Vec<f32>,
        children: Box<(Shape, Shape)>,
    },
}

/// Any split threshold but NaN; small integers so that random rows often hit
/// a threshold exactly (the `<=` edge).
fn threshold() -> impl Strategy<Value = f32> {
    use proptest::num::f32 as f;
    prop_oneof![
        f::POSITIVE | f::NEGATIVE | f::NORMAL | f::SUBNORMAL | f::ZERO | f::INFINITE,
        Just(-0.0f32),
        Just(f32::INFINITY),
        Just(f32::NEG_INFINITY),
        (-4i8..=4).prop_map(f32::from),
    ]
}

/// Class values: finite and non-negative, including `-0.0` (which the
/// layout rules accept) so that bit-exactness is tested on it.
fn class_values(k: usize) -> impl Strategy<Value = Vec<f32>> {
    use proptest::num::f32 as f;
    let one = prop_oneof![
        Just(0.0f32),
        Just(-0.0f32),
        0.0f32..=1.0,
        f::POSITIVE | f::NORMAL | f::SUBNORMAL | f::ZERO,
    ];
    vec(one, k)
}

fn shape(n_features: u32, k: usize) -> impl Strategy<Value = Shape> {
    class_values(k)
        .prop_map(Shape::Leaf)
        .prop_recursive(6, 48, 2, move |inner| {
            (
                0..n_features,
                threshold(),
                any::<bool>(),
                class_values(k),
                inner.clone(),
                inner,
            )
                .prop_map(|(feature, threshold, missing_left, value, l, r)| {
                    Shape::Split {
                        feature,
                        threshold,
                        missing_left,
                        value,
                        children: Box::new((l, r)),
                    }
                })
        })
}

/// Lays a shape out as nodes. Any valid layout may put a split's pair of
/// children at the next free slots whenever it likes, as long as the parent
/// is already placed; `picks` chooses which waiting pair goes next, so the
/// tests see more layouts than plain breadth-first order.
fn layout(root: &Shape, picks: &[usize]) -> Vec<Node> {
    fn node(shape: &Shape, index: usize) -> Node {
        match shape {
            Shape::Leaf(value) => Node::leaf(index as u32, value.clone()),
            Shape::Split {
                feature,
                threshold,
                missing_left,
                value,
                ..
            } => Node {
                feature: *feature,
                threshold: *threshold,
                left: 0, // set when the children are placed
                missing_left: *missing_left,
                value: value.clone(),
            },
        }
    }
    let mut nodes = vec![node(root, 0)];
    let mut waiting: Vec<(usize, &Shape)> = vec![(0, root)];
    let mut step = 0;
    loop {
        // Leaves have no pair to place.
        waiting.retain(|(_, s)| matches!(s, Shape::Split { .. }));
        if waiting.is_empty() {
            return nodes;
        }
        let pick = picks.get(step).copied().unwrap_or(0) % waiting.len();
        step += 1;
        let (parent, shape) = waiting.remove(pick);
        let Shape::Split { children, .. } = shape else {
            unreachable!()
        };
        let at = nodes.len();
        nodes[parent].left = at as u32;
        nodes.push(node(&children.0, at));
        nodes.push(node(&children.1, at + 1));
        waiting.push((at, &children.0));
        waiting.push((at + 1, &children.1));
    }
}

fn tree(n_features: u32, k: usize) -> impl Strategy<Value = Vec<Node>> {
    (shape(n_features, k), vec(any::<usize>(), 0..24)).prop_map(|(s, picks)| layout(&s, &picks))
}

// ---------------------------------------------------------------------------
// Random metadata

/// Text with the characters JSON must escape as well as ordinary ones.
fn text() -> BoxedStrategy<String> {
    prop_oneof![".{0,12}", "[\\x00-\\x1f\"\\\\/\u{7f}\u{2028}é😀]{0,4}"].boxed()
}

fn finite_f64() -> impl Strategy<Value = f64> {
    use proptest::num::f64 as f;
    prop_oneof![
        f::POSITIVE | f::NEGATIVE | f::NORMAL | f::SUBNORMAL | f::ZERO,
        0.0f64..1.0,
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        finite_f64().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(text(), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn feature_def() -> impl Strategy<Value = FeatureDef> {
    prop_oneof![
        text().prop_map(FeatureDef::numeric),
        (text(), vec(text(), 0..5)).prop_map(|(name, vocab)| FeatureDef::categorical(name, vocab)),
    ]
}

fn metadata(n_features: usize, k: usize, n_trees: usize) -> impl Strategy<Value = Metadata> {
    let training =
        (text(), any::<u64>(), "[0-9a-f]{64}").prop_map(|(source, rows, fingerprint)| {
            TrainingInfo {
                source,
                rows,
                fingerprint,
            }
        });
    (
        text(),
        vec(text(), k),
        vec(feature_def(), n_features),
        json(),
        training,
        json(),
        prop_oneof![Just(vec![]), vec(finite_f64(), n_features)],
        prop_oneof![Just(vec![]), vec(any::<u64>(), n_trees)],
        text(),
        proptest::option::of(text()),
    )
        .prop_map(
            |(
                label,
                classes,
                features,
                params,
                training,
                metrics,
                feature_importance,
                tree_seeds,
                trainer,
                git_revision,
            )| Metadata {
                label,
                classes,
                features: FeatureSpec {
                    features,
                    basket: None,
                },
                params,
                training,
                metrics,
                feature_importance,
                tree_seeds,
                trainer,
                git_revision,
                ensemble: Default::default(),
                training_distribution: None,
            },
        )
}

/// A valid model together with the trees it was built from.
fn model() -> impl Strategy<Value = (Vec<Vec<Node>>, Model)> {
    (1usize..5, 2usize..5).prop_flat_map(|(nf, k)| {
        vec(tree(nf as u32, k), 1..5).prop_flat_map(move |trees| {
            metadata(nf, k, trees.len()).prop_map(move |meta| {
                let forest = Forest::from_trees(nf, k, &trees)
                    .expect("generated trees follow the layout rules");
                let model = Model::new(meta, forest).expect("generated metadata fits the forest");
                (trees.clone(), model)
            })
        })
    })
}

// ---------------------------------------------------------------------------
// Damage

use forest_core::artifact::reseal;

#[derive(Debug, Clone)]
enum Edit {
    Xor(Index, u8),
    PutU32(Index, u32),
    PutU64(Index, u64),
    Truncate(Index),
    Insert(Index, Vec<u8>),
    Remove(Index, usize),
}

/// Half the positions fall in the header and section table, where a single
/// changed number redirects the whole decode.
fn position() -> impl Strategy<Value = (bool, Index)> {
    (any::<bool>(), any::<Index>())
}

fn at(bytes: &[u8], (front, index): &(bool, Index)) -> usize {
    let span = if *front {
        bytes.len().min(200)
    } else {
        bytes.len()
    };
    if span == 0 {
        0
    } else {
        index.index(span)
    }
}

fn interesting_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        0u64..1024,
        (0u64..128).prop_map(|x| x * 8),
        Just(u64::MAX),
        Just(u64::MAX - 7),
        (0u32..64).prop_map(|s| 1u64 << s),
    ]
}

fn edit() -> impl Strategy<Value = (bool, Edit)> {
    let edit = prop_oneof![
        (any::<Index>(), 1u8..=255).prop_map(|(i, x)| Edit::Xor(i, x)),
        (any::<Index>(), interesting_u64()).prop_map(|(i, v)| Edit::PutU32(i, v as u32)),
        (any::<Index>(), interesting_u64()).prop_map(|(i, v)| Edit::PutU64(i, v)),
        any::<Index>().prop_map(Edit::Truncate),
        (any::<Index>(), vec(any::<u8>(), 1..16)).prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<Index>(), 1usize..16).prop_map(|(i, n)| Edit::Remove(i, n)),
    ];
    (any::<bool>(), edit)
}

fn apply(bytes: &mut Vec<u8>, (front, edit): &(bool, Edit)) {
    let pos = |bytes: &Vec<u8>, i: &Index| at(bytes, &(*front, *i));
    match edit {
        Edit::Xor(i, x) => {
            if !bytes.is_empty() {
                let p = pos(bytes, i);
                bytes[p] ^= x;
            }
        }
        Edit::PutU32(i, v) => {
            let p = pos(bytes, i);
            put(bytes, p, &v.to_le_bytes());
        }
        Edit::PutU64(i, v) => {
            let p = pos(bytes, i);
            put(bytes, p, &v.to_le_bytes());
        }
        Edit::Truncate(i) => {
            let p = pos(bytes, i);
            bytes.truncate(p);
        }
        Edit::Insert(i, b) => {
            let p = pos(bytes, i);
            bytes.splice(p..p, b.iter().copied());
        }
        Edit::Remove(i, n) => {
            let p = pos(bytes, i);
            let end = (p + n).min(bytes.len());
            bytes.drain(p..end);
        }
    }
}

fn put(bytes: &mut [u8], p: usize, v: &[u8]) {
    let end = (p + v.len()).min(bytes.len());
    bytes[p..end].copy_from_slice(&v[..end - p]);
}

/// A well-formed header and table (checksum and length correct) over
/// arbitrary entries and a mostly-zero body, to reach the table checks that
/// random bytes never get past the magic for.
fn sealed_garbage() -> impl Strategy<Value = Vec<u8>> {
    let tag = prop_oneof![
        proptest::sample::select(vec![
            *b"META", *b"TOFF", *b"FEAT", *b"THRS", *b"LEFT", *b"MISS", *b"VALU"
        ]),
        any::<[u8; 4]>(),
    ];
    let entry = (tag, 0u32..6, interesting_u64(), interesting_u64());
    let body_byte = prop_oneof![3 => Just(0u8), 1 => any::<u8>()];
    (
        vec(entry, 0..10),
        proptest::option::of(any::<u16>()),
        vec(body_byte, 0..300),
    )
        .prop_map(|(entries, count, body)| {
            let count = count.unwrap_or(entries.len() as u16);
            let mut b = Vec::new();
            b.extend_from_slice(&MAGIC);
            b.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
            b.extend_from_slice(&count.to_le_bytes());
            b.extend_from_slice(&[0; 20]);
            for (tag, elem, offset, length) in entries {
                b.extend_from_slice(&tag);
                b.extend_from_slice(&elem.to_le_bytes());
                b.extend_from_slice(&offset.to_le_bytes());
                b.extend_from_slice(&length.to_le_bytes());
            }
            b.extend_from_slice(&body);
            reseal(&mut b);
            b
        })
}

// ---------------------------------------------------------------------------
// Independent reference walk

/// Follows the split rule as the format documents it, recursively and on
/// the trainer's `Node`s rather than the flat arrays.
fn walk(tree: &[Node], i: usize, row: &[f32]) -> usize {
    let node = &tree[i];
    if node.left as usize == i {
        return i;
    }
    let x = row[node.feature as usize];
    let go_left = if x.is_nan() {
        node.missing_left
    } else {
        x <= node.threshold
    };
    let next = node.left as usize + usize::from(!go_left);
    walk(tree, next, row)
}

fn row_value() -> impl Strategy<Value = f32> {
    prop_oneof![
        Just(f32::NAN),
        Just(f32::INFINITY),
        Just(f32::NEG_INFINITY),
        Just(0.0f32),
        Just(-0.0f32),
        threshold(),
    ]
}

fn bits32(xs: &[f32]) -> Vec<u32> {
    xs.iter().map(|x| x.to_bits()).collect()
}

fn bits64(xs: &[f64]) -> Vec<u64> {
    xs.iter().map(|x| x.to_bits()).collect()
}

// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn valid_models_round_trip_bit_exactly((_, model) in model()) {
        let bytes = encode(&model);
        prop_assert_eq!(&bytes, &encode(&model), "encoding is deterministic");
        let back = check_decode(&bytes)?;
        let back = back.expect("a freshly encoded model decodes");
        // `==` on floats hides -0.0 versus 0.0; compare bits as well.
        prop_assert_eq!(bits32(back.forest.threshold()), bits32(model.forest.threshold()));
        prop_assert_eq!(bits32(back.forest.values()), bits32(model.forest.values()));
        prop_assert_eq!(
            bits64(&back.meta.feature_importance),
            bits64(&model.meta.feature_importance)
        );
        prop_assert_eq!(encode(&back), bytes);
        prop_assert_eq!(back, model);
    }

    #[test]
    fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        prop_assert!(check_decode(&bytes)?.is_none());
    }

    #[test]
    fn random_tables_behind_a_valid_header_never_panic(bytes in sealed_garbage()) {
        check_decode(&bytes)?;
    }

    #[test]
    fn any_single_changed_byte_is_caught((_, model) in model(), p in position(), x in 1u8..=255) {
        let mut bytes = encode(&model);
        let i = at(&bytes, &p);
        bytes[i] ^= x;
        prop_assert!(check_decode(&bytes)?.is_none());
    }

    #[test]
    fn damaged_artifacts_never_panic((_, model) in model(), edits in vec(edit(), 1..5)) {
        let mut bytes = encode(&model);
        for e in &edits {
            apply(&mut bytes, e);
        }
        check_decode(&bytes)?;
    }

    /// With the length and checksum repaired, damage reaches the table,
    /// section and forest checks. Whatever still decodes is a valid model.
    #[test]
    fn resealed_damage_never_panics((_, model) in model(), edits in vec(edit(), 1..5)) {
        let mut bytes = encode(&model);
        for e in &edits {
            apply(&mut bytes, e);
        }
        reseal(&mut bytes);
        if let Some(damaged) = check_decode(&bytes)? {
            let again = encode(&damaged);
            let redecoded = decode(&again);
            prop_assert_eq!(redecoded.as_ref(), Ok(&damaged));
        }
    }

    /// Edits that keep every byte in place mostly pass the container checks
    /// and land in a section's data, so they exercise the length, metadata
    /// and forest checks rather than the table's.
    #[test]
    fn resealed_in_place_damage_never_panics(
        (_, model) in model(),
        edits in vec(edit().prop_filter("keeps offsets", |(_, e)| {
            matches!(e, Edit::Xor(..) | Edit::PutU32(..) | Edit::PutU64(..))
        }), 1..3),
    ) {
        let mut bytes = encode(&model);
        for (_, e) in &edits {
            apply(&mut bytes, &(false, e.clone()));
        }
        reseal(&mut bytes);
        if let Some(damaged) = check_decode(&bytes)? {
            let again = encode(&damaged);
            let redecoded = decode(&again);
            prop_assert_eq!(redecoded.as_ref(), Ok(&damaged));
        }
    }

    #[test]
    fn predictions_match_a_recursive_walk(
        (trees, model, rows) in model().prop_flat_map(|(trees, model)| {
            let nf = model.forest.n_features();
            (Just(trees), Just(model), vec(vec(row_value(), nf), 1..16))
        })
    ) {
        let decoded = decode(&encode(&model)).expect("round trip");
        let n_classes = model.forest.n_classes();
        for row in &rows {
            // Sum in tree order, then divide: the interpreter's documented order.
            let mut expected = vec![0.0f32; n_classes];
            for (t, tree) in trees.iter().enumerate() {
                let leaf = walk(tree, 0, row);
                prop_assert_eq!(model.forest.leaf_of(t, row), leaf);
                prop_assert_eq!(decoded.forest.leaf_of(t, row), leaf);
                for (e, v) in expected.iter_mut().zip(&tree[leaf].value) {
                    *e += v;
                }
            }
            for e in expected.iter_mut() {
                *e /= trees.len() as f32;
            }
            let got = decoded.forest.predict_proba(row).expect("row has the right width");
            prop_assert_eq!(bits32(&got), bits32(&expected));
        }
    }
}
