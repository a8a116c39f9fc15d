//! What must agree between the parts of one sharded run, and how a disagreement is said: one
//! short line per group of parts that differ alike, naming each setting with both values.

use std::path::Path;

use crate::features::Manifest;
use crate::shard::Shard;

/// One setting that differs: its name, this part's value, the reference part's.
type Difference = (String, String, String);

/// Most lines of differences shown; the rest are counted.
const MAX_LINES: usize = 6;

/// A value as a person reads it: text without quotes, `none` for null, an object as
/// `key value` pairs.
fn plain(v: Option<&serde_json::Value>) -> String {
    use serde_json::Value as V;
    match v {
        None | Some(V::Null) => "none".into(),
        Some(V::String(s)) => s.clone(),
        Some(V::Object(o)) => format!(
            "({})",
            o.iter()
                .map(|(k, v)| format!("{k} {}", plain(Some(v))))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(V::Array(a)) => a
            .iter()
            .map(|v| plain(Some(v)))
            .collect::<Vec<_>>()
            .join(", "),
        Some(v) => v.to_string(),
    }
}

/// The fields of two serialisable values that differ, as `(name, this, that)`, named
/// `prefix` + field.
fn field_differences<T: serde::Serialize>(prefix: &str, a: &T, b: &T) -> Vec<Difference> {
    let (a, b) = (serde_json::to_value(a).ok(), serde_json::to_value(b).ok());
    match (a, b) {
        (Some(serde_json::Value::Object(a)), Some(serde_json::Value::Object(b))) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .filter(|k| a.get(*k) != b.get(*k))
                .map(|k| (format!("{prefix}{k}"), plain(a.get(k)), plain(b.get(k))))
                .collect()
        }
        (a, b) if a != b => vec![(
            prefix.trim_end().to_string(),
            plain(a.as_ref()),
            plain(b.as_ref()),
        )],
        _ => Vec::new(),
    }
}

/// How part `m` differs from the reference part `r`, each as `(setting, m's, r's)`.
fn differences(m: &Manifest, r: &Manifest) -> Vec<Difference> {
    let mut out = Vec::new();
    let simple = |out: &mut Vec<Difference>, what: &str, a: String, b: String| {
        if a != b {
            out.push((what.to_string(), a, b));
        }
    };
    simple(&mut out, "tool", m.tool.clone(), r.tool.clone());
    simple(
        &mut out,
        "shapeclf version",
        m.tool_version.clone(),
        r.tool_version.clone(),
    );
    simple(
        &mut out,
        "format version",
        m.format_version.to_string(),
        r.format_version.to_string(),
    );
    let listing = |m: &Manifest| {
        m.dataset_listing.as_ref().map_or_else(
            || "listing not recorded (an older shapeclf wrote this part: rerun it)".to_string(),
            |l| format!("{l} (listing {})", l.hash),
        )
    };
    // A part without a listing is named (against itself, if it is the reference): there is
    // nothing to check it by.
    if m.dataset_listing.is_none()
        || (r.dataset_listing.is_some() && m.dataset_listing != r.dataset_listing)
    {
        out.push(("dataset".into(), listing(m), listing(r)));
    }
    simple(&mut out, "seed", m.seed.to_string(), r.seed.to_string());
    let cap = |m: &Manifest| m.max_faces.map_or("none".into(), |c| c.to_string());
    simple(&mut out, "--max-faces", cap(m), cap(r));
    out.extend(field_differences("", &m.descriptors, &r.descriptors));
    if m.columns != r.columns {
        let first = m
            .columns
            .iter()
            .zip(&r.columns)
            .position(|(a, b)| a != b)
            .unwrap_or(m.columns.len().min(r.columns.len()));
        out.push((
            "columns".into(),
            describe_columns(&m.columns, first),
            describe_columns(&r.columns, first),
        ));
    }
    match (&m.views, &r.views) {
        (Some(a), Some(b)) => {
            out.extend(field_differences("view ", &a.config, &b.config));
            if (&a.folder, &a.naming) != (&b.folder, &b.naming) {
                out.push(("view files".into(), a.naming.clone(), b.naming.clone()));
            }
        }
        (a, b) => {
            let v = |v: &Option<crate::features::ViewsInfo>| {
                v.as_ref().map_or("none (--no-views)".into(), |v| {
                    format!("{} per mesh", v.count)
                })
            };
            if a.is_some() != b.is_some() {
                out.push(("views".into(), v(a), v(b)));
            }
        }
    }
    let fmt = |m: &Manifest| m.files().table;
    if m.table_format != r.table_format {
        out.push(("table format".into(), fmt(m), fmt(r)));
    }
    let count = |m: &Manifest| m.shard.map_or(0, |s| s.count).to_string();
    if count(m) != count(r) {
        out.push(("shard count".into(), count(m), count(r)));
    }
    out
}

