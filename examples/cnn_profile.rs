//! Where a CNN training step's time goes, operation by operation, on burn-flex: each conv
//! block's forward convolution, input gradient, weight gradient, batch norm + ReLU forward and
//! backward, 2x2 max pooling forward and backward, and Adam's update of the weights, for Burn's
//! generic operations and for shapeclf's kernels (`models::kernels`) at the peer network's
//! shapes unless told otherwise (batch 16 x 12 views of 32x32, channels 32/64/128, which the
//! kernel tables in docs/BENCHMARKS.md and the PyTorch comparisons use). Then one
//! whole training step of each, so the rest (linear layers, loss, autodiff bookkeeping) is the
//! difference. Median of 7 runs each.
//!
//! `cargo run --release --example cnn_profile -- [--step] [--channels A,B,C] [BATCH] [VIEWS] [RES]`
//! (`--channels` profiles another width of the three blocks, such as the default network's
//! `16,32,64`).
use std::time::Instant;

use burn::backend::Flex;
use burn::backend::ops::{ActivationOps, ModuleOps};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, IntDType, Tensor};
use burn_flex::FlexTensor;
use shapeclf::models::kernels::{self, CnnKernels};

fn median(mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..7)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[3]
}

fn prim<const D: usize>(shape: [usize; D]) -> FlexTensor {
    let t = Tensor::<D>::random(shape, Distribution::Uniform(-1.0, 1.0), &Device::flex());
    FlexTensor::from_data(t.into_data())
}

struct Row {
    op: String,
    burn: f64,
    ours: f64,
}

/// Seconds per training batch of the default CNN over an epoch of 64 random shapes (median of
/// 3 epochs after a warm-up), on whichever path `SHAPECLF_CNN_KERNELS` selects.
fn training_step(batch: usize, views: usize, res: usize, channels: &[usize]) -> f64 {
    let (shapes, classes) = (64usize, 10usize);
    let set = shapeclf::fixtures::noise_views(shapes, views, res, classes, 2);
    let mut cfg = shapeclf::train::TrainConfig::defaults(shapeclf::models::ModelKind::Cnn);
    cfg.epochs = 1;
    cfg.val_fraction = 0.0;
    cfg.batch_size = batch;
    let net = shapeclf::models::Network::Cnn(shapeclf::models::CnnConfig {
        channels: channels.to_vec(),
        ..shapeclf::models::CnnConfig::new(views, res, classes)
    });
    let device = Device::flex();
    let mut times: Vec<f64> = (0..4)
        .map(|_| {
            let t = Instant::now();
            shapeclf::train::train(
                &cfg,
                &net,
                shapeclf::models::Input::Views(&set),
                &[],
                &device,
                (),
            )
            .expect("views");
            t.elapsed().as_secs_f64()
        })
        .skip(1)
        .collect();
    times.sort_by(f64::total_cmp);
    times[1] / shapes.div_ceil(batch) as f64
}

