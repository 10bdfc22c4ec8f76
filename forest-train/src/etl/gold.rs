//! Gold: one row per labelled basket, with its split and the encoded
//! features, one Parquet file per shop week under `gold/SHOP_WEEK=<week>/`,
//! and beside them `gold/_spec.json`: the feature spec (vocabularies and
//! priors fitted on the training split) that `fit` embeds into the model.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::{ArrayRef, Float32Array, Int32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use forest_core::FeatureSpec;
use serde::{Deserialize, Serialize};

use super::parquet_io::{from_parquet, to_parquet, ColumnLayout};
use forest_learn::Dataset;

/// The label column of the gold table and of basket models.
pub const LABEL: &str = "BASKET_PRICE_SENSITIVITY";

/// Key of the spec file beside the gold partitions.
pub const SPEC_KEY: &str = "gold/_spec.json";

/// The key of one week's gold file.
pub fn part_key(week: i32) -> String {
    format!("gold/SHOP_WEEK={week}/part-0.parquet")
}

/// `gold/_spec.json`: how the gold table was made and how to make its
/// features from a raw basket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoldSpec {
    /// The label column ([`LABEL`]).
    pub label: String,
    /// The label classes in class-index order (`LA`, `MM`, `UM`; `XX` baskets
    /// are left out of gold).
    pub classes: Vec<String>,
    /// Seed of the split and the folds (see [`super::assign`]).
    pub seed: u64,
    /// Fractions of baskets in train, val and test.
    pub split: [f64; 3],
    /// Out-of-fold groups the training baskets were dealt into; each
    /// training basket's priors come from the other folds.
    pub folds: usize,
    /// The feature spec fitted on all training baskets, which `fit` embeds
    /// into the model.
    pub features: FeatureSpec,
}

/// Which part of the data a basket belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Trains the model; priors and the tag model are fitted on it.
    Train,
    /// Held out for the validation metrics that tuning compares.
    Val,
    /// Held out for the final evaluation.
    Test,
}

impl Split {
    /// Every split, in table order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    /// The split's name in the gold table and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }

    /// Reads a split's name (`validation` is taken for `val`); the error
    /// says which names there are.
    pub fn parse(s: &str) -> Result<Split, String> {
        match s {
            "train" => Ok(Split::Train),
            "val" | "validation" => Ok(Split::Val),
            "test" => Ok(Split::Test),
            _ => Err(format!("split '{s}': expected train, val or test")),
        }
    }
}

/// One gold row before encoding to Parquet.
pub struct GoldRow {
    /// The basket key (`id:...` or a composite `c:...`; see [`super::baskets`]).
    pub key: String,
    /// The basket's shop week, `YYYYWW`.
    pub shop_week: i32,
    /// The split the basket was assigned to.
    pub split: Split,
    /// Out-of-fold group of a training basket (-1 for val and test).
    pub fold: i32,
    /// The basket's label (`LA`, `MM` or `UM`).
    pub label: String,
    /// The encoded features, one per feature of the spec, in its order.
    pub features: Vec<f32>,
}

fn schema(spec: &FeatureSpec) -> Arc<Schema> {
    let mut fields = vec![
        Field::new("basket_key", DataType::Utf8, false),
        Field::new("shop_week", DataType::Int32, false),
        Field::new("split", DataType::Utf8, false),
        Field::new("fold", DataType::Int32, false),
        Field::new("label", DataType::Utf8, false),
    ];
    fields.extend(spec.names().map(|n| Field::new(n, DataType::Float32, true)));
    Arc::new(Schema::new(fields))
}

/// Gold rows to Parquet bytes. A basket's key is its own and the features
/// are measurements that seldom repeat exactly, so neither gets a
/// dictionary (the writer would hash every value only to store them all
/// again): keys as they are, features as byte streams. Week, split, fold
/// and label keep theirs.
pub fn write_rows(spec: &FeatureSpec, rows: &[GoldRow]) -> Result<Vec<u8>, String> {
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.key))),
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.shop_week),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.split.name()),
        )),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.fold))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.label))),
    ];
    for f in 0..spec.len() {
        columns.push(Arc::new(Float32Array::from_iter_values(
            rows.iter().map(|r| r.features[f]),
        )));
    }
    let batch = RecordBatch::try_new(schema(spec), columns).map_err(|e| e.to_string())?;
    to_parquet(&batch, |field| match field.name().as_str() {
        "basket_key" => ColumnLayout::Plain,
        _ if *field.data_type() == DataType::Float32 => ColumnLayout::FloatStreams,
        _ => ColumnLayout::Dictionary,
    })
}

/// Appends the rows of one gold file that belong to `split` to `data`, and
/// their basket keys to `keys` when given.
pub fn read_rows_into(
    bytes: Vec<u8>,
    split: Option<Split>,
    data: &mut Dataset,
    keys: Option<&mut Vec<String>>,
) -> Result<(), String> {
    let batch = from_parquet(bytes, &schema(&data.spec))?;
    let basket_keys = batch.column(0).as_string::<i32>();
    let splits = batch.column(2).as_string::<i32>();
    let labels = batch.column(4).as_string::<i32>();
    let keep: Vec<usize> = (0..batch.num_rows())
        .filter(|&i| split.is_none_or(|s| splits.value(i) == s.name()))
        .collect();
    if let Some(keys) = keys {
        keys.extend(keep.iter().map(|&i| basket_keys.value(i).to_string()));
    }
    for &i in &keep {
        let label = labels.value(i);
        let class = data
            .classes
            .iter()
            .position(|c| c == label)
            .ok_or_else(|| format!("row {i}: label '{label}' is not one of {:?}", data.classes))?;
        data.labels.push(class as u32);
    }
    for (f, column) in data.columns.iter_mut().enumerate() {
        let values = batch.column(5 + f).as_primitive::<Float32Type>();
        // Null cannot come from our writer; read it as missing all the same.
        column.extend(keep.iter().map(|&i| {
            use arrow_array::Array;
            if values.is_null(i) {
                f32::NAN
            } else {
                values.value(i)
            }
        }));
    }
    Ok(())
}
