//! Scores feature rows with the compiled model, for tests and benchmarks
//! that compare it with other engines on the same rows.
//!
//! Rows are little-endian `f32`, row-major, [`forest::N_FEATURES`] a row
//! (numpy's `x.astype("<f4").tofile(path)`).
//!
//! ```text
//! FOREST_MODEL=m.forest cargo run --release --example score_rows -- score ROWS.f32 OUT.f32
//! FOREST_MODEL=m.forest cargo run --release --example score_rows -- bench ROWS.f32 [M.forest]
//! ```
//!
//! `score` writes each row's probabilities (little-endian `f32`, row-major)
//! from the single-row walk, after checking that the batch walk gives the
//! same bits. `bench` prints one JSON object with nanoseconds a row: the
//! compiled walk single-row (each call a different row, in file order, so
//! no branch predictor can learn one row's path) and in batches of 1,024,
//! and, given the artifact, forest-core's interpreter the same two ways.

use std::hint::black_box;
use std::time::{Duration, Instant};

use forest::{compiled, Features, Probabilities, N_CLASSES, N_FEATURES};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("score") if args.len() == 3 => score(&args[1], &args[2]),
        Some("bench") if (2..=3).contains(&args.len()) => bench(&args[1], args.get(2)),
        _ => Err("usage: score_rows score ROWS.f32 OUT.f32 | bench ROWS.f32 [MODEL.forest]".into()),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn read_rows(path: &str) -> Result<Vec<Features>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let width = 4 * N_FEATURES;
    if bytes.is_empty() || bytes.len() % width != 0 {
        return Err(format!(
            "{path}: {} bytes is not a whole number of rows of {N_FEATURES} f32 values",
            bytes.len()
        ));
    }
    Ok(bytes
        .chunks_exact(width)
        .map(|row| {
            let mut x = [0.0; N_FEATURES];
            for (v, b) in x.iter_mut().zip(row.chunks_exact(4)) {
                *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
            x
        })
        .collect())
}

fn score(rows_path: &str, out_path: &str) -> Result<(), String> {
    let rows = read_rows(rows_path)?;
    let mut batch: Vec<Probabilities> = vec![[0.0; N_CLASSES]; rows.len()];
    compiled::predict_proba_batch(&rows, &mut batch);
    let mut out = Vec::with_capacity(rows.len() * N_CLASSES * 4);
    for (i, (row, from_batch)) in rows.iter().zip(&batch).enumerate() {
        let single = compiled::predict_proba(row);
        if single.map(f32::to_bits) != from_batch.map(f32::to_bits) {
            return Err(format!(
                "row {i}: the single-row walk gives {single:?}, the batch walk {from_batch:?}"
            ));
        }
        out.extend(single.iter().flat_map(|p| p.to_le_bytes()));
    }
    std::fs::write(out_path, out).map_err(|e| format!("{out_path}: {e}"))
}

/// Runs `pass` (one pass over all rows) until a second has gone by and
/// returns nanoseconds a row.
fn per_row(rows: usize, mut pass: impl FnMut()) -> f64 {
    pass(); // warm caches and page in the tables
    let start = Instant::now();
    let mut passes = 0u32;
    while start.elapsed() < Duration::from_secs(1) {
        pass();
        passes += 1;
    }
    start.elapsed().as_nanos() as f64 / f64::from(passes) / rows as f64
}

fn bench(rows_path: &str, model_path: Option<&String>) -> Result<(), String> {
    let rows = read_rows(rows_path)?;
    let n = rows.len();
    let mut out: Vec<Probabilities> = vec![[0.0; N_CLASSES]; 1024];
    let compiled_single = per_row(n, || {
        for row in &rows {
            black_box(compiled::predict_proba(black_box(row)));
        }
    });
    let compiled_batch = per_row(n, || {
        for chunk in rows.chunks(1024) {
            compiled::predict_proba_batch(black_box(chunk), &mut out[..chunk.len()]);
        }
        black_box(&out);
    });
    let mut report = format!(
        "{{\"rows\": {n}, \"trees\": {}, \"nodes\": {}, \"compiled_single_ns\": {compiled_single:.1}, \
         \"compiled_batch_ns\": {compiled_batch:.1}",
        forest::N_TREES,
        forest::N_NODES
    );
    if let Some(path) = model_path {
        let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
        let model = forest_core::artifact::decode(&bytes).map_err(|e| format!("{path}: {e}"))?;
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        let mut p = [0.0; N_CLASSES];
        let interpreted_single = per_row(n, || {
            for row in &rows {
                model.forest.predict_proba_into(black_box(row), &mut p).ok();
                black_box(&p);
            }
        });
        let interpreted_batch = per_row(n, || {
            for chunk in flat.chunks(1024 * N_FEATURES) {
                black_box(model.forest.predict_proba_batch(black_box(chunk)).ok());
            }
        });
        report.push_str(&format!(
            ", \"interpreted_single_ns\": {interpreted_single:.1}, \
             \"interpreted_batch_ns\": {interpreted_batch:.1}"
        ));
    }
    println!("{report}}}");
    Ok(())
}
