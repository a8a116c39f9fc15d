//! Classification metrics and their presentation: accuracy, per-class precision, recall, F1 and
//! support (as scikit-learn's `classification_report`), the confusion matrix, and text, Markdown
//! and PNG renderings ([`render`], [`plots`], [`html`]), and the [`Report`] a trained model
//! carries.

use serde::{Deserialize, Serialize};

use crate::observe::EpochStats;

pub mod html;
pub mod plots;
pub mod render;

/// Precision, recall, F1 and support of one class (or an average over classes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    /// Class name (or `macro avg` / `weighted avg`).
    pub class: String,
    /// Of the predictions of this class, the share that were right.
    pub precision: f64,
    /// Of the instances of this class, the share found.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Instances of this class in the evaluated set.
    pub support: usize,
}

/// Everything measured on one evaluated set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Share of instances classified right, in [0, 1].
    pub accuracy: f64,
    /// Mean over classes (with support) of per-class recall.
    pub mean_class_accuracy: f64,
    /// Class names, the order of every per-class list and of the matrix.
    pub classes: Vec<String>,
    /// `confusion_matrix[true][predicted]` counts.
    pub confusion_matrix: Vec<Vec<usize>>,
    /// Scores per class.
    pub per_class: Vec<ClassScores>,
    /// Unweighted mean over classes with support.
    pub macro_avg: ClassScores,
    /// Support-weighted mean over classes.
    pub weighted_avg: ClassScores,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl Metrics {
    /// Computes the metrics of predictions `pred` against `truth` (class indices into `classes`).
    pub fn compute(classes: &[String], truth: &[usize], pred: &[usize]) -> Metrics {
        let k = classes.len();
        let mut cm = vec![vec![0usize; k]; k];
        for (&t, &p) in truth.iter().zip(pred) {
            cm[t][p] += 1;
        }
        let correct: usize = (0..k).map(|i| cm[i][i]).sum();
        let per_class: Vec<ClassScores> = (0..k)
            .map(|c| {
                let support: usize = cm[c].iter().sum();
                let predicted: usize = (0..k).map(|r| cm[r][c]).sum();
                let precision = ratio(cm[c][c], predicted);
                let recall = ratio(cm[c][c], support);
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                ClassScores {
                    class: classes[c].clone(),
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect();
        // As scikit-learn: the averages run over every class the test set holds or the model
        // predicted (a class predicted but absent scores 0), mean class accuracy over the
        // classes the test set holds.
        let present: Vec<&ClassScores> = per_class
            .iter()
            .enumerate()
            .filter(|&(c, s)| s.support > 0 || (0..k).any(|r| cm[r][c] > 0))
            .map(|(_, s)| s)
            .collect();
        let held: Vec<f64> = per_class
            .iter()
            .filter(|c| c.support > 0)
            .map(|c| c.recall)
            .collect();
        let mean_class_accuracy = if held.is_empty() {
            0.0
        } else {
            held.iter().sum::<f64>() / held.len() as f64
        };
        let n = truth.len();
        let avg = |name: &str, weight: &dyn Fn(&ClassScores) -> f64| {
            let tw: f64 = present.iter().map(|c| weight(c)).sum();
            let mean = |f: &dyn Fn(&ClassScores) -> f64| {
                if tw == 0.0 {
                    0.0
                } else {
                    present.iter().map(|c| weight(c) * f(c)).sum::<f64>() / tw
                }
            };
            ClassScores {
                class: name.into(),
                precision: mean(&|c| c.precision),
                recall: mean(&|c| c.recall),
                f1: mean(&|c| c.f1),
                support: n,
            }
        };
        let macro_avg = avg("macro avg", &|_| 1.0);
        let weighted_avg = avg("weighted avg", &|c| c.support as f64);
        Metrics {
            accuracy: ratio(correct, n),
            mean_class_accuracy,
            classes: classes.to_vec(),
            confusion_matrix: cm,
            per_class,
            macro_avg,
            weighted_avg,
        }
    }
}

/// `report.json`: what training measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Model kind (`logistic`, `mlp`).
    pub model: String,
    /// Backend and device that trained it.
    pub backend: String,
    /// Training seed.
    pub seed: u64,
    /// Feature folder it was trained from.
    pub features: String,
    /// Test metrics.
    #[serde(flatten)]
    pub metrics: Metrics,
    /// Training rows (after the validation split).
    pub train_size: usize,
    /// Validation rows.
    pub val_size: usize,
    /// Test rows.
    pub test_size: usize,
    /// Trainable parameters.
    pub parameters: usize,
    /// Wall-clock seconds of training.
    pub train_seconds: f64,
    /// Training throughput.
    pub samples_per_second: f64,
    /// Epochs run.
    pub epochs_run: usize,
    /// Epoch whose weights were kept.
    pub best_epoch: usize,
    /// Per-epoch loss and accuracies.
    pub history: Vec<EpochStats>,
    /// Test meshes classified wrongly: path, true class, predicted class.
    pub misclassified: Vec<[String; 3]>,
    /// L2 strength of the final fit.
    #[serde(default)]
    pub weight_decay: f32,
    /// Cross-validated accuracy of each L2 strength tried (empty when not tuned).
    #[serde(default)]
    pub cv: Vec<crate::train::CvScore>,
    /// Rows left out because their inputs could not be read (the CNN's view images), with why.
    #[serde(default)]
    pub skipped: Vec<crate::features::Failure>,
    /// Every test mesh's predicted class and its probability, so a comparison can show what
    /// each model said about each mesh (empty in reports of older versions).
    #[serde(default)]
    pub predictions: Vec<TestPrediction>,
    /// With `--repeats N`: every seed's scores, this folder's own seed first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repeats: Vec<RepeatScore>,
    /// With `--repeats N`: mean and standard deviation of each score over the seeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<Spread>,
}

/// One seed's scores in a repeated training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatScore {
    /// The seed.
    pub seed: u64,
    /// Test accuracy.
    pub accuracy: f64,
    /// Mean per-class recall.
    pub mean_class_accuracy: f64,
    /// Macro-averaged F1.
    pub macro_f1: f64,
    /// Seconds of training.
    pub train_seconds: f64,
    /// Epoch whose weights were kept.
    pub best_epoch: usize,
}

impl RepeatScore {
    /// The scores of one run's report.
    pub fn of(r: &Report) -> RepeatScore {
        RepeatScore {
            seed: r.seed,
            accuracy: r.metrics.accuracy,
            mean_class_accuracy: r.metrics.mean_class_accuracy,
            macro_f1: r.metrics.macro_avg.f1,
            train_seconds: r.train_seconds,
            best_epoch: r.best_epoch,
        }
    }
}

/// A mean and a sample standard deviation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (n - 1 in the denominator; 0 for one value).
    pub std: f64,
}

