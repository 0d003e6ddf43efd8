//! Chapter 6 exercises — multi-head attention. Book: chapter 6; code: [`crate::multi_head`].
//!
//! Check them with `cargo exercise ch06`. Handy `ndarray` tools: `to_shape`,
//! `into_shape_with_order`, `permuted_axes`, `as_standard_layout`, `slice` with `s![..]`.

use ndarray::{Array3, Array4};

use crate::masked::Mask;
use crate::multi_head::MultiHeadAttention;

/// Exercise `ch06_split_heads` — give each head its slice of every token vector.
///
/// `x`: `(batch, seq, d_model)` → `(batch, heads, seq, d_k)` with d_k = d_model / num_heads:
/// head h gets columns `h·d_k .. (h+1)·d_k` of every token (PyTorch's layout). `num_heads`
/// divides d_model.
///
/// Re-read: chapter 6, section "Splitting into heads".
#[allow(unused_variables)]
pub fn split_heads(x: &Array3<f32>, num_heads: usize) -> Array4<f32> {
    // TODO: reshape to (batch, seq, heads, d_k), then swap the seq and heads axes.
    todo!()
}

/// Exercise `ch06_merge_heads` — concatenate the heads again.
///
/// `x`: `(batch, heads, seq, d_k)` → `(batch, seq, heads · d_k)`: token t's vector is head 0's
/// row t, then head 1's row t, and so on. The inverse of `split_heads`.
///
/// Re-read: chapter 6, section "Merging the heads".
#[allow(unused_variables)]
pub fn merge_heads(x: &Array4<f32>) -> Array3<f32> {
    // TODO: undo `split_heads`: swap the axes back, then reshape.
    todo!()
}

/// Exercise `ch06_multi_head_attention` — the multi-head forward pass.
///
/// `query`: `(batch, tgt_len, d_model)`, `key_value`: `(batch, src_len, d_model)` (pass the
/// same array for self-attention). With the parameters of `mha` (`w_q`, `w_k`, `w_v`,
/// `out_proj`: [`crate::nn::Linear`] layers with bias; `num_heads`):
/// 1. Q = w_q(query), K = w_k(key_value), V = w_v(key_value);
/// 2. split each into heads (`split_heads`);
/// 3. in every batch item b and head h: scaled dot-product attention with d_k = d_model /
///    num_heads, the mask (if any) applied before softmax, `mask.for_sequence(b, tgt_len)`
///    giving its `(tgt_len, src_len)` booleans (`true` = may attend); a query that may attend
///    to no key gets all-zero weights (as `softmax_rows` gives a fully masked row);
/// 4. merge the heads (`merge_heads`) and apply `out_proj`.
///
/// Return `(output (batch, tgt_len, d_model), weights (batch, heads, tgt_len, src_len))`.
/// Don't just call `mha.forward`: that is the crate's answer.
///
/// Re-read: chapter 6, section "The multi-head forward pass".
#[allow(unused_variables)]
pub fn multi_head_attention(
    mha: &MultiHeadAttention,
    query: &Array3<f32>,
    key_value: &Array3<f32>,
    mask: Option<&Mask>,
) -> (Array3<f32>, Array4<f32>) {
    // TODO: project, split, attend per (batch, head), merge, project out.
    todo!()
}
