//! The feature table as bytes: CSV (and Parquet through [`super::parquet_table`]) written and
//! parsed with every field checked.

use super::*;

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
