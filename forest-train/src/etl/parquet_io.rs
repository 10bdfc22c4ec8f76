//! Parquet bytes in, Arrow record batches out, and back: the one place that
//! knows the writer settings, so every table of the lake is written alike.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Field, Schema};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::compute_leaves;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use super::dictionary_chunk;

/// How a column's values are laid out in a Parquet file: chosen by the
/// table that knows what the column holds, since a dictionary pays only
/// where values repeat (the writer hashes every value into it, and a
/// column of values that are all new gets a dictionary as large as the
/// column, plus an index per row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnLayout {
    /// A dictionary of the distinct values and an index per row (the
    /// writer's default): codes, labels, anything that repeats.
    Dictionary,
    /// Integers as bit-packed differences from the one before: counters,
    /// such as line numbers, where each value is new but a small step on.
    Delta,
    /// Floating-point values split into byte streams (the sign and exponent
    /// bytes of similar values then compress well): measurements that
    /// rarely repeat exactly.
    FloatStreams,
    /// The values as they are: text that rarely repeats (keys).
    Plain,
}

/// Encodes one batch as a Parquet file, each column laid out as `layout`
/// says. Snappy keeps files small and fast to read; a fixed `created_by`
/// keeps the bytes the same across parquet crate upgrades that change
/// nothing else, so content hashes are stable.
///
/// A column with a dictionary of text (string views) or 32-bit integers
/// is encoded by [`dictionary_chunk`], which builds the dictionary at a
/// fraction of the Arrow writer's cost; every other column by the Arrow
/// writer.
pub fn to_parquet(
    batch: &RecordBatch,
    layout: impl Fn(&Field) -> ColumnLayout,
) -> Result<Vec<u8>, String> {
    encode(batch, layout).map_err(|e| e.to_string())
}

fn encode(
    batch: &RecordBatch,
    layout: impl Fn(&Field) -> ColumnLayout,
) -> parquet::errors::Result<Vec<u8>> {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by("forest-train".into());
    for field in batch.schema().fields() {
        let path = ColumnPath::from(field.name().as_str());
        let encoding = match layout(field) {
            ColumnLayout::Dictionary => continue,
            ColumnLayout::Delta => Encoding::DELTA_BINARY_PACKED,
            ColumnLayout::FloatStreams => Encoding::BYTE_STREAM_SPLIT,
            ColumnLayout::Plain => Encoding::PLAIN,
        };
        props = props
            .set_column_dictionary_enabled(path.clone(), false)
            .set_column_encoding(path, encoding);
    }
    let writer = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(props.build()))?;
    // The Arrow writer's own parts, so that a column can be encoded
    // outside it: the file writer (with the Arrow schema in its metadata)
    // and one column writer per column and row group.
    let (mut file, column_writers) = writer.into_serialized_writer()?;
    let props = file.properties().clone();
    let group_rows = props.max_row_group_row_count().unwrap_or(usize::MAX).max(1);
    let schema = batch.schema();
    let descriptors = file.schema_descr().columns().to_vec();
    for (group, start) in (0..batch.num_rows()).step_by(group_rows).enumerate() {
        let rows = batch.slice(start, group_rows.min(batch.num_rows() - start));
        let writers = column_writers.create_column_writers(group)?;
        let mut row_group = file.next_row_group()?;
        for (c, (writer, field)) in writers.into_iter().zip(schema.fields()).enumerate() {
            let column = rows.column(c);
            match layout(field) {
                ColumnLayout::Dictionary if dictionary_chunk::supports(field.data_type()) => {
                    let descr = descriptors[c].clone();
                    let compression = props.compression(descr.path());
                    let chunk = dictionary_chunk::write_dictionary_chunk(
                        column.as_ref(),
                        descr,
                        compression,
                        props.data_page_row_count_limit(),
                    )?;
                    row_group.append_column(&chunk.bytes, chunk.close)?;
                }
                _ => {
                    let mut writer = writer;
                    for leaf in compute_leaves(field, column)? {
                        writer.write(&leaf)?;
                    }
                    writer.close()?.append_to_row_group(&mut row_group)?;
                }
            }
        }
        row_group.close()?;
    }
    file.into_inner()
}

/// Checks what the parquet crate trusts in a file's footer: every column
/// chunk lies inside the file. A hostile or corrupt footer with a negative
/// offset or length makes the crate panic (found by fuzzing:
/// fuzz/regressions/gold_parquet/); here it is an error naming the chunk.
fn check_layout(metadata: &ParquetMetaData, len: u64) -> Result<(), String> {
    for (g, group) in metadata.row_groups().iter().enumerate() {
        if group.num_rows() < 0 {
            return Err(format!("row group {g}: {} rows", group.num_rows()));
        }
        for (c, column) in group.columns().iter().enumerate() {
            let start = column
                .dictionary_page_offset()
                .unwrap_or_else(|| column.data_page_offset());
            let size = column.compressed_size();
            let inside = start >= 0
                && size >= 0
                && (start as u64)
                    .checked_add(size as u64)
                    .is_some_and(|end| end <= len);
            if !inside || column.data_page_offset() < 0 {
                return Err(format!(
                    "row group {g}, column {c}: {size} bytes at offset {start} do not lie in the \
                     {len}-byte file"
                ));
            }
        }
    }
    Ok(())
}

/// Decodes a Parquet file into one batch with the given schema (column
/// names and types must match; a file from another layout is an error).
///
/// The parquet crate panics on some malformed pages instead of returning
/// an error (found by fuzzing: fuzz/regressions/gold_parquet/); a lake file
/// can be corrupt, and a corrupt file must be an error that names it, not
/// the end of the process. So the decoder runs behind `catch_unwind`, and a
/// panic inside it becomes an error. Nothing of ours is inside the guard
/// that could be left half-updated: the bytes are owned by the call.
pub fn from_parquet(bytes: Vec<u8>, schema: &Arc<Schema>) -> Result<RecordBatch, String> {
    std::panic::catch_unwind(AssertUnwindSafe(|| decode(bytes, schema))).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(format!(
            "malformed Parquet data (the decoder failed: {what})"
        ))
    })
}

/// `Ok` when `batch` has exactly the columns of `schema` (names, types and
/// nullability); otherwise an error listing the columns it has.
pub fn check_columns(batch: &RecordBatch, schema: &Schema) -> Result<(), String> {
    if batch.schema().fields() == schema.fields() {
        return Ok(());
    }
    Err(format!(
        "unexpected columns: found {:?}",
        batch
            .schema()
            .fields()
            .iter()
            .map(|f| format!("{} {}", f.name(), f.data_type()))
            .collect::<Vec<_>>()
    ))
}

/// [`from_parquet`] without the guard.
fn decode(bytes: Vec<u8>, schema: &Arc<Schema>) -> Result<RecordBatch, String> {
    let len = bytes.len() as u64;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes)).map_err(|e| e.to_string())?;
    check_layout(builder.metadata(), len)?;
    let reader = builder
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| e.to_string())?;
    let mut batches = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        check_columns(&batch, schema)?;
        batches.push(batch);
    }
    arrow_select::concat::concat_batches(schema, &batches).map_err(|e| e.to_string())
}
