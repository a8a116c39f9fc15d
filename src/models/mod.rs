//! Classifiers trained with Burn. On descriptor vectors, the logistic-regression baseline and an
//! MLP, both one [`Net`] (an MLP with no hidden layer is logistic regression: sigmoid for two
//! classes, softmax for more); on depth views, the multi-view CNN in [`cnn`].

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::{leaky_relu, log_sigmoid, log_softmax, relu, sigmoid, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

pub mod cnn;

pub use cnn::{CnnConfig, Mvcnn};

/// Which model to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Logistic regression on the descriptors.
    Logistic,
    /// Multi-layer perceptron on the descriptors.
    Mlp,
    /// Multi-view CNN on the rendered depth views.
    Cnn,
}

impl ModelKind {
    /// `logistic` or `mlp`.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Logistic => "logistic",
            ModelKind::Mlp => "mlp",
            ModelKind::Cnn => "cnn",
        }
    }
}

/// Hidden-layer nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// max(0, x).
    #[default]
    Relu,
    /// max(0.01 x, x): keeps a gradient for negative inputs.
    LeakyRelu,
}

/// Where training runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// burn-flex on the CPU.
    #[default]
    Cpu,
    /// A GPU: burn-cuda on an NVIDIA card (`cuda` cargo feature), else burn-wgpu on Vulkan, Metal
    /// or DX12 (`wgpu` feature); `SHAPECLF_GPU=cuda|wgpu` pins one.
    Gpu,
}

/// Environment variable that pins the runtime behind `--backend gpu`: `cuda`, `wgpu`, or `auto`
/// (the default: CUDA when built in and a driver answers, else wgpu).
pub const GPU_RUNTIME_VAR: &str = "SHAPECLF_GPU";

/// Errors choosing a device.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DeviceError {
    /// This binary was built without GPU support.
    #[error(
        "this shapeclf was built without GPU support: rebuild with `cargo build --release --features cuda` (NVIDIA) or `--features wgpu` (Vulkan, Metal, DX12), or use --backend cpu"
    )]
    NoGpuSupport,
    /// No wgpu adapter answered.
    #[error(
        "no GPU adapter found ({0}): install a Vulkan driver (on Debian: mesa-vulkan-drivers libvulkan1) or use --backend cpu"
    )]
    NoAdapter(String),
    /// CUDA is built in but no CUDA device answered.
    #[error(
        "no CUDA device answered ({0}): it needs an NVIDIA GPU and a driver for CUDA 13.0 or newer (libcuda.so.1 on the library path), or use --backend cpu"
    )]
    NoCuda(String),
    /// Both runtimes are built in and neither answered.
    #[error(
        "no GPU answered: CUDA ({cuda}); wgpu ({wgpu}). Check the NVIDIA driver, or install a Vulkan driver, or use --backend cpu"
    )]
    NoGpu {
        /// Why CUDA failed.
        cuda: String,
        /// Why wgpu failed.
        wgpu: String,
    },
    /// `SHAPECLF_GPU` names a runtime this binary lacks, or none at all.
    #[error(
        "{GPU_RUNTIME_VAR}={0}: this shapeclf offers {offered} (`cuda` and `wgpu` are cargo features)",
        offered = GPU_RUNTIMES.join(", ")
    )]
    UnknownRuntime(String),
}

impl BackendKind {
    /// The Burn device for this backend, checked to work with a tiny computation so a missing
    /// GPU is a clear error up front rather than a panic deep inside training. The GPU is chosen
    /// and probed once per process; later calls return the same device.
    pub fn device(self) -> Result<Device, DeviceError> {
        match self {
            BackendKind::Cpu => Ok(Device::flex()),
            BackendKind::Gpu => gpu().map(|g| g.device.clone()).map_err(Clone::clone),
        }
    }

