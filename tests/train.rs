//! Training, checkpoints and generation on real faces with a narrow DCGAN.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use kao::device::DeviceChoice;
use kao::generate::LoadedGenerator;
use kao::model::{Arch, ModelConfig};
use kao::train::checkpoint::{self, GENERATOR_FILE};
use kao::train::metrics::{self, LOSS_PLOT_FILE};
use kao::train::session::Session;
use kao::train::{StopReason, TrainConfig, train};

/// Returns settings for a DCGAN narrow enough to take a step in well under a second on two cores.
fn tiny_config(data: &Path, output: &Path) -> TrainConfig {
    TrainConfig {
        data: data.to_owned(),
        output: output.to_owned(),
        model: ModelConfig { arch: Arch::Dcgan, resolution: 64, latent_dim: 32, channels: 8 },
        epochs: 1,
        max_steps: None,
        max_seconds: None,
        batch_size: 16,
        lr: 2e-4,
        beta1: 0.5,
        beta2: 0.999,
        seed: 7,
        flip: true,
        device: DeviceChoice::Cpu,
        keep_checkpoints: 3,
        keep_epochs: Vec::new(),
        log_every: 1,
        sample_count: 16,
        style_mixing: 0.0,
        ema_kimg: None,
        diffaugment: false,
        r1_gamma: 0.0,
        eval_every: None,
        eval_samples: 2,
        eval_real_samples: None,
    }
}

fn no_interrupt() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

fn generator_bytes(checkpoint: &Path) -> Vec<u8> {
    std::fs::read(checkpoint.join(GENERATOR_FILE)).unwrap()
}

fn setup(count: usize) -> Option<(tempfile::TempDir, PathBuf)> {
    let shared = common::shared_faces_64()?;
    let root = tempfile::tempdir().unwrap();
    let data = common::small_dataset(&shared, root.path(), count);
    Some((root, data))
}

#[test]
fn few_steps_give_finite_losses_and_outputs() {
    let Some((root, data)) = setup(120) else { return };
    let run = root.path().join("run");
    let mut config = tiny_config(&data, &run);
    config.max_steps = Some(4);

    let summary = train(config, false, no_interrupt()).unwrap();
    assert_eq!(summary.stop, StopReason::MaxSteps);
    assert_eq!(summary.step, 4);

    let lines = metrics::read_all(&run).unwrap();
    assert_eq!(lines.len(), 4);
    for line in &lines {
        assert!(line.loss_d.is_finite(), "{line:?}");
        assert!(line.loss_d > 0.0, "{line:?}");
        assert!(line.loss_g.is_finite(), "{line:?}");
        assert!(line.loss_g > 0.0, "{line:?}");
        assert!((0.0..=1.0).contains(&line.d_real), "{line:?}");
        assert!((0.0..=1.0).contains(&line.d_fake), "{line:?}");
    }
    assert_eq!(lines.last().unwrap().images_seen, 64);
    assert!(run.join(LOSS_PLOT_FILE).exists());
    let grid = image::open(run.join("samples/epoch-0001-step-000000004.png")).unwrap();
    assert_eq!((grid.width(), grid.height()), (4 * 66 + 2, 4 * 66 + 2));
    assert_eq!(checkpoint::list(&run).unwrap().len(), 1);
}

#[test]
fn same_seed_gives_same_weights() {
    let Some((root, data)) = setup(64) else { return };
    let mut checkpoints = Vec::new();
    for name in ["first", "second"] {
        let mut config = tiny_config(&data, &root.path().join(name));
        config.max_steps = Some(3);
        checkpoints.push(train(config, false, no_interrupt()).unwrap().last_checkpoint);
    }
    assert_eq!(generator_bytes(&checkpoints[0]), generator_bytes(&checkpoints[1]));

    let mut config = tiny_config(&data, &root.path().join("third"));
    config.max_steps = Some(3);
    config.seed = 8;
    let other = train(config, false, no_interrupt()).unwrap().last_checkpoint;
    assert_ne!(generator_bytes(&checkpoints[0]), generator_bytes(&other));
}

