//! Pictures for people: the confusion matrix, training curves and the model comparison, as PNG.
//! Text is drawn with an embedded DejaVu Sans, so no system fonts are needed.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::observe::EpochStats;
use crate::report::Metrics;
use crate::text::ellipsize;

fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Registration fails only for malformed font bytes, which the crate does not ship.
        let _ = register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    });
}

type PlotResult = Result<(), Box<dyn std::error::Error>>;

/// Largest width and height of any picture, in pixels: whatever the class names, class count or
/// model count, a picture stays a few tens of megabytes to draw.
pub const MAX_SIDE: u32 = 4096;

/// Characters of a class or model name drawn on a picture; longer names end in `…`.
pub const LABEL_CHARS: usize = 40;

/// Refuses a picture larger than [`MAX_SIDE`] before its pixels are allocated (the layouts below
/// never ask for one; this keeps it so).
fn check_size(w: u32, h: u32) -> PlotResult {
    if w > MAX_SIDE || h > MAX_SIDE {
        return Err(format!("a {w}x{h} picture, larger than {MAX_SIDE} pixels a side").into());
    }
    Ok(())
}

/// Width in pixels of `chars` characters of 12-pixel DejaVu Sans, generously.
fn text_width(chars: usize) -> u32 {
    7 * chars.min(4 * LABEL_CHARS) as u32
}

/// Okabe and Ito's palette (2008), told apart under every common colour-vision deficiency:
/// blue, orange, bluish green, vermillion.
pub const PALETTE: [RGBColor; 4] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(213, 94, 0),
];

