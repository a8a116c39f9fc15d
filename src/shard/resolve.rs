//! Which shard a task runs: from `--shard`, or from a job array's variables. The number of
//! shards is never guessed: it is `--shard I/N`'s or `--shards N`, the count of the parts
//! already in the output folder, or the size of a whole Slurm array; anything else is refused
//! with the command to use.

use super::Shard;

/// Where the number of shards of a Slurm array task came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountSource {
    /// The array itself (`SLURM_ARRAY_TASK_COUNT`), the whole of it running.
    Array,
    /// The parts already in the output folder.
    Parts,
    /// `--shards N`.
    Flag,
}

/// Where a task's shard came from, for the line the terminal prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardSource {
    /// `--shard I/N`.
    Flag,
    /// `SLURM_ARRAY_TASK_ID` modulo the number of shards, which came from `count`.
    Slurm {
        /// Where the number of shards came from.
        count: CountSource,
    },
    /// Kubernetes' `JOB_COMPLETION_INDEX` of `--shards N`.
    Kubernetes,
}

impl ShardSource {
    /// Says where the shard came from, in words.
    pub fn describe(self) -> String {
        match self {
            ShardSource::Flag => "from --shard".into(),
            ShardSource::Slurm {
                count: CountSource::Array,
            } => "from Slurm's job array (SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT)".into(),
            ShardSource::Slurm {
                count: CountSource::Parts,
            } => "from Slurm's job array (SLURM_ARRAY_TASK_ID; the number of shards from the parts already in the output folder)".into(),
            ShardSource::Slurm {
                count: CountSource::Flag,
            } => "from Slurm's job array (SLURM_ARRAY_TASK_ID of --shards)".into(),
            ShardSource::Kubernetes => {
                "from Kubernetes' Indexed Job (JOB_COMPLETION_INDEX of --shards)".into()
            }
        }
    }
}

/// This task's shard: `--shard` when given (`flag`), else the job array's index from the
/// environment (`env` looks a variable up). `existing` are the parts already in the output
/// folder ([`super::parts_in`]). `None` for an unsharded run.
///
/// Slurm array task `T` takes shard `T mod N`, so `--array=0-3` and `--array=1-4` both cover
/// four shards, and a task resubmitted alone (`sbatch --array=2`) redoes the very shard it did
/// in the whole array. `N` is `--shards N`, else the count of the parts in the folder, else
/// `SLURM_ARRAY_TASK_COUNT` when the array is whole (contiguous from 0 or 1, more than one
/// task). A resubmitted task into a folder without parts cannot know `N` and is refused, naming
/// the command that says it. Kubernetes' `JOB_COMPLETION_INDEX` needs `--shards N`.
pub fn resolve(
    flag: Option<Shard>,
    shards: Option<u32>,
    existing: &[Shard],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(Shard, ShardSource)>, String> {
    let num = |name: &str| -> Result<Option<u32>, String> {
        match env(name) {
            None => Ok(None),
            Some(v) if v.trim().is_empty() => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| format!("{name}={v:?} is not a task number")),
        }
    };
    if let Some(s) = flag {
        if let Some(n) = shards
            && n != s.count
        {
            return Err(format!("--shard {s} and --shards {n} disagree"));
        }
        return Ok(Some((s, ShardSource::Flag)));
    }
    if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
        let tasks = num("SLURM_ARRAY_TASK_COUNT")?;
        let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let max = num("SLURM_ARRAY_TASK_MAX")?;
        let step = num("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1);
        let (count, from) = slurm_count(id, tasks, min, max, step, shards, existing)?;
        return Shard::new(id % count, count)
            .map(|s| Some((s, ShardSource::Slurm { count: from })));
    }
    if let Some(index) = num("JOB_COMPLETION_INDEX")? {
        let count = shards.ok_or(
            "JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but --shards N is not: give the Job's `completions` as --shards",
        )?;
        return Shard::new(index, count).map(|s| Some((s, ShardSource::Kubernetes)));
    }
    match shards {
        Some(n) => Err(format!(
            "--shards {n} needs a task index: give --shard I/{n}, or run inside a Slurm job array or a Kubernetes Indexed Job"
        )),
        None => Ok(None),
    }
}

