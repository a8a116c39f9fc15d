//! CPU kernels for the CNN's hot operations, plugged into Burn through its backend-extension
//! mechanism: a trait implemented for burn-flex and for `Autodiff<Flex>` (custom backward), so
//! the CNN keeps Burn's modules, optimiser and autodiff graph and only these operations run our
//! code ([`applies`] decides). On Burn's GPU backend (wgpu, CUDA) a conv block's batch norm and
//! ReLU in training are one operation too, composed of Burn's operations but with its gradient
//! written out, which launches a fifth fewer kernels per training step than burn-nn's modules
//! (counted on lavapipe; [`block_applies`], [`CnnKernels::bn_relu_train`]); the rest is Burn's.
//!
//! - [`conv`]: "same" convolution and both gradients as im2col + GEMM.
//! - [`norm`]: batch norm, ReLU and 2x2 max pooling as one operation, forward and backward in
//!   two passes over the maps each.

pub mod adam;
pub mod conv;
pub mod norm;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    Autodiff, AutodiffBackend, Backend, Dispatch, Flex, TensorMetadata, backend_extension,
};
use burn::tensor::{Device, Tensor, TensorData};
use burn_flex::FlexTensor;

use conv::ConvShape;
use std::mem::MaybeUninit;

/// The CNN operations with hand-written CPU kernels, and on a GPU the conv block's batch norm
/// and ReLU as one operation with a hand-written gradient ([`CnnKernels::bn_relu_train`]).
#[backend_extension(Flex, Cube: cfg(any(feature = "wgpu", feature = "cuda")), Autodiff)]
pub trait CnnKernels: Backend {
    /// "Same" convolution without bias: `x` is `[n, cin, h, w]`, `weight` `[cout, cin, k, k]`
    /// with odd `k`; returns `[n, cout, h, w]`. The default is Burn's convolution.
    fn conv_same(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        let (xd, wd) = (x.shape(), weight.shape());
        let k = wd[2];
        assert!(
            xd.num_dims() == 4 && wd.num_dims() == 4 && xd[1] == wd[1] && wd[3] == k && k % 2 == 1,
            "conv_same: input {xd:?} and weight {wd:?} do not fit a same convolution"
        );
        let options = burn::backend::ops::ConvOptions::new([1, 1], [k / 2, k / 2], [1, 1], 1);
        Self::conv2d(x, weight, None, options)
    }

