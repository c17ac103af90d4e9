//! The GAN networks and how their weights are initialised, saved and loaded.

pub mod dcgan;
pub mod init;
pub mod layers;
pub mod path;
pub mod store;
pub mod stylegan;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Copies a float tensor's values to the host as f32, in row-major order.
pub fn tensor_values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().try_to_vec::<f32>().expect("converted to float32")
}

/// Generator and discriminator families.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// DCGAN (Radford et al. 2016): transposed convolutions, BatchNorm, ReLU and tanh in G;
    /// strided convolutions, BatchNorm and LeakyReLU(0.2) in D.
    Dcgan,
}

/// Shape of a generator and discriminator pair; stored with every checkpoint so a weights file
/// can be loaded without the command line that trained it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Network family.
    pub arch: Arch,
    /// Image side length in pixels: 64 or 128.
    pub resolution: usize,
    /// Length of the latent vector z.
    pub latent_dim: usize,
    /// Channels of G's last hidden layer and D's first layer; the other layers double it per
    /// halving of the resolution (DCGAN's ngf and ndf).
    pub channels: usize,
}

impl ModelConfig {
    /// Checks that the shape is one kao can build.
    pub fn validate(&self) -> anyhow::Result<()> {
        if ![64, 128].contains(&self.resolution) {
            anyhow::bail!("invalid resolution {}: use 64 or 128", self.resolution);
        }
        if self.latent_dim == 0 || self.channels == 0 {
            anyhow::bail!("invalid model: latent size and channels must be positive");
        }
        Ok(())
    }
}
