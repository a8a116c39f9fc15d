//! The GPU path: training and prediction on a GPU device give the same kind of model as on the
//! CPU. Built only with `--features wgpu` or `--features cuda`; CI runs it on Mesa's software
//! Vulkan (lavapipe). Which runtime runs is `BackendKind::Gpu.describe()` (`SHAPECLF_GPU` pins it).
#![cfg(any(feature = "wgpu", feature = "cuda"))]

use burn::tensor::Device;
use shapeclf::features::FeatureTable;
use shapeclf::models::{BackendKind, ModelKind, NetConfig};
use shapeclf::train::{self, TrainConfig};

fn table() -> FeatureTable {
    shapeclf::fixtures::blobs(40, 3, 6, 1.0, 9)
}

#[test]
fn mlp_and_logistic_train_on_the_gpu_backend() {
    let device = match BackendKind::Gpu.device() {
        Ok(d) => d,
        Err(e) => panic!("GPU backend unavailable: {e}"),
    };
    let data = train::prepare(&table(), None).unwrap();
    for model in [ModelKind::Logistic, ModelKind::Mlp] {
        let mut cfg = TrainConfig::defaults(model);
        cfg.backend = BackendKind::Gpu;
        cfg.epochs = 40;
        let net = NetConfig::for_spec(&cfg.model, 6, 3).expect("dense model");
        let t = train::train_descriptors(&cfg, &net, &data, &device, |_| {});
        let p = t.predict_proba(&data.test, &device);
        let pred = train::argmax_rows(&p, 3);
        let acc = pred
            .iter()
            .zip(&data.test.y)
            .filter(|(a, b)| a == b)
            .count() as f64
            / pred.len() as f64;
        assert!(
            acc > 0.9,
            "{model:?} on {}: test accuracy {acc}",
            BackendKind::Gpu.describe()
        );
        // The same data on the CPU reaches the same quality: the GPU path is not a different model.
        let cpu = train::train_descriptors(
            &TrainConfig {
                backend: BackendKind::Cpu,
                ..cfg
            },
            &net,
            &data,
            &Device::flex(),
            |_| {},
        );
        let last = |f: &train::Fit<_>| f.history.last().unwrap().train_accuracy;
        assert!((last(&cpu.fit) - last(&t.fit)).abs() < 0.1);
    }
}

/// Trains the small CNN on `device` and returns its training accuracy and first and last loss.
fn train_halves(backend: BackendKind, device: &Device) -> (f64, f64, f64) {
    use shapeclf::models::CnnConfig;
    let set = shapeclf::fixtures::halves(96);
    let mut cfg = TrainConfig::defaults(ModelKind::Cnn);
    cfg.backend = backend;
    cfg.epochs = 12;
    cfg.lr = 3e-3;
    cfg.val_fraction = 0.0;
    if let shapeclf::train::ModelSpec::Cnn(spec) = &mut cfg.model {
        spec.jitter = 0;
        // A mirror image swaps left and right, the very thing that tells these classes apart.
        spec.flip = false;
    }
    let net = CnnConfig {
        channels: vec![4, 8],
        features: 16,
        dropout: 0.0,
        ..CnnConfig::new(2, 16, 2)
    };
    let t = shapeclf::train::train_cnn(&cfg, &net, &set, device, |_| {});
    let p = shapeclf::train::predict_proba(&t.net, &set, device);
    assert_eq!(p.len(), 2 * set.len());
    let pred = train::argmax_rows(&p, 2);
    let acc = pred.iter().zip(&set.y).filter(|(a, b)| a == b).count() as f64 / set.len() as f64;
    (acc, t.history[0].loss, t.history.last().unwrap().loss)
}

/// The multi-view CNN on the GPU: forward, backward, batch norm and view pooling all run on the
/// device and learn what the same network learns on the CPU.
#[test]
fn cnn_trains_on_the_gpu_backend() {
    let device = BackendKind::Gpu.device().expect("GPU backend");
    let cpu = train_halves(BackendKind::Cpu, &Device::flex());
    assert!(cpu.0 > 0.9, "CNN on flex: {cpu:?}");
    let gpu = train_halves(BackendKind::Gpu, &device);
    assert!(
        gpu.0 > 0.9 && gpu.2 < gpu.1,
        "CNN on {}: {gpu:?} (flex: {cpu:?})",
        BackendKind::Gpu.describe()
    );
}

/// The description names the runtime that was probed and kept, the one training ran on.
#[test]
fn gpu_description_names_the_runtime_in_use() {
    BackendKind::Gpu.device().expect("GPU backend");
    let d = BackendKind::Gpu.describe();
    eprintln!("GPU backend: {d}");
    assert!(
        d.starts_with("gpu (burn-cuda") || d.starts_with("gpu (burn-wgpu"),
        "{d}"
    );
    if let Ok(pinned) = std::env::var(shapeclf::models::GPU_RUNTIME_VAR) {
        let pinned = pinned.trim().to_ascii_lowercase();
        if pinned == "cuda" || pinned == "wgpu" {
            assert!(d.starts_with(&format!("gpu (burn-{pinned}")), "{d}");
        }
    }
}