    /// A conv block's batch norm with the batch's statistics, then ReLU: `relu(γ x̂ + β)`;
    /// returns it and the per-channel mean and biased variance (for the running statistics).
    /// The statistics are reduced over the maps seen channels-last (`[n h w, c]`), a free view
    /// of what Burn's GPU convolution writes, and the output keeps that layout, which the
    /// pooling reads; burn-nn's `BatchNorm` transposes the maps into copies instead. The default
    /// composes Burn's operations (what autodiff would differentiate); autodiff on a GPU backend
    /// has a hand-written gradient, two reductions and fused element-wise work.
    fn bn_relu_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let f = bn_relu_forward::<Self>(x, gamma, beta, epsilon);
        (f.output, f.mean, f.var)
    }

    /// A conv block's tail in training: `maxpool2x2(relu(batch_norm(x)))` with the batch's own
    /// statistics; returns the pooled maps and the per-channel mean and biased variance (for
    /// the running statistics).
    fn bn_relu_pool_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (y, mean, var) = Self::bn_relu_train(x, gamma, beta, epsilon);
        let y = Self::max_pool2d(y, [2, 2], [2, 2], [0, 0], [1, 1], false);
        (y, mean, var)
    }

    /// A conv block's tail in inference: `maxpool2x2(relu(batch_norm(x)))` with the given
    /// statistics. The default composes Burn's operations (what autodiff differentiates).
    fn bn_relu_pool_eval(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        let y = Self::relu(Self::batch_norm(x, gamma, beta, mean, var, epsilon));
        Self::max_pool2d(y, [2, 2], [2, 2], [0, 0], [1, 1], false)
    }

    /// One Adam step of a parameter from its gradient: the new parameter and first and second
    /// moments, updated in place where they are not shared ([`adam`]). Without earlier steps
    /// (`step.continued` false) the moments given are only buffers to write. The default
    /// composes Burn's operations in [`adam::step`]'s order; training calls this on burn-flex
    /// alone (`train::adam`), so on a GPU Burn's own Adam runs.
    fn adam_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        m1: FloatTensor<Self>,
        m2: FloatTensor<Self>,
        step: adam::AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let c = step;
        let g = match c.penalty {
            Some(pen) => Self::float_add(Self::float_mul_scalar(param.clone(), pen.into()), grad),
            None => grad,
        };
        let (f1, f2) = ((1.0 - c.beta_1).into(), (1.0 - c.beta_2).into());
        let g2 = Self::float_mul_scalar(Self::float_mul(g.clone(), g.clone()), f2);
        let g1 = Self::float_mul_scalar(g, f1);
        let (a, b) = if c.continued {
            (
                Self::float_add(Self::float_mul_scalar(m1, c.beta_1.into()), g1),
                Self::float_add(Self::float_mul_scalar(m2, c.beta_2.into()), g2),
            )
        } else {
            (g1, g2)
        };
        let denom = Self::float_add_scalar(Self::float_sqrt(b.clone()), c.epsilon.into());
        let update = Self::float_div(Self::float_mul_scalar(a.clone(), c.combined.into()), denom);
        let p = Self::float_sub(param, Self::float_mul_scalar(update, c.lr.into()));
        (p, a, b)
    }
}

/// What [`CnnKernels::bn_relu_train`] computes, with what its gradient needs (read by the
/// GPU backend's autodiff alone).
#[cfg_attr(not(any(feature = "wgpu", feature = "cuda")), allow(dead_code))]
struct BnReluForward<B: Backend> {
    /// `relu(γ x̂ + β)`, `[n, c, h, w]` (channels-last in memory).
    output: FloatTensor<B>,
    /// Per-channel batch mean and biased variance, `[c]`.
    mean: FloatTensor<B>,
    var: FloatTensor<B>,
    /// The normalised maps `x̂`, `[n h w, c]`.
    normalized: FloatTensor<B>,
    /// `γ / √(var + ε)`, `[1, c]`.
    scale: FloatTensor<B>,
    /// The output as `[n h w, c]`, whose sign is the ReLU's mask.
    flat_output: FloatTensor<B>,
}

/// The forward of [`CnnKernels::bn_relu_train`] in `B`'s operations.
fn bn_relu_forward<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    epsilon: f64,
) -> BnReluForward<B> {
    use burn::tensor::Shape;
    let d = x.shape();
    let (n, c, h, w) = (d[0], d[1], d[2], d[3]);
    let m = n * h * w;
    let flat = B::float_reshape(B::float_permute(x, &[0, 2, 3, 1]), Shape::new([m, c]));
    let mean = B::float_mean_dim(flat.clone(), 0);
    let centered = B::float_sub(flat, mean.clone());
    let var = B::float_mean_dim(B::float_mul(centered.clone(), centered.clone()), 0);
    let inv_std = B::float_recip(B::float_sqrt(B::float_add_scalar(
        var.clone(),
        epsilon.into(),
    )));
    let normalized = B::float_mul(centered, inv_std.clone());
    let gamma = B::float_reshape(gamma, Shape::new([1, c]));
    let scale = B::float_mul(inv_std, gamma.clone());
    let flat_output = B::relu(B::float_add(
        B::float_mul(normalized.clone(), gamma),
        B::float_reshape(beta, Shape::new([1, c])),
    ));
    let output = B::float_permute(
        B::float_reshape(flat_output.clone(), Shape::new([n, h, w, c])),
        &[0, 3, 1, 2],
    );
    BnReluForward {
        output,
        mean: B::float_reshape(mean, Shape::new([c])),
        var: B::float_reshape(var, Shape::new([c])),
        normalized,
        scale,
        flat_output,
    }
}

