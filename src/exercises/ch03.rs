//! Chapter 3 exercises — self-attention. Book: chapter 3; code: [`crate::self_attention`].
//!
//! Check them with `cargo exercise ch03`. Matrix products: `a.dot(&b)` (or
//! [`crate::backend::matmul`]); a transpose is free: `k.t()`.

use ndarray::Array2;

/// Exercise `ch03_project_qkv` — project the inputs to queries, keys and values.
///
/// `x` is `(seq, d_model)`, one token per row. The weights have PyTorch's `nn.Linear` layout
/// `(d_out, d_model)` (one row per output feature) and no bias, so a projection is
/// `x · Wᵀ`. Return `(Q, K, V)`: Q and K are `(seq, d_k)`, V is `(seq, d_v)`.
///
/// Re-read: chapter 3, section "Queries, keys and values".
#[allow(unused_variables)]
pub fn project_qkv(
    x: &Array2<f32>,
    w_q: &Array2<f32>,
    w_k: &Array2<f32>,
    w_v: &Array2<f32>,
) -> (Array2<f32>, Array2<f32>, Array2<f32>) {
    // TODO: three matrix products with the transposed weights.
    todo!()
}

/// Exercise `ch03_scaled_scores` — the scaled scores Q·Kᵀ / √d_k.
///
/// `q`: `(tgt_len, d_k)`, `k`: `(src_len, d_k)` → `(tgt_len, src_len)`: entry `[i, j]` is
/// how well query i matches key j, divided by √d_k (d_k = number of columns of `q`).
///
/// Re-read: chapter 3, section "Scaled scores".
#[allow(unused_variables)]
pub fn scaled_scores(q: &Array2<f32>, k: &Array2<f32>) -> Array2<f32> {
    // TODO: q times k transposed, divided by the square root of d_k.
    todo!()
}

/// Exercise `ch03_softmax_rows` — a numerically stable softmax of every row.
///
/// `scores`: `(rows, cols)` → `(rows, cols)`; each row becomes exp(xⱼ − max) / Σ exp(xₖ − max),
/// with max the maximum of that row, so it is positive and sums to 1. Subtracting the row
/// maximum changes nothing mathematically but keeps `exp` from overflowing or underflowing
/// (1000.0 must work, and so must a row of −200.0 next to a row of 1.0). Entries of −∞
/// (masked, chapter 4) get weight 0; a row that is −∞ everywhere (fully masked) becomes all
/// zeros, never NaN.
///
/// Re-read: chapter 3, section "Softmax".
#[allow(unused_variables)]
pub fn softmax_rows(scores: &Array2<f32>) -> Array2<f32> {
    // TODO: for each row: subtract its max, exponentiate, divide by the row's sum (a row that
    // is all −∞ becomes zeros).
    todo!()
}

/// Exercise `ch03_attention` — scaled dot-product attention, start to finish.
///
/// `q`: `(tgt_len, d_k)`, `k`: `(src_len, d_k)`, `v`: `(src_len, d_v)`. Return
/// `(output, weights)` where `weights = softmax(Q·Kᵀ / √d_k)` row by row, `(tgt_len, src_len)`,
/// and `output = weights · V`, `(tgt_len, d_v)`: each output row is a weighted sum of the value
/// rows. Large scores (±1000) must not give NaN. (Reuse your `scaled_scores` and
/// `softmax_rows`, or `crate::nn::softmax`.)
///
/// Re-read: chapter 3, section "Weighted sum of values".
#[allow(unused_variables)]
pub fn attention(q: &Array2<f32>, k: &Array2<f32>, v: &Array2<f32>) -> (Array2<f32>, Array2<f32>) {
    // TODO: scores, softmax over each row, then the weighted sum of the values.
    todo!()
}
