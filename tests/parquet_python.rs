//! `features --format parquet` tables read by pandas (through pyarrow) and by polars, with the
//! same columns, rows and float32 values as the CSV of the same run. Needs a Python with
//! pandas, pyarrow and polars: `SHAPECLF_PYTHON` names it (`.ci/run` makes a virtual
//! environment and sets it, and sets `CI`, where a missing one fails the test), else `python3`;
//! without them the test is skipped with a notice.

use std::path::Path;
use std::process::Command;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn shapeclf(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_shapeclf"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const CHECK: &str = r#"
import sys
import numpy as np
import pandas as pd
import polars as pl

csv_path, pq_path = sys.argv[1], sys.argv[2]
ref = pd.read_csv(csv_path, dtype={"path": str, "class": str, "split": str})
pdf = pd.read_parquet(pq_path, engine="pyarrow")
plf = pl.read_parquet(pq_path)
assert list(pdf.columns) == list(ref.columns), (list(pdf.columns)[:5], list(ref.columns)[:5])
assert plf.columns == list(ref.columns)
assert len(pdf) == len(ref) == plf.height, (len(pdf), len(ref), plf.height)
for c in ["path", "class", "split"]:
    assert list(pdf[c]) == list(ref[c]), c
    assert plf[c].to_list() == list(ref[c]), c
values = [c for c in ref.columns[3:]]
assert all(str(pdf[c].dtype) == "float32" for c in values)
assert all(plf[c].dtype == pl.Float32 for c in values)
# The CSV holds each float32's shortest decimal: read as float32 it is the same number.
a = ref[values].to_numpy(dtype=np.float32)
assert np.array_equal(pdf[values].to_numpy(), a)
assert np.array_equal(plf.select(values).to_numpy(), a)
print(f"pandas {pd.__version__} and polars {pl.__version__}: {len(pdf)} rows x {len(pdf.columns)} columns, identical to the CSV")
"#;

#[test]
fn pandas_and_polars_read_the_parquet_table_as_the_csv() {
    let python = std::env::var("SHAPECLF_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import pandas, pyarrow, polars, numpy"])
        .output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide pandas, pyarrow and polars (SHAPECLF_PYTHON={python})"
        );
        eprintln!(
            "skipped: {python} lacks pandas, pyarrow or polars (pip install pandas pyarrow polars, then set SHAPECLF_PYTHON)"
        );
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let meshes = d.path().join("meshes");
    shapeclf(&["synth", s(&meshes), "--per-class", "3"]);
    let fast = [
        "--no-views",
        "--d2-points",
        "256",
        "--sdf-points",
        "64",
        "--sdf-rays",
        "8",
    ];
    let (csv, pq) = (d.path().join("csv"), d.path().join("pq"));
    let mut a = vec!["features", s(&meshes), "--out", s(&csv)];
    a.extend(fast);
    shapeclf(&a);
    let mut a = vec![
        "features",
        s(&meshes),
        "--out",
        s(&pq),
        "--format",
        "parquet",
    ];
    a.extend(fast);
    shapeclf(&a);
    let out = Command::new(&python)
        .args(["-c", CHECK])
        .arg(csv.join("descriptors.csv"))
        .arg(pq.join("descriptors.parquet"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprint!("{}", String::from_utf8_lossy(&out.stdout));
}