/// Environment variable that, set to `burn`, makes the CNN use Burn's generic operations and
/// modules on burn-flex and on a GPU too: for A/B benchmarks in one binary
/// (`scripts/cnn_bench.sh`, `scripts/gpu_launches.sh`) and as an escape hatch.
pub const KERNELS_VAR: &str = "SHAPECLF_CNN_KERNELS";

/// Which CNN operations burn-flex and a GPU run: 0 not chosen yet (read [`KERNELS_VAR`] on
/// first use), 1 ours, 2 Burn's generic ones.
static MODE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Makes the CNN use Burn's generic operations on burn-flex and a GPU (`true`) or the
/// operations here (`false`) from now on in this process, whatever [`KERNELS_VAR`] says: the
/// same choice for a library caller as the variable gives a command. Both train the same
/// network.
pub fn use_generic_ops(generic: bool) {
    MODE.store(
        if generic { 2 } else { 1 },
        std::sync::atomic::Ordering::Relaxed,
    );
}

/// Whether a conv block on `device` runs through [`CnnKernels`]: on burn-flex, its kernels
/// ([`applies`]); on a GPU in `training`, the batch norm and ReLU with the hand-written gradient
/// ([`CnnKernels::bn_relu_train`]; inference there keeps burn-nn's modules, since most of what
/// it saves is in its gradient). [`use_generic_ops`] (or [`KERNELS_VAR`]) chooses Burn's
/// modules on both.
pub fn block_applies(device: &Device, training: bool) -> bool {
    applies(device) || (training && cfg!(any(feature = "wgpu", feature = "cuda")) && !generic_ops())
}

/// Whether the CNN's kernels here serve tensors on `device`: burn-flex, with or without
/// autodiff, unless [`use_generic_ops`] or else [`KERNELS_VAR`] (`burn`, read once) chose Burn's
/// generic operations. Everything else goes through Burn's generic modules.
pub fn applies(device: &Device) -> bool {
    !generic_ops() && device.clone().inner() == Device::flex()
}

/// Whether the CNN runs Burn's generic operations on burn-flex instead of these kernels
/// ([`use_generic_ops`], else [`KERNELS_VAR`]): the backend's description says so, since the
/// two give the same network with other rounding.
pub fn generic_ops() -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    let mode = match MODE.load(Relaxed) {
        0 => {
            let generic = std::env::var(KERNELS_VAR).is_ok_and(|v| v == "burn");
            // A caller's choice made meanwhile wins.
            let read = if generic { 2 } else { 1 };
            match MODE.compare_exchange(0, read, Relaxed, Relaxed) {
                Ok(_) => read,
                Err(chosen) => chosen,
            }
        }
        m => m,
    };
    mode == 2
}

/// Makes glibc's malloc keep freed blocks of up to 1 GiB for reuse instead of handing each one
/// back to the kernel and faulting fresh zeroed pages in for the next: a CNN training step
/// allocates and frees maps of tens of MB dozens of times, and those page faults measured about
/// a tenth of the step. Process-wide, so it is the caller's choice; the `shapeclf` binary and
/// the CNN benchmarks make it at start-up. Does nothing where glibc is not the allocator.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before the threads that
    // train start, and glibc serialises it with allocations in any case.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// [`CnnKernels::conv_same`] on tensors.
pub fn conv_same(x: Tensor<4>, weight: Tensor<4>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as CnnKernels>::conv_same(
        x.into_dispatch(),
        weight.into_dispatch(),
    ))
}

/// [`CnnKernels::bn_relu_pool_train`] on tensors: pooled maps, batch mean, batch variance.
pub fn bn_relu_pool_train(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
    let (y, mean, var) = <Dispatch as CnnKernels>::bn_relu_pool_train(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        epsilon,
    );
    (
        Tensor::from_dispatch(y),
        Tensor::from_dispatch(mean),
        Tensor::from_dispatch(var),
    )
}

