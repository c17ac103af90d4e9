//! `kao prepare`: scan a messy folder, clean it, resize, deduplicate and pack it for training.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use fast_image_resize::images::Image as ResizeImage;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;
use rayon::prelude::*;
use tracing::info;

use super::decode::{Conversion, DecodeLimits, Rejection, decode_file};
use super::dedup::{DuplicateOf, Fingerprint, PERCEPTUAL_HASH_BITS, find_duplicates, fingerprint};
use super::packed::PackedWriter;
use super::report::{ConversionEntry, DuplicateEntry, KeptEntry, RejectionEntry, Report};
use super::{IMAGES_DIR_NAME, PACKED_FILE_NAME, REPORT_FILE_NAME};
use crate::cli::progress::counter_bar;
use crate::fsutil::{StagingDir, write_atomic};

/// File extensions that are read as images (compared case-insensitively).
pub const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "webp", "bmp", "gif"];

/// Settings of one `kao prepare` run.
#[derive(Clone, Debug)]
pub struct PrepareConfig {
    /// Folders (searched recursively) or single files to read.
    pub inputs: Vec<PathBuf>,
    /// Prepared dataset folder to create.
    pub output: PathBuf,
    /// Output side length in pixels; images are center-cropped to a square first.
    pub size: u32,
    /// Images whose shorter side is below this many pixels are rejected.
    pub min_size: u32,
    /// Largest Hamming distance between perceptual hashes that counts as a near duplicate, or
    /// `None` to keep near duplicates.
    pub near_distance: Option<u32>,
    /// Worker threads; `None` uses one per core.
    pub jobs: Option<usize>,
    /// Replace an existing output folder.
    pub force: bool,
    /// Largest image, in pixels, that is decoded at all.
    pub max_pixels: u64,
}

/// Default pixel-count cap: 8,192 x 8,192, far above any face crop.
pub const DEFAULT_MAX_PIXELS: u64 = 8192 * 8192;

/// One file that decoded and was resized.
struct Candidate {
    path: PathBuf,
    pixels: RgbImage,
    fingerprint: Fingerprint,
    conversions: Vec<Conversion>,
    upscaled: bool,
}

/// Runs the whole preparation and returns the report that was written.
pub fn prepare(config: &PrepareConfig) -> Result<Report> {
    prepare_until(config, &AtomicBool::new(false))
}

/// Runs the whole preparation unless `interrupt` is set first: then it stops with an error and
/// leaves nothing behind (the output is only ever renamed into place complete).
pub fn prepare_until(config: &PrepareConfig, interrupt: &AtomicBool) -> Result<Report> {
    validate(config)?;
    let (files, report) = scan(&config.inputs)?;
    info!(files = files.len(), "scanned inputs");
    prepare_scanned(config, files, report, interrupt)
}

/// Error returned when the user interrupts a preparation.
pub const INTERRUPTED: &str = "interrupted: nothing was written; run the same command again to start over";

fn check_interrupt(interrupt: &AtomicBool) -> Result<()> {
    match interrupt.load(Ordering::SeqCst) {
        true => bail!(INTERRUPTED),
        false => Ok(()),
    }
}

/// Decodes, deduplicates and writes the files found by [`scan`].
fn prepare_scanned(config: &PrepareConfig, files: Vec<PathBuf>, mut report: Report, interrupt: &AtomicBool) -> Result<Report> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.jobs.unwrap_or(0))
        .build()
        .context("failed to start the worker threads")?;
    let outcomes = pool.install(|| process_all(&files, config, interrupt))?;
    let mut candidates = Vec::new();
    for (path, outcome) in files.iter().zip(outcomes) {
        match outcome {
            Ok(candidate) => candidates.push(candidate),
            Err(reason) => report.rejections.push(RejectionEntry { path: display(path), reason: reason.to_string() }),
        }
    }

    let verdicts = find_duplicates(
        &candidates.iter().map(|candidate| candidate.fingerprint.clone()).collect::<Vec<_>>(),
        config.near_distance,
    );
    fill_report(&mut report, &candidates, &verdicts, config);
    let kept: Vec<&Candidate> =
        candidates.iter().zip(&verdicts).filter(|(_, verdict)| verdict.is_none()).map(|(c, _)| c).collect();
    if kept.is_empty() {
        bail!(
            "no usable image found in {}: {} files rejected and {} ignored for their extension (kao reads {})",
            join_paths(&config.inputs),
            report.rejected,
            report.ignored,
            IMAGE_EXTENSIONS.join(", ")
        );
    }

    pool.install(|| write_dataset(config, &kept, &report, interrupt))?;
    Ok(report)
}

fn validate(config: &PrepareConfig) -> Result<()> {
    if config.size < 8 {
        bail!("invalid --size {}: use 64 or 128", config.size);
    }
    if let Some(distance) = config.near_distance.filter(|&distance| distance > PERCEPTUAL_HASH_BITS) {
        bail!("invalid --near-duplicates {distance}: the hash has {PERCEPTUAL_HASH_BITS} bits, use 0 to {PERCEPTUAL_HASH_BITS}");
    }
    for input in &config.inputs {
        if !input.exists() {
            bail!("input {} not found", input.display());
        }
    }
    check_output(config)
}

