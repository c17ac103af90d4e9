//! Choosing the compute device at run time (`--device`).

use anyhow::{Result, bail};
use burn::tensor::{Device, Tensor};

/// The devices kao can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// The CPU, through burn's Flex backend (always available).
    Cpu,
    /// The first NVIDIA GPU, through CUDA (needs a build with `--features cuda`).
    Cuda,
    /// The best GPU that wgpu finds (Vulkan, Metal or DirectX; needs `--features wgpu`).
    Wgpu,
}

/// Opens the chosen device and checks that it works with one small operation, so a missing GPU
/// fails here with a clear message rather than deep inside training.
pub fn open(choice: DeviceChoice) -> Result<Device> {
    let device = match choice {
        DeviceChoice::Cpu => Device::flex(),
        DeviceChoice::Cuda => cuda()?,
        DeviceChoice::Wgpu => wgpu()?,
    };
    let probe = device.clone();
    let works = std::panic::catch_unwind(move || Tensor::<1>::zeros([1], &probe).try_into_data().is_ok());
    if !matches!(works, Ok(true)) {
        bail!("--device {choice:?} was requested but no such device works on this machine; use --device cpu");
    }
    Ok(device)
}

#[cfg(feature = "cuda")]
fn cuda() -> Result<Device> {
    Ok(Device::cuda(0))
}

#[cfg(not(feature = "cuda"))]
fn cuda() -> Result<Device> {
    bail!("this kao was built without CUDA support; rebuild with `cargo build --release --features cuda`")
}

#[cfg(feature = "wgpu")]
fn wgpu() -> Result<Device> {
    Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu() -> Result<Device> {
    bail!("this kao was built without wgpu support; rebuild with `cargo build --release --features wgpu`")
}
