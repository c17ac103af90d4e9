//! File system helpers that never leave half-written outputs behind.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Writes `bytes` to `path` through a temporary file in the same folder, fsyncs it and renames
/// it over the destination, so readers see either the old file or the whole new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let temp = temporary_sibling(path);
    let result = (|| -> Result<()> {
        let mut file = fs::File::create(&temp)
            .with_context(|| format!("failed to create {}", temp.display()))?;
        file.write_all(bytes)
            .with_context(|| format!("failed to write {}", temp.display()))?;
        file.sync_all()
            .with_context(|| format!("failed to flush {}", temp.display()))?;
        fs::rename(&temp, path)
            .with_context(|| format!("failed to rename {} to {}", temp.display(), path.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Creates the folder that will contain `path`, if it has one and it is missing.
pub fn create_parent(path: &Path) -> Result<()> {
    match path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        Some(parent) => create_dir(parent),
        None => Ok(()),
    }
}

/// Creates folder `dir` and its missing parents; a file in the way is named in the error.
pub fn create_dir(dir: &Path) -> Result<()> {
    if let Some(file) = dir.ancestors().find(|ancestor| ancestor.is_file()) {
        anyhow::bail!("cannot create folder {}: {} is a file; choose another output path", dir.display(), file.display());
    }
    fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))
}

/// Returns a hidden path beside `path` that includes the process id, for staging an output.
pub fn temporary_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".to_string());
    let parent = path.parent().unwrap_or_else(|| Path::new("."));
    parent.join(format!(".{name}.tmp-{}", std::process::id()))
}

/// A staging folder that is deleted on drop unless [`StagingDir::commit`] renamed it into place.
pub struct StagingDir {
    path: PathBuf,
    committed: bool,
}

impl StagingDir {
    /// Creates an empty staging folder beside `destination`.
    pub fn beside(destination: &Path) -> Result<Self> {
        let path = temporary_sibling(destination);
        if path.exists() {
            fs::remove_dir_all(&path)
                .with_context(|| format!("failed to remove stale {}", path.display()))?;
        }
        fs::create_dir_all(&path).with_context(|| format!("failed to create {}", path.display()))?;
        Ok(Self { path, committed: false })
    }

    /// Returns the staging folder's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the staging folder to `destination`. With `replace`, an existing destination is
    /// moved aside first and deleted only after the rename succeeded.
    pub fn commit(mut self, destination: &Path, replace: bool) -> Result<()> {
        let mut old = None;
        if replace && destination.exists() {
            let aside = destination.with_file_name(format!(
                ".{}.old-{}",
                destination.file_name().unwrap_or_default().to_string_lossy(),
                std::process::id()
            ));
            fs::rename(destination, &aside)
                .with_context(|| format!("failed to move the old {} aside", destination.display()))?;
            old = Some(aside);
        }
        fs::rename(&self.path, destination).with_context(|| {
            format!("failed to rename {} to {}", self.path.display(), destination.display())
        })?;
        self.committed = true;
        if let Some(old) = old {
            fs::remove_dir_all(&old).with_context(|| format!("failed to remove {}", old.display()))?;
        }
        Ok(())
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}
