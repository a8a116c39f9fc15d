//! What a validated mesh offers: its parts, clean-up from a raw mesh, normalisation, areas and
//! volumes, in double precision where units could be extreme.

use super::*;

impl Mesh {
    /// Vertex positions.
    pub fn vertices(&self) -> &[Vec3] {
        &self.vertices
    }

    /// Triangles as indices into [`Self::vertices`], each valid and of non-zero area.
    pub fn triangles(&self) -> &[[u32; 3]] {
        &self.triangles
    }

    /// The mesh as plain arrays again (to write it, or to build a changed copy through
    /// [`Mesh::from_raw`]).
    pub fn to_raw(&self) -> RawMesh {
        RawMesh {
            vertices: self.vertices.iter().map(|v| v.to_array()).collect(),
            triangles: self.triangles.clone(),
        }
    }

    /// Validates a raw mesh and drops degenerate triangles.
    ///
    /// Fails on non-finite coordinates, out-of-range indices, or when no triangle with area is left.
    pub fn from_raw(raw: RawMesh) -> Result<(Mesh, LoadStats), MeshError> {
        if raw.vertices.is_empty() {
            return Err(MeshError::Invalid("no vertices".into()));
        }
        if raw.triangles.is_empty() {
            return Err(MeshError::Invalid("no faces".into()));
        }
        if let Some(i) = raw
            .vertices
            .iter()
            .position(|v| !v.iter().all(|c| c.is_finite()))
        {
            return Err(MeshError::Invalid(format!(
                "vertex {i} has a non-finite coordinate ({:?})",
                raw.vertices[i]
            )));
        }
        let nv = raw.vertices.len();
        if let Some((f, t)) = raw
            .triangles
            .iter()
            .enumerate()
            .find(|(_, t)| t.iter().any(|&i| i as usize >= nv))
        {
            return Err(MeshError::Invalid(format!(
                "face {f} references vertex {} but there are only {nv} vertices",
                t.iter().max().unwrap_or(&0)
            )));
        }
        // Same size and alignment: the collect reuses the raw buffer instead of copying it.
        let vertices: Vec<Vec3> = raw.vertices.into_iter().map(Vec3::from_array).collect();
        // Zero area relative to the model's own size, so units do not matter. The size is that
        // of the vertices faces use: a stray unused vertex far away (OFF, PLY and glTF keep
        // them) must not make every real face count as zero area.
        let (lo, hi) = raw.triangles.iter().flatten().fold(
            (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY)),
            |(lo, hi), &i| {
                let v = vertices[i as usize];
                (lo.min(v), hi.max(v))
            },
        );
        let diag2 = (0..3)
            .map(|k| (f64::from(hi[k]) - f64::from(lo[k])).powi(2))
            .sum::<f64>();
        let min_area = diag2 * 1e-14;
        let faces_in = raw.triangles.len();
        let mut triangles = raw.triangles;
        triangles.retain(|&[a, b, c]| {
            if a == b || b == c || a == c {
                return false;
            }
            double_area(&vertices, [a, b, c]) * 0.5 > min_area
        });
        if triangles.is_empty() {
            return Err(MeshError::Invalid(format!(
                "all {faces_in} faces are degenerate (zero area)"
            )));
        }
        let stats = LoadStats {
            faces_in,
            degenerate_dropped: faces_in - triangles.len(),
            flipped: false,
        };
        Ok((
            Mesh {
                vertices,
                triangles,
            },
            stats,
        ))
    }

    /// Area of each triangle.
    pub fn triangle_areas(&self) -> Vec<f32> {
        self.triangles
            .iter()
            .map(|&t| 0.5 * triangle_cross(&self.vertices, t).length())
            .collect()
    }

    /// Total surface area.
    pub fn area(&self) -> f64 {
        self.triangle_areas().iter().map(|&a| f64::from(a)).sum()
    }

    /// Unit normal of triangle `i` (by its winding).
    pub fn face_normal(&self, i: usize) -> Vec3 {
        triangle_cross(&self.vertices, self.triangles[i]).normalize_or_zero()
    }

    /// Centres the mesh on its area-weighted surface centroid and scales it so the farthest
    /// referenced vertex lies at distance 1: descriptors then compare shape, not pose or size.
    ///
    /// Works in f64, so files in any units (edges of 1e-15 or 1e25) come out the same.
    pub fn normalize(&mut self) {
        let mut acc = [0f64; 3];
        let mut total = 0f64;
        for &t in &self.triangles {
            let [p, q, r] = t.map(|i| dvec(self.vertices[i as usize]));
            let a = double_area_of(p, q, r);
            for k in 0..3 {
                acc[k] += a * (p[k] + q[k] + r[k]);
            }
            total += a;
        }
        let centroid = acc.map(|c| c / (3.0 * total));
        let offset = |v: &Vec3| [0, 1, 2].map(|k| f64::from(v[k]) - centroid[k]);
        let mut used = vec![false; self.vertices.len()];
        for t in &self.triangles {
            for &i in t {
                used[i as usize] = true;
            }
        }
        let radius = self
            .vertices
            .iter()
            .zip(&used)
            .filter(|(_, u)| **u)
            .map(|(v, _)| offset(v).iter().map(|d| d * d).sum::<f64>())
            .fold(0f64, f64::max)
            .sqrt();
        let inv = if radius > 0.0 && radius.is_finite() {
            1.0 / radius
        } else {
            1.0
        };
        for v in &mut self.vertices {
            *v = Vec3::from_array(offset(v).map(|d| (d * inv) as f32));
        }
    }

    /// Signed volume enclosed by the surface (positive when the faces point outwards).
    ///
    /// For open surfaces this is the volume of the cones from the origin, still a fair vote on
    /// whether most faces point outwards.
    pub fn signed_volume(&self) -> f64 {
        self.triangles
            .iter()
            .map(|&[a, b, c]| {
                let (a, b, c) = (
                    self.vertices[a as usize],
                    self.vertices[b as usize],
                    self.vertices[c as usize],
                );
                f64::from(a.dot(b.cross(c))) / 6.0
            })
            .sum()
    }

    /// Winds every triangle consistently with its neighbours (across edges two faces share, by
    /// vertex position) and outwards: each closed part by its own signed volume, the open parts
    /// together by the whole mesh's. Returns how many triangles were flipped. This is what loading does:
    /// the SDF needs `-normal` to point into the solid at every face, not only on average.
    pub fn orient_consistently(&mut self) -> usize {
        super::winding::orient(&self.vertices, &mut self.triangles)
    }

    /// Flips every triangle when the surface mostly faces inwards, so that `-normal` points into
    /// the solid as the SDF needs. Returns whether it flipped.
    pub fn orient_outward(&mut self) -> bool {
        if self.signed_volume() < 0.0 {
            for t in &mut self.triangles {
                t.swap(1, 2);
            }
            true
        } else {
            false
        }
    }
}

