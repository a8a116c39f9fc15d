//! Issue #23: a shard part, a merged folder or a reused row is trusted only when the inputs and
//! settings it was computed from are recorded with it and match: the dataset's file listing and
//! `--max-faces` are recorded in every part, empty and all-failing shards write a part, and
//! `--allow-missing` says what it left out and keeps what it can.

mod common;

use std::path::{Path, PathBuf};

use common::shards::*;
use common::{GOOD_OFF, s, text};

// #1: the dataset's contents, not its path as typed.

#[test]
fn merge_refuses_parts_of_different_dataset_contents() {
    let (_d, dir) = tmp();
    let data = dir.join("d");
    flat(&data, 0, 5);
    let out = dir.join("f");
    features_ok(&data, &out, &["--shard", "0/2"]);
    // Four meshes added to each class between the shards: the seeded split of the whole
    // class moves, and shard 0 saw neither the new meshes nor the new split.
    flat(&data, 5, 4);
    features_ok(&data, &out, &["--shard", "1/2"]);
    let m = go(&["merge", s(&out)]);
    assert_eq!(m.status.code(), Some(1), "{}", text(&m));
    let e = stderr(&m);
    assert!(e.contains("dataset"), "{e}");
    assert!(e.contains("changed"), "{e}");
    assert!(e.contains("--shard 0/2"), "says which shard to rerun: {e}");
    assert!(!out.join("manifest.json").exists());
    // Rerunning the stale shard on today's dataset merges into exactly the single run.
    features_ok(&data, &out, &["--shard", "0/2"]);
    ok(&["merge", s(&out)]);
    let single = dir.join("single");
    features_ok(&data, &single, &[]);
    assert_same_table(&single, &out);
    assert_eq!(manifest_of(&out, "manifest.json")["counts"]["found"], 18);
}

#[test]
fn merge_refuses_parts_whose_mesh_changed_size_between_shards() {
    let (_d, dir) = tmp();
    let data = dir.join("d");
    flat(&data, 0, 4);
    let out = dir.join("f");
    features_ok(&data, &out, &["--shard", "0/2"]);
    // Same names, one file edited.
    std::fs::write(data.join("a/m00.off"), tet(41)).unwrap();
    features_ok(&data, &out, &["--shard", "1/2"]);
    let m = go(&["merge", s(&out)]);
    assert_eq!(m.status.code(), Some(1), "{}", text(&m));
    assert!(stderr(&m).contains("changed"), "{}", text(&m));
}

