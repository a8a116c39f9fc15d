//! Training throughput on burn-flex: one epoch of the default MLP (256, 128 hidden, batch 64) and
//! of logistic regression over 1024 rows of 243 descriptor columns (the default table width).
//! Samples per second = 1024 / reported time. And one epoch of the default multi-view CNN over 64
//! shapes of 12 views at 32x32 (batch 16, the peer's architecture): shapes/s = 64 / time; on the
//! GPU too (`mvcnn_12x32_gpu`) when built with `--features cuda` or `--features wgpu`. Then the
//! CNN's inference over the same shapes (`infer_cnn`). `scripts/cnn_bench.sh` puts the same
//! figures beside PyTorch's.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use burn::tensor::Device;
use shapeclf::models::{DataShape, Input, ModelKind, Network};
use shapeclf::train::{self, TrainConfig};

fn throughput(c: &mut Criterion) {
    let data = train::prepare(&shapeclf::fixtures::noise_table(1024, 243, 20, 1), None).unwrap();
    let device = Device::flex();
    let mut g = c.benchmark_group("train_epoch_flex");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1024));
    for model in [ModelKind::Mlp, ModelKind::Logistic] {
        let mut cfg = TrainConfig::defaults(model);
        cfg.epochs = 1;
        cfg.val_fraction = 0.0;
        cfg.batch_size = 64;
        let shape = DataShape {
            columns: 243,
            classes: data.classes.len(),
            views: None,
        };
        let net = cfg.model.network(&shape).expect("a descriptor model");
        let rows = Input::Rows(&data.train);
        g.bench_function(model.name(), |b| {
            b.iter(|| train::train(&cfg, &net, rows, &data.columns, &device, ()).expect("rows"))
        });
    }
    g.finish();
}

fn gpu() -> Result<Device, shapeclf::models::DeviceError> {
    shapeclf::models::BackendKind::Gpu.device()
}

fn cnn_throughput(c: &mut Criterion) {
    use shapeclf::models::CnnConfig;
    let (n, v, r, k) = (64usize, 12usize, 32usize, 10usize);
    let set = shapeclf::fixtures::noise_views(n, v, r, k, 2);
    let mut cfg = TrainConfig::defaults(ModelKind::Cnn);
    cfg.epochs = 1;
    cfg.val_fraction = 0.0;
    let net = Network::Cnn(CnnConfig::new(v, r, k));
    shapeclf::models::kernels::keep_freed_memory();
    let mut g = c.benchmark_group("train_epoch_cnn");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    let devices = [("flex", Ok(Device::flex())), ("gpu", gpu())];
    let devices = devices
        .into_iter()
        .filter_map(|(name, d)| d.ok().map(|d| (name, d)));
    for (name, device) in devices {
        g.bench_function(format!("mvcnn_12x32_{name}"), |b| {
            b.iter(|| {
                shapeclf::train::train(&cfg, &net, Input::Views(&set), &[], &device, ())
                    .expect("views")
            })
        });
    }
    g.finish();
}

/// Inference (`predict`'s forward: evaluation mode, no autodiff) of the default CNN over 64
/// random shapes in batches of 16, in shapes per second.
fn cnn_inference(c: &mut Criterion) {
    use burn::tensor::{Tensor, TensorData};
    use shapeclf::models::CnnConfig;
    shapeclf::models::kernels::keep_freed_memory();
    let (n, v, r, k, batch) = (64usize, 12usize, 32usize, 10usize, 16usize);
    let set = shapeclf::fixtures::noise_views(n, v, r, k, 2);
    let mut g = c.benchmark_group("infer_cnn");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    let devices = [("flex", Ok(Device::flex())), ("gpu", gpu())];
    for (name, device) in devices
        .into_iter()
        .filter_map(|(name, d)| d.ok().map(|d| (name, d)))
    {
        let net = CnnConfig::new(v, r, k).init(&device);
        let batches: Vec<Tensor<4>> = set
            .pixels
            .chunks(batch * v * r * r)
            .map(|px| {
                let x: Vec<f32> = px.iter().map(|p| *p as f32 / 255.0).collect();
                let b = px.len() / (v * r * r);
                Tensor::from_data(TensorData::new(x, [b, v, r, r]), &device)
            })
            .collect();
        g.bench_function(format!("mvcnn_12x32_{name}"), |b| {
            b.iter(|| {
                for x in &batches {
                    let _ = net.forward(x.clone()).into_data();
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, throughput, cnn_throughput, cnn_inference);
criterion_main!(benches);
