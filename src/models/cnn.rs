//! The learned side: a multi-view CNN with view pooling (Su et al., ICCV 2015). One 2D CNN with
//! shared weights turns each depth view into a feature vector; an element-wise max over the
//! views pools them into one shape descriptor, which fully connected layers classify.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::kernels;
use super::onnx_graph::{Attr, Graph};
use super::{Input, ModelInput, Reads, ShapeModel};

/// Output channels of the default network's three conv blocks. Measured against
/// [`PEER_CHANNELS`] on the synthetic benchmarks (docs/BENCHMARKS.md, "A narrower network"):
/// as accurate within noise, in 0.45 of the CPU training time.
pub const DEFAULT_CHANNELS: [usize; 3] = [16, 32, 64];

/// Output channels of the peer's network (`../shared/peer`, and the PyTorch benchmarks' one),
/// twice [`DEFAULT_CHANNELS`]: the width to pass when comparing speed with PyTorch like for
/// like, or for the last fraction of a point of accuracy.
pub const PEER_CHANNELS: [usize; 3] = [32, 64, 128];

/// Shape of an [`Mvcnn`]; saved in the model's `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CnnConfig {
    /// Views per shape.
    pub views: usize,
    /// Pixels per side of each view.
    pub resolution: usize,
    /// Classes.
    pub classes: usize,
    /// Output channels of each conv block (3x3 conv, batch norm, ReLU, 2x2 max pool).
    pub channels: Vec<usize>,
    /// Side of the grid the last block's maps are average-pooled to before the view-level
    /// fully connected layer (identity when the maps already have that size).
    pub grid: usize,
    /// Width of the per-view descriptor that view pooling takes the maximum of.
    pub features: usize,
    /// Dropout before the classifier.
    pub dropout: f64,
    /// Channels of each view (1: depth; 2: depth and shading). Absent in models saved before
    /// it existed, which read depth alone.
    #[serde(default = "one_channel")]
    pub in_channels: usize,
}

fn one_channel() -> usize {
    1
}

impl CnnConfig {
    /// The default network for `views` views of `resolution` pixels: three blocks of
    /// [`DEFAULT_CHANNELS`], a 4x4 grid, 256 features (the peer's architecture at half its
    /// convolution widths).
    pub fn new(views: usize, resolution: usize, classes: usize) -> CnnConfig {
        CnnConfig {
            views,
            resolution,
            classes,
            channels: DEFAULT_CHANNELS.to_vec(),
            grid: 4,
            features: 256,
            dropout: 0.5,
            in_channels: 1,
        }
    }

