//! A conv block's tail in one operation on NCHW f32 slices: batch norm with the batch's own
//! statistics, ReLU, then 2x2 max pooling with stride 2 (floor mode),
//! `out = maxpool(max(0, γ·(x − μ)/√(σ² + ε) + β))` per channel, and its gradients.
//!
//! Why: Burn's generic batch norm swaps the batch and channel axes (a copy) for each statistic,
//! and the normalisation, the ReLU, the pooling and each of their gradients are separate passes
//! over full-size maps. Here the forward is one pass for the statistics and one that writes only
//! the pooled maps (and which of each window's four won); the backward is two passes over the
//! input, recomputing the pre-activation instead of storing it.

use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Output of [`forward_train`].
pub struct Forward {
    /// The pooled maps `[n, c, h / 2, w / 2]`.
    pub y: Vec<f32>,
    /// Which of each window's four pixels won (row-major in the window).
    pub argmax: Vec<u8>,
    /// Per-channel batch mean.
    pub mean: Vec<f32>,
    /// Per-channel biased batch variance.
    pub var: Vec<f32>,
}

/// Output of [`backward_train`].
pub struct Grads {
    /// Gradient of the input.
    pub dx: Vec<f32>,
    /// Gradient of γ.
    pub dgamma: Vec<f32>,
    /// Gradient of β.
    pub dbeta: Vec<f32>,
}

/// Shape of the maps: `n` images of `c` channels of `h x w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Maps {
    /// Images.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
}

impl Maps {
    /// Pixels per map.
    fn plane(&self) -> usize {
        self.h * self.w
    }

    /// Pixels per pooled map.
    pub fn pooled(&self) -> usize {
        (self.h / 2) * (self.w / 2)
    }
}

/// Sum in 16 independent lanes, so the compiler vectorises it.
fn sum(xs: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let chunks = xs.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

/// Σ (x − m)² in 16 lanes.
fn sum_sq(xs: &[f32], m: f32) -> f32 {
    let mut acc = [0.0f32; 16];
    let chunks = xs.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += (v - m) * (v - m);
        }
    }
    acc.iter().sum::<f32>() + rest.iter().map(|v| (v - m) * (v - m)).sum::<f32>()
}

/// Per channel, the f64 sum over images of `f(channel, image)`.
fn per_channel<F>(s: &Maps, f: F) -> Vec<(f64, f64)>
where
    F: Fn(usize, usize) -> (f32, f32) + Sync,
{
    (0..s.c)
        .into_par_iter()
        .map(|ch| {
            (0..s.n).fold((0.0, 0.0), |(a, b), img| {
                let (x, y) = f(ch, img);
                (a + x as f64, b + y as f64)
            })
        })
        .collect()
}

/// Per-channel `(scale, shift)` with `γ·(x − μ)/√(σ² + ε) + β = scale·x + shift`.
pub fn affine(
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f64,
) -> (Vec<f32>, Vec<f32>) {
    let scale: Vec<f32> = gamma
        .iter()
        .zip(var)
        .map(|(g, v)| (*g as f64 / (*v as f64 + eps).sqrt()) as f32)
        .collect();
    let shift = beta
        .iter()
        .zip(mean)
        .zip(&scale)
        .map(|((b, m), s)| b - m * s)
        .collect();
    (scale, shift)
}

/// `maxpool(max(0, scale·x + shift))` per channel (inference: no record of the winners).
pub fn affine_relu_pool(x: &[f32], scale: &[f32], shift: &[f32], s: &Maps) -> Vec<f32> {
    pool::<false>(x, scale, shift, s).0
}

