//! Layers with equalised learning rate (Karras et al. 2018): weights are stored as N(0, 1)
//! draws and scaled by He's constant at run time, so Adam updates every layer at the same
//! relative speed.

use burn::module::{Module, Param};
use burn::tensor::activation::leaky_relu;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};

/// Gain that keeps a LeakyReLU(0.2) layer's output variance near its input's.
pub const LRELU_GAIN: f64 = std::f64::consts::SQRT_2;
/// Negative slope of every StyleGAN LeakyReLU.
pub const LRELU_SLOPE: f64 = 0.2;

/// LeakyReLU(0.2) scaled by sqrt(2).
pub fn lrelu(x: Tensor<4>) -> Tensor<4> {
    leaky_relu(x, LRELU_SLOPE).mul_scalar(LRELU_GAIN)
}

/// A fully connected layer `y = x W^T * scale + b * lr_multiplier`.
#[derive(Module, Debug)]
pub struct EqualLinear {
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<1>>,
    weight_scale: f64,
    lr_multiplier: f64,
}

impl EqualLinear {
    /// Creates a layer of `input` to `output` features. `lr_multiplier` scales the effective
    /// learning rate (0.01 in the mapping network); `bias_init` is the initial effective bias.
    pub fn new(input: usize, output: usize, lr_multiplier: f64, bias_init: f64, device: &Device) -> Self {
        let weight = Tensor::random([output, input], Distribution::Normal(0.0, 1.0 / lr_multiplier), device);
        let bias = Tensor::full([output], bias_init / lr_multiplier, device);
        Self {
            weight: Param::from_tensor(weight),
            bias: Param::from_tensor(bias),
            weight_scale: lr_multiplier / (input as f64).sqrt(),
            lr_multiplier,
        }
    }

    /// Maps `x` of shape `[batch, input]` to `[batch, output]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let weight = self.weight.val().mul_scalar(self.weight_scale);
        let bias = self.bias.val().mul_scalar(self.lr_multiplier);
        x.matmul(weight.transpose()) + bias.unsqueeze_dim(0)
    }
}

/// A 2-D convolution with equalised learning rate and "same" padding.
#[derive(Module, Debug)]
pub struct EqualConv2d {
    pub weight: Param<Tensor<4>>,
    pub bias: Option<Param<Tensor<1>>>,
    weight_scale: f64,
    stride: usize,
}

impl EqualConv2d {
    /// Creates a `kernel` x `kernel` convolution; `stride` 2 halves the resolution.
    pub fn new(input: usize, output: usize, kernel: usize, stride: usize, bias: bool, device: &Device) -> Self {
        let weight = Tensor::random([output, input, kernel, kernel], Distribution::Normal(0.0, 1.0), device);
        Self {
            weight: Param::from_tensor(weight),
            bias: bias.then(|| Param::from_tensor(Tensor::zeros([output], device))),
            weight_scale: 1.0 / ((input * kernel * kernel) as f64).sqrt(),
            stride,
        }
    }

    /// Convolves `x` of shape `[batch, input, height, width]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, kernel, _] = self.weight.dims();
        let padding = (kernel - 1) / 2;
        let options = ConvOptions::new([self.stride; 2], [padding; 2], [1, 1], 1);
        let weight = self.weight.val().mul_scalar(self.weight_scale);
        conv2d(x, weight, self.bias.as_ref().map(|bias| bias.val()), options)
    }
}

/// A StyleGAN2 modulated convolution: each sample's style scales the input channels, and
/// (optionally) demodulation rescales each output channel to unit expected variance.
///
/// Computed as scale inputs, shared convolution, scale outputs, which equals convolving each
/// sample with its own modulated weights. It needs one ordinary batched convolution instead of
/// a grouped convolution with one group per sample.
#[derive(Module, Debug)]
pub struct ModulatedConv2d {
    pub weight: Param<Tensor<4>>,
    /// Affine map from w to the per-input-channel style, biased to start at 1.
    pub affine: EqualLinear,
    weight_scale: f64,
    demodulate: bool,
}

impl ModulatedConv2d {
    /// Creates a modulated `kernel` x `kernel` convolution taking styles from `w_dim`-long w.
    pub fn new(input: usize, output: usize, kernel: usize, w_dim: usize, demodulate: bool, device: &Device) -> Self {
        let weight = Tensor::random([output, input, kernel, kernel], Distribution::Normal(0.0, 1.0), device);
        Self {
            weight: Param::from_tensor(weight),
            affine: EqualLinear::new(w_dim, input, 1.0, 1.0, device),
            weight_scale: 1.0 / ((input * kernel * kernel) as f64).sqrt(),
            demodulate,
        }
    }

    /// Convolves `x` `[batch, input, h, w]` with the style of `w` `[batch, w_dim]`.
    pub fn forward(&self, x: Tensor<4>, w: Tensor<2>) -> Tensor<4> {
        let [batch, input, ..] = x.dims();
        let [output, _, kernel, _] = self.weight.dims();
        let styles = self.affine.forward(w);
        assert_eq!(styles.dims(), [batch, input], "one style per input channel");
        let weight = self.weight.val().mul_scalar(self.weight_scale);

        let x = x * styles.clone().reshape([batch, input, 1, 1]);
        let padding = (kernel - 1) / 2;
        let x = conv2d(x, weight.clone(), None, ConvOptions::new([1, 1], [padding; 2], [1, 1], 1));
        if !self.demodulate {
            return x;
        }

        // d[b, o] = 1 / sqrt(sum_i,k (weight[o, i, k] * style[b, i])^2 + 1e-8)
        let weight_energy = weight.powi_scalar(2).sum_dim(3).sum_dim(2).reshape([output, input]);
        let energy = styles.powi_scalar(2).matmul(weight_energy.transpose());
        let demodulation = energy.add_scalar(1e-8).sqrt().recip();
        x * demodulation.reshape([batch, output, 1, 1])
    }
}
