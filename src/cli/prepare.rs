//! `kao prepare` arguments.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::install_interrupt;
use crate::data::dedup::DEFAULT_NEAR_DISTANCE;
use crate::data::prepare::{DEFAULT_MAX_PIXELS, PrepareConfig, prepare_until};

/// Clean a folder of face images into a training set: decode, convert to RGB, center-crop,
/// resize, remove exact and near duplicates, and write PNGs, a packed file and report.json.
#[derive(Args, Debug)]
pub struct PrepareArgs {
    /// Folders (searched recursively) or files to read. JPEG, PNG, WebP, BMP and GIF are read.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Folder to create for the prepared dataset.
    #[arg(short, long)]
    output: PathBuf,
    /// Output side length in pixels, 64 or 128 (images are center-cropped to a square first).
    #[arg(long, default_value_t = 128, value_parser = parse_size)]
    size: u32,
    /// Reject images whose shorter side is below this many pixels.
    #[arg(long, default_value_t = 64)]
    min_size: u32,
    /// Largest Hamming distance (in bits of a 256-bit perceptual hash) at which two images count
    /// as near duplicates. 10 removes re-encoded or lightly edited copies of the same artwork;
    /// 20 also removes most expression variants of one character.
    #[arg(long = "near-duplicates", value_name = "MAX_DISTANCE", default_value_t = DEFAULT_NEAR_DISTANCE, conflicts_with = "no_near_duplicates")]
    near_duplicates: u32,
    /// Keep near duplicates; only identical pixels count as duplicates.
    #[arg(long)]
    no_near_duplicates: bool,
    /// Reject images with more pixels than this (width x height) before decoding them, which
    /// stops decompression bombs.
    #[arg(long, default_value_t = DEFAULT_MAX_PIXELS)]
    max_pixels: u64,
    /// Worker threads (default: one per core).
    #[arg(short, long)]
    jobs: Option<usize>,
    /// Replace the output folder if it exists.
    #[arg(long)]
    force: bool,
}

fn parse_size(text: &str) -> Result<u32, String> {
    match text {
        "64" => Ok(64),
        "128" => Ok(128),
        _ => Err(format!("{text} is not a supported size; use 64 or 128")),
    }
}

pub fn run(args: PrepareArgs) -> Result<()> {
    let config = PrepareConfig {
        inputs: args.inputs,
        output: args.output,
        size: args.size,
        min_size: args.min_size,
        near_distance: (!args.no_near_duplicates).then_some(args.near_duplicates),
        jobs: args.jobs,
        force: args.force,
        max_pixels: args.max_pixels,
    };
    let interrupt = install_interrupt("interrupt: stopping; the output folder will not be created")?;
    let report = prepare_until(&config, &interrupt)?;
    for rejection in report.rejections.iter().take(20) {
        eprintln!("rejected {}: {}", rejection.path, rejection.reason);
    }
    if report.rejections.len() > 20 {
        eprintln!("... and {} more rejections, listed in report.json", report.rejections.len() - 20);
    }
    println!("{}", report.summary());
    println!("wrote {}", config.output.display());
    Ok(())
}
