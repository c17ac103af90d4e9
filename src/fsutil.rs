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
        file.write_all(bytes).map_err(|error| write_error(&temp, error))?;
        file.sync_all().map_err(|error| write_error(&temp, error))?;
        fs::rename(&temp, path)
            .with_context(|| format!("failed to rename {} to {}", temp.display(), path.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Describes a failed write of `path`; a full disk or a file-size limit gets the fix.
pub fn write_error(path: &Path, error: std::io::Error) -> anyhow::Error {
    use std::io::ErrorKind;
    let hint = match error.kind() {
        ErrorKind::StorageFull | ErrorKind::FileTooLarge | ErrorKind::QuotaExceeded => {
            "; free disk space (or raise the file size limit) and run the command again: files written before are intact"
        }
        _ => "",
    };
    anyhow::anyhow!("failed to write {}: {error}{hint}", path.display())
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

/// Deletes the staging folders and files `STEM.tmp-PID` in `dir` whose `STEM` satisfies
/// `is_ours` and whose process no longer runs: what a killed kao left behind.
pub fn remove_stale_staging(dir: &Path, is_ours: impl Fn(&str) -> bool) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((stem, pid)) = name.rsplit_once(".tmp-") else { continue };
        let Ok(pid) = pid.parse::<i32>() else { continue };
        if !is_ours(stem) {
            continue;
        }
        if pid <= 0 || process_is_alive(pid) {
            continue;
        }
        let path = entry.path();
        let removed = if path.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
        match removed {
            Ok(()) => tracing::info!(path = %path.display(), "removed what an interrupted kao left behind"),
            Err(error) => tracing::warn!(path = %path.display(), "cannot remove a stale staging folder: {error}"),
        }
    }
}

fn process_is_alive(pid: i32) -> bool {
    // SAFETY: signal 0 sends nothing; it only checks that the process exists.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

impl StagingDir {
    /// Creates an empty staging folder beside `destination`, first deleting the staging folders
    /// of the same destination that killed kao processes left.
    pub fn beside(destination: &Path) -> Result<Self> {
        if let (Some(parent), Some(name)) = (destination.parent(), destination.file_name()) {
            let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
            let stem = format!(".{}", name.to_string_lossy());
            remove_stale_staging(parent, |candidate| candidate == stem);
        }
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