/// Renders into a temporary PNG beside `path`, then renames it over `path`.
fn atomic_png(
    path: &Path,
    w: u32,
    h: u32,
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> PlotResult,
) -> PlotResult {
    check_size(w, h)?;
    fonts();
    // The encoder picks the format by extension, so the temporary name must end in .png.
    let tmp = path.with_file_name(format!(".shapeclf-{}.tmp.png", std::process::id()));
    let result = (|| -> PlotResult {
        {
            let root = BitMapBackend::new(&tmp, (w, h)).into_drawing_area();
            root.fill(&WHITE)?;
            draw(&root)?;
            root.present()?;
        }
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        // A failed write (a full disk) leaves no half-written picture behind.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The confusion matrix as a heat map with counts; rows are true classes, columns predicted.
///
/// Names are cut to [`LABEL_CHARS`] characters and cells shrink with the class count, so the
/// picture is never larger than [`MAX_SIDE`]; past 1,000 classes neighbouring classes share a
/// cell (their counts summed) and the names are left out.
pub fn confusion_png(m: &Metrics, title: &str, path: &Path) -> PlotResult {
    let k = m.classes.len();
    let labels: Vec<String> = m
        .classes
        .iter()
        .map(|c| crate::text::escape_controls(&ellipsize(c, LABEL_CHARS)).into_owned())
        .collect();
    let supports: Vec<usize> = m.confusion_matrix.iter().map(|r| r.iter().sum()).collect();
    // Cells per side: one per class, or groups of neighbouring classes past 1,000.
    let n = k.min(1000);
    let group = |i: usize| i * n / k.max(1);
    let mut grid = vec![vec![0usize; n]; n];
    for (i, row) in m.confusion_matrix.iter().enumerate().take(k) {
        for (j, &v) in row.iter().enumerate().take(k) {
            grid[group(i)][group(j)] += v;
        }
    }
    let named = n == k;
    let row_chars = labels
        .iter()
        .zip(&supports)
        .map(|(l, s)| l.chars().count() + s.to_string().len() + 3)
        .max()
        .unwrap_or(4);
    let col_chars = labels.iter().map(|l| l.chars().count()).max().unwrap_or(4);
    let (label_w, label_h) = if named {
        (text_width(row_chars) + 20, text_width(col_chars) + 10)
    } else {
        (20, 10)
    };
    let fit = (MAX_SIDE - label_w.max(label_h) - 80) / n.max(1) as u32;
    let cell = (560 / n.max(1) as u32).clamp(14, 60).min(fit).max(1);
    let (w, h) = (
        (label_w + cell * n as u32 + 40).max(480),
        50 + label_h + cell * n as u32 + 40,
    );
    let title = ellipsize(title, (w as usize - 20) / 10).into_owned();
    atomic_png(path, w, h, |root| {
        root.draw(&Text::new(title, (10, 10), ("sans-serif", 18).into_font()))?;
        let max = grid.iter().flatten().copied().max().unwrap_or(1).max(1);
        let (x0, y0) = (label_w as i32, 50 + label_h as i32);
        let cell_i = cell as i32;
        for (i, row) in grid.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                let t = v as f64 / max as f64;
                // Right answers in shades of blue, wrong ones in shades of vermillion: a pair
                // that stays apart without red-green vision.
                let [base, _, _, wrong] = PALETTE;
                let c = if i == j { base } else { wrong };
                let mix = |ch: u8| (255.0 - t * 0.8 * (255.0 - f64::from(ch))) as u8;
                let color = RGBColor(mix(c.0), mix(c.1), mix(c.2));
                let (cx, cy) = (x0 + j as i32 * cell_i, y0 + i as i32 * cell_i);
                let corners = [(cx, cy), (cx + cell_i, cy + cell_i)];
                root.draw(&Rectangle::new(corners, color.filled()))?;
                if cell >= 6 {
                    root.draw(&Rectangle::new(corners, RGBColor(220, 220, 220)))?;
                }
                if v > 0 && cell >= 18 {
                    root.draw(&Text::new(
                        v.to_string(),
                        (cx + 3, cy + cell_i / 3),
                        ("sans-serif", (cell / 3).clamp(9, 16)).into_font(),
                    ))?;
                }
            }
        }
        if named && cell >= 10 {
            for (i, (l, support)) in labels.iter().zip(&supports).enumerate() {
                root.draw(&Text::new(
                    format!("{l} ({support})"),
                    (5, y0 + i as i32 * cell_i + cell_i / 3),
                    ("sans-serif", 12).into_font(),
                ))?;
                let style = ("sans-serif", 12)
                    .into_font()
                    .transform(FontTransform::Rotate270);
                root.draw(&Text::new(
                    l.clone(),
                    (x0 + i as i32 * cell_i + cell_i / 3, y0 - 5),
                    style,
                ))?;
            }
        }
        let note = if named {
            "rows: true class (support), columns: predicted".to_string()
        } else {
            format!(
                "rows: true class, columns: predicted; {k} classes in groups of about {}",
                k.div_ceil(n)
            )
        };
        root.draw(&Text::new(
            note,
            (10, h as i32 - 22),
            ("sans-serif", 13).into_font(),
        ))?;
        Ok(())
    })
}

/// Training loss and accuracies per epoch.
pub fn curves_png(history: &[EpochStats], title: &str, path: &Path) -> PlotResult {
    atomic_png(path, 900, 420, |root| {
        let (left, right) = root.split_horizontally(450);
        let n = history.len().max(2) as f64;
        let max_loss = history.iter().map(|e| e.loss).fold(0.0, f64::max).max(1e-6) * 1.05;
        let mut c = ChartBuilder::on(&left)
            .caption(format!("{title}: training loss"), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(1.0..n, 0.0..max_loss)?;
        c.configure_mesh().x_desc("epoch").draw()?;
        c.draw_series(LineSeries::new(
            history.iter().map(|e| (e.epoch as f64, e.loss)),
            PALETTE[0].stroke_width(2),
        ))?;
        let mut c = ChartBuilder::on(&right)
            .caption("accuracy", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(1.0..n, 0.0..1.0)?;
        c.configure_mesh().x_desc("epoch").draw()?;
        c.draw_series(LineSeries::new(
            history.iter().map(|e| (e.epoch as f64, e.train_accuracy)),
            PALETTE[0].stroke_width(2),
        ))?
        .label("train")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 15, y)], PALETTE[0].stroke_width(2)));
        if history.iter().any(|e| e.val_accuracy.is_some()) {
            c.draw_series(LineSeries::new(
                history
                    .iter()
                    .filter_map(|e| e.val_accuracy.map(|a| (e.epoch as f64, a))),
                PALETTE[1].stroke_width(3),
            ))?
            .label("validation")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 15, y)], PALETTE[1].stroke_width(3)));
        }
        c.configure_series_labels()
            .background_style(WHITE)
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// One model's bars in [`comparison_png`]: its name, how many seeds it was trained with, and
/// the (mean, standard deviation) of its accuracy, mean class accuracy and macro F1.
pub type ModelScores = (String, usize, [(f64, f64); 3]);

