//! Multi-view depth images, the CNN's input: orthographic depth renderings of the normalised mesh
//! from a ring of cameras around the up axis (MVCNN's 12 views, 30 degrees above the horizon) or
//! from the 20 vertices of a dodecahedron (for meshes without a common up direction), one ray per
//! pixel against the same parry3d BVH the SDF uses. Optionally a second channel in the same ray
//! cast, Lambertian shading from the camera ([`ViewChannels::DepthShade`]), and, for training
//! meshes, extra renderings under seeded random rotations ([`ViewConfig::augment`],
//! [`augment_frames`]).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::SdfTracer;
use parry3d::math::Mat3;

use crate::mesh::Vec3;

/// Camera placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum ViewLayout {
    /// 12 cameras every 30 degrees around the up axis, 30 degrees above the horizon.
    #[default]
    Ring12,
    /// 20 cameras on the vertices of a dodecahedron: no preferred up direction.
    Dodecahedron,
}

/// Which axis points up in the dataset (ModelNet: z).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum UpAxis {
    /// +x.
    X,
    /// +y.
    Y,
    /// +z.
    #[default]
    Z,
}

/// How the cameras are posed relative to the mesh. The `features` default is [`Align::Pca`]
/// ([`ViewConfig::default`]); this type's [`Default`], `None`, is what a manifest written before
/// the setting existed means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Align {
    /// In the file's own axes: right when a collection is consistently oriented (ModelNet is
    /// upright).
    #[default]
    None,
    /// In the mesh's area-weighted principal axes (largest spread along x, smallest along z,
    /// signs fixed by third moments; [`crate::mesh::Mesh::principal_frame`]): the same shape in
    /// any orientation gets the same views. For collections in arbitrary poses.
    Pca,
}

impl Align {
    fn is_none(&self) -> bool {
        *self == Align::None
    }
}

/// What each view's pixels hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum ViewChannels {
    /// One channel: depth (0 background, 255 nearest to 1 farthest).
    #[default]
    #[serde(rename = "depth")]
    #[cfg_attr(feature = "cli", value(name = "depth"))]
    Depth,
    /// Two channels: depth, then Lambertian shading from the camera, `|cos|` of the angle
    /// between the hit triangle's normal and the view ray (255 facing the camera, 0 edge-on and
    /// for background), as MVCNN's shaded images with the light at the camera.
    #[serde(rename = "depth+shade")]
    #[cfg_attr(feature = "cli", value(name = "depth+shade"))]
    DepthShade,
}

impl ViewChannels {
    /// Channels per view.
    pub fn count(self) -> usize {
        match self {
            ViewChannels::Depth => 1,
            ViewChannels::DepthShade => 2,
        }
    }

