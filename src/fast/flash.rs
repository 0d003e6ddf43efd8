//! Memory-efficient attention: FlashAttention's tiling with an online softmax, on the CPU.
//!
//! Plain attention materialises the `(tgt_len, src_len)` score matrix: 4 bytes × n² per head,
//! 1 GB at n = 16384. This version walks over the keys in blocks and keeps, for every query,
//! only a running maximum `m`, a running sum `l` of exponentials and a running output `o`.
//! When a new block raises the maximum from `m` to `m'`, everything accumulated so far is
//! rescaled by `exp(m − m')`: the result is exactly softmax(QKᵀ/√d_k)·V, in O(seq · d) memory.

use ndarray::{Array1, Array2, ArrayRef2, Axis, s};

use crate::backend::matmul;
use crate::error::Result;
use crate::kernels::exp_in_place;
use crate::self_attention::check_qkv;

/// Keys per block: the block's scores `(block_q, KEY_BLOCK)` stay in cache.
pub const KEY_BLOCK: usize = 128;
/// Queries per block.
pub const QUERY_BLOCK: usize = 64;

// ANCHOR: online_softmax
/// Running state of an online softmax for one query row: the maximum seen so far, the sum of
/// `exp(score − max)` so far and the matching weighted sum of value rows.
#[derive(Debug, Clone)]
pub struct OnlineSoftmax {
    /// Largest score seen so far (−∞ before any key).
    pub max: f32,
    /// Σ exp(score − max) over the keys seen so far.
    pub sum: f32,
    /// Σ exp(score − max) · value over the keys seen so far, `(d_v)`.
    pub acc: Array1<f32>,
}

impl OnlineSoftmax {
    /// The state before any key, for values of size `d_v`.
    pub fn new(d_v: usize) -> Self {
        OnlineSoftmax {
            max: f32::NEG_INFINITY,
            sum: 0.0,
            acc: Array1::zeros(d_v),
        }
    }

    /// Takes in one key: its (scaled, possibly −∞) score and its value row `(d_v)`.
    pub fn push(&mut self, score: f32, value: ndarray::ArrayView1<f32>) {
        if score == f32::NEG_INFINITY {
            return; // a masked key contributes nothing
        }
        let new_max = self.max.max(score);
        let rescale = (self.max - new_max).exp(); // shrink what we had, exp(−∞) = 0 at first
        let weight = (score - new_max).exp();
        self.sum = self.sum * rescale + weight;
        self.acc
            .zip_mut_with(&value, |a, &v| *a = *a * rescale + weight * v);
        self.max = new_max;
    }

    /// The attention output for this query: acc / sum, or zeros if every key was masked.
    pub fn finish(&self) -> Array1<f32> {
        if self.sum == 0.0 {
            Array1::zeros(self.acc.len())
        } else {
            &self.acc / self.sum
        }
    }
}
// ANCHOR_END: online_softmax

// ANCHOR: online_merge
impl OnlineSoftmax {
    /// The state over the keys of `self` and `other` together: two disjoint blocks of keys
    /// for the same query, each summarised relative to its own maximum, brought to the
    /// common maximum m = max(m_a, m_b) (each block's ℓ and o times e^(m_block − m)) and
    /// added. An empty block (m = −∞, ℓ = 0) contributes nothing.
    pub fn merge(&self, other: &OnlineSoftmax) -> OnlineSoftmax {
        let max = self.max.max(other.max);
        if max == f32::NEG_INFINITY {
            return OnlineSoftmax::new(self.acc.len()); // both empty: e^(−∞ − (−∞)) is NaN
        }
        let (a, b) = ((self.max - max).exp(), (other.max - max).exp()); // rescale factors ≤ 1
        OnlineSoftmax {
            max,
            sum: self.sum * a + other.sum * b,
            acc: &self.acc * a + &other.acc * b,
        }
    }
}
// ANCHOR_END: online_merge

