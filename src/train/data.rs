//! The descriptor table made ready to learn from: train and test rows with labels, per-column
//! standardisation fitted on training rows, the seeded validation split, class weights.

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::ClassWeight;
use crate::dataset::Split;
use crate::features::FeatureTable;

/// Problems with the data a model is asked to learn from.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// No rows at all.
    #[error("the feature table has no rows")]
    Empty,
    /// Fewer than two classes among the training rows.
    #[error("training needs at least two classes, the training rows have {0}")]
    OneClass(usize),
    /// No rows in the test split.
    #[error("the feature table has no test rows: nothing to measure accuracy on")]
    NoTest,
    /// No rows in the train split.
    #[error("the feature table has no train rows")]
    NoTrain,
    /// `--positive` names a class not in the table.
    #[error("class {0:?} is not in the feature table (classes: {1})")]
    UnknownClass(String, String),
    /// The shapes given to a model are not what its network reads.
    #[error("the model reads {wants}, but the shapes given hold {}", holds.map_or("nothing".to_string(), |h| h.to_string()))]
    Mismatch {
        /// What the network reads.
        wants: crate::models::Reads,
        /// What the data holds (`None`: neither rows nor views).
        holds: Option<crate::models::Reads>,
    },
    /// A model that reads descriptor rows has no standardisation to apply to them.
    #[error("the model reads descriptor rows but keeps no standardisation for them")]
    NoStandardizer,
}

/// How histogram columns are mapped before they are standardised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum HistogramMap {
    /// Bins as they are.
    #[default]
    None,
    /// The square root of each bin (the Hellinger map): a bin's sampling noise grows with its
    /// square root, so this evens the noise out across full and nearly empty bins before they
    /// are scaled to unit variance, and a dot product of rooted histograms is the Bhattacharyya
    /// similarity of the distributions.
    Sqrt,
}

/// Per-column mean and standard deviation of the training rows; applied to every input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// Means (of the rooted values, for rooted columns).
    pub mean: Vec<f32>,
    /// Standard deviations (1 for constant columns).
    pub std: Vec<f32>,
    /// Which columns are taken to their square root before centring ([`HistogramMap::Sqrt`]);
    /// empty for none (and in files written before the map existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub root: Vec<bool>,
}

impl Standardizer {
    /// Fits on row-major `x` with `columns.len()` columns, histogram bins mapped by `map` first.
    pub fn fit_mapped(columns: &[String], x: &[f32], map: HistogramMap) -> Standardizer {
        let root: Vec<bool> = match map {
            HistogramMap::None => return Standardizer::fit(columns, x),
            HistogramMap::Sqrt => columns
                .iter()
                .map(|c| crate::descriptors::is_histogram_column(c))
                .collect(),
        };
        if !root.contains(&true) {
            return Standardizer::fit(columns, x);
        }
        let mut mapped = x.to_vec();
        map_rows(&root, &mut mapped);
        Standardizer {
            root,
            ..Standardizer::fit(columns, &mapped)
        }
    }

    /// Fits on row-major `x` with `columns.len()` columns, no column mapped.
    pub fn fit(columns: &[String], x: &[f32]) -> Standardizer {
        let d = columns.len();
        let n = (x.len() / d).max(1) as f64;
        let mut mean = vec![0f64; d];
        for r in x.chunks_exact(d) {
            for (m, &v) in mean.iter_mut().zip(r) {
                *m += f64::from(v) / n;
            }
        }
        let mut var = vec![0f64; d];
        for r in x.chunks_exact(d) {
            for ((s, &v), m) in var.iter_mut().zip(r).zip(&mean) {
                *s += (f64::from(v) - m).powi(2) / n;
            }
        }
        Standardizer {
            columns: columns.to_vec(),
            mean: mean.iter().map(|&m| m as f32).collect(),
            std: var
                .iter()
                .map(|&v| {
                    if v.sqrt() > 1e-9 {
                        v.sqrt() as f32
                    } else {
                        1.0
                    }
                })
                .collect(),
            root: Vec::new(),
        }
    }

    /// Standardises row-major `x` in place. A spread that is zero, negative or not finite
    /// (only a hand-edited `normalization.json` has one; [`Standardizer::fit`] never makes one)
    /// divides by 1, so no value becomes infinite or NaN.
    pub fn apply(&self, x: &mut [f32]) {
        let d = self.columns.len();
        let root = self.rooted();
        if !root.is_empty() {
            map_rows(root, x);
        }
        let spread = self.spread();
        for r in x.chunks_exact_mut(d) {
            for ((v, m), s) in r.iter_mut().zip(&self.mean).zip(&spread) {
                *v = (*v - m) / s;
            }
        }
    }

    /// What [`Standardizer::apply`] divides each centred column by: its standard deviation,
    /// or 1 where that is zero, negative or not finite.
    pub fn spread(&self) -> Vec<f32> {
        self.std
            .iter()
            .map(|s| if s.is_finite() && *s > 1e-12 { *s } else { 1.0 })
            .collect()
    }

    /// Which columns [`Standardizer::apply`] takes the square root of first (none when empty).
    pub fn rooted(&self) -> &[bool] {
        if self.root.len() == self.columns.len() {
            &self.root
        } else {
            &[]
        }
    }

