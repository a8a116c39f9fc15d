//! The realistic regime: what real collections do to a clean model. Scans and web meshes come
//! unevenly scaled, rough, sometimes with holes or non-manifold bits, and in any orientation.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use parry3d::math::{Mat3, Rot3};

use crate::mesh::{RawMesh, Vec3};

/// Turns a clean shape into one as real collections hold it, in this order:
/// - scales each axis by its own factor in [0.8, 1.25];
/// - moves every vertex by uniform noise of up to 0.3% of the bounding-box diagonal per axis;
/// - with probability 0.2 cuts a hole (the faces within 6% of the diagonal of a random face's
///   centre), leaving the surface open;
/// - with probability 0.15 adds a fin: one triangle on an existing edge, which that edge then
///   shares with three faces (non-manifold);
/// - rotates it by a uniformly random 3D rotation.
pub fn perturb(mut mesh: RawMesh, rng: &mut ChaCha8Rng) -> RawMesh {
    let s: [f32; 3] = std::array::from_fn(|_| rng.random_range(0.8..1.25));
    for v in &mut mesh.vertices {
        for k in 0..3 {
            v[k] *= s[k];
        }
    }
    let (lo, hi) = bounds(&mesh.vertices);
    let diag = (hi - lo).length().max(1e-6);
    let a = 0.003 * diag;
    for v in &mut mesh.vertices {
        for c in v.iter_mut() {
            *c += rng.random_range(-a..=a);
        }
    }
    let holed = rng.random::<f32>() < 0.2;
    let finned = rng.random::<f32>() < 0.15;
    let centre = |m: &RawMesh, t: [u32; 3]| {
        t.iter()
            .map(|&i| Vec3::from_array(m.vertices[i as usize]))
            .fold(Vec3::ZERO, |acc, p| acc + p)
            / 3.0
    };
    if holed && mesh.triangles.len() > 50 {
        let c = centre(
            &mesh,
            mesh.triangles[rng.random_range(0..mesh.triangles.len())],
        );
        let r = 0.06 * diag;
        let kept: Vec<[u32; 3]> = mesh
            .triangles
            .iter()
            .copied()
            .filter(|&t| centre(&mesh, t).distance(c) > r)
            .collect();
        // Never cut away most of the shape.
        if kept.len() * 10 > mesh.triangles.len() * 9 {
            mesh.triangles = kept;
        }
    }
    if finned && !mesh.triangles.is_empty() {
        let t = mesh.triangles[rng.random_range(0..mesh.triangles.len())];
        let [p, q, r] = t.map(|i| Vec3::from_array(mesh.vertices[i as usize]));
        let n = (q - p).cross(r - p).normalize_or_zero();
        let tip = (p + q) * 0.5 + n * (0.05 * diag);
        mesh.vertices.push(tip.to_array());
        let d = (mesh.vertices.len() - 1) as u32;
        mesh.triangles.push([t[0], t[1], d]);
    }
    let rot = random_rotation(rng);
    for v in &mut mesh.vertices {
        *v = (rot * Vec3::from_array(*v)).to_array();
    }
    mesh
}

/// A rotation drawn uniformly from SO(3) (Shoemake's unit quaternion from three uniforms).
fn random_rotation(rng: &mut ChaCha8Rng) -> Mat3 {
    let (u1, u2, u3): (f32, f32, f32) = (rng.random(), rng.random(), rng.random());
    let tau = std::f32::consts::TAU;
    let (a, b) = ((1.0 - u1).sqrt(), u1.sqrt());
    let q = Rot3::from_xyzw(
        a * (tau * u2).sin(),
        a * (tau * u2).cos(),
        b * (tau * u3).sin(),
        b * (tau * u3).cos(),
    )
    .normalize();
    Mat3::from_quat(q)
}

fn bounds(v: &[[f32; 3]]) -> (Vec3, Vec3) {
    v.iter().fold(
        (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY)),
        |(lo, hi), &p| (lo.min(Vec3::from_array(p)), hi.max(Vec3::from_array(p))),
    )
}
