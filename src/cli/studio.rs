//! `kao studio` arguments.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use clap::Args;

use super::generate::ModelArgs;
use crate::generate::LoadedGenerator;
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
    #[arg(long, default_value = "127.0.0.1:7860", value_parser = parse_bind)]
    bind: SocketAddr,
}

fn parse_bind(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| format!("{text} is not an IP address and port; use for example 127.0.0.1:7860 (or 0.0.0.0:7860 for every network)"))
}

pub fn run(args: StudioArgs) -> Result<()> {
    let listener = std::net::TcpListener::bind(args.bind)
        .with_context(|| format!("cannot listen on {}; choose another --bind address or port", args.bind))?;
    let weights = args.model.weights()?;
    let generator = LoadedGenerator::from_weights(&weights, crate::device::open(args.model.device)?)?;
    tracing::info!(weights = %weights.name(), resolution = generator.config.resolution, "loaded {} generator", generator.config.arch.display_name());
    run_studio(Studio::new(generator, &weights), listener)
}
