//! Bad input: every malformed table gives an error that names the file, the
//! line and the column where there is one, or is handled the way the module
//! docs of `csv_input` promise. Then the command line: failures exit non-zero
//! with a message and no panic, and the happy paths print what they claim.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

use forest_core::{artifact, FeatureKind};
use forest_learn::{fit, Dataset, ForestParams};
use forest_train::csv_input::{read_csv_with_spec, read_training_csv};
use forest_train::DataError;

use crate::{run, write_file};

/// The Display text of the error `result` must be.
fn error_text(result: Result<Dataset, DataError>) -> String {
    match result {
        Ok(data) => panic!("expected an error, read {} rows", data.n_rows()),
        Err(e) => e.to_string(),
    }
}

/// Asserts that `message` contains every one of `parts`.
fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            message.contains(part),
            "error message {message:?} does not mention {part:?}"
        );
    }
}

/// Reads `contents` as a training table labelled `label`; returns the path
/// (as the error messages print it) and the error text.
fn training_error(name: &str, contents: &[u8], label: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), name, contents);
    let message = error_text(read_training_csv(&path, label));
    (path.display().to_string(), message)
}

fn read_ok(contents: &[u8]) -> Dataset {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "ok.csv", contents);
    read_training_csv(&path, "label").unwrap_or_else(|e| panic!("{e}"))
}

fn column<'a>(data: &'a Dataset, name: &str) -> &'a [f32] {
    let i = data
        .spec
        .names()
        .position(|n| n == name)
        .unwrap_or_else(|| panic!("no feature {name}"));
    &data.columns[i]
}

// ---------------------------------------------------------------- training

#[test]
fn empty_file_is_an_error_naming_the_file() {
    let (path, message) = training_error("empty.csv", b"", "label");
    assert_mentions(&message, &[&path, "empty"]);
}

#[test]
fn header_without_rows_is_an_error() {
    let (path, message) = training_error("header.csv", b"a,b,label\n", "label");
    assert_mentions(&message, &[&path, "no data rows"]);
}

#[test]
fn missing_label_column_lists_the_columns() {
    let (path, message) = training_error("nolabel.csv", b"a,b,class\n1,2,x\n3,4,y\n", "label");
    assert_mentions(&message, &[&path, "'label'", "a, b, class"]);
}

#[test]
fn label_with_one_class_is_an_error() {
    let (path, message) = training_error("one.csv", b"a,label\n1,yes\n2,yes\n3,yes\n", "label");
    assert_mentions(&message, &[&path, "'label'", "'yes'", "single class"]);
}

#[test]
fn ragged_rows_name_their_line() {
    let (path, message) = training_error("short.csv", b"a,b,label\n1,2,x\n3,y\n5,6,x\n", "label");
    assert_mentions(
        &message,
        &[&path, "line 3:", "expected 3 fields", "found 2"],
    );

    let (path, message) = training_error(
        "long.csv",
        b"a,b,label\n1,2,x\n3,4,y\n5,6,x,extra\n",
        "label",
    );
    assert_mentions(
        &message,
        &[&path, "line 4:", "expected 3 fields", "found 4"],
    );

    // Windows line endings count lines the same way.
    let (path, message) = training_error(
        "crlf.csv",
        b"a,b,label\r\n1,2,x\r\n3,4,y\r\n5,x\r\n",
        "label",
    );
    assert_mentions(&message, &[&path, "line 4:", "found 2"]);
}

#[test]
fn line_numbers_count_windows_line_ends_and_blank_lines() {
    // csv reports where it started looking for a record, before the `\n`
    // of the previous `\r\n` and before blank lines; the messages must name
    // the line the record is on.
    let cases: [(&str, &[u8], &str); 5] = [
        (
            "crlf_bytes.csv",
            b"a,b,label\r\n1,2,x\r\n3,\xff,y\r\n",
            "line 3, column 'b'",
        ),
        (
            "crlf_label.csv",
            b"a,b,label\r\n1,2,x\r\n3,4,y\r\n5,6,\r\n",
            "line 4, column 'label'",
        ),
        (
            "blank_lf.csv",
            b"a,b,label\n1,2,x\n\n\n3,4,\n",
            "line 5, column 'label'",
        ),
        (
            "blank_crlf.csv",
            b"a,b,label\r\n\r\n1,2,x\r\n\r\n3,4,y,5\r\n",
            "line 5:",
        ),
        (
            "quoted_newline.csv",
            b"a,b,label\n1,\"two\nlines\",x\n3,4,y\n5,\xff,x\n",
            "line 5, column 'b'",
        ),
    ];
    for (name, contents, line) in cases {
        let (path, message) = training_error(name, contents, "label");
        assert_mentions(&message, &[&path, line]);
    }
    // And through the evaluation reader.
    let (path, message) = eval_error(b"num,cat,label\r\n1,red,a\r\n\r\n2,red,c\r\n");
    assert_mentions(&message, &[&path, "line 4, column 'label'"]);
}

