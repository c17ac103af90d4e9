//! Measuring generated faces: FID and KID on TF-Inception pool3 features, as published GAN
//! results use them.
//!
//! [`weights`] imports the network once, [`inception`] runs it, [`features`] feeds it images,
//! [`stats`] turns features into FID and KID, and [`cache`] keeps reference features.

pub mod cache;
pub mod eval;
pub mod features;
pub mod inception;
pub mod pickle;
pub mod stats;
pub mod torchscript;
pub mod weights;

use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use features::{FeatureExtractor, Features, ImageSource};

/// Seed of KID's subset draws, fixed so one pair of sets always gives one KID.
pub const KID_SEED: u64 = 0;

/// FID and KID between two image sets.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Scores {
    pub fid: f64,
    pub kid: f64,
    pub count_a: usize,
    pub count_b: usize,
}

/// Scores `a` (usually generated) against `b` (usually real).
pub fn scores(a: &Features, b: &Features) -> Result<Scores> {
    let fid = stats::fid(&stats::Statistics::of(a)?, &stats::Statistics::of(b)?)?;
    let kid = stats::kid(a, b, KID_SEED)?;
    Ok(Scores { fid, kid, count_a: a.count, count_b: b.count })
}

/// Features of `source`, from the cache in `home` when its content was seen before.
/// `packed_file` is the file behind a packed source, which is hashed for the cache key.
pub fn cached_features(
    home: &Path,
    extractor: &FeatureExtractor,
    source: &ImageSource,
    packed_file: Option<&Path>,
    label: &str,
) -> Result<Features> {
    let key = cache::content_key(source, packed_file)?;
    if let Some(features) = cache::load(home, &key)?.filter(|features| features.count == source.len()) {
        let noun = if features.count == 1 { "image" } else { "images" };
        tracing::info!("{label}: reusing cached features of {} {noun}", features.count);
        return Ok(features);
    }

    tracing::info!("{label}: computing the features of {} images (not cached yet)", source.len());
    let mut progress = crate::cli::progress::CountProgress::new(source.len() as u64, label);
    let features = extractor.source(source, |done| progress.set(done as u64))?;
    progress.finish();
    cache::store(home, &key, &features)?;
    Ok(features)
}
