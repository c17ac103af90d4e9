"""Time PyTorch on the CPU with the same GAN networks and training step as kao.

The networks mirror kao's own, with its widths, initialisation and default settings:
DCGAN G and D at 64 or 128 px (src/model/dcgan.rs, src/model/init.rs), and the
StyleGAN-style G and residual D at 64 px (src/model/stylegan.rs, src/model/layers.rs).

Train mode times kao's `Session::step` (src/train/session.rs). G runs forward once, D
takes an Adam step on real images and the detached fakes, and G takes an Adam step on the
same fake batch sent through the updated D. StyleGAN also mixes styles, applies
DiffAugment to every image D receives and then updates the moving average of G. Drawing
latents and noise is timed because kao's step draws them too.

Generate mode times one G forward pass under `torch.no_grad()`: DCGAN with BatchNorm in
eval mode, StyleGAN's moving average of G with noise at every layer and truncation psi 1.
Drawing z and noise is timed too, but converting the output to images is not. kao's
generation time includes reading the images back as 8 bits, so its ratio errs low.

Real images are uniform random tensors in [-1, 1] made once, so data loading is not timed.

Usage:
    python benches/gan_pytorch.py --model {dcgan-64,dcgan-128,stylegan-64} \\
        --mode {train,generate} [--batch N] [--steps N] [--warmup N] [--threads N]

Prints one JSON line to stdout with images_per_second over the timed steps and
peak_rss_mib (the process's maximum resident set size). Parameter counts go to stderr.
"""

import argparse
import copy
import json
import math
import os
import random
import resource
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# DCGAN (src/model/dcgan.rs, src/model/init.rs).
DCGAN_LEAKY_SLOPE = 0.2
DCGAN_INIT_STD = 0.02

# StyleGAN (src/model/stylegan.rs, src/model/layers.rs).
LATENT_DIM = 512
MAPPING_LAYERS = 8
MAPPING_LR_MULTIPLIER = 0.01
W_AVG_BETA = 0.995
LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
MBSTD_GROUP = 4

# DiffAugment (src/train/augment.rs), as fractions of the image side.
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5

# Images per G forward pass in kao's generation (src/generate/mod.rs).
GENERATE_BATCH = 64


@dataclass(frozen=True)
class Settings:
    """Defaults of `kao train` for one architecture (`TrainConfig::defaults` in src/train/config.rs)."""

    arch: str
    resolution: int
    latent_dim: int
    channels: int
    batch: int
    lr: float
    betas: tuple
    style_mixing: float
    ema_kimg: float | None
    diffaugment: bool


def settings_for(model):
    """Return kao's default settings for a `--model` name."""
    arch, resolution = model.split("-")
    resolution = int(resolution)
    if arch == "dcgan":
        return Settings(arch, resolution, 100, 64, 64, 2e-4, (0.5, 0.999), 0.0, None, False)
    return Settings(arch, resolution, LATENT_DIM, 64, 32, 2e-3, (0.0, 0.99), 0.9, 10.0, True)


# ---------------------------------------------------------------------------------------
# DCGAN networks


def doublings(resolution):
    """Return the number of stride-2 stages between 4x4 and `resolution`."""
    return resolution.bit_length() - 3


class DcganGenerator(nn.Module):
    """DCGAN G: z [batch, latent_dim] to images [batch, 3, resolution, resolution] in [-1, 1]."""

    def __init__(self, resolution, latent_dim, channels):
        super().__init__()
        stages = doublings(resolution)
        widest = channels << (stages - 1)

        # The first block projects the 1x1 latent to 4x4. Each later one doubles the size and
        # halves the channels.
        self.blocks = nn.ModuleList([up_block(latent_dim, widest, stride=1, padding=0)])
        for stage in range(1, stages):
            self.blocks.append(up_block(widest >> (stage - 1), widest >> stage, stride=2, padding=1))
        self.to_rgb = nn.ConvTranspose2d(channels, 3, 4, stride=2, padding=1, bias=False)

    def forward(self, z):
        x = z.reshape(z.shape[0], z.shape[1], 1, 1)
        for block in self.blocks:
            x = block(x)
        return torch.tanh(self.to_rgb(x))


