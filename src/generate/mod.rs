//! Sampling faces from a trained generator, with the StyleGAN controls.

pub mod controls;
pub mod weights;

use std::path::Path;

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;

use controls::{Controls, Level, noise_applies, ws_sizes};

use crate::model::stylegan::{Generator as StyleGenerator, NoiseMode};
use crate::model::{Arch, GeneratorNet, Latents, ModelConfig};
use crate::model::store::{Precision, load_safetensors_bytes, metadata_of, save_safetensors_as};
use crate::rng::KaoRng;
use crate::train::checkpoint::{MODEL_CONFIG_KEY, STATE_FILE, TRAINING_KEY, TrainingSummary, generator_metadata, read_state};
use weights::Weights;

/// Images generated per forward pass.
const GENERATE_BATCH: usize = 64;

/// A generator loaded for inference (no autodiff, BatchNorm in inference mode).
pub struct LoadedGenerator {
    pub config: ModelConfig,
    /// Training summary, when the weights file or its checkpoint folder records one.
    pub training: Option<TrainingSummary>,
    generator: GeneratorNet,
    device: Device,
}

impl LoadedGenerator {
    /// Loads the generator behind a `--checkpoint` argument (run folder, checkpoint folder or
    /// generator `.safetensors` file). In a folder, the moving average of G is preferred.
    pub fn load(checkpoint: &Path, device: Device) -> Result<Self> {
        Self::from_weights(&Weights::resolve(Some(checkpoint))?, device)
    }

    /// Loads a generator from weights already read.
    pub fn from_weights(weights: &Weights, device: Device) -> Result<Self> {
        let (config, training) = describe(weights)?;
        let name = weights.name();
        let generator = load_safetensors_bytes(GeneratorNet::new(&config, &device, None), weights.bytes(), &name)?;
        Ok(Self { config, training, generator, device })
    }

    /// Wraps a generator that is already in memory, such as the one a training run holds;
    /// `device` must have no autodiff.
    pub fn from_net(config: ModelConfig, generator: GeneratorNet, device: Device) -> Self {
        Self { config, training: None, generator, device }
    }

    /// Writes the generator to `path` in `precision`, with its model config and training
    /// summary in the metadata, so the file needs no checkpoint folder beside it.
    pub fn save(&self, path: &Path, precision: Precision) -> Result<()> {
        let mut metadata = generator_metadata(&self.config);
        if let Some(training) = &self.training {
            metadata.insert(TRAINING_KEY.to_string(), serde_json::to_string(training)?);
        }
        save_safetensors_as(&self.generator, path, metadata, precision)
    }

    /// Runs the generator on latents `z` of shape `[batch, latent_dim]`, without noise.
    pub fn forward(&self, z: Tensor<2>) -> Tensor<4> {
        let noise = vec![None; self.generator.noise_resolutions().len()];
        self.generator.forward(Latents { z, mix: None, noise }, false)
    }

    /// Generates the faces of seeds `seed`, `seed + 1`, ... `seed + count - 1`.
    pub fn generate(&self, count: usize, seed: u64) -> Vec<RgbImage> {
        let mut images = Vec::with_capacity(count);
        self.generate_each(count, seed, &Controls::default(), |_, image| {
            images.push(image);
            Ok(())
        })
        .expect("default controls are valid and collecting images cannot fail");
        images
    }

    /// Generates faces of consecutive seeds in batches and passes each with its index to
    /// `visit`, so memory stays bounded however many faces are requested.
    pub fn generate_each(
        &self,
        count: usize,
        seed: u64,
        controls: &Controls,
        mut visit: impl FnMut(usize, RgbImage) -> Result<()>,
    ) -> Result<()> {
        let mut index = 0;
        while index < count {
            let batch = GENERATE_BATCH.min(count - index);
            let seeds: Vec<u64> = (0..batch as u64).map(|offset| seed.wrapping_add(index as u64 + offset)).collect();
            for image in self.render(&seeds, controls)? {
                visit(index, image)?;
                index += 1;
            }
        }
        Ok(())
    }

    /// Renders one face per seed with `controls`. DCGAN models accept only default controls.
    pub fn render(&self, seeds: &[u64], controls: &Controls) -> Result<Vec<RgbImage>> {
        controls.validate()?;
        let images = match &self.generator {
            GeneratorNet::Dcgan(_) => {
                let changed = controls.changed_options();
                if !changed.is_empty() {
                    bail!(
                        "{} need a StyleGAN model (trained with --arch stylegan); this DCGAN model has no styles or noise inputs",
                        changed.join(", ")
                    );
                }
                self.forward(self.latents(seeds))
            }
            GeneratorNet::StyleGan(net) => self.render_styles(net, seeds, controls),
        };
        Ok(crate::imageio::tensor_to_images(images))
    }

