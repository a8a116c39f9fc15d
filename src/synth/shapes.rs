//! The shapes: primitives accumulated into one mesh, and one random model per class.

use std::f32::consts::{PI, TAU};

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::ShapeClass;
use crate::mesh::{Mesh, RawMesh, Vec3};

/// An axis-aligned box centred at the origin with half-sides `h`: twelve outward-facing
/// triangles (for tests that need an exact, simple solid).
#[cfg(test)]
pub(crate) fn cuboid(h: [f32; 3]) -> RawMesh {
    let mut b = Builder::default();
    b.cuboid(Vec3::ZERO, Vec3::from_array(h));
    RawMesh {
        vertices: b.v,
        triangles: b.t,
    }
}

/// Accumulates triangles from primitives.
#[derive(Default)]
struct Builder {
    v: Vec<[f32; 3]>,
    t: Vec<[u32; 3]>,
}

impl Builder {
    fn vert(&mut self, p: Vec3) -> u32 {
        self.v.push(p.to_array());
        (self.v.len() - 1) as u32
    }

    /// Revolves a profile of (radius, height) points about +z with `seg` segments. Points with
    /// radius 0 become single pole vertices. Facing follows the profile's direction: walking the
    /// profile from the bottom axis out and up gives outward normals.
    fn revolve(&mut self, profile: &[(f32, f32)], seg: usize) {
        let rings: Vec<Vec<u32>> = profile
            .iter()
            .map(|&(r, z)| {
                if r <= 1e-6 {
                    vec![self.vert(Vec3::new(0.0, 0.0, z))]
                } else {
                    (0..seg)
                        .map(|k| {
                            let a = k as f32 / seg as f32 * TAU;
                            self.vert(Vec3::new(r * a.cos(), r * a.sin(), z))
                        })
                        .collect()
                }
            })
            .collect();
        for w in rings.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            for k in 0..seg {
                let k1 = (k + 1) % seg;
                match (a.len(), b.len()) {
                    (1, 1) => {}
                    (1, _) => self.t.push([a[0], b[k1], b[k]]),
                    (_, 1) => self.t.push([a[k], a[k1], b[0]]),
                    _ => {
                        self.t.push([a[k], a[k1], b[k1]]);
                        self.t.push([a[k], b[k1], b[k]]);
                    }
                }
            }
        }
    }

    /// An axis-aligned box.
    fn cuboid(&mut self, c: Vec3, h: Vec3) {
        let b = self.v.len() as u32;
        for k in 0..8 {
            let s = Vec3::new(
                if k & 1 == 0 { -1.0 } else { 1.0 },
                if k & 2 == 0 { -1.0 } else { 1.0 },
                if k & 4 == 0 { -1.0 } else { 1.0 },
            );
            self.vert(c + s * h);
        }
        for f in [
            [0, 2, 3, 1],
            [4, 5, 7, 6],
            [0, 1, 5, 4],
            [2, 6, 7, 3],
            [0, 4, 6, 2],
            [1, 3, 7, 5],
        ] {
            self.t.push([b + f[0], b + f[1], b + f[2]]);
            self.t.push([b + f[0], b + f[2], b + f[3]]);
        }
    }

    /// A closed cylinder from `base` upwards.
    fn cylinder(&mut self, base: Vec3, r: f32, h: f32, seg: usize) {
        let start = self.v.len();
        self.revolve(&[(0.0, 0.0), (r, 0.0), (r, h), (0.0, h)], seg);
        for p in &mut self.v[start..] {
            p[0] += base.x;
            p[1] += base.y;
            p[2] += base.z;
        }
    }

    /// A capped tube of radius `r` swept along a polyline.
    fn tube(&mut self, path: &[Vec3], r: f32, seg: usize) {
        let mut rings = Vec::new();
        for (i, &p) in path.iter().enumerate() {
            let d = if i + 1 < path.len() {
                path[i + 1] - p
            } else {
                p - path[i - 1]
            }
            .normalize();
            let (u, w) = d.any_orthonormal_pair();
            let ring: Vec<u32> = (0..seg)
                .map(|k| {
                    let a = k as f32 / seg as f32 * TAU;
                    self.vert(p + (u * a.cos() + w * a.sin()) * r)
                })
                .collect();
            rings.push(ring);
        }
        for w in rings.windows(2) {
            for k in 0..seg {
                let k1 = (k + 1) % seg;
                self.t.push([w[0][k], w[0][k1], w[1][k1]]);
                self.t.push([w[0][k], w[1][k1], w[1][k]]);
            }
        }
        let (first, last) = (rings[0].clone(), rings[rings.len() - 1].clone());
        for k in 1..seg - 1 {
            self.t.push([first[0], first[k + 1], first[k]]);
            self.t.push([last[0], last[k], last[k + 1]]);
        }
    }

    fn finish(self, rng: &mut ChaCha8Rng) -> RawMesh {
        // A random heading about the up axis: classes must not be told apart by pose.
        let yaw = rng.random::<f32>() * TAU;
        let (s, c) = yaw.sin_cos();
        RawMesh {
            vertices: self
                .v
                .iter()
                .map(|&[x, y, z]| [c * x - s * y, s * x + c * y, z])
                .collect(),
            triangles: self.t,
        }
    }
}

