//! Property tests for every reader of untrusted bytes (the four mesh loaders, the feature table,
//! the manifest): whatever the bytes, the result is `Ok` or an error, never a panic, and the
//! memory held at any moment while reading stays within a bound proportional to the input's size.
//! A header that claims 10^12 vertices must fail before it allocates for them.
//!
//! Memory is measured by a counting global allocator: live bytes of the calling thread, their peak
//! above the level at the start of the call.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use proptest::prelude::*;
use shapeclf::mesh::{Mesh, RawMesh};

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = LIVE.try_with(|l| {
        let v = l.get() + delta;
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counters are
// const-initialised thread-locals without destructors, so counting never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        track(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            track(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Peak bytes held by this thread while `f` runs, above what it held before.
fn peak_during(f: impl FnOnce()) -> usize {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    f();
    (PEAK.with(Cell::get) - start).max(0) as usize
}

/// The bound: 32 bytes held per input byte (a polygon line `f 1 2 3 ...` of two bytes per index
/// becomes a 12-byte triangle, and vectors grow by doubling), plus fixed buffers (readers,
/// parser state).
fn bound(len: usize) -> usize {
    32 * len + 256 * 1024
}

/// Runs one reader on `bytes` under the bound; a panic fails the test (and proptest shrinks it).
fn check(kind: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    let peak = peak_during(|| read(kind, bytes));
    prop_assert!(
        peak <= bound(bytes.len()),
        "{kind}: {} input bytes held {peak} bytes (bound {})",
        bytes.len(),
        bound(bytes.len())
    );
    Ok(())
}

fn read(kind: &str, bytes: &[u8]) {
    match kind {
        "table" => {
            let _ = shapeclf::features::FeatureTable::parse_csv(bytes, Path::new("t.csv"));
        }
        "manifest" => {
            let text = String::from_utf8_lossy(bytes);
            let _ = shapeclf::features::Manifest::parse(&text, Path::new("m.json"));
        }
        ext => {
            // The whole loading path: parse, validate, drop degenerate faces, normalise.
            if let Ok(raw) = shapeclf::mesh::parse_bytes(ext, bytes)
                && let Ok((mut m, _)) = Mesh::from_raw(raw)
            {
                m.normalize();
                m.orient_outward();
            }
        }
    }
}

const MESH_KINDS: [&str; 4] = ["off", "obj", "stl", "ply"];

/// Valid files to mutate: the fuzzers' seeds and an 1280-triangle sphere in every format
/// (ASCII and binary where the format has both).
fn valid_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for (kind, dir) in [
        ("off", "mesh_off"),
        ("obj", "mesh_obj"),
        ("stl", "mesh_stl"),
        ("ply", "mesh_ply"),
        ("table", "feature_table"),
        ("manifest", "manifest"),
    ] {
        for e in std::fs::read_dir(seeds.join(dir)).unwrap() {
            out.push((kind, std::fs::read(e.unwrap().path()).unwrap()));
        }
    }
    let m = shapeclf::synth::icosphere(3);
    let raw = RawMesh {
        vertices: m.vertices.iter().map(|v| v.to_array()).collect(),
        triangles: m.triangles.clone(),
    };
    let dir = tempfile::tempdir().unwrap();
    for kind in MESH_KINDS {
        let p = dir.path().join(format!("s.{kind}"));
        shapeclf::synth::write_mesh(&p, &raw, kind == "off").unwrap();
        out.push((kind, std::fs::read(&p).unwrap()));
    }
    out
}

/// One edit of a valid file: overwrite a byte, cut the file, or splice in a large number (the
/// way a header lies about its counts).
#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Truncate(usize),
    Number(usize, u64),
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = bytes.len().max(1);
        match *e {
            Edit::Set(at, b) => {
                if !bytes.is_empty() {
                    bytes[at % n] = b;
                }
            }
            Edit::Truncate(at) => bytes.truncate(at % n),
            Edit::Number(at, v) => {
                let at = (at % n).min(bytes.len());
                let text = v.to_string();
                bytes.splice(at..at, text.bytes());
            }
        }
    }
    bytes
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Edit::Set(a, b)),
        1 => any::<usize>().prop_map(Edit::Truncate),
        2 => (any::<usize>(), any::<u64>()).prop_map(|(a, v)| Edit::Number(a, v)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_stay_bounded(
        kind in prop::sample::select(vec!["off", "obj", "stl", "ply", "table", "manifest"]),
        bytes in prop::collection::vec(any::<u8>(), 0..4096),
    ) {
        check(kind, &bytes)?;
    }

    #[test]
    fn arbitrary_text_after_a_valid_header_stays_bounded(
        kind in prop::sample::select(vec!["off", "obj", "stl", "ply"]),
        body in "[0-9 .eE+\\-\nfv/#]{0,2000}",
    ) {
        // Headers that pass the first checks, so the body reaches the deeper parsing code.
        let header = match kind {
            "off" => "OFF\n",
            "obj" => "v 0 0 0\nv 1 0 0\nv 0 1 0\n",
            "stl" => "solid s\n",
            _ => "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n\
                  property float z\nelement face 1\nproperty list uchar int vertex_indices\n\
                  end_header\n",
        };
        let bytes = [header.as_bytes(), body.as_bytes()].concat();
        check(kind, &bytes)?;
    }

    #[test]
    fn edited_valid_files_stay_bounded(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let inputs = valid_inputs_cached();
        let (kind, bytes) = &inputs[pick.index(inputs.len())];
        check(kind, &apply(bytes.clone(), &edits))?;
    }
}

