//! Checkpoints of one training run (one seed), so that an interrupted run continues from its
//! last checkpoint and ends with the weights and scores an uninterrupted run would have had.
//!
//! What makes that exact: the checkpoint holds everything the loop carries from one epoch to
//! the next (the weights, the optimiser's state, the step count, the batch order's generator
//! position, the history and the early-stopping state with its best weights), and the one
//! random stream that cannot be saved, Burn's device generator (dropout), is re-seeded from the
//! seed and the epoch at the start of every epoch (see [`super::fit()`]).
//!
//! A checkpoint is a folder: weight files named by epoch, and `state.json`, written last and
//! atomically, which names them with their hashes. A kill at any moment leaves the previous
//! complete checkpoint; a damaged or missing file is found by its hash, and the run then starts
//! over rather than resume from it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use burn::module::Module;
use burn::optim::{ModuleOptimizer, OptimizerRecord};
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::io::write_bytes_atomic;
use crate::observe::EpochStats;

/// The file that names a checkpoint's parts; the checkpoint is complete when it exists.
pub const STATE_FILE: &str = "state.json";

/// Checkpoint format: a change makes older checkpoints start over instead of resuming.
const FORMAT: u32 = 1;

/// Where one run's checkpoints are kept, and how often they are written.
#[derive(Debug)]
pub struct Checkpoints {
    dir: PathBuf,
    last: std::sync::Mutex<Last>,
}

/// The last checkpoint written or loaded: when, how long writing it took, and its best epoch
/// (whose weights file a later checkpoint goes on naming).
#[derive(Debug, Default)]
struct Last {
    written: Option<(Instant, Duration)>,
    best: Option<Best>,
}

/// How the loop stood at the end of an epoch, as a checkpoint records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct State {
    format: u32,
    /// The last completed epoch.
    pub(crate) epoch: usize,
    /// Optimiser steps taken.
    pub(crate) step: usize,
    /// Training samples seen (for the throughput figure).
    pub(crate) samples: usize,
    /// Seconds of training so far.
    pub(crate) seconds: f64,
    /// The batch generator's position (a decimal `u128`).
    rng_word_pos: String,
    /// Every epoch's numbers so far.
    pub(crate) history: Vec<EpochStats>,
    /// The best epoch so far by validation, with its weights.
    pub(crate) best: Option<Best>,
    /// Epochs since the best one.
    pub(crate) since_best: usize,
    /// Whether training had ended (every epoch run, or stopped early).
    pub(crate) finished: bool,
    /// The weights at the end of `epoch` (the autodiff network's record).
    net: FileRef,
    /// The optimiser's state.
    optim: FileRef,
}

/// The early-stopping state's best epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Best {
    pub(crate) accuracy: f64,
    pub(crate) loss: f64,
    pub(crate) epoch: usize,
    net: FileRef,
}

/// One file of a checkpoint and the hash of its bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FileRef {
    file: String,
    hash: String,
}

/// What a resumed run takes back from a checkpoint.
pub(crate) struct Restored<N> {
    pub(crate) state: State,
    pub(crate) net: N,
    pub(crate) optim: ModuleOptimizer,
    /// The best epoch's network, in inference mode.
    pub(crate) best: Option<N>,
    pub(crate) rng: ChaCha8Rng,
}

/// What the loop hands over to be saved at the end of an epoch.
pub(crate) struct Snapshot<'a> {
    pub(crate) epoch: usize,
    pub(crate) step: usize,
    pub(crate) samples: usize,
    pub(crate) seconds: f64,
    pub(crate) rng: &'a ChaCha8Rng,
    pub(crate) history: &'a [EpochStats],
    /// Accuracy, loss and epoch of the best epoch so far.
    pub(crate) best: Option<(f64, f64, usize)>,
    pub(crate) since_best: usize,
    pub(crate) finished: bool,
}

