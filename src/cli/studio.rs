//! `kao studio` arguments.

use std::net::SocketAddr;

use anyhow::Result;
use clap::Args;

use super::generate::ModelArgs;
use crate::studio::{Studio, run as run_studio};

/// Serve kao studio, a web page for finding and tuning new characters' faces: a grid of
/// faces from random seeds, and for StyleGAN models the style strength (truncation psi),
/// per-level strength, style mixing, noise and variations. Open the printed address in a
/// browser. The page and its API never read or write files.
#[derive(Args, Debug)]
pub struct StudioArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Address and port to listen on. The default accepts connections from this machine
    /// only; another address lets other machines in, without any login. Port 0 picks a free
    /// port.
    #[arg(long, default_value = "127.0.0.1:7860")]
    bind: SocketAddr,
}

pub fn run(args: StudioArgs) -> Result<()> {
    let generator = args.model.load()?;
    tracing::info!(
        checkpoint = %args.model.checkpoint.display(),
        resolution = generator.config.resolution,
        "loaded {:?} generator",
        generator.config.arch
    );
    run_studio(Studio::new(generator, args.model.checkpoint.clone()), args.bind)
}
