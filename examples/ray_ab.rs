//! A/B of the SDF ray caster on real meshes: parry3d's `TriMesh` (per-triangle BVH leaves and
//! parry's triangle test, as before issue 15) against [`RayMesh`] on the same rays, interleaved
//! mesh by mesh so that a busy machine slows both alike. Prints build and cast time ratios and
//! checks that both find the same first-hit distances.
//! Usage: `cargo run --release --example ray_ab -- DATASET_ROOT [EVERY_NTH] [REPEATS]`.
use std::path::{Path, PathBuf};
use std::time::Instant;

use parry3d::query::{Ray, RayCast};
use parry3d::shape::TriMesh;
use shapeclf::descriptors::raycast::RayMesh;
use shapeclf::descriptors::{self, sdf};
use shapeclf::mesh::{self, SurfaceSampler};

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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = PathBuf::from(
        args.get(1)
            .expect("usage: ray_ab ROOT [EVERY_NTH] [REPEATS]"),
    );
    let every: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let repeats: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(3);
    let mut paths = Vec::new();
    files(&root, &mut paths);
    let (cone, _) = sdf::cone_directions(30, 120.0);
    let (mut build, mut cast) = ([0f64; 2], [0f64; 2]);
    let (mut rays, mut hits, mut differ) = (0u64, 0u64, 0u64);
    for (k, p) in paths.iter().enumerate().step_by(every) {
        let (m, _) = mesh::load(p).unwrap();
        let s = SurfaceSampler::new(&m).sample(512, &mut descriptors::rng_for(k as u64, 2));
        let mut ray_list = Vec::with_capacity(512 * 30);
        for (p, n) in s.points.iter().zip(&s.normals) {
            let axis = -*n;
            let (t, b) = axis.any_orthonormal_pair();
            for d in &cone {
                ray_list.push((*p + axis * 1e-4, t * d.x + b * d.y + axis * d.z));
            }
        }
        for _ in 0..repeats {
            let c = Instant::now();
            let old = TriMesh::new(m.vertices().to_vec(), m.triangles().to_vec()).unwrap();
            build[0] += c.elapsed().as_secs_f64();
            let c = Instant::now();
            let new = RayMesh::new(m.vertices(), m.triangles());
            build[1] += c.elapsed().as_secs_f64();
            let c = Instant::now();
            let a: Vec<Option<f32>> = ray_list
                .iter()
                .map(|&(o, d)| old.cast_local_ray(&Ray::new(o, d), 2.1, false))
                .collect();
            cast[0] += c.elapsed().as_secs_f64();
            let c = Instant::now();
            let b: Vec<Option<f32>> = ray_list
                .iter()
                .map(|&(o, d)| new.cast(o, d, 2.1).map(|h| h.toi))
                .collect();
            cast[1] += c.elapsed().as_secs_f64();
            rays += a.len() as u64;
            hits += a.iter().filter(|h| h.is_some()).count() as u64;
            for (x, y) in a.iter().zip(&b) {
                if x != y {
                    differ += 1;
                    if differ <= 8 {
                        println!("  differs: parry {x:?}, ours {y:?}");
                    }
                }
            }
        }
    }
    println!(
        "build: parry TriMesh {:.3} s, RayMesh {:.3} s, {:.2}x",
        build[0],
        build[1],
        build[0] / build[1]
    );
    println!(
        "cast:  parry TriMesh {:.3} s, RayMesh {:.3} s, {:.2}x ({:.0} ns/ray new)",
        cast[0],
        cast[1],
        cast[0] / cast[1],
        cast[1] * 1e9 / rays as f64
    );
    println!("rays {rays}, hits {hits}, first-hit distances that differ {differ}");
}
