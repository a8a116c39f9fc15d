//! The GPU path: training and prediction on a GPU device give the same kind of model as on the
//! CPU. Built only with `--features wgpu` or `--features cuda`; CI runs it on Mesa's software
//! Vulkan (lavapipe). Which runtime runs is `BackendKind::Gpu.describe()` (`SHAPECLF_GPU` pins it).
#![cfg(any(feature = "wgpu", feature = "cuda"))]

use burn::tensor::Device;
use shapeclf::features::FeatureTable;
use shapeclf::models::{BackendKind, DataShape, Input, ModelKind, Network};
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
        // One fit, not a cross-validated grid of them: each fold's sizes are new shapes for
        // the GPU's kernel autotuning, minutes on a software GPU.
        cfg.tune_weight_decay = false;
        let shape = DataShape {
            columns: 6,
            classes: 3,
            views: None,
        };
        let net = cfg.model.network(&shape).expect("a descriptor model");
        let rows = Input::Rows(&data.train);
        let t = train::train(&cfg, &net, rows, &data.columns, &device, ()).unwrap();
        let p = t.predict_proba(Input::Rows(&data.test), &device).unwrap();
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
        let cpu = train::train(
            &TrainConfig {
                backend: BackendKind::Cpu,
                ..cfg
            },
            &net,
            rows,
            &data.columns,
            &Device::flex(),
            (),
        )
        .unwrap();
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
    if let shapeclf::models::ModelSpec::Cnn(spec) = &mut cfg.model {
        spec.jitter = 0;
        // A mirror image swaps left and right, the very thing that tells these classes apart.
        spec.flip = false;
    }
    let net = Network::Cnn(CnnConfig {
        channels: vec![4, 8],
        features: 16,
        dropout: 0.0,
        ..CnnConfig::new(2, 16, 2)
    });
    let t = train::train(&cfg, &net, Input::Views(&set), &[], device, ()).unwrap();
    let p = t.predict_proba(Input::Views(&set), device).unwrap();
    assert_eq!(p.len(), 2 * set.len());
    let pred = train::argmax_rows(&p, 2);
    let acc = pred.iter().zip(&set.y).filter(|(a, b)| a == b).count() as f64 / set.len() as f64;
    let h = &t.fit.history;
    (acc, h[0].loss, h.last().unwrap().loss)
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

/// The same network, initialised alike, trained on the same batches with the same augmentation
/// on flex and on the GPU backend: every epoch's training loss, validation loss and accuracies
/// agree. Guards against wrong results from Burn's fusion and autotuning on a GPU runtime
/// (burn#5257), and checks the GPU path's staged views, gathered and augmented on the device,
/// against the batches the host assembles.
#[test]
fn cpu_and_gpu_training_agree_on_a_fixture() {
    use burn::module::Module;
    use shapeclf::models::CnnConfig;
    use shapeclf::observe::EpochStats;
    use shapeclf::train::{AugmentSpec, Batcher};
    let gpu = BackendKind::Gpu.device().expect("GPU backend");
    let set = shapeclf::fixtures::squares_and_crosses(80, 2, 21);
    let mut cfg = TrainConfig::defaults(ModelKind::Cnn);
    cfg.epochs = 4;
    cfg.lr = 2e-3;
    cfg.val_fraction = 0.25;
    let net = Network::Cnn(CnnConfig {
        channels: vec![4, 8],
        features: 16,
        dropout: 0.0,
        ..CnnConfig::new(2, 16, 2)
    });
    let run = |device: &Device| -> Vec<EpochStats> {
        let (tr_idx, va_idx) = set.split_by_mesh(cfg.val_fraction, cfg.seed);
        let (mut tr, mut va) = (set.subset(&tr_idx), set.subset(&va_idx));
        tr.augment = AugmentSpec {
            flip: true,
            jitter: 2,
            // One of the two views per step: the device's gather of kept views is checked too.
            views: 1,
        };
        // Staged on the GPU (nothing to stage on the CPU): batches come from device memory.
        assert_eq!(tr.stage(device), device.clone().inner() != Device::flex());
        va.stage(device);
        let (tr, va) = (Input::Views(tr), Input::Views(va));
        let mut history = Vec::new();
        // Both start from the same weights, drawn on the CPU (the backends' random streams
        // differ). Parameters are initialised lazily, on the device they are first used on:
        // the clone held across the fork makes them initialise on the CPU and be copied.
        let t = train::fit(
            &cfg,
            2,
            |dev| {
                let cpu = Device::flex();
                cpu.seed(7);
                let n = net.init(&cpu);
                let shared = n.clone();
                let forked = n.fork(dev).train();
                drop(shared);
                forked
            },
            &tr,
            &va,
            device,
            |s: &shapeclf::observe::EpochStats| history.push(s.clone()),
        );
        assert!(t.diverged.is_none());
        history
    };
    let cpu = run(&Device::flex());
    let on_gpu = run(&gpu);
    let close = |a: f64, b: f64, tol: f64| (a - b).abs() <= tol * a.abs().max(b.abs()).max(1e-3);
    for (c, g) in cpu.iter().zip(&on_gpu) {
        assert!(
            close(c.loss, g.loss, 1e-3) && close(c.val_loss.unwrap(), g.val_loss.unwrap(), 1e-3),
            "epoch {}: CPU {c:?}, GPU {g:?} on {}",
            c.epoch,
            BackendKind::Gpu.describe()
        );
        // At most one shape changes side on a rounding difference.
        assert!(
            (c.train_accuracy - g.train_accuracy).abs() <= 1.0 / 60.0,
            "{c:?} vs {g:?}"
        );
        assert!(
            (c.val_accuracy.unwrap() - g.val_accuracy.unwrap()).abs() <= 1.0 / 20.0,
            "{c:?} vs {g:?}"
        );
    }
    assert_eq!(cpu.len(), on_gpu.len());
    // It learned: the check above is not two flat lines.
    assert!(cpu.last().unwrap().loss < 0.9 * cpu[0].loss, "{cpu:?}");
}

