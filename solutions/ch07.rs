//! Reference solutions — chapter 7, the Transformer (swapped in by the `solutions` feature).
//!
//! [`wrong`] holds realistic mistakes; the exercise checks must reject every one of them.

use ndarray::{Array1, Array2, Array3, Axis, s};

use crate::masked::Mask;
use crate::transformer::{DecoderLayer, EncoderLayer, NormPosition, Seq2SeqTransformer};

/// `ch07_layer_norm`: normalise each row over its d entries, then γ and β.
pub fn layer_norm(
    x: &Array2<f32>,
    gamma: &Array1<f32>,
    beta: &Array1<f32>,
    eps: f32,
) -> Array2<f32> {
    let d = x.ncols() as f32;
    let mut y = x.clone();
    for mut row in y.rows_mut() {
        let mean = row.sum() / d;
        let var = row.mapv(|v| (v - mean).powi(2)).sum() / d; // biased: divide by d, like PyTorch
        row.mapv_inplace(|v| (v - mean) / (var + eps).sqrt());
        row *= gamma; // γ and β are per feature: (d) broadcast along the row
        row += beta;
    }
    y
}

/// `ch07_encoder_layer`: two residual sublayers; the norm inside (pre-LN) or after the sum (post-LN).
pub fn encoder_layer(layer: &EncoderLayer, x: &Array3<f32>, mask: Option<&Mask>) -> Array3<f32> {
    let attend = |h: &Array3<f32>| layer.self_attn.forward(h, h, h, mask).unwrap().output;
    let ffn = |h: &Array3<f32>| layer.feed_forward.forward(h).unwrap();
    let (norm1, norm2) = (
        |h: &Array3<f32>| layer.norm1.forward(h).unwrap(),
        |h: &Array3<f32>| layer.norm2.forward(h).unwrap(),
    );
    match layer.norm_position {
        NormPosition::Post => {
            let x = norm1(&(x + &attend(x))); // LN(x + SelfAttn(x))
            norm2(&(&x + &ffn(&x))) // LN(x + FFN(x))
        }
        NormPosition::Pre => {
            let x = x + &attend(&norm1(x)); // x + SelfAttn(LN(x))
            &x + &ffn(&norm2(&x)) // x + FFN(LN(x))
        }
    }
}

/// `ch07_decoder_layer`: masked self-attention, cross-attention on `memory`, feed-forward.
pub fn decoder_layer(
    layer: &DecoderLayer,
    x: &Array3<f32>,
    memory: &Array3<f32>,
    self_mask: Option<&Mask>,
    memory_mask: Option<&Mask>,
) -> Array3<f32> {
    let self_attend = |h: &Array3<f32>| layer.self_attn.forward(h, h, h, self_mask).unwrap().output;
    // Queries from the decoder, keys and values from the encoder output.
    let cross_attend = |h: &Array3<f32>| {
        let out = layer.cross_attn.forward(h, memory, memory, memory_mask);
        out.unwrap().output
    };
    let ffn = |h: &Array3<f32>| layer.feed_forward.forward(h).unwrap();
    let norm1 = |h: &Array3<f32>| layer.norm1.forward(h).unwrap();
    let norm2 = |h: &Array3<f32>| layer.norm2.forward(h).unwrap();
    let norm3 = |h: &Array3<f32>| layer.norm3.forward(h).unwrap();
    match layer.norm_position {
        NormPosition::Post => {
            let x = norm1(&(x + &self_attend(x)));
            let x = norm2(&(&x + &cross_attend(&x)));
            norm3(&(&x + &ffn(&x)))
        }
        NormPosition::Pre => {
            let x = x + &self_attend(&norm1(x));
            let x = &x + &cross_attend(&norm2(&x));
            &x + &ffn(&norm3(&x))
        }
    }
}

/// `ch07_greedy_step`: the argmax of the logits at the **last** target position.
pub fn greedy_step(model: &Seq2SeqTransformer, src_ids: &[usize], tgt_so_far: &[usize]) -> usize {
    let src = Array2::from_shape_vec((1, src_ids.len()), src_ids.to_vec()).expect("1 × src_len");
    let tgt = Array2::from_shape_vec((1, tgt_so_far.len()), tgt_so_far.to_vec()).expect("1 × t");
    let (memory, src_mask) = model.encode(&src).unwrap(); // (1, src_len, d_model)
    let decoded = model.decode(&tgt, &memory, &src_mask).unwrap(); // (1, t, d_model)
    let last = decoded.slice(s![0, -1.., ..]); // (1, d_model): the newest position predicts next
    let logits = model.generator.forward(&last).unwrap(); // (1, tgt_vocab_size)
    argmax(&logits.index_axis(Axis(0), 0).to_owned())
}

