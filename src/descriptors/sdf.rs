//! Shape diameter function (Shapira, Shamir and Cohen-Or 2008): at surface points, the robust
//! mean length of rays cast into the solid through a cone around the inward normal.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::DescriptorConfig;
use super::raycast::{Hit, RayMesh};
use crate::mesh::{Mesh, SurfaceSamples, Vec3};

/// Rays start this far inside the surface so they do not hit their own triangle.
const ORIGIN_OFFSET: f32 = 1e-4;

/// Cosine below which a hit wall counts as facing away from the ray's source, so that walls at
/// right angles to it do not flip between kept and dropped with floating-point rounding.
const PERPENDICULAR_TOL: f32 = 1e-4;

/// What the SDF rays found on one mesh (or, summed, on a dataset).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SdfStats {
    /// Points measured.
    pub points: u64,
    /// Points where no ray found an opposite wall: no SDF value, left out of the histogram.
    pub no_hit_points: u64,
    /// Points whose value came from the outward cone because the inward one found nothing
    /// (a locally inverted face).
    pub flipped_points: u64,
    /// Rays cast.
    pub rays: u64,
    /// Rays that hit a surface.
    pub hits: u64,
    /// Hits dropped because the surface hit faces the same way as the ray's source.
    pub rejected: u64,
}

impl SdfStats {
    /// Adds another mesh's counts to these.
    pub fn add(&mut self, o: &SdfStats) {
        self.points += o.points;
        self.no_hit_points += o.no_hit_points;
        self.flipped_points += o.flipped_points;
        self.rays += o.rays;
        self.hits += o.hits;
        self.rejected += o.rejected;
    }
}

/// A mesh prepared for SDF queries: the BVH is built once and queried by every ray.
pub struct SdfTracer {
    rays: RayMesh,
    /// Unit ray directions in a frame whose z axis is the cone's axis.
    cone: Vec<Vec3>,
    /// Inverse angle of each cone direction to the axis.
    weights: Vec<f32>,
    flip_fallback: bool,
    /// No chord of the mesh is longer than this (the diameter of a ball around the origin that
    /// holds it): a bound that lets the BVH search prune early.
    max_toi: f32,
}

/// Fixed Fibonacci pattern of `n` directions spread evenly over the spherical cap of full opening
/// `cone_deg` around +z, with their inverse-angle weights.
pub fn cone_directions(n: usize, cone_deg: f32) -> (Vec<Vec3>, Vec<f32>) {
    let cos_max = (cone_deg.to_radians() / 2.0).cos();
    let golden = std::f32::consts::PI * (3.0 - 5f32.sqrt());
    (0..n)
        .map(|k| {
            let z = 1.0 - (k as f32 + 0.5) / n as f32 * (1.0 - cos_max);
            let s = (1.0 - z * z).max(0.0).sqrt();
            let phi = k as f32 * golden;
            let angle = z.clamp(-1.0, 1.0).acos().max(1e-3);
            (Vec3::new(s * phi.cos(), s * phi.sin(), z), 1.0 / angle)
        })
        .unzip()
}

/// Robust weighted mean of ray lengths: keeps lengths within one standard deviation of the
/// median, then averages them with their weights. `None` for no lengths.
pub fn robust_mean(hits: &mut [(f32, f32)]) -> Option<f32> {
    if hits.is_empty() {
        return None;
    }
    hits.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let n = hits.len();
    let median = if n % 2 == 1 {
        hits[n / 2].0
    } else {
        0.5 * (hits[n / 2 - 1].0 + hits[n / 2].0)
    };
    let mean = hits.iter().map(|h| h.0).sum::<f32>() / n as f32;
    let var = hits.iter().map(|h| (h.0 - mean).powi(2)).sum::<f32>() / n as f32;
    let tol = var.sqrt() * (1.0 + 1e-6) + 1e-7;
    let (mut sw, mut swl) = (0f32, 0f32);
    for &(l, w) in hits.iter() {
        if (l - median).abs() <= tol {
            sw += w;
            swl += w * l;
        }
    }
    (sw > 0.0).then(|| swl / sw)
}

impl SdfTracer {
    /// Builds the BVH and ray pattern for a copy of `mesh`.
    pub fn new(mesh: &Mesh, cfg: &DescriptorConfig) -> Self {
        Self::from_mesh(mesh.clone(), cfg)
    }

