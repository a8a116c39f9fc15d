//! Where `features --no-views` spends its time: every stage of every mesh under a folder timed on
//! one thread (so the shares do not depend on how busy the other cores are), summed by stage.
//! Usage: `cargo run --release --example stage_profile -- DATASET_ROOT [REPEATS]`.
use std::path::{Path, PathBuf};
use std::time::Instant;

use shapeclf::descriptors::{self, DescriptorConfig, SdfTracer, d2, views};
use shapeclf::mesh::{self, Mesh, SurfaceSampler};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("readable folder")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else if mesh::is_mesh_path(&p) {
            out.push(p);
        }
    }
}

const STAGES: [&str; 10] = [
    "read",
    "parse",
    "validate",
    "normalise",
    "sample",
    "d2",
    "bvh",
    "sdf_rays",
    "extras",
    "views",
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = PathBuf::from(args.get(1).expect("usage: stage_profile ROOT [REPEATS]"));
    let repeats: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut paths = Vec::new();
    files(&root, &mut paths);
    let cfg = DescriptorConfig::default();
    let vcfg = views::ViewConfig::default();
    // Views render on rayon's pool; one thread keeps every stage on the same single core.
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global()
        .expect("pool");
    let mut by_ext: std::collections::BTreeMap<String, [f64; 10]> = Default::default();
    let mut tris = 0usize;
    for _ in 0..repeats {
        for (k, p) in paths.iter().enumerate() {
            let ext = p.extension().unwrap().to_string_lossy().to_lowercase();
            let t = by_ext.entry(ext).or_default();
            let mut clock = Instant::now();
            let mut lap = |t: &mut [f64; 10], i: usize| {
                let now = Instant::now();
                t[i] += (now - clock).as_secs_f64();
                clock = now;
            };
            let bytes = mesh::read_file(p).unwrap();
            lap(t, 0);
            let raw = mesh::parse_bytes_at(p, &bytes).unwrap();
            lap(t, 1);
            let (mut m, _) = Mesh::from_raw(raw).unwrap();
            lap(t, 2);
            m.normalize();
            m.orient_outward();
            lap(t, 3);
            tris += m.triangles().len();
            let seed = k as u64;
            let sampler = SurfaceSampler::new(&m);
            let pts = sampler.points(cfg.d2_points, &mut descriptors::rng_for(seed, 1));
            let s = sampler.sample(cfg.sdf_points, &mut descriptors::rng_for(seed, 2));
            let area = sampler.area();
            drop(sampler);
            lap(t, 4);
            std::hint::black_box(d2::d2_histogram(&pts, cfg.d2_bins, 2.0, None, seed));
            lap(t, 5);
            let tracer = SdfTracer::from_mesh(m, &cfg);
            lap(t, 6);
            let (vals, _) = tracer.sdf_at(&s);
            lap(t, 7);
            std::hint::black_box(d2::d1_histogram(&pts, 32, 1.0));
            let mut rng = descriptors::rng_for(seed, 3);
            std::hint::black_box(d2::a3_d3_histograms(&pts, 32, 1.14, cfg.triples, &mut rng));
            std::hint::black_box((descriptors::sdf::statistics(&vals), area));
            lap(t, 8);
            std::hint::black_box(views::render(&tracer, &vcfg));
            lap(t, 9);
        }
    }
    let mut total = [0f64; 10];
    for (ext, t) in &by_ext {
        println!(
            "{ext:>4}: {}",
            STAGES
                .iter()
                .zip(t)
                .map(|(s, v)| format!("{s} {:.3}", v / repeats as f64))
                .collect::<Vec<_>>()
                .join("  ")
        );
        for (a, b) in total.iter_mut().zip(t) {
            *a += b / repeats as f64;
        }
    }
    let no_views: f64 = total[..9].iter().sum();
    println!(
        "{} meshes, {:.0} triangles each on average; seconds on one core, share of --no-views:",
        paths.len(),
        tris as f64 / (paths.len() * repeats) as f64
    );
    for (s, v) in STAGES.iter().zip(&total) {
        println!("  {s:>9}: {v:7.3} s  {:5.1}%", 100.0 * v / no_views);
    }
    println!(
        "  no-views total {no_views:.3} s; views (not in --no-views) {:.3} s",
        total[9]
    );
}
