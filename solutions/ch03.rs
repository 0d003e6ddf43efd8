//! Reference solutions — chapter 3, self-attention (swapped in by the `solutions` feature).
//!
//! [`wrong`] holds realistic mistakes; the exercise checks must reject every one of them.

use ndarray::{Array2, Axis};

/// `ch03_project_qkv`: x · Wᵀ for each of the three PyTorch-layout weights.
pub fn project_qkv(
    x: &Array2<f32>,
    w_q: &Array2<f32>,
    w_k: &Array2<f32>,
    w_v: &Array2<f32>,
) -> (Array2<f32>, Array2<f32>, Array2<f32>) {
    // W is (d_out, d_model), so x (seq, d_model) · Wᵀ (d_model, d_out) = (seq, d_out).
    (x.dot(&w_q.t()), x.dot(&w_k.t()), x.dot(&w_v.t()))
}

/// `ch03_scaled_scores`: Q·Kᵀ / √d_k.
pub fn scaled_scores(q: &Array2<f32>, k: &Array2<f32>) -> Array2<f32> {
    let d_k = q.ncols() as f32;
    q.dot(&k.t()) / d_k.sqrt() // (tgt_len, d_k) · (d_k, src_len) = (tgt_len, src_len)
}

/// `ch03_softmax_rows`: softmax of each row, shifted by the row maximum; a fully masked row
/// (all −∞) gives zeros.
pub fn softmax_rows(scores: &Array2<f32>) -> Array2<f32> {
    let mut out = scores.clone();
    for mut row in out.rows_mut() {
        let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        if max == f32::NEG_INFINITY {
            row.fill(0.0); // every key masked: −∞ − (−∞) would be NaN
            continue;
        }
        row.mapv_inplace(|v| (v - max).exp()); // largest entry → exp(0) = 1, no overflow
        let sum = row.sum();
        row /= sum;
    }
    out
}

/// `ch03_attention`: weights = softmax(Q·Kᵀ/√d_k), output = weights · V.
pub fn attention(q: &Array2<f32>, k: &Array2<f32>, v: &Array2<f32>) -> (Array2<f32>, Array2<f32>) {
    let weights = softmax_rows(&scaled_scores(q, k)); // (tgt_len, src_len), rows sum to 1
    let output = weights.dot(v); // (tgt_len, d_v): row i = Σⱼ weights[i, j] · v[j]
    (output, weights)
}

/// Realistic wrong answers, each rejected by its exercise's check.
pub mod wrong {
    use super::*;

    /// `ch03_project_qkv`, mistake: x · W without the transpose (PyTorch stores W as (out, in)).
    pub fn weight_not_transposed(
        x: &Array2<f32>,
        w_q: &Array2<f32>,
        w_k: &Array2<f32>,
        w_v: &Array2<f32>,
    ) -> (Array2<f32>, Array2<f32>, Array2<f32>) {
        (x.dot(w_q), x.dot(w_k), x.dot(w_v))
    }

    /// `ch03_project_qkv`, mistake: keys from W_v and values from W_k (the two swapped).
    pub fn keys_and_values_swapped(
        x: &Array2<f32>,
        w_q: &Array2<f32>,
        w_k: &Array2<f32>,
        w_v: &Array2<f32>,
    ) -> (Array2<f32>, Array2<f32>, Array2<f32>) {
        project_qkv(x, w_q, w_v, w_k)
    }

    /// `ch03_scaled_scores`, mistake: forgets the 1/√d_k scaling.
    pub fn missing_sqrt_scaling(q: &Array2<f32>, k: &Array2<f32>) -> Array2<f32> {
        q.dot(&k.t())
    }

    /// `ch03_scaled_scores`, mistake: divides by d_k instead of √d_k.
    pub fn divides_by_d_k(q: &Array2<f32>, k: &Array2<f32>) -> Array2<f32> {
        q.dot(&k.t()) / q.ncols() as f32
    }

    /// `ch03_scaled_scores`, mistake: K not transposed (Kᵀ·Q instead of Q·Kᵀ would be another variant).
    pub fn k_not_transposed(q: &Array2<f32>, k: &Array2<f32>) -> Array2<f32> {
        q.dot(k) / (q.ncols() as f32).sqrt()
    }

    /// `ch03_softmax_rows`, mistake: normalises each column instead of each row.
    pub fn over_columns(scores: &Array2<f32>) -> Array2<f32> {
        let mut out = scores.clone();
        for mut column in out.axis_iter_mut(Axis(1)) {
            let max = column.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            column.mapv_inplace(|v| (v - max).exp());
            let sum = column.sum();
            column /= sum;
        }
        out
    }

    /// `ch03_softmax_rows`, mistake: exp without subtracting the maximum: overflows to ∞/∞ = NaN.
    pub fn not_stable(scores: &Array2<f32>) -> Array2<f32> {
        let mut out = scores.mapv(f32::exp);
        for mut row in out.rows_mut() {
            let sum = row.sum();
            row /= sum;
        }
        out
    }

    /// `ch03_softmax_rows`, mistake: the stable recipe without a case for a fully masked row:
    /// its maximum is −∞ and −∞ − (−∞) = NaN.
    pub fn nan_for_fully_masked_row(scores: &Array2<f32>) -> Array2<f32> {
        let mut out = scores.clone();
        for mut row in out.rows_mut() {
            let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            row.mapv_inplace(|v| (v - max).exp());
            let sum = row.sum();
            row /= sum;
        }
        out
    }

    /// `ch03_softmax_rows`, mistake: subtracts the maximum of the whole matrix instead of each
    /// row's: a row far below it underflows to 0/0 = NaN.
    pub fn global_max(scores: &Array2<f32>) -> Array2<f32> {
        let max = scores.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let mut out = scores.mapv(|v| (v - max).exp());
        for mut row in out.rows_mut() {
            let sum = row.sum();
            row /= sum;
        }
        out
    }

    /// `ch03_attention`, mistake: an inlined softmax without subtracting the row maximum (exp
    /// overflows on large scores).
    pub fn unstable_softmax(
        q: &Array2<f32>,
        k: &Array2<f32>,
        v: &Array2<f32>,
    ) -> (Array2<f32>, Array2<f32>) {
        let mut weights = scaled_scores(q, k).mapv(f32::exp);
        for mut row in weights.rows_mut() {
            let sum = row.sum();
            row /= sum;
        }
        (weights.dot(v), weights)
    }

    /// `ch03_attention`, mistake: softmax over the wrong axis (columns sum to 1, not rows).
    pub fn softmax_over_columns(
        q: &Array2<f32>,
        k: &Array2<f32>,
        v: &Array2<f32>,
    ) -> (Array2<f32>, Array2<f32>) {
        let weights = over_columns(&scaled_scores(q, k));
        (weights.dot(v), weights)
    }

    /// `ch03_attention`, mistake: forgets to scale the scores by 1/√d_k before the softmax.
    pub fn missing_scaling(
        q: &Array2<f32>,
        k: &Array2<f32>,
        v: &Array2<f32>,
    ) -> (Array2<f32>, Array2<f32>) {
        let weights = softmax_rows(&q.dot(&k.t()));
        (weights.dot(v), weights)
    }
}