    /// Latents `[seeds, latent_dim]`, one row drawn from each seed.
    pub fn latents(&self, seeds: &[u64]) -> Tensor<2> {
        let dim = self.config.latent_dim;
        let values: Vec<f32> = seeds.iter().flat_map(|&seed| KaoRng::for_purpose(seed, "z").normal_vec(dim)).collect();
        Tensor::from_data(TensorData::new(values, [seeds.len(), dim]), &self.device)
    }

    /// Computes the styles of each seed's face after mixing and truncation, `[seeds, num_ws, 512]`.
    pub fn styles(&self, seeds: &[u64], controls: &Controls) -> Result<Tensor<3>> {
        match &self.generator {
            GeneratorNet::StyleGan(net) => Ok(self.ws(net, seeds, controls)),
            GeneratorNet::Dcgan(_) => bail!("a DCGAN model has no styles"),
        }
    }

    fn ws(&self, net: &StyleGenerator, seeds: &[u64], controls: &Controls) -> Tensor<3> {
        let batch = seeds.len();
        let w = net.mapping.forward(self.latents(seeds));
        let [_, dim] = w.dims();
        let w_mix = controls.mix_seed.map(|seed| net.mapping.forward(self.latents(&[seed])).expand([batch, dim]));
        let w_avg = net.mapping.w_avg.value().to_device(&self.device).reshape([1, dim]);
        let w = match controls.variation_seed {
            Some(seed) => {
                let toward = net.mapping.forward(self.latents(&[seed])) - w_avg.clone();
                w + toward.expand([batch, dim]).mul_scalar(f64::from(controls.variation))
            }
            None => w,
        };

        let layers: Vec<Tensor<3>> = ws_sizes(self.config.resolution)
            .into_iter()
            .map(|size| {
                let mixed = controls.mix_levels.contains(&Level::of_size(size));
                let w = match (&w_mix, mixed) {
                    (Some(w_mix), true) => w_mix.clone(),
                    _ => w.clone(),
                };
                let psi = f64::from(controls.strength_at(size));
                let truncated = w_avg.clone() + (w - w_avg.clone()).mul_scalar(psi);
                truncated.unsqueeze_dim::<3>(1)
            })
            .collect();
        Tensor::cat(layers, 1)
    }

    /// Noise maps for each styled convolution: drawn for every layer from each face's noise
    /// seed (so switching layers on or off leaves the others unchanged), then dropped where
    /// the noise mode does not apply.
    fn noise(&self, seeds: &[u64], controls: &Controls) -> Vec<Option<Tensor<4>>> {
        let sizes = self.generator.noise_resolutions();
        let mut per_layer: Vec<Vec<f32>> = vec![Vec::new(); sizes.len()];
        for &seed in seeds {
            let noise_seed = controls.noise_seed.unwrap_or(seed);
            let mut rng = KaoRng::for_purpose(noise_seed, "noise");
            for (values, &size) in per_layer.iter_mut().zip(&sizes) {
                values.extend(rng.normal_vec(size * size));
            }
        }
        per_layer
            .into_iter()
            .zip(&sizes)
            .map(|(values, &size)| {
                noise_applies(controls.noise, size).then(|| {
                    Tensor::from_data(TensorData::new(values, [seeds.len(), 1, size, size]), &self.device)
                })
            })
            .collect()
    }

    fn render_styles(&self, net: &StyleGenerator, seeds: &[u64], controls: &Controls) -> Tensor<4> {
        let ws = self.ws(net, seeds, controls);
        net.synthesis.forward(ws, self.noise(seeds, controls))
    }

    /// Writes the classic style-mixing figure: the top row shows the `columns` faces, the left
    /// column the `rows` faces, and each cell the row face with the column face's styles at
    /// `levels`.
    pub fn mixing_figure(&self, rows: &[u64], columns: &[u64], levels: &[Level], controls: &Controls) -> Result<RgbImage> {
        let blank = RgbImage::from_pixel(self.config.resolution as u32, self.config.resolution as u32, image::Rgb([255; 3]));
        let mut cells = vec![blank];
        cells.extend(self.render(columns, controls)?);
        for &row in rows {
            cells.extend(self.render(&[row], controls)?);
            for &column in columns {
                let mixed = Controls { mix_seed: Some(column), mix_levels: levels.to_vec(), ..controls.clone() };
                cells.extend(self.render(&[row], &mixed)?);
            }
        }
        Ok(crate::imageio::grid(&cells, columns.len() + 1, 2))
    }

