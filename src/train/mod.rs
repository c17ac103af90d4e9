//! `kao train`: the training loop, split into starting a run, running epochs, and the
//! per-epoch outputs (sample grid, checkpoint, loss plot).

pub mod checkpoint;
pub mod augment;
pub mod config;
pub mod ema;
pub mod evaluation;
pub mod metrics;
pub mod progress;
pub mod session;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::tensor::Device;
use tracing::info;

pub use config::TrainConfig;
use evaluation::TrainEvaluator;
use progress::Progress;
use session::Session;

use crate::data::loader::BatchLoader;
use crate::data::packed::PackedFaces;
use crate::data::PACKED_FILE_NAME;
use crate::imageio::{grid, save_png, square_columns, tensor_to_images};
use crate::rng::KaoRng;

/// Reason a training invocation stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    Finished,
    MaxSteps,
    MaxTime,
    Interrupted,
}

/// Outcome of a training invocation.
#[derive(Clone, Debug)]
pub struct TrainSummary {
    pub stop: StopReason,
    pub step: u64,
    /// Completed epochs.
    pub epochs_done: u64,
    pub last_checkpoint: PathBuf,
}

/// Trains until the configured epochs, `max_steps` or `max_time` are reached or `interrupt` is
/// set, then writes a final checkpoint. With `resume`, continues from the newest checkpoint
/// in the run folder (or starts a new run when there is none).
pub fn train(config: TrainConfig, resume: bool, interrupt: Arc<AtomicBool>) -> Result<TrainSummary> {
    config.validate()?;
    let faces = Arc::new(PackedFaces::open(&config.data.join(PACKED_FILE_NAME))?);
    check_dataset(&config, &faces)?;
    let device = crate::device::open(config.device)?;
    // Missing Inception weights fail the run before it starts; the training images' features,
    // which can take an hour on a CPU, are computed only once the run folder is accepted.
    if config.eval_every.is_some() {
        crate::metrics::weights::locate_inception(&crate::metrics::weights::kao_home()?)?;
    }
    let mut session = start(config, resume, device.clone().autodiff())?;
    let evaluator = TrainEvaluator::open(&session.state.config, device)?;
    let run = session.state.config.output.clone();
    let loader = BatchLoader::new(faces, session.state.config.batch_size, session.state.config.seed, session.state.config.flip);
    let batch_size = session.state.config.batch_size;
    info!(
        run = %run.display(),
        images_per_epoch = loader.steps_per_epoch() * batch_size,
        dropped_per_epoch = loader.image_count() % batch_size,
        steps_per_epoch = loader.steps_per_epoch(),
        "training {:?} at {} px from step {}",
        session.state.config.model.arch,
        session.state.config.model.resolution,
        session.state.step
    );
    run_epochs(&mut session, &loader, evaluator.as_ref(), &run, &interrupt)
}

fn check_dataset(config: &TrainConfig, faces: &PackedFaces) -> Result<()> {
    let resolution = config.model.resolution;
    if faces.height() != resolution || faces.width() != resolution {
        bail!(
            "dataset {} contains {}x{} images but --resolution is {resolution}; pass --resolution {} or prepare with --size {resolution}",
            config.data.display(),
            faces.width(),
            faces.height(),
            faces.height()
        );
    }
    if faces.len() < config.batch_size {
        bail!("dataset {} contains {} images, fewer than --batch-size {}; lower --batch-size", config.data.display(), faces.len(), config.batch_size);
    }
    Ok(())
}

fn start(config: TrainConfig, resume: bool, device: Device) -> Result<Session> {
    let run = config.output.clone();
    if !checkpoint::list(&run)?.is_empty() && !resume {
        bail!("{} already contains checkpoints; pass --resume to continue that run or choose another --output", run.display());
    }
    if let Some((newest, saved)) = checkpoint::newest_valid(&run)? {
        let differences = saved.config.fixed_differences(&config);
        if !differences.is_empty() {
            bail!("cannot resume {}: {}", run.display(), differences.join("; "));
        }
        let session = Session::resume(&newest, config, device)?;
        metrics::truncate_after(&run, session.state.step)?;
        // config.json shows the settings of the newest piece of the run.
        crate::fsutil::write_atomic(&run.join("config.json"), &serde_json::to_vec_pretty(&session.state.config)?)?;
        info!(checkpoint = %newest.display(), step = session.state.step, "resumed");
        return Ok(session);
    }
    if resume {
        info!(run = %run.display(), "no checkpoint to resume, starting a new run");
        // Steps logged by a piece that died before its first checkpoint are redone.
        metrics::truncate_after(&run, 0)?;
    }
    std::fs::create_dir_all(run.join("samples")).with_context(|| format!("failed to create {}", run.display()))?;
    crate::fsutil::write_atomic(&run.join("config.json"), &serde_json::to_vec_pretty(&config)?)?;
    Ok(Session::new(config, device))
}

