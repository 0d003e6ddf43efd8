//! Chapter 10 exercises — decoder-only: a GPT. Book: chapter 10; code: [`crate::gpt`]
//! ([`crate::gpt::data::get_batch`], [`crate::gpt::sample::next_token_probabilities`],
//! [`crate::gpt::KvCache`]).
//!
//! Check them with `cargo exercise ch10`. Plain Rust and ndarray: don't call the crate's
//! `gpt` functions, the checks would only tell you the crate is right.

use ndarray::Array1;

/// Exercise `ch10_next_token_pairs` — a training example for next-token prediction.
///
/// `ids`: a text's token ids; `start`: where the window begins; `block_size`: its length T.
/// Return `(x, y)`, both of length T: x is the window, and y holds, at every position t, the
/// token that comes *after* x's token t (the target the model must predict there).
/// `start + block_size < ids.len()` is guaranteed.
///
/// Re-read: chapter 10, section "Predicting the next token".
#[allow(unused_variables)]
pub fn next_token_pairs(
    ids: &[usize],
    start: usize,
    block_size: usize,
) -> (Vec<usize>, Vec<usize>) {
    // TODO: two slices of `ids`.
    todo!()
}

/// Exercise `ch10_temperature_softmax` — the distribution to sample from.
///
/// `logits`: the model's scores `(V)` for the next token; `temperature`: T > 0. Return
/// softmax(logits / T) `(V)`: T < 1 sharpens the distribution, T > 1 flattens it. Logits of
/// 1000 must not overflow.
///
/// Re-read: chapter 10, section "Temperature".
#[allow(unused_variables)]
pub fn temperature_softmax(logits: &Array1<f32>, temperature: f32) -> Array1<f32> {
    // TODO: divide, then a stable softmax (subtract the maximum).
    todo!()
}

/// Exercise `ch10_top_p_filter` — nucleus sampling's cut.
///
/// `probs`: a distribution `(V)` (sums to 1); `top_p`: p in (0, 1]. Keep the most likely
/// tokens, from the most likely down, until the kept probability reaches p (the token that
/// crosses p is kept), set the others to 0 and renormalise so the result sums to 1. Ties are
/// kept in index order (the lower index first).
///
/// Re-read: chapter 10, section "Top-k and top-p".
#[allow(unused_variables)]
pub fn top_p_filter(probs: &Array1<f32>, top_p: f32) -> Array1<f32> {
    // TODO: sort the indices by probability, keep a prefix, renormalise.
    todo!()
}

/// Exercise `ch10_attend_with_cache` — one generation step of one head with a KV cache.
///
/// `q`, `k`, `v`: the new token's query, key and value `(hs)`. `keys` and `values` hold the
/// cached rows of the earlier tokens (`(hs)` each, in order). Append the new key and value
/// to the cache, then return the attention output of the new token over every cached
/// position, itself included: Σᵢ softmax(q·kᵢ/√hs)ᵢ · vᵢ `(hs)`.
///
/// Re-read: chapter 10, section "The KV cache".
#[allow(unused_variables, clippy::ptr_arg)] // the cache grows: a Vec, not a slice
pub fn attend_with_cache(
    q: &Array1<f32>,
    k: &Array1<f32>,
    v: &Array1<f32>,
    keys: &mut Vec<Array1<f32>>,
    values: &mut Vec<Array1<f32>>,
) -> Array1<f32> {
    // TODO: push k and v, then scaled scores, a stable softmax and the weighted sum.
    todo!()
}
