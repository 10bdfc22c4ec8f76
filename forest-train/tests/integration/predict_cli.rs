//! `forest-train predict`: batch scoring of CSV files and gold tables.
//! Every input row gets a line with its id, class and probabilities equal
//! to the interpreter's; chunk boundaries change nothing; bad input stops
//! the run with the file, line and column, and leaves no output file.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Output;

use forest_core::artifact;
use forest_train::csv_input::read_csv_with_spec;
use forest_train::etl::{self, gold::Split, EtlConfig};
use forest_train::lake::{Lake, S3Options};
use forest_train::score::CHUNK_ROWS;
use forest_train::synth::{self, SynthConfig};

use crate::{run, write_file};

fn assert_ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `fit` on `rows` rows of [`table`] with `trees` trees: the model's path.
fn fit_on_table(dir: &Path, rows: usize, trees: usize) -> std::path::PathBuf {
    let train = write_file(dir, "train.csv", table(rows).as_bytes());
    let model = dir.join("m.forest");
    let trees = trees.to_string();
    assert_ok(
        &run([
            OsStr::new("fit"),
            "--data".as_ref(),
            train.as_os_str(),
            "--label".as_ref(),
            "y".as_ref(),
            "--trees".as_ref(),
            trees.as_ref(),
            "--out".as_ref(),
            model.as_os_str(),
        ]),
        "fit",
    );
    model
}

/// Two classes from `x` and a category, with an id column.
fn table(rows: usize) -> String {
    let mut csv = String::from("id,x,c,y\n");
    for i in 0..rows {
        let x = (i * 37) % 101;
        let c = ["p", "q", "r"][i % 3];
        let y = if x > 50 || c == "q" { "yes" } else { "no" };
        let x = if i % 17 == 0 {
            String::new()
        } else {
            x.to_string()
        };
        csv.push_str(&format!("row{i},{x},{c},{y}\n"));
    }
    csv
}

fn read_scores(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

#[test]
fn predict_scores_every_csv_row_as_the_interpreter_does_across_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let model = fit_on_table(dir.path(), 500, 15);
    // More rows than a chunk, so that a chunk boundary falls inside.
    let rows = CHUNK_ROWS + 1234;
    let data = write_file(dir.path(), "score.csv", table(rows).as_bytes());
    let out = dir.path().join("out/scores.csv");
    let stdout = assert_ok(
        &run([
            OsStr::new("predict"),
            "--model".as_ref(),
            model.as_os_str(),
            "--data".as_ref(),
            data.as_os_str(),
            "--id".as_ref(),
            "id".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ]),
        "predict",
    );
    assert!(stdout.contains(&format!("scored {rows} rows")), "{stdout}");
    let (header, lines) = read_scores(&out);
    assert_eq!(header, ["id", "class", "p_no", "p_yes"]);
    assert_eq!(lines.len(), rows);

    let model = artifact::decode(&std::fs::read(&model).unwrap()).unwrap();
    let dataset =
        read_csv_with_spec(&data, &model.meta.features, "y", &model.meta.classes).unwrap();
    let expected = model
        .forest
        .predict_proba_batch(&dataset.rows_row_major())
        .unwrap();
    for (i, (line, p)) in lines.iter().zip(expected.chunks_exact(2)).enumerate() {
        assert_eq!(line[0], format!("row{i}"));
        let ours: Vec<f32> = line[2..].iter().map(|v| v.parse().unwrap()).collect();
        assert_eq!(ours, p, "row {i}: probabilities read back exactly");
        let class = if p[1] > p[0] { "yes" } else { "no" };
        assert_eq!(line[1], class, "row {i}");
    }

    // Without --id the rows are numbered from 0.
    let numbered = dir.path().join("numbered.csv");
    assert_ok(
        &run([
            OsStr::new("predict"),
            "--model".as_ref(),
            dir.path().join("m.forest").as_os_str(),
            "--data".as_ref(),
            data.as_os_str(),
            "--out".as_ref(),
            numbered.as_os_str(),
        ]),
        "predict without --id",
    );
    let (header, numbered) = read_scores(&numbered);
    assert_eq!(header[0], "row");
    assert_eq!(numbered[rows - 1][0], (rows - 1).to_string());
    assert_eq!(numbered[rows - 1][1..], lines[rows - 1][1..]);
}

