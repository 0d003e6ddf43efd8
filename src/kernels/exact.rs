//! Attention for one head with the plain, exact softmax (chapter 3's): each query row's
//! scores against all its visible keys first, then one maximum, one pass of exponentials
//! and one sum, then P·V. The same register tiles as [`super::fused_attention_head`] do the
//! products; only the softmax differs (no running maximum, no rescaling), and a row's scores
//! are kept whole, `4 · src_len` bytes per query row of the block.

use ndarray::{Array2, ArrayRef2};

use super::exp::exp_fma;
use super::flash::{Block, Head, KEY_COLS};
use super::flash::{block_scores, block_values, dispatch, lane_max, lane_sum};
use crate::error::Result;

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
    Ok(dispatch::<true>(&Head::checked(
        queries, keys, values, causal,
    )?))
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
