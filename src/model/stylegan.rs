//! StyleGAN-style generator (Karras et al. 2019, with StyleGAN2's weight demodulation and skip
//! toRGB outputs) and a residual discriminator with a minibatch standard deviation layer.
//!
//! Tensor names follow the papers: `z` latents `[batch, z_dim]`, `w` intermediate latents
//! `[batch, w_dim]`, `ws` one w per synthesis layer `[batch, num_ws, w_dim]`, `img` images
//! `[batch, 3, resolution, resolution]` in about [-1, 1].

use burn::module::{Module, RunningState};
use burn::tensor::module::{avg_pool2d, interpolate};
use burn::tensor::ops::{AvgPoolOptions, InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Distribution, Tensor};

use super::layers::{EqualConv2d, EqualLinear, ModulatedConv2d, lrelu};

/// Length of z and w.
pub const LATENT_DIM: usize = 512;
/// Fully connected layers in the mapping network.
pub const MAPPING_LAYERS: usize = 8;
/// Learning-rate multiplier of the mapping network (StyleGAN's 0.01).
pub const MAPPING_LR_MULTIPLIER: f64 = 0.01;

/// Channels at `resolution` for a network whose widest layers have `max_channels`: the
/// widest width up to 16x16, then halving per doubling of the resolution (at least 16).
pub fn channels_at(resolution: usize, max_channels: usize) -> usize {
    (max_channels * 16 / resolution.max(16)).clamp(16.min(max_channels), max_channels)
}

/// Number of w vectors the synthesis network takes: one per modulated convolution plus one
/// for the last toRGB layer.
pub fn num_ws(resolution: usize) -> usize {
    2 * resolution.trailing_zeros() as usize - 2
}

/// Mapping network z -> w with a tracked average of w for truncation.
#[derive(Module, Debug)]
pub struct Mapping {
    layers: Vec<EqualLinear>,
    /// Exponential moving average of w over training, the centre of truncation.
    pub w_avg: RunningState<Tensor<1>>,
}

impl Mapping {
    /// Creates the 8-layer mapping network.
    pub fn new(device: &Device) -> Self {
        let layers = (0..MAPPING_LAYERS)
            .map(|_| EqualLinear::new(LATENT_DIM, LATENT_DIM, MAPPING_LR_MULTIPLIER, 0.0, device))
            .collect();
        Self { layers, w_avg: RunningState::new(Tensor::zeros([LATENT_DIM], device)) }
    }

    /// Maps `z` `[batch, 512]` to `w` `[batch, 512]`; z is normalised to unit mean square first.
    pub fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        let norm = z.clone().powi_scalar(2).mean_dim(1).add_scalar(1e-8).sqrt();
        let mut w = z / norm;
        for layer in &self.layers {
            let [batch, features] = w.dims();
            w = lrelu(layer.forward(w).reshape([batch, features, 1, 1])).reshape([batch, features]);
        }
        w
    }
}

/// One modulated convolution with noise, bias and activation.
#[derive(Module, Debug)]
struct StyledConv {
    conv: ModulatedConv2d,
    /// Per-channel strength of the added noise, starting at 0.
    noise_strength: burn::module::Param<Tensor<1>>,
    bias: burn::module::Param<Tensor<1>>,
    upsample: bool,
}

impl StyledConv {
    fn new(input: usize, output: usize, upsample: bool, device: &Device) -> Self {
        Self {
            conv: ModulatedConv2d::new(input, output, 3, LATENT_DIM, true, device),
            noise_strength: burn::module::Param::from_tensor(Tensor::zeros([output], device)),
            bias: burn::module::Param::from_tensor(Tensor::zeros([output], device)),
            upsample,
        }
    }

    fn forward(&self, x: Tensor<4>, w: Tensor<2>, noise: Option<Tensor<4>>) -> Tensor<4> {
        let x = if self.upsample { upsample(x) } else { x };
        let mut x = self.conv.forward(x, w);
        let [_, channels, ..] = x.dims();
        if let Some(noise) = noise {
            x = x + noise * self.noise_strength.val().reshape([1, channels, 1, 1]);
        }
        lrelu(x + self.bias.val().reshape([1, channels, 1, 1]))
    }
}

/// Modulated 1x1 convolution to RGB, without demodulation.
#[derive(Module, Debug)]
struct ToRgb {
    conv: ModulatedConv2d,
    bias: burn::module::Param<Tensor<1>>,
}

impl ToRgb {
    fn new(input: usize, device: &Device) -> Self {
        Self {
            conv: ModulatedConv2d::new(input, 3, 1, LATENT_DIM, false, device),
            bias: burn::module::Param::from_tensor(Tensor::zeros([3], device)),
        }
    }

    fn forward(&self, x: Tensor<4>, w: Tensor<2>) -> Tensor<4> {
        self.conv.forward(x, w) + self.bias.val().reshape([1, 3, 1, 1])
    }
}