/// Rejects an output that would overwrite the inputs or a folder that `kao prepare` did not
/// write: `--force` replaces only a previous prepared dataset.
fn check_output(config: &PrepareConfig) -> Result<()> {
    let output = absolute(&config.output);
    for input in &config.inputs {
        let input = absolute(input);
        if input.starts_with(&output) || output.starts_with(&input) {
            bail!(
                "--output {} overlaps the input {}; choose an output folder outside the inputs",
                config.output.display(),
                input.display()
            );
        }
    }
    if !config.output.exists() {
        return Ok(());
    }
    if !config.force {
        bail!("output {} already exists; pass --force to replace it or choose another --output", config.output.display());
    }
    let is_prepared = config.output.join(PACKED_FILE_NAME).is_file() && config.output.join(REPORT_FILE_NAME).is_file();
    if !is_prepared {
        bail!(
            "--force replaces only a dataset written by kao prepare, and {} has no {PACKED_FILE_NAME} and {REPORT_FILE_NAME}; choose another --output",
            config.output.display()
        );
    }
    Ok(())
}

/// Resolves `path` against the current folder and symlinks where it exists, so overlapping
/// folders are found however they are spelled.
fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| std::path::absolute(path).unwrap_or_else(|_| path.to_owned()))
}

/// Lists image files under the inputs in sorted path order; unreadable folders and symlink loops
/// become rejections.
fn scan(inputs: &[PathBuf]) -> Result<(Vec<PathBuf>, Report)> {
    let mut report = Report::default();
    let mut files = Vec::new();
    for input in inputs {
        for entry in walkdir::WalkDir::new(input).follow_links(true) {
            match entry {
                Ok(entry) if entry.file_type().is_file() => {
                    if has_image_extension(entry.path()) {
                        files.push(entry.into_path());
                    } else {
                        report.ignored += 1;
                        report.ignored_files.push(display(entry.path()));
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    let path = error.path().map(display).unwrap_or_else(|| display(input));
                    let reason = match error.loop_ancestor() {
                        Some(_) => "symlink loop: the link points back to a parent folder".to_string(),
                        None => format!("unreadable: {}", error.io_error().map(|e| e.to_string()).unwrap_or_default()),
                    };
                    report.rejections.push(RejectionEntry { path, reason });
                }
            }
        }
    }
    files.sort();
    files.dedup();
    report.scanned = files.len();
    Ok((files, report))
}

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|extension| extension.to_str())
        .is_some_and(|extension| IMAGE_EXTENSIONS.iter().any(|known| known.eq_ignore_ascii_case(extension)))
}

fn process_all(files: &[PathBuf], config: &PrepareConfig, interrupt: &AtomicBool) -> Result<Vec<Result<Candidate, Rejection>>> {
    let bar = counter_bar(files.len() as u64, "decoding");
    let limits = DecodeLimits { min_side: config.min_size, max_pixels: config.max_pixels };
    let outcomes = files
        .par_iter()
        .map(|path| {
            check_interrupt(interrupt)?;
            let outcome = process_one(path, limits, config.size);
            bar.inc(1);
            Ok(outcome)
        })
        .collect();
    bar.finish_and_clear();
    outcomes
}

fn process_one(path: &Path, limits: DecodeLimits, size: u32) -> Result<Candidate, Rejection> {
    let decoded = decode_file(path, limits)?;
    let upscaled = decoded.image.width().min(decoded.image.height()) < size;
    let pixels = crop_and_resize(&decoded.image, size).map_err(|error| Rejection::Corrupt(error.to_string()))?;
    let fingerprint = fingerprint(&decoded.image, &pixels);
    Ok(Candidate { path: path.to_owned(), pixels, fingerprint, conversions: decoded.conversions, upscaled })
}

/// Center-crops `image` to a square and resizes it to `size` with Lanczos3 (antialiased when
/// shrinking).
pub fn crop_and_resize(image: &RgbImage, size: u32) -> Result<RgbImage> {
    let (width, height) = image.dimensions();
    let side = width.min(height);
    if width == size && height == size {
        return Ok(image.clone());
    }
    let source = ResizeImage::from_vec_u8(width, height, image.as_raw().clone(), PixelType::U8x3)?;
    let mut target = ResizeImage::new(size, size, PixelType::U8x3);
    let left = f64::from((width - side) / 2);
    let top = f64::from((height - side) / 2);
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .crop(left, top, f64::from(side), f64::from(side));
    Resizer::new().resize(&source, &mut target, &options)?;
    RgbImage::from_raw(size, size, target.into_vec()).context("resized buffer has the wrong length")
}

