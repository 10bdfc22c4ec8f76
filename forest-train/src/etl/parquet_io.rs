//! Parquet bytes in, Arrow record batches out, and back: the one place that
//! knows the writer settings, so every table of the lake is written alike.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::Schema;
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

/// Encodes one batch as a Parquet file. Snappy keeps files small and fast
/// to read; a fixed `created_by` keeps the bytes the same across parquet
/// crate upgrades that change nothing else, so content hashes are stable.
pub fn to_parquet(batch: &RecordBatch) -> Result<Vec<u8>, String> {
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by("forest-train".into())
        .build();
    let mut out = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).map_err(|e| e.to_string())?;
    writer.write(batch).map_err(|e| e.to_string())?;
    writer.close().map_err(|e| e.to_string())?;
    Ok(out)
}

/// Decodes a Parquet file into one batch with the given schema (column
/// names and types must match; a file from another layout is an error).
pub fn from_parquet(bytes: Vec<u8>, schema: &Arc<Schema>) -> Result<RecordBatch, String> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes))
        .map_err(|e| e.to_string())?
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| e.to_string())?;
    let mut batches = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        if batch.schema().fields() != schema.fields() {
            return Err(format!(
                "unexpected columns: found {:?}",
                batch
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
            ));
        }
        batches.push(batch);
    }
    arrow_select::concat::concat_batches(schema, &batches).map_err(|e| e.to_string())
}
