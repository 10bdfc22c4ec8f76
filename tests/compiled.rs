//! The compiled model against the reference: the branch-free walk, the
//! nested if/else baseline and forest-core's interpreter must give
//! bit-identical probabilities for every input, and the compiled basket
//! encoder (and its form built at run time, which the ETL encodes gold
//! with) must give the interpreter's features bit for bit.
//!
//! Inputs are drawn to hit the edges: NaN (with any payload), infinities,
//! values exactly on the model's own thresholds and one ULP either side,
//! huge, tiny and subnormal values; baskets with known and unseen codes at
//! every level, padded and missing codes, unseen categories, no customer
//! segment, no lines, zero, negative and non-finite quantities and spend.

use std::sync::OnceLock;

use forest::{baseline, compiled, interpreter, Basket, Features, Item, N_FEATURES, N_TREES};
use forest_codegen::check_branch_free;
use forest_core::artifact;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::RngAlgorithm;

/// The emitted module, as build.rs wrote it.
const GENERATED: &str = include_str!(concat!(env!("OUT_DIR"), "/forest_model.rs"));

/// Bit patterns, with every NaN as the canonical one: Rust leaves the sign
/// and payload of a NaN that arithmetic produces unspecified (LLVM may swap
/// the operands of `+`, and x86 keeps the first NaN operand's sign), so two
/// compilations of the same sum may differ there. Every NaN is the same
/// missing value to a tree, and probabilities are never NaN.
fn bits(p: &[f32]) -> Vec<u32> {
    p.iter()
        .map(|v| {
            if v.is_nan() {
                f32::NAN.to_bits()
            } else {
                v.to_bits()
            }
        })
        .collect()
}

/// Per feature, the thresholds the model splits it at.
fn thresholds() -> &'static Vec<Vec<f32>> {
    static T: OnceLock<Vec<Vec<f32>>> = OnceLock::new();
    T.get_or_init(|| {
        let f = &interpreter::model().forest;
        let mut per = vec![Vec::new(); f.n_features()];
        for g in 0..f.n_nodes() {
            if f.threshold()[g].is_finite() {
                per[f.feature()[g] as usize].push(f.threshold()[g]);
            }
        }
        for t in &mut per {
            t.sort_by(f32::total_cmp);
            t.dedup();
            if t.is_empty() {
                t.push(0.0);
            }
        }
        per
    })
}

fn edge_value() -> impl Strategy<Value = f32> {
    select(vec![
        f32::NAN,
        -f32::NAN,
        f32::from_bits(0x7fc0_1234),
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        f32::MAX,
        f32::MIN,
        f32::MIN_POSITIVE,
        f32::from_bits(1),
        -f32::from_bits(1),
        1e30,
        -1e30,
        1e-30,
    ])
}

/// A value for feature `j`: on one of its thresholds, one ULP off one, an
/// edge value, any bit pattern at all, or an ordinary number.
fn value(j: usize) -> impl Strategy<Value = f32> {
    let t = thresholds()[j].clone();
    prop_oneof![
        3 => select(t.clone()),
        2 => (select(t), any::<bool>()).prop_map(|(t, up)| {
            let b = t.to_bits();
            // One ULP away from zero or towards it; both are neighbours.
            f32::from_bits(if up { b.wrapping_add(1) } else { b.wrapping_sub(1) })
        }),
        2 => edge_value(),
        1 => any::<u32>().prop_map(f32::from_bits),
        2 => -1000.0f32..1000.0,
    ]
}

fn features() -> impl Strategy<Value = Features> {
    (0..N_FEATURES)
        .map(value)
        .collect::<Vec<_>>()
        .prop_map(|v| v.try_into().expect("N_FEATURES values"))
}

