//! A training set's views, loaded from a feature folder's view images ([`crate::view_store`]
//! reads and checks each one): every row's views, and for training rows their augmented
//! renderings, in memory or left on disk for the batches to read.

use std::path::Path;

use rayon::prelude::*;

use super::views::ViewFiles;
use super::{Samples, ViewSet};
use crate::descriptors::views::Views;
use crate::features::{Failure, ViewsInfo};
use crate::view_store::{RecordedViews, ViewError, read_view_copy};

/// Where a [`load_views`] set keeps its pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// All in memory: fastest, and memory grows with the dataset.
    Memory,
    /// On disk, each batch read from the view images: memory follows the batch.
    Disk,
}

/// Environment variable: the most bytes a training run's views may take in host memory to be
/// held there rather than read from the feature folder batch by batch ([`keep_for`]). Held
/// views count twice, since training and prediction each copy their part.
pub const HOST_VIEW_BYTES_VAR: &str = "SHAPECLF_VIEW_BYTES";

/// Default for [`HOST_VIEW_BYTES_VAR`]: 512 MiB, which holds about 10,000 view sets of 12
/// two-channel 32x32 views as bytes (twice over), a small share of any machine that trains a
/// CNN. Larger sets stay on disk, so memory follows the batch.
pub const DEFAULT_HOST_VIEW_BYTES: u64 = 512 << 20;

/// Where a set of `bytes` of views is kept: in memory when asked (`forced`) or when it fits in
/// `budget`, else on disk. Held views skip each batch's file opens, decoding and hash checks,
/// which cost little on a local disk's page cache but a metadata operation per image on a
/// network file system; batches are the same either way.
pub fn keep_for(bytes: u64, forced: bool, budget: u64) -> Keep {
    if forced || bytes <= budget {
        Keep::Memory
    } else {
        Keep::Disk
    }
}

/// The number of bytes environment variable `var` sets ([`HOST_VIEW_BYTES_VAR`],
/// [`super::STAGE_BYTES_VAR`]), or `default` when it is unset; a value that is not a number is
/// returned as the error, for the caller to warn of.
pub fn env_bytes(var: &str, default: u64) -> Result<u64, String> {
    match std::env::var(var) {
        Err(std::env::VarError::NotPresent) => Ok(default),
        Err(std::env::VarError::NotUnicode(v)) => Err(v.to_string_lossy().into_owned()),
        Ok(v) => v.trim().parse::<u64>().map_err(|_| v),
    }
}

/// Which copies of each row's views [`load_views`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copies {
    /// The views alone (test rows, and every row of a folder without augmentation).
    Original,
    /// The views and every augmented rendering the manifest records (training rows).
    WithAugmented,
}

/// Reads the views of every row of `samples` from a feature folder whose manifest recorded
/// `info`, checking every image, each against the hash its generation `recorded`. Rows whose
/// image is missing, corrupt or of another size are left out and returned with their reasons.
/// An image that is readable but not the recorded one fails the whole set
/// ([`ViewError::Stale`], the first such, with how many): the folder mixes two generations.
/// With [`Copies::WithAugmented`] each row's `info.config.augment` augmented renderings follow
/// it as extra shapes of the same label and path ([`ViewSet::copies`] says which); one that
/// cannot be read is left out alone, and all of a row's copies are when its own views cannot
/// be read. With [`Keep::Disk`] the checked pixels are dropped again and each batch reads (and
/// checks) its images, so a set of any size takes the memory of a batch.
pub fn load_views(
    features_dir: &Path,
    info: &ViewsInfo,
    recorded: &std::sync::Arc<RecordedViews>,
    samples: &Samples,
    keep: Keep,
    copies: Copies,
) -> Result<(ViewSet, Vec<Failure>), ViewError> {
    let cfg = &info.config;
    let extra = match copies {
        Copies::Original => 0,
        Copies::WithAugmented => cfg.augment,
    };
    // Checked in chunks, so a set kept on disk never holds more than a chunk's pixels.
    let mut set = ViewSet {
        views: cfg.count(),
        channels: cfg.channels.count(),
        resolution: cfg.resolution,
        disk: (keep == Keep::Disk).then(|| {
            std::sync::Arc::new(ViewFiles {
                dir: features_dir.to_path_buf(),
                config: *cfg,
                recorded: recorded.clone(),
                failed: Default::default(),
            })
        }),
        ..Default::default()
    };
    let mut skipped = Vec::new();
    let mut stale: Option<(String, usize)> = None;
    let mut unreadable = |path: String, e: ViewError| match e {
        ViewError::Unreadable(error) => skipped.push(Failure { path, error }),
        ViewError::Stale(m) => {
            let s = stale.get_or_insert((m, 0));
            s.1 += 1;
        }
    };
    // About 16 MiB of decoded pixels per chunk (1,024 rows of four copies were 100 MB, which
    // a set on disk then held at its peak), and at least 64 rows, to keep many threads busy.
    let row_bytes = (1 + extra) * cfg.set_bytes();
    let rows_per_chunk = ((16 << 20) / row_bytes.max(1)).clamp(64, 1024);
    for (c, chunk) in samples.paths.chunks(rows_per_chunk).enumerate() {
        let read: Vec<Vec<Result<Views, ViewError>>> = chunk
            .par_iter()
            .map(|p| {
                (0..=extra)
                    .map(|k| read_view_copy(features_dir, p, k, cfg, Some(recorded)))
                    .collect()
            })
            .collect();
        for (j, row) in read.into_iter().enumerate() {
            let i = c * rows_per_chunk + j;
            let mut row = row.into_iter();
            let own = match row.next() {
                Some(Ok(v)) => v,
                Some(Err(e)) => {
                    unreadable(samples.paths[i].clone(), e);
                    continue;
                }
                None => unreachable!("copy 0 is always read"),
            };
            // The row's own views were read: they and each readable copy are shapes.
            for (k, r) in std::iter::once(Ok(own)).chain(row).enumerate() {
                match r {
                    Ok(v) => {
                        if keep == Keep::Memory {
                            set.pixels.extend_from_slice(&v.pixels);
                        }
                        set.y.push(samples.y[i]);
                        set.paths.push(samples.paths[i].clone());
                        if extra > 0 {
                            set.copies.push(k as u32);
                        }
                    }
                    Err(e) => {
                        unreadable(format!("{} (augmented rendering {k})", samples.paths[i]), e)
                    }
                }
            }
        }
    }
    match stale {
        Some((first, 1)) => Err(ViewError::Stale(first)),
        Some((first, n)) => Err(ViewError::Stale(format!(
            "{n} view images are not those the manifest was written with; the first: {first}"
        ))),
        None => Ok((set, skipped)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_stay_in_memory_up_to_the_budget_or_when_asked() {
        assert_eq!(keep_for(100, false, 100), Keep::Memory);
        assert_eq!(keep_for(101, false, 100), Keep::Disk);
        assert_eq!(keep_for(101, true, 100), Keep::Memory);
        assert_eq!(keep_for(1, false, 0), Keep::Disk);
        assert_eq!(keep_for(0, false, 0), Keep::Memory);
    }
}