/// Doubles the spatial size with bilinear interpolation.
fn upsample(x: Tensor<4>) -> Tensor<4> {
    let [_, _, height, width] = x.dims();
    let options = InterpolateOptions::new(InterpolateMode::Bilinear).with_output_size([height * 2, width * 2]);
    interpolate(x, options)
}

/// Halves the spatial size with a 2x2 average.
fn downsample(x: Tensor<4>) -> Tensor<4> {
    avg_pool2d(x, AvgPoolOptions::new([2, 2]).with_stride([2, 2]))
}

/// Choice of the layers that get noise inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum NoiseMode {
    /// Noise at every layer.
    All,
    /// Noise only at the layers up to 16 px: large-scale hair curls.
    Coarse,
    /// Noise only at the layers from 32 px on: texture.
    Fine,
    /// No noise: a clean, deterministic face.
    None,
}

/// Synthesis network: a learned 4x4 constant, then per resolution two styled convolutions
/// and a toRGB output that is upsampled and summed with the previous ones.
#[derive(Module, Debug)]
pub struct Synthesis {
    constant: burn::module::Param<Tensor<4>>,
    convs: Vec<StyledConv>,
    to_rgbs: Vec<ToRgb>,
    resolution: usize,
}

impl Synthesis {
    /// Creates the synthesis network for `resolution` (64 or 128) with `max_channels` at the
    /// widest layers.
    pub fn new(resolution: usize, max_channels: usize, device: &Device) -> Self {
        let first = channels_at(4, max_channels);
        let constant = Tensor::random([1, first, 4, 4], Distribution::Normal(0.0, 1.0), device);
        let mut convs = vec![StyledConv::new(first, first, false, device)];
        let mut to_rgbs = vec![ToRgb::new(first, device)];
        let mut size = 8;
        while size <= resolution {
            let (input, output) = (channels_at(size / 2, max_channels), channels_at(size, max_channels));
            convs.push(StyledConv::new(input, output, true, device));
            convs.push(StyledConv::new(output, output, false, device));
            to_rgbs.push(ToRgb::new(output, device));
            size *= 2;
        }
        Self { constant: burn::module::Param::from_tensor(constant), convs, to_rgbs, resolution }
    }

    /// Side length in pixels of each styled convolution's output, in layer order.
    pub fn layer_resolutions(&self) -> Vec<usize> {
        let mut sizes = vec![4];
        let mut size = 8;
        while size <= self.resolution {
            sizes.extend([size, size]);
            size *= 2;
        }
        sizes
    }

    /// Renders `ws` `[batch, num_ws, 512]` with the given per-layer noise (one `[batch, 1, s, s]`
    /// tensor or `None` for each styled convolution).
    pub fn forward(&self, ws: Tensor<3>, noise: Vec<Option<Tensor<4>>>) -> Tensor<4> {
        let [batch, count, dim] = ws.dims();
        assert_eq!(count, num_ws(self.resolution), "ws must hold one w per layer");
        assert_eq!(noise.len(), self.convs.len(), "one noise entry per styled convolution");
        let w_at = |index: usize| ws.clone().narrow(1, index, 1).reshape([batch, dim]);

        let [_, channels, height, width] = self.constant.dims();
        let mut x = self.constant.val().expand([batch, channels, height, width]);
        let mut noise = noise.into_iter();
        x = self.convs[0].forward(x, w_at(0), noise.next().flatten());
        let mut img = self.to_rgbs[0].forward(x.clone(), w_at(1));

        for (level, to_rgb) in self.to_rgbs.iter().enumerate().skip(1) {
            let first = 2 * level - 1;
            x = self.convs[first].forward(x, w_at(first), noise.next().flatten());
            x = self.convs[first + 1].forward(x, w_at(first + 1), noise.next().flatten());
            img = upsample(img) + to_rgb.forward(x.clone(), w_at(first + 2));
        }
        img
    }
}

/// StyleGAN-style generator: mapping plus synthesis.
#[derive(Module, Debug)]
pub struct Generator {
    pub mapping: Mapping,
    pub synthesis: Synthesis,
}

/// Decay per training step of the tracked w average (StyleGAN's 0.995).
pub const W_AVG_BETA: f64 = 0.995;

impl Generator {
    /// Creates a generator for `resolution` with `max_channels` at its widest layers.
    pub fn new(resolution: usize, max_channels: usize, device: &Device) -> Self {
        Self { mapping: Mapping::new(device), synthesis: Synthesis::new(resolution, max_channels, device) }
    }

