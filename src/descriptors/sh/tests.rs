use super::*;
use crate::descriptors::{DescriptorConfig, ShConfig, compute};
use crate::mesh::{Mesh, RawMesh};
use crate::synth::{ShapeClass, cuboid, shape};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::PI;

/// A uniformly random rotation (from a random unit quaternion).
fn random_rotation(rng: &mut ChaCha8Rng) -> [[f64; 3]; 3] {
    let q: [f64; 4] = loop {
        let q = [0; 4].map(|_| rng.random_range(-1.0..1.0));
        let n = q.iter().map(|v| v * v).sum::<f64>();
        if n > 1e-3 && n <= 1.0 {
            break q.map(|v| v / n.sqrt());
        }
    };
    let [w, x, y, z] = q;
    [
        [
            1.0 - 2.0 * (y * y + z * z),
            2.0 * (x * y - w * z),
            2.0 * (x * z + w * y),
        ],
        [
            2.0 * (x * y + w * z),
            1.0 - 2.0 * (x * x + z * z),
            2.0 * (y * z - w * x),
        ],
        [
            2.0 * (x * z - w * y),
            2.0 * (y * z + w * x),
            1.0 - 2.0 * (x * x + y * y),
        ],
    ]
}

fn rotate(r: &[[f64; 3]; 3], p: [f32; 3]) -> [f32; 3] {
    let p = p.map(f64::from);
    r.map(|row| (row[0] * p[0] + row[1] * p[1] + row[2] * p[2]) as f32)
}

fn mesh_of(raw: RawMesh) -> Mesh {
    let (mut m, _) = Mesh::from_raw(raw).unwrap();
    m.normalize();
    m
}

fn rotated(raw: &RawMesh, r: &[[f64; 3]; 3]) -> Mesh {
    mesh_of(RawMesh {
        vertices: raw.vertices.iter().map(|&v| rotate(r, v)).collect(),
        triangles: raw.triangles.clone(),
    })
}

/// The SH columns of `m` under the default [`ShConfig`] and `seed`, through [`compute`].
fn sh_columns(m: &Mesh, seed: u64) -> Vec<f32> {
    let cfg = DescriptorConfig {
        d2_points: 64,
        sdf_points: 8,
        sdf_rays: 4,
        triples: 100,
        sh: Some(ShConfig::default()),
        ..Default::default()
    };
    let v = compute(m, &cfg, seed).values;
    let n = ShConfig::default().shells * ShConfig::default().degrees;
    v[v.len() - n..].to_vec()
}

fn l2(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f32>()
        .sqrt()
}

fn unit(rng: &mut ChaCha8Rng) -> [f64; 3] {
    loop {
        let v = [0; 3].map(|_| rng.random_range(-1.0..1.0f64));
        let n = v.iter().map(|c| c * c).sum::<f64>().sqrt();
        if n > 1e-3 && n <= 1.0 {
            return v.map(|c| c / n);
        }
    }
}

#[test]
fn basis_matches_closed_forms_of_low_degrees() {
    let b = ShBasis::new(3);
    let mut y = vec![0.0; b.len()];
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for _ in 0..50 {
        let [x, yy, z] = unit(&mut rng);
        b.eval([x, yy, z], &mut y);
        let c1 = (3.0 / (4.0 * PI)).sqrt();
        let expect = [
            0.5 / PI.sqrt(),
            c1 * yy,
            c1 * z,
            c1 * x,
            0.5 * (15.0 / PI).sqrt() * x * yy,
            0.5 * (15.0 / PI).sqrt() * yy * z,
            0.25 * (5.0 / PI).sqrt() * (3.0 * z * z - 1.0),
            0.5 * (15.0 / PI).sqrt() * x * z,
            0.25 * (15.0 / PI).sqrt() * (x * x - yy * yy),
        ];
        for (i, (a, e)) in y.iter().zip(expect).enumerate() {
            assert!((a - e).abs() < 1e-12, "index {i}: {a} against {e}");
        }
    }
}

