//! Losses and probabilities shared by every classifier.

use burn::tensor::activation::{log_sigmoid, log_softmax, sigmoid, softmax};
use burn::tensor::{Int, Tensor, TensorData};

/// Weighted mean negative log-likelihood of integer labels (`weights` sum to the batch size for
/// an unweighted mean): binary cross-entropy on a single logit (two-class logistic regression),
/// softmax cross-entropy otherwise.
pub fn nll_loss(logits: Tensor<2>, labels: &[usize], weights: &[f32]) -> Tensor<1> {
    let device = logits.device();
    let [n, k] = logits.dims();
    let total: f32 = weights.iter().sum();
    let w = Tensor::<2>::from_data(TensorData::new(weights.to_vec(), [n, 1]), &device);
    if k == 1 {
        let y = Tensor::<2>::from_data(
            TensorData::new(labels.iter().map(|&l| l as f32).collect::<Vec<_>>(), [n, 1]),
            &device,
        );
        weighted_binary_nll(logits, y, w).div_scalar(total)
    } else {
        let y = Tensor::<2, Int>::from_data(
            TensorData::new(labels.iter().map(|&l| l as i64).collect::<Vec<_>>(), [n, 1]),
            &device,
        );
        log_softmax(logits, 1)
            .gather(1, y)
            .mul(w)
            .sum()
            .neg()
            .div_scalar(total)
    }
}

/// Class probabilities `[batch, classes]` from logits: sigmoid of a single logit, softmax of
/// several.
pub fn probabilities(logits: Tensor<2>) -> Tensor<2> {
    if logits.dims()[1] == 1 {
        let p1 = sigmoid(logits);
        Tensor::cat(vec![p1.clone().neg().add_scalar(1.0), p1], 1)
    } else {
        softmax(logits, 1)
    }
}

/// Summed Bernoulli negative log-likelihood of logits `z` for labels `y` in {0, 1}:
/// -sum[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))], written with log-sigmoid so large |z|
/// neither overflows nor loses precision.
pub fn binary_nll(z: Tensor<2>, y: Tensor<2>) -> Tensor<1> {
    let ones = y.ones_like();
    weighted_binary_nll(z, y, ones)
}

/// [`binary_nll`] with a weight per sample.
pub fn weighted_binary_nll(z: Tensor<2>, y: Tensor<2>, w: Tensor<2>) -> Tensor<1> {
    // log(1 - sigmoid(z)) = log sigmoid(-z).
    let pos = log_sigmoid(z.clone()).mul(y.clone());
    let neg = log_sigmoid(z.neg()).mul(y.neg().add_scalar(1.0));
    pos.add(neg).mul(w).sum().neg()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    /// The seed's closed form: d NLL / d w_d = sum_i x_id (sigmoid(x_i . w) - y_i). Burn's
    /// autodiff gradient of the same NLL must match it.
    #[test]
    fn autodiff_gradient_matches_closed_form() {
        let device = Device::flex().autodiff();
        let (n, d) = (7usize, 3usize);
        let xs: Vec<f32> = (0..n * d)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) / 4.0)
            .collect();
        let ys: Vec<f32> = (0..n).map(|i| (i % 3 == 0) as u8 as f32).collect();
        let w0 = [0.3f32, -0.7, 0.2];
        let x = Tensor::<2>::from_data(TensorData::new(xs.clone(), [n, d]), &device);
        let y = Tensor::<2>::from_data(TensorData::new(ys.clone(), [n, 1]), &device);
        let w =
            Tensor::<2>::from_data(TensorData::new(w0.to_vec(), [d, 1]), &device).require_grad();
        let nll = binary_nll(x.matmul(w.clone()), y);
        let grads = nll.backward();
        let g: Vec<f32> = w.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
        for k in 0..d {
            let closed: f32 = (0..n)
                .map(|i| {
                    let z: f32 = (0..d).map(|j| xs[i * d + j] * w0[j]).sum();
                    xs[i * d + k] * (1.0 / (1.0 + (-z).exp()) - ys[i])
                })
                .sum();
            assert!(
                (g[k] - closed).abs() < 1e-4,
                "dim {k}: autodiff {} vs closed form {closed}",
                g[k]
            );
        }
    }
}