// ANCHOR: flash_attention
/// softmax(Q·Kᵀ/√d_k + M)·V for one sequence without materialising the score matrix.
///
/// `queries` `(tgt_len, d_k)`, `keys` `(src_len, d_k)`, `values` `(src_len, d_v)`; with
/// `causal`, query i sees keys 0..=i (the mask of [`crate::masked::Mask::causal`]). Returns
/// the output `(tgt_len, d_v)`; the weights are never formed. Equal to [`crate::self_attention::scaled_dot_product_attention`] up to float
/// rounding; a fully masked row gives zeros, as there.
pub fn flash_attention(
    queries: &ArrayRef2<f32>,
    keys: &ArrayRef2<f32>,
    values: &ArrayRef2<f32>,
    causal: bool,
) -> Result<Array2<f32>> {
    let (tgt_len, src_len) = check_qkv(queries, keys, values)?;
    let d_k = queries.ncols();
    let d_v = values.ncols();
    let scale = 1.0 / (d_k as f32).sqrt();
    let mut output = Array2::zeros((tgt_len, d_v)); // (tgt_len, d_v)

    for q_start in (0..tgt_len).step_by(QUERY_BLOCK) {
        let q_end = (q_start + QUERY_BLOCK).min(tgt_len);
        // Scaled once here rather than every score of every key block.
        let q_block = &queries.slice(s![q_start..q_end, ..]) * scale; // (bq, d_k), ·1/√d_k
        let rows = q_end - q_start;
        let mut max = Array1::from_elem(rows, f32::NEG_INFINITY); // running max per query
        let mut sum = Array1::<f32>::zeros(rows); // running Σ exp(score − max)
        let mut acc = Array2::<f32>::zeros((rows, d_v)); // running Σ exp(score − max)·v
        // With a causal mask, keys after the block's last query are never visible.
        let key_limit = if causal { q_end.min(src_len) } else { src_len };
        for k_start in (0..key_limit).step_by(KEY_BLOCK) {
            let k_end = (k_start + KEY_BLOCK).min(key_limit);
            let k_block = keys.slice(s![k_start..k_end, ..]); // (bk, d_k)
            let v_block = values.slice(s![k_start..k_end, ..]); // (bk, d_v)
            let mut scores = matmul(&q_block, &k_block.t()); // (bq, bk), already scaled
            if causal {
                for ((i, j), score) in scores.indexed_iter_mut() {
                    if k_start + j > q_start + i {
                        *score = f32::NEG_INFINITY;
                    }
                }
            }
            for (i, mut row) in scores.axis_iter_mut(Axis(0)).enumerate() {
                let block_max = row.fold(f32::NEG_INFINITY, |m, &x| m.max(x)); // skips NaN
                let new_max = max[i].max(block_max);
                if new_max == f32::NEG_INFINITY {
                    if row.iter().any(|x| x.is_nan()) {
                        sum[i] = f32::NAN; // a NaN score, not a masked one: NaN output
                    }
                    row.fill(0.0); // every key so far is masked for this query
                    continue;
                }
                let rescale = (max[i] - new_max).exp();
                row.mapv_inplace(|x| x - new_max);
                exp_in_place(&mut row); // masked keys: exp(−∞) = 0
                sum[i] = sum[i] * rescale + row.sum();
                acc.row_mut(i).mapv_inplace(|a| a * rescale);
                max[i] = new_max;
            }
            acc += &matmul(&scores, &v_block); // (bq, bk)·(bk, d_v): add this block's values
        }
        for (i, mut out_row) in output
            .slice_mut(s![q_start..q_end, ..])
            .axis_iter_mut(Axis(0))
            .enumerate()
        {
            // sum = 0: every key masked, the output stays zero; NaN (a NaN or +∞ score)
            // propagates, as in the plain kernel.
            if sum[i] > 0.0 || sum[i].is_nan() {
                out_row.assign(&(&acc.row(i) / sum[i]));
            }
        }
    }
    Ok(output)
}
// ANCHOR_END: flash_attention
