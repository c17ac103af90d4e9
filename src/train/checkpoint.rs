//! Training checkpoints: `RUN/checkpoints/step-NNNNNNNNN/` folders holding G and D weights
//! (safetensors), both optimizers' state (burnpack) and `state.json`, written to a staging
//! folder and renamed into place so a crash never leaves a half checkpoint.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use crate::fsutil::{StagingDir, write_atomic};
use crate::model::ModelConfig;
use crate::rng::RngState;

/// Version of the checkpoint layout; bumped whenever a field's meaning changes.
pub const FORMAT_VERSION: u32 = 1;

pub const GENERATOR_FILE: &str = "generator.safetensors";
/// Moving average of G, written for runs that keep one (StyleGAN).
pub const GENERATOR_EMA_FILE: &str = "generator-ema.safetensors";
pub const DISCRIMINATOR_FILE: &str = "discriminator.safetensors";
pub const OPTIMIZER_G_FILE: &str = "optimizer-g.bpk";
pub const OPTIMIZER_D_FILE: &str = "optimizer-d.bpk";
pub const STATE_FILE: &str = "state.json";
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
    let path = checkpoint.join(STATE_FILE);
    let bytes = std::fs::read(&path).with_context(|| format!("failed to read {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).with_context(|| format!("{} is not valid JSON", path.display()))?;
    let version = value.get("format_version").and_then(|v| v.as_u64()).unwrap_or(0);
    if version != u64::from(FORMAT_VERSION) {
        bail!(
            "{} has checkpoint format version {version}, this kao reads version {FORMAT_VERSION}; use the kao version that wrote it",
            path.display()
        );
    }
    serde_json::from_value(value).with_context(|| format!("{} has invalid fields", path.display()))
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
        let destination = dir.join(format!("step-{step:09}"));
        Ok(Self { staging: StagingDir::beside(&destination)?, destination })
    }

    /// Path of a file inside the staging folder.
    pub fn file(&self, name: &str) -> PathBuf {
        self.staging.path().join(name)
    }

    /// Writes `state.json`, renames the folder into place and deletes all but the newest `keep`
    /// checkpoints.
    pub fn finish(self, state: &TrainState, keep: usize, keep_epochs: &[u64]) -> Result<PathBuf> {
        write_atomic(&self.file(STATE_FILE), &serde_json::to_vec_pretty(state)?)?;
        let run = self.destination.parent().and_then(Path::parent).map(Path::to_owned);
        self.staging.commit(&self.destination, true)?;
        if let Some(run) = run {
            prune(&run, keep, keep_epochs)?;
        }
        Ok(self.destination)
    }
}

/// Deletes all but the newest `keep` checkpoints of `run`, never counting or deleting the
/// checkpoints written at the end of an epoch in `keep_epochs`.
fn prune(run: &Path, keep: usize, keep_epochs: &[u64]) -> Result<()> {
    let mut rolling = Vec::new();
    for checkpoint in list(run)? {
        let state = read_state(&checkpoint)?;
        let kept_epoch = state.step_in_epoch == 0 && keep_epochs.contains(&state.epoch);
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
        if let Some(newest) = list(run)?.last() {
            return Ok(preferred(newest));
        }
        bail!("{} contains no generator weights and no checkpoints/ folder; {WHAT_TO_PASS}", argument.display());
    }
    bail!("checkpoint {} not found; {WHAT_TO_PASS}", argument.display())
}
