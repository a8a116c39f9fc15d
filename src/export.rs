//! `shapeclf export --onnx`: a trained model folder as one ONNX file, which onnxruntime (or any
//! ONNX runtime) runs without shapeclf. The graph takes what [`crate::inference`] computes
//! before the network and gives class probabilities:
//! - `descriptors`, `[batch, columns]`: the raw descriptor row, as `descriptors.csv` holds it;
//!   the square-root map of the histogram columns and the standardisation are in the graph;
//! - `views`, `[batch, views * channels, R, R]`: each view's channels side by side, every
//!   pixel the stored byte times 1/255 (values in [0, 1]);
//! - `probabilities`, `[batch, classes]`, in the order of the metadata's `classes`.
//!
//! The metadata also records the descriptor columns and the view settings, so that a user can
//! compute the inputs the way the model was trained.

use std::path::Path;

use burn::tensor::Device;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::model_dir::SavedModel;
use crate::models::Input;
use crate::models::onnx_graph::{self, Graph, pb};
use crate::train::Standardizer;

/// One input of an exported graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OnnxInput {
    /// `descriptors` or `views`.
    pub name: String,
    /// Its shape; `None` is the batch dimension, chosen at run time.
    pub shape: Vec<Option<usize>>,
}

/// What [`export_onnx`] wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OnnxSummary {
    /// `logistic`, `mlp`, `cnn` or `fusion`.
    pub model: String,
    /// The graph's inputs, in order.
    pub inputs: Vec<OnnxInput>,
    /// Class names, in the order of the output's columns.
    pub classes: Vec<String>,
    /// The ONNX operator set.
    pub opset: i64,
    /// Size of the file written.
    pub bytes: usize,
}

/// The largest protobuf message readers accept: 2 GiB less one byte.
const MAX_ONNX_BYTES: usize = (1 << 31) - 1;

/// Writes the model in `model_dir` to `out` as an ONNX file (atomically: a failed write leaves
/// no file behind) and says what its inputs and outputs are.
pub fn export_onnx(model_dir: &Path, out: &Path) -> Result<OnnxSummary> {
    let model = SavedModel::load(model_dir, &Device::flex())?;
    let (proto, summary) = graph(&model, model_dir)?;
    // Protobuf, and so onnxruntime and the onnx package, refuse a message of 2 GiB or more;
    // the weights are inline, so a network that large gets a clear error, not a file nothing
    // loads.
    let size = prost::Message::encoded_len(&proto);
    if size > MAX_ONNX_BYTES {
        return Err(Error::Config(format!(
            "{}: its ONNX graph would take {size} bytes, more than the 2 GiB protobuf allows a model with inline weights",
            model_dir.display()
        )));
    }
    let bytes = prost::Message::encode_to_vec(&proto);
    crate::io::write_bytes_atomic(out, &bytes).map_err(Error::io("writing", out))?;
    Ok(OnnxSummary {
        bytes: bytes.len(),
        ..summary
    })
}

/// The rows' square-root map and standardisation, in the graph: the name of the standardised
/// rows of the raw rows named `x`.
fn standardize(g: &mut Graph, x: &str, s: &Standardizer) -> String {
    let d = s.columns.len();
    let mut h = x.to_string();
    let root = s.rooted();
    if root.contains(&true) {
        // sqrt(max(x, 0)) on the flagged columns, the others as they are.
        let positive = g.op("Relu", &[x], &[]);
        let rooted = g.op("Sqrt", &[&positive], &[]);
        let mask = g.constant_bool("rooted_columns", root);
        h = g.op("Where", &[&mask, &rooted, x], &[]);
    }
    let mean = g.constant("mean", &[d], &s.mean);
    let spread = g.constant("spread", &[d], &s.spread());
    let centred = g.op("Sub", &[&h, &mean], &[]);
    g.op("Div", &[&centred, &spread], &[])
}