impl Checkpoints {
    /// Checkpoints in `dir` (made when the first is written).
    pub fn new(dir: impl Into<PathBuf>) -> Checkpoints {
        Checkpoints {
            dir: dir.into(),
            last: std::sync::Mutex::new(Last::default()),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether an epoch's checkpoint is due: always for the last epoch, and otherwise once the
    /// time since the last checkpoint is at least twenty times what writing it took, so that
    /// checkpoints cost at most about 5% of training (every epoch for the CNN; every few dozen
    /// for a logistic regression whose epochs take milliseconds).
    pub(crate) fn due(&self, finished: bool) -> bool {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        finished
            || last
                .written
                .is_none_or(|(at, took)| at.elapsed() >= took * 20)
    }

    /// The last completed epoch of a sound checkpoint here and the seconds of training up to
    /// it, if there is one.
    pub fn completed(&self) -> Option<(usize, f64)> {
        self.read_state()
            .ok()
            .flatten()
            .map(|s| (s.epoch, s.seconds))
    }

    fn read_state(&self) -> Result<Option<State>, String> {
        let path = self.dir.join(STATE_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let state: State = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{} is damaged: {e}", path.display()))?;
        if state.format != FORMAT {
            return Err(format!(
                "{} is of checkpoint format {}, this shapeclf writes {FORMAT}",
                path.display(),
                state.format
            ));
        }
        for f in [
            Some(&state.net),
            Some(&state.optim),
            state.best.as_ref().map(|b| &b.net),
        ]
        .into_iter()
        .flatten()
        {
            self.read_file(f)?;
        }
        Ok(Some(state))
    }

    /// A checkpoint file's bytes, checked against the hash `state.json` recorded.
    fn read_file(&self, f: &FileRef) -> Result<Vec<u8>, String> {
        // Only a plain name inside the folder: an edited state file cannot point elsewhere.
        if f.file.contains(['/', '\\']) || f.file.starts_with('.') {
            return Err(format!("checkpoint file name {:?} is not allowed", f.file));
        }
        let path = self.dir.join(&f.file);
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if crate::features::hash_hex(&bytes) != f.hash {
            return Err(format!(
                "{} does not match its recorded hash",
                path.display()
            ));
        }
        Ok(bytes)
    }

    /// Loads the checkpoint: the network `fresh` (a newly built one, whose weights are replaced)
    /// with the saved weights, the optimiser `optim` with the saved state, and the rest.
    /// `Ok(None)` when there is no checkpoint; an error when there is one that cannot be used.
    pub(crate) fn load<N: Module>(
        &self,
        fresh: N,
        optim: ModuleOptimizer,
        mut rng: ChaCha8Rng,
    ) -> Result<Option<Restored<N>>, String> {
        let Some(state) = self.read_state()? else {
            return Ok(None);
        };
        let module = |f: &FileRef, into: N| -> Result<N, String> {
            let bytes = self.read_file(f)?;
            let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
                .map_err(|e| format!("{}: {e}", f.file))?;
            into.try_load_record(record)
                .map_err(|e| format!("{} does not fit the network: {e}", f.file))
        };
        // Taken to inference mode at once: a module's clone shares its batch-norm running
        // statistics with the original, so loading the last epoch's weights into `fresh` next
        // would overwrite the best epoch's statistics; `valid()` gives the best its own copy.
        let best = match &state.best {
            Some(b) => Some(module(&b.net, fresh.clone())?.valid()),
            None => None,
        };
        let net = module(&state.net, fresh)?;
        let bytes = self.read_file(&state.optim)?;
        let record = OptimizerRecord::from_bytes(Bytes::from_bytes_vec(bytes))
            .map_err(|e| format!("{}: {e}", state.optim.file))?;
        let optim = optim.load_record(record);
        let pos: u128 = state
            .rng_word_pos
            .parse()
            .map_err(|_| format!("{STATE_FILE}: bad generator position"))?;
        rng.set_word_pos(pos);
        self.last.lock().unwrap_or_else(|e| e.into_inner()).best = state.best.clone();
        Ok(Some(Restored {
            state,
            net,
            optim,
            best,
            rng,
        }))
    }

    /// Writes the checkpoint of the epoch `s` describes: the network `net` (the autodiff one,
    /// which is also the best epoch's weights when `s.best` is this epoch) and `optim`, then
    /// `state.json`, then removes the files no checkpoint names any more.
    pub(crate) fn save<N: Module>(
        &self,
        s: &Snapshot<'_>,
        net: &N,
        best_net: Option<&N>,
        optim: &ModuleOptimizer,
    ) -> std::io::Result<()> {
        let began = Instant::now();
        std::fs::create_dir_all(&self.dir)?;
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let write = |name: String, bytes: Vec<u8>| -> std::io::Result<FileRef> {
            write_bytes_atomic(&self.dir.join(&name), &bytes)?;
            Ok(FileRef {
                hash: crate::features::hash_hex(&bytes),
                file: name,
            })
        };
        let other = |e: burn::store::RecordError| std::io::Error::other(e.to_string());
        let net_bytes = net.clone().into_record().into_bytes().map_err(other)?;
        let net_ref = write(format!("epoch-{}.net.bpk", s.epoch), net_bytes.to_vec())?;
        let optim_bytes = optim.to_record().into_bytes().map_err(other)?;
        let optim_ref = write(format!("epoch-{}.optim.bpk", s.epoch), optim_bytes.to_vec())?;
        let best = match s.best {
            None => None,
            Some((accuracy, loss, epoch)) => {
                let net = if epoch == s.epoch {
                    net_ref.clone()
                } else {
                    // An earlier epoch's: the previous checkpoint kept its weights when that
                    // epoch was already the best then; else (it came between two checkpoints)
                    // they are written now, from the copy the loop holds.
                    match last.best.as_ref().filter(|b| b.epoch == epoch) {
                        Some(b) => b.net.clone(),
                        None => {
                            let m = best_net.ok_or_else(|| {
                                std::io::Error::other(format!(
                                    "the best epoch {epoch}'s weights are neither in the previous checkpoint nor given"
                                ))
                            })?;
                            let bytes = m.clone().into_record().into_bytes().map_err(other)?;
                            write(format!("epoch-{epoch}.best.bpk"), bytes.to_vec())?
                        }
                    }
                };
                Some(Best {
                    accuracy,
                    loss,
                    epoch,
                    net,
                })
            }
        };
        let state = State {
            format: FORMAT,
            epoch: s.epoch,
            step: s.step,
            samples: s.samples,
            seconds: s.seconds,
            rng_word_pos: s.rng.get_word_pos().to_string(),
            history: s.history.to_vec(),
            best,
            since_best: s.since_best,
            finished: s.finished,
            net: net_ref,
            optim: optim_ref,
        };
        let json = serde_json::to_vec_pretty(&state).map_err(std::io::Error::other)?;
        write_bytes_atomic(&self.dir.join(STATE_FILE), &json)?;
        // Files of older checkpoints: no longer named, so no longer needed.
        let keep: Vec<&str> = [
            Some(&state.net),
            Some(&state.optim),
            state.best.as_ref().map(|b| &b.net),
        ]
        .into_iter()
        .flatten()
        .map(|f| f.file.as_str())
        .collect();
        for e in std::fs::read_dir(&self.dir)?.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name != STATE_FILE && !keep.contains(&name.as_ref()) {
                let _ = std::fs::remove_file(e.path());
            }
        }
        last.best = state.best;
        last.written = Some((Instant::now(), began.elapsed()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{Activation, Classifier, CnnConfig, Input, ModelKind, NetConfig, Network};
    use crate::train::TrainConfig;
    use burn::tensor::{Device, Tensor, TensorData};

    fn optim() -> ModuleOptimizer {
        TrainConfig::defaults(ModelKind::Mlp).optimizer()
    }

    /// `epochs` epochs of made-up numbers.
    fn history(epochs: usize) -> Vec<EpochStats> {
        (1..=epochs)
            .map(|epoch| EpochStats {
                epoch,
                loss: 1.0,
                train_accuracy: 0.5,
                val_accuracy: Some(0.5),
                val_loss: Some(1.0),
            })
            .collect()
    }

    /// The end of `epoch`, whose best epoch so far is `best`.
    fn snapshot<'a>(
        rng: &'a ChaCha8Rng,
        history: &'a [EpochStats],
        epoch: usize,
        best: usize,
    ) -> Snapshot<'a> {
        Snapshot {
            epoch,
            step: epoch,
            samples: epoch,
            seconds: 0.0,
            rng,
            history: &history[..epoch],
            best: Some((0.5, 1.0, best)),
            since_best: epoch - best,
            finished: false,
        }
    }

    #[test]
    fn a_best_epoch_between_two_checkpoints_is_saved_with_the_later_one() {
        let dir = tempfile::tempdir().unwrap();
        let ad = Device::flex().autodiff();
        let network = Network::Dense(NetConfig {
            inputs: 3,
            classes: 3,
            hidden: vec![4],
            activation: Activation::Relu,
            dropout: 0.0,
        });
        let x = || {
            let v = vec![0.3f32, -1.0, 2.0];
            Tensor::<2>::from_data(TensorData::new(v, [1, 3]), &Device::flex())
        };
        let logits = |n: &Classifier| -> Vec<f32> {
            let l = n.valid().logits(Input::Rows(x()));
            l.into_data().try_to_vec().unwrap()
        };
        // Three networks with their own weights (drawn on first use).
        let nets: Vec<Classifier> = (0..3)
            .map(|_| {
                let n = network.init(&ad);
                logits(&n);
                n
            })
            .collect();
        assert_ne!(logits(&nets[1]), logits(&nets[2]));
        let rng = crate::seeding::rng(0, crate::seeding::Stream::DescriptorBatches);
        let history = history(3);
        let ck = Checkpoints::new(dir.path().join("ck"));
        ck.save(
            &snapshot(&rng, &history, 1, 1),
            &nets[0],
            Some(&nets[0]),
            &optim(),
        )
        .unwrap();
        // Epoch 2 became the best while no checkpoint was due (a throttled checkpoint skips
        // epochs): epoch 3's checkpoint must carry epoch 2's weights, from the loop's copy.
        let at_3 = snapshot(&rng, &history, 3, 2);
        assert!(
            Checkpoints::new(dir.path().join("other"))
                .save(&at_3, &nets[2], None, &optim())
                .is_err(),
            "without them, it cannot be written"
        );
        ck.save(&at_3, &nets[2], Some(&nets[1]), &optim()).unwrap();
        let r = ck
            .load(network.init(&ad), optim(), rng.clone())
            .unwrap()
            .expect("a checkpoint");
        assert_eq!(r.state.epoch, 3);
        assert_eq!(logits(&r.net), logits(&nets[2]));
        assert_eq!(logits(&r.best.expect("the best epoch")), logits(&nets[1]));
    }

    /// A CNN's best epoch restored from a checkpoint predicts as it did when it was the best:
    /// its batch-norm running statistics are its own, not the last epoch's (a module's clone
    /// shares them, and the last epoch's weights are loaded after the best's).
    #[test]
    fn a_restored_best_epoch_keeps_its_own_batch_norm_statistics() {
        let dir = tempfile::tempdir().unwrap();
        let ad = Device::flex().autodiff();
        let network = Network::Cnn(CnnConfig {
            channels: vec![4, 8],
            features: 8,
            ..CnnConfig::new(2, 8, 2)
        });
        let views = |d: &Device, k: f32| {
            let v: Vec<f32> = (0..4 * 2 * 64)
                .map(|i| ((i % 13) as f32 * k) / 13.0)
                .collect();
            Tensor::<4>::from_data(TensorData::new(v, [4, 2, 8, 8]), d)
        };
        let logits = |n: &Classifier| -> Vec<f32> {
            let x = Input::Views(views(&Device::flex(), 0.5));
            n.valid().logits(x).into_data().try_to_vec().unwrap()
        };
        // Training steps move the weights and the running statistics.
        let mut net = network.init(&ad);
        let mut opt = optim();
        let mut step = |net: Classifier, k: f32| {
            let l = net.logits(Input::Views(views(&ad, k)));
            let loss = crate::models::nll_loss(l, &[0, 1, 0, 1], &[1.0; 4]);
            let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &net);
            opt.step(0.1, net, grads)
        };
        net = step(net, 0.3);
        let best = net.valid();
        let want = logits(&best);
        for k in [0.2f32, 0.9, 0.4] {
            net = step(net, k);
        }
        assert_ne!(logits(&net), want);
        let rng = crate::seeding::rng(0, crate::seeding::Stream::ViewBatches);
        let history = history(2);
        let ck = Checkpoints::new(dir.path().join("ck"));
        ck.save(&snapshot(&rng, &history, 2, 1), &net, Some(&best), &optim())
            .unwrap();
        let r = ck
            .load(network.init(&ad), optim(), rng.clone())
            .unwrap()
            .expect("a checkpoint");
        assert_eq!(logits(&r.best.expect("the best epoch")), want);
        assert_eq!(logits(&r.net), logits(&net));
    }
}
