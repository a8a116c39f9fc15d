//! The most common mistakes, caught before the library runs, with the command that fixes them:
//! training before `features`, naming a model kind where a folder is wanted, comparing an
//! empty folder. And `predict`'s arguments: a folder stands for every mesh in it.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// Fails, naming the `features` command to run, when `dir` holds no feature table at all
/// (neither a whole folder's manifest nor a shard's part, which the library explains itself).
pub(crate) fn features_exist(dir: &Path) -> Result<()> {
    if dir.join(shapeclf::features::MANIFEST_FILE).is_file() {
        return Ok(());
    }
    let has_parts = std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.flatten().any(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.starts_with("manifest.") && n.ends_with(".json")
        })
    });
    if has_parts {
        return Ok(());
    }
    let what = if dir.is_dir() {
        "is not a feature folder (it has no manifest.json)"
    } else {
        "does not exist"
    };
    // A folder of meshes given where the features belong: say which command makes them.
    if dir.is_dir() && shapeclf::dataset::check_not_empty(dir).is_ok() {
        bail!(
            "{} is a folder of meshes, not a feature folder: compute its features first with `shapeclf features {} --out features`, then `--features features`",
            dir.display(),
            dir.display()
        );
    }
    bail!(
        "{} {what}: compute the features first with `shapeclf features <your meshes folder> --out {}`",
        dir.display(),
        dir.display()
    )
}

/// The model folder `arg` names: the folder itself, or `models/<arg>` when `arg` is a bare name
/// such as a model kind (`--model mlp`) and that folder exists. Otherwise the error lists the
/// model folders there are.
pub(crate) fn model_folder(arg: &Path) -> Result<PathBuf> {
    if arg.is_dir() {
        return Ok(arg.to_path_buf());
    }
    let bare = arg.components().count() == 1;
    let under = Path::new("models").join(arg);
    if bare && under.join("config.json").is_file() {
        return Ok(under);
    }
    if !bare {
        bail!(
            "{}: no such model folder (the folder `shapeclf train --out` wrote)",
            arg.display()
        )
    }
    let mut found: Vec<String> = std::fs::read_dir("models")
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().join("config.json").is_file())
                .map(|e| e.path().display().to_string())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    let kind = arg.to_string_lossy();
    let train = format!("train one with `shapeclf train --model {kind} --out models/{kind}`");
    if found.is_empty() {
        bail!("{}: no such model folder: {train}", arg.display())
    }
    bail!(
        "{}: no such model folder; model folders here: {}. Or {train}",
        arg.display(),
        found.join(", ")
    )
}

/// Fails with the commands to run when `dir` holds no model folder at all.
pub(crate) fn models_exist(dir: &Path) -> Result<()> {
    let any = std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.flatten().any(|e| {
            e.path().join("config.json").is_file() || e.path().join("report.json").is_file()
        })
    });
    if any {
        return Ok(());
    }
    bail!(
        "{} holds no trained models: train some first, e.g. `shapeclf train --model logistic --out {}/logistic` and `shapeclf train --model cnn --out {}/cnn`, then rerun compare",
        dir.display(),
        dir.display(),
        dir.display()
    )
}
