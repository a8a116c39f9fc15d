//! Unit tests of the parent module.

use super::*;

fn table(n: usize) -> FeatureTable {
    FeatureTable {
        columns: vec!["d2_00".into(), "sdf_00".into()],
        rows: (0..n)
            .map(|i| Row {
                path: format!("c{}/train/m{i:05}.off", i % 3),
                class: format!("c{}", i % 3),
                split: if i % 5 == 0 {
                    Split::Test
                } else {
                    Split::Train
                },
                values: vec![i as f32 / 7.0, 1.0 / (i as f32 + 1.0)],
            })
            .collect(),
    }
}

#[test]
fn parquet_round_trips_exactly_and_deterministically() {
    for n in [1, 100, ROW_GROUP_ROWS + 10] {
        let t = table(n);
        let bytes = t.to_parquet_bytes().unwrap();
        assert_eq!(
            bytes,
            t.to_parquet_bytes().unwrap(),
            "same table, same bytes"
        );
        let back = FeatureTable::parse_parquet(bytes, Path::new("t.parquet")).unwrap();
        assert_eq!(back, t);
    }
}

#[test]
fn every_prefix_and_many_edits_fail_cleanly() {
    let bytes = table(50).to_parquet_bytes().unwrap();
    for cut in (0..bytes.len()).step_by(7) {
        let r = FeatureTable::parse_parquet(bytes[..cut].to_vec(), Path::new("t.parquet"));
        assert!(r.is_err(), "cut at {cut}");
    }
    for at in (0..bytes.len()).step_by(3) {
        for x in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[at] ^= x;
            // Ok (a value changed) or a clear error; never a panic.
            let _ = FeatureTable::parse_parquet(b, Path::new("t.parquet"));
        }
    }
}

#[test]
fn a_lying_page_header_is_refused_before_it_is_believed() {
    // A page header claiming 1 GB uncompressed from 10 bytes.
    let mut h = vec![0x15, 0x00]; // field 1 (type), i32 0
    h.push(0x15);
    h.extend(zigzag_varint(1 << 30)); // field 2: uncompressed
    h.push(0x15);
    h.extend(zigzag_varint(10)); // field 3: compressed
    h.push(0x00);
    h.extend([0u8; 10]);
    let e = check_pages(&h, false, false).unwrap_err();
    assert!(e.contains("more than Snappy"), "{e}");
    // A binary field claiming more bytes than are left.
    let h = [0x15, 0x00, 0x18, 0xff, 0xff, 0x03, 0x00];
    let e = check_pages(&h, false, false).unwrap_err();
    assert!(e.contains("bytes left") || e.contains("claims"), "{e}");
}

fn zigzag_varint(v: i64) -> Vec<u8> {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut out = Vec::new();
    loop {
        let b = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

/// One long path in a dictionary, repeated for every row, is a few bytes a row in the file but
/// the whole path a row once read: such a file is refused before anything is decoded, while a
/// table of ordinary paths with every column dictionary-coded (as other writers make by
/// default) reads as before.
#[test]
fn a_dictionary_repeating_a_long_value_is_refused_before_it_expands() {
    // An incompressible 100 KB path (Snappy would otherwise shrink it to nothing).
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let long: String = (0..100_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect();
    let mut t = table(4096);
    for r in &mut t.rows {
        r.path = long.clone();
    }
    let write = |t: &FeatureTable, dictionary: bool| -> Vec<u8> {
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_dictionary_enabled(dictionary)
            .build();
        let schema = schema(&t.columns);
        let mut buf = Vec::new();
        let mut w = ArrowWriter::try_new(&mut buf, schema.clone(), Some(props)).unwrap();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for f in [
            |r: &Row| r.path.clone(),
            |r: &Row| r.class.clone(),
            |r: &Row| r.split.as_str().to_string(),
        ] {
            arrays.push(Arc::new(StringArray::from_iter_values(
                t.rows.iter().map(f),
            )));
        }
        for k in 0..t.columns.len() {
            arrays.push(Arc::new(Float32Array::from_iter_values(
                t.rows.iter().map(|r| r.values[k]),
            )));
        }
        w.write(&RecordBatch::try_new(schema, arrays).unwrap())
            .unwrap();
        w.close().unwrap();
        buf
    };
    let hostile = write(&t, true);
    assert!(hostile.len() < 200_000, "{} bytes", hostile.len());
    let e = FeatureTable::parse_parquet(hostile, Path::new("t.parquet"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("dictionary values would expand"), "{e}");
    // Ordinary paths, every text and float column dictionary-coded: read exactly.
    let ordinary = table(5000);
    let back = FeatureTable::parse_parquet(write(&ordinary, true), Path::new("t.parquet"));
    assert_eq!(back.unwrap(), ordinary);
}
