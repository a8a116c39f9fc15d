//! Cross-validation of the L2 strength of the descriptor models.

use std::collections::BTreeMap;

use burn::tensor::Device;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::{Prepared, TrainConfig, accuracy, argmax_rows, train};
use crate::models::{DataShape, Input, Reads};
use crate::observe::{Event, Observer};

/// L2 strengths tried by cross-validation.
pub const WEIGHT_DECAY_GRID: [f32; 5] = [1e-4, 1e-3, 1e-2, 3e-2, 1e-1];

/// Mean cross-validated accuracy of each weight decay tried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvScore {
    /// L2 strength.
    pub weight_decay: f32,
    /// Mean accuracy over the held-out folds.
    pub accuracy: f64,
}

/// Picks the weight decay with the best mean accuracy over stratified, seeded folds of the
/// training rows (ties go to the stronger penalty). Returns it with every score. Each of the
/// grid x folds fits is a step of a `cross-validation` stage told to `observer`. When the
/// observer asks to stop ([`Observer::stopped`]), the fit in hand stops and no score is
/// returned.
pub fn tune_weight_decay(
    cfg: &TrainConfig,
    data: &Prepared,
    device: &Device,
    observer: &dyn Observer,
) -> (f32, Vec<CvScore>) {
    let d = data.columns.len();
    let k = data.classes.len();
    let shape = DataShape {
        columns: d,
        classes: k,
        views: None,
    };
    let net = match cfg.model.network(&shape) {
        Some(net) if net.reads() == Reads::Rows => net,
        // Not a model of descriptor rows alone: nothing to tune.
        _ => return (cfg.weight_decay, Vec::new()),
    };
    let mut by_class: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, &c) in data.train.y.iter().enumerate() {
        by_class.entry(c).or_default().push(i);
    }
    let smallest = by_class.values().map(Vec::len).min().unwrap_or(0);
    let folds = smallest.clamp(2, 5);
    let mut fold_of = vec![0usize; data.train.len()];
    let mut rng = crate::seeding::rng(cfg.seed, crate::seeding::Stream::Folds);
    for idx in by_class.values_mut() {
        idx.shuffle(&mut rng);
        for (j, &i) in idx.iter().enumerate() {
            fold_of[i] = j % folds;
        }
    }
    let mut scores = Vec::new();
    observer.event(Event::Begin {
        stage: "cross-validation",
        total: (WEIGHT_DECAY_GRID.len() * folds) as u64,
    });
    for &wd in &WEIGHT_DECAY_GRID {
        let mut acc = 0.0;
        for f in 0..folds {
            let tr: Vec<usize> = (0..data.train.len()).filter(|&i| fold_of[i] != f).collect();
            let te: Vec<usize> = (0..data.train.len()).filter(|&i| fold_of[i] == f).collect();
            let part = Prepared {
                classes: data.classes.clone(),
                columns: data.columns.clone(),
                train: data.train.subset(&tr, d),
                test: data.train.subset(&te, d),
            };
            let c = TrainConfig {
                weight_decay: wd,
                tune_weight_decay: false,
                val_fraction: 0.0,
                ..cfg.clone()
            };
            let t = train(
                &c,
                &net,
                Input::Rows(&part.train),
                &part.columns,
                device,
                StopOnly(observer),
            )
            .expect("a network of rows, checked above, trains on rows");
            let proba = t
                .predict_proba(Input::Rows(&part.test), device)
                .expect("a network of rows predicts from rows");
            let pred = argmax_rows(&proba, k);
            acc += accuracy(&pred, &part.test.y) / folds as f64;
            observer.event(Event::Step);
            if observer.stopped() {
                // The caller stopped the run: what was scored so far chooses nothing, and the
                // caller asks `stopped` again.
                observer.event(Event::End);
                return (cfg.weight_decay, Vec::new());
            }
        }
        scores.push(CvScore {
            weight_decay: wd,
            accuracy: acc,
        });
    }
    observer.event(Event::End);
    let best = scores
        .iter()
        .fold(
            &scores[0],
            |b, s| if s.accuracy >= b.accuracy { s } else { b },
        )
        .weight_decay;
    (best, scores)
}

/// A fold's training, silent but stopped when the caller stops the whole run.
struct StopOnly<'a>(&'a dyn Observer);

impl super::Progress for StopOnly<'_> {
    fn epoch(&mut self, _: &crate::observe::EpochStats) {}
    fn stopped(&self) -> bool {
        self.0.stopped()
    }
}
