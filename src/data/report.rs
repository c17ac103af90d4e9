//! `report.json`: what `kao prepare` did to each file.

use serde::{Deserialize, Serialize};

/// The preparation report written to `DIR/report.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Report {
    /// Files with an image extension that were read.
    pub scanned: usize,
    /// Images written to the prepared dataset.
    pub kept: usize,
    /// Files whose decoded pixels equal an earlier kept file's.
    pub exact_duplicates: usize,
    /// Files whose perceptual hash is within the near-duplicate distance of an earlier kept file.
    pub near_duplicates: usize,
    /// Files that could not be used; see `rejections`.
    pub rejected: usize,
    /// Kept or duplicate files that needed a colour or format conversion.
    pub converted: usize,
    /// Kept images whose shorter side was below the output size.
    pub upscaled: usize,
    /// Files skipped without reading because their extension is not an image format's.
    pub ignored: usize,
    /// Output size in pixels (square).
    pub size: u32,
    /// Near-duplicate Hamming distance limit, or null when near-duplicate removal was off.
    pub near_duplicate_distance: Option<u32>,
    /// Kept files and the image each became, in output order.
    pub kept_files: Vec<KeptEntry>,
    pub duplicates: Vec<DuplicateEntry>,
    pub rejections: Vec<RejectionEntry>,
    pub conversions: Vec<ConversionEntry>,
    /// Files skipped because their extension is not an image format's.
    pub ignored_files: Vec<String>,
}

/// One kept file and its name under `images/`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeptEntry {
    pub path: String,
    pub output: String,
}

/// One removed duplicate.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DuplicateEntry {
    pub path: String,
    pub duplicate_of: String,
    /// `exact` or `near`.
    pub kind: String,
    /// Hamming distance between perceptual hashes (0 for exact duplicates).
    pub distance: u32,
}

/// One rejected file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RejectionEntry {
    pub path: String,
    pub reason: String,
}

/// One conversion applied to a file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConversionEntry {
    pub path: String,
    /// The source form: `grayscale`, `rgba`, `16-bit`, `palette`, `cmyk` or `animated`.
    pub from: String,
}

impl Report {
    /// Formats a short human summary of the counts, with a warning when most kept images were upscaled.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "scanned {} files: kept {}, exact duplicates {}, near duplicates {}, rejected {}, converted {}, upscaled {}",
            self.scanned,
            self.kept,
            self.exact_duplicates,
            self.near_duplicates,
            self.rejected,
            self.converted,
            self.upscaled
        );
        if self.ignored > 0 {
            let noun = if self.ignored == 1 { "file" } else { "files" };
            text.push_str(&format!(", ignored {} {noun} without an image extension", self.ignored));
        }
        if self.kept > 0 && self.upscaled * 2 > self.kept {
            text.push_str(&format!(
                "\nwarning: {} of {} kept images were smaller than {} px and were upscaled, so they will look soft; consider --size 64",
                self.upscaled, self.kept, self.size
            ));
        }
        text
    }
}