#[test]
fn non_utf8_names_line_and_column() {
    let (path, message) = training_error(
        "bytes.csv",
        b"a,b,label\n1,2,x\n3,\xff\xfe,y\n5,6,x\n",
        "label",
    );
    assert_mentions(&message, &[&path, "line 3, column 'b'", "UTF-8"]);

    let (path, message) = training_error(
        "label_bytes.csv",
        b"a,b,label\n1,2,x\n3,4,y\n5,6,\xc3(\n",
        "label",
    );
    assert_mentions(&message, &[&path, "line 4, column 'label'", "UTF-8"]);
}

#[test]
fn missing_label_value_is_an_error() {
    for (name, missing) in [("empty_label.csv", ""), ("na_label.csv", "NA")] {
        let contents = format!("a,b,label\n1,2,x\n3,4,{missing}\n5,6,y\n");
        let (path, message) = training_error(name, contents.as_bytes(), "label");
        assert_mentions(&message, &[&path, "line 3, column 'label'", "missing"]);
    }
}

#[test]
fn missing_tokens_become_nan_and_infinities_are_numbers() {
    let data = read_ok(b"a,b,label\n1,inf,x\n,-inf,y\nNA,2.5,x\nNaN,Infinity,y\nnull,-3,x\n");
    assert!(matches!(data.spec.features[0].kind, FeatureKind::Numeric));
    assert!(matches!(data.spec.features[1].kind, FeatureKind::Numeric));
    let a = column(&data, "a");
    assert_eq!(a[0], 1.0);
    assert!(a[1..].iter().all(|x| x.is_nan()), "{a:?}");
    assert_eq!(
        column(&data, "b"),
        [f32::INFINITY, f32::NEG_INFINITY, 2.5, f32::INFINITY, -3.0]
    );
}

#[test]
fn a_column_mixing_numbers_and_text_is_categorical() {
    let data = read_ok(b"mixed,n,label\n1,1,x\ntwo,2,y\n3,3,x\n,4,y\n1,5,x\n");
    match &data.spec.features[0].kind {
        FeatureKind::Categorical { vocabulary } => assert_eq!(vocabulary, &["1", "3", "two"]),
        kind => panic!("'mixed' should be categorical, is {kind:?}"),
    }
    let mixed = column(&data, "mixed");
    assert_eq!(&mixed[..3], [0.0, 2.0, 1.0]);
    assert!(
        mixed[3].is_nan(),
        "an empty cell is missing, not a category"
    );
    assert_eq!(mixed[4], 0.0);
    assert!(matches!(data.spec.features[1].kind, FeatureKind::Numeric));
}

#[test]
fn crlf_trailing_blank_line_and_bom_are_fine() {
    let unix = read_ok(b"a,b,label\n1,p,x\n2,q,y\n3,p,x\n");
    let windows = read_ok(b"a,b,label\r\n1,p,x\r\n2,q,y\r\n3,p,x\r\n");
    let trailing = read_ok(b"a,b,label\n1,p,x\n2,q,y\n3,p,x\n\n");
    let trailing_crlf = read_ok(b"a,b,label\r\n1,p,x\r\n2,q,y\r\n3,p,x\r\n\r\n");
    let bom = read_ok(b"\xef\xbb\xbfa,b,label\n1,p,x\n2,q,y\n3,p,x\n");
    assert_eq!(unix.n_rows(), 3);
    assert_eq!(unix.spec.names().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(unix.classes, ["x", "y"], "no '\\r' left on the label");
    for (what, other) in [
        ("CRLF", &windows),
        ("trailing blank line", &trailing),
        ("trailing blank CRLF line", &trailing_crlf),
        ("BOM", &bom),
    ] {
        assert_eq!(other.spec, unix.spec, "{what}");
        assert_eq!(other.classes, unix.classes, "{what}");
        assert_eq!(other.labels, unix.labels, "{what}");
        assert_eq!(other.columns, unix.columns, "{what}");
    }
}

#[test]
fn a_bom_before_the_label_column_still_finds_it() {
    let data = read_ok(b"\xef\xbb\xbflabel,a\nx,1\ny,2\n");
    assert_eq!(data.label, "label");
    assert_eq!(data.spec.names().collect::<Vec<_>>(), ["a"]);
}

#[test]
fn duplicate_header_names_are_an_error() {
    let (path, message) = training_error("dup.csv", b"a,b,a,label\n1,2,3,x\n4,5,6,y\n", "label");
    assert_mentions(&message, &[&path, "'a'", "twice"]);
}

#[test]
fn missing_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.csv");
    let message = error_text(read_training_csv(&path, "label"));
    assert_mentions(&message, &[&path.display().to_string()]);
}