/// [`CnnKernels::bn_relu_pool_eval`] on tensors.
pub fn bn_relu_pool_eval(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    mean: Tensor<1>,
    var: Tensor<1>,
    epsilon: f64,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as CnnKernels>::bn_relu_pool_eval(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        mean.into_dispatch(),
        var.into_dispatch(),
        epsilon,
    ))
}

/// `n` values built in chunks of `chunk` in parallel: `f(state, index, chunk)` fills chunk
/// `index` (the last may be shorter), which arrives zeroed; `init` makes each task's scratch
/// `state`, as in rayon's `for_each_init`.
///
/// Why: `vec![0.0; n]` zeroes a whole output on the calling thread before the parallel loop
/// writes it again, a serial pass over tens of MB that profiled at about 5% of a CNN training
/// step. Here each task zeroes only its own chunk, just before writing it, on every thread and
/// while the chunk is in cache.
pub(crate) fn par_chunks_zeroed<T, S, I, F>(n: usize, chunk: usize, init: I, f: F) -> Vec<T>
where
    T: Copy + Default + Send,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, usize, &mut [T]) + Sync + Send,
{
    let zeroed = |state: &mut S, i: usize, c: &mut [MaybeUninit<T>]| {
        c.fill(MaybeUninit::new(T::default()));
        // SAFETY: every element of `c` was written just above, and `MaybeUninit<T>` has the
        // layout of `T`.
        f(state, i, unsafe { assume_init_mut(c) });
    };
    // SAFETY: `zeroed` writes every element of its chunk before `f` sees it.
    unsafe { par_chunks_uninit(n, chunk, init, zeroed) }
}

/// [`par_chunks_zeroed`] for outputs that `f` writes whole: its chunk arrives uninitialised,
/// so nothing is written twice. The largest outputs of a training step (the first block's
/// convolution and its batch-norm input gradient, 25 MB each at the default shapes) are
/// written this way.
///
/// # Safety
/// `f` must initialise every element of the chunk it is given before it returns.
pub(crate) unsafe fn par_chunks_uninit<T, S, I, F>(n: usize, chunk: usize, init: I, f: F) -> Vec<T>
where
    T: Copy + Send,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, usize, &mut [MaybeUninit<T>]) + Sync + Send,
{
    use rayon::prelude::*;
    let mut v: Vec<T> = Vec::with_capacity(n);
    v.spare_capacity_mut()[..n]
        .par_chunks_mut(chunk.max(1))
        .enumerate()
        .for_each_init(init, |state, (i, c)| {
            poison_in_tests(c);
            f(state, i, c)
        });
    // SAFETY: the chunks cover the first `n` elements, and the caller guarantees that `f`
    // initialised each of its chunk. A panic in `f` unwinds past this line, leaving the length
    // 0.
    unsafe { v.set_len(n) };
    v
}

/// In the unit tests, fills an output that is about to be written uninitialised with 0xFF bytes
/// (NaN as f32), so an element a kernel fails to write shows up in its comparison with the
/// definition instead of passing unseen as whatever the allocator left there. Nothing in other
/// builds.
#[inline(always)]
pub(crate) fn poison_in_tests<T>(c: &mut [MaybeUninit<T>]) {
    #[cfg(test)]
    // SAFETY: any bytes are a valid `MaybeUninit<T>`; this writes `c`'s own elements.
    unsafe {
        std::ptr::write_bytes(c.as_mut_ptr(), 0xFF, c.len())
    };
    #[cfg(not(test))]
    let _ = c;
}

/// `c` as initialised values.
///
/// # Safety
/// Every element of `c` must have been written.
pub(crate) unsafe fn assume_init_mut<T>(c: &mut [MaybeUninit<T>]) -> &mut [T] {
    // SAFETY: the caller guarantees every element is initialised, and `MaybeUninit<T>` has the
    // layout of `T`.
    unsafe { &mut *(c as *mut [MaybeUninit<T>] as *mut [T]) }
}

