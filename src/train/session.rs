//! The networks, optimizers and counters of a run, and one joint GAN step.

use std::path::Path;

use anyhow::{Context, Result};
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};

use super::checkpoint::{
    self, CheckpointWriter, DISCRIMINATOR_FILE, GENERATOR_EMA_FILE, GENERATOR_FILE, OPTIMIZER_D_FILE,
    OPTIMIZER_G_FILE, TrainState,
};
use super::config::TrainConfig;
use super::ema;
use crate::data::loader::Batch;
use super::augment::diff_augment;
use crate::loss::{d_logistic_loss, d_r1_finite_difference, g_nonsaturating_loss, mean_probability};
use crate::model::store::{load_safetensors, save_safetensors};
use crate::model::path::{NamedTensor, named_tensors};
use crate::model::{DiscriminatorNet, GeneratorNet, Latents, frozen, tensor_values};
use crate::rng::KaoRng;

/// Steps between R1 penalty evaluations (lazy regularisation).
const R1_INTERVAL: u64 = 4;
/// Step size, in [-1, 1] pixel units, of the finite-difference R1 estimate.
const R1_EPSILON: f64 = 0.01;

/// Losses and D's outputs of one step, read back from the device.
#[derive(Clone, Copy, Debug)]
pub struct StepStats {
    pub loss_d: f64,
    pub loss_g: f64,
    pub d_real: f64,
    pub d_fake: f64,
}

impl StepStats {
    /// Names the first loss or D output that is NaN or infinite, with its value.
    pub fn first_non_finite(&self) -> Option<(&'static str, f64)> {
        [("loss_d", self.loss_d), ("loss_g", self.loss_g), ("d_real", self.d_real), ("d_fake", self.d_fake)]
            .into_iter()
            .find(|(_, value)| !value.is_finite())
    }
}

/// Everything that changes while a run trains.
pub struct Session {
    pub generator: GeneratorNet,
    pub discriminator: DiscriminatorNet,
    /// Moving average of G on the device without autodiff, when the run keeps one.
    pub ema: Option<GeneratorNet>,
    optimizer_g: ModuleOptimizer,
    optimizer_d: ModuleOptimizer,
    pub latent_rng: KaoRng,
    pub state: TrainState,
    device: Device,
}

fn adam(config: &TrainConfig) -> ModuleOptimizer {
    // epsilon 1e-8 as in PyTorch's Adam, which the DCGAN settings were tuned with.
    AdamConfig::new().with_beta_1(config.beta1).with_beta_2(config.beta2).with_epsilon(1e-8).init()
}

impl Session {
    /// Starts a run from freshly initialised networks; `device` must have autodiff enabled.
    pub fn new(config: TrainConfig, device: Device) -> Self {
        let mut init_rng = KaoRng::for_purpose(config.seed, "weights");
        let generator = GeneratorNet::new(&config.model, &device, Some(&mut init_rng));
        let discriminator = DiscriminatorNet::new(&config.model, &device, Some(&mut init_rng));
        let ema = config.ema_kimg.map(|_| generator.valid());
        let latent_rng = KaoRng::for_purpose(config.seed, "latents");
        let state = TrainState {
            format_version: checkpoint::FORMAT_VERSION,
            epoch: 0,
            step_in_epoch: 0,
            step: 0,
            images_seen: 0,
            latent_rng: latent_rng.state(),
            train_seconds: 0.0,
            config: config.clone(),
        };
        Self {
            optimizer_g: adam(&config),
            optimizer_d: adam(&config),
            generator,
            discriminator,
            ema,
            latent_rng,
            state,
            device,
        }
    }

