//! The generator bundled in `models/`: it matches its model card, the commands use it when no
//! `--checkpoint` is given, and it still draws the faces of the README's quick start.

mod common;

use std::path::Path;

use sha2::{Digest, Sha256};

const MODEL: &str = "models/stylegan-64.safetensors";
const MODEL_CARD: &str = "models/README.md";
/// The grid that `kao generate --count 16 --grid faces.png` wrote with the bundled generator,
/// shown at the top of README.md.
const QUICK_START_GRID: &str = "docs/quick-start-faces.png";
/// Largest per-pixel difference allowed from the reference, out of 255: kernels are chosen per
/// CPU, so sums may round differently on another machine.
const TOLERANCE: u8 = 2;

fn repo_file(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Log line printed when the bundled generator is used.
const BUNDLED_LINE: &str = "no --checkpoint given: using the bundled StyleGAN-64 generator";

#[test]
fn model_file_matches_its_model_card() {
    let bytes = std::fs::read(repo_file(MODEL)).unwrap();
    let digest: String = Sha256::digest(&bytes).iter().map(|byte| format!("{byte:02x}")).collect();
    let card = std::fs::read_to_string(repo_file(MODEL_CARD)).unwrap();
    let line = card.lines().find(|line| line.contains("SHA-256")).expect("the model card states the file's SHA-256");
    assert!(line.contains(&digest), "{MODEL} has SHA-256 {digest}, but {MODEL_CARD} says: {line}");
    assert!(bytes.len() < 20_000_000, "{MODEL} is {} bytes; the repository keeps it under 20 MB", bytes.len());
}

#[test]
fn info_describes_the_bundled_model() {
    let (ok, stdout, stderr) = common::kao(&["info"]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains(BUNDLED_LINE), "{stderr}");
    for expected in ["architecture   StyleGAN", "resolution     64 px", "latent size    512", "steps "] {
        assert!(stdout.contains(expected), "{expected:?} missing from:\n{stdout}");
    }
}

#[test]
fn quick_start_command_draws_the_readme_faces() {
    let root = tempfile::tempdir().unwrap();
    let grid = root.path().join("faces.png");
    let (ok, stdout, stderr) = common::kao(&["generate", "--count", "16", "--grid", grid.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("wrote a grid of 16 faces"), "{stdout}");
    assert_eq!(stderr.matches(BUNDLED_LINE).count(), 1, "{stderr}");

    let drawn = image::open(&grid).unwrap().to_rgb8();
    let reference = image::open(repo_file(QUICK_START_GRID)).unwrap().to_rgb8();
    assert_eq!(drawn.dimensions(), reference.dimensions());
    let largest = drawn.as_raw().iter().zip(reference.as_raw()).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
    assert!(largest <= TOLERANCE, "pixels differ from {QUICK_START_GRID} by up to {largest}/255");
}

#[test]
fn mix_and_interpolate_use_the_bundled_model() {
    let root = tempfile::tempdir().unwrap();
    let figure = root.path().join("mix.png");
    let (ok, _, stderr) = common::kao(&["mix", "--rows", "1,2", "--cols", "3,4", "--output", figure.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains(BUNDLED_LINE), "{stderr}");
    // Three rows and three columns of 64 px faces: the source faces and the 2x2 mixes.
    let (width, height) = image::image_dimensions(&figure).unwrap();
    assert!(width >= 3 * 64, "{width}x{height}");
    assert!(height >= 3 * 64, "{width}x{height}");

    let gif = root.path().join("walk.gif");
    let (ok, _, stderr) = common::kao(&["interpolate", "--seeds", "1,2", "--frames", "3", "--output", gif.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains(BUNDLED_LINE), "{stderr}");
    assert!(std::fs::metadata(&gif).unwrap().len() > 1000);
}
