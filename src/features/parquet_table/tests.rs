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
    let e = check_pages(&h).unwrap_err();
    assert!(e.contains("more than Snappy"), "{e}");
    // A binary field claiming more bytes than are left.
    let h = [0x15, 0x00, 0x18, 0xff, 0xff, 0x03, 0x00];
    let e = check_pages(&h).unwrap_err();
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
