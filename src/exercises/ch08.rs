//! Chapter 8 exercises — making attention fast. Book: chapter 8; code: [`crate::fast`].
//!
//! Check them with `cargo exercise ch08`. Both work on one query's [`OnlineSoftmax`], the
//! crate's state of an online softmax: the running maximum m (`max`), the running sum l of
//! exp(score − m) (`sum`) and the running weighted sum o of value rows (`acc`). The attention
//! output for the query is o / l ([`OnlineSoftmax::finish`]). Build a new state with
//! `OnlineSoftmax { max, sum, acc }`; don't call [`OnlineSoftmax::push`]: that is
//! `ch08_online_softmax_step` done for you.

use ndarray::Array1;

use crate::fast::OnlineSoftmax;

/// Exercise `ch08_online_softmax_step` — take in one more key.
///
/// `state`: m, l, o `(d_v)` over the keys seen so far ([`OnlineSoftmax::new`] before the
/// first: m = −∞, l = 0, o = zeros); `score`: the new key's scaled score (possibly −∞, a
/// masked key); `value`: its value row `(d_v)`. Return the new state:
///
/// ```text
/// m' = max(m, score)
/// l' = l · e^(m − m') + e^(score − m')
/// o' = o · e^(m − m') + e^(score − m') · value
/// ```
///
/// A masked key (score = −∞) leaves the state unchanged; no NaN, even before the first key.
///
/// Re-read: chapter 8, section "Tiling and the online softmax".
#[allow(unused_variables)]
pub fn online_softmax_step(
    state: &OnlineSoftmax,
    score: f32,
    value: &Array1<f32>,
) -> OnlineSoftmax {
    // TODO: new maximum, rescale what you had, add the new key's weight and weighted value.
    todo!()
}

/// Exercise `ch08_merge_partial_softmax` — merge two blocks of keys, then finish.
///
/// `a` and `b`: the states over two disjoint blocks of keys for the same query (FlashAttention
/// merges tiles like this; split-K decoding merges the blocks that different threads
/// computed). Return `(merged, output)`: the state over all the keys of both blocks,
///
/// ```text
/// m = max(m_a, m_b)
/// l = l_a · e^(m_a − m) + l_b · e^(m_b − m)
/// o = o_a · e^(m_a − m) + o_b · e^(m_b − m)
/// ```
///
/// and the attention output o / l `(d_v)` (zeros when l = 0: every key masked). Either block
/// may be empty (m = −∞, l = 0), even both: no NaN.
///
/// Re-read: chapter 8, section "Tiling and the online softmax".
#[allow(unused_variables)]
pub fn merge_partial_softmax(a: &OnlineSoftmax, b: &OnlineSoftmax) -> (OnlineSoftmax, Array1<f32>) {
    // TODO: bring both blocks to the common maximum, add them, then divide o by l.
    todo!()
}
