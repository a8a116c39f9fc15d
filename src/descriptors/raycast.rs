//! First-hit ray casting on a triangle mesh for the SDF and the depth views: parry3d's [`Bvh`]
//! traverses, over leaves of [`LEAF`] triangles each, and the triangle test is ours.
//!
//! The workload casts few rays per triangle (about 15k SDF rays on meshes of 1k to 60k triangles),
//! so building the tree costs as much as traversing it. Triangles are ordered along a Morton curve
//! and grouped [`LEAF`] at a time, which gives the builder four times fewer leaves; each leaf keeps
//! its triangles' corner, edges and normal side by side (structure of arrays), so one leaf test
//! handles its triangles together without a branch per triangle and without working out a normal.
//!
//! The triangle test is parry3d's (`local_ray_intersection_with_triangle`) with the normal
//! computed once per triangle: the same operations in the same order, so it gives the same
//! distances, bit for bit (the tests check it).

use parry3d::bounding_volume::Aabb;
use parry3d::partitioning::{Bvh, BvhBuildStrategy, BvhNode};

use crate::mesh::Vec3;

/// Triangles per BVH leaf.
pub const LEAF: usize = 4;

/// [`LEAF`] triangles, each coordinate in its own row so that the test runs across them at once.
/// Unused slots of the last leaf have zero edges, hence a zero normal, which no ray hits.
#[derive(Clone, Copy, Default)]
#[repr(C, align(16))]
struct Leaf {
    /// First corner.
    a: [[f32; LEAF]; 3],
    /// Second corner minus the first.
    ab: [[f32; LEAF]; 3],
    /// Third corner minus the first.
    ac: [[f32; LEAF]; 3],
}

impl Leaf {
    /// Puts triangle `a b c` into slot `lane`.
    fn set(&mut self, lane: usize, a: Vec3, b: Vec3, c: Vec3) {
        let (ab, ac) = (b - a, c - a);
        for k in 0..3 {
            self.a[k][lane] = a[k];
            self.ab[k][lane] = ab[k];
            self.ac[k][lane] = ac[k];
        }
    }

    /// The normal of the triangle in `lane` as wound, `ab x ac` (glam's formula, so the same
    /// bits as the mesh's own cross product), not normalised.
    #[inline(always)]
    fn normal(&self, lane: usize) -> [f32; 3] {
        let (ab, ac) = (&self.ab, &self.ac);
        [
            ab[1][lane] * ac[2][lane] - ac[1][lane] * ab[2][lane],
            ab[2][lane] * ac[0][lane] - ac[2][lane] * ab[0][lane],
            ab[0][lane] * ac[1][lane] - ac[0][lane] * ab[1][lane],
        ]
    }
}

/// A triangle mesh prepared for first-hit ray casts.
pub struct RayMesh {
    bvh: Bvh,
    leaves: Vec<Leaf>,
    /// Mesh triangle index of each slot (`leaf * LEAF + lane`).
    ids: Vec<u32>,
}

/// A ray's first hit: distance along the ray (in units of its direction's length) and where.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Distance to the hit, in multiples of the direction's length.
    pub toi: f32,
    /// Index of the triangle hit in the mesh the [`RayMesh`] was built from.
    pub triangle: u32,
    /// That triangle's normal as wound (corner 2 - corner 1) x (corner 3 - corner 1), not
    /// normalised.
    pub normal: Vec3,
}

impl RayMesh {
    /// Prepares `triangles` (indices into `vertices`) for ray casts. A triangle with an index
    /// out of range is left out: no ray hits it.
    pub fn new(vertices: &[Vec3], triangles: &[[u32; 3]]) -> Self {
        let order = morton_order(vertices, triangles);
        let mut leaves = vec![Leaf::default(); order.len().div_ceil(LEAF)];
        let mut ids = vec![u32::MAX; leaves.len() * LEAF];
        let mut boxes = Vec::with_capacity(leaves.len());
        for ((leaf, chunk), slot_ids) in leaves
            .iter_mut()
            .zip(order.chunks(LEAF))
            .zip(ids.chunks_mut(LEAF))
        {
            let mut lo = Vec3::splat(f32::INFINITY);
            let mut hi = Vec3::splat(f32::NEG_INFINITY);
            for (lane, (&t, id)) in chunk.iter().zip(slot_ids).enumerate() {
                // In range: `morton_order` keeps only such triangles.
                let [a, b, c] = triangles[t as usize].map(|i| vertices[i as usize]);
                leaf.set(lane, a, b, c);
                lo = lo.min(a).min(b).min(c);
                hi = hi.max(a).max(b).max(c);
                *id = t;
            }
            boxes.push(Aabb::new(lo, hi));
        }
        // Binned over Ploc: measured on the synth meshes at 11k triangles, Ploc builds three
        // times slower and its rays are no faster.
        let bvh = Bvh::from_iter(BvhBuildStrategy::Binned, boxes.into_iter().enumerate());
        RayMesh { bvh, leaves, ids }
    }

