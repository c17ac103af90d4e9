//! `kao train` arguments.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use crate::data::PACKED_FILE_NAME;
use crate::data::packed::PackedFaces;
use crate::device::DeviceChoice;
use crate::model::{Arch, ModelConfig};
use crate::train::{TrainConfig, checkpoint, train};

/// Train a generator and a discriminator jointly on a prepared dataset. Each epoch writes a
/// sample grid (RUN/samples), a checkpoint (RUN/checkpoints), metrics (RUN/metrics.jsonl) and a
/// loss plot (RUN/loss.png). Ctrl-C saves a checkpoint and stops; --resume continues.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Prepared dataset folder (the output of `kao prepare`).
    #[arg(long)]
    data: PathBuf,
    /// Run folder for checkpoints, samples and metrics; keep it outside the repository.
    #[arg(short, long)]
    output: PathBuf,
    /// Network family [default: dcgan].
    #[arg(long, value_enum)]
    arch: Option<Arch>,
    /// Image size in pixels, 64 or 128 [default: the dataset's].
    #[arg(long)]
    resolution: Option<usize>,
    /// Network width. DCGAN: channels of G's last hidden layer and D's first (ngf/ndf), doubled
    /// per halving of the resolution. StyleGAN: channels of the widest layers (4 to
    /// 16 px), halved per doubling above 16 px. StyleGAN's default of 64 trains at about 21
    /// images/s at 64 px on 2 CPU cores; use 256 to 512 on a GPU [default: 64 for both].
    #[arg(long)]
    channels: Option<usize>,
    /// Length of the latent vector z [default: 100 for DCGAN; StyleGAN uses 512].
    #[arg(long)]
    latent_dim: Option<usize>,
    /// Total epochs to train (passes over the dataset) [default: 25].
    #[arg(long)]
    epochs: Option<u64>,
    /// Stop after this many optimizer steps in total, counted from the start of the run.
    #[arg(long)]
    max_steps: Option<u64>,
    /// Stop this invocation after this wall-clock time, e.g. 90s, 30m, 2h or 1h30m; a checkpoint
    /// is saved.
    #[arg(long, value_parser = humantime::parse_duration)]
    max_time: Option<std::time::Duration>,
    /// Images per optimizer step [default: 64 for DCGAN, 32 for StyleGAN].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Adam learning rate of G and D [default: 0.0002 for DCGAN with betas (0.5, 0.999); 0.002
    /// for StyleGAN with betas (0, 0.99)]. May change when resuming, for example after the run
    /// diverged.
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// Seed of every random choice: weights, latents, data order, flips [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// StyleGAN: probability that a batch mixes two latents' styles at a random layer
    /// [default: 0.9].
    #[arg(long, allow_negative_numbers = true)]
    style_mixing: Option<f64>,
    /// StyleGAN: half-life, in thousands of images, of the moving average of G that samples
    /// are drawn from [default: 10].
    #[arg(long, allow_negative_numbers = true)]
    ema_kimg: Option<f64>,
    /// Apply DiffAugment (colour, translation, cutout) to every image D receives [default: on for
    /// StyleGAN, off for DCGAN].
    #[arg(long, conflicts_with = "no_diffaugment")]
    diffaugment: bool,
    /// Do not apply DiffAugment.
    #[arg(long)]
    no_diffaugment: bool,
    /// Weight of D's finite-difference R1 penalty, a first-order estimate of the gradient
    /// penalty; 0 turns it off [default: 0]. 0.025 is StyleGAN2-ADA's weight for 64 px and
    /// batch 32; in 90-minute CPU runs it gave a worse FID than no penalty (docs/stylegan-64.md).
    #[arg(long, allow_negative_numbers = true)]
    r1_gamma: Option<f64>,
    /// Do not flip real images horizontally at random.
    #[arg(long)]
    no_flip: bool,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    device: DeviceChoice,
    /// Continue from the newest checkpoint in the run folder (starts a new run if there is none).
    #[arg(long)]
    resume: bool,
    /// Newest checkpoints to keep (at least 1). A resumed run keeps its setting unless given
    /// [default: 3].
    #[arg(long)]
    keep_checkpoints: Option<usize>,
    /// Epochs, counted from 1, whose end-of-epoch checkpoints are kept besides the newest ones,
    /// comma-separated, for comparing runs at those points (on a CPU, small ones such as
    /// 1,2,5). A resumed run keeps its setting unless given [default: 10,50,100,200].
    #[arg(long, value_delimiter = ',')]
    keep_epochs: Option<Vec<u64>>,
    /// Write a metrics line every this many steps.
    #[arg(long, default_value_t = 10)]
    log_every: u64,
    /// Measure FID and KID after every this many epochs and log them to RUN/metrics.jsonl
    /// (needs the Inception weights: see `kao weights import --help`). Each evaluation
    /// generates --eval-samples faces and runs Inception on them, at about 5 images/s on 2 CPU
    /// cores. A resumed run keeps its setting unless given [default: off].
    #[arg(long, conflicts_with = "no_eval")]
    eval_every: Option<u64>,
    /// Stop the evaluations that the resumed run was making.
    #[arg(long)]
    no_eval: bool,
    /// Generated faces scored at each evaluation, from the same seeds every time. Fewer give
    /// a higher, noisier FID, so compare runs at the same count [default: 5000].
    #[arg(long)]
    eval_samples: Option<usize>,
    /// Training images compared with, drawn once by --seed. Their features are computed at
    /// the start of each invocation unless an earlier one cached them [default: all].
    #[arg(long)]
    eval_real_samples: Option<usize>,
}

