//! Unit tests of the parent module.

use super::*;

fn touch(p: &Path) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, b"x").unwrap();
}

#[test]
fn modelnet_layout_and_ignored_files() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    touch(&r.join("chair/train/a.off"));
    touch(&r.join("chair/train/b.OBJ"));
    touch(&r.join("chair/train/readme.txt"));
    touch(&r.join("chair/test/c.stl"));
    touch(&r.join(".hidden/train/x.off"));
    touch(&r.join("desk/test/d.ply"));
    let e = discover(r, 0).unwrap();
    let rels: Vec<_> = e.iter().map(|e| (e.rel.as_str(), e.split)).collect();
    assert_eq!(
        rels,
        vec![
            ("chair/test/c.stl", Split::Test),
            ("chair/train/a.off", Split::Train),
            ("chair/train/b.OBJ", Split::Train),
            ("desk/test/d.ply", Split::Test),
        ]
    );
}

#[test]
fn flat_classes_get_a_seeded_stratified_split() {
    let d = tempfile::tempdir().unwrap();
    for c in ["a", "b"] {
        for i in 0..10 {
            touch(&d.path().join(format!("{c}/{i}.off")));
        }
    }
    let e1 = discover(d.path(), 1).unwrap();
    for c in ["a", "b"] {
        let n = e1
            .iter()
            .filter(|e| e.class == c && e.split == Split::Test)
            .count();
        assert_eq!(n, 2);
    }
    assert_eq!(e1, discover(d.path(), 1).unwrap());
    let other: Vec<_> = (2..8).map(|s| discover(d.path(), s).unwrap()).collect();
    assert!(other.iter().any(|e| *e != e1), "seed must move the split");
}

#[cfg(unix)]
#[test]
fn names_with_invalid_utf8_stay_distinct() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let enc = |b: &[u8]| encode_name(OsStr::from_bytes(b));
    assert_eq!(enc(b"a\xff.off"), "a%FF.off");
    assert_eq!(enc(b"a\xfe.off"), "a%FE.off");
    assert_eq!(enc("caf\u{e9} 100%.off".as_bytes()), "caf\u{e9} 100%25.off");
    // The escape is not ambiguous with a valid name spelling it out.
    assert_ne!(enc(b"a%FF.off"), enc(b"a\xff.off"));
    let d = tempfile::tempdir().unwrap();
    for n in [&b"a\xff.off"[..], b"a\xfe.off"] {
        touch(&d.path().join("c/train").join(OsStr::from_bytes(n)));
    }
    let rels: Vec<_> = discover(d.path(), 0)
        .unwrap()
        .into_iter()
        .map(|e| e.rel)
        .collect();
    assert_eq!(rels, ["c/train/a%FE.off", "c/train/a%FF.off"]);
}

/// The inverse of [`encode_name`]: that it exists is what makes the encoding lossless.
fn decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[cfg(unix)]
proptest::proptest! {
    #[test]
    fn encoded_names_decode_to_the_same_bytes(name in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
        use std::os::unix::ffi::OsStrExt;
        let enc = encode_name(std::ffi::OsStr::from_bytes(&name));
        proptest::prop_assert_eq!(decode(&enc), name);
    }
}

#[cfg(unix)]
#[test]
fn dangling_links_and_fifos_are_reported_not_skipped() {
    let d = tempfile::tempdir().unwrap();
    touch(&d.path().join("c/train/ok.off"));
    std::os::unix::fs::symlink("/nonexistent/x.off", d.path().join("c/train/gone.off")).unwrap();
    let (entries, bad) = discover_all(d.path(), 0).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].rel, "c/train/gone.off");
    assert!(
        bad[0].reason.contains("dangling symbolic link"),
        "{}",
        bad[0].reason
    );
}

#[test]
fn streamed_hash_equals_the_whole_buffer_hash() {
    let bytes: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
    for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
        let mut h = ContentHasher::new(bytes.len() as u64);
        h.update(&bytes[..split]);
        for chunk in bytes[split..].chunks(3) {
            h.update(chunk);
        }
        assert_eq!(h.finish(), content_hash(&bytes), "split at {split}");
    }
}

#[test]
fn empty_and_missing_roots_are_errors() {
    let d = tempfile::tempdir().unwrap();
    assert!(matches!(
        discover(d.path(), 0),
        Err(DatasetError::Empty(..))
    ));
    assert!(matches!(
        discover(&d.path().join("nope"), 0),
        Err(DatasetError::Io { .. })
    ));
}

#[test]
fn mesh_files_the_layout_does_not_read_are_found() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    for f in [
        "chair/train/a.off",
        "chair/test/b.off",
        "chair/Train/c.off",
        "chair/val/d.off",
        "chair/beside.off",
        "chair/train/deeper/e.off",
        "chair/train/notes.txt",
        "mug/f.off",
        "mug/extra/g.stl",
        "mug/.ipynb_checkpoints/h.off",
        "root.obj",
    ] {
        touch(&r.join(f));
    }
    let unread = unread_mesh_files(r);
    assert_eq!(
        unread,
        [
            "chair/Train/c.off",
            "chair/beside.off",
            "chair/train/deeper/e.off",
            "chair/val/d.off",
            "mug/extra/g.stl",
            "root.obj",
        ]
    );
    let w = unread_warning(r, &unread).unwrap();
    assert!(w.starts_with("6 mesh file(s) under "), "{w}");
    assert!(!w.contains("looks like"), "{w}");
    // Every file the listing reads is not in it.
    let read: Vec<String> = discover(r, 0).unwrap().into_iter().map(|e| e.rel).collect();
    assert!(read.iter().all(|p| !unread.contains(p)), "{read:?}");

    // The split-first layout, one level too high: named.
    let d = tempfile::tempdir().unwrap();
    touch(&d.path().join("train/chair/a.off"));
    touch(&d.path().join("test/chair/b.off"));
    let w = unread_warning(d.path(), &unread_mesh_files(d.path())).unwrap();
    assert!(w.contains("ROOT/train/<class>/"), "{w}");
    // With nothing where the layout reads, the error itself says so.
    let e = discover(d.path(), 0).unwrap_err().to_string();
    assert!(
        e.contains("2 mesh file(s)") && e.contains("ROOT/train/<class>/"),
        "{e}"
    );
    assert_eq!(check_not_empty(d.path()).unwrap_err().to_string(), e);
    assert!(check_not_empty(r).is_ok());
    assert_eq!(unread_warning(d.path(), &[]), None);
}
