//! Cached Inception features of reference image sets, keyed by the content of their images, so
//! repeated evaluation against one training set extracts its features once.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use super::features::{Features, ImageSource};
use super::inception::FEATURE_DIM;
use super::weights::INCEPTION_SHA1;
use crate::fsutil::{create_parent, write_atomic};

/// Bumped whenever preprocessing or the feature layout changes, so old cache files are ignored.
const CACHE_VERSION: &str = "kao-inception-features-v1";

/// The cache key of `source`: SHA-256 over the version, the network and every image's bytes in
/// path order (file names do not matter, contents do), or the packed file and the chosen indices.
pub fn content_key(source: &ImageSource, packed_file: Option<&Path>) -> Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(CACHE_VERSION.as_bytes());
    hasher.update(INCEPTION_SHA1.as_bytes());
    match (source, packed_file) {
        (ImageSource::Files(files), _) => {
            for file in files {
                let bytes = std::fs::read(file).with_context(|| format!("failed to read {}", file.display()))?;
                hasher.update(Sha256::digest(&bytes));
            }
        }
        (ImageSource::Packed { indices, .. }, Some(path)) => {
            hash_file(path, &mut hasher)?;
            indices.iter().for_each(|index| hasher.update((*index as u64).to_le_bytes()));
        }
        (ImageSource::Packed { .. }, None) => anyhow::bail!("a packed source needs its file to be hashed"),
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn hash_file(path: &Path, hasher: &mut Sha256) -> Result<()> {
    let mut file = std::fs::File::open(path).with_context(|| format!("failed to open {}", path.display()))?;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer).with_context(|| format!("failed to read {}", path.display()))?;
        if read == 0 {
            return Ok(());
        }
        hasher.update(&buffer[..read]);
    }
}

/// Returns the cache file for `key` inside the cache folder `home`.
pub fn cache_path(home: &Path, key: &str) -> PathBuf {
    home.join("features").join(format!("{key}.f32"))
}

/// Reads cached features, or `None` when there are none (or they are unreadable, in which case
/// they are recomputed and rewritten).
pub fn load(home: &Path, key: &str) -> Result<Option<Features>> {
    let path = cache_path(home, key);
    let Ok(bytes) = std::fs::read(&path) else { return Ok(None) };
    if bytes.is_empty() || bytes.len() % (FEATURE_DIM * 4) != 0 {
        tracing::warn!("ignoring the damaged feature cache {}", path.display());
        return Ok(None);
    }
    let values: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect();
    Ok(Some(Features { count: values.len() / FEATURE_DIM, values }))
}

/// Stores features under `key`.
pub fn store(home: &Path, key: &str, features: &Features) -> Result<()> {
    let path = cache_path(home, key);
    create_parent(&path)?;
    let bytes: Vec<u8> = features.values.iter().flat_map(|v| v.to_le_bytes()).collect();
    write_atomic(&path, &bytes)
}