def up_block(inputs, outputs, stride, padding):
    return nn.Sequential(
        nn.ConvTranspose2d(inputs, outputs, 4, stride=stride, padding=padding, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(),
    )


class DcganDiscriminator(nn.Module):
    """DCGAN D: images [batch, 3, resolution, resolution] to logits [batch]."""

    def __init__(self, resolution, channels):
        super().__init__()
        stages = doublings(resolution)
        self.from_rgb = nn.Conv2d(3, channels, 4, stride=2, padding=1, bias=False)
        self.blocks = nn.ModuleList()
        for stage in range(1, stages):
            self.blocks.append(down_block(channels << (stage - 1), channels << stage))
        self.to_logit = nn.Conv2d(channels << (stages - 1), 1, 4, bias=False)

    def forward(self, images):
        batch = images.shape[0]
        x = F.leaky_relu(self.from_rgb(images), DCGAN_LEAKY_SLOPE)
        for block in self.blocks:
            x = block(x)
        logits = self.to_logit(x)
        assert logits.shape == (batch, 1, 1, 1), f"D must reduce each image to one logit, got {tuple(logits.shape)}"
        return logits.reshape(batch)


def down_block(inputs, outputs):
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(outputs),
        nn.LeakyReLU(DCGAN_LEAKY_SLOPE),
    )


def dcgan_init(module):
    """Initialise as kao's `dcgan_init`: convolution weights and BatchNorm scales from
    N(0, 0.02) and N(1, 0.02), BatchNorm shifts 0."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, DCGAN_INIT_STD)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, DCGAN_INIT_STD)
            nn.init.zeros_(layer.bias)
    return module


# ---------------------------------------------------------------------------------------
# StyleGAN layers with equalised learning rate. Each layer initialises its stored weights as
# kao's `stylegan_init` does: N(0, 1 / lr_multiplier) weights, style affine biases 1, other
# biases and noise strengths 0.


def lrelu(x):
    """LeakyReLU(0.2) scaled by sqrt(2), which keeps the output variance near the input's."""
    return F.leaky_relu(x, LRELU_SLOPE) * LRELU_GAIN


class EqualLinear(nn.Module):
    """Fully connected layer `y = x (W scale)^T + b lr_multiplier`."""

    def __init__(self, inputs, outputs, lr_multiplier, bias_init):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(outputs, inputs) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((outputs,), bias_init / lr_multiplier))
        self.weight_scale = lr_multiplier / math.sqrt(inputs)
        self.lr_multiplier = lr_multiplier

    def forward(self, x):
        # A separate matmul and add, as kao computes it, in place of F.linear's fused addmm.
        weight = self.weight * self.weight_scale
        bias = self.bias * self.lr_multiplier
        return x.matmul(weight.t()) + bias.unsqueeze(0)


