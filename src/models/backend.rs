//! Where training runs: burn-flex on the CPU, or a GPU through burn-cuda or burn-wgpu, chosen
//! and probed once per process.

use burn::tensor::Device;
#[cfg(any(feature = "cuda", feature = "wgpu"))]
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

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
                let threads = match rayon::current_num_threads() {
                    1 => "1 thread".to_string(),
                    n => format!("{n} threads"),
                };
                // Another rounding of the same network: a resume across the switch is warned of.
                let ops = if super::kernels::generic_ops() {
                    ", Burn's generic CNN operations"
                } else {
                    ""
                };
                format!("cpu (burn-flex, {threads}{ops})")
            }
            BackendKind::Gpu => match gpu() {
                // As on the CPU: the switch gives another rounding of the same network.
                Ok(g) if super::kernels::generic_ops() => g
                    .describe
                    .strip_suffix(')')
                    .map(|d| format!("{d}, Burn's generic CNN operations)"))
                    .unwrap_or_else(|| g.describe.clone()),
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
            // The library prints nothing: the fallback is said in the description reports carry.
            Ok(g) => Ok(Gpu {
                describe: format!("{}; CUDA did not answer: {cuda}", g.describe),
                ..g
            }),
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
    configure_kernel_cache();
    let device = Device::cuda(burn::tensor::DeviceIndex::Default);
    probe(&device)?;
    Ok(Gpu {
        describe: described("burn-cuda", &device),
        device,
    })
}

/// Environment variable naming the folder where the GPU runtime keeps what it learns once per
/// machine: the kernels autotuning chose for each operation and shape, and compiled kernels.
/// Default: `$XDG_CACHE_HOME/shapeclf`, else `~/.cache/shapeclf`.
pub const CACHE_DIR_VAR: &str = "SHAPECLF_CACHE_DIR";

/// Where the GPU runtime's persistent cache goes (see [`CACHE_DIR_VAR`]): CubeCL's own
/// default is the `target/` folder of the outermost Cargo project above the working directory,
/// which for a tool run inside someone's project would write into that project.
pub fn kernel_cache_dir() -> std::path::PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(d) = env(CACHE_DIR_VAR) {
        return d.into();
    }
    let base = env("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| env("HOME").map(|h| std::path::Path::new(&h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("shapeclf")
}

/// Points CubeCL's persistent cache (autotune results, compiled kernels) at
/// [`kernel_cache_dir`], before any device starts; a `cubecl.toml` that names a location of its
/// own keeps it. Autotuning then runs once per machine and input shape, not once per process.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
fn configure_kernel_cache() {
    use burn::cubecl::config::cache::CacheConfig;
    use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};
    let mut c = CubeClRuntimeConfig::from_current_dir().override_from_env();
    if matches!(c.environment.path, CacheConfig::Target) {
        c.environment.path = CacheConfig::Directory(kernel_cache_dir().join("cubecl"));
    }
    // Fails only where something read the settings first; they then stay as they are.
    let _ = CubeClRuntimeConfig::try_set(c);
}

#[cfg(feature = "wgpu")]
fn wgpu_gpu() -> Result<Gpu, String> {
    configure_kernel_cache();
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