    /// A description for reports: which backend and how many threads or which runtime and card
    /// (`gpu (burn-cuda, NVIDIA H200)`). For the GPU this is the runtime [`Self::device`] gives.
    pub fn describe(self) -> String {
        match self {
            BackendKind::Cpu => {
                format!("cpu (burn-flex, {} threads)", rayon::current_num_threads())
            }
            BackendKind::Gpu => match gpu() {
                Ok(g) => g.describe.clone(),
                Err(_) => "gpu (unavailable)".to_string(),
            },
        }
    }
}

/// The runtimes `SHAPECLF_GPU` may name in this build.
const GPU_RUNTIMES: &[&str] = &[
    "auto",
    #[cfg(feature = "cuda")]
    "cuda",
    #[cfg(feature = "wgpu")]
    "wgpu",
];

/// The GPU device `--backend gpu` runs on, with its description.
#[cfg_attr(not(any(feature = "cuda", feature = "wgpu")), allow(dead_code))]
struct Gpu {
    device: Device,
    describe: String,
}

/// The GPU chosen for this process: probed on first use, then kept, so [`BackendKind::device`]
/// and [`BackendKind::describe`] always agree.
fn gpu() -> Result<&'static Gpu, &'static DeviceError> {
    static GPU: std::sync::OnceLock<Result<Gpu, DeviceError>> = std::sync::OnceLock::new();
    GPU.get_or_init(select_gpu).as_ref()
}

fn select_gpu() -> Result<Gpu, DeviceError> {
    let pinned = std::env::var(GPU_RUNTIME_VAR).unwrap_or_default();
    match pinned.trim().to_ascii_lowercase().as_str() {
        "" | "auto" => auto_gpu(),
        #[cfg(feature = "cuda")]
        "cuda" => cuda_gpu().map_err(DeviceError::NoCuda),
        #[cfg(feature = "wgpu")]
        "wgpu" => wgpu_gpu().map_err(DeviceError::NoAdapter),
        _ => Err(DeviceError::UnknownRuntime(pinned)),
    }
}

/// CUDA when built in and a driver answers, else wgpu when built in.
fn auto_gpu() -> Result<Gpu, DeviceError> {
    #[cfg(all(feature = "cuda", feature = "wgpu"))]
    {
        let cuda = match cuda_gpu() {
            Ok(g) => return Ok(g),
            Err(e) => e,
        };
        match wgpu_gpu() {
            Ok(g) => {
                eprintln!("note: CUDA did not answer ({cuda}); using wgpu");
                Ok(g)
            }
            Err(wgpu) => Err(DeviceError::NoGpu { cuda, wgpu }),
        }
    }
    #[cfg(all(feature = "cuda", not(feature = "wgpu")))]
    {
        cuda_gpu().map_err(DeviceError::NoCuda)
    }
    #[cfg(all(feature = "wgpu", not(feature = "cuda")))]
    {
        wgpu_gpu().map_err(DeviceError::NoAdapter)
    }
    #[cfg(not(any(feature = "cuda", feature = "wgpu")))]
    {
        Err(DeviceError::NoGpuSupport)
    }
}

#[cfg(feature = "cuda")]
fn cuda_gpu() -> Result<Gpu, String> {
    // Without the driver library cubecl panics on its device thread and the probe sees only a
    // closed channel: look for it first, so the error says what is missing.
    // SAFETY: loads libcuda by name (and unloads it), as cubecl itself does on first use.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err("libcuda.so.1 not found: no NVIDIA driver".to_string());
    }
    let device = Device::cuda(burn::tensor::DeviceIndex::Default);
    probe(&device)?;
    Ok(Gpu {
        describe: described("burn-cuda", &device),
        device,
    })
}

#[cfg(feature = "wgpu")]
fn wgpu_gpu() -> Result<Gpu, String> {
    let device = Device::wgpu(burn::tensor::DeviceKind::DefaultDevice);
    probe(&device)?;
    Ok(Gpu {
        describe: described("burn-wgpu", &device),
        device,
    })
}

