//! Batched attention's shared plumbing: run every (batch item, head) pair in parallel, and
//! check the shapes of per-head inputs once for all of them.

use std::mem::MaybeUninit;

use ndarray::{Array2, Array4, ArrayRef4};
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

/// Where one head's result goes: its (not yet written) slice of an output, and the result's
/// `(rows, cols)`.
type Destination<'a> = (&'a mut [MaybeUninit<f32>], (usize, usize));

/// Like [`map_heads_in_parallel`], for attentions that give `N` matrices per head (an
/// output and its weights, or three gradients): returns `N` arrays `(batch, heads, rows,
/// cols)`, one per `sizes[n] = (rows, cols)`, where `attention(b, head)` runs as its own rayon
/// task and writes its results straight into place `[b, head]`, on that task's thread.
///
/// Collecting the heads' results first and copying them in one by one afterwards would leave
/// one core copying (and first touching the freshly allocated pages of) every head's
/// matrices while the other waits; for multi-head attention's `(batch, heads, n, n)` weights
/// that is tens of megabytes. For the same reason the outputs are not zeroed first: each
/// entry is written once, by the head it belongs to.
///
/// `attention` must return `N` matrices of the sizes in `sizes`; both are the crate's own
/// code, so a mismatch panics as the bug it would be.
pub fn heads_in_parallel<const N: usize>(
    (batch, heads): (usize, usize),
    sizes: [(usize, usize); N],
    attention: impl Fn(usize, usize) -> [Array2<f32>; N] + Sync,
) -> [Array4<f32>; N] {
    let mut outputs = sizes.map(|(rows, cols)| Array4::uninit((batch, heads, rows, cols)));
    // Every head's destination: one slice per output.
    let mut per_head: Vec<Vec<Destination>> = (0..batch * heads).map(|_| Vec::new()).collect();
    for (out, (rows, cols)) in outputs.iter_mut().zip(sizes) {
        let all = out.as_slice_mut().expect("standard layout");
        if rows * cols == 0 {
            per_head
                .iter_mut()
                .for_each(|d| d.push((&mut [][..], (rows, cols))));
        } else {
            for (dest, chunk) in per_head.iter_mut().zip(all.chunks_mut(rows * cols)) {
                dest.push((chunk, (rows, cols)));
            }
        }
    }
    per_head
        .into_par_iter()
        .enumerate()
        .for_each(|(i, destinations)| {
            let results = attention(i / heads, i % heads);
            for ((dest, shape), result) in destinations.into_iter().zip(results) {
                assert_eq!(
                    result.dim(),
                    shape,
                    "a head's result has its output's shape"
                );
                let values = result.as_standard_layout(); // (rows, cols), row-major
                let values = values.as_slice().expect("standard layout");
                for (d, &x) in dest.iter_mut().zip(values) {
                    d.write(x);
                }
            }
        });
    // SAFETY: each output's `batch · heads` chunks of `rows · cols` entries cover it, and
    // every chunk was written in full above (its head's result has exactly its shape).
    outputs.map(|out| unsafe { out.assume_init() })
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

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::ShapeBuilder;

    /// Every entry of every output is the one its head returned: standard and transposed
    /// results, an empty output, one head or several batch items.
    #[test]
    fn every_head_writes_its_own_entries() {
        let value = |b: usize, h: usize, n: usize, (r, c): (usize, usize)| {
            (1000 * b + 100 * h + 10 * n + 3 * r + c) as f32
        };
        for (batch, heads) in [(1, 1), (2, 3), (0, 4)] {
            let sizes = [(2, 3), (0, 4), (4, 2)];
            let outputs = heads_in_parallel((batch, heads), sizes, |b, h| {
                let [a, e, t] = [0, 1, 2].map(|n| {
                    let (rows, cols) = sizes[n];
                    // The last one column-major: copied in row-major order all the same.
                    let shape = (rows, cols).set_f(n == 2);
                    Array2::from_shape_fn(shape, |rc| value(b, h, n, rc))
                });
                assert!(!t.is_standard_layout());
                [a, e, t]
            });
            for (n, out) in outputs.iter().enumerate() {
                let (rows, cols) = sizes[n];
                let want = Array4::from_shape_fn((batch, heads, rows, cols), |(b, h, r, c)| {
                    value(b, h, n, (r, c))
                });
                assert_eq!(out, &want, "output {n}, batch {batch}, heads {heads}");
            }
        }
    }
}
