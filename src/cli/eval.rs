//! `kao eval` arguments.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;

use crate::data::packed::PackedFaces;
use crate::device::{self, DeviceChoice};
use crate::generate::LoadedGenerator;
use crate::imageio::save_png;
use crate::metrics::eval::{evaluate, generated_figure, memorisation_figure};
use crate::metrics::features::{DEFAULT_BATCH, FeatureExtractor, ImageSource, packed_subset};
use crate::metrics::{self, weights};
use crate::train::checkpoint::resolve_generator;

/// File name of the prepared dataset's packed faces.
const PACKED_FILE: &str = "faces.kaopack";

/// Score a trained generator against its training set: FID, KID and a memorisation check.
///
/// Generates --samples faces (seeds --seed, --seed + 1, ...), extracts TF-Inception features
/// and compares them with the prepared training set's (cached after the first run). For the
/// first 64 faces it also finds the nearest training image in feature space and saves the
/// pairs side by side, so copies of training images are easy to spot. Writes scores.json,
/// memorisation.json, memorisation.png (the pairs) and memorisation-generated.png (the same
/// generated faces alone, for sharing where the training images may not be redistributed).
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Run folder, checkpoint folder or generator .safetensors file (the EMA generator is
    /// preferred in a folder).
    #[arg(short, long)]
    checkpoint: PathBuf,
    /// The prepared dataset the model was trained on (the `kao prepare` output folder).
    #[arg(short, long)]
    data: PathBuf,
    /// Generated faces to score. Published FIDs use 50,000; fewer gives a higher, noisier FID,
    /// so compare runs at the same count.
    #[arg(short = 'n', long, default_value_t = 10_000)]
    samples: usize,
    /// Training images to compare with, drawn at random (default: all). Their features are
    /// the slow part on a CPU (about 5 images/s on 2 cores), so a subset of a few thousand
    /// gives a quicker, rougher FID. Compare runs at the same count.
    #[arg(long)]
    real_samples: Option<usize>,
    /// Seed of the first generated face.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder (default: RUN/eval/step-N for a checkpoint of a run, else beside the file).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Images per Inception call.
    #[arg(long, default_value_t = DEFAULT_BATCH)]
    batch_size: usize,
    /// Device that runs the networks.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    device: DeviceChoice,
}

pub fn run(args: EvalArgs) -> Result<()> {
    if args.samples < 2 {
        bail!("--samples {} is too few: FID and KID need at least 2 faces (10,000 is the default)", args.samples);
    }
    if let Some(count) = args.real_samples.filter(|&count| count < 2) {
        bail!("invalid --real-samples {count}: FID and KID need at least 2 training images");
    }
    if args.batch_size == 0 {
        bail!("invalid --batch-size 0: give at least 1 image per Inception call");
    }
    let home = weights::kao_home()?;
    let weights_file = weights::locate_inception(&home)?;
    let generator_file = resolve_generator(&args.checkpoint)?;
    let packed_file = args.data.join(PACKED_FILE);
    if !packed_file.is_file() {
        bail!("{} is not a prepared dataset (no {PACKED_FILE}); pass the folder `kao prepare` wrote", args.data.display());
    }
    let output = args.output.clone().unwrap_or_else(|| default_output(&generator_file));

    let device = device::open(args.device)?;
    let generator = LoadedGenerator::load(&generator_file, device.clone())?;
    let extractor = FeatureExtractor::new(&weights_file, device, args.batch_size)?;
    let source = packed_subset(PackedFaces::open(&packed_file)?, args.real_samples, args.seed);
    let real = metrics::cached_features(&home, &extractor, &source, Some(&packed_file), "training set")?;

    let mut progress = crate::cli::progress::CountProgress::new(args.samples as u64, "generated faces");
    let ImageSource::Packed { indices, .. } = &source else { unreachable!("eval reads a packed dataset") };
    let evaluation =
        evaluate(&generator, &extractor, &real, indices, args.samples, args.seed, |done| progress.set(done as u64))?;
    progress.finish();

    write_results(&output, &generator_file, &evaluation, &source)?;
    let distances: Vec<f32> = evaluation.nearest.iter().map(|n| n.distance).collect();
    println!(
        "FID {:.2}  KID {:.4}  ({} generated, {} real)  nearest-neighbour distance min {:.2} median {:.2}  -> {}",
        evaluation.scores.fid,
        evaluation.scores.kid,
        evaluation.scores.count_a,
        evaluation.scores.count_b,
        distances.iter().copied().fold(f32::INFINITY, f32::min),
        median(&distances),
        output.display()
    );
    Ok(())
}

/// RUN/eval/step-N when the generator sits in RUN/checkpoints/step-N, else `<file>-eval`.
fn default_output(generator_file: &Path) -> PathBuf {
    let folder = generator_file.parent().unwrap_or(Path::new("."));
    let step = folder.file_name().and_then(|n| n.to_str()).filter(|n| n.starts_with("step-"));
    let run = folder.parent().filter(|p| p.file_name().is_some_and(|n| n == "checkpoints")).and_then(Path::parent);
    match (step, run) {
        (Some(step), Some(run)) => run.join("eval").join(step),
        _ => generator_file.with_extension("eval"),
    }
}

fn write_results(output: &Path, generator: &Path, evaluation: &metrics::eval::Evaluation, source: &ImageSource) -> Result<()> {
    crate::fsutil::create_dir(output)?;
    let scores = serde_json::json!({
        "checkpoint": generator,
        "fid": evaluation.scores.fid,
        "kid": evaluation.scores.kid,
        "count_generated": evaluation.scores.count_a,
        "count_real": evaluation.scores.count_b,
    });
    crate::fsutil::write_atomic(&output.join("scores.json"), serde_json::to_string_pretty(&scores)?.as_bytes())?;
    crate::fsutil::write_atomic(&output.join("memorisation.json"), serde_json::to_string_pretty(&evaluation.nearest)?.as_bytes())?;
    let ImageSource::Packed { faces, .. } = source else { unreachable!("eval reads a packed dataset") };
    save_png(&memorisation_figure(evaluation, faces), &output.join("memorisation.png"))?;
    save_png(&generated_figure(evaluation), &output.join("memorisation-generated.png"))
}

fn median(values: &[f32]) -> f32 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f32::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f32::NAN)
}
