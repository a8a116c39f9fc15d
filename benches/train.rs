//! Training throughput on burn-flex: one epoch of the default MLP (256, 128 hidden, batch 64) and
//! of logistic regression over 1024 rows of 243 descriptor columns (the default table width).
//! Samples per second = 1024 / reported time.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use burn::tensor::Device;
use shapeclf::dataset::Split;
use shapeclf::features::{FeatureTable, Row};
use shapeclf::models::ModelKind;
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
        g.bench_function(model.name(), |b| {
            b.iter(|| train::train(&cfg, &data, &device, |_| {}))
        });
    }
    g.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
