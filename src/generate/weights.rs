//! Generator weights sources: a file named by `--checkpoint`, or the trained generator that
//! ships inside the kao binary, so a fresh clone shows faces at once.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::train::checkpoint::resolve_generator;

/// Path of the bundled generator in the repository; its model card is `models/README.md`.
pub const BUNDLED_FILE: &str = "models/stylegan-64.safetensors";

/// The bundled generator's bytes, compiled into the binary so it works from any folder.
static BUNDLED_BYTES: &[u8] = include_bytes!("../../models/stylegan-64.safetensors");

/// A generator weights file in memory.
pub enum Weights {
    /// A file on disk, resolved from a `--checkpoint` argument.
    File { path: PathBuf, bytes: Vec<u8> },
    /// The generator bundled in the binary.
    Bundled,
}

impl Weights {
    /// Reads the generator behind `--checkpoint` (a run folder, a checkpoint folder or a
    /// `.safetensors` file), or takes the bundled one when no checkpoint is given, saying so in
    /// one log line.
    pub fn resolve(checkpoint: Option<&Path>) -> Result<Self> {
        let Some(checkpoint) = checkpoint else {
            tracing::info!("no --checkpoint given: using the bundled StyleGAN-64 generator ({BUNDLED_FILE}; see models/README.md)");
            return Ok(Self::Bundled);
        };
        let path = resolve_generator(checkpoint)?;
        let bytes = std::fs::read(&path).with_context(|| format!("failed to read {}", path.display()))?;
        Ok(Self::File { path, bytes })
    }

    /// Returns the safetensors bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Self::File { bytes, .. } => bytes,
            Self::Bundled => BUNDLED_BYTES,
        }
    }

    /// Returns the file on disk, or `None` for the bundled generator.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::File { path, .. } => Some(path),
            Self::Bundled => None,
        }
    }

    /// Returns the name that messages use: the file's path, or the bundled file's.
    pub fn name(&self) -> String {
        match self {
            Self::File { path, .. } => path.display().to_string(),
            Self::Bundled => format!("the bundled generator {BUNDLED_FILE}"),
        }
    }
}