fn between(rng: &mut ChaCha8Rng, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * rng.random::<f32>()
}

/// Profile of an open-topped shell of revolution: outer wall from bottom radius `rb` to top
/// radius `rt` over height `h`, wall thickness `th`; `bulge` bows the wall outwards.
fn shell_profile(rb: f32, rt: f32, h: f32, th: f32, bulge: f32, rings: usize) -> Vec<(f32, f32)> {
    let wall = |t: f32| rb + (rt - rb) * t + bulge * (PI * t).sin();
    let mut p = vec![(0.0, 0.0)];
    for i in 0..=rings {
        let t = i as f32 / rings as f32;
        p.push((wall(t), h * t));
    }
    for i in (0..=rings).rev() {
        let t = i as f32 / rings as f32;
        let z = th + (h - th) * t;
        p.push(((wall(t) - th).max(th * 0.5), z));
    }
    p.push((0.0, th));
    p
}

/// Builds one random shape of `class`.
pub fn shape(class: ShapeClass, rng: &mut ChaCha8Rng) -> RawMesh {
    use ShapeClass as C;
    let mut b = Builder::default();
    let seg = rng.random_range(12..40);
    let rings = rng.random_range(3..12);
    match class {
        C::Mug | C::Cup | C::Pitcher => {
            let r = between(rng, 0.35, 0.5);
            let h = between(rng, 0.8, 1.2);
            let th = between(rng, 0.03, 0.06);
            let taper = if class == C::Cup {
                between(rng, 0.0, 0.25)
            } else {
                between(rng, -0.03, 0.05)
            };
            b.revolve(&shell_profile(r, r * (1.0 + taper), h, th, 0.0, rings), seg);
            if class != C::Cup {
                let (z0, z1) = (h * between(rng, 0.15, 0.3), h * between(rng, 0.7, 0.85));
                let reach = r * between(rng, 0.45, 0.8);
                let n = rng.random_range(6..14);
                let path: Vec<Vec3> = (0..=n)
                    .map(|i| {
                        let a = i as f32 / n as f32 * PI;
                        let zc = 0.5 * (z0 + z1);
                        Vec3::new(
                            r - th * 0.5 + reach * a.sin(),
                            0.0,
                            zc - 0.5 * (z1 - z0) * a.cos(),
                        )
                    })
                    .collect();
                b.tube(&path, r * between(rng, 0.07, 0.12), rng.random_range(6..12));
            }
            if class == C::Pitcher {
                // A spout on the rim opposite the handle, leaning out and up.
                let len = r * between(rng, 0.35, 0.6);
                let lean = between(rng, 0.5, 1.0);
                let z = h * between(rng, 0.8, 0.9);
                let spout = [
                    Vec3::new(-(r - th), 0.0, z),
                    Vec3::new(-(r + len * lean.cos()), 0.0, z + len * lean.sin()),
                ];
                b.tube(&spout, r * between(rng, 0.1, 0.16), rng.random_range(6..12));
            }
        }
        C::Glass => {
            let r = between(rng, 0.25, 0.35);
            let h = between(rng, 1.4, 2.0);
            b.revolve(
                &shell_profile(
                    r,
                    r * between(rng, 1.0, 1.35),
                    h,
                    between(rng, 0.015, 0.03),
                    0.0,
                    rings,
                ),
                seg,
            );
        }
        C::Bowl => {
            let r = between(rng, 0.8, 1.0);
            let depth = between(rng, 0.35, 0.6);
            let th = between(rng, 0.03, 0.06);
            let n = rings + 4;
            let mut p = vec![(0.0, 0.0)];
            let foot = between(rng, 0.2, 0.4);
            for i in 0..=n {
                let t = i as f32 / n as f32;
                p.push((
                    foot + (r - foot) * (t * PI / 2.0).sin(),
                    depth * (1.0 - (t * PI / 2.0).cos()),
                ));
            }
            for i in (0..=n).rev() {
                let t = i as f32 / n as f32;
                p.push((
                    ((foot + (r - foot) * (t * PI / 2.0).sin()) - th).max(th),
                    th + (depth - th) * (1.0 - (t * PI / 2.0).cos()),
                ));
            }
            p.push((0.0, th));
            b.revolve(&p, seg);
        }
        C::Bottle => {
            let r = between(rng, 0.25, 0.4);
            let h = between(rng, 1.0, 1.6);
            let neck = r * between(rng, 0.25, 0.4);
            let shoulder = h * between(rng, 0.55, 0.7);
            let top = h * between(rng, 1.3, 1.5);
            let mut p = vec![(0.0, 0.0), (r, 0.0), (r, shoulder)];
            for i in 1..rings.max(3) {
                let t = i as f32 / rings.max(3) as f32;
                p.push((
                    neck + (r - neck) * (1.0 - t * t),
                    shoulder + (h - shoulder) * t,
                ));
            }
            p.extend([
                (neck, h),
                (neck, top),
                (neck * 1.2, top),
                (neck * 1.2, top + 0.04),
                (0.0, top + 0.04),
            ]);
            b.revolve(&p, seg);
        }
        C::Vase => {
            let r = between(rng, 0.3, 0.45);
            let h = between(rng, 1.2, 1.8);
            let bulge = between(rng, 0.15, 0.35);
            let mouth = r * between(rng, 0.6, 1.1);
            b.revolve(
                &shell_profile(
                    r * 0.7,
                    mouth,
                    h,
                    between(rng, 0.02, 0.04),
                    bulge,
                    rings + 6,
                ),
                seg,
            );
        }
        C::Table | C::Desk => {
            let (w, d) = (between(rng, 0.8, 1.4), between(rng, 0.5, 1.0));
            let h = between(rng, 0.6, 0.9);
            let top = between(rng, 0.03, 0.07);
            b.cuboid(
                Vec3::new(0.0, 0.0, h),
                Vec3::new(w / 2.0, d / 2.0, top / 2.0),
            );
            let leg = between(rng, 0.03, 0.06);
            let inset = between(rng, 0.85, 0.95);
            for (sx, sy) in [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)] {
                let c = Vec3::new(sx * w / 2.0 * inset, sy * d / 2.0 * inset, h / 2.0);
                b.cuboid(c, Vec3::new(leg, leg, h / 2.0));
            }
            if class == C::Desk {
                // A drawer block hanging under one half of the top.
                let dh = h * between(rng, 0.2, 0.35);
                b.cuboid(
                    Vec3::new(w / 4.0 * inset, 0.0, h - top / 2.0 - dh / 2.0),
                    Vec3::new(w / 4.0 * inset * 0.9, d / 2.0 * inset * 0.9, dh / 2.0),
                );
            }
        }
        C::Chair | C::Stool => {
            let w = between(rng, 0.45, 0.6);
            let h = between(rng, 0.4, 0.5);
            let leg = between(rng, 0.02, 0.04);
            b.cuboid(Vec3::new(0.0, 0.0, h), Vec3::new(w / 2.0, w / 2.0, 0.03));
            for (sx, sy) in [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)] {
                let c = Vec3::new(sx * (w / 2.0 - leg), sy * (w / 2.0 - leg), h / 2.0);
                b.cuboid(c, Vec3::new(leg, leg, h / 2.0));
            }
            let back = between(rng, 0.4, 0.6);
            if class == C::Chair {
                b.cuboid(
                    Vec3::new(0.0, -w / 2.0 + 0.02, h + back / 2.0),
                    Vec3::new(w / 2.0, 0.02, back / 2.0),
                );
            }
        }
        C::Lamp => {
            let base = between(rng, 0.25, 0.4);
            b.cylinder(Vec3::ZERO, base, 0.05, seg);
            let pole = between(rng, 0.9, 1.4);
            b.cylinder(Vec3::new(0.0, 0.0, 0.05), 0.025, pole, seg.min(16));
            let (r0, r1) = (between(rng, 0.3, 0.45), between(rng, 0.12, 0.25));
            let hs = between(rng, 0.3, 0.45);
            let z0 = pole - hs * 0.5;
            let th = 0.015;
            // An open conical shade: outer surface then inner, joined at both rims.
            let p = [(r0, z0), (r1, z0 + hs), (r1 - th, z0 + hs), (r0 - th, z0)];
            let mut q = p.to_vec();
            q.push(p[0]);
            b.revolve(&q, seg);
        }
    }
    b.finish(rng)
}

