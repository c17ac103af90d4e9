//! `kao info`: what a generator is and how it was trained.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::model::ModelConfig;
use crate::model::store::read_metadata;
use crate::train::checkpoint::{MODEL_CONFIG_KEY, STATE_FILE, read_state, resolve_generator};

/// Print what a trained generator is: architecture, resolution, latent size and width, and,
/// for a checkpoint written by `kao train`, the training so far (steps, epochs, images shown,
/// training time, dataset).
#[derive(Args, Debug)]
pub struct InfoArgs {
    /// A run folder (its newest undamaged checkpoint), a checkpoint folder, or a generator
    /// .safetensors file.
    #[arg(short, long)]
    checkpoint: PathBuf,
}

pub fn run(args: InfoArgs) -> Result<()> {
    let file = resolve_generator(&args.checkpoint)?;
    let metadata = read_metadata(&file)?;
    let json = metadata
        .get(MODEL_CONFIG_KEY)
        .with_context(|| format!("{} has no {MODEL_CONFIG_KEY} metadata; pass a generator file written by kao", file.display()))?;
    let model: ModelConfig = serde_json::from_str(json).with_context(|| format!("{} has an invalid model config", file.display()))?;
    println!("generator      {}", file.display());
    println!("architecture   {:?}", model.arch);
    println!("resolution     {} px", model.resolution);
    println!("latent size    {}", model.latent_dim);
    println!("channels       {}", model.channels);

    let checkpoint = file.parent().filter(|folder| folder.join(STATE_FILE).is_file());
    let Some(checkpoint) = checkpoint else {
        println!("training       not recorded (a weights file outside a checkpoint folder)");
        return Ok(());
    };
    let state = read_state(checkpoint)?;
    let hours = state.train_seconds / 3600.0;
    println!("steps          {}", state.step);
    println!("epochs         {} of {} complete", state.epoch, state.config.epochs);
    println!("images shown   {}", state.images_seen);
    println!("training time  {hours:.2} h");
    println!("batch size     {}", state.config.batch_size);
    println!("dataset        {}", state.config.data.display());
    Ok(())
}
