//! The StyleGAN controls on a real checkpoint written to disk (an untrained network, so no
//! shared data is needed).

use std::path::Path;

use burn::tensor::Device;
use kao::device::DeviceChoice;
use kao::generate::LoadedGenerator;
use kao::generate::controls::{Controls, Level};
use kao::model::stylegan::NoiseMode;
use kao::model::{Arch, ModelConfig, tensor_values};
use kao::train::TrainConfig;
use kao::data::loader::Batch;
use kao::train::session::Session;

fn config(run: &Path, arch: Arch) -> TrainConfig {
    let (latent_dim, style_mixing, ema_kimg) = match arch {
        Arch::Dcgan => (32, 0.0, None),
        Arch::StyleGan => (512, 0.9, Some(1.0)),
    };
    TrainConfig {
        data: run.join("unused"),
        output: run.to_owned(),
        model: ModelConfig { arch, resolution: 64, latent_dim, channels: 16 },
        epochs: 1,
        max_steps: None,
        max_seconds: None,
        batch_size: 4,
        lr: 2e-3,
        beta1: 0.0,
        beta2: 0.99,
        seed: 3,
        flip: false,
        device: DeviceChoice::Cpu,
        keep_checkpoints: 1,
        keep_epochs: Vec::new(),
        log_every: 1,
        sample_count: 4,
        style_mixing,
        ema_kimg,
        diffaugment: arch == Arch::StyleGan,
        r1_gamma: 0.0,
        eval_every: None,
        eval_samples: 2,
        eval_real_samples: None,
    }
}

/// Trains two steps on random pixels with a large learning rate, so the noise strengths (which
/// start at zero) and the tracked w average move away from their initial values, then saves.
fn saved_generator(root: &Path, arch: Arch) -> LoadedGenerator {
    let run = root.join(format!("{arch:?}"));
    let mut config = config(&run, arch);
    config.lr = 0.05;
    config.ema_kimg = None;
    let mut session = Session::new(config, Device::flex().autodiff());
    let mut rng = kao::rng::KaoRng::seed_from_u64(9);
    for _ in 0..2 {
        let pixels = rng.normal_vec(4 * 3 * 64 * 64).into_iter().map(|v| v.clamp(-1.0, 1.0)).collect();
        session.step(Batch { pixels, batch_size: 4, height: 64, width: 64 });
    }
    let checkpoint = session.save_checkpoint(&run).unwrap();
    LoadedGenerator::load(&checkpoint, Device::flex()).unwrap()
}

fn pixels(generator: &LoadedGenerator, seeds: &[u64], controls: &Controls) -> Vec<Vec<u8>> {
    generator.render(seeds, controls).unwrap().into_iter().map(|image| image.into_raw()).collect()
}

#[test]
fn noise_none_is_deterministic_and_noise_varies() {
    let root = tempfile::tempdir().unwrap();
    let generator = saved_generator(root.path(), Arch::StyleGan);
    let clean = Controls { noise: NoiseMode::None, ..Controls::default() };
    assert!(pixels(&generator, &[5], &clean) == pixels(&generator, &[5], &clean), "noise none is not repeatable");

    let noisy = |noise_seed| Controls { noise_seed: Some(noise_seed), ..Controls::default() };
    assert!(pixels(&generator, &[5], &noisy(1)) == pixels(&generator, &[5], &noisy(1)), "a noise seed is not repeatable");
    let differs = pixels(&generator, &[5], &noisy(1)) != pixels(&generator, &[5], &noisy(2));
    assert!(differs, "two noise seeds gave the same face");
    let differs = pixels(&generator, &[5], &noisy(1)) != pixels(&generator, &[5], &clean);
    assert!(differs, "noise had no effect");
}

#[test]
fn zero_truncation_gives_one_average_face() {
    let root = tempfile::tempdir().unwrap();
    let generator = saved_generator(root.path(), Arch::StyleGan);
    let average = Controls { truncation: 0.0, noise: NoiseMode::None, ..Controls::default() };
    let faces = pixels(&generator, &[1, 2, 3], &average);
    assert!(faces[0] == faces[1], "psi 0 gave different faces for seeds 1 and 2");
    assert!(faces[0] == faces[2], "psi 0 gave different faces for seeds 1 and 3");
    let varied = pixels(&generator, &[1, 2], &Controls { noise: NoiseMode::None, ..Controls::default() });
    assert!(varied[0] != varied[1], "psi 1 gave the same face for two seeds");
}

