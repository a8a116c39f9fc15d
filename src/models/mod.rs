//! Classifiers trained with Burn. On descriptor vectors, the logistic-regression baseline and an
//! MLP, both one [`Net`] (an MLP with no hidden layer is logistic regression: sigmoid for two
//! classes, softmax for more); on depth views, the multi-view CNN [`Mvcnn`].

use serde::{Deserialize, Serialize};

mod backend;
mod cnn;
mod dense;
pub(crate) mod fusion;
#[doc(hidden)]
pub mod kernels;
mod kind;
mod loss;
pub(crate) mod onnx_graph;

pub use backend::{BackendKind, CACHE_DIR_VAR, DeviceError, GPU_RUNTIME_VAR, kernel_cache_dir};
pub use cnn::{CnnConfig, ConvBlock, DEFAULT_CHANNELS, Mvcnn, PEER_CHANNELS};
pub use dense::{Net, NetConfig};
pub use fusion::{Fusion, FusionConfig};
pub(crate) use kind::ShapeModel;
pub use kind::{
    Classifier, CnnSpec, DataShape, FusionSpec, Input, MlpSpec, ModelInput, ModelKind, ModelSpec,
    Network, Reads, ViewShape,
};
pub use loss::{binary_nll, nll_loss, probabilities, weighted_binary_nll};

/// Hidden-layer nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// max(0, x).
    #[default]
    Relu,
    /// max(0.01 x, x): keeps a gradient for negative inputs.
    LeakyRelu,
}
