//! Osada et al.'s shape distributions: D2 (distance between two random surface points), and D1
//! (distance to the centroid), A3 (angle between three points), D3 (square root of the area of
//! the triangle of three points). Histograms are normalised to sum 1.

use rand::Rng;

use crate::mesh::Vec3;

/// Adds `x` to a histogram of `h.len()` bins over `[0, max]`; values past `max` go to the last bin.
#[inline(always)]
fn bin(h: &mut [u32], x: f32, scale: f32) {
    let k = ((x * scale) as usize).min(h.len() - 1);
    h[k] += 1;
}

fn normalise(h: &[u32]) -> Vec<f32> {
    let total: u64 = h.iter().map(|&c| u64::from(c)).sum();
    let t = total.max(1) as f64;
    h.iter().map(|&c| (f64::from(c) / t) as f32).collect()
}

/// D2 histogram of `pts`: all pairs when `pairs` is `None`, else that many random pairs (seeded).
/// Defined for every input: a `max` that is not positive and finite, or non-finite points, put
/// their distances in the first or last bin rather than anywhere undefined; no bins give an
/// empty histogram.
pub fn d2_histogram(
    pts: &[Vec3],
    bins: usize,
    max: f32,
    pairs: Option<usize>,
    seed: u64,
) -> Vec<f32> {
    if bins == 0 {
        return Vec::new();
    }
    let mut h = vec![0u32; bins];
    let scale = bins as f32 / max;
    let n = pts.len();
    match pairs {
        None => {
            let xs: Vec<f32> = pts.iter().map(|p| p.x).collect();
            let ys: Vec<f32> = pts.iter().map(|p| p.y).collect();
            let zs: Vec<f32> = pts.iter().map(|p| p.z).collect();
            let mut h4 = vec![[0u32; 4]; bins];
            all_pairs(&xs, &ys, &zs, scale, &mut h4);
            for (t, s) in h.iter_mut().zip(&h4) {
                *t = s.iter().sum();
            }
        }
        Some(m) => {
            let mut rng = crate::seeding::rng(seed, crate::seeding::Stream::D2Pairs);
            for _ in 0..m {
                let i = rng.random_range(0..n);
                // Never the same point twice.
                let j = (i + rng.random_range(1..n)) % n;
                bin(&mut h, pts[i].distance(pts[j]), scale);
            }
        }
    }
    normalise(&h)
}

/// Bins every pair of points `(xs[i], ys[i], zs[i])` into `h4` (`h4.len()` bins, each spread
/// over four counters). With AVX2 where the CPU has it: the same IEEE operations eight lanes wide
/// instead of four, so the same bins.
fn all_pairs(xs: &[f32], ys: &[f32], zs: &[f32], scale: f32, h4: &mut [[u32; 4]]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above; the function has no other requirement.
        unsafe { all_pairs_avx2(xs, ys, zs, scale, h4) };
        return;
    }
    all_pairs_body(xs, ys, zs, scale, h4);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn all_pairs_avx2(xs: &[f32], ys: &[f32], zs: &[f32], scale: f32, h4: &mut [[u32; 4]]) {
    all_pairs_body(xs, ys, zs, scale, h4);
}

#[inline(always)]
fn all_pairs_body(xs: &[f32], ys: &[f32], zs: &[f32], scale: f32, h4: &mut [[u32; 4]]) {
    // Structure of arrays and a row of bin indices let the distance loop vectorise (including
    // the float-to-bin conversion); the scatter spreads over four histograms so consecutive
    // increments of one bin do not wait on each other.
    let n = xs.len().min(ys.len()).min(zs.len());
    if h4.is_empty() {
        return;
    }
    let last = (h4.len() - 1) as f32;
    let mut row = vec![0u32; n];
    for i in 0..n {
        let (x, y, z) = (xs[i], ys[i], zs[i]);
        let out = &mut row[..n - i - 1];
        for (((o, &a), &b), &c) in out
            .iter_mut()
            .zip(&xs[i + 1..n])
            .zip(&ys[i + 1..n])
            .zip(&zs[i + 1..n])
        {
            let (dx, dy, dz) = (a - x, b - y, c - z);
            // `max(0.0)` maps NaN and negatives to 0 and `min(last)` caps +inf, so `b` is a
            // finite value in [0, bins - 1] for any points and any `scale`.
            let b = ((dx * dx + dy * dy + dz * dz).sqrt() * scale)
                .max(0.0)
                .min(last);
            // SAFETY: `b` is finite and in [0, bins - 1] (above), well inside i32. The
            // checked `as` conversion would stop vectorisation.
            *o = unsafe { b.to_int_unchecked::<i32>() } as u32;
        }
        let mut chunks = out.chunks_exact(4);
        for c in &mut chunks {
            h4[c[0] as usize][0] += 1;
            h4[c[1] as usize][1] += 1;
            h4[c[2] as usize][2] += 1;
            h4[c[3] as usize][3] += 1;
        }
        for &k in chunks.remainder() {
            h4[k as usize][0] += 1;
        }
    }
}

