//! `forest-fuzz`: the properties the fuzz targets check, one function per
//! target, shared by the cargo-fuzz binaries (`fuzz/fuzz_targets/`, run
//! with `cargo +nightly fuzz run TARGET`) and by the regression tests
//! (`tests/regressions.rs`, which replay every input under
//! `fuzz/regressions/TARGET/` and the seed corpora with `cargo test`).
//!
//! Every check takes any bytes and panics only when a property breaks: a
//! decoder or parser that panics, a fast path that disagrees with its
//! reference, a server that answers 5xx. So a crash the fuzzer finds, saved
//! under `fuzz/regressions/`, fails `cargo test` until it is fixed.
//!
//! ```
//! // Any bytes: a model or an error, never a panic.
//! forest_fuzz::artifact(b"\x89FOREST\n\x02\x00");
//! forest_fuzz::predict_body(br#"{"instances": []}"#);
//! ```

#![warn(missing_docs)]

use std::sync::{Arc, OnceLock};

use forest_core::{artifact as forest_artifact, FeatureDef, FeatureSpec};
use forest_learn::Dataset;
use forest_serve::{App, Config, Engine, HttpSettings, Interpreted, ModelInfo};

/// The `.forest` decoder and the server's model loader: any bytes give a
/// model or an error. A model that decodes in the current version encodes
/// back to the same bytes (the format has one spelling of each model); one
/// in an older readable version re-encodes in the current version to bytes
/// that decode and encode to themselves. A decoded model loads into the
/// server when it reads baskets.
pub fn artifact(data: &[u8]) {
    let Ok(model) = forest_artifact::decode(data) else {
        assert!(Interpreted::from_bytes(data, "fuzz", "fuzz input").is_err());
        return;
    };
    let encoded = forest_artifact::encode(&model);
    let current = forest_artifact::FORMAT_VERSION.to_le_bytes();
    if data.get(8..10) == Some(&current[..]) {
        assert_eq!(
            encoded, data,
            "a decoded artifact re-encodes to other bytes"
        );
    } else {
        let again = forest_artifact::decode(&encoded).expect("an upgraded artifact decodes");
        assert_eq!(
            forest_artifact::encode(&again),
            encoded,
            "an upgraded artifact re-encodes to other bytes"
        );
    }
    let loaded = Interpreted::from_bytes(data, "fuzz", "fuzz input");
    assert_eq!(loaded.is_ok(), model.meta.features.basket.is_some());
}

/// Bit-equal baskets (f64 compared by bits, so that NaN and -0.0 count).
fn same_baskets(a: &[forest_core::Basket], b: &[forest_core::Basket]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            let mut x = x.clone();
            let mut y = y.clone();
            let bits = |items: &mut Vec<forest_core::Item>| {
                items
                    .iter_mut()
                    .map(|i| {
                        let q = i.quantity.to_bits();
                        let s = i.spend.to_bits();
                        (i.quantity, i.spend) = (0.0, 0.0);
                        (q, s)
                    })
                    .collect::<Vec<_>>()
            };
            bits(&mut x.items) == bits(&mut y.items) && x == y
        })
}

/// `/predict` bodies, differentially: the fast reader accepts only what
/// serde accepts, with the same values to the bit; and the full parse
/// (fast path, serde fallback, validation) never panics and answers the
/// same whether the worker's scratch baskets are fresh or reused.
pub fn predict_body(data: &[u8]) {
    let serde = forest_serve::parse_predict_serde(data);
    if let Some(fast) = forest_serve::parse_predict_fast(data) {
        let Ok(reference) = &serde else {
            panic!("the fast reader accepted a body serde refuses: {serde:?}");
        };
        let fast = match fast {
            forest_serve::Fast::One(b) => vec![b],
            forest_serve::Fast::Batch(v) => v,
        };
        let batch = matches!(reference, forest_serve::PredictRequest::Batch(_));
        assert_eq!(batch, fast.len() != 1 || batch);
        assert!(
            same_baskets(&fast, reference.baskets()),
            "the fast reader read other values than serde"
        );
    }
    let fresh = forest_serve::parse_predict(data, 64);
    let reused = forest_serve::with_predict(data, 64, |baskets, batch| (baskets.to_vec(), batch));
    match (&fresh, &reused) {
        (Ok(f), Ok((baskets, batch))) => {
            assert!(same_baskets(f.baskets(), baskets));
            assert_eq!(matches!(f, forest_serve::PredictRequest::Batch(_)), *batch);
        }
        (Err(a), Err(b)) => assert_eq!(a.code, b.code),
        _ => panic!("parse_predict {fresh:?} and with_predict {reused:?} disagree"),
    }
    if serde.is_err() {
        assert!(fresh.is_err(), "a body serde refuses was answered");
    }
}

/// A model description for the V2 parser: three classes, the approved
/// model's feature count.
fn model_info() -> &'static ModelInfo {
    static INFO: OnceLock<ModelInfo> = OnceLock::new();
    INFO.get_or_init(|| engine().info().clone())
}