fn assert_engines_agree(x: &Features) -> Result<(), TestCaseError> {
    let reference = interpreter::predict_proba(x);
    let walked = compiled::predict_proba(x);
    prop_assert_eq!(
        bits(&walked),
        bits(&reference),
        "compiled vs interpreter on {:?}",
        x
    );
    let nested = baseline::predict_proba(x);
    prop_assert_eq!(
        bits(&nested),
        bits(&reference),
        "baseline vs interpreter on {:?}",
        x
    );
    let forest = &interpreter::model().forest;
    let mut leaves = [0u32; N_TREES];
    compiled::leaves(x, &mut leaves);
    for (t, &leaf) in leaves.iter().enumerate() {
        let expected = forest.tree_offsets()[t] as usize + forest.leaf_of(t, x);
        prop_assert_eq!(leaf as usize, expected, "tree {} on {:?}", t, x);
    }
    Ok(())
}

/// `cases` cases with XorShift: proptest's default ChaCha generator,
/// unoptimised in the test profile, would take most of the run.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_algorithm: RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn engines_agree_on_feature_vectors(x in features()) {
        assert_engines_agree(&x)?;
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn batches_equal_single_rows(rows in proptest::collection::vec(features(), 0..300)) {
        let mut walked = vec![[0.0; forest::N_CLASSES]; rows.len()];
        compiled::predict_proba_batch(&rows, &mut walked);
        let mut nested = vec![[0.0; forest::N_CLASSES]; rows.len()];
        baseline::predict_proba_batch(&rows, &mut nested);
        let interpreted = interpreter::predict_proba_batch(&rows);
        let predictions = forest::predict_batch(&rows);
        for (r, x) in rows.iter().enumerate() {
            let single = compiled::predict_proba(x);
            prop_assert_eq!(bits(&walked[r]), bits(&single), "row {}", r);
            prop_assert_eq!(bits(&nested[r]), bits(&single), "row {}", r);
            prop_assert_eq!(bits(&interpreted[r]), bits(&single), "row {}", r);
            prop_assert_eq!(predictions[r], forest::predict(x));
        }
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        prop_assert_eq!(forest::predict_features_batch(&flat).unwrap(), predictions.clone());
        let mut out = vec![f32::NAN; rows.len() * forest::N_CLASSES];
        forest::predict_proba_features(&flat, &mut out).unwrap();
        let expected: Vec<f32> = predictions.iter().flat_map(|p| p.probabilities).collect();
        prop_assert_eq!(bits(&out), bits(&expected));
    }
}

/// Every value a feature splits on, exactly, in one vector per threshold
/// rank: the inputs where `<=` against `<` would differ.
#[test]
fn engines_agree_exactly_on_every_threshold() {
    let per = thresholds();
    let longest = per.iter().map(Vec::len).max().unwrap_or(0);
    for k in 0..longest {
        let x: Features = std::array::from_fn(|j| per[j][k % per[j].len()]);
        assert_engines_agree(&x).unwrap();
    }
}

// ------------------------------------------------------------ baskets

struct Codes {
    /// Per product level (coarse to fine), the codes the model knows.
    levels: Vec<Vec<String>>,
    /// Per categorical field, its vocabulary.
    vocabularies: Vec<Vec<String>>,
}

fn codes() -> &'static Codes {
    static C: OnceLock<Codes> = OnceLock::new();
    C.get_or_init(|| {
        let spec = &interpreter::model().meta.features;
        let priors = spec
            .basket
            .as_ref()
            .expect("the approved model reads baskets");
        Codes {
            levels: priors.levels.iter().map(|l| l.codes.clone()).collect(),
            vocabularies: spec.features[..6]
                .iter()
                .map(|f| match &f.kind {
                    forest_core::FeatureKind::Categorical { vocabulary } => vocabulary.clone(),
                    forest_core::FeatureKind::Numeric => Vec::new(),
                })
                .collect(),
        }
    })
}

/// A known code (sometimes padded with spaces), an unseen one, or missing.
fn code_from(known: Vec<String>) -> impl Strategy<Value = String> {
    let known = if known.is_empty() {
        vec!["none".to_string()]
    } else {
        known
    };
    prop_oneof![
        6 => select(known.clone()),
        1 => select(known).prop_map(|c| format!(" {c} ")),
        2 => "[A-Z]{1,4}[0-9]{0,8}",
        1 => select(vec!["", "NA", "null", "  ", "XX"]).prop_map(String::from),
    ]
}

