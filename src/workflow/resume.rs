//! `train --resume`: finding the interrupted training of a model folder, checking that it was
//! run with the same settings on the same features, and the checkpoints of each of its seeds.
//!
//! An interrupted training is the staging folder a killed `train` left beside its model folder
//! (see [`model_dir::Staging`]): its `checkpoint/` holds `run.json`, what the run was computed
//! from, and one checkpoint folder per seed ([`Checkpoints`]).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};
use crate::io::write_json_atomic;
use crate::model_dir::{CHECKPOINT_DIR, Staging};
use crate::observe::{Event, Observer};
use crate::train::{Checkpoints, TrainConfig};

/// What a run's checkpoints were computed from: they are resumed only when it matches.
const RUN_FILE: &str = "run.json";

/// What a training run is computed from: the tool, its settings (all but those that cannot
/// change a number), and the feature folder's manifest.
fn identity(cfg: &TrainConfig, manifest_bytes: &[u8]) -> Value {
    let mut train = serde_json::to_value(cfg).unwrap_or(Value::Null);
    if let Some(t) = train.as_object_mut() {
        // Where the views are held changes no number.
        t.remove("views_in_memory");
    }
    serde_json::json!({
        "tool_version": crate::BUILD_ID,
        "train": train,
        "features_manifest": crate::features::hash_hex(manifest_bytes),
        "backend": cfg.backend.describe(),
    })
}

/// What differs between the run recorded in `dir` and this one, in words; `Ok(())` when
/// nothing that changes a number does. A different thread count is only a warning.
fn compare(
    recorded: &Value,
    now: &Value,
    observer: &dyn Observer,
) -> std::result::Result<(), String> {
    let get = |v: &Value, k: &str| v.get(k).cloned().unwrap_or(Value::Null);
    if get(recorded, "tool_version") != get(now, "tool_version") {
        return Err(format!(
            "it was run by shapeclf {}, this is {}",
            get(recorded, "tool_version"),
            get(now, "tool_version")
        ));
    }
    if get(recorded, "features_manifest") != get(now, "features_manifest") {
        return Err("its feature folder has been rewritten since".into());
    }
    let (rt, nt) = (get(recorded, "train"), get(now, "train"));
    let mut keys: Vec<&String> = rt
        .as_object()
        .into_iter()
        .chain(nt.as_object())
        .flat_map(|o| o.keys())
        .collect();
    keys.sort();
    keys.dedup();
    let differ: Vec<String> = keys
        .into_iter()
        .filter(|k| rt.get(k.as_str()) != nt.get(k.as_str()))
        .map(|k| {
            let show = |v: Option<&Value>| v.map_or("unset".to_string(), |v| v.to_string());
            format!(
                "{k} was {}, now {}",
                show(rt.get(k.as_str())),
                show(nt.get(k.as_str()))
            )
        })
        .collect();
    if !differ.is_empty() {
        return Err(format!("its settings differ ({})", differ.join("; ")));
    }
    if get(recorded, "backend") != get(now, "backend") {
        observer.event(Event::Warning(&format!(
            "the interrupted run trained on {}, this one on {}: the result can differ from an uninterrupted run's in the last digits",
            get(recorded, "backend"),
            get(now, "backend")
        )));
    }
    Ok(())
}

/// A training run's staging folder and where its checkpoints go.
pub(super) struct Run {
    pub(super) staging: Staging,
    checkpoints: PathBuf,
    /// Whether it continues an interrupted run.
    pub(super) resumed: bool,
}

impl Run {
    /// The staging folder for training `cfg` into `out`: with `cfg.resume`, the interrupted
    /// run's (refused when it was computed from anything else), otherwise a fresh one.
    pub(super) fn begin(
        out: &Path,
        cfg: &TrainConfig,
        manifest_bytes: &[u8],
        observer: &dyn Observer,
    ) -> Result<Run> {
        let now = identity(cfg, manifest_bytes);
        let found = if cfg.resume {
            Staging::resumable(out)
        } else {
            None
        };
        let (staging, resumed) = match found {
            Some(dir) => {
                let path = dir.join(CHECKPOINT_DIR).join(RUN_FILE);
                let recorded: Value = std::fs::read(&path)
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .ok_or_else(|| Error::Resume {
                        dir: dir.clone(),
                        why: format!("{} is missing or damaged", path.display()),
                    })?;
                compare(&recorded, &now, observer).map_err(|why| Error::Resume {
                    dir: dir.clone(),
                    why,
                })?;
                (Staging::adopt(out, &dir)?, true)
            }
            None => {
                if cfg.resume {
                    observer.event(Event::Info(&format!(
                        "no interrupted training of {} to resume: training from the start",
                        out.display()
                    )));
                }
                let staging = Staging::begin(out)?;
                for d in staging.discarded_checkpoints() {
                    observer.event(Event::Warning(&format!(
                        "removed the checkpoints of an interrupted training of {} ({}); a resumed run (`train --resume`, or resume=True in Python) would have continued it",
                        out.display(),
                        d.display()
                    )));
                }
                (staging, false)
            }
        };
        let checkpoints = staging.path().join(CHECKPOINT_DIR);
        if !resumed {
            let wrote = |e| Error::Io {
                what: "writing checkpoints to",
                path: checkpoints.clone(),
                source: e,
            };
            std::fs::create_dir_all(&checkpoints).map_err(wrote)?;
            write_json_atomic(&checkpoints.join(RUN_FILE), &now).map_err(wrote)?;
        }
        Ok(Run {
            staging,
            checkpoints,
            resumed,
        })
    }

    /// The checkpoints of the run from `seed`.
    pub(super) fn checkpoints(&self, seed: u64) -> Checkpoints {
        Checkpoints::new(self.checkpoints.join(format!("seed-{seed}")))
    }

    /// Removes the checkpoints, before the staging folder becomes the model folder.
    pub(super) fn remove_checkpoints(dir: &Path) -> std::io::Result<()> {
        match std::fs::remove_dir_all(dir.join(CHECKPOINT_DIR)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}