impl MeanStd {
    /// Of `v` (empty: zeros).
    pub fn of(v: &[f64]) -> MeanStd {
        if v.is_empty() {
            return MeanStd {
                mean: 0.0,
                std: 0.0,
            };
        }
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let std = if v.len() > 1 {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        MeanStd { mean, std }
    }
}

impl std::fmt::Display for MeanStd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.4} ± {:.4}", self.mean, self.std)
    }
}

/// Each score's spread over the seeds of a repeated run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Seeds trained.
    pub runs: usize,
    /// Test accuracy.
    pub accuracy: MeanStd,
    /// Mean per-class recall.
    pub mean_class_accuracy: MeanStd,
    /// Macro-averaged F1.
    pub macro_f1: MeanStd,
}

impl Spread {
    /// Over `runs`.
    pub fn of(runs: &[RepeatScore]) -> Spread {
        let col = |f: fn(&RepeatScore) -> f64| MeanStd::of(&runs.iter().map(f).collect::<Vec<_>>());
        Spread {
            runs: runs.len(),
            accuracy: col(|r| r.accuracy),
            mean_class_accuracy: col(|r| r.mean_class_accuracy),
            macro_f1: col(|r| r.macro_f1),
        }
    }
}

/// One test mesh as a model classified it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestPrediction {
    /// Mesh path, as in the feature table.
    pub path: String,
    /// True class.
    pub class: String,
    /// Predicted class.
    pub predicted: String,
    /// The model's probability for the predicted class.
    pub probability: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_hand_computed_scores() {
        let classes: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let truth = [0, 0, 0, 1, 1, 2];
        let pred = [0, 0, 1, 1, 2, 2];
        let m = Metrics::compute(&classes, &truth, &pred);
        assert_eq!(
            m.confusion_matrix,
            vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]
        );
        assert!((m.accuracy - 4.0 / 6.0).abs() < 1e-12);
        let a = &m.per_class[0];
        assert!((a.precision - 1.0).abs() < 1e-12 && (a.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((a.f1 - 0.8).abs() < 1e-12);
        let b = &m.per_class[1];
        assert!((b.precision - 0.5).abs() < 1e-12 && (b.recall - 0.5).abs() < 1e-12);
        // Mean class accuracy = mean recall = (2/3 + 1/2 + 1) / 3.
        assert!((m.mean_class_accuracy - (2.0 / 3.0 + 0.5 + 1.0) / 3.0).abs() < 1e-12);
        let wp = (3.0 * 1.0 + 2.0 * 0.5 + 1.0 * 0.5) / 6.0;
        assert!((m.weighted_avg.precision - wp).abs() < 1e-12);
        let text = m.to_text();
        assert!(text.contains("precision") && text.contains("macro avg"));
        assert!(m.to_markdown().contains("| **c** | 0 | 0 | 1 |"));
    }

    #[test]
    fn absent_classes_do_not_divide_by_zero() {
        let classes: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let m = Metrics::compute(&classes, &[0, 0], &[0, 1]);
        assert_eq!(m.per_class[1].support, 0);
        assert_eq!(m.per_class[1].precision, 0.0);
        assert!((m.mean_class_accuracy - 0.5).abs() < 1e-12);
        // scikit-learn's classification_report: the macro average takes in class b, predicted
        // though absent, at 0 (F1 1/3, recall 1/4); the weighted one gives it no weight.
        assert!(
            (m.macro_avg.f1 - 1.0 / 3.0).abs() < 1e-12,
            "{}",
            m.macro_avg.f1
        );
        assert!((m.macro_avg.recall - 0.25).abs() < 1e-12);
        assert!((m.weighted_avg.f1 - 2.0 / 3.0).abs() < 1e-12);
        // A class neither held nor predicted is left out of every average.
        let classes: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let m3 = Metrics::compute(&classes, &[0, 0], &[0, 1]);
        assert_eq!(m3.macro_avg.f1, m.macro_avg.f1);
    }
}
