//! `forest-codegen`: the code emitter. It turns a `.forest` artifact into
//! Rust source that the root crate's `build.rs` writes into `OUT_DIR` and
//! `src/lib.rs` includes, so the approved model is part of the server
//! binary. Nothing else depends on it; what the generated code calls at run
//! time is `forest_core::compiled`.
//!
//! ```
//! use forest_core::{artifact, FeatureDef, FeatureSpec, Forest, Metadata, Model, Node, TrainingInfo};
//! use forest_codegen::{emit, EmitOptions};
//!
//! // One tree: x <= 0.5 goes left to class "no", else right to "yes".
//! let tree = vec![
//!     Node { feature: 0, threshold: 0.5, left: 1, missing_left: false, value: vec![0.5, 0.5] },
//!     Node::leaf(1, vec![1.0, 0.0]),
//!     Node::leaf(2, vec![0.0, 1.0]),
//! ];
//! let meta = Metadata {
//!     label: "y".into(),
//!     classes: vec!["no".into(), "yes".into()],
//!     features: FeatureSpec { features: vec![FeatureDef::numeric("x")], basket: None },
//!     params: serde_json::json!({}),
//!     training: TrainingInfo { source: "example".into(), rows: 2, fingerprint: String::new() },
//!     metrics: serde_json::json!({}),
//!     feature_importance: vec![],
//!     tree_seeds: vec![],
//!     trainer: "example".into(),
//!     git_revision: None,
//!     ensemble: Default::default(),
//!     training_distribution: None,
//! };
//! let model = Model::new(meta, Forest::from_trees(1, 2, &[tree]).unwrap()).unwrap();
//! let generated = emit(&artifact::encode(&model), &EmitOptions::default()).unwrap();
//! assert!(generated.source.contains("pub fn predict_proba("));
//! // The node table travels as a binary blob for `include_bytes!`.
//! assert!(generated.blobs.iter().any(|b| b.file_name == "forest-nodes.bin"));
//! ```
//!
//! # Why this shape
//!
//! The forest compilers in common use (treelite/tl2cgen, m2cgen, lleaves)
//! emit one nested if/else per tree. The optimiser then sees functions with
//! tens of thousands of branches, which costs minutes to hours of build time
//! and can run out of memory on large forests, and the compiled code
//! mispredicts on about every other split, because which way a row goes is
//! exactly what a branch predictor cannot know.
//!
//! Here the nodes stay data. The forest's structure-of-arrays (see
//! [`forest_core::Forest`]) becomes static arrays whose bytes are pulled in with
//! `include_bytes!` (rustc copies bytes; it does not parse a literal per
//! node), and one generic walk reads them (module `predicated`): every step
//! computes the next node index arithmetically from the comparison, so no
//! branch depends on a feature value and none can mispredict. Leaves loop to
//! themselves (threshold `+inf`, NaN goes left), so a tree can run a fixed
//! number of steps, its depth. The build cost hardly grows with the forest,
//! and several trees (or rows) walk side by side to keep the CPU's load
//! units busy while each walk waits for its next node.
//!
//! The feature encoder is compiled in too (module `encoder`): vocabularies and
//! product priors as static tables, with perfect hashes (module `phf`) for the
//! large product-code tables. It runs forest-core's own encoder over them
//! (through [`forest_core::BasketTables`]), so compiled features equal the
//! ETL's and the interpreter's bit for bit.
//!
//! The nested if/else emitter (module `nested`, with `EmitOptions::nested_baseline`) is kept as the comparison
//! baseline, and the embedded artifact lets callers run the interpreter on
//! the very same model.
//!
//! # Exactness
//!
//! Probabilities are summed in f32 tree by tree in tree order, then divided
//! by the tree count, as [`Forest::predict_proba_into`] does; walking order
//! (grouped, interleaved) never changes summation order. Every float reaches
//! the source as its bit pattern or its shortest round-tripping literal.
//!
//! # Untrusted artifacts
//!
//! The artifact is decoded and validated first. Strings from it reach the
//! source only through `{:?}` (a Rust string literal), numbers only through
//! the emitter's own formatting, and no identifier is derived from the
//! model, so no artifact can inject code into the build.
//!
//! [`Forest::predict_proba_into`]: forest_core::Forest::predict_proba_into

#![warn(missing_docs)]

mod encoder;
mod metadata;
mod nested;
mod predicated;
mod tables;

pub use predicated::check_branch_free;