    /// Checks stored statistics: every mean finite, every spread finite and positive, and
    /// the rooted columns (if any) one flag per column.
    pub fn validate(&self) -> Result<(), String> {
        if !self.root.is_empty() && self.root.len() != self.columns.len() {
            return Err(format!(
                "{} square-root flags for {} columns",
                self.root.len(),
                self.columns.len()
            ));
        }
        if let Some(i) = self.mean.iter().position(|m| !m.is_finite()) {
            return Err(format!("mean of column {} is not finite", self.columns[i]));
        }
        if let Some(i) = self.std.iter().position(|s| !(s.is_finite() && *s >= 0.0)) {
            return Err(format!(
                "standard deviation of column {} is {}, not a finite non-negative number",
                self.columns[i], self.std[i]
            ));
        }
        Ok(())
    }
}

/// The square root of the flagged columns of row-major `x` (negative values, which a histogram
/// never has, as 0).
fn map_rows(root: &[bool], x: &mut [f32]) {
    for r in x.chunks_exact_mut(root.len()) {
        for (v, _) in r.iter_mut().zip(root).filter(|(_, on)| **on) {
            *v = v.max(0.0).sqrt();
        }
    }
}

/// Rows of one split as a matrix with labels.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    /// Row-major features, `len = n * d`.
    pub x: Vec<f32>,
    /// Class index of each row.
    pub y: Vec<usize>,
    /// Mesh path of each row.
    pub paths: Vec<String>,
}

impl Samples {
    /// Rows.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    fn push(&mut self, x: &[f32], y: usize, path: &str) {
        self.x.extend_from_slice(x);
        self.y.push(y);
        self.paths.push(path.to_string());
    }

    pub(crate) fn subset(&self, idx: &[usize], d: usize) -> Samples {
        let mut s = Samples::default();
        for &i in idx {
            s.push(&self.x[i * d..(i + 1) * d], self.y[i], &self.paths[i]);
        }
        s
    }
}

/// A table made ready for training: class names, and the train and test rows.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Class names; labels index into it.
    pub classes: Vec<String>,
    /// Feature column names.
    pub columns: Vec<String>,
    /// Training rows (raw, not standardised).
    pub train: Samples,
    /// Test rows (raw).
    pub test: Samples,
}

/// Splits a feature table into train and test samples; with `positive`, relabels it as that
/// class (index 1) against all others (index 0, named `not-<class>`).
pub fn prepare(table: &FeatureTable, positive: Option<&str>) -> Result<Prepared, DataError> {
    if table.rows.is_empty() {
        return Err(DataError::Empty);
    }
    let all = table.classes();
    let classes = match positive {
        Some(p) => {
            if !all.iter().any(|c| c == p) {
                return Err(DataError::UnknownClass(p.into(), all.join(", ")));
            }
            vec![format!("not-{p}"), p.to_string()]
        }
        None => all,
    };
    let index: BTreeMap<&str, usize> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let mut train = Samples::default();
    let mut test = Samples::default();
    for r in &table.rows {
        let y = match positive {
            Some(p) => usize::from(r.class == p),
            None => index[r.class.as_str()],
        };
        let s = if r.split == Split::Train {
            &mut train
        } else {
            &mut test
        };
        s.push(&r.values, y, &r.path);
    }
    if train.is_empty() {
        return Err(DataError::NoTrain);
    }
    if test.is_empty() {
        return Err(DataError::NoTest);
    }
    let mut present: Vec<usize> = train.y.clone();
    present.sort_unstable();
    present.dedup();
    if present.len() < 2 {
        return Err(DataError::OneClass(present.len()));
    }
    Ok(Prepared {
        classes,
        columns: table.columns.clone(),
        train,
        test,
    })
}

/// Seeded, stratified choice of validation rows: `fraction` of each class (none from a class
/// with a single row).
pub fn validation_split(y: &[usize], fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut by_class: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, &c) in y.iter().enumerate() {
        by_class.entry(c).or_default().push(i);
    }
    let mut rng = crate::seeding::rng(seed, crate::seeding::Stream::Validation);
    let (mut tr, mut va) = (Vec::new(), Vec::new());
    for (_, mut idx) in by_class {
        idx.shuffle(&mut rng);
        let k = if fraction > 0.0 && idx.len() >= 2 {
            ((idx.len() as f64 * fraction).round() as usize).clamp(1, idx.len() - 1)
        } else {
            0
        };
        va.extend_from_slice(&idx[..k]);
        tr.extend_from_slice(&idx[k..]);
    }
    tr.sort_unstable();
    va.sort_unstable();
    (tr, va)
}

/// Loss weight of each sample: 1, or inversely proportional to its class's frequency.
pub(crate) fn sample_weights(y: &[usize], k: usize, mode: ClassWeight) -> Vec<f32> {
    match mode {
        ClassWeight::None => vec![1.0; y.len()],
        ClassWeight::Balanced => {
            let mut count = vec![0usize; k];
            for &c in y {
                count[c] += 1;
            }
            let present = count.iter().filter(|&&c| c > 0).count() as f32;
            y.iter()
                .map(|&c| y.len() as f32 / (present * count[c] as f32))
                .collect()
        }
    }
}
