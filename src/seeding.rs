//! Where every random choice comes from. Each purpose draws from its own named [`Stream`] of a
//! ChaCha8 generator, seeded by the run's `--seed` (or a per-mesh seed derived from it and the
//! mesh file's content alone), so adding a draw in one place never shifts another's.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// One purpose's random stream. The numbers are part of the output format: changing one
/// changes every table or model made with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// D2's surface points (per-mesh seed).
    D2Points,
    /// The SDF's surface points (per-mesh seed).
    SdfPoints,
    /// A3 and D3's point triples (per-mesh seed).
    Triples,
    /// D2's random pairs when not all pairs are used (per-mesh seed).
    D2Pairs,
    /// The random rotations of a training mesh's augmented view renderings (per-mesh seed).
    ViewAugment,
    /// The spherical-harmonics descriptor's surface points (per-mesh seed).
    ShPoints,
    /// The train/test split of a class folder without `train`/`test` (seed mixed with the
    /// class name).
    Split,
    /// The validation split of the training rows.
    Validation,
    /// Minibatch order of the descriptor models.
    DescriptorBatches,
    /// Cross-validation folds for the weight decay.
    Folds,
    /// Minibatch order and augmentation of the CNN.
    ViewBatches,
    /// Minibatch order and augmentation of the fusion model.
    FusionBatches,
    /// The seed Burn's device generator (dropout) is given at the start of each training epoch.
    EpochDevice,
    /// The shapes of one synthetic class (index into [`crate::synth::ShapeClass::ALL`]); keyed
    /// by the dataset seed, never a per-mesh seed.
    SynthClass(usize),
    /// The realistic perturbation (scale, noise, holes, pose) of one synthetic class's shapes.
    SynthPose(usize),
}

impl Stream {
    /// The stream number passed to the generator.
    pub fn id(self) -> u64 {
        match self {
            Stream::D2Points => 1,
            Stream::SdfPoints => 2,
            Stream::Triples => 3,
            Stream::Split => 7,
            Stream::D2Pairs => 11,
            Stream::ViewAugment => 12,
            Stream::ShPoints => 13,
            Stream::Validation => 21,
            Stream::DescriptorBatches => 22,
            Stream::Folds => 23,
            Stream::ViewBatches => 24,
            Stream::FusionBatches => 25,
            Stream::EpochDevice => 26,
            // The first nine keep the numbers the demo dataset was made with.
            Stream::SynthClass(i) if i < 9 => i as u64 + 1,
            Stream::SynthClass(i) => 100 + i as u64,
            Stream::SynthPose(i) => 200 + i as u64,
        }
    }
}

/// The generator for `stream` under `seed`.
pub fn rng(seed: u64, stream: Stream) -> ChaCha8Rng {
    rng_for(seed, stream.id())
}

/// The seed of Burn's device generator for `epoch` of a training run under `seed`: drawn from
/// the seed and the epoch alone, so a run resumed at that epoch draws the same dropout masks
/// as one that never stopped (the device generator's state itself cannot be saved).
pub fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    use rand::RngCore;
    let mut r = rng(seed, Stream::EpochDevice);
    // Two 32-bit words per epoch: each epoch's seed is its own part of the stream.
    r.set_word_pos(2 * epoch as u128);
    r.next_u64()
}

/// A generator on a raw stream number, for tests and benchmarks that make their own data; the
/// library's own draws go through [`rng`].
pub fn rng_for(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// FNV-1a: a hash that stays the same across platforms and Rust versions, so per-mesh seeds
/// (and thus tables) do too.
pub fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The seed for one mesh: depends on the run's seed and the hash of the mesh file's content
/// (`content`, [`crate::dataset::content_hash`] with its linked files folded in) only. So a
/// mesh's descriptors do not change with thread count, order or the rest of the dataset, nor
/// with how its path is spelled: `features` (which knows it as `mug/train/a.off`) and
/// `predict` (given `./data/mug/train/a.off`) draw the same points.
pub fn mesh_seed(seed: u64, content: u64) -> u64 {
    // splitmix64 finaliser to spread the combination.
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15) ^ content;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_purpose_has_its_own_stream() {
        let fixed = [
            Stream::D2Points,
            Stream::SdfPoints,
            Stream::Triples,
            Stream::D2Pairs,
            Stream::ViewAugment,
            Stream::Split,
            Stream::Validation,
            Stream::DescriptorBatches,
            Stream::Folds,
            Stream::ViewBatches,
        ];
        let mut ids: Vec<u64> = fixed.iter().map(|s| s.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), fixed.len());
    }

    #[test]
    fn hashes_are_pinned() {
        // Changing these changes every per-mesh seed and so every feature table.
        assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(mesh_seed(0, 0x1234), 0xda0f_aab6_21dc_42e0);
        assert_ne!(mesh_seed(0, 1), mesh_seed(1, 1));
        assert_ne!(mesh_seed(0, 1), mesh_seed(0, 2));
    }
}
