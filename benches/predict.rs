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
//! included, on `benches/serve_basket.json`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use forest::{Basket, Features, N_CLASSES, N_FEATURES, N_TREES};
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
    let mut engines: Vec<(&str, Engine)> = vec![
        ("compiled", forest::compiled::predict_proba),
        ("interpreter", forest::interpreter::predict_proba),
    ];
    if forest::baseline::EMITTED {
        engines.insert(1, ("if_else", forest::baseline::predict_proba));
    }
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
    if forest::baseline::EMITTED {
        group.bench_with_input(BenchmarkId::new("if_else", ROWS), &rows, |b, rows| {
            b.iter(|| forest::baseline::predict_proba_batch(black_box(rows), &mut out))
        });
    }
    group.bench_with_input(BenchmarkId::new("interpreter", ROWS), &rows, |b, rows| {
        b.iter(|| forest::interpreter::predict_proba_batch(black_box(rows)))
    });
    group.finish();
}

/// A whole answer for one basket: features by the compiled encoder and the
/// compiled walk, against the interpreter's encoder and walk.
fn basket(c: &mut Criterion) {
    if !forest::IS_BASKET_MODEL {
        return;
    }
    let basket: Basket = serde_json::from_str(include_str!("serve_basket.json"))
        .expect("benches/serve_basket.json is a basket");
    let mut group = c.benchmark_group(format!("basket/{}", model_id()));
    group.bench_function("compiled", |b| {
        b.iter(|| forest::predict_basket(black_box(&basket)).expect("a basket model"))
    });
    group.bench_function("interpreter", |b| {
        b.iter(|| {
            let x = forest::interpreter::encode_basket(black_box(&basket)).expect("a basket model");
            forest::interpreter::predict_proba(&x)
        })
    });
    group.finish();
}

criterion_group!(benches, single_row, batch, basket);
criterion_main!(benches);
