//! Attention for one head with the plain, exact softmax (chapter 3's): each query row's
//! scores against all its visible keys first, then one maximum, one pass of exponentials
//! and one sum, then P·V. The same register tiles as [`super::fused_attention_head`] do the
//! products; only the softmax differs (no running maximum, no rescaling), and a row's scores
//! are kept whole, `4 · src_len` bytes per query row of the block.

use ndarray::{Array2, ArrayRef2, ArrayView2};

use super::exp::exp_fma;
use super::flash::{Block, Head, KEY_COLS, PANEL};
use super::flash::{block_scores, block_values, dispatch, lane_max, lane_sum};
use crate::error::{Error, Result};

/// softmax(Q·Kᵀ/√d_k)·V for one head with the exact softmax, what `fast::Kernel::Plain` runs
/// (chapter 8's `plain_attention` with its products as register tiles): `queries (tgt_len,
/// d_k)`, `keys (src_len, d_k)`, `values (src_len, d_v)` → `(tgt_len, d_v)`; with `causal`,
/// query i sees keys 0..=i. Same errors and the same bits on every x86-64 CPU as
/// [`super::fused_attention_head`].
pub fn exact_attention_head(
    queries: &ArrayRef2<f32>,
    keys: &ArrayRef2<f32>,
    values: &ArrayRef2<f32>,
    causal: bool,
) -> Result<Array2<f32>> {
    Ok(dispatch::<true>(
        &Head::checked(queries, keys, values, causal)?,
        None,
    ))
}

/// [`exact_attention_head`] under any mask, returning the softmax weights `(tgt_len,
/// src_len)` too, as chapter 3's attention does: `allowed (tgt_len, src_len)`, `true` = may
/// attend (`None`: every key). A row whose keys are all masked gives zero weights and a zero
/// output; a NaN score gives a NaN row. Errors name `keys`, `values` or `allowed`.
///
/// What each head of [`crate::multi_head::MultiHeadAttention::forward`] runs when its shapes
/// fill the register tiles ([`tiles_fit`]): the scores never leave the L2 cache before they
/// are weights, and nothing is packed.
pub fn exact_attention_with_weights(
    queries: &ArrayRef2<f32>,
    keys: &ArrayRef2<f32>,
    values: &ArrayRef2<f32>,
    allowed: Option<ArrayView2<bool>>,
) -> Result<(Array2<f32>, Array2<f32>)> {
    let head = masked_head(queries, keys, values, allowed)?;
    let mut weights = Array2::zeros((head.tgt_len, head.src_len)); // (tgt_len, src_len)
    let slice = weights.as_slice_mut().expect("standard layout");
    let output = dispatch::<true>(&head, Some(slice)); // (tgt_len, d_v)
    Ok((output, weights))
}

/// [`exact_attention_with_weights`] without the weights: the same output, bit for bit, for
/// [`crate::multi_head::MultiHeadAttention::output`] (a Transformer layer discards them).
pub fn exact_attention_masked(
    queries: &ArrayRef2<f32>,
    keys: &ArrayRef2<f32>,
    values: &ArrayRef2<f32>,
    allowed: Option<ArrayView2<bool>>,
) -> Result<Array2<f32>> {
    Ok(dispatch::<true>(
        &masked_head(queries, keys, values, allowed)?,
        None,
    ))
}

/// One head's inputs with the mask `allowed (tgt_len, src_len)`, if any, after the checks.
fn masked_head(
    queries: &ArrayRef2<f32>,
    keys: &ArrayRef2<f32>,
    values: &ArrayRef2<f32>,
    allowed: Option<ArrayView2<bool>>,
) -> Result<Head> {
    let mut head = Head::checked(queries, keys, values, false)?;
    let (tgt_len, src_len) = (head.tgt_len, head.src_len);
    if let Some(allowed) = allowed {
        if allowed.dim() != (tgt_len, src_len) {
            let want = format!("({tgt_len}, {src_len}): (tgt_len, src_len) of `queries`, `keys`");
            return Err(Error::shape("allowed", want, allowed.shape()));
        }
        head.allowed = Some(allowed.iter().copied().collect()); // row-major
    }
    Ok(head)
}

/// Whether a head of `src_len` keys and values `d_v` wide fills the register tiles of
/// [`exact_attention_with_weights`] (at least one panel of keys; whole tiles across d_v on
/// every instruction set), so that it beats two general matrix products. A choice made on the
/// shapes alone, so the same on every CPU.
pub fn tiles_fit(src_len: usize, d_v: usize) -> bool {
    src_len >= PANEL && d_v.is_multiple_of(64)
}

