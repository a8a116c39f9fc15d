//! The sections of the comparison page, each a table or a grid of pictures.

use super::*;
use crate::report::RepeatScore;

pub(super) fn models_table(h: &mut String, models: &[PageModel], skipped: &[(String, String)]) {
    let mut groups: Vec<(String, Vec<&PageModel>)> = Vec::new();
    for m in models {
        match groups.iter_mut().find(|(k, _)| *k == m.group_key) {
            Some((_, v)) => v.push(m),
            None => groups.push((m.group_key.clone(), vec![m])),
        }
    }
    h.push_str(
        "<section id=\"models\">\n<h2>Models side by side</h2>\n<table>\n\
         <caption>Test scores; where one method was trained with several seeds (model folders that differ only in their seed, or one folder trained with --repeats), mean ± standard deviation over them, and how many seeds.</caption>\n\
         <thead><tr><th scope=\"col\" class=\"l\">model</th><th scope=\"col\" class=\"l\">kind</th><th scope=\"col\" title=\"how many seeds were trained; hover for which\">seeds</th>\
         <th scope=\"col\">accuracy</th><th scope=\"col\">mean class accuracy</th><th scope=\"col\">macro F1</th>\
         <th scope=\"col\">training s</th><th scope=\"col\">parameters</th><th scope=\"col\" class=\"l\">backend</th><th scope=\"col\">test meshes</th></tr></thead>\n<tbody>\n",
    );
    // Every seed a group trained counts once: each folder's own seed, or every seed of a folder
    // trained with `--repeats`. A seed two folders of one group both trained (a copied folder,
    // overlapping `--repeats`) is one run computed twice, so it counts once; the first folder's
    // is kept.
    let all_runs = |g: &[&PageModel]| -> Vec<RepeatScore> {
        g.iter()
            .flat_map(|m| {
                if m.report.repeats.is_empty() {
                    vec![RepeatScore::of(&m.report)]
                } else {
                    m.report.repeats.clone()
                }
            })
            .collect()
    };
    let seed_scores = |g: &[&PageModel]| -> Vec<RepeatScore> {
        let mut seen = std::collections::BTreeSet::new();
        all_runs(g)
            .into_iter()
            .filter(|r| seen.insert(r.seed))
            .collect()
    };
    let best_acc = groups
        .iter()
        .map(|(_, g)| {
            mean_std(
                &seed_scores(g)
                    .iter()
                    .map(|r| r.accuracy)
                    .collect::<Vec<_>>(),
            )
            .0
        })
        .fold(f64::MIN, f64::max);
    for (_, g) in &groups {
        let runs = seed_scores(g);
        let col = |f: fn(&RepeatScore) -> f64| runs.iter().map(f).collect::<Vec<_>>();
        let acc = col(|r| r.accuracy);
        let names: Vec<String> = g.iter().map(|m| esc(&m.name)).collect();
        let r = &g[0].report;
        let mut seeds = runs
            .iter()
            .map(|r| r.seed.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let repeated = all_runs(g).len() - runs.len();
        if repeated > 0 {
            seeds.push_str(&format!(
                "; {repeated} more run(s) of these seeds, in another folder, counted once"
            ));
        }
        // Meshes a model could not read are left out of its training and scores: say how many.
        let unread: usize = g.iter().map(|m| m.report.skipped.len()).max().unwrap_or(0);
        let tested = if unread == 0 {
            r.test_size.to_string()
        } else {
            let names: Vec<String> = g
                .iter()
                .flat_map(|m| m.report.skipped.iter().map(|f| f.path.as_str()))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .take(10)
                .map(esc)
                .collect();
            format!(
                "<span title=\"left out of training and scores, views unreadable: {}\">{} ({unread} meshes left out)</span>",
                names.join(", "),
                r.test_size
            )
        };
        let _ = writeln!(
            h,
            "<tr><th scope=\"row\" class=\"l\">{}</th><td class=\"l\">{}</td><td title=\"seeds {}\">{}</td><td{}>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td><td>{}</td></tr>",
            names.join(", "),
            esc(&r.model),
            esc(&seeds),
            runs.len(),
            if (mean_std(&acc).0 - best_acc).abs() < 1e-12 {
                " class=\"best\""
            } else {
                ""
            },
            fmt_score(&acc),
            fmt_score(&col(|r| r.mean_class_accuracy)),
            fmt_score(&col(|r| r.macro_f1)),
            fmt_seconds(&col(|r| r.train_seconds)),
            r.parameters,
            esc(&r.backend),
            tested
        );
    }
    h.push_str("</tbody>\n</table>\n");
    if !skipped.is_empty() {
        h.push_str("<p>Left out:</p><ul>\n");
        for (n, why) in skipped {
            let _ = writeln!(h, "<li><code>{}</code>: {}</li>", esc(n), esc(why));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</section>\n");
}

pub(super) fn recall_table(h: &mut String, models: &[PageModel]) {
    let classes: BTreeSet<&str> = models
        .iter()
        .flat_map(|m| m.report.metrics.classes.iter().map(String::as_str))
        .collect();
    h.push_str(
        "<section id=\"recall\">\n<h2>Recall per class</h2>\n<table>\n\
         <caption>Share of each class's test meshes that a model classified right; the best of each row is marked ★ (none where every model scored 0).</caption>\n\
         <thead><tr><th scope=\"col\" class=\"l\">class</th>",
    );
    for m in models {
        let _ = write!(h, "<th scope=\"col\">{}</th>", esc(&m.name));
    }
    h.push_str("<th scope=\"col\">test meshes</th></tr></thead>\n<tbody>\n");
    for c in classes {
        let recalls: Vec<Option<(f64, usize)>> = models
            .iter()
            .map(|m| {
                m.report
                    .metrics
                    .per_class
                    .iter()
                    .find(|s| s.class == c)
                    .map(|s| (s.recall, s.support))
            })
            .collect();
        // A class with no test meshes has no recall (sklearn's 0 is a convention): "–".
        let support = recalls.iter().flatten().map(|r| r.1).max().unwrap_or(0);
        let recalls: Vec<Option<(f64, usize)>> =
            recalls.into_iter().map(|r| r.filter(|r| r.1 > 0)).collect();
        let best = recalls
            .iter()
            .flatten()
            .map(|r| r.0)
            .fold(f64::MIN, f64::max);
        let _ = write!(h, "<tr><th scope=\"row\" class=\"l\">{}</th>", esc(c));
        for r in &recalls {
            match r {
                Some((v, _)) if best > 0.0 && (*v - best).abs() < 1e-12 => {
                    let _ = write!(h, "<td class=\"best\">{v:.3}</td>");
                }
                Some((v, _)) => {
                    let _ = write!(h, "<td>{v:.3}</td>");
                }
                None => h.push_str("<td>–</td>"),
            }
        }
        let _ = writeln!(h, "<td>{support}</td></tr>");
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

pub(super) fn mistakes(h: &mut String, models: &[PageModel]) {
    let preds: Vec<_> = models.iter().map(|m| predictions(&m.report)).collect();
    // Every mesh some model got wrong, the most disputed first.
    let mut wrong: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
    for p in &preds {
        for (path, (t, q, _)) in p {
            if t != q {
                let e = wrong.entry(path.as_str()).or_insert((0, t.as_str()));
                e.0 += 1;
            }
        }
    }
    let mut list: Vec<(&str, usize, &str)> =
        wrong.into_iter().map(|(p, (n, t))| (p, n, t)).collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let _ = write!(
        h,
        "<section id=\"mistakes\">\n<h2>Where the models go wrong</h2>\n\
         <p>{} test mesh(es) misclassified by at least one model{}. Each row shows the depth views the network \
         saw, the true class and every model's top prediction (✓ right, ✗ wrong).</p>\n",
        list.len(),
        if list.len() > MAX_MISCLASSIFIED {
            format!("; the {MAX_MISCLASSIFIED} most disputed are shown")
        } else {
            String::new()
        }
    );
    if list.is_empty() {
        h.push_str("<p>No model misclassified any test mesh.</p>\n</section>\n");
        return;
    }
    let recorded: Vec<_> = models.iter().map(recorded_views).collect();
    let trained_on_views = models
        .iter()
        .any(|m| m.manifest.as_ref().is_some_and(|f| f.views.is_some()));
    if trained_on_views && recorded.iter().all(Option::is_none) {
        h.push_str(
            "<p class=\"lead\">No depth views are shown: the feature folder these models name no \
             longer holds the views they were trained on (features were computed there again, or \
             the folder moved or is named relative to another working folder).</p>\n",
        );
    }
    h.push_str(
        "<table>\n<caption>Misclassified test meshes</caption>\n<thead><tr><th scope=\"col\" class=\"l\">mesh</th>\
         <th scope=\"col\" class=\"l\">depth views</th><th scope=\"col\" class=\"l\">true class</th>",
    );
    for m in models {
        let _ = write!(h, "<th scope=\"col\" class=\"l\">{}</th>", esc(&m.name));
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for (path, _, truth) in list.into_iter().take(MAX_MISCLASSIFIED) {
        let views = models.iter().zip(&recorded).find_map(|(m, rec)| {
            img_checked(
                &crate::features::view_file(&features_dir(m), path),
                &format!("depth views of {path}"),
                "views",
                Some(rec.as_ref()?.hash(path, 0)?),
            )
        });
        let _ = write!(
            h,
            "<tr><th scope=\"row\" class=\"l\"><code>{}</code></th><td class=\"l\">{}</td><td class=\"l\">{}</td>",
            esc(path),
            views.unwrap_or_else(|| "<span class=\"lead\">no views</span>".into()),
            esc(truth)
        );
        for (m, p) in models.iter().zip(&preds) {
            match p.get(path) {
                Some((t, q, prob)) => {
                    let prob = prob.map(|v| format!(" ({v:.2})")).unwrap_or_default();
                    let _ = write!(
                        h,
                        "<td class=\"l {}\">{}{prob}</td>",
                        if t == q { "right" } else { "wrong" },
                        esc(q)
                    );
                }
                // Not in this model's list: right when the model saw it (older reports list
                // only mistakes), unknown otherwise.
                None if m.report.predictions.is_empty() => {
                    let _ = write!(h, "<td class=\"l right\">{}</td>", esc(truth));
                }
                None => h.push_str("<td class=\"l\">not tested</td>"),
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

pub(super) fn pictures(h: &mut String, models: &[PageModel]) {
    h.push_str("<section id=\"pictures\">\n<h2>Each model</h2>\n");
    for m in models {
        let _ = write!(
            h,
            "<h3 id=\"model-{}\">{} <span class=\"lead\">({}, seed {}, {} epochs, best {})</span></h3>\n<div class=\"models\">\n",
            html_id(&m.name),
            esc(&m.name),
            esc(&m.report.model),
            m.report.seed,
            m.report.epochs_run,
            m.report.best_epoch
        );
        let figs = [
            (
                "confusion.png",
                "confusion matrix: rows true class, columns predicted",
            ),
            (
                "curves.png",
                "training curves: loss, training and validation accuracy per epoch",
            ),
            ("filters.png", "the first convolution layer's 3x3 filters"),
            (
                "feature_maps.png",
                "a test view and the first block's feature maps of it",
            ),
        ];
        for (file, what) in figs {
            if let Some(i) = img(&m.dir.join(file), &format!("{}: {what}", m.name), "plot") {
                let _ = writeln!(
                    h,
                    "<figure>{i}<figcaption>{}</figcaption></figure>",
                    esc(what)
                );
            }
        }
        h.push_str("</div>\n");
    }
    h.push_str("</section>\n");
}

pub(super) fn dataset(h: &mut String, models: &[PageModel], manifest: Option<&Manifest>) {
    h.push_str("<section id=\"dataset\">\n<h2>Dataset</h2>\n");
    let counts = models.iter().find_map(split_counts);
    if let Some(m) = manifest {
        let _ = writeln!(
            h,
            "<p>Features of <code>{}</code> (seed {}): {} mesh files found, {} rows, {} failed.</p>",
            esc(&m.dataset),
            m.seed,
            m.counts.found,
            m.counts.ok,
            m.counts.failed
        );
    }
    if let Some(c) = counts {
        h.push_str(
            "<table>\n<caption>Meshes per class and split</caption>\n<thead><tr><th scope=\"col\" class=\"l\">class</th>\
             <th scope=\"col\">train</th><th scope=\"col\">test</th></tr></thead>\n<tbody>\n",
        );
        let (mut tr, mut te) = (0, 0);
        for (class, [a, b]) in &c {
            tr += a;
            te += b;
            let _ = writeln!(
                h,
                "<tr><th scope=\"row\" class=\"l\">{}</th><td>{a}</td><td>{b}</td></tr>",
                esc(class)
            );
        }
        let _ = writeln!(
            h,
            "</tbody>\n<tfoot><tr><th scope=\"row\" class=\"l\">all</th><td>{tr}</td><td>{te}</td></tr></tfoot>\n</table>"
        );
    } else if !models.is_empty() {
        h.push_str(
            "<p class=\"lead\">No counts per class and split: the feature folder these models \
             name no longer holds the table they were trained on (moved, or rewritten by a later \
             run).</p>\n",
        );
    }
    if let Some(m) = manifest
        && !m.failed.is_empty()
    {
        let _ = writeln!(
            h,
            "<details><summary>{} file(s) that failed to load</summary>\n<ul>",
            m.failed.len()
        );
        for f in &m.failed {
            let _ = writeln!(
                h,
                "<li><code>{}</code>: {}</li>",
                esc(&f.path),
                esc(&f.error)
            );
        }
        h.push_str("</ul></details>\n");
    }
    h.push_str("</section>\n");
}

/// A name as an HTML id: letters, digits, `-` and `_` kept, anything else (spaces, which an id
/// may not hold, and all the rest) written as `.` and its code point in hex.
pub(super) fn html_id(name: &str) -> String {
    let mut o = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            o.push(c);
        } else {
            let _ = write!(o, ".{:x}", c as u32);
        }
    }
    o
}
