//! The feature table on disk: `descriptors.csv` (one row per mesh: `path,class,split`, then named
//! descriptor columns) and `manifest.json` (parameters, seed, counts, failures), with the checks
//! that keep a model from reading features of another kind.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dataset::Split;
use crate::descriptors::{DescriptorConfig, SdfStats};

/// File name of the table inside a features folder.
pub const TABLE_FILE: &str = "descriptors.csv";
/// File name of the manifest inside a features folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Version of the table and manifest layout; bumped when either changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;
/// The per-mesh cache file of a feature folder (what a rerun needs to reuse rows).
pub const CACHE_FILE: &str = "mesh_cache.json";

mod parquet_table;

/// How the feature table is stored. The manifest records it (absent means CSV, as every
/// shapeclf before Parquet wrote), and readers take the table the manifest names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum TableFormat {
    /// `descriptors.csv`: text, one line per mesh, for people and spreadsheets.
    #[default]
    Csv,
    /// `descriptors.parquet`: Apache Parquet (Snappy-compressed columns), for large tables,
    /// pandas, polars and Spark.
    Parquet,
}

impl TableFormat {
    /// Whether this is CSV (the manifest then leaves the field out, as before Parquet).
    pub fn is_csv(&self) -> bool {
        *self == TableFormat::Csv
    }

    /// `stem` with this format's extension.
    pub fn file_name(self, stem: &str) -> String {
        match self {
            TableFormat::Csv => format!("{stem}.csv"),
            TableFormat::Parquet => format!("{stem}.parquet"),
        }
    }
}

/// One mesh's row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Path relative to the dataset root.
    pub path: String,
    /// Class name.
    pub class: String,
    /// Train or test.
    pub split: Split,
    /// Descriptor values in the table's column order.
    pub values: Vec<f32>,
}

/// Descriptor columns and rows, sorted by path.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FeatureTable {
    /// Names of the descriptor columns (after `path,class,split`).
    pub columns: Vec<String>,
    /// One row per mesh.
    pub rows: Vec<Row>,
}

/// A mesh that could not be turned into a row, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Path relative to the dataset root.
    pub path: String,
    /// The reason.
    pub error: String,
}

/// Counts of a features run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Mesh files found.
    pub found: usize,
    /// Rows written.
    pub ok: usize,
    /// Files that failed.
    pub failed: usize,
    /// Rows taken unchanged from the previous run into the same folder (file content,
    /// parameters and seed unchanged).
    #[serde(default)]
    pub reused: usize,
    /// Files not reached because the run was interrupted; rerunning the same command finishes
    /// them.
    #[serde(default)]
    pub not_reached: usize,
}

/// Everything needed to read a feature folder safely and to reproduce it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `shapeclf`.
    pub tool: String,
    /// shapeclf version that wrote it.
    pub tool_version: String,
    /// Layout version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// Dataset folder the meshes came from.
    pub dataset: String,
    /// Seed every random choice flowed from.
    pub seed: u64,
    /// Descriptor parameters.
    pub descriptors: DescriptorConfig,
    /// Descriptor column names, in table order.
    pub columns: Vec<String>,
    /// Classes present, sorted.
    pub classes: Vec<String>,
    /// Found, ok, failed.
    pub counts: Counts,
    /// SDF ray totals over all meshes.
    pub sdf: SdfStats,
    /// Triangles over all meshes that succeeded.
    pub triangles: u64,
    /// Degenerate triangles dropped over all meshes.
    pub degenerate_dropped: u64,
    /// Meshes whose faces were flipped to face outwards.
    pub meshes_flipped: usize,
    /// Worker threads used.
    pub threads: usize,
    /// Wall-clock seconds of the run.
    pub wall_seconds: f64,
    /// Every mesh that failed, with its reason.
    pub failed: Vec<Failure>,
    /// Depth views written beside the table, if any.
    #[serde(default)]
    pub views: Option<ViewsInfo>,
    /// [`crate::dataset::content_hash`] of the `descriptors.csv` written with this manifest, hex:
    /// a rerun reuses rows only from a table that is provably this manifest's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_hash: Option<String>,
    /// The same for `mesh_cache.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_hash: Option<String>,
    /// How the table is stored (left out for CSV).
    #[serde(default, skip_serializing_if = "TableFormat::is_csv")]
    pub table_format: TableFormat,
    /// The shard this manifest's part covers, in a sharded run (left out in a whole folder,
    /// whether written by one run or merged from shards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::shard::Shard>,
}

