//! Throughput of kao's training step and of generation, measured the way
//! `benches/gan_pytorch.py` measures PyTorch's, so `benches/compare.sh` can set them side by side.
//!
//! Real images are random values made once: data loading runs on its own thread during
//! training and is not part of either number.

use std::time::Instant;

use burn::tensor::Device;
use serde::Serialize;

use crate::data::loader::Batch;
use crate::device::DeviceChoice;
use crate::generate::LoadedGenerator;
use crate::generate::controls::Controls;
use crate::model::{Arch, GeneratorNet};
use crate::rng::KaoRng;
use crate::train::TrainConfig;
use crate::train::session::Session;

/// Network presets with kao's default settings for each family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
pub enum BenchModel {
    /// DCGAN at 64 px: latent 100, 64 channels, Adam 2e-4.
    #[value(name = "dcgan-64")]
    #[serde(rename = "dcgan-64")]
    Dcgan64,
    /// DCGAN at 128 px: latent 100, 64 channels, Adam 2e-4.
    #[value(name = "dcgan-128")]
    #[serde(rename = "dcgan-128")]
    Dcgan128,
    /// StyleGAN-style at 64 px with style mixing, DiffAugment and the moving average of G.
    #[value(name = "stylegan-64")]
    #[serde(rename = "stylegan-64")]
    StyleGan64,
}

impl BenchModel {
    /// Returns the default training settings of the preset.
    pub fn config(self) -> TrainConfig {
        let (arch, resolution) = match self {
            BenchModel::Dcgan64 => (Arch::Dcgan, 64),
            BenchModel::Dcgan128 => (Arch::Dcgan, 128),
            BenchModel::StyleGan64 => (Arch::StyleGan, 64),
        };
        TrainConfig::defaults(arch, resolution, "bench".into(), "bench".into())
    }
}

/// Work to time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BenchMode {
    /// Joint training steps: G forward, D forward on real and fake images, D backward and Adam
    /// update, then G's loss through the updated D, G backward and Adam update.
    Train,
    /// Generator forward passes without autodiff, read back as 8-bit images.
    Generate,
}

/// Settings of one measurement.
#[derive(Clone, Debug)]
pub struct BenchSettings {
    pub model: BenchModel,
    pub mode: BenchMode,
    /// Images per step.
    pub batch: usize,
    /// Untimed steps first, so one-off allocations and kernel choices are not counted.
    pub warmup: usize,
    /// Timed steps.
    pub steps: usize,
}

/// One measurement, printed as one JSON line.
#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    pub program: &'static str,
    pub model: BenchModel,
    pub mode: BenchMode,
    pub batch: usize,
    /// Threads of the rayon pool that Flex and its matrix multiplications run on.
    pub threads: usize,
    pub steps: usize,
    /// Untimed steps before the timed ones.
    pub warmup: usize,
    pub images_per_second: f64,
    /// Largest resident set of the whole process so far, in MiB.
    pub peak_rss_mib: f64,
    /// Compute device, as `--device` names it.
    pub device: DeviceChoice,
    /// Convolution and rectifier kernels on the CPU: "kao", or "burn" with `KAO_CONV=burn`.
    pub kernels: &'static str,
    pub version: &'static str,
}

/// Runs one measurement on `device`, which must not have autodiff enabled and is the one that
/// `choice` opened.
pub fn run(settings: &BenchSettings, device: Device, choice: DeviceChoice) -> BenchResult {
    let seconds = match settings.mode {
        BenchMode::Train => time_training(settings, device),
        BenchMode::Generate => time_generation(settings, device),
    };
    let rate = (settings.batch * settings.steps) as f64 / seconds;
    BenchResult {
        program: "kao",
        model: settings.model,
        mode: settings.mode,
        batch: settings.batch,
        threads: rayon::current_num_threads(),
        steps: settings.steps,
        warmup: settings.warmup,
        images_per_second: round2(rate),
        peak_rss_mib: round2(peak_rss_mib()),
        device: choice,
        kernels: if crate::model::conv::burn_kernels_requested() { "burn" } else { "kao" },
        version: env!("CARGO_PKG_VERSION"),
    }
}

/// Returns the seconds that `settings.steps` training steps take after the warm-up.
fn time_training(settings: &BenchSettings, device: Device) -> f64 {
    let mut config = settings.model.config();
    config.batch_size = settings.batch;
    let resolution = config.model.resolution;
    let mut session = Session::new(config, device.autodiff());
    // Uniform in [-1, 1), as in benches/gan_pytorch.py.
    let mut rng = KaoRng::seed_from_u64(0);
    let pixels: Vec<f32> = (0..settings.batch * 3 * resolution * resolution).map(|_| rng.uniform() * 2.0 - 1.0).collect();
    let batch = || Batch {
        pixels: pixels.clone(),
        batch_size: settings.batch,
        height: resolution,
        width: resolution,
    };

    // Each step reads its losses back to the host, which waits for the work to finish.
    for _ in 0..settings.warmup {
        session.step(batch());
    }
    let started = Instant::now();
    for _ in 0..settings.steps {
        session.step(batch());
    }
    started.elapsed().as_secs_f64()
}

/// Returns the seconds that `settings.steps` generator batches take after the warm-up.
fn time_generation(settings: &BenchSettings, device: Device) -> f64 {
    let config = settings.model.config();
    let mut init_rng = KaoRng::for_purpose(0, "weights");
    let net = GeneratorNet::new(&config.model, &device, Some(&mut init_rng));
    let generator = LoadedGenerator::from_net(config.model, net, device);
    let controls = Controls::default();
    let render = |step: usize| {
        let seeds: Vec<u64> = (0..settings.batch as u64).map(|index| (step * settings.batch) as u64 + index).collect();
        generator.render(&seeds, &controls).expect("default controls are valid")
    };

    for step in 0..settings.warmup {
        render(step);
    }
    let started = Instant::now();
    for step in 0..settings.steps {
        render(settings.warmup + step);
    }
    started.elapsed().as_secs_f64()
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Returns the peak resident set size of this process in MiB (Linux reports KiB).
pub fn peak_rss_mib() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a complete rusage into the pointer it is given.
    let status = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if status != 0 {
        return f64::NAN;
    }
    // SAFETY: getrusage returned 0, so it filled the struct.
    let usage = unsafe { usage.assume_init() };
    usage.ru_maxrss as f64 / 1024.0
}
