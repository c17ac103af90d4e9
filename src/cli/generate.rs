//! `kao generate` arguments.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use crate::device::DeviceChoice;
use crate::generate::LoadedGenerator;
use crate::generate::weights::Weights;
use crate::generate::controls::{Controls, Level};
use crate::model::stylegan::NoiseMode;
use crate::imageio::{grid, save_png, square_columns};

/// Generate new faces from a trained generator, as PNG files, one grid image, or both.
///
/// Face i of a command uses seed --seed + i, so the same seed always gives the same face.
/// StyleGAN models also take the style controls, which act on three style levels. Coarse is
/// the 4 and 8 px layers (pose, hair, face shape; ws 0-2). Middle is the 16 and 32 px layers
/// (facial features; ws 3-6). Fine is the 64 px layers and up (colouring; ws 7-9 at 64 px and
/// ws 7-11 at 128 px).
#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Number of faces (at most 1,000,000, and at most 1,024 with --grid).
    #[arg(short = 'n', long, default_value_t = 16)]
    count: usize,
    /// Folder for one PNG per face (created if missing).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// PNG file for a grid of all faces (its folder is created if missing).
    #[arg(long)]
    grid: Option<PathBuf>,
    /// Seed of the first face; face i uses seed + i (wrapping to 0 after 18446744073709551615).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    controls: ControlArgs,
    /// StyleGAN: seed of a second face whose styles replace this face's at --mix-levels.
    #[arg(long)]
    mix_seed: Option<u64>,
    /// StyleGAN: levels taken from --mix-seed, comma-separated: coarse, middle, fine.
    #[arg(long, value_enum, value_delimiter = ',')]
    mix_levels: Vec<Level>,
}

/// Maximum number of faces one command writes.
const MAX_COUNT: usize = 1_000_000;
/// Maximum number of faces in one grid image.
const MAX_GRID: usize = 1024;

pub fn run(args: GenerateArgs) -> Result<()> {
    validate(&args)?;
    let generator = args.model.load()?;

    if let Some(dir) = &args.output {
        crate::fsutil::create_dir(dir)?;
    }
    let mut grid_faces = Vec::new();
    let controls = controls_of(&args);
    generator.generate_each(args.count, args.seed, &controls, |index, image| {
        if let Some(dir) = &args.output {
            let seed = args.seed.wrapping_add(index as u64);
            save_png(&image, &dir.join(format!("seed{seed:06}.png")))?;
        }
        if args.grid.is_some() {
            grid_faces.push(image);
        }
        Ok(())
    })?;

    if let Some(dir) = &args.output {
        let noun = if args.count == 1 { "face" } else { "faces" };
        println!("wrote {} {noun} to {}", args.count, dir.display());
    }
    if let Some(path) = &args.grid {
        crate::fsutil::create_parent(path)?;
        save_png(&grid(&grid_faces, square_columns(grid_faces.len()), 2), path)?;
        let noun = if grid_faces.len() == 1 { "face" } else { "faces" };
        println!("wrote a grid of {} {noun} to {}", grid_faces.len(), path.display());
    }
    Ok(())
}

/// The trained generator to load and the device to run it on.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// A run folder (its newest checkpoint), a checkpoint folder, or a generator .safetensors
    /// file. In a folder, the moving average of G (generator-ema.safetensors) is used when the
    /// run kept one [default: the StyleGAN-64 generator bundled with kao, models/README.md].
    #[arg(short, long)]
    pub checkpoint: Option<PathBuf>,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
}

impl ModelArgs {
    /// Reads the weights (the bundled generator without `--checkpoint`).
    pub fn weights(&self) -> Result<Weights> {
        Weights::resolve(self.checkpoint.as_deref())
    }

    /// Opens the device and loads the generator onto it.
    pub fn load(&self) -> Result<LoadedGenerator> {
        let weights = self.weights()?;
        LoadedGenerator::from_weights(&weights, crate::device::open(self.device)?)
    }
}

/// The StyleGAN controls as command-line options.
#[derive(Args, Debug, Clone)]
pub struct ControlArgs {
    /// StyleGAN: truncation psi from -2 to 2. 1 is the trained variety; 0.5-0.8 gives safer,
    /// less varied faces; above 1 exaggerates (and breaks) them; below 0 gives the "anti-face".
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    truncation: f32,
    /// StyleGAN: psi from -2 to 2 for the coarse layers (pose, hair, face shape), overriding --truncation.
    #[arg(long, allow_negative_numbers = true)]
    coarse_strength: Option<f32>,
    /// StyleGAN: psi from -2 to 2 for the middle layers (facial features), overriding --truncation.
    #[arg(long, allow_negative_numbers = true)]
    middle_strength: Option<f32>,
    /// StyleGAN: psi from -2 to 2 for the fine layers (colouring), overriding --truncation.
    #[arg(long, allow_negative_numbers = true)]
    fine_strength: Option<f32>,
    /// StyleGAN: which layers get noise (stochastic detail): all, coarse (layers up to 16 px:
    /// hair curls), fine (from 32 px: texture) or none (a clean face). These noise groups are
    /// not the style levels of the same names. Noise strengths are learned, so how much noise
    /// changes a face depends on the model: even after an hour of training, another
    /// --noise-seed visibly changes hair and eye detail, and none smooths them away.
    #[arg(long, value_enum, default_value_t = NoiseMode::All)]
    noise: NoiseMode,
    /// StyleGAN: seed of the noise maps [default: the face's seed].
    #[arg(long)]
    noise_seed: Option<u64>,
    /// StyleGAN: seed of another face that --variation steps toward in w, to vary a face
    /// that looks too much like an existing character.
    #[arg(long)]
    variation_seed: Option<u64>,
    /// StyleGAN: step toward --variation-seed, from -1 to 1 (w + step * (w_other - w_avg));
    /// 0.2-0.3 keeps the face recognisable.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    variation: f32,
}

impl ControlArgs {
    /// Converts the options to [`Controls`] without style mixing.
    pub fn to_controls(&self) -> Controls {
        Controls {
            truncation: self.truncation,
            coarse_strength: self.coarse_strength,
            middle_strength: self.middle_strength,
            fine_strength: self.fine_strength,
            mix_seed: None,
            mix_levels: Vec::new(),
            noise: self.noise,
            noise_seed: self.noise_seed,
            variation_seed: self.variation_seed,
            variation: self.variation,
        }
    }
}

fn controls_of(args: &GenerateArgs) -> Controls {
    Controls { mix_seed: args.mix_seed, mix_levels: args.mix_levels.clone(), ..args.controls.to_controls() }
}

fn validate(args: &GenerateArgs) -> Result<()> {
    controls_of(args).validate()?;
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
