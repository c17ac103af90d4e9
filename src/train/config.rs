//! Settings of a training run, stored in `RUN/config.json` and in every checkpoint.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::device::DeviceChoice;
use crate::model::{Arch, ModelConfig};

/// Settings of a training run. Fields marked "fixed" must stay the same when a run resumes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Prepared dataset folder (from `kao prepare`). Fixed.
    pub data: PathBuf,
    /// Run folder for checkpoints, samples and metrics.
    pub output: PathBuf,
    /// Network shape. Fixed.
    pub model: ModelConfig,
    /// Epochs to train in total; a resumed run stops at the same total.
    pub epochs: u64,
    /// Optimizer steps after which this invocation stops, counted from the run's start.
    pub max_steps: Option<u64>,
    /// Wall-clock seconds after which this invocation saves a checkpoint and stops.
    pub max_seconds: Option<f64>,
    /// Images per optimizer step. Fixed.
    pub batch_size: usize,
    /// Adam learning rate of both networks. Fixed.
    pub lr: f64,
    /// Adam's first-moment decay; 0.5 as in DCGAN. Fixed.
    pub beta1: f32,
    /// Adam's second-moment decay. Fixed.
    pub beta2: f32,
    /// Seed of every random choice: weights, latents, data order and flips. Fixed.
    pub seed: u64,
    /// Flip real images horizontally at random. Fixed.
    pub flip: bool,
    /// Compute device.
    pub device: DeviceChoice,
    /// Newest checkpoints kept; older ones are deleted, except those of `keep_epochs`.
    pub keep_checkpoints: usize,
    /// Epochs whose end-of-epoch checkpoints are never deleted, so runs can be compared at
    /// those points. The usual comparison points are epochs 10, 50, 100 and 200.
    #[serde(default = "default_keep_epochs")]
    pub keep_epochs: Vec<u64>,
    /// A line is written to `metrics.jsonl` every this many steps.
    pub log_every: u64,
    /// Faces in each epoch's sample grid, always from the same latents.
    pub sample_count: usize,
    /// Probability that a StyleGAN training batch mixes the styles of two latents at a random
    /// layer (style-mixing regularisation); unused by DCGAN.
    #[serde(default)]
    pub style_mixing: f64,
    /// Half-life, in thousands of real images, of the exponential moving average of G used
    /// for sampling; `None` samples the trained G itself (DCGAN's default).
    #[serde(default)]
    pub ema_kimg: Option<f64>,
    /// Apply DiffAugment (colour, translation, cutout) to every image D receives.
    #[serde(default)]
    pub diffaugment: bool,
    /// Weight of the finite-difference R1 penalty on D; 0 turns it off.
    #[serde(default)]
    pub r1_gamma: f64,
    /// FID and KID are measured after every this many epochs and logged to `metrics.jsonl`;
    /// `None` measures nothing during training.
    #[serde(default)]
    pub eval_every: Option<u64>,
    /// Generated faces scored at each evaluation, always from seeds 0, 1, 2 and so on.
    #[serde(default = "default_eval_samples")]
    pub eval_samples: usize,
    /// Training images the faces are compared with, drawn once by `seed`; `None` uses all.
    #[serde(default)]
    pub eval_real_samples: Option<usize>,
}

/// Returns the number of generated faces scored at each evaluation during training.
pub fn default_eval_samples() -> usize {
    5000
}

/// Returns the epochs whose checkpoints a run keeps by default.
pub fn default_keep_epochs() -> Vec<u64> {
    vec![10, 50, 100, 200]
}

impl TrainConfig {
    /// Returns the default settings of a new `arch` run at `resolution` pixels.
    pub fn defaults(arch: Arch, resolution: usize, data: PathBuf, output: PathBuf) -> Self {
        // StyleGAN's width of 64 trained at about 21 images/s at 64 px, batch 32, on 2 CPU
        // cores (128 channels: about 9); see docs/stylegan-64.md. The finite-difference R1
        // penalty is off: with StyleGAN2-ADA's weight for this size (0.0002 * 64^2 / 32 =
        // 0.025) two equal-time runs of 60 and 90 minutes scored a worse FID and KID than
        // without it.
        let (latent_dim, channels, batch_size, style_mixing, ema_kimg, diffaugment, r1_gamma) = match arch {
            Arch::Dcgan => (100, 64, 64, 0.0, None, false, 0.0),
            Arch::StyleGan => (crate::model::stylegan::LATENT_DIM, 64, 32, 0.9, Some(10.0), true, 0.0),
        };

        // DCGAN's Adam settings (Radford et al. 2016) and StyleGAN2's (Karras et al. 2020), whose
        // equalised learning rate expects a rate ten times higher and no first-moment decay.
        let (lr, beta1, beta2) = match arch {
            Arch::Dcgan => (2e-4, 0.5, 0.999),
            Arch::StyleGan => (2e-3, 0.0, 0.99),
        };
        Self {
            data,
            output,
            model: ModelConfig { arch, resolution, latent_dim, channels },
            epochs: 25,
            max_steps: None,
            max_seconds: None,
            batch_size,
            lr,
            beta1,
            beta2,
            seed: 0,
            flip: true,
            device: DeviceChoice::Cpu,
            keep_checkpoints: 3,
            keep_epochs: default_keep_epochs(),
            log_every: 10,
            sample_count: 64,
            style_mixing,
            ema_kimg,
            diffaugment,
            r1_gamma,
            eval_every: None,
            eval_samples: default_eval_samples(),
            eval_real_samples: None,
        }
    }

