//! Descriptor rows as training input: a matrix of standardised rows, batched as `[n, d]`.

use burn::tensor::{Device, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

use super::Samples;
use super::fit::Batcher;
use crate::seeding::Stream;

/// Standardised descriptor rows with their labels.
#[derive(Debug, Clone, Default)]
pub struct RowSet {
    /// Row-major values, `len = rows * columns`.
    pub x: Vec<f32>,
    /// Class index of each row.
    pub y: Vec<usize>,
    /// Values per row.
    pub columns: usize,
}

impl RowSet {
    /// The rows of `s` (already standardised), `columns` values each, taking its arrays.
    pub fn new(s: Samples, columns: usize) -> RowSet {
        RowSet {
            x: s.x,
            y: s.y,
            columns,
        }
    }
}

impl Batcher for RowSet {
    type Input = Tensor<2>;

    fn stream(&self) -> Stream {
        Stream::DescriptorBatches
    }

    fn eval_chunk(&self) -> usize {
        4096
    }

    fn second_pass(&self) -> bool {
        true
    }

    fn len(&self) -> usize {
        self.y.len()
    }

    fn labels(&self) -> &[usize] {
        &self.y
    }

    fn subset(&self, idx: &[usize]) -> RowSet {
        let d = self.columns;
        let mut s = RowSet {
            x: Vec::with_capacity(idx.len() * d),
            y: Vec::with_capacity(idx.len()),
            columns: d,
        };
        for &i in idx {
            s.x.extend_from_slice(&self.x[i * d..(i + 1) * d]);
            s.y.push(self.y[i]);
        }
        s
    }

    fn batch(&self, idx: &[usize], _: Option<&mut ChaCha8Rng>, device: &Device) -> Tensor<2> {
        let d = self.columns;
        let mut x = Vec::with_capacity(idx.len() * d);
        for &i in idx {
            x.extend_from_slice(&self.x[i * d..(i + 1) * d]);
        }
        Tensor::from_data(TensorData::new(x, [idx.len(), d]), device)
    }
}
