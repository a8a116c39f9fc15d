//! Training, the same way for every model kind: data preparation and standardisation
//! ([`prepare`], [`Standardizer`]), the settings ([`TrainConfig`]; the model itself is a
//! [`crate::models::ModelSpec`]), cross-validation of the L2 strength ([`tune_weight_decay`]),
//! [`train()`] (split, standardise, augment, then the one loop, [`fit()`]), and the one batcher
//! [`Shapes`], made of [`RowSet`] (descriptor rows) and [`ViewSet`] (stacks of depth views).

mod adam;
mod checkpoint;
mod config;
mod cv;
mod data;
mod fit;
mod learners;
mod rows;
mod settings;
mod shapes;
mod view_load;
mod views;

use burn::tensor::Device;

pub use checkpoint::{Checkpoints, STATE_FILE};
pub use config::{ClassWeight, LrSchedule, OptimizerKind, TrainConfig};
pub use cv::{CvScore, WEIGHT_DECAY_GRID, tune_weight_decay};
pub(crate) use data::sample_weights;
pub use data::{
    DataError, HistogramMap, Prepared, Samples, Standardizer, prepare, validation_split,
};
pub(crate) use fit::accuracy;
pub use fit::{
    ACCELERATOR_EVAL_CHUNK, Batcher, Fit, Learner, Progress, argmax_rows, fit, predict_proba, split,
};
pub use rows::RowSet;
pub use settings::TrainSettings;
pub use shapes::Shapes;
pub use view_load::{
    Copies, DEFAULT_HOST_VIEW_BYTES, HOST_VIEW_BYTES_VAR, Keep, env_bytes, keep_for, load_views,
};
pub use views::{
    Augment, AugmentSpec, DEFAULT_STAGE_BYTES, DeviceViews, STAGE_BYTES_VAR, ViewFiles, ViewSet,
    push_views,
};

use crate::models::{Classifier, Input, Network};

/// A set of shapes before standardisation, as a model reads them: their descriptor rows, their
/// views, or both (of the same shapes, in the same order; an augmented rendering's row is its
/// mesh's row).
pub type RawShapes<'a> = Input<&'a ViewSet, &'a Samples>;

/// A trained model of any kind: the network with how training went, and the statistics its
/// descriptor rows are standardised with (when it reads rows).
pub struct Trained {
    /// The network and its training history.
    pub fit: Fit<Classifier>,
    /// Standardisation fitted on the training rows; `None` for a model that reads views alone.
    pub standardizer: Option<Standardizer>,
}

impl Trained {
    /// Class probabilities, row-major `[shapes, classes]`, of `data` (rows unstandardised).
    /// An error when `data` lacks a part the network reads.
    pub fn predict_proba(
        &self,
        data: RawShapes<'_>,
        device: &Device,
    ) -> Result<Vec<f32>, DataError> {
        let set = Shapes::of(
            self.fit.net.reads(),
            data.rows().copied(),
            data.views().copied(),
            self.standardizer.as_ref(),
        )?;
        Ok(predict_proba(&self.fit.net, &set, device))
    }
}

/// `rows` cut into the training and validation parts `(tr_idx, va_idx)`, both standardised
/// (histograms mapped by `map` first) by statistics fitted on the training part alone.
fn standardized_parts(
    rows: &Samples,
    columns: &[String],
    map: HistogramMap,
    (tr_idx, va_idx): &(Vec<usize>, Vec<usize>),
) -> (RowSet, RowSet, Standardizer) {
    let d = columns.len();
    let mut tr = rows.subset(tr_idx, d);
    let mut va = rows.subset(va_idx, d);
    let standardizer = Standardizer::fit_mapped(columns, &tr.x, map);
    standardizer.apply(&mut tr.x);
    standardizer.apply(&mut va.x);
    (RowSet::new(tr, d), RowSet::new(va, d), standardizer)
}