    /// Builds the BVH and ray pattern, taking the mesh's buffers over rather than copying them:
    /// on a 5M-triangle mesh a copy is about 250 MB at the moment the BVH build needs the most.
    pub fn from_mesh(mesh: Mesh, cfg: &DescriptorConfig) -> Self {
        let radius = mesh.vertices.iter().map(|v| v.length()).fold(0.0, f32::max);
        // The mesh is validated, so every index is in range. Its buffers are dropped once the
        // leaves hold their own copy of each triangle.
        let rays = RayMesh::new(&mesh.vertices, &mesh.triangles);
        drop(mesh);
        let (cone, weights) = cone_directions(cfg.sdf_rays, cfg.sdf_cone_deg);
        SdfTracer {
            max_toi: 2.0 * radius * (1.0 + 1e-4) + 4.0 * ORIGIN_OFFSET,
            rays,
            cone,
            weights,
            flip_fallback: cfg.sdf_flip_fallback,
        }
    }

    /// The mesh prepared for ray casts (parry3d's BVH over leaves of triangles), for other ray
    /// queries such as rendering views.
    pub fn rays(&self) -> &RayMesh {
        &self.rays
    }

    /// First surface hit along a ray: distance and triangle index.
    #[inline]
    pub fn cast(&self, origin: Vec3, dir: Vec3, max: f32) -> Option<(f32, u32)> {
        self.rays
            .cast(origin, dir, max)
            .map(|h| (h.toi, h.triangle))
    }

    /// Casts the cone around `axis` from `p`; `src_normal` is the face normal at `p` as wound.
    fn cone_hits(
        &self,
        p: Vec3,
        axis: Vec3,
        src_normal: Vec3,
        buf: &mut Vec<(f32, f32)>,
        st: &mut SdfStats,
    ) {
        buf.clear();
        let (t, b) = axis.any_orthonormal_pair();
        let origin = p + axis * ORIGIN_OFFSET;
        for (d, &w) in self.cone.iter().zip(&self.weights) {
            let dir = t * d.x + b * d.y + axis * d.z;
            st.rays += 1;
            if let Some(Hit { toi, normal: n, .. }) = self.rays.cast(origin, dir, self.max_toi) {
                st.hits += 1;
                // Shapira et al.: a wall facing the same way as the source is not the
                // opposite side of the part. The hit's normal is as wound and not normalised;
                // a wall at right angles (a cup's floor seen from its side) is kept whatever
                // the rounding.
                if n.dot(src_normal) > PERPENDICULAR_TOL * n.length() {
                    st.rejected += 1;
                } else {
                    buf.push((toi + ORIGIN_OFFSET, w));
                }
            }
        }
    }

    /// SDF value at each sample (NaN where no ray found an opposite wall) and the ray counts.
    pub fn sdf_at(&self, s: &SurfaceSamples) -> (Vec<f32>, SdfStats) {
        // Points near each other send rays through the same BVH nodes: visiting them in Morton
        // order keeps those nodes in cache. Each point's value does not depend on the order.
        let mut order: Vec<u32> = (0..s.points.len() as u32).collect();
        order.sort_by_key(|&i| morton(s.points[i as usize]));
        let parts: Vec<(Vec<(u32, f32)>, SdfStats)> = order
            .par_chunks(32)
            .map(|ids| {
                let mut st = SdfStats::default();
                let mut buf = Vec::with_capacity(self.cone.len());
                let vals = ids
                    .iter()
                    .map(|&i| {
                        let (p, n) = (s.points[i as usize], s.normals[i as usize]);
                        st.points += 1;
                        self.cone_hits(p, -n, n, &mut buf, &mut st);
                        let mut v = robust_mean(&mut buf);
                        if v.is_none() && self.flip_fallback {
                            // Same rejection rule: both normals are as the file winds them.
                            self.cone_hits(p, n, n, &mut buf, &mut st);
                            v = robust_mean(&mut buf);
                            st.flipped_points += u64::from(v.is_some());
                        }
                        st.no_hit_points += u64::from(v.is_none());
                        (i, v.unwrap_or(f32::NAN))
                    })
                    .collect();
                (vals, st)
            })
            .collect();
        let mut stats = SdfStats::default();
        let mut values = vec![f32::NAN; s.points.len()];
        for (v, st) in parts {
            for (i, x) in v {
                values[i as usize] = x;
            }
            stats.add(&st);
        }
        (values, stats)
    }
}

