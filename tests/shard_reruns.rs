//! Issue #23: a rerun of one Slurm array task never guesses the number of shards, a dataset is
//! not a feature folder because `synth` locked it, switching `--format` leaves no stale table,
//! and an interrupted shard says so.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::shards::*;
use common::{s, text};

// #7: one Slurm array task rerun alone.

fn slurm(c: &mut Command, id: &str, count: &str, min: &str, max: &str) -> Output {
    c.env("SLURM_ARRAY_TASK_ID", id)
        .env("SLURM_ARRAY_TASK_COUNT", count)
        .env("SLURM_ARRAY_TASK_MIN", min)
        .env("SLURM_ARRAY_TASK_MAX", max)
        .output()
        .unwrap()
}

fn features_cmd(data: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = bin();
    c.args(["features", s(data), "--out", s(out)])
        .args(FAST)
        .args(extra);
    c
}

#[test]
fn a_rerun_of_one_slurm_array_task_takes_the_shard_count_from_the_parts() {
    let (_d, dir) = tmp();
    let data = dir.join("d");
    flat(&data, 0, 4);
    let out = dir.join("f");
    // The whole array, --array=0-3.
    for i in 0..4 {
        let o = slurm(
            &mut features_cmd(&data, &out, &[]),
            &i.to_string(),
            "4",
            "0",
            "3",
        );
        assert!(o.status.success(), "{}", text(&o));
        assert!(stderr(&o).contains(&format!("shard {i}/4")), "{}", text(&o));
    }
    // `sbatch --array=2` on its own: Slurm says one task, numbered 2 to 2.
    std::fs::remove_file(out.join("manifest.shard-2-of-4.json")).unwrap();
    let o = slurm(&mut features_cmd(&data, &out, &[]), "2", "1", "2", "2");
    assert!(o.status.success(), "{}", text(&o));
    let e = stderr(&o);
    assert!(e.contains("shard 2/4"), "{e}");
    assert!(e.contains("parts"), "says where 4 came from: {e}");
    assert!(out.join("manifest.shard-2-of-4.json").is_file());
    assert!(!out.join("manifest.shard-0-of-1.json").exists());
    ok(&["merge", s(&out)]);
    let single = dir.join("single");
    features_ok(&data, &single, &[]);
    assert_same_table(&single, &out);
}

#[test]
fn a_lone_slurm_task_without_parts_or_shards_is_refused_with_the_command() {
    let (_d, dir) = tmp();
    let data = dir.join("d");
    flat(&data, 0, 2);
    let out = dir.join("f");
    let o = slurm(&mut features_cmd(&data, &out, &[]), "2", "1", "2", "2");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let e = stderr(&o);
    assert!(e.contains("--shards N"), "{e}");
    assert!(e.contains("--array=2"), "{e}");
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none());
    // Given --shards, it runs its shard of that many.
    let o = slurm(
        &mut features_cmd(&data, &out, &["--shards", "4"]),
        "2",
        "1",
        "2",
        "2",
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(stderr(&o).contains("shard 2/4"), "{}", text(&o));
    // More tasks than the parts already there: another split, refused rather than mixed.
    let o = slurm(&mut features_cmd(&data, &out, &[]), "1", "8", "0", "7");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(stderr(&o).contains("4"), "{}", text(&o));
}

// #11: a dataset is not a feature folder because synth locked it.

#[test]
fn features_refuses_to_write_into_the_dataset_synth_wrote() {
    let (_d, dir) = tmp();
    let data = dir.join("d");
    ok(&["synth", s(&data), "--per-class", "1"]);
    assert!(data.join(".shapeclf.lock").exists());
    let before = paths_under(&data);
    let o = bin()
        .args(["features", s(&data), "--out", s(&data)])
        .output()
        .unwrap();
    common::fails(&o, 1, "not a shapeclf feature folder");
    assert_eq!(paths_under(&data), before);
    // What a first run killed before its first commit leaves (its lock, views, temporaries)
    // is still its own folder.
    let out = dir.join("f");
    std::fs::create_dir_all(out.join("views/a")).unwrap();
    std::fs::write(out.join(".shapeclf.lock"), b"1").unwrap();
    std::fs::write(out.join("views/a/m00.off.png"), b"\x89PNG").unwrap();
    std::fs::write(out.join(".shapeclf-x.tmp"), b"").unwrap();
    features_ok(&data, &out, &[]);
}

// Lesser: --format leaves one table.

#[test]
fn switching_format_leaves_no_stale_table_of_the_other_format() {
    let (_d, dir) = tmp();
    let data = dir.join("d");
    flat(&data, 0, 3);
    let out = dir.join("f");
    features_ok(&data, &out, &[]);
    assert!(out.join("descriptors.csv").is_file());
    features_ok(&data, &out, &["--format", "parquet"]);
    assert!(out.join("descriptors.parquet").is_file());
    assert!(!out.join("descriptors.csv").exists(), "stale CSV left");
    features_ok(&data, &out, &[]);
    assert!(
        !out.join("descriptors.parquet").exists(),
        "stale Parquet left"
    );
    // A shard's part too.
    features_ok(&data, &out, &["--shard", "0/2"]);
    features_ok(&data, &out, &["--shard", "0/2", "--format", "parquet"]);
    assert!(!out.join("descriptors.shard-0-of-2.csv").exists());
    assert!(out.join("descriptors.shard-0-of-2.parquet").is_file());
}

// Lesser: an interrupted shard says so, not "done".

#[test]
fn an_interrupted_shard_does_not_say_it_is_done() {
    let (_d, dir) = tmp();
    let data = dir.join("d");
    // Subdivided twice: a shard takes seconds on one thread, so the signal lands mid-run.
    ok(&[
        "synth",
        s(&data),
        "--per-class",
        "3",
        "--seed",
        "4",
        "--subdivide",
        "2",
    ]);
    let out = dir.join("f");
    let child = bin()
        .args([
            "features",
            s(&data),
            "--out",
            s(&out),
            "--shard",
            "0/2",
            "-j",
            "1",
        ])
        .args([
            "--d2-points",
            "256",
            "--sdf-points",
            "64",
            "--sdf-rays",
            "8",
        ])
        .args(["--view-res", "16"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while t.elapsed() < std::time::Duration::from_secs(60)
        && !paths_under(&out)
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "png"))
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let o = child.wait_with_output().unwrap();
    let Ok(m) = std::fs::read_to_string(out.join("manifest.shard-0-of-2.json")) else {
        return eprintln!("interrupted before any mesh finished: nothing to check");
    };
    let m: serde_json::Value = serde_json::from_str(&m).unwrap();
    if m["counts"]["not_reached"].as_u64().unwrap_or(0) == 0 {
        return eprintln!("finished before the signal: nothing to check");
    }
    let so = stdout(&o);
    assert!(!so.contains("shard 0/2 done"), "{}", text(&o));
    assert!(so.contains("shard 0/2 interrupted"), "{}", text(&o));
}
