//! DiffAugment (Zhao et al. 2020): differentiable colour, translation and cutout
//! augmentations applied to every image D receives, real and generated, so that D cannot
//! memorise a small training set. Random choices come from the run's own generator.

use burn::tensor::ops::PadMode;
use burn::tensor::{Device, Tensor, TensorData};

use crate::rng::KaoRng;

/// Largest translation as a fraction of the image side.
const TRANSLATION_RATIO: f64 = 0.125;
/// Side of the cutout square as a fraction of the image side.
const CUTOUT_RATIO: f64 = 0.5;

/// Applies the colour, translation and cutout policy to `img` `[batch, 3, h, w]` in [-1, 1].
pub fn diff_augment(img: Tensor<4>, rng: &mut KaoRng) -> Tensor<4> {
    let img = color(img, rng);
    let img = translation(img, rng);
    cutout(img, rng)
}

/// Draws one uniform [0, 1) value per image, shaped `[batch, 1, 1, 1]`.
fn per_image(rng: &mut KaoRng, batch: usize, device: &Device) -> Tensor<4> {
    let values: Vec<f32> = (0..batch).map(|_| rng.uniform()).collect();
    Tensor::from_data(TensorData::new(values, [batch, 1, 1, 1]), device)
}

/// Random brightness shift in [-0.5, 0.5), saturation scale in [0, 2) and contrast scale in
/// [0.5, 1.5), per image.
fn color(img: Tensor<4>, rng: &mut KaoRng) -> Tensor<4> {
    let [batch, ..] = img.dims();
    let device = img.device();

    let img = img + per_image(rng, batch, &device).sub_scalar(0.5);

    let channel_mean = img.clone().mean_dim(1);
    let img = (img - channel_mean.clone()) * per_image(rng, batch, &device).mul_scalar(2.0) + channel_mean;

    let [_, channels, height, width] = img.dims();
    let image_mean = img.clone().reshape([batch, channels * height * width]).mean_dim(1).reshape([batch, 1, 1, 1]);
    (img - image_mean.clone()) * per_image(rng, batch, &device).add_scalar(0.5) + image_mean
}

/// Shifts each image by up to 1/8 of its side in x and y, filling with zeros.
fn translation(img: Tensor<4>, rng: &mut KaoRng) -> Tensor<4> {
    let [batch, _, height, width] = img.dims();
    let shift = (height as f64 * TRANSLATION_RATIO + 0.5) as usize;
    let padded = img.pad([(shift, shift), (shift, shift)], PadMode::Constant(0.0));
    let shifted: Vec<Tensor<4>> = (0..batch)
        .map(|index| {
            let (dy, dx) = (rng.below(2 * shift + 1), rng.below(2 * shift + 1));
            padded.clone().narrow(0, index, 1).narrow(2, dy, height).narrow(3, dx, width)
        })
        .collect();
    Tensor::cat(shifted, 0)
}

/// Zeroes one square of half the image side per image, at a random centre.
fn cutout(img: Tensor<4>, rng: &mut KaoRng) -> Tensor<4> {
    let [batch, _, height, width] = img.dims();
    let (cut_h, cut_w) = ((height as f64 * CUTOUT_RATIO + 0.5) as usize, (width as f64 * CUTOUT_RATIO + 0.5) as usize);
    let mut mask = vec![1f32; batch * height * width];
    for image in 0..batch {
        let centre_y = rng.below(height + 1 - cut_h % 2) as isize;
        let centre_x = rng.below(width + 1 - cut_w % 2) as isize;
        for y in (centre_y - cut_h as isize / 2).max(0)..(centre_y + cut_h as isize / 2).min(height as isize) {
            for x in (centre_x - cut_w as isize / 2).max(0)..(centre_x + cut_w as isize / 2).min(width as isize) {
                mask[image * height * width + y as usize * width + x as usize] = 0.0;
            }
        }
    }
    let mask = Tensor::<4>::from_data(TensorData::new(mask, [batch, 1, height, width]), &img.device());
    img * mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tensor_values;

    #[test]
    fn keeps_shape_and_a_bounded_range() {
        let device = Device::flex();
        let mut rng = KaoRng::seed_from_u64(4);
        let values: Vec<f32> = rng.normal_vec(4 * 3 * 16 * 16).into_iter().map(|v| v.clamp(-1.0, 1.0)).collect();
        let img = Tensor::<4>::from_data(TensorData::new(values, [4, 3, 16, 16]), &device);

        let augmented = diff_augment(img, &mut rng);
        assert_eq!(augmented.dims(), [4, 3, 16, 16]);
        let values = tensor_values(augmented);
        assert!(values.iter().all(|v| v.is_finite()));
        // Brightness keeps |x| <= 1.5; saturation (x < 2 around a mean) keeps it <= 7.5; contrast
        // (x < 1.5 around a mean) keeps it <= 30.
        assert!(values.iter().all(|v| v.abs() <= 30.0));
        let zeros = values.iter().filter(|v| **v == 0.0).count();
        assert!(zeros >= 4 * 3 * 8 * 8 / 4, "cutout and translation zero part of every image");
    }

    #[test]
    fn same_seed_same_augmentation() {
        let device = Device::flex();
        let img = Tensor::<4>::ones([2, 3, 8, 8], &device);
        let a = tensor_values(diff_augment(img.clone(), &mut KaoRng::seed_from_u64(1)));
        let b = tensor_values(diff_augment(img, &mut KaoRng::seed_from_u64(1)));
        assert_eq!(a, b);
    }
}
