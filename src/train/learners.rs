//! How the training loop sees each network: a [`Learner`] is a batch in, logits out. The
//! networks in [`crate::models`] know nothing of training; it adapts them here, as Burn's own
//! examples keep their training step beside the loop.

use burn::tensor::Tensor;

use super::{Learner, ModelSpec};
use crate::models::{Activation, Fusion, Mvcnn, Net, NetConfig};

impl Learner for Net {
    type Input = Tensor<2>;

    fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward(x)
    }
}

impl Learner for Mvcnn {
    type Input = Tensor<4>;

    fn logits(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward(x)
    }
}

impl Learner for Fusion {
    type Input = (Tensor<4>, Tensor<2>);

    fn logits(&self, (views, rows): (Tensor<4>, Tensor<2>)) -> Tensor<2> {
        self.forward(views, rows)
    }
}

impl NetConfig {
    /// The network a descriptor model's spec asks for on `inputs` columns and `classes`
    /// classes; `None` for a model that does not read descriptors.
    pub fn for_spec(spec: &ModelSpec, inputs: usize, classes: usize) -> Option<NetConfig> {
        let (hidden, activation, dropout) = match spec {
            ModelSpec::Logistic => (vec![], Activation::Relu, 0.0),
            ModelSpec::Mlp(m) => (m.hidden.clone(), m.activation, m.dropout),
            ModelSpec::Cnn(_) | ModelSpec::Fusion(_) => return None,
        };
        Some(NetConfig {
            inputs,
            classes,
            hidden,
            activation,
            dropout,
        })
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::tensor::{Device, Tensor, TensorData};

    #[test]
    fn branch_dropout_switches_off_whole_rows_in_training_only() {
        let device = Device::flex();
        let n = 64;
        let cfg = crate::models::fusion::tests::tiny(2, 8, 3, 3);
        let ad = device.clone().autodiff();
        let net = cfg.init(&ad);
        let views = |d: &Device| {
            let px: Vec<f32> = (0..n * 2 * 64).map(|i| (i % 7) as f32 / 7.0).collect();
            Tensor::<4>::from_data(TensorData::new(px, [n, 2, 8, 8]), d)
        };
        let rows =
            |v: f32, d: &Device| Tensor::<2>::from_data(TensorData::new(vec![v; n * 3], [n, 3]), d);
        // The same draws (same seed) with two different descriptor rows: a shape whose
        // branch was switched off gets the same logits from both. Burn's random stream is
        // shared by the whole process, so other tests' draws are held off as `fit` does.
        let _one_run = crate::train::fit::one_run_at_a_time();
        let run = |v: f32| -> Vec<f32> {
            device.seed(7);
            net.forward(views(&ad), rows(v, &ad))
                .into_data()
                .try_to_vec()
                .unwrap()
        };
        let (a, b) = (run(0.5), run(-2.0));
        let off = a
            .chunks(3)
            .zip(b.chunks(3))
            .filter(|(x, y)| x.iter().zip(*y).all(|(p, q)| (p - q).abs() < 1e-6))
            .count();
        assert!(
            (16..=48).contains(&off),
            "{off} of {n} shapes had the branch off"
        );
        // Inference always keeps the branch.
        let eval = net.valid();
        let f = |v: f32| -> Vec<f32> {
            eval.forward(views(&device), rows(v, &device))
                .into_data()
                .try_to_vec()
                .unwrap()
        };
        let (c, e) = (f(0.5), f(-2.0));
        assert!(
            c.chunks(3)
                .zip(e.chunks(3))
                .all(|(x, y)| x.iter().zip(y).any(|(p, q)| (p - q).abs() > 1e-6))
        );
    }
}