fn fill_report(report: &mut Report, candidates: &[Candidate], verdicts: &[Option<DuplicateOf>], config: &PrepareConfig) {
    report.size = config.size;
    report.near_duplicate_distance = config.near_distance;
    report.rejected = report.rejections.len();
    for (candidate, verdict) in candidates.iter().zip(verdicts) {
        if !candidate.conversions.is_empty() {
            report.converted += 1;
        }
        for conversion in &candidate.conversions {
            report.conversions.push(ConversionEntry { path: display(&candidate.path), from: conversion.name().into() });
        }
        let (kind, original, distance) = match *verdict {
            None => {
                report.kept_files.push(KeptEntry {
                    path: display(&candidate.path),
                    output: super::image_file_name(report.kept),
                });
                report.kept += 1;
                report.upscaled += usize::from(candidate.upscaled);
                continue;
            }
            Some(DuplicateOf::Exact(index)) => ("exact", index, 0),
            Some(DuplicateOf::Near { index, distance }) => ("near", index, distance),
        };
        if kind == "exact" {
            report.exact_duplicates += 1;
        } else {
            report.near_duplicates += 1;
        }
        report.duplicates.push(DuplicateEntry {
            path: display(&candidate.path),
            duplicate_of: display(&candidates[original].path),
            kind: kind.into(),
            distance,
        });
    }
}

/// Writes PNGs, the packed file and the report into a staging folder, then renames it into place.
fn write_dataset(config: &PrepareConfig, kept: &[&Candidate], report: &Report, interrupt: &AtomicBool) -> Result<()> {
    let staging = StagingDir::beside(&config.output)?;
    let images_dir = staging.path().join(IMAGES_DIR_NAME);
    std::fs::create_dir_all(&images_dir).with_context(|| format!("failed to create {}", images_dir.display()))?;

    let bar = counter_bar(kept.len() as u64, "writing PNGs");
    kept.par_iter().enumerate().try_for_each(|(index, candidate)| {
        check_interrupt(interrupt)?;
        // The same name as `kept_files` in the report.
        let path = staging.path().join(super::image_file_name(index));
        candidate.pixels.save(&path).with_context(|| format!("failed to write {}", path.display()))?;
        bar.inc(1);
        Ok::<_, anyhow::Error>(())
    })?;
    bar.finish_and_clear();

    let mut packed = PackedWriter::create(&staging.path().join(PACKED_FILE_NAME), config.size, config.size)?;
    for candidate in kept {
        packed.push(candidate.pixels.as_raw())?;
    }
    packed.finish()?;

    let json = serde_json::to_vec_pretty(report)?;
    write_atomic(&staging.path().join(REPORT_FILE_NAME), &json)?;
    check_interrupt(interrupt)?;
    staging.commit(&config.output, config.force)
}

fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn join_paths(paths: &[PathBuf]) -> String {
    paths.iter().map(|path| path.display().to_string()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `count` distinct 80x80 gradient images into `dir`.
    fn write_gradients(dir: &Path, count: u32) -> Vec<PathBuf> {
        (0..count)
            .map(|index| {
                let image = RgbImage::from_fn(80, 80, |x, y| image::Rgb([(x * 3) as u8, (y * 3) as u8, (index * 60) as u8]));
                let path = dir.join(format!("face-{index}.png"));
                image.save(&path).unwrap();
                path
            })
            .collect()
    }

    fn config(input: &Path, output: &Path) -> PrepareConfig {
        PrepareConfig {
            inputs: vec![input.to_owned()],
            output: output.to_owned(),
            size: 64,
            min_size: 32,
            near_distance: None,
            jobs: Some(2),
            force: false,
            max_pixels: DEFAULT_MAX_PIXELS,
        }
    }

    #[test]
    fn vanished_file_is_rejected() {
        let root = tempfile::tempdir().unwrap();
        let input = root.path().join("raw");
        std::fs::create_dir_all(&input).unwrap();
        let files = write_gradients(&input, 3);
        let config = config(&input, &root.path().join("prepared"));

        let (scanned, report) = scan(&config.inputs).unwrap();
        assert_eq!(scanned.len(), 3);
        std::fs::remove_file(&files[1]).unwrap();
        let report = prepare_scanned(&config, scanned, report, &AtomicBool::new(false)).unwrap();

        assert_eq!(report.kept, 2);
        assert_eq!(report.rejections.len(), 1);
        assert_eq!(report.rejections[0].path, display(&files[1]));
        assert!(report.rejections[0].reason.starts_with("vanished"), "{}", report.rejections[0].reason);
    }

    #[test]
    fn interrupted_preparation_writes_nothing() {
        let root = tempfile::tempdir().unwrap();
        let input = root.path().join("raw");
        std::fs::create_dir_all(&input).unwrap();
        write_gradients(&input, 3);
        let output = root.path().join("prepared");

        let error = prepare_until(&config(&input, &output), &AtomicBool::new(true)).unwrap_err();
        assert_eq!(error.to_string(), INTERRUPTED);
        let left: Vec<_> = std::fs::read_dir(root.path()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
        assert_eq!(left, ["raw"]);
    }
}
