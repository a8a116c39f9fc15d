//! The `features` command's settings as a user states them, and the one place that turns them
//! into descriptor, view and run parameters. The command line and the Python package both fill
//! a [`FeatureSettings`] and call it, so the same flags give the same table, views and numbers
//! from either.
//!
//! The policy kept here, beyond copying values across:
//! - the spherical-harmonics descriptor is on unless `sh` is false, with [`ShConfig`]'s
//!   defaults for whatever of shells, degrees and points is not given;
//! - views are rendered in the meshes' principal axes ([`Align::Pca`]) unless asked otherwise:
//!   measured best or tied for every model on unaligned and on upright data;
//! - views in the principal axes get the settings measured best for them on the realistic
//!   synthetic set unless asked otherwise: depth and shading channels, and three rotated extra
//!   renderings per training mesh; views in the files' own axes ([`Align::None`]) default to
//!   depth alone and no extra renderings.

use std::path::Path;

use crate::descriptors::views::{Align, UpAxis, ViewChannels, ViewConfig, ViewLayout};
use crate::descriptors::{DescriptorConfig, ShConfig};
use crate::features::TableFormat;
use crate::shard::{Shard, ShardSource};

use super::ExtractOptions;

/// How often `features` writes what it has done while it runs, unless told otherwise: ten
/// minutes of work is the most a killed run loses, and on a run of a million meshes, whose
/// table takes seconds to write, saving costs well under a percent.
pub const DEFAULT_CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// The checkpoint interval of a number of seconds as a user gives it (`--checkpoint-every`,
/// `checkpoint_every=`): `None` for 0 (only at the end); an error naming the range for a
/// negative, non-finite or larger value.
pub fn checkpoint_interval(secs: f64) -> Result<Option<std::time::Duration>, String> {
    if !(0.0..=1e9).contains(&secs) {
        return Err(format!(
            "{secs} is out of range: 0 (only at the end) to 1e9 seconds"
        ));
    }
    Ok((secs > 0.0).then(|| std::time::Duration::from_secs_f64(secs)))
}

/// Every setting of a `features` run, as the command line's flags give them (`None`: the
/// default, which may depend on other settings). [`Default`] is the command line's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSettings {
    /// Seed for sampling and splits (`--seed`).
    pub seed: u64,
    /// Surface points for D2, D1, A3 and D3 (`--d2-points`).
    pub d2_points: usize,
    /// Random D2 point pairs; `None` uses all pairs (`--d2-pairs`).
    pub d2_pairs: Option<usize>,
    /// Surface points at which the SDF is measured (`--sdf-points`).
    pub sdf_points: usize,
    /// Rays per SDF point (`--sdf-rays`).
    pub sdf_rays: usize,
    /// The spherical-harmonics columns (`--no-sh` turns them off).
    pub sh: bool,
    /// Spherical-harmonics shells (`--sh-shells`; default [`ShConfig::default`]'s).
    pub sh_shells: Option<usize>,
    /// Spherical-harmonics degrees per shell (`--sh-degrees`).
    pub sh_degrees: Option<usize>,
    /// Spherical-harmonics surface points (`--sh-points`).
    pub sh_points: Option<usize>,
    /// Render depth views (`--no-views` turns them off).
    pub views: bool,
    /// Camera layout (`--views`).
    pub layout: ViewLayout,
    /// Pixels per side of each view (`--view-res`).
    pub view_res: usize,
    /// Up axis of the dataset (`--up`).
    pub up: UpAxis,
    /// Pose of the cameras (`--align`).
    pub align: Align,
    /// What each view holds (`--view-channels`; default depends on `align`).
    pub view_channels: Option<ViewChannels>,
    /// Rotated extra renderings per training mesh (`--view-augment`; default depends on
    /// `align`).
    pub view_augment: Option<usize>,
    /// Worker threads; `None` uses all cores (`--jobs`).
    pub jobs: Option<usize>,
    /// Reject meshes with more triangles than this (`--max-faces`).
    pub max_faces: Option<usize>,
    /// Recompute every mesh instead of reusing unchanged rows (`--fresh`).
    pub fresh: bool,
    /// How the table is written (`--format`).
    pub format: TableFormat,
    /// Only this shard (`--shard`); else from Slurm or Kubernetes variables, else all.
    pub shard: Option<Shard>,
    /// Number of shards, for an index from `JOB_COMPLETION_INDEX` (`--shards`).
    pub shards: Option<u32>,
    /// How often a run writes what it has done while it goes on (`--checkpoint-every`,
    /// default 10 minutes; `None` only at the end): [`ExtractOptions::checkpoint_every`].
    pub checkpoint_every: Option<std::time::Duration>,
}

