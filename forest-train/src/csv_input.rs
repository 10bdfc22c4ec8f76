//! CSV tables: a header line, then one row per line.
//!
//! For training, column types are inferred: a column is numeric when every
//! non-missing value parses as a number, categorical otherwise. That needs
//! the whole column, so the file is read twice (types, then values) rather
//! than held in memory as text. For evaluation, the model's feature spec
//! decides how each column is read.
//!
//! Conventions (also in the README): empty cells and `NA`, `NaN`, `nan`,
//! `null` are missing values (NaN); `inf` and `-inf` are numbers; a missing
//! label is an error; a row with more or fewer fields than the header is an
//! error; so is text that is not UTF-8. Windows line endings are fine.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use csv::{ByteRecord, Position, ReaderBuilder};
use forest_core::{is_missing, parse_number, shorten};
use forest_core::{FeatureDef, FeatureKind, FeatureSpec};

use crate::error::DataError;
use forest_learn::Dataset;

/// An open CSV file with its header resolved.
struct Table {
    path: PathBuf,
    reader: csv::Reader<BufReader<File>>,
    header: Vec<String>,
}

impl Table {
    fn open(path: &Path) -> Result<Table, DataError> {
        let file = File::open(path).map_err(|error| DataError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        let mut reader = ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(BufReader::with_capacity(1 << 20, file));
        let header = reader
            .byte_headers()
            .map_err(|e| csv_error(path, e))?
            .clone();
        if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
            return Err(DataError::NoHeader {
                path: path.to_path_buf(),
            });
        }
        let mut names = Vec::with_capacity(header.len());
        for (i, raw) in header.iter().enumerate() {
            let name = std::str::from_utf8(raw).map_err(|_| DataError::Field {
                path: path.to_path_buf(),
                line: 1,
                column: format!("#{}", i + 1),
                message: "header name is not valid UTF-8".into(),
            })?;
            let name = name.trim().trim_start_matches('\u{feff}').to_string();
            if names.contains(&name) {
                return Err(DataError::DuplicateColumn {
                    path: path.to_path_buf(),
                    column: name,
                });
            }
            names.push(name);
        }
        Ok(Table {
            path: path.to_path_buf(),
            reader,
            header: names,
        })
    }

    fn column(&self, name: &str) -> Result<usize, DataError> {
        self.header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| DataError::MissingColumn {
                path: self.path.clone(),
                column: name.to_string(),
                available: self.header.join(", "),
            })
    }

    /// Reads the next data row into `record` (blank lines are not rows);
    /// its position, or `None` at the end of the file.
    fn next_row(&mut self, record: &mut ByteRecord) -> Result<Option<Position>, DataError> {
        loop {
            match self.reader.read_byte_record(record) {
                Ok(false) => return Ok(None),
                Ok(true) => {
                    // A blank line at the end (or anywhere) is not a row.
                    if record.len() == 1 && record[0].is_empty() && self.header.len() > 1 {
                        continue;
                    }
                    return Ok(Some(
                        record.position().cloned().unwrap_or_else(Position::new),
                    ));
                }
                Err(e) => return Err(csv_error(&self.path, e)),
            }
        }
    }

    /// `e`, about the row at `pos`, with the line the row really starts on.
    fn at_row(&self, mut e: DataError, pos: &Position) -> DataError {
        if let DataError::Line { line, .. } | DataError::Field { line, .. } = &mut e {
            *line = record_line(&self.path, pos);
        }
        e
    }

    /// Calls `each(line, record)` for every data row.
    fn for_each_row(
        &mut self,
        mut each: impl FnMut(u64, &ByteRecord) -> Result<(), DataError>,
    ) -> Result<u64, DataError> {
        let mut record = ByteRecord::new();
        let mut rows = 0;
        while let Some(pos) = self.next_row(&mut record)? {
            each(pos.line(), &record).map_err(|e| self.at_row(e, &pos))?;
            rows += 1;
        }
        Ok(rows)
    }
}

/// The line a record starts on, for error messages. csv reports the line
/// where it began to look for the record, before the line breaks it skipped
/// on the way: the `\n` of the `\r\n` that ended the previous record, and
/// blank lines. (With Windows line endings every line number would be one
/// too small.) So this reads the bytes from there up to the record, only
/// when there is an error to report.
fn record_line(path: &Path, pos: &Position) -> u64 {
    let mut line = pos.line();
    let Ok(mut file) = File::open(path) else {
        return line;
    };
    if file.seek(SeekFrom::Start(pos.byte())).is_err() {
        return line;
    }
    for byte in BufReader::new(file).bytes() {
        match byte {
            Ok(b'\n') => line += 1,
            Ok(b'\r') => {}
            _ => break,
        }
    }
    line
}

fn csv_error(path: &Path, e: csv::Error) -> DataError {
    let line = e.position().map_or(0, |p| record_line(path, p));
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("expected {expected_len} fields like the header, found {len}"),
        csv::ErrorKind::Io(io) => io.to_string(),
        _ => e.to_string(),
    };
    DataError::Line {
        path: path.to_path_buf(),
        line,
        message,
    }
}