use forest_core::{artifact, ModelError};

/// Rust source plus the binary files its `include_bytes!` calls read.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// The module body, to be `include!`d inside a module of the crate that
    /// depends on forest-core.
    pub source: String,
    /// Files to write into the directory named by [`EmitOptions::blob_dir`].
    pub blobs: Vec<Blob>,
}

/// One binary file of a [`Generated`] module.
#[derive(Debug, Clone, PartialEq)]
pub struct Blob {
    /// Its name inside the blob directory.
    pub file_name: String,
    /// Its contents.
    pub bytes: Vec<u8>,
}

/// Choices the emitter leaves to its caller.
#[derive(Debug, Clone, PartialEq)]
pub struct EmitOptions {
    /// A Rust expression for the directory holding the blobs, as
    /// `include_bytes!` will see it; `env!("OUT_DIR")` in a build script.
    pub blob_dir: String,
    /// The path of forest-core in the crate that includes the source.
    pub core_path: String,
    /// The target's byte order: blobs hold native-endian numbers so that
    /// they can be viewed as typed arrays without a decoding pass.
    pub big_endian: bool,
    /// At most this many trees walked side by side in single-row
    /// prediction (the emitter spreads the trees evenly over the groups).
    pub tree_lanes: usize,
    /// Rows walked side by side through one tree in batch prediction.
    pub row_lanes: usize,
    /// Also emit the nested if/else baseline (`pub mod nested`, one
    /// function per tree), for tests and benchmarks to compare against. Off
    /// by default: it is what makes large forests slow to build, and no
    /// server calls it.
    pub nested_baseline: bool,
    /// Also embed the artifact's bytes (`pub static ARTIFACT`), for running
    /// the interpreter on the very same model. Off by default.
    pub embed_artifact: bool,
}

impl Default for EmitOptions {
    fn default() -> Self {
        EmitOptions {
            blob_dir: r#"env!("OUT_DIR")"#.into(),
            core_path: "::forest_core".into(),
            big_endian: cfg!(target_endian = "big"),
            tree_lanes: 16,
            row_lanes: 16,
            nested_baseline: false,
            embed_artifact: false,
        }
    }
}

/// Decodes and validates `artifact`, then emits its Rust module. Errors are
/// the decoder's (a corrupt or invalid artifact) or a bad option.
pub fn emit(artifact_bytes: &[u8], options: &EmitOptions) -> Result<Generated, ModelError> {
    if !(1..=64).contains(&options.tree_lanes) || !(1..=64).contains(&options.row_lanes) {
        return Err(ModelError::Invalid(
            "tree_lanes and row_lanes must be between 1 and 64".into(),
        ));
    }
    let model = artifact::decode(artifact_bytes)?;
    let hash = artifact::content_hash(artifact_bytes);
    let mut g = Generated {
        source: String::new(),
        blobs: Vec::new(),
    };
    let mut out = Emitter {
        source: &mut g.source,
        blobs: &mut g.blobs,
        options,
    };
    out.line(&format!(
        "// @generated by forest-codegen from the artifact with sha256 {hash}. Do not edit."
    ));
    out.line("");
    metadata::emit(&mut out, &model, &hash);
    tables::emit(&mut out, &model.forest)?;
    predicated::emit(&mut out, model.forest.n_features(), model.forest.ensemble());
    if options.nested_baseline {
        nested::emit(&mut out, &model.forest);
    }
    encoder::emit(&mut out, &model);
    if options.embed_artifact {
        out.blob_u8_slice(
            "ARTIFACT",
            "The artifact this module was generated from, for the interpreter path.",
            "artifact.forest",
            artifact_bytes.to_vec(),
        );
    }
    Ok(g)
}

/// Where the emitters write: the source text and the blob list.
pub(crate) struct Emitter<'a> {
    source: &'a mut String,
    blobs: &'a mut Vec<Blob>,
    options: &'a EmitOptions,
}

