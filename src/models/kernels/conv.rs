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

use gemm::Parallelism;
use rayon::prelude::*;

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
fn im2col(x: &[f32], s: &ConvShape, col: &mut [f32], ld: usize, off: usize) {
    let (h, w, k) = (s.h, s.w, s.k);
    let p = (k / 2) as isize;
    for c in 0..s.cin {
        let plane = &x[c * h * w..(c + 1) * h * w];
        for ky in 0..k {
            for kx in 0..k {
                let row = (c * k + ky) * k + kx;
                let dst = &mut col[row * ld + off..row * ld + off + h * w];
                let (dy, dx) = (ky as isize - p, kx as isize - p);
                // Columns of the output row that read inside the image.
                let x0 = (-dx).max(0) as usize;
                let x1 = (w as isize - dx.max(0)).max(x0 as isize) as usize;
                for y in 0..h {
                    let out = &mut dst[y * w..(y + 1) * w];
                    let sy = y as isize + dy;
                    if sy < 0 || sy >= h as isize || x0 >= x1 {
                        out.fill(0.0);
                        continue;
                    }
                    let src = &plane[sy as usize * w..(sy as usize + 1) * w];
                    out[..x0].fill(0.0);
                    let sx0 = (x0 as isize + dx) as usize;
                    out[x0..x1].copy_from_slice(&src[sx0..sx0 + (x1 - x0)]);
                    out[x1..].fill(0.0);
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
    (a_rs, a_cs): (usize, usize),
    b: &[f32],
    (b_rs, b_cs): (usize, usize),
) {
    if m == 0 || n == 0 {
        return;
    }
    // Bounds of the strided accesses, checked once so the unsafe call cannot read or write
    // outside the slices.
    assert!(dst.len() >= m * n);
    if k > 0 {
        assert!(a.len() > (m - 1) * a_rs + (k - 1) * a_cs);
        assert!(b.len() > (k - 1) * b_rs + (n - 1) * b_cs);
    }
    // SAFETY: the asserts above bound every index the GEMM touches: dst is m x n row-major
    // (row stride n, column stride 1), a and b are read at (i * rs + j * cs) within their
    // lengths. The three slices do not alias (dst is a unique borrow).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
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
    let mut y = vec![0.0f32; s.n * s.cout * p];
    if p == 0 || s.cout == 0 || s.n == 0 {
        return y;
    }
    let g = s.group();
    y.par_chunks_mut(g * s.cout * p)
        .zip(x.par_chunks(g * s.cin * p))
        .for_each_init(
            || (Vec::new(), Vec::new()),
            |(col, yg), (out, xs)| {
                let m = xs.len() / (s.cin * p);
                let ld = m * p;
                col.resize(kk * ld, 0.0);
                for (j, xn) in xs.chunks_exact(s.cin * p).enumerate() {
                    im2col(xn, s, col, ld, j * p);
                }
                if m == 1 {
                    gemm_strided(s.cout, p, kk, out, false, weight, (kk, 1), col, (p, 1));
                    return;
                }
                // Y_g (cout x ld) = W · col_g, then each image's columns to its NCHW block.
                yg.resize(s.cout * ld, 0.0);
                gemm_strided(s.cout, ld, kk, yg, false, weight, (kk, 1), col, (ld, 1));
                for (j, yn) in out.chunks_exact_mut(s.cout * p).enumerate() {
                    for (o, dst) in yn.chunks_exact_mut(p).enumerate() {
                        dst.copy_from_slice(&yg[o * ld + j * p..o * ld + (j + 1) * p]);
                    }
                }
            },
        );
    y
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
    (0..groups)
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
                // dW (cout x kk) += dY_g (cout x ld) · col_gᵀ (ld x kk).
                gemm_strided(
                    s.cout,
                    kk,
                    ld,
                    &mut acc,
                    started,
                    lhs,
                    (ld, 1),
                    &col,
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
        )
}

/// Winograd's minimal filtering F(m x m, 3x3) for the "same" 3x3 convolution (Lavin & Gray,
/// 2016), m = 2 or 4: each (m + 2)² input tile (stride m, zero padded) becomes `V = Bᵀ d B`,
/// each filter `U = G g Gᵀ`, and the (m + 2)² elementwise products `U ⊙ V` summed over input
/// channels are as many GEMMs `(tiles x cin) · (cin x cout)`; each m x m output tile is
/// `Aᵀ M A`, cropped at the edges. F(2x2) (points 0, ±1, ∞, transforms that only add) does 4
/// multiplications per output pixel and input channel, F(4x4) (points 0, ±1, ±2, ∞) 2.25,
/// against im2col's nine.
///
/// The transforms run channels-last (one image transposed to `h x w x c` with a zero border,
/// 8 x 8 blocks at a time), on 16 channels at once, so they vectorise whatever the map size;
/// where the CPU has AVX-512 they are compiled for it.
mod winograd {
    use super::{ConvShape, gemm_strided};
    use rayon::prelude::*;
    use std::ops::{Add, Mul, Sub};

    /// Channels transformed at once: a transform works on vectors of this many channels, as
    /// fixed-size arrays that the compiler keeps in SIMD registers.
    const L: usize = 16;

    /// `L` consecutive channels of one tile element.
    #[derive(Clone, Copy)]
    struct V([f32; L]);

    impl V {
        const ZERO: V = V([0.0; L]);

        /// The first `s.len()` (at most `L`) lanes from `s`, zeros beyond.
        #[inline(always)]
        fn load(s: &[f32]) -> V {
            match <&[f32; L]>::try_from(s) {
                Ok(a) => V(*a),
                Err(_) => {
                    let mut v = V::ZERO;
                    v.0[..s.len()].copy_from_slice(s);
                    v
                }
            }
        }

        /// Writes the first `s.len()` (at most `L`) lanes into `s`.
        #[inline(always)]
        fn store(self, s: &mut [f32]) {
            match <&mut [f32; L]>::try_from(&mut *s) {
                Ok(a) => *a = self.0,
                Err(_) => {
                    let n = s.len();
                    s.copy_from_slice(&self.0[..n]);
                }
            }
        }
    }

    impl Add for V {
        type Output = V;
        #[inline(always)]
        fn add(self, o: V) -> V {
            V(std::array::from_fn(|i| self.0[i] + o.0[i]))
        }
    }

    impl Sub for V {
        type Output = V;
        #[inline(always)]
        fn sub(self, o: V) -> V {
            V(std::array::from_fn(|i| self.0[i] - o.0[i]))
        }
    }

    impl Mul<V> for f32 {
        type Output = V;
        #[inline(always)]
        fn mul(self, o: V) -> V {
            V(std::array::from_fn(|i| self * o.0[i]))
        }
    }

    /// One Winograd variant F(m x m, 3x3): its three transforms, each over all channels of a
    /// tile at once (channels last, so the loops over channels vectorise).
    pub(super) trait Tile {
        /// Output tile side `m`.
        const M: usize;
        /// Input tile side `m + 2`; a tile has `A²` transformed values.
        const A: usize = Self::M + 2;
        /// Output tiles per rayon task, so that a task's tile products stay within the L2
        /// cache (measured on 2 cores: F(2x2) alike from 128 to 1024, F(4x4) best at 32 to
        /// 64, slower from 128).
        const TILES: usize;

        /// Writes the `A²` values `G g Gᵀ` of one 3x3 filter `g` (row-major) into `u`.
        fn filter(g: &[f32], u: &mut [f32]);

        /// Transforms the `A x A` input tile whose element `(r, q)` holds its `cin` channels at
        /// `pad[base + r * row + q * cin..][..cin]` into `vt` (`A² x cin`): `Bᵀ d B`.
        fn input(pad: &[f32], base: usize, row: usize, cin: usize, vt: &mut [f32]);

        /// Inverse-transforms one tile's products, value `t` of which holds its `cout`
        /// channels at `m[base + t * stride..][..cout]`, into the `M x M` output tile at
        /// `out[obase + i * row + j * cout..][..cout]`: `Aᵀ M A`.
        #[allow(clippy::too_many_arguments)]
        fn output(
            m: &[f32],
            base: usize,
            stride: usize,
            cout: usize,
            out: &mut [f32],
            obase: usize,
            row: usize,
        );
    }

    /// F(2x2, 3x3), points 0, 1, -1, ∞: the transforms only add.
    pub(super) struct F2;

    impl Tile for F2 {
        const M: usize = 2;
        const TILES: usize = 256;

        /// `G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]`.
        fn filter(g: &[f32], u: &mut [f32]) {
            let col = |a: f32, b: f32, c: f32| [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c];
            let gg: [[f32; 4]; 3] = std::array::from_fn(|b| col(g[b], g[3 + b], g[6 + b]));
            for i in 0..4 {
                let row = col(gg[0][i], gg[1][i], gg[2][i]);
                u[4 * i..4 * i + 4].copy_from_slice(&row);
            }
        }

        #[inline(always)]
        fn input(pad: &[f32], base: usize, row: usize, cin: usize, vt: &mut [f32]) {
            for c0 in (0..cin).step_by(L) {
                let n = L.min(cin - c0);
                let at = |r: usize, q: usize| V::load(&pad[base + r * row + q * cin + c0..][..n]);
                // Columns (Bᵀ d, Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]), then rows.
                let mut t = [[V::ZERO; 4]; 4];
                for (q, tq) in t.iter_mut().enumerate() {
                    *tq = bt2(std::array::from_fn(|r| at(r, q)));
                }
                for i in 0..4 {
                    let r = bt2(std::array::from_fn(|q| t[q][i]));
                    for (j, v) in r.into_iter().enumerate() {
                        v.store(&mut vt[(4 * i + j) * cin + c0..][..n]);
                    }
                }
            }
        }

        #[inline(always)]
        fn output(
            m: &[f32],
            base: usize,
            stride: usize,
            cout: usize,
            out: &mut [f32],
            obase: usize,
            row: usize,
        ) {
            for c0 in (0..cout).step_by(L) {
                let n = L.min(cout - c0);
                let at = |t: usize| V::load(&m[base + t * stride + c0..][..n]);
                // Columns (Aᵀ M, Aᵀ = [1 1 1 0; 0 1 -1 -1]), then rows.
                let mut r = [[V::ZERO; 2]; 4];
                for (j, rj) in r.iter_mut().enumerate() {
                    *rj = at2(std::array::from_fn(|i| at(4 * i + j)));
                }
                for i in 0..2 {
                    let v = at2(std::array::from_fn(|j| r[j][i]));
                    for (j, v) in v.into_iter().enumerate() {
                        v.store(&mut out[obase + i * row + j * cout + c0..][..n]);
                    }
                }
            }
        }
    }

    /// `Bᵀ x` for F(2x2).
    #[inline(always)]
    fn bt2(d: [V; 4]) -> [V; 4] {
        [d[0] - d[2], d[1] + d[2], d[2] - d[1], d[1] - d[3]]
    }

    /// `Aᵀ x` for F(2x2).
    #[inline(always)]
    fn at2(m: [V; 4]) -> [V; 2] {
        [m[0] + m[1] + m[2], m[1] - m[2] - m[3]]
    }

    /// F(4x4, 3x3), points 0, ±1, ±2, ∞ (Lavin & Gray's matrices): 36 products per 16 output
    /// pixels against F(2x2)'s 16 per 4, at the cost of larger transforms and rounding.
    pub(super) struct F4;

    /// `Bᵀ x` for F(4x4): `Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0;
    /// 0 2 -1 -2 1 0; 0 4 0 -5 0 1]`.
    #[inline(always)]
    fn bt4(d: [V; 6]) -> [V; 6] {
        let a = d[4] - 4.0 * d[2];
        let b = d[3] - 4.0 * d[1];
        let c = d[4] - d[2];
        let e = 2.0 * (d[3] - d[1]);
        [
            4.0 * d[0] - 5.0 * d[2] + d[4],
            a + b,
            a - b,
            c + e,
            c - e,
            4.0 * d[1] - 5.0 * d[3] + d[5],
        ]
    }

    /// `Aᵀ x` for F(4x4): `Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]`.
    #[inline(always)]
    fn at4(m: [V; 6]) -> [V; 4] {
        let (p1, m1) = (m[1] + m[2], m[1] - m[2]);
        let (p3, m3) = (m[3] + m[4], m[3] - m[4]);
        [
            m[0] + p1 + p3,
            m1 + 2.0 * m3,
            p1 + 4.0 * p3,
            m1 + 8.0 * m3 + m[5],
        ]
    }

    impl Tile for F4 {
        const M: usize = 4;
        const TILES: usize = 32;

        /// `G = [¼ 0 0; -⅙ -⅙ -⅙; -⅙ ⅙ -⅙; 1/24 1/12 ⅙; 1/24 -1/12 ⅙; 0 0 1]`.
        fn filter(g: &[f32], u: &mut [f32]) {
            let col = |a: f64, b: f64, c: f64| {
                [
                    a / 4.0,
                    -(a + b + c) / 6.0,
                    -(a - b + c) / 6.0,
                    a / 24.0 + b / 12.0 + c / 6.0,
                    a / 24.0 - b / 12.0 + c / 6.0,
                    c,
                ]
            };
            let g: [f64; 9] = std::array::from_fn(|k| g[k] as f64);
            let gg: [[f64; 6]; 3] = std::array::from_fn(|b| col(g[b], g[3 + b], g[6 + b]));
            for i in 0..6 {
                let row = col(gg[0][i], gg[1][i], gg[2][i]);
                for (d, v) in u[6 * i..6 * i + 6].iter_mut().zip(row) {
                    *d = v as f32;
                }
            }
        }

        #[inline(always)]
        fn input(pad: &[f32], base: usize, row: usize, cin: usize, vt: &mut [f32]) {
            for c0 in (0..cin).step_by(L) {
                let n = L.min(cin - c0);
                let at = |r: usize, q: usize| V::load(&pad[base + r * row + q * cin + c0..][..n]);
                // Columns (Bᵀ d; t[q] is column q), then rows ((Bᵀ d) B).
                let t: [[V; 6]; 6] =
                    std::array::from_fn(|q| bt4(std::array::from_fn(|r| at(r, q))));
                for i in 0..6 {
                    let r = bt4(std::array::from_fn(|q| t[q][i]));
                    for (j, v) in r.into_iter().enumerate() {
                        v.store(&mut vt[(6 * i + j) * cin + c0..][..n]);
                    }
                }
            }
        }

        #[inline(always)]
        fn output(
            m: &[f32],
            base: usize,
            stride: usize,
            cout: usize,
            out: &mut [f32],
            obase: usize,
            row: usize,
        ) {
            for c0 in (0..cout).step_by(L) {
                let n = L.min(cout - c0);
                let at = |t: usize| V::load(&m[base + t * stride + c0..][..n]);
                // Columns (Aᵀ M; r[j] is column j), then rows.
                let r: [[V; 4]; 6] =
                    std::array::from_fn(|j| at4(std::array::from_fn(|i| at(6 * i + j))));
                for i in 0..4 {
                    let v = at4(std::array::from_fn(|j| r[j][i]));
                    for (j, v) in v.into_iter().enumerate() {
                        v.store(&mut out[obase + i * row + j * cout + c0..][..n]);
                    }
                }
            }
        }
    }

    /// `U[t][c][o] = (G g[o][c] Gᵀ)[t]`.
    fn filters<T: Tile>(weight: &[f32], cin: usize, cout: usize) -> Vec<f32> {
        let a2 = T::A * T::A;
        let mut u = vec![0.0f32; a2 * cin * cout];
        let mut one = [0.0f32; 36];
        for o in 0..cout {
            for c in 0..cin {
                T::filter(&weight[(o * cin + c) * 9..(o * cin + c + 1) * 9], &mut one);
                for (t, v) in one[..a2].iter().enumerate() {
                    u[(t * cin + c) * cout + o] = *v;
                }
            }
        }
        u
    }

    /// Per-task buffers, kept across the task's groups.
    #[derive(Default)]
    struct Scratch {
        /// One input image, channels last, with a zero border: `(m th + 2) x (m tw + 2) x cin`.
        pad: Vec<f32>,
        /// Transformed input tiles `[tile][t][cin]`.
        v: Vec<f32>,
        /// Tile products `[t][tile][cout]`.
        m: Vec<f32>,
        /// One output image, channels last: `m th x m tw x cout`.
        out: Vec<f32>,
    }

    /// Transforms the tiles of one image `x` (`cin x h x w`) into `v` (`th tw` tiles of
    /// `A² x cin`), through `pad`.
    #[inline(always)]
    fn inputs<T: Tile, const WIDE: bool>(
        x: &[f32],
        s: &ConvShape,
        pad: &mut Vec<f32>,
        v: &mut [f32],
    ) {
        let (h, w, cin, m) = (s.h, s.w, s.cin, T::M);
        let (th, tw) = (h.div_ceil(m), w.div_ceil(m));
        let wp = m * tw + 2;
        // The border (and the extra rows and columns of partial tiles) stays zero: only the
        // interior is ever written.
        pad.resize((m * th + 2) * wp * cin, 0.0);
        if cin > 0 {
            for yy in 0..h {
                // Row yy of every channel (cin x w, rows h w apart) to pixels x channels.
                transpose::<WIDE>(
                    &x[yy * w..],
                    h * w,
                    cin,
                    w,
                    &mut pad[((yy + 1) * wp + 1) * cin..],
                    cin,
                );
            }
        }
        for (tile, vt) in v.chunks_exact_mut(T::A * T::A * cin).enumerate() {
            let (ty, tx) = (tile / tw, tile % tw);
            T::input(pad, (m * ty * wp + m * tx) * cin, wp * cin, cin, vt);
        }
    }

    /// Inverse-transforms tiles `first..first + th tw` of `mm` (`[t][tile][cout]`, `nt` tiles
    /// per `t`) into one image `y` (`cout x h x w`), through `out`.
    #[inline(always)]
    fn outputs<T: Tile, const WIDE: bool>(
        mm: &[f32],
        nt: usize,
        first: usize,
        s: &ConvShape,
        out: &mut Vec<f32>,
        y: &mut [f32],
    ) {
        let (h, w, cout, m) = (s.h, s.w, s.cout, T::M);
        let (th, tw) = (h.div_ceil(m), w.div_ceil(m));
        let wo = m * tw;
        out.resize(m * th * wo * cout, 0.0);
        for tile in 0..th * tw {
            let (ty, tx) = (tile / tw, tile % tw);
            T::output(
                mm,
                (first + tile) * cout,
                nt * cout,
                cout,
                out,
                (m * ty * wo + m * tx) * cout,
                wo * cout,
            );
        }
        for yy in 0..h {
            // Row yy of the output (w pixels x cout) to each channel's plane.
            transpose::<WIDE>(
                &out[yy * wo * cout..],
                cout,
                w,
                cout,
                &mut y[yy * w..],
                h * w,
            );
        }
    }

    /// `dst[c * dst_rs + r] = src[r * src_rs + c]` for `r < rows`, `c < cols`, by 8 x 8 blocks,
    /// each transposed in AVX registers where `WIDE` (a strided element-wise copy was most of
    /// the transforms' time).
    #[inline(always)]
    fn transpose<const WIDE: bool>(
        src: &[f32],
        src_rs: usize,
        rows: usize,
        cols: usize,
        dst: &mut [f32],
        dst_rs: usize,
    ) {
        const B: usize = 8;
        for r0 in (0..rows).step_by(B) {
            let nr = B.min(rows - r0);
            for c0 in (0..cols).step_by(B) {
                let nc = B.min(cols - c0);
                #[cfg(target_arch = "x86_64")]
                if WIDE && nr == B && nc == B {
                    // SAFETY: WIDE is set only where the CPU has AVX-512F (hence AVX).
                    unsafe {
                        transpose8(
                            &src[r0 * src_rs + c0..],
                            src_rs,
                            &mut dst[c0 * dst_rs + r0..],
                            dst_rs,
                        )
                    };
                    continue;
                }
                for c in 0..nc {
                    let d = &mut dst[(c0 + c) * dst_rs + r0..][..nr];
                    for (r, v) in d.iter_mut().enumerate() {
                        *v = src[(r0 + r) * src_rs + c0 + c];
                    }
                }
            }
        }
    }

    /// One 8 x 8 block: `dst[c * dst_rs + r] = src[r * src_rs + c]`, `r, c < 8`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    fn transpose8(src: &[f32], src_rs: usize, dst: &mut [f32], dst_rs: usize) {
        use std::arch::x86_64::*;
        assert!(src.len() >= 7 * src_rs + 8 && dst.len() >= 7 * dst_rs + 8);
        // SAFETY: the assert bounds the eight 8-float rows read and written.
        unsafe {
            let r: [__m256; 8] =
                std::array::from_fn(|i| _mm256_loadu_ps(src.as_ptr().add(i * src_rs)));
            let t: [__m256; 8] = std::array::from_fn(|i| {
                let (a, b) = (r[2 * (i / 2)], r[2 * (i / 2) + 1]);
                if i % 2 == 0 {
                    _mm256_unpacklo_ps(a, b)
                } else {
                    _mm256_unpackhi_ps(a, b)
                }
            });
            // u[k]: rows k of the four-row groups (0..4 from t[0..4], 4..8 from t[4..8]).
            let u: [__m256; 8] = std::array::from_fn(|i| {
                let g = 4 * (i / 4);
                let (a, b) = (t[g + (i % 4) / 2], t[g + 2 + (i % 4) / 2]);
                if i % 2 == 0 {
                    _mm256_shuffle_ps::<0x44>(a, b)
                } else {
                    _mm256_shuffle_ps::<0xEE>(a, b)
                }
            });
            for c in 0..8 {
                let (lo, hi) = (u[c % 4], u[4 + c % 4]);
                let v = if c < 4 {
                    _mm256_permute2f128_ps::<0x20>(lo, hi)
                } else {
                    _mm256_permute2f128_ps::<0x31>(lo, hi)
                };
                _mm256_storeu_ps(dst.as_mut_ptr().add(c * dst_rs), v);
            }
        }
    }

    /// [`inputs`] compiled for AVX-512 (16 channels per register) where the CPU has it, for
    /// the baseline target otherwise.
    fn transform_inputs<T: Tile>(x: &[f32], s: &ConvShape, pad: &mut Vec<f32>, v: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            #[target_feature(enable = "avx512f")]
            fn wide<T: Tile>(x: &[f32], s: &ConvShape, pad: &mut Vec<f32>, v: &mut [f32]) {
                inputs::<T, true>(x, s, pad, v)
            }
            // SAFETY: the CPU has AVX-512F, checked just above.
            return unsafe { wide::<T>(x, s, pad, v) };
        }
        inputs::<T, false>(x, s, pad, v)
    }

    /// [`outputs`] compiled for AVX-512 where the CPU has it.
    fn transform_outputs<T: Tile>(
        mm: &[f32],
        nt: usize,
        first: usize,
        s: &ConvShape,
        out: &mut Vec<f32>,
        y: &mut [f32],
    ) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            #[target_feature(enable = "avx512f")]
            fn wide<T: Tile>(
                mm: &[f32],
                nt: usize,
                first: usize,
                s: &ConvShape,
                out: &mut Vec<f32>,
                y: &mut [f32],
            ) {
                outputs::<T, true>(mm, nt, first, s, out, y)
            }
            // SAFETY: the CPU has AVX-512F, checked just above.
            return unsafe { wide::<T>(mm, nt, first, s, out, y) };
        }
        outputs::<T, false>(mm, nt, first, s, out, y)
    }

    /// The faster variant for the shape: F(4x4) from 8x8 maps (measured on 2 Zen 4 cores, 192
    /// images: 32 -> 64 channels at 16x16 8.0 ms against F(2x2)'s 10.7, 64 -> 128 at 8x8 6.1
    /// against 7.5), F(2x2) on smaller ones, where F(4x4)'s tiles would be mostly padding.
    pub(super) fn forward_best(x: &[f32], weight: &[f32], s: &ConvShape) -> Vec<f32> {
        if s.h.min(s.w) >= 8 {
            forward::<F4>(x, weight, s)
        } else {
            forward::<F2>(x, weight, s)
        }
    }

    /// The "same" 3x3 convolution of `x` (`n x cin x h x w`) by `weight` (`cout x cin x 3 x
    /// 3`), into `n x cout x h x w`, through the variant `T`.
    pub(super) fn forward<T: Tile>(x: &[f32], weight: &[f32], s: &ConvShape) -> Vec<f32> {
        assert_eq!(s.k, 3, "Winograd F(m x m, 3x3) needs a 3x3 kernel");
        let p = s.h * s.w;
        let (cin, cout) = (s.cin, s.cout);
        assert_eq!(x.len(), s.n * cin * p);
        assert_eq!(weight.len(), cout * cin * 9);
        let mut y = vec![0.0f32; s.n * cout * p];
        if p == 0 || cout == 0 || s.n == 0 {
            return y;
        }
        let a2 = T::A * T::A;
        let per_image = s.h.div_ceil(T::M) * s.w.div_ceil(T::M);
        let g = (T::TILES / per_image).clamp(1, s.n);
        let u = filters::<T>(weight, cin, cout);
        y.par_chunks_mut(g * cout * p)
            .zip(x.par_chunks(g * cin * p))
            .for_each_init(Scratch::default, |sc, (ys, xs)| {
                let nt = xs.len() / (cin * p) * per_image;
                sc.v.resize(nt * a2 * cin, 0.0);
                sc.m.resize(a2 * nt * cout, 0.0);
                for (xn, vn) in xs
                    .chunks_exact(cin * p)
                    .zip(sc.v.chunks_exact_mut(per_image * a2 * cin))
                {
                    transform_inputs::<T>(xn, s, &mut sc.pad, vn);
                }
                if cin == 0 {
                    sc.m.fill(0.0);
                }
                for (t, mt) in sc.m.chunks_exact_mut(nt * cout).enumerate() {
                    // M_t (nt x cout) = V_t (nt x cin, rows A² cin apart) · U_t (cin x cout).
                    gemm_strided(
                        nt,
                        cout,
                        cin,
                        mt,
                        false,
                        &sc.v[t * cin..],
                        (a2 * cin, 1),
                        &u[t * cin * cout..(t + 1) * cin * cout],
                        (cout, 1),
                    );
                }
                for (j, yn) in ys.chunks_exact_mut(cout * p).enumerate() {
                    transform_outputs::<T>(&sc.m, nt, j * per_image, s, &mut sc.out, yn);
                }
            });
        y
    }
}

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

    const SHAPES: [ConvShape; 4] = [
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
    ];

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