/// `cols` in a few words: how many, and the name at the first position where two lists part.
fn describe_columns(cols: &[String], first: usize) -> String {
    match cols.get(first) {
        Some(c) => format!("{} (column {} {c})", cols.len(), first + 1),
        None => cols.len().to_string(),
    }
}

/// Every way the parts (sorted, each with its manifest) differ from the first, one line per
/// group of parts that differ alike, at most [`MAX_LINES`]; empty when they agree. `dir` is
/// the folder, for the commands a line suggests.
pub(super) fn mismatches(dir: &Path, parts: &[(Shard, Manifest)]) -> Vec<String> {
    let Some((first, reference)) = parts.first() else {
        return Vec::new();
    };
    let mut groups: Vec<(Vec<Shard>, Vec<Difference>)> = Vec::new();
    // A part without a listing also differs from a reference without one.
    let own = differences(reference, reference);
    if !own.is_empty() {
        groups.push((vec![*first], own));
    }
    for (s, m) in &parts[1..] {
        let d = differences(m, reference);
        if d.is_empty() {
            continue;
        }
        match groups.iter_mut().find(|g| g.1 == d) {
            Some(g) => g.0.push(*s),
            None => groups.push((vec![*s], d)),
        }
    }
    let mut lines: Vec<String> = groups
        .iter()
        .take(MAX_LINES)
        .map(|(shards, d)| {
            let who = match shards.len() {
                1 => shards[0].manifest_file(),
                n => format!("{} (and {} more parts)", shards[0].manifest_file(), n - 1),
            };
            if shards[0] == *first {
                let what: Vec<String> = d.iter().map(|(w, a, _)| format!("{w} {a}")).collect();
                return format!("{who}: {}", what.join("; "));
            }
            let what: Vec<String> = d
                .iter()
                .map(|(w, a, b)| format!("{w} {a} vs {b}"))
                .collect();
            format!(
                "{who} differs from {}: {}",
                first.manifest_file(),
                what.join("; ")
            )
        })
        .collect();
    if groups.len() > MAX_LINES {
        lines.push(format!(
            "and {} more groups of parts that differ",
            groups.len() - MAX_LINES
        ));
    }
    if !groups.is_empty() && groups.iter().any(|g| g.1.iter().any(|d| d.0 == "dataset")) {
        lines.push(stale_hint(dir, parts));
    }
    lines
}

/// What to do when the parts saw different datasets: the parts whose listing is not the
/// dataset's as it is now (when the dataset can still be read where the parts say it was),
/// each with the command that reruns it.
fn stale_hint(dir: &Path, parts: &[(Shard, Manifest)]) -> String {
    let generic = format!(
        "the dataset changed between the shards: rerun every shard on the dataset as it is now (`shapeclf features DATASET --out {} --shard I/N`, with the same settings), then merge",
        dir.display()
    );
    let (_, reference) = &parts[0];
    let Ok((entries, unusable)) =
        crate::dataset::discover_all(Path::new(&reference.dataset), reference.seed)
    else {
        return generic;
    };
    let now = crate::dataset::Listing::of(&entries, &unusable);
    let stale: Vec<Shard> = parts
        .iter()
        .filter(|(_, m)| m.dataset_listing.as_ref() != Some(&now))
        .map(|(s, _)| *s)
        .collect();
    if stale.is_empty() || stale.len() == parts.len() {
        return generic;
    }
    let shown: Vec<String> = stale
        .iter()
        .take(MAX_LINES)
        .map(|s| {
            format!(
                "`shapeclf features {} --out {} --shard {s}`",
                reference.dataset,
                dir.display()
            )
        })
        .collect();
    format!(
        "the dataset changed after {} of the shards ran: rerun {}{} (with the same settings), then merge",
        stale.len(),
        if stale.len() == 1 { "it" } else { "them" },
        if stale.len() > MAX_LINES {
            format!(
                ", e.g. {} and {} more",
                shown.join(", "),
                stale.len() - MAX_LINES
            )
        } else {
            format!(": {}", shown.join(", "))
        }
    )
}
