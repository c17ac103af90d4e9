//! `kao generate` arguments.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::device::DeviceChoice;
use crate::generate::LoadedGenerator;
use crate::imageio::{grid, save_png, square_columns};

/// Generate new faces from a trained generator, as PNG files, one grid image, or both.
#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// A run folder (its newest checkpoint), a checkpoint folder, or a generator .safetensors file.
    #[arg(short, long)]
    checkpoint: PathBuf,
    /// Number of faces.
    #[arg(short = 'n', long, default_value_t = 16)]
    count: usize,
    /// Folder for one PNG per face (created if missing).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// PNG file for a grid of all faces.
    #[arg(long)]
    grid: Option<PathBuf>,
    /// Seed of the latents; the same seed gives the same faces.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    device: DeviceChoice,
}

pub fn run(args: GenerateArgs) -> Result<()> {
    if args.output.is_none() && args.grid.is_none() {
        bail!("nothing to write: pass --output DIR for separate PNGs, --grid FILE for one grid image, or both");
    }
    if args.count == 0 {
        bail!("invalid --count 0: generate at least one face");
    }
    let device = crate::device::open(args.device)?;
    let generator = LoadedGenerator::load(&args.checkpoint, device)?;
    let images = generator.generate(args.count, args.seed);

    if let Some(dir) = &args.output {
        std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
        for (index, image) in images.iter().enumerate() {
            save_png(image, &dir.join(format!("seed{}-{index:05}.png", args.seed)))?;
        }
        println!("wrote {} faces to {}", images.len(), dir.display());
    }
    if let Some(path) = &args.grid {
        save_png(&grid(&images, square_columns(images.len()), 2), path)?;
        println!("wrote a grid of {} faces to {}", images.len(), path.display());
    }
    Ok(())
}