/// [`affine_relu_pool`] and which of each window's four pixels won (row-major in the window).
///
/// Both outputs are written only by the parallel tasks: zeroing them first (8 MB at the first
/// block's default shapes) was a quarter of the time a training step's calling thread spent
/// working alone.
fn pool<const ARGMAX: bool>(
    x: &[f32],
    scale: &[f32],
    shift: &[f32],
    s: &Maps,
) -> (Vec<f32>, Vec<u8>) {
    let (plane, pooled) = (s.plane(), s.pooled());
    assert_eq!(x.len(), s.n * s.c * plane);
    let len = s.n * s.c * pooled;
    let mut y: Vec<f32> = Vec::with_capacity(len);
    let mut argmax: Vec<u8> = Vec::with_capacity(if ARGMAX { len } else { 0 });
    if pooled == 0 {
        return (y, argmax);
    }
    let (ow, w) = (s.w / 2, s.w);
    // Writes every element of one map's `out` (and `arg`): its h / 2 rows of ow windows are the
    // whole of `pooled`.
    let body = |i: usize, out: &mut [MaybeUninit<f32>], mut arg: Option<&mut [MaybeUninit<u8>]>| {
        assert_eq!(out.len(), (s.h / 2) * ow);
        super::poison_in_tests(out);
        if let Some(args) = arg.as_deref_mut() {
            super::poison_in_tests(args);
        }
        let (a, b) = (scale[i % s.c], shift[i % s.c]);
        // The affine map is monotonic: its maximum over a window is at the window's maximum of
        // x when a >= 0 and at its minimum when a < 0, so one comparison tree on x and one
        // affine map per window. `sign` flips x so both cases take the maximum.
        let sign = if a < 0.0 { -1.0f32 } else { 1.0 };
        let src = &x[i * plane..(i + 1) * plane];
        for oy in 0..s.h / 2 {
            let top = &src[2 * oy * w..2 * oy * w + 2 * ow];
            let bottom = &src[(2 * oy + 1) * w..(2 * oy + 1) * w + 2 * ow];
            let row = &mut out[oy * ow..(oy + 1) * ow];
            let mut args = arg.as_deref_mut().map(|a| &mut a[oy * ow..(oy + 1) * ow]);
            for (ox, ((o, t), d)) in row
                .iter_mut()
                .zip(top.chunks_exact(2))
                .zip(bottom.chunks_exact(2))
                .enumerate()
            {
                let (v0, v1, v2, v3) = (sign * t[0], sign * t[1], sign * d[0], sign * d[1]);
                let (m01, k01) = if v1 > v0 { (v1, 1u8) } else { (v0, 0) };
                let (m23, k23) = if v3 > v2 { (v3, 3u8) } else { (v2, 2) };
                let (m, k) = if m23 > m01 { (m23, k23) } else { (m01, k01) };
                o.write((a * (sign * m) + b).max(0.0));
                if let Some(args) = args.as_deref_mut() {
                    args[ox].write(k);
                }
            }
        }
    };
    let ys = &mut y.spare_capacity_mut()[..len];
    if ARGMAX {
        ys.par_chunks_mut(pooled)
            .zip(argmax.spare_capacity_mut()[..len].par_chunks_mut(pooled))
            .enumerate()
            .for_each(|(i, (out, arg))| body(i, out, Some(arg)));
    } else {
        ys.par_chunks_mut(pooled)
            .enumerate()
            .for_each(|(i, out)| body(i, out, None));
    }
    // SAFETY: the chunks of `pooled` cover the first `len` elements, and `body` writes every
    // element of its chunk of `y` (and of `argmax` with ARGMAX): the row and window loops
    // cover the (h / 2) x ow = pooled windows, asserted, one write each. A panic unwinds past
    // this line with both lengths 0.
    unsafe {
        y.set_len(len);
        if ARGMAX {
            argmax.set_len(len);
        }
    }
    (y, argmax)
}

/// Calls `f(q, at)` for each window `q` of a map, in order, with `at` the offset in the map of
/// the window's winner `argmax[q]` (row-major in the window). Row by row, so no division per
/// window.
#[inline]
fn winners(argmax: &[u8], s: &Maps, mut f: impl FnMut(usize, usize)) {
    let ow = s.w / 2;
    if ow == 0 {
        return;
    }
    for (oy, row) in argmax.chunks_exact(ow).enumerate() {
        let top = 2 * oy * s.w;
        for (ox, &k) in row.iter().enumerate() {
            f(
                oy * ow + ox,
                top + (k as usize >> 1) * s.w + 2 * ox + (k as usize & 1),
            );
        }
    }
}

