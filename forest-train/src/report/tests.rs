//! Fixtures shared by the report's tests (a three-class evaluation with
//! distinct counts, a model with a very long feature name among the top
//! ones), and the tests of the report as a whole. Each writer's own tests
//! sit in its module.

use super::*;
use forest_core::metrics::evaluate;
use forest_core::{FeatureDef, FeatureSpec, TrainingInfo};

pub(super) const CLASSES: [&str; 3] = ["High", "Medium", "Low"];
pub(super) const LONG: &str =
    "prior_mean_price_tier_of_products_in_the_basket_at_PROD_CODE_40_level_weighted";
/// Where the long name sits: among the top 20 of both rankings.
const LONG_AT: usize = 27;

/// Confusion with every count distinct, so each can be looked for:
/// High: [41, 7, 3], Medium: [5, 29, 2], Low: [1, 4, 11].
pub(super) fn evaluation() -> Evaluation {
    let rows = [[41usize, 7, 3], [5, 29, 2], [1, 4, 11]];
    let (mut truth, mut pred) = (Vec::new(), Vec::new());
    for (t, row) in rows.iter().enumerate() {
        for (p, &n) in row.iter().enumerate() {
            truth.extend(std::iter::repeat_n(t, n));
            pred.extend(std::iter::repeat_n(p, n));
        }
    }
    let classes: Vec<String> = CLASSES.iter().map(|s| s.to_string()).collect();
    evaluate(&classes, &truth, None, &pred).unwrap()
}

pub(super) fn meta(n_features: usize) -> Metadata {
    let mut features: Vec<FeatureDef> = (0..n_features)
        .map(|i| FeatureDef::numeric(format!("f{i}")))
        .collect();
    features[LONG_AT].name = LONG.to_string();
    let raw: Vec<f64> = (0..n_features).map(|i| (i % 7 + 1) as f64).collect();
    let total: f64 = raw.iter().sum();
    Metadata {
        label: "BASKET_PRICE_SENSITIVITY".into(),
        classes: CLASSES.iter().map(|s| s.to_string()).collect(),
        features: FeatureSpec {
            features,
            ..FeatureSpec::default()
        },
        params: serde_json::json!({"n_trees": 100, "criterion": "gini", "max_depth": null}),
        training: TrainingInfo {
            source: "gold/ split train".into(),
            rows: 1234,
            fingerprint: "ab".repeat(32),
        },
        metrics: serde_json::json!({"oob_score": 0.8125, "oob_rows": 1200}),
        feature_importance: raw.iter().map(|v| v / total).collect(),
        tree_seeds: (0..100).collect(),
        trainer: "forest-train 0.1.0".into(),
        git_revision: None,
        ensemble: Default::default(),
        training_distribution: None,
    }
}

pub(super) fn permutation(n: usize) -> Vec<PermutationImportance> {
    (0..n)
        .map(|i| PermutationImportance {
            feature: if i == LONG_AT {
                LONG.into()
            } else {
                format!("f{i}")
            },
            mean: (i as f64 - 3.0) / 100.0,
            std: 0.004 * (i % 3) as f64,
        })
        .collect()
}

pub(super) fn build(
    meta: &Metadata,
    eval: &Evaluation,
    perm: Option<&[PermutationImportance]>,
) -> ReportFiles {
    build_report(&ReportInput {
        model_name: "model.forest",
        model_sha256: &"0f".repeat(32),
        meta,
        evaluation: eval,
        data_description: "gold/ split test, 103 baskets",
        permutation: perm,
    })
    .unwrap()
}

/// Whether the SVG has a `<text>` element holding exactly `s` (plotters
/// puts the text on a line of its own).
pub(super) fn has_text(svg: &str, s: &str) -> bool {
    svg.contains(&format!(">\n{s}\n</text>"))
}

pub(super) fn text(files: &ReportFiles, name: &str) -> String {
    String::from_utf8(
        files
            .get(name)
            .unwrap_or_else(|| panic!("no {name}"))
            .to_vec(),
    )
    .unwrap()
}

#[test]
fn produces_every_file_and_metrics_json_last() {
    let (m, e, p) = (meta(30), evaluation(), permutation(30));
    let with = build(&m, &e, Some(&p));
    let names: Vec<&str> = with.files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            CONFUSION_SVG,
            IMPORTANCE_SVG,
            PERMUTATION_SVG,
            REPORT_MD,
            METRICS_JSON
        ]
    );
    let without = build(&m, &e, None);
    let names: Vec<&str> = without.files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [CONFUSION_SVG, IMPORTANCE_SVG, REPORT_MD, METRICS_JSON]
    );
    for (name, bytes) in &with.files {
        assert!(!bytes.is_empty(), "{name} is empty");
        if name.ends_with(".svg") {
            let svg = std::str::from_utf8(bytes).unwrap();
            assert!(svg.starts_with("<svg"), "{name}");
            assert!(svg.trim_end().ends_with("</svg>"), "{name}");
        }
    }
}

#[test]
fn the_report_is_deterministic() {
    let (m, e, p) = (meta(30), evaluation(), permutation(30));
    let a = build(&m, &e, Some(&p));
    let b = build(&m.clone(), &e.clone(), Some(&p.clone()));
    assert_eq!(a, b);
}

#[test]
fn labels_are_escaped() {
    let mut e = evaluation();
    e.classes[0] = "a<b&c|d".into();
    e.per_class[0].label = e.classes[0].clone();
    let files = build(&meta(30), &e, None);
    assert!(text(&files, CONFUSION_SVG).contains(">\na&lt;b&amp;c|d\n</text>"));
    assert!(text(&files, REPORT_MD).contains("a\\<b&c\\|d"));
}

#[test]
fn inconsistent_input_is_an_error() {
    let m = meta(30);
    let mut e = evaluation();
    e.confusion.pop();
    let err = build_report(&ReportInput {
        model_name: "m",
        model_sha256: "",
        meta: &m,
        evaluation: &e,
        data_description: "",
        permutation: None,
    })
    .unwrap_err();
    assert!(matches!(err, ReportError::Inconsistent(_)), "{err}");
}
