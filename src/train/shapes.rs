//! The one batcher every model trains and predicts through: the shapes' standardised
//! descriptor rows, their views, or both, as the network reads them ([`Reads`]).

use burn::tensor::Device;
use rand_chacha::ChaCha8Rng;

use super::fit::Batcher;
use super::{DataError, RowSet, Samples, Standardizer, ViewSet};
use crate::models::{Input, ModelInput, Reads};
use crate::seeding::Stream;

/// Labelled shapes as a model reads them: standardised rows, views, or both of the same
/// shapes in the same order (an [`Input`] of whole sets). The views' labels are the set's when
/// it has views.
pub type Shapes = Input<ViewSet, RowSet>;

impl Shapes {
    /// What `reads` takes of a set of shapes: `rows` (raw; standardised here by
    /// `standardizer`) and `views` of the same shapes in the same order. Parts `reads` does not
    /// take are left out; a part it takes that is missing is an error.
    pub fn of(
        reads: Reads,
        rows: Option<&Samples>,
        views: Option<&ViewSet>,
        standardizer: Option<&Standardizer>,
    ) -> Result<Shapes, DataError> {
        let mismatch = || DataError::Mismatch {
            wants: reads,
            holds: Input::from_parts(views, rows).map(|i| i.reads()),
        };
        let rows = if reads.rows() {
            let r = rows.ok_or_else(mismatch)?;
            let s = standardizer.ok_or(DataError::NoStandardizer)?;
            let mut x = r.x.clone();
            s.apply(&mut x);
            Some(RowSet {
                x,
                y: r.y.clone(),
                columns: s.columns.len(),
            })
        } else {
            None
        };
        let views = if reads.views() {
            Some(views.ok_or_else(mismatch)?.clone())
        } else {
            None
        };
        Input::from_parts(views, rows).ok_or_else(mismatch)
    }
}

impl Batcher for Shapes {
    type Input = ModelInput;

    fn stream(&self) -> Stream {
        match self {
            Input::Rows(r) => r.stream(),
            Input::Views(v) => v.stream(),
            Input::RowsAndViews(..) => Stream::FusionBatches,
        }
    }

    fn eval_chunk(&self) -> usize {
        match self {
            Input::Rows(r) => r.eval_chunk(),
            Input::Views(v) | Input::RowsAndViews(v, _) => v.eval_chunk(),
        }
    }

    fn second_pass(&self) -> bool {
        match self {
            Input::Rows(r) => r.second_pass(),
            Input::Views(v) | Input::RowsAndViews(v, _) => v.second_pass(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Input::Rows(r) => r.len(),
            Input::Views(v) | Input::RowsAndViews(v, _) => v.len(),
        }
    }

    fn labels(&self) -> &[usize] {
        match self {
            Input::Rows(r) => r.labels(),
            Input::Views(v) | Input::RowsAndViews(v, _) => v.labels(),
        }
    }

    fn subset(&self, idx: &[usize]) -> Shapes {
        match self {
            Input::Rows(r) => Input::Rows(r.subset(idx)),
            Input::Views(v) => Input::Views(v.subset(idx)),
            Input::RowsAndViews(v, r) => Input::RowsAndViews(v.subset(idx), r.subset(idx)),
        }
    }

    fn batch(&self, idx: &[usize], rng: Option<&mut ChaCha8Rng>, device: &Device) -> ModelInput {
        match self {
            Input::Rows(r) => Input::Rows(r.batch(idx, rng, device)),
            Input::Views(v) => Input::Views(v.batch(idx, rng, device)),
            // Augmentation moves the views only; a descriptor row is pose-free already.
            Input::RowsAndViews(v, r) => {
                Input::RowsAndViews(v.batch(idx, rng, device), r.batch(idx, None, device))
            }
        }
    }
}
