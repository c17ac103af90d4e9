//! Settings of the C allocator for kao's many large, short-lived tensor buffers.
//!
//! Every burn Flex operation allocates its output, and at batch 64 most outputs are megabytes.
//! glibc's malloc serves blocks above its mmap threshold (128 KiB at start, raised on the fly)
//! with fresh mappings and returns them on free. Each such buffer then costs page faults and
//! zeroing when first written, and unmapping it interrupts the other threads to flush their
//! TLBs. On 2 cores that system time was 18% of a generation run (perf, docs/benchmarks.md).
//! Keeping freed blocks in the heap lets the next step reuse them.

/// Largest block glibc serves from the heap, in bytes: glibc's own upper limit for the setting
/// on 64-bit systems (32 MiB).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 32 * 1024 * 1024;

/// Free memory at the top of the heap, in bytes, above which glibc gives it back to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 1024 * 1024 * 1024;

/// Keeps tensor-sized blocks in glibc's heap for reuse. Does nothing with other C libraries.
pub fn keep_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator settings; it runs before any other thread starts.
        let accepted = unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
        };
        if !accepted {
            tracing::debug!("glibc rejected the allocator settings; large buffers stay memory-mapped");
        }
    }
}