/// Morton (Z-order) code of a point in [-1, 1]^3, 10 bits per axis.
fn morton(p: Vec3) -> u32 {
    let spread = |x: f32| -> u32 {
        let mut v = (((x.clamp(-1.0, 1.0) + 1.0) * 511.5) as u32) & 0x3ff;
        v = (v | (v << 16)) & 0x0300_00ff;
        v = (v | (v << 8)) & 0x0300_f00f;
        v = (v | (v << 4)) & 0x030c_30c3;
        (v | (v << 2)) & 0x0924_9249
    };
    spread(p.x) | (spread(p.y) << 1) | (spread(p.z) << 2)
}

/// Histogram of the SDF values over `[0, max]` (NaN values left out), normalised to sum 1.
pub fn histogram(values: &[f32], bins: usize, max: f32) -> Vec<f32> {
    let mut h = vec![0f64; bins];
    let scale = bins as f32 / max;
    let mut n = 0usize;
    for &v in values.iter().filter(|v| v.is_finite()) {
        h[((v * scale) as usize).min(bins - 1)] += 1.0;
        n += 1;
    }
    h.iter().map(|&c| (c / n.max(1) as f64) as f32).collect()
}

/// Mean, standard deviation and median of the SDF values, and the fraction of points without one.
pub fn statistics(values: &[f32]) -> [f32; 4] {
    let mut v: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let nohit = 1.0 - v.len() as f32 / values.len().max(1) as f32;
    if v.is_empty() {
        return [0.0, 0.0, 0.0, nohit];
    }
    v.sort_unstable_by(f32::total_cmp);
    let n = v.len() as f32;
    let mean = v.iter().sum::<f32>() / n;
    let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n).sqrt();
    [mean, std, v[v.len() / 2], nohit]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::{RawMesh, SurfaceSampler};
    use rand::SeedableRng;

    /// The SDF a perfect ray caster gives when a ray at cos(angle) `c` to the axis travels
    /// `lengths(c)` and is kept when `kept(c)`.
    fn expected(
        lengths: impl Fn(f32) -> f32,
        kept: impl Fn(f32) -> bool,
        cfg: &DescriptorConfig,
    ) -> f32 {
        let (cone, w) = cone_directions(cfg.sdf_rays, cfg.sdf_cone_deg);
        let mut hits: Vec<(f32, f32)> = cone
            .iter()
            .zip(&w)
            .filter(|(d, _)| kept(d.z))
            .map(|(d, &w)| (lengths(d.z), w))
            .collect();
        robust_mean(&mut hits).unwrap()
    }

    /// Inside a sphere of radius 1, a ray at angle theta to the inward normal travels 2 cos theta
    /// and meets a wall whose normal makes angle pi - 2 theta with the source's: past 45 degrees
    /// both face the same way and the hit is dropped.
    #[test]
    fn sphere_matches_analytic_cone_value() {
        let cfg = DescriptorConfig::default();
        let sphere = crate::synth::icosphere(5);
        let tracer = SdfTracer::new(&sphere, &cfg);
        let s = SurfaceSampler::new(&sphere)
            .sample(200, &mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
        let (vals, st) = tracer.sdf_at(&s);
        // The facets tilt normals by a degree or two, so a ray within 3 degrees of the 45-degree
        // cut-off may land on either side of it: the value lies between the two cases.
        let cut = |deg: f32| move |c: f32| c > deg.to_radians().cos();
        let (a, b) = (
            expected(|c| 2.0 * c, cut(42.0), &cfg),
            expected(|c| 2.0 * c, cut(48.0), &cfg),
        );
        let (lo, hi) = (a.min(b), a.max(b));
        assert!(lo > 1.0 && hi < 2.0);
        for v in &vals {
            assert!(
                *v > lo * 0.99 && *v < hi * 1.01,
                "sdf {v} outside analytic [{lo}, {hi}]"
            );
        }
        assert_eq!(st.no_hit_points, 0);
        assert_eq!(st.rays, 200 * 30);
    }

    fn slab(t: f32) -> Mesh {
        let (a, h) = (5.0, t / 2.0);
        let mut v = Vec::new();
        for z in [-h, h] {
            for (x, y) in [(-a, -a), (a, -a), (a, a), (-a, a)] {
                v.push([x, y, z]);
            }
        }
        // Outward-facing box.
        let f = vec![
            [0, 2, 1],
            [0, 3, 2],
            [4, 5, 6],
            [4, 6, 7],
            [0, 1, 5],
            [0, 5, 4],
            [1, 2, 6],
            [1, 6, 5],
            [2, 3, 7],
            [2, 7, 6],
            [3, 0, 4],
            [3, 4, 7],
        ];
        Mesh::from_raw(RawMesh {
            vertices: v,
            triangles: f,
        })
        .unwrap()
        .0
    }

    /// On the big faces of a thin slab every ray crosses the thickness t at angle theta: t / cos.
    #[test]
    fn thin_slab_gives_its_thickness() {
        let cfg = DescriptorConfig::default();
        let t = 0.1;
        let m = slab(t);
        assert!(m.signed_volume() > 0.0);
        let tracer = SdfTracer::new(&m, &cfg);
        let all =
            SurfaceSampler::new(&m).sample(300, &mut rand_chacha::ChaCha8Rng::seed_from_u64(2));
        let (vals, _) = tracer.sdf_at(&all);
        let want = expected(|c| t / c, |_| true, &cfg);
        // The cone stretches the thickness by at most 1/cos 60 = 2; the robust mean stays close.
        assert!(want > t && want < 1.3 * t, "{want}");
        let mut checked = 0;
        for ((v, n), p) in vals.iter().zip(&all.normals).zip(&all.points) {
            // Far from the rim, so no ray leaves through a side.
            if n.z.abs() > 0.99 && p.x.abs() < 4.5 && p.y.abs() < 4.5 {
                assert!((v - want).abs() < 1e-3, "{v} vs {want}");
                checked += 1;
            }
        }
        assert!(checked > 200);
    }

    /// A slab whose top is wound inward, as loading sees it: the faces are made consistent
    /// first, so every point measures the slab's thickness. Before, the inward rays of the
    /// bottom hit the inverted top and were rejected as facing the same way, and the top's
    /// fallback rays found the bottom facing the way its own normal did: most points had no
    /// value, and the rest measured the slab's width.
    #[test]
    fn a_locally_inverted_face_is_made_consistent_before_the_rays() {
        let cfg = DescriptorConfig::default();
        let sdf = |raw: RawMesh| {
            let (mesh, stats) = crate::mesh::clean(raw).unwrap();
            let s = SurfaceSampler::new(&mesh)
                .sample(400, &mut rand_chacha::ChaCha8Rng::seed_from_u64(3));
            let (vals, st) = SdfTracer::new(&mesh, &cfg).sdf_at(&s);
            (vals, st, stats.flipped)
        };
        let (want, st, flipped) = sdf(slab(1.0).to_raw());
        assert_eq!((st.no_hit_points, flipped), (0, false));
        let mut raw = slab(1.0).to_raw();
        raw.triangles[2].swap(1, 2);
        raw.triangles[3].swap(1, 2);
        let (got, st, flipped) = sdf(raw);
        assert!(flipped);
        assert_eq!((st.no_hit_points, st.flipped_points), (0, 0));
        assert_eq!(
            got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            want.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }

    /// A flipped (inward-wound) sphere still measures through the fallback, and says so.
    #[test]
    fn inverted_faces_use_the_fallback_and_are_counted() {
        let cfg = DescriptorConfig::default();
        let mut sphere = crate::synth::icosphere(3);
        for t in &mut sphere.triangles {
            t.swap(1, 2);
        }
        let tracer = SdfTracer::new(&sphere, &cfg);
        let s =
            SurfaceSampler::new(&sphere).sample(50, &mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
        let (vals, st) = tracer.sdf_at(&s);
        assert_eq!(st.flipped_points, 50);
        assert!(vals.iter().all(|v| v.is_finite()));
        let off = DescriptorConfig {
            sdf_flip_fallback: false,
            ..cfg
        };
        let (vals, st) = SdfTracer::new(&sphere, &off).sdf_at(&s);
        assert_eq!(st.no_hit_points, 50);
        assert!(vals.iter().all(|v| v.is_nan()));
        assert_eq!(histogram(&vals, 4, 2.0), vec![0.0; 4]);
    }

    #[test]
    fn robust_mean_drops_outliers() {
        let mut h = vec![(1.0, 1.0), (1.1, 1.0), (0.9, 1.0), (1.0, 1.0), (9.0, 1.0)];
        let m = robust_mean(&mut h).unwrap();
        assert!((m - 1.0).abs() < 0.05, "{m}");
        assert!(robust_mean(&mut []).is_none());
    }
}
