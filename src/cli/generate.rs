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
    /// Number of faces (at most 1,000,000, and at most 1,024 with --grid).
    #[arg(short = 'n', long, default_value_t = 16)]
    count: usize,
    /// Folder for one PNG per face (created if missing).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// PNG file for a grid of all faces (its folder is created if missing).
    #[arg(long)]
    grid: Option<PathBuf>,
    /// Seed of the latents; the same seed gives the same faces.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    device: DeviceChoice,
}

/// Maximum number of faces one command writes.
const MAX_COUNT: usize = 1_000_000;
/// Maximum number of faces in one grid image.
const MAX_GRID: usize = 1024;

pub fn run(args: GenerateArgs) -> Result<()> {
    validate(&args)?;
    let device = crate::device::open(args.device)?;
    let generator = LoadedGenerator::load(&args.checkpoint, device)?;

    if let Some(dir) = &args.output {
        std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    }
    let mut grid_faces = Vec::new();
    generator.generate_each(args.count, args.seed, |index, image| {
        if let Some(dir) = &args.output {
            save_png(&image, &dir.join(format!("seed{}-{index:05}.png", args.seed)))?;
        }
        if args.grid.is_some() {
            grid_faces.push(image);
        }
        Ok(())
    })?;

    if let Some(dir) = &args.output {
        println!("wrote {} faces to {}", args.count, dir.display());
    }
    if let Some(path) = &args.grid {
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| format!("failed to create {}", parent.display()))?;
        }
        save_png(&grid(&grid_faces, square_columns(grid_faces.len()), 2), path)?;
        println!("wrote a grid of {} faces to {}", grid_faces.len(), path.display());
    }
    Ok(())
}

fn validate(args: &GenerateArgs) -> Result<()> {
    if args.output.is_none() && args.grid.is_none() {
        bail!("nothing to write: pass --output DIR for separate PNGs, --grid FILE for one grid image, or both");
    }
    if args.count == 0 || args.count > MAX_COUNT {
        bail!("invalid --count {}: generate between 1 and {MAX_COUNT} faces", args.count);
    }
    if let Some(path) = &args.grid {
        if args.count > MAX_GRID {
            bail!("--grid takes at most {MAX_GRID} faces but --count is {}; lower --count or write files with --output only", args.count);
        }
        let is_png = path.extension().is_some_and(|extension| extension.eq_ignore_ascii_case("png"));
        if !is_png {
            bail!("--grid {} must end in .png: kao writes grids as PNG", path.display());
        }
    }
    Ok(())
}