impl Manifest {
    /// The names of the files this manifest belongs with (its shard's part, or the folder's).
    pub fn files(&self) -> crate::shard::PartFiles {
        crate::shard::part_files(self.shard, self.table_format)
    }
}

/// A content hash as written in manifests.
pub fn hash_hex(bytes: &[u8]) -> String {
    format!("{:016x}", crate::dataset::content_hash(bytes))
}

/// Where and how the depth views were written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewsInfo {
    /// Camera layout, resolution and up axis.
    pub config: crate::descriptors::views::ViewConfig,
    /// Views per mesh.
    pub count: usize,
    /// Views tiled per row in each image.
    pub grid_columns: usize,
    /// Folder of the view images, relative to the features folder.
    pub folder: String,
    /// How a row's image is named: `folder/<path>.png`.
    pub naming: String,
    /// Rays cast for views over all meshes.
    pub rays: u64,
}

/// File of the tiled views of the mesh at relative `path`, inside a features folder:
/// `views/<path>.png`. A component too long for a file name once `.png` is added (most file
/// systems stop at 255 bytes) is cut and given a hash of the whole, so it stays unique.
pub fn view_file(features_dir: &Path, path: &str) -> PathBuf {
    const MAX: usize = 255;
    let mut out = features_dir.join(VIEWS_DIR);
    let parts: Vec<&str> = path.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let suffix = if last { ".png" } else { "" };
        if part.len() + suffix.len() <= MAX {
            out.push(format!("{part}{suffix}"));
        } else {
            let mut cut = MAX - suffix.len() - 18;
            while !part.is_char_boundary(cut) {
                cut -= 1;
            }
            out.push(format!(
                "{}~{:016x}{suffix}",
                &part[..cut],
                crate::dataset::content_hash(part.as_bytes())
            ));
        }
    }
    out
}

/// Folder of the view images inside a features folder.
pub const VIEWS_DIR: &str = "views";

/// Errors reading or checking a feature folder.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    /// A file is missing or unreadable.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is there but not as expected.
    #[error("{path}: {msg}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
}

