//! Exact and near duplicate detection.
//!
//! Exact duplicates share identical decoded pixels (SHA-256 of size and RGB bytes). Near
//! duplicates have DCT perceptual hashes (64 bits, the classic pHash: DCT of a 32x32 grayscale
//! image, low 8x8 frequencies against their mean) within a Hamming distance.

use std::collections::HashMap;

use image::RgbImage;
use image_hasher::{HashAlg, HasherConfig};
use sha2::{Digest, Sha256};

/// Default largest Hamming distance (of 64 bits) at which two images count as near duplicates.
///
/// NOTE: chosen by inspecting pairs in the 64 px Kaggle anime faces: at distances up to 4
/// the pairs were the same artwork re-encoded, recoloured slightly or shifted a few pixels; from
/// about 8 on, different characters drawn by the same artist started to match.
pub const DEFAULT_NEAR_DISTANCE: u32 = 4;

/// Identity of one kept candidate image, computed once per file.
#[derive(Clone, Debug)]
pub struct Fingerprint {
    pub pixels: [u8; 32],
    pub perceptual: u64,
}

/// How a file duplicates an earlier kept one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DuplicateOf {
    Exact(usize),
    Near { index: usize, distance: u32 },
}

/// Hashes the decoded pixels of `original` and the perceptual hash of `resized`.
pub fn fingerprint(original: &RgbImage, resized: &RgbImage) -> Fingerprint {
    let mut digest = Sha256::new();
    digest.update(original.width().to_le_bytes());
    digest.update(original.height().to_le_bytes());
    digest.update(original.as_raw());
    let pixels: [u8; 32] = digest.finalize().into();

    let hasher = HasherConfig::new().hash_size(8, 8).hash_alg(HashAlg::Mean).preproc_dct().to_hasher();
    let hash = hasher.hash_image(resized);
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&hash.as_bytes()[..8]);
    Fingerprint { pixels, perceptual: u64::from_le_bytes(bytes) }
}

/// Marks each fingerprint as kept (`None`) or as a duplicate of an earlier kept one. The list
/// must be in the order that decides which copy is kept (sorted paths): the first one wins.
/// `near_distance` of `None` disables near-duplicate detection.
pub fn find_duplicates(fingerprints: &[Fingerprint], near_distance: Option<u32>) -> Vec<Option<DuplicateOf>> {
    let mut first_by_pixels: HashMap<[u8; 32], usize> = HashMap::new();
    let mut kept_hashes: Vec<(usize, u64)> = Vec::new();
    let mut verdicts = Vec::with_capacity(fingerprints.len());

    for (index, print) in fingerprints.iter().enumerate() {
        if let Some(&first) = first_by_pixels.get(&print.pixels) {
            verdicts.push(Some(DuplicateOf::Exact(first)));
            continue;
        }
        first_by_pixels.insert(print.pixels, index);

        let near = near_distance.and_then(|max| {
            kept_hashes.iter().find_map(|&(kept, hash)| {
                let distance = (hash ^ print.perceptual).count_ones();
                (distance <= max).then_some(DuplicateOf::Near { index: kept, distance })
            })
        });
        if near.is_none() {
            kept_hashes.push((index, print.perceptual));
        }
        verdicts.push(near);
    }
    verdicts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn print(pixels: u8, perceptual: u64) -> Fingerprint {
        Fingerprint { pixels: [pixels; 32], perceptual }
    }

    #[test]
    fn first_copy_is_kept() {
        let prints = [print(1, 0), print(2, 0xFFFF), print(1, 0), print(3, 0b111)];
        let verdicts = find_duplicates(&prints, Some(3));
        assert_eq!(verdicts[0], None);
        assert_eq!(verdicts[1], None);
        assert_eq!(verdicts[2], Some(DuplicateOf::Exact(0)));
        assert_eq!(verdicts[3], Some(DuplicateOf::Near { index: 0, distance: 3 }));
    }

    #[test]
    fn near_detection_can_be_disabled() {
        let prints = [print(1, 0), print(2, 1)];
        assert_eq!(find_duplicates(&prints, None), vec![None, None]);
    }
}
