//! `metrics.json`: the report for programs. One pretty-printed object: the
//! evaluation flattened to the top level (so it decodes back into an
//! `Evaluation`), the model's identity, the trainer's own metrics and the
//! importances, largest first.

use forest_core::metrics::Evaluation;
use forest_core::TrainingInfo;
use serde::Serialize;

use super::{ranked_permutation, Ranked, ReportError, ReportInput};
use forest_learn::PermutationImportance;

#[derive(Serialize)]
struct MetricsDoc<'a> {
    model: ModelDoc<'a>,
    data: &'a str,
    #[serde(flatten)]
    evaluation: &'a Evaluation,
    /// Scores the trainer recorded in the model (OOB score and the like).
    training_metrics: &'a serde_json::Value,
    /// Mean decrease in impurity, largest first.
    feature_importance: &'a [Ranked],
    /// Accuracy drop per shuffled feature, largest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    permutation_importance: Option<Vec<PermutationImportance>>,
}

#[derive(Serialize)]
struct ModelDoc<'a> {
    name: &'a str,
    sha256: &'a str,
    label: &'a str,
    trees: usize,
    features: usize,
    trainer: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    git_revision: Option<&'a str>,
    training: &'a TrainingInfo,
}

/// Pretty JSON; keys come from struct declarations (and from the model's own
/// JSON for `training_metrics`), so their order never varies.
pub(super) fn metrics_json(input: &ReportInput, mdi: &[Ranked]) -> Result<Vec<u8>, ReportError> {
    let meta = input.meta;
    let doc = MetricsDoc {
        model: ModelDoc {
            name: input.model_name,
            sha256: input.model_sha256,
            label: &meta.label,
            trees: meta.tree_seeds.len(),
            features: meta.features.len(),
            trainer: &meta.trainer,
            git_revision: meta.git_revision.as_deref(),
            training: &meta.training,
        },
        data: input.data_description,
        evaluation: input.evaluation,
        training_metrics: &meta.metrics,
        feature_importance: mdi,
        permutation_importance: input.permutation.map(ranked_permutation),
    };
    let mut bytes = serde_json::to_vec_pretty(&doc)?;
    bytes.push(b'\n');
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use crate::report::tests::{build, evaluation, meta, permutation, CLASSES};
    use crate::report::METRICS_JSON;
    use forest_core::metrics::Evaluation;

    #[test]
    fn metrics_json_holds_the_scores_and_provenance() {
        let (m, e, p) = (meta(30), evaluation(), permutation(30));
        let files = build(&m, &e, Some(&p));
        let v: serde_json::Value =
            serde_json::from_slice(files.get(METRICS_JSON).unwrap()).unwrap();
        assert_eq!(v["accuracy"].as_f64(), Some(e.accuracy));
        assert_eq!(v["macro_f1"].as_f64(), Some(e.macro_f1));
        assert_eq!(v["weighted_f1"].as_f64(), Some(e.weighted_f1));
        assert_eq!(v["rows"].as_u64(), Some(103));
        assert_eq!(v["per_class"].as_array().unwrap().len(), 3);
        assert_eq!(v["per_class"][2]["label"], "Low");
        assert_eq!(v["per_class"][2]["support"], 16);
        assert_eq!(
            v["confusion"],
            serde_json::json!([[41, 7, 3], [5, 29, 2], [1, 4, 11]])
        );
        assert_eq!(v["classes"], serde_json::json!(CLASSES));
        assert_eq!(v["model"]["name"], "model.forest");
        assert_eq!(v["model"]["sha256"], "0f".repeat(32));
        assert_eq!(v["model"]["trees"], 100);
        assert_eq!(v["data"], "gold/ split test, 103 baskets");
        assert_eq!(v["training_metrics"]["oob_score"], 0.8125);
        let mdi = v["feature_importance"].as_array().unwrap();
        assert_eq!(mdi.len(), 30);
        assert!(mdi
            .windows(2)
            .all(|w| w[0]["importance"].as_f64() >= w[1]["importance"].as_f64()));
        let perm = v["permutation_importance"].as_array().unwrap();
        assert_eq!(perm.len(), 30);
        assert_eq!(perm[0]["feature"], "f29");
        // The same value decoded back into the evaluation type.
        let back: Evaluation = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(back, e);

        let without = build(&m, &e, None);
        let v: serde_json::Value =
            serde_json::from_slice(without.get(METRICS_JSON).unwrap()).unwrap();
        assert!(v.get("permutation_importance").is_none());
    }
}