/// Gauss-Legendre nodes and weights on [-1, 1] (Newton on P_n), exact for polynomials of degree
/// below 2n.
fn gauss_legendre(n: usize) -> Vec<(f64, f64)> {
    (0..n)
        .map(|i| {
            let mut x = (PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
            loop {
                let (mut p0, mut p1) = (1.0, x);
                for k in 2..=n {
                    let k = k as f64;
                    (p0, p1) = (p1, ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k);
                }
                let dp = n as f64 * (x * p1 - p0) / (x * x - 1.0);
                let dx = p1 / dp;
                x -= dx;
                if dx.abs() < 1e-15 {
                    return (x, 2.0 / ((1.0 - x * x) * dp * dp));
                }
            }
        })
        .collect()
}

/// Products of two basis functions of degree below L are polynomials of degree below 2L in z
/// times trigonometric polynomials of degree below 2L in the azimuth: Gauss-Legendre in z with L
/// nodes and 2L equally spaced azimuths integrate them exactly, so the Gram matrix must be the
/// identity to rounding.
#[test]
fn basis_is_orthonormal_by_exact_quadrature() {
    for degrees in [1, 2, 5, 9] {
        let b = ShBasis::new(degrees);
        let n = b.len();
        let mut gram = vec![0.0; n * n];
        let mut y = vec![0.0; n];
        let az = 2 * degrees;
        for (z, wz) in gauss_legendre(degrees.max(1) + 1) {
            let s = (1.0 - z * z).sqrt();
            for k in 0..az {
                let phi = 2.0 * PI * (k as f64 + 0.3) / az as f64;
                b.eval([s * phi.cos(), s * phi.sin(), z], &mut y);
                let w = wz * 2.0 * PI / az as f64;
                for i in 0..n {
                    for j in 0..n {
                        gram[i * n + j] += w * y[i] * y[j];
                    }
                }
            }
        }
        for i in 0..n {
            for j in 0..n {
                let e = f64::from(u8::from(i == j));
                assert!(
                    (gram[i * n + j] - e).abs() < 1e-11,
                    "L = {degrees}: <Y{i}, Y{j}> = {}",
                    gram[i * n + j]
                );
            }
        }
    }
}

/// The addition theorem, sum_m Y_l^m(u)^2 = (2l + 1) / (4 pi) at every u, up to degree 63:
/// a check that the recurrence stays stable (no growth or cancellation) at high degree, the
/// poles included.
#[test]
fn addition_theorem_holds_to_high_degree() {
    let b = ShBasis::new(ShConfig::MAX_DEGREES);
    let mut y = vec![0.0; b.len()];
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut dirs = vec![[0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]];
    dirs.extend((0..50).map(|_| unit(&mut rng)));
    for u in dirs {
        b.eval(u, &mut y);
        for l in 0..b.degrees() {
            let e: f64 = y[l * l..(l + 1) * (l + 1)].iter().map(|v| v * v).sum();
            let expect = (2 * l + 1) as f64 / (4.0 * PI);
            assert!((e / expect - 1.0).abs() < 1e-10, "l {l} at {u:?}: {e}");
        }
    }
}

/// The same points under random rotations: the columns are equal up to float rounding (f32
/// points, rotated in f64 and rounded back: relative error ~1e-7).
#[test]
fn rotating_the_points_leaves_the_columns_unchanged() {
    let raw = shape(ShapeClass::Chair, &mut ChaCha8Rng::seed_from_u64(4));
    let m = mesh_of(raw);
    let pts = crate::mesh::SurfaceSampler::new(&m).points(4096, &mut ChaCha8Rng::seed_from_u64(5));
    let basis = ShBasis::new(16);
    let base = sh_descriptor(&pts, 16, &basis);
    // A chair is far from spherical: plenty of energy above degree 0 to check.
    assert!(
        base.chunks(16)
            .any(|s| s[0] > 0.05 && s[1..].iter().any(|&v| v > 0.3 * s[0])),
        "{base:?}"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    for _ in 0..5 {
        let r = random_rotation(&mut rng);
        let turned: Vec<Vec3> = pts
            .iter()
            .map(|p| Vec3::from_array(rotate(&r, p.to_array())))
            .collect();
        let d = sh_descriptor(&turned, 16, &basis);
        let worst = base
            .iter()
            .zip(&d)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-5, "largest change {worst}");
    }
}

/// The whole pipeline on a rotated mesh file: the mesh is loaded, normalised and sampled anew.
/// With the same seed the sampler draws the same triangles and barycentric coordinates, so the
/// points are the rotated points except where float rounding of the rotated triangle areas
/// moves a draw across a triangle boundary; each such point moves a column by at most
/// 1/8192 = 1.2e-4. The 5e-4 bound allows four of them in one column (on this mesh none
/// happen: the largest change measured is 3e-8).
#[test]
fn a_rotated_mesh_gives_the_same_columns() {
    let raw = shape(ShapeClass::Lamp, &mut ChaCha8Rng::seed_from_u64(7));
    let base = sh_columns(&mesh_of(raw.clone()), 3);
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    for _ in 0..4 {
        let d = sh_columns(&rotated(&raw, &random_rotation(&mut rng)), 3);
        let worst = base
            .iter()
            .zip(&d)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 5e-4, "largest change {worst}");
    }
}

