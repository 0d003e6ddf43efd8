//! Chapter 8 — making attention fast.
//!
//! - [`exp_in_place`]: a vectorised `exp`, because softmax computes one per score.
//! - [`flash_attention`]: tiled attention with an online softmax, O(seq · d) memory instead
//!   of the O(seq²) score matrix.
//! - [`attention_heads`]: every (batch item, head) in parallel, with either kernel.
//! - [`attention_flops`], [`score_matrix_bytes`]: where the time and the memory go.
//!
//! ```
//! use attention::fast::flash_attention;
//! use attention::self_attention::scaled_dot_product_attention;
//! use attention::nn::{init::uniform, seeded_rng};
//! use attention::ndarray::Array2;
//!
//! let mut rng = seeded_rng(0);
//! let q: Array2<f32> = uniform((300, 16), 1.0, &mut rng); // (seq, d_k)
//! let k: Array2<f32> = uniform((300, 16), 1.0, &mut rng);
//! let v: Array2<f32> = uniform((300, 8), 1.0, &mut rng);
//! let fast = flash_attention(&q, &k, &v, false)?;
//! let plain = scaled_dot_product_attention(&q, &k, &v, None)?.output;
//! assert!(fast.abs_diff_eq(&plain, 1e-5));
//! # Ok::<(), attention::Error>(())
//! ```

mod cost;
mod flash;
mod heads;

/// The vectorised `exp` this chapter builds lives in the kernels floor, below the layers.
pub use crate::kernels::exp_in_place;
pub use cost::{attention_flops, input_output_bytes, score_matrix_bytes};
pub use flash::{KEY_BLOCK, OnlineSoftmax, QUERY_BLOCK, flash_attention};
pub use heads::{Kernel, ROW_BLOCK, attention_heads, plain_attention};