/// The models' test scores side by side: for each model its accuracy, mean class accuracy and
/// macro F1 as bars (the mean over seeds where it has several, with a bar of one standard
/// deviation either way), on an axis from 0 to 1, the model's name centred under its bars.
/// `rows` holds each model's name, its number of seeds and its three scores as (mean, standard
/// deviation).
pub fn comparison_png(rows: &[ModelScores], path: &Path) -> PlotResult {
    let w = (360 + 220 * rows.len().min(MAX_SIDE as usize) as u32).min(MAX_SIDE);
    atomic_png(path, w, 480, |root| {
        let mut c = ChartBuilder::on(root)
            .caption(
                "descriptors against learned features: test scores",
                ("sans-serif", 20),
            )
            .margin(15)
            .x_label_area_size(70)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..rows.len() as f64, 0.0..1.0)?;
        c.configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc("score")
            .label_style(("sans-serif", 15))
            .draw()?;
        let colors = [PALETTE[0], PALETTE[1], PALETTE[2]];
        let names = ["accuracy", "mean class accuracy", "macro F1"];
        for (s, (color, name)) in colors.into_iter().zip(names).enumerate() {
            c.draw_series(rows.iter().enumerate().map(|(i, r)| {
                let x0 = i as f64 + 0.15 + 0.24 * s as f64;
                Rectangle::new([(x0, 0.0), (x0 + 0.22, r.2[s].0)], color.filled())
            }))?;
            // The legend, one row under the names: a swatch and the score's name.
            let (lx, ly) = (20 + 210 * s as i32, 480 - 28);
            root.draw(&Rectangle::new(
                [(lx, ly), (lx + 14, ly + 14)],
                color.filled(),
            ))?;
            root.draw(&Text::new(name, (lx + 20, ly - 1), ("sans-serif", 15)))?;
            // One standard deviation either way, clipped to the axis.
            for (i, r) in rows.iter().enumerate() {
                let (m, sd) = r.2[s];
                if sd <= 0.0 {
                    continue;
                }
                let x = i as f64 + 0.26 + 0.24 * s as f64;
                let (lo, hi) = ((m - sd).max(0.0), (m + sd).min(1.0));
                let line = |a: (f64, f64), b: (f64, f64)| {
                    PathElement::new(vec![a, b], BLACK.stroke_width(2))
                };
                c.draw_series([
                    line((x, lo), (x, hi)),
                    line((x - 0.04, lo), (x + 0.04, lo)),
                    line((x - 0.04, hi), (x + 0.04, hi)),
                ])?;
            }
        }
        // Names under the bars, centred on each model's group, in the label area.
        let centred = ("sans-serif", 16).into_font().color(&BLACK).pos(
            plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Top,
            ),
        );
        for (i, r) in rows.iter().enumerate() {
            let (x, y) = c.backend_coord(&(i as f64 + 0.5, 0.0));
            let (m, sd) = r.2[0];
            let name = ellipsize(&r.0, LABEL_CHARS / 2);
            let label = if r.1 > 1 {
                format!("{name} ({m:.3} ± {sd:.3}, {} seeds)", r.1)
            } else {
                format!("{name} ({m:.3})")
            };
            root.draw(&Text::new(label, (x, y + 8), centred.clone()))?;
        }
        Ok(())
    })
}

/// Encodes an RGB image as PNG and writes it atomically.
fn write_rgb_png(path: &Path, w: u32, h: u32, rgb: &[u8]) -> PlotResult {
    use image::ImageEncoder;
    check_size(w, h)?;
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png).write_image(
        rgb,
        w,
        h,
        image::ExtendedColorType::Rgb8,
    )?;
    crate::io::write_bytes_atomic(path, &png)?;
    Ok(())
}

/// Height of the band a [`titled`] picture's title takes.
const TITLE_BAND: u32 = 34;

/// An RGB picture (`w` x `h`) below a band holding `title`, widened (centred) when the title
/// needs more room than the picture: `(width, height, rgb)`.
fn titled(
    w: u32,
    h: u32,
    rgb: &[u8],
    title: &str,
) -> Result<(u32, u32, Vec<u8>), Box<dyn std::error::Error>> {
    fonts();
    // Within [`MAX_SIDE`]: the band is taken from the picture's last rows if need be.
    let h = h.min(MAX_SIDE - TITLE_BAND);
    let wide = w.max(9 * title.chars().count() as u32 + 20).min(MAX_SIDE);
    let (tw, th) = (wide, h + TITLE_BAND);
    let mut out = vec![255u8; (tw * th * 3) as usize];
    let left = ((tw - w) / 2) as usize;
    for y in 0..h as usize {
        let src = &rgb[y * w as usize * 3..(y + 1) * w as usize * 3];
        let at = ((y + TITLE_BAND as usize) * tw as usize + left) * 3;
        out[at..at + src.len()].copy_from_slice(src);
    }
    {
        let root = BitMapBackend::with_buffer(&mut out, (tw, th)).into_drawing_area();
        root.draw(&Text::new(
            title.to_string(),
            (10, 8),
            ("sans-serif", 17).into_font().color(&BLACK),
        ))?;
        root.present()?;
    }
    Ok((tw, th, out))
}