fn quantity() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => 1.0..5.0f64,
        1 => Just(0.0),
        1 => Just(-1.0),
        1 => -10.0..10.0f64,
        1 => select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, 1e-300]),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    let l = &codes().levels;
    (
        code_from(l[4].clone()),
        code_from(l[3].clone()),
        code_from(l[2].clone()),
        code_from(l[1].clone()),
        proptest::option::of(code_from(l[0].clone())),
        quantity(),
        prop_oneof![4 => 0.1..20.0f64, 1 => quantity()],
    )
        .prop_map(|(p, p10, p20, p30, p40, quantity, spend)| Item {
            prod_code: p,
            prod_code_10: p10,
            prod_code_20: p20,
            prod_code_30: p30,
            prod_code_40: p40,
            quantity,
            spend,
        })
}

fn category(field: usize) -> impl Strategy<Value = String> {
    code_from(codes().vocabularies[field].clone())
}

fn basket() -> impl Strategy<Value = Basket> {
    (
        (
            category(0),
            category(1),
            category(2),
            category(3),
            category(4),
        ),
        proptest::option::of(category(5)),
        prop_oneof![1 => Just(0usize..1), 4 => Just(1usize..40)]
            .prop_flat_map(|n| proptest::collection::vec(item(), n)),
    )
        .prop_map(
            |((format, region, size, kind, mission), segment, items)| Basket {
                store_format: format,
                store_region: region,
                basket_size: size,
                basket_type: kind,
                dominant_mission: mission,
                customer_price_sensitivity: segment,
                items,
            },
        )
}

/// The approved model's tables as the ETL builds them at run time
/// (`forest_core::compiled::BasketIndex`): perfect hashes and the product
/// cache over the decoded spec.
fn runtime_tables() -> forest_core::compiled::StaticBasket<'static> {
    use forest_core::compiled::{BasketIndex, StaticLevel};
    static INDEX: OnceLock<BasketIndex<'static>> = OnceLock::new();
    static LEVELS: OnceLock<Vec<StaticLevel<'static>>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        BasketIndex::new(&interpreter::model().meta.features).expect("a basket spec")
    });
    index.tables(LEVELS.get_or_init(|| index.levels()))
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn compiled_encoder_equals_the_interpreters(b in basket()) {
        let compiled = forest::encode_basket(&b).unwrap();
        let reference = interpreter::encode_basket(&b).unwrap();
        prop_assert_eq!(bits(&compiled), bits(&reference), "{:?}", b);
        let mut runtime = vec![f32::NAN; reference.len()];
        forest_core::encode_basket_with(&runtime_tables(), &b, &mut runtime).unwrap();
        prop_assert_eq!(bits(&runtime), bits(&reference), "run-time index: {:?}", b);
        let p = forest::predict_basket(&b).unwrap();
        let expected = interpreter::predict_proba(&reference);
        prop_assert_eq!(bits(&p.probabilities), bits(&expected));
        prop_assert_eq!(p.code, forest::CLASSES[p.class]);
        assert_engines_agree(&compiled)?;
    }

}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn basket_batches_equal_single_baskets(bs in proptest::collection::vec(basket(), 0..12)) {
        let batch = forest::predict_basket_batch(&bs).unwrap();
        prop_assert_eq!(batch.len(), bs.len());
        let mut out = vec![f32::NAN; bs.len() * forest::N_CLASSES];
        forest::predict_proba_baskets(&bs, &mut out).unwrap();
        let expected: Vec<f32> = batch.iter().flat_map(|p| p.probabilities).collect();
        prop_assert_eq!(bits(&out), bits(&expected));
        for (b, p) in bs.iter().zip(&batch) {
            prop_assert_eq!(*p, forest::predict_basket(b).unwrap());
        }
    }

    #[test]
    fn compiled_row_encoder_equals_the_specs(
        raw in proptest::collection::vec(
            prop_oneof![
                "-?[0-9]{1,6}(\\.[0-9]{1,4})?",
                select(vec!["", "NA", " nan ", "inf", "-inf", "1e39", "abc", "LS", "E02", "XX"])
                    .prop_map(String::from),
            ],
            N_FEATURES,
        )
    ) {
        let raw: Vec<&str> = raw.iter().map(String::as_str).collect();
        let compiled = forest::encode_row(&raw);
        let mut reference = Vec::new();
        let expected = interpreter::model()
            .meta
            .features
            .encode_row(raw.iter().copied(), &mut reference);
        match (compiled, expected) {
            (Ok(x), Ok(())) => prop_assert_eq!(bits(&x), bits(&reference)),
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            (a, b) => prop_assert!(false, "compiled {:?}, spec {:?}", a, b),
        }
    }
}