/// The conv block's batch norm, ReLU and pooling on the GPU backend, one operation with a
/// hand-written gradient (`kernels::bn_relu_pool_train`), against the same function written in
/// Burn's tensor operations, whose gradient autodiff derives: the outputs, the batch
/// statistics and the gradients of the input, γ and β agree, for maps laid out channels-last
/// in memory (as the GPU convolution writes them) and row-major alike; and the hand-written
/// gradient is the one that ran.
#[test]
fn the_gpu_batch_norm_has_autodiffs_gradient() {
    use burn::nn::pool::MaxPool2dConfig;
    use burn::tensor::{Distribution, Tensor, activation::relu};
    use shapeclf::models::kernels;
    kernels::use_generic_ops(false);
    let gpu = BackendKind::Gpu.device().expect("GPU backend");
    assert!(
        kernels::block_applies(&gpu, true) && !kernels::block_applies(&gpu, false),
        "the GPU path takes the conv block operation in training only"
    );
    let ad = gpu.clone().autodiff();
    let (n, c, h, w, eps) = (3, 5, 6, 8, 1e-5);
    let draw = |dims: [usize; 4], seed: u64| {
        let cpu = Device::flex();
        cpu.seed(seed);
        let t = Tensor::<4>::random(dims, Distribution::Normal(0.3, 1.2), &cpu);
        Tensor::<4>::from_data(t.into_data(), &ad)
    };
    let values = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
    let values1 = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap();
    let close = |what: &str, a: &[f32], b: &[f32]| {
        assert_eq!(a.len(), b.len(), "{what}");
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
        for (i, (p, q)) in a.iter().zip(b).enumerate() {
            assert!(
                (p - q).abs() <= 1e-4 * scale,
                "{what}[{i}]: {p} against {q}"
            );
        }
    };
    let weights = draw([n, c, h / 2, w / 2], 2);
    let gamma0 = draw([1, c, 1, 1], 3).reshape([c]).add_scalar(1.0);
    let beta0 = draw([1, c, 1, 1], 4).reshape([c]).mul_scalar(0.5);
    // The maps as `[n, c, h, w]` stored channels-last (a permuted view), then row-major.
    let layouts = [
        draw([n, h, w, c], 1).permute([0, 3, 1, 2]),
        draw([n, c, h, w], 1),
    ];
    for (layout, x0) in ["channels-last", "row-major"].into_iter().zip(layouts) {
        let leaves = || {
            (
                x0.clone().detach().require_grad(),
                gamma0.clone().detach().require_grad(),
                beta0.clone().detach().require_grad(),
            )
        };
        let (x, gamma, beta) = leaves();
        let before = kernels::bn_relu_backwards();
        let (y, mean, var) =
            kernels::bn_relu_pool_train(x.clone(), gamma.clone(), beta.clone(), eps);
        let grads = y.clone().mul(weights.clone()).sum().backward();
        assert!(
            kernels::bn_relu_backwards() > before,
            "{layout}: the hand-written gradient ran"
        );
        let ours = (
            values(y),
            values1(mean),
            values1(var),
            values(x.grad(&grads).unwrap()),
            values1(gamma.grad(&grads).unwrap()),
            values1(beta.grad(&grads).unwrap()),
        );

        let (x, gamma, beta) = leaves();
        let per_channel = |t: Tensor<4>| t.mean_dim(0).mean_dim(2).mean_dim(3);
        let mean = per_channel(x.clone());
        let centred = x.clone().sub(mean.clone());
        let var = per_channel(centred.clone().powi_scalar(2));
        let normalised = centred.div(var.clone().add_scalar(eps).sqrt());
        let z = normalised
            .mul(gamma.clone().reshape([1, c, 1, 1]))
            .add(beta.clone().reshape([1, c, 1, 1]));
        let y = MaxPool2dConfig::new([2, 2])
            .with_strides([2, 2])
            .init()
            .forward(relu(z));
        let grads = y.clone().mul(weights.clone()).sum().backward();
        let theirs = (
            values(y),
            values1(mean.reshape([c])),
            values1(var.reshape([c])),
            values(x.grad(&grads).unwrap()),
            values1(gamma.grad(&grads).unwrap()),
            values1(beta.grad(&grads).unwrap()),
        );
        close(&format!("{layout} output"), &ours.0, &theirs.0);
        close(&format!("{layout} mean"), &ours.1, &theirs.1);
        close(&format!("{layout} variance"), &ours.2, &theirs.2);
        close(&format!("{layout} input gradient"), &ours.3, &theirs.3);
        close(&format!("{layout} gamma gradient"), &ours.4, &theirs.4);
        close(&format!("{layout} beta gradient"), &ours.5, &theirs.5);
    }
}
