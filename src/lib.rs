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
//! - [`workflow`] runs whole commands (train, compare, demo) as library calls, reporting
//!   through an [`observe::Observer`] and failing with an [`Error`]. The library never prints.

pub mod dataset;
pub mod descriptors;
pub mod error;
pub mod export;
pub mod extract;
pub mod features;
pub mod fixtures;
pub mod inference;
pub mod io;
pub mod merge;
pub mod mesh;
pub mod model_dir;
pub mod models;
pub mod observe;
pub mod report;
pub mod seeding;
pub mod shard;
pub mod synth;
pub mod text;
pub mod train;
pub mod view_store;
pub mod workflow;

pub use error::{Error, Result};