#[test]
fn merge_accepts_one_dataset_spelled_two_ways_and_splits_as_a_single_run() {
    let (_d, dir) = tmp();
    flat(&dir.join("d"), 0, 7);
    let run_in = |args: &[&str]| {
        let o = bin().current_dir(&dir).args(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", text(&o));
    };
    let with_fast = |data: &str, out: &str, extra: &[&str]| {
        let mut a = vec!["features", data, "--out", out];
        a.extend_from_slice(FAST);
        a.extend_from_slice(extra);
        run_in(&a);
    };
    with_fast("./d/", "f", &["--shard", "0/2"]);
    with_fast("d", "f", &["--shard", "1/2"]);
    run_in(&["merge", "f"]);
    with_fast(s(&dir.join("d")), "single", &[]);
    // Same rows and the same seeded split for every mesh of the flat classes.
    assert_same_table(&dir.join("single"), &dir.join("f"));
}

// #3: --max-faces is a setting.

/// The synthetic set, and a cap under which some of its meshes fall and some do not.
fn synth_and_cap(dir: &Path) -> (PathBuf, usize) {
    let data = dir.join("d");
    ok(&["synth", s(&data), "--per-class", "2", "--seed", "3"]);
    let probe = dir.join("probe");
    features_ok(&data, &probe, &[]);
    let cache: Vec<serde_json::Value> =
        serde_json::from_slice(&read(&probe.join("mesh_cache.json"))).unwrap();
    let mut tris: Vec<u64> = cache
        .iter()
        .map(|c| c["triangles"].as_u64().unwrap())
        .collect();
    tris.sort();
    let cap = tris[tris.len() / 2];
    assert!(tris[0] <= cap && *tris.last().unwrap() > cap, "{tris:?}");
    (data, cap as usize)
}

#[test]
fn rerun_with_a_lower_max_faces_fails_the_meshes_over_it_as_a_fresh_run_does() {
    let (_d, dir) = tmp();
    let (data, cap) = synth_and_cap(&dir);
    let cap = cap.to_string();
    let out = dir.join("f");
    features_ok(&data, &out, &[]);
    let rerun = features_ok(&data, &out, &["--max-faces", &cap]);
    let fresh = dir.join("fresh");
    features_ok(&data, &fresh, &["--max-faces", &cap]);
    let (a, b) = (
        manifest_of(&out, "manifest.json"),
        manifest_of(&fresh, "manifest.json"),
    );
    assert!(b["counts"]["failed"].as_u64().unwrap() > 0);
    assert_eq!(
        a["counts"]["failed"],
        b["counts"]["failed"],
        "{}",
        text(&rerun)
    );
    assert_eq!(a["failed"], b["failed"]);
    assert_eq!(a["max_faces"], b["max_faces"]);
    assert_same_table(&out, &fresh);
    // And back without a cap: the meshes over it are computed again.
    features_ok(&data, &out, &[]);
    assert_eq!(manifest_of(&out, "manifest.json")["counts"]["failed"], 0);
}

#[test]
fn merge_refuses_shards_run_with_different_max_faces() {
    let (_d, dir) = tmp();
    let (data, cap) = synth_and_cap(&dir);
    let out = dir.join("f");
    features_ok(
        &data,
        &out,
        &["--shard", "0/2", "--max-faces", &cap.to_string()],
    );
    features_ok(&data, &out, &["--shard", "1/2"]);
    let m = go(&["merge", s(&out)]);
    assert_eq!(m.status.code(), Some(1), "{}", text(&m));
    assert!(stderr(&m).contains("--max-faces"), "{}", text(&m));
    assert!(!out.join("manifest.json").exists());
}

// #4: empty shards.

#[test]
fn an_empty_shard_writes_an_empty_part_and_the_merge_succeeds() {
    let (_d, dir) = tmp();
    let data = dir.join("d");
    flat(&data, 0, 2);
    let n = 16u32;
    let used: std::collections::BTreeSet<u32> = ["a", "b"]
        .iter()
        .flat_map(|c| (0..2).map(move |i| format!("{c}/m{i:02}.off")))
        .map(|p| shapeclf::shard::shard_of(&p, n))
        .collect();
    let empty = (0..n).find(|i| !used.contains(i)).unwrap();
    let out = dir.join("f");
    for i in 0..n {
        let o = features_ok(&data, &out, &["--shard", &format!("{i}/{n}")]);
        if i == empty {
            assert!(stdout(&o).contains("0 meshes"), "{}", text(&o));
        }
    }
    assert!(
        out.join(format!("manifest.shard-{empty}-of-{n}.json"))
            .is_file()
    );
    ok(&["merge", s(&out)]);
    let single = dir.join("single");
    features_ok(&data, &single, &[]);
    assert_same_table(&single, &out);
}

/// Relative paths that fall in shard `want` of `n`, `count` of them, in class `class`.
fn names_in_shard(class: &str, want: u32, n: u32, count: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("{class}/x{i}.off"))
        .filter(|p| shapeclf::shard::shard_of(p, n) == want)
        .take(count)
        .collect()
}

