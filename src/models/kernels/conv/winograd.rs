//! Winograd's minimal filtering F(m x m, 3x3) for the "same" 3x3 convolution (Lavin & Gray,
//! 2016), m = 2 or 4: each (m + 2)² input tile (stride m, zero padded) becomes `V = Bᵀ d B`,
//! each filter `U = G g Gᵀ`, and the (m + 2)² elementwise products `U ⊙ V` summed over input
//! channels are as many GEMMs `(tiles x cin) · (cin x cout)`; each m x m output tile is
//! `Aᵀ M A`, cropped at the edges. F(2x2) (points 0, ±1, ∞, transforms that only add) does 4
//! multiplications per output pixel and input channel, F(4x4) (points 0, ±1, ±2, ∞) 2.25,
//! against im2col's nine.
//!
//! The transforms run channels-last (one image transposed to `h x w x c` with a zero border,
//! 8 x 8 blocks at a time), on 16 channels at once, so they vectorise whatever the map size;
//! where the CPU has AVX-512 they are compiled for it.

use super::super::par_chunks_zeroed;
use super::{ConvShape, gemm_strided};
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
            let t: [[V; 6]; 6] = std::array::from_fn(|q| bt4(std::array::from_fn(|r| at(r, q))));
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

/// `U[t][c][o] = (G g[o][c] Gᵀ)[t]`, in two parallel passes: each filter's transform into
/// `[o][c][t]`, then the transpose. Done serially, it was about a sixth of the samples a
/// 2-thread training step spent on the calling thread alone, which more threads cannot speed up.
fn filters<T: Tile>(weight: &[f32], cin: usize, cout: usize) -> Vec<f32> {
    let a2 = T::A * T::A;
    let transformed = par_chunks_zeroed(
        cout * cin * a2,
        a2,
        || [0.0f32; 36],
        |one, f, out| {
            T::filter(&weight[f * 9..(f + 1) * 9], one);
            out.copy_from_slice(&one[..a2]);
        },
    );
    par_chunks_zeroed(
        a2 * cin * cout,
        cout.max(1),
        || (),
        |_, row, out| {
            let (t, c) = (row / cin, row % cin);
            for (o, v) in out.iter_mut().enumerate() {
                *v = transformed[(o * cin + c) * a2 + t];
            }
        },
    )
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
fn inputs<T: Tile, const WIDE: bool>(x: &[f32], s: &ConvShape, pad: &mut Vec<f32>, v: &mut [f32]) {
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
        let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(src.as_ptr().add(i * src_rs)));
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
    if p == 0 || cout == 0 || s.n == 0 {
        return vec![0.0f32; s.n * cout * p];
    }
    let a2 = T::A * T::A;
    let per_image = s.h.div_ceil(T::M) * s.w.div_ceil(T::M);
    let g = (T::TILES / per_image).clamp(1, s.n);
    let u = filters::<T>(weight, cin, cout);
    par_chunks_zeroed(
        s.n * cout * p,
        g * cout * p,
        Scratch::default,
        |sc, gi, ys: &mut [f32]| {
            let xs = &x[gi * g * cin * p..][..ys.len() / cout * cin];
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
        },
    )
}
