//! `kao info`: what a generator is and how it was trained.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::generate::describe;
use crate::generate::weights::Weights;

/// Print what a trained generator is: architecture, resolution, latent size and width, and,
/// when its checkpoint folder or file records it, its training (steps, epochs, images shown,
/// training time, dataset).
#[derive(Args, Debug)]
pub struct InfoArgs {
    /// A run folder (its newest undamaged checkpoint), a checkpoint folder, or a generator
    /// .safetensors file [default: the generator bundled with kao].
    #[arg(short, long)]
    checkpoint: Option<PathBuf>,
}

pub fn run(args: InfoArgs) -> Result<()> {
    let weights = Weights::resolve(args.checkpoint.as_deref())?;
    let (model, training) = describe(&weights)?;
    println!("generator      {}", weights.name());
    println!("architecture   {}", model.arch.display_name());
    println!("resolution     {} px", model.resolution);
    println!("latent size    {}", model.latent_dim);
    println!("channels       {}", model.channels);

    let Some(training) = training else {
        println!("training       not recorded (a weights file outside a checkpoint folder)");
        return Ok(());
    };
    let hours = training.train_seconds / 3600.0;
    println!("steps          {}", training.step);
    println!("epochs         {} complete", training.epochs);
    println!("images shown   {}", training.images_seen);
    println!("training time  {hours:.2} h");
    println!("batch size     {}", training.batch_size);
    println!("dataset        {}", training.dataset);
    Ok(())
}