/// Twice a triangle's area, in f64: in f32 the square of the cross product overflows for edges
/// over about 1e9 units and underflows below about 1e-9.
#[inline]
pub(crate) fn double_area(v: &[Vec3], t: [u32; 3]) -> f64 {
    let [a, b, c] = t.map(|i| dvec(v[i as usize]));
    double_area_of(a, b, c)
}

#[inline]
fn dvec(v: Vec3) -> [f64; 3] {
    [f64::from(v.x), f64::from(v.y), f64::from(v.z)]
}

#[inline]
fn double_area_of(a: [f64; 3], b: [f64; 3], c: [f64; 3]) -> f64 {
    let (u, w) = (
        [0, 1, 2].map(|k| b[k] - a[k]),
        [0, 1, 2].map(|k| c[k] - a[k]),
    );
    let n = [
        u[1] * w[2] - u[2] * w[1],
        u[2] * w[0] - u[0] * w[2],
        u[0] * w[1] - u[1] * w[0],
    ];
    (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt()
}

/// Cross product of a triangle's edges: its normal scaled by twice its area.
#[inline]
pub(crate) fn triangle_cross(v: &[Vec3], [a, b, c]: [u32; 3]) -> Vec3 {
    let a = v[a as usize];
    (v[b as usize] - a).cross(v[c as usize] - a)
}

/// Fails with [`MeshError::ClaimsTooMuch`] when `needed` bytes exceed the `available` ones.
pub(crate) fn check_claim(
    format: &'static str,
    needed: u128,
    available: usize,
    claimed: impl FnOnce() -> String,
) -> Result<(), MeshError> {
    if needed > available as u128 {
        return Err(MeshError::ClaimsTooMuch {
            format,
            claimed: claimed(),
            bytes: available as u64,
        });
    }
    Ok(())
}
