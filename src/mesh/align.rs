//! A pose of the mesh's own: its area-weighted principal axes, so the same shape in any
//! orientation is seen from the same cameras.

use parry3d::math::{Mat3, SymmetricEigen3};

use super::{Mesh, Vec3};

impl Mesh {
    /// The rotation whose columns are the surface's principal axes, largest spread first:
    /// eigenvectors of the area-weighted second moment of the surface about its centroid. The
    /// first two axes point where the surface's third moment along them is positive, and the
    /// third completes a right-handed frame, so a rotated copy of a shape gets the rotated
    /// frame (up to exact symmetries, where any choice is as good).
    pub fn principal_frame(&self) -> Mat3 {
        type D = [f64; 3];
        let d = |v: Vec3| [f64::from(v.x), f64::from(v.y), f64::from(v.z)];
        let sub = |a: D, b: D| [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
        let dot = |a: D, b: D| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
        let cross = |a: D, b: D| {
            [
                a[1] * b[2] - a[2] * b[1],
                a[2] * b[0] - a[0] * b[2],
                a[0] * b[1] - a[1] * b[0],
            ]
        };
        let mut area = 0f64;
        let mut mu = [0f64; 3];
        let mut tris: Vec<(f64, [D; 3])> = Vec::with_capacity(self.triangles.len());
        for t in &self.triangles {
            let [p, q, r] = t.map(|i| d(self.vertices[i as usize]));
            let n = cross(sub(q, p), sub(r, p));
            let a = 0.5 * dot(n, n).sqrt();
            if !(a.is_finite() && a > 0.0) {
                continue;
            }
            area += a;
            for k in 0..3 {
                mu[k] += a * (p[k] + q[k] + r[k]) / 3.0;
            }
            tris.push((a, [p, q, r]));
        }
        if !(area.is_finite() && area > 0.0) {
            return Mat3::IDENTITY;
        }
        let mu = mu.map(|m| m / area);
        // Second moment of a uniform triangle about the centroid: (S S^T + sum v v^T) / 12,
        // S the sum of its corners.
        let mut m = [[0f64; 3]; 3];
        let mut centres = Vec::with_capacity(tris.len());
        for (a, corners) in &tris {
            let c = corners.map(|v| sub(v, mu));
            let s = [0, 1, 2].map(|k| c[0][k] + c[1][k] + c[2][k]);
            for i in 0..3 {
                for j in 0..3 {
                    let vv: f64 = c.iter().map(|v| v[i] * v[j]).sum();
                    m[i][j] += a / 12.0 * (s[i] * s[j] + vv);
                }
            }
            centres.push((*a, s.map(|x| x / 3.0)));
        }
        let cov = Mat3::from_cols_array_2d(&m.map(|row| row.map(|v| (v / area) as f32)));
        let eig = SymmetricEigen3::new(cov).reverse();
        let mut axes = [eig.eigenvectors.x_axis, eig.eigenvectors.y_axis];
        for axis in &mut axes {
            let n = axis.length();
            if !(n.is_finite() && n > 0.0) {
                return Mat3::IDENTITY;
            }
            *axis /= n;
            let e = d(*axis);
            let skew: f64 = centres.iter().map(|&(a, c)| a * dot(c, e).powi(3)).sum();
            if skew < 0.0 {
                *axis = -*axis;
            }
        }
        let third = axes[0].cross(axes[1]).normalize_or_zero();
        if third == Vec3::ZERO {
            return Mat3::IDENTITY;
        }
        Mat3::from_cols(axes[0], third.cross(axes[0]), third)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parry3d::math::Rot3;
    use rand::SeedableRng;

    #[test]
    fn a_rotated_shape_gets_the_rotated_frame() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let raw = crate::synth::shape(crate::synth::ShapeClass::Mug, &mut rng);
        let (mut a, _) = Mesh::from_raw(raw.clone()).unwrap();
        a.normalize();
        let fa = a.principal_frame();
        assert!((fa.determinant() - 1.0).abs() < 1e-4, "a rotation");
        for (k, q) in [
            Rot3::from_rotation_x(1.1),
            Rot3::from_rotation_z(0.3) * Rot3::from_rotation_y(2.0) * Rot3::from_rotation_x(-1.2),
        ]
        .into_iter()
        .enumerate()
        {
            let mut b = a.clone();
            for v in &mut b.vertices {
                *v = q * *v;
            }
            let fb = b.principal_frame();
            let want = Mat3::from_quat(q) * fa;
            for c in 0..3 {
                let d = (fb.col(c) - want.col(c)).length();
                assert!(
                    d < 1e-3,
                    "pose {k}, axis {c}: {:?} vs {:?}",
                    fb.col(c),
                    want.col(c)
                );
            }
        }
    }
}