fn main() {
    shapeclf::models::kernels::keep_freed_memory();
    let mut all: Vec<String> = std::env::args().collect();
    let mut channels = shapeclf::models::PEER_CHANNELS.to_vec();
    if let Some(i) = all.iter().position(|a| a == "--channels") {
        let list = all.get(i + 1).cloned().unwrap_or_default();
        channels = list
            .split(',')
            .map(|c| c.trim().parse().expect("--channels A,B,C: whole numbers"))
            .collect();
        all.drain(i..(i + 2).min(all.len()));
    }
    let step_mode = all.get(1).map(String::as_str) == Some("--step");
    let args: Vec<String> = all.iter().skip(usize::from(step_mode)).cloned().collect();
    let arg = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (batch, views, res) = (arg(1, 16), arg(2, 12), arg(3, 32));
    if step_mode {
        println!("{}", training_step(batch, views, res, &channels));
        return;
    }
    let n = batch * views;
    let mut rows = Vec::new();
    let (mut cin, mut side) = (1usize, res);
    for (layer, &cout) in channels.iter().enumerate() {
        let x = prim([n, cin, side, side]);
        let w = prim([cout, cin, 3, 3]);
        let dy = prim([n, cout, side, side]);
        let opts = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let l = layer + 1;
        rows.push(Row {
            op: format!("conv{l} forward"),
            burn: median(|| drop(Flex::conv2d(x.clone(), w.clone(), None, opts.clone()))),
            ours: median(|| drop(Flex::conv_same(x.clone(), w.clone()))),
        });
        let s = kernels::conv::ConvShape {
            n,
            cin,
            cout,
            h: side,
            w: side,
            k: 3,
        };
        let (xv, wv, dyv) = (
            x.as_slice::<f32>().unwrap(),
            w.as_slice::<f32>().unwrap(),
            dy.as_slice::<f32>().unwrap(),
        );
        if layer > 0 {
            rows.push(Row {
                op: format!("conv{l} input gradient"),
                burn: median(|| {
                    drop(Flex::conv2d_x_backward(
                        x.clone(),
                        w.clone(),
                        dy.clone(),
                        opts.clone(),
                    ))
                }),
                ours: median(|| drop(kernels::conv::input_grad(dyv, wv, &s))),
            });
        }
        rows.push(Row {
            op: format!("conv{l} weight gradient"),
            burn: median(|| {
                drop(Flex::conv2d_weight_backward(
                    x.clone(),
                    w.clone(),
                    dy.clone(),
                    opts.clone(),
                ))
            }),
            ours: median(|| drop(kernels::conv::weight_grad(xv, dyv, &s))),
        });
        let (g, b) = (prim([cout]), prim([cout]));
        let z = dy.clone();
        let pool = |y: FlexTensor| {
            Flex::max_pool2d_with_indices(y, [2, 2], [2, 2], [0, 0], [1, 1], false, IntDType::I64)
        };
        rows.push(Row {
            op: format!("bn+relu+pool{l} forward"),
            burn: median(|| {
                let out = Flex::batch_norm_train(z.clone(), g.clone(), b.clone(), 1e-5);
                drop(pool(Flex::relu(out.output)))
            }),
            ours: median(|| {
                drop(Flex::bn_relu_pool_train(
                    z.clone(),
                    g.clone(),
                    b.clone(),
                    1e-5,
                ))
            }),
        });
        let maps = kernels::norm::Maps {
            n,
            c: cout,
            h: side,
            w: side,
        };
        let (zv, gv, bv) = (
            z.as_slice::<f32>().unwrap(),
            g.as_slice::<f32>().unwrap(),
            b.as_slice::<f32>().unwrap(),
        );
        let fwd = kernels::norm::forward_train(zv, gv, bv, &maps, 1e-5);
        let gy = prim([n, cout, side / 2, side / 2]);
        let gyv = gy.as_slice::<f32>().unwrap();
        let train = Flex::batch_norm_train(z.clone(), g.clone(), b.clone(), 1e-5);
        let act = Flex::relu(train.output.clone());
        let pooled = pool(act.clone());
        rows.push(Row {
            op: format!("bn+relu+pool{l} backward"),
            burn: median(|| {
                let gp = Flex::max_pool2d_with_indices_backward(
                    act.clone(),
                    [2, 2],
                    [2, 2],
                    [0, 0],
                    [1, 1],
                    false,
                    gy.clone(),
                    pooled.indices.clone(),
                );
                let gz = Flex::relu_backward(act.clone(), gp.x_grad);
                drop(Flex::batch_norm_train_backward(
                    z.clone(),
                    g.clone(),
                    train.mean.clone(),
                    train.variance.clone(),
                    1e-5,
                    gz,
                ))
            }),
            ours: median(|| {
                drop(kernels::norm::backward_train(
                    zv,
                    gv,
                    bv,
                    &fwd.mean,
                    &fwd.var,
                    &fwd.argmax,
                    1e-5,
                    gyv,
                    &maps,
                ))
            }),
        });
        cin = cout;
        side /= 2;
    }
    // Adam's update of every weight of the network (with the default weight decay): burn-optim's
    // Adam on one tensor of that size against the fused pass.
    {
        use burn::module::Module;
        use burn::optim::{AdamConfig, Optimizer, decay::WeightDecayConfig};
        let params = shapeclf::models::CnnConfig {
            channels: channels.clone(),
            ..shapeclf::models::CnnConfig::new(views, res, 10)
        }
        .init(&Device::flex())
        .num_params();
        let adam = AdamConfig::new()
            .with_weight_decay(Some(WeightDecayConfig::new(1e-4)))
            .build();
        let w = Tensor::<1>::random([params], Distribution::Normal(0.0, 1.0), &Device::flex());
        let g = Tensor::<1>::random([params], Distribution::Normal(0.0, 0.1), &Device::flex());
        let state = adam.step(1e-3, w.clone(), g.clone(), None).1;
        let values = |t: &Tensor<1>| t.to_data().try_into_vec::<f32>().unwrap();
        let (mut wv, gv) = (values(&w), values(&g));
        let (mut m1, mut m2) = (values(&g), values(&g));
        let step = kernels::adam::AdamStep {
            lr: 1e-3,
            beta_1: 0.9,
            beta_2: 0.999,
            penalty: Some(1e-4),
            continued: true,
            combined: 1.0,
            epsilon: 1e-5,
        };
        rows.push(Row {
            op: format!("Adam step ({:.2} M weights)", params as f64 / 1e6),
            burn: median(|| drop(adam.step(1e-3, w.clone(), g.clone(), state.clone()))),
            ours: median(|| kernels::adam::step(&mut wv, &mut m1, &mut m2, &gv, &step)),
        });
    }
    // Whole training steps: the generic path first, then the kernels.
    let step = |generic: bool| {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .arg("--step")
            .arg("--channels")
            .arg(
                channels
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            )
            .args(&args[1..])
            .env(kernels::KERNELS_VAR, if generic { "burn" } else { "ours" })
            .output()
            .expect("re-run for a training step");
        String::from_utf8_lossy(&status.stdout)
            .trim()
            .parse::<f64>()
            .unwrap_or(f64::NAN)
    };
    let (burn_step, our_step) = (step(true), step(false));
    let (bs, os): (f64, f64) = rows
        .iter()
        .fold((0.0, 0.0), |a, r| (a.0 + r.burn, a.1 + r.ours));
    println!(
        "{:<30} {:>10} {:>7} {:>10} {:>7} {:>7}",
        "per batch of 16 shapes", "burn ms", "share", "ours ms", "share", "speedup"
    );
    let line = |op: &str, b: f64, o: f64| {
        println!(
            "{op:<30} {:>10.2} {:>6.1}% {:>10.2} {:>6.1}% {:>6.2}x",
            b * 1e3,
            100.0 * b / burn_step,
            o * 1e3,
            100.0 * o / our_step,
            b / o
        )
    };
    for r in &rows {
        line(&r.op, r.burn, r.ours);
    }
    line(
        "rest (linear, loss, autodiff)",
        burn_step - bs,
        our_step - os,
    );
    line("whole training step", burn_step, our_step);
}