fn valid_inputs_cached() -> &'static [(&'static str, Vec<u8>)] {
    static CELL: std::sync::OnceLock<Vec<(&'static str, Vec<u8>)>> = std::sync::OnceLock::new();
    CELL.get_or_init(valid_inputs)
}

/// Headers that claim far more than the file holds fail at once, holding almost nothing.
#[test]
fn lying_headers_allocate_nothing_they_claim() {
    let mut stl = vec![0u8; 80];
    stl.extend_from_slice(&u32::MAX.to_le_bytes());
    stl.extend_from_slice(&[0u8; 50]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "off",
            b"OFF\n1000000000000 1000000000000 0\n0 0 0\n".to_vec(),
        ),
        ("off", b"OFF4000000000 4000000000 0\n0 0 0\n".to_vec()),
        ("stl", stl),
        (
            "ply",
            b"ply\nformat binary_little_endian 1.0\nelement vertex 1000000000000\n\
              property float x\nproperty float y\nproperty float z\nend_header\n\0\0\0\0"
                .to_vec(),
        ),
        (
            "ply",
            b"ply\nformat ascii 1.0\nelement vertex 4000000000\nproperty float x\n\
              property float y\nproperty float z\nend_header\n0 0 0\n"
                .to_vec(),
        ),
    ];
    for (kind, bytes) in cases {
        let peak = peak_during(|| {
            let r = shapeclf::mesh::parse_bytes(kind, &bytes);
            assert!(r.is_err(), "{kind} header lie was accepted");
        });
        assert!(
            peak <= bound(bytes.len()),
            "{kind}: held {peak} bytes for a {}-byte lie",
            bytes.len()
        );
    }
}

/// The bound is not loose for valid input: a real file is read within it, and reading it does
/// hold memory (the counter works).
#[test]
fn valid_files_fit_the_bound() {
    for (kind, bytes) in valid_inputs_cached() {
        let peak = peak_during(|| read(kind, bytes));
        assert!(peak > 0, "{kind}: the counter saw nothing");
        assert!(
            peak <= bound(bytes.len()),
            "{kind}: {} bytes held {peak}",
            bytes.len()
        );
    }
}

/// Dense inputs of about 1 MB, the worst amplification each format allows for valid content
/// (short polygon indices fanned into many triangles, minimal vertex lines): within the bound.
#[test]
fn dense_megabyte_inputs_fit_the_bound() {
    let fan = |prefix: &str, n: usize| {
        let mut s = String::from(prefix);
        for k in 0..n {
            s.push_str(if k % 2 == 0 { " 1" } else { " 2" });
        }
        s
    };
    let n = 500_000;
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "obj",
            format!("v 0 0 0\nv 1 0 0\nv 0 1 0\n{}\n", fan("f 3", n)).into_bytes(),
        ),
        (
            "off",
            format!(
                "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n{}\n",
                fan(&format!("{} 0", n + 1), n)
            )
            .into_bytes(),
        ),
        ("obj", "v 0 0 0\n".repeat(130_000).into_bytes()),
        (
            "off",
            format!(
                "OFF\n{} 1 0\n{}3 0 1 2\n",
                170_000,
                "0 0 0\n".repeat(170_000)
            )
            .into_bytes(),
        ),
        (
            "obj",
            format!("v 0 0 0\nv 1 0 0\nv 0 1 0\n{}", "f 1 2 3\n".repeat(130_000)).into_bytes(),
        ),
    ];
    let faces = 110_000;
    cases.push((
        "ply",
        format!(
            "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n\
             property float z\nelement face {faces}\nproperty list uchar int vertex_indices\n\
             end_header\n0 0 0\n1 0 0\n0 1 0\n{}",
            "3 0 1 2\n".repeat(faces)
        )
        .into_bytes(),
    ));
    for (kind, bytes) in cases {
        let peak = peak_during(|| read(kind, &bytes));
        eprintln!(
            "{kind}: {} bytes held {peak} ({:.1}x)",
            bytes.len(),
            peak as f64 / bytes.len() as f64
        );
        assert!(
            peak <= bound(bytes.len()),
            "{kind}: {} bytes held {peak}",
            bytes.len()
        );
    }
}
