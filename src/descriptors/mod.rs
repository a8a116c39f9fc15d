//! Hand-engineered shape descriptors: Osada's shape distributions (D2 and the extras D1, A3, D3),
//! the shape diameter function, a few global shape statistics and, when asked for, Kazhdan's
//! rotation-invariant spherical-harmonics descriptor ([`sh`]), as named feature columns.

pub mod d2;
pub mod raycast;
pub mod sdf;
pub mod sh;
pub mod views;

use crate::setting::InvalidSetting;
use serde::{Deserialize, Serialize};

use crate::mesh::{Mesh, SurfaceSampler, Vec3};
pub use sdf::{SdfStats, SdfTracer};

/// Every parameter that fixes the descriptor columns. Saved in the feature manifest; a model is only
/// applied to features made with the same configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DescriptorConfig {
    /// Surface points for D2, D1, A3 and D3.
    pub d2_points: usize,
    /// Random point pairs for D2; `None` uses all pairs.
    pub d2_pairs: Option<usize>,
    /// D2 histogram bins over `[0, hist_max]`.
    pub d2_bins: usize,
    /// Upper end of the D2 and SDF histograms (the diameter of the unit sphere).
    pub hist_max: f32,
    /// Surface points at which the SDF is measured.
    pub sdf_points: usize,
    /// Rays per SDF point.
    pub sdf_rays: usize,
    /// Full opening angle of the SDF ray cone, degrees.
    pub sdf_cone_deg: f32,
    /// SDF histogram bins over `[0, hist_max]`.
    pub sdf_bins: usize,
    /// Retry a point along its outward normal when no inward ray finds the opposite wall, for
    /// meshes whose faces are not consistently oriented.
    pub sdf_flip_fallback: bool,
    /// Bins of the extra histograms (D1, A3, D3); 0 leaves them out.
    pub extra_bins: usize,
    /// Random point triples for A3 and D3.
    pub triples: usize,
    /// The spherical-harmonics descriptor ([`sh`]); `None` leaves its columns out (and is what
    /// manifests written before it existed mean).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sh: Option<ShConfig>,
}

/// Parameters of the rotation-invariant spherical-harmonics descriptor ([`sh`]): `shells x
/// degrees` columns named `sh_rRR_lLL` (shell `RR`, 0 innermost, centred at radius
/// `(RR + 0.5) / shells`; degree `LL`), shell-major.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShConfig {
    /// Concentric shells over radii `[0, 1]`.
    pub shells: usize,
    /// Harmonic degrees per shell, `l = 0..degrees`.
    pub degrees: usize,
    /// Area-weighted surface points.
    pub points: usize,
}

impl Default for ShConfig {
    fn default() -> Self {
        ShConfig {
            shells: 8,
            degrees: 12,
            points: 8192,
        }
    }
}

impl ShConfig {
    /// Largest number of shells.
    pub const MAX_SHELLS: usize = 64;
    /// Largest number of degrees (`degrees^2` coefficients per shell).
    pub const MAX_DEGREES: usize = 64;
}

impl Default for DescriptorConfig {
    fn default() -> Self {
        DescriptorConfig {
            d2_points: 2048,
            d2_pairs: None,
            d2_bins: 64,
            hist_max: 2.0,
            sdf_points: 512,
            sdf_rays: 30,
            sdf_cone_deg: 120.0,
            sdf_bins: 32,
            sdf_flip_fallback: true,
            extra_bins: 32,
            triples: 32_768,
            sh: None,
        }
    }
}

/// Upper end of the D3 histogram: the square root of the largest triangle area inside the unit
/// sphere (an equilateral triangle on a great circle, 3 sqrt(3) / 4).
const D3_MAX: f32 = 1.139_97;

/// Names of the global shape statistics, in column order.
pub const SHAPE_STATS: [&str; 3] = ["pca_mid", "pca_min", "log_area"];
/// Prefixes of the histogram columns (`d2_00`, `sdf_13`, ...): bins that are shares of one
/// whole, so each is a frequency rather than a measurement.
pub const HISTOGRAMS: [&str; 5] = ["d2", "sdf", "d1", "a3", "d3"];

