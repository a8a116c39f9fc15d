//! How the training loop sees a network: a [`Learner`] is a batch in, logits out. The networks
//! in [`crate::models`] know nothing of training; it adapts them here, as Burn's own examples
//! keep their training step beside the loop. Every kind is one [`Classifier`], so one impl.

use burn::tensor::Tensor;

use super::Learner;
use crate::models::{Classifier, ModelInput};

impl Learner for Classifier {
    type Input = ModelInput;

    fn logits(&self, x: ModelInput) -> Tensor<2> {
        Classifier::logits(self, x)
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