/// Forward with batch statistics: see the module doc.
pub fn forward_train(x: &[f32], gamma: &[f32], beta: &[f32], s: &Maps, eps: f64) -> Forward {
    let plane = s.plane();
    assert_eq!(x.len(), s.n * s.c * plane);
    let count = (s.n * plane).max(1) as f64;
    let block = |ch: usize, img: usize| &x[(img * s.c + ch) * plane..(img * s.c + ch + 1) * plane];
    let sums = per_channel(s, |ch, img| (sum(block(ch, img)), 0.0));
    let mean: Vec<f32> = sums.iter().map(|t| (t.0 / count) as f32).collect();
    let sq = per_channel(s, |ch, img| (sum_sq(block(ch, img), mean[ch]), 0.0));
    let var: Vec<f32> = sq.iter().map(|t| (t.0 / count) as f32).collect();
    let (scale, shift) = affine(gamma, beta, &mean, &var, eps);
    let (y, argmax) = pool::<true>(x, &scale, &shift, s);
    Forward {
        y,
        argmax,
        mean,
        var,
    }
}

/// Gradients of [`forward_train`] given the pooled output's gradient `dy` and what the forward
/// returned. Only each window's winner gets a gradient, and only where its ReLU was active.
#[allow(clippy::too_many_arguments)]
pub fn backward_train(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    argmax: &[u8],
    eps: f64,
    dy: &[f32],
    s: &Maps,
) -> Grads {
    let (plane, pooled) = (s.plane(), s.pooled());
    assert_eq!(x.len(), s.n * s.c * plane);
    assert_eq!(dy.len(), s.n * s.c * pooled);
    assert_eq!(argmax.len(), dy.len());
    let count = (s.n * plane).max(1) as f64;
    let (scale, shift) = affine(gamma, beta, mean, var, eps);
    let inv_std: Vec<f32> = var
        .iter()
        .map(|v| (1.0 / (*v as f64 + eps).sqrt()) as f32)
        .collect();
    // Σ dz and Σ dz·x̂ per channel, where dz is the pooled gradient at active winners.
    let sums = per_channel(s, |ch, img| {
        let i = img * s.c + ch;
        let src = &x[i * plane..(i + 1) * plane];
        let (a, b, m, is) = (scale[ch], shift[ch], mean[ch], inv_std[ch]);
        let (mut s0, mut s1) = (0.0f32, 0.0f32);
        let g = &dy[i * pooled..(i + 1) * pooled];
        winners(&argmax[i * pooled..(i + 1) * pooled], s, |q, at| {
            let v = src[at];
            if a * v + b > 0.0 {
                s0 += g[q];
                s1 += g[q] * (v - m) * is;
            }
        });
        (s0, s1)
    });
    let dbeta: Vec<f32> = sums.iter().map(|t| t.0 as f32).collect();
    let dgamma: Vec<f32> = sums.iter().map(|t| t.1 as f32).collect();
    let every_pixel = |_: &mut (), i: usize, out: &mut [MaybeUninit<f32>]| {
        let ch = i % s.c;
        let src = &x[i * plane..(i + 1) * plane];
        let (a, b, m, is) = (scale[ch], shift[ch], mean[ch], inv_std[ch]);
        let k = (gamma[ch] as f64 * is as f64 / count) as f32;
        let (sb, sg) = (dbeta[ch], dgamma[ch]);
        // The part every pixel gets: −k·(Σdz + x̂·Σdz·x̂).
        assert_eq!(out.len(), src.len());
        for (o, v) in out.iter_mut().zip(src) {
            o.write(-k * (sb + (v - m) * is * sg));
        }
        // SAFETY: the loop above wrote all of `out`, as long as `src` (asserted).
        let out = unsafe { super::assume_init_mut(out) };
        // Plus k·count·dz at the active winners.
        let kc = (k as f64 * count) as f32;
        let g = &dy[i * pooled..(i + 1) * pooled];
        winners(&argmax[i * pooled..(i + 1) * pooled], s, |q, at| {
            if a * src[at] + b > 0.0 {
                out[at] += kc * g[q];
            }
        });
    };
    // SAFETY: `every_pixel` writes the whole of each chunk (one map) before anything else.
    let dx = unsafe { super::par_chunks_uninit(x.len(), plane, || (), every_pixel) };
    Grads { dx, dgamma, dbeta }
}