impl Emitter<'_> {
    /// Appends one line (or several, if `text` holds newlines).
    pub fn line(&mut self, text: &str) {
        self.source.push_str(text);
        self.source.push('\n');
    }

    pub fn options(&self) -> &EmitOptions {
        self.options
    }

    /// `pub static NAME: [TY; N]` over a blob of native-endian numbers.
    fn blob_array(&mut self, name: &str, doc: &str, ty: &str, count: usize, bytes: Vec<u8>) {
        let file = format!("forest-{}.bin", name.to_ascii_lowercase().replace('_', "-"));
        let len = bytes.len();
        let include = format!(
            "include_bytes!(concat!({}, \"/{file}\"))",
            self.options.blob_dir
        );
        self.line(&format!("/// {doc}"));
        if ty == "u8" {
            self.line(&format!("pub static {name}: [u8; {count}] = *{include};"));
        } else {
            self.line(&format!(
                "// SAFETY: every bit pattern is a valid {ty}, the blob holds native-endian\n\
                 // numbers, and the compiler checks that it is exactly {len} bytes long.\n\
                 pub static {name}: [{ty}; {count}] =\n    \
                 unsafe {{ ::core::mem::transmute::<[u8; {len}], [{ty}; {count}]>(*{include}) }};"
            ));
        }
        self.blobs.push(Blob {
            file_name: file,
            bytes,
        });
    }

    /// `pub static NAME: &[u8]` over a blob of opaque bytes.
    fn blob_u8_slice(&mut self, name: &str, doc: &str, file: &str, bytes: Vec<u8>) {
        self.line(&format!("/// {doc}"));
        self.line(&format!(
            "pub static {name}: &[u8] = include_bytes!(concat!({}, \"/{file}\"));",
            self.options.blob_dir
        ));
        self.blobs.push(Blob {
            file_name: file.into(),
            bytes,
        });
    }

    /// Integers as the bytes of a blob, in the target's byte order
    /// (`le` and `be` are the integer type's `to_le_bytes` and
    /// `to_be_bytes`).
    fn int_blob<T, const N: usize>(
        &self,
        xs: impl Iterator<Item = T>,
        le: fn(T) -> [u8; N],
        be: fn(T) -> [u8; N],
    ) -> Vec<u8> {
        let to_bytes = if self.options.big_endian { be } else { le };
        xs.flat_map(to_bytes).collect()
    }
}

/// An f32 as Rust source that evaluates to exactly the same bits: the
/// shortest round-tripping decimal, or a named constant for non-finite
/// values.
pub fn f32_lit(v: f32) -> String {
    if v.is_nan() {
        "f32::NAN".into()
    } else if v == f32::INFINITY {
        "f32::INFINITY".into()
    } else if v == f32::NEG_INFINITY {
        "f32::NEG_INFINITY".into()
    } else {
        // Debug prints the shortest decimal that parses back to the same
        // f32 (and keeps the sign of -0.0).
        format!("{v:?}")
    }
}

/// A string as a Rust string literal (Debug escapes quotes, backslashes
/// and control characters in Rust's own syntax).
pub fn str_lit(s: &str) -> String {
    format!("{s:?}")
}

