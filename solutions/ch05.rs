//! Reference solutions — chapter 5, cross-attention (swapped in by the `solutions` feature).
//!
//! [`wrong`] holds realistic mistakes; the exercise checks must reject every one of them.

use ndarray::Array2;

use super::CrossShapes;
use super::ch03::attention;
use crate::nn::Linear;

/// `ch05_cross_attention_shapes`: Q follows the decoder, K and V the encoder; weights are (tgt, src).
pub fn cross_attention_shapes(
    tgt_len: usize,
    src_len: usize,
    d_model: usize,
    d_k: usize,
) -> CrossShapes {
    let _ = d_model; // the projections remove d_model: nothing downstream has it
    CrossShapes {
        queries: (tgt_len, d_k),     // decoder states (tgt_len, d_model) · W_qᵀ
        keys: (src_len, d_k),        // encoder output (src_len, d_model) · W_kᵀ
        values: (src_len, d_k),      // encoder output · W_vᵀ
        weights: (tgt_len, src_len), // Q · Kᵀ: one row per target token
        output: (tgt_len, d_k),      // weights · V
    }
}

/// `ch05_cross_attention`: project Q from the decoder, K and V from the encoder, then attention.
pub fn cross_attention(
    decoder_states: &Array2<f32>,
    encoder_output: &Array2<f32>,
    w_q: &Linear,
    w_k: &Linear,
    w_v: &Linear,
) -> (Array2<f32>, Array2<f32>) {
    let q = w_q.forward(decoder_states).expect("d_model matches"); // (tgt_len, d_k)
    let k = w_k.forward(encoder_output).expect("d_model matches"); // (src_len, d_k)
    let v = w_v.forward(encoder_output).expect("d_model matches"); // (src_len, d_k)
    attention(&q, &k, &v)
}

/// `ch05_source_padding_mask`: every target row allows exactly the non-padding source tokens.
pub fn source_padding_mask(src_ids: &[usize], tgt_len: usize, pad_id: usize) -> Array2<bool> {
    Array2::from_shape_fn((tgt_len, src_ids.len()), |(_, j)| src_ids[j] != pad_id)
}

/// Realistic wrong answers, each rejected by its exercise's check.
pub mod wrong {
    use super::*;

    /// `ch05_cross_attention_shapes`, mistake: the weights transposed, `(src_len, tgt_len)`.
    pub fn weights_transposed(
        tgt_len: usize,
        src_len: usize,
        d_model: usize,
        d_k: usize,
    ) -> CrossShapes {
        CrossShapes {
            weights: (src_len, tgt_len),
            ..cross_attention_shapes(tgt_len, src_len, d_model, d_k)
        }
    }

    /// `ch05_cross_attention_shapes`, mistake: keys projected from the decoder (tgt_len rows) like the queries.
    pub fn keys_from_decoder(
        tgt_len: usize,
        src_len: usize,
        d_model: usize,
        d_k: usize,
    ) -> CrossShapes {
        CrossShapes {
            keys: (tgt_len, d_k),
            ..cross_attention_shapes(tgt_len, src_len, d_model, d_k)
        }
    }

    /// `ch05_cross_attention`, mistake: keys from the encoder but values from the decoder.
    pub fn values_from_decoder(
        decoder_states: &Array2<f32>,
        encoder_output: &Array2<f32>,
        w_q: &Linear,
        w_k: &Linear,
        w_v: &Linear,
    ) -> (Array2<f32>, Array2<f32>) {
        let q = w_q.forward(decoder_states).expect("d_model matches");
        let k = w_k.forward(encoder_output).expect("d_model matches");
        let v = w_v.forward(decoder_states).expect("d_model matches");
        attention(&q, &k, &v)
    }

    /// `ch05_cross_attention`, mistake: roles swapped: queries from the encoder, keys and values from the
    /// decoder.
    pub fn queries_from_encoder(
        decoder_states: &Array2<f32>,
        encoder_output: &Array2<f32>,
        w_q: &Linear,
        w_k: &Linear,
        w_v: &Linear,
    ) -> (Array2<f32>, Array2<f32>) {
        cross_attention(encoder_output, decoder_states, w_q, w_k, w_v)
    }

    /// `ch05_cross_attention`, mistake: projects the values with W_v by hand and forgets the
    /// bias (x·W_vᵀ instead of x·W_vᵀ + b_v).
    pub fn forgets_value_bias(
        decoder_states: &Array2<f32>,
        encoder_output: &Array2<f32>,
        w_q: &Linear,
        w_k: &Linear,
        w_v: &Linear,
    ) -> (Array2<f32>, Array2<f32>) {
        let q = w_q.forward(decoder_states).expect("d_model matches");
        let k = w_k.forward(encoder_output).expect("d_model matches");
        let v = encoder_output.dot(&w_v.weight.t());
        attention(&q, &k, &v)
    }

    /// `ch05_source_padding_mask`, mistake: inverted: only the padding may be attended to.
    pub fn keeps_padding(src_ids: &[usize], tgt_len: usize, pad_id: usize) -> Array2<bool> {
        Array2::from_shape_fn((tgt_len, src_ids.len()), |(_, j)| src_ids[j] == pad_id)
    }

    /// `ch05_source_padding_mask`, mistake: shape `(src_len, tgt_len)` (rows and columns swapped).
    pub fn rows_are_source(src_ids: &[usize], tgt_len: usize, pad_id: usize) -> Array2<bool> {
        Array2::from_shape_fn((src_ids.len(), tgt_len), |(j, _)| src_ids[j] != pad_id)
    }
}