/// Small images laid out in a grid of `columns`, each magnified up to `scale` times, with a
/// `gap` pixel white border: `(width, height, rgb)`. `colour` maps a value of tile `t` to RGB.
/// Within [`MAX_SIDE`]: the magnification drops to fit the width, and the tiles past the last
/// row that fits are left out.
fn tile_grid(
    tiles: usize,
    side: (usize, usize),
    columns: usize,
    scale: usize,
    gap: usize,
    colour: impl Fn(usize, usize) -> [u8; 3],
) -> (u32, u32, Vec<u8>) {
    let max = MAX_SIDE as usize;
    let columns = columns.clamp(1, ((max - gap) / (side.0 + gap)).max(1));
    let fits = |s: usize| columns * (side.0 * s + gap) + gap <= max && side.1 * s + 2 * gap <= max;
    let scale = (1..=scale.max(1)).rev().find(|&s| fits(s)).unwrap_or(1);
    let (tw, th) = (side.0 * scale, side.1 * scale);
    let tiles = tiles.min(columns * ((max - gap) / (th + gap)).max(1));
    let rows = tiles.div_ceil(columns);
    let (w, h) = (columns * (tw + gap) + gap, rows * (th + gap) + gap);
    let mut img = vec![255u8; w * h * 3];
    for t in 0..tiles {
        let (ox, oy) = (
            gap + (t % columns) * (tw + gap),
            gap + (t / columns) * (th + gap),
        );
        for y in 0..th {
            for x in 0..tw {
                let c = colour(t, (y / scale) * side.0 + x / scale);
                let o = ((oy + y) * w + ox + x) * 3;
                img[o..o + 3].copy_from_slice(&c);
            }
        }
    }
    (w as u32, h as u32, img)
}

/// First-layer filters `[channels, 3x3]` (row-major `k * k` weights each) as a grid of
/// magnified tiles on one diverging scale shared by all filters: blue negative, white zero,
/// red positive, so their strengths compare.
pub fn filters_png(weights: &[f32], k: usize, path: &Path) -> PlotResult {
    let per = k * k;
    let n = weights.len() / per.max(1);
    let max = weights.iter().fold(1e-12f32, |m, w| m.max(w.abs()));
    let (w, h, rgb) = tile_grid(n, (k, k), 8, 24, 4, |t, i| {
        let v = (weights[t * per + i] / max).clamp(-1.0, 1.0);
        let fade = (255.0 * (1.0 - v.abs())) as u8;
        if v >= 0.0 {
            [255, fade, fade]
        } else {
            [fade, fade, 255]
        }
    });
    let (w, h, rgb) = titled(
        w,
        h,
        &rgb,
        &format!("first-layer filters ({n}): red positive, blue negative weights"),
    )?;
    write_rgb_png(path, w, h, &rgb)
}

/// One input view (`r x r`, values in [0, 1]) followed by the feature maps it produces
/// (`[maps, r x r]`), each stretched to its own range, as in Zeiler and Fergus.
pub fn feature_maps_png(view: &[f32], maps: &[f32], r: usize, path: &Path) -> PlotResult {
    let per = r * r;
    let n = maps.len() / per.max(1);
    let ranges: Vec<(f32, f32)> = std::iter::once(view)
        .chain(maps.chunks_exact(per))
        .map(|m| {
            m.iter()
                .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)))
        })
        .collect();
    let (w, h, rgb) = tile_grid(n + 1, (r, r), 8, 3, 3, |t, i| {
        let v = if t == 0 {
            view[i]
        } else {
            maps[(t - 1) * per + i]
        };
        let (lo, hi) = ranges[t];
        let g = if hi > lo {
            (255.0 * (v - lo) / (hi - lo)) as u8
        } else {
            0
        };
        if t == 0 { [g, g / 2, 0] } else { [g, g, g] }
    });
    let (w, h, rgb) = titled(
        w,
        h,
        &rgb,
        &format!("a test view (orange) and the {n} feature maps the first layer makes of it"),
    )?;
    write_rgb_png(path, w, h, &rgb)
}

#[cfg(test)]
mod tests;