#[test]
fn resume_matches_uninterrupted_run() {
    let Some((root, data)) = setup(100) else { return };
    // 100 faces at batch 16 make 6 steps an epoch, so the run crosses an epoch boundary.
    let mut whole = tiny_config(&data, &root.path().join("whole"));
    whole.epochs = 2;
    let whole_summary = train(whole, false, no_interrupt()).unwrap();
    assert_eq!(whole_summary.stop, StopReason::Finished);
    assert_eq!(whole_summary.step, 12);

    let mut first_piece = tiny_config(&data, &root.path().join("pieces"));
    first_piece.epochs = 2;
    first_piece.max_steps = Some(4);
    assert_eq!(train(first_piece.clone(), false, no_interrupt()).unwrap().step, 4);
    // Resuming at the step limit takes no further step.
    assert_eq!(train(first_piece.clone(), true, no_interrupt()).unwrap().step, 4);
    let mut second_piece = first_piece.clone();
    second_piece.max_steps = Some(9);
    assert_eq!(train(second_piece.clone(), true, no_interrupt()).unwrap().step, 9);
    second_piece.max_steps = None;
    let pieces_summary = train(second_piece, true, no_interrupt()).unwrap();
    assert_eq!(pieces_summary.step, 12);

    assert_eq!(generator_bytes(&whole_summary.last_checkpoint), generator_bytes(&pieces_summary.last_checkpoint));
    let whole_lines = metrics::read_all(&root.path().join("whole")).unwrap();
    let piece_lines = metrics::read_all(&root.path().join("pieces")).unwrap();
    assert_eq!(whole_lines.len(), piece_lines.len());
    for (a, b) in whole_lines.iter().zip(&piece_lines) {
        assert_eq!((a.step, a.loss_d, a.loss_g), (b.step, b.loss_d, b.loss_g));
    }
}

#[test]
fn run_without_resume_is_not_overwritten() {
    let Some((root, data)) = setup(64) else { return };
    let run = root.path().join("run");
    let mut config = tiny_config(&data, &run);
    config.max_steps = Some(1);
    train(config.clone(), false, no_interrupt()).unwrap();

    let error = train(config.clone(), false, no_interrupt()).unwrap_err().to_string();
    assert!(error.contains("pass --resume"), "{error}");

    config.batch_size = 8;
    let error = train(config, true, no_interrupt()).unwrap_err().to_string();
    assert!(error.contains("--batch-size is 16 in the run but 8 was requested"), "{error}");

    let mut wider = tiny_config(&data, &run);
    wider.model.channels = 16;
    let error = train(wider, true, no_interrupt()).unwrap_err().to_string();
    assert!(error.contains("--channels is 8 in the run but 16 was requested"), "{error}");
}

#[test]
fn checkpoint_round_trip_gives_identical_generator_output() {
    let Some((root, data)) = setup(64) else { return };
    let run = root.path().join("run");
    let device = Device::flex().autodiff();
    let mut session = Session::new(tiny_config(&data, &run), device);
    let loader = kao::data::loader::BatchLoader::new(
        Arc::new(kao::data::packed::PackedFaces::open(&data.join(kao::data::PACKED_FILE_NAME)).unwrap()),
        16,
        7,
        true,
    );
    let order = loader.epoch_order(0);
    for step in 0..2 {
        session.step(loader.batch(&order, 0, step));
    }
    let saved = session.save_checkpoint(&run).unwrap();

    let z: Vec<f32> = (0..4 * 32).map(|i| ((i * 37 % 19) as f32 - 9.0) / 5.0).collect();
    let in_memory = session.generator.valid();
    let z_tensor = Tensor::<2>::from_data(TensorData::new(z.clone(), [4, 32]), &Device::flex());
    let latents = kao::model::Latents { z: z_tensor.clone(), mix: None, noise: Vec::new() };
    let expected = kao::model::tensor_values(in_memory.forward(latents, false));

    let loaded = LoadedGenerator::load(&saved.join(GENERATOR_FILE), Device::flex()).unwrap();
    assert_eq!(loaded.config.latent_dim, 32);
    let from_file = LoadedGenerator::load(&run, Device::flex()).unwrap();
    let images_a = loaded.generate(4, 3);
    let images_b = from_file.generate(4, 3);
    assert_eq!(images_a, images_b);
    let actual = kao::model::tensor_values(loaded.forward(z_tensor));
    assert_eq!(actual, expected);
}