fn run_epochs(
    session: &mut Session,
    loader: &BatchLoader,
    evaluator: Option<&TrainEvaluator>,
    run: &Path,
    interrupt: &AtomicBool,
) -> Result<TrainSummary> {
    let started = Instant::now();
    // Evaluations count towards --max-time but not towards the run's training seconds.
    let mut evaluating = Duration::ZERO;
    let seconds_before = session.state.train_seconds;
    let steps_per_epoch = loader.steps_per_epoch() as u64;
    let mut progress = Progress::new(session, steps_per_epoch);
    let first_step = session.state.step;
    let mut last_checkpoint = None;
    // A resumed run may already be at its step limit; it must not take one more step.
    let mut stop = should_stop(session, interrupt, started).unwrap_or(StopReason::Finished);

    'epochs: while stop == StopReason::Finished && session.state.epoch < session.state.config.epochs {
        let epoch = session.state.epoch;
        for batch in loader.prefetch_epoch(epoch, session.state.step_in_epoch as usize) {
            let stats = session.step(batch);
            if let Some((name, value)) = stats.first_non_finite() {
                progress.finish();
                return Err(diverged(run, session.state.step, &format!("{name} is {value}")));
            }
            session.state.train_seconds = seconds_before + (started.elapsed() - evaluating).as_secs_f64();
            if let Some(line) = progress.record(session, &stats) {
                metrics::append(run, &line)?;
            }
            // A stop on an epoch's last step still closes the epoch with its own grid.
            if let Some(reason) = should_stop(session, interrupt, started) {
                stop = reason;
                if session.state.step_in_epoch < steps_per_epoch {
                    break 'epochs;
                }
            }
        }
        session.state.epoch += 1;
        session.state.step_in_epoch = 0;
        // The evaluation line is logged before the checkpoint, so a crash in between leaves
        // no line past the checkpoint that a resumed run would write again.
        if let Some(evaluator) = evaluator.filter(|evaluator| evaluator.is_due(session.state.epoch)) {
            let evaluation_started = Instant::now();
            let line = progress.pause(|| evaluator.score(session))?;
            evaluating += evaluation_started.elapsed();
            metrics::append_eval(run, &line)?;
            info!(epoch = line.epoch, step = line.step, "FID {:.2}  KID {:.4}", line.fid, line.kid);
        }
        last_checkpoint = Some(end_of_piece(session, run, &format!("epoch-{:04}", epoch + 1))?);
    }
    progress.finish();

    let mid_epoch = session.state.step_in_epoch > 0;
    if stop != StopReason::Finished && mid_epoch && session.state.step > first_step {
        let name = format!("epoch-{:04}-step-{:09}", session.state.epoch + 1, session.state.step);
        last_checkpoint = Some(end_of_piece(session, run, &name)?);
    }
    let last_checkpoint = match last_checkpoint {
        Some(path) => path,
        None => checkpoint::list(run)?.pop().context("no checkpoint was written")?,
    };
    info!(?stop, step = session.state.step, checkpoint = %last_checkpoint.display(), "training stopped");
    Ok(TrainSummary { stop, step: session.state.step, epochs_done: session.state.epoch, last_checkpoint })
}

fn should_stop(session: &Session, interrupt: &AtomicBool, started: Instant) -> Option<StopReason> {
    let config = &session.state.config;
    if interrupt.load(Ordering::SeqCst) {
        return Some(StopReason::Interrupted);
    }
    if config.max_steps.is_some_and(|max| session.state.step >= max) {
        return Some(StopReason::MaxSteps);
    }
    if config.max_seconds.is_some_and(|max| started.elapsed().as_secs_f64() >= max) {
        return Some(StopReason::MaxTime);
    }
    None
}

/// The error that stops a run whose losses or weights stopped being finite. No checkpoint is
/// written after divergence, so the newest one on disk is the last good state.
fn diverged(run: &Path, step: u64, what: &str) -> anyhow::Error {
    let next = match checkpoint::newest_valid(run) {
        Ok(Some((path, _))) => {
            format!("the last good checkpoint is {} (kept); continue from it with --resume and a lower --lr", path.display())
        }
        _ => "no checkpoint was written before it; start again with a lower --lr".to_string(),
    };
    anyhow::anyhow!("training diverged at step {step}: {what}; stopped without saving. {next}")
}

/// Writes a checkpoint, the sample grid `samples/NAME.png` and the loss plot.
fn end_of_piece(session: &mut Session, run: &Path, name: &str) -> Result<PathBuf> {
    if let Some(weight) = session.first_non_finite_weight() {
        return Err(diverged(run, session.state.step, &format!("{weight} holds NaN or infinite values")));
    }
    // The checkpoint comes first: it is what a failing disk must not cost.
    let checkpoint = session.save_checkpoint(run)?;
    let grid_path = run.join("samples").join(format!("{name}.png"));
    std::fs::create_dir_all(run.join("samples"))?;
    write_sample_grid(session, &grid_path)?;
    metrics::plot_losses(run)?;
    info!(samples = %grid_path.display(), checkpoint = %checkpoint.display(), "saved");
    Ok(checkpoint)
}

/// Renders the run's fixed sample latents (and fixed noise) with the moving average of G when
/// the run keeps one, else with G itself, without autodiff and with BatchNorm's running
/// statistics.
fn write_sample_grid(session: &Session, path: &Path) -> Result<()> {
    let config = &session.state.config;
    let generator = match &session.ema {
        Some(average) => average.clone(),
        None => session.generator.valid(),
    };
    let device = generator_device(&generator);
    let mut rng = KaoRng::for_purpose(config.seed, "sample-grid");
    let latents = session::draw_latents(
        &mut rng,
        config.sample_count,
        config.model.latent_dim,
        &generator.noise_resolutions(),
        0.0,
        &device,
    );
    let images = tensor_to_images(generator.forward(latents, false));
    save_png(&grid(&images, square_columns(config.sample_count), 2), path)
}

pub(crate) fn generator_device<M: Module>(module: &M) -> Device {
    module.devices().into_iter().next().unwrap_or_else(Device::flex)
}
