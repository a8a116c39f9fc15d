//! "Same" 2D convolution on NCHW f32 slices (odd square kernel, stride 1, padding `k / 2`, no
//! bias) and both of its gradients, each as im2col and one GEMM (the `gemm` crate, which picks
//! AVX-512, AVX2 or scalar kernels at run time), parallel over images with rayon; the forward
//! pass and the input gradient of 3x3 kernels with enough channels go through Winograd
//! F(4x4, 3x3) or F(2x2, 3x3) instead (4 or 2.25 times fewer multiplications, see
//! the `winograd` module).
//!
//! Why not burn-flex's own conv2d: it copies NCHW to NHWC on every call, and differentiates the
//! weight as a convolution of the swapped input with a 32x32 "kernel" of output gradients. Here
//! the weight gradient is `dY · colᵀ` over groups of images and the input gradient is
//! `Wᵀ · dY` followed by col2im, each a GEMM of a useful shape.

use super::par_chunks_uninit;
use gemm::Parallelism;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Sizes of one convolution: `n` images of `cin` channels of `h x w` pixels, `cout` filters of
/// `k x k` (odd `k`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    /// Images.
    pub n: usize,
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
    /// Kernel side (odd).
    pub k: usize,
}

impl ConvShape {
    /// Pixels per channel.
    fn pixels(&self) -> usize {
        self.h * self.w
    }

    /// Rows of the im2col matrix: one per (input channel, kernel row, kernel column).
    fn patch(&self) -> usize {
        self.cin * self.k * self.k
    }

    /// Images per forward GEMM: enough that the group has about 1024 pixels, so the weight is
    /// packed once per group rather than once per image (measured: flat from 256 to 2048,
    /// slower beyond as the im2col block leaves the cache).
    fn group(&self) -> usize {
        (1024 / self.pixels().max(1)).clamp(1, self.n.max(1))
    }

    /// Images per weight-gradient GEMM: about 256 pixels. Longer inner dimensions measured
    /// slower (16 ms at 256 against 30 ms at 2048 for the second block on 2 cores): the
    /// grouped im2col block and output gradients then leave the cache.
    fn wgroup(&self) -> usize {
        (256 / self.pixels().max(1)).clamp(1, self.n.max(1))
    }
}

