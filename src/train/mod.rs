//! Training, the same way for every model: data preparation and standardisation ([`prepare`],
//! [`Standardizer`]), the settings and model specs ([`TrainConfig`], [`ModelSpec`]),
//! cross-validation of the L2 strength ([`tune_weight_decay`]), the one loop ([`fit()`]), and
//! one batcher per input kind ([`RowSet`] for descriptor rows, [`ViewSet`] for stacks of depth
//! views).

mod checkpoint;
mod config;
mod cv;
mod data;
mod fit;
mod fusion;
mod learners;
mod rows;
mod view_load;
mod views;

use burn::tensor::Device;

pub use checkpoint::{Checkpoints, STATE_FILE};
pub use config::{
    ClassWeight, CnnSpec, FusionSpec, LrSchedule, MlpSpec, ModelSpec, OptimizerKind, TrainConfig,
};
pub use cv::{CvScore, WEIGHT_DECAY_GRID, tune_weight_decay};
pub(crate) use data::sample_weights;
pub use data::{
    DataError, HistogramMap, Prepared, Samples, Standardizer, prepare, validation_split,
};
pub(crate) use fit::accuracy;
pub use fit::{
    ACCELERATOR_EVAL_CHUNK, Batcher, Fit, Learner, Progress, argmax_rows, fit, predict_proba, split,
};
pub use fusion::FusionSet;
pub use rows::RowSet;
pub use view_load::{Copies, Keep, load_views};
pub use views::{
    Augment, AugmentSpec, DEFAULT_STAGE_BYTES, DeviceViews, STAGE_BYTES_VAR, ViewFiles, ViewSet,
    push_views,
};

use crate::models::{CnnConfig, Fusion, FusionConfig, Mvcnn, Net, NetConfig};

/// A trained descriptor model (logistic regression or MLP): the network, the statistics its
/// inputs are standardised with, and how training went.
pub struct DescriptorModel {
    /// The network and its training history.
    pub fit: Fit<Net>,
    /// Its shape.
    pub net_config: NetConfig,
    /// Standardisation fitted on the training rows.
    pub standardizer: Standardizer,
}

impl DescriptorModel {
    /// Class probabilities, row-major `[rows, classes]`, of raw (unstandardised) rows.
    pub fn predict_proba(&self, s: &Samples, device: &Device) -> Vec<f32> {
        let mut x = s.x.clone();
        self.standardizer.apply(&mut x);
        let rows = RowSet {
            x,
            y: s.y.clone(),
            columns: self.net_config.inputs,
        };
        predict_proba(&self.fit.net, &rows, device)
    }
}

/// The seeded, stratified validation split of `rows` (indices, then the two parts) with both
/// parts standardised by statistics fitted on the training part alone.
fn standardized_split(
    cfg: &TrainConfig,
    rows: &Samples,
    columns: &[String],
) -> ((Vec<usize>, Vec<usize>), Samples, Samples, Standardizer) {
    let split = validation_split(&rows.y, cfg.val_fraction, cfg.seed);
    standardized_parts(rows, columns, cfg.histograms, split)
}

/// `rows` cut into the training and validation parts `(tr_idx, va_idx)`, both standardised
/// (histograms mapped by `map` first) by statistics fitted on the training part alone.
fn standardized_parts(
    rows: &Samples,
    columns: &[String],
    map: HistogramMap,
    (tr_idx, va_idx): (Vec<usize>, Vec<usize>),
) -> ((Vec<usize>, Vec<usize>), Samples, Samples, Standardizer) {
    let d = columns.len();
    let mut tr = rows.subset(&tr_idx, d);
    let mut va = rows.subset(&va_idx, d);
    let standardizer = Standardizer::fit_mapped(columns, &tr.x, map);
    standardizer.apply(&mut tr.x);
    standardizer.apply(&mut va.x);
    ((tr_idx, va_idx), tr, va, standardizer)
}

