//! Results on stdout: a features run's summary, a trained model's report, a comparison.

use std::path::Path;

use anyhow::Result;
use shapeclf::extract::Extraction;
use shapeclf::report::Report;
use shapeclf::report::render::comparison_text;
use shapeclf::text::escape_controls;
use shapeclf::workflow;

use crate::out::{errln, outln};

/// The summary of a features run, on stdout.
pub(crate) fn print_features(out: &Path, ex: &Extraction) -> Result<()> {
    let m = &ex.manifest;
    // Rates only when every row was computed in this run: reused rows cost no rays.
    let rates = if m.counts.reused == 0 {
        format!(
            "{:.1} meshes/s, {:.2} M rays/s, ",
            m.counts.found as f64 / m.wall_seconds.max(1e-9),
            (m.sdf.rays + m.views.as_ref().map_or(0, |v| v.rays)) as f64
                / m.wall_seconds.max(1e-9)
                / 1e6
        )
    } else {
        String::new()
    };
    outln!(
        "{} meshes: {} ok, {} failed in {:.2} s ({rates}{} classes)",
        m.counts.found,
        m.counts.ok,
        m.counts.failed,
        m.wall_seconds,
        m.classes.len()
    )?;
    if m.counts.reused > 0 {
        outln!(
            "{} rows reused from the previous run in {} (unchanged files, same parameters and seed; --fresh recomputes them)",
            m.counts.reused,
            out.display()
        )?;
    }
    if m.counts.not_reached > 0 {
        outln!(
            "interrupted: {} meshes not reached; rerun the same command to finish them (the {} rows written are reused)",
            m.counts.not_reached,
            m.counts.ok
        )?;
    }
    if let Some(v) = &m.views {
        let c = &v.config;
        let copies = match c.augment {
            0 => String::new(),
            1 => ", 1 rotated copy per training mesh".to_string(),
            k => format!(", {k} rotated copies per training mesh"),
        };
        outln!(
            "views: {} per mesh ({}, {}x{} pixels, {}, aligned: {}{copies}) in {}, {:.2} M rays",
            v.count,
            setting(&c.layout),
            c.resolution,
            c.resolution,
            setting(&c.channels),
            setting(&c.align),
            out.join(&v.folder).display(),
            v.rays as f64 / 1e6
        )?;
    }
    if m.sdf.no_hit_points > 0 || m.sdf.flipped_points > 0 {
        outln!(
            "SDF: {} of {} points found no opposite wall (left out of the histograms), {} measured through the outward cone",
            m.sdf.no_hit_points,
            m.sdf.points,
            m.sdf.flipped_points
        )?;
    }
    for f in &m.failed {
        outln!(
            "failed: {}: {}",
            escape_controls(&f.path),
            escape_controls(&f.error)
        )?;
    }
    let files = ex.files();
    outln!(
        "wrote {} and {}",
        out.join(&files.table).display(),
        out.join(&files.manifest).display()
    )?;
    if let Some(s) = m.shard {
        if m.counts.not_reached > 0 {
            outln!(
                "shard {s} interrupted: rerun the same command to finish it before `shapeclf merge {}`",
                out.display()
            )?;
        } else {
            if m.counts.ok == 0 {
                outln!(
                    "shard {s} has no rows ({} of its meshes failed): its empty part is written, and the merge keeps its failures",
                    m.counts.failed
                )?;
            }
            outln!(
                "shard {s} done: `shapeclf merge {}` combines the parts once every shard has run",
                out.display()
            )?;
        }
    }
    Ok(())
}

/// A trained model's results, on stdout.
pub(crate) fn print_report(out: &Path, r: &Report) -> Result<()> {
    outln!(
        "\n{}: test accuracy {:.4} ({} meshes), mean class accuracy {:.4}; trained in {:.2} s ({} epochs, best {}, {:.0} samples/s)\n",
        r.model,
        r.metrics.accuracy,
        r.test_size,
        r.metrics.mean_class_accuracy,
        r.train_seconds,
        r.epochs_run,
        r.best_epoch,
        r.samples_per_second
    )?;
    outln!("{}", r.metrics.to_text())?;
    if let Some(s) = &r.spread {
        outln!(
            "over {} seeds: test accuracy {}, mean class accuracy {}, macro F1 {} (the folder holds seed {}'s model)",
            s.runs,
            s.accuracy,
            s.mean_class_accuracy,
            s.macro_f1,
            r.seed
        )?;
    }
    outln!("wrote {}", out.display())?;
    Ok(())
}

/// A comparison, skipped folders on stderr and the table on stdout.
pub(crate) fn print_comparison(models: &Path, cmp: &workflow::Comparison) -> Result<()> {
    for (name, why) in &cmp.skipped {
        errln!("warning: skipped {}: {why}", models.join(name).display());
    }
    outln!("\n{}", comparison_text(&cmp.rows))?;
    outln!(
        "wrote {}, {} and {}",
        models.join("comparison.md").display(),
        models.join("comparison.png").display(),
        models.join(workflow::COMPARISON_HTML).display()
    )?;
    Ok(())
}

/// A setting as its flag's value reads (`ring12`, `depth+shade`, `pca`), not Rust's name.
fn setting<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}
