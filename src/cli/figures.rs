//! `kao mix`, `kao interpolate` and `kao figure`: the StyleGAN figures.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame};

use super::generate::{ControlArgs, ModelArgs};
use crate::generate::controls::Level;
use crate::fsutil::create_parent;
use crate::imageio::save_png;

/// Maximum number of seeds in one figure, so a typo cannot request millions of faces.
const MAX_FIGURE_SEEDS: usize = 64;

/// Write the style-mixing figure of a StyleGAN model. Each cell takes its row face's styles,
/// with the column face's styles at the chosen levels. Coarse is the 4-8 px layers (pose,
/// hair, face shape), middle 16-32 px (facial features), fine 64 px and up (colouring).
#[derive(Args, Debug)]
pub struct MixArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Seeds of the row faces, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    rows: Vec<u64>,
    /// Seeds of the column faces, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    cols: Vec<u64>,
    /// Levels taken from the column faces, comma-separated: coarse, middle, fine.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "coarse")]
    mix_levels: Vec<Level>,
    /// PNG file to write.
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    controls: ControlArgs,
}

/// Write a GIF that loops smoothly through the w of several StyleGAN faces.
#[derive(Args, Debug)]
pub struct InterpolateArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Seeds of the faces to pass through, comma-separated (at least 2). Frames cycle through
    /// them and back to the first.
    #[arg(long, value_delimiter = ',', required = true)]
    seeds: Vec<u64>,
    /// Frames from each face to the next.
    #[arg(long, default_value_t = 24)]
    frames: usize,
    /// Frames per second of the GIF; GIF stores delays in hundredths of a second, so 24 plays
    /// at 25.
    #[arg(long, default_value_t = 24)]
    fps: u32,
    /// GIF file to write.
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    controls: ControlArgs,
}

/// Kinds of `kao figure`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FigureKind {
    /// One row per seed, one column per --strengths value (truncation psi).
    Strength,
    /// One row per seed: the face with each --noise-seeds value, then without noise.
    Noise,
}

/// Write a StyleGAN figure: a style-strength strip or a noise comparison.
#[derive(Args, Debug)]
pub struct FigureArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Figure to draw.
    #[arg(long, value_enum)]
    kind: FigureKind,
    /// Seeds of the faces, one row each, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    seeds: Vec<u64>,
    /// Strength figure: truncation psi of each column, comma-separated, from -2 to 2
    /// (replaces --truncation).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, default_value = "-1,-0.5,0,0.5,1,1.5")]
    strengths: Vec<f32>,
    /// Noise figure: noise seed of each column before the noise-free one, comma-separated
    /// (replaces --noise-seed).
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4")]
    noise_seeds: Vec<u64>,
    /// PNG file to write.
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    controls: ControlArgs,
}

pub fn run_figure(args: FigureArgs) -> Result<()> {
    check_seed_count("--seeds", args.seeds.len())?;
    check_seed_count("--strengths", args.strengths.len())?;
    check_seed_count("--noise-seeds", args.noise_seeds.len())?;
    check_extension(&args.output, "png")?;
    if let Some(psi) = args.strengths.iter().find(|psi| !crate::generate::controls::STRENGTH_RANGE.contains(psi)) {
        bail!("invalid --strengths value {psi}: use values from -2 to 2");
    }
    let controls = args.controls.to_controls();
    if args.kind == FigureKind::Strength && controls.truncation != 1.0 {
        bail!("--truncation has no effect on a strength figure; set the columns with --strengths");
    }
    if args.kind == FigureKind::Noise && controls.noise == crate::model::stylegan::NoiseMode::None {
        bail!("--noise none leaves a noise figure without noise; use --noise all, coarse or fine");
    }
    if args.kind == FigureKind::Strength && args.noise_seeds != default_noise_seeds() {
        bail!("--noise-seeds applies to --kind noise only; a strength figure uses each face's own noise");
    }
    if args.kind == FigureKind::Noise && controls.noise_seed.is_some() {
        bail!("--noise-seed has no effect on a noise figure; set the columns with --noise-seeds");
    }
    let generator = args.model.load()?;
    let figure = match args.kind {
        FigureKind::Strength => generator.strength_figure(&args.seeds, &args.strengths, &controls)?,
        FigureKind::Noise => generator.noise_figure(&args.seeds, &args.noise_seeds, &controls)?,
    };
    create_parent(&args.output)?;
    save_png(&figure, &args.output)?;
    let kind = match args.kind {
        FigureKind::Strength => "strength",
        FigureKind::Noise => "noise",
    };
    let noun = if args.seeds.len() == 1 { "face" } else { "faces" };
    println!("wrote a {kind} figure of {} {noun} to {}", args.seeds.len(), args.output.display());
    Ok(())
}

pub fn run_mix(args: MixArgs) -> Result<()> {
    check_seed_count("--rows", args.rows.len())?;
    check_seed_count("--cols", args.cols.len())?;
    check_extension(&args.output, "png")?;
    if args.mix_levels.is_empty() {
        bail!("--mix-levels is empty: name at least one of coarse, middle, fine");
    }
    let generator = args.model.load()?;
    let figure = generator.mixing_figure(&args.rows, &args.cols, &args.mix_levels, &args.controls.to_controls())?;
    create_parent(&args.output)?;
    save_png(&figure, &args.output)?;
    println!("wrote a {}x{} style-mixing figure to {}", args.rows.len(), args.cols.len(), args.output.display());
    Ok(())
}

pub fn run_interpolate(args: InterpolateArgs) -> Result<()> {
    if args.seeds.len() < 2 {
        bail!("--seeds needs at least 2 faces to move between, for example --seeds 1,2,3");
    }
    check_seed_count("--seeds", args.seeds.len())?;
    if !(1..=240).contains(&args.frames) {
        bail!("invalid --frames {}: use 1 to 240 frames per face", args.frames);
    }
    if !(1..=50).contains(&args.fps) {
        bail!("invalid --fps {}: use 1 to 50", args.fps);
    }
    check_extension(&args.output, "gif")?;
    let generator = args.model.load()?;
    let images = generator.interpolation(&args.seeds, args.frames, &args.controls.to_controls())?;

    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut bytes, 10);
        encoder.set_repeat(Repeat::Infinite)?;
        let delay = Delay::from_numer_denom_ms(1000, args.fps);
        for image in images.iter() {
            let rgba = image::DynamicImage::ImageRgb8(image.clone()).to_rgba8();
            encoder.encode_frame(Frame::from_parts(rgba, 0, 0, delay))?;
        }
    }
    create_parent(&args.output)?;
    crate::fsutil::write_atomic(&args.output, &bytes)?;
    println!("wrote {} frames to {}", images.len(), args.output.display());
    Ok(())
}

fn check_seed_count(option: &str, count: usize) -> Result<()> {
    if count == 0 || count > MAX_FIGURE_SEEDS {
        bail!("invalid {option}: give 1 to {MAX_FIGURE_SEEDS} values, comma-separated");
    }
    Ok(())
}

fn check_extension(path: &Path, extension: &str) -> Result<()> {
    let matches = path.extension().is_some_and(|found| found.eq_ignore_ascii_case(extension));
    if !matches {
        bail!("--output {} must end in .{extension}", path.display());
    }
    Ok(())
}

/// Returns the default of `--noise-seeds`, to tell whether the user set it.
fn default_noise_seeds() -> Vec<u64> {
    vec![1, 2, 3, 4]
}