/// V2 infer requests: the first two bytes give the length of the JSON
/// header (as `Inference-Header-Content-Length` would), the rest is the
/// body. Any of it gives a parsed request or a 4xx error, never a panic; a
/// parsed request has as many rows as its batch holds.
pub fn v2_infer(data: &[u8]) {
    let (header, body) = match data {
        [a, b, rest @ ..] => (Some(u16::from_le_bytes([*a, *b]).to_string()), rest),
        _ => (None, data),
    };
    let header = header.filter(|_| data.first().is_some_and(|b| b & 1 == 1));
    let Ok((json, binary)) = forest_serve::split_body(body, header.as_deref()) else {
        return;
    };
    match forest_serve::parse_infer(json, binary, model_info(), 64) {
        Ok(request) => {
            let rows = match &request.batch {
                forest_serve::InferBatch::Features(x) => x.len() / model_info().n_features(),
                forest_serve::InferBatch::Baskets(b) => b.len(),
            };
            assert_eq!(rows, request.n_rows);
            assert!((1..=64).contains(&rows));
        }
        Err(e) => assert!(e.status.is_client_error(), "{e:?}"),
    }
}

/// The ETL's raw CSV parser: any bytes give lines and rejects that add up
/// to the rows read, each reject naming its line, the same whether the
/// file is parsed in one pass or in pieces; never a panic.
pub fn csv_file(data: &[u8]) {
    use forest_train::etl::raw::{parse_raw_by_reader, parse_raw_in_chunks};
    let parsed = parse_raw_in_chunks("fuzz.csv", data, usize::MAX);
    // Cut into pieces of a few records and parsed in parallel, the file
    // reads the same as in one pass; and its plain lines, split at their
    // commas, read as the csv reader reads every record.
    assert_eq!(parse_raw_in_chunks("fuzz.csv", data, 16), parsed);
    assert_eq!(parse_raw_by_reader("fuzz.csv", data), parsed);
    assert_eq!(
        parsed.input_rows,
        (parsed.lines.len() + parsed.rejects.len()) as u64
    );
    for reject in &parsed.rejects {
        assert!(
            reject.line >= 2,
            "a data line is never line {}",
            reject.line
        );
        assert!(!reject.reason.is_empty());
    }
    for line in parsed.lines.iter() {
        assert!(line.source_line >= 2);
    }
}

/// The gold table's layout for the three price-sensitivity classes with
/// the tag model, as the ETL writes it.
fn gold_dataset() -> Dataset {
    let classes: Vec<String> = ["LA", "MM", "UM"].map(String::from).to_vec();
    let features = forest_core::feature_names(&classes, true)
        .into_iter()
        .map(|name| FeatureDef::numeric(&name))
        .collect::<Vec<_>>();
    Dataset {
        source: "fuzz".into(),
        columns: vec![Vec::new(); features.len()],
        spec: FeatureSpec {
            features,
            basket: None,
        },
        label: forest_train::etl::gold::LABEL.into(),
        classes,
        labels: Vec::new(),
    }
}

/// The gold Parquet reader: any bytes give rows or an error, never a
/// panic; what it reads is rectangular.
pub fn gold_parquet(data: &[u8]) {
    let mut dataset = gold_dataset();
    // The reader turns the parquet crate's own panics into errors (see
    // forest-train's parquet_io); the fuzzer's panic hook would abort on
    // them before the reader sees them, so it is set aside for the call. A
    // panic anywhere else still ends the run.
    let fuzzer_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let read = forest_train::etl::gold::read_rows_into(data.to_vec(), None, &mut dataset, None);
    std::panic::set_hook(fuzzer_hook);
    if read.is_ok() {
        let n = dataset.labels.len();
        assert!(dataset.columns.iter().all(|c| c.len() == n));
        assert!(dataset
            .labels
            .iter()
            .all(|&y| (y as usize) < dataset.classes.len()));
    }
}

/// The approved model through the interpreter (the artifact is embedded
/// here, so the harness needs no build of the compiled model).
fn engine() -> Arc<dyn Engine> {
    static ENGINE: OnceLock<Arc<dyn Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let bytes = include_bytes!("../../models/approved.forest");
            Arc::new(
                Interpreted::from_bytes(bytes, "price-sensitivity", "models/approved.forest")
                    .expect("the approved model loads"),
            )
        })
        .clone()
}

/// The whole HTTP service in process: any bytes sent on a connection get
/// answers that are 2xx or 4xx (never 5xx) or a clean close, never a panic.
/// The server runs on a current-thread runtime over an in-memory pipe.
pub fn http_service(data: &[u8]) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    static APP: OnceLock<(Arc<App>, HttpSettings)> = OnceLock::new();
    let (app, settings) = APP.get_or_init(|| {
        use clap::Parser;
        let config = Config::parse_from(["forest-serve", "--max-body-bytes", "65536"]);
        let settings = HttpSettings {
            header_read_timeout: None,
            keep_alive: true,
            drain_timeout: std::time::Duration::from_secs(1),
        };
        (Arc::new(App::new(engine(), None, &config)), settings)
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let answer = runtime.block_on(async {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let serving = tokio::spawn(forest_serve::serve_connection(
            server,
            app.clone(),
            settings,
        ));
        let input = data.to_vec();
        let writer = async move {
            let _ = client.write_all(&input).await;
            let _ = client.shutdown().await;
            let mut out = Vec::new();
            let _ = client.read_to_end(&mut out).await;
            out
        };
        let out = tokio::time::timeout(std::time::Duration::from_secs(5), writer)
            .await
            .expect("the server answers or closes within 5 s");
        let _ = serving.await;
        out
    });
    // Every status line (a line that starts a response) is 1xx, 2xx or 4xx.
    for (at, _) in answer
        .windows(9)
        .enumerate()
        .filter(|(at, w)| *w == b"HTTP/1.1 " && (*at == 0 || answer[at - 1] == b'\n'))
    {
        let status = answer.get(at + 9).copied();
        assert!(
            status != Some(b'5'),
            "a 5xx answer: {}",
            String::from_utf8_lossy(&answer[at..(at + 300).min(answer.len())])
        );
    }
}