// ---------------------------------------------------------------- evaluation

/// A training table with a numeric and a categorical feature.
const TRAIN: &[u8] = b"num,cat,label\n1,red,a\n2,blue,b\n3,red,a\n4,green,b\n";

fn eval_error(contents: &[u8]) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let train_path = write_file(dir.path(), "train.csv", TRAIN);
    let train = read_training_csv(&train_path, "label").unwrap();
    let path = write_file(dir.path(), "eval.csv", contents);
    let message = error_text(read_csv_with_spec(
        &path,
        &train.spec,
        "label",
        &train.classes,
    ));
    (path.display().to_string(), message)
}

#[test]
fn eval_reads_by_name_and_encodes_with_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let train = read_training_csv(&write_file(dir.path(), "train.csv", TRAIN), "label").unwrap();
    // Other column order, an extra column, an unseen category, a gap.
    let path = write_file(
        dir.path(),
        "eval.csv",
        b"label,extra,cat,num\nb,zz,green,7\na,zz,purple,\n",
    );
    let data = read_csv_with_spec(&path, &train.spec, "label", &train.classes).unwrap();
    assert_eq!(data.labels, [1, 0]);
    assert_eq!(
        column(&data, "cat"),
        [1.0, 3.0],
        "purple is the unseen code"
    );
    let num = column(&data, "num");
    assert_eq!(num[0], 7.0);
    assert!(num[1].is_nan());
}

#[test]
fn eval_label_the_model_does_not_know_names_line_and_column() {
    let (path, message) = eval_error(b"num,cat,label\n1,red,a\n2,red,c\n");
    assert_mentions(&message, &[&path, "line 3, column 'label'", "'c'"]);
}

#[test]
fn eval_missing_label_value_says_so() {
    for missing in ["", "NA"] {
        let contents = format!("num,cat,label\n1,red,a\n2,red,{missing}\n");
        let (path, message) = eval_error(contents.as_bytes());
        assert_mentions(&message, &[&path, "line 3, column 'label'", "missing"]);
    }
}

#[test]
fn eval_text_in_a_numeric_feature_names_line_and_column() {
    let (path, message) = eval_error(b"num,cat,label\n1,red,a\n2,red,b\nlots,red,a\n");
    assert_mentions(
        &message,
        &[&path, "line 4, column 'num'", "'lots'", "not a number"],
    );
}

#[test]
fn eval_missing_feature_column_lists_the_columns() {
    let (path, message) = eval_error(b"num,colour,label\n1,red,a\n");
    assert_mentions(&message, &[&path, "'cat'", "num, colour, label"]);
}

#[test]
fn eval_without_rows_is_an_error() {
    let (path, message) = eval_error(b"num,cat,label\n");
    assert_mentions(&message, &[&path, "no data rows"]);
}

// ---------------------------------------------------------------- training on gaps

