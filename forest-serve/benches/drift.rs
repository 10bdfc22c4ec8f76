//! What drift monitoring adds to a request: one feature vector of the
//! approved model (the benchmark basket, encoded by the compiled model)
//! counted by the drift monitor, beside the encoding and prediction of
//! the same basket that every request pays anyway.
//!
//! `cargo bench -p forest-serve --bench drift`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use forest_core::drift::FeatureDistribution;
use forest_serve::DriftMonitor;

const BODY: &[u8] = include_bytes!("../../benches/serve_basket.json");

fn drift(c: &mut Criterion) {
    let basket = match forest_serve::parse_predict_serde(BODY).expect("the benchmark basket") {
        forest_serve::PredictRequest::One(b) => b,
        forest_serve::PredictRequest::Batch(_) => unreachable!("one basket"),
    };
    let json = forest::TRAINING_DISTRIBUTION_JSON.expect("the approved model has one");
    let distributions: Vec<FeatureDistribution> = serde_json::from_str(json).unwrap();
    let names = forest::FEATURE_NAMES
        .iter()
        .map(|n| n.to_string())
        .collect();
    let monitor = DriftMonitor::new(names, distributions, 10_000, 1).unwrap();
    let x = forest::encode_basket(&basket).unwrap();

    let mut group = c.benchmark_group("drift");
    group.bench_function("observe_one_row", |b| {
        b.iter(|| monitor.observe(black_box(&x)))
    });
    group.bench_function("encode_and_predict_one_basket", |b| {
        b.iter(|| forest::predict_basket(black_box(&basket)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, drift);
criterion_main!(benches);