/// Index of the largest entry, the first one on ties.
fn argmax(values: &Array1<f32>) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// Realistic wrong answers, each rejected by its exercise's check.
pub mod wrong {
    use super::*;

    /// `ch07_layer_norm`, mistake: normalises each column (over the tokens) instead of each row.
    pub fn normalizes_over_wrong_axis(
        x: &Array2<f32>,
        gamma: &Array1<f32>,
        beta: &Array1<f32>,
        eps: f32,
    ) -> Array2<f32> {
        let mut y = x.clone();
        let n = x.nrows() as f32;
        for mut column in y.columns_mut() {
            let mean = column.sum() / n;
            let var = column.mapv(|v| (v - mean).powi(2)).sum() / n;
            column.mapv_inplace(|v| (v - mean) / (var + eps).sqrt());
        }
        y * gamma + beta
    }

    /// `ch07_layer_norm`, mistake: the unbiased variance (divide by d − 1), unlike PyTorch.
    pub fn unbiased_variance(
        x: &Array2<f32>,
        gamma: &Array1<f32>,
        beta: &Array1<f32>,
        eps: f32,
    ) -> Array2<f32> {
        let d = x.ncols() as f32;
        let mut y = x.clone();
        for mut row in y.rows_mut() {
            let mean = row.sum() / d;
            let var = row.mapv(|v| (v - mean).powi(2)).sum() / (d - 1.0);
            row.mapv_inplace(|v| (v - mean) / (var + eps).sqrt());
        }
        y * gamma + beta
    }

    /// `ch07_layer_norm`, mistake: no eps at all: a constant row (variance 0) gives 0/0 = NaN.
    pub fn forgets_eps(
        x: &Array2<f32>,
        gamma: &Array1<f32>,
        beta: &Array1<f32>,
        _eps: f32,
    ) -> Array2<f32> {
        layer_norm(x, gamma, beta, 0.0)
    }

    /// `ch07_layer_norm`, mistake: eps outside the square root, (x − μ) / (√σ² + eps).
    pub fn eps_outside_sqrt(
        x: &Array2<f32>,
        gamma: &Array1<f32>,
        beta: &Array1<f32>,
        eps: f32,
    ) -> Array2<f32> {
        let d = x.ncols() as f32;
        let mut y = x.clone();
        for mut row in y.rows_mut() {
            let mean = row.sum() / d;
            let var = row.mapv(|v| (v - mean).powi(2)).sum() / d;
            row.mapv_inplace(|v| (v - mean) / (var.sqrt() + eps));
        }
        y * gamma + beta
    }

    /// `ch07_layer_norm`, mistake: PyTorch's default eps 1e-5 hard-coded, ignoring the argument.
    pub fn hard_coded_eps(
        x: &Array2<f32>,
        gamma: &Array1<f32>,
        beta: &Array1<f32>,
        _eps: f32,
    ) -> Array2<f32> {
        layer_norm(x, gamma, beta, 1e-5)
    }

    /// `ch07_encoder_layer`, mistake: passes no mask to the self-attention, so the padded batch
    /// item attends to its `<pad>` token.
    pub fn ignores_mask(
        layer: &EncoderLayer,
        x: &Array3<f32>,
        _mask: Option<&Mask>,
    ) -> Array3<f32> {
        encoder_layer(layer, x, None)
    }

    /// `ch07_encoder_layer`, mistake: forgets the residual connections (post-LN: LN(SelfAttn(x))).
    pub fn forgets_residual(
        layer: &EncoderLayer,
        x: &Array3<f32>,
        mask: Option<&Mask>,
    ) -> Array3<f32> {
        let attend = |h: &Array3<f32>| layer.self_attn.forward(h, h, h, mask).unwrap().output;
        let ffn = |h: &Array3<f32>| layer.feed_forward.forward(h).unwrap();
        match layer.norm_position {
            NormPosition::Post => {
                let x = layer.norm1.forward(&attend(x)).unwrap();
                layer.norm2.forward(&ffn(&x)).unwrap()
            }
            NormPosition::Pre => {
                let x = attend(&layer.norm1.forward(x).unwrap());
                ffn(&layer.norm2.forward(&x).unwrap())
            }
        }
    }

