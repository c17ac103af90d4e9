//! Runs that survive SIGKILL, damaged checkpoints, divergence and failing writes: real `kao`
//! child processes on real faces.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kao::train::checkpoint::{
    self, DISCRIMINATOR_FILE, GENERATOR_EMA_FILE, GENERATOR_FILE, MANIFEST_FILE, OPTIMIZER_D_FILE, STATE_FILE,
};
use kao::train::metrics;

fn setup(count: usize) -> Option<(tempfile::TempDir, PathBuf)> {
    let shared = common::shared_faces_64()?;
    let root = tempfile::tempdir().unwrap();
    let data = common::small_dataset(&shared, root.path(), count);
    Some((root, data))
}

/// `kao train` arguments for a narrow StyleGAN with everything that must survive a resume: the
/// moving average of G, style mixing, noise, DiffAugment and the R1 estimate all draw from the
/// run's random generator. 32 faces at batch 8 make 4 steps an epoch.
fn stylegan_args(data: &Path, run: &Path, epochs: u64) -> Vec<String> {
    let mut args: Vec<String> = vec!["train".into(), "--data".into(), data.display().to_string()];
    args.extend(["--output".into(), run.display().to_string()]);
    let settings = [
        "--arch", "stylegan", "--channels", "16", "--batch-size", "8", "--style-mixing", "0.9",
        "--ema-kimg", "1", "--diffaugment", "--r1-gamma", "0.025", "--log-every", "1", "--keep-checkpoints", "100",
        "--no-eval", "--seed", "5",
    ];
    args.extend(settings.iter().map(|s| s.to_string()));
    args.extend(["--epochs".into(), epochs.to_string()]);
    args
}

fn dcgan_args(data: &Path, run: &Path, epochs: u64) -> Vec<String> {
    let mut args: Vec<String> = vec!["train".into(), "--data".into(), data.display().to_string()];
    args.extend(["--output".into(), run.display().to_string()]);
    let settings = ["--channels", "8", "--latent-dim", "32", "--batch-size", "8", "--log-every", "1", "--no-eval"];
    args.extend(settings.iter().map(|s| s.to_string()));
    args.extend(["--epochs".into(), epochs.to_string()]);
    args
}

