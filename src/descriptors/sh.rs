//! Rotation-invariant spherical-harmonics shape descriptor (Kazhdan, Funkhouser and
//! Rusinkiewicz, "Rotation invariant spherical harmonic representation of 3D shape
//! descriptors", SGP 2003).
//!
//! The surface of the normalised mesh (centred on its area-weighted centroid, farthest vertex at
//! distance 1) is represented by area-weighted random points. Each point is split between the
//! two concentric shells whose radii bracket its distance from the centre (linear, "tent"
//! weights: a radial blur of one shell width, so a point crossing a shell boundary moves the
//! descriptor continuously). On each shell the points' directions define a function on the
//! sphere; its real spherical-harmonic coefficients `a_{r,l,m}` are summed point by point.
//! The energy of one degree, `|a_{r,l}| = sqrt(sum_m a_{r,l,m}^2)`, does not change when the
//! shape rotates (rotations mix the `2l + 1` coefficients of a degree orthogonally), so the
//! columns are rotation invariant without any pose normalisation.
//!
//! Normalisation: the column for shell `r` and degree `l` is
//! `sqrt(4 pi / (2l + 1)) * |a_{r,l}| / W`, with `W` the number of points. Equivalently
//! `sqrt(sum_{i,j} w_i w_j P_l(u_i . u_j)) / W` over the points of that shell (`P_l` the Legendre
//! polynomial, `w` the tent weights), so:
//! - degree 0 is the shell's share of the surface area, and the degree-0 columns sum to 1 like a
//!   histogram (a radial distribution, D1 with soft bins);
//! - degree `l` lies in `[0, degree-0 column]`: the share of that shell's area that is
//!   organised at angular frequency `l` (1 for all of it in one direction, close to 0 for a
//!   uniformly covered shell).
//!
//! Values therefore do not depend on the mesh's size, its triangle count or the number of
//! points (other than through sampling noise), and sit on the same scale as the histograms.
//!
//! Why points rather than Kazhdan's 64^3 voxel grid: the other descriptors already sample the
//! surface by area, points need no grid memory (2 MB per mesh and thread at 64^3 in f64), cost
//! `points x degrees^2` whatever the triangle count, and rotating the points rotates the
//! descriptor's input exactly, where a grid adds aliasing that differs from pose to pose. The
//! price is sampling noise, which falls as `1 / sqrt(points)`; the default 8192 points keep it
//! below the differences between shapes (see the tests).

use crate::mesh::Vec3;

/// Real, orthonormal spherical harmonics `Y_l^m` of degrees `0..degrees`, evaluated on unit
/// vectors without trigonometry: `Y_l^{+-m} = sqrt(2) Q_l^m(z) Re/Im (x + iy)^m`, where
/// `Q_l^m = P_l^m / sin^m` is the fully normalised associated Legendre function with the
/// `sin^m theta` factor taken out (which `(x + iy)^m` supplies). `Q` follows the standard
/// stable three-term recurrence in `l` for fixed `m` (Holmes and Featherstone 2002), whose
/// coefficients are computed once here.
///
/// Coefficient `(l, m)`, `-l <= m <= l`, is stored at index `l * l + l + m`.
#[derive(Debug, Clone)]
pub struct ShBasis {
    degrees: usize,
    /// `Q_m^m`, a constant per `m`.
    diag: Vec<f64>,
    /// Recurrence coefficients `(a, b)` of `Q_l^m = a (z Q_{l-1}^m - b Q_{l-2}^m)`, at
    /// `l * degrees + m` for `l > m`.
    rec: Vec<(f64, f64)>,
}

impl ShBasis {
    /// The basis of degrees `0..degrees` (`degrees * degrees` functions).
    pub fn new(degrees: usize) -> Self {
        let mut diag = Vec::with_capacity(degrees);
        let mut q = (0.25 / std::f64::consts::PI).sqrt();
        for m in 0..degrees {
            if m > 0 {
                let m = m as f64;
                q *= ((2.0 * m + 1.0) / (2.0 * m)).sqrt();
            }
            diag.push(q);
        }
        let mut rec = vec![(0.0, 0.0); degrees * degrees];
        for l in 1..degrees {
            for m in 0..l {
                let (lf, mf) = (l as f64, m as f64);
                let a = ((4.0 * lf * lf - 1.0) / (lf * lf - mf * mf)).sqrt();
                // Zero for l = m + 1, where Q_{l-2}^m does not exist.
                let b = (((lf - 1.0).powi(2) - mf * mf) / (4.0 * (lf - 1.0).powi(2) - 1.0))
                    .max(0.0)
                    .sqrt();
                rec[l * degrees + m] = (a, b);
            }
        }
        ShBasis { degrees, diag, rec }
    }

