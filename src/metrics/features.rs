//! Inception features of images: the preprocessing FID expects, and batched extraction.
//!
//! The network neither resizes nor scales, so kao does both, as NVIDIA's metric code does:
//! uint8 RGB -> float -> bilinear resize to 299x299 (half-pixel centres, `align_corners` false,
//! no antialiasing) -> `x / 128 - 1`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;
use rayon::prelude::*;

use super::inception::{FEATURE_DIM, INPUT_SIZE, InceptionV3};
use crate::data::packed::PackedFaces;

/// Images per network call: large enough to keep the matmuls busy, small enough that a batch
/// of 299x299 activations (about 40 MB per image at the widest layer) fits in memory.
pub const DEFAULT_BATCH: usize = 16;

/// Image file endings `kao fid` reads from a folder.
const IMAGE_EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "webp", "bmp", "gif"];

/// Row-major `[count, 2048]` features.
#[derive(Clone, Debug, PartialEq)]
pub struct Features {
    pub count: usize,
    pub values: Vec<f32>,
}

impl Features {
    /// Feature vector `index`.
    pub fn row(&self, index: usize) -> &[f32] {
        &self.values[index * FEATURE_DIM..(index + 1) * FEATURE_DIM]
    }
}

/// Source of the images the network reads.
pub enum ImageSource {
    Files(Vec<PathBuf>),
    /// The listed images of a prepared dataset, in that order.
    Packed { faces: PackedFaces, indices: Vec<usize> },
}

impl ImageSource {
    pub fn len(&self) -> usize {
        match self {
            ImageSource::Files(files) => files.len(),
            ImageSource::Packed { indices, .. } => indices.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Image `index` as 8-bit RGB.
    fn load(&self, index: usize) -> Result<RgbImage> {
        match self {
            ImageSource::Files(files) => {
                let path = &files[index];
                let image = image::open(path).with_context(|| format!("failed to decode {}", path.display()))?;
                Ok(image.to_rgb8())
            }
            ImageSource::Packed { faces, indices } => {
                let (width, height) = (faces.width() as u32, faces.height() as u32);
                Ok(RgbImage::from_raw(width, height, faces.image(indices[index]).to_vec()).expect("packed image size"))
            }
        }
    }
}

/// `count` images of a prepared dataset drawn without replacement by `seed` (all of them, in
/// order, when `count` is `None` or at least the dataset's size).
pub fn packed_subset(faces: PackedFaces, count: Option<usize>, seed: u64) -> ImageSource {
    let total = faces.len();
    let mut indices: Vec<usize> = (0..total).collect();
    if let Some(count) = count.filter(|&count| count < total) {
        crate::rng::KaoRng::for_purpose(seed, "real subset").shuffle(&mut indices);
        indices.truncate(count);
        indices.sort_unstable();
    }
    ImageSource::Packed { faces, indices }
}

/// Lists the image files in `folder` and its subfolders, sorted by path.
pub fn image_files(folder: &Path) -> Result<Vec<PathBuf>> {
    if !folder.is_dir() {
        anyhow::bail!("{} is not a folder of images", folder.display());
    }
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(folder).follow_links(true) {
        let entry = entry.with_context(|| format!("failed to list {}", folder.display()))?;
        let extension = entry.path().extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        if entry.file_type().is_file() && extension.is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str())) {
            files.push(entry.into_path());
        }
    }
    files.sort();
    if files.is_empty() {
        anyhow::bail!("{} contains no images (looked for {}); pass a folder of images", folder.display(), IMAGE_EXTENSIONS.join(", "));
    }
    Ok(files)
}

/// Resizes one image to the network's input and scales it: `[3, 299, 299]` values in [-1, 1).
pub fn preprocess(image: &RgbImage) -> Vec<f32> {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let columns = bilinear_taps(width, INPUT_SIZE);
    let rows = bilinear_taps(height, INPUT_SIZE);
    let pixels = image.as_raw();

    let mut out = vec![0f32; 3 * INPUT_SIZE * INPUT_SIZE];
    for (y, row) in rows.iter().enumerate() {
        for (x, column) in columns.iter().enumerate() {
            for channel in 0..3 {
                let at = |py: usize, px: usize| pixels[(py * width + px) * 3 + channel] as f32;
                let top = column.weight0 * at(row.index0, column.index0) + column.weight1 * at(row.index0, column.index1);
                let bottom = column.weight0 * at(row.index1, column.index0) + column.weight1 * at(row.index1, column.index1);
                let value = row.weight0 * top + row.weight1 * bottom;
                out[(channel * INPUT_SIZE + y) * INPUT_SIZE + x] = value / 128.0 - 1.0;
            }
        }
    }
    out
}

