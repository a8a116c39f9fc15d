//! Unit tests of the feature folder.

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
