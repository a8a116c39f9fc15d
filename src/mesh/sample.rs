//! Area-weighted random points on a mesh surface.

use rand::Rng;

use super::{Mesh, Vec3, triangle_cross};

/// Draws points uniformly over a mesh's surface area; built once per mesh, sampled many times.
pub struct SurfaceSampler<'a> {
    mesh: &'a Mesh,
    /// Running sum of triangle areas: picking a triangle is a binary search.
    cdf: Vec<f64>,
}

/// Points on a surface with the unit normal and index of the triangle each lies on.
#[derive(Debug, Clone, Default)]
pub struct SurfaceSamples {
    /// Sample positions.
    pub points: Vec<Vec3>,
    /// Outward unit normal of each sample's triangle.
    pub normals: Vec<Vec3>,
    /// Triangle index of each sample.
    pub faces: Vec<u32>,
}

impl<'a> SurfaceSampler<'a> {
    /// Prepares sampling over `mesh` (whose triangles all have positive area).
    pub fn new(mesh: &'a Mesh) -> Self {
        let mut total = 0f64;
        let cdf = mesh
            .triangles
            .iter()
            .map(|&t| {
                total += f64::from(triangle_cross(&mesh.vertices, t).length()) * 0.5;
                total
            })
            .collect();
        SurfaceSampler { mesh, cdf }
    }

    /// Total surface area.
    pub fn area(&self) -> f64 {
        self.cdf.last().copied().unwrap_or(0.0)
    }

    /// Picks a triangle with probability proportional to its area.
    #[inline]
    pub fn pick_face<R: Rng>(&self, rng: &mut R) -> usize {
        let u = rng.random::<f64>() * self.area();
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }

    /// One uniformly distributed point on triangle `f`.
    #[inline]
    pub fn point_on<R: Rng>(&self, f: usize, rng: &mut R) -> Vec3 {
        let [a, b, c] = self.mesh.triangles[f].map(|i| self.mesh.vertices[i as usize]);
        let r1 = rng.random::<f32>().sqrt();
        let r2 = rng.random::<f32>();
        a * (1.0 - r1) + b * (r1 * (1.0 - r2)) + c * (r1 * r2)
    }

    /// `n` area-weighted points.
    pub fn points<R: Rng>(&self, n: usize, rng: &mut R) -> Vec<Vec3> {
        (0..n)
            .map(|_| {
                let f = self.pick_face(rng);
                self.point_on(f, rng)
            })
            .collect()
    }

    /// `n` area-weighted points with their normals and faces.
    pub fn sample<R: Rng>(&self, n: usize, rng: &mut R) -> SurfaceSamples {
        let mut s = SurfaceSamples {
            points: Vec::with_capacity(n),
            normals: Vec::with_capacity(n),
            faces: Vec::with_capacity(n),
        };
        for _ in 0..n {
            let f = self.pick_face(rng);
            s.points.push(self.point_on(f, rng));
            s.normals.push(self.mesh.face_normal(f));
            s.faces.push(f as u32);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::RawMesh;
    use rand::SeedableRng;

    /// Two triangles of area 1 and 3 side by side: samples must split 1:3, and points stay on
    /// their triangle.
    #[test]
    fn area_weighting_and_uniformity() {
        let raw = RawMesh {
            vertices: vec![
                [0.0, 0.0, 0.0],
                [2.0, 0.0, 0.0],
                [0.0, 1.0, 0.0],
                [2.0, 0.0, 0.0],
                [8.0, 0.0, 0.0],
                [2.0, 1.0, 0.0],
            ],
            triangles: vec![[0, 1, 2], [3, 4, 5]],
        };
        let (mesh, _) = Mesh::from_raw(raw).unwrap();
        let s = SurfaceSampler::new(&mesh);
        assert!((s.area() - 4.0).abs() < 1e-9);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let n = 40_000;
        let out = s.sample(n, &mut rng);
        let small = out.faces.iter().filter(|&&f| f == 0).count() as f64 / n as f64;
        assert!(
            (small - 0.25).abs() < 0.01,
            "share on the small triangle {small}"
        );
        // Uniform within a triangle: the mean is its centroid, and half the points lie below
        // the line that halves its area (y < 1 - 1/sqrt 2 for this right triangle).
        let pts: Vec<Vec3> = out
            .points
            .iter()
            .zip(&out.faces)
            .filter(|(_, f)| **f == 1)
            .map(|(p, _)| *p)
            .collect();
        let mean = pts.iter().fold(Vec3::ZERO, |a, p| a + *p) / pts.len() as f32;
        assert!(
            (mean - Vec3::new(4.0, 1.0 / 3.0, 0.0)).length() < 0.03,
            "{mean:?}"
        );
        let below = pts.iter().filter(|p| p.y < 1.0 - 0.5f32.sqrt()).count() as f64;
        assert!((below / pts.len() as f64 - 0.5).abs() < 0.015);
        assert!(out.normals.iter().all(|n| (n.z.abs() - 1.0).abs() < 1e-6));
    }
}
