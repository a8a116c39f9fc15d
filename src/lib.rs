//! shapeclf: classify 3D shapes from their meshes, and compare hand-engineered shape descriptors
//! (D2 shape distribution, shape diameter function) with features a network learns.
//!
//! The stages, each usable alone: [`mesh`] loads and cleans meshes, [`descriptors`] computes
//! descriptors, [`dataset`] finds a dataset's files, [`extract`] runs a dataset through them into
//! the on-disk [`features`] table, and [`synth`] makes the built-in demo data.

pub mod cnn_train;
pub mod dataset;
pub mod descriptors;
pub mod extract;
pub mod features;
pub mod html;
pub mod io;
pub mod merge;
pub mod mesh;
pub mod model_dir;
pub mod models;
pub mod plots;
pub mod report;
pub mod seeding;
pub mod shard;
pub mod synth;
pub mod train;
pub mod workflow;