fn graph(model: &SavedModel, dir: &Path) -> Result<(pb::ModelProto, OnnxSummary)> {
    let mut g = Graph::new();
    let classes = model.classes.len();
    let descriptors_input = |g: &mut Graph, s: &Standardizer| {
        let shape = vec![None, Some(s.columns.len())];
        let x = g.input(
            "descriptors",
            &shape,
            "raw descriptor rows, the columns of descriptors.csv after path, class and split",
        );
        (
            x,
            OnnxInput {
                name: "descriptors".into(),
                shape,
            },
        )
    };
    let views_input = |g: &mut Graph, cfg: &crate::models::CnnConfig| {
        let planes = cfg.views * cfg.in_channels.max(1);
        let shape = vec![
            None,
            Some(planes),
            Some(cfg.resolution),
            Some(cfg.resolution),
        ];
        let x = g.input(
            "views",
            &shape,
            "rendered views, each view's channels side by side, pixel bytes times 1/255",
        );
        (
            x,
            OnnxInput {
                name: "views".into(),
                shape,
            },
        )
    };
    let standardizer = || {
        model.standardizer.as_ref().ok_or_else(|| {
            Error::Config(format!("{}: the model has no normalisation", dir.display()))
        })
    };
    if let Some(s) = &model.standardizer
        && model.manifest.descriptors.columns() != s.columns
    {
        return Err(Error::ColumnMismatch(dir.to_path_buf()));
    }
    let network = &model.config.network;
    let mut inputs = Vec::new();
    // Views first, then descriptor rows, whichever the network reads.
    let views = match network.view_net() {
        Some(cfg) => {
            let (v, input) = views_input(&mut g, cfg);
            inputs.push(input);
            Some(v)
        }
        None => None,
    };
    let rows = if network.reads().rows() {
        let s = standardizer()?;
        let (x, input) = descriptors_input(&mut g, s);
        inputs.push(input);
        Some(standardize(&mut g, &x, s))
    } else {
        None
    };
    let names = Input::from_parts(views, rows).expect("every network reads rows or views");
    let logits = model
        .model
        .to_onnx(&mut g, network, &names)
        .ok_or_else(|| {
            Error::Config(format!(
                "{}: the weights and config.json describe different networks",
                dir.display()
            ))
        })?;
    let outputs = model.model.outputs();
    let probabilities = g.probabilities(&logits, outputs);
    let kind = model.config.train.model.kind().name().to_string();
    let mut metadata = vec![
        ("classes".to_string(), json(&model.classes)),
        ("model".to_string(), kind.clone()),
        (
            "inputs".to_string(),
            json(&inputs.iter().map(|i| i.name.clone()).collect::<Vec<_>>()),
        ),
        ("seed".to_string(), model.manifest.seed.to_string()),
        ("descriptors".to_string(), json(&model.manifest.descriptors)),
    ];
    if let Some(s) = &model.standardizer {
        metadata.push(("descriptor_columns".to_string(), json(&s.columns)));
    }
    if let Some(v) = &model.manifest.views
        && network.reads().views()
    {
        metadata.push(("views".to_string(), json(&v.config)));
        // How the feature folder's view images tile them, to read a mesh's views from there.
        let tiles = serde_json::json!({
            "count": v.count,
            "channels": v.config.channels.count(),
            "resolution": v.config.resolution,
            "grid_columns": v.grid_columns,
        });
        metadata.push(("view_tiles".to_string(), tiles.to_string()));
    }
    let proto = g.finish(
        &probabilities,
        "probabilities",
        classes,
        "class probabilities, in the order of the metadata's classes",
        &format!(
            "shapeclf {kind} model; inputs, outputs and metadata: docs/REFERENCE.md#shapeclf-export"
        ),
        &metadata,
    );
    Ok((
        proto,
        OnnxSummary {
            model: kind,
            inputs,
            classes: model.classes.clone(),
            opset: onnx_graph::OPSET,
            bytes: 0,
        },
    ))
}

/// JSON text of a value for the metadata.
fn json<T: Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}
