//! CNN training and inference throughput on flex or a GPU for a few batch shapes and widths:
//! EPOCHS training epochs of SHAPES random shapes per run (after a warm-up run), median of 3;
//! then inference (the network's forward in evaluation mode, as `predict` runs it) over the
//! same shapes in batches of the same size, median of 5. Each run is a whole `train_cnn`: on a
//! GPU it stages the views in device memory and reads the epoch's numbers back once, as
//! training does. `SHAPECLF_CNN_KERNELS=burn` runs Burn's generic operations on flex instead of
//! shapeclf's kernels. `scripts/cnn_bench.sh` (CPU) and `scripts/gpu_bench.sh` (GPU) run this
//! beside PyTorch; with `CNN_SPEED_COUNT=1` it counts a GPU training step's kernel launches
//! instead (`scripts/gpu_launches.sh`). Usage:
//! `cargo run --release [--features cuda|wgpu] --example cnn_speed -- [BATCH] [VIEWS] [RES] [C1,C2,C3] [cpu|gpu] [SHAPES] [IN_CHANNELS] [EPOCHS]`
//! (defaults 16 12 32 32,64,128 cpu 64 1 1: the peer's network, which PyTorch runs in the
//! comparisons; 16,32,64 is shapeclf's default); `SHAPECLF_GPU=cuda|wgpu` pins the GPU runtime
//! when both are built in.
use std::time::Instant;

use shapeclf::models::{CnnConfig, Input, ModelKind, Network};
use shapeclf::train::TrainConfig;