fn fmt_err(path: &Path, msg: impl Into<String>) -> FeatureError {
    FeatureError::Format {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

impl FeatureTable {
    /// Writes the table as CSV, atomically. Values use the shortest text that reads back to the
    /// same `f32`, so equal features give byte-identical files.
    pub fn write_csv(&self, path: &Path) -> std::io::Result<()> {
        crate::io::write_bytes_atomic(path, &self.to_csv_bytes()?)
    }

    /// The table as CSV bytes, exactly as [`FeatureTable::write_csv`] writes them.
    pub fn to_csv_bytes(&self) -> std::io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        {
            let w: &mut dyn std::io::Write = &mut buf;
            let mut csv = csv::Writer::from_writer(w);
            let mut header = vec!["path", "class", "split"];
            header.extend(self.columns.iter().map(String::as_str));
            csv.write_record(&header)?;
            let mut rec: Vec<String> = Vec::with_capacity(header.len());
            for r in &self.rows {
                rec.clear();
                rec.push(r.path.clone());
                rec.push(r.class.clone());
                rec.push(r.split.as_str().to_string());
                rec.extend(r.values.iter().map(|v| v.to_string()));
                csv.write_record(&rec)?;
            }
            csv.flush()?;
        }
        Ok(buf)
    }

    /// Reads and checks a table: header, column count of every row, known splits, finite values.
    pub fn read_csv(path: &Path) -> Result<FeatureTable, FeatureError> {
        let file = std::fs::File::open(path).map_err(|source| FeatureError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        FeatureTable::parse_csv(std::io::BufReader::new(file), path)
    }

    /// [`FeatureTable::read_csv`] from any reader; `path` names it in errors.
    pub fn parse_csv(
        reader: impl std::io::Read,
        path: &Path,
    ) -> Result<FeatureTable, FeatureError> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(reader);
        let header = rdr
            .headers()
            .map_err(|e| fmt_err(path, format!("unreadable header: {e}")))?
            .clone();
        if header.len() < 4
            || &header[0] != "path"
            || &header[1] != "class"
            || &header[2] != "split"
        {
            return Err(fmt_err(
                path,
                "header must start with path,class,split and name at least one descriptor column",
            ));
        }
        let columns: Vec<String> = header.iter().skip(3).map(str::to_string).collect();
        let mut rows = Vec::new();
        for (i, rec) in rdr.records().enumerate() {
            let line = i + 2;
            let rec = rec.map_err(|e| fmt_err(path, format!("line {line}: {e}")))?;
            if rec.len() != header.len() {
                return Err(fmt_err(
                    path,
                    format!(
                        "line {line}: {} fields, header has {}",
                        rec.len(),
                        header.len()
                    ),
                ));
            }
            let split = Split::parse(&rec[2]).ok_or_else(|| {
                fmt_err(
                    path,
                    format!("line {line}: split {:?} is not train or test", &rec[2]),
                )
            })?;
            let mut values = Vec::with_capacity(columns.len());
            for (k, s) in rec.iter().skip(3).enumerate() {
                let v: f32 = s.trim().parse().map_err(|_| {
                    fmt_err(
                        path,
                        format!("line {line}: column {}: {s:?} is not a number", columns[k]),
                    )
                })?;
                if !v.is_finite() {
                    return Err(fmt_err(
                        path,
                        format!(
                            "line {line}: column {}: value {s} is not finite",
                            columns[k]
                        ),
                    ));
                }
                values.push(v);
            }
            rows.push(Row {
                path: rec[0].to_string(),
                class: rec[1].to_string(),
                split,
                values,
            });
        }
        Ok(FeatureTable { columns, rows })
    }

    /// The table as bytes in `format`, exactly as a features folder holds it.
    pub fn to_bytes(&self, format: TableFormat) -> std::io::Result<Vec<u8>> {
        match format {
            TableFormat::Csv => self.to_csv_bytes(),
            TableFormat::Parquet => self.to_parquet_bytes(),
        }
    }

    /// Reads a table file in `format` and checks it as [`FeatureTable::read_csv`] does.
    pub fn read(path: &Path, format: TableFormat) -> Result<FeatureTable, FeatureError> {
        match format {
            TableFormat::Csv => FeatureTable::read_csv(path),
            TableFormat::Parquet => FeatureTable::read_parquet(path),
        }
    }

    /// Class names present in the table, sorted.
    pub fn classes(&self) -> Vec<String> {
        let mut c: Vec<String> = self.rows.iter().map(|r| r.class.clone()).collect();
        c.sort();
        c.dedup();
        c
    }
}

impl Manifest {
    /// Writes the manifest atomically.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        crate::io::write_json_atomic(path, self)
    }

    /// Reads a manifest and checks it was written by a compatible shapeclf.
    pub fn read(path: &Path) -> Result<Manifest, FeatureError> {
        let text = std::fs::read_to_string(path).map_err(|source| FeatureError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Manifest::parse(&text, path)
    }

    /// [`Manifest::read`] from text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, FeatureError> {
        let m: Manifest = serde_json::from_str(text)
            .map_err(|e| fmt_err(path, format!("not a shapeclf feature manifest: {e}")))?;
        if m.tool != "shapeclf" || m.format_version != FORMAT_VERSION {
            return Err(fmt_err(
                path,
                format!(
                    "written by {} format {}, this shapeclf reads format {FORMAT_VERSION}",
                    m.tool, m.format_version
                ),
            ));
        }
        Ok(m)
    }
}