    /// Restores a run from a checkpoint folder, with `config` replacing the saved settings that
    /// may change between pieces of a run (limits, device, logging).
    pub fn resume(checkpoint: &Path, config: TrainConfig, device: Device) -> Result<Self> {
        let mut state = checkpoint::read_state(checkpoint)?;
        let model = &state.config.model;
        let generator = load_safetensors(GeneratorNet::new(model, &device, None), &checkpoint.join(GENERATOR_FILE))?;
        let discriminator =
            load_safetensors(DiscriminatorNet::new(model, &device, None), &checkpoint.join(DISCRIMINATOR_FILE))?;
        let ema = match state.config.ema_kimg {
            Some(_) => Some(load_safetensors(
                GeneratorNet::new(model, &device.clone().inner(), None),
                &checkpoint.join(GENERATOR_EMA_FILE),
            )?),
            None => None,
        };
        let optimizer_g = load_optimizer(adam(&config), &checkpoint.join(OPTIMIZER_G_FILE))?;
        let optimizer_d = load_optimizer(adam(&config), &checkpoint.join(OPTIMIZER_D_FILE))?;
        let latent_rng = KaoRng::from_state(&state.latent_rng)?;
        state.config = config;
        Ok(Self { generator, discriminator, ema, optimizer_g, optimizer_d, latent_rng, state, device })
    }

    /// Draws one batch of generator inputs with the run's own random generator: z from N(0, I),
    /// for StyleGAN also a second z for style mixing and per-layer N(0, 1) noise.
    pub fn sample_latents(&mut self, count: usize) -> Latents {
        draw_latents(
            &mut self.latent_rng,
            count,
            self.state.config.model.latent_dim,
            &self.generator.noise_resolutions(),
            self.state.config.style_mixing,
            &self.device,
        )
    }

    /// Runs one joint step: D learns to tell `batch` from G's fakes, then G learns to fool the
    /// updated D on the same fakes. Both networks move every step.
    pub fn step(&mut self, batch: Batch) -> StepStats {
        let lr = self.state.config.lr;
        let shape = [batch.batch_size, 3, batch.height, batch.width];
        let real = Tensor::<4>::from_data(TensorData::new(batch.pixels, shape), &self.device);
        let latents = self.sample_latents(batch.batch_size);
        let fake = self.generator.forward(latents, true);

        // D step: the fakes are detached so D's loss does not reach G.
        let real = self.augment(real);
        let fake_for_d = self.augment(fake.clone().detach());
        let real_logits = self.discriminator.forward(real.clone());
        let fake_logits = self.discriminator.forward(fake_for_d);
        let d_real = mean_probability(real_logits.clone().detach());
        let d_fake = mean_probability(fake_logits.clone().detach());
        let loss_d = d_logistic_loss(real_logits.clone(), fake_logits);
        let loss_d_total = match self.state.step % R1_INTERVAL == 0 && self.state.config.r1_gamma > 0.0 {
            true => loss_d.clone() + self.r1_penalty(real, real_logits),
            false => loss_d.clone(),
        };
        let grads = GradientsParams::from_grads(loss_d_total.backward(), &self.discriminator);
        self.discriminator = self.optimizer_d.step(lr, self.discriminator.clone(), grads);

        // G step through the updated D; G's forward graph is still intact because only the
        // detached copy went through D's backward. D's weights are constants in this pass, so
        // the backward pass computes no D weight gradients, which G's update would not use.
        let fake = self.augment(fake);
        let loss_g = g_nonsaturating_loss(frozen(self.discriminator.clone()).forward(fake));
        let grads = GradientsParams::from_grads(loss_g.backward(), &self.generator);
        self.generator = self.optimizer_g.step(lr, self.generator.clone(), grads);
        if let (Some(average), Some(kimg)) = (self.ema.take(), self.state.config.ema_kimg) {
            let beta = ema::ema_beta(batch.batch_size, kimg * 1000.0);
            self.ema = Some(ema::update(average, &self.generator, beta));
        }

        self.state.step += 1;
        self.state.step_in_epoch += 1;
        self.state.images_seen += batch.batch_size as u64;
        StepStats {
            loss_d: scalar(loss_d),
            loss_g: scalar(loss_g),
            d_real: scalar(d_real),
            d_fake: scalar(d_fake),
        }
    }

    /// Applies DiffAugment when the run uses it; draws come from the run's own generator.
    fn augment(&mut self, img: Tensor<4>) -> Tensor<4> {
        match self.state.config.diffaugment {
            true => diff_augment(img, &mut self.latent_rng),
            false => img,
        }
    }