#[test]
fn empty_and_unseen_baskets_predict() {
    let empty = Basket {
        store_format: "nowhere".into(),
        store_region: "".into(),
        basket_size: "XXL".into(),
        basket_type: "NA".into(),
        dominant_mission: "Fresh".into(),
        customer_price_sensitivity: None,
        items: vec![],
    };
    let x = forest::encode_basket(&empty).unwrap();
    assert_eq!(bits(&x), bits(&interpreter::encode_basket(&empty).unwrap()));
    assert!(x[1].is_nan(), "a missing region is NaN");
    let p = forest::predict_basket(&empty).unwrap();
    assert_eq!(
        bits(&p.probabilities),
        bits(&interpreter::predict_proba(&x))
    );
    let total: f32 = p.probabilities.iter().sum();
    assert!((total - 1.0).abs() < 1e-4, "{total}");
}

// ------------------------------------------------- source and metadata

#[test]
fn the_generated_walk_has_no_branch_on_feature_values() {
    check_branch_free(GENERATED).unwrap();
    // The walk reads the tables, not code per node: the source is a
    // template plus data, whatever the model.
    let start = GENERATED
        .find("// ---- BEGIN BRANCH-FREE WALK ----")
        .unwrap();
    let end = GENERATED.find("// ---- END BRANCH-FREE WALK ----").unwrap();
    assert!(end - start < 6000, "the walk is {} bytes", end - start);
}

#[test]
fn metadata_constants_describe_the_embedded_model() {
    let model = interpreter::model();
    let bytes = interpreter::artifact_bytes();
    assert_eq!(forest::CONTENT_HASH, artifact::content_hash(bytes));
    assert!(forest::CONTENT_HASH.starts_with(forest::MODEL_VERSION));
    assert_eq!(forest::MODEL_VERSION.len(), 12);
    assert_eq!(forest::CLASSES.to_vec(), model.meta.classes);
    assert_eq!(
        forest::FEATURE_NAMES.to_vec(),
        model.meta.features.names().collect::<Vec<_>>()
    );
    assert_eq!(forest::N_TREES, model.forest.n_trees());
    assert_eq!(forest::N_NODES, model.forest.n_nodes());
    assert_eq!(forest::LABEL, model.meta.label);
    assert_eq!(forest::TRAINING_ROWS, model.meta.training.rows);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(forest::METRICS_JSON).unwrap(),
        model.meta.metrics
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(forest::PARAMS_JSON).unwrap(),
        model.meta.params
    );
    assert_eq!(
        forest::CLASS_LABELS,
        [
            "High price sensitivity",
            "Medium price sensitivity",
            "Low price sensitivity"
        ]
    );
    assert_eq!(
        forest::IS_BASKET_MODEL,
        model.meta.features.basket.is_some()
    );
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let err = forest::predict_features(&[0.0; 3]).unwrap_err().to_string();
    assert!(err.contains(&N_FEATURES.to_string()), "{err}");
    assert!(forest::predict_features_batch(&[0.0; N_FEATURES + 1]).is_err());
    assert!(forest::predict_features_batch(&[]).unwrap().is_empty());
    assert!(forest::encode_row(&["1"]).is_err());
    let mut out = [0.0; 1];
    assert!(forest::predict_proba_features(&[0.0; N_FEATURES], &mut out).is_err());
    assert!(forest::predict_proba_baskets(&[], &mut []).is_ok());
    let p = forest::predict_features(&[f32::NAN; N_FEATURES]).unwrap();
    assert_eq!(p.label, forest::CLASS_LABELS[p.class]);
}
