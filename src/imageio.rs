//! Converting generated tensors to images, and laying images out in grids.

use std::path::Path;

use anyhow::{Context, Result};
use burn::tensor::Tensor;
use image::RgbImage;

use crate::fsutil::write_atomic;

/// Converts a batch `[batch, 3, height, width]` of values in [-1, 1] to 8-bit RGB images.
pub fn tensor_to_images(images: Tensor<4>) -> Vec<RgbImage> {
    let [batch, channels, height, width] = images.dims();
    assert_eq!(channels, 3, "images must have 3 channels");
    let values: Vec<f32> = crate::model::tensor_values(images);
    let plane = height * width;

    (0..batch)
        .map(|index| {
            let sample = &values[index * 3 * plane..(index + 1) * 3 * plane];
            RgbImage::from_fn(width as u32, height as u32, |x, y| {
                let at = y as usize * width + x as usize;
                image::Rgb(std::array::from_fn(|channel| to_u8(sample[channel * plane + at])))
            })
        })
        .collect()
}

/// Maps [-1, 1] to [0, 255] with rounding, clamping values outside the range.
fn to_u8(value: f32) -> u8 {
    ((value + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8
}

/// Places equally sized images in rows of `columns`, separated by `gap` pixels of white.
pub fn grid(images: &[RgbImage], columns: usize, gap: u32) -> RgbImage {
    let columns = columns.clamp(1, images.len().max(1));
    let rows = images.len().div_ceil(columns);
    let (width, height) = images.first().map(|image| image.dimensions()).unwrap_or((1, 1));
    let mut canvas = RgbImage::from_pixel(
        columns as u32 * (width + gap) + gap,
        rows as u32 * (height + gap) + gap,
        image::Rgb([255, 255, 255]),
    );
    for (index, image) in images.iter().enumerate() {
        let x = gap + (index % columns) as u32 * (width + gap);
        let y = gap + (index / columns) as u32 * (height + gap);
        image::imageops::replace(&mut canvas, image, i64::from(x), i64::from(y));
    }
    canvas
}

/// Columns of a roughly square grid for `count` images.
pub fn square_columns(count: usize) -> usize {
    (count as f64).sqrt().ceil().max(1.0) as usize
}

/// Encodes `image` as PNG and writes it atomically. Adaptive filtering with the best
/// compression makes sample grids several times smaller than the encoder's fast default.
pub fn save_png(image: &RgbImage, path: &Path) -> Result<()> {
    use image::ImageEncoder;
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};

    let mut bytes = Vec::new();
    PngEncoder::new_with_quality(&mut bytes, CompressionType::Best, FilterType::Adaptive)
        .write_image(image.as_raw(), image.width(), image.height(), image::ExtendedColorType::Rgb8)
        .with_context(|| format!("failed to encode {}", path.display()))?;
    write_atomic(path, &bytes)
}
