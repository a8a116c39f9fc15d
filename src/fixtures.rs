//! Synthetic training inputs whose answers are known, shared by the unit tests, the integration
//! and GPU tests, the benches and the examples, so each checks or times the same data instead of
//! its own copy. Every one is seeded.

use rand::Rng;

use crate::dataset::Split;
use crate::features::{FeatureTable, Row};
use crate::train::ViewSet;

/// `per_class` rows of each of `classes` classes in `columns` columns: uniform noise in
/// `[0, spread)` with the class's own column (`c % columns`) raised by 2, so the classes are
/// separable by a linear model. Every fourth row of a class is a test row.
pub fn blobs(
    per_class: usize,
    classes: usize,
    columns: usize,
    spread: f32,
    seed: u64,
) -> FeatureTable {
    let mut rng = crate::seeding::rng_for(seed, 1);
    let mut rows = Vec::new();
    for c in 0..classes {
        for i in 0..per_class {
            let mut v: Vec<f32> = (0..columns).map(|_| rng.random::<f32>() * spread).collect();
            v[c % columns] += 2.0;
            rows.push(Row {
                path: format!("c{c}/{i}"),
                class: format!("c{c}"),
                split: if i % 4 == 0 {
                    Split::Test
                } else {
                    Split::Train
                },
                values: v,
            });
        }
    }
    FeatureTable {
        columns: (0..columns).map(|i| format!("f{i}")).collect(),
        rows,
    }
}

/// `train_rows` training rows of uniform noise in `columns` columns, labelled round-robin over
/// `classes` classes, plus one test row per class: a table of realistic width for timing.
pub fn noise_table(train_rows: usize, columns: usize, classes: usize, seed: u64) -> FeatureTable {
    let mut rng = crate::seeding::rng_for(seed, 1);
    FeatureTable {
        columns: (0..columns).map(|i| format!("f{i}")).collect(),
        rows: (0..train_rows + classes)
            .map(|i| Row {
                path: i.to_string(),
                class: format!("c{}", i % classes),
                split: if i >= train_rows {
                    Split::Test
                } else {
                    Split::Train
                },
                values: (0..columns).map(|_| rng.random::<f32>()).collect(),
            })
            .collect(),
    }
}

/// `shapes` shapes of `views` random `resolution`-pixel views, labelled round-robin over
/// `classes`: view stacks of the CNN's real size, for timing.
pub fn noise_views(
    shapes: usize,
    views: usize,
    resolution: usize,
    classes: usize,
    seed: u64,
) -> ViewSet {
    let mut rng = crate::seeding::rng_for(seed, 1);
    ViewSet {
        pixels: (0..shapes * views * resolution * resolution)
            .map(|_| rng.random::<u8>())
            .collect(),
        y: (0..shapes).map(|i| i % classes).collect(),
        paths: (0..shapes).map(|i| i.to_string()).collect(),
        views,
        resolution,
        ..Default::default()
    }
}

/// Two classes a CNN tells apart only by shape in the image: a bright 5x5 square (class 0)
/// against a bright cross (class 1), at random positions and brightness, `views` views of 16
/// pixels per shape, classes alternating.
pub fn squares_and_crosses(shapes: usize, views: usize, seed: u64) -> ViewSet {
    let r = 16usize;
    let mut rng = crate::seeding::rng_for(seed, 1);
    let mut set = ViewSet {
        views,
        resolution: r,
        ..Default::default()
    };
    for i in 0..shapes {
        let class = i % 2;
        for _ in 0..views {
            let mut img = vec![0u8; r * r];
            let (cx, cy) = (rng.random_range(4..12), rng.random_range(4..12));
            let b = rng.random_range(120..255u8);
            for y in 0..r {
                for x in 0..r {
                    let (ax, ay) = ((x as i32 - cx).abs(), (y as i32 - cy).abs());
                    let on = if class == 0 {
                        ax <= 2 && ay <= 2
                    } else {
                        (ax == 0 && ay <= 3) || (ay == 0 && ax <= 3)
                    };
                    if on {
                        img[y * r + x] = b;
                    }
                }
            }
            set.pixels.extend(img);
        }
        set.y.push(class);
        set.paths.push(format!("s{i}"));
    }
    set
}

/// Left-half (class 0) against right-half (class 1) bright blocks, two views of 16 pixels per
/// shape, classes alternating: a small CNN separates them within a few epochs (but a mirror
/// image swaps the classes, so train it without flips).
pub fn halves(shapes: usize) -> ViewSet {
    let (v, r) = (2usize, 16usize);
    let mut set = ViewSet {
        views: v,
        resolution: r,
        ..Default::default()
    };
    for i in 0..shapes {
        let class = i % 2;
        for _ in 0..v {
            for y in 0..r {
                for x in 0..r {
                    let on = (x < r / 2) == (class == 0) && (4..12).contains(&y);
                    set.pixels.push(if on { 200 } else { 0 });
                }
            }
        }
        set.y.push(class);
        set.paths.push(i.to_string());
    }
    set
}
