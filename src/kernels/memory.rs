//! Memory that a training step frees, kept for the next step.
//!
//! A training step allocates its activations and gradients, frees them, and allocates the
//! same sizes again on the next step. glibc's `malloc` (Linux) gives large blocks (from
//! 128 KiB, a threshold it raises as it goes) their own pages straight from the kernel, and
//! hands freed memory at the top of its heaps back to the kernel: the next step then pays a
//! page fault, and the kernel zeroes a page, for every 4 KiB it touches again. In chapter
//! 10's GPT that was about a sixth of a training step. Raising both thresholds keeps the
//! memory in the process instead, as PyTorch users get by preloading jemalloc or tcmalloc.

/// Keeps freed memory in the process (glibc's `M_MMAP_THRESHOLD` to its maximum, 32 MiB, and
/// `M_TRIM_THRESHOLD` to 512 MiB) for the rest of its life; training binaries call it once at
/// the start. Returns false, changing nothing, where the C library is not glibc.
///
/// ```
/// let kept = attention::kernels::keep_freed_memory(); // before the training loop
/// assert!(kept || !cfg!(all(target_os = "linux", target_env = "gnu")));
/// ```
// ANCHOR: keep_freed_memory
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // mallopt(3): parameter numbers from glibc's <malloc.h>.
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_THRESHOLD: i32 = -3;
        unsafe extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        // Safety: mallopt only sets malloc's parameters; both values are in range. The mmap
        // threshold goes first: setting either turns off glibc's own adjusting of both.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 512 << 20) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
// ANCHOR_END: keep_freed_memory
