//! The feature table as Apache Parquet, through the Arrow project's `parquet` crate: the same
//! columns as the CSV (`path`, `class`, `split` as UTF-8 strings, then one `float32` column per
//! descriptor), Snappy-compressed, in row groups of [`ROW_GROUP_ROWS`] rows.
//!
//! Reading is defensive, as for every other input: the file is held whole (its real size), and
//! before the `parquet` crate decodes anything, every number it would size a buffer by is
//! checked against the bytes that are really there: the footer (the crate checks its list
//! lengths against the bytes left), each column chunk's range and codec, and the header of
//! every page, walked here with a small Thrift reader (a page header's sizes and binary
//! lengths are otherwise trusted and allocated up front), and of every text column's dictionary
//! pages, whose longest value times the rows bounds what the reader copies out. What is decoded
//! is bounded by what the checked headers say. A panic inside the crate on input that slips past this is caught
//! and reported as a broken file.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Float32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::basic::Compression;
use parquet::file::metadata::ParquetMetaDataReader;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::{FeatureError, FeatureTable, Row, fmt_err};
use crate::dataset::Split;
use pages::check_pages;

/// Rows per row group: a writer holds one row group's pages in memory, a reader one batch.
pub const ROW_GROUP_ROWS: usize = 65_536;
/// Rows decoded at a time when reading.
const BATCH_ROWS: usize = 4096;
/// Largest table file read (the whole file is held in memory while it is parsed).
const MAX_FILE: u64 = 64 << 30;
/// How far Snappy can expand a page (its longest copy, 64 bytes, costs 2 bytes), with slack.
const MAX_EXPANSION: u64 = 40;

fn schema(columns: &[String]) -> Arc<Schema> {
    let mut fields = vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("class", DataType::Utf8, false),
        Field::new("split", DataType::Utf8, false),
    ];
    fields.extend(
        columns
            .iter()
            .map(|c| Field::new(c.as_str(), DataType::Float32, false)),
    );
    Arc::new(Schema::new(fields))
}

fn props() -> WriterProperties {
    // Descriptor values are nearly all distinct: dictionaries cost time and save nothing on
    // them, but shrink the class and split columns to almost nothing. Statistics per column
    // chunk only (page statistics would bloat a 260-column file). `created_by` names the
    // crate's version, which stays fixed for one shapeclf version: equal tables give equal
    // bytes, which merging shards and resuming rely on.
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_dictionary_enabled(false)
        .set_column_dictionary_enabled(ColumnPath::from("class"), true)
        .set_column_dictionary_enabled(ColumnPath::from("split"), true)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build()
}

impl FeatureTable {
    /// The table as Parquet bytes. Equal tables give equal bytes.
    pub fn to_parquet_bytes(&self) -> std::io::Result<Vec<u8>> {
        let schema = schema(&self.columns);
        let mut buf = Vec::new();
        let mut w = ArrowWriter::try_new(&mut buf, schema.clone(), Some(props()))
            .map_err(std::io::Error::other)?;
        for chunk in self.rows.chunks(ROW_GROUP_ROWS) {
            let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len() + 3);
            arrays.push(Arc::new(StringArray::from_iter_values(
                chunk.iter().map(|r| r.path.as_str()),
            )));
            arrays.push(Arc::new(StringArray::from_iter_values(
                chunk.iter().map(|r| r.class.as_str()),
            )));
            arrays.push(Arc::new(StringArray::from_iter_values(
                chunk.iter().map(|r| r.split.as_str()),
            )));
            for k in 0..self.columns.len() {
                arrays.push(Arc::new(Float32Array::from_iter_values(
                    chunk
                        .iter()
                        .map(|r| r.values.get(k).copied().unwrap_or(f32::NAN)),
                )));
            }
            let batch =
                RecordBatch::try_new(schema.clone(), arrays).map_err(std::io::Error::other)?;
            w.write(&batch).map_err(std::io::Error::other)?;
        }
        w.close().map_err(std::io::Error::other)?;
        Ok(buf)
    }

    /// Writes the table as Parquet, atomically.
    pub fn write_parquet(&self, path: &Path) -> std::io::Result<()> {
        crate::io::write_bytes_atomic(path, &self.to_parquet_bytes()?)
    }

    /// Reads and checks a Parquet table: the same checks as [`FeatureTable::read_csv`] (column
    /// names, known splits, finite values), on a file of any origin.
    pub fn read_parquet(path: &Path) -> Result<FeatureTable, FeatureError> {
        let io = |source| FeatureError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        FeatureTable::parse_parquet(read_whole(file, len, path)?, path)
    }

    /// [`FeatureTable::read_parquet`] on the file's bytes; `path` names it in errors. Never
    /// panics, and allocates in proportion to the bytes given, not to what they claim.
    pub fn parse_parquet(
        bytes: impl Into<Bytes>,
        path: &Path,
    ) -> Result<FeatureTable, FeatureError> {
        let bytes = bytes.into();
        std::panic::catch_unwind(|| parse(bytes, path)).unwrap_or_else(|_| {
            Err(fmt_err(
                path,
                "not a readable Parquet file (the parquet reader failed on it; please report)",
            ))
        })
    }
}

