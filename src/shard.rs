//! Splitting one `features` run over the tasks of a job array (Slurm's `--array`, Kubernetes'
//! Indexed Jobs): which meshes a task takes, where its index comes from, and the names of the
//! files its part of the output folder is made of.
//!
//! Task `I` of `N` takes the meshes whose relative path hashes to `I` ([`shard_of`]): the same
//! path always goes to the same task, whatever the listing order or the machine, and shards are
//! balanced to within sampling noise. Every task discovers the whole dataset and computes the
//! train/test split as an unsharded run does before keeping its own meshes, so a mesh's split
//! (and its row) does not depend on the sharding.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// One task's share of a sharded run: index `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Shard {
    /// This task's index, `0..count`.
    pub index: u32,
    /// How many tasks share the dataset.
    pub count: u32,
}

/// Most tasks one run may be split into (Slurm's default `MaxArraySize` is 1001).
pub const MAX_SHARDS: u32 = 100_000;

/// The task a relative mesh path belongs to among `count`: the path's
/// [`crate::seeding::stable_hash`], spread by a splitmix64 finaliser (FNV's low bits follow
/// the bytes' low bits alone) and mapped onto `0..count` by a multiply-shift, which stays
/// balanced for any `count`. Part of the output format: changing it reassigns meshes to tasks.
pub fn shard_of(rel: &str, count: u32) -> u32 {
    let mut z = crate::seeding::stable_hash(rel);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    ((u128::from(z) * u128::from(count.max(1))) >> 64) as u32
}

impl Shard {
    /// A shard, checked: `count` in `1..=MAX_SHARDS`, `index < count`.
    pub fn new(index: u32, count: u32) -> Result<Shard, String> {
        if count == 0 || count > MAX_SHARDS {
            return Err(format!(
                "the number of shards must lie between 1 and {MAX_SHARDS}, not {count}"
            ));
        }
        if index >= count {
            return Err(format!(
                "shard index {index} is out of range: shards of {count} are numbered 0 to {}",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }

    /// Parses `I/N` (as `--shard` takes it).
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || format!("{s:?} is not a shard: write I/N, e.g. 0/4 for the first of four");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let i: u32 = i.trim().parse().map_err(|_| bad())?;
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        Shard::new(i, n)
    }

    /// Whether the mesh at relative path `rel` is this shard's.
    pub fn contains(&self, rel: &str) -> bool {
        shard_of(rel, self.count) == self.index
    }

    /// `shard-I-of-N`: the tag in the names of this shard's files.
    pub fn tag(&self) -> String {
        format!("shard-{}-of-{}", self.index, self.count)
    }

    /// This shard's manifest file name, `manifest.shard-I-of-N.json`.
    pub fn manifest_file(&self) -> String {
        format!("manifest.{}.json", self.tag())
    }

    /// This shard's lock file, held exclusively while it runs.
    pub fn lock_file(&self) -> String {
        format!(".shapeclf.{}.lock", self.tag())
    }

    /// The shard a part manifest's file name belongs to, if it is one.
    pub fn from_manifest_file(name: &str) -> Option<Shard> {
        let tag = name
            .strip_prefix("manifest.shard-")?
            .strip_suffix(".json")?;
        let (i, n) = tag.split_once("-of-")?;
        let s = Shard::new(i.parse().ok()?, n.parse().ok()?).ok()?;
        // Only the canonical spelling (no leading zeros or signs): one name per shard.
        (s.manifest_file() == name).then_some(s)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

mod resolve;
pub use resolve::{CountSource, ShardSource, resolve};

/// Every shard part in `dir` (by its manifest's file name), sorted by count and index.
pub fn parts_in(dir: &Path) -> Vec<Shard> {
    let mut v: Vec<Shard> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| Shard::from_manifest_file(e.file_name().to_str()?))
                .collect()
        })
        .unwrap_or_default();
    v.sort_by_key(|s| (s.count, s.index));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_assignment_is_pinned_and_balanced() {
        // Changing these reassigns meshes to tasks: parts of older runs would not merge.
        assert_eq!(shard_of("mug/train/mug_0000.off", 4), 3);
        assert_eq!(shard_of("mug/test/mug_0002.stl", 4), 0);
        assert_eq!(shard_of("cup/train/cup_0001.ply", 4), 2);
        let n = 40_000;
        let mut counts = [0usize; 7];
        for i in 0..n {
            counts[shard_of(&format!("c/train/m_{i:05}.off"), 7) as usize] += 1;
        }
        for c in counts {
            // Binomial sd is about 70 here: 5 sd either side.
            assert!((c as i64 - n / 7).abs() < 350, "{counts:?}");
        }
        assert_eq!(shard_of("x", 1), 0);
    }

    #[test]
    fn shards_parse_and_check() {
        assert_eq!(Shard::parse("3/4").unwrap(), Shard { index: 3, count: 4 });
        for bad in ["4/4", "1/0", "a/4", "3", "-1/4", "1/200000"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let s = Shard::new(2, 10).unwrap();
        assert_eq!(Shard::from_manifest_file(&s.manifest_file()), Some(s));
        assert_eq!(
            Shard::from_manifest_file("manifest.shard-02-of-10.json"),
            None
        );
        assert_eq!(Shard::from_manifest_file("manifest.json"), None);
    }
}