    /// Builds a freshly initialised network on `device`.
    pub fn init(&self, device: &Device) -> Mvcnn {
        let mut blocks = Vec::new();
        let mut cin = self.in_channels.max(1);
        for &c in &self.channels {
            blocks.push(ConvBlock {
                conv: Conv2dConfig::new([cin, c], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .with_bias(false)
                    .init(device),
                norm: BatchNormConfig::new(c).init(device),
                pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            });
            cin = c;
        }
        let grid = self.grid.max(1);
        Mvcnn {
            blocks,
            squeeze: AdaptiveAvgPool2dConfig::new([grid, grid]).init(),
            view_fc: LinearConfig::new(cin * grid * grid, self.features).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            out: LinearConfig::new(self.features, self.classes).init(device),
            grid,
            in_channels: self.in_channels.max(1),
        }
    }
}

/// Convolution, batch norm, ReLU, 2x2 max pooling.
#[derive(Module, Debug)]
pub struct ConvBlock {
    conv: Conv2d,
    norm: BatchNorm,
    pool: MaxPool2d,
}

impl ConvBlock {
    /// Convolution, batch norm, ReLU and pooling. On burn-flex these run [`super::kernels`]: the
    /// convolution, then batch norm + ReLU + the 2x2 pool as one operation; on a GPU backend in
    /// training, Burn's convolution and pooling around the kernels' batch norm + ReLU; else, or
    /// with Burn's generic operations chosen, Burn's modules.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let device = x.device();
        let training = device.is_autodiff() && self.norm.training.is_enabled();
        if !kernels::block_applies(&device, training) {
            return self.pool.forward(self.activate(x));
        }
        let z = kernels::conv_same(x, self.conv.weight.val());
        let norm = &self.norm;
        if !(z.device().is_autodiff() && norm.training.is_enabled()) {
            let device = z.device();
            return kernels::bn_relu_pool_eval(
                z,
                norm.gamma.val(),
                norm.beta.val(),
                norm.running_mean.value().to_device(&device),
                norm.running_var.value().to_device(&device),
                norm.epsilon,
            );
        }
        let (y, mean, var) =
            kernels::bn_relu_pool_train(z, norm.gamma.val(), norm.beta.val(), norm.epsilon);
        // The running statistics as burn-nn's BatchNorm keeps them.
        let m = norm.momentum;
        let update = |state: &burn::module::RunningState<Tensor<1>>, batch: Tensor<1>| {
            let device = batch.device();
            let old = state.value_sync().to_device(&device);
            state.update(
                old.mul_scalar(1.0 - m)
                    .add(batch.detach().mul_scalar(m))
                    .detach(),
            );
        };
        update(&norm.running_mean, mean);
        update(&norm.running_var, var);
        y
    }

    /// The block's feature maps before pooling (for pictures of the first layer).
    fn activate(&self, x: Tensor<4>) -> Tensor<4> {
        relu(self.norm.forward(self.conv.forward(x)))
    }

    /// Appends the block at inference (batch norm with its running statistics) to `g`.
    fn to_onnx(&self, g: &mut Graph, x: &str) -> String {
        let weight = self.conv.weight.val();
        let [_, _, kh, kw] = weight.dims();
        let w = g.weight("conv", weight);
        // A "same" convolution (odd kernel, padding half of it), as `CnnConfig::init` builds
        // and `kernels::conv_same` computes.
        let (ph, pw) = ((kh / 2) as i64, (kw / 2) as i64);
        let z = g.op(
            "Conv",
            &[x, &w],
            &[
                ("kernel_shape", Attr::Ints(vec![kh as i64, kw as i64])),
                ("pads", Attr::Ints(vec![ph, pw, ph, pw])),
            ],
        );
        let n = &self.norm;
        let gamma = g.weight("bn_scale", n.gamma.val());
        let beta = g.weight("bn_bias", n.beta.val());
        let mean = g.weight("bn_mean", n.running_mean.value());
        let var = g.weight("bn_var", n.running_var.value());
        let y = g.op(
            "BatchNormalization",
            &[&z, &gamma, &beta, &mean, &var],
            &[("epsilon", Attr::Float(n.epsilon as f32))],
        );
        let y = g.op("Relu", &[&y], &[]);
        g.op(
            "MaxPool",
            &[&y],
            &[
                ("kernel_shape", Attr::Ints(vec![2, 2])),
                ("strides", Attr::Ints(vec![2, 2])),
            ],
        )
    }
}

/// The `[out, size]` matrix whose product with a vector of `size` values is adaptive average
/// pooling to `out` values: output `i` averages inputs `floor(i size / out)` up to
/// `ceil((i + 1) size / out)`, the windows of Burn's (and PyTorch's) `AdaptiveAvgPool2d`.
fn adaptive_pool_matrix(size: usize, out: usize) -> Vec<f32> {
    let mut m = vec![0f32; out * size];
    for i in 0..out {
        let start = i * size / out;
        let end = ((i + 1) * size).div_ceil(out);
        let w = 1.0 / (end - start) as f32;
        for j in start..end {
            m[i * size + j] = w;
        }
    }
    m
}

