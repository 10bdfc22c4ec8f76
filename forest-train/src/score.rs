//! Batch scoring: a model's class and probabilities for every row of a CSV
//! file or a gold table, written as CSV.
//!
//! Input is streamed, a chunk of rows at a time (a gold table a partition
//! at a time), so memory stays flat however long the input is; each chunk
//! is scored in parallel and written in input order. The output has one
//! line per input row: its id (a column the caller names, the basket key
//! of a gold table, or the row number), the most probable class, and one
//! probability column per class, `p_<class>`.
//!
//! Probabilities are forest-core's interpreter's, which every compiled
//! model equals bit for bit; they are written with the shortest text that
//! reads back as the same `f32`.

use std::io::Write;
use std::path::Path;

use forest_core::{argmax, Model, ModelError};
use rayon::prelude::*;
use thiserror::Error;

use crate::csv_input::FeatureRows;
use crate::error::DataError;
use crate::etl::gold::Split;
use crate::etl::{EtlError, GoldTable};
use crate::lake::Lake;

/// Rows read, scored and written at a time.
pub const CHUNK_ROWS: usize = 16_384;

/// Why scoring stopped.
#[derive(Debug, Error)]
pub enum ScoreError {
    /// The CSV input is unreadable or does not fit the model.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The gold table is unreadable or incomplete.
    #[error(transparent)]
    Gold(#[from] EtlError),
    /// The gold table was built with another feature spec than the model's.
    #[error(
        "the gold table at {location} was built with another feature spec than the model's \
         (different priors or vocabularies): its encoded features would mean something else \
         to this model"
    )]
    SpecMismatch {
        /// The gold table.
        location: String,
    },
    /// The model refused a row (cannot happen for rows of the right width).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Writing the output failed.
    #[error("writing the scores: {0}")]
    Write(#[from] csv::Error),
}

/// What a scoring run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreSummary {
    /// Rows scored.
    pub rows: u64,
    /// Rows predicted as each class, in the model's class order.
    pub predicted: Vec<u64>,
}

/// Scores the CSV file at `input` with `model`, writing CSV to `out`.
/// The file needs a column for each of the model's features (by name; a
/// label column and any others are ignored); `id_column` names a column
/// to copy into the output instead of the row number. `progress` is called
/// with the rows done after every chunk.
pub fn score_csv(
    model: &Model,
    input: &Path,
    id_column: Option<&str>,
    out: impl Write,
    progress: &mut dyn FnMut(u64),
) -> Result<ScoreSummary, ScoreError> {
    let mut reader = FeatureRows::open(input, &model.meta.features, id_column)?;
    let mut writer = ScoreWriter::new(model, id_column.unwrap_or("row"), out)?;
    let (mut rows, mut ids) = (Vec::new(), Vec::new());
    loop {
        rows.clear();
        ids.clear();
        if reader.read_chunk(CHUNK_ROWS, &mut rows, &mut ids)? == 0 {
            break;
        }
        writer.write_chunk(&rows, (id_column.is_some()).then_some(&ids[..]))?;
        progress(writer.summary.rows);
    }
    if writer.summary.rows == 0 {
        return Err(DataError::NoRows {
            path: input.to_path_buf(),
        }
        .into());
    }
    writer.finish()
}

/// Scores the rows of a gold table (those of `split`, or all) with
/// `model`, which must have been trained on a table built with the same
/// spec. Ids are the basket keys. `progress` is called after every
/// partition.
pub fn score_gold(
    model: &Model,
    gold: &Lake,
    split: Option<Split>,
    out: impl Write,
    progress: &mut dyn FnMut(u64),
) -> Result<ScoreSummary, ScoreError> {
    let table = GoldTable::open(gold)?;
    if table.spec.features != model.meta.features || table.spec.classes != model.meta.classes {
        return Err(ScoreError::SpecMismatch {
            location: gold.location(),
        });
    }
    let mut writer = ScoreWriter::new(model, "basket_key", out)?;
    for key in &table.parts {
        let mut data = table.empty_dataset(gold.location());
        let mut keys = Vec::new();
        table.read_part(key, split, &mut data, Some(&mut keys))?;
        for (rows, ids) in data
            .rows_row_major()
            .chunks(CHUNK_ROWS * model.forest.n_features().max(1))
            .zip(keys.chunks(CHUNK_ROWS))
        {
            writer.write_chunk(rows, Some(ids))?;
        }
        progress(writer.summary.rows);
    }
    writer.finish()
}

/// The output side: header, then a line per row.
struct ScoreWriter<'m, W: Write> {
    model: &'m Model,
    csv: csv::Writer<W>,
    summary: ScoreSummary,
}

impl<'m, W: Write> ScoreWriter<'m, W> {
    fn new(model: &'m Model, id_name: &str, out: W) -> Result<Self, ScoreError> {
        let mut csv = csv::Writer::from_writer(out);
        let classes = &model.meta.classes;
        let mut header = vec![id_name.to_string(), "class".to_string()];
        header.extend(classes.iter().map(|c| format!("p_{c}")));
        csv.write_record(&header)?;
        Ok(ScoreWriter {
            model,
            csv,
            summary: ScoreSummary {
                rows: 0,
                predicted: vec![0; classes.len()],
            },
        })
    }

    /// Scores row-major `rows` in parallel and writes them in order; `ids`
    /// (one per row) or the running row number identify them.
    fn write_chunk(&mut self, rows: &[f32], ids: Option<&[String]>) -> Result<(), ScoreError> {
        let forest = &self.model.forest;
        let (nf, k) = (forest.n_features().max(1), forest.n_classes());
        // Pieces of 1,024 rows keep both cores busy and the batch walk's
        // tree-major order cache-friendly.
        let proba: Vec<f32> = rows
            .par_chunks(1024 * nf)
            .map(|piece| forest.predict_proba_batch(piece))
            .collect::<Result<Vec<_>, _>>()?
            .concat();
        let mut record = Vec::with_capacity(k + 2);
        for (i, p) in proba.chunks_exact(k).enumerate() {
            let class = argmax(p);
            self.summary.predicted[class] += 1;
            record.clear();
            record.push(match ids {
                Some(ids) => ids[i].clone(),
                None => self.summary.rows.to_string(),
            });
            record.push(self.model.meta.classes[class].clone());
            record.extend(p.iter().map(|v| v.to_string()));
            self.csv.write_record(&record)?;
            self.summary.rows += 1;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<ScoreSummary, ScoreError> {
        self.csv.flush().map_err(csv::Error::from)?;
        Ok(self.summary)
    }
}