#[test]
fn forest_trained_on_nan_and_inf_predicts_proper_probabilities() {
    let mut csv = String::from("x,y,label\n");
    for i in 0..300u32 {
        let x = match i % 10 {
            0 => "NaN".to_string(),
            1 => "".to_string(),
            2 => "inf".to_string(),
            3 => "-inf".to_string(),
            _ => (i % 37).to_string(),
        };
        let y = if i % 7 == 0 {
            "NA".to_string()
        } else {
            format!("{}", f64::from(i % 13) / 4.0)
        };
        // +inf and large x are "hi", -inf and small x "lo"; gaps by y.
        let hi = match i % 10 {
            0 | 1 => i % 13 > 6,
            2 => true,
            3 => false,
            _ => i % 37 > 18,
        };
        csv.push_str(&format!("{x},{y},{}\n", if hi { "hi" } else { "lo" }));
    }
    let data = read_ok(csv.as_bytes());
    let x = column(&data, "x");
    assert!(x.iter().any(|v| v.is_nan()));
    assert!(x.contains(&f32::INFINITY) && x.contains(&f32::NEG_INFINITY));

    let params = ForestParams {
        n_trees: 5,
        ..ForestParams::default()
    };
    let (model, _) = fit(&data, &params, &|_, _| {}).unwrap();
    // The artifact takes such a model and gives it back.
    let decoded = artifact::decode(&artifact::encode(&model)).unwrap();
    assert_eq!(decoded, model);

    let forest = &model.forest;
    let hi = data.classes.iter().position(|c| c == "hi").unwrap();
    let probe = [
        [f32::NAN, f32::NAN],
        [f32::INFINITY, 1.0],
        [f32::NEG_INFINITY, 1.0],
        [f32::INFINITY, f32::NAN],
        [f32::NEG_INFINITY, f32::INFINITY],
        [f32::NAN, f32::NEG_INFINITY],
    ];
    for row in probe {
        let p = forest.predict_proba(&row).unwrap();
        assert!(
            p.iter().all(|v| v.is_finite() && *v >= 0.0),
            "{row:?}: {p:?}"
        );
        let sum: f32 = p.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "{row:?}: sums to {sum}");
    }
    assert!(forest.predict_proba(&[f32::INFINITY, 1.0]).unwrap()[hi] > 0.5);
    assert!(forest.predict_proba(&[f32::NEG_INFINITY, 1.0]).unwrap()[hi] < 0.5);

    let proba = forest.predict_proba_batch(&data.rows_row_major()).unwrap();
    for (r, p) in proba.chunks_exact(data.classes.len()).enumerate() {
        let sum: f32 = p.iter().sum();
        assert!(
            p.iter().all(|v| v.is_finite()) && (sum - 1.0).abs() < 1e-5,
            "row {r}: {p:?}"
        );
    }
}

// ---------------------------------------------------------------- command line

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts that a run failed with a message and without a panic.
fn assert_fails_cleanly(out: &Output, parts: &[&str]) {
    let err = stderr(out);
    assert!(!out.status.success(), "should fail; stderr: {err}");
    assert!(!err.contains("panicked"), "panicked: {err}");
    assert_mentions(&err, parts);
}

/// A small, learnable table: the label follows `x`, `c` is noise.
fn small_table() -> String {
    let mut csv = String::from("x,c,label\n");
    for i in 0..120u32 {
        let c = ["p", "q", "r"][(i % 3) as usize];
        let label = if i % 40 < 20 { "lo" } else { "hi" };
        csv.push_str(&format!("{},{c},{label}\n", i % 40));
    }
    csv
}

/// Fits `small_table` with the CLI into `dir/model.forest`.
fn fit_small(dir: &Path) -> PathBuf {
    let data = write_file(dir, "data.csv", small_table().as_bytes());
    let model = dir.join("model.forest");
    let out = run([
        OsStr::new("fit"),
        "--data".as_ref(),
        data.as_os_str(),
        "--label".as_ref(),
        "label".as_ref(),
        "--out".as_ref(),
        model.as_os_str(),
        "--trees".as_ref(),
        "5".as_ref(),
        "--threads".as_ref(),
        "2".as_ref(),
    ]);
    assert!(out.status.success(), "fit failed: {}", stderr(&out));
    model
}

#[test]
fn cli_fit_on_a_missing_file_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("no-such-table.csv");
    let out = run([
        OsStr::new("fit"),
        "--data".as_ref(),
        data.as_os_str(),
        "--label".as_ref(),
        "label".as_ref(),
        "--out".as_ref(),
        dir.path().join("m.forest").as_os_str(),
    ]);
    assert_fails_cleanly(&out, &[&data.display().to_string()]);
    assert!(!dir.path().join("m.forest").exists());
}

#[test]
fn cli_fit_with_zero_threads_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_file(dir.path(), "data.csv", small_table().as_bytes());
    let out = run([
        OsStr::new("fit"),
        "--data".as_ref(),
        data.as_os_str(),
        "--label".as_ref(),
        "label".as_ref(),
        "--out".as_ref(),
        dir.path().join("m.forest").as_os_str(),
        "--threads".as_ref(),
        "0".as_ref(),
    ]);
    assert_fails_cleanly(&out, &["--threads", "at least 1"]);
}

#[test]
fn cli_fit_with_a_bad_max_features_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_file(dir.path(), "data.csv", small_table().as_bytes());
    let out = run([
        OsStr::new("fit"),
        "--data".as_ref(),
        data.as_os_str(),
        "--label".as_ref(),
        "label".as_ref(),
        "--out".as_ref(),
        dir.path().join("m.forest").as_os_str(),
        "--max-features".as_ref(),
        "1.5".as_ref(),
    ]);
    assert_fails_cleanly(&out, &["--max-features", "1.5", "fraction in (0, 1]"]);
}

