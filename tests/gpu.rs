//! The wgpu path: training and prediction on a GPU device give the same kind of model as on the
//! CPU. Built only with `--features wgpu`; CI runs it on Mesa's software Vulkan (lavapipe).
#![cfg(feature = "wgpu")]

use burn::tensor::Device;
use shapeclf::dataset::Split;
use shapeclf::features::{FeatureTable, Row};
use shapeclf::models::{BackendKind, ModelKind};
use shapeclf::train::{self, TrainConfig};

fn table() -> FeatureTable {
    use rand::Rng;
    let mut rng = shapeclf::descriptors::rng_for(9, 1);
    let mut rows = Vec::new();
    for c in 0..3 {
        for i in 0..40 {
            let mut v: Vec<f32> = (0..6).map(|_| rng.random::<f32>()).collect();
            v[c] += 2.0;
            rows.push(Row {
                path: format!("c{c}/{i}"),
                class: format!("c{c}"),
                split: if i % 4 == 0 {
                    Split::Test
                } else {
                    Split::Train
                },
                values: v,
            });
        }
    }
    FeatureTable {
        columns: (0..6).map(|i| format!("f{i}")).collect(),
        rows,
    }
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
        let t = train::train(&cfg, &data, &device, |_| {});
        let mut x = data.test.x.clone();
        t.standardizer.apply(&mut x);
        let p = train::predict_proba(&t.net, &x, 6, &device);
        let pred = train::argmax_rows(&p, 3);
        let acc = pred
            .iter()
            .zip(&data.test.y)
            .filter(|(a, b)| a == b)
            .count() as f64
            / pred.len() as f64;
        assert!(acc > 0.9, "{model:?} on wgpu: test accuracy {acc}");
        // The same data on the CPU reaches the same quality: the GPU path is not a different model.
        let cpu = train::train(
            &TrainConfig {
                backend: BackendKind::Cpu,
                ..cfg
            },
            &data,
            &Device::flex(),
            |_| {},
        );
        assert!(
            (cpu.history.last().unwrap().train_accuracy - t.history.last().unwrap().train_accuracy)
                .abs()
                < 0.1
        );
    }
}