#[test]
fn coarse_mixing_changes_only_coarse_styles() {
    let root = tempfile::tempdir().unwrap();
    let generator = saved_generator(root.path(), Arch::StyleGan);
    let plain = tensor_values(generator.styles(&[7], &Controls::default()).unwrap());
    let mixed_controls = Controls { mix_seed: Some(8), mix_levels: vec![Level::Coarse], ..Controls::default() };
    let mixed = tensor_values(generator.styles(&[7], &mixed_controls).unwrap());
    let donor = tensor_values(generator.styles(&[8], &Controls::default()).unwrap());

    let dim = 512;
    for layer in 0..10 {
        let range = layer * dim..(layer + 1) * dim;
        if layer < 3 {
            assert!(mixed[range.clone()] == donor[range.clone()], "coarse ws {layer} must come from the mix seed");
        } else {
            assert!(mixed[range.clone()] == plain[range], "ws {layer} must keep the face's own style");
        }
    }
}

#[test]
fn dcgan_rejects_style_controls() {
    let root = tempfile::tempdir().unwrap();
    let generator = saved_generator(root.path(), Arch::Dcgan);
    assert_eq!(generator.render(&[1], &Controls::default()).unwrap().len(), 1);
    let error = generator.render(&[1], &Controls { truncation: 0.5, ..Controls::default() }).unwrap_err();
    assert!(error.to_string().contains("--truncation need a StyleGAN model"), "{error}");
    let error = generator.render(&[1], &Controls { noise: NoiseMode::None, ..Controls::default() }).unwrap_err();
    assert!(error.to_string().contains("--noise need a StyleGAN model"), "{error}");
}

fn kao(args: &[&str]) -> (bool, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kao")).args(args).output().expect("kao runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

#[test]
fn figure_commands_write_images() {
    let root = tempfile::tempdir().unwrap();
    let run = root.path().join("StyleGan");
    saved_generator(root.path(), Arch::StyleGan);
    let run = run.to_str().unwrap();
    let out = |name: &str| root.path().join(name).to_str().unwrap().to_owned();

    let (ok, _, stderr) = kao(&["mix", "-c", run, "--rows", "1,2", "--cols", "3,4,5", "--mix-levels", "coarse", "-o", &out("mix.png")]);
    assert!(ok, "{stderr}");
    let mix = image::open(out("mix.png")).unwrap();
    assert_eq!((mix.width(), mix.height()), (4 * 66 + 2, 3 * 66 + 2));

    let (ok, _, stderr) = kao(&["figure", "-c", run, "--kind", "strength", "--seeds", "1,2", "-o", &out("strip.png")]);
    assert!(ok, "{stderr}");
    assert_eq!(image::open(out("strip.png")).unwrap().width(), 6 * 66 + 2);

    let (ok, _, stderr) = kao(&["figure", "-c", run, "--kind", "noise", "--seeds", "1", "-o", &out("noise.png")]);
    assert!(ok, "{stderr}");
    assert_eq!(image::open(out("noise.png")).unwrap().width(), 5 * 66 + 2);

    let (ok, stdout, stderr) = kao(&["interpolate", "-c", run, "--seeds", "1,2", "--frames", "3", "-o", &out("loop.gif")]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("wrote 6 frames"), "{stdout}");
    let gif = std::fs::read(out("loop.gif")).unwrap();
    assert_eq!(&gif[..6], b"GIF89a");

    let (ok, _, stderr) = kao(&["generate", "-c", run, "--grid", &out("g.png"), "--truncation", "2.5"]);
    assert!(!ok);
    assert!(stderr.contains("invalid --truncation 2.5"), "{stderr}");
    let (ok, _, stderr) = kao(&["interpolate", "-c", run, "--seeds", "1", "-o", &out("one.gif")]);
    assert!(!ok);
    assert!(stderr.contains("at least 2 faces"), "{stderr}");
}
