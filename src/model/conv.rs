//! Faster forms of DCGAN's convolutions on burn's CPU backend.
//!
//! burn Flex 0.22 runs a convolution or transposed convolution as one small matrix
//! multiplication per image. A layer's weights are then read once per image, and at DCGAN's 1x1
//! to 8x8 feature maps that reading dominates. The functions here compute the same results
//! with one multiplication for the whole batch:
//!
//! - [`project_latent`] and [`conv2d_whole_image`]: G's first and D's last layer, whose kernel
//!   covers the whole input, are plain matrix products, and burn differentiates them as such.
//! - [`conv_transpose2d_stride2_inference`]: G's upsampling layers for generation only (no
//!   autodiff), one `[batch * pixels, in] x [in, out * 16]` product, then each product is added
//!   to the output pixel it lands on, with the folded BatchNorm and ReLU in the same pass.
//!
//! NOTE: rebuilding the stride-2 convolutions from burn tensor operations (space-to-depth,
//! slices, one matmul) was measured 1.3 to 3 times slower than burn's kernels, because each
//! rearrangement is a separate copy. Training uses the backend extension in `cpu_ops` instead.

use burn::nn::BatchNorm;
use burn::tensor::{Device, Tensor, TensorData};

use super::{cpu_kernels, tensor_values};

/// Returns true on burn's CPU backend, where the batched forms are faster. GPU backends keep
/// their own convolution kernels. Setting the environment variable `KAO_CONV=burn` selects
/// burn's convolutions on the CPU too, to compare the two.
pub fn prefers_matmul_convolutions(device: &Device) -> bool {
    !burn_kernels_requested() && device.clone().inner() == Device::flex()
}

/// Returns true when the environment variable `KAO_CONV=burn` requests burn's own kernels.
pub fn burn_kernels_requested() -> bool {
    static REQUESTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *REQUESTED.get_or_init(|| std::env::var("KAO_CONV").is_ok_and(|value| value == "burn"))
}

/// Transposed convolution of latents `z` `[batch, latent]` seen as 1x1 images with `weight`
/// `[latent, out, k, k]` (stride 1, no padding), giving `[batch, out, k, k]`.
pub fn project_latent(z: Tensor<2>, weight: Tensor<4>) -> Tensor<4> {
    let [batch, latent] = z.dims();
    let [in_channels, out_channels, kernel_h, kernel_w] = weight.dims();
    assert_eq!(in_channels, latent, "weight must be [latent, out, k, k]");
    let weight = weight.reshape([latent, out_channels * kernel_h * kernel_w]);
    z.matmul(weight).reshape([batch, out_channels, kernel_h, kernel_w])
}

/// Convolution without padding whose kernel covers the whole input: `x` `[batch, in, h, w]`
/// with `weight` `[out, in, h, w]` gives `[batch, out]`.
pub fn conv2d_whole_image(x: Tensor<4>, weight: Tensor<4>) -> Tensor<2> {
    let [batch, channels, height, width] = x.dims();
    let [out_channels, in_channels, kernel_h, kernel_w] = weight.dims();
    assert_eq!([in_channels, kernel_h, kernel_w], [channels, height, width], "kernel must cover the input");
    let features = channels * height * width;
    x.reshape([batch, features]).matmul(weight.reshape([out_channels, features]).transpose())
}


/// Per-channel `y = x * scale + shift`, the inference form of a BatchNorm.
#[derive(Clone, Debug)]
pub struct ChannelAffine {
    pub scale: Vec<f32>,
    pub shift: Vec<f32>,
}

impl ChannelAffine {
    /// Folds a BatchNorm's running statistics and learned affine into one scale and shift.
    pub fn from_batch_norm(norm: &BatchNorm) -> Self {
        let mean = tensor_values(norm.running_mean.value());
        let var = tensor_values(norm.running_var.value());
        let gamma = tensor_values(norm.gamma.val());
        let beta = tensor_values(norm.beta.val());
        let scale: Vec<f32> = gamma.iter().zip(&var).map(|(g, v)| g / (v + norm.epsilon as f32).sqrt()).collect();
        let shift = beta.iter().zip(&mean).zip(&scale).map(|((b, m), s)| b - m * s).collect();
        Self { scale, shift }
    }
}

/// Transposed convolution of `x` `[batch, in, h, w]` with `weight` `[in, out, 4, 4]` at stride 2
/// and padding 1, giving `[batch, out, 2h, 2w]`, followed by `affine` and ReLU when given. For
/// inference on the CPU: the result has no autodiff history.
pub fn conv_transpose2d_stride2_inference(
    x: Tensor<4>,
    weight: Tensor<4>,
    affine: Option<&ChannelAffine>,
    relu: bool,
) -> Tensor<4> {
    let device = x.device();
    let shape = x.dims();
    let [_, out_channels, ..] = weight.dims();
    let output = cpu_kernels::conv_transpose2d_stride2(
        &tensor_values(x),
        shape,
        &tensor_values(weight),
        out_channels,
        affine,
        relu,
    );
    let [batch, _, height, width] = shape;
    Tensor::from_data(TensorData::new(output, [batch, out_channels, 2 * height, 2 * width]), &device)
}