    /// `ch07_encoder_layer`, mistake: always post-LN, ignoring `layer.norm_position`.
    pub fn always_post_ln(
        layer: &EncoderLayer,
        x: &Array3<f32>,
        mask: Option<&Mask>,
    ) -> Array3<f32> {
        let post = EncoderLayer {
            norm_position: NormPosition::Post,
            ..layer.clone()
        };
        encoder_layer(&post, x, mask)
    }

    /// `ch07_decoder_layer`, mistake: the "cross"-attention attends to the decoder itself (keys and
    /// values from x instead of `memory`).
    pub fn cross_attends_to_itself(
        layer: &DecoderLayer,
        x: &Array3<f32>,
        memory: &Array3<f32>,
        self_mask: Option<&Mask>,
        memory_mask: Option<&Mask>,
    ) -> Array3<f32> {
        let _ = (memory, memory_mask);
        let attend_self =
            |h: &Array3<f32>| layer.self_attn.forward(h, h, h, self_mask).unwrap().output;
        let attend_cross =
            |h: &Array3<f32>| layer.cross_attn.forward(h, h, h, None).unwrap().output;
        let ffn = |h: &Array3<f32>| layer.feed_forward.forward(h).unwrap();
        let x = layer.norm1.forward(&(x + &attend_self(x))).unwrap();
        let x = layer.norm2.forward(&(&x + &attend_cross(&x))).unwrap();
        layer.norm3.forward(&(&x + &ffn(&x))).unwrap()
    }

    /// `ch07_decoder_layer`, mistake: forgets the causal mask in the self-attention (sees the future).
    pub fn ignores_self_mask(
        layer: &DecoderLayer,
        x: &Array3<f32>,
        memory: &Array3<f32>,
        _self_mask: Option<&Mask>,
        memory_mask: Option<&Mask>,
    ) -> Array3<f32> {
        decoder_layer(layer, x, memory, None, memory_mask)
    }

    /// `ch07_decoder_layer`, mistake: passes no mask to the cross-attention, so the decoder
    /// attends to the source's `<pad>` tokens.
    pub fn ignores_memory_mask(
        layer: &DecoderLayer,
        x: &Array3<f32>,
        memory: &Array3<f32>,
        self_mask: Option<&Mask>,
        _memory_mask: Option<&Mask>,
    ) -> Array3<f32> {
        decoder_layer(layer, x, memory, self_mask, None)
    }

    /// `ch07_greedy_step`, mistake: the argmax by `Iterator::max_by`, which returns the *last*
    /// of equal maxima.
    pub fn last_on_ties(
        model: &Seq2SeqTransformer,
        src_ids: &[usize],
        tgt_so_far: &[usize],
    ) -> usize {
        let src = Array2::from_shape_vec((1, src_ids.len()), src_ids.to_vec()).expect("1 × len");
        let tgt =
            Array2::from_shape_vec((1, tgt_so_far.len()), tgt_so_far.to_vec()).expect("1 × t");
        let (memory, src_mask) = model.encode(&src).unwrap();
        let decoded = model.decode(&tgt, &memory, &src_mask).unwrap();
        let logits = model
            .generator
            .forward(&decoded.slice(s![0, -1.., ..]))
            .unwrap();
        let row = logits.index_axis(Axis(0), 0);
        let best = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1));
        best.map(|(i, _)| i).unwrap()
    }

    /// `ch07_greedy_step`, mistake: takes the logits of the first target position (which only ever
    /// predicts the token after `<bos>`) instead of the last.
    pub fn uses_first_position(
        model: &Seq2SeqTransformer,
        src_ids: &[usize],
        tgt_so_far: &[usize],
    ) -> usize {
        let src = Array2::from_shape_vec((1, src_ids.len()), src_ids.to_vec()).expect("1 × len");
        let tgt =
            Array2::from_shape_vec((1, tgt_so_far.len()), tgt_so_far.to_vec()).expect("1 × t");
        let (memory, src_mask) = model.encode(&src).unwrap();
        let decoded = model.decode(&tgt, &memory, &src_mask).unwrap();
        let first = decoded.slice(s![0, ..1, ..]);
        let logits = model.generator.forward(&first).unwrap();
        argmax(&logits.index_axis(Axis(0), 0).to_owned())
    }
}