    /// Maps `z` to `ws`, taking the layers from `mix.1` on from the second latent `mix.0`
    /// (style mixing). With `track_w_avg`, moves the tracked w average towards this batch's.
    pub fn mapping_ws(&self, z: Tensor<2>, mix: Option<(Tensor<2>, usize)>, track_w_avg: bool) -> Tensor<3> {
        let count = num_ws(self.synthesis.resolution);
        let w = self.mapping.forward(z);
        if track_w_avg {
            let batch_mean = w.clone().detach().mean_dim(0).reshape([LATENT_DIM]);
            let previous = self.mapping.w_avg.value_sync().to_device(&batch_mean.device());
            let updated = previous.mul_scalar(W_AVG_BETA) + batch_mean.mul_scalar(1.0 - W_AVG_BETA);
            self.mapping.w_avg.update(updated.detach());
        }
        let ws = w.unsqueeze_dim::<3>(1).repeat_dim(1, count);
        let Some((z2, cutoff)) = mix else {
            return ws;
        };
        let ws2 = self.mapping.forward(z2).unsqueeze_dim::<3>(1).repeat_dim(1, count);
        Tensor::cat(vec![ws.narrow(1, 0, cutoff), ws2.narrow(1, cutoff, count - cutoff)], 1)
    }
}

/// Residual discriminator block: a 3x3 convolution, a 2x2 average pool and a second 3x3
/// convolution, beside a pooled 1x1 skip. The sum is scaled by 1/sqrt(2) to keep unit variance.
#[derive(Module, Debug)]
struct ResidualBlock {
    conv: EqualConv2d,
    down: EqualConv2d,
    skip: EqualConv2d,
}

impl ResidualBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let skip = self.skip.forward(downsample(x.clone()));
        let x = lrelu(self.conv.forward(x));
        let x = lrelu(self.down.forward(downsample(x)));
        (skip + x).mul_scalar(std::f64::consts::FRAC_1_SQRT_2)
    }
}

/// Residual discriminator with a minibatch standard deviation layer at 4x4.
#[derive(Module, Debug)]
pub struct Discriminator {
    from_rgb: EqualConv2d,
    blocks: Vec<ResidualBlock>,
    final_conv: EqualConv2d,
    dense: EqualLinear,
    output: EqualLinear,
}

/// Images per group in the minibatch standard deviation layer.
const MBSTD_GROUP: usize = 4;

impl Discriminator {
    /// Creates a discriminator for `resolution` with `max_channels` at its widest layers.
    pub fn new(resolution: usize, max_channels: usize, device: &Device) -> Self {
        let from_rgb = EqualConv2d::new(3, channels_at(resolution, max_channels), 1, 1, true, device);
        let mut blocks = Vec::new();
        let mut size = resolution;
        while size > 4 {
            let (input, output) = (channels_at(size, max_channels), channels_at(size / 2, max_channels));
            blocks.push(ResidualBlock {
                conv: EqualConv2d::new(input, input, 3, 1, true, device),
                down: EqualConv2d::new(input, output, 3, 1, true, device),
                skip: EqualConv2d::new(input, output, 1, 1, false, device),
            });
            size /= 2;
        }
        let channels = channels_at(4, max_channels);
        Self {
            from_rgb,
            blocks,
            final_conv: EqualConv2d::new(channels + 1, channels, 3, 1, true, device),
            dense: EqualLinear::new(channels * 16, channels, 1.0, 0.0, device),
            output: EqualLinear::new(channels, 1, 1.0, 0.0, device),
        }
    }

    /// Returns one logit per image of `img` `[batch, 3, resolution, resolution]`.
    pub fn forward(&self, img: Tensor<4>) -> Tensor<1> {
        let [batch, ..] = img.dims();
        let mut x = lrelu(self.from_rgb.forward(img));
        for block in &self.blocks {
            x = block.forward(x);
        }
        let x = lrelu(self.final_conv.forward(minibatch_stddev(x)));
        let [_, channels, height, width] = x.dims();
        assert_eq!([height, width], [4, 4], "the last block must end at 4x4");
        let x = self.dense.forward(x.reshape([batch, channels * 16]));
        let [_, features] = x.dims();
        let x = lrelu(x.reshape([batch, features, 1, 1])).reshape([batch, features]);
        self.output.forward(x).reshape([batch])
    }
}

/// Appends one channel holding the average standard deviation of the features across groups
/// of up to 4 images, so D can see how varied a batch is (Karras et al. 2018).
fn minibatch_stddev(x: Tensor<4>) -> Tensor<4> {
    let [batch, channels, height, width] = x.dims();
    let group = (1..=MBSTD_GROUP.min(batch)).rev().find(|size| batch % size == 0).unwrap_or(1);
    let grouped = x.clone().reshape([group, batch / group, channels, height, width]);
    let centred = grouped.clone() - grouped.mean_dim(0);
    let deviation = centred.powi_scalar(2).mean_dim(0).add_scalar(1e-8).sqrt();
    let per_group = deviation.reshape([batch / group, channels * height * width]).mean_dim(1);
    let feature = per_group.reshape([1, batch / group, 1, 1]).repeat_dim(0, group).reshape([batch, 1, 1, 1]);
    Tensor::cat(vec![x, feature.expand([batch, 1, height, width])], 1)
}