    /// Number of triangles.
    pub fn triangle_count(&self) -> usize {
        self.ids.iter().filter(|&&i| i != u32::MAX).count()
    }

    /// The first triangle hit by the ray from `origin` along `dir` at a distance below `max`
    /// (in multiples of `dir`'s length). Faces are hit from either side.
    #[inline]
    pub fn cast(&self, origin: Vec3, dir: Vec3, max: f32) -> Option<Hit> {
        // parry3d's best-first traversal with the slab test of `Bvh::cast_ray` (the same
        // clamping of near-zero direction components), written here so that it is inlined into
        // the traversal rather than called once per node.
        let inv = dir.map(|r| {
            if r.abs() < f32::EPSILON {
                r.signum() / f32::EPSILON
            } else {
                1.0 / r
            }
        });
        let node_cost = |node: &BvhNode, _best: f32| {
            let (lo, hi) = (node.mins(), node.maxs());
            let (mut tmin, mut tmax) = (f32::NEG_INFINITY, f32::INFINITY);
            for k in 0..3 {
                let t1 = (lo[k] - origin[k]) * inv[k];
                let t2 = (hi[k] - origin[k]) * inv[k];
                // Written as selects, which compile to one instruction each (`f32::min`
                // also orders NaN, which cannot occur here).
                let (near, far) = if t1 < t2 { (t1, t2) } else { (t2, t1) };
                tmin = if near > tmin { near } else { tmin };
                tmax = if far < tmax { far } else { tmax };
            }
            if tmax >= tmin && tmax >= 0.0 {
                tmin
            } else {
                f32::MAX
            }
        };
        let (leaf, (toi, lane)) = self.bvh.find_best(max, node_cost, |leaf, best| {
            // `leaf` is an index the tree was built with, so in range; `get` keeps that an
            // assumption the compiler need not trust.
            leaf_hit(self.leaves.get(leaf as usize)?, origin, dir, best)
        })?;
        if toi >= max {
            return None;
        }
        let (leaf, lane) = (leaf as usize, lane as usize);
        let l = &self.leaves[leaf];
        Some(Hit {
            toi,
            triangle: self.ids[leaf * LEAF + lane],
            normal: Vec3::from_array(l.normal(lane)),
        })
    }
}

/// The nearest of a leaf's triangles that the ray hits below `best`: its distance and lane.
///
/// Each lane is parry3d's `local_ray_intersection_with_triangle` with the normal precomputed and
/// the two branches on the side of the plane the origin lies turned into sign flips (exact), so
/// every distance equals parry's bit for bit.
#[inline(always)]
fn leaf_hit(leaf: &Leaf, o: Vec3, dir: Vec3, best: f32) -> Option<(f32, u32)> {
    let mut toi = [f32::INFINITY; LEAF];
    for (l, out) in toi.iter_mut().enumerate() {
        let n = leaf.normal(l);
        let d = n[0] * dir.x + n[1] * dir.y + n[2] * dir.z;
        let ap = [o.x - leaf.a[0][l], o.y - leaf.a[1][l], o.z - leaf.a[2][l]];
        let t = ap[0] * n[0] + ap[1] * n[1] + ap[2] * n[2];
        // e = -(dir x ap)
        let e = [
            -(dir.y * ap[2] - ap[1] * dir.z),
            -(dir.z * ap[0] - ap[2] * dir.x),
            -(dir.x * ap[1] - ap[0] * dir.y),
        ];
        let ac_e = leaf.ac[0][l] * e[0] + leaf.ac[1][l] * e[1] + leaf.ac[2][l] * e[2];
        let ab_e = leaf.ab[0][l] * e[0] + leaf.ab[1][l] * e[1] + leaf.ab[2][l] * e[2];
        let below = t < 0.0;
        let v = if below { -ac_e } else { ac_e };
        let w = if below { ab_e } else { -ab_e };
        let da = d.abs();
        let facing_away = (t < 0.0 && d < 0.0) || (t > 0.0 && d > 0.0);
        // parry's two rejections, negated as written so that NaN compares as parry's do.
        let inside = !(v < 0.0 || v > da || w < 0.0 || v + w > da);
        let hit = d != 0.0 && !facing_away && inside;
        let invd = 1.0 / da;
        let dist = (if below { -t } else { t }) * invd;
        *out = if hit { dist } else { f32::INFINITY };
    }
    let mut found = None;
    let mut best = best;
    for (l, &t) in toi.iter().enumerate() {
        if t < best {
            best = t;
            found = Some((t, l as u32));
        }
    }
    found
}

