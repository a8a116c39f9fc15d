//! Multi-view depth images, the CNN's input: orthographic depth renderings of the normalised mesh
//! from a ring of cameras around the up axis (MVCNN's 12 views, 30 degrees above the horizon) or
//! from the 20 vertices of a dodecahedron (for meshes without a common up direction), one ray per
//! pixel against the same parry3d BVH the SDF uses.

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

/// How the cameras are posed relative to the mesh.
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
}

impl Default for ViewConfig {
    fn default() -> Self {
        ViewConfig {
            layout: ViewLayout::Ring12,
            resolution: 32,
            up: UpAxis::Z,
            align: Align::None,
        }
    }
}

/// Cameras start this far from the centre: outside the unit sphere that holds the mesh.
const CAMERA_DISTANCE: f32 = 2.0;

impl ViewConfig {
    /// Smallest and largest view resolution accepted (pixels per side).
    pub const RESOLUTION_RANGE: std::ops::RangeInclusive<usize> = 8..=512;

    /// Checks the settings can be rendered and read back: a resolution in
    /// [`Self::RESOLUTION_RANGE`].
    pub fn validate(&self) -> Result<(), String> {
        if Self::RESOLUTION_RANGE.contains(&self.resolution) {
            Ok(())
        } else {
            Err(format!(
                "--view-res is {}; it must lie between {} and {}",
                self.resolution,
                Self::RESOLUTION_RANGE.start(),
                Self::RESOLUTION_RANGE.end()
            ))
        }
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

    /// Views per row when tiled into one image.
    pub fn grid_columns(&self) -> usize {
        match self.layout {
            ViewLayout::Ring12 => 4,
            ViewLayout::Dodecahedron => 5,
        }
    }
}

/// Rendered views: `count` images of `resolution`^2 bytes, view after view, row-major. 0 is
/// background; hits map linearly from 255 (nearest possible, the camera side of the unit sphere)
/// to 1 (farthest).
#[derive(Debug, Clone, PartialEq)]
pub struct Views {
    /// Pixels of all views.
    pub pixels: Vec<u8>,
    /// Views.
    pub count: usize,
    /// Pixels per side.
    pub resolution: usize,
    /// Rays cast.
    pub rays: u64,
    /// Rays that hit the mesh.
    pub hits: u64,
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
    let rows: Vec<(Vec<u8>, u64)> = (0..dirs.len() * r)
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
            let mut hits = 0u64;
            for (col, px) in out.iter_mut().enumerate() {
                let x = -1.0 + (col as f32 + 0.5) * 2.0 / r as f32;
                let origin = d * CAMERA_DISTANCE + right * x + img_up * y;
                if let Some((toi, _)) = tracer.cast(origin, -d, 2.0 * CAMERA_DISTANCE) {
                    // toi lies in [distance - 1, distance + 1] for points in the unit sphere.
                    let depth = ((toi - (CAMERA_DISTANCE - 1.0)) / 2.0).clamp(0.0, 1.0);
                    *px = 255 - (depth * 254.0).round() as u8;
                    hits += 1;
                }
            }
            (out, hits)
        })
        .collect();
    let mut pixels = Vec::with_capacity(dirs.len() * r * r);
    let mut hits = 0;
    for (row, h) in rows {
        pixels.extend(row);
        hits += h;
    }
    Views {
        pixels,
        count: dirs.len(),
        resolution: r,
        rays: (dirs.len() * r * r) as u64,
        hits,
    }
}

impl Views {
    /// The pixels of view `i`.
    pub fn view(&self, i: usize) -> &[u8] {
        let n = self.resolution * self.resolution;
        &self.pixels[i * n..(i + 1) * n]
    }

    /// All views tiled into one grayscale image, `columns` per row: (width, height, pixels).
    pub fn tile(&self, columns: usize) -> (u32, u32, Vec<u8>) {
        let r = self.resolution;
        let rows = self.count.div_ceil(columns);
        let (w, h) = (columns * r, rows * r);
        let mut img = vec![0u8; w * h];
        for v in 0..self.count {
            let (gx, gy) = (v % columns, v / columns);
            for y in 0..r {
                let dst = (gy * r + y) * w + gx * r;
                img[dst..dst + r].copy_from_slice(&self.view(v)[y * r..(y + 1) * r]);
            }
        }
        (w as u32, h as u32, img)
    }

    /// Reads tiled views back from a grid image.
    pub fn untile(w: u32, h: u32, img: &[u8], cfg: &ViewConfig) -> Result<Views, String> {
        let (r, n, cols) = (cfg.resolution, cfg.count(), cfg.grid_columns());
        let rows = n.div_ceil(cols);
        if w as usize != cols * r || h as usize != rows * r || img.len() != (w * h) as usize {
            return Err(format!(
                "view image is {w}x{h}, expected {}x{} for {n} views of {r}x{r}",
                cols * r,
                rows * r
            ));
        }
        let mut pixels = Vec::with_capacity(n * r * r);
        for v in 0..n {
            let (gx, gy) = (v % cols, v / cols);
            for y in 0..r {
                let src = (gy * r + y) * w as usize + gx * r;
                pixels.extend_from_slice(&img[src..src + r]);
            }
        }
        Ok(Views {
            pixels,
            count: n,
            resolution: r,
            rays: 0,
            hits: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptors::DescriptorConfig;

    #[test]
    fn sphere_views_are_discs_with_bright_centres() {
        let sphere = crate::synth::icosphere(4);
        let tracer = SdfTracer::new(&sphere, &DescriptorConfig::default());
        for layout in [ViewLayout::Ring12, ViewLayout::Dodecahedron] {
            let cfg = ViewConfig {
                layout,
                resolution: 32,
                up: UpAxis::Z,
                align: Align::None,
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
            let (w, h, tiled) = v.tile(cfg.grid_columns());
            let back = Views::untile(w, h, &tiled, &cfg).unwrap();
            assert_eq!(back.pixels, v.pixels);
            assert!(Views::untile(w, h + 32, &tiled, &cfg).is_err());
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
}
