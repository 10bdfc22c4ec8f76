//! Single-row latency and batch throughput of the three engines that run
//! the model compiled into this crate: the branch-free compiled walk, the
//! nested if/else baseline and forest-core's interpreter, in the same
//! process, on the same rows.
//!
//! Which model: whatever `build.rs` compiled in, `models/approved.forest`
//! or `$FOREST_MODEL`; `benches/compiled.sh` runs this bench on the approved
//! model and on a 500-tree forest and prints the ratios. Group names carry
//! the model's tree count and version, so the two runs keep apart.
//!
//! The rows: feature vectors whose values are the model's own split
//! thresholds (a random one per feature, nudged a little either way), so
//! walks reach the depths real rows reach and no engine gets an easy path.
//! The basket group runs the whole answer for one basket, features
//! included: `catalogue` cycles through 256 baskets of 8 lines drawn
//! from the model's own product table (each product under the categories
//! training saw it in, one line in eight a product training never saw, as
//! traffic for the model would look), `fixed` answers the one basket of
//! `benches/serve_basket.json` (real-week codes, which the synthetic
//! catalogue files under other categories: every line takes the encoder's
//! slow path).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use forest::{Basket, Features, Item, N_CLASSES, N_FEATURES, N_TREES};
use forest_core::splitmix::SplitMix64;

/// Rows per batch; single-row benches cycle through the same rows.
const ROWS: usize = 1024;

/// `ROWS` feature vectors made of the model's thresholds (see the module
/// docs). A feature no split uses gets 0.
fn rows() -> Vec<Features> {
    let forest = &forest::interpreter::model().forest;
    let mut thresholds = vec![Vec::new(); N_FEATURES];
    for (&f, &t) in forest.feature().iter().zip(forest.threshold()) {
        if t.is_finite() {
            thresholds[f as usize].push(t);
        }
    }
    let mut rng = SplitMix64::new(0x5EED);
    (0..ROWS)
        .map(|_| {
            std::array::from_fn(|j| {
                let ts = &thresholds[j];
                if ts.is_empty() {
                    return 0.0;
                }
                let t = ts[rng.below(ts.len())];
                let nudge = 1.0 + (rng.below(3) as f32 - 1.0) * 1e-3;
                t * nudge
            })
        })
        .collect()
}

/// One engine's single-row entry point.
type Engine = fn(&Features) -> [f32; N_CLASSES];

fn model_id() -> String {
    format!("{N_TREES}-trees-{}", forest::MODEL_VERSION)
}

/// One row per iteration, cycling through the rows.
fn single_row(c: &mut Criterion) {
    let rows = rows();
    let mut group = c.benchmark_group(format!("single_row/{}", model_id()));
    let engines: Vec<(&str, Engine)> = vec![
        ("compiled", forest::compiled::predict_proba),
        #[cfg(feature = "baseline")]
        ("if_else", forest::baseline::predict_proba),
        ("interpreter", forest::interpreter::predict_proba),
    ];
    for (name, predict) in engines {
        group.bench_function(name, |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % ROWS;
                predict(black_box(&rows[i]))
            })
        });
    }
    group.finish();
}

/// `ROWS` rows per iteration through each engine's batch entry point.
fn batch(c: &mut Criterion) {
    let rows = rows();
    let mut group = c.benchmark_group(format!("batch/{}", model_id()));
    group.throughput(Throughput::Elements(ROWS as u64));
    let mut out = vec![[0.0f32; N_CLASSES]; ROWS];
    group.bench_with_input(BenchmarkId::new("compiled", ROWS), &rows, |b, rows| {
        b.iter(|| forest::compiled::predict_proba_batch(black_box(rows), &mut out))
    });
    #[cfg(feature = "baseline")]
    group.bench_with_input(BenchmarkId::new("if_else", ROWS), &rows, |b, rows| {
        b.iter(|| forest::baseline::predict_proba_batch(black_box(rows), &mut out))
    });
    group.bench_with_input(BenchmarkId::new("interpreter", ROWS), &rows, |b, rows| {
        b.iter(|| forest::interpreter::predict_proba_batch(black_box(rows)))
    });
    group.finish();
}

/// Baskets the catalogue case cycles through: enough that no predictor
/// learns them, few enough (about 400 KB of strings) to stay in the
/// second-level cache, as a request body just parsed is.
const BASKETS: usize = 256;

/// `BASKETS` baskets of 8 lines from the model's product table (see the
/// module docs); `None` for a model without recorded category chains.
fn catalogue_baskets(template: &Basket) -> Option<Vec<Basket>> {
    let priors = forest::interpreter::model().meta.features.basket.as_ref()?;
    let (products, above) = priors.levels.split_last()?;
    if products.parents.is_empty() {
        return None;
    }
    let code = |l: usize, p: u32| (p != u32::MAX).then(|| above[l].codes[p as usize].clone());
    let mut rng = SplitMix64::new(0xBA5C);
    let segments = ["LA", "MM", "UM"];
    let baskets = (0..BASKETS)
        .map(|_| {
            let items = (0..8)
                .map(|_| {
                    let i = rng.below(products.codes.len());
                    let chain = &products.parents[4 * i..4 * i + 4];
                    let quantity = 1 + rng.below(4);
                    let known = rng.below(8) != 0;
                    Item {
                        prod_code: if known {
                            products.codes[i].clone()
                        } else {
                            format!("PRD9{:06}", rng.below(1_000_000))
                        },
                        prod_code_10: code(3, chain[3]).unwrap_or_default(),
                        prod_code_20: code(2, chain[2]).unwrap_or_default(),
                        prod_code_30: code(1, chain[1]).unwrap_or_default(),
                        prod_code_40: code(0, chain[0]),
                        quantity: quantity as f64,
                        spend: quantity as f64 * (0.2 + 4.0 * rng.unit()),
                    }
                })
                .collect();
            Basket {
                customer_price_sensitivity: Some(segments[rng.below(3)].to_string()),
                items,
                ..template.clone()
            }
        })
        .collect();
    Some(baskets)
}

/// A whole answer for one basket: features by the compiled encoder and the
/// compiled walk, against the interpreter's encoder and walk.
fn basket(c: &mut Criterion) {
    if !forest::IS_BASKET_MODEL {
        return;
    }
    let fixed: Basket = serde_json::from_str(include_str!("serve_basket.json"))
        .expect("benches/serve_basket.json is a basket");
    let mut cases = vec![("fixed", vec![fixed.clone()])];
    if let Some(baskets) = catalogue_baskets(&fixed) {
        cases.push(("catalogue", baskets));
    }
    for (name, baskets) in cases {
        let mut group = c.benchmark_group(format!("basket_{name}/{}", model_id()));
        let mut at = 0;
        group.bench_function("compiled", |b| {
            b.iter(|| {
                at = (at + 1) % baskets.len();
                forest::predict_basket(black_box(&baskets[at])).expect("a basket model")
            })
        });
        group.bench_function("compiled_features_only", |b| {
            b.iter(|| {
                at = (at + 1) % baskets.len();
                forest::encode_basket(black_box(&baskets[at])).expect("a basket model")
            })
        });
        group.bench_function("interpreter", |b| {
            b.iter(|| {
                at = (at + 1) % baskets.len();
                let x = forest::interpreter::encode_basket(black_box(&baskets[at]))
                    .expect("a basket model");
                forest::interpreter::predict_proba(&x)
            })
        });
        group.finish();
    }
}

criterion_group!(benches, single_row, batch, basket);
criterion_main!(benches);