    /// Lays out one row per seed and one column per truncation psi in `strengths`: the
    /// strength strip from the anti-face (negative psi) through the average face (0) to
    /// exaggerated styles (above 1).
    pub fn strength_figure(&self, seeds: &[u64], strengths: &[f32], controls: &Controls) -> Result<RgbImage> {
        let mut cells = Vec::with_capacity(seeds.len() * strengths.len());
        for &seed in seeds {
            for &psi in strengths {
                cells.extend(self.render(&[seed], &Controls { truncation: psi, ..controls.clone() })?);
            }
        }
        Ok(crate::imageio::grid(&cells, strengths.len(), 2))
    }

    /// Lays out one row per seed: the face with each noise seed of `noise_seeds`, then the
    /// same face without noise, so the stochastic detail that noise adds is visible.
    pub fn noise_figure(&self, seeds: &[u64], noise_seeds: &[u64], controls: &Controls) -> Result<RgbImage> {
        let mut cells = Vec::new();
        for &seed in seeds {
            for &noise_seed in noise_seeds {
                let noisy = Controls { noise_seed: Some(noise_seed), ..controls.clone() };
                cells.extend(self.render(&[seed], &noisy)?);
            }
            cells.extend(self.render(&[seed], &Controls { noise: NoiseMode::None, ..controls.clone() })?);
        }
        Ok(crate::imageio::grid(&cells, noise_seeds.len() + 1, 2))
    }

    /// Renders a closed loop through the w of each seed: `frames` steps of linear
    /// interpolation from each seed to the next and from the last back to the first. The
    /// noise maps stay those of the first seed, so only the styles move.
    pub fn interpolation(&self, seeds: &[u64], frames: usize, controls: &Controls) -> Result<Vec<RgbImage>> {
        controls.validate()?;
        let GeneratorNet::StyleGan(net) = &self.generator else {
            bail!("interpolation moves through StyleGAN's w space; this is a DCGAN model");
        };
        let keyframes: Vec<Tensor<3>> = seeds.iter().map(|&seed| self.ws(net, &[seed], controls)).collect();
        let noise_seed = controls.noise_seed.unwrap_or(seeds[0]);
        let mut images = Vec::with_capacity(seeds.len() * frames);
        for (index, start) in keyframes.iter().enumerate() {
            let end = &keyframes[(index + 1) % keyframes.len()];
            for frame in 0..frames {
                let t = frame as f64 / frames as f64;
                let ws = start.clone().mul_scalar(1.0 - t) + end.clone().mul_scalar(t);
                let noise = self.noise(&[noise_seed], controls);
                images.extend(crate::imageio::tensor_to_images(net.synthesis.forward(ws, noise)));
            }
        }
        Ok(images)
    }

    /// Returns true when the model has StyleGAN controls.
    pub fn has_styles(&self) -> bool {
        self.config.arch == Arch::StyleGan
    }
}

/// Reads what a weights file is: its model config, and its training summary from the file's
/// metadata or, for a file inside a checkpoint folder, from the folder's `state.json`.
pub fn describe(weights: &Weights) -> Result<(ModelConfig, Option<TrainingSummary>)> {
    let name = weights.name();
    let metadata = metadata_of(weights.bytes(), &name)?;
    let json = metadata
        .get(MODEL_CONFIG_KEY)
        .with_context(|| format!("{name} has no {MODEL_CONFIG_KEY} metadata; pass a generator file written by kao"))?;
    let config: ModelConfig = serde_json::from_str(json).with_context(|| format!("{name} has an invalid model config"))?;
    config.validate()?;

    let from_metadata = match metadata.get(TRAINING_KEY) {
        Some(json) => Some(serde_json::from_str(json).with_context(|| format!("{name} has an invalid {TRAINING_KEY} entry"))?),
        None => None,
    };
    let checkpoint = weights.path().and_then(Path::parent).filter(|folder| folder.join(STATE_FILE).is_file());
    let training = match (from_metadata, checkpoint) {
        (Some(summary), _) => Some(summary),
        (None, Some(folder)) => Some(TrainingSummary::from(&read_state(folder)?)),
        (None, None) => None,
    };
    Ok((config, training))
}