#[test]
fn cli_fit_reports_bad_data_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_file(dir.path(), "bad.csv", b"x,label\n1,a\n2,\xff\n");
    let out = run([
        OsStr::new("fit"),
        "--data".as_ref(),
        data.as_os_str(),
        "--label".as_ref(),
        "label".as_ref(),
        "--out".as_ref(),
        dir.path().join("m.forest").as_os_str(),
    ]);
    assert_fails_cleanly(
        &out,
        &[&data.display().to_string(), "line 3, column 'label'"],
    );
}

#[test]
fn cli_fit_writes_atomically_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = fit_small(dir.path());
    let bytes = std::fs::read(&model).unwrap();
    artifact::decode(&bytes).expect("the written artifact decodes");
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["data.csv", "model.forest"]);
}

#[test]
fn cli_eval_json_prints_one_object() {
    let dir = tempfile::tempdir().unwrap();
    let model = fit_small(dir.path());
    let out = run([
        OsStr::new("eval"),
        "--model".as_ref(),
        model.as_os_str(),
        "--data".as_ref(),
        dir.path().join("data.csv").as_os_str(),
        "--json".as_ref(),
    ]);
    assert!(out.status.success(), "eval failed: {}", stderr(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}): {}", stdout(&out)));
    let obj = value.as_object().expect("a JSON object");
    for key in [
        "accuracy",
        "macro_f1",
        "weighted_f1",
        "per_class",
        "confusion",
    ] {
        assert!(obj.contains_key(key), "no '{key}' in {value}");
    }
    let accuracy = obj["accuracy"].as_f64().unwrap();
    assert!(
        (0.9..=1.0).contains(&accuracy),
        "training accuracy {accuracy}"
    );
    assert_eq!(obj["per_class"].as_array().unwrap().len(), 2);
    assert_eq!(obj["confusion"].as_array().unwrap().len(), 2);
}

#[test]
fn cli_eval_reports_an_unknown_label_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let model = fit_small(dir.path());
    let data = write_file(dir.path(), "eval.csv", b"x,c,label\n1,p,lo\n2,q,maybe\n");
    let out = run([
        OsStr::new("eval"),
        "--model".as_ref(),
        model.as_os_str(),
        "--data".as_ref(),
        data.as_os_str(),
    ]);
    assert_fails_cleanly(
        &out,
        &[
            &data.display().to_string(),
            "line 3, column 'label'",
            "'maybe'",
        ],
    );
}

#[test]
fn cli_inspect_prints_the_hash_and_depths() {
    let dir = tempfile::tempdir().unwrap();
    let model = fit_small(dir.path());
    let hash = artifact::content_hash(&std::fs::read(&model).unwrap());
    let out = run([OsStr::new("inspect"), model.as_os_str()]);
    assert!(out.status.success(), "inspect failed: {}", stderr(&out));
    let text = stdout(&out);
    assert_mentions(&text, &[&hash, "sha256", "depth"]);

    let out = run([OsStr::new("inspect"), model.as_os_str(), "--json".as_ref()]);
    assert!(
        out.status.success(),
        "inspect --json failed: {}",
        stderr(&out)
    );
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["sha256"], hash.as_str());
    assert_eq!(value["trees"], 5);
    assert!(value["depth"]["max"].as_u64().unwrap() >= 1);
}

#[test]
fn cli_inspect_of_a_file_that_is_not_a_model_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "junk.forest", b"definitely not a forest");
    let out = run([OsStr::new("inspect"), path.as_os_str()]);
    assert_fails_cleanly(&out, &[&path.display().to_string()]);
}

#[test]
fn cli_help_explains_every_subcommand() {
    let cases: [(&str, &[&str]); 3] = [
        (
            "fit",
            &[
                "--data",
                "--label",
                "--out",
                "--trees",
                "--max-features",
                "--threads",
                "--seed",
                "--class-weight",
                "sqrt, log2, all",
            ],
        ),
        ("eval", &["--model", "--data", "--json", "--threads"]),
        ("inspect", &["--json", "--top", "<MODEL>"]),
    ];
    for (command, flags) in cases {
        let out = run([command, "--help"]);
        assert!(out.status.success(), "{command} --help: {}", stderr(&out));
        assert_mentions(&stdout(&out), flags);
    }
}
