//! `compare`: every trained model of a models folder side by side, as a table, a chart and one
//! self-contained page.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::model_dir;
use crate::observe::Observer;
use crate::report::plots;
use crate::report::render::{ComparisonRow, comparison_markdown};

/// A comparison: one row per readable model folder, and the folders left out with why.
#[derive(Debug, Clone, Default)]
pub struct Comparison {
    /// Models side by side, sorted by folder name.
    pub rows: Vec<ComparisonRow>,
    /// `(folder, reason)` of each folder whose report is missing or broken.
    pub skipped: Vec<(String, String)>,
}

/// Reads every `*/report.json` under `models_dir` (sorted by folder name), writes
/// `comparison.md`, `comparison.png` and `comparison.html` there, and returns the rows. A
/// folder whose report is missing, unreadable or impossible is left out and named, and the
/// others are compared.
pub fn compare(models_dir: &Path, _observer: &dyn Observer) -> Result<Comparison> {
    let found = read_models(models_dir)?;
    check_one_task(&found.page)?;
    if found.rows.is_empty() {
        let why: Vec<String> = found
            .skipped
            .iter()
            .map(|(n, e)| format!("{n}: {e}"))
            .collect();
        return Err(Error::NoModels {
            dir: models_dir.to_path_buf(),
            why: if why.is_empty() {
                String::new()
            } else {
                format!("; skipped {}", why.join("; "))
            },
        });
    }
    write_comparison(models_dir, &found)?;
    Ok(Comparison {
        rows: found.rows,
        skipped: found.skipped,
    })
}

/// The model folders of a models folder, read: a table row and a page entry per model, and
/// the folders left out with why.
struct Found {
    rows: Vec<ComparisonRow>,
    page: Vec<crate::report::html::PageModel>,
    skipped: Vec<(String, String)>,
}

/// Reads every model folder directly in `models_dir` (hidden ones, still being written or left
/// by a killed run, are not models yet), in name order.
fn read_models(models_dir: &Path) -> Result<Found> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(models_dir)
        .map_err(Error::io("reading models folder", models_dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                && p.is_dir()
        })
        .collect();
    dirs.sort();
    let mut found = Found {
        rows: Vec::new(),
        page: Vec::new(),
        skipped: Vec::new(),
    };
    for d in &dirs {
        let name = d
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !d.join(model_dir::REPORT_FILE).is_file() {
            if model_dir::is_model_folder(d) {
                found
                    .skipped
                    .push((name, format!("no {}", model_dir::REPORT_FILE)));
            }
            continue;
        }
        let r = match model_dir::read_report(d) {
            Ok(r) => r,
            Err(e) => {
                found.skipped.push((name, e.to_string()));
                continue;
            }
        };
        found.rows.push(ComparisonRow {
            name: name.clone(),
            model: r.model.clone(),
            accuracy: r.metrics.accuracy,
            mean_class_accuracy: r.metrics.mean_class_accuracy,
            macro_f1: r.metrics.macro_avg.f1,
            train_seconds: r.train_seconds,
            parameters: r.parameters,
            backend: r.backend.clone(),
            test_size: r.test_size,
            spread: r.spread,
        });
        found.page.push(crate::report::html::PageModel {
            name,
            dir: d.clone(),
            report: r,
            group_key: group_key(d),
            manifest: model_dir::read_json(&d.join(model_dir::MANIFEST_FILE)).ok(),
        });
    }
    Ok(found)
}

/// Writes `comparison.md`, `comparison.png` and `comparison.html` into `models_dir`.
fn write_comparison(models_dir: &Path, found: &Found) -> Result<()> {
    // Each model's mean and spread over its seeds where it was trained with `--repeats`.
    let bars: Vec<plots::ModelScores> = found
        .rows
        .iter()
        .map(|r| match &r.spread {
            Some(s) => (
                r.name.clone(),
                s.runs,
                [s.accuracy, s.mean_class_accuracy, s.macro_f1].map(|m| (m.mean, m.std)),
            ),
            None => (
                r.name.clone(),
                1,
                [r.accuracy, r.mean_class_accuracy, r.macro_f1].map(|v| (v, 0.0)),
            ),
        })
        .collect();
    // The chart is drawn outside the models folder, then the three files replace the previous
    // ones as one generation: a failure (a full disk) leaves the previous set whole and no
    // temporaries, never a new table beside an old page.
    let scratch = tempfile::tempdir().map_err(Error::io(
        "creating a temporary folder in",
        std::env::temp_dir(),
    ))?;
    let png_path = scratch.path().join(COMPARISON_PNG);
    plots::comparison_png(&bars, &png_path).map_err(|e| Error::Drawing {
        what: COMPARISON_PNG,
        msg: e.to_string(),
    })?;
    let png = std::fs::read(&png_path).map_err(Error::io("reading", &png_path))?;
    let page = crate::report::html::comparison_page(models_dir, &found.page, &found.skipped);
    crate::io::commit_part(
        models_dir,
        COMPARISON_JOURNAL,
        &[
            (COMPARISON_MD, comparison_markdown(&found.rows).into_bytes()),
            (COMPARISON_PNG, png),
            (COMPARISON_HTML, page.into_bytes()),
        ],
    )
    .map_err(Error::io("writing the comparison into", models_dir))
}