/// `gpu (RUNTIME, CARD)`, or `gpu (RUNTIME)` where the device does not name itself.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
fn described(runtime: &str, device: &Device) -> String {
    let name = std::panic::catch_unwind(|| device.identity().map(|i| i.name))
        .ok()
        .flatten()
        .filter(|n| !n.trim().is_empty());
    match name {
        Some(n) => format!("gpu ({runtime}, {})", n.trim()),
        None => format!("gpu ({runtime})"),
    }
}

/// Sums two numbers on `device`. A missing driver or library panics inside cubecl (adapter
/// discovery, loading libcuda or NVRTC): that becomes the error's text.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
fn probe(device: &Device) -> Result<(), String> {
    let probe = std::panic::catch_unwind(|| {
        let t = Tensor::<1>::from_data(TensorData::new(vec![1.0f32, 2.0], [2]), device);
        t.sum().into_scalar::<f32>()
    });
    match probe {
        Ok(v) if (v - 3.0).abs() < 1e-6 => Ok(()),
        Ok(v) => Err(format!("probe computed {v}, expected 3")),
        Err(p) => Err(p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "device request failed".into())),
    }
}

/// Shape of a [`Net`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetConfig {
    /// Input features.
    pub inputs: usize,
    /// Classes.
    pub classes: usize,
    /// Hidden layer widths; empty for logistic regression.
    pub hidden: Vec<usize>,
    /// Hidden nonlinearity.
    pub activation: Activation,
    /// Dropout probability after each hidden layer.
    pub dropout: f64,
}

impl NetConfig {
    /// Output units: one logit for two-class logistic regression (sigmoid), else one per class.
    pub fn outputs(&self) -> usize {
        if self.hidden.is_empty() && self.classes == 2 {
            1
        } else {
            self.classes
        }
    }

    /// Builds a freshly initialised network on `device`.
    pub fn init(&self, device: &Device) -> Net {
        let mut widths = vec![self.inputs];
        widths.extend(&self.hidden);
        let hidden = widths
            .windows(2)
            .map(|w| LinearConfig::new(w[0], w[1]).init(device))
            .collect();
        Net {
            hidden,
            out: LinearConfig::new(*widths.last().unwrap_or(&self.inputs), self.outputs())
                .init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            leaky: self.activation == Activation::LeakyRelu,
        }
    }
}

/// A fully connected classifier; with no hidden layer, logistic regression.
#[derive(Module, Debug)]
pub struct Net {
    hidden: Vec<Linear>,
    out: Linear,
    dropout: Dropout,
    #[module(skip)]
    leaky: bool,
}

impl Net {
    /// Logits, `[batch, outputs]`, from standardised features `[batch, inputs]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let mut h = x;
        for layer in &self.hidden {
            h = layer.forward(h);
            h = if self.leaky {
                leaky_relu(h, 0.01)
            } else {
                relu(h)
            };
            h = self.dropout.forward(h);
        }
        self.out.forward(h)
    }

    /// Weighted mean negative log-likelihood of integer labels; see [`nll_loss`].
    pub fn loss(&self, logits: Tensor<2>, labels: &[usize], weights: &[f32]) -> Tensor<1> {
        nll_loss(logits, labels, weights)
    }

    /// Class probabilities `[batch, classes]`.
    pub fn probabilities(&self, x: Tensor<2>) -> Tensor<2> {
        probabilities(self.forward(x))
    }
}

/// Weighted mean negative log-likelihood of integer labels (`weights` sum to the batch size for
/// an unweighted mean): binary cross-entropy on a single logit (two-class logistic regression),
/// softmax cross-entropy otherwise.
pub fn nll_loss(logits: Tensor<2>, labels: &[usize], weights: &[f32]) -> Tensor<1> {
    let device = logits.device();
    let [n, k] = logits.dims();
    let total: f32 = weights.iter().sum();
    let w = Tensor::<2>::from_data(TensorData::new(weights.to_vec(), [n, 1]), &device);
    if k == 1 {
        let y = Tensor::<2>::from_data(
            TensorData::new(labels.iter().map(|&l| l as f32).collect::<Vec<_>>(), [n, 1]),
            &device,
        );
        weighted_binary_nll(logits, y, w).div_scalar(total)
    } else {
        let y = Tensor::<2, Int>::from_data(
            TensorData::new(labels.iter().map(|&l| l as i64).collect::<Vec<_>>(), [n, 1]),
            &device,
        );
        log_softmax(logits, 1)
            .gather(1, y)
            .mul(w)
            .sum()
            .neg()
            .div_scalar(total)
    }
}

