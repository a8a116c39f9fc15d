//! Adam as burn-optim builds it, with each parameter's update on burn-flex done by one parallel
//! pass ([`crate::models::kernels::adam`]) instead of a dozen tensor operations on the calling
//! thread. Other devices, other element types and the kernels switched off
//! ([`crate::models::kernels::applies`]) take burn-optim's own Adam. The state is burn-optim's
//! `AdamState`, so checkpoints read and write as before.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::{Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, Optimizer};
use burn::tensor::{DType, Device, Tensor};

use crate::models::kernels::{self, adam::AdamStep};

/// burn-optim's `AdamConfig` defaults, named so both paths use the same values.
const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-5;

/// Adam with weight decay `penalty` (none when 0).
#[derive(Clone)]
pub(crate) struct FusedAdam {
    burn: Adam,
    penalty: Option<f32>,
}

impl FusedAdam {
    pub(crate) fn new(penalty: f32) -> FusedAdam {
        let penalty = (penalty > 0.0).then_some(penalty);
        let burn = AdamConfig::new()
            .with_beta_1(BETA_1)
            .with_beta_2(BETA_2)
            .with_epsilon(EPSILON)
            .with_weight_decay(penalty.map(WeightDecayConfig::new))
            .build();
        FusedAdam { burn, penalty }
    }
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<AdamState<D>>,
    ) -> (Tensor<D>, Option<AdamState<D>>) {
        let amsgrad = state
            .as_ref()
            .is_some_and(|s| s.momentum.max_moment_2.is_some());
        if amsgrad
            || !kernels::applies(&tensor.device())
            || tensor.dtype() != DType::F32
            || grad.dtype() != DType::F32
        {
            return self.burn.step(lr, tensor, grad, state);
        }
        // burn-optim's constants, computed as it computes them (in f32).
        let time = state.as_ref().map_or(0, |s| s.momentum.time) + 1;
        let t = time as i32;
        let bias2 = (1.0 - BETA_2.powi(t)).sqrt();
        let step = AdamStep {
            lr: lr as f32,
            beta_1: BETA_1,
            beta_2: BETA_2,
            penalty: self.penalty,
            continued: state.is_some(),
            combined: bias2 / (1.0 - BETA_1.powi(t)),
            epsilon: EPSILON * bias2,
        };
        let (m1, m2) = match state {
            Some(s) => (s.momentum.moment_1, s.momentum.moment_2),
            // Buffers for the first moments, written whole.
            None => (grad.clone(), grad.clone()),
        };
        let (tensor, m1, m2) = kernels::adam_step(tensor, grad, m1, m2, step);
        let momentum = AdaptiveMomentumState::new(time, m1, m2);
        (tensor, Some(AdamState::new(momentum)))
    }

    fn to_device<const D: usize>(state: AdamState<D>, device: &Device) -> AdamState<D> {
        <Adam as Optimizer>::to_device(state, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    /// Several steps of the fused Adam and of burn-optim's, with and without weight decay, on
    /// parameters of a few shapes: the same parameters and moments, bit for bit.
    #[test]
    fn fused_adam_is_burns_adam_bit_for_bit() {
        let device = Device::flex();
        // The fused path is the one under test (the default; a variable could say otherwise).
        kernels::use_generic_ops(false);
        assert!(kernels::applies(&device));
        for penalty in [0.0, 1e-4] {
            let fused = FusedAdam::new(penalty);
            let mut a: (Tensor<2>, Option<AdamState<2>>) = (
                Tensor::random([70, 300], Distribution::Normal(0.0, 1.0), &device),
                None,
            );
            let mut b = a.clone();
            for (i, lr) in [1e-3, 3e-3, 7e-4, 1e-3].into_iter().enumerate() {
                let grad = Tensor::<2>::random([70, 300], Distribution::Normal(0.0, 0.1), &device);
                a = fused.step(lr, a.0, grad.clone(), a.1);
                b = fused.burn.step(lr, b.0, grad, b.1);
                let (sa, sb) = (a.1.as_ref().unwrap(), b.1.as_ref().unwrap());
                assert_eq!(sa.momentum.time, sb.momentum.time);
                for (x, y) in [
                    (&a.0, &b.0),
                    (&sa.momentum.moment_1, &sb.momentum.moment_1),
                    (&sa.momentum.moment_2, &sb.momentum.moment_2),
                ] {
                    let (x, y) = (
                        x.to_data().try_to_vec::<f32>().unwrap(),
                        y.to_data().try_to_vec::<f32>().unwrap(),
                    );
                    assert!(
                        x.iter().zip(&y).all(|(p, q)| p.to_bits() == q.to_bits()),
                        "penalty {penalty}, step {i}"
                    );
                }
            }
        }
    }
}