/// The two source pixels and weights of one output pixel along one axis.
#[derive(Clone, Copy, Debug)]
struct Tap {
    index0: usize,
    index1: usize,
    weight0: f32,
    weight1: f32,
}

/// Bilinear taps with half-pixel centres: output pixel `d` samples input position
/// `(d + 0.5) * in / out - 0.5`, clamped at 0, as PyTorch's `align_corners=False`.
fn bilinear_taps(input: usize, output: usize) -> Vec<Tap> {
    let scale = input as f32 / output as f32;
    (0..output)
        .map(|d| {
            let source = ((d as f32 + 0.5) * scale - 0.5).max(0.0);
            let index0 = (source as usize).min(input - 1);
            let index1 = (index0 + 1).min(input - 1);
            let weight1 = source - index0 as f32;
            Tap { index0, index1, weight0: 1.0 - weight1, weight1 }
        })
        .collect()
}

/// Runs the Inception network over many images in batches.
pub struct FeatureExtractor {
    network: InceptionV3,
    device: Device,
    batch_size: usize,
}

impl FeatureExtractor {
    /// Loads the imported weights (see `weights::locate_inception`) onto `device`.
    pub fn new(weights: &Path, device: Device, batch_size: usize) -> Result<Self> {
        let network = InceptionV3::load(weights, &device)?;
        Ok(Self { network, device, batch_size: batch_size.max(1) })
    }

    /// Images per network call.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Features of in-memory images.
    pub fn images(&self, images: &[RgbImage]) -> Features {
        let mut values = Vec::with_capacity(images.len() * FEATURE_DIM);
        for batch in images.chunks(self.batch_size) {
            let inputs: Vec<Vec<f32>> = batch.par_iter().map(preprocess).collect();
            values.extend(self.run(inputs));
        }
        Features { count: images.len(), values }
    }

    /// Features of every image in `source`, calling `progress` with the count done so far.
    pub fn source(&self, source: &ImageSource, mut progress: impl FnMut(usize)) -> Result<Features> {
        let mut values = Vec::with_capacity(source.len() * FEATURE_DIM);
        for start in (0..source.len()).step_by(self.batch_size) {
            let end = (start + self.batch_size).min(source.len());
            let inputs: Vec<Vec<f32>> =
                (start..end).into_par_iter().map(|index| Ok(preprocess(&source.load(index)?))).collect::<Result<_>>()?;
            values.extend(self.run(inputs));
            progress(end);
        }
        Ok(Features { count: source.len(), values })
    }

    fn run(&self, inputs: Vec<Vec<f32>>) -> Vec<f32> {
        let count = inputs.len();
        let flat: Vec<f32> = inputs.into_iter().flatten().collect();
        let img = Tensor::<4>::from_data(TensorData::new(flat, [count, 3, INPUT_SIZE, INPUT_SIZE]), &self.device);
        crate::model::tensor_values(self.network.forward(img))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_resize_is_the_identity() {
        let taps = bilinear_taps(299, 299);
        for (d, tap) in taps.iter().enumerate() {
            assert_eq!(tap.index0, d);
            assert!(tap.weight1.abs() < 1e-4, "pixel {d}: weight {}", tap.weight1);
        }
    }

    #[test]
    fn upscaling_uses_half_pixel_centres() {
        // 2 -> 4 pixels: sources -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped index).
        let taps = bilinear_taps(2, 4);
        let weights: Vec<(usize, f32)> = taps.iter().map(|t| (t.index0, t.weight1)).collect();
        assert_eq!(weights, vec![(0, 0.0), (0, 0.25), (0, 0.75), (1, 0.25)]);
        assert_eq!(taps[3].index1, 1, "the last pixel clamps at the border");
    }

    #[test]
    fn preprocessing_scales_to_minus_one_one() {
        let black = preprocess(&RgbImage::new(8, 8));
        let white = preprocess(&RgbImage::from_pixel(8, 8, image::Rgb([255, 255, 255])));
        assert_eq!(black.len(), 3 * INPUT_SIZE * INPUT_SIZE);
        assert!(black.iter().all(|&v| v == -1.0));
        assert!(white.iter().all(|&v| (v - 255.0 / 128.0 + 1.0).abs() < 1e-6));
    }
}