impl Default for FeatureSettings {
    fn default() -> Self {
        let d = DescriptorConfig::default();
        let v = ViewConfig::default();
        FeatureSettings {
            seed: 0,
            d2_points: d.d2_points,
            d2_pairs: d.d2_pairs,
            sdf_points: d.sdf_points,
            sdf_rays: d.sdf_rays,
            sh: true,
            sh_shells: None,
            sh_degrees: None,
            sh_points: None,
            views: true,
            layout: v.layout,
            view_res: v.resolution,
            up: v.up,
            align: v.align,
            view_channels: None,
            view_augment: None,
            jobs: None,
            max_faces: None,
            fresh: false,
            format: TableFormat::default(),
            checkpoint_every: Some(DEFAULT_CHECKPOINT_EVERY),
            shard: None,
            shards: None,
        }
    }
}

impl FeatureSettings {
    /// The descriptor parameters: the given counts, and the spherical harmonics unless turned
    /// off, each of their parameters not given taking [`ShConfig`]'s default.
    pub fn descriptor_config(&self) -> DescriptorConfig {
        DescriptorConfig {
            d2_points: self.d2_points,
            d2_pairs: self.d2_pairs,
            sdf_points: self.sdf_points,
            sdf_rays: self.sdf_rays,
            sh: self.sh.then(|| {
                let d = ShConfig::default();
                ShConfig {
                    shells: self.sh_shells.unwrap_or(d.shells),
                    degrees: self.sh_degrees.unwrap_or(d.degrees),
                    points: self.sh_points.unwrap_or(d.points),
                }
            }),
            ..Default::default()
        }
    }

    /// The view parameters, whether or not views are rendered: under [`Align::Pca`] depth and
    /// shading with 3 extra renderings per training mesh unless asked otherwise, else depth
    /// alone and none.
    pub fn view_config(&self) -> ViewConfig {
        let pca = self.align == Align::Pca;
        ViewConfig {
            layout: self.layout,
            resolution: self.view_res,
            up: self.up,
            align: self.align,
            channels: self.view_channels.unwrap_or(if pca {
                ViewChannels::DepthShade
            } else {
                ViewChannels::Depth
            }),
            augment: self.view_augment.unwrap_or(if pca { 3 } else { 0 }),
        }
    }

    /// The options of a run writing into `out`: views (when on) into `out`, rows reused from
    /// `out` unless `fresh`, and the shard from the settings or, failing that, from the job
    /// scheduler's variables read through `env` (with where it came from). Fails on a shard
    /// that cannot be decided. The options are not validated ([`ExtractOptions::validate`])
    /// and have no stop flag.
    pub fn extract_options(
        &self,
        out: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(ExtractOptions, Option<(Shard, ShardSource)>), String> {
        let shard =
            crate::shard::resolve(self.shard, self.shards, &crate::shard::parts_in(out), env)?;
        let opts = ExtractOptions {
            config: self.descriptor_config(),
            seed: self.seed,
            jobs: self.jobs,
            max_faces: self.max_faces,
            views: self.views.then(|| (self.view_config(), out.to_path_buf())),
            resume_from: (!self.fresh).then(|| out.to_path_buf()),
            stop: None,
            shard: shard.map(|(s, _)| s),
            format: self.format,
            checkpoint_every: self.checkpoint_every,
        };
        Ok((opts, shard))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_descriptor_and_view_defaults_with_spherical_harmonics() {
        let s = FeatureSettings::default();
        assert_eq!(
            s.descriptor_config(),
            DescriptorConfig {
                sh: Some(ShConfig::default()),
                ..Default::default()
            }
        );
        assert_eq!(s.view_config(), ViewConfig::default());
        let off = FeatureSettings {
            sh: false,
            ..Default::default()
        };
        assert_eq!(off.descriptor_config(), DescriptorConfig::default());
    }

    #[test]
    fn pca_alignment_implies_shading_and_three_copies_unless_asked_otherwise() {
        let pca = FeatureSettings {
            align: Align::Pca,
            ..Default::default()
        };
        let v = pca.view_config();
        assert_eq!((v.channels, v.augment), (ViewChannels::DepthShade, 3));
        let asked = FeatureSettings {
            view_channels: Some(ViewChannels::Depth),
            view_augment: Some(0),
            ..pca
        };
        let v = asked.view_config();
        assert_eq!((v.channels, v.augment), (ViewChannels::Depth, 0));
        assert_eq!(FeatureSettings::default().align, Align::Pca);
        let none = FeatureSettings {
            align: Align::None,
            ..Default::default()
        };
        let v = none.view_config();
        assert_eq!((v.channels, v.augment), (ViewChannels::Depth, 0));
    }

    #[test]
    fn options_write_views_into_and_resume_from_the_output_folder() {
        let out = Path::new("/nonexistent/features");
        let (o, shard) = FeatureSettings::default()
            .extract_options(out, &|_| None)
            .unwrap();
        assert!(shard.is_none());
        assert_eq!(o.views.as_ref().map(|v| v.1.as_path()), Some(out));
        assert_eq!(o.resume_from.as_deref(), Some(out));
        let fresh = FeatureSettings {
            fresh: true,
            views: false,
            ..Default::default()
        };
        let (o, _) = fresh.extract_options(out, &|_| None).unwrap();
        assert!(o.views.is_none() && o.resume_from.is_none());
    }
}
