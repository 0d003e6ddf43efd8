//! The floor under every layer: small, fast, chapter-free building blocks.
//!
//! The chapters' layers (`nn`, self-attention, multi-head attention, …) read as plain
//! math; what makes them fast lives here, below them, and imports nothing from a chapter:
//! - [`exp_in_place`]: a vectorised `exp` (softmax computes one per score), chosen at run time
//!   for the CPU (AVX-512, AVX2 or plain);
//! - [`gelu_in_place`]: GELU with a vectorised `erf` (BERT's and GPT's feed-forward networks
//!   compute one per hidden unit), on every thread for large arrays;
//! - [`fused_attention_head`]: chapter 8's memory-efficient attention for one head with its
//!   products as register tiles (no packing), what `fast::Kernel::MemoryEfficient` runs, and
//!   [`exact_attention_head`], the same tiles with the plain (exact) softmax, what
//!   `fast::Kernel::Plain` runs;
//! - [`map_heads_in_parallel`]: every (batch item, head) pair of a batched attention as its own
//!   task on rayon's threads, and [`heads_in_parallel`], which also writes each head's
//!   results into place on its own thread;
//! - [`for_each_row`]: a layer's independent rows (LayerNorm's token vectors, a bias added to
//!   every row) split over rayon's threads, each row computed as a plain loop would; every
//!   element-wise split (GELU, AdamW's update) follows the same rule, [`split_over_threads`];
//! - [`keep_freed_memory`]: glibc's `malloc` told to keep what a training step frees for the
//!   next one (no page faults on reuse);
//! - [`check_batched_heads`]: the shape check of batched per-head inputs
//!   `(batch, heads, seq, d)`, shared by the CPU and GPU kernels.
//!
//! The matrix product, the other hot spot, is [`crate::backend::matmul`], beside this module.
//! Chapter 8 ("Making attention fast") explains all of them.

mod erf;
mod exact;
mod exp;
mod flash;
#[cfg(target_arch = "x86_64")]
mod flash_simd;
mod heads;
mod memory;
mod rows;

pub use erf::{erf, gelu_in_place};
pub use exact::{
    exact_attention_head, exact_attention_masked, exact_attention_with_weights, tiles_fit,
};
pub use exp::exp_in_place;
pub use flash::{check_head, fused_attention_head};
pub use heads::{check_batched_heads, heads_in_parallel, map_heads_in_parallel};
pub use memory::keep_freed_memory;
pub use rows::{TASK_ENTRIES, for_each_row, split_over_threads};