/// D1 histogram: distance of each point from the origin (the mesh centroid after normalising).
pub fn d1_histogram(pts: &[Vec3], bins: usize, max: f32) -> Vec<f32> {
    let mut h = vec![0u32; bins];
    let scale = bins as f32 / max;
    for p in pts {
        bin(&mut h, p.length(), scale);
    }
    normalise(&h)
}

/// A3 (angle at the middle of three random points, over `[0, pi]`) and D3 (square root of their
/// triangle's area, over `[0, d3_max]`) histograms from `triples` random triples.
pub fn a3_d3_histograms<R: Rng>(
    pts: &[Vec3],
    bins: usize,
    d3_max: f32,
    triples: usize,
    rng: &mut R,
) -> (Vec<f32>, Vec<f32>) {
    let mut a3 = vec![0u32; bins];
    let mut d3 = vec![0u32; bins];
    let n = pts.len();
    if n < 3 {
        return (normalise(&a3), normalise(&d3));
    }
    let sa = bins as f32 / std::f32::consts::PI;
    let sd = bins as f32 / d3_max;
    // Multiply-shift maps a 32-bit draw onto 0..m with negligible bias for point counts.
    let mut below = |m: usize| ((u64::from(rng.next_u32()) * m as u64) >> 32) as usize;
    for _ in 0..triples {
        let i = below(n);
        let j = (i + 1 + below(n - 1)) % n;
        let mut k = below(n);
        while k == i || k == j {
            k = below(n);
        }
        let (a, b, c) = (pts[i], pts[j], pts[k]);
        let (u, v) = (a - b, c - b);
        bin(&mut a3, u.angle_between(v), sa);
        bin(&mut d3, (0.5 * u.cross(v).length()).sqrt(), sd);
    }
    (normalise(&a3), normalise(&d3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::SurfaceSampler;
    use rand::SeedableRng;

    #[test]
    fn any_max_and_any_points_give_a_defined_histogram() {
        let mut pts: Vec<Vec3> = (0..9).map(|i| Vec3::new(i as f32, 0.0, 0.0)).collect();
        pts.push(Vec3::new(f32::NAN, 0.0, 0.0));
        pts.push(Vec3::new(f32::INFINITY, 0.0, 0.0));
        for max in [
            -0.0,
            0.0,
            -1.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            2.0,
        ] {
            for pairs in [None, Some(50)] {
                let h = d2_histogram(&pts, 8, max, pairs, 1);
                assert_eq!(h.len(), 8, "max {max}");
                let sum: f32 = h.iter().sum();
                assert!((sum - 1.0).abs() < 1e-5, "max {max}: sums to {sum}");
            }
        }
        assert!(d2_histogram(&pts, 0, 2.0, None, 1).is_empty());
    }

    /// On the unit sphere's surface the distance between two uniform points has density d/2 on
    /// [0, 2]: bin k of 64 holds ((k+1)^2 - k^2) / 64^2 of the mass.
    #[test]
    fn d2_of_sphere_matches_known_density() {
        let sphere = crate::synth::icosphere(5);
        let s = SurfaceSampler::new(&sphere);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let pts = s.points(4096, &mut rng);
        let h = d2_histogram(&pts, 64, 2.0, None, 0);
        assert!((h.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        let mut l1 = 0.0;
        for (k, &v) in h.iter().enumerate() {
            let expect = ((k + 1).pow(2) - k.pow(2)) as f32 / 4096.0;
            l1 += (v - expect).abs();
        }
        // Sampling noise plus the icosphere's faceting keep this well under 0.05.
        assert!(l1 < 0.05, "L1 distance to d/2 density {l1}");
        // The last bins carry most mass; the first almost none.
        assert!(h[63] > h[1] * 30.0);
    }

    #[test]
    fn random_pairs_approximate_all_pairs() {
        let sphere = crate::synth::icosphere(4);
        let s = SurfaceSampler::new(&sphere);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let pts = s.points(1024, &mut rng);
        let all = d2_histogram(&pts, 16, 2.0, None, 0);
        let some = d2_histogram(&pts, 16, 2.0, Some(200_000), 9);
        let l1: f32 = all.iter().zip(&some).map(|(a, b)| (a - b).abs()).sum();
        assert!(l1 < 0.02, "{l1}");
    }

    /// A3 on a sphere: the angle is inscribed, so its mean is well above pi/4 and D3 fills its
    /// range below the equilateral maximum.
    #[test]
    fn a3_d3_and_d1_on_sphere() {
        let sphere = crate::synth::icosphere(4);
        let s = SurfaceSampler::new(&sphere);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let pts = s.points(1024, &mut rng);
        let d1 = d1_histogram(&pts, 10, 1.0);
        assert!(d1[9] > 0.99, "all points at radius ~1: {d1:?}");
        let (a3, d3) = a3_d3_histograms(&pts, 8, 1.14, 20_000, &mut rng);
        assert!((a3.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!((d3.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        // Inscribed angles: mostly acute, and none near pi.
        assert!(a3[7] < 0.01 && a3[..4].iter().sum::<f32>() > 0.5, "{a3:?}");
    }
}