/// [`CnnKernels::adam_step`] on tensors of burn-flex (with or without autodiff) holding f32.
pub fn adam_step<const D: usize>(
    param: Tensor<D>,
    grad: Tensor<D>,
    m1: Tensor<D>,
    m2: Tensor<D>,
    step: adam::AdamStep,
) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
    let (p, a, b) = <Dispatch as CnnKernels>::adam_step(
        param.into_dispatch(),
        grad.into_dispatch(),
        m1.into_dispatch(),
        m2.into_dispatch(),
        step,
    );
    (
        Tensor::from_dispatch(p),
        Tensor::from_dispatch(a),
        Tensor::from_dispatch(b),
    )
}

/// `t` itself when its values fill its storage in row-major order, else a compact copy: what
/// may be updated through [`FlexTensor::storage_mut`].
fn compact(t: FlexTensor) -> FlexTensor {
    let whole = t.bytes().len() / std::mem::size_of::<f32>();
    match t.layout().contiguous_offsets() {
        Some((0, end)) if end == whole => t,
        _ => t.to_contiguous(),
    }
}

/// The f32 values of a flex tensor in row-major order (a copy only when it is strided).
fn values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => {
            std::borrow::Cow::Owned(t.clone().into_data().convert::<f32>().try_to_vec().unwrap())
        }
    }
}

fn dims(t: &FlexTensor) -> Vec<usize> {
    t.layout().shape().to_vec()
}

fn tensor(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

fn maps(x: &FlexTensor) -> norm::Maps {
    let d = dims(x);
    assert!(
        d.len() == 4,
        "a conv block's maps are [n, c, h, w], got {d:?}"
    );
    norm::Maps {
        n: d[0],
        c: d[1],
        h: d[2],
        w: d[3],
    }
}

fn conv_shape(x: &FlexTensor, weight: &FlexTensor) -> ConvShape {
    let (xd, wd) = (dims(x), dims(weight));
    assert!(
        xd.len() == 4 && wd.len() == 4 && xd[1] == wd[1] && wd[2] == wd[3] && wd[2] % 2 == 1,
        "conv_same: input {xd:?} and weight {wd:?} do not fit a same convolution"
    );
    ConvShape {
        n: xd[0],
        cin: xd[1],
        cout: wd[0],
        h: xd[2],
        w: xd[3],
        k: wd[2],
    }
}

impl CnnKernels for Flex {
    fn conv_same(x: FlexTensor, weight: FlexTensor) -> FlexTensor {
        let s = conv_shape(&x, &weight);
        let y = conv::forward(&values(&x), &values(&weight), &s);
        tensor(y, vec![s.n, s.cout, s.h, s.w])
    }

    fn bn_relu_pool_train(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let m = maps(&x);
        let out = norm::forward_train(&values(&x), &values(&gamma), &values(&beta), &m, epsilon);
        (
            tensor(out.y, vec![m.n, m.c, m.h / 2, m.w / 2]),
            tensor(out.mean, vec![m.c]),
            tensor(out.var, vec![m.c]),
        )
    }

    fn adam_step(
        param: FlexTensor,
        grad: FlexTensor,
        m1: FlexTensor,
        m2: FlexTensor,
        step: adam::AdamStep,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (mut p, mut a, mut b) = (compact(param), compact(m1), compact(m2));
        adam::step(
            p.storage_mut(),
            a.storage_mut(),
            b.storage_mut(),
            &values(&grad),
            &step,
        );
        (p, a, b)
    }

    fn bn_relu_pool_eval(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        mean: FlexTensor,
        var: FlexTensor,
        epsilon: f64,
    ) -> FlexTensor {
        let m = maps(&x);
        let (scale, shift) = norm::affine(
            &values(&gamma),
            &values(&beta),
            &values(&mean),
            &values(&var),
            epsilon,
        );
        let y = norm::affine_relu_pool(&values(&x), &scale, &shift, &m);
        tensor(y, vec![m.n, m.c, m.h / 2, m.w / 2])
    }
}

/// Burn's GPU backend (every CubeCL runtime, with fusion): the conv block's batch norm and
/// ReLU through [`CnnKernels::bn_relu_train`]'s composition; the rest is Burn's.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl CnnKernels for burn::backend::Cube {}

/// The GPU backend under autodiff: [`CnnKernels::bn_relu_train`] with its gradient written
/// out ([`BnReluBackward`]), two reductions and element-wise work that fuses, where autodiff's
/// own gradient of the composition launches several times as many kernels.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl<C: CheckpointStrategy> CnnKernels for Autodiff<burn::backend::Cube, C> {
    fn bn_relu_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        type Inner = burn::backend::Cube;
        let prep = BnReluBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful();
        let f = bn_relu_forward::<Inner>(
            Self::inner(x),
            Self::inner(gamma),
            Self::inner(beta),
            epsilon,
        );
        let (mean, var) = (Self::from_inner(f.mean), Self::from_inner(f.var));
        let y = match prep {
            OpsKind::Tracked(prep) => {
                let state = BnReluState {
                    normalized: f.normalized,
                    scale: f.scale,
                    flat_output: f.flat_output,
                };
                prep.finish(state, f.output)
            }
            OpsKind::UnTracked(prep) => prep.finish(f.output),
        };
        (y, mean, var)
    }
}