/// Codes strings in order of first appearance; sorted at the end.
#[derive(Default)]
struct Interner {
    index: HashMap<String, u32>,
}

impl Interner {
    fn code(&mut self, s: &str) -> u32 {
        if let Some(&c) = self.index.get(s) {
            return c;
        }
        let c = self.index.len() as u32;
        self.index.insert(s.to_string(), c);
        c
    }

    /// The sorted vocabulary and, for each first-appearance code, its
    /// position in it.
    fn into_sorted(self) -> (Vec<String>, Vec<u32>) {
        let mut pairs: Vec<(String, u32)> = self.index.into_iter().collect();
        pairs.sort_unstable();
        let mut remap = vec![0u32; pairs.len()];
        for (sorted, (_, first)) in pairs.iter().enumerate() {
            remap[*first as usize] = sorted as u32;
        }
        (pairs.into_iter().map(|(s, _)| s).collect(), remap)
    }
}

/// Reads a CSV for training: every column but `label` becomes a feature,
/// numeric or categorical by inference.
pub fn read_training_csv(path: &Path, label: &str) -> Result<Dataset, DataError> {
    // Pass 1: which columns are numeric, and does the file have rows at all.
    let mut table = Table::open(path)?;
    let label_col = table.column(label)?;
    let feature_cols: Vec<usize> = (0..table.header.len())
        .filter(|&c| c != label_col)
        .collect();
    if feature_cols.is_empty() {
        return Err(DataError::NoFeatures {
            path: path.to_path_buf(),
            column: label.to_string(),
        });
    }
    let header = table.header.clone();
    let mut numeric = vec![true; header.len()];
    let n_rows = {
        let mut numeric_now = numeric.clone();
        let rows = table.for_each_row(|line, record| {
            for &c in &feature_cols {
                if numeric_now[c] {
                    let v = text(path, &header, record, line, c)?;
                    if !is_missing(v) && parse_number(v.trim()).is_none() {
                        numeric_now[c] = false;
                    }
                }
            }
            Ok(())
        });
        numeric = numeric_now;
        rows?
    };
    if n_rows == 0 {
        return Err(DataError::NoRows {
            path: path.to_path_buf(),
        });
    }

    // Pass 2: values.
    let mut table = Table::open(path)?;
    if table.header != header {
        return Err(DataError::Line {
            path: path.to_path_buf(),
            line: 1,
            message: "the header changed while the file was read".into(),
        });
    }
    let n = n_rows as usize;
    let mut columns: Vec<Vec<f32>> = feature_cols.iter().map(|_| Vec::with_capacity(n)).collect();
    let mut interners: Vec<Interner> = feature_cols.iter().map(|_| Interner::default()).collect();
    let mut labels_interner = Interner::default();
    let mut labels = Vec::with_capacity(n);
    table.for_each_row(|line, record| {
        let y = label_text(path, &header, record, line, label_col)?;
        labels.push(labels_interner.code(y));
        for (j, &c) in feature_cols.iter().enumerate() {
            let v = text(path, &header, record, line, c)?;
            let x = if is_missing(v) {
                f32::NAN
            } else if numeric[c] {
                // Pass 1 proved it parses; a file changed between passes is
                // still reported rather than trusted.
                parse_number(v.trim()).ok_or_else(|| DataError::Field {
                    path: path.to_path_buf(),
                    line,
                    column: header[c].clone(),
                    message: format!(
                        "'{}' is not a number (the file changed while read?)",
                        shorten(v)
                    ),
                })?
            } else {
                interners[j].code(v.trim()) as f32
            };
            columns[j].push(x);
        }
        Ok(())
    })?;

    let mut features = Vec::with_capacity(feature_cols.len());
    for ((&c, column), interner) in feature_cols.iter().zip(&mut columns).zip(interners) {
        if numeric[c] {
            features.push(FeatureDef::numeric(header[c].clone()));
        } else {
            let (vocabulary, remap) = interner.into_sorted();
            for x in column.iter_mut() {
                if !x.is_nan() {
                    *x = remap[*x as usize] as f32;
                }
            }
            features.push(FeatureDef {
                name: header[c].clone(),
                kind: FeatureKind::Categorical { vocabulary },
            });
        }
    }
    let (classes, remap) = labels_interner.into_sorted();
    if classes.len() < 2 {
        return Err(DataError::OneClass {
            path: path.to_path_buf(),
            column: label.to_string(),
            class: classes.into_iter().next().unwrap_or_default(),
        });
    }
    for y in labels.iter_mut() {
        *y = remap[*y as usize];
    }
    Ok(Dataset {
        source: path.display().to_string(),
        spec: FeatureSpec {
            features,
            basket: None,
        },
        columns,
        label: label.to_string(),
        classes,
        labels,
    })
}

