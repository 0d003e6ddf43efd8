//! Reference solutions — chapter 6, multi-head attention (swapped in by the `solutions`
//! feature).
//!
//! [`wrong`] holds realistic mistakes; the exercise checks must reject every one of them.

use ndarray::{Array2, Array3, Array4, s};

use super::ch03::{scaled_scores, softmax_rows};
use super::ch04::apply_mask;
use crate::masked::Mask;
use crate::multi_head::MultiHeadAttention;

/// `ch06_split_heads`: (batch, seq, d_model) → (batch, seq, heads, d_k) → (batch, heads, seq, d_k).
pub fn split_heads(x: &Array3<f32>, num_heads: usize) -> Array4<f32> {
    let (batch, seq, d_model) = x.dim();
    let d_k = d_model / num_heads;
    x.to_shape((batch, seq, num_heads, d_k)) // head h = columns h·d_k..(h+1)·d_k
        .expect("num_heads divides d_model")
        .permuted_axes([0, 2, 1, 3]) // swap seq and heads
        .as_standard_layout()
        .into_owned()
}

/// `ch06_merge_heads`: (batch, heads, seq, d_k) → (batch, seq, heads, d_k) → (batch, seq, heads·d_k).
pub fn merge_heads(x: &Array4<f32>) -> Array3<f32> {
    let (batch, heads, seq, d_k) = x.dim();
    x.view()
        .permuted_axes([0, 2, 1, 3]) // the heads of each token next to each other
        .as_standard_layout() // make the memory order match, then reshape
        .into_owned()
        .into_shape_with_order((batch, seq, heads * d_k))
        .expect("same number of elements")
}

/// `ch06_multi_head_attention`: project, split, attend in every (batch, head), merge, project out.
pub fn multi_head_attention(
    mha: &MultiHeadAttention,
    query: &Array3<f32>,
    key_value: &Array3<f32>,
    mask: Option<&Mask>,
) -> (Array3<f32>, Array4<f32>) {
    let h = mha.num_heads;
    let (batch, tgt_len, _) = query.dim();
    let src_len = key_value.dim().1;
    let q = split_heads(&mha.w_q.forward(query).expect("d_model"), h); // (b, h, tgt, d_k)
    let k = split_heads(&mha.w_k.forward(key_value).expect("d_model"), h); // (b, h, src, d_k)
    let v = split_heads(&mha.w_v.forward(key_value).expect("d_model"), h); // (b, h, src, d_k)
    let mut heads = Array4::zeros(q.raw_dim());
    let mut weights = Array4::zeros((batch, h, tgt_len, src_len));
    for b in 0..batch {
        let allowed: Option<Array2<bool>> = mask.map(|m| m.for_sequence(b, tgt_len));
        for head in 0..h {
            let at = s![b, head, .., ..];
            // √d_k with d_k = d_model / heads: scaled_scores divides by √(q's columns).
            let mut scores = scaled_scores(&q.slice(at).to_owned(), &k.slice(at).to_owned());
            if let Some(allowed) = &allowed {
                scores = apply_mask(&scores, allowed); // before the softmax
            }
            let w = softmax_rows(&scores); // (tgt_len, src_len)
            heads.slice_mut(at).assign(&w.dot(&v.slice(at))); // (tgt_len, d_k)
            weights.slice_mut(at).assign(&w);
        }
    }
    let concat = merge_heads(&heads); // (batch, tgt_len, d_model)
    let output = mha.out_proj.forward(&concat).expect("d_model"); // mixes the heads
    (output, weights)
}

/// Realistic wrong answers, each rejected by its exercise's check.
pub mod wrong {
    use super::*;

    /// `ch06_split_heads`, mistake: reshapes straight to (batch, heads, seq, d_k) without permuting,
    /// which splits along the sequence instead of the features.
    pub fn reshape_without_permute(x: &Array3<f32>, num_heads: usize) -> Array4<f32> {
        let (batch, seq, d_model) = x.dim();
        x.to_shape((batch, num_heads, seq, d_model / num_heads))
            .expect("same number of elements")
            .into_owned()
    }

    /// `ch06_split_heads`, mistake: interleaved heads: head h gets columns h, h + heads, h + 2·heads…
    pub fn heads_interleaved(x: &Array3<f32>, num_heads: usize) -> Array4<f32> {
        let (batch, seq, d_model) = x.dim();
        x.to_shape((batch, seq, d_model / num_heads, num_heads))
            .expect("same number of elements")
            .permuted_axes([0, 3, 1, 2])
            .as_standard_layout()
            .into_owned()
    }

    /// `ch06_merge_heads`, mistake: reshapes without swapping the axes back.
    pub fn merge_without_permute(x: &Array4<f32>) -> Array3<f32> {
        let (batch, heads, seq, d_k) = x.dim();
        x.to_shape((batch, seq, heads * d_k))
            .expect("same number of elements")
            .into_owned()
    }

