//! Descriptors and views together: the multi-view CNN's pooled view descriptor and a learned
//! projection of the standardised descriptor row, concatenated and classified by one layer,
//! trained end to end. It asks whether hand-engineered features still add anything once a
//! network has learned its own.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{CnnConfig, Mvcnn};
use crate::train::Learner;

/// Shape of a [`Fusion`] network; saved in the model's `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FusionConfig {
    /// The view branch (its classifier layer is not used).
    pub cnn: CnnConfig,
    /// Descriptor columns.
    pub inputs: usize,
    /// Width of the descriptor branch.
    pub hidden: usize,
}

impl FusionConfig {
    /// Classes.
    pub fn classes(&self) -> usize {
        self.cnn.classes
    }

    /// Builds a freshly initialised network on `device`.
    pub fn init(&self, device: &Device) -> Fusion {
        Fusion {
            views: self.cnn.init(device),
            rows: LinearConfig::new(self.inputs, self.hidden).init(device),
            dropout: DropoutConfig::new(self.cnn.dropout).init(),
            out: LinearConfig::new(self.cnn.features + self.hidden, self.cnn.classes).init(device),
        }
    }
}

/// The fused classifier.
#[derive(Module, Debug)]
pub struct Fusion {
    views: Mvcnn,
    rows: Linear,
    dropout: Dropout,
    out: Linear,
}

impl Fusion {
    /// Logits `[shapes, classes]` of views `[shapes, views, R, R]` and standardised descriptor
    /// rows `[shapes, inputs]` of the same shapes.
    pub fn forward(&self, views: Tensor<4>, rows: Tensor<2>) -> Tensor<2> {
        let v = self.views.pooled(views);
        let r = relu(self.rows.forward(rows));
        self.out
            .forward(self.dropout.forward(Tensor::cat(vec![v, r], 1)))
    }

    /// The view branch, for its filter pictures.
    pub fn view_branch(&self) -> &Mvcnn {
        &self.views
    }
}

impl Learner for Fusion {
    type Input = (Tensor<4>, Tensor<2>);

    fn logits(&self, (views, rows): (Tensor<4>, Tensor<2>)) -> Tensor<2> {
        self.forward(views, rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn both_branches_shape_the_logits() {
        let device = Device::flex();
        let cfg = FusionConfig {
            cnn: CnnConfig {
                channels: vec![4],
                features: 8,
                dropout: 0.0,
                ..CnnConfig::new(3, 16, 5)
            },
            inputs: 7,
            hidden: 6,
        };
        let net = cfg.init(&device).valid();
        let v = Tensor::<4>::from_data(
            TensorData::new(vec![0.5f32; 2 * 3 * 256], [2, 3, 16, 16]),
            &device,
        );
        let r = Tensor::<2>::from_data(TensorData::new(vec![0.1f32; 14], [2, 7]), &device);
        let a: Vec<f32> = net.forward(v.clone(), r).into_data().try_to_vec().unwrap();
        assert_eq!(a.len(), 10);
        // The descriptor row changes the answer: the branch is wired in.
        let r2 = Tensor::<2>::from_data(TensorData::new(vec![3.0f32; 14], [2, 7]), &device);
        let b: Vec<f32> = net.forward(v, r2).into_data().try_to_vec().unwrap();
        assert!(a.iter().zip(&b).any(|(x, y)| (x - y).abs() > 1e-4));
    }
}
