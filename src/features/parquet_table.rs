//! The feature table as Apache Parquet, through the Arrow project's `parquet` crate: the same
//! columns as the CSV (`path`, `class`, `split` as UTF-8 strings, then one `float32` column per
//! descriptor), Snappy-compressed, in row groups of [`ROW_GROUP_ROWS`] rows.
//!
//! Reading is defensive, as for every other input: the file is held whole (its real size), and
//! before the `parquet` crate decodes anything, every number it would size a buffer by is
//! checked against the bytes that are really there: the footer (the crate checks its list
//! lengths against the bytes left), each column chunk's range and codec, and the header of
//! every page, walked here with a small Thrift reader (a page header's sizes and binary
//! lengths are otherwise trusted and allocated up front). What is decoded is bounded by what
//! the checked headers say. A panic inside the crate on input that slips past this is caught
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
            check_pages(&bytes[start as usize..(start + size) as usize])
                .map_err(|e| fmt_err(path, format!("column {name}: {e}")))?;
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

/// Walks the page headers of one column chunk (`chunk`, its bytes): each header must parse,
/// its page must lie within the chunk, every binary field in it must fit the bytes after it,
/// and a page may not claim to expand more than Snappy can. The `parquet` crate allocates a
/// page's claimed uncompressed size, and a header's binary fields, before reading them.
fn check_pages(chunk: &[u8]) -> Result<(), String> {
    let mut pos = 0usize;
    let mut pages = 0usize;
    while pos < chunk.len() {
        let mut t = Thrift {
            buf: &chunk[pos..],
            pos: 0,
        };
        let (uncompressed, compressed) = t.page_header()?;
        let (Ok(u), Ok(c)) = (u64::try_from(uncompressed), u64::try_from(compressed)) else {
            return Err(format!("page {pages}: negative size"));
        };
        let body = pos + t.pos;
        if (body as u64).saturating_add(c) > chunk.len() as u64 {
            return Err(format!(
                "page {pages}: runs past the end of its column chunk"
            ));
        }
        if u > c.saturating_mul(MAX_EXPANSION) + 4096 {
            return Err(format!(
                "page {pages}: claims {u} bytes uncompressed from {c} bytes, more than Snappy can expand"
            ));
        }
        pos = body + c as usize;
        pages += 1;
    }
    Ok(())
}

/// Just enough of Thrift's compact protocol to read a page header's two sizes and skip the
/// rest, with every length checked against the bytes left and nesting bounded.
struct Thrift<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Thrift<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.buf.get(self.pos).ok_or("page header truncated")?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return Err("page header: varint overflows".into());
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("page header: varint too long".into())
    }

    fn zigzag(&mut self) -> Result<i64, String> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn skip(&mut self, n: u64) -> Result<(), String> {
        let left = (self.buf.len() - self.pos) as u64;
        if n > left {
            return Err(format!(
                "page header: a field claims {n} bytes, {left} are left"
            ));
        }
        self.pos += n as usize;
        Ok(())
    }

    /// Skips one value of compact type `ty`.
    fn skip_value(&mut self, ty: u8, depth: usize) -> Result<(), String> {
        if depth > 16 {
            return Err("page header nested too deep".into());
        }
        match ty {
            1 | 2 => Ok(()),
            3 => self.skip(1),
            4..=6 => self.varint().map(|_| ()),
            7 => self.skip(8),
            8 => {
                let n = self.varint()?;
                self.skip(n)
            }
            9 | 10 => {
                let h = self.byte()?;
                let elem = h & 0x0f;
                let n = match h >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                if n > (self.buf.len() - self.pos) as u64 {
                    return Err("page header: a list claims more items than bytes left".into());
                }
                for _ in 0..n {
                    if elem == 1 || elem == 2 {
                        self.skip(1)?;
                    } else {
                        self.skip_value(elem, depth + 1)?;
                    }
                }
                Ok(())
            }
            11 => {
                let n = self.varint()?;
                if n == 0 {
                    return Ok(());
                }
                if n > (self.buf.len() - self.pos) as u64 {
                    return Err("page header: a map claims more items than bytes left".into());
                }
                let kv = self.byte()?;
                for _ in 0..n {
                    self.skip_value(kv >> 4, depth + 1)?;
                    self.skip_value(kv & 0x0f, depth + 1)?;
                }
                Ok(())
            }
            12 => self.skip_struct(depth + 1, |_, _, _| Ok(false)).map(|_| ()),
            other => Err(format!("page header: unknown field type {other}")),
        }
    }

    /// Reads a struct's fields, handing each to `take` (field id, type, self), which reads it
    /// and returns true, or returns false to have it skipped.
    fn skip_struct(
        &mut self,
        depth: usize,
        mut take: impl FnMut(i16, u8, &mut Self) -> Result<bool, String>,
    ) -> Result<(), String> {
        let mut last: i16 = 0;
        loop {
            let h = self.byte()?;
            if h == 0 {
                return Ok(());
            }
            let ty = h & 0x0f;
            let id = match h >> 4 {
                0 => i16::try_from(self.zigzag()?).map_err(|_| "page header: bad field id")?,
                d => last.wrapping_add(i16::from(d)),
            };
            last = id;
            if !take(id, ty, self)? {
                self.skip_value(ty, depth)?;
            }
        }
    }

    /// A PageHeader: (uncompressed_page_size, compressed_page_size), both required.
    fn page_header(&mut self) -> Result<(i64, i64), String> {
        let (mut u, mut c) = (None, None);
        self.skip_struct(0, |id, ty, t| {
            if (id == 2 || id == 3) && ty == 5 {
                let v = t.zigzag()?;
                if id == 2 {
                    u = Some(v)
                } else {
                    c = Some(v)
                }
                Ok(true)
            } else {
                Ok(false)
            }
        })?;
        match (u, c) {
            (Some(u), Some(c)) => Ok((u, c)),
            _ => Err("page header without its sizes".into()),
        }
    }
}

#[cfg(test)]
mod tests;
