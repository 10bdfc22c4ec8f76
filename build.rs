//! Compiles the approved model into the `forest` crate.
//!
//! Reads `models/approved.forest`, or the file `$FOREST_MODEL` names
//! (relative paths are relative to this directory), decodes and validates it
//! with forest-core, and writes the generated module (`forest_model.rs`,
//! by forest-codegen) and the binary tables it includes into `OUT_DIR`.
//! The crate's features add what only tests and benchmarks need:
//! `baseline` the nested if/else baseline, whose build time grows with the
//! forest (the compiled walk's hardly does), and `interpreter` the embedded
//! artifact, to run forest-core's interpreter on the same model. A missing
//! or invalid model
//! stops the build with a message saying how to produce one: a server must
//! never be built around a model nobody approved or that cannot be read.

use std::path::{Path, PathBuf};
use std::{env, fs, process};

use forest_codegen::EmitOptions;

const DEFAULT_MODEL: &str = "models/approved.forest";

/// How to produce a model, as `models/README.md` gives it.
const HOW_TO: &str = "\
Produce the approved model with the commands in models/README.md, from the repository root:
    cargo build --release -p forest-train
    rm -rf target/approved && mkdir -p target/approved && cd target/approved
    ../release/forest-train synth --out raw --weeks 4 --baskets-per-week 1000 --seed 0
    ../release/forest-train etl --raw raw --lake lake --seed 0
    ../release/forest-train fit --data lake/gold --split train --out approved.forest --seed 0 --trees 100 --max-depth 12
    cd ../.. && cp target/approved/approved.forest models/approved.forest
or build another artifact in: FOREST_MODEL=path/to/model.forest cargo build";

fn main() {
    println!("cargo:rerun-if-env-changed=FOREST_MODEL");
    println!("cargo:rerun-if-changed=build.rs");
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let path = match env::var_os("FOREST_MODEL") {
        Some(p) if !p.is_empty() => manifest_dir.join(p),
        _ => manifest_dir.join(DEFAULT_MODEL),
    };
    println!("cargo:rerun-if-changed={}", path.display());

    let bytes = fs::read(&path)
        .unwrap_or_else(|e| fail(&format!("cannot read the model {}: {e}", path.display())));
    let options = EmitOptions {
        big_endian: env::var("CARGO_CFG_TARGET_ENDIAN").as_deref() == Ok("big"),
        // Cargo sets CARGO_FEATURE_<NAME> for each enabled feature.
        nested_baseline: env::var_os("CARGO_FEATURE_BASELINE").is_some(),
        embed_artifact: env::var_os("CARGO_FEATURE_INTERPRETER").is_some(),
        ..EmitOptions::default()
    };
    let generated = forest_codegen::emit(&bytes, &options)
        .unwrap_or_else(|e| fail(&format!("{} is not a usable model: {e}", path.display())));

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    for blob in &generated.blobs {
        write(&out_dir.join(&blob.file_name), &blob.bytes);
    }
    write(
        &out_dir.join("forest_model.rs"),
        generated.source.as_bytes(),
    );
}

fn write(path: &Path, bytes: &[u8]) {
    if let Err(e) = fs::write(path, bytes) {
        fail(&format!("cannot write {}: {e}", path.display()));
    }
}

/// Stops the build; cargo shows what a build script prints on stderr.
fn fail(problem: &str) -> ! {
    eprintln!("error: {problem}\n\n{HOW_TO}");
    process::exit(1);
}
