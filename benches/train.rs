//! Training throughput on burn-flex: one epoch of the default MLP (256, 128 hidden, batch 64) and
//! of logistic regression over 1024 rows of 243 descriptor columns (the default table width).
//! Samples per second = 1024 / reported time. And one epoch of the default multi-view CNN over 64
//! shapes of 12 views at 32x32 (batch 16, the peer's architecture): shapes/s = 64 / time; on the
//! GPU too (`mvcnn_12x32_gpu`) when built with `--features cuda` or `--features wgpu`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use burn::tensor::Device;
use shapeclf::dataset::Split;
use shapeclf::features::{FeatureTable, Row};
use shapeclf::models::{ModelKind, NetConfig};
use shapeclf::train::{self, TrainConfig};

fn table(n: usize, d: usize, k: usize) -> FeatureTable {
    use rand::Rng;
    let mut rng = shapeclf::descriptors::rng_for(1, 1);
    FeatureTable {
        columns: (0..d).map(|i| format!("f{i}")).collect(),
        rows: (0..n + k)
            .map(|i| Row {
                path: i.to_string(),
                class: format!("c{}", i % k),
                // One test row per class; the rest train.
                split: if i >= n { Split::Test } else { Split::Train },
                values: (0..d).map(|_| rng.random::<f32>()).collect(),
            })
            .collect(),
    }
}

fn throughput(c: &mut Criterion) {
    let data = train::prepare(&table(1024, 243, 20), None).unwrap();
    let device = Device::flex();
    let mut g = c.benchmark_group("train_epoch_flex");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1024));
    for model in [ModelKind::Mlp, ModelKind::Logistic] {
        let mut cfg = TrainConfig::defaults(model);
        cfg.epochs = 1;
        cfg.val_fraction = 0.0;
        cfg.batch_size = 64;
        let net = NetConfig::for_spec(&cfg.model, 243, data.classes.len()).expect("dense");
        g.bench_function(model.name(), |b| {
            b.iter(|| train::train_descriptors(&cfg, &net, &data, &device, |_| {}))
        });
    }
    g.finish();
}

fn gpu() -> Result<Device, shapeclf::models::DeviceError> {
    shapeclf::models::BackendKind::Gpu.device()
}

fn cnn_throughput(c: &mut Criterion) {
    use rand::Rng;
    use shapeclf::models::CnnConfig;
    use shapeclf::train::ViewSet;
    let (n, v, r, k) = (64usize, 12usize, 32usize, 10usize);
    let mut rng = shapeclf::descriptors::rng_for(2, 1);
    let set = ViewSet {
        pixels: (0..n * v * r * r).map(|_| rng.random::<u8>()).collect(),
        y: (0..n).map(|i| i % k).collect(),
        paths: (0..n).map(|i| i.to_string()).collect(),
        views: v,
        resolution: r,
        ..Default::default()
    };
    let mut cfg = TrainConfig::defaults(ModelKind::Cnn);
    cfg.epochs = 1;
    cfg.val_fraction = 0.0;
    let net = CnnConfig::new(v, r, k);
    let mut g = c.benchmark_group("train_epoch_cnn");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    let devices = [("flex", Ok(Device::flex())), ("gpu", gpu())];
    let devices = devices
        .into_iter()
        .filter_map(|(name, d)| d.ok().map(|d| (name, d)));
    for (name, device) in devices {
        g.bench_function(format!("mvcnn_12x32_{name}"), |b| {
            b.iter(|| shapeclf::train::train_cnn(&cfg, &net, &set, &device, |_| {}))
        });
    }
    g.finish();
}

criterion_group!(benches, throughput, cnn_throughput);
criterion_main!(benches);