/// How many times [`BnReluBackward`] has run in this process: a test's proof that the
/// hand-written gradient, not autodiff's of the default body, is the one taken.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
static BN_RELU_BACKWARDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many times the GPU batch norm's hand-written gradient has run in this process (tests).
#[cfg(any(feature = "wgpu", feature = "cuda"))]
#[doc(hidden)]
pub fn bn_relu_backwards() -> usize {
    BN_RELU_BACKWARDS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Gradient of [`CnnKernels::bn_relu_train`] for any backend's operations: with `g` the
/// output's gradient through the ReLU, as `[n h w, c]`, `dβ = Σ g`, `dγ = Σ g x̂` and
/// `dx = γ/σ · (g − dβ/m − x̂ dγ/m)` over the `m = n h w` values of each channel.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
#[derive(Debug)]
struct BnReluBackward;

/// What [`BnReluBackward`] keeps: `x̂`, `γ/σ` and the output (its sign is the ReLU's mask).
#[cfg(any(feature = "wgpu", feature = "cuda"))]
#[derive(Debug, Clone)]
struct BnReluState<B: Backend> {
    normalized: FloatTensor<B>,
    scale: FloatTensor<B>,
    flat_output: FloatTensor<B>,
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl<B: Backend> Backward<B, 3> for BnReluBackward {
    type State = BnReluState<B>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        use burn::tensor::Shape;
        BN_RELU_BACKWARDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let st = ops.state;
        let d = grad.shape();
        let (n, c, h, w) = (d[0], d[1], d[2], d[3]);
        let m = n * h * w;
        let flat = B::float_reshape(B::float_permute(grad, &[0, 2, 3, 1]), Shape::new([m, c]));
        let g = B::relu_backward(st.flat_output, flat);
        let dbeta = B::float_sum_dim(g.clone(), 0);
        let dgamma = B::float_sum_dim(B::float_mul(g.clone(), st.normalized.clone()), 0);
        if let Some(node) = node_x {
            let inv_m = (1.0 / m as f64).into();
            let centred = B::float_sub(g, B::float_mul_scalar(dbeta.clone(), inv_m));
            let projected = B::float_mul(st.normalized, B::float_mul_scalar(dgamma.clone(), inv_m));
            let dx = B::float_mul(st.scale, B::float_sub(centred, projected));
            let dx = B::float_permute(
                B::float_reshape(dx, Shape::new([n, h, w, c])),
                &[0, 3, 1, 2],
            );
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_gamma {
            grads.register::<B>(node.id, B::float_reshape(dgamma, Shape::new([c])));
        }
        if let Some(node) = node_beta {
            grads.register::<B>(node.id, B::float_reshape(dbeta, Shape::new([c])));
        }
    }
}

/// Backward step of [`CnnKernels::conv_same`]; keeps the input and weight.
#[derive(Debug)]
struct ConvSameBackward;

impl Backward<Flex, 2> for ConvSameBackward {
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, weight) = ops.state;
        let s = conv_shape(&x, &weight);
        let dy = values(&grad);
        if let Some(node) = node_x {
            let dx = conv::input_grad(&dy, &values(&weight), &s);
            grads.register::<Flex>(node.id, tensor(dx, dims(&x)));
        }
        if let Some(node) = node_w {
            let dw = conv::weight_grad(&values(&x), &dy, &s);
            grads.register::<Flex>(node.id, tensor(dw, dims(&weight)));
        }
    }
}