    /// Number of degrees (`l = 0..degrees`).
    pub fn degrees(&self) -> usize {
        self.degrees
    }

    /// Number of functions, `degrees^2`.
    pub fn len(&self) -> usize {
        self.degrees * self.degrees
    }

    /// Whether the basis is empty (no degrees).
    pub fn is_empty(&self) -> bool {
        self.degrees == 0
    }

    /// Writes every `Y_l^m(u)` into `out[l * l + l + m]`. `u` should be a unit vector (the
    /// functions are polynomials, so any other vector gives finite values, just not `Y`).
    /// `out` must hold at least [`Self::len`] values.
    #[inline]
    pub fn eval(&self, u: [f64; 3], out: &mut [f64]) {
        let l_max = self.degrees;
        if l_max == 0 {
            return;
        }
        let out = &mut out[..l_max * l_max];
        let [x, y, z] = u;
        let sqrt2 = std::f64::consts::SQRT_2;
        // m = 0: the zonal functions.
        let (mut q2, mut q1) = (0.0, self.diag[0]);
        out[0] = q1;
        for l in 1..l_max {
            let (a, b) = self.rec[l * l_max];
            let q = a * (z * q1 - b * q2);
            (q2, q1) = (q1, q);
            out[l * l + l] = q;
        }
        // (c, s) = Re, Im (x + iy)^m, times sqrt(2).
        let (mut c, mut s) = (sqrt2 * x, sqrt2 * y);
        for m in 1..l_max {
            let (mut q2, mut q1) = (0.0, self.diag[m]);
            out[m * m + 2 * m] = q1 * c;
            out[m * m] = q1 * s;
            for l in m + 1..l_max {
                let (a, b) = self.rec[l * l_max + m];
                let q = a * (z * q1 - b * q2);
                (q2, q1) = (q1, q);
                let centre = l * l + l;
                out[centre + m] = q * c;
                out[centre - m] = q * s;
            }
            (c, s) = (c * x - s * y, c * y + s * x);
        }
    }
}

/// The descriptor of `pts` (points on a normalised mesh, inside the unit ball): `shells x
/// basis.degrees()` values, shell-major (shell 0 innermost), each as in the module
/// documentation. Shell `k` is centred at radius `(k + 0.5) / shells`.
///
/// Defined for every input: no points (or no finite ones) give zeros, non-finite points are
/// skipped, a point at the centre counts in degree 0 only (it has no direction), and points
/// outside the unit ball count in the outermost shell.
pub fn sh_descriptor(pts: &[Vec3], shells: usize, basis: &ShBasis) -> Vec<f32> {
    let nb = basis.len();
    let degrees = basis.degrees();
    let mut out = vec![0f32; shells * degrees];
    if shells == 0 || degrees == 0 {
        return out;
    }
    // Every coefficient of every shell, summed over the points; one buffer for the basis.
    let mut acc = vec![0f64; shells * nb];
    let mut y = vec![0f64; nb];
    let y00 = (0.25 / std::f64::consts::PI).sqrt();
    let mut total = 0f64;
    let last = (shells - 1) as f64;
    for p in pts {
        let v = [f64::from(p.x), f64::from(p.y), f64::from(p.z)];
        let rho = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        if !rho.is_finite() {
            continue;
        }
        total += 1.0;
        // Tent weights between the shells whose centres bracket rho.
        let t = (rho * shells as f64 - 0.5).clamp(0.0, last);
        let k0 = t as usize;
        let k1 = (k0 + 1).min(shells - 1);
        let w1 = t - k0 as f64;
        let w0 = 1.0 - w1;
        if rho > 1e-12 {
            basis.eval(v.map(|c| c / rho), &mut y);
            for (a, &b) in acc[k0 * nb..(k0 + 1) * nb].iter_mut().zip(&y) {
                *a += w0 * b;
            }
            if w1 > 0.0 {
                for (a, &b) in acc[k1 * nb..(k1 + 1) * nb].iter_mut().zip(&y) {
                    *a += w1 * b;
                }
            }
        } else {
            acc[k0 * nb] += w0 * y00;
            acc[k1 * nb] += w1 * y00;
        }
    }
    if total == 0.0 {
        return out;
    }
    for (k, shell) in acc.chunks_exact(nb).enumerate() {
        for l in 0..degrees {
            let energy: f64 = shell[l * l..(l + 1) * (l + 1)].iter().map(|a| a * a).sum();
            let scale = (4.0 * std::f64::consts::PI / (2 * l + 1) as f64).sqrt() / total;
            out[k * degrees + l] = (energy.sqrt() * scale) as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests;