#[cfg(test)]
pub(crate) mod tests {
    use burn::tensor::module::{conv_transpose2d, conv2d};
    use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
    use burn::tensor::{Device, Tensor, TensorData};

    use super::*;
    use crate::model::tensor_values;
    use crate::rng::KaoRng;

    pub(crate) fn random<const D: usize>(rng: &mut KaoRng, shape: [usize; D], device: &Device) -> Tensor<D> {
        let values = rng.normal_vec(shape.iter().product());
        let tensor = Tensor::from_data(TensorData::new(values, shape), device);
        if device.is_autodiff() { tensor.require_grad() } else { tensor }
    }

    pub(crate) fn assert_close(name: &str, actual: Vec<f32>, expected: Vec<f32>) {
        assert_eq!(actual.len(), expected.len(), "{name}: lengths differ");
        let scale = expected.iter().fold(1f32, |max, value| max.max(value.abs()));
        for (index, (a, e)) in actual.iter().zip(&expected).enumerate() {
            assert!((a - e).abs() <= 1e-4 * scale, "{name}[{index}]: {a} vs burn {e}");
        }
    }

    /// Runs `ours` and `burn` on the same inputs and compares outputs and both gradients.
    pub(crate) fn compare(
        x_shape: [usize; 4],
        w_shape: [usize; 4],
        ours: impl Fn(Tensor<4>, Tensor<4>) -> Tensor<4>,
        burn: impl Fn(Tensor<4>, Tensor<4>) -> Tensor<4>,
    ) {
        let device = Device::flex().autodiff();
        let mut rng = KaoRng::seed_from_u64(7);
        let (x, weight) = (random(&mut rng, x_shape, &device), random(&mut rng, w_shape, &device));
        let upstream = {
            let expected = burn(x.clone().detach(), weight.clone().detach());
            random(&mut rng, expected.dims(), &device).detach()
        };

        let ours_out = ours(x.clone(), weight.clone());
        let burn_out = burn(x.clone(), weight.clone());
        assert_eq!(ours_out.dims(), burn_out.dims(), "output shapes");
        let ours_grads = (ours_out.clone() * upstream.clone()).sum().backward();
        let burn_grads = (burn_out.clone() * upstream).sum().backward();

        assert_close("output", tensor_values(ours_out), tensor_values(burn_out));
        let grad = |grads: &burn::tensor::Gradients, tensor: &Tensor<4>| tensor_values(tensor.grad(grads).expect("gradient"));
        assert_close("x gradient", grad(&ours_grads, &x), grad(&burn_grads, &x));
        assert_close("weight gradient", grad(&ours_grads, &weight), grad(&burn_grads, &weight));
    }

    #[test]
    fn latent_projection_matches_burn() {
        let options = ConvTransposeOptions::new([1, 1], [0, 0], [0, 0], [1, 1], 1);
        compare(
            [3, 6, 1, 1],
            [6, 5, 4, 4],
            |x, w| project_latent(x.reshape([3, 6]), w),
            |x, w| conv_transpose2d(x, w, None, options.clone()),
        );
    }

    #[test]
    fn whole_image_conv_matches_burn() {
        let options = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
        compare(
            [3, 5, 4, 4],
            [2, 5, 4, 4],
            |x, w| conv2d_whole_image(x, w).reshape([3, 2, 1, 1]),
            |x, w| conv2d(x, w, None, options.clone()),
        );
    }

    #[test]
    fn inference_transposed_conv_matches_burn() {
        let device = Device::flex();
        let mut rng = KaoRng::seed_from_u64(3);
        let x: Tensor<4> = random(&mut rng, [3, 5, 4, 3], &device);
        let weight: Tensor<4> = random(&mut rng, [5, 7, 4, 4], &device);
        let norm = burn::nn::BatchNormConfig::new(7).init(&device);
        let norm = BatchNorm {
            gamma: burn::module::Param::from_tensor(random(&mut rng, [7], &device)),
            beta: burn::module::Param::from_tensor(random(&mut rng, [7], &device)),
            ..norm
        };
        norm.running_mean.update(random(&mut rng, [7], &device));
        norm.running_var.update(random::<1>(&mut rng, [7], &device).abs().add_scalar(0.5));

        let options = ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1);
        let plain = conv_transpose2d(x.clone(), weight.clone(), None, options);
        let expected = burn::tensor::activation::relu(norm.forward(plain.clone()));

        let bare = conv_transpose2d_stride2_inference(x.clone(), weight.clone(), None, false);
        assert_eq!(bare.dims(), plain.dims(), "output shape");
        assert_close("without affine", tensor_values(bare), tensor_values(plain));
        let affine = ChannelAffine::from_batch_norm(&norm);
        let fused = conv_transpose2d_stride2_inference(x, weight, Some(&affine), true);
        assert_close("with BatchNorm and ReLU", tensor_values(fused), tensor_values(expected));
    }
}
