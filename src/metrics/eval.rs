//! Evaluating a generator against its training set: FID, KID and a memorisation check.

use anyhow::Result;
use faer::Mat;
use image::RgbImage;
use serde::Serialize;

use super::features::{FeatureExtractor, Features};
use super::inception::FEATURE_DIM;
use super::{Scores, scores};
use crate::data::packed::PackedFaces;
use crate::generate::LoadedGenerator;
use crate::generate::controls::Controls;
use crate::imageio::grid;

/// Generated faces checked for memorisation.
pub const MEMORISATION_SAMPLES: usize = 64;

/// One generated face and the training image closest to it in Inception feature space.
#[derive(Clone, Debug, Serialize)]
pub struct Nearest {
    /// Seed of the generated face.
    pub seed: u64,
    /// Index of the nearest training image in the prepared dataset.
    pub real_index: usize,
    /// That image's file inside the prepared dataset folder.
    pub real_file: String,
    /// Euclidean distance between the two feature vectors.
    pub distance: f32,
}

/// Scores and memorisation check of one generator.
pub struct Evaluation {
    pub scores: Scores,
    pub nearest: Vec<Nearest>,
    /// The first generated faces, those `nearest` describes.
    pub samples: Vec<RgbImage>,
}

/// Generates `count` faces with seeds `seed..seed + count` (default controls: no truncation,
/// no noise variation beyond the seed's) and scores them against `real` features, the features
/// of the dataset images `real_indices`.
pub fn evaluate(
    generator: &LoadedGenerator,
    extractor: &FeatureExtractor,
    real: &Features,
    real_indices: &[usize],
    count: usize,
    seed: u64,
    mut progress: impl FnMut(usize),
) -> Result<Evaluation> {
    let controls = Controls::default();
    let mut values = Vec::with_capacity(count * FEATURE_DIM);
    let mut samples = Vec::new();
    let mut pending = Vec::new();
    generator.generate_each(count, seed, &controls, |index, image| {
        if samples.len() < MEMORISATION_SAMPLES {
            samples.push(image.clone());
        }
        pending.push(image);
        if pending.len() == extractor.batch_size() || index + 1 == count {
            values.extend(extractor.images(&pending).values);
            pending.clear();
            progress(index + 1);
        }
        Ok(())
    })?;

    let generated = Features { count, values };
    let scores = scores(&generated, real)?;
    let nearest = nearest_real(&generated, real, samples.len())
        .into_iter()
        .enumerate()
        .map(|(index, (row, distance))| Nearest {
            seed: seed + index as u64,
            real_index: real_indices[row],
            real_file: crate::data::image_file_name(real_indices[row]),
            distance,
        })
        .collect();
    Ok(Evaluation { scores, nearest, samples })
}

/// For each of the first `count` rows of `generated`, the index of the nearest row of `real`
/// and the distance: `|g - r|^2 = |g|^2 + |r|^2 - 2 g . r`, with one matrix product.
fn nearest_real(generated: &Features, real: &Features, count: usize) -> Vec<(usize, f32)> {
    let g = Mat::<f32>::from_fn(count, FEATURE_DIM, |row, column| generated.row(row)[column]);
    let r = Mat::<f32>::from_fn(real.count, FEATURE_DIM, |row, column| real.row(row)[column]);
    let dots = &g * r.transpose();
    let squared_norm = |row: &[f32]| row.iter().map(|v| v * v).sum::<f32>();
    let real_norms: Vec<f32> = (0..real.count).map(|row| squared_norm(real.row(row))).collect();

    (0..count)
        .map(|row| {
            let own = squared_norm(generated.row(row));
            let (best, squared) = (0..real.count)
                .map(|column| (column, (own + real_norms[column] - 2.0 * dots[(row, column)]).max(0.0)))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .expect("a real image");
            (best, squared.sqrt())
        })
        .collect()
}

/// Draws the checked generated faces alone, 8 per row, in the order of `nearest`. Unlike the
/// pairs, this picture contains no training image, so it can be shared where the dataset's
/// terms forbid redistributing its images.
pub fn generated_figure(evaluation: &Evaluation) -> RgbImage {
    grid(&evaluation.samples, 8, 2)
}

/// Draws the check as pairs of (generated face, nearest training face), 4 pairs per row.
pub fn memorisation_figure(evaluation: &Evaluation, reals: &PackedFaces) -> RgbImage {
    let (width, height) = (reals.width() as u32, reals.height() as u32);
    let mut cells = Vec::new();
    for (sample, nearest) in evaluation.samples.iter().zip(&evaluation.nearest) {
        let real = RgbImage::from_raw(width, height, reals.image(nearest.real_index).to_vec()).expect("packed image size");
        cells.push(image::imageops::resize(sample, width, height, image::imageops::FilterType::Triangle));
        cells.push(real);
    }
    grid(&cells, 8, 2)
}