fn main() {
    shapeclf::models::kernels::keep_freed_memory();
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (batch, v, r) = (arg(1, 16), arg(2, 12), arg(3, 32));
    let channels: Vec<usize> = args
        .get(4)
        .map(|s| s.split(',').filter_map(|c| c.parse().ok()).collect())
        .unwrap_or_else(|| shapeclf::models::PEER_CHANNELS.to_vec());
    let (n, k) = (arg(6, 64), 10usize);
    let in_channels = arg(7, 1).max(1);
    let epochs = arg(8, 1).max(1);
    // IN_CHANNELS channels per view: the views' planes side by side, as the feature folder
    // keeps them.
    let mut set = shapeclf::fixtures::noise_views(n, v * in_channels, r, k, 2);
    set.views = v;
    set.channels = in_channels;
    let mut cfg = TrainConfig::defaults(ModelKind::Cnn);
    cfg.epochs = epochs;
    cfg.val_fraction = 0.0;
    cfg.batch_size = batch;
    let net = CnnConfig {
        channels: channels.clone(),
        in_channels,
        ..CnnConfig::new(v, r, k)
    };
    let backend = match args.get(5).map(String::as_str) {
        Some("gpu") => shapeclf::models::BackendKind::Gpu,
        _ => shapeclf::models::BackendKind::Cpu,
    };
    let device = match backend.device() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let network = Network::Cnn(net.clone());
    if std::env::var_os("CNN_SPEED_COUNT").is_some() {
        let views = |n: usize| {
            let mut s = shapeclf::fixtures::noise_views(n, v * in_channels, r, k, 2);
            s.views = v;
            s.channels = in_channels;
            s
        };
        count_launches(&cfg, &network, &views, &device, n);
        return;
    }
    let mut times = Vec::new();
    for i in 0..4 {
        let t = Instant::now();
        shapeclf::train::train(&cfg, &network, Input::Views(&set), &[], &device, ())
            .expect("views");
        if i > 0 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    let train = (n * epochs) as f64 / times[1];
    // Inference: a fresh network (evaluation mode: batch norm with running statistics) on the
    // device without autodiff, the views uploaded once.
    let infer_device = device.clone().inner();
    let model = net.init(&infer_device);
    let res2 = r * r;
    let batches: Vec<burn::tensor::Tensor<4>> = (0..n)
        .step_by(batch)
        .map(|s| {
            let e = (s + batch).min(n);
            let planes = v * in_channels;
            let px: Vec<f32> = set.pixels[s * planes * res2..e * planes * res2]
                .iter()
                .map(|p| *p as f32 / 255.0)
                .collect();
            burn::tensor::Tensor::<4>::from_data(
                burn::tensor::TensorData::new(px, [e - s, planes, r, r]),
                &infer_device,
            )
        })
        .collect();
    let mut infer: Vec<f64> = (0..6)
        .map(|_| {
            let t = Instant::now();
            for b in &batches {
                let _ = model.forward(b.clone()).into_data();
            }
            t.elapsed().as_secs_f64()
        })
        .skip(1)
        .collect();
    infer.sort_by(f64::total_cmp);
    let infer = n as f64 / infer[2];
    println!(
        "{} batch {batch} views {v}x{in_channels} res {r} channels {channels:?}, {n} shapes: train {:.3} s/epoch = {train:.1} shapes/s; inference {infer:.1} shapes/s",
        backend.describe(),
        times[1] / epochs as f64,
    );
}

/// `CNN_SPEED_COUNT=1`: instead of timing, counts the kernels a GPU training step launches, by
/// CubeCL's launch observer (nothing waits, so fusion groups what it always does). One epoch
/// of `n` shapes and one of `2n` are counted after a warm-up run; their difference over the
/// extra steps is one step's launches, what a run and an epoch launch once cancelling out.
/// Use an `n` that the batch divides, so that both runs have only whole batches.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn count_launches(
    cfg: &TrainConfig,
    network: &Network,
    views: &dyn Fn(usize) -> shapeclf::train::ViewSet,
    device: &burn::tensor::Device,
    n: usize,
) {
    use burn::cubecl::logging::{LaunchObservation, LaunchObserver};
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    #[derive(Default)]
    struct Count(Mutex<BTreeMap<&'static str, usize>>);
    impl LaunchObserver for Count {
        fn launched(&self, kernel: &'static str) {
            if let Ok(mut m) = self.0.lock() {
                *m.entry(kernel).or_default() += 1;
            }
        }
    }
    let mut cfg = cfg.clone();
    cfg.epochs = 1;
    let (single, double) = (views(n), views(2 * n));
    let run = |views: &shapeclf::train::ViewSet| {
        shapeclf::train::train(&cfg, network, Input::Views(views), &[], device, ()).expect("views");
    };
    run(&double); // warm-up: tuning and compiling
    let mut counted = Vec::new();
    for set in [&single, &double] {
        let count = Arc::new(Count::default());
        let watching = LaunchObservation::new(count.clone());
        run(set);
        device.sync().expect("the device finishes its work");
        drop(watching);
        counted.push(count.0.lock().map(|m| m.clone()).unwrap_or_default());
    }
    let steps = n.div_ceil(cfg.batch_size) as f64;
    let total = |m: &BTreeMap<&str, usize>| m.values().sum::<usize>() as f64;
    println!(
        "{}: kernel launches per training step: {:.1} (batch {}, {} then {} shapes, one epoch each)",
        shapeclf::models::BackendKind::Gpu.describe(),
        (total(&counted[1]) - total(&counted[0])) / steps,
        cfg.batch_size,
        n,
        2 * n
    );
    let short = |k: &str| {
        burn::cubecl::config::type_name_format(k, burn::cubecl::config::TypeNameFormatLevel::Short)
    };
    let mut kinds: BTreeMap<String, f64> = BTreeMap::new();
    for (k, c) in &counted[1] {
        *kinds.entry(short(k)).or_default() += *c as f64 / steps;
    }
    for (k, c) in &counted[0] {
        *kinds.entry(short(k)).or_default() -= *c as f64 / steps;
    }
    let mut kinds: Vec<(String, f64)> = kinds.into_iter().filter(|(_, c)| *c > 0.0).collect();
    kinds.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (k, c) in kinds {
        println!("{c:7.1}  {k}");
    }
}

#[cfg(not(any(feature = "wgpu", feature = "cuda")))]
fn count_launches(
    _: &TrainConfig,
    _: &Network,
    _: &dyn Fn(usize) -> shapeclf::train::ViewSet,
    _: &burn::tensor::Device,
    _: usize,
) {
    eprintln!(
        "CNN_SPEED_COUNT counts GPU kernel launches: build with --features wgpu, vulkan or cuda"
    );
    std::process::exit(2);
}