/// Class probabilities `[batch, classes]` from logits: sigmoid of a single logit, softmax of
/// several.
pub fn probabilities(logits: Tensor<2>) -> Tensor<2> {
    if logits.dims()[1] == 1 {
        let p1 = sigmoid(logits);
        Tensor::cat(vec![p1.clone().neg().add_scalar(1.0), p1], 1)
    } else {
        softmax(logits, 1)
    }
}

/// Summed Bernoulli negative log-likelihood of logits `z` for labels `y` in {0, 1}:
/// -sum[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))], written with log-sigmoid so large |z|
/// neither overflows nor loses precision.
pub fn binary_nll(z: Tensor<2>, y: Tensor<2>) -> Tensor<1> {
    let ones = y.ones_like();
    weighted_binary_nll(z, y, ones)
}

/// [`binary_nll`] with a weight per sample.
pub fn weighted_binary_nll(z: Tensor<2>, y: Tensor<2>, w: Tensor<2>) -> Tensor<1> {
    // log(1 - sigmoid(z)) = log sigmoid(-z).
    let pos = log_sigmoid(z.clone()).mul(y.clone());
    let neg = log_sigmoid(z.neg()).mul(y.neg().add_scalar(1.0));
    pos.add(neg).mul(w).sum().neg()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed's closed form: d NLL / d w_d = sum_i x_id (sigmoid(x_i . w) - y_i). Burn's
    /// autodiff gradient of the same NLL must match it.
    #[test]
    fn autodiff_gradient_matches_closed_form() {
        let device = Device::flex().autodiff();
        let (n, d) = (7usize, 3usize);
        let xs: Vec<f32> = (0..n * d)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) / 4.0)
            .collect();
        let ys: Vec<f32> = (0..n).map(|i| (i % 3 == 0) as u8 as f32).collect();
        let w0 = [0.3f32, -0.7, 0.2];
        let x = Tensor::<2>::from_data(TensorData::new(xs.clone(), [n, d]), &device);
        let y = Tensor::<2>::from_data(TensorData::new(ys.clone(), [n, 1]), &device);
        let w =
            Tensor::<2>::from_data(TensorData::new(w0.to_vec(), [d, 1]), &device).require_grad();
        let nll = binary_nll(x.matmul(w.clone()), y);
        let grads = nll.backward();
        let g: Vec<f32> = w.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
        for k in 0..d {
            let closed: f32 = (0..n)
                .map(|i| {
                    let z: f32 = (0..d).map(|j| xs[i * d + j] * w0[j]).sum();
                    xs[i * d + k] * (1.0 / (1.0 + (-z).exp()) - ys[i])
                })
                .sum();
            assert!(
                (g[k] - closed).abs() < 1e-4,
                "dim {k}: autodiff {} vs closed form {closed}",
                g[k]
            );
        }
    }

    #[test]
    fn two_class_logistic_has_one_output_and_valid_probabilities() {
        let device = Device::flex();
        let cfg = NetConfig {
            inputs: 4,
            classes: 2,
            hidden: vec![],
            activation: Activation::Relu,
            dropout: 0.0,
        };
        assert_eq!(cfg.outputs(), 1);
        let net = cfg.init(&device);
        let x = Tensor::<2>::from_data(TensorData::new(vec![0.5f32; 12], [3, 4]), &device);
        let p: Vec<f32> = net.probabilities(x).into_data().try_to_vec().unwrap();
        assert_eq!(p.len(), 6);
        for r in p.chunks(2) {
            assert!((r[0] + r[1] - 1.0).abs() < 1e-6);
        }
        let multi = NetConfig { classes: 5, ..cfg };
        assert_eq!(multi.outputs(), 5);
    }
}
