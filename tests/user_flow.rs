//! Issue #24: what a new user sees on the way from their meshes to a comparison: the page and
//! pictures say how many seeds stand behind a score and how far they spread, and every picture
//! says what it shows.

mod common;

use std::path::Path;

use common::{s, shapeclf_ok};

/// The models section of `comparison.html`, tags dropped, one cell per `|`.
fn models_section(html: &str) -> String {
    let start = html.find("id=\"models\"").expect("models section");
    let end = start + html[start..].find("</section>").unwrap();
    let mut out = String::new();
    let mut in_tag = false;
    for c in html[start..end].chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push('|');
            }
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Whether the top `band` rows of a picture hold dark pixels (a title) on white.
fn has_title(png: &Path, band: u32) -> bool {
    let img = image::open(png).unwrap().into_rgb8();
    let dark = (0..img.width())
        .flat_map(|x| (0..band).map(move |y| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|&c| c < 100))
        .count();
    dark > 20
}

#[test]
fn the_page_shows_every_seeds_spread_and_every_picture_a_title() {
    let d = tempfile::tempdir().unwrap();
    let (meshes, feats, models) = (
        d.path().join("m"),
        d.path().join("f"),
        d.path().join("models"),
    );
    shapeclf_ok(&["synth", s(&meshes), "--per-class", "4", "--seed", "2"]);
    shapeclf_ok(&[
        "features",
        s(&meshes),
        "--out",
        s(&feats),
        "--view-res",
        "16",
    ]);
    shapeclf_ok(&[
        "train",
        "--model",
        "logistic",
        "--features",
        s(&feats),
        "--out",
        s(&models.join("lg")),
        "--epochs",
        "5",
        "--repeats",
        "3",
    ]);
    shapeclf_ok(&[
        "train",
        "--model",
        "cnn",
        "--features",
        s(&feats),
        "--out",
        s(&models.join("cnn")),
        "--epochs",
        "1",
        "--channels",
        "4",
        "--hidden",
        "8",
    ]);
    shapeclf_ok(&["compare", "--models", s(&models)]);
    let html = std::fs::read_to_string(models.join("comparison.html")).unwrap();
    let table = models_section(&html);
    let row = |name: &str| -> Vec<String> {
        let at = table.find(&format!("|{name}|")).unwrap();
        table[at..]
            .split('|')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .take(6)
            .map(String::from)
            .collect()
    };
    // A folder trained with --repeats 3: three seeds, each score as mean ± std.
    let lg = row("lg");
    assert_eq!(lg[2], "3", "{lg:?}");
    assert!(lg[3..6].iter().all(|c| c.contains(" ± ")), "{lg:?}");
    // One seed: one score, and the count says 1, not the seed's number.
    let cnn = row("cnn");
    assert_eq!(cnn[2], "1", "{cnn:?}");
    assert!(!cnn[3].contains('±'), "{cnn:?}");
    // Every picture has a title.
    for png in [
        models.join("comparison.png"),
        models.join("lg/confusion.png"),
        models.join("lg/curves.png"),
        models.join("cnn/filters.png"),
        models.join("cnn/feature_maps.png"),
    ] {
        assert!(has_title(&png, 30), "{} has no title", png.display());
    }
}
