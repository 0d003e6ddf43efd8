//! Reference solutions — chapter 4, masked self-attention (swapped in by the `solutions`
//! feature).
//!
//! [`wrong`] holds realistic mistakes; the exercise checks must reject every one of them.

use ndarray::{Array2, Zip};

use super::ch03::{scaled_scores, softmax_rows};

/// `ch04_causal_mask`: query i may attend to keys 0..=i.
pub fn causal_mask(len: usize) -> Array2<bool> {
    Array2::from_shape_fn((len, len), |(query, key)| key <= query)
}

/// `ch04_apply_mask`: masked scores become −∞.
pub fn apply_mask(scores: &Array2<f32>, allowed: &Array2<bool>) -> Array2<f32> {
    Zip::from(scores)
        .and(allowed)
        .map_collect(|&score, &ok| if ok { score } else { f32::NEG_INFINITY })
}

/// `ch04_masked_attention`: scores → mask → softmax → weights · V.
pub fn masked_attention(
    q: &Array2<f32>,
    k: &Array2<f32>,
    v: &Array2<f32>,
    allowed: &Array2<bool>,
) -> (Array2<f32>, Array2<f32>) {
    let scores = apply_mask(&scaled_scores(q, k), allowed); // −∞ where masked
    let weights = softmax_rows(&scores); // exp(−∞) = 0: masked keys get no weight
    (weights.dot(v), weights)
}

/// Realistic wrong answers, each rejected by its exercise's check.
pub mod wrong {
    use super::*;

    /// `ch04_causal_mask`, mistake: off by one: `key < query` also hides the token from itself.
    pub fn excludes_diagonal(len: usize) -> Array2<bool> {
        Array2::from_shape_fn((len, len), |(query, key)| key < query)
    }

    /// `ch04_causal_mask`, mistake: the upper triangle: every query sees the future, not the past.
    pub fn upper_triangle(len: usize) -> Array2<bool> {
        Array2::from_shape_fn((len, len), |(query, key)| key >= query)
    }

    /// `ch04_apply_mask`, mistake: sets masked scores to 0 instead of −∞ (exp(0) = 1: still
    /// attended).
    pub fn zero_instead_of_neg_infinity(
        scores: &Array2<f32>,
        allowed: &Array2<bool>,
    ) -> Array2<f32> {
        Zip::from(scores)
            .and(allowed)
            .map_collect(|&score, &ok| if ok { score } else { 0.0 })
    }

    /// `ch04_apply_mask`, mistake: PyTorch's `nn.MultiheadAttention` convention (`true` = masked).
    pub fn inverted_convention(scores: &Array2<f32>, allowed: &Array2<bool>) -> Array2<f32> {
        Zip::from(scores)
            .and(allowed)
            .map_collect(|&score, &ok| if ok { f32::NEG_INFINITY } else { score })
    }

    /// `ch04_masked_attention`, mistake: zeroes the masked weights after the softmax, so the rows no
    /// longer sum to 1.
    pub fn mask_after_softmax(
        q: &Array2<f32>,
        k: &Array2<f32>,
        v: &Array2<f32>,
        allowed: &Array2<bool>,
    ) -> (Array2<f32>, Array2<f32>) {
        let weights = Zip::from(&softmax_rows(&scaled_scores(q, k)))
            .and(allowed)
            .map_collect(|&w, &ok| if ok { w } else { 0.0 });
        (weights.dot(v), weights)
    }

    /// `ch04_masked_attention`, mistake: a softmax without a case for a fully masked row, so a
    /// query that may attend to nothing gets NaN weights (−∞ − (−∞)) instead of zeros.
    pub fn nan_for_fully_masked_query(
        q: &Array2<f32>,
        k: &Array2<f32>,
        v: &Array2<f32>,
        allowed: &Array2<bool>,
    ) -> (Array2<f32>, Array2<f32>) {
        let mut weights = apply_mask(&scaled_scores(q, k), allowed);
        for mut row in weights.rows_mut() {
            let max = row.fold(f32::NEG_INFINITY, |m, &s| m.max(s));
            row.mapv_inplace(|s| (s - max).exp());
            let sum = row.sum();
            row /= sum;
        }
        (weights.dot(v), weights)
    }

    /// `ch04_masked_attention`, mistake: forgets the 1/√d_k scaling (masks q·kᵀ itself).
    pub fn forgets_scaling(
        q: &Array2<f32>,
        k: &Array2<f32>,
        v: &Array2<f32>,
        allowed: &Array2<bool>,
    ) -> (Array2<f32>, Array2<f32>) {
        let weights = softmax_rows(&apply_mask(&q.dot(&k.t()), allowed));
        (weights.dot(v), weights)
    }

    /// `ch04_masked_attention`, mistake: forgets the mask altogether.
    pub fn ignores_mask(
        q: &Array2<f32>,
        k: &Array2<f32>,
        v: &Array2<f32>,
        _allowed: &Array2<bool>,
    ) -> (Array2<f32>, Array2<f32>) {
        let weights = softmax_rows(&scaled_scores(q, k));
        (weights.dot(v), weights)
    }
}
