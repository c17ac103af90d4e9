//! Times kao's Inception network on 299x299 batches, like `inception_pytorch.py`.
//!
//! Run with `cargo bench --bench inception -- [--batch 16] [--batches 6]` after
//! `kao weights import`; prints one JSON line with images per second.

use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use kao::metrics::inception::{INPUT_SIZE, InceptionV3};
use kao::metrics::weights::{kao_home, locate_inception};
use kao::rng::KaoRng;

fn argument(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let (batch, batches) = (argument("--batch", 16), argument("--batches", 6));
    let device = Device::flex();
    let network = InceptionV3::load(&locate_inception(&kao_home()?)?, &device)?;
    let values: Vec<f32> =
        KaoRng::seed_from_u64(0).normal_vec(batch * 3 * INPUT_SIZE * INPUT_SIZE).into_iter().map(|v| v.clamp(-1.0, 1.0)).collect();
    let img = Tensor::<4>::from_data(TensorData::new(values, [batch, 3, INPUT_SIZE, INPUT_SIZE]), &device);

    // One warm-up batch, not timed; reading the result back waits for the work to finish.
    let _ = kao::model::tensor_values(network.forward(img.clone()));
    let started = Instant::now();
    for _ in 0..batches {
        let _ = kao::model::tensor_values(network.forward(img.clone()));
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"images_per_second\": {:.3}, \"batch\": {batch}, \"threads\": {}}}",
        (batch * batches) as f64 / seconds,
        rayon::current_num_threads()
    );
    Ok(())
}
