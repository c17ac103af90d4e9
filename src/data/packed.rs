//! The packed dataset: one contiguous array of uint8 RGB images behind a 32-byte header, so
//! training memory-maps it instead of decoding PNGs every epoch.
//!
//! Layout (little-endian): magic `KAOFACES` (8 bytes), format version u32, channels u32,
//! height u32, width u32, image count u64, then `count * height * width * channels` bytes in
//! NHWC order.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use memmap2::Mmap;

const MAGIC: &[u8; 8] = b"KAOFACES";
const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 32;
const CHANNELS: u32 = 3;

/// Writes images of one size into a packed file, one at a time.
pub struct PackedWriter {
    file: BufWriter<File>,
    path: PathBuf,
    height: u32,
    width: u32,
    count: u64,
}

impl PackedWriter {
    /// Creates `path` for images of `height` x `width` RGB pixels.
    pub fn create(path: &Path, height: u32, width: u32) -> Result<Self> {
        let file = File::create(path).with_context(|| format!("failed to create {}", path.display()))?;
        let mut writer = Self { file: BufWriter::new(file), path: path.to_owned(), height, width, count: 0 };
        writer.write_header()?;
        Ok(writer)
    }

    fn write_header(&mut self) -> Result<()> {
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        header.extend_from_slice(&CHANNELS.to_le_bytes());
        header.extend_from_slice(&self.height.to_le_bytes());
        header.extend_from_slice(&self.width.to_le_bytes());
        header.extend_from_slice(&self.count.to_le_bytes());
        self.file.write_all(&header).with_context(|| format!("failed to write {}", self.path.display()))
    }

    /// Appends one image given as `height * width * 3` RGB bytes.
    pub fn push(&mut self, rgb: &[u8]) -> Result<()> {
        let expected = (self.height * self.width * CHANNELS) as usize;
        if rgb.len() != expected {
            bail!("packed image has {} bytes, expected {expected}", rgb.len());
        }
        self.file.write_all(rgb).with_context(|| format!("failed to write {}", self.path.display()))?;
        self.count += 1;
        Ok(())
    }

    /// Rewrites the header with the final count and flushes the file to disk.
    pub fn finish(mut self) -> Result<u64> {
        use std::io::{Seek, SeekFrom};
        self.file.flush()?;
        let file = self.file.get_mut();
        file.seek(SeekFrom::Start(24))?;
        file.write_all(&self.count.to_le_bytes())?;
        file.sync_all().with_context(|| format!("failed to flush {}", self.path.display()))?;
        Ok(self.count)
    }
}

/// A memory-mapped packed dataset.
pub struct PackedFaces {
    map: Mmap,
    count: usize,
    height: usize,
    width: usize,
}

impl PackedFaces {
    /// Opens and validates a packed file written by [`PackedWriter`].
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).with_context(|| {
            format!("failed to open {}; run `kao prepare` to create the dataset", path.display())
        })?;
        // SAFETY: the file is opened read-only and kao never writes a packed file in place (it
        // is staged and renamed), so the mapped bytes do not change while mapped.
        let map = unsafe { Mmap::map(&file) }.with_context(|| format!("failed to map {}", path.display()))?;

        if map.len() < HEADER_LEN || &map[..8] != MAGIC {
            bail!("{} is not a kao packed dataset; rerun `kao prepare`", path.display());
        }
        let read_u32 = |at: usize| u32::from_le_bytes(map[at..at + 4].try_into().unwrap());
        let version = read_u32(8);
        if version != FORMAT_VERSION {
            bail!(
                "{} has packed format version {version}, this kao reads version {FORMAT_VERSION}; rerun `kao prepare`",
                path.display()
            );
        }
        let (channels, height, width) = (read_u32(12), read_u32(16) as usize, read_u32(20) as usize);
        let count = u64::from_le_bytes(map[24..32].try_into().unwrap()) as usize;

        if channels != CHANNELS {
            bail!("{} has {channels} channels, expected {CHANNELS}", path.display());
        }
        let expected = HEADER_LEN + count * height * width * CHANNELS as usize;
        if map.len() != expected {
            bail!(
                "{} is truncated or damaged: {} bytes, expected {expected}; rerun `kao prepare`",
                path.display(),
                map.len()
            );
        }
        Ok(Self { map, count, height, width })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Returns true when the dataset contains no image.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Image height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Image width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Returns the RGB bytes (HWC order) of image `index`.
    pub fn image(&self, index: usize) -> &[u8] {
        let size = self.height * self.width * CHANNELS as usize;
        let start = HEADER_LEN + index * size;
        &self.map[start..start + size]
    }
}
