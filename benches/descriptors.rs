//! Per-mesh cost of each stage: loading (parse, validate, normalise) in each format, D2, the
//! spherical-harmonics descriptor, SDF (BVH build, against parry's TriMesh build for reference,
//! plus 512 x 30 rays), depth views (12 x 32 x 32 rays), and the whole descriptor set, on a
//! ~20k-triangle mesh.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use shapeclf::descriptors::{self, DescriptorConfig, SdfTracer, d2};
use shapeclf::mesh::{self, Mesh, SurfaceSampler};

/// An icosphere of 20 * 4^5 = 20480 triangles.
fn sphere() -> Mesh {
    shapeclf::synth::icosphere(5)
}

fn loading(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let m = sphere();
    let raw = mesh::RawMesh {
        vertices: m.vertices().iter().map(|v| v.to_array()).collect(),
        triangles: m.triangles().to_vec(),
    };
    let mut g = c.benchmark_group("load_20k_triangles");
    for ext in ["off", "obj", "stl", "ply"] {
        let p = dir.path().join(format!("s.{ext}"));
        shapeclf::synth::write_mesh(&p, &raw, false).unwrap();
        g.bench_function(ext, |b| b.iter(|| mesh::load(black_box(&p)).unwrap()));
    }
    g.finish();
}

fn descriptor_stages(c: &mut Criterion) {
    let m = sphere();
    let cfg = DescriptorConfig::default();
    let sampler = SurfaceSampler::new(&m);
    let mut rng = descriptors::rng_for(1, 1);
    let pts = sampler.points(cfg.d2_points, &mut rng);
    let samples = sampler.sample(cfg.sdf_points, &mut rng);
    let mut g = c.benchmark_group("descriptors_20k_triangles");
    g.sample_size(20);
    g.bench_function("d2_all_pairs_2048", |b| {
        b.iter(|| d2::d2_histogram(black_box(&pts), 64, 2.0, None, 0))
    });
    // The spherical-harmonics descriptor at its defaults (8 shells x 12 degrees, 8192 points),
    // sampling included, against d2_all_pairs_2048 above.
    let sh = descriptors::ShConfig::default();
    g.bench_function("sh_8x12_8192_points", |b| {
        b.iter(|| {
            let pts = sampler.points(sh.points, &mut descriptors::rng_for(1, 12));
            let basis = descriptors::sh::ShBasis::new(sh.degrees);
            descriptors::sh::sh_descriptor(black_box(&pts), sh.shells, &basis)
        })
    });
    g.bench_function("sdf_bvh_build", |b| {
        b.iter(|| SdfTracer::new(black_box(&m), &cfg))
    });
    // Reference: parry3d's own TriMesh (one triangle per BVH leaf), what the SDF built before
    // issue 15; sdf_bvh_build above is our RayMesh (four triangles per leaf) plus the ray cone.
    g.bench_function("parry_trimesh_build_reference", |b| {
        b.iter(|| {
            parry3d::shape::TriMesh::new(black_box(m.vertices().to_vec()), m.triangles().to_vec())
                .unwrap()
        })
    });
    let tracer = SdfTracer::new(&m, &cfg);
    g.bench_function("sdf_512x30_rays", |b| {
        b.iter(|| tracer.sdf_at(black_box(&samples)))
    });
    // 12 views x 32 x 32 = 12288 rays: rays/s = 12288 / time.
    let vcfg = shapeclf::descriptors::views::ViewConfig::default();
    g.bench_function("views_ring12_32px", |b| {
        b.iter(|| shapeclf::descriptors::views::render(black_box(&tracer), &vcfg))
    });
    g.bench_function("all_descriptors", |b| {
        b.iter(|| descriptors::compute(black_box(&m), &cfg, 3))
    });
    g.finish();
}

criterion_group!(benches, loading, descriptor_stages);
criterion_main!(benches);