/// Multi-view CNN: shared per-view CNN, element-wise max over views, classifier.
#[derive(Module, Debug)]
pub struct Mvcnn {
    blocks: Vec<ConvBlock>,
    squeeze: AdaptiveAvgPool2d,
    view_fc: Linear,
    dropout: Dropout,
    out: Linear,
    #[module(skip)]
    grid: usize,
    #[module(skip)]
    in_channels: usize,
}

impl Mvcnn {
    /// Per-view descriptors `[shapes * views, features]` of views `[shapes * views, 1, R, R]`.
    pub fn view_features(&self, x: Tensor<4>) -> Tensor<2> {
        let mut h = x;
        for b in &self.blocks {
            h = b.forward(h);
        }
        let [_, _, hh, ww] = h.dims();
        if hh != self.grid || ww != self.grid {
            h = self.squeeze.forward(h);
        }
        relu(self.view_fc.forward(h.flatten(1, 3)))
    }

    /// The shape descriptor `[shapes, features]` of views `[shapes, views * channels, R, R]`
    /// (each view's channels side by side; `[shapes, views, R, R]` for one channel): each
    /// view's descriptor, then view pooling, the element-wise maximum over the views.
    pub fn pooled(&self, x: Tensor<4>) -> Tensor<2> {
        let [b, vc, r, c] = x.dims();
        let ch = self.in_channels;
        let v = vc / ch;
        let f = self.view_features(x.reshape([b * v, ch, r, c]));
        let [_, k] = f.dims();
        f.reshape([b, v, k]).max_dim(1).reshape([b, k])
    }

    /// Logits `[shapes, classes]` of views `[shapes, views * channels, R, R]` with values in
    /// [0, 1].
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.out.forward(self.dropout.forward(self.pooled(x)))
    }

    /// Feature maps of the first block (after ReLU, before pooling) for views
    /// `[n, in_channels, R, R]`: `[n, channels, R, R]`.
    pub fn first_maps(&self, x: Tensor<4>) -> Tensor<4> {
        match self.blocks.first() {
            Some(b) => b.activate(x),
            None => x,
        }
    }

    /// Appends [`Mvcnn::pooled`] at inference to `g`: the name of the shape descriptors
    /// `[batch, features]` of the views named `x`, `[batch, views * channels, R, R]` with `cfg`'s
    /// views and resolution.
    pub fn to_onnx_pooled(&self, g: &mut Graph, x: &str, cfg: &CnnConfig) -> String {
        let ch = self.in_channels as i64;
        // [batch, views * channels, R, R] -> [batch * views, channels, R, R] (0: keep R).
        let shape = g.constant_i64("views_shape", &[-1, ch, 0, 0]);
        let mut h = g.op("Reshape", &[x, &shape], &[]);
        let mut side = cfg.resolution;
        for b in &self.blocks {
            h = b.to_onnx(g, &h);
            side /= 2;
        }
        if side != self.grid {
            // Adaptive average pooling is linear: P X P^T with a pooling matrix P per axis.
            let p = adaptive_pool_matrix(side, self.grid);
            let mut pt = vec![0f32; p.len()];
            for i in 0..self.grid {
                for j in 0..side {
                    pt[j * self.grid + i] = p[i * side + j];
                }
            }
            let rows = g.constant("pool_rows", &[self.grid, side], &p);
            let cols = g.constant("pool_cols", &[side, self.grid], &pt);
            h = g.op("MatMul", &[&rows, &h], &[]);
            h = g.op("MatMul", &[&h, &cols], &[]);
        }
        let h = g.op("Flatten", &[&h], &[("axis", Attr::Int(1))]);
        let f = g.linear(&h, &self.view_fc);
        let f = g.op("Relu", &[&f], &[]);
        let features = self.view_fc.weight.dims()[1] as i64;
        let shape = g.constant_i64("pool_shape", &[-1, cfg.views as i64, features]);
        let f = g.op("Reshape", &[&f, &shape], &[]);
        g.op(
            "ReduceMax",
            &[&f],
            &[("axes", Attr::Ints(vec![1])), ("keepdims", Attr::Int(0))],
        )
    }

    /// First-layer filters `[channels, in_channels, 3, 3]`.
    pub fn first_filters(&self) -> Option<Tensor<4>> {
        self.blocks.first().map(|b| b.conv.weight.val())
    }
}

