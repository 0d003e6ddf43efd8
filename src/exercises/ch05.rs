//! Chapter 5 exercises — cross-attention. Book: chapter 5; code: [`crate::cross`].
//!
//! Check them with `cargo exercise ch05`.

use ndarray::Array2;

use super::CrossShapes;
use crate::nn::Linear;

/// Exercise `ch05_cross_attention_shapes` — the shapes of one cross-attention head.
///
/// The decoder has `tgt_len` tokens, the encoder output `src_len`, both of width `d_model`;
/// the head projects to `d_k` (for queries, keys and values alike). Return the
/// `(rows, columns)` of Q, K, V, the weights and the output (see [`CrossShapes`]).
///
/// Re-read: chapter 5, section "Shapes".
#[allow(unused_variables)]
pub fn cross_attention_shapes(
    tgt_len: usize,
    src_len: usize,
    d_model: usize,
    d_k: usize,
) -> CrossShapes {
    // TODO: which input does each of Q, K, V come from? Then Q·Kᵀ and weights · V.
    todo!()
}

/// Exercise `ch05_cross_attention` — one cross-attention head.
///
/// `decoder_states`: `(tgt_len, d_model)`, `encoder_output`: `(src_len, d_model)`; the three
/// projections are [`Linear`] layers `d_model → d_k` (call `w_q.forward(&x).unwrap()`; they
/// may have a bias). Queries come from the decoder, keys and values from the encoder. Return
/// `(output (tgt_len, d_k), weights (tgt_len, src_len))` of scaled dot-product attention.
///
/// Re-read: chapter 5, section "Queries from the decoder, keys and values from the encoder".
#[allow(unused_variables)]
pub fn cross_attention(
    decoder_states: &Array2<f32>,
    encoder_output: &Array2<f32>,
    w_q: &Linear,
    w_k: &Linear,
    w_v: &Linear,
) -> (Array2<f32>, Array2<f32>) {
    // TODO: project, then attention as in chapter 3 (your `ch03::attention` helps).
    todo!()
}

/// Exercise `ch05_source_padding_mask` — ignore the source's padding.
///
/// `src_ids`: the source token ids `(src_len)`, padded with `pad_id`. Return the mask
/// `(tgt_len, src_len)` for cross-attention, `true` = may attend: every target position may
/// attend to every source token except the padding.
///
/// Re-read: chapter 5, section "Source padding".
#[allow(unused_variables)]
pub fn source_padding_mask(src_ids: &[usize], tgt_len: usize, pad_id: usize) -> Array2<bool> {
    // TODO: one row per target position; column j is allowed unless src_ids[j] is padding.
    todo!()
}