fn kao(args: &[String]) -> (bool, String, String) {
    common::kao(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn with_resume(mut args: Vec<String>) -> Vec<String> {
    args.push("--resume".into());
    args
}

fn newest(run: &Path) -> PathBuf {
    checkpoint::list(run).unwrap().pop().expect("the run has a checkpoint")
}

/// A pseudo-random fraction in [0.1, 0.9), different in every test run and printed, so a
/// failure names the moment that caused it.
fn random_fraction() -> f64 {
    use std::hash::{BuildHasher, RandomState};
    let bits = RandomState::new().hash_one(Instant::now());
    0.1 + 0.8 * (bits % 10_000) as f64 / 10_000.0
}

#[test]
fn resume_after_sigkill_matches_uninterrupted_run() {
    let Some((root, data)) = setup(32) else { return };
    let whole = root.path().join("whole");
    let started = Instant::now();
    let (ok, _, stderr) = kao(&stylegan_args(&data, &whole, 5));
    assert!(ok, "{stderr}");
    let whole_time = started.elapsed();

    // Kill three pieces at random moments (SIGKILL: no handler runs), resuming each time,
    // then let the last piece finish.
    let pieces = root.path().join("pieces");
    for round in 1..=3 {
        let delay = whole_time.mul_f64(random_fraction());
        let mut child = Command::new(env!("CARGO_BIN_EXE_kao"))
            .args(with_resume(stylegan_args(&data, &pieces, 5)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        child.kill().unwrap();
        child.wait().unwrap();
        let step = checkpoint::newest_valid(&pieces).unwrap().map(|(_, state)| state.step);
        eprintln!("round {round}: killed after {delay:?}; newest checkpoint at step {step:?}");
    }
    let (ok, _, stderr) = kao(&with_resume(stylegan_args(&data, &pieces, 5)));
    assert!(ok, "{stderr}");

    let (a, b) = (newest(&whole), newest(&pieces));
    // The optimizer files name their moments by parameter ids, which differ between processes,
    // so they are not compared byte for byte; moments restored wrongly would change the
    // weights of every later step, which are compared.
    for file in [GENERATOR_FILE, GENERATOR_EMA_FILE, DISCRIMINATOR_FILE] {
        let same = std::fs::read(a.join(file)).unwrap() == std::fs::read(b.join(file)).unwrap();
        assert!(same, "{file} differs between the uninterrupted and the killed run");
    }
    let (state_a, state_b) = (checkpoint::read_state(&a).unwrap(), checkpoint::read_state(&b).unwrap());
    assert_eq!(state_a.step, 20);
    assert_eq!(
        (state_a.step, state_a.epoch, state_a.images_seen, &state_a.latent_rng),
        (state_b.step, state_b.epoch, state_b.images_seen, &state_b.latent_rng)
    );
    let (lines_a, lines_b) = (metrics::read_all(&whole).unwrap(), metrics::read_all(&pieces).unwrap());
    assert_eq!(lines_a.len(), 20);
    assert_eq!(lines_a.len(), lines_b.len());
    for (x, y) in lines_a.iter().zip(&lines_b) {
        assert_eq!((x.step, x.loss_d, x.loss_g, x.d_real, x.d_fake), (y.step, y.loss_d, y.loss_g, y.d_real, y.d_fake));
    }
    let leftovers: Vec<_> = std::fs::read_dir(pieces.join("checkpoints"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "staging folders of killed pieces were left: {leftovers:?}");
}

/// Cuts a file to half its length, as an interrupted copy would.
fn truncate_half(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
}

#[test]
fn damaged_checkpoint_falls_back_to_the_previous_one() {
    let Some((root, data)) = setup(32) else { return };
    let whole = root.path().join("whole");
    assert!(kao(&dcgan_args(&data, &whole, 3)).0);
    let run = root.path().join("run");
    assert!(kao(&dcgan_args(&data, &run, 2)).0);

    // Damage the newest checkpoint: a truncated generator.
    let damaged = newest(&run);
    truncate_half(&damaged.join(GENERATOR_FILE));
    let (good, state) = checkpoint::newest_valid(&run).unwrap().expect("an undamaged checkpoint");
    assert_eq!(state.step, 4);
    assert_ne!(good, damaged);

    // --resume says which checkpoint it skipped and why, and redoes the lost epoch exactly.
    let (ok, stdout, stderr) = kao(&with_resume(dcgan_args(&data, &run, 3)));
    assert!(ok, "{stderr}");
    let log = format!("{stdout}{stderr}");
    assert!(log.contains("skipping damaged checkpoint"), "{log}");
    assert!(log.contains(&format!("{GENERATOR_FILE} has")), "{log}");
    let same = std::fs::read(newest(&whole).join(GENERATOR_FILE)).unwrap() == std::fs::read(newest(&run).join(GENERATOR_FILE)).unwrap();
    assert!(same, "the redone epoch differs from the uninterrupted run");

    // A changed byte of the same length is caught by the checksum.
    let newest_run = newest(&run);
    let mut bytes = std::fs::read(newest_run.join(OPTIMIZER_D_FILE)).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(newest_run.join(OPTIMIZER_D_FILE), bytes).unwrap();
    let error = checkpoint::read_state(&newest_run).unwrap_err().to_string();
    assert!(error.contains(&format!("{OPTIMIZER_D_FILE} does not match its SHA-256")), "{error}");

    // With every checkpoint damaged, the error names each one.
    for checkpoint in checkpoint::list(&run).unwrap() {
        std::fs::remove_file(checkpoint.join(MANIFEST_FILE)).unwrap();
    }
    let (ok, _, stderr) = kao(&with_resume(dcgan_args(&data, &run, 4)));
    assert!(!ok);
    assert!(stderr.contains("every checkpoint of"), "{stderr}");
    assert!(stderr.contains("cannot read manifest.json"), "{stderr}");
}

#[test]
fn unknown_checkpoint_version_names_both_versions() {
    let Some((root, data)) = setup(32) else { return };
    let run = root.path().join("run");
    assert!(kao(&dcgan_args(&data, &run, 1)).0);
    let state_path = newest(&run).join(STATE_FILE);
    let text = std::fs::read_to_string(&state_path).unwrap();
    let current = format!("\"format_version\": {}", checkpoint::FORMAT_VERSION);
    assert!(text.contains(&current), "{text}");
    std::fs::write(&state_path, text.replace(&current, "\"format_version\": 99")).unwrap();

    let (ok, _, stderr) = kao(&with_resume(dcgan_args(&data, &run, 2)));
    assert!(!ok);
    let expected = format!("format version 99, this kao reads versions 1 to {}", checkpoint::FORMAT_VERSION);
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn divergence_stops_and_keeps_the_last_good_checkpoint() {
    let Some((root, data)) = setup(32) else { return };
    let run = root.path().join("run");
    assert!(kao(&dcgan_args(&data, &run, 1)).0);
    let good = newest(&run);
    let good_bytes = std::fs::read(good.join(GENERATOR_FILE)).unwrap();

    // A learning rate of 1e30 drives the weights to infinity within a step or two: a real
    // divergence rather than an injected value.
    let mut args = with_resume(dcgan_args(&data, &run, 5));
    args.extend(["--lr".into(), "1e30".into()]);
    let started = Instant::now();
    let (ok, _, stderr) = kao(&args);
    assert!(!ok, "a diverging run must fail");
    assert!(stderr.contains("training diverged at step"), "{stderr}");
    assert!(stderr.contains(&format!("the last good checkpoint is {} (kept)", good.display())), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(600), "the run kept going after diverging");
    assert_eq!(newest(&run), good, "no checkpoint may be written after divergence");
    assert!(std::fs::read(good.join(GENERATOR_FILE)).unwrap() == good_bytes, "the last good checkpoint changed");
    checkpoint::read_state(&good).unwrap();
}

#[test]
fn failing_write_keeps_the_previous_checkpoint() {
    use std::os::unix::process::CommandExt;

    let Some((root, data)) = setup(32) else { return };
    let run = root.path().join("run");
    assert!(kao(&dcgan_args(&data, &run, 1)).0);
    let good = newest(&run);
    let before: Vec<Vec<u8>> = [GENERATOR_FILE, STATE_FILE].iter().map(|f| std::fs::read(good.join(f)).unwrap()).collect();

    // Tests run as root, so permissions cannot make a write fail; a file-size limit can. With
    // SIGXFSZ ignored, a write past the limit fails with EFBIG, as a full disk fails with ENOSPC.
    let limit = 16 * 1024;
    let mut command = Command::new(env!("CARGO_BIN_EXE_kao"));
    command.args(with_resume(dcgan_args(&data, &run, 2)));
    // SAFETY: between fork and exec the closure only calls async-signal-safe functions.
    unsafe {
        command.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let rlimit = libc::rlimit { rlim_cur: limit, rlim_max: limit };
            match libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit) {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        });
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("failed to write"), "{stderr}");
    assert!(stderr.contains("free disk space"), "{stderr}");

    assert_eq!(newest(&run), good);
    let after: Vec<Vec<u8>> = [GENERATOR_FILE, STATE_FILE].iter().map(|f| std::fs::read(good.join(f)).unwrap()).collect();
    assert!(before == after, "the previous checkpoint changed");
    checkpoint::read_state(&good).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(run.join("checkpoints")).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with('.')).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Without the limit the same command resumes from that checkpoint.
    assert!(kao(&with_resume(dcgan_args(&data, &run, 2))).0);
    assert_eq!(checkpoint::read_state(&newest(&run)).unwrap().step, 8);
}