class EqualConv2d(nn.Module):
    """Stride-1 convolution with equalised learning rate and "same" padding."""

    def __init__(self, inputs, outputs, kernel, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(outputs, inputs, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(outputs)) if bias else None
        self.weight_scale = 1.0 / math.sqrt(inputs * kernel * kernel)
        self.padding = (kernel - 1) // 2

    def forward(self, x):
        return F.conv2d(x, self.weight * self.weight_scale, self.bias, padding=self.padding)


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated convolution computed as kao does: scale the input channels by the
    style, run one shared convolution, then scale each output channel by its demodulation."""

    def __init__(self, inputs, outputs, kernel, demodulate):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(outputs, inputs, kernel, kernel))
        self.affine = EqualLinear(LATENT_DIM, inputs, 1.0, 1.0)
        self.weight_scale = 1.0 / math.sqrt(inputs * kernel * kernel)
        self.demodulate = demodulate

    def forward(self, x, w):
        batch, inputs = x.shape[:2]
        outputs, _, kernel, _ = self.weight.shape
        styles = self.affine(w)
        weight = self.weight * self.weight_scale

        x = x * styles.reshape(batch, inputs, 1, 1)
        x = F.conv2d(x, weight, padding=(kernel - 1) // 2)
        if not self.demodulate:
            return x

        # d[b, o] = 1 / sqrt(sum over i, k of (weight[o, i, k] * style[b, i])^2 + 1e-8)
        weight_energy = weight.square().sum(dim=(2, 3))
        energy = styles.square().matmul(weight_energy.t())
        demodulation = (energy + 1e-8).sqrt().reciprocal()
        return x * demodulation.reshape(batch, outputs, 1, 1)


def upsample(x):
    """Double the spatial size with bilinear interpolation.

    burn 0.22.1's `InterpolateOptions::new` sets align_corners to true, and kao does not
    change it, so this does the same.
    """
    height, width = x.shape[2:]
    return F.interpolate(x, size=(2 * height, 2 * width), mode="bilinear", align_corners=True)


def downsample(x):
    """Halve the spatial size with a 2x2 average."""
    return F.avg_pool2d(x, 2, stride=2)


# ---------------------------------------------------------------------------------------
# StyleGAN generator


def channels_at(resolution, max_channels):
    """Return the width at `resolution`: `max_channels` up to 16 px, then halving per
    doubling of the resolution, at least 16 (kao's `channels_at`)."""
    width = max_channels * 16 // max(resolution, 16)
    return min(max(width, min(16, max_channels)), max_channels)


def num_ws(resolution):
    """Return the number of w vectors the synthesis network takes: one per modulated
    convolution plus one for the last toRGB layer."""
    return 2 * (resolution.bit_length() - 1) - 2


def layer_resolutions(resolution):
    """Return the output side length of each styled convolution, which its noise matches."""
    sizes = [4]
    size = 8
    while size <= resolution:
        sizes += [size, size]
        size *= 2
    return sizes


class Mapping(nn.Module):
    """8-layer mapping network z -> w with a tracked average of w."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(
            EqualLinear(LATENT_DIM, LATENT_DIM, MAPPING_LR_MULTIPLIER, 0.0) for _ in range(MAPPING_LAYERS)
        )
        self.register_buffer("w_avg", torch.zeros(LATENT_DIM))

    def forward(self, z):
        # z is normalised to unit mean square first.
        w = z / (z.square().mean(dim=1, keepdim=True) + 1e-8).sqrt()
        for layer in self.layers:
            w = lrelu(layer(w))
        return w


class StyledConv(nn.Module):
    """Modulated 3x3 convolution with optional 2x bilinear upsampling before it, then noise
    with a per-channel strength, bias and activation."""

    def __init__(self, inputs, outputs, upsample_first):
        super().__init__()
        self.conv = ModulatedConv2d(inputs, outputs, 3, demodulate=True)
        self.noise_strength = nn.Parameter(torch.zeros(outputs))
        self.bias = nn.Parameter(torch.zeros(outputs))
        self.upsample_first = upsample_first

    def forward(self, x, w, noise):
        if self.upsample_first:
            x = upsample(x)
        x = self.conv(x, w)
        channels = x.shape[1]
        if noise is not None:
            x = x + noise * self.noise_strength.reshape(1, channels, 1, 1)
        return lrelu(x + self.bias.reshape(1, channels, 1, 1))


class ToRgb(nn.Module):
    """Modulated 1x1 convolution to RGB without demodulation, plus a bias."""

    def __init__(self, inputs):
        super().__init__()
        self.conv = ModulatedConv2d(inputs, 3, 1, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(3))

    def forward(self, x, w):
        return self.conv(x, w) + self.bias.reshape(1, 3, 1, 1)


class Synthesis(nn.Module):
    """Learned 4x4 constant, then per resolution two styled convolutions and a toRGB output
    that is added to the upsampled sum of the previous ones (skip architecture)."""

    def __init__(self, resolution, max_channels):
        super().__init__()
        first = channels_at(4, max_channels)
        self.constant = nn.Parameter(torch.randn(1, first, 4, 4))
        self.convs = nn.ModuleList([StyledConv(first, first, upsample_first=False)])
        self.to_rgbs = nn.ModuleList([ToRgb(first)])
        size = 8
        while size <= resolution:
            inputs, outputs = channels_at(size // 2, max_channels), channels_at(size, max_channels)
            self.convs.append(StyledConv(inputs, outputs, upsample_first=True))
            self.convs.append(StyledConv(outputs, outputs, upsample_first=False))
            self.to_rgbs.append(ToRgb(outputs))
            size *= 2
        self.resolution = resolution

    def forward(self, ws, noise):
        batch, count, _ = ws.shape
        assert count == num_ws(self.resolution), f"ws must contain one w per layer, got {count}"
        assert len(noise) == len(self.convs), f"expected one noise entry per styled convolution, got {len(noise)}"

        x = self.constant.expand(batch, -1, -1, -1)
        x = self.convs[0](x, ws[:, 0], noise[0])
        img = self.to_rgbs[0](x, ws[:, 1])

        # The toRGB layer of each level takes the same w as the next level's first convolution.
        for level in range(1, len(self.to_rgbs)):
            first = 2 * level - 1
            x = self.convs[first](x, ws[:, first], noise[first])
            x = self.convs[first + 1](x, ws[:, first + 1], noise[first + 1])
            img = upsample(img) + self.to_rgbs[level](x, ws[:, first + 2])
        return img


class StyleGenerator(nn.Module):
    """StyleGAN-style generator: mapping plus synthesis."""

    def __init__(self, resolution, max_channels):
        super().__init__()
        self.mapping = Mapping()
        self.synthesis = Synthesis(resolution, max_channels)

    def mapping_ws(self, z, mix, track_w_avg):
        """Map z to ws [batch, num_ws, 512]. With `mix = (z2, cutoff)`, the layers from
        `cutoff` on take their w from z2. With `track_w_avg`, move the tracked w average
        towards this batch's mean."""
        count = num_ws(self.synthesis.resolution)
        w = self.mapping(z)
        if track_w_avg:
            with torch.no_grad():
                batch_mean = w.detach().mean(dim=0)
                self.mapping.w_avg.copy_(self.mapping.w_avg * W_AVG_BETA + batch_mean * (1.0 - W_AVG_BETA))
        ws = w.unsqueeze(1).repeat(1, count, 1)
        if mix is None:
            return ws
        z2, cutoff = mix
        ws2 = self.mapping(z2).unsqueeze(1).repeat(1, count, 1)
        return torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)


# ---------------------------------------------------------------------------------------
# StyleGAN discriminator


class ResidualBlock(nn.Module):
    """3x3 convolution, 2x2 average pool and a second 3x3 convolution, beside a pooled 1x1
    skip. The sum is scaled by 1/sqrt(2) to keep unit variance."""

    def __init__(self, inputs, outputs):
        super().__init__()
        self.conv = EqualConv2d(inputs, inputs, 3, bias=True)
        self.down = EqualConv2d(inputs, outputs, 3, bias=True)
        self.skip = EqualConv2d(inputs, outputs, 1, bias=False)

    def forward(self, x):
        skip = self.skip(downsample(x))
        x = lrelu(self.conv(x))
        x = lrelu(self.down(downsample(x)))
        return (skip + x) * (1.0 / math.sqrt(2.0))


def minibatch_stddev(x):
    """Append one channel with the mean standard deviation of the features across groups of
    up to 4 images, as kao's `minibatch_stddev` groups them."""
    batch, channels, height, width = x.shape
    group = next(size for size in range(min(MBSTD_GROUP, batch), 0, -1) if batch % size == 0)
    grouped = x.reshape(group, batch // group, channels, height, width)
    centred = grouped - grouped.mean(dim=0, keepdim=True)
    deviation = (centred.square().mean(dim=0) + 1e-8).sqrt()
    per_group = deviation.reshape(batch // group, channels * height * width).mean(dim=1)
    feature = per_group.reshape(1, batch // group, 1, 1).repeat(group, 1, 1, 1).reshape(batch, 1, 1, 1)
    return torch.cat([x, feature.expand(batch, 1, height, width)], dim=1)


class StyleDiscriminator(nn.Module):
    """Residual D with a minibatch standard deviation layer at 4x4, giving one logit per image."""

    def __init__(self, resolution, max_channels):
        super().__init__()
        self.from_rgb = EqualConv2d(3, channels_at(resolution, max_channels), 1, bias=True)
        self.blocks = nn.ModuleList()
        size = resolution
        while size > 4:
            inputs, outputs = channels_at(size, max_channels), channels_at(size // 2, max_channels)
            self.blocks.append(ResidualBlock(inputs, outputs))
            size //= 2
        channels = channels_at(4, max_channels)
        self.final_conv = EqualConv2d(channels + 1, channels, 3, bias=True)
        self.dense = EqualLinear(channels * 16, channels, 1.0, 0.0)
        self.output = EqualLinear(channels, 1, 1.0, 0.0)

    def forward(self, img):
        batch = img.shape[0]
        x = lrelu(self.from_rgb(img))
        for block in self.blocks:
            x = block(x)
        x = lrelu(self.final_conv(minibatch_stddev(x)))
        assert x.shape[2:] == (4, 4), f"the last block must end at 4x4, got {tuple(x.shape[2:])}"
        x = lrelu(self.dense(x.reshape(batch, -1)))
        return self.output(x).reshape(batch)


# ---------------------------------------------------------------------------------------
# Losses (src/loss.rs), on raw logits


def d_logistic_loss(real_logits, fake_logits):
    """E[-log D(x)] + E[-log(1 - D(G(z)))] in the softplus form."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_nonsaturating_loss(fake_logits):
    """E[-log D(G(z))] in the softplus form."""
    return F.softplus(-fake_logits).mean()


# ---------------------------------------------------------------------------------------
# DiffAugment, the same colour, translation and cutout ops as kao's


def diff_augment(img, generator):
    """Apply the colour, translation and cutout policy to `img` [batch, 3, h, w]."""
    return cutout(translation(color(img, generator), generator), generator)


def per_image(batch, generator):
    """Draw one uniform [0, 1) value per image, shaped [batch, 1, 1, 1]."""
    return torch.rand(batch, 1, 1, 1, generator=generator)


def color(img, generator):
    """Shift brightness by [-0.5, 0.5), scale saturation by [0, 2) and contrast by [0.5, 1.5),
    per image."""
    batch = img.shape[0]
    img = img + (per_image(batch, generator) - 0.5)

    channel_mean = img.mean(dim=1, keepdim=True)
    img = (img - channel_mean) * (per_image(batch, generator) * 2.0) + channel_mean

    image_mean = img.reshape(batch, -1).mean(dim=1).reshape(batch, 1, 1, 1)
    return (img - image_mean) * (per_image(batch, generator) + 0.5) + image_mean


def translation(img, generator):
    """Shift each image by up to 1/8 of its side in x and y, filling with zeros. Like kao,
    this pads once and slices one window per image."""
    batch, _, height, width = img.shape
    shift = int(height * TRANSLATION_RATIO + 0.5)
    padded = F.pad(img, (shift, shift, shift, shift))
    offsets = torch.randint(0, 2 * shift + 1, (batch, 2), generator=generator).tolist()
    windows = [padded[index : index + 1, :, dy : dy + height, dx : dx + width] for index, (dy, dx) in enumerate(offsets)]
    return torch.cat(windows, dim=0)


def cutout(img, generator):
    """Zero one square of half the image side per image, at a random centre."""
    batch, _, height, width = img.shape
    cut_h, cut_w = int(height * CUTOUT_RATIO + 0.5), int(width * CUTOUT_RATIO + 0.5)
    centres_y = torch.randint(0, height + 1 - cut_h % 2, (batch,), generator=generator).tolist()
    centres_x = torch.randint(0, width + 1 - cut_w % 2, (batch,), generator=generator).tolist()
    mask = torch.ones(batch, 1, height, width)
    for index, (centre_y, centre_x) in enumerate(zip(centres_y, centres_x)):
        top, bottom = max(centre_y - cut_h // 2, 0), min(centre_y + cut_h // 2, height)
        left, right = max(centre_x - cut_w // 2, 0), min(centre_x + cut_w // 2, width)
        mask[index, :, top:bottom, left:right] = 0.0
    return img * mask


# ---------------------------------------------------------------------------------------
# Generator inputs and forward passes


@dataclass
class GeneratorInputs:
    """Everything random that one generator pass consumes, as kao's `Latents`."""

    z: torch.Tensor
    mix: tuple | None
    noise: list


def draw_inputs(settings, batch, generator, scalar_rng):
    """Draw z from N(0, I) and, for StyleGAN, one N(0, 1) noise map per styled convolution
    and, with probability `style_mixing`, a second z and a crossover layer from 1 to the
    number of styled convolutions (kao's `draw_latents`)."""
    z = torch.randn(batch, settings.latent_dim, generator=generator)
    if settings.arch == "dcgan":
        return GeneratorInputs(z, None, [])
    sizes = layer_resolutions(settings.resolution)
    noise = [torch.randn(batch, 1, size, size, generator=generator) for size in sizes]
    mix = None
    if scalar_rng.random() < settings.style_mixing:
        z2 = torch.randn(batch, settings.latent_dim, generator=generator)
        mix = (z2, 1 + scalar_rng.randrange(len(sizes)))
    return GeneratorInputs(z, mix, noise)


def run_generator(net, inputs, training):
    """Run either generator as kao's `GeneratorNet::forward` does. `training` also moves
    StyleGAN's tracked w average."""
    if isinstance(net, DcganGenerator):
        return net(inputs.z)
    ws = net.mapping_ws(inputs.z, inputs.mix, track_w_avg=training)
    return net.synthesis(ws, inputs.noise)


def truncated_ws(net, z, psi):
    """Map z to ws as kao's generation does: one truncated w per layer,
    `w_avg + psi (w - w_avg)`, concatenated. psi 1 leaves w unchanged."""
    w = net.mapping(z)
    w_avg = net.mapping.w_avg.reshape(1, -1)
    layers = [(w_avg + (w - w_avg) * psi).unsqueeze(1) for _ in range(num_ws(net.synthesis.resolution))]
    return torch.cat(layers, dim=1)


def build_networks(settings):
    """Build G and D as kao initialises them for a new run."""
    if settings.arch == "dcgan":
        generator = dcgan_init(DcganGenerator(settings.resolution, settings.latent_dim, settings.channels))
        discriminator = dcgan_init(DcganDiscriminator(settings.resolution, settings.channels))
    else:
        generator = StyleGenerator(settings.resolution, settings.channels)
        discriminator = StyleDiscriminator(settings.resolution, settings.channels)
    return generator, discriminator


# ---------------------------------------------------------------------------------------
# Training step and generation


class Trainer:
    """Networks, optimizers and random generators of one run, and its joint GAN step."""

    def __init__(self, settings, batch):
        self.settings = settings
        self.batch = batch
        self.generator, self.discriminator = build_networks(settings)
        self.optimizer_g = adam(self.generator, settings)
        self.optimizer_d = adam(self.discriminator, settings)
        self.ema = None
        if settings.ema_kimg is not None:
            self.ema = copy.deepcopy(self.generator).requires_grad_(False)
            # Decay per step for a half-life of ema_kimg thousand images (kao's `ema_beta`).
            self.ema_beta = 0.5 ** (batch / (settings.ema_kimg * 1000.0))
        self.torch_rng = torch.Generator().manual_seed(1)
        self.scalar_rng = random.Random(1)

    def augment(self, img):
        if not self.settings.diffaugment:
            return img
        return diff_augment(img, self.torch_rng)

    def step(self, real):
        """Run kao's `Session::step`: D learns to tell `real` from G's fakes, then G learns to
        fool the updated D on the same fakes. Returns the losses and D's mean outputs."""
        inputs = draw_inputs(self.settings, self.batch, self.torch_rng, self.scalar_rng)
        fake = run_generator(self.generator, inputs, training=True)
        expected = (self.batch, 3, self.settings.resolution, self.settings.resolution)
        assert fake.shape == expected, f"G output {tuple(fake.shape)}, expected {expected}"

        # D step: the fakes are detached so D's loss does not reach G.
        real_logits = self.discriminator(self.augment(real))
        fake_logits = self.discriminator(self.augment(fake.detach()))
        d_real = torch.sigmoid(real_logits.detach()).mean()
        d_fake = torch.sigmoid(fake_logits.detach()).mean()
        loss_d = d_logistic_loss(real_logits, fake_logits)
        self.optimizer_d.zero_grad()
        loss_d.backward()
        self.optimizer_d.step()

        # G step on the same fake batch through the updated D. As in kao, D's weights are
        # constants for this pass, so the backward computes no D weight gradients.
        self.discriminator.requires_grad_(False)
        loss_g = g_nonsaturating_loss(self.discriminator(self.augment(fake)))
        self.optimizer_g.zero_grad()
        loss_g.backward()
        self.optimizer_g.step()
        self.discriminator.requires_grad_(True)

        if self.ema is not None:
            update_ema(self.ema, self.generator, self.ema_beta)

        # Reading the scalars back matches kao, which copies them to the host every step.
        return {
            "loss_d": loss_d.item(),
            "loss_g": loss_g.item(),
            "d_real": d_real.item(),
            "d_fake": d_fake.item(),
        }


def adam(module, settings):
    # eps 1e-8 as kao sets it. On the CPU, PyTorch 2.15 defaults to its single-tensor
    # implementation (neither foreach nor fused).
    return torch.optim.Adam(module.parameters(), lr=settings.lr, betas=settings.betas, eps=1e-8)


@torch.no_grad()
def update_ema(ema, generator, beta):
    """Move every weight of `ema` towards `generator`'s, `ema = beta ema + (1 - beta) g`, and
    copy the tracked w average, as kao's `ema::update` does."""
    for average, current in zip(ema.parameters(), generator.parameters()):
        average.mul_(beta).add_(current, alpha=1.0 - beta)
    for average, current in zip(ema.buffers(), generator.buffers()):
        average.copy_(current)


class Sampler:
    """Generator in inference mode, timed the way kao generates faces."""

    def __init__(self, settings, batch):
        self.settings = settings
        self.batch = batch
        generator, _ = build_networks(settings)
        # kao samples StyleGAN from the moving average of G and DCGAN from G itself. Both have
        # G's shape, so a freshly initialised G is timed for either.
        self.generator = generator.eval().requires_grad_(False)
        self.torch_rng = torch.Generator().manual_seed(1)

    @torch.no_grad()
    def step(self):
        """Generate one batch: DCGAN from z, StyleGAN with noise at every layer and psi 1."""
        z = torch.randn(self.batch, self.settings.latent_dim, generator=self.torch_rng)
        if isinstance(self.generator, DcganGenerator):
            images = self.generator(z)
        else:
            sizes = layer_resolutions(self.settings.resolution)
            noise = [torch.randn(self.batch, 1, size, size, generator=self.torch_rng) for size in sizes]
            images = self.generator.synthesis(truncated_ws(self.generator, z, psi=1.0), noise)
        expected = (self.batch, 3, self.settings.resolution, self.settings.resolution)
        assert images.shape == expected, f"G output {tuple(images.shape)}, expected {expected}"
        return images


# ---------------------------------------------------------------------------------------
# Timing and command line


def time_steps(step, warmup, steps):
    """Run `warmup` untimed steps, then `steps` timed ones, and return the timed seconds."""
    for _ in range(warmup):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - started


def peak_rss_mib():
    """Return this process's peak resident set size in MiB (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def count_parameters(module):
    return sum(parameter.numel() for parameter in module.parameters())


def count_buffers(module):
    # Float buffers only: BatchNorm's integer num_batches_tracked has no counterpart in burn.
    return sum(buffer.numel() for buffer in module.buffers() if buffer.is_floating_point())


def print_counts(generator, discriminator):
    for name, module in (("G", generator), ("D", discriminator)):
        print(
            f"{name}: {count_parameters(module)} parameters, {count_buffers(module)} buffer values "
            "(BatchNorm running mean and variance, StyleGAN's tracked w average)",
            file=sys.stderr,
        )


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, choices=["dcgan-64", "dcgan-128", "stylegan-64"])
    parser.add_argument("--mode", required=True, choices=["train", "generate"])
    parser.add_argument(
        "--batch", type=int, help="images per step [default: train 64 for DCGAN, 32 for StyleGAN; generate 64]"
    )
    parser.add_argument("--steps", type=int, default=10, help="timed steps [default: 10]")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps before timing [default: 2]")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="intra-op CPU threads [default: all cores]")
    args = parser.parse_args()
    for name in ("batch", "steps", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"invalid --{name} {value}: give at least 1")
    if args.warmup < 0:
        parser.error(f"invalid --warmup {args.warmup}: give 0 or more")
    return args


def main():
    args = parse_args()
    # Importing torch alone takes a large share of peak_rss_mib, so report it separately.
    print(f"peak RSS after importing torch: {peak_rss_mib():.1f} MiB", file=sys.stderr)
    # Interop threads must be set before any parallel work starts. With one, --threads is the
    # only parallelism.
    torch.set_num_interop_threads(1)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    settings = settings_for(args.model)
    if args.mode == "train":
        batch = args.batch or settings.batch
        trainer = Trainer(settings, batch)
        print_counts(trainer.generator, trainer.discriminator)
        real = torch.rand(batch, 3, settings.resolution, settings.resolution) * 2.0 - 1.0
        seconds = time_steps(lambda: trainer.step(real), args.warmup, args.steps)
    else:
        batch = args.batch or GENERATE_BATCH
        sampler = Sampler(settings, batch)
        # D only for its parameter count, on the meta device so it takes no memory.
        with torch.device("meta"):
            _, discriminator = build_networks(settings)
        print_counts(sampler.generator, discriminator)
        seconds = time_steps(sampler.step, args.warmup, args.steps)

    print(
        json.dumps(
            {
                "program": "pytorch",
                "model": args.model,
                "mode": args.mode,
                "batch": batch,
                "threads": torch.get_num_threads(),
                "steps": args.steps,
                "images_per_second": round(batch * args.steps / seconds, 2),
                "peak_rss_mib": round(peak_rss_mib(), 1),
                "version": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