/// A file's bytes, read whole: its size as the file system reports it, checked, then read.
pub(super) fn read_whole(
    file: std::fs::File,
    len: u64,
    path: &Path,
) -> Result<Bytes, FeatureError> {
    use std::io::Read;
    if len > MAX_FILE {
        return Err(fmt_err(
            path,
            format!("{len} bytes: larger than the {MAX_FILE} bytes a table may have"),
        ));
    }
    let mut buf = Vec::with_capacity(len as usize);
    file.take(MAX_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(|source| FeatureError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(Bytes::from(buf))
}

fn parse(bytes: Bytes, path: &Path) -> Result<FeatureTable, FeatureError> {
    let perr =
        |e: parquet::errors::ParquetError| fmt_err(path, format!("not a Parquet table: {e}"));
    let meta = ParquetMetaDataReader::new()
        .parse_and_finish(&bytes)
        .map_err(perr)?;
    let file_len = bytes.len() as u64;
    // Every column chunk within the file, compressed as shapeclf writes (no codec that a
    // table does not need), and every page header in it consistent with the bytes.
    let mut claimed_rows: u64 = 0;
    // Bytes the text columns' dictionary values may be copied out to: rows times the longest.
    let mut dictionary_text: u64 = 0;
    for (g, rg) in meta.row_groups().iter().enumerate() {
        let rows = u64::try_from(rg.num_rows())
            .map_err(|_| fmt_err(path, format!("row group {g}: negative row count")))?;
        claimed_rows = claimed_rows.saturating_add(rows);
        for c in rg.columns() {
            let name = c.column_path().string();
            match c.compression() {
                Compression::UNCOMPRESSED | Compression::SNAPPY => {}
                other => {
                    return Err(fmt_err(
                        path,
                        format!(
                            "column {name}: compression {other} is not supported (shapeclf reads uncompressed or Snappy tables)"
                        ),
                    ));
                }
            }
            let start = c
                .dictionary_page_offset()
                .unwrap_or_else(|| c.data_page_offset());
            let size = c.compressed_size();
            let (Ok(start), Ok(size)) = (u64::try_from(start), u64::try_from(size)) else {
                return Err(fmt_err(
                    path,
                    format!("column {name}: negative offset or size"),
                ));
            };
            if start.checked_add(size).is_none_or(|end| end > file_len) {
                return Err(fmt_err(
                    path,
                    format!("column {name}: its pages lie past the end of the file"),
                ));
            }
            let text = c.column_type() == parquet::basic::Type::BYTE_ARRAY;
            let snappy = c.compression() == Compression::SNAPPY;
            let longest = check_pages(
                &bytes[start as usize..(start + size) as usize],
                text,
                snappy,
            )
            .map_err(|e| fmt_err(path, format!("column {name}: {e}")))?;
            dictionary_text = dictionary_text.saturating_add(rows.saturating_mul(longest));
        }
    }
    // What decoding may produce is bounded by the pages just checked; the row count the footer
    // claims must fit them too, or it would size the row list.
    let schema_len = meta.file_metadata().schema_descr().num_columns() as u64;
    if claimed_rows.saturating_mul(schema_len.max(1)) > file_len.saturating_mul(64 * MAX_EXPANSION)
    {
        return Err(fmt_err(
            path,
            format!("claims {claimed_rows} rows, more than its {file_len} bytes can hold"),
        ));
    }
    if dictionary_text > file_len.saturating_mul(64 * MAX_EXPANSION) {
        return Err(fmt_err(
            path,
            format!(
                "its text columns' dictionary values would expand to {dictionary_text} bytes, more than its {file_len} bytes can hold"
            ),
        ));
    }
    let opts = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
    let arm = ArrowReaderMetadata::try_new(Arc::new(meta), opts).map_err(perr)?;
    let fields = arm.schema().fields().clone();
    if fields.len() < 4
        || fields[0].name() != "path"
        || fields[1].name() != "class"
        || fields[2].name() != "split"
    {
        return Err(fmt_err(
            path,
            "columns must start with path,class,split and name at least one descriptor column",
        ));
    }
    for f in &fields[..3] {
        if f.data_type() != &DataType::Utf8 {
            return Err(fmt_err(
                path,
                format!(
                    "column {}: {} where text was expected",
                    f.name(),
                    f.data_type()
                ),
            ));
        }
    }
    for f in &fields[3..] {
        if f.data_type() != &DataType::Float32 {
            return Err(fmt_err(
                path,
                format!(
                    "column {}: {} where float32 was expected",
                    f.name(),
                    f.data_type()
                ),
            ));
        }
    }
    let columns: Vec<String> = fields[3..].iter().map(|f| f.name().clone()).collect();
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(bytes, arm)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(perr)?;
    let mut rows: Vec<Row> = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| fmt_err(path, format!("unreadable rows: {e}")))?;
        let line = rows.len();
        let text = |i: usize| -> Result<&StringArray, FeatureError> {
            let a = batch.column(i);
            let s = a
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| fmt_err(path, format!("column {}: not text", fields[i].name())))?;
            if s.null_count() > 0 {
                return Err(fmt_err(
                    path,
                    format!("column {}: missing values", fields[i].name()),
                ));
            }
            Ok(s)
        };
        let (p, c, sp) = (text(0)?, text(1)?, text(2)?);
        let mut values: Vec<&Float32Array> = Vec::with_capacity(columns.len());
        for (k, a) in batch.columns()[3..].iter().enumerate() {
            let f = a
                .as_any()
                .downcast_ref::<Float32Array>()
                .filter(|f| f.null_count() == 0)
                .ok_or_else(|| {
                    fmt_err(
                        path,
                        format!("column {}: missing or non-float values", columns[k]),
                    )
                })?;
            values.push(f);
        }
        for i in 0..batch.num_rows() {
            let row = line + i + 1;
            let split = Split::parse(sp.value(i)).ok_or_else(|| {
                fmt_err(
                    path,
                    format!("row {row}: split {:?} is not train or test", sp.value(i)),
                )
            })?;
            let mut vals = Vec::with_capacity(columns.len());
            for (k, f) in values.iter().enumerate() {
                let v = f.value(i);
                if !v.is_finite() {
                    return Err(fmt_err(
                        path,
                        format!("row {row}: column {}: value {v} is not finite", columns[k]),
                    ));
                }
                vals.push(v);
            }
            rows.push(Row {
                path: p.value(i).to_string(),
                class: c.value(i).to_string(),
                split,
                values: vals,
            });
        }
    }
    Ok(FeatureTable { columns, rows })
}

mod pages;

#[cfg(test)]
mod tests;