/// Trains `network` on the training shapes `data` (`columns` names the rows' values), the same
/// way for every model kind:
/// - a seeded, stratified validation split: over meshes when the model reads views
///   ([`ViewSet::split_by_mesh`]: every augmented rendering of a training mesh is a training
///   shape of its own), else over rows;
/// - rows standardised by statistics fitted on the training part alone;
/// - views augmented as `cfg`'s spec says, and staged on the device;
/// - then [`fit()`]. `progress` sees each epoch's numbers.
///
/// An error, before any work, when `data` is not what `network` reads.
pub fn train(
    cfg: &TrainConfig,
    network: &Network,
    data: RawShapes<'_>,
    columns: &[String],
    device: &Device,
    progress: impl Progress,
) -> Result<Trained, DataError> {
    if data.reads() != network.reads() {
        return Err(DataError::Mismatch {
            wants: network.reads(),
            holds: Some(data.reads()),
        });
    }
    let split = match data {
        Input::Rows(r) => validation_split(&r.y, cfg.val_fraction, cfg.seed),
        Input::Views(v) | Input::RowsAndViews(v, _) => v.split_by_mesh(cfg.val_fraction, cfg.seed),
    };
    let (tr_idx, va_idx) = &split;
    let rows = data
        .rows()
        .map(|r| standardized_parts(r, columns, cfg.histograms, &split));
    let (tr_views, va_views) = data
        .views()
        .map(|v| (v.subset(tr_idx), v.subset(va_idx)))
        .unzip();
    let (tr_rows, va_rows, standardizer) = match rows {
        Some((tr, va, s)) => (Some(tr), Some(va), Some(s)),
        None => (None, None, None),
    };
    let parts = "every input holds rows or views";
    let mut tr = Input::from_parts(tr_views, tr_rows).expect(parts);
    let mut va = Input::from_parts(va_views, va_rows).expect(parts);
    if let (Some(v), Some(s)) = (tr.views_mut(), cfg.model.cnn()) {
        v.augment = AugmentSpec {
            flip: s.flip,
            jitter: s.jitter,
            views: s.train_views,
        };
    }
    for set in [&mut tr, &mut va] {
        if let Some(v) = set.views_mut() {
            v.stage(device);
        }
    }
    let fit = fit(
        cfg,
        network.classes(),
        |dev| network.init(dev),
        &tr,
        &va,
        device,
        progress,
    );
    Ok(Trained { fit, standardizer })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Split;
    use crate::features::FeatureTable;
    use crate::models::ModelKind;

    fn train(cfg: &TrainConfig, data: &Prepared) -> Trained {
        let shape = crate::models::DataShape {
            columns: data.columns.len(),
            classes: data.classes.len(),
            views: None,
        };
        let net = cfg.model.network(&shape).unwrap();
        super::train(
            cfg,
            &net,
            Input::Rows(&data.train),
            &data.columns,
            &Device::flex(),
            (),
        )
        .unwrap()
    }

    fn blobs(n_per: usize, k: usize, seed: u64) -> FeatureTable {
        crate::fixtures::blobs(n_per, k, 4, 0.8, seed)
    }

    #[test]
    fn both_models_learn_separable_blobs() {
        let data = prepare(&blobs(40, 3, 1), None).unwrap();
        for model in [ModelKind::Logistic, ModelKind::Mlp] {
            let mut cfg = TrainConfig::defaults(model);
            cfg.epochs = 60;
            let t = train(&cfg, &data);
            let pred = argmax_rows(
                &t.predict_proba(Input::Rows(&data.test), &Device::flex())
                    .unwrap(),
                3,
            );
            assert!(accuracy(&pred, &data.test.y) > 0.95, "{model:?}");
            assert!(t.fit.history[0].loss > t.fit.history.last().unwrap().loss);
        }
    }

    #[test]
    fn cross_validation_scores_every_grid_value() {
        let data = prepare(&blobs(20, 3, 5), None).unwrap();
        let mut cfg = TrainConfig::defaults(ModelKind::Logistic);
        // Few epochs at a full rate: this checks the folds and the choice, not convergence.
        cfg.epochs = 20;
        cfg.schedule = LrSchedule::Constant;
        /// Counts the stage's announced total and its steps.
        #[derive(Default)]
        struct Count(std::sync::Mutex<(u64, u64)>);
        impl crate::observe::Observer for Count {
            fn event(&self, e: crate::observe::Event<'_>) {
                let mut c = self.0.lock().unwrap();
                match e {
                    crate::observe::Event::Begin { total, .. } => c.0 = total,
                    crate::observe::Event::Step => c.1 += 1,
                    _ => {}
                }
            }
        }
        let count = Count::default();
        let (wd, scores) = tune_weight_decay(&cfg, &data, &Device::flex(), &count);
        // One step per fit: every grid value on each of at least two folds, as announced.
        let (total, steps) = count.0.into_inner().unwrap();
        assert_eq!(steps, total);
        assert!(
            total >= 2 * WEIGHT_DECAY_GRID.len() as u64
                && total % WEIGHT_DECAY_GRID.len() as u64 == 0
        );
        assert_eq!(scores.len(), WEIGHT_DECAY_GRID.len());
        assert!(WEIGHT_DECAY_GRID.contains(&wd));
        let best = scores.iter().map(|s| s.accuracy).fold(0.0, f64::max);
        assert_eq!(
            scores
                .iter()
                .find(|s| s.weight_decay == wd)
                .unwrap()
                .accuracy,
            best
        );
        assert!(best > 0.9, "separable blobs: {best}");
    }

    #[test]
    fn same_seed_same_training() {
        let data = prepare(&blobs(20, 3, 4), None).unwrap();
        let mut cfg = TrainConfig::defaults(ModelKind::Mlp);
        cfg.epochs = 5;
        let run = |c: &TrainConfig| train(c, &data).fit.history;
        let a = run(&cfg);
        assert_eq!(a, run(&cfg), "same seed, same history");
        cfg.seed = 1;
        assert_ne!(a, run(&cfg), "another seed, another history");
    }

    #[test]
    fn one_vs_rest_and_bad_tables() {
        let table = blobs(20, 3, 2);
        let p = prepare(&table, Some("c1")).unwrap();
        assert_eq!(p.classes, vec!["not-c1", "c1"]);
        assert_eq!(p.train.y.iter().filter(|&&y| y == 1).count(), 15);
        assert!(matches!(
            prepare(&table, Some("zz")),
            Err(DataError::UnknownClass(..))
        ));
        assert!(matches!(
            prepare(&FeatureTable::default(), None),
            Err(DataError::Empty)
        ));
        let mut one = table.clone();
        one.rows.retain(|r| r.class == "c0");
        assert!(matches!(prepare(&one, None), Err(DataError::OneClass(1))));
        let mut no_test = table.clone();
        no_test.rows.retain(|r| r.split == Split::Train);
        assert!(matches!(prepare(&no_test, None), Err(DataError::NoTest)));
    }

    #[test]
    fn validation_split_is_stratified_and_seeded() {
        let y: Vec<usize> = (0..100).map(|i| i % 4).collect();
        let (tr, va) = validation_split(&y, 0.2, 3);
        assert_eq!(tr.len() + va.len(), 100);
        for c in 0..4 {
            assert_eq!(va.iter().filter(|&&i| y[i] == c).count(), 5);
        }
        assert_eq!(validation_split(&y, 0.2, 3), (tr, va.clone()));
        assert_ne!(validation_split(&y, 0.2, 4).1, va);
    }

    #[test]
    fn standardizer_centres_and_scales() {
        let cols = vec!["a".to_string(), "b".to_string()];
        let mut x = vec![1.0, 5.0, 3.0, 5.0];
        let s = Standardizer::fit(&cols, &x);
        assert_eq!(s.mean, vec![2.0, 5.0]);
        assert_eq!(s.std, vec![1.0, 1.0]);
        s.apply(&mut x);
        assert_eq!(x, vec![-1.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn sqrt_map_roots_histogram_bins_only_and_survives_a_round_trip() {
        let cols: Vec<String> = ["d2_00", "sdfstat_mean"].map(String::from).into();
        let x = vec![0.04, 4.0, 0.16, 6.0];
        let s = Standardizer::fit_mapped(&cols, &x, HistogramMap::Sqrt);
        assert_eq!(s.root, vec![true, false]);
        // Rooted bins 0.2 and 0.4: mean 0.3, spread 0.1; the statistic is left as it is.
        assert!((s.mean[0] - 0.3).abs() < 1e-6 && (s.std[0] - 0.1).abs() < 1e-6);
        assert_eq!((s.mean[1], s.std[1]), (5.0, 1.0));
        let mut y = x.clone();
        s.apply(&mut y);
        let want = [-1.0, -1.0, 1.0, 1.0];
        assert!(
            y.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-5),
            "{y:?}"
        );
        // What `apply` does is saved with the statistics, and a file from before the map
        // (no `root`) reads as no map.
        let back: Standardizer = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        let old: Standardizer = serde_json::from_str(
            r#"{"columns":["d2_00","sdfstat_mean"],"mean":[0.1,5.0],"std":[0.06,1.0]}"#,
        )
        .unwrap();
        assert!(old.root.is_empty() && old.validate().is_ok());
        let none = Standardizer::fit_mapped(&cols, &x, HistogramMap::None);
        assert!(none.root.is_empty());
        assert!((none.mean[0] - 0.1).abs() < 1e-6);
        let broken = Standardizer {
            root: vec![true],
            ..s
        };
        assert!(broken.validate().is_err(), "one flag for two columns");
    }

    #[test]
    fn zero_or_broken_spread_never_makes_nan() {
        let mut s = Standardizer {
            columns: vec!["a".into(), "b".into()],
            mean: vec![1.0, 1.0],
            std: vec![0.0, f32::NAN],
            root: Vec::new(),
        };
        let mut x = vec![3.0, 3.0];
        s.apply(&mut x);
        assert_eq!(x, vec![2.0, 2.0]);
        assert!(s.validate().is_err(), "NaN spread is refused on load");
        s.std[1] = 0.0;
        assert!(
            s.validate().is_ok(),
            "zero spread is a constant column, guarded"
        );
        s.mean[0] = f32::INFINITY;
        assert!(s.validate().is_err());
    }

    #[test]
    fn a_run_that_must_wait_for_another_says_so() {
        use std::sync::mpsc;
        struct Warnings(mpsc::Sender<String>);
        impl Progress for Warnings {
            fn epoch(&mut self, _: &crate::observe::EpochStats) {}
            fn warning(&mut self, message: &str) {
                self.0.send(message.to_string()).unwrap();
            }
        }
        let data = prepare(&blobs(10, 2, 3), None).unwrap();
        let mut cfg = TrainConfig::defaults(ModelKind::Mlp);
        cfg.epochs = 1;
        let net = cfg
            .model
            .network(&crate::models::DataShape {
                columns: data.columns.len(),
                classes: 2,
                views: None,
            })
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let held = fit::one_run_at_a_time();
        let run = std::thread::spawn(move || {
            let rows = Input::Rows(&data.train);
            super::train(
                &cfg,
                &net,
                rows,
                &data.columns,
                &Device::flex(),
                Warnings(tx),
            )
            .unwrap()
            .fit
            .history
            .len()
        });
        let told = rx.recv_timeout(std::time::Duration::from_secs(120));
        drop(held);
        assert!(told.expect("the wait was told").contains("waits for it"));
        assert_eq!(run.join().unwrap(), 1, "and it trained once its turn came");
    }

    #[test]
    fn data_the_network_does_not_read_is_an_error_not_a_panic() {
        let data = prepare(&blobs(10, 2, 2), None).unwrap();
        let cnn = crate::models::Network::Cnn(crate::models::CnnConfig::new(2, 16, 2));
        let cfg = TrainConfig::defaults(ModelKind::Cnn);
        let err = super::train(
            &cfg,
            &cnn,
            Input::Rows(&data.train),
            &data.columns,
            &Device::flex(),
            (),
        )
        .err()
        .expect("a CNN given rows alone");
        assert!(
            matches!(
                err,
                DataError::Mismatch {
                    wants: crate::models::Reads::Views,
                    holds: Some(crate::models::Reads::Rows)
                }
            ),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "the model reads views, but the shapes given hold descriptor rows"
        );
        // A trained model of rows asked about views alone says what it lacks; given more than
        // it reads, it takes its part.
        let mut c = TrainConfig::defaults(ModelKind::Logistic);
        c.epochs = 2;
        let t = train(&c, &data);
        let views = crate::fixtures::halves(4);
        let err = t
            .predict_proba(Input::Views(&views), &Device::flex())
            .expect_err("no rows to read");
        assert!(matches!(err, DataError::Mismatch { .. }), "{err}");
        let rows = t.predict_proba(Input::Rows(&data.test), &Device::flex());
        assert_eq!(rows.unwrap().len(), 2 * data.test.len());
        // Without its standardisation a model of rows cannot read them.
        let bare = Trained {
            standardizer: None,
            ..t
        };
        let err = bare
            .predict_proba(Input::Rows(&data.test), &Device::flex())
            .expect_err("no standardisation");
        assert!(matches!(err, DataError::NoStandardizer), "{err}");
    }

    #[test]
    fn a_diverging_run_stops_and_says_so() {
        let data = prepare(&blobs(20, 3, 1), None).unwrap();
        let mut cfg = TrainConfig::defaults(ModelKind::Mlp);
        cfg.lr = 1e30;
        cfg.optimizer = OptimizerKind::Sgd;
        cfg.epochs = 20;
        let t = train(&cfg, &data).fit;
        assert!(t.diverged.is_some(), "loss stayed finite at lr 1e30");
        assert!(t.history.len() < 20);
        // The loss is checked once per epoch, on the device's sum: the diverged epoch is
        // discarded, every epoch kept before it was finite.
        assert_eq!(t.history.len() + 1, t.diverged.unwrap());
        assert!(t.history.iter().all(|e| e.loss.is_finite()));
        let mut ok = cfg.clone();
        ok.lr = 1e-3;
        assert_eq!(train(&ok, &data).fit.diverged, None);
    }
}