/// Backward step of [`CnnKernels::bn_relu_pool_train`]; keeps the input, γ, β, the batch
/// statistics and the pooling winners.
#[derive(Debug)]
struct BnReluPoolBackward;

/// What [`BnReluPoolBackward`] keeps.
#[derive(Debug, Clone)]
struct BnState {
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    mean: Vec<f32>,
    var: Vec<f32>,
    argmax: std::sync::Arc<Vec<u8>>,
    epsilon: f64,
}

impl Backward<Flex, 3> for BnReluPoolBackward {
    type State = BnState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let st = ops.state;
        let m = maps(&st.x);
        let g = norm::backward_train(
            &values(&st.x),
            &values(&st.gamma),
            &values(&st.beta),
            &st.mean,
            &st.var,
            &st.argmax,
            st.epsilon,
            &values(&grad),
            &m,
        );
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, tensor(g.dx, dims(&st.x)));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, tensor(g.dgamma, vec![m.c]));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, tensor(g.dbeta, vec![m.c]));
        }
    }
}

impl<C: CheckpointStrategy> CnnKernels for Autodiff<Flex, C> {
    fn conv_same(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        match ConvSameBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, weight) = (Self::inner(x), Self::inner(weight));
                let y = Flex::conv_same(x.clone(), weight.clone());
                prep.finish((x, weight), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(Flex::conv_same(Self::inner(x), Self::inner(weight)))
            }
        }
    }

    fn bn_relu_pool_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let prep = BnReluPoolBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful();
        let (x, gamma, beta) = (Self::inner(x), Self::inner(gamma), Self::inner(beta));
        let m = maps(&x);
        let out = norm::forward_train(&values(&x), &values(&gamma), &values(&beta), &m, epsilon);
        let y = tensor(out.y, vec![m.n, m.c, m.h / 2, m.w / 2]);
        let (mean, var) = (
            tensor(out.mean.clone(), vec![m.c]),
            tensor(out.var.clone(), vec![m.c]),
        );
        let y = match prep {
            OpsKind::Tracked(prep) => {
                let state = BnState {
                    x,
                    gamma,
                    beta,
                    mean: out.mean,
                    var: out.var,
                    argmax: std::sync::Arc::new(out.argmax),
                    epsilon,
                };
                prep.finish(state, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(y),
        };
        (y, Self::from_inner(mean), Self::from_inner(var))
    }

    /// Untracked: an optimiser's update is not differentiated.
    fn adam_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        m1: FloatTensor<Self>,
        m2: FloatTensor<Self>,
        step: adam::AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (p, a, b) = Flex::adam_step(
            Self::inner(param),
            Self::inner(grad),
            Self::inner(m1),
            Self::inner(m2),
            step,
        );
        (
            Self::from_inner(p),
            Self::from_inner(a),
            Self::from_inner(b),
        )
    }
}

#[cfg(test)]
mod tests;