/// Query rows per block: their whole rows of scores, `16 · 4 · src_len` bytes (128 KiB at
/// n = 2048), stay in the L2 cache between the scores, the softmax and P·V.
pub(super) const EXACT_ROWS: usize = 16;

/// One block of query rows `(q_start, rows)` against keys `0..key_limit`: every key block's
/// scores into `scores` (block b at `b · EXACT_ROWS · KEY_COLS`), then per row the exact
/// softmax (`sum` gets its denominator), then `acc += P·V` block by block.
#[inline(always)]
pub(super) fn exact_rows<const W: usize>(
    head: &Head,
    (q_start, rows): (usize, usize),
    key_limit: usize,
    scores: &mut [f32],
    sum: &mut [f32],
    acc: &mut [f32],
) {
    const BLOCK: usize = EXACT_ROWS * KEY_COLS;
    // The key blocks, numbered: made afresh for each pass (no allocation per query block).
    let blocks = || {
        (0..key_limit)
            .step_by(KEY_COLS)
            .map(move |k_start| Block {
                q_start,
                rows,
                k_start,
                cols: KEY_COLS.min(key_limit - k_start),
            })
            .enumerate()
    };
    for (b, block) in blocks() {
        block_scores::<W>(head, &block, &mut scores[b * BLOCK..]);
    }
    for (i, sum) in sum.iter_mut().enumerate().take(rows) {
        // Row i's scores in block b.
        let at = |b: usize, block: &Block| {
            b * BLOCK + i * KEY_COLS..b * BLOCK + i * KEY_COLS + block.cols
        };
        let max = blocks()
            .map(|(b, block)| lane_max(&scores[at(b, &block)]))
            .fold(f32::NEG_INFINITY, f32::max); // NaNs skipped
        *sum = 0.0;
        for (b, block) in blocks() {
            let row = &mut scores[at(b, &block)];
            if max == f32::NEG_INFINITY {
                if row.iter().any(|x| x.is_nan()) {
                    *sum = f32::NAN; // a NaN score, not a masked one: NaN output
                }
                row.fill(0.0); // every key masked: the row stays zero
            } else {
                for s in row.iter_mut() {
                    *s = exp_fma(*s - max); // masked keys: exp(−∞) = 0
                }
                *sum += lane_sum(row);
            }
        }
    }
    for (b, block) in blocks() {
        block_values::<W>(head, &block, &scores[b * BLOCK..], acc);
    }
}

/// The softmax weights exp(s − max) / sum of the block's rows into `weights` (row-major
/// `(tgt_len, src_len)`, zeros): keys from `key_limit` on keep their zeros, and so does a row
/// whose keys are all masked (`sum` = 0).
pub(super) fn write_weights(
    head: &Head,
    (q_start, rows): (usize, usize),
    key_limit: usize,
    scores: &[f32],
    sum: &[f32],
    weights: &mut [f32],
) {
    const BLOCK: usize = EXACT_ROWS * KEY_COLS;
    for (i, &sum) in sum.iter().enumerate().take(rows) {
        if sum == 0.0 {
            continue;
        }
        let row = &mut weights[(q_start + i) * head.src_len..][..key_limit];
        for (b, chunk) in row.chunks_mut(KEY_COLS).enumerate() {
            let exps = &scores[b * BLOCK + i * KEY_COLS..][..chunk.len()];
            for (w, &e) in chunk.iter_mut().zip(exps) {
                *w = e / sum;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{init::uniform, seeded_rng};

    #[test]
    fn a_nan_score_gives_a_nan_row_and_bad_shapes_an_error() {
        let mut rng = seeded_rng(6);
        let mut q: Array2<f32> = uniform((70, 8), 1.0, &mut rng);
        let k: Array2<f32> = uniform((300, 8), 1.0, &mut rng);
        let v: Array2<f32> = uniform((300, 16), 1.0, &mut rng);
        q[[66, 2]] = f32::NAN;
        let out = exact_attention_head(&q, &k, &v, true).unwrap();
        assert!(out.row(66).iter().all(|x| x.is_nan()), "row 66 is NaN");
        assert!(out.row(65).iter().all(|x| x.is_finite()), "row 65 is not");
        assert!((&out.row(0) - &v.row(0)).iter().all(|d| d.abs() <= 1e-6)); // sees key 0 only
        let msg = exact_attention_head(&q, &k.t(), &v, false)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`keys`"), "{msg}");
    }
}
