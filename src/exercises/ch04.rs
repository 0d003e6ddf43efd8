//! Chapter 4 exercises — masked self-attention. Book: chapter 4; code: [`crate::masked`].
//!
//! Check them with `cargo exercise ch04`. Convention (the crate's): `true` = may attend.

use ndarray::Array2;

/// Exercise `ch04_causal_mask` — the causal (look-ahead) mask for `len` tokens.
///
/// `(len, len)` booleans, `true` = may attend: query i may attend to keys 0..=i (itself and
/// the past), never to the future. For len = 3:
///
/// ```text
/// true  false false
/// true  true  false
/// true  true  true
/// ```
///
/// Re-read: chapter 4, section "The causal mask".
#[allow(unused_variables)]
pub fn causal_mask(len: usize) -> Array2<bool> {
    // TODO: entry [query, key] is true when the key is not in the query's future.
    todo!()
}

/// Exercise `ch04_apply_mask` — add the mask to the scores.
///
/// `scores` and `allowed` are both `(tgt_len, src_len)`. Return the scores with every entry
/// whose `allowed` is `false` replaced by −∞ (`f32::NEG_INFINITY`), the others unchanged, so
/// softmax gives masked keys exactly 0 weight.
///
/// Re-read: chapter 4, section "Applying the mask".
#[allow(unused_variables)]
pub fn apply_mask(scores: &Array2<f32>, allowed: &Array2<bool>) -> Array2<f32> {
    // TODO: keep allowed scores, set the others to minus infinity.
    todo!()
}

/// Exercise `ch04_masked_attention` — attention with a mask.
///
/// `q`: `(tgt_len, d_k)`, `k`: `(src_len, d_k)`, `v`: `(src_len, d_v)`, `allowed`:
/// `(tgt_len, src_len)`. Return `(output, weights)` as in `ch03_attention`, except that the
/// mask is applied to the scaled scores **before** the softmax: masked entries are exactly 0
/// and each row of `weights` still sums to 1, except a fully masked row (a query that may
/// attend to no key), which is all zeros, so its output row is zeros too, never NaN (chapter
/// 4, "A fully masked row"). (Reuse your `scaled_scores`, `softmax_rows` and `apply_mask`.)
///
/// Re-read: chapter 4, section "Masked attention".
#[allow(unused_variables)]
pub fn masked_attention(
    q: &Array2<f32>,
    k: &Array2<f32>,
    v: &Array2<f32>,
    allowed: &Array2<bool>,
) -> (Array2<f32>, Array2<f32>) {
    // TODO: scores → mask → softmax → weighted sum of the values.
    todo!()
}