#[test]
fn predict_stops_at_a_bad_row_naming_it_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let model = fit_on_table(dir.path(), 300, 5);
    let mut bad = table(CHUNK_ROWS + 10);
    bad.push_str("late,12x,p,yes\n");
    let data = write_file(dir.path(), "bad.csv", bad.as_bytes());
    let out = dir.path().join("scores.csv");
    let result = run([
        OsStr::new("predict"),
        "--model".as_ref(),
        model.as_os_str(),
        "--data".as_ref(),
        data.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    let line = CHUNK_ROWS + 12;
    assert!(
        stderr.contains(&format!("bad.csv: line {line}, column 'x'")) && stderr.contains("12x"),
        "{stderr}"
    );
    assert!(!out.exists(), "a failed run leaves no scores file");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        3,
        "no temporary file is left behind"
    );

    // A file without one of the model's columns.
    let data = write_file(dir.path(), "nox.csv", b"id,c\nr0,p\n");
    let result = run([
        OsStr::new("predict"),
        "--model".as_ref(),
        model.as_os_str(),
        "--data".as_ref(),
        data.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("no column named 'x'"), "{stderr}");
}

#[test]
fn predict_scores_a_gold_split_by_basket_key_and_refuses_another_spec() {
    let dir = tempfile::tempdir().unwrap();
    let local = |p: &Path| Lake::open(p.to_str().unwrap(), &S3Options::default()).unwrap();
    let config = SynthConfig {
        weeks: 2,
        baskets_per_week: 300,
        ..SynthConfig::default()
    };
    let raw = local(&dir.path().join("raw"));
    for week in 0..config.weeks {
        raw.put(
            &config.file_name(week),
            &synth::generate_week(&config, week),
        )
        .unwrap();
    }
    let lake_path = dir.path().join("lake");
    etl::run(&raw, &local(&lake_path), &EtlConfig::default(), &|_| {}).unwrap();
    let gold_path = lake_path.join("gold");
    let model = dir.path().join("m.forest");
    assert_ok(
        &run([
            OsStr::new("fit"),
            "--data".as_ref(),
            gold_path.as_os_str(),
            "--split".as_ref(),
            "train".as_ref(),
            "--trees".as_ref(),
            "10".as_ref(),
            "--out".as_ref(),
            model.as_os_str(),
        ]),
        "fit",
    );
    let out = dir.path().join("test-scores.csv");
    assert_ok(
        &run([
            OsStr::new("predict"),
            "--model".as_ref(),
            model.as_os_str(),
            "--data".as_ref(),
            gold_path.as_os_str(),
            "--split".as_ref(),
            "test".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ]),
        "predict on gold",
    );
    let (header, lines) = read_scores(&out);
    assert_eq!(header, ["basket_key", "class", "p_LA", "p_MM", "p_UM"]);
    let test = etl::read_gold(&local(&gold_path), Some(Split::Test)).unwrap();
    assert_eq!(lines.len(), test.n_rows());
    let model_bytes = std::fs::read(&model).unwrap();
    let decoded = artifact::decode(&model_bytes).unwrap();
    let expected = decoded
        .forest
        .predict_proba_batch(&test.rows_row_major())
        .unwrap();
    for (line, p) in lines.iter().zip(expected.chunks_exact(3)) {
        assert!(
            line[0].starts_with("id:") || line[0].starts_with("c:"),
            "{line:?}"
        );
        let ours: Vec<f32> = line[2..].iter().map(|v| v.parse().unwrap()).collect();
        assert_eq!(ours, p);
    }

    // A model trained on a table with other priors reads these features
    // differently: refused.
    let other = dir.path().join("other");
    let other_raw = local(&other.join("raw"));
    let other_config = SynthConfig {
        seed: 7,
        ..config.clone()
    };
    for week in 0..other_config.weeks {
        other_raw
            .put(
                &other_config.file_name(week),
                &synth::generate_week(&other_config, week),
            )
            .unwrap();
    }
    etl::run(
        &other_raw,
        &local(&other.join("lake")),
        &EtlConfig::default(),
        &|_| {},
    )
    .unwrap();
    let result = run([
        OsStr::new("predict"),
        "--model".as_ref(),
        model.as_os_str(),
        "--data".as_ref(),
        other.join("lake/gold").as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("another feature spec"), "{stderr}");
}
