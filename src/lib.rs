//! shapeclf: classify 3D shapes from their meshes, and compare hand-engineered shape descriptors
//! (D2 shape distribution, shape diameter function) with features a network learns.
//!
//! The stages, each usable alone, in the order data flows:
//! - [`mesh`] loads and validates meshes; [`synth`] makes the built-in demo data.
//! - [`dataset`] finds a dataset's files and splits; [`seeding`] owns every random stream.
//! - [`descriptors`] computes descriptors and renders depth views.
//! - [`extract`] runs a dataset through them into the on-disk [`features`] folder (table,
//!   manifest) and its [`view_store`] (view images).
//! - [`models`] holds the Burn networks and where they run; [`train`] trains any of them
//!   through one loop.
//! - [`model_dir`] keeps a trained model on disk; [`report`] measures and renders results;
//!   [`inference`] classifies new meshes.
//! - [`workflow`] runs whole commands (features, train, compare, demo) as library calls,
//!   reporting through an [`observe::Observer`] and failing with an [`Error`]. The library
//!   never prints.
//!
//! From a folder of meshes (one subfolder per class) to predictions, with the command line's
//! defaults; here a small synthetic set, descriptors only and logistic regression, to be quick
//! (`examples/quickstart.rs` adds the views and the CNN):
//!
//! ```
//! use shapeclf::extract::FeatureSettings;
//! use shapeclf::{inference::Model, models::ModelKind, observe::Silent, train::TrainConfig};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let tmp = tempfile::tempdir()?;
//! # let dir = tmp.path();
//! let meshes = dir.join("meshes");
//! let files = shapeclf::synth::write_dataset(&meshes, 5, 0, 0)?; // <class>/{train,test}/
//!
//! // shapeclf features meshes --out features --no-views
//! let features = dir.join("features");
//! let settings = FeatureSettings { views: false, ..Default::default() };
//! let ex = shapeclf::workflow::features(&meshes, &features, &settings, &Silent)?;
//! assert_eq!(ex.table.rows.len(), files.len());
//!
//! // shapeclf train --model logistic --features features --out models/logistic
//! let model_dir = dir.join("models/logistic");
//! let cfg = TrainConfig::defaults(ModelKind::Logistic);
//! let report = shapeclf::workflow::train_model(&features, &model_dir, &cfg, &Silent)?;
//! assert!(report.metrics.accuracy > 0.5, "{}", report.metrics.accuracy);
//!
//! // shapeclf predict --model models/logistic MESH: load once, classify any number of meshes.
//! let model = Model::load(&model_dir)?;
//! let p = &model.predict(&files[..1], 3)[0];
//! assert_eq!(p.top.len(), 3);
//! println!("{}: {:?}", p.path, p.top); // [(class, probability), ...], most probable first
//! # Ok(())
//! # }
//! ```

/// This build's identity: the package version, then a hash of the source and lock file it was
/// built from (`0.2.0+1f3a...`). Feature folders, models and checkpoints record it as their
/// `tool_version`, and rows, views and checkpoints are reused only by the build that wrote
/// them: a change to how numbers are computed within one version cannot mix old and new rows.
pub const BUILD_ID: &str = concat!(env!("CARGO_PKG_VERSION"), "+", env!("SHAPECLF_SOURCE_HASH"));

pub mod dataset;
pub mod descriptors;
pub mod error;
pub mod export;
pub mod extract;
pub mod features;
#[doc(hidden)]
pub mod fixtures;
pub mod inference;
pub mod io;
pub mod merge;
pub mod mesh;
pub mod model_dir;
pub mod models;
pub mod observe;
pub mod pool;
pub mod report;
pub mod seeding;
pub mod setting;
pub mod shard;
pub mod synth;
pub mod text;
pub mod train;
pub mod view_store;
pub mod workflow;

pub use error::{Error, Result};
