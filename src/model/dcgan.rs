//! DCGAN generator and discriminator (Radford et al. 2016) at 64 or 128 px.
//!
//! G maps z of shape `[batch, latent_dim]` through a 4x4 transposed convolution and one
//! stride-2 transposed convolution per doubling (BatchNorm and ReLU after each) to a tanh RGB
//! image. D mirrors it with stride-2 convolutions, BatchNorm on all but the first layer and
//! LeakyReLU(0.2), ending in one logit per image. No pooling and no fully connected layers.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};

use super::ModelConfig;
use super::cpu_ops::{self, SMALL_MAP_PIXELS, conv_transpose2d_stride2, conv2d_stride2};
use super::conv::{
    ChannelAffine, conv_transpose2d_stride2_inference, conv2d_whole_image, prefers_matmul_convolutions, project_latent,
};

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
        let device = z.device();
        let batched = prefers_matmul_convolutions(&device);
        let (first, rest) = self.blocks.split_first().expect("a generator has at least one block");
        let x = match batched {
            true => project_latent(z, first.conv.weight.val()),
            false => {
                let [batch, latent_dim] = z.dims();
                first.conv.forward(z.reshape([batch, latent_dim, 1, 1]))
            }
        };
        let x = rectify(first.norm.forward(x), 0.0, batched);
        match batched && !device.is_autodiff() {
            true => self.upsample_inference(x, rest),
            false => self.upsample(x, rest, batched),
        }
    }

    /// Runs the stride-2 blocks and the RGB layer; `batched` selects kao's transposed
    /// convolution with its whole-batch weight gradient (burn's CPU backend only).
    fn upsample(&self, mut x: Tensor<4>, blocks: &[UpBlock], batched: bool) -> Tensor<4> {
        for block in blocks {
            x = rectify(block.norm.forward(up(&block.conv, x, batched)), 0.0, batched);
        }
        up(&self.to_rgb, x, batched).tanh()
    }

    /// Same as [`Self::upsample`] without autodiff on the CPU. Blocks whose input has at most
    /// [`SMALL_MAP_PIXELS`] pixels use one batched product with the BatchNorm folded in. Larger
    /// inputs give burn's per-image products enough rows, so burn's kernel is faster there.
    fn upsample_inference(&self, mut x: Tensor<4>, blocks: &[UpBlock]) -> Tensor<4> {
        for block in blocks {
            let [_, _, height, width] = x.dims();
            x = match height * width <= SMALL_MAP_PIXELS {
                true => {
                    let affine = ChannelAffine::from_batch_norm(&block.norm);
                    conv_transpose2d_stride2_inference(x, block.conv.weight.val(), Some(&affine), true)
                }
                false => rectify(block.norm.forward(block.conv.forward(x)), 0.0, false),
            };
        }
        self.to_rgb.forward(x).tanh()
    }
}

/// ReLU (`slope` 0) or LeakyReLU. With `batched` during training kao's kernel runs: burn
/// Flex's LeakyReLU backward branches per element and took 28 ms forward and backward on a
/// `[64, 128, 16, 16]` tensor where kao's took 15 ms. burn's ReLU was faster alone (1 ms) but
/// not in the training step (within run-to-run noise), and burn's forward-only rectifiers are fast.
fn rectify(x: Tensor<4>, slope: f64, batched: bool) -> Tensor<4> {
    if batched && x.device().is_autodiff() {
        return cpu_ops::leaky_relu(x, slope);
    }
    match slope == 0.0 {
        true => burn::tensor::activation::relu(x),
        false => burn::tensor::activation::leaky_relu(x, slope),
    }
}

/// Applies one of the stride-2 transposed convolutions made by [`up_conv`].
fn up(conv: &ConvTranspose2d, x: Tensor<4>, batched: bool) -> Tensor<4> {
    match batched {
        true => conv_transpose2d_stride2(x, conv.weight.val()),
        false => conv.forward(x),
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
        let batched = prefers_matmul_convolutions(&images.device());
        let mut x = rectify(down(&self.from_rgb, images, batched), LEAKY_SLOPE, batched);
        for block in &self.blocks {
            x = rectify(block.norm.forward(down(&block.conv, x, batched)), LEAKY_SLOPE, batched);
        }
        let logits = match batched {
            true => conv2d_whole_image(x, self.to_logit.weight.val()).reshape([batch, 1, 1, 1]),
            false => self.to_logit.forward(x),
        };
        assert_eq!(logits.dims(), [batch, 1, 1, 1], "D must reduce each image to one 1x1 logit");
        logits.reshape([batch])
    }
}

/// Applies one of the stride-2 convolutions made by [`down_conv`].
fn down(conv: &Conv2d, x: Tensor<4>, batched: bool) -> Tensor<4> {
    match batched {
        true => conv2d_stride2(x, conv.weight.val()),
        false => conv.forward(x),
    }
}

fn down_conv(input: usize, output: usize) -> Conv2dConfig {
    Conv2dConfig::new([input, output], [4, 4])
        .with_stride([2, 2])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
}
