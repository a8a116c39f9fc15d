//! Descriptors and views together: the multi-view CNN's pooled view descriptor and a learned
//! projection of the standardised descriptor row, concatenated and classified by one layer,
//! trained end to end. It asks whether hand-engineered features still add anything once a
//! network has learned its own.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};

use super::onnx_graph::{Attr, Graph};
use super::{CnnConfig, Input, ModelInput, Mvcnn, Reads, ShapeModel};

/// Shape of a [`Fusion`] network; saved in the model's `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FusionConfig {
    /// The view branch (its classifier layer is not used).
    pub cnn: CnnConfig,
    /// Descriptor columns.
    pub inputs: usize,
    /// Width of the descriptor branch.
    pub hidden: usize,
    /// Share of training shapes whose descriptor branch is switched off (zeroed, the rest
    /// scaled up to keep its expected value), so the view branch must classify on its own
    /// and cannot lean on the descriptors, which fit a small training set first (modality
    /// dropout, Neverova et al. 2015). 0 in models saved before it existed.
    #[serde(default)]
    pub branch_dropout: f64,
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
            branch_dropout: self.branch_dropout,
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
    #[module(skip)]
    branch_dropout: f64,
}

impl Fusion {
    /// Logits `[shapes, classes]` of views `[shapes, views, R, R]` and standardised descriptor
    /// rows `[shapes, inputs]` of the same shapes.
    pub fn forward(&self, views: Tensor<4>, rows: Tensor<2>) -> Tensor<2> {
        let v = self.views.pooled(views);
        let mut r = relu(self.rows.forward(rows));
        let p = self.branch_dropout;
        if p > 0.0 && r.device().is_autodiff() {
            // Training: one draw per shape from the run's seeded stream, the same for the
            // whole branch.
            let [n, _] = r.dims();
            let keep = Tensor::<2>::random([n, 1], Distribution::Bernoulli(1.0 - p), &r.device())
                .mul_scalar(1.0 / (1.0 - p));
            r = r.mul(keep);
        }
        self.out
            .forward(self.dropout.forward(Tensor::cat(vec![v, r], 1)))
    }

    /// The view branch, for its filter pictures.
    pub fn view_branch(&self) -> &Mvcnn {
        &self.views
    }
}

impl ShapeModel for Fusion {
    type Config = FusionConfig;
    const READS: Reads = Reads::RowsAndViews;

    fn init(config: &FusionConfig, device: &Device) -> Fusion {
        config.init(device)
    }

    fn logits(&self, input: ModelInput) -> Tensor<2> {
        let (views, rows) = input.into_both();
        self.forward(views, rows)
    }

    fn outputs(&self) -> usize {
        self.out.weight.dims()[1]
    }

    /// [`Fusion::forward`] at inference of the views and the standardised rows.
    fn to_onnx(&self, g: &mut Graph, cfg: &FusionConfig, input: &Input<String, String>) -> String {
        let (views, rows) = input.clone().into_both();
        let v = self.views.to_onnx_pooled(g, &views, &cfg.cnn);
        let r = g.linear(&rows, &self.rows);
        let r = g.op("Relu", &[&r], &[]);
        let both = g.op("Concat", &[&v, &r], &[("axis", Attr::Int(1))]);
        g.linear(&both, &self.out)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use burn::tensor::TensorData;

    /// A small fusion network over `views` views of `res` pixels, `classes` classes and
    /// `inputs` descriptor columns, with branch dropout 0.5 and no other dropout.
    pub(crate) fn tiny(views: usize, res: usize, classes: usize, inputs: usize) -> FusionConfig {
        FusionConfig {
            cnn: CnnConfig {
                channels: vec![4],
                features: 8,
                dropout: 0.0,
                ..CnnConfig::new(views, res, classes)
            },
            inputs,
            hidden: 6,
            branch_dropout: 0.5,
        }
    }

    #[test]
    fn both_branches_shape_the_logits() {
        let device = Device::flex();
        let cfg = tiny(3, 16, 5, 7);
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
