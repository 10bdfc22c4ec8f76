//! Every input under `fuzz/regressions/TARGET/` (crashes the fuzzer found,
//! kept once fixed) and `fuzz/corpus/TARGET/` (the committed seeds) goes
//! through its target's check: a fuzz finding stays fixed.

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["regressions", "corpus"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else {
            continue;
        };
        files.extend(
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file()),
        );
    }
    files.sort();
    files
}

fn replay(target: &str, check: fn(&[u8])) {
    let files = inputs(target);
    assert!(
        !files.is_empty(),
        "no seeds for {target}: fuzz/corpus/{target}/ is committed"
    );
    for file in files {
        let data = std::fs::read(&file).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(
            outcome.is_ok(),
            "{target}: {} breaks the check",
            file.display()
        );
    }
}

#[test]
fn artifact() {
    replay("artifact", forest_fuzz::artifact);
}

#[test]
fn predict_body() {
    replay("predict_body", forest_fuzz::predict_body);
}

#[test]
fn v2_infer() {
    replay("v2_infer", forest_fuzz::v2_infer);
}

#[test]
fn csv_file() {
    replay("csv_file", forest_fuzz::csv_file);
}

#[test]
fn gold_parquet() {
    replay("gold_parquet", forest_fuzz::gold_parquet);
}

#[test]
fn http_service() {
    replay("http_service", forest_fuzz::http_service);
}
