//! Training checkpoints: `RUN/checkpoints/step-NNNNNNNNN/` folders holding G and D weights
//! (safetensors), both optimizers' state (burnpack), `state.json` and `manifest.json`.
//!
//! A checkpoint is written into a staging folder, every file is flushed to disk, the manifest
//! records each file's size and SHA-256, and only then is the folder renamed into place. A
//! crash therefore never leaves a half checkpoint under its final name, and a file damaged
//! later (a truncated copy, a failing disk) is caught by [`newest_valid`], which falls back to
//! the previous checkpoint.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::warn;

use super::config::TrainConfig;
use crate::fsutil::{StagingDir, write_atomic};
use crate::model::ModelConfig;
use crate::rng::RngState;

/// Version of the checkpoint layout; bumped whenever a field's meaning changes. Version 2
/// added `manifest.json`.
pub const FORMAT_VERSION: u32 = 2;
/// Oldest version this kao still reads (version 1 checkpoints have no manifest to verify).
pub const OLDEST_READABLE_VERSION: u32 = 1;

pub const GENERATOR_FILE: &str = "generator.safetensors";
/// Moving average of G, written for runs that keep one (StyleGAN).
pub const GENERATOR_EMA_FILE: &str = "generator-ema.safetensors";
pub const DISCRIMINATOR_FILE: &str = "discriminator.safetensors";
pub const OPTIMIZER_G_FILE: &str = "optimizer-g.bpk";
pub const OPTIMIZER_D_FILE: &str = "optimizer-d.bpk";
pub const STATE_FILE: &str = "state.json";
/// Size and SHA-256 of every other file of the checkpoint, written last.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Safetensors metadata key holding the generator's [`ModelConfig`] as JSON.
pub const MODEL_CONFIG_KEY: &str = "kao.model_config";

/// Training position and settings, saved in `state.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainState {
    pub format_version: u32,
    /// Epoch in progress, counted from 0.
    pub epoch: u64,
    /// Next batch within that epoch, counted from 0.
    pub step_in_epoch: u64,
    /// Optimizer steps taken so far.
    pub step: u64,
    /// Real images shown to D so far.
    pub images_seen: u64,
    /// Position of the generator of training latents.
    pub latent_rng: RngState,
    /// Seconds spent training, summed over all pieces of the run.
    pub train_seconds: f64,
    pub config: TrainConfig,
}

/// Safetensors metadata key of an exported generator's [`TrainingSummary`], as JSON.
pub const TRAINING_KEY: &str = "kao.training";

/// Summary of a generator's training, for `kao info` and model cards. Exported files carry it
/// in their metadata because they have no `state.json` beside them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// Optimizer steps taken.
    pub step: u64,
    /// Epochs completed.
    pub epochs: u64,
    /// Real images shown to D.
    pub images_seen: u64,
    /// Seconds spent training, summed over all pieces of the run.
    pub train_seconds: f64,
    /// Images per optimizer step.
    pub batch_size: usize,
    /// The prepared dataset folder, as the run named it.
    pub dataset: String,
}

impl From<&TrainState> for TrainingSummary {
    fn from(state: &TrainState) -> Self {
        Self {
            step: state.step,
            epochs: state.epoch,
            images_seen: state.images_seen,
            train_seconds: state.train_seconds,
            batch_size: state.config.batch_size,
            dataset: state.config.data.display().to_string(),
        }
    }
}

