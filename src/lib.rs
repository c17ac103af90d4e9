//! kao turns a folder of anime face images into a trained GAN, and that GAN into new faces.
//!
//! The crate is split by concept: [`data`] prepares and loads face datasets, [`model`] contains
//! the networks, [`loss`] the GAN objectives, [`train`] the training loop and its checkpoints,
//! [`generate`] sampling from a trained generator, [`metrics`] FID and KID, [`bench`] speed measurements, and [`cli`] the `kao`
//! command line.

pub mod allocator;
pub mod bench;
pub mod cli;
pub mod data;
pub mod device;
pub mod fsutil;
pub mod generate;
pub mod imageio;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod plot;
pub mod report;
pub mod rng;
pub mod studio;
pub mod train;
