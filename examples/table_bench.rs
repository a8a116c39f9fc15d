//! Writes or reads a feature table of ROWS rows and COLS descriptor columns, as CSV or Parquet,
//! through the library's own writer and reader, and prints the time it took and the process's
//! peak memory. One operation per process, so each peak is its own: `scripts/table_bench.sh`
//! runs the four.
//!
//!     cargo run --release --example table_bench -- write csv 1000000 260 /tmp/t
//!     cargo run --release --example table_bench -- read csv 1000000 260 /tmp/t

use std::path::Path;
use std::time::Instant;

use rand::Rng;
use shapeclf::dataset::Split;
use shapeclf::features::{FeatureTable, Row, TableFormat};

/// Peak resident memory of this process so far, in MB (Linux).
fn peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// A table shaped like shapeclf's: histogram bins (small values summing to about one per
/// descriptor, many zeros in the tails) and a few statistics.
fn table(rows: usize, cols: usize) -> FeatureTable {
    let mut rng = shapeclf::seeding::rng_for(1, 99);
    let classes = [
        "bathtub", "bed", "chair", "desk", "dresser", "monitor", "sofa", "table",
    ];
    FeatureTable {
        columns: (0..cols).map(|k| format!("f_{k:03}")).collect(),
        rows: (0..rows)
            .map(|i| {
                let class = classes[i % classes.len()];
                Row {
                    path: format!("{class}/train/{class}_{i:07}.off"),
                    class: class.to_string(),
                    split: if i % 5 == 0 {
                        Split::Test
                    } else {
                        Split::Train
                    },
                    values: (0..cols)
                        .map(|k| {
                            if k % 32 > 24 {
                                0.0
                            } else {
                                rng.random::<f32>() / 16.0
                            }
                        })
                        .collect(),
                }
            })
            .collect(),
    }
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 6 {
        eprintln!("usage: table_bench write|read csv|parquet ROWS COLS DIR");
        std::process::exit(2);
    }
    let format = match a[2].as_str() {
        "csv" => TableFormat::Csv,
        "parquet" => TableFormat::Parquet,
        f => panic!("unknown format {f}"),
    };
    let (rows, cols): (usize, usize) = (a[3].parse().unwrap(), a[4].parse().unwrap());
    let path = Path::new(&a[5]).join(format.file_name("descriptors"));
    match a[1].as_str() {
        "write" => {
            let t = table(rows, cols);
            let base = peak_mb();
            let start = Instant::now();
            let bytes = t.to_bytes(format).unwrap();
            shapeclf::io::write_bytes_atomic(&path, &bytes).unwrap();
            println!(
                "write {} {rows}x{cols}: {:.1} s, {:.0} MB file, peak {:.0} MB ({:.0} MB of it the table in memory)",
                a[2],
                start.elapsed().as_secs_f64(),
                bytes.len() as f64 / 1e6,
                peak_mb(),
                base
            );
        }
        "read" => {
            let start = Instant::now();
            let t = FeatureTable::read(&path, format).unwrap();
            assert_eq!((t.rows.len(), t.columns.len()), (rows, cols));
            println!(
                "read {} {rows}x{cols}: {:.1} s, peak {:.0} MB",
                a[2],
                start.elapsed().as_secs_f64(),
                peak_mb()
            );
        }
        op => panic!("unknown operation {op}"),
    }
}