/// Lists the checkpoint folders of a run, oldest first.
pub fn list(run: &Path) -> Result<Vec<PathBuf>> {
    let dir = run.join("checkpoints");
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("failed to list {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_dir() && path.file_name().is_some_and(|name| name.to_string_lossy().starts_with("step-")))
        .collect();
    found.sort();
    Ok(found)
}

/// Reads `state.json` of a checkpoint folder, checking its format version.
pub fn read_state(checkpoint: &Path) -> Result<TrainState> {
    match inspect(checkpoint) {
        Ok(state) => Ok(state),
        Err(Problem::Damaged(reason)) => bail!("checkpoint {} is damaged: {reason}", checkpoint.display()),
        Err(Problem::Unsupported(error)) => Err(error),
    }
}

/// Returns the newest checkpoint of `run` whose files match its manifest, with its state, or
/// `None` when the run has no checkpoint. Damaged checkpoints are skipped with a warning that
/// names them; a checkpoint of an unknown format version is an error, not skipped, because
/// falling back past it would silently discard newer training.
pub fn newest_valid(run: &Path) -> Result<Option<(PathBuf, TrainState)>> {
    let mut damaged = Vec::new();
    for checkpoint in list(run)?.into_iter().rev() {
        match inspect(&checkpoint) {
            Ok(state) => {
                if !damaged.is_empty() {
                    warn!(checkpoint = %checkpoint.display(), "falling back to the newest undamaged checkpoint");
                }
                return Ok(Some((checkpoint, state)));
            }
            Err(Problem::Damaged(reason)) => {
                warn!(checkpoint = %checkpoint.display(), "skipping damaged checkpoint: {reason}");
                damaged.push(format!("{}: {reason}", checkpoint.display()));
            }
            Err(Problem::Unsupported(error)) => return Err(error),
        }
    }
    if !damaged.is_empty() {
        bail!(
            "every checkpoint of {} is damaged ({}); start a new run with another --output",
            run.display(),
            damaged.join("; ")
        );
    }
    Ok(None)
}

/// Why a checkpoint cannot be used.
enum Problem {
    /// Files are missing, truncated or changed since the checkpoint was written.
    Damaged(String),
    /// The checkpoint is intact but of a format version this kao does not read.
    Unsupported(anyhow::Error),
}

/// Verifies a checkpoint's files against its manifest and reads its state.
fn inspect(checkpoint: &Path) -> Result<TrainState, Problem> {
    let path = checkpoint.join(STATE_FILE);
    let bytes = std::fs::read(&path).map_err(|error| Problem::Damaged(format!("cannot read {STATE_FILE}: {error}")))?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|error| Problem::Damaged(format!("{STATE_FILE} is not valid JSON: {error}")))?;
    let version = value.get("format_version").and_then(|v| v.as_u64()).unwrap_or(0);
    if !(u64::from(OLDEST_READABLE_VERSION)..=u64::from(FORMAT_VERSION)).contains(&version) {
        return Err(Problem::Unsupported(anyhow::anyhow!(
            "{} has checkpoint format version {version}, this kao reads versions {OLDEST_READABLE_VERSION} to {FORMAT_VERSION}; use the kao version that wrote it",
            path.display()
        )));
    }
    if version >= 2 {
        verify_manifest(checkpoint).map_err(Problem::Damaged)?;
    }
    serde_json::from_value(value).map_err(|error| Problem::Damaged(format!("{STATE_FILE} has invalid fields: {error}")))
}

/// Size and SHA-256 of one checkpoint file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct FileDigest {
    bytes: u64,
    sha256: String,
}

/// Contents of `manifest.json`: every other file of the checkpoint, by name.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    files: BTreeMap<String, FileDigest>,
}

fn digest_file(path: &Path) -> std::io::Result<FileDigest> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        bytes += read as u64;
    }
    let sha256 = hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect();
    Ok(FileDigest { bytes, sha256 })
}

/// Checks every file listed in the manifest. The error names the file that differs and how.
fn verify_manifest(checkpoint: &Path) -> Result<(), String> {
    let text = std::fs::read(checkpoint.join(MANIFEST_FILE)).map_err(|error| format!("cannot read {MANIFEST_FILE}: {error}"))?;
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|error| format!("{MANIFEST_FILE} is not valid: {error}"))?;
    if !manifest.files.contains_key(STATE_FILE) {
        return Err(format!("{MANIFEST_FILE} does not list {STATE_FILE}"));
    }
    for (name, expected) in &manifest.files {
        let actual = digest_file(&checkpoint.join(name)).map_err(|error| format!("cannot read {name}: {error}"))?;
        if actual.bytes != expected.bytes {
            return Err(format!("{name} has {} bytes, the manifest says {}", actual.bytes, expected.bytes));
        }
        if actual.sha256 != expected.sha256 {
            return Err(format!("{name} does not match its SHA-256 in the manifest"));
        }
    }
    Ok(())
}

/// Flushes every file of `dir` to disk and returns their digests, by name.
fn flush_and_digest(dir: &Path) -> Result<BTreeMap<String, FileDigest>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("failed to list {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        std::fs::File::open(&path)
            .and_then(|file| file.sync_all())
            .with_context(|| format!("failed to flush {} to disk", path.display()))?;
        files.insert(name, digest_file(&path).with_context(|| format!("failed to read back {}", path.display()))?);
    }
    Ok(files)
}

/// Files of one checkpoint, written by the training session into a staging folder.
pub struct CheckpointWriter {
    staging: StagingDir,
    destination: PathBuf,
}

impl CheckpointWriter {
    /// Starts a checkpoint for `step` in `run`.
    pub fn begin(run: &Path, step: u64) -> Result<Self> {
        let dir = run.join("checkpoints");
        std::fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
        // Checkpoints of other steps that a killed run was writing.
        crate::fsutil::remove_stale_staging(&dir, |stem| stem.starts_with(".step-"));
        let destination = dir.join(format!("step-{step:09}"));
        Ok(Self { staging: StagingDir::beside(&destination)?, destination })
    }