/// A sphere, a cube and a 1 x 1 x 4 box, each in random poses with independent samples (other
/// seeds): the spread of one shape's descriptor over poses and samples (sampling noise, which
/// falls as 1/sqrt(points)) is several times smaller than the distance between shapes. And each
/// shows its known harmonic content: the sphere none above degree 0, the cube's octahedral
/// symmetry puts its first energy at degree 4 (degrees 1 to 3 vanish), the elongated box is
/// dominated by degree 2.
#[test]
fn sphere_cube_and_box_are_told_apart_in_any_pose() {
    let sphere = crate::synth::icosphere(3).to_raw();
    let cube = cuboid([1.0, 1.0, 1.0]);
    let bar = cuboid([0.5, 0.5, 2.0]);
    let shapes = [&sphere, &cube, &bar];
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let runs: Vec<Vec<Vec<f32>>> = shapes
        .iter()
        .map(|raw| {
            (0..3)
                .map(|k| sh_columns(&rotated(raw, &random_rotation(&mut rng)), 10 + k))
                .collect()
        })
        .collect();
    let mut within = 0f32;
    for r in &runs {
        for a in r {
            for b in r {
                within = within.max(l2(a, b));
            }
        }
    }
    let mut between = f32::INFINITY;
    for i in 0..3 {
        for j in i + 1..3 {
            for a in &runs[i] {
                for b in &runs[j] {
                    between = between.min(l2(a, b));
                }
            }
        }
    }
    assert!(
        between > 5.0 * within,
        "closest pair of shapes {between}, widest spread of one shape {within}"
    );
    let d = ShConfig::default().degrees;
    let shells = ShConfig::default().shells;
    let deg = |v: &[f32], l: usize| (0..shells).map(|r| v[r * d + l]).sum::<f32>();
    for v in &runs[0] {
        // All of the sphere in the outer shell; harmonics above 0 at the noise level.
        assert!(v[(shells - 1) * d] > 0.99, "{v:?}");
        assert!((1..d).all(|l| deg(v, l) < 0.05), "{v:?}");
    }
    for v in &runs[1] {
        for l in 1..4 {
            assert!(deg(v, 4) > 5.0 * deg(v, l), "cube, degree {l}: {v:?}");
        }
    }
    for v in &runs[2] {
        assert!(
            (1..d).all(|l| l == 2 || deg(v, 2) > deg(v, l)),
            "box: {v:?}"
        );
    }
}

/// The sums of the module documentation: degree-0 columns sum to 1, and every column lies in
/// [0, its shell's degree-0 column].
#[test]
fn columns_are_area_shares_bounded_by_their_shell() {
    let m = mesh_of(shape(ShapeClass::Mug, &mut ChaCha8Rng::seed_from_u64(3)));
    let v = sh_columns(&m, 1);
    let d = ShConfig::default().degrees;
    let total: f32 = v.chunks(d).map(|s| s[0]).sum();
    assert!((total - 1.0).abs() < 1e-5, "{total}");
    for s in v.chunks(d) {
        assert!(s.iter().all(|&x| (0.0..=s[0] + 1e-6).contains(&x)), "{s:?}");
    }
}

#[test]
fn degenerate_inputs_give_finite_columns() {
    let basis = ShBasis::new(6);
    let check = |pts: &[Vec3], shells: usize| {
        let v = sh_descriptor(pts, shells, &basis);
        assert_eq!(v.len(), shells * 6);
        assert!(v.iter().all(|x| x.is_finite()), "{pts:?}: {v:?}");
        v
    };
    assert!(check(&[], 4).iter().all(|&x| x == 0.0));
    let centre = check(&[Vec3::ZERO; 5], 4);
    assert_eq!(centre[0], 1.0);
    assert!(centre[1..].iter().all(|&x| x == 0.0));
    let bad = [
        Vec3::new(f32::NAN, 0.0, 0.0),
        Vec3::new(f32::INFINITY, 1.0, 0.0),
    ];
    assert!(check(&bad, 3).iter().all(|&x| x == 0.0));
    // Outside the unit ball, huge and tiny: counted, in the outer or inner shell.
    let odd = [
        Vec3::new(3.0, 0.0, 0.0),
        Vec3::new(1e30, 1e30, 0.0),
        Vec3::new(1e-30, 0.0, 0.0),
    ];
    let v = check(&odd, 2);
    assert!((v[0] + v[6] - 1.0).abs() < 1e-6);
    check(&odd, 1);
    assert!(sh_descriptor(&odd, 0, &basis).is_empty());
    assert_eq!(sh_descriptor(&odd, 3, &ShBasis::new(0)).len(), 0);
    // Whole meshes: one triangle, and a sliver.
    for raw in [
        RawMesh {
            vertices: vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
            triangles: vec![[0, 1, 2]],
        },
        RawMesh {
            vertices: vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.5, 1e-5, 0.0]],
            triangles: vec![[0, 1, 2]],
        },
    ] {
        let v = sh_columns(&mesh_of(raw), 0);
        assert!(v.iter().all(|x| x.is_finite()), "{v:?}");
        let d = ShConfig::default().degrees;
        let total: f32 = v.chunks(d).map(|s| s[0]).sum();
        assert!((total - 1.0).abs() < 1e-5);
    }
}
