//! `forest-train eval --report DIR`: the evaluation report lands in DIR
//! (created), holds what the brief promises, leaves no temporary files and
//! is byte-identical when the evaluation is run again.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Output;

use crate::{run, write_file};

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Three classes that follow `x` and `y` with some overlap, `c` is noise.
fn table(rows: u32, offset: u32) -> String {
    let mut csv = String::from("x,y,c,tier\n");
    for i in offset..offset + rows {
        let x = (i * 37) % 100;
        let y = (i * 53) % 100;
        let c = ["p", "q", "r", "s"][(i % 4) as usize];
        let tier = match (x + y / 3) % 120 {
            0..=39 => "low",
            40..=84 => "medium",
            _ => "high",
        };
        csv.push_str(&format!("{x},{y},{c},{tier}\n"));
    }
    csv
}

fn eval_report(model: &Path, data: &Path, report: &Path) -> Output {
    run([
        OsStr::new("eval"),
        "--model".as_ref(),
        model.as_os_str(),
        "--data".as_ref(),
        data.as_os_str(),
        "--permutation-importance".as_ref(),
        "3".as_ref(),
        "--threads".as_ref(),
        "2".as_ref(),
        "--json".as_ref(),
        "--report".as_ref(),
        report.as_os_str(),
    ])
}

#[test]
fn eval_writes_the_report_into_a_new_directory() {
    let dir = tempfile::tempdir().unwrap();
    let train = write_file(dir.path(), "train.csv", table(600, 0).as_bytes());
    let test = write_file(dir.path(), "test.csv", table(200, 600).as_bytes());
    let model = dir.path().join("m.forest");
    let fit = run([
        OsStr::new("fit"),
        "--data".as_ref(),
        train.as_os_str(),
        "--label".as_ref(),
        "tier".as_ref(),
        "--out".as_ref(),
        model.as_os_str(),
        "--trees".as_ref(),
        "15".as_ref(),
    ]);
    assert_ok(&fit, "fit");

    let report = dir.path().join("reports/m");
    let out = eval_report(&model, &test, &report);
    assert_ok(&out, "eval --report");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&report.display().to_string()),
        "does not say where: {stderr}"
    );

    let mut names: Vec<String> = std::fs::read_dir(&report)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "confusion_matrix.svg",
            "feature_importance.svg",
            "metrics.json",
            "permutation_importance.svg",
            "report.md",
        ],
        "unexpected files (temporary files left behind?)"
    );

    // metrics.json agrees with the --json scores printed on stdout.
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("metrics.json")).unwrap()).unwrap();
    for key in [
        "accuracy",
        "macro_f1",
        "weighted_f1",
        "log_loss",
        "per_class",
        "confusion",
    ] {
        assert_eq!(metrics[key], printed[key], "{key}");
    }
    assert_eq!(metrics["rows"], 200);
    assert_eq!(metrics["model"]["name"], "m.forest");
    let model_bytes = std::fs::read(&model).unwrap();
    assert_eq!(
        metrics["model"]["sha256"],
        forest_core::artifact::content_hash(&model_bytes)
    );
    assert!(metrics["training_metrics"]["oob_score"].is_number());
    assert_eq!(
        metrics["permutation_importance"].as_array().unwrap().len(),
        3
    );
    assert!(metrics["data"].as_str().unwrap().contains("200 rows"));

    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    for svg in [
        "confusion_matrix.svg",
        "feature_importance.svg",
        "permutation_importance.svg",
    ] {
        assert!(md.contains(&format!("]({svg})")), "report.md lacks {svg}");
    }
    let svg = std::fs::read_to_string(report.join("confusion_matrix.svg")).unwrap();
    for class in ["low", "medium", "high"] {
        assert!(svg.contains(&format!(">\n{class}\n</text>")), "{class}");
    }

    // Again, over the existing files: the same bytes.
    let before: Vec<Vec<u8>> = names
        .iter()
        .map(|n| std::fs::read(report.join(n)).unwrap())
        .collect();
    assert_ok(&eval_report(&model, &test, &report), "second eval --report");
    for (name, old) in names.iter().zip(&before) {
        assert_eq!(
            &std::fs::read(report.join(name)).unwrap(),
            old,
            "{name} changed"
        );
    }
}