    /// Path of a file inside the staging folder.
    pub fn file(&self, name: &str) -> PathBuf {
        self.staging.path().join(name)
    }

    /// Writes `state.json` and the manifest, renames the folder into place and deletes all but
    /// the newest `keep` checkpoints.
    pub fn finish(self, state: &TrainState, keep: usize, keep_epochs: &[u64]) -> Result<PathBuf> {
        write_atomic(&self.file(STATE_FILE), &serde_json::to_vec_pretty(state)?)?;
        let manifest = Manifest { files: flush_and_digest(self.staging.path())? };
        write_atomic(&self.file(MANIFEST_FILE), &serde_json::to_vec_pretty(&manifest)?)?;
        sync_dir(self.staging.path())?;
        let checkpoints = self.destination.parent().map(Path::to_owned);
        let run = checkpoints.as_deref().and_then(Path::parent).map(Path::to_owned);
        self.staging.commit(&self.destination, true)?;
        // The rename itself is durable only once the folder holding it is flushed.
        if let Some(checkpoints) = checkpoints {
            sync_dir(&checkpoints)?;
        }
        if let Some(run) = run {
            prune(&run, keep, keep_epochs)?;
        }
        Ok(self.destination)
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir).and_then(|file| file.sync_all()).with_context(|| format!("failed to flush {} to disk", dir.display()))
}

/// Deletes all but the newest `keep` checkpoints of `run`, never counting or deleting the
/// checkpoints written at the end of an epoch in `keep_epochs`. A damaged checkpoint counts as
/// an ordinary one.
fn prune(run: &Path, keep: usize, keep_epochs: &[u64]) -> Result<()> {
    let mut rolling = Vec::new();
    for checkpoint in list(run)? {
        let kept_epoch = match inspect(&checkpoint) {
            Ok(state) => state.step_in_epoch == 0 && keep_epochs.contains(&state.epoch),
            Err(_) => false,
        };
        if !kept_epoch {
            rolling.push(checkpoint);
        }
    }
    for old in rolling.iter().take(rolling.len().saturating_sub(keep.max(1))) {
        std::fs::remove_dir_all(old).with_context(|| format!("failed to remove old checkpoint {}", old.display()))?;
    }
    Ok(())
}

/// Safetensors metadata that makes a weights file self-describing. It contains a single key
/// because the header lists a map's keys in hash order, and one key keeps equal weights
/// byte-identical on disk.
pub fn generator_metadata(model: &ModelConfig) -> HashMap<String, String> {
    let mut metadata = HashMap::new();
    metadata.insert(MODEL_CONFIG_KEY.to_string(), serde_json::to_string(model).expect("model config serialises"));
    metadata
}

/// Finds the generator weights behind a `--checkpoint` argument: a run folder (its newest
/// checkpoint), a checkpoint folder, or a `.safetensors` file. In a folder, the moving
/// average of G is preferred when the run kept one.
pub fn resolve_generator(argument: &Path) -> Result<PathBuf> {
    const WHAT_TO_PASS: &str = "pass a run folder, a checkpoint folder or a generator .safetensors file";
    if argument.is_file() {
        if argument.extension().is_none_or(|extension| extension != "safetensors") {
            bail!("{} is not a generator weights file; {WHAT_TO_PASS}", argument.display());
        }
        return Ok(argument.to_owned());
    }
    let preferred = |dir: &Path| {
        let average = dir.join(GENERATOR_EMA_FILE);
        if average.is_file() { average } else { dir.join(GENERATOR_FILE) }
    };
    if argument.join(GENERATOR_FILE).is_file() || argument.join(GENERATOR_EMA_FILE).is_file() {
        return Ok(preferred(argument));
    }
    if argument.is_dir() {
        // The run folder, or its `checkpoints` folder itself.
        let run = match argument.file_name().is_some_and(|name| name == "checkpoints") {
            true => argument.parent().unwrap_or(argument),
            false => argument,
        };
        if let Some((newest, _)) = newest_valid(run)? {
            return Ok(preferred(&newest));
        }
        if run.join("config.json").is_file() {
            bail!(
                "{} is a training run without a checkpoint yet: kao train writes one at the end of each epoch and when it stops (Ctrl-C, --max-time); wait for one, or {WHAT_TO_PASS}",
                argument.display()
            );
        }
        bail!("{} contains no generator weights and no checkpoints/ folder; {WHAT_TO_PASS}", argument.display());
    }
    bail!("checkpoint {} not found; {WHAT_TO_PASS}", argument.display())
}