#[test]
fn generate_cli_writes_faces_and_grid() {
    let Some((root, data)) = setup(64) else { return };
    let run = root.path().join("run");
    let mut config = tiny_config(&data, &run);
    config.max_steps = Some(1);
    train(config, false, no_interrupt()).unwrap();

    let faces = root.path().join("faces");
    let grid = root.path().join("grid.png");
    let (ok, stdout, stderr) = common::kao(&[
        "generate",
        "--checkpoint",
        run.to_str().unwrap(),
        "--count",
        "5",
        "--output",
        faces.to_str().unwrap(),
        "--grid",
        grid.to_str().unwrap(),
        "--seed",
        "11",
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("wrote 5 faces"), "{stdout}");
    let mut files: Vec<_> = std::fs::read_dir(&faces).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), 5);
    for file in &files {
        let face = image::open(file).unwrap();
        assert_eq!((face.width(), face.height()), (64, 64));
    }
    let grid_image = image::open(&grid).unwrap();
    assert_eq!((grid_image.width(), grid_image.height()), (3 * 66 + 2, 2 * 66 + 2));

    let (ok, _, stderr) = common::kao(&["generate", "--checkpoint", run.to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("pass --output DIR"), "{stderr}");
    let (ok, _, stderr) = common::kao(&["generate", "--checkpoint", run.to_str().unwrap(), "--count", "5000", "--grid", "g.png"]);
    assert!(!ok);
    assert!(stderr.contains("--grid takes at most 1024 faces"), "{stderr}");
    let (ok, _, stderr) = common::kao(&["generate", "--checkpoint", run.to_str().unwrap(), "--grid", "g.jpg"]);
    assert!(!ok);
    assert!(stderr.contains("must end in .png"), "{stderr}");
    let nested_grid = root.path().join("new/folder/grid.png");
    let (ok, _, stderr) = common::kao(&["generate", "--checkpoint", run.to_str().unwrap(), "--grid", nested_grid.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(nested_grid.is_file());
    let (ok, _, stderr) = common::kao(&["generate", "--checkpoint", "/no/such/run", "--grid", "x.png"]);
    assert!(!ok);
    assert!(stderr.contains("checkpoint /no/such/run not found"), "{stderr}");

    // The run's checkpoints/ folder works like the run folder.
    let from_folder = root.path().join("from-folder.png");
    let checkpoints = run.join("checkpoints");
    let (ok, _, stderr) = common::kao(&["generate", "-c", checkpoints.to_str().unwrap(), "--grid", from_folder.to_str().unwrap()]);
    assert!(ok, "{stderr}");

    // A file that is not a weights file, and an output below a file, name the problem.
    let state = std::fs::read_dir(&checkpoints).unwrap().next().unwrap().unwrap().path().join("state.json");
    let (ok, _, stderr) = common::kao(&["generate", "-c", state.to_str().unwrap(), "--grid", "x.png"]);
    assert!(!ok);
    assert!(stderr.contains("is not a generator weights file"), "{stderr}");
    let below_file = grid.join("g.png");
    let (ok, _, stderr) = common::kao(&["generate", "-c", run.to_str().unwrap(), "--grid", below_file.to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("is a file; choose another output path"), "{stderr}");
}

#[test]
fn info_and_export_describe_model_and_training() {
    let Some((root, data)) = setup(64) else { return };
    let run = root.path().join("run");
    let mut config = tiny_config(&data, &run);
    config.max_steps = Some(2);
    train(config, false, no_interrupt()).unwrap();

    let (ok, stdout, stderr) = common::kao(&["info", "--checkpoint", run.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    for expected in ["architecture   DCGAN", "resolution     64 px", "latent size    32", "steps          2", "images shown   32"] {
        assert!(stdout.contains(expected), "{expected:?} missing from:\n{stdout}");
    }

    // A bare weights file has no training record, and info reports that.
    let file = checkpoint::list(&run).unwrap().pop().unwrap().join(GENERATOR_FILE);
    let bare = root.path().join("bare.safetensors");
    std::fs::copy(file, &bare).unwrap();
    let (ok, stdout, _) = common::kao(&["info", "--checkpoint", bare.to_str().unwrap()]);
    assert!(ok);
    assert!(stdout.contains("training       not recorded"), "{stdout}");

    // An exported file carries its training summary, in half the size with --half.
    let exported = root.path().join("shipped.safetensors");
    let (ok, stdout, stderr) = common::kao(&["export", "-c", run.to_str().unwrap(), "-o", exported.to_str().unwrap(), "--half"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("F16"), "{stdout}");
    assert!(stdout.contains("pixels differ from the original by at most"), "{stdout}");
    let full_size = std::fs::metadata(&bare).unwrap().len();
    let half_size = std::fs::metadata(&exported).unwrap().len();
    assert!(half_size * 10 < full_size * 6, "{half_size} bytes in f16 against {full_size} in f32");
    let (ok, stdout, stderr) = common::kao(&["info", "--checkpoint", exported.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("steps          2"), "{stdout}");
    assert!(stdout.contains("images shown   32"), "{stdout}");
    let grid = root.path().join("exported.png");
    let (ok, _, stderr) = common::kao(&["generate", "-c", exported.to_str().unwrap(), "--count", "4", "--grid", grid.to_str().unwrap()]);
    assert!(ok, "{stderr}");
}

#[test]
fn invalid_settings_name_the_option() {
    let Some((root, data)) = setup(64) else { return };
    let cases: [(&str, fn(&mut TrainConfig)); 4] = [
        ("invalid --lr NaN", |config| config.lr = f64::NAN),
        ("invalid --lr -1", |config| config.lr = -1.0),
        ("invalid --keep-checkpoints 0", |config| config.keep_checkpoints = 0),
        ("invalid --max-time 0", |config| config.max_seconds = Some(0.0)),
    ];
    for (expected, change) in cases {
        let mut config = tiny_config(&data, &root.path().join("run"));
        change(&mut config);
        let error = train(config, false, no_interrupt()).unwrap_err().to_string();
        assert!(error.contains(expected), "{error}");
    }
    assert!(!root.path().join("run").exists());
}

#[test]
fn resolution_mismatch_names_the_fix() {
    let Some((root, data)) = setup(64) else { return };
    let mut config = tiny_config(&data, &root.path().join("run"));
    config.model.resolution = 128;
    let error = train(config, false, no_interrupt()).unwrap_err().to_string();
    assert!(error.contains("contains 64x64 images but --resolution is 128"), "{error}");
}

#[test]
fn interrupt_saves_checkpoint_and_exits() {
    let Some((root, data)) = setup(64) else { return };
    let run = root.path().join("run");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_kao"))
        .args(["train", "--data", data.to_str().unwrap(), "--output", run.to_str().unwrap()])
        .args(["--channels", "8", "--latent-dim", "32", "--batch-size", "16", "--epochs", "100000", "--log-every", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();

    // Wait until training has logged a few steps, then send SIGINT as Ctrl-C would.
    let metrics_path = run.join(metrics::METRICS_FILE);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while std::fs::read_to_string(&metrics_path).map(|text| text.lines().count()).unwrap_or(0) < 5 {
        assert!(std::time::Instant::now() < deadline, "training logged no steps");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // SAFETY: kill only sends a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);

    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("stopped (Interrupted)"), "{stdout}");
    let newest = checkpoint::list(&run).unwrap().pop().expect("a checkpoint was saved");
    let state = checkpoint::read_state(&newest).unwrap();
    assert!(state.step >= 5, "{}", state.step);
}

fn tiny_stylegan_config(data: &Path, output: &Path) -> TrainConfig {
    let mut config = tiny_config(data, output);
    config.model = ModelConfig { arch: Arch::StyleGan, resolution: 64, latent_dim: 512, channels: 16 };
    config.batch_size = 8;
    config.style_mixing = 0.9;
    config.ema_kimg = Some(1.0);
    config.diffaugment = true;
    config.r1_gamma = 0.025;
    config
}

#[test]
fn stylegan_run_resumes_exactly() {
    let Some((root, data)) = setup(64) else { return };
    let mut whole = tiny_stylegan_config(&data, &root.path().join("whole"));
    whole.max_steps = Some(6);
    let whole_summary = train(whole.clone(), false, no_interrupt()).unwrap();
    assert!(whole_summary.last_checkpoint.join(checkpoint::GENERATOR_EMA_FILE).is_file());
    for line in metrics::read_all(&root.path().join("whole")).unwrap() {
        assert!(line.loss_d.is_finite(), "{line:?}");
        assert!(line.loss_g.is_finite(), "{line:?}");
    }

    let mut pieces = whole.clone();
    pieces.output = root.path().join("pieces");
    pieces.max_steps = Some(2);
    train(pieces.clone(), false, no_interrupt()).unwrap();
    pieces.max_steps = Some(6);
    let pieces_summary = train(pieces, true, no_interrupt()).unwrap();

    for file in [GENERATOR_FILE, checkpoint::GENERATOR_EMA_FILE, checkpoint::DISCRIMINATOR_FILE] {
        assert_eq!(
            std::fs::read(whole_summary.last_checkpoint.join(file)).unwrap(),
            std::fs::read(pieces_summary.last_checkpoint.join(file)).unwrap(),
            "{file} differs after resuming"
        );
    }

    // A run folder resolves to the moving average, which generates faces at the model's size.
    let loaded = LoadedGenerator::load(&root.path().join("whole"), Device::flex()).unwrap();
    let faces = loaded.generate(3, 1);
    assert_eq!(faces.len(), 3);
    assert_eq!(faces[0].dimensions(), (64, 64));
}

#[test]
fn kept_epochs_survive_checkpoint_pruning() {
    let Some((root, data)) = setup(32) else { return };
    let run = root.path().join("run");
    let mut config = tiny_config(&data, &run);
    config.epochs = 4;
    config.keep_checkpoints = 1;
    config.keep_epochs = vec![1, 2];
    train(config, false, no_interrupt()).unwrap();

    // Epochs 1 and 2 are kept besides the newest (epoch 4); epoch 3's checkpoint was pruned.
    let faces = kao::data::packed::PackedFaces::open(&data.join(kao::data::PACKED_FILE_NAME)).unwrap();
    let steps_per_epoch = (faces.len() / 16) as u64;
    let expected: Vec<String> = [1, 2, 4].iter().map(|epoch| format!("step-{:09}", epoch * steps_per_epoch)).collect();
    let names: Vec<String> =
        checkpoint::list(&run).unwrap().iter().map(|path| path.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, expected);
}