/// A unit icosphere subdivided `level` times, for tests and as a reference shape.
pub fn icosphere(level: u32) -> Mesh {
    let t = (1.0 + 5f32.sqrt()) / 2.0;
    let mut v: Vec<Vec3> = [
        (-1.0, t, 0.0),
        (1.0, t, 0.0),
        (-1.0, -t, 0.0),
        (1.0, -t, 0.0),
        (0.0, -1.0, t),
        (0.0, 1.0, t),
        (0.0, -1.0, -t),
        (0.0, 1.0, -t),
        (t, 0.0, -1.0),
        (t, 0.0, 1.0),
        (-t, 0.0, -1.0),
        (-t, 0.0, 1.0),
    ]
    .iter()
    .map(|&(x, y, z)| Vec3::new(x, y, z).normalize())
    .collect();
    let mut f: Vec<[u32; 3]> = vec![
        [0, 11, 5],
        [0, 5, 1],
        [0, 1, 7],
        [0, 7, 10],
        [0, 10, 11],
        [1, 5, 9],
        [5, 11, 4],
        [11, 10, 2],
        [10, 7, 6],
        [7, 1, 8],
        [3, 9, 4],
        [3, 4, 2],
        [3, 2, 6],
        [3, 6, 8],
        [3, 8, 9],
        [4, 9, 5],
        [2, 4, 11],
        [6, 2, 10],
        [8, 6, 7],
        [9, 8, 1],
    ];
    for _ in 0..level {
        let mut mid = std::collections::HashMap::new();
        let mut next = Vec::with_capacity(f.len() * 4);
        let mut m = |a: u32, b: u32, v: &mut Vec<Vec3>| -> u32 {
            *mid.entry((a.min(b), a.max(b))).or_insert_with(|| {
                v.push(((v[a as usize] + v[b as usize]) * 0.5).normalize());
                (v.len() - 1) as u32
            })
        };
        for [a, b, c] in f {
            let (ab, bc, ca) = (m(a, b, &mut v), m(b, c, &mut v), m(c, a, &mut v));
            next.extend([[a, ab, ca], [b, bc, ab], [c, ca, bc], [ab, bc, ca]]);
        }
        f = next;
    }
    Mesh {
        vertices: v,
        triangles: f,
    }
}
