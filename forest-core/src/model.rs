//! A model = a forest plus everything needed to use and trust it: the classes,
//! the feature spec, the parameters it was trained with and where its data
//! came from. This is what an artifact stores.

use serde::{Deserialize, Serialize};

use crate::drift::FeatureDistribution;
use crate::ensemble::Ensemble;
use crate::error::ModelError;
use crate::feature::FeatureSpec;
use crate::forest::Forest;

/// The JSON metadata section of an artifact.
///
/// Everything here must be a pure function of the training data, the
/// parameters and the seed, so that the same training run gives the same
/// bytes: no timestamps, no timings, no host names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// The label column the model predicts.
    pub label: String,
    /// Class labels; class `i` of every probability vector is `classes[i]`.
    pub classes: Vec<String>,
    /// How raw inputs become the feature vector.
    pub features: FeatureSpec,
    /// The hyper-parameters as the trainer understood them (a JSON object).
    pub params: serde_json::Value,
    /// What the model was trained on.
    pub training: TrainingInfo,
    /// Scores measured at training time (OOB score and the like).
    pub metrics: serde_json::Value,
    /// Mean decrease in impurity per feature, normalised to sum to one.
    pub feature_importance: Vec<f64>,
    /// The seed each tree was grown with, in tree order: enough to regrow
    /// any single tree, and to check that a merged forest has the trees it
    /// claims.
    pub tree_seeds: Vec<u64>,
    /// Name and version of the program that trained the model.
    pub trainer: String,
    /// Source revision of the trainer, when the caller supplied one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_revision: Option<String>,
    /// How the trees combine (format version 3); absent for a random
    /// forest's average. Must be the forest's own ([`Forest::ensemble`]).
    #[serde(default, skip_serializing_if = "Ensemble::is_average")]
    pub ensemble: Ensemble,
    /// Each feature's distribution over the training rows, in feature
    /// order, for drift monitoring ([`crate::drift`]); absent in models
    /// trained before it existed and in imported ones (drift is then off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_distribution: Option<Vec<FeatureDistribution>>,
}

/// Where the training rows came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// Path or URL the rows were read from, as the user gave it.
    pub source: String,
    /// Number of training rows.
    pub rows: u64,
    /// SHA-256 (hex) over the training rows as the trainer saw them.
    pub fingerprint: String,
}

/// A forest together with its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// What the forest means: classes, features, provenance.
    pub meta: Metadata,
    /// The trees.
    pub forest: Forest,
}

impl Model {
    /// Pairs metadata with a forest after checking that they agree.
    pub fn new(meta: Metadata, forest: Forest) -> Result<Model, ModelError> {
        meta.features.validate_basket()?;
        if let Some(priors) = &meta.features.basket {
            if priors.n_classes() != meta.classes.len() {
                return Err(ModelError::Invalid(format!(
                    "basket priors cover {} classes, the model has {}",
                    priors.n_classes(),
                    meta.classes.len()
                )));
            }
        }
        if meta.classes.len() != forest.n_classes() {
            return Err(ModelError::Invalid(format!(
                "metadata names {} classes, the forest has {}",
                meta.classes.len(),
                forest.n_classes()
            )));
        }
        if meta.features.len() != forest.n_features() {
            return Err(ModelError::Invalid(format!(
                "feature spec has {} features, the forest reads {}",
                meta.features.len(),
                forest.n_features()
            )));
        }
        if !meta.feature_importance.is_empty()
            && meta.feature_importance.len() != forest.n_features()
        {
            return Err(ModelError::Invalid(format!(
                "{} importances for {} features",
                meta.feature_importance.len(),
                forest.n_features()
            )));
        }
        if meta.ensemble != *forest.ensemble() {
            return Err(ModelError::Invalid(
                "the metadata's ensemble is not the forest's".into(),
            ));
        }
        if !meta.tree_seeds.is_empty() && meta.tree_seeds.len() != forest.n_trees() {
            return Err(ModelError::Invalid(format!(
                "{} tree seeds for {} trees",
                meta.tree_seeds.len(),
                forest.n_trees()
            )));
        }
        if let Some(dists) = &meta.training_distribution {
            if dists.len() != forest.n_features() {
                return Err(ModelError::Invalid(format!(
                    "training distributions of {} features, the forest reads {}",
                    dists.len(),
                    forest.n_features()
                )));
            }
            for (d, f) in dists.iter().zip(&meta.features.features) {
                d.validate(&f.name)?;
            }
        }
        Ok(Model { meta, forest })
    }
}
