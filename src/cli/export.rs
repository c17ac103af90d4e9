//! `kao export`: one self-contained generator file from a training run.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use crate::generate::LoadedGenerator;
use crate::generate::weights::Weights;
use crate::model::store::Precision;

/// Write a run's generator as one self-contained weights file, for sharing or shipping.
///
/// The file contains the moving average of G when the run kept one. Its metadata records the
/// model's shape and a summary of the training (steps, epochs, images shown, hours, dataset).
/// `kao info`, `kao generate --checkpoint FILE` and `kao studio --checkpoint FILE` read it.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A run folder (its newest undamaged checkpoint), a checkpoint folder, or a generator file
    /// exported earlier (to change its precision).
    #[arg(short, long)]
    checkpoint: PathBuf,
    /// The .safetensors file to write (replaced if it exists).
    #[arg(short, long)]
    output: PathBuf,
    /// Store 16-bit floats: half the size. kao prints how much this changes 16 faces.
    #[arg(long)]
    half: bool,
}

/// Faces compared between the exported and the original weights.
const CHECKED_FACES: usize = 16;

pub fn run(args: ExportArgs) -> Result<()> {
    if args.output.extension().is_none_or(|extension| extension != "safetensors") {
        bail!("--output {} must end in .safetensors", args.output.display());
    }
    let device = crate::device::open(crate::device::DeviceChoice::Cpu)?;
    let weights = Weights::resolve(Some(&args.checkpoint))?;
    let mut generator = LoadedGenerator::from_weights(&weights, device.clone())?;
    let Some(mut summary) = generator.training.clone() else {
        bail!(
            "{} records no training; pass a run folder or a checkpoint folder written by kao train",
            weights.name()
        );
    };

    // The dataset is recorded by its folder name: the full path would tell others only where
    // the file's author kept it.
    if let Some(name) = std::path::Path::new(&summary.dataset).file_name() {
        summary.dataset = name.to_string_lossy().into_owned();
    }
    generator.training = Some(summary.clone());

    let precision = if args.half { Precision::F16 } else { Precision::F32 };
    crate::fsutil::create_parent(&args.output)?;
    generator.save(&args.output, precision)?;
    let size = std::fs::metadata(&args.output)?.len();
    println!("wrote {} ({:.1} MB, {precision:?}) from {}", args.output.display(), size as f64 / 1e6, weights.name());
    let hours = summary.train_seconds / 3600.0;
    println!("training: {} steps, epochs complete: {}, {hours:.2} h", summary.step, summary.epochs);

    // Compare faces from the written file with the original's, so a user sees what f16 costs.
    let exported = LoadedGenerator::from_weights(&Weights::resolve(Some(&args.output))?, device)?;
    let original = generator.generate(CHECKED_FACES, 0);
    let written = exported.generate(CHECKED_FACES, 0);
    let differences: Vec<u8> = original
        .iter()
        .zip(&written)
        .flat_map(|(a, b)| a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| x.abs_diff(*y)))
        .collect();
    let largest = differences.iter().copied().max().unwrap_or(0);
    let mean = differences.iter().map(|&d| f64::from(d)).sum::<f64>() / differences.len().max(1) as f64;
    println!("faces of seeds 0-{}: pixels differ from the original by at most {largest}/255 (mean {mean:.3}/255)", CHECKED_FACES - 1);
    Ok(())
}
