//! Training batches from a packed dataset.
//!
//! Data order and flips are derived from the run seed and the epoch number, so a resumed run
//! gets exactly the batches of an uninterrupted run, with no saved state.
//! Batches are prepared on a background thread while the training step runs.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use super::packed::PackedFaces;
use crate::rng::{KaoRng, derive_seed};

/// How many prepared batches may wait for the training step.
const PREFETCH_DEPTH: usize = 3;

/// One training batch: `batch_size * 3 * height * width` floats in NCHW order, scaled to [-1, 1].
pub struct Batch {
    pub pixels: Vec<f32>,
    pub batch_size: usize,
    pub height: usize,
    pub width: usize,
}

/// Batch settings of a run.
#[derive(Clone)]
pub struct BatchLoader {
    faces: Arc<PackedFaces>,
    batch_size: usize,
    seed: u64,
    flip: bool,
}

impl BatchLoader {
    /// Creates a loader. The last incomplete batch of each epoch is dropped, so BatchNorm always
    /// normalises full batches.
    pub fn new(faces: Arc<PackedFaces>, batch_size: usize, seed: u64, flip: bool) -> Self {
        Self { faces, batch_size, seed, flip }
    }

    /// Number of images in the dataset.
    pub fn image_count(&self) -> usize {
        self.faces.len()
    }

    /// Full batches per epoch.
    pub fn steps_per_epoch(&self) -> usize {
        self.faces.len() / self.batch_size
    }

    /// Image side lengths `(height, width)` in pixels.
    pub fn image_size(&self) -> (usize, usize) {
        (self.faces.height(), self.faces.width())
    }

    /// Returns the shuffled image order of `epoch` (counted from 0).
    pub fn epoch_order(&self, epoch: u64) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.faces.len() as u32).collect();
        KaoRng::seed_from_u64(derive_seed(self.seed, "data-order", epoch)).shuffle(&mut order);
        order
    }

    /// Builds batch `step` (counted from 0 within the epoch) of `epoch`.
    pub fn batch(&self, order: &[u32], epoch: u64, step: usize) -> Batch {
        let (height, width) = self.image_size();
        let plane = height * width;
        let mut flips = KaoRng::seed_from_u64(derive_seed(derive_seed(self.seed, "flip", epoch), "batch", step as u64));
        let mut pixels = vec![0f32; self.batch_size * 3 * plane];

        let indices = &order[step * self.batch_size..(step + 1) * self.batch_size];
        for (slot, &index) in indices.iter().enumerate() {
            let flip = self.flip && flips.uniform() < 0.5;
            let image = self.faces.image(index as usize);
            let out = &mut pixels[slot * 3 * plane..(slot + 1) * 3 * plane];
            for y in 0..height {
                for x in 0..width {
                    let source_x = if flip { width - 1 - x } else { x };
                    let source = (y * width + source_x) * 3;
                    for channel in 0..3 {
                        out[channel * plane + y * width + x] = f32::from(image[source + channel]) / 127.5 - 1.0;
                    }
                }
            }
        }
        Batch { pixels, batch_size: self.batch_size, height, width }
    }

    /// Starts a background thread that yields the batches of `epoch` from `first_step` on.
    pub fn prefetch_epoch(&self, epoch: u64, first_step: usize) -> Prefetcher {
        let (sender, receiver) = sync_channel(PREFETCH_DEPTH);
        let loader = self.clone();
        let handle = std::thread::spawn(move || {
            let order = loader.epoch_order(epoch);
            for step in first_step..loader.steps_per_epoch() {
                if sender.send(loader.batch(&order, epoch, step)).is_err() {
                    break;
                }
            }
        });
        Prefetcher { receiver: Some(receiver), handle: Some(handle) }
    }
}

/// Batches prepared ahead by a background thread.
pub struct Prefetcher {
    receiver: Option<Receiver<Batch>>,
    handle: Option<JoinHandle<()>>,
}

impl Iterator for Prefetcher {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        self.receiver.as_ref()?.recv().ok()
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        // Closing the channel first unblocks a producer waiting to send.
        self.receiver.take();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}
