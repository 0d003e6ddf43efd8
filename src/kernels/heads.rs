//! Batched attention's shared plumbing: run every (batch item, head) pair in parallel, and
//! check the shapes of per-head inputs once for all of them.

use ndarray::ArrayRef4;
use rayon::prelude::*;

use crate::error::{Dim, Result, check_shape};

/// Calls `attention(b, head)` for every batch item `b` and head, each as its own rayon
/// task (one per core at a time), and returns `((b, head), result)` in (batch, head) order.
///
/// Heads and batch items are independent attentions: the easy parallelism. Shared by
/// [`crate::fast::attention_heads`] and [`crate::multi_head::MultiHeadAttention::forward`].
pub fn map_heads_in_parallel<T: Send>(
    batch: usize,
    heads: usize,
    attention: impl Fn(usize, usize) -> T + Sync,
) -> Vec<((usize, usize), T)> {
    (0..batch * heads)
        .into_par_iter()
        .map(|i| {
            let (b, head) = (i / heads, i % heads);
            ((b, head), attention(b, head))
        })
        .collect()
}

/// Checks `queries (batch, heads, tgt_len, d_k)`, `keys (batch, heads, src_len, d_k)` and
/// `values (batch, heads, src_len, d_v)`; returns `(batch, heads, tgt_len, src_len)`.
pub fn check_batched_heads(
    queries: &ArrayRef4<f32>,
    keys: &ArrayRef4<f32>,
    values: &ArrayRef4<f32>,
) -> Result<(usize, usize, usize, usize)> {
    let q = queries.shape();
    let any = [
        Dim::Any("batch"),
        Dim::Any("heads"),
        Dim::Any("tgt_len"),
        Dim::Any("d_k"),
    ];
    check_shape("queries", q, &any, "")?;
    let k_dims = [
        Dim::Is(q[0]),
        Dim::Is(q[1]),
        Dim::Any("src_len"),
        Dim::Is(q[3]),
    ];
    check_shape(
        "keys",
        keys.shape(),
        &k_dims,
        "batch, heads and d_k from `queries`",
    )?;
    let src_len = keys.shape()[2];
    let v_dims = [
        Dim::Is(q[0]),
        Dim::Is(q[1]),
        Dim::Is(src_len),
        Dim::Any("d_v"),
    ];
    check_shape(
        "values",
        values.shape(),
        &v_dims,
        "batch, heads from `queries`, src_len from `keys`",
    )?;
    Ok((q[0], q[1], q[2], src_len))
}
