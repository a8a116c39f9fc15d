//! Views and descriptor rows of the same shapes, batched together for the fusion model.

use burn::tensor::{Device, Tensor};
use rand_chacha::ChaCha8Rng;

use super::fit::Batcher;
use super::{RowSet, ViewSet};
use crate::seeding::Stream;

/// The views and the standardised descriptor row of each shape, in the same order.
#[derive(Debug, Clone, Default)]
pub struct FusionSet {
    /// Views (their labels are the set's labels).
    pub views: ViewSet,
    /// Standardised descriptor rows.
    pub rows: RowSet,
}

impl Batcher for FusionSet {
    type Input = (Tensor<4>, Tensor<2>);
    const STREAM: Stream = Stream::FusionBatches;
    const EVAL_CHUNK: usize = 32;
    const SECOND_PASS: bool = false;

    fn len(&self) -> usize {
        self.views.len()
    }

    fn labels(&self) -> &[usize] {
        self.views.labels()
    }

    fn subset(&self, idx: &[usize]) -> FusionSet {
        FusionSet {
            views: self.views.subset(idx),
            rows: self.rows.subset(idx),
        }
    }

    fn batch(
        &self,
        idx: &[usize],
        rng: Option<&mut ChaCha8Rng>,
        device: &Device,
    ) -> (Tensor<4>, Tensor<2>) {
        // Augmentation moves the views only; a descriptor row is pose-free already.
        (
            self.views.batch(idx, rng, device),
            self.rows.batch(idx, None, device),
        )
    }
}