    /// `ch06_merge_heads`, mistake: interleaves the heads' features (head h's feature i lands in
    /// column i·heads + h) instead of concatenating them.
    pub fn merge_interleaved(x: &Array4<f32>) -> Array3<f32> {
        let (batch, heads, seq, d_k) = x.dim();
        x.view()
            .permuted_axes([0, 2, 3, 1]) // (batch, seq, d_k, heads)
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order((batch, seq, heads * d_k))
            .expect("same number of elements")
    }

    /// `ch06_multi_head_attention`, mistake: forgets the output projection `out_proj`.
    pub fn forgets_out_proj(
        mha: &MultiHeadAttention,
        query: &Array3<f32>,
        key_value: &Array3<f32>,
        mask: Option<&Mask>,
    ) -> (Array3<f32>, Array4<f32>) {
        let (_, weights) = multi_head_attention(mha, query, key_value, mask);
        let v = split_heads(&mha.w_v.forward(key_value).expect("d_model"), mha.num_heads);
        let mut heads = Array4::zeros((weights.dim().0, mha.num_heads, query.dim().1, mha.d_k()));
        for b in 0..weights.dim().0 {
            for head in 0..mha.num_heads {
                let at = s![b, head, .., ..];
                heads
                    .slice_mut(at)
                    .assign(&weights.slice(at).dot(&v.slice(at)));
            }
        }
        (merge_heads(&heads), weights)
    }

    /// `ch06_multi_head_attention`, mistake: a softmax without a case for a fully masked row,
    /// so a query that may attend to no key gets NaN weights (−∞ − (−∞)) instead of zeros.
    pub fn nan_for_fully_masked_query(
        mha: &MultiHeadAttention,
        query: &Array3<f32>,
        key_value: &Array3<f32>,
        mask: Option<&Mask>,
    ) -> (Array3<f32>, Array4<f32>) {
        let h = mha.num_heads;
        let (batch, tgt_len, _) = query.dim();
        let src_len = key_value.dim().1;
        let q = split_heads(&mha.w_q.forward(query).expect("d_model"), h);
        let k = split_heads(&mha.w_k.forward(key_value).expect("d_model"), h);
        let v = split_heads(&mha.w_v.forward(key_value).expect("d_model"), h);
        let mut heads = Array4::zeros(q.raw_dim());
        let mut weights = Array4::zeros((batch, h, tgt_len, src_len));
        for b in 0..batch {
            let allowed = mask.map(|m| m.for_sequence(b, tgt_len));
            for head in 0..h {
                let at = s![b, head, .., ..];
                let mut w = scaled_scores(&q.slice(at).to_owned(), &k.slice(at).to_owned());
                if let Some(allowed) = &allowed {
                    w = apply_mask(&w, allowed);
                }
                for mut row in w.rows_mut() {
                    let max = row.fold(f32::NEG_INFINITY, |m, &s| m.max(s));
                    row.mapv_inplace(|s| (s - max).exp()); // NaN when max = −∞
                    let sum = row.sum();
                    row /= sum;
                }
                heads.slice_mut(at).assign(&w.dot(&v.slice(at)));
                weights.slice_mut(at).assign(&w);
            }
        }
        (
            mha.out_proj.forward(&merge_heads(&heads)).expect("d_model"),
            weights,
        )
    }

    /// `ch06_multi_head_attention`, mistake: scales the scores by 1/√d_model instead of 1/√d_k.
    pub fn scales_by_d_model(
        mha: &MultiHeadAttention,
        query: &Array3<f32>,
        key_value: &Array3<f32>,
        mask: Option<&Mask>,
    ) -> (Array3<f32>, Array4<f32>) {
        let h = mha.num_heads;
        let (batch, tgt_len, d_model) = query.dim();
        let src_len = key_value.dim().1;
        let q = split_heads(&mha.w_q.forward(query).expect("d_model"), h);
        let k = split_heads(&mha.w_k.forward(key_value).expect("d_model"), h);
        let v = split_heads(&mha.w_v.forward(key_value).expect("d_model"), h);
        let mut heads = Array4::zeros(q.raw_dim());
        let mut weights = Array4::zeros((batch, h, tgt_len, src_len));
        for b in 0..batch {
            let allowed = mask.map(|m| m.for_sequence(b, tgt_len));
            for head in 0..h {
                let at = s![b, head, .., ..];
                let mut scores = q.slice(at).dot(&k.slice(at).t()) / (d_model as f32).sqrt();
                if let Some(allowed) = &allowed {
                    scores = apply_mask(&scores, allowed);
                }
                let w = softmax_rows(&scores);
                heads.slice_mut(at).assign(&w.dot(&v.slice(at)));
                weights.slice_mut(at).assign(&w);
            }
        }
        (
            mha.out_proj.forward(&merge_heads(&heads)).expect("d_model"),
            weights,
        )
    }
}
