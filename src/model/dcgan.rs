//! DCGAN generator and discriminator (Radford et al. 2016) at 64 or 128 px.
//!
//! G maps z of shape `[batch, latent_dim]` through a 4x4 transposed convolution and one
//! stride-2 transposed convolution per doubling (BatchNorm and ReLU after each) to a tanh RGB
//! image. D mirrors it with stride-2 convolutions, BatchNorm on all but the first layer and
//! LeakyReLU(0.2), ending in one logit per image. No pooling and no fully connected layers.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::{leaky_relu, relu};
use burn::tensor::{Device, Tensor};

use super::ModelConfig;

/// Slope of D's LeakyReLU for negative inputs.
const LEAKY_SLOPE: f64 = 0.2;

/// Number of stride-2 stages between 4x4 and the output resolution.
fn doublings(resolution: usize) -> usize {
    resolution.trailing_zeros() as usize - 2
}

#[derive(Module, Debug)]
struct UpBlock {
    conv: ConvTranspose2d,
    norm: BatchNorm,
}

/// DCGAN generator: z `[batch, latent_dim]` to images `[batch, 3, resolution, resolution]`
/// in [-1, 1].
#[derive(Module, Debug)]
pub struct Generator {
    blocks: Vec<UpBlock>,
    to_rgb: ConvTranspose2d,
}

impl Generator {
    /// Builds a generator with burn's default initialisation; see [`super::init`] for DCGAN's.
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let stages = doublings(config.resolution);
        let widest = config.channels << (stages - 1);
        let mut blocks = Vec::new();

        // The first block projects the 1x1 latent to 4x4; each later one doubles the size and
        // halves the channels.
        let first = ConvTranspose2dConfig::new([config.latent_dim, widest], [4, 4]).with_bias(false);
        blocks.push(UpBlock { conv: first.init(device), norm: BatchNormConfig::new(widest).init(device) });
        for stage in 1..stages {
            let (input, output) = (widest >> (stage - 1), widest >> stage);
            let conv = up_conv(input, output).init(device);
            blocks.push(UpBlock { conv, norm: BatchNormConfig::new(output).init(device) });
        }
        let to_rgb = up_conv(config.channels, 3).init(device);
        Self { blocks, to_rgb }
    }

    /// Generates images from latents `z` of shape `[batch, latent_dim]`.
    pub fn forward(&self, z: Tensor<2>) -> Tensor<4> {
        let [batch, latent_dim] = z.dims();
        let mut x = z.reshape([batch, latent_dim, 1, 1]);
        for block in &self.blocks {
            x = relu(block.norm.forward(block.conv.forward(x)));
        }
        self.to_rgb.forward(x).tanh()
    }
}

fn up_conv(input: usize, output: usize) -> ConvTranspose2dConfig {
    ConvTranspose2dConfig::new([input, output], [4, 4]).with_stride([2, 2]).with_padding([1, 1]).with_bias(false)
}

#[derive(Module, Debug)]
struct DownBlock {
    conv: Conv2d,
    norm: BatchNorm,
}

/// DCGAN discriminator: images `[batch, 3, resolution, resolution]` to logits `[batch]`.
#[derive(Module, Debug)]
pub struct Discriminator {
    from_rgb: Conv2d,
    blocks: Vec<DownBlock>,
    to_logit: Conv2d,
}

impl Discriminator {
    /// Builds a discriminator with burn's default initialisation; see [`super::init`].
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let stages = doublings(config.resolution);
        let from_rgb = down_conv(3, config.channels).init(device);
        let mut blocks = Vec::new();
        for stage in 1..stages {
            let (input, output) = (config.channels << (stage - 1), config.channels << stage);
            let conv = down_conv(input, output).init(device);
            blocks.push(DownBlock { conv, norm: BatchNormConfig::new(output).init(device) });
        }
        let widest = config.channels << (stages - 1);
        let to_logit = Conv2dConfig::new([widest, 1], [4, 4]).with_bias(false).init(device);
        Self { from_rgb, blocks, to_logit }
    }

    /// Returns one logit per image (positive means "real").
    pub fn forward(&self, images: Tensor<4>) -> Tensor<1> {
        let [batch, ..] = images.dims();
        let mut x = leaky_relu(self.from_rgb.forward(images), LEAKY_SLOPE);
        for block in &self.blocks {
            x = leaky_relu(block.norm.forward(block.conv.forward(x)), LEAKY_SLOPE);
        }
        let logits = self.to_logit.forward(x);
        assert_eq!(logits.dims(), [batch, 1, 1, 1], "D must reduce each image to one 1x1 logit");
        logits.reshape([batch])
    }
}

fn down_conv(input: usize, output: usize) -> Conv2dConfig {
    Conv2dConfig::new([input, output], [4, 4])
        .with_stride([2, 2])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
}