impl ShapeModel for Mvcnn {
    type Config = CnnConfig;
    const READS: Reads = Reads::Views;

    fn init(config: &CnnConfig, device: &Device) -> Mvcnn {
        config.init(device)
    }

    fn logits(&self, input: ModelInput) -> Tensor<2> {
        self.forward(input.into_views())
    }

    fn outputs(&self) -> usize {
        self.out.weight.dims()[1]
    }

    /// [`Mvcnn::forward`] at inference of the views.
    fn to_onnx(&self, g: &mut Graph, cfg: &CnnConfig, input: &Input<String, String>) -> String {
        let pooled = self.to_onnx_pooled(g, &input.clone().into_views(), cfg);
        g.linear(&pooled, &self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn view_pooling_ignores_view_order_and_shapes_fit() {
        let device = Device::flex();
        let cfg = CnnConfig {
            channels: vec![4, 8],
            features: 16,
            ..CnnConfig::new(3, 16, 5)
        };
        let net = cfg.init(&device).valid();
        let n = 2 * 3 * 16 * 16;
        let px: Vec<f32> = (0..n).map(|i| ((i * 7919) % 255) as f32 / 255.0).collect();
        let x = Tensor::<4>::from_data(TensorData::new(px.clone(), [2, 3, 16, 16]), &device);
        let logits = net.forward(x);
        assert_eq!(logits.dims(), [2, 5]);
        // Reverse the views of each shape: the max over views is unchanged.
        let mut rev = Vec::with_capacity(n);
        for s in 0..2 {
            for v in (0..3).rev() {
                let o = (s * 3 + v) * 256;
                rev.extend_from_slice(&px[o..o + 256]);
            }
        }
        let y = Tensor::<4>::from_data(TensorData::new(rev, [2, 3, 16, 16]), &device);
        let a: Vec<f32> = logits.into_data().try_to_vec().unwrap();
        let b: Vec<f32> = net.forward(y).into_data().try_to_vec().unwrap();
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() < 1e-5, "{p} vs {q}");
        }
        // 16 px after two 2x pools is 4x4: the grid, so no squeeze; 12 px goes through it.
        let odd = Tensor::<4>::zeros([1, 3, 12, 12], &device);
        assert_eq!(net.forward(odd).dims(), [1, 5]);
        assert_eq!(net.first_filters().unwrap().dims(), [4, 1, 3, 3]);
    }

    /// The exported graph pools with `P X P^T`: the same windows and weights as Burn's
    /// adaptive average pooling, overlapping windows (6 to 4) included.
    #[test]
    fn pooling_matrices_are_burns_adaptive_average_pooling() {
        let device = Device::flex();
        for (side, out) in [(6, 4), (8, 4), (5, 3), (7, 2), (4, 4)] {
            let x: Vec<f32> = (0..side * side).map(|i| ((i * 37) % 11) as f32).collect();
            let t = Tensor::<4>::from_data(TensorData::new(x.clone(), [1, 1, side, side]), &device);
            let want: Vec<f32> = AdaptiveAvgPool2dConfig::new([out, out])
                .init()
                .forward(t)
                .into_data()
                .try_to_vec()
                .unwrap();
            let p = adaptive_pool_matrix(side, out);
            for i in 0..out {
                for j in 0..out {
                    let mut got = 0f32;
                    for a in 0..side {
                        for b in 0..side {
                            got += p[i * side + a] * x[a * side + b] * p[j * side + b];
                        }
                    }
                    let w = want[i * out + j];
                    assert!(
                        (got - w).abs() < 1e-5,
                        "{side}->{out} [{i},{j}]: {got} vs {w}"
                    );
                }
            }
        }
    }
}
