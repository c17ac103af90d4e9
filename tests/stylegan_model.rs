//! Shapes and arithmetic of the StyleGAN-style networks.

use burn::module::Module;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use kao::model::init::stylegan_init;
use kao::model::layers::ModulatedConv2d;
use kao::model::stylegan::{Discriminator, Generator, LATENT_DIM, channels_at, num_ws};
use kao::model::tensor_values;
use kao::rng::KaoRng;

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn generator_and_discriminator_shapes() {
    let device = Device::flex();
    for resolution in [64, 128] {
        let mut rng = KaoRng::seed_from_u64(1);
        let generator = stylegan_init(Generator::new(resolution, 32, &device), &mut rng);
        let discriminator = stylegan_init(Discriminator::new(resolution, 32, &device), &mut rng);
        let layers = generator.synthesis.layer_resolutions();
        assert_eq!(layers.len() + 1, num_ws(resolution));
        assert_eq!(*layers.last().unwrap(), resolution);

        let z = Tensor::<2>::random([3, LATENT_DIM], Distribution::Normal(0.0, 1.0), &device);
        let w = generator.mapping.forward(z);
        assert_eq!(w.dims(), [3, LATENT_DIM]);
        let ws = w.unsqueeze_dim::<3>(1).repeat_dim(1, num_ws(resolution));
        let img = generator.synthesis.forward(ws, vec![None; layers.len()]);
        assert_eq!(img.dims(), [3, 3, resolution, resolution]);
        let values = tensor_values(img.clone());
        assert!(values.iter().all(|v| v.is_finite()));

        let logits = discriminator.forward(img);
        assert_eq!(logits.dims(), [3]);
        assert!(tensor_values(logits).iter().all(|v| v.is_finite()));
    }
}

#[test]
fn channel_widths_halve_above_16px() {
    assert_eq!(channels_at(4, 128), 128);
    assert_eq!(channels_at(16, 128), 128);
    assert_eq!(channels_at(32, 128), 64);
    assert_eq!(channels_at(64, 128), 32);
    assert_eq!(channels_at(128, 128), 16);
    assert_eq!(num_ws(64), 10);
    assert_eq!(num_ws(128), 12);
}

#[test]
fn modulated_conv_matches_per_sample_weights() {
    let device = Device::flex();
    let mut rng = KaoRng::seed_from_u64(3);
    let layer = stylegan_init(ModulatedConv2d::new(4, 5, 3, 8, true, &device), &mut rng);
    let x = Tensor::<4>::random([2, 4, 6, 6], Distribution::Normal(0.0, 1.0), &device);
    let w = Tensor::<2>::random([2, 8], Distribution::Normal(0.0, 1.0), &device);
    let fused = tensor_values(layer.forward(x.clone(), w.clone()));

    // Reference: build each sample's modulated, demodulated weight and convolve it alone.
    let styles = layer.affine.forward(w);
    let base = layer.weight.val().mul_scalar(1.0 / (4.0f64 * 9.0).sqrt());
    let mut expected = Vec::new();
    for sample in 0..2 {
        let style = styles.clone().narrow(0, sample, 1).reshape([1, 4, 1, 1]);
        let weight = base.clone() * style;
        let norm = weight.clone().powi_scalar(2).sum_dim(3).sum_dim(2).sum_dim(1).add_scalar(1e-8).sqrt();
        let weight = weight / norm;
        let input = x.clone().narrow(0, sample, 1);
        let out = conv2d(input, weight, None, ConvOptions::new([1, 1], [1, 1], [1, 1], 1));
        expected.extend(tensor_values(out));
    }
    assert!(max_difference(&fused, &expected) < 1e-4, "{}", max_difference(&fused, &expected));
}

#[test]
fn stylegan_init_is_seeded() {
    let device = Device::flex();
    let first = stylegan_init(Generator::new(64, 16, &device), &mut KaoRng::seed_from_u64(5));
    let second = stylegan_init(Generator::new(64, 16, &device), &mut KaoRng::seed_from_u64(5));
    let z = Tensor::<2>::random([2, LATENT_DIM], Distribution::Normal(0.0, 1.0), &device);
    let a = tensor_values(first.mapping.forward(z.clone()));
    let b = tensor_values(second.mapping.forward(z));
    assert_eq!(max_difference(&a, &b), 0.0);
    assert!(first.num_params() > 1_000_000);
}
