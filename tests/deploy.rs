//! The Kubernetes manifests under `deploy/kubernetes/` parse, describe an Indexed Job whose
//! `--shards` equals its `completions`, give only flags `shapeclf` knows, and the merge Job
//! reads the folder the features Job writes. The Slurm script is run for real in tests/slurm.rs.

use std::path::Path;
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

fn load(name: &str) -> Yaml {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/kubernetes")
        .join(name);
    let text = std::fs::read_to_string(&p).unwrap();
    let mut docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(docs.len(), 1, "{name}: one document");
    docs.remove(0)
}

fn strs(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .unwrap_or_else(|| panic!("not a list: {y:?}"))
        .iter()
        .map(|v| v.as_str().expect("a string").to_string())
        .collect()
}

fn after<'a>(args: &'a [String], flag: &str) -> &'a str {
    let i = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("no {flag}"));
    &args[i + 1]
}

/// Every `--flag` in `args` is one `shapeclf <command> --help` lists.
fn flags_known(command: &str, args: &[String]) {
    let help = Command::new(env!("CARGO_BIN_EXE_shapeclf"))
        .args([command, "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for a in args.iter().filter(|a| a.starts_with("--")) {
        assert!(help.contains(a.as_str()), "shapeclf {command} has no {a}");
    }
}

fn out_volume(job: &Yaml) -> (String, String) {
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"].as_str(), Some("Never"));
    let c = &pod["containers"][0];
    let mount = c["volumeMounts"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|m| m["name"].as_str() == Some("out"))
        .expect("an `out` volume mount");
    let claim = pod["volumes"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|v| v["name"].as_str() == Some("out"))
        .expect("an `out` volume")["persistentVolumeClaim"]["claimName"]
        .as_str()
        .unwrap()
        .to_string();
    (mount["mountPath"].as_str().unwrap().to_string(), claim)
}

#[test]
fn kubernetes_indexed_job_and_merge_job_agree() {
    let job = load("features-indexed-job.yaml");
    assert_eq!(job["apiVersion"].as_str(), Some("batch/v1"));
    assert_eq!(job["kind"].as_str(), Some("Job"));
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    let completions = spec["completions"].as_i64().expect("completions");
    assert!(completions >= 1);
    assert!(spec["parallelism"].as_i64().unwrap() <= completions);
    let c = &spec["template"]["spec"]["containers"][0];
    assert_eq!(strs(&c["command"]), ["shapeclf"]);
    let args = strs(&c["args"]);
    assert_eq!(args[0], "features");
    assert_eq!(after(&args, "--shards"), completions.to_string());
    assert!(
        !args.iter().any(|a| a == "--shard"),
        "the index comes from JOB_COMPLETION_INDEX"
    );
    flags_known("features", &args);
    let out = after(&args, "--out").to_string();
    let (mount, claim) = out_volume(&job);
    assert!(
        out.starts_with(&mount),
        "--out {out} is not on the {mount} volume"
    );

    let merge = load("merge-job.yaml");
    assert_eq!(merge["kind"].as_str(), Some("Job"));
    let c = &merge["spec"]["template"]["spec"]["containers"][0];
    let margs = strs(&c["args"]);
    assert_eq!(margs[0], "merge");
    flags_known("merge", &margs);
    assert_eq!(margs[1], out, "the merge reads the folder the shards write");
    let (mmount, mclaim) = out_volume(&merge);
    assert_eq!((mmount, mclaim), (mount, claim));
}

#[test]
fn slurm_script_shards_by_the_array_and_passes_arguments_on() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/slurm/features-array.sbatch");
    let text = std::fs::read_to_string(p).unwrap();
    assert!(text.starts_with("#!/bin/bash\n"));
    assert!(text.contains("#SBATCH --array=0-"));
    // No --shard: the array's variables decide, so resizing the array is the only change.
    assert!(!text.contains("--shard "));
    assert!(text.contains("\"$@\""));
    let st = Command::new("bash")
        .args(["-n"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/slurm/features-array.sbatch"))
        .status()
        .unwrap();
    assert!(st.success(), "bash -n");
}
