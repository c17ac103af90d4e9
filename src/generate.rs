//! Sampling faces from a trained generator.

use std::path::Path;

use anyhow::{Context, Result};
use burn::tensor::{Device, Tensor};
use image::RgbImage;

use crate::model::{GeneratorNet, Latents, ModelConfig};
use crate::train::session::draw_latents;
use crate::model::store::{load_safetensors, read_metadata};
use crate::rng::KaoRng;
use crate::train::checkpoint::{MODEL_CONFIG_KEY, resolve_generator};

/// Images generated per forward pass.
const GENERATE_BATCH: usize = 64;

/// A generator loaded for inference (no autodiff, BatchNorm in inference mode).
pub struct LoadedGenerator {
    pub config: ModelConfig,
    generator: GeneratorNet,
    device: Device,
}

impl LoadedGenerator {
    /// Loads the generator behind a `--checkpoint` argument (run folder, checkpoint folder or
    /// generator `.safetensors` file).
    pub fn load(checkpoint: &Path, device: Device) -> Result<Self> {
        let file = resolve_generator(checkpoint)?;
        let metadata = read_metadata(&file)?;
        let json = metadata.get(MODEL_CONFIG_KEY).with_context(|| {
            format!("{} has no {MODEL_CONFIG_KEY} metadata; pass a generator file written by kao", file.display())
        })?;
        let config: ModelConfig =
            serde_json::from_str(json).with_context(|| format!("{} has an invalid model config", file.display()))?;
        config.validate()?;
        let generator = load_safetensors(GeneratorNet::new(&config, &device, None), &file)?;
        Ok(Self { config, generator, device })
    }

    /// Runs the generator on latents `z` of shape `[batch, latent_dim]`, without noise.
    pub fn forward(&self, z: Tensor<2>) -> Tensor<4> {
        let noise = vec![None; self.generator.noise_resolutions().len()];
        self.generator.forward(Latents { z, mix: None, noise }, false)
    }

    /// Generates `count` faces; face `i` of seed `s` is the same whatever `count` is.
    pub fn generate(&self, count: usize, seed: u64) -> Vec<RgbImage> {
        let mut images = Vec::with_capacity(count);
        self.generate_each(count, seed, |_, image| {
            images.push(image);
            Ok(())
        })
        .expect("collecting images cannot fail");
        images
    }

    /// Generates `count` faces in batches and passes each with its index to `visit`, so memory
    /// stays bounded however many faces are requested.
    pub fn generate_each(
        &self,
        count: usize,
        seed: u64,
        mut visit: impl FnMut(usize, RgbImage) -> Result<()>,
    ) -> Result<()> {
        let mut rng = KaoRng::for_purpose(seed, "generate");
        let latent_dim = self.config.latent_dim;
        let mut index = 0;
        while index < count {
            let batch = GENERATE_BATCH.min(count - index);
            let latents =
                draw_latents(&mut rng, batch, latent_dim, &self.generator.noise_resolutions(), 0.0, &self.device);
            for image in crate::imageio::tensor_to_images(self.generator.forward(latents, false)) {
                visit(index, image)?;
                index += 1;
            }
        }
        Ok(())
    }
}