    fn is_depth(&self) -> bool {
        *self == ViewChannels::Depth
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Parameters of the rendered views; recorded in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ViewConfig {
    /// Camera layout.
    pub layout: ViewLayout,
    /// Pixels per side of each view.
    pub resolution: usize,
    /// Up axis for the ring (in the principal frame under [`Align::Pca`]).
    pub up: UpAxis,
    /// Camera pose relative to the mesh (absent in manifests written before it existed, and
    /// when it is the default).
    #[serde(default, skip_serializing_if = "Align::is_none")]
    pub align: Align,
    /// What each view holds (absent in manifests written before it existed, and when it is
    /// depth alone).
    #[serde(default, skip_serializing_if = "ViewChannels::is_depth")]
    pub channels: ViewChannels,
    /// Extra renderings of each training mesh's whole view set under seeded random rotations
    /// ([`augment_frames`]); test meshes never get any. Absent when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub augment: usize,
}

/// The `features` command's defaults: a ring of 12 views of 32x32 pixels in each mesh's
/// principal axes, depth and shading, and 3 rotated copies per training mesh. Measured best or
/// tied for every model on both unaligned and upright data (`docs/BENCHMARKS.md`). A manifest
/// that omits a field still means what it meant when written: no alignment, depth alone, no
/// copies (each field's own serde default).
impl Default for ViewConfig {
    fn default() -> Self {
        ViewConfig {
            layout: ViewLayout::Ring12,
            resolution: 32,
            up: UpAxis::Z,
            align: Align::Pca,
            channels: ViewChannels::DepthShade,
            augment: 3,
        }
    }
}

/// Cameras start this far from the centre: outside the unit sphere that holds the mesh.
const CAMERA_DISTANCE: f32 = 2.0;

impl ViewConfig {
    /// Smallest and largest view resolution accepted (pixels per side).
    pub const RESOLUTION_RANGE: std::ops::RangeInclusive<usize> = 8..=512;

    /// Most augmented renderings per training mesh.
    pub const MAX_AUGMENT: usize = 64;

    /// Checks the settings can be rendered and read back: a resolution in
    /// [`Self::RESOLUTION_RANGE`], at most [`Self::MAX_AUGMENT`] augmented renderings.
    pub fn validate(&self) -> Result<(), crate::setting::InvalidSetting> {
        use crate::setting::InvalidSetting;
        if !Self::RESOLUTION_RANGE.contains(&self.resolution) {
            return Err(InvalidSetting::new(
                "view_res",
                format!(
                    "is {}; it must lie between {} and {}",
                    self.resolution,
                    Self::RESOLUTION_RANGE.start(),
                    Self::RESOLUTION_RANGE.end()
                ),
            ));
        }
        if self.augment > Self::MAX_AUGMENT {
            return Err(InvalidSetting::new(
                "view_augment",
                format!(
                    "is {}; at most {} extra renderings per mesh",
                    self.augment,
                    Self::MAX_AUGMENT
                ),
            ));
        }
        Ok(())
    }

    /// Rays one training mesh's views cast: one per pixel of every view, for the views and each
    /// augmented rendering (test meshes cast those of the views alone).
    pub fn rays_per_training_mesh(&self) -> u64 {
        (self.count() as u64) * (self.resolution as u64).pow(2) * (1 + self.augment as u64)
    }

    /// [`Self::cost_warning`] for one rendering of one mesh (what `render_views` draws): its
    /// rays against one rendering of the default's, without the augmented copies `features`
    /// adds for a training mesh.
    pub fn rendering_cost_warning(&self) -> Option<String> {
        let one = |c: &ViewConfig| (c.count() as u64) * (c.resolution as u64).pow(2);
        self.rays_warning(one(self), one(&ViewConfig::default()), "rendering", "")
    }

    /// A warning when the views make a training mesh cast ten times the default's rays or more
    /// (a ring of 12 views, 32 pixels, 3 copies), with the factor, so a user is not left waiting
    /// without a word.
    pub fn cost_warning(&self) -> Option<String> {
        let renderings = format!(", {} rendering(s)", 1 + self.augment);
        let default = ViewConfig::default().rays_per_training_mesh();
        self.rays_warning(
            self.rays_per_training_mesh(),
            default,
            "training mesh",
            &renderings,
        )
    }

    /// The warning for `rays` cast per `per`, when they are ten times `default` or more.
    fn rays_warning(&self, rays: u64, default: u64, per: &str, more: &str) -> Option<String> {
        let f = rays as f64 / default as f64;
        (f >= 10.0).then(|| {
            format!(
                "the views cast {rays} rays per {per} ({} views of {}x{} pixels{more}), {f:.0}x \
                 the default: expect rendering to take about that much longer",
                self.count(),
                self.resolution,
                self.resolution,
            )
        })
    }

    /// Whether augmented renderings turn the shape about the up axis only (the ring without
    /// alignment: the data has an up, and the ring's cameras stay above the horizon) rather
    /// than by any 3D rotation (the dodecahedron, made for data without an up, and `--align
    /// pca`, whose frame is only as good as the shape's principal axes are distinct).
    pub fn augment_about_up(&self) -> bool {
        self.layout == ViewLayout::Ring12 && self.align == Align::None
    }

    /// Unit vectors from the centre to each camera, in view order.
    pub fn directions(&self) -> Vec<Vec3> {
        let up = self.up_vector();
        match self.layout {
            ViewLayout::Ring12 => {
                let (a, b) = up.any_orthonormal_pair();
                let el = 30f32.to_radians();
                (0..12)
                    .map(|k| {
                        let az = (k as f32 * 30.0).to_radians();
                        (a * az.cos() + b * az.sin()) * el.cos() + up * el.sin()
                    })
                    .collect()
            }
            ViewLayout::Dodecahedron => {
                let phi = (1.0 + 5f32.sqrt()) / 2.0;
                let mut v = Vec::with_capacity(20);
                for x in [-1.0, 1.0] {
                    for y in [-1.0, 1.0] {
                        for z in [-1.0, 1.0] {
                            v.push(Vec3::new(x, y, z));
                        }
                    }
                }
                for s in [-1.0, 1.0] {
                    for t in [-1.0, 1.0] {
                        v.push(Vec3::new(0.0, s / phi, t * phi));
                        v.push(Vec3::new(s / phi, t * phi, 0.0));
                        v.push(Vec3::new(s * phi, 0.0, t / phi));
                    }
                }
                v.into_iter().map(Vec3::normalize).collect()
            }
        }
    }

    fn up_vector(&self) -> Vec3 {
        match self.up {
            UpAxis::X => Vec3::X,
            UpAxis::Y => Vec3::Y,
            UpAxis::Z => Vec3::Z,
        }
    }

    /// Number of views.
    pub fn count(&self) -> usize {
        match self.layout {
            ViewLayout::Ring12 => 12,
            ViewLayout::Dodecahedron => 20,
        }
    }

    /// Bytes of one view set (every view, every channel, one byte a pixel): what holding a
    /// mesh's views, or reading them, takes in memory.
    pub fn set_bytes(&self) -> usize {
        self.count() * self.channels.count() * self.resolution * self.resolution
    }

    /// Views per row when tiled into one image.
    pub fn grid_columns(&self) -> usize {
        match self.layout {
            ViewLayout::Ring12 => 4,
            ViewLayout::Dodecahedron => 5,
        }
    }
}

/// Rendered views: `count` views of `channels` images of `resolution`^2 bytes each, view after
/// view, channel after channel within a view, row-major. Depth (channel 0): 0 is background;
/// hits map linearly from 255 (nearest possible, the camera side of the unit sphere) to 1
/// (farthest). Shading (channel 1, when rendered): [`lambert`] scaled to 0..=255, 0 for
/// background.
#[derive(Debug, Clone, PartialEq)]
pub struct Views {
    /// Pixels of all views.
    pub pixels: Vec<u8>,
    /// Views.
    pub count: usize,
    /// Channels per view.
    pub channels: usize,
    /// Pixels per side.
    pub resolution: usize,
    /// Rays cast.
    pub rays: u64,
    /// Rays that hit the mesh.
    pub hits: u64,
}

/// The turn of every camera for `mesh` under `cfg`: its principal frame under [`Align::Pca`],
/// else none (the file's own axes).
pub fn camera_frame(mesh: &crate::mesh::Mesh, cfg: &ViewConfig) -> Mat3 {
    match cfg.align {
        Align::Pca => mesh.principal_frame(),
        Align::None => Mat3::IDENTITY,
    }
}

/// The views of a normalised mesh alone, without its descriptors: the same pixels as the views
/// [`super::compute_with_views`] renders with them (the rays meet the same BVH), for a caller
/// that wants only the pictures. No augmented renderings.
pub fn render_mesh(mesh: crate::mesh::Mesh, cfg: &ViewConfig) -> Views {
    let frame = camera_frame(&mesh, cfg);
    // Only the BVH is used; the SDF's ray pattern is built from the default parameters and
    // never cast.
    let tracer = SdfTracer::from_mesh(mesh, &super::DescriptorConfig::default());
    render_posed(&tracer, cfg, frame)
}

/// Renders the depth views of the mesh behind `tracer`.
pub fn render(tracer: &SdfTracer, cfg: &ViewConfig) -> Views {
    render_posed(tracer, cfg, Mat3::IDENTITY)
}

/// [`render`] with every camera turned by `frame` about the centre: the views of the mesh
/// rotated by `frame`'s inverse, without moving the mesh (its BVH stays as built).
pub fn render_posed(tracer: &SdfTracer, cfg: &ViewConfig, frame: Mat3) -> Views {
    let r = cfg.resolution;
    let up = frame * cfg.up_vector();
    let dirs: Vec<Vec3> = cfg.directions().into_iter().map(|d| frame * d).collect();
    let shade = cfg.channels == ViewChannels::DepthShade;
    let rows: Vec<(Vec<u8>, Vec<u8>, u64)> = (0..dirs.len() * r)
        .into_par_iter()
        .map(|vr| {
            let (v, row) = (vr / r, vr % r);
            let d = dirs[v];
            // Image axes: right and up as seen from the camera; a camera looking along the up
            // axis (dodecahedron layout never does) would need another reference.
            let reference = if d.cross(up).length_squared() > 1e-6 {
                up
            } else {
                Vec3::X
            };
            let right = reference.cross(d).normalize();
            let img_up = d.cross(right);
            let y = 1.0 - (row as f32 + 0.5) * 2.0 / r as f32;
            let mut out = vec![0u8; r];
            let mut shaded = vec![0u8; if shade { r } else { 0 }];
            let mut hits = 0u64;
            for (col, px) in out.iter_mut().enumerate() {
                let x = -1.0 + (col as f32 + 0.5) * 2.0 / r as f32;
                let origin = d * CAMERA_DISTANCE + right * x + img_up * y;
                if let Some(hit) = tracer.rays().cast(origin, -d, 2.0 * CAMERA_DISTANCE) {
                    // toi lies in [distance - 1, distance + 1] for points in the unit sphere.
                    let depth = ((hit.toi - (CAMERA_DISTANCE - 1.0)) / 2.0).clamp(0.0, 1.0);
                    *px = 255 - (depth * 254.0).round() as u8;
                    hits += 1;
                    if shade {
                        shaded[col] = (lambert(hit.normal, d) * 255.0).round() as u8;
                    }
                }
            }
            (out, shaded, hits)
        })
        .collect();
    let channels = cfg.channels.count();
    let mut pixels = vec![0u8; dirs.len() * channels * r * r];
    let mut hits = 0;
    for (vr, (row, shaded, h)) in rows.into_iter().enumerate() {
        let (v, y) = (vr / r, vr % r);
        let at = |c: usize| (v * channels + c) * r * r + y * r;
        pixels[at(0)..at(0) + r].copy_from_slice(&row);
        if shade {
            pixels[at(1)..at(1) + r].copy_from_slice(&shaded);
        }
        hits += h;
    }
    Views {
        pixels,
        count: dirs.len(),
        channels,
        resolution: r,
        rays: (dirs.len() * r * r) as u64,
        hits,
    }
}

/// Lambertian shading with the light at the camera: `|cos|` of the angle between a face's
/// normal (as wound, any length; faces are lit from either side) and the view direction `d`
/// (unit), in [0, 1]; 0 for a degenerate normal.
pub fn lambert(normal: Vec3, d: Vec3) -> f32 {
    let len = normal.length();
    if len > 0.0 && len.is_finite() {
        (normal.dot(d).abs() / len).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// The `cfg.augment` camera frames of one mesh's augmented renderings, drawn from the mesh's
/// own seed (its [`crate::seeding::mesh_seed`]) on [`crate::seeding::Stream::ViewAugment`], to
/// be composed after the mesh's alignment frame:
/// - the ring without alignment ([`ViewConfig::augment_about_up`]): a turn about the up axis by a
///   uniform angle. The angle is uniform over the whole circle, not only between ring cameras: a
///   turn by a multiple of 30 degrees is a cyclic shift of the ring, which view pooling cannot
///   see, so those draws (a measure-zero set) would add nothing, and the others are new views;
/// - under `--align pca`: what the principal frame is unsure of. Its axes' signs come from third
///   moments, which are near zero for nearly symmetric shapes, so a random one of the four sign
///   changes that keep the frame right-handed (the identity and the half turns about x, y and
///   z), then a small tilt (a uniform axis, up to [`PCA_TILT_DEGREES`]) for axes that are only
///   roughly determined. A uniform 3D rotation would show the network poses the aligned test
///   views never have;
/// - otherwise (the dodecahedron, for data without an up): a uniform random 3D rotation
///   (Shoemake's quaternion).
pub fn augment_frames(cfg: &ViewConfig, mesh_seed: u64) -> Vec<Mat3> {
    use parry3d::math::Rot3;
    use rand::Rng;
    let mut rng = crate::seeding::rng(mesh_seed, crate::seeding::Stream::ViewAugment);
    let up = cfg.up_vector();
    (0..cfg.augment)
        .map(|_| {
            if cfg.augment_about_up() {
                let angle = rng.random_range(0.0..std::f32::consts::TAU);
                Mat3::from_axis_angle(up, angle)
            } else if cfg.align == Align::Pca {
                let flip = match rng.random_range(0..4u8) {
                    0 => Mat3::IDENTITY,
                    1 => Mat3::from_diagonal(Vec3::new(1.0, -1.0, -1.0)),
                    2 => Mat3::from_diagonal(Vec3::new(-1.0, 1.0, -1.0)),
                    _ => Mat3::from_diagonal(Vec3::new(-1.0, -1.0, 1.0)),
                };
                let z: f32 = rng.random_range(-1.0..1.0);
                let phi = rng.random_range(0.0..std::f32::consts::TAU);
                let r = (1.0 - z * z).max(0.0).sqrt();
                let axis = Vec3::new(r * phi.cos(), r * phi.sin(), z);
                let angle = rng.random_range(0.0..PCA_TILT_DEGREES.to_radians());
                Mat3::from_axis_angle(axis, angle) * flip
            } else {
                let (u1, u2, u3): (f32, f32, f32) = (rng.random(), rng.random(), rng.random());
                let (a, b) = ((1.0 - u1).sqrt(), u1.sqrt());
                let (t2, t3) = (std::f32::consts::TAU * u2, std::f32::consts::TAU * u3);
                let q = Rot3::from_xyzw(a * t2.sin(), a * t2.cos(), b * t3.sin(), b * t3.cos())
                    .normalize();
                Mat3::from_quat(q)
            }
        })
        .collect()
}

/// Largest tilt of an augmented rendering under `--align pca`, in degrees.
pub const PCA_TILT_DEGREES: f32 = 20.0;

impl Views {
    /// The pixels of channel `c` of view `i`.
    pub fn plane(&self, i: usize, c: usize) -> &[u8] {
        let n = self.resolution * self.resolution;
        let at = (i * self.channels + c) * n;
        &self.pixels[at..at + n]
    }

    /// The pixels of view `i`'s depth channel.
    pub fn view(&self, i: usize) -> &[u8] {
        self.plane(i, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptors::DescriptorConfig;

    /// The files' own axes, depth alone, no copies: what a manifest without those fields means.
    fn bare() -> ViewConfig {
        ViewConfig {
            align: Align::None,
            channels: ViewChannels::Depth,
            augment: 0,
            ..Default::default()
        }
    }

    #[test]
    fn sphere_views_are_discs_with_bright_centres() {
        let sphere = crate::synth::icosphere(4);
        let tracer = SdfTracer::new(&sphere, &DescriptorConfig::default());
        for layout in [ViewLayout::Ring12, ViewLayout::Dodecahedron] {
            let cfg = ViewConfig {
                layout,
                resolution: 32,
                up: UpAxis::Z,
                ..bare()
            };
            let v = render(&tracer, &cfg);
            assert_eq!(v.count, cfg.count());
            assert_eq!(v.pixels.len(), v.count * 32 * 32);
            // A unit disc covers pi/4 of the square image.
            let frac = v.hits as f64 / v.rays as f64;
            assert!((frac - std::f64::consts::FRAC_PI_4).abs() < 0.03, "{frac}");
            for i in 0..v.count {
                let img = v.view(i);
                assert_eq!(img[0], 0, "corner is background");
                let centre = img[16 * 32 + 16];
                assert!(centre > 240, "nearest point is brightest: {centre}");
                assert!(img[16 * 32 + 2] > 0 && img[16 * 32 + 2] < centre);
            }
        }
    }

    #[test]
    fn ring_cameras_sit_30_degrees_up() {
        for up in [UpAxis::X, UpAxis::Y, UpAxis::Z] {
            let cfg = ViewConfig {
                up,
                ..Default::default()
            };
            let u = cfg.up_vector();
            for d in cfg.directions() {
                assert!((d.dot(u) - 0.5).abs() < 1e-5);
            }
        }
        let dodeca = ViewConfig {
            layout: ViewLayout::Dodecahedron,
            ..Default::default()
        }
        .directions();
        assert_eq!(dodeca.len(), 20);
        assert!(dodeca.iter().fold(Vec3::ZERO, |a, d| a + *d).length() < 1e-4);
    }

    #[test]
    fn pca_alignment_gives_one_shape_in_two_poses_the_same_views() {
        use crate::mesh::Mesh;
        use parry3d::math::Rot3;
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let raw = crate::synth::shape(crate::synth::ShapeClass::Mug, &mut rng);
        let (mut a, _) = Mesh::from_raw(raw).unwrap();
        a.normalize();
        let mut b = a.clone();
        let q = Rot3::from_rotation_z(2.1) * Rot3::from_rotation_x(0.7);
        for v in &mut b.vertices {
            *v = q * *v;
        }
        let dcfg = DescriptorConfig::default();
        let differing = |align: Align| {
            let cfg = ViewConfig {
                align,
                ..ViewConfig::default()
            };
            let va = crate::descriptors::compute_with_views(a.clone(), &dcfg, 0, Some(&cfg));
            let vb = crate::descriptors::compute_with_views(b.clone(), &dcfg, 0, Some(&cfg));
            let (pa, pb) = (va.views.unwrap().pixels, vb.views.unwrap().pixels);
            pa.iter()
                .zip(&pb)
                .filter(|(x, y)| x.abs_diff(**y) > 8)
                .count() as f64
                / pa.len() as f64
        };
        let aligned = differing(Align::Pca);
        let raw_pose = differing(Align::None);
        assert!(
            aligned < 0.01,
            "{aligned} of pixels differ with --align pca"
        );
        assert!(
            raw_pose > 0.1,
            "{raw_pose}: the two poses should look different unaligned"
        );
    }

    /// A square of side 1.6 through the centre, facing camera 0 of `cfg`.
    fn square_facing(cfg: &ViewConfig) -> crate::mesh::Mesh {
        let d = cfg.directions()[0];
        let (a, b) = d.any_orthonormal_pair();
        let corner = |s: f32, t: f32| a * (0.8 * s) + b * (0.8 * t);
        crate::mesh::Mesh {
            vertices: vec![
                corner(-1.0, -1.0),
                corner(1.0, -1.0),
                corner(1.0, 1.0),
                corner(-1.0, 1.0),
            ],
            triangles: vec![[0, 1, 2], [0, 2, 3]],
        }
    }

    #[test]
    fn shading_is_a_second_channel_in_the_same_cast() {
        let sphere = crate::synth::icosphere(4);
        let tracer = SdfTracer::new(&sphere, &DescriptorConfig::default());
        for layout in [ViewLayout::Ring12, ViewLayout::Dodecahedron] {
            let depth_only = ViewConfig {
                layout,
                resolution: 24,
                ..bare()
            };
            let cfg = ViewConfig {
                channels: ViewChannels::DepthShade,
                ..depth_only
            };
            let v = render(&tracer, &cfg);
            assert_eq!((v.channels, v.count), (2, cfg.count()));
            assert_eq!(v.pixels.len(), v.count * 2 * 24 * 24);
            // The depth channel is the one-channel rendering, unchanged.
            let d = render(&tracer, &depth_only);
            for i in 0..v.count {
                assert_eq!(v.view(i), d.view(i));
                let (depth, shade) = (v.plane(i, 0), v.plane(i, 1));
                for (p, s) in depth.iter().zip(shade) {
                    // Background has no shading; a sphere faces every camera somewhere.
                    if *p == 0 {
                        assert_eq!(*s, 0);
                    }
                }
                // A sphere's centre faces the camera: fully lit; its rim is grazing.
                assert!(shade[12 * 24 + 12] > 245, "{}", shade[12 * 24 + 12]);
                assert!(shade[12 * 24 + 1] < shade[12 * 24 + 12]);
            }
        }
    }

    #[test]
    fn a_flat_face_seen_head_on_shades_fully_and_edge_on_not_at_all() {
        let cfg = ViewConfig {
            resolution: 16,
            channels: ViewChannels::DepthShade,
            ..Default::default()
        };
        let tracer = SdfTracer::new(&square_facing(&cfg), &DescriptorConfig::default());
        let v = render(&tracer, &cfg);
        let shade = v.plane(0, 1);
        let lit: Vec<u8> = shade.iter().copied().filter(|&s| s > 0).collect();
        // Most of the image (the square covers 0.64 of it) is the face, every pixel lit ~1.
        assert!(lit.len() > 16 * 16 / 2, "{} lit pixels", lit.len());
        assert!(lit.iter().all(|&s| s >= 254), "{lit:?}");
        assert!((lambert(Vec3::new(0.0, 0.0, 3.0), Vec3::Z) - 1.0).abs() < 1e-6);
        assert!((lambert(Vec3::new(0.0, 0.0, -3.0), Vec3::Z) - 1.0).abs() < 1e-6);
        assert!(lambert(Vec3::X, Vec3::Z).abs() < 1e-6);
        assert_eq!(lambert(Vec3::ZERO, Vec3::Z), 0.0);
        let oblique = lambert(Vec3::new(1.0, 0.0, 1.0), Vec3::Z);
        assert!((oblique - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
    }

    #[test]
    fn augmentation_frames_are_seeded_rotations_of_the_right_kind() {
        let ring = ViewConfig {
            augment: 5,
            ..bare()
        };
        let any = ViewConfig {
            align: Align::Pca,
            ..ring
        };
        let dodeca = ViewConfig {
            layout: ViewLayout::Dodecahedron,
            ..ring
        };
        assert!(ring.augment_about_up());
        assert!(!any.augment_about_up() && !dodeca.augment_about_up());
        for cfg in [ring, any, dodeca] {
            let a = augment_frames(&cfg, 7);
            assert_eq!(a.len(), 5);
            assert_eq!(a, augment_frames(&cfg, 7), "same seed, same turns");
            assert_ne!(a, augment_frames(&cfg, 8), "another seed, other turns");
            for m in &a {
                // Proper rotations.
                assert!((m.determinant() - 1.0).abs() < 1e-4);
                assert!((*m * m.transpose()).abs_diff_eq(Mat3::IDENTITY, 1e-4));
            }
            let up_fixed = a.iter().all(|m| (*m * Vec3::Z - Vec3::Z).length() < 1e-5);
            assert_eq!(up_fixed, cfg.augment_about_up());
        }
        assert!(augment_frames(&bare(), 7).is_empty());
        assert_eq!(augment_frames(&ViewConfig::default(), 7).len(), 3);
        // Under PCA: each frame is a sign change of the principal axes tilted by at most
        // PCA_TILT_DEGREES, and all four sign changes occur.
        let flips = [
            Vec3::ONE,
            Vec3::new(1.0, -1.0, -1.0),
            Vec3::new(-1.0, 1.0, -1.0),
            Vec3::new(-1.0, -1.0, 1.0),
        ];
        let mut seen = [false; 4];
        let many = ViewConfig {
            augment: ViewConfig::MAX_AUGMENT,
            ..any
        };
        for m in augment_frames(&many, 11) {
            let (i, angle) = flips
                .iter()
                .map(|f| {
                    let r = m * Mat3::from_diagonal(*f);
                    ((r.x_axis.x + r.y_axis.y + r.z_axis.z - 1.0) / 2.0)
                        .clamp(-1.0, 1.0)
                        .acos()
                        .to_degrees()
                })
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap();
            assert!(angle <= PCA_TILT_DEGREES + 1e-2, "tilt {angle}");
            seen[i] = true;
        }
        assert_eq!(seen, [true; 4]);
        // Up axis y: the turns keep y.
        let y = ViewConfig {
            up: UpAxis::Y,
            ..ring
        };
        assert!(
            augment_frames(&y, 3)
                .iter()
                .all(|m| (*m * Vec3::Y - Vec3::Y).length() < 1e-5)
        );
    }

    #[test]
    fn manifests_without_channels_or_augmentation_still_read() {
        let old = r#"{"layout":"ring12","resolution":32,"up":"z"}"#;
        let cfg: ViewConfig = serde_json::from_str(old).unwrap();
        assert_eq!(cfg, bare());
        // And the defaults are written as before: absent.
        assert_eq!(serde_json::to_string(&cfg).unwrap(), old);
        let new = ViewConfig {
            channels: ViewChannels::DepthShade,
            augment: 3,
            ..cfg
        };
        let text = serde_json::to_string(&new).unwrap();
        assert!(text.contains(r#""channels":"depth+shade""#), "{text}");
        assert!(text.contains(r#""augment":3"#), "{text}");
        assert_eq!(serde_json::from_str::<ViewConfig>(&text).unwrap(), new);
        assert!(
            ViewConfig {
                augment: ViewConfig::MAX_AUGMENT + 1,
                ..cfg
            }
            .validate()
            .is_err()
        );
    }

    /// Issue #23: settings 27,000 times the default's work started without a word.
    #[test]
    fn view_settings_ten_times_the_default_work_are_announced() {
        let d = ViewConfig::default();
        assert_eq!(d.cost_warning(), None);
        let none = ViewConfig {
            align: Align::None,
            channels: ViewChannels::Depth,
            augment: 0,
            ..d
        };
        assert_eq!(none.cost_warning(), None, "--align none's own defaults");
        let huge = ViewConfig {
            layout: ViewLayout::Dodecahedron,
            resolution: 512,
            augment: 64,
            ..d
        };
        let w = huge.cost_warning().unwrap();
        assert!(w.contains("6933x the default"), "{w}");
        let ten = ViewConfig { augment: 39, ..d };
        assert!(ten.cost_warning().unwrap().contains("10x"));
        let res = ViewConfig {
            resolution: 96,
            ..d
        };
        assert!(res.cost_warning().is_none(), "9x is under the line");
        // One rendering (render_views) is measured against one default rendering.
        let big = ViewConfig {
            resolution: 128,
            ..ViewConfig::default()
        };
        assert!(big.rendering_cost_warning().unwrap().contains("16x"));
    }
}
