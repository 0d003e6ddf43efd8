//! Multi-query and grouped-query attention (Shazeer 2019; Ainslie et al. 2023): fewer key
//! and value heads than query heads, so the KV cache shrinks by the same factor.

use ndarray::{Array2, Array4, ArrayRef4, s};

use crate::error::{Error, Result};
use crate::kernels::heads_in_parallel;
use crate::self_attention::attend;

// ANCHOR: gqa
/// Attention with `n_head` query heads sharing `n_kv_head` key/value heads:
/// `q (batch, n_head, seq, hs)`, `k`, `v (batch, n_kv_head, src, hs)` → `(batch, n_head,
/// seq, hs)`. Query head h reads key/value head h / (n_head / n_kv_head): consecutive query
/// heads form a group around one K, V. `n_kv_head = n_head` is multi-head attention,
/// `n_kv_head = 1` multi-query attention. `causal` lets query i see keys 0..=i (seq = src).
pub fn grouped_query_attention(
    q: &ArrayRef4<f32>,
    k: &ArrayRef4<f32>,
    v: &ArrayRef4<f32>,
    causal: bool,
) -> Result<Array4<f32>> {
    let (batch, n_head, seq, hs) = q.dim();
    let (kb, n_kv_head, src, khs) = k.dim();
    if kb != batch || khs != hs || n_kv_head == 0 || n_head % n_kv_head != 0 {
        let want = format!("({batch}, a divisor of n_head = {n_head}, src, {hs})");
        return Err(Error::shape(
            "k (batch, n_kv_head, src, hs)",
            want,
            k.shape(),
        ));
    }
    if v.shape() != k.shape() {
        return Err(Error::shape("v", crate::fmt_shape(k.shape()), v.shape()));
    }
    if causal && src != seq {
        let want = format!("src = seq = {seq} with a causal mask");
        return Err(Error::shape(
            "k (batch, n_kv_head, src, hs)",
            want,
            k.shape(),
        ));
    }
    let group = n_head / n_kv_head; // query heads per key/value head
    let allowed = causal.then(|| Array2::from_shape_fn((seq, src), |(i, j)| j <= i));
    let [out] = heads_in_parallel((batch, n_head), [(seq, hs)], |b, h| {
        let kv = s![b, h / group, .., ..]; // the group's shared K, V
        let mask = allowed.as_ref().map(|a| a.view());
        [attend(&q.slice(s![b, h, .., ..]), &k.slice(kv), &v.slice(kv), mask).output]
    }); // (batch, n_head, seq, hs)
    Ok(out)
}
// ANCHOR_END: gqa

/// Bytes a KV cache of float32 keys and values takes: 2 (K and V) · layers · kv heads · head
/// size · positions · batch · 4.
pub fn kv_cache_bytes(
    n_layer: usize,
    n_kv_head: usize,
    head_size: usize,
    positions: usize,
    batch: usize,
) -> usize {
    2 * n_layer * n_kv_head * head_size * positions * batch * std::mem::size_of::<f32>()
}
