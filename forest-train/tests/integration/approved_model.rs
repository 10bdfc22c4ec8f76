//! The committed model (`models/approved.forest`) is reproducible: the
//! commands of its model card (`models/README.md`), run in an empty
//! directory, give the same bytes.
//!
//! When a deliberate change to the synthetic data, the ETL or the trainer
//! changes those bytes, this test fails until the model is rebuilt with the
//! same commands and committed with its card's figures updated; the server
//! must not silently embed a model nobody can reproduce.

use std::path::Path;
use std::process::Command;

use forest_core::artifact;

/// The model card's commands, as arguments to `forest-train`, run in one
/// scratch directory (relative paths: the training source recorded in the
/// model is `lake/gold (split train)` wherever it runs).
const STEPS: [&[&str]; 3] = [
    &[
        "synth",
        "--out",
        "raw",
        "--weeks",
        "4",
        "--baskets-per-week",
        "1000",
        "--seed",
        "0",
    ],
    &["etl", "--raw", "raw", "--lake", "lake", "--seed", "0"],
    &[
        "fit",
        "--data",
        "lake/gold",
        "--split",
        "train",
        "--out",
        "approved.forest",
        "--seed",
        "0",
        "--trees",
        "100",
        "--max-depth",
        "12",
    ],
];

#[test]
fn the_committed_model_is_rebuilt_byte_for_byte() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/approved.forest");
    let expected = std::fs::read(&committed).expect("models/approved.forest is committed");
    let dir = tempfile::tempdir().expect("temp dir");
    for args in STEPS {
        let out = Command::new(env!("CARGO_BIN_EXE_forest-train"))
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("run forest-train");
        assert!(
            out.status.success(),
            "forest-train {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rebuilt = std::fs::read(dir.path().join("approved.forest")).expect("the fitted model");
    assert_eq!(
        artifact::content_hash(&rebuilt),
        artifact::content_hash(&expected),
        "models/approved.forest is not what its model card's commands produce; \
         rebuild it with the commands in models/README.md and update the card"
    );
}