/// What a model was tested on, as (what identifies it, how to name it): the dataset its features
/// were computed from (the listing of its files where the manifest records one, so one dataset
/// typed two ways is one; else the dataset as typed), the test meshes it was scored on, and the
/// classes it tells apart (a `--positive` model is another task on the same meshes).
fn task_of(m: &crate::report::html::PageModel) -> ((String, String), String) {
    let manifest: Option<crate::features::Manifest> =
        std::fs::read(m.dir.join(model_dir::MANIFEST_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
    let (dataset, shown) = match &manifest {
        Some(f) => match &f.dataset_listing {
            Some(l) => (
                format!("listing {}", l.hash),
                format!("{} ({} files)", f.dataset, l.files),
            ),
            None => (f.dataset.clone(), f.dataset.clone()),
        },
        None => (String::new(), "an unreadable feature manifest".to_string()),
    };
    ((dataset, m.report.metrics.classes.join(", ")), shown)
}

/// Whether two models were scored on one test set: each mesh one of them was tested on is one
/// the other was tested on too, or one the other left out as unreadable (a CNN skips meshes
/// whose views it cannot read). A flat dataset's split follows the feature seed, so one dataset
/// and class list can still mean other test meshes. Older reports, which list no predictions,
/// cannot tell and are taken as one.
fn same_test_set(a: &crate::report::Report, b: &crate::report::Report) -> bool {
    use std::collections::HashSet;
    fn tested(r: &crate::report::Report) -> HashSet<&str> {
        r.predictions.iter().map(|p| p.path.as_str()).collect()
    }
    fn skipped(r: &crate::report::Report) -> HashSet<&str> {
        r.skipped.iter().map(|f| f.path.as_str()).collect()
    }
    let (ta, tb) = (tested(a), tested(b));
    if ta.is_empty() || tb.is_empty() {
        return true;
    }
    let (sa, sb) = (skipped(a), skipped(b));
    ta.iter().all(|p| tb.contains(p) || sb.contains(p))
        && tb.iter().all(|p| ta.contains(p) || sa.contains(p))
}

/// Refuses to rank together models tested on different datasets or tasks, naming the groups:
/// one table would compare scores that measure different things.
fn check_one_task(page: &[crate::report::html::PageModel]) -> Result<()> {
    type Group<'a> = (
        (String, String),
        String,
        Vec<&'a str>,
        &'a crate::report::Report,
    );
    let mut groups: Vec<Group<'_>> = Vec::new();
    for m in page {
        let (key, shown) = task_of(m);
        match groups
            .iter_mut()
            .find(|(k, _, _, first)| *k == key && same_test_set(first, &m.report))
        {
            Some((_, _, names, _)) => names.push(&m.name),
            None => groups.push((key, shown, vec![&m.name], &m.report)),
        }
    }
    if groups.len() <= 1 {
        return Ok(());
    }
    let listed: Vec<String> = groups
        .iter()
        .map(|((_, classes), shown, names, first)| {
            let k = classes.split(", ").count();
            format!(
                "{} (dataset {shown}, {} test meshes; {k} classes: {})",
                names.join(", "),
                first.test_size,
                crate::text::ellipsize(classes, 80)
            )
        })
        .collect();
    // Groups alike in dataset and classes differ in their test meshes: say so, since the
    // listing alone reads as the same thing twice.
    let keys: Vec<&(String, String)> = groups.iter().map(|g| &g.0).collect();
    let same_task = keys.iter().enumerate().any(|(i, k)| keys[..i].contains(k));
    let why = if same_task {
        " (groups with the same dataset and classes were tested on other test meshes: a dataset without train/ and test/ folders is split by the `features` seed, so feature folders made with other seeds hold other test sets)"
    } else {
        ""
    };
    Err(Error::MixedTasks(format!("{}{why}", listed.join("; "))))
}

/// The one-page comparison `compare` writes into the models folder.
pub const COMPARISON_HTML: &str = "comparison.html";
/// The comparison table, in Markdown.
pub const COMPARISON_MD: &str = "comparison.md";
/// The comparison chart.
pub const COMPARISON_PNG: &str = "comparison.png";
/// The journal of `compare`'s commit (its own, so a model folder being written beside it is
/// never touched by its recovery).
const COMPARISON_JOURNAL: &str = ".shapeclf-commit-comparison";

/// A model folder's configuration without what differs between seeds of one method (the
/// seed, the tool version, the weights): folders with equal keys are averaged on the page.
fn group_key(dir: &Path) -> String {
    let Ok(bytes) = std::fs::read(dir.join(model_dir::CONFIG_FILE)) else {
        return dir.display().to_string();
    };
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(mut v) => {
            if let Some(o) = v.as_object_mut() {
                o.remove("weights_hash");
                o.remove("tool_version");
                if let Some(t) = o.get_mut("train").and_then(|t| t.as_object_mut()) {
                    // What the user chose, not what a seed led to: the seed, the number of
                    // seeds a folder holds, where views were held, and the weight decay that
                    // cross-validation picked for the seed (when it was tuned).
                    t.remove("seed");
                    t.remove("repeats");
                    t.remove("views_in_memory");
                    if t.get("tune_weight_decay") == Some(&serde_json::Value::Bool(true)) {
                        t.remove("weight_decay");
                    }
                }
            }
            format!("{v}|{}", features_key(dir))
        }
        Err(_) => dir.display().to_string(),
    }
}

/// What identifies the features a model folder was trained on, from its copy of the feature
/// manifest: the hash of the cache (each mesh's content hash and view images' hashes), the
/// seed, the descriptor settings and the columns. So a rerun of `features` that changed
/// nothing (only its timings and counts of reused rows) is the same features, and so is the
/// same table written as CSV and as Parquet. A manifest without a cache hash is taken whole.
fn features_key(dir: &Path) -> String {
    let Ok(bytes) = std::fs::read(dir.join(model_dir::MANIFEST_FILE)) else {
        return String::new();
    };
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(m) if m["cache_hash"].is_string() => format!(
            "{}|{}|{}|{}",
            m["cache_hash"], m["seed"], m["descriptors"], m["columns"]
        ),
        _ => crate::features::hash_hex(&bytes),
    }
}