    /// Computes this step's R1 penalty term: the finite-difference estimate on `real`, weighted
    /// by gamma / 2 and by the interval (lazy regularisation, Karras et al. 2020).
    fn r1_penalty(&mut self, real: Tensor<4>, real_logits: Tensor<1>) -> Tensor<1> {
        let shape = real.dims();
        let direction = self.latent_rng.normal_vec(shape.iter().product());
        let direction = Tensor::<4>::from_data(TensorData::new(direction, shape), &self.device);
        let perturbed = real.detach() + direction.mul_scalar(R1_EPSILON);
        let perturbed_logits = self.discriminator.forward(perturbed);
        let weight = self.state.config.r1_gamma * 0.5 * R1_INTERVAL as f64;
        d_r1_finite_difference(real_logits, perturbed_logits, R1_EPSILON).mul_scalar(weight)
    }

    /// Names the first weight or running statistic of G, D or G's moving average that contains a
    /// NaN or an infinity, if any.
    pub fn first_non_finite_weight(&self) -> Option<String> {
        let find = |network: &str, tensors: Vec<NamedTensor>| {
            tensors
                .into_iter()
                .find(|tensor| tensor_values(tensor.values.clone()).iter().any(|value| !value.is_finite()))
                .map(|tensor| format!("{network} {}", tensor.path))
        };
        find("G", named_tensors(&self.generator.valid()))
            .or_else(|| find("D", named_tensors(&self.discriminator.valid())))
            .or_else(|| self.ema.as_ref().and_then(|average| find("G's moving average", named_tensors(average))))
    }

    /// Writes a checkpoint of the current state and prunes old ones.
    pub fn save_checkpoint(&mut self, run: &Path) -> Result<std::path::PathBuf> {
        self.state.latent_rng = self.latent_rng.state();
        let writer = CheckpointWriter::begin(run, self.state.step)?;
        let metadata = checkpoint::generator_metadata(&self.state.config.model);
        save_safetensors(&self.generator, &writer.file(GENERATOR_FILE), metadata.clone())?;
        if let Some(average) = &self.ema {
            save_safetensors(average, &writer.file(GENERATOR_EMA_FILE), metadata.clone())?;
        }
        save_safetensors(&self.discriminator, &writer.file(DISCRIMINATOR_FILE), metadata)?;
        save_optimizer(&self.optimizer_g, &writer.file(OPTIMIZER_G_FILE))?;
        save_optimizer(&self.optimizer_d, &writer.file(OPTIMIZER_D_FILE))?;
        writer.finish(&self.state, self.state.config.keep_checkpoints, &self.state.config.keep_epochs)
    }
}

/// Draws generator inputs from `rng`: `z`, with probability `mixing` a second latent and a
/// crossover layer, and one noise map per entry of `noise_resolutions`.
pub fn draw_latents(
    rng: &mut KaoRng,
    count: usize,
    latent_dim: usize,
    noise_resolutions: &[usize],
    mixing: f64,
    device: &Device,
) -> Latents {
    let mut normal = |shape: Vec<usize>| {
        let values = rng.normal_vec(shape.iter().product());
        TensorData::new(values, shape)
    };
    let z = Tensor::from_data(normal(vec![count, latent_dim]), device);
    let noise = noise_resolutions
        .iter()
        .map(|&size| Some(Tensor::from_data(normal(vec![count, 1, size, size]), device)))
        .collect();
    let mix = if noise_resolutions.is_empty() || f64::from(rng.uniform()) >= mixing {
        None
    } else {
        let z2 = Tensor::from_data(TensorData::new(rng.normal_vec(count * latent_dim), [count, latent_dim]), device);
        // ws has one more entry than there are styled convolutions (the last toRGB's).
        let cutoff = 1 + rng.below(noise_resolutions.len());
        Some((z2, cutoff))
    };
    Latents { z, mix, noise }
}

fn scalar(tensor: Tensor<1>) -> f64 {
    let values: Vec<f32> = crate::model::tensor_values(tensor);
    f64::from(values[0])
}

fn save_optimizer(optimizer: &ModuleOptimizer, path: &Path) -> Result<()> {
    optimizer.save(path).map_err(|error| anyhow::anyhow!("failed to write {}: {error:?}", path.display()))
}

fn load_optimizer(optimizer: ModuleOptimizer, path: &Path) -> Result<ModuleOptimizer> {
    optimizer
        .load(path)
        .map_err(|error| anyhow::anyhow!("{error:?}"))
        .with_context(|| format!("failed to read optimizer state {}", path.display()))
}
