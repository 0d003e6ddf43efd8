//! Chapter 7 exercises — the Transformer. Book: chapter 7; code: [`crate::transformer`].
//!
//! Check them with `cargo exercise ch07`. From `ch07_encoder_layer` on you build with the
//! crate's own layers, whose `forward` returns a `Result` (unwrap it):
//! - `layer.self_attn.forward(q, k, v, mask)` ([`crate::multi_head::MultiHeadAttention`])
//!   returns a [`crate::multi_head::MultiHeadOutput`]: its `.output` is the attention's result
//!   `(batch, tgt_len, d_model)`, its `.weights` the per-head weights;
//! - `layer.feed_forward.forward(x)` and `layer.norm1.forward(x)` return an array of x's shape.

use ndarray::{Array1, Array2, Array3};

use crate::masked::Mask;
use crate::transformer::{DecoderLayer, EncoderLayer, Seq2SeqTransformer};

// What your answers will need: `match layer.norm_position { NormPosition::Post => …, … }`,
// and `s![..]` or `Axis` to take the last target position.
#[allow(unused_imports)]
use crate::transformer::NormPosition;
#[allow(unused_imports)]
use ndarray::{Axis, s};

/// Exercise `ch07_layer_norm` — layer normalisation of every row.
///
/// `x`: `(rows, d)`; `gamma`, `beta`: `(d)`. For each row (one token vector): mean μ and
/// **biased** variance σ² (divide by d) over its d entries, then
/// y = (x − μ) / √(σ² + eps) · γ + β, with the `eps` given (not a fixed 1e-5), inside the
/// square root: a constant row has σ² = 0 and becomes β. Returns `(rows, d)`.
///
/// Re-read: chapter 7, section "LayerNorm".
#[allow(unused_variables)]
pub fn layer_norm(
    x: &Array2<f32>,
    gamma: &Array1<f32>,
    beta: &Array1<f32>,
    eps: f32,
) -> Array2<f32> {
    // TODO: per row: mean, variance, normalise, then scale by gamma and shift by beta.
    todo!()
}

/// Exercise `ch07_encoder_layer` — one encoder layer, post-LN or pre-LN.
///
/// `x`: `(batch, seq, d_model)`; `mask` broadcasts to `(batch, seq, seq)`. Two sublayers,
/// self-attention then the feed-forward network, each with a residual connection and a
/// LayerNorm, placed according to `layer.norm_position` ([`NormPosition`]):
/// - `NormPosition::Post` (the paper): x = norm1(x + SelfAttn(x)); x = norm2(x + FFN(x));
/// - `NormPosition::Pre`: x = x + SelfAttn(norm1(x)); x = x + FFN(norm2(x)).
///
/// SelfAttn(h) is `layer.self_attn.forward(&h, &h, &h, mask).unwrap().output`; FFN(h) is
/// `layer.feed_forward.forward(&h).unwrap()`; norm1(h) is `layer.norm1.forward(&h).unwrap()`.
///
/// Returns `(batch, seq, d_model)`. Don't just call `layer.forward`.
///
/// Re-read: chapter 7, section "The encoder layer" (and "Residual connections and LayerNorm").
#[allow(unused_variables)]
pub fn encoder_layer(layer: &EncoderLayer, x: &Array3<f32>, mask: Option<&Mask>) -> Array3<f32> {
    // TODO: match on layer.norm_position; two residual sublayers.
    todo!()
}

/// Exercise `ch07_decoder_layer` — one decoder layer, post-LN or pre-LN.
///
/// `x`: `(batch, tgt_len, d_model)`, `memory` (the encoder output): `(batch, src_len,
/// d_model)`. Three sublayers, each with residual + LayerNorm placed as in `encoder_layer`:
/// 1. masked self-attention `layer.self_attn` over x with `self_mask` (norm1);
/// 2. cross-attention `layer.cross_attn`: queries from x, keys and values from `memory`,
///    with `memory_mask` (norm2): `layer.cross_attn.forward(&h, memory, memory,
///    memory_mask).unwrap().output`;
/// 3. the feed-forward network (norm3).
///
/// Returns `(batch, tgt_len, d_model)`. Don't just call `layer.forward`.
///
/// Re-read: chapter 7, section "The decoder layer".
#[allow(unused_variables)]
pub fn decoder_layer(
    layer: &DecoderLayer,
    x: &Array3<f32>,
    memory: &Array3<f32>,
    self_mask: Option<&Mask>,
    memory_mask: Option<&Mask>,
) -> Array3<f32> {
    // TODO: self-attention, cross-attention, feed-forward; residual + norm around each.
    todo!()
}

/// Exercise `ch07_greedy_step` — one step of greedy decoding.
///
/// `src_ids`: the source sentence `(src_len)`; `tgt_so_far`: the target generated so far,
/// starting with `<bos>` `(t)`. Run the model once and return the id of the most likely next
/// token:
/// - `model.encode(&src)` takes a `(1, src_len)` batch of ids (`Array2<usize>`) and returns
///   `(memory, src_mask)`: the encoder output `(1, src_len, d_model)` and the source padding
///   [`Mask`];
/// - `model.decode(&tgt, &memory, &src_mask)` takes the `(1, t)` target ids and returns the
///   decoder output `(1, t, d_model)`;
/// - `model.generator.forward(&rows)` projects `(…, d_model)` rows to logits
///   `(…, tgt_vocab_size)`.
///
/// (Each returns a `Result`: unwrap it.) Return the argmax of the logits that predict the next
/// token, the first one on ties.
///
/// Re-read: chapter 7, section "Greedy decoding".
#[allow(unused_variables)]
pub fn greedy_step(model: &Seq2SeqTransformer, src_ids: &[usize], tgt_so_far: &[usize]) -> usize {
    // TODO: encode, decode, logits of the right position, argmax.
    todo!()
}
