//! FID and KID during training (`--eval-every`): the run's generator scored at the end of
//! chosen epochs against a fixed set of training images, logged to `metrics.jsonl`.

use anyhow::Result;
use burn::module::Module;
use burn::tensor::Device;

use super::config::TrainConfig;
use super::metrics::EvalMetrics;
use super::session::Session;
use crate::data::PACKED_FILE_NAME;
use crate::data::packed::PackedFaces;
use crate::generate::LoadedGenerator;
use crate::metrics::features::{DEFAULT_BATCH, FeatureExtractor, Features, ImageSource, packed_subset};
use crate::metrics::{self, eval, weights};

/// Seed of the first scored face, so every evaluation of a run scores the same latents.
const FIRST_SEED: u64 = 0;

/// The Inception network and the training images' features, loaded once per invocation.
pub struct TrainEvaluator {
    extractor: FeatureExtractor,
    real: Features,
    real_indices: Vec<usize>,
    every: u64,
    samples: usize,
}

impl TrainEvaluator {
    /// Loads the network and computes (or reads from the cache) the training images'
    /// features; returns `None` when the run does not evaluate. `device` has no autodiff.
    pub fn open(config: &TrainConfig, device: Device) -> Result<Option<Self>> {
        let Some(every) = config.eval_every else {
            return Ok(None);
        };
        let home = weights::kao_home()?;
        let weights_file = weights::locate_inception(&home)?;
        let extractor = FeatureExtractor::new(&weights_file, device, DEFAULT_BATCH)?;

        let packed_file = config.data.join(PACKED_FILE_NAME);
        let source = packed_subset(PackedFaces::open(&packed_file)?, config.eval_real_samples, config.seed);
        let real = metrics::cached_features(&home, &extractor, &source, Some(&packed_file), "training set")?;
        let ImageSource::Packed { indices, .. } = source else { unreachable!("packed_subset returns a packed source") };
        Ok(Some(Self { extractor, real, real_indices: indices, every, samples: config.eval_samples }))
    }

    /// Returns true when the epoch just completed (counted from 1) is one to evaluate at.
    pub fn is_due(&self, epoch: u64) -> bool {
        epoch % self.every == 0
    }

    /// Scores the generator that samples are drawn from (the moving average when the run
    /// keeps one) and returns the metrics line.
    // NOTE: Ctrl-C is honoured only after the evaluation, which takes minutes at the default
    // 5,000 faces on a CPU; a second Ctrl-C exits at once without a checkpoint.
    pub fn score(&self, session: &Session) -> Result<EvalMetrics> {
        let state = &session.state;
        let generator = match &session.ema {
            Some(average) => average.clone(),
            None => session.generator.valid(),
        };
        let device = super::generator_device(&generator);
        let generator = LoadedGenerator::from_net(state.config.model.clone(), generator, device);

        let mut progress = crate::cli::progress::CountProgress::new(self.samples as u64, "evaluation");
        let evaluation = eval::evaluate(
            &generator,
            &self.extractor,
            &self.real,
            &self.real_indices,
            self.samples,
            FIRST_SEED,
            |done| progress.set(done as u64),
        )?;
        progress.finish();
        Ok(EvalMetrics {
            step: state.step,
            epoch: state.epoch,
            images_seen: state.images_seen,
            fid: evaluation.scores.fid,
            kid: evaluation.scores.kid,
            eval_samples: evaluation.scores.count_a,
            real_samples: evaluation.scores.count_b,
        })
    }
}
