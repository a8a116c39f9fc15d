//! The descriptor classifiers: one fully connected [`Net`], which with no hidden layer is
//! logistic regression (sigmoid for two classes, softmax for more) and with hidden layers an MLP.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::{leaky_relu, relu};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::onnx_graph::{Attr, Graph};
use super::{Activation, Input, ModelInput, Reads, ShapeModel, nll_loss, probabilities};

/// Shape of a [`Net`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetConfig {
    /// Input features.
    pub inputs: usize,
    /// Classes.
    pub classes: usize,
    /// Hidden layer widths; empty for logistic regression.
    pub hidden: Vec<usize>,
    /// Hidden nonlinearity.
    pub activation: Activation,
    /// Dropout probability after each hidden layer.
    pub dropout: f64,
}

impl NetConfig {
    /// Output units: one logit for two-class logistic regression (sigmoid), else one per class.
    pub fn outputs(&self) -> usize {
        if self.hidden.is_empty() && self.classes == 2 {
            1
        } else {
            self.classes
        }
    }

    /// Builds a freshly initialised network on `device`.
    pub fn init(&self, device: &Device) -> Net {
        let mut widths = vec![self.inputs];
        widths.extend(&self.hidden);
        let hidden = widths
            .windows(2)
            .map(|w| LinearConfig::new(w[0], w[1]).init(device))
            .collect();
        Net {
            hidden,
            out: LinearConfig::new(*widths.last().unwrap_or(&self.inputs), self.outputs())
                .init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            leaky: self.activation == Activation::LeakyRelu,
        }
    }
}

/// A fully connected classifier; with no hidden layer, logistic regression.
#[derive(Module, Debug)]
pub struct Net {
    hidden: Vec<Linear>,
    out: Linear,
    dropout: Dropout,
    #[module(skip)]
    leaky: bool,
}

impl Net {
    /// Logits, `[batch, outputs]`, from standardised features `[batch, inputs]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let mut h = x;
        for layer in &self.hidden {
            h = layer.forward(h);
            h = if self.leaky {
                leaky_relu(h, 0.01)
            } else {
                relu(h)
            };
            h = self.dropout.forward(h);
        }
        self.out.forward(h)
    }

    /// Weighted mean negative log-likelihood of integer labels; see [`nll_loss`].
    pub fn loss(&self, logits: Tensor<2>, labels: &[usize], weights: &[f32]) -> Tensor<1> {
        nll_loss(logits, labels, weights)
    }

    /// Class probabilities `[batch, classes]`.
    pub fn probabilities(&self, x: Tensor<2>) -> Tensor<2> {
        probabilities(self.forward(x))
    }
}

impl ShapeModel for Net {
    type Config = NetConfig;
    const READS: Reads = Reads::Rows;

    fn init(config: &NetConfig, device: &Device) -> Net {
        config.init(device)
    }

    fn logits(&self, input: ModelInput) -> Tensor<2> {
        self.forward(input.into_rows())
    }

    /// Output units (see [`NetConfig::outputs`]).
    fn outputs(&self) -> usize {
        self.out.weight.dims()[1]
    }

    /// [`Net::forward`] at inference (no dropout) of the standardised rows.
    fn to_onnx(&self, g: &mut Graph, _: &NetConfig, input: &Input<String, String>) -> String {
        let mut h = input.clone().into_rows();
        for layer in &self.hidden {
            h = g.linear(&h, layer);
            h = if self.leaky {
                g.op("LeakyRelu", &[&h], &[("alpha", Attr::Float(0.01))])
            } else {
                g.op("Relu", &[&h], &[])
            };
        }
        g.linear(&h, &self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn two_class_logistic_has_one_output_and_valid_probabilities() {
        let device = Device::flex();
        let cfg = NetConfig {
            inputs: 4,
            classes: 2,
            hidden: vec![],
            activation: Activation::Relu,
            dropout: 0.0,
        };
        assert_eq!(cfg.outputs(), 1);
        let net = cfg.init(&device);
        let x = Tensor::<2>::from_data(TensorData::new(vec![0.5f32; 12], [3, 4]), &device);
        let p: Vec<f32> = net.probabilities(x).into_data().try_to_vec().unwrap();
        assert_eq!(p.len(), 6);
        for r in p.chunks(2) {
            assert!((r[0] + r[1] - 1.0).abs() < 1e-6);
        }
        let multi = NetConfig { classes: 5, ..cfg };
        assert_eq!(multi.outputs(), 5);
    }
}