/// Trains the descriptor network `net` on `data.train`: a seeded stratified validation split,
/// standardisation fitted on the remaining training rows, then [`fit()`]. `progress` sees each
/// epoch's numbers.
pub fn train_descriptors(
    cfg: &TrainConfig,
    net: &NetConfig,
    data: &Prepared,
    device: &Device,
    progress: impl Progress,
) -> DescriptorModel {
    let d = data.columns.len();
    let (_, tr, va, standardizer) = standardized_split(cfg, &data.train, &data.columns);
    let fit = fit(
        cfg,
        data.classes.len(),
        |dev| net.init(dev),
        &RowSet::new(&tr, d),
        &RowSet::new(&va, d),
        device,
        progress,
    );
    DescriptorModel {
        fit,
        net_config: net.clone(),
        standardizer,
    }
}

/// Trains the multi-view CNN `net` on the views `data`: a seeded stratified validation split
/// over meshes ([`ViewSet::split_by_mesh`]: every augmented rendering of a training mesh is a
/// training shape of its own), the augmentation of `cfg`'s CNN spec on the training shapes,
/// then [`fit()`].
pub fn train_cnn(
    cfg: &TrainConfig,
    net: &CnnConfig,
    data: &ViewSet,
    device: &Device,
    progress: impl Progress,
) -> Fit<Mvcnn> {
    let (tr_idx, va_idx) = data.split_by_mesh(cfg.val_fraction, cfg.seed);
    let (mut tr, mut va) = (data.subset(&tr_idx), data.subset(&va_idx));
    if let Some(s) = cfg.model.cnn() {
        tr.augment = AugmentSpec {
            flip: s.flip,
            jitter: s.jitter,
        };
    }
    tr.stage(device);
    va.stage(device);
    fit(
        cfg,
        net.classes,
        |dev| net.init(dev),
        &tr,
        &va,
        device,
        progress,
    )
}

/// A trained fusion model: the network with the statistics its descriptor rows are
/// standardised with.
pub struct FusionModel {
    /// The network and its training history.
    pub fit: Fit<Fusion>,
    /// Standardisation fitted on the training rows.
    pub standardizer: Standardizer,
}

/// Trains the fusion network `net` on the views `views` and the raw descriptor rows `rows` of
/// the same shapes (in the same order; an augmented rendering's row is its mesh's row): a
/// seeded stratified validation split over meshes ([`ViewSet::split_by_mesh`]),
/// standardisation fitted on the remaining training rows, the view augmentation of `cfg`'s
/// spec, then [`fit()`].
pub fn train_fusion(
    cfg: &TrainConfig,
    net: &FusionConfig,
    views: &ViewSet,
    rows: &Samples,
    columns: &[String],
    device: &Device,
    progress: impl Progress,
) -> FusionModel {
    let d = net.inputs;
    let split = views.split_by_mesh(cfg.val_fraction, cfg.seed);
    let ((tr_idx, va_idx), tr_rows, va_rows, standardizer) =
        standardized_parts(rows, columns, cfg.histograms, split);
    let mut tr = FusionSet {
        views: views.subset(&tr_idx),
        rows: RowSet::new(&tr_rows, d),
    };
    let mut va = FusionSet {
        views: views.subset(&va_idx),
        rows: RowSet::new(&va_rows, d),
    };
    if let Some(s) = cfg.model.cnn() {
        tr.views.augment = AugmentSpec {
            flip: s.flip,
            jitter: s.jitter,
        };
    }
    tr.views.stage(device);
    va.views.stage(device);
    let fit = fit(
        cfg,
        net.classes(),
        |dev| net.init(dev),
        &tr,
        &va,
        device,
        progress,
    );
    FusionModel { fit, standardizer }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Split;
    use crate::features::FeatureTable;
    use crate::models::ModelKind;

    fn dense(cfg: &TrainConfig, data: &Prepared) -> NetConfig {
        NetConfig::for_spec(&cfg.model, data.columns.len(), data.classes.len()).unwrap()
    }

    fn train(cfg: &TrainConfig, data: &Prepared) -> DescriptorModel {
        train_descriptors(cfg, &dense(cfg, data), data, &Device::flex(), ())
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
            let pred = argmax_rows(&t.predict_proba(&data.test, &Device::flex()), 3);
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
