//! The GAN networks and how their weights are initialised, saved and loaded.

pub mod conv;
pub mod cpu_kernels;
pub mod dcgan;
pub mod init;
pub mod layers;
pub mod path;
pub mod store;
pub mod cpu_ops;
pub mod stylegan;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::rng::KaoRng;

/// Copies a float tensor's values to the host as f32, in row-major order.
pub fn tensor_values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().try_to_vec::<f32>().expect("converted to float32")
}

/// Returns a copy of `module` whose parameters are constants: gradients still flow through it
/// to its inputs, but none are computed for its weights. The original keeps training.
pub fn frozen<M: Module>(module: M) -> M {
    module.map(&mut Freezer)
}

struct Freezer;

impl burn::module::ModuleMapper for Freezer {
    fn map_float<const D: usize>(&mut self, param: burn::module::Param<Tensor<D>>) -> burn::module::Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        burn::module::Param::from_mapped_value(id, tensor.detach().set_require_grad(false), mapper)
    }
}

/// Generator and discriminator families.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// DCGAN (Radford et al. 2016): transposed convolutions, BatchNorm, ReLU and tanh in G;
    /// strided convolutions, BatchNorm and LeakyReLU(0.2) in D.
    Dcgan,
    /// StyleGAN-style: mapping network, per-layer styles, noise inputs and a residual D.
    #[value(name = "stylegan")]
    #[serde(rename = "stylegan")]
    StyleGan,
}

impl Arch {
    /// Returns the family's name as people write it: "DCGAN" or "StyleGAN".
    pub fn display_name(self) -> &'static str {
        match self {
            Arch::Dcgan => "DCGAN",
            Arch::StyleGan => "StyleGAN",
        }
    }
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
        if self.latent_dim == 0 {
            anyhow::bail!("invalid --latent-dim 0: use a positive size such as 100 (DCGAN) or 512 (StyleGAN)");
        }
        if self.channels == 0 {
            anyhow::bail!("invalid --channels 0: use a positive width such as 64");
        }
        if self.arch == Arch::StyleGan && self.latent_dim != stylegan::LATENT_DIM {
            anyhow::bail!("invalid --latent-dim {}: the StyleGAN mapping network takes {}", self.latent_dim, stylegan::LATENT_DIM);
        }
        Ok(())
    }
}

/// A generator of any family.
#[derive(Module, Debug)]
pub enum GeneratorNet {
    Dcgan(dcgan::Generator),
    StyleGan(stylegan::Generator),
}

/// A discriminator of any family.
#[derive(Module, Debug)]
pub enum DiscriminatorNet {
    Dcgan(dcgan::Discriminator),
    StyleGan(stylegan::Discriminator),
}

/// Everything random that one generator pass consumes.
pub struct Latents {
    /// Latents `[batch, latent_dim]`.
    pub z: Tensor<2>,
    /// StyleGAN style mixing: a second latent batch and the first layer that takes its w.
    pub mix: Option<(Tensor<2>, usize)>,
    /// StyleGAN noise: one `[batch, 1, size, size]` tensor or `None` per styled convolution.
    pub noise: Vec<Option<Tensor<4>>>,
}

impl GeneratorNet {
    /// Generates images from `latents`; `training` also moves StyleGAN's tracked w average.
    pub fn forward(&self, latents: Latents, training: bool) -> Tensor<4> {
        match self {
            GeneratorNet::Dcgan(net) => net.forward(latents.z),
            GeneratorNet::StyleGan(net) => {
                let ws = net.mapping_ws(latents.z, latents.mix, training);
                net.synthesis.forward(ws, latents.noise)
            }
        }
    }

    /// Output side lengths of the StyleGAN styled convolutions, which the noise inputs match
    /// (empty for DCGAN).
    pub fn noise_resolutions(&self) -> Vec<usize> {
        match self {
            GeneratorNet::Dcgan(_) => Vec::new(),
            GeneratorNet::StyleGan(net) => net.synthesis.layer_resolutions(),
        }
    }

    /// Builds an untrained generator; `rng` supplies the initial weights when given, else
    /// burn's initialisers do (for networks whose weights are loaded next).
    pub fn new(config: &ModelConfig, device: &Device, rng: Option<&mut KaoRng>) -> Self {
        let net = match config.arch {
            Arch::Dcgan => GeneratorNet::Dcgan(dcgan::Generator::new(config, device)),
            Arch::StyleGan => GeneratorNet::StyleGan(stylegan::Generator::new(config.resolution, config.channels, device)),
        };
        let net = match (rng, config.arch) {
            (Some(rng), Arch::Dcgan) => init::dcgan_init(net, rng),
            (Some(rng), Arch::StyleGan) => init::stylegan_init(net, rng),
            (None, _) => net,
        };
        init::stable_ids(net)
    }
}

impl DiscriminatorNet {
    /// Builds an untrained discriminator; see [`GeneratorNet::new`].
    pub fn new(config: &ModelConfig, device: &Device, rng: Option<&mut KaoRng>) -> Self {
        let net = match config.arch {
            Arch::Dcgan => DiscriminatorNet::Dcgan(dcgan::Discriminator::new(config, device)),
            Arch::StyleGan => {
                DiscriminatorNet::StyleGan(stylegan::Discriminator::new(config.resolution, config.channels, device))
            }
        };
        let net = match (rng, config.arch) {
            (Some(rng), Arch::Dcgan) => init::dcgan_init(net, rng),
            (Some(rng), Arch::StyleGan) => init::stylegan_init(net, rng),
            (None, _) => net,
        };
        init::stable_ids(net)
    }

    /// Returns one logit per image.
    pub fn forward(&self, img: Tensor<4>) -> Tensor<1> {
        match self {
            DiscriminatorNet::Dcgan(net) => net.forward(img),
            DiscriminatorNet::StyleGan(net) => net.forward(img),
        }
    }
}