/// Indices of the triangles whose corners are all in range, sorted by the Morton code of their
/// centroids in the mesh's bounding box: neighbours on the curve are neighbours in space, so
/// consecutive triangles make tight leaves.
fn morton_order(vertices: &[Vec3], triangles: &[[u32; 3]]) -> Vec<u32> {
    let (lo, hi) = vertices.iter().fold(
        (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY)),
        |(lo, hi), v| (lo.min(*v), hi.max(*v)),
    );
    // Three corners summed: the centroid times 3, so the box is scaled by 3 too.
    let ext = (hi - lo).max(Vec3::splat(f32::MIN_POSITIVE));
    let scale = Vec3::splat(1023.0 / 3.0) / ext;
    let lo3 = lo * 3.0;
    let mut keys: Vec<u64> = triangles
        .iter()
        .enumerate()
        .filter(|(_, t)| t.iter().all(|&k| (k as usize) < vertices.len()))
        .map(|(i, t)| {
            let c = t.iter().fold(Vec3::ZERO, |s, &k| s + vertices[k as usize]);
            let q = ((c - lo3) * scale).clamp(Vec3::ZERO, Vec3::splat(1023.0));
            let code = spread(q.x as u32) | (spread(q.y as u32) << 1) | (spread(q.z as u32) << 2);
            (u64::from(code) << 32) | i as u64
        })
        .collect();
    radix_sort_high32(&mut keys);
    keys.into_iter().map(|k| k as u32).collect()
}

/// Spreads the low 10 bits of `v` to every third bit.
fn spread(v: u32) -> u32 {
    let mut v = v & 0x3ff;
    v = (v | (v << 16)) & 0x0300_00ff;
    v = (v | (v << 8)) & 0x0300_f00f;
    v = (v | (v << 4)) & 0x030c_30c3;
    (v | (v << 2)) & 0x0924_9249
}

