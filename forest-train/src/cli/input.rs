//! Where `fit` and `eval` read their rows from: a CSV file, or a gold table
//! made by the ETL (a lake location, local or `s3://`, whose root holds
//! `_spec.json` and the week partitions), filtered to one split.

use anyhow::{bail, Context, Result};
use forest_core::Model;

use forest_learn::Dataset;
use forest_train::csv_input::{read_csv_with_spec, read_training_csv};
use forest_train::etl::gold::Split;
use forest_train::etl::read_gold;
use forest_train::lake::{Lake, S3Options};

/// A table given on the command line.
pub enum Source<'a> {
    Csv(&'a str),
    Gold { location: &'a str, split: Split },
}

impl<'a> Source<'a> {
    /// A path ending in `.csv` is a CSV file; anything else is a gold table,
    /// read at `split` (or `default_split` when none is given).
    pub fn parse(data: &'a str, split: Option<&str>, default_split: Split) -> Result<Source<'a>> {
        if data.to_ascii_lowercase().ends_with(".csv") {
            if split.is_some() {
                bail!("--split selects rows of a gold table; {data} is a CSV file");
            }
            return Ok(Source::Csv(data));
        }
        let split = match split {
            Some(s) => Split::parse(s).map_err(anyhow::Error::msg)?,
            None => default_split,
        };
        Ok(Source::Gold {
            location: data,
            split,
        })
    }

    fn gold(location: &str, split: Split, s3: &S3Options) -> Result<Dataset> {
        let lake = Lake::open(location, s3)?;
        let data = read_gold(&lake, Some(split))
            .with_context(|| format!("reading the gold table at {location}"))?;
        if data.n_rows() == 0 {
            bail!(
                "the gold table at {location} has no rows in split {}",
                split.name()
            );
        }
        Ok(data)
    }

    /// Rows to train on; a CSV needs the label column named.
    pub fn training(&self, label: Option<&str>, s3: &S3Options) -> Result<Dataset> {
        match self {
            Source::Csv(path) => {
                let label = label.context("--label is required with a CSV file")?;
                Ok(read_training_csv(path.as_ref(), label)?)
            }
            Source::Gold { location, split } => {
                let data = Self::gold(location, *split, s3)?;
                if label.is_some_and(|l| l != data.label) {
                    bail!(
                        "the gold table's label is {}, not {}",
                        data.label,
                        label.unwrap_or("")
                    );
                }
                Ok(data)
            }
        }
    }

    /// Rows to score `model` on, with the model's own features. A gold
    /// table must have been built with the model's feature spec: its
    /// features are already encoded.
    pub fn for_model(&self, model: &Model, label: Option<&str>, s3: &S3Options) -> Result<Dataset> {
        let meta = &model.meta;
        match self {
            Source::Csv(path) => {
                let label = label.unwrap_or(&meta.label);
                Ok(read_csv_with_spec(
                    path.as_ref(),
                    &meta.features,
                    label,
                    &meta.classes,
                )?)
            }
            Source::Gold { location, split } => {
                let data = Self::gold(location, *split, s3)?;
                if data.spec != meta.features || data.classes != meta.classes {
                    bail!(
                        "the gold table at {location} was built with another feature spec than \
                         the model's (different priors or vocabularies); rebuild the model from \
                         this table, or score it on the gold table it was trained with"
                    );
                }
                Ok(data)
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Source::Csv(path) => path.to_string(),
            Source::Gold { location, split } => format!("{location} (split {})", split.name()),
        }
    }
}