/// Whether `column` is a histogram bin of [`HISTOGRAMS`] (a prefix, `_`, then digits).
pub fn is_histogram_column(column: &str) -> bool {
    column.split_once('_').is_some_and(|(prefix, bin)| {
        HISTOGRAMS.contains(&prefix) && !bin.is_empty() && bin.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Names of the SDF statistics, in column order.
pub const SDF_STATS: [&str; 4] = ["mean", "std", "median", "nohit"];

impl DescriptorConfig {
    /// Column names, in the order [`compute`] fills them.
    pub fn columns(&self) -> Vec<String> {
        let mut c = Vec::new();
        let mut hist = |prefix: &str, n: usize| {
            c.extend((0..n).map(|i| format!("{prefix}_{i:02}")));
        };
        let [d2, sdf, d1, a3, d3] = HISTOGRAMS;
        hist(d2, self.d2_bins);
        hist(sdf, self.sdf_bins);
        hist(d1, self.extra_bins);
        hist(a3, self.extra_bins);
        hist(d3, self.extra_bins);
        if self.extra_bins > 0 {
            c.extend(SDF_STATS.iter().map(|s| format!("sdfstat_{s}")));
            c.extend(SHAPE_STATS.iter().map(|s| format!("shape_{s}")));
        }
        if let Some(sh) = &self.sh {
            for r in 0..sh.shells {
                c.extend((0..sh.degrees).map(|l| format!("sh_r{r:02}_l{l:02}")));
            }
        }
        c
    }

    /// Checks the parameters make sense before any mesh is touched: every count positive (a
    /// histogram of zero pairs would sum to 0, not 1) and below a limit past which one mesh
    /// would take hours or the memory would not fit.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let bad = |name, problem: String| Err(InvalidSetting::new(name, problem));
        if self.d2_points < 2 {
            return bad("d2_points", format!("is {}; at least 2", self.d2_points));
        }
        if self.d2_pairs == Some(0) {
            return bad(
                "d2_pairs",
                "is 0; at least 1 (or left out for all pairs)".into(),
            );
        }
        let positive = [
            ("d2_bins", self.d2_bins),
            ("sdf_bins", self.sdf_bins),
            ("sdf_points", self.sdf_points),
            ("sdf_rays", self.sdf_rays),
        ];
        if let Some((name, _)) = positive.into_iter().find(|(_, v)| *v == 0) {
            return bad(name, "is 0; at least 1".into());
        }
        let limits = [
            ("d2_points", self.d2_points, Self::MAX_POINTS),
            ("d2_pairs", self.d2_pairs.unwrap_or(1), Self::MAX_PAIRS),
            ("sdf_points", self.sdf_points, Self::MAX_POINTS),
            ("sdf_rays", self.sdf_rays, Self::MAX_SDF_RAYS),
            ("d2_bins", self.d2_bins, Self::MAX_BINS),
            ("sdf_bins", self.sdf_bins, Self::MAX_BINS),
            ("extra_bins", self.extra_bins, Self::MAX_BINS),
            ("triples", self.triples, Self::MAX_PAIRS),
        ];
        for (name, v, max) in limits {
            if v > max {
                return bad(name, format!("is {v}, more than the limit of {max}"));
            }
        }
        if self.d2_pairs.is_none() && self.d2_points > Self::MAX_ALL_PAIRS_POINTS {
            return bad(
                "d2_points",
                format!(
                    "is {} with all pairs, {:.2e} pairs per mesh; above {} points give d2_pairs to sample pairs",
                    self.d2_points,
                    self.d2_pair_count() as f64,
                    Self::MAX_ALL_PAIRS_POINTS
                ),
            );
        }
        if !(self.sdf_cone_deg > 0.0 && self.sdf_cone_deg < 180.0) {
            return bad(
                "sdf_cone_deg",
                format!("is {}; it must lie in (0, 180)", self.sdf_cone_deg),
            );
        }
        if self.hist_max.is_nan() || self.hist_max <= 0.0 {
            return bad("hist_max", format!("is {}; it must be > 0", self.hist_max));
        }
        if let Some(sh) = &self.sh {
            let limits = [
                ("sh_shells", sh.shells, ShConfig::MAX_SHELLS),
                ("sh_degrees", sh.degrees, ShConfig::MAX_DEGREES),
                ("sh_points", sh.points, Self::MAX_POINTS),
            ];
            for (name, v, max) in limits {
                if v == 0 {
                    return bad(name, "is 0; at least 1".into());
                }
                if v > max {
                    return bad(name, format!("is {v}, more than the limit of {max}"));
                }
            }
        }
        Ok(())
    }
}

impl DescriptorConfig {
    /// Largest surface-point count for D2 or the SDF.
    pub const MAX_POINTS: usize = 1 << 20;
    /// Largest D2 point count when all pairs are used (2.1e9 pairs, 1000x the default).
    pub const MAX_ALL_PAIRS_POINTS: usize = 65_536;
    /// Largest number of sampled pairs or triples.
    pub const MAX_PAIRS: usize = 1 << 32;
    /// Largest number of rays per SDF point.
    pub const MAX_SDF_RAYS: usize = 4096;
    /// Largest histogram bin count.
    pub const MAX_BINS: usize = 4096;

    /// D2 point pairs per mesh.
    pub fn d2_pair_count(&self) -> u64 {
        let n = self.d2_points as u64;
        self.d2_pairs
            .map_or(n * n.saturating_sub(1) / 2, |p| p as u64)
    }

    /// Warnings for settings that make each mesh take far longer (10x or more) than the
    /// defaults, with the factor, so a user is not left waiting without a word.
    pub fn cost_warnings(&self) -> Vec<String> {
        let d = DescriptorConfig::default();
        let mut w = Vec::new();
        let pairs = self.d2_pair_count() as f64 / d.d2_pair_count() as f64;
        if pairs >= 10.0 {
            w.push(format!(
                "D2 uses {:.2e} point pairs per mesh, {pairs:.0}x the default: expect D2 to take about that much longer",
                self.d2_pair_count() as f64
            ));
        }
        let rays = (self.sdf_points * self.sdf_rays) as f64 / (d.sdf_points * d.sdf_rays) as f64;
        if rays >= 10.0 {
            w.push(format!(
                "the SDF casts {} rays per mesh, {rays:.0}x the default: expect it to take about that much longer",
                self.sdf_points * self.sdf_rays
            ));
        }
        if let Some(sh) = &self.sh {
            let d = ShConfig::default();
            let work = |c: &ShConfig| (c.points * c.degrees * c.degrees) as f64;
            let f = work(sh) / work(&d);
            if f >= 10.0 {
                w.push(format!(
                    "the spherical-harmonics descriptor evaluates {:.2e} harmonics per mesh, {f:.0}x its default: expect it to take about that much longer",
                    work(sh)
                ));
            }
        }
        w
    }
}

/// Descriptor values of one mesh, in [`DescriptorConfig::columns`] order, with SDF bookkeeping
/// and, when asked for, its depth views.
#[derive(Debug, Clone)]
pub struct Descriptors {
    /// Feature values.
    pub values: Vec<f32>,
    /// What the SDF rays found.
    pub sdf: SdfStats,
    /// Depth views, rendered against the same BVH.
    pub views: Option<views::Views>,
    /// Extra renderings of the views under seeded random rotations
    /// ([`views::augment_frames`]), for a training mesh; empty otherwise.
    pub augmented: Vec<views::Views>,
}

pub use crate::seeding::rng_for;

use crate::seeding::{Stream, rng};

/// Computes all descriptors of a normalised mesh. `seed` fixes every random choice.
pub fn compute(mesh: &Mesh, cfg: &DescriptorConfig, seed: u64) -> Descriptors {
    compute_with_views(mesh.clone(), cfg, seed, None)
}

/// [`compute`] on a mesh it may consume (its buffers become the BVH's, so a large mesh is never
/// held twice), and renders the depth views of `view_cfg` with the same BVH. No augmented
/// renderings (those are for training meshes: [`compute_with_augmented_views`]).
pub fn compute_with_views(
    mesh: Mesh,
    cfg: &DescriptorConfig,
    seed: u64,
    view_cfg: Option<&views::ViewConfig>,
) -> Descriptors {
    compute_with_augmented_views(mesh, cfg, seed, view_cfg, false)
}

/// [`compute_with_views`], and when `augment` is set (a training mesh) also the
/// `view_cfg.augment` extra renderings under the random rotations [`views::augment_frames`]
/// draws from `seed`, each composed after the alignment frame.
pub fn compute_with_augmented_views(
    mesh: Mesh,
    cfg: &DescriptorConfig,
    seed: u64,
    view_cfg: Option<&views::ViewConfig>,
    augment: bool,
) -> Descriptors {
    // Every sample is drawn before the BVH is built, so the sampler's tables are gone by then.
    let (pts, sdf_samples, sh_pts, area) = {
        let sampler = SurfaceSampler::new(&mesh);
        let pts = sampler.points(cfg.d2_points, &mut rng(seed, Stream::D2Points));
        let sdf_samples = sampler.sample(cfg.sdf_points, &mut rng(seed, Stream::SdfPoints));
        let sh_pts = cfg
            .sh
            .map(|sh| sampler.points(sh.points, &mut rng(seed, Stream::ShPoints)));
        (pts, sdf_samples, sh_pts, sampler.area())
    };
    let mut values = Vec::with_capacity(cfg.columns().len());
    values.extend(d2::d2_histogram(
        &pts,
        cfg.d2_bins,
        cfg.hist_max,
        cfg.d2_pairs,
        seed,
    ));
    let frame = view_cfg.map_or(parry3d::math::Mat3::IDENTITY, |v| {
        views::camera_frame(&mesh, v)
    });
    let tracer = SdfTracer::from_mesh(mesh, cfg);
    let (sdf_values, stats) = tracer.sdf_at(&sdf_samples);
    values.extend(sdf::histogram(&sdf_values, cfg.sdf_bins, cfg.hist_max));
    if cfg.extra_bins > 0 {
        let b = cfg.extra_bins;
        values.extend(d2::d1_histogram(&pts, b, 1.0));
        let mut rng = rng(seed, Stream::Triples);
        let (a3, d3) = d2::a3_d3_histograms(&pts, b, D3_MAX, cfg.triples, &mut rng);
        values.extend(a3);
        values.extend(d3);
        values.extend(sdf::statistics(&sdf_values));
        values.extend(shape_statistics(&pts, area));
    }
    if let (Some(sh), Some(sh_pts)) = (&cfg.sh, &sh_pts) {
        let basis = sh::ShBasis::new(sh.degrees);
        values.extend(sh::sh_descriptor(sh_pts, sh.shells, &basis));
    }
    let views = view_cfg.map(|v| views::render_posed(&tracer, v, frame));
    let augmented = match view_cfg {
        Some(v) if augment => views::augment_frames(v, seed)
            .into_iter()
            .map(|turn| views::render_posed(&tracer, v, frame * turn))
            .collect(),
        _ => Vec::new(),
    };
    Descriptors {
        values,
        sdf: stats,
        views,
        augmented,
    }
}

/// Principal-axis spread ratios (middle/largest, smallest/largest) of surface points and the log
/// of the surface area (large for thin shells and lattices): cheap global cues that histograms of
/// distances blur.
fn shape_statistics(pts: &[Vec3], area: f64) -> [f32; 3] {
    let n = pts.len() as f32;
    let mean = pts.iter().fold(Vec3::ZERO, |a, p| a + *p) / n;
    let mut cov = [[0f32; 3]; 3];
    for p in pts {
        let d = (*p - mean).to_array();
        for (i, row) in cov.iter_mut().enumerate() {
            for (j, c) in row.iter_mut().enumerate() {
                *c += d[i] * d[j] / n;
            }
        }
    }
    let m = parry3d::math::Mat3::from_cols_array_2d(&cov);
    let eig = parry3d::math::SymmetricEigen3::new(m);
    let mut ev = eig.eigenvalues.to_array().map(|e| e.max(0.0));
    ev.sort_by(|a, b| b.total_cmp(a));
    let top = ev[0].max(1e-12);
    [ev[1] / top, ev[2] / top, (area.max(1e-12)).ln() as f32]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_that_give_wrong_or_endless_output_are_refused() {
        let ok = DescriptorConfig::default();
        assert!(ok.validate().is_ok());
        assert!(ok.cost_warnings().is_empty());
        let with = |f: fn(&mut DescriptorConfig)| {
            let mut c = DescriptorConfig::default();
            f(&mut c);
            c
        };
        // Zero pairs would give a histogram summing to 0.
        assert!(with(|c| c.d2_pairs = Some(0)).validate().is_err());
        assert!(with(|c| c.d2_points = 1_000_000).validate().is_err());
        assert!(with(|c| c.sdf_rays = 100_000).validate().is_err());
        assert!(with(|c| c.sdf_points = 0).validate().is_err());
        // Allowed but slow: said up front.
        let slow = with(|c| c.d2_points = 20_000);
        assert!(slow.validate().is_ok());
        assert_eq!(slow.cost_warnings().len(), 1);
        let sampled = with(|c| {
            c.d2_points = 1_000_000;
            c.d2_pairs = Some(1_000_000);
        });
        assert!(sampled.validate().is_ok());
        assert!(sampled.cost_warnings().is_empty());
    }

    #[test]
    fn columns_match_values() {
        let m = crate::synth::icosphere(2);
        let cfg = DescriptorConfig {
            sdf_points: 64,
            triples: 1000,
            d2_points: 256,
            ..Default::default()
        };
        let d = compute(&m, &cfg, 1);
        assert_eq!(d.values.len(), cfg.columns().len());
        assert!(d.values.iter().all(|v| v.is_finite()));
        assert_eq!(cfg.columns()[0], "d2_00");
        assert_eq!(cfg.columns()[64], "sdf_00");
        let bins = 64 + 32 + 3 * 32;
        let cols = cfg.columns();
        assert!(cols[..bins].iter().all(|c| is_histogram_column(c)));
        assert!(
            !cols[bins..].iter().any(|c| is_histogram_column(c)),
            "{cols:?}"
        );
        for not in ["sh_r00_l01", "d2_", "d2_x1", "d2", "xd2_01", "sdfstat_mean"] {
            assert!(!is_histogram_column(not), "{not}");
        }
    }

    #[test]
    fn sh_columns_come_last_shell_major_and_only_when_asked_for() {
        let m = crate::synth::icosphere(2);
        let base = DescriptorConfig {
            sdf_points: 64,
            triples: 1000,
            d2_points: 256,
            ..Default::default()
        };
        let cfg = DescriptorConfig {
            sh: Some(ShConfig {
                shells: 3,
                degrees: 4,
                points: 500,
            }),
            ..base.clone()
        };
        let cols = cfg.columns();
        let n = base.columns().len();
        assert_eq!(cols.len(), n + 12);
        assert_eq!(cols[..n], base.columns()[..]);
        assert_eq!(cols[n], "sh_r00_l00");
        assert_eq!(cols[n + 5], "sh_r01_l01");
        assert_eq!(cols[n + 11], "sh_r02_l03");
        let with = compute(&m, &cfg, 1).values;
        assert_eq!(with.len(), cols.len());
        assert!(with.iter().all(|v| v.is_finite()));
        // Its own random stream: every other column is unchanged.
        assert_eq!(with[..n], compute(&m, &base, 1).values[..]);
        // Manifests without it read as without it, and it is written only when on.
        assert!(!serde_json::to_string(&base).unwrap().contains("\"sh\""));
        let json = serde_json::to_string(&cfg).unwrap();
        assert_eq!(
            serde_json::from_str::<DescriptorConfig>(&json).unwrap(),
            cfg
        );
        let bad = |sh: ShConfig| {
            DescriptorConfig {
                sh: Some(sh),
                ..Default::default()
            }
            .validate()
            .is_err()
        };
        let d = ShConfig::default();
        assert!(bad(ShConfig { shells: 0, ..d }));
        assert!(bad(ShConfig { degrees: 0, ..d }));
        assert!(bad(ShConfig { degrees: 65, ..d }));
        assert!(bad(ShConfig { points: 0, ..d }));
        assert!(!bad(d));
        // Allowed but slow: said up front.
        let slow = DescriptorConfig {
            sh: Some(ShConfig {
                points: 1 << 20,
                ..d
            }),
            ..Default::default()
        };
        assert!(slow.validate().is_ok());
        assert_eq!(slow.cost_warnings().len(), 1);
    }

    #[test]
    fn same_seed_same_values_other_seed_differs() {
        let m = crate::synth::icosphere(2);
        let cfg = DescriptorConfig {
            sdf_points: 64,
            d2_points: 256,
            triples: 1000,
            ..Default::default()
        };
        assert_eq!(compute(&m, &cfg, 5).values, compute(&m, &cfg, 5).values);
        assert_ne!(compute(&m, &cfg, 5).values, compute(&m, &cfg, 6).values);
    }
}