pub fn run(args: TrainArgs) -> Result<()> {
    let config = build_config(&args)?;
    if config.eval_every.is_none() && (args.eval_samples.is_some() || args.eval_real_samples.is_some()) {
        tracing::warn!("--eval-samples and --eval-real-samples have no effect without --eval-every");
    }
    let interrupt =
        super::install_interrupt("interrupt: saving a checkpoint after this step (press Ctrl-C again to exit at once)")?;

    let total_epochs = config.epochs;
    let summary = train(config, args.resume, interrupt)?;
    if summary.epochs_done > total_epochs {
        tracing::warn!(
            "the run had already completed {} epochs, more than --epochs {total_epochs}; --epochs is the run's total, so give a larger one to train further",
            summary.epochs_done
        );
    }
    let epochs = match summary.epochs_done {
        1 => "1 complete epoch".to_string(),
        count => format!("{count} complete epochs"),
    };
    println!(
        "stopped ({:?}) at step {} after {epochs}; checkpoint {}",
        summary.stop,
        summary.step,
        summary.last_checkpoint.display()
    );
    Ok(())
}

/// Merges the arguments with the resumed run's settings (or the defaults for a new run).
fn build_config(args: &TrainArgs) -> Result<TrainConfig> {
    let saved = match args.resume {
        true => checkpoint::newest_valid(&args.output)?.map(|(_, state)| state.config),
        false => None,
    };
    if let (Some(saved), Some(arch)) = (&saved, args.arch) {
        if saved.model.arch != arch {
            bail!(
                "cannot resume {}: --arch is {} in the run but {} was requested; drop --arch or choose another --output",
                args.output.display(),
                arch_name(saved.model.arch),
                arch_name(arch)
            );
        }
    }
    let base = match saved {
        Some(saved) => saved,
        None => defaults(args)?,
    };
    let model = ModelConfig {
        arch: args.arch.unwrap_or(base.model.arch),
        resolution: args.resolution.unwrap_or(base.model.resolution),
        latent_dim: args.latent_dim.unwrap_or(base.model.latent_dim),
        channels: args.channels.unwrap_or(base.model.channels),
    };
    Ok(TrainConfig {
        data: args.data.clone(),
        output: args.output.clone(),
        model,
        epochs: args.epochs.unwrap_or(base.epochs),
        max_steps: args.max_steps,
        max_seconds: args.max_time.map(|duration| duration.as_secs_f64()),
        batch_size: args.batch_size.unwrap_or(base.batch_size),
        lr: args.lr.unwrap_or(base.lr),
        beta1: base.beta1,
        beta2: base.beta2,
        seed: args.seed.unwrap_or(base.seed),
        flip: if args.no_flip { false } else { base.flip },
        device: args.device,
        keep_checkpoints: args.keep_checkpoints.unwrap_or(base.keep_checkpoints),
        keep_epochs: args.keep_epochs.clone().unwrap_or(base.keep_epochs),
        log_every: args.log_every,
        sample_count: base.sample_count,
        style_mixing: args.style_mixing.unwrap_or(base.style_mixing),
        ema_kimg: args.ema_kimg.or(base.ema_kimg),
        diffaugment: match (args.diffaugment, args.no_diffaugment) {
            (_, true) => false,
            (true, _) => true,
            _ => base.diffaugment,
        },
        r1_gamma: args.r1_gamma.unwrap_or(base.r1_gamma),
        eval_every: if args.no_eval { None } else { args.eval_every.or(base.eval_every) },
        eval_samples: args.eval_samples.unwrap_or(base.eval_samples),
        eval_real_samples: args.eval_real_samples.or(base.eval_real_samples),
    })
}

fn defaults(args: &TrainArgs) -> Result<TrainConfig> {
    let faces = PackedFaces::open(&args.data.join(PACKED_FILE_NAME))?;
    let arch = args.arch.unwrap_or(Arch::Dcgan);
    Ok(TrainConfig::defaults(arch, faces.height(), args.data.clone(), args.output.clone()))
}

/// Returns the `--arch` value that selects `arch`.
fn arch_name(arch: Arch) -> String {
    use clap::ValueEnum;
    arch.to_possible_value().map(|value| value.get_name().to_owned()).unwrap_or_default()
}
