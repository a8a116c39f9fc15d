//! `comparison.html`: the whole comparison on one self-contained page (pictures inlined as data
//! URIs, no network, no script at all: its Content-Security-Policy forbids every script and
//! request), readable offline and easy to send: the models
//! side by side (mean ± std over seeds), recall per class, where each model goes wrong with the
//! depth views the network saw, every model's pictures, and the dataset's summary.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::features::{FeatureTable, Manifest};
use crate::report::Report;

/// One trained model folder as the page shows it.
#[derive(Debug, Clone)]
pub struct PageModel {
    /// Folder name.
    pub name: String,
    /// The folder.
    pub dir: PathBuf,
    /// Its report.
    pub report: Report,
    /// Its configuration with the seed left out: folders with equal keys are one method
    /// trained with several seeds, shown as mean ± standard deviation.
    pub group_key: String,
    /// The feature manifest it was trained on, when it could be read (the page's dataset
    /// summary comes from the first one there is).
    pub manifest: Option<Manifest>,
}

/// Most misclassified meshes listed (the page stays small enough to send).
const MAX_MISCLASSIFIED: usize = 150;

/// Escapes text for HTML content and attribute values. Control and bidirectional-override
/// characters are first written as escapes (`\u{202e}`), as on the terminal and in Markdown,
/// so a file name cannot reorder or hide what the page shows.
pub fn esc(s: &str) -> String {
    let s = crate::text::escape_controls(s);
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A PNG file as an `<img>` with a data URI, or `None` when it cannot be read (or is not a PNG,
/// or is unreasonably large for a page).
fn img(path: &Path, alt: &str, class: &str) -> Option<String> {
    img_checked(path, alt, class, None)
}

/// [`img`], and with `want` only when the file's content hash is `want`: a picture said to be
/// one a model saw is shown only if it is byte for byte that one.
fn img_checked(path: &Path, alt: &str, class: &str, want: Option<&str>) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > 8 << 20 {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    if !bytes.starts_with(b"\x89PNG\r\n\x1a\n")
        || want.is_some_and(|w| crate::features::hash_hex(&bytes) != w)
    {
        return None;
    }
    let (w, h) =
        image::ImageReader::with_format(std::io::Cursor::new(&bytes), image::ImageFormat::Png)
            .into_dimensions()
            .ok()?;
    Some(format!(
        r#"<img class="{class}" src="data:image/png;base64,{}" width="{w}" height="{h}" alt="{}">"#,
        base64::engine::general_purpose::STANDARD.encode(&bytes),
        esc(alt)
    ))
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (m, var.sqrt())
}

fn fmt_score(v: &[f64]) -> String {
    let (m, s) = mean_std(v);
    if v.len() > 1 {
        format!("{m:.3} ± {s:.3}")
    } else {
        format!("{m:.3}")
    }
}

/// Seconds as the page shows them: mean ± standard deviation over seeds, to a tenth of a
/// second from 10 s on and to a millisecond below.
fn fmt_seconds(v: &[f64]) -> String {
    let (m, s) = mean_std(v);
    let p = if m >= 10.0 { 1 } else { 3 };
    if v.len() > 1 {
        format!("{m:.p$} ± {s:.p$}")
    } else {
        format!("{m:.p$}")
    }
}

/// What a model said about each of its test meshes: path -> (true class, predicted, probability).
fn predictions(r: &Report) -> BTreeMap<String, (String, String, Option<f32>)> {
    if !r.predictions.is_empty() {
        return r
            .predictions
            .iter()
            .map(|p| {
                (
                    p.path.clone(),
                    (p.class.clone(), p.predicted.clone(), Some(p.probability)),
                )
            })
            .collect();
    }
    // Older reports list only the mistakes.
    r.misclassified
        .iter()
        .map(|[p, t, q]| (p.clone(), (t.clone(), q.clone(), None)))
        .collect()
}

/// Counts per class and split from the feature table `m` was trained on, when its feature
/// folder still holds that table byte for byte (another run may have rewritten the folder
/// since, or the recorded path may be relative to another working folder).
fn split_counts(m: &PageModel) -> Option<BTreeMap<String, [usize; 2]>> {
    let manifest = m.manifest.as_ref()?;
    let features = &features_dir(m);
    if crate::features::table_matches_manifest(features, manifest) != Some(true) {
        return None;
    }
    let t = FeatureTable::read(
        &features.join(manifest.files().table),
        manifest.table_format,
    )
    .ok()?;
    let mut counts: BTreeMap<String, [usize; 2]> = BTreeMap::new();
    for r in &t.rows {
        counts.entry(r.class.clone()).or_default()
            [usize::from(r.split == crate::dataset::Split::Test)] += 1;
    }
    Some(counts)
}

/// The view images `m` was trained on, as its feature folder's record has them, when that
/// folder still holds the generation `m`'s copy of the manifest describes; `None` otherwise, so
/// the page never shows another generation's images as the ones a model saw.
fn recorded_views(m: &PageModel) -> Option<crate::view_store::RecordedViews> {
    let manifest = m.manifest.as_ref()?;
    manifest.views.as_ref()?;
    crate::view_store::RecordedViews::read(&features_dir(m), manifest).ok()
}

/// The feature folder `m` was trained on. `train` records it absolute; a report of an earlier
/// version holds the path as typed, relative to the folder `train` ran in, which is taken to
/// be the current one or, failing that, the one above the models folder (`models/NAME` beside
/// `features/`). What is read from it is checked against `m`'s record either way.
fn features_dir(m: &PageModel) -> PathBuf {
    let recorded = Path::new(&m.report.features);
    if recorded.is_absolute() || recorded.exists() {
        return recorded.to_path_buf();
    }
    std::path::absolute(&m.dir)
        .ok()
        .as_deref()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(|p| p.join(recorded))
        .filter(|p| p.exists())
        .unwrap_or_else(|| recorded.to_path_buf())
}

const STYLE: &str = r#"
:root { --blue:#0072B2; --orange:#E69F00; --green:#009E73; --verm:#D55E00; --ink:#1b1b1b; --muted:#5a5a5a; --line:#d0d0d0; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink); margin: 0 auto; max-width: 1200px; padding: 1.5rem; }
h1 { font-size: 1.6rem; margin: 0 0 .3rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 2px solid var(--blue); padding-bottom: .2rem; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
p.lead { color: var(--muted); margin-top: 0; }
nav a { margin-right: 1rem; color: var(--blue); }
table { border-collapse: collapse; margin: .6rem 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: .3rem .55rem; text-align: right; vertical-align: middle; }
th { background: #f2f5f8; } th[scope=row], td.l, th.l { text-align: left; }
caption { caption-side: top; text-align: left; color: var(--muted); padding-bottom: .3rem; }
td.best { background: #e3f0f8; font-weight: 700; }
td.best::after { content: " \2605"; color: var(--blue); }
td.right { color: var(--blue); } td.wrong { color: var(--verm); font-weight: 700; }
td.right::before { content: "\2713 "; } td.wrong::before { content: "\2717 "; }
img.views { image-rendering: pixelated; width: 256px; height: auto; border: 1px solid var(--line); }
img.plot { max-width: 100%; height: auto; border: 1px solid var(--line); }
figure { display: inline-block; margin: .4rem 1rem .8rem 0; vertical-align: top; } figcaption { color: var(--muted); font-size: .9rem; }
.models { display: flex; flex-wrap: wrap; gap: .5rem 2rem; }
details { margin: .5rem 0; } code { font-size: .9em; }
"#;

/// The page's Content-Security-Policy: inline styles and `data:` images only; no script runs
/// and nothing is fetched.
pub const CSP: &str = "default-src 'none'; img-src data:; style-src 'unsafe-inline'";

/// Renders the page. `models` are sorted by folder name; `skipped` names folders left out.
pub fn comparison_page(
    models_dir: &Path,
    models: &[PageModel],
    skipped: &[(String, String)],
) -> String {
    let mut h = String::new();
    let title = format!(
        "shapeclf: descriptors against learned features ({})",
        models_dir.display()
    );
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&title)
    );
    let manifest = models.iter().find_map(|m| m.manifest.clone());
    let _ = write!(
        h,
        "<header>\n<h1>Hand-engineered descriptors against learned features</h1>\n\
         <p class=\"lead\">{} model folder(s) under <code>{}</code>{}</p>\n\
         <nav aria-label=\"sections\"><a href=\"#models\">Models</a><a href=\"#recall\">Recall per class</a>\
         <a href=\"#mistakes\">Where they go wrong</a><a href=\"#pictures\">Each model</a><a href=\"#dataset\">Dataset</a></nav>\n</header>\n",
        models.len(),
        esc(&models_dir.display().to_string()),
        manifest
            .as_ref()
            .map(|m| format!(
                "; dataset <code>{}</code>, {} classes",
                esc(&m.dataset),
                m.classes.len()
            ))
            .unwrap_or_default()
    );
    models_table(&mut h, models, skipped);
    recall_table(&mut h, models);
    mistakes(&mut h, models);
    pictures(&mut h, models);
    dataset(&mut h, models, manifest.as_ref());
    let _ = write!(
        h,
        "<footer><p class=\"lead\">Written by shapeclf {}.</p></footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    h
}

mod sections;

use sections::{dataset, mistakes, models_table, pictures, recall_table};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        // A right-to-left override or an escape sequence in a name is shown, not obeyed.
        assert_eq!(
            esc("a\u{202e}fdp.off\u{1b}[2J"),
            "a\\u{202e}fdp.off\\u{1b}[2J"
        );
        assert_eq!(sections::html_id("my model<1>"), "my.20model.3c1.3e");
    }

    #[test]
    fn seconds_keep_their_decimals() {
        assert_eq!(fmt_seconds(&[0.027, 0.027]), "0.027 ± 0.000");
        assert_eq!(fmt_seconds(&[63.21]), "63.2");
    }

    #[test]
    fn seeds_give_mean_and_sample_std() {
        assert_eq!(fmt_score(&[0.5]), "0.500");
        assert_eq!(fmt_score(&[0.8, 0.9, 1.0]), "0.900 ± 0.100");
    }
}
