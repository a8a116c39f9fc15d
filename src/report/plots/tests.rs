//! Issue #23: pictures stay within [`MAX_SIDE`] whatever they show.

use super::*;

fn size(path: &Path) -> (u32, u32) {
    image::ImageReader::open(path)
        .unwrap()
        .with_guessed_format()
        .unwrap()
        .into_dimensions()
        .unwrap()
}

fn metrics(classes: Vec<String>) -> Metrics {
    let k = classes.len();
    let truth: Vec<usize> = (0..k).chain(0..k).collect();
    let pred: Vec<usize> = (0..k).chain((0..k).map(|i| (i + 1) % k)).collect();
    Metrics::compute(&classes, &truth, &pred)
}

/// A 3000-character class name drew a 21663x21683 confusion matrix (1.39 GB to draw).
#[test]
fn a_3000_character_class_name_gives_a_confusion_matrix_within_the_bound() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("confusion.png");
    let long = "é".repeat(3000);
    confusion_png(&metrics(vec![long, "mug".into()]), "logistic", &p).unwrap();
    let (w, h) = size(&p);
    assert!(w <= 1000 && h <= 1000, "{w}x{h}");
    // Multibyte names are measured in characters: as wide as ASCII ones of the same length.
    let q = d.path().join("ascii.png");
    confusion_png(
        &metrics(vec!["e".repeat(3000), "mug".into()]),
        "logistic",
        &q,
    )
    .unwrap();
    assert_eq!(size(&q), (w, h));
}

#[test]
fn many_classes_and_long_titles_stay_within_the_bound() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("c.png");
    for k in [300, 1500] {
        let classes: Vec<String> = (0..k).map(|i| format!("{i}{}", "x".repeat(200))).collect();
        confusion_png(&metrics(classes), &"t".repeat(100_000), &p).unwrap();
        let (w, h) = size(&p);
        assert!(w <= MAX_SIDE && h <= MAX_SIDE, "{k} classes: {w}x{h}");
    }
    let rows: Vec<ModelScores> = (0..5000)
        .map(|i| (format!("{i}{}", "m".repeat(3000)), 3, [(0.5, 0.1); 3]))
        .collect();
    comparison_png(&rows, &p).unwrap();
    let (w, h) = size(&p);
    assert!(w <= MAX_SIDE && h <= MAX_SIDE, "comparison: {w}x{h}");
}

#[test]
fn filter_and_feature_map_grids_stay_within_the_bound() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("f.png");
    // 20,000 3x3 filters would be a 228x70,000 grid.
    filters_png(&vec![0.5; 9 * 20_000], 3, &p).unwrap();
    let (w, h) = size(&p);
    assert!(w <= MAX_SIDE && h <= MAX_SIDE, "filters: {w}x{h}");
    // 512-pixel views with 64 maps would be 12,315 pixels wide.
    let r = 512;
    feature_maps_png(&vec![0.5; r * r], &vec![0.25; 64 * r * r], r, &p).unwrap();
    let (w, h) = size(&p);
    assert!(w <= MAX_SIDE && h <= MAX_SIDE, "feature maps: {w}x{h}");
    // Small grids keep their magnification.
    filters_png(&[0.5; 9 * 8], 3, &p).unwrap();
    assert_eq!(size(&p), (8 * (3 * 24 + 4) + 4, 3 * 24 + 8));
}
