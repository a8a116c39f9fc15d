//! A real one-node Slurm cluster: `munged`, `slurmctld` and `slurmd` started here from a
//! generated key and `slurm.conf` (everything in a temporary folder, nothing under /etc), the
//! job script of `deploy/slurm/` submitted as `sbatch --array=0-3` over a synthetic dataset,
//! the parts merged, and the result compared with a single run byte for byte. The daemons are
//! stopped by their process ids afterwards.
//!
//! Needs Debian's `slurm-wlm` and `munge` and root (the daemons run as root): `.ci/run`
//! installs them and sets `CI`, where a cluster that cannot start fails the test; elsewhere it
//! is skipped with a notice saying why.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| d.join(name).is_file())
            || Path::new("/usr/sbin").join(name).is_file()
    })
}

/// Skips (or, under CI, fails) with the reason.
fn skip(why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must be able to start Slurm for this test: {why}"
    );
    eprintln!("skipped: {why}");
}

/// The daemons, stopped by process id (SIGTERM, then SIGKILL) when dropped, whatever happens.
struct Daemons(Vec<(&'static str, Child)>);

impl Drop for Daemons {
    fn drop(&mut self) {
        for (_, c) in self.0.iter_mut().rev() {
            let pid = nix::unistd::Pid::from_raw(c.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(10) {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if !matches!(c.try_wait(), Ok(Some(_))) {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

fn sbin(name: &str) -> PathBuf {
    ["/usr/sbin", "/usr/bin", "/usr/local/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

fn logs(dir: &Path) -> String {
    let mut out = String::new();
    for f in ["munged.log", "slurmctld.log", "slurmd.log"] {
        let text = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        out.push_str(&format!("--- {f}\n"));
        for l in tail.iter().rev() {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// Starts the cluster in `dir`; Err says why it could not.
fn start_cluster(dir: &Path) -> Result<(Daemons, PathBuf), String> {
    let host = String::from_utf8(
        Command::new("hostname")
            .arg("-s")
            .output()
            .map_err(|e| e.to_string())?
            .stdout,
    )
    .map_err(|e| e.to_string())?
    .trim()
    .to_string();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Ports from the process id: two test runs side by side do not collide.
    let port = 20_000 + (std::process::id() % 20_000) as u16;
    let key = dir.join("munge.key");
    let mut bytes = vec![0u8; 1024];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = (shapeclf::seeding::mesh_seed(u64::from(std::process::id()), i as u64) >> 7) as u8;
    }
    std::fs::write(&key, bytes).map_err(|e| e.to_string())?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o400))
            .map_err(|e| e.to_string())?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| e.to_string())?;
    }
    for sub in ["state", "spool"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| e.to_string())?;
    }
    let d = s(dir);
    let conf = format!(
        "ClusterName=shapeclftest\nSlurmctldHost={host}\nSlurmUser=root\nSlurmdUser=root\n\
         SlurmctldPort={port}\nSlurmdPort={}\nAuthType=auth/munge\nCredType=cred/munge\n\
         AuthInfo=socket={d}/munge.socket\nStateSaveLocation={d}/state\nSlurmdSpoolDir={d}/spool\n\
         SlurmctldPidFile={d}/slurmctld.pid\nSlurmdPidFile={d}/slurmd.pid\n\
         SlurmctldLogFile={d}/slurmctld.log\nSlurmdLogFile={d}/slurmd.log\n\
         ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n\
         JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n\
         JobCompType=jobcomp/none\nSchedulerType=sched/backfill\nSelectType=select/cons_tres\n\
         SelectTypeParameters=CR_CPU\nReturnToService=2\nMpiDefault=none\n\
         NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN\n\
         PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP\n",
        port + 1
    );
    let conf_path = dir.join("slurm.conf");
    std::fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
    let spawn = |name: &'static str, args: Vec<String>| -> Result<(&'static str, Child), String> {
        Command::new(sbin(name))
            .args(args)
            .env("SLURM_CONF", &conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(|c| (name, c))
            .map_err(|e| format!("cannot start {name}: {e}"))
    };
    let mut daemons = Daemons(Vec::new());
    daemons.0.push(spawn(
        "munged",
        vec![
            "-F".into(),
            "-f".into(),
            format!("--key-file={d}/munge.key"),
            format!("--socket={d}/munge.socket"),
            format!("--pid-file={d}/munged.pid"),
            format!("--log-file={d}/munged.log"),
            format!("--seed-file={d}/munged.seed"),
        ],
    )?);
    let t = Instant::now();
    while !dir.join("munge.socket").exists() {
        if t.elapsed() > Duration::from_secs(15) {
            return Err(format!("munged did not open its socket\n{}", logs(dir)));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let cf = format!("{d}/slurm.conf");
    daemons.0.push(spawn(
        "slurmctld",
        vec!["-D".into(), "-i".into(), "-f".into(), cf.clone()],
    )?);
    daemons
        .0
        .push(spawn("slurmd", vec!["-D".into(), "-f".into(), cf])?);
    let t = Instant::now();
    loop {
        let out = Command::new("sinfo")
            .args(["-h", "-o", "%T"])
            .env("SLURM_CONF", &conf_path)
            .output()
            .map_err(|e| format!("cannot run sinfo: {e}"))?;
        let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if state == "idle" {
            break;
        }
        if t.elapsed() > Duration::from_secs(60) {
            return Err(format!(
                "the node did not come up (sinfo says {state:?})\n{}",
                logs(dir)
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Ok((daemons, conf_path))
}

fn shapeclf(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_shapeclf"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

const FAST: [&str; 8] = [
    "--d2-points",
    "256",
    "--sdf-points",
    "64",
    "--sdf-rays",
    "8",
    "--view-res",
    "16",
];

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

#[test]
fn slurm_array_of_four_merges_into_the_single_run() {
    for tool in ["munged", "slurmctld", "slurmd", "sbatch", "sinfo"] {
        if !on_path(tool) {
            return skip(&format!("no {tool} (apt-get install slurm-wlm munge)"));
        }
    }
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    if String::from_utf8_lossy(&uid).trim() != "0" {
        return skip("the one-node cluster runs its daemons as root");
    }
    let work = tempfile::tempdir().unwrap();
    let cluster = work.path().join("cluster");
    std::fs::create_dir_all(&cluster).unwrap();
    let started = Instant::now();
    let (daemons, conf) = match start_cluster(&cluster) {
        Ok(c) => c,
        Err(why) => return skip(&format!("Slurm could not start: {why}")),
    };
    eprintln!(
        "slurm: munged, slurmctld, slurmd up in {:.1} s (pids {:?})",
        started.elapsed().as_secs_f64(),
        daemons
            .0
            .iter()
            .map(|(n, c)| (*n, c.id()))
            .collect::<Vec<_>>()
    );
    let meshes = work.path().join("meshes");
    shapeclf(&["synth", s(&meshes), "--per-class", "4", "--seed", "3"]);
    let single = work.path().join("single");
    let mut args = vec!["features", s(&meshes), "--out", s(&single), "--seed", "9"];
    args.extend(FAST);
    shapeclf(&args);

    let sharded = work.path().join("sharded");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/slurm/features-array.sbatch");
    let t = Instant::now();
    let out = Command::new("sbatch")
        .args(["--wait", "--array=0-3", "--cpus-per-task=1"])
        .arg(format!("--output={}/task-%a.log", s(work.path())))
        .arg(&script)
        .args(FAST)
        .env("SLURM_CONF", &conf)
        .env("DATASET", &meshes)
        .env("OUT", &sharded)
        .env("SEED", "9")
        .env("SHAPECLF", env!("CARGO_BIN_EXE_shapeclf"))
        .output()
        .unwrap();
    let submitted = String::from_utf8_lossy(&out.stdout).trim().to_string();
    eprintln!(
        "slurm: {submitted}: 4 array tasks done in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let mut task_logs = String::new();
    for i in 0..4 {
        let log =
            std::fs::read_to_string(work.path().join(format!("task-{i}.log"))).unwrap_or_default();
        assert!(
            log.contains(&format!(
                "shard {i}/4 (from Slurm's job array (SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT))"
            )),
            "task {i} log:\n{log}"
        );
        task_logs.push_str(&format!("--- task {i}\n{log}"));
    }
    assert!(
        out.status.success(),
        "sbatch: {}\n{}\n{task_logs}\n{}",
        submitted,
        String::from_utf8_lossy(&out.stderr),
        logs(&cluster)
    );
    eprint!("{task_logs}");
    let merged = shapeclf(&["merge", s(&sharded)]);
    eprint!("{}", String::from_utf8_lossy(&merged.stdout));

    // Byte for byte: table, cache and every view; the manifest once the run fields (wall time,
    // threads) are set alike, as they differ between any two runs.
    for f in ["descriptors.csv", "mesh_cache.json"] {
        assert_eq!(
            std::fs::read(single.join(f)).unwrap(),
            std::fs::read(sharded.join(f)).unwrap(),
            "{f}"
        );
    }
    let cleared = |d: &Path| {
        let m = shapeclf::features::Manifest::read(&d.join("manifest.json")).unwrap();
        serde_json::to_string_pretty(&shapeclf::merge::run_fields_cleared(&m)).unwrap()
    };
    assert_eq!(cleared(&single), cleared(&sharded));
    let (a, b) = (files(&single.join("views")), files(&sharded.join("views")));
    assert!(!a.is_empty() && a == b, "view images differ");
    eprintln!(
        "slurm: merged table, cache, manifest and {} view images identical to the single run",
        a.len()
    );

    // One task resubmitted alone, as the script's comment says (`sbatch --array=2`): Slurm
    // reports an array of one task numbered 2, and the number of shards comes from the parts.
    std::fs::remove_file(sharded.join("manifest.shard-2-of-4.json")).unwrap();
    let out = Command::new("sbatch")
        .args(["--wait", "--array=2", "--cpus-per-task=1"])
        .arg(format!("--output={}/rerun-%a.log", s(work.path())))
        .arg(&script)
        .args(FAST)
        .env("SLURM_CONF", &conf)
        .env("DATASET", &meshes)
        .env("OUT", &sharded)
        .env("SEED", "9")
        .env("SHAPECLF", env!("CARGO_BIN_EXE_shapeclf"))
        .output()
        .unwrap();
    let log = std::fs::read_to_string(work.path().join("rerun-2.log")).unwrap_or_default();
    assert!(
        out.status.success() && log.contains("shard 2/4 (from Slurm's job array (SLURM_ARRAY_TASK_ID; the number of shards from the parts"),
        "rerun of task 2: {}\n{log}\n{}",
        String::from_utf8_lossy(&out.stderr),
        logs(&cluster)
    );
    assert!(!sharded.join("manifest.shard-0-of-1.json").exists());
    shapeclf(&["merge", s(&sharded)]);
    for f in ["descriptors.csv", "mesh_cache.json"] {
        assert_eq!(
            std::fs::read(single.join(f)).unwrap(),
            std::fs::read(sharded.join(f)).unwrap(),
            "{f} after the rerun"
        );
    }
    drop(daemons);
}
