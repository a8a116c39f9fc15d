//! The custom kernels against Burn's generic operations, through autodiff on random shapes:
//! forward values and every gradient within float tolerance.

use super::*;
use burn::tensor::module::{batch_norm, batch_norm_train, conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Distribution, activation::relu};

fn random<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::<D>::random(shape, Distribution::Uniform(-1.0, 1.0), device)
}

fn assert_close<const D: usize>(a: Tensor<D>, b: Tensor<D>, what: &str) {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes");
    let a: Vec<f32> = a.into_data().convert::<f32>().try_to_vec().unwrap();
    let b: Vec<f32> = b.into_data().convert::<f32>().try_to_vec().unwrap();
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1.0);
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!((x - y).abs() <= 2e-4 * scale, "{what}[{i}]: {x} vs {y}");
    }
}

/// 2x2 max pooling with stride 2, as the CNN's blocks pool.
fn pool2() -> MaxPoolOptions<2> {
    MaxPoolOptions::new([2, 2]).with_stride([2, 2])
}

#[test]
fn kernels_serve_flex_only() {
    assert!(applies(&Device::flex()));
    assert!(applies(&Device::flex().autodiff()));
}

#[test]
fn conv_matches_burns_conv2d_forward_and_gradients() {
    let device = Device::flex().autodiff();
    Device::flex().seed(11);
    for (x_shape, w_shape) in [
        ([3, 2, 7, 6], [5, 2, 3, 3]),
        ([2, 4, 8, 8], [3, 4, 5, 5]),
        ([1, 1, 1, 1], [2, 1, 3, 3]),
    ] {
        let x0 = random(x_shape, &device);
        let w0 = random(w_shape, &device);
        let r = random([x_shape[0], w_shape[0], x_shape[2], x_shape[3]], &device);
        let pad = w_shape[2] / 2;
        let run = |custom: bool| {
            let x = x0.clone().detach().require_grad();
            let w = w0.clone().detach().require_grad();
            let y = if custom {
                conv_same(x.clone(), w.clone())
            } else {
                let opts = ConvOptions::new([1, 1], [pad, pad], [1, 1], 1);
                conv2d(x.clone(), w.clone(), None, opts)
            };
            let grads = (y.clone() * r.clone()).sum().backward();
            (y, x.grad(&grads).unwrap(), w.grad(&grads).unwrap())
        };
        let (y, dx, dw) = run(true);
        let (y_ref, dx_ref, dw_ref) = run(false);
        assert_close(y.inner(), y_ref.inner(), "conv y");
        assert_close(dx, dx_ref, "conv dx");
        assert_close(dw, dw_ref, "conv dw");
    }
}

#[test]
fn conv_without_autodiff_matches_too() {
    let device = Device::flex();
    let x = random([2, 3, 5, 4], &device);
    let w = random([4, 3, 3, 3], &device);
    let opts = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    assert_close(
        conv_same(x.clone(), w.clone()),
        conv2d(x, w, None, opts),
        "inference conv",
    );
}

#[test]
fn bn_relu_pool_matches_burns_batch_norm_relu_and_max_pool() {
    let device = Device::flex().autodiff();
    Device::flex().seed(12);
    // Odd sides check the floor mode: the last row and column are in no window.
    for shape in [[4, 3, 6, 6], [16, 8, 2, 2], [2, 1, 5, 7], [3, 2, 1, 4]] {
        let c = shape[1];
        // Scaled and shifted so some channels are mostly above zero, some mostly below.
        let x0 = random(shape, &device).mul_scalar(3.0).add_scalar(0.5);
        let g0 = random([c], &device).add_scalar(0.5);
        let b0 = random([c], &device);
        let r = random([shape[0], c, shape[2] / 2, shape[3] / 2], &device);
        let run = |custom: bool| {
            let x = x0.clone().detach().require_grad();
            let g = g0.clone().detach().require_grad();
            let b = b0.clone().detach().require_grad();
            let (y, mean, var) = if custom {
                bn_relu_pool_train(x.clone(), g.clone(), b.clone(), 1e-5)
            } else {
                let out = batch_norm_train(x.clone(), g.clone(), b.clone(), 1e-5);
                let y = max_pool2d(relu(out.output), pool2());
                (y, out.mean, out.variance)
            };
            let grads = (y.clone() * r.clone()).sum().backward();
            (
                y,
                mean,
                var,
                x.grad(&grads).unwrap(),
                g.grad(&grads).unwrap(),
                b.grad(&grads).unwrap(),
            )
        };
        let (y, m, v, dx, dg, db) = run(true);
        let (y_ref, m_ref, v_ref, dx_ref, dg_ref, db_ref) = run(false);
        assert_close(y.inner(), y_ref.inner(), "y");
        assert_close(m.inner(), m_ref.clone().inner(), "mean");
        assert_close(v.inner(), v_ref.clone().inner(), "var");
        assert_close(dx, dx_ref, "dx");
        assert_close(dg, dg_ref, "dgamma");
        assert_close(db, db_ref, "dbeta");
        // Inference with given statistics: the fused kernel against the composition.
        let x = x0.clone().inner();
        let (g, b) = (g0.clone().inner(), b0.clone().inner());
        let (mean, var) = (m_ref.inner(), v_ref.inner().add_scalar(0.25));
        assert_close(
            bn_relu_pool_eval(
                x.clone(),
                g.clone(),
                b.clone(),
                mean.clone(),
                var.clone(),
                1e-5,
            ),
            max_pool2d(relu(batch_norm(x, g, b, mean, var, 1e-5)), pool2()),
            "eval",
        );
    }
}