/// A comma-separated list, wrapped every `per_line` items so that the
/// source stays readable in an editor.
pub fn list<T>(items: &[T], per_line: usize, item: impl Fn(&T) -> String) -> String {
    let mut s = String::new();
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            s.push_str(if i % per_line == 0 { ",\n    " } else { ", " });
        }
        s.push_str(&item(x));
    }
    s
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use forest_core::compiled::order_key;
    use forest_core::{FeatureDef, FeatureSpec, Forest, Metadata, Model, Node, TrainingInfo};

    /// x0 <= 0.5 ? leaf : (x1 <= 2 ? leaf : leaf), NaN on x0 right; and a
    /// single-leaf tree. A table-row model with one categorical feature.
    pub(crate) fn small_model() -> Vec<u8> {
        let t0 = vec![
            Node {
                feature: 0,
                threshold: 0.5,
                left: 1,
                missing_left: false,
                value: vec![0.5, 0.5],
            },
            Node::leaf(1, vec![1.0, 0.0]),
            Node {
                feature: 1,
                threshold: -2.0,
                left: 3,
                missing_left: true,
                value: vec![0.25, 0.75],
            },
            Node::leaf(3, vec![0.0, 1.0]),
            Node::leaf(4, vec![0.5, 0.5]),
        ];
        let t1 = vec![Node::leaf(0, vec![0.25, 0.75])];
        let forest = Forest::from_trees(2, 2, &[t0, t1]).unwrap();
        let meta = Metadata {
            label: "buys".into(),
            classes: vec!["no".into(), "yes \"really\"".into()],
            features: FeatureSpec {
                features: vec![
                    FeatureDef::numeric("discount"),
                    FeatureDef::categorical("region", ["W01", "E02"].map(String::from)),
                ],
                basket: None,
            },
            params: serde_json::json!({"n_trees": 2}),
            training: TrainingInfo {
                source: "t.csv".into(),
                rows: 4,
                fingerprint: "ab".into(),
            },
            metrics: serde_json::json!({"oob_score": 0.5}),
            feature_importance: vec![],
            tree_seeds: vec![],
            trainer: "test".into(),
            git_revision: None,
            ensemble: Default::default(),
            training_distribution: None,
        };
        artifact::encode(&Model::new(meta, forest).unwrap())
    }

    #[test]
    fn float_literals_round_trip() {
        for v in [
            0.1f32,
            -0.0,
            1e-45,
            3.4028235e38,
            16777217.0,
            1e20,
            -2.5e-7,
            0.333_333_34,
        ] {
            let lit = f32_lit(v);
            assert_eq!(lit.parse::<f32>().unwrap().to_bits(), v.to_bits(), "{lit}");
        }
        assert_eq!(f32_lit(f32::INFINITY), "f32::INFINITY");
        assert_eq!(f32_lit(-0.0), "-0.0");
    }

    #[test]
    fn strings_cannot_escape_their_literal() {
        let lit = str_lit("a\"); panic!(\"x\\");
        assert!(lit.starts_with('"') && lit.ends_with('"'));
        assert_eq!(lit, r#""a\"); panic!(\"x\\""#);
    }

    #[test]
    fn emits_source_and_blobs_for_a_small_model() {
        let options = EmitOptions {
            nested_baseline: true,
            embed_artifact: true,
            ..EmitOptions::default()
        };
        let g = emit(&small_model(), &options).unwrap();
        for name in [
            "pub const N_TREES: usize = 2;",
            "pub const N_FEATURES: usize = 2;",
            "pub const N_CLASSES: usize = 2;",
            "pub static TREE_DEPTH: [u32; N_TREES] = [2, 0];",
            "pub fn predict_proba(",
            "pub mod nested",
            "pub static ARTIFACT",
        ] {
            assert!(g.source.contains(name), "missing {name}:\n{}", g.source);
        }
        let files: Vec<&str> = g.blobs.iter().map(|b| b.file_name.as_str()).collect();
        assert!(files.contains(&"forest-nodes.bin"), "{files:?}");
        let words: Vec<u32> = g
            .blobs
            .iter()
            .find(|b| b.file_name == "forest-nodes.bin")
            .unwrap()
            .bytes
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(words.len(), 2 * 6);
        let key = order_key(0.5);
        assert_eq!(words[0], key);
        assert_eq!(key, 0.5f32.to_bits() | 0x8000_0000);
        assert_eq!(words[2], order_key(f32::INFINITY));
        // Links (select in the low byte): node 0 (feature 0, NaN right)
        // reads key 0, its left child 1 ahead; node 2 (feature 1, NaN
        // left) reads key 1 + 2, its left child 1 ahead; leaves read key
        // 0 + 2 and stay in place.
        let links: Vec<(u32, u32)> = words[1..]
            .iter()
            .step_by(2)
            .map(|l| (l & 0xFF, l >> 8))
            .collect();
        assert_eq!(links, [(0, 1), (2, 0), (3, 1), (2, 0), (2, 0), (2, 0)]);
        // Braces balance outside string literals: a cheap syntax check; the
        // root crate's tests compile the real thing.
        assert_eq!(brace_balance(&g.source), 0);
    }

    #[test]
    fn corrupt_artifacts_are_errors() {
        let mut bytes = small_model();
        bytes[40] ^= 1;
        assert!(emit(&bytes, &EmitOptions::default()).is_err());
        assert!(emit(b"nope", &EmitOptions::default()).is_err());
    }

    /// `{` minus `}` outside string literals and comments.
    pub(crate) fn brace_balance(source: &str) -> i64 {
        let mut depth = 0i64;
        for line in source.lines() {
            let code = line.split("//").next().unwrap_or("");
            let mut in_str = false;
            let mut escaped = false;
            for ch in code.chars() {
                match (in_str, ch) {
                    (true, '\\') if !escaped => {
                        escaped = true;
                        continue;
                    }
                    (true, '"') if !escaped => in_str = false,
                    (false, '"') => in_str = true,
                    (false, '{') => depth += 1,
                    (false, '}') => depth -= 1,
                    _ => {}
                }
                escaped = false;
            }
        }
        depth
    }
}