/// The number of shards of Slurm array task `id` (see [`resolve`]) and where it came from.
fn slurm_count(
    id: u32,
    tasks: Option<u32>,
    min: u32,
    max: Option<u32>,
    step: u32,
    shards: Option<u32>,
    existing: &[Shard],
) -> Result<(u32, CountSource), String> {
    let mut counts: Vec<u32> = existing.iter().map(|s| s.count).collect();
    counts.sort_unstable();
    counts.dedup();
    let too_many = |n: u32, what: &str| {
        tasks.filter(|&t| t > n).map(|t| {
            format!(
                "this Slurm array has {t} tasks, more than the {n} shards {what}: write into another folder, or give the whole array's size as --shards"
            )
        })
    };
    if let Some(n) = shards {
        return match too_many(n, "--shards gives") {
            Some(e) => Err(e),
            None => Ok((n, CountSource::Flag)),
        };
    }
    // A whole array: more than one task, contiguous from 0 or 1.
    let last = |tasks: u32| max.unwrap_or(min.saturating_add(tasks.saturating_sub(1)));
    let whole = |tasks: u32| {
        tasks > 1 && step == 1 && min <= 1 && last(tasks).checked_sub(min) == Some(tasks - 1)
    };
    match counts[..] {
        [n] => match too_many(n, "of the parts already in the output folder") {
            Some(e) => Err(e),
            // The whole array, agreeing with the parts its other tasks wrote.
            None if tasks.is_some_and(|t| t == n && whole(t)) => Ok((n, CountSource::Array)),
            None => Ok((n, CountSource::Parts)),
        },
        [_, _, ..] => Err(format!(
            "the output folder holds parts of splits into {} shards: give the number of this run's shards as --shards N (and remove the other split's parts before merging)",
            counts
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(" and ")
        )),
        [] => {
            let tasks = tasks.ok_or(
                "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not: give --shard I/N",
            )?;
            if whole(tasks) {
                return Ok((tasks, CountSource::Array));
            }
            let last = last(tasks);
            let array = if min == last {
                min.to_string()
            } else if step == 1 {
                format!("{min}-{last}")
            } else {
                format!("{min}-{last}:{step}")
            };
            Err(format!(
                "cannot tell how many shards this run has: Slurm array task {id} belongs to --array={array} ({tasks} task(s)), which looks like a rerun of part of an array, and the output folder holds no shard parts to count. Give the whole array's size N: `sbatch --array={array} deploy/slurm/features-array.sbatch --shards N` (what follows the script reaches shapeclf), or `shapeclf features ... --shard {id}/N`"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn sh(i: u32, n: u32) -> Shard {
        Shard::new(i, n).unwrap()
    }

    #[test]
    fn the_index_comes_from_the_flag_slurm_or_kubernetes() {
        let none = env(&[]);
        assert_eq!(resolve(None, None, &[], &none).unwrap(), None);
        assert!(
            resolve(None, Some(4), &[], &none)
                .unwrap_err()
                .contains("needs a task index")
        );
        let s = sh(1, 4);
        assert_eq!(
            resolve(Some(s), None, &[], &none).unwrap(),
            Some((s, ShardSource::Flag))
        );
        assert!(resolve(Some(s), Some(5), &[], &none).is_err());
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", "3"),
        ]);
        let array = ShardSource::Slurm {
            count: CountSource::Array,
        };
        assert_eq!(
            resolve(None, None, &[], &slurm).unwrap(),
            Some((sh(3, 4), array))
        );
        // --shards smaller than the array: refused; larger: a part of a bigger run.
        assert!(resolve(None, Some(2), &[], &slurm).is_err());
        assert_eq!(
            resolve(None, Some(8), &[], &slurm).unwrap().unwrap().0,
            sh(3, 8)
        );
        // One-based: task T takes shard T mod N, covering all four.
        let one_based = env(&[
            ("SLURM_ARRAY_TASK_ID", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_MAX", "4"),
        ]);
        assert_eq!(
            resolve(None, None, &[], &one_based).unwrap().unwrap().0,
            sh(0, 4)
        );
        let stepped = env(&[
            ("SLURM_ARRAY_TASK_ID", "6"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MAX", "6"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
        ]);
        assert!(
            resolve(None, None, &[], &stepped)
                .unwrap_err()
                .contains("--shards N")
        );
        let k8s = env(&[("JOB_COMPLETION_INDEX", "2")]);
        assert!(
            resolve(None, None, &[], &k8s)
                .unwrap_err()
                .contains("--shards")
        );
        assert_eq!(
            resolve(None, Some(3), &[], &k8s).unwrap(),
            Some((sh(2, 3), ShardSource::Kubernetes))
        );
        assert!(resolve(None, Some(2), &[], &k8s).is_err());
    }

    #[test]
    fn a_resubmitted_slurm_task_never_guesses_the_number_of_shards() {
        // `sbatch --array=2`: one task, numbered 2 to 2.
        let alone = env(&[
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "1"),
            ("SLURM_ARRAY_TASK_MIN", "2"),
            ("SLURM_ARRAY_TASK_MAX", "2"),
        ]);
        let parts = [sh(0, 4), sh(1, 4), sh(3, 4)];
        assert_eq!(
            resolve(None, None, &parts, &alone).unwrap(),
            Some((
                sh(2, 4),
                ShardSource::Slurm {
                    count: CountSource::Parts
                }
            ))
        );
        let e = resolve(None, None, &[], &alone).unwrap_err();
        assert!(e.contains("--array=2") && e.contains("--shards N"), "{e}");
        assert_eq!(
            resolve(None, Some(4), &[], &alone).unwrap().unwrap().0,
            sh(2, 4)
        );
        // A task of the whole array that agrees with the parts says it came from the array.
        let whole = env(&[
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", "3"),
        ]);
        assert_eq!(
            resolve(None, None, &parts, &whole).unwrap(),
            Some((
                sh(1, 4),
                ShardSource::Slurm {
                    count: CountSource::Array
                }
            ))
        );
        // `--array=0` alone is a rerun too, not a run of one shard.
        let zero = env(&[
            ("SLURM_ARRAY_TASK_ID", "0"),
            ("SLURM_ARRAY_TASK_COUNT", "1"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", "0"),
        ]);
        assert!(resolve(None, None, &[], &zero).is_err());
        assert_eq!(
            resolve(None, None, &parts, &zero).unwrap().unwrap().0,
            sh(0, 4)
        );
        // Parts of two splits: which one is meant is not guessed.
        let mixed = [sh(0, 4), sh(0, 3)];
        assert!(
            resolve(None, None, &mixed, &alone)
                .unwrap_err()
                .contains("3 and 4")
        );
        // An array larger than the split in the folder is another split.
        let big = env(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "8"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", "7"),
        ]);
        assert!(resolve(None, None, &parts, &big).is_err());
        // Without SLURM_ARRAY_TASK_MAX (older Slurm), a whole array still counts.
        let old = env(&[
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        assert_eq!(resolve(None, None, &[], &old).unwrap().unwrap().0, sh(1, 4));
    }
}
