//! Attention for every (batch item, head) at once, in parallel: the shape real models use.
//!
//! Heads are independent, so they are the easy parallelism: each of the `batch · heads`
//! sequences goes to a rayon worker, one per core. Inside a head, two kernels:
//! - [`Kernel::Plain`]: exact softmax over whole rows, the chapter-3 computation, a block of
//!   query rows at a time, so the score block stays small and a causal mask skips the keys no
//!   query of the block can see (half the work): [`plain_attention`] to read, and
//!   [`crate::kernels::exact_attention_head`], the same with its products as register tiles,
//!   to run.
//! - [`Kernel::MemoryEfficient`]: [`flash_attention`], O(seq · d) memory, run as
//!   [`crate::kernels::fused_attention_head`].
//! - [`Kernel::Gpu`]: one fused GPU kernel for all heads at once (feature `gpu`).

use ndarray::{Array2, Array4, ArrayRef2, ArrayRef4, Axis, s};

use crate::backend::matmul;
use crate::error::Result;
use crate::kernels::{
    check_batched_heads, check_head, exact_attention_head, fused_attention_head,
    map_heads_in_parallel,
};
use crate::nn::softmax_in_place;

/// Query rows per score block in [`plain_attention`].
pub const ROW_BLOCK: usize = 128;

/// How each head computes softmax(Q·Kᵀ/√d_k)·V.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Exact softmax over whole rows of scores, a block of query rows at a time.
    Plain,
    /// Tiles with an online softmax: never more than a tile of scores in memory.
    MemoryEfficient,
    /// The fused WGSL kernel of `crate::gpu` (feature `gpu`; without it, an [`crate::Error::Gpu`]).
    Gpu,
}

// ANCHOR: attention_heads
/// softmax(Q·Kᵀ/√d_k)·V for every batch item and head, heads in parallel.
///
/// `queries (batch, heads, tgt_len, d_k)`, `keys (batch, heads, src_len, d_k)`,
/// `values (batch, heads, src_len, d_v)` → `(batch, heads, tgt_len, d_v)`. With `causal`,
/// query i sees keys 0..=i. The weights are not returned (that is what makes it fast); use
/// [`crate::multi_head::MultiHeadAttention`] to see them.
pub fn attention_heads(
    queries: &ArrayRef4<f32>,
    keys: &ArrayRef4<f32>,
    values: &ArrayRef4<f32>,
    causal: bool,
    kernel: Kernel,
) -> Result<Array4<f32>> {
    let (batch, heads, tgt_len, _) = check_batched_heads(queries, keys, values)?;
    if kernel == Kernel::Gpu {
        return gpu_attention_heads(queries, keys, values, causal);
    }
    let d_v = values.shape()[3];
    let outputs = map_heads_in_parallel(batch, heads, |b, h| {
        let at = s![b, h, .., ..];
        let (q, k, v) = (queries.slice(at), keys.slice(at), values.slice(at));
        match kernel {
            Kernel::Plain => exact_attention_head(&q, &k, &v, causal),
            Kernel::MemoryEfficient => fused_attention_head(&q, &k, &v, causal),
            Kernel::Gpu => unreachable!("handled above"),
        }
    });
    let mut output = Array4::zeros((batch, heads, tgt_len, d_v));
    for ((b, h), head) in outputs {
        output.slice_mut(s![b, h, .., ..]).assign(&head?); // (tgt_len, d_v)
    }
    Ok(output)
}
// ANCHOR_END: attention_heads

#[cfg(feature = "gpu")]
use crate::gpu::attention_heads as gpu_attention_heads;

#[cfg(not(feature = "gpu"))]
fn gpu_attention_heads(
    _: &ArrayRef4<f32>,
    _: &ArrayRef4<f32>,
    _: &ArrayRef4<f32>,
    _: bool,
) -> Result<Array4<f32>> {
    Err(crate::Error::gpu_not_built())
}

// ANCHOR: plain_attention
/// [`Kernel::Plain`] to read: one head, exact softmax over whole rows, [`ROW_BLOCK`] query
/// rows at a time, the products through [`matmul`]. `Kernel::Plain` runs
/// [`crate::kernels::exact_attention_head`], the same computation with register tiles
/// (a test checks they agree). Fails with [`crate::Error::Shape`] naming `keys` or `values`
/// when they do not fit `queries`.
pub fn plain_attention(
    queries: &ArrayRef2<f32>,
    keys: &ArrayRef2<f32>,
    values: &ArrayRef2<f32>,
    causal: bool,
) -> Result<Array2<f32>> {
    check_head(queries, keys, values)?;
    let (tgt_len, src_len) = (queries.nrows(), keys.nrows());
    let scale = 1.0 / (queries.ncols() as f32).sqrt();
    let mut output = Array2::zeros((tgt_len, values.ncols())); // (tgt_len, d_v)
    for q_start in (0..tgt_len).step_by(ROW_BLOCK) {
        let q_end = (q_start + ROW_BLOCK).min(tgt_len);
        // With a causal mask, no query of this block sees a key at or after q_end.
        let visible = if causal { q_end.min(src_len) } else { src_len };
        // Scaling the block's queries by 1/√d_k scales its scores: block·d_k multiplications
        // instead of block·visible.
        let q = &queries.slice(s![q_start..q_end, ..]) * scale; // (block, d_k)
        let k = keys.slice(s![..visible, ..]); // (visible, d_k)
        let mut scores = matmul(&q, &k.t()); // (block, visible)
        for (i, mut row) in scores.axis_iter_mut(Axis(0)).enumerate() {
            // Query q_start + i sees keys 0..=q_start + i when causal; the rest get weight 0.
            let seen = if causal {
                (q_start + i + 1).min(visible)
            } else {
                visible
            };
            row.slice_mut(s![seen..]).fill(0.0);
            softmax_in_place(&mut row.slice_mut(s![..seen]));
        }
        let v = values.slice(s![..visible, ..]); // (visible, d_v)
        output
            .slice_mut(s![q_start..q_end, ..])
            .assign(&matmul(&scores, &v)); // (block, d_v)
    }
    Ok(output)
}
// ANCHOR_END: plain_attention