/// Writes the im2col matrix of one image `x` (`cin x h x w`) into `col`, a
/// `patch x ld` row-major matrix, starting at column `off`: row `(c, ky, kx)` holds the image
/// shifted by `(ky - k/2, kx - k/2)` with zeros outside.
///
/// Each row is one copy of the plane's contiguous block at the shift's offset, then the few
/// pixels that the flat copy wrapped round from a neighbouring image row are zeroed: a row of
/// the image is 8 to 32 pixels, and a copy and two fills per image row (three calls into libc
/// each) cost more than the copying itself.
fn im2col(x: &[f32], s: &ConvShape, col: &mut [f32], ld: usize, off: usize) {
    let (h, w, k) = (s.h, s.w, s.k);
    let p = (k / 2) as isize;
    let (hi, wi) = (h as isize, w as isize);
    for c in 0..s.cin {
        let plane = &x[c * h * w..(c + 1) * h * w];
        for ky in 0..k {
            for kx in 0..k {
                let row = (c * k + ky) * k + kx;
                let dst = &mut col[row * ld + off..row * ld + off + h * w];
                let (dy, dx) = (ky as isize - p, kx as isize - p);
                // Output rows y0..y1 and columns x0..x1 read inside the image.
                let (y0, y1) = ((-dy).max(0), (hi - dy.max(0)).max(0));
                let (x0, x1) = ((-dx).max(0), (wi - dx.max(0)).max(0));
                if y0 >= y1 || x0 >= x1 {
                    dst.fill(0.0);
                    continue;
                }
                let (y0, y1, x0, x1) = (y0 as usize, y1 as usize, x0 as usize, x1 as usize);
                // From the first inside pixel to the last: dst[i] = plane[i + dy * w + dx].
                let (a, b) = (y0 * w + x0, (y1 - 1) * w + x1);
                let from = (a as isize + dy * wi + dx) as usize;
                dst[..a].fill(0.0);
                dst[a..b].copy_from_slice(&plane[from..from + (b - a)]);
                dst[b..].fill(0.0);
                // The columns outside the image within rows y0..y1 (at most k / 2 each side).
                if x0 > 0 || x1 < w {
                    for r in dst[y0 * w..y1 * w].chunks_exact_mut(w) {
                        for v in &mut r[..x0] {
                            *v = 0.0;
                        }
                        for v in &mut r[x1..] {
                            *v = 0.0;
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`] for one image: adds each row of `col` (`patch x h*w`) back into
/// `dx` (`cin x h x w`) at its shift.
fn col2im_add(col: &[f32], s: &ConvShape, dx: &mut [f32]) {
    let (h, w, k) = (s.h, s.w, s.k);
    let p = (k / 2) as isize;
    for c in 0..s.cin {
        let plane = &mut dx[c * h * w..(c + 1) * h * w];
        for ky in 0..k {
            for kx in 0..k {
                let row = (c * k + ky) * k + kx;
                let src = &col[row * h * w..(row + 1) * h * w];
                let (dy, ddx) = (ky as isize - p, kx as isize - p);
                let x0 = (-ddx).max(0) as usize;
                let x1 = (w as isize - ddx.max(0)).max(x0 as isize) as usize;
                if x0 >= x1 {
                    continue;
                }
                for y in 0..h {
                    let sy = y as isize + dy;
                    if sy < 0 || sy >= h as isize {
                        continue;
                    }
                    let sx0 = (x0 as isize + ddx) as usize;
                    let dst = &mut plane[sy as usize * w + sx0..sy as usize * w + sx0 + (x1 - x0)];
                    for (d, v) in dst.iter_mut().zip(&src[y * w + x0..y * w + x1]) {
                        *d += v;
                    }
                }
            }
        }
    }
}

/// Row-major GEMM `dst (m x n) = [dst +] a (m x k) · b (k x n)`, each operand given by its row
/// and column strides, on the calling thread.
#[allow(clippy::too_many_arguments)]
fn gemm_strided(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    accumulate: bool,
    a: &[f32],
    a_strides: (usize, usize),
    b: &[f32],
    b_strides: (usize, usize),
) {
    assert!(dst.len() >= m * n);
    // SAFETY: `dst` holds at least m x n initialised values.
    unsafe {
        gemm_raw(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            accumulate,
            a,
            a_strides,
            b,
            b_strides,
        )
    }
}

/// `dst (m x n) = a (m x k) · b (k x n)`, all three row-major and contiguous, into a
/// destination that need not be initialised: each of its first `m x n` values is written and
/// none read.
fn gemm_overwrite(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [MaybeUninit<f32>],
    a: &[f32],
    b: &[f32],
) {
    assert!(dst.len() >= m * n);
    if k == 0 {
        // The gemm crate may skip an empty product; the sum of nothing is zero.
        dst[..m * n].fill(MaybeUninit::new(0.0));
        return;
    }
    // SAFETY: `dst` holds at least m x n values, and without `accumulate` the GEMM writes each
    // of them without reading it.
    unsafe {
        gemm_raw(
            m,
            n,
            k,
            dst.as_mut_ptr().cast(),
            false,
            a,
            (k, 1),
            b,
            (n, 1),
        )
    }
}

/// The GEMM behind [`gemm_strided`] and [`gemm_overwrite`].
///
/// # Safety
/// `dst` must be valid for writes of `m x n` values, row-major, and for reads of them too
/// when `accumulate` is set (then they must be initialised).
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_raw(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    accumulate: bool,
    a: &[f32],
    (a_rs, a_cs): (usize, usize),
    b: &[f32],
    (b_rs, b_cs): (usize, usize),
) {
    if m == 0 || n == 0 {
        return;
    }
    // Bounds of the strided reads, checked once so the unsafe call cannot read outside the
    // slices.
    if k > 0 {
        assert!(a.len() > (m - 1) * a_rs + (k - 1) * a_cs);
        assert!(b.len() > (k - 1) * b_rs + (n - 1) * b_cs);
    }
    // SAFETY: the asserts above bound every index of `a` and `b` the GEMM reads, at (i * rs +
    // j * cs); the caller guarantees `dst` (row stride n, column stride 1). `dst` is exclusive
    // to this call, so nothing aliases it.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

/// Input channels from which a 3x3 convolution goes through Winograd F(2x2, 3x3) rather than
/// im2col + GEMM. Measured on 2 Zen 4 cores, 192 images: 32 -> 64 channels at 16x16 took 9.2
/// ms against 12.9, 64 -> 128 at 8x8 6.7 against 12.0; but 1 -> 32 at 32x32 8.6 against 2.6,
/// where the GEMMs are too thin for the transforms to pay.
const WINOGRAD_MIN_CIN: usize = 16;

/// Forward: `y[n] = W · im2col(x[n])`, one GEMM per group of images. `x` is
/// `n x cin x h x w`, `weight` is `cout x cin x k x k`; returns `n x cout x h x w`.
pub fn forward(x: &[f32], weight: &[f32], s: &ConvShape) -> Vec<f32> {
    if s.k == 3 && s.cin >= WINOGRAD_MIN_CIN {
        return winograd::forward_best(x, weight, s);
    }
    let (p, kk) = (s.pixels(), s.patch());
    debug_assert_eq!(x.len(), s.n * s.cin * p);
    debug_assert_eq!(weight.len(), s.cout * kk);
    if p == 0 || s.cout == 0 || s.n == 0 {
        return vec![0.0f32; s.n * s.cout * p];
    }
    let g = s.group();
    let group = |(col, yg): &mut (Vec<f32>, Vec<f32>), gi: usize, out: &mut [MaybeUninit<f32>]| {
        let xs = &x[gi * g * s.cin * p..][..out.len() / s.cout * s.cin];
        let m = xs.len() / (s.cin * p);
        assert_eq!(out.len(), m * s.cout * p);
        let ld = m * p;
        col.resize(kk * ld, 0.0);
        for (j, xn) in xs.chunks_exact(s.cin * p).enumerate() {
            im2col(xn, s, col, ld, j * p);
        }
        if m == 1 {
            gemm_overwrite(s.cout, p, kk, out, weight, col);
            return;
        }
        // Y_g (cout x ld) = W · col_g, then each image's columns to its NCHW block.
        yg.resize(s.cout * ld, 0.0);
        gemm_strided(s.cout, ld, kk, yg, false, weight, (kk, 1), col, (ld, 1));
        for (j, yn) in out.chunks_exact_mut(s.cout * p).enumerate() {
            for (o, dst) in yn.chunks_exact_mut(p).enumerate() {
                dst.write_copy_of_slice(&yg[o * ld + j * p..o * ld + (j + 1) * p]);
            }
        }
    };
    // SAFETY: `group` writes all of its chunk (asserted to be its m images of cout x p): by
    // one GEMM that overwrites it, or by copying each image's p columns of each of its cout
    // rows.
    unsafe {
        par_chunks_uninit(
            s.n * s.cout * p,
            g * s.cout * p,
            || (Vec::new(), Vec::new()),
            group,
        )
    }
}

/// Gradient of the input: `dx[n] = col2im(Wᵀ · dy[n])`. `dy` is `n x cout x h x w`; returns
/// `n x cin x h x w`.
pub fn input_grad(dy: &[f32], weight: &[f32], s: &ConvShape) -> Vec<f32> {
    if s.k == 3 && s.cout >= WINOGRAD_MIN_CIN {
        // The adjoint of a same convolution is the same convolution of dy by the weights
        // flipped in space with their channel axes swapped: W'[c][o][ky][kx] =
        // W[o][c][2 - ky][2 - kx]. Measured 9.4 ms against 15.1 (64 -> 32 at 16x16) and 6.8
        // against 15.7 (128 -> 64 at 8x8) for 192 images.
        let mut flipped = vec![0.0f32; weight.len()];
        for o in 0..s.cout {
            for c in 0..s.cin {
                let src = &weight[(o * s.cin + c) * 9..(o * s.cin + c + 1) * 9];
                let dst = &mut flipped[(c * s.cout + o) * 9..(c * s.cout + o + 1) * 9];
                for (d, v) in dst.iter_mut().zip(src.iter().rev()) {
                    *d = *v;
                }
            }
        }
        let t = ConvShape {
            cin: s.cout,
            cout: s.cin,
            ..*s
        };
        return winograd::forward_best(dy, &flipped, &t);
    }
    let (p, kk) = (s.pixels(), s.patch());
    let mut dx = vec![0.0f32; s.n * s.cin * p];
    if p == 0 || s.cin == 0 {
        return dx;
    }
    dx.par_chunks_mut(s.cin * p)
        .zip(dy.par_chunks(s.cout * p))
        .for_each_init(
            || vec![0.0f32; kk * p],
            |col, (dxn, dyn_)| {
                // Wᵀ is kk x cout: element (r, o) = W[o * kk + r].
                gemm_strided(kk, p, s.cout, col, false, weight, (1, kk), dyn_, (p, 1));
                col2im_add(col, s, dxn);
            },
        );
    dx
}

/// Gradient of the weight: `dW = Σₙ dy[n] · im2col(x[n])ᵀ`, computed over groups of images
/// (one GEMM per group, partial sums per rayon task, then added). Returns `cout x cin x k x k`.
pub fn weight_grad(x: &[f32], dy: &[f32], s: &ConvShape) -> Vec<f32> {
    let (p, kk) = (s.pixels(), s.patch());
    let size = s.cout * kk;
    if p == 0 || s.n == 0 || size == 0 {
        return vec![0.0; size];
    }
    let g = s.wgroup();
    let groups = s.n.div_ceil(g);
    // At most one partial sum per thread (plus a little slack for balance).
    let min_len = groups
        .div_ceil(rayon::current_num_threads().max(1) * 2)
        .max(1);
    let dwt = (0..groups)
        .into_par_iter()
        .with_min_len(min_len)
        .fold(
            || (vec![0.0f32; size], Vec::new(), Vec::new(), false),
            |(mut acc, mut col, mut dyg, mut started), gi| {
                let first = gi * g;
                let m = g.min(s.n - first);
                let ld = m * p;
                col.resize(kk * ld, 0.0);
                for j in 0..m {
                    let img = first + j;
                    im2col(
                        &x[img * s.cin * p..(img + 1) * s.cin * p],
                        s,
                        &mut col,
                        ld,
                        j * p,
                    );
                }
                // One image's output gradient is already a cout x p matrix; a group's is
                // gathered into one.
                let lhs: &[f32] = if m == 1 {
                    &dy[first * s.cout * p..(first + 1) * s.cout * p]
                } else {
                    dyg.resize(s.cout * ld, 0.0);
                    for j in 0..m {
                        let img = first + j;
                        for o in 0..s.cout {
                            let src = &dy[(img * s.cout + o) * p..(img * s.cout + o + 1) * p];
                            dyg[o * ld + j * p..o * ld + (j + 1) * p].copy_from_slice(src);
                        }
                    }
                    &dyg
                };
                // dWᵀ (kk x cout) += col_g (kk x ld) · dY_gᵀ (ld x cout). Both operands run
                // along the pixels, so the gemm crate packs one of them; with the destination
                // laid out this way it is the output gradient (cout rows), not the patch
                // matrix (cin x 9 rows, 4.5 times as many in this network).
                gemm_strided(
                    kk,
                    s.cout,
                    ld,
                    &mut acc,
                    started,
                    &col,
                    (ld, 1),
                    lhs,
                    (1, ld),
                );
                started = true;
                (acc, col, dyg, started)
            },
        )
        .map(|(acc, _, _, _)| acc)
        .reduce(
            || vec![0.0f32; size],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(&b) {
                    *x += y;
                }
                a
            },
        );
    // dWᵀ (kk x cout) to dW (cout x kk).
    let mut dw = vec![0.0f32; size];
    for (r, row) in dwt.chunks_exact(s.cout).enumerate() {
        for (o, &v) in row.iter().enumerate() {
            dw[o * kk + r] = v;
        }
    }
    dw
}

mod winograd;

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_forward(x: &[f32], wt: &[f32], s: &ConvShape) -> Vec<f32> {
        let (h, w, k) = (s.h as isize, s.w as isize, s.k as isize);
        let p = k / 2;
        let mut y = vec![0.0f32; s.n * s.cout * s.h * s.w];
        for n in 0..s.n {
            for o in 0..s.cout {
                for yy in 0..h {
                    for xx in 0..w {
                        let mut acc = 0.0f64;
                        for c in 0..s.cin {
                            for ky in 0..k {
                                for kx in 0..k {
                                    let (sy, sx) = (yy + ky - p, xx + kx - p);
                                    if sy < 0 || sx < 0 || sy >= h || sx >= w {
                                        continue;
                                    }
                                    let xi = ((n * s.cin + c) as isize * h + sy) * w + sx;
                                    let wi = ((o * s.cin + c) as isize * k + ky) * k + kx;
                                    acc += x[xi as usize] as f64 * wt[wi as usize] as f64;
                                }
                            }
                        }
                        y[((n * s.cout + o) as isize * h * w + yy * w + xx) as usize] = acc as f32;
                    }
                }
            }
        }
        y
    }

    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
    }

    fn close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "at {i}: {x} vs {y}");
        }
    }

    /// The last has two im2col groups of images, the second one short.
    const SHAPES: [ConvShape; 5] = [
        ConvShape {
            n: 3,
            cin: 2,
            cout: 5,
            h: 7,
            w: 6,
            k: 3,
        },
        ConvShape {
            n: 1,
            cin: 1,
            cout: 4,
            h: 1,
            w: 1,
            k: 3,
        },
        ConvShape {
            n: 5,
            cin: 3,
            cout: 2,
            h: 9,
            w: 11,
            k: 5,
        },
        ConvShape {
            n: 40,
            cin: 4,
            cout: 3,
            h: 4,
            w: 4,
            k: 3,
        },
        ConvShape {
            n: 7,
            cin: 2,
            cout: 3,
            h: 16,
            w: 16,
            k: 3,
        },
    ];

    /// im2col writes every element of its block (the buffer starts as NaN) with the image's
    /// pixel at the shift, or zero outside: kernels 1 to 5 on maps down to 1 pixel, narrower
    /// than the kernel's reach, at a column offset inside a wider matrix.
    #[test]
    fn im2col_matches_the_definition() {
        for (h, w, k) in [
            (7, 6, 3),
            (1, 1, 3),
            (2, 3, 5),
            (9, 11, 5),
            (4, 1, 3),
            (5, 5, 1),
        ] {
            let s = ConvShape {
                n: 1,
                cin: 2,
                cout: 1,
                h,
                w,
                k,
            };
            let x = values(s.cin * h * w, (h * 100 + w * 10 + k) as u64);
            let (ld, off) = (3 * h * w + 2, h * w + 1);
            let mut col = vec![f32::NAN; s.patch() * ld];
            im2col(&x, &s, &mut col, ld, off);
            let r = (k / 2) as isize;
            for c in 0..s.cin {
                for ky in 0..k {
                    for kx in 0..k {
                        let row = (c * k + ky) * k + kx;
                        for y in 0..h {
                            for xx in 0..w {
                                let (sy, sx) =
                                    (y as isize + ky as isize - r, xx as isize + kx as isize - r);
                                let want =
                                    if sy < 0 || sx < 0 || sy >= h as isize || sx >= w as isize {
                                        0.0
                                    } else {
                                        x[(c * h + sy as usize) * w + sx as usize]
                                    };
                                let got = col[row * ld + off + y * w + xx];
                                assert_eq!(
                                    got.to_bits(),
                                    want.to_bits(),
                                    "{h}x{w} k{k} row {row} at ({y}, {xx})"
                                );
                            }
                        }
                        // Outside the block nothing was written.
                        assert!(col[row * ld..row * ld + off].iter().all(|v| v.is_nan()));
                        assert!(
                            col[row * ld + off + h * w..(row + 1) * ld]
                                .iter()
                                .all(|v| v.is_nan())
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn forward_matches_the_definition() {
        for (i, s) in SHAPES.iter().enumerate() {
            let x = values(s.n * s.cin * s.h * s.w, 1 + i as u64);
            let wt = values(s.cout * s.cin * s.k * s.k, 100 + i as u64);
            close(&forward(&x, &wt, s), &naive_forward(&x, &wt, s), 1e-4);
        }
    }

    /// Shapes for the Winograd paths: odd and tiny maps, partial tiles, 1 to 64 channels.
    fn winograd_shapes() -> Vec<ConvShape> {
        let mut v = Vec::new();
        for &(n, cin, cout, h, w) in &[
            (2, 1, 3, 5, 7),
            (1, 3, 2, 1, 1),
            (3, 16, 8, 3, 3),
            (2, 5, 7, 7, 5),
            (4, 32, 64, 8, 8),
            (3, 64, 16, 6, 10),
            (2, 17, 9, 16, 16),
            (9, 8, 4, 2, 3),
            (1, 2, 1, 9, 4),
            (2, 1, 20, 5, 7),
            (2, 24, 16, 1, 1),
            (2, 64, 24, 3, 3),
            (2, 33, 5, 11, 9),
            (1, 48, 40, 17, 8),
            (3, 20, 33, 8, 13),
            (2, 64, 64, 12, 12),
            // F(2x2): two images per group, the last group short.
            (5, 3, 4, 6, 8),
        ] {
            v.push(ConvShape {
                n,
                cin,
                cout,
                h,
                w,
                k: 3,
            });
        }
        v
    }

    #[test]
    fn winograd_forward_matches_the_definition() {
        for (i, s) in winograd_shapes().iter().enumerate() {
            let x = values(s.n * s.cin * s.h * s.w, 31 + i as u64);
            let wt = values(s.cout * s.cin * 9, 310 + i as u64);
            let want = naive_forward(&x, &wt, s);
            // Rounding grows with the number of products a pixel sums (9 cin).
            let tol = 1e-6 * (s.cin * 9) as f32;
            close(&winograd::forward::<winograd::F2>(&x, &wt, s), &want, tol);
            close(&winograd::forward::<winograd::F4>(&x, &wt, s), &want, tol);
            close(&forward(&x, &wt, s), &want, tol);
        }
    }

    /// F(4x4)'s points ±2 cost some rounding: on random data with 64 and 128 input channels
    /// its largest error stays within 1e-4 of the largest output, like F(2x2)'s.
    #[test]
    fn winograd_rounding_stays_small() {
        for (i, &(cin, side)) in [(64usize, 16usize), (64, 8), (128, 8), (64, 13)]
            .iter()
            .enumerate()
        {
            let s = ConvShape {
                n: 2,
                cin,
                cout: 16,
                h: side,
                w: side,
                k: 3,
            };
            let x = values(s.n * cin * side * side, 51 + i as u64);
            let wt = values(s.cout * cin * 9, 510 + i as u64);
            let want = naive_forward(&x, &wt, &s);
            let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            for got in [
                winograd::forward::<winograd::F2>(&x, &wt, &s),
                winograd::forward::<winograd::F4>(&x, &wt, &s),
            ] {
                let err = got
                    .iter()
                    .zip(&want)
                    .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
                assert!(err <= 1e-4 * scale, "{s:?}: error {err} of {scale}");
            }
        }
    }

    /// The input gradient, through Winograd where the channels allow, against the naive
    /// forward's adjoint taken explicitly: dx[c][y][x] = Σ W[o][c][ky][kx] dy[o][y-ky+1][x-kx+1].
    #[test]
    fn input_gradient_matches_the_adjoint_definition() {
        for (i, s) in winograd_shapes().iter().enumerate() {
            let dy = values(s.n * s.cout * s.h * s.w, 41 + i as u64);
            let wt = values(s.cout * s.cin * 9, 410 + i as u64);
            let mut flipped = vec![0.0f32; wt.len()];
            for o in 0..s.cout {
                for c in 0..s.cin {
                    for k in 0..9 {
                        flipped[(c * s.cout + o) * 9 + 8 - k] = wt[(o * s.cin + c) * 9 + k];
                    }
                }
            }
            let t = ConvShape {
                cin: s.cout,
                cout: s.cin,
                ..*s
            };
            let want = naive_forward(&dy, &flipped, &t);
            close(&input_grad(&dy, &wt, s), &want, 1e-6 * (s.cout * 9) as f32);
        }
    }

    /// Both gradients are the adjoints of the forward map: for any dy,
    /// <dy, conv(x, W)> = <input_grad(dy, W), x> = <weight_grad(x, dy), W>.
    #[test]
    fn gradients_are_the_adjoints_of_the_forward_map() {
        for (i, s) in SHAPES.iter().chain(&winograd_shapes()).enumerate() {
            let x = values(s.n * s.cin * s.h * s.w, 7 + i as u64);
            let wt = values(s.cout * s.cin * s.k * s.k, 70 + i as u64);
            let dy = values(s.n * s.cout * s.h * s.w, 700 + i as u64);
            let lhs = dot(&dy, &naive_forward(&x, &wt, s));
            let via_x = dot(&input_grad(&dy, &wt, s), &x);
            let via_w = dot(&weight_grad(&x, &dy, s), &wt);
            let tol = 1e-4 * (1.0 + lhs.abs());
            assert!((lhs - via_x).abs() < tol, "{s:?}: {lhs} vs {via_x}");
            assert!((lhs - via_w).abs() < tol, "{s:?}: {lhs} vs {via_w}");
        }
    }

    #[test]
    fn weight_gradient_of_one_pixel_is_the_patch() {
        // One image, one output pixel with gradient 1: dW is the 3x3 patch around it.
        let s = ConvShape {
            n: 1,
            cin: 1,
            cout: 1,
            h: 3,
            w: 3,
            k: 3,
        };
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let mut dy = vec![0.0; 9];
        dy[4] = 1.0;
        assert_eq!(weight_grad(&x, &dy, &s), x);
        // At the corner the patch is cut by the zero padding.
        let mut dy = vec![0.0; 9];
        dy[0] = 1.0;
        assert_eq!(
            weight_grad(&x, &dy, &s),
            vec![0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 4.0, 5.0]
        );
    }
}