    /// Checks every setting's range, naming the option and the fix.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.model.validate()?;
        if !(self.lr.is_finite() && self.lr > 0.0) {
            anyhow::bail!("invalid --lr {}: use a positive learning rate such as 0.0002", self.lr);
        }
        for (name, value) in [
            ("--batch-size", self.batch_size as u64),
            ("--epochs", self.epochs),
            ("--log-every", self.log_every),
            ("--keep-checkpoints", self.keep_checkpoints as u64),
        ] {
            if value == 0 {
                anyhow::bail!("invalid {name} 0: give at least 1");
            }
        }
        if self.max_seconds.is_some_and(|seconds| seconds <= 0.0) {
            anyhow::bail!("invalid --max-time 0: give a positive duration such as 30m");
        }
        if !(0.0..=1.0).contains(&self.style_mixing) {
            anyhow::bail!("invalid --style-mixing {}: use a probability from 0 to 1", self.style_mixing);
        }
        if let Some(kimg) = self.ema_kimg.filter(|kimg| !(kimg.is_finite() && *kimg > 0.0)) {
            anyhow::bail!("invalid --ema-kimg {kimg}: use a positive number of thousands of images");
        }
        if self.model.arch == crate::model::Arch::Dcgan && self.style_mixing > 0.0 {
            anyhow::bail!("--style-mixing applies to --arch stylegan only; DCGAN has no styles to mix");
        }
        if self.model.arch == crate::model::Arch::Dcgan && self.ema_kimg.is_some() {
            anyhow::bail!("--ema-kimg applies to --arch stylegan only; DCGAN samples from G itself");
        }
        if !(self.r1_gamma.is_finite() && self.r1_gamma >= 0.0) {
            anyhow::bail!("invalid --r1-gamma {}: use 0 (off) or a positive weight such as 0.025", self.r1_gamma);
        }
        if self.keep_epochs.contains(&0) {
            anyhow::bail!("invalid --keep-epochs 0: epochs are counted from 1");
        }
        if self.eval_every == Some(0) {
            anyhow::bail!("invalid --eval-every 0: give a number of epochs such as 1, or leave it out");
        }
        if self.eval_samples < 2 {
            anyhow::bail!("invalid --eval-samples {}: FID and KID need at least 2 faces", self.eval_samples);
        }
        if let Some(count) = self.eval_real_samples.filter(|&count| count < 2) {
            anyhow::bail!("invalid --eval-real-samples {count}: FID and KID need at least 2 training images");
        }
        if self.max_steps == Some(0) {
            anyhow::bail!("invalid --max-steps 0: give at least 1");
        }
        Ok(())
    }

    /// Lists the fixed settings that differ between a run and a resume request.
    pub fn fixed_differences(&self, other: &TrainConfig) -> Vec<String> {
        let mut differences = Vec::new();
        let mut check = |name: &str, a: String, b: String| {
            if a != b {
                differences.push(format!("{name} is {a} in the run but {b} was requested"));
            }
        };
        check("--arch", format!("{:?}", self.model.arch).to_lowercase(), format!("{:?}", other.model.arch).to_lowercase());
        check("--resolution", self.model.resolution.to_string(), other.model.resolution.to_string());
        check("--latent-dim", self.model.latent_dim.to_string(), other.model.latent_dim.to_string());
        check("--channels", self.model.channels.to_string(), other.model.channels.to_string());
        check("--batch-size", self.batch_size.to_string(), other.batch_size.to_string());
        check("--seed", self.seed.to_string(), other.seed.to_string());
        check("flipping (--no-flip)", self.flip.to_string(), other.flip.to_string());
        check("--diffaugment", self.diffaugment.to_string(), other.diffaugment.to_string());
        check("--r1-gamma", self.r1_gamma.to_string(), other.r1_gamma.to_string());
        check("--style-mixing", self.style_mixing.to_string(), other.style_mixing.to_string());
        differences
    }
}
