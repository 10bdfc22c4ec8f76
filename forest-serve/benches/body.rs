//! Reading a `/predict` body: the fast reader (`fastjson`, reusing a
//! worker's scratch baskets) against serde's derived deserialisers, which
//! it must agree with, on `benches/serve_basket.json` (8 lines, the shape
//! `benches/serve_vs_hello.sh` sends).
//!
//! `cargo bench -p forest-serve --bench body`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use forest_serve::{parse_predict_fast_into, parse_predict_serde};

const BODY: &[u8] = include_bytes!("../../benches/serve_basket.json");

fn body(c: &mut Criterion) {
    let mut group = c.benchmark_group("predict_body");
    group.throughput(Throughput::Bytes(BODY.len() as u64));
    let mut scratch = Vec::new();
    group.bench_function("fast_reader", |b| {
        b.iter(|| parse_predict_fast_into(black_box(BODY), &mut scratch).expect("the common shape"))
    });
    group.bench_function("serde", |b| {
        b.iter(|| parse_predict_serde(black_box(BODY)).expect("a basket"))
    });
    group.finish();
}

criterion_group!(benches, body);
criterion_main!(benches);