/// Completes a commit of a `features` run that was killed while replacing the table, cache and
/// manifest (see [`crate::io::commit_files`]), so they are read as one generation.
pub fn finish_interrupted_write(dir: &Path) -> Result<(), FeatureError> {
    if !crate::io::has_journal(dir) {
        return Ok(());
    }
    let _lock = crate::io::FolderLock::acquire(dir).map_err(|e| {
        fmt_err(
            dir,
            format!("a `shapeclf features` run was interrupted while writing here: {e}"),
        )
    })?;
    crate::io::recover(dir).map_err(|source| FeatureError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    Ok(())
}

/// Whether the table in `dir` is byte for byte the one `manifest` was written with; `None`
/// when the manifest records no hash (written by an older shapeclf) or the table is unreadable.
pub fn table_matches_manifest(dir: &Path, manifest: &Manifest) -> Option<bool> {
    let want = manifest.table_hash.as_ref()?;
    let bytes = std::fs::read(dir.join(manifest.files().table)).ok()?;
    Some(hash_hex(&bytes) == *want)
}

/// A reader that hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    hasher: crate::dataset::ContentHasher,
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// [`read_folder`], also saying whether the table is byte for byte the one the manifest was
/// written with ([`table_matches_manifest`]), hashed while it is parsed: the table is read once.
pub fn read_folder_checked(
    dir: &Path,
) -> Result<(FeatureTable, Manifest, Option<bool>), FeatureError> {
    finish_interrupted_write(dir)?;
    read_part_checked(dir, MANIFEST_FILE)
}

/// [`read_folder_checked`] for the generation whose manifest is `manifest_file` in `dir`
/// (`manifest.json`, or a shard's part manifest), with the table the manifest names (CSV or
/// Parquet). It completes no interrupted commit: the caller has, or holds the part's lock.
pub fn read_part_checked(
    dir: &Path,
    manifest_file: &str,
) -> Result<(FeatureTable, Manifest, Option<bool>), FeatureError> {
    let mpath = dir.join(manifest_file);
    let manifest = Manifest::read(&mpath)?;
    let files = manifest.files();
    if files.manifest != manifest_file {
        return Err(fmt_err(
            &mpath,
            match manifest.shard {
                Some(s) => format!(
                    "describes shard {s} of a sharded run, not this folder: run `shapeclf merge {}` to combine the shards",
                    dir.display()
                ),
                None => "describes a whole folder, not a shard's part".to_string(),
            },
        ));
    }
    let tpath = dir.join(&files.table);
    let io = |source| FeatureError::Io {
        path: tpath.clone(),
        source,
    };
    let file = std::fs::File::open(&tpath).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let (table, hash) = match manifest.table_format {
        TableFormat::Csv => {
            let mut reader = HashingReader {
                inner: std::io::BufReader::new(file),
                hasher: crate::dataset::ContentHasher::new(len),
            };
            let table = FeatureTable::parse_csv(&mut reader, &tpath)?;
            (table, reader.hasher.finish())
        }
        TableFormat::Parquet => {
            // Parquet is read from its footer backwards: it is held whole (its real size,
            // not a size it claims), hashed, then parsed.
            let bytes = parquet_table::read_whole(file, len, &tpath)?;
            let hash = crate::dataset::content_hash(&bytes);
            (FeatureTable::parse_parquet(bytes, &tpath)?, hash)
        }
    };
    if table.columns != manifest.columns {
        return Err(fmt_err(
            &tpath,
            "columns differ from those the manifest records: table and manifest are from different runs",
        ));
    }
    let intact = manifest
        .table_hash
        .as_ref()
        .map(|want| format!("{hash:016x}") == *want);
    Ok((table, manifest, intact))
}

/// Reads a features folder's table and manifest and checks they agree with each other.
pub fn read_folder(dir: &Path) -> Result<(FeatureTable, Manifest), FeatureError> {
    read_folder_checked(dir).map(|(t, m, _)| (t, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> FeatureTable {
        FeatureTable {
            columns: vec!["d2_00".into(), "d2_01".into()],
            rows: vec![
                Row {
                    path: "a/train/x, y.off".into(),
                    class: "a".into(),
                    split: Split::Train,
                    values: vec![0.1, 1.0 / 3.0],
                },
                Row {
                    path: "b/test/z.off".into(),
                    class: "b".into(),
                    split: Split::Test,
                    values: vec![1e-9, 0.0],
                },
            ],
        }
    }

    #[test]
    fn csv_round_trips_exactly() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(TABLE_FILE);
        let t = table();
        t.write_csv(&p).unwrap();
        assert_eq!(FeatureTable::read_csv(&p).unwrap(), t);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("path,class,split,d2_00,d2_01\n"));
        // No temporary files left beside it.
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn bad_tables_are_clear_errors() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.csv");
        for (body, want) in [
            ("a,b\n", "header must start"),
            ("path,class,split,d2_00\nx,a,train\n", "line 2"),
            ("path,class,split,d2_00\nx,a,val,1\n", "not train or test"),
            ("path,class,split,d2_00\nx,a,train,NaN\n", "not finite"),
            ("path,class,split,d2_00\nx,a,train,abc\n", "not a number"),
        ] {
            std::fs::write(&p, body).unwrap();
            let e = FeatureTable::read_csv(&p).unwrap_err().to_string();
            assert!(e.contains(want), "{body:?}: {e}");
        }
        assert!(matches!(
            FeatureTable::read_csv(&d.path().join("missing.csv")),
            Err(FeatureError::Io { .. })
        ));
    }
}
