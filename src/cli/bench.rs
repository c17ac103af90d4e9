//! `kao bench`: training and generation speed on this machine.

use anyhow::{Result, bail};
use clap::Args;

use crate::bench::{self, BenchMode, BenchModel, BenchSettings};
use crate::device::DeviceChoice;

/// Measure training or generation speed of untrained networks with `kao train`'s default
/// settings. Prints one JSON line to stdout: program, model, mode, batch, threads, steps,
/// warmup, images_per_second, peak_rss_mib (peak resident memory of the process, MiB), device,
/// kernels and version. Measure on an otherwise idle machine.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Network preset.
    #[arg(long, value_enum, default_value_t = BenchModel::Dcgan64)]
    model: BenchModel,
    /// Work to time: training steps or generation.
    #[arg(long, value_enum, default_value_t = BenchMode::Train)]
    mode: BenchMode,
    /// Images per step [default: the preset's training batch (64 DCGAN, 32 StyleGAN); 64 for
    /// generation].
    #[arg(long)]
    batch: Option<usize>,
    /// Untimed steps before timing starts.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// CPU threads for the computation [default: the RAYON_NUM_THREADS variable, else one per
    /// core].
    #[arg(long)]
    threads: Option<usize>,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    device: DeviceChoice,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let batch = args.batch.unwrap_or(match args.mode {
        BenchMode::Train => args.model.config().batch_size,
        BenchMode::Generate => 64,
    });
    for (name, value) in [("--batch", batch), ("--steps", args.steps)] {
        if value == 0 {
            bail!("invalid {name} 0: give at least 1");
        }
    }
    if let Some(threads) = args.threads {
        if threads == 0 {
            bail!("invalid --threads 0: give at least 1");
        }
        rayon::ThreadPoolBuilder::new().num_threads(threads).build_global()?;
    }

    let device = crate::device::open(args.device)?;
    let settings = BenchSettings { model: args.model, mode: args.mode, batch, warmup: args.warmup, steps: args.steps };
    let mode = match settings.mode {
        BenchMode::Train => "training",
        BenchMode::Generate => "generation",
    };
    tracing::info!(
        "timing {} {mode} steps of batch {batch}, after {} warm-up steps",
        settings.steps,
        settings.warmup
    );
    let result = bench::run(&settings, device, args.device);
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}
