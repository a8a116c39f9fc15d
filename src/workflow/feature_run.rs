//! `features`: the whole `shapeclf features` run as one library call, from the settings a user
//! states.

use std::path::Path;

use crate::error::{Error, Result};
use crate::extract::{self, Extraction, FeatureSettings};
use crate::observe::{Event, Observer};

/// `shapeclf features ROOT --out OUT` as one call, with the flags given as `settings`
/// ([`FeatureSettings::default`] is the command's defaults): the same table, views and manifest,
/// byte for byte. Settings are checked before anything is read; settings that make each mesh
/// far slower than the defaults are reported as [`Event::Warning`]s first, then every mesh under
/// `root` is extracted into `out` (rows of unchanged meshes reused unless `settings.fresh`).
///
/// Unlike the command line it reads no environment: the shard is `settings.shard` alone, not
/// taken from Slurm's or Kubernetes' variables, and there is no Ctrl-C flag (set
/// [`extract::ExtractOptions::stop`] through [`FeatureSettings::extract_options`] and
/// [`extract::run`] for that).
pub fn features(
    root: &Path,
    out: &Path,
    settings: &FeatureSettings,
    observer: &dyn Observer,
) -> Result<Extraction> {
    let (opts, _) = settings
        .extract_options(out, &|_| None)
        .map_err(Error::Config)?;
    opts.validate().map_err(extract::RunError::from)?;
    for w in opts.cost_warnings() {
        observer.event(Event::Warning(&w));
    }
    Ok(extract::run(root, out, &opts, observer)?)
}