#[test]
fn a_shard_whose_meshes_all_fail_keeps_its_failures_through_merge_and_allow_missing() {
    let (_d, dir) = tmp();
    let data = dir.join("d");
    for (rel, body) in names_in_shard("a", 0, 3, 3)
        .into_iter()
        .map(|p| (p, GOOD_OFF))
        .chain(
            names_in_shard("b", 1, 3, 2)
                .into_iter()
                .map(|p| (p, "OFF\n4 4 0\n0 0 0\n")),
        )
    {
        let p = data.join(&rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    let out = dir.join("f");
    features_ok(&data, &out, &["--shard", "0/3"]);
    let o = features_ok(&data, &out, &["--shard", "1/3"]);
    assert!(stdout(&o).contains("2 failed"), "{}", text(&o));
    let part = manifest_of(&out, "manifest.shard-1-of-3.json");
    assert_eq!(part["failed"].as_array().unwrap().len(), 2);
    // Shard 2 is left out on purpose: its failures are not, and the manifest says so.
    let m = ok(&["merge", s(&out), "--allow-missing"]);
    assert!(stderr(&m).contains("left out shard 2/3"), "{}", text(&m));
    let merged = manifest_of(&out, "manifest.json");
    assert_eq!(merged["counts"]["failed"], 2, "{merged}");
    assert_eq!(merged["failed"].as_array().unwrap().len(), 2);
    let left = merged["shards_left_out"].as_array().expect("recorded");
    assert_eq!(left.len(), 1, "{merged}");
    assert_eq!(left[0]["shard"], "2/3");
    // With every shard there, the merge is the single run.
    features_ok(&data, &out, &["--shard", "2/3"]);
    ok(&["merge", s(&out)]);
    let single = dir.join("single");
    features_ok(&data, &single, &[]);
    assert_same_table(&single, &out);
    assert!(
        manifest_of(&out, "manifest.json")
            .get("shards_left_out")
            .is_none()
    );
}

// Lesser: --allow-missing keeps what an interrupted shard finished, and says so.

#[test]
fn allow_missing_keeps_the_rows_an_interrupted_shard_finished_and_records_it() {
    let (_d, dir) = tmp();
    let data = dir.join("d");
    flat(&data, 0, 5);
    let out = dir.join("f");
    features_ok(&data, &out, &["--shard", "0/2"]);
    features_ok(&data, &out, &["--shard", "1/2"]);
    // What a Ctrl-C'd shard writes: its finished rows, and the meshes it did not reach counted.
    let file = out.join("manifest.shard-1-of-2.json");
    let mut m: serde_json::Value = serde_json::from_slice(&read(&file)).unwrap();
    let rows = m["counts"]["ok"].as_u64().unwrap();
    assert!(rows > 0);
    m["counts"]["found"] = (m["counts"]["found"].as_u64().unwrap() + 2).into();
    m["counts"]["not_reached"] = 2.into();
    std::fs::write(&file, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let e = go(&["merge", s(&out)]);
    assert_eq!(e.status.code(), Some(1), "{}", text(&e));
    assert!(
        stderr(&e).contains("shard 1/2: interrupted"),
        "{}",
        text(&e)
    );
    ok(&["merge", s(&out), "--allow-missing"]);
    let merged = manifest_of(&out, "manifest.json");
    let part0 = manifest_of(&out, "manifest.shard-0-of-2.json");
    assert_eq!(
        merged["counts"]["ok"].as_u64().unwrap(),
        part0["counts"]["ok"].as_u64().unwrap() + rows,
        "{merged}"
    );
    assert_eq!(merged["counts"]["not_reached"], 2);
    let left = merged["shards_left_out"].as_array().expect("recorded");
    assert_eq!(left[0]["shard"], "1/2");
    assert!(left[0]["reason"].as_str().unwrap().contains("not reached"));
}

// Lesser: a mismatch reads as a sentence, not a dump.

#[test]
fn merge_mismatch_message_is_short_and_names_the_setting() {
    let (_d, dir) = tmp();
    let data = dir.join("d");
    flat(&data, 0, 3);
    let out = dir.join("f");
    features_ok(&data, &out, &["--shard", "0/2"]);
    features_ok(
        &data,
        &out,
        &["--shard", "1/2", "--no-sh", "--d2-pairs", "1000"],
    );
    let m = go(&["merge", s(&out)]);
    assert_eq!(m.status.code(), Some(1), "{}", text(&m));
    let e = stderr(&m);
    assert!(e.len() < 1200, "{} bytes:\n{e}", e.len());
    assert!(e.lines().count() <= 8, "{e}");
    assert!(
        !e.contains("Some(") && !e.contains("DescriptorConfig") && !e.contains('{'),
        "{e}"
    );
    assert!(e.contains("d2_pairs"), "{e}");
    assert!(e.contains("columns"), "{e}");
}