/// Sorts by the upper 32 bits (a 30-bit Morton code), stable: three passes of 10 bits.
fn radix_sort_high32(keys: &mut Vec<u64>) {
    let mut tmp = vec![0u64; keys.len()];
    for pass in 0..3 {
        let shift = 32 + 10 * pass;
        let mut count = [0usize; 1025];
        for &k in keys.iter() {
            count[((k >> shift) & 0x3ff) as usize + 1] += 1;
        }
        for i in 1..1025 {
            count[i] += count[i - 1];
        }
        for &k in keys.iter() {
            let b = ((k >> shift) & 0x3ff) as usize;
            tmp[count[b]] = k;
            count[b] += 1;
        }
        std::mem::swap(keys, &mut tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parry3d::query::{Ray, RayCast};
    use parry3d::shape::{TriMesh, Triangle};
    use proptest::prelude::*;

    fn parry_toi(a: Vec3, b: Vec3, c: Vec3, o: Vec3, d: Vec3) -> Option<f32> {
        Triangle::new(a, b, c).cast_local_ray(&Ray::new(o, d), f32::INFINITY, false)
    }

    /// The leaf test alone (the tree's boxes are tested apart, on whole meshes): the triangle in
    /// one lane and the others empty, each lane in turn.
    fn ours_toi(a: Vec3, b: Vec3, c: Vec3, o: Vec3, d: Vec3) -> Option<f32> {
        let mut out = None;
        for lane in 0..LEAF {
            let mut leaf = Leaf::default();
            leaf.set(lane, a, b, c);
            let got = leaf_hit(&leaf, o, d, f32::INFINITY);
            if let Some((_, l)) = got {
                assert_eq!(l as usize, lane);
            }
            out = got.map(|(t, _)| t);
        }
        out
    }

    fn v3() -> impl Strategy<Value = Vec3> {
        (-2f32..2.0, -2f32..2.0, -2f32..2.0).prop_map(|(x, y, z)| Vec3::new(x, y, z))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Random rays and triangles: the same hit or miss and the same distance, bit for bit.
        #[test]
        fn agrees_with_parry_on_random_rays(a in v3(), b in v3(), c in v3(), o in v3(), d in v3()) {
            let (p, q) = (parry_toi(a, b, c, o, d), ours_toi(a, b, c, o, d));
            prop_assert_eq!(p.map(f32::to_bits), q.map(f32::to_bits));
        }

        /// Rays aimed at a point of the triangle chosen by barycentric coordinates that include
        /// its edges and corners (weights of exactly 0 or 1).
        #[test]
        fn agrees_with_parry_on_edges_and_corners(
            a in v3(), b in v3(), c in v3(), o in v3(),
            u in prop_oneof![Just(0f32), Just(1.0), Just(0.5), 0f32..1.0],
            v in prop_oneof![Just(0f32), Just(1.0), Just(0.5), 0f32..1.0],
        ) {
            let (u, v) = if u + v > 1.0 { (1.0 - u, 1.0 - v) } else { (u, v) };
            let target = a + (b - a) * u + (c - a) * v;
            let d = target - o;
            let (p, q) = (parry_toi(a, b, c, o, d), ours_toi(a, b, c, o, d));
            prop_assert_eq!(p.map(f32::to_bits), q.map(f32::to_bits));
        }

        /// Rays parallel to the triangle's plane, in it or beside it.
        #[test]
        fn agrees_with_parry_on_parallel_rays(
            a in v3(), b in v3(), c in v3(), s in -1f32..1.0, t in -1f32..1.0,
            lift in prop_oneof![Just(0f32), -0.5f32..0.5],
        ) {
            let n = (b - a).cross(c - a);
            let o = a + (b - a) * s + n.normalize_or_zero() * lift;
            let d = (c - a) * t + (b - a);
            let (p, q) = (parry_toi(a, b, c, o, d), ours_toi(a, b, c, o, d));
            prop_assert_eq!(p.map(f32::to_bits), q.map(f32::to_bits));
        }
    }

    /// On a whole mesh the first hit is parry3d's `TriMesh` one: the same distance up to the
    /// rounding that makes two triangles sharing the edge hit give distances an ulp apart, and
    /// that triangle's normal.
    #[test]
    fn first_hits_match_parry_trimesh() {
        let m = crate::synth::icosphere(3);
        let ours = RayMesh::new(&m.vertices, &m.triangles);
        assert_eq!(ours.triangle_count(), m.triangles.len());
        let theirs = TriMesh::new(m.vertices.clone(), m.triangles.clone()).unwrap();
        let mut rng = crate::seeding::rng_for(9, 9);
        use rand::Rng;
        let mut hits = 0;
        for _ in 0..20_000 {
            let mut r = || Vec3::new(rng.random(), rng.random(), rng.random()) * 3.0 - 1.5;
            let (o, d) = (r(), r());
            let p = theirs.cast_local_ray_and_get_normal(&Ray::new(o, d), 10.0, false);
            let q = ours.cast(o, d, 10.0);
            assert_eq!(p.is_some(), q.is_some(), "{o} {d}");
            if let (Some(p), Some(q)) = (p, q) {
                assert!((p.time_of_impact - q.toi).abs() <= 1e-6 * q.toi.max(1.0));
                let t = m.triangles[q.triangle as usize];
                let n = crate::mesh::triangle_cross(&m.vertices, t);
                assert_eq!(n, q.normal);
                hits += 1;
            }
        }
        assert!(hits > 1000);
    }

    /// A triangle with an index out of range is left out rather than a panic.
    #[test]
    fn out_of_range_triangles_are_left_out() {
        let v = [Vec3::ZERO, Vec3::X, Vec3::Y];
        let r = RayMesh::new(&v, &[[0, 1, 7], [0, 1, 2]]);
        assert_eq!(r.triangle_count(), 1);
        let h = r.cast(Vec3::new(0.2, 0.2, 1.0), Vec3::NEG_Z, 5.0).unwrap();
        assert_eq!(h.triangle, 1);
        let none = RayMesh::new(&v, &[[0, 1, 7]]);
        assert_eq!(none.triangle_count(), 0);
        assert!(
            none.cast(Vec3::new(0.2, 0.2, 1.0), Vec3::NEG_Z, 5.0)
                .is_none()
        );
        assert!(
            RayMesh::new(&[], &[])
                .cast(Vec3::ZERO, Vec3::X, 1.0)
                .is_none()
        );
    }

    /// Meshes of 1, 2 and 5 triangles (a root that is a leaf, a partly filled leaf).
    #[test]
    fn tiny_meshes() {
        let v = [
            Vec3::new(0.0, 0.0, 0.0),
            Vec3::new(1.0, 0.0, 0.0),
            Vec3::new(0.0, 1.0, 0.0),
        ];
        for n in [1, 2, 5, 9] {
            let tris: Vec<[u32; 3]> = (0..n).map(|_| [0, 1, 2]).collect();
            let r = RayMesh::new(&v, &tris);
            let h = r
                .cast(Vec3::new(0.2, 0.2, 1.0), Vec3::new(0.0, 0.0, -1.0), 5.0)
                .unwrap();
            assert_eq!(h.toi, 1.0);
            assert!((h.triangle as usize) < n);
            assert!(r.cast(Vec3::new(2.0, 2.0, 1.0), Vec3::NEG_Z, 5.0).is_none());
            assert!(r.cast(Vec3::new(0.2, 0.2, 1.0), Vec3::NEG_Z, 1.0).is_none());
        }
    }
}