/// Reads a CSV with a model's feature spec and classes, for evaluation.
/// Columns the spec does not name are ignored; a label the model does not
/// know is an error, since no prediction could be scored against it.
pub fn read_csv_with_spec(
    path: &Path,
    spec: &FeatureSpec,
    label: &str,
    classes: &[String],
) -> Result<Dataset, DataError> {
    let mut table = Table::open(path)?;
    let label_col = table.column(label)?;
    let cols: Vec<usize> = spec
        .names()
        .map(|name| table.column(name))
        .collect::<Result<_, _>>()?;
    let mut columns: Vec<Vec<f32>> = vec![Vec::new(); cols.len()];
    let mut labels = Vec::new();
    let header = table.header.clone();
    let rows = table.for_each_row(|line, record| {
        let y = label_text(path, &header, record, line, label_col)?;
        let class = classes
            .iter()
            .position(|c| c == y)
            .ok_or_else(|| DataError::Field {
                path: path.to_path_buf(),
                line,
                column: header[label_col].clone(),
                message: format!(
                    "label '{}' is not one of the model's classes ({})",
                    shorten(y),
                    classes.join(", ")
                ),
            })?;
        labels.push(class as u32);
        for ((def, &c), column) in spec.features.iter().zip(&cols).zip(&mut columns) {
            column.push(encoded(def, path, &header, record, line, c)?);
        }
        Ok(())
    })?;
    if rows == 0 {
        return Err(DataError::NoRows {
            path: path.to_path_buf(),
        });
    }
    Ok(Dataset {
        source: path.display().to_string(),
        spec: spec.clone(),
        columns,
        label: label.to_string(),
        classes: classes.to_vec(),
        labels,
    })
}

/// A CSV file read a chunk of rows at a time with a model's feature spec,
/// for batch scoring: memory holds one chunk, whatever the file's size.
/// Columns the spec does not name are ignored (a label column among them).
pub struct FeatureRows {
    table: Table,
    spec: FeatureSpec,
    /// The header position of each feature, in spec order.
    columns: Vec<usize>,
    id: Option<usize>,
    record: ByteRecord,
}

impl FeatureRows {
    /// Opens `path` for `spec`; `id_column`, when given, is a column whose
    /// values are passed along with each row (a basket or customer id).
    pub fn open(
        path: &Path,
        spec: &FeatureSpec,
        id_column: Option<&str>,
    ) -> Result<FeatureRows, DataError> {
        let table = Table::open(path)?;
        let columns = spec
            .names()
            .map(|name| table.column(name))
            .collect::<Result<_, _>>()?;
        let id = id_column.map(|name| table.column(name)).transpose()?;
        Ok(FeatureRows {
            table,
            spec: spec.clone(),
            columns,
            id,
            record: ByteRecord::new(),
        })
    }

    /// Reads up to `max_rows` rows: their encoded features appended
    /// row-major to `rows`, their id values (if an id column was named) to
    /// `ids`. Returns how many rows were read; 0 at the end of the file.
    pub fn read_chunk(
        &mut self,
        max_rows: usize,
        rows: &mut Vec<f32>,
        ids: &mut Vec<String>,
    ) -> Result<usize, DataError> {
        let mut read = 0;
        while read < max_rows {
            let Some(pos) = self.table.next_row(&mut self.record)? else {
                break;
            };
            self.encode(pos.line(), rows, ids)
                .map_err(|e| self.table.at_row(e, &pos))?;
            read += 1;
        }
        Ok(read)
    }

    fn encode(
        &self,
        line: u64,
        rows: &mut Vec<f32>,
        ids: &mut Vec<String>,
    ) -> Result<(), DataError> {
        let (path, header, record) = (&self.table.path, &self.table.header, &self.record);
        for (def, &c) in self.spec.features.iter().zip(&self.columns) {
            rows.push(encoded(def, path, header, record, line, c)?);
        }
        if let Some(c) = self.id {
            ids.push(text(path, header, record, line, c)?.to_string());
        }
        Ok(())
    }
}

/// Field `col` of a row encoded by its feature definition, or an error
/// naming the line and column.
fn encoded(
    def: &FeatureDef,
    path: &Path,
    header: &[String],
    record: &ByteRecord,
    line: u64,
    col: usize,
) -> Result<f32, DataError> {
    let raw = text(path, header, record, line, col)?;
    def.encode(raw).map_err(|e| DataError::Field {
        path: path.to_path_buf(),
        line,
        column: header[col].clone(),
        message: e.to_string(),
    })
}

/// The label of a row, trimmed; a missing label is an error naming the row.
fn label_text<'r>(
    path: &Path,
    header: &[String],
    record: &'r ByteRecord,
    line: u64,
    col: usize,
) -> Result<&'r str, DataError> {
    let y = text(path, header, record, line, col)?.trim();
    if is_missing(y) {
        return Err(DataError::Field {
            path: path.to_path_buf(),
            line,
            column: header[col].clone(),
            message: "the label is missing".into(),
        });
    }
    Ok(y)
}

/// Field `col` of a row as text, or an error naming the line and column.
fn text<'r>(
    path: &Path,
    header: &[String],
    record: &'r ByteRecord,
    line: u64,
    col: usize,
) -> Result<&'r str, DataError> {
    std::str::from_utf8(&record[col]).map_err(|e| DataError::Field {
        path: path.to_path_buf(),
        line,
        column: header[col].clone(),
        message: format!("not valid UTF-8 (bad byte at offset {})", e.valid_up_to()),
    })
}
