//! Chapter 5 checks, cross-attention (`src/exercises/ch05.rs`): one per exercise, named like the
//! learner's function it checks.

use attention::exercises::CrossShapes;
use attention::ndarray::{Array1, Array2, Array3, Array4, array, s};
use attention::nn::Linear;

use super::ch03::statquest_x;
use super::helpers::{Check, call, close, f32_input, fixture_case, same_bools, same_value};
use crate::common::fixture;

/// The check of `ch05_cross_attention_shapes`.
pub fn cross_attention_shapes(f: impl Fn(usize, usize, usize, usize) -> CrossShapes) -> Check {
    let next = "Q comes from the decoder (tgt_len rows), K and V from the encoder (src_len \
                rows), all with d_k columns; the weights Q·Kᵀ are (tgt_len, src_len): one row \
                per target token; the output weights·V is (tgt_len, d_k).";
    for (tgt_len, src_len, d_model, d_k) in [(2, 3, 4, 2), (5, 7, 16, 4)] {
        let expected = CrossShapes {
            queries: (tgt_len, d_k),
            keys: (src_len, d_k),
            values: (src_len, d_k),
            weights: (tgt_len, src_len),
            output: (tgt_len, d_k),
        };
        let case = format!(
            "case: tgt_len = {tgt_len}, src_len = {src_len}, d_model = {d_model}, d_k = {d_k}"
        );
        let actual = call(&case, || f(tgt_len, src_len, d_model, d_k))?;
        same_value("shapes", &case, expected, actual, next)?;
    }
    Ok(())
}

/// The check of `ch05_cross_attention`.
#[allow(clippy::type_complexity)]
pub fn cross_attention(
    f: impl Fn(&Array2<f32>, &Array2<f32>, &Linear, &Linear, &Linear) -> (Array2<f32>, Array2<f32>),
) -> Check {
    let next = "queries = w_q(decoder_states); keys = w_k(encoder_output); values = \
                w_v(encoder_output); then softmax(Q·Kᵀ/√d_k)·V. The weights must be \
                (tgt_len, src_len).";
    let linear = |w: Array2<f32>| Linear::new(w, None).unwrap();
    // Simpler weights than the book's head: Q = decoder states, K = encoder output with
    // columns swapped, V row (a, b) → (a + b, a − b). The fixture cases below have
    // asymmetric weights and biases.
    let (w_q, w_k, w_v) = (
        linear(array![[1.0, 0.0], [0.0, 1.0]]),
        linear(array![[0.0, 1.0], [1.0, 0.0]]),
        linear(array![[1.0, 1.0], [1.0, -1.0]]),
    );
    let decoder = array![[-0.5_f32, 1.0], [2.1, 0.4]]; // "<bos> vamos"
    let encoder = statquest_x(); // "let's go <eos>"
    // scores row 0: (−0.5, 1)·(0.23, 1.16) = 1.045, ·(1.36, 0.57) = −0.11, ·(−2.16, 4.41) = 5.49;
    //   ÷ √2 → 0.73893, −0.07778, 3.88202 → softmax (0.04062, 0.01795, 0.94143).
    // row 1: (2.1, 0.4) → 0.947, 3.084, −2.772 ÷ √2 → 0.66963, 2.18072, −1.96010
    //   → softmax (0.17845, 0.80868, 0.01287).
    let expected_weights = array![
        [0.040_622_f32, 0.017_950, 0.941_428],
        [0.178_452, 0.808_682, 0.012_866]
    ];
    // output = weights · V, V = (1.39, 0.93), (1.93, −0.79), (2.25, 6.57).
    let expected_output = array![[2.209_321_f32, 6.208_779], [1.837_753, -0.388_369]];
    let case = format!(
        "case: \"<bos> vamos\" attending to \"let's go <eos>\" (simple weights: W_q = I, \
         W_k swaps, W_v = [[1, 1], [1, −1]], no bias)\n{}{}",
        f32_input("decoder_states", &decoder),
        f32_input("encoder_output", &encoder)
    );
    let (output, weights) = call(&case, || f(&decoder, &encoder, &w_q, &w_k, &w_v))?;
    close("weights", &case, &expected_weights, &weights, next)?;
    close("output", &case, &expected_output, &output, next)?;

    // nn.MultiheadAttention(8, 2) cross-attention: each head is one cross-attention head
    // whose projections are 4 rows of in_proj_weight (with bias); PyTorch recorded every
    // head's weights. A head's output is its weights (PyTorch's) times its values,
    // memory·W_vᵀ + b_v, with W_v and b_v the head's rows of the fixture's parameters.
    let fx = fixture("mha_cross");
    let w: Array2<f32> = fx
        .tensors
        .get("in_proj_weight")
        .unwrap()
        .clone()
        .into_dimensionality()
        .unwrap();
    let bias: Array1<f32> = fx
        .tensors
        .get("in_proj_bias")
        .unwrap()
        .clone()
        .into_dimensionality()
        .unwrap();
    let (query, memory): (Array3<f32>, Array3<f32>) = (fx.input("query"), fx.input("memory"));
    let per_head: Array4<f32> = fx.output("attn_weights_per_head");
    let (e, d_k) = (8, 4);
    for b in 0..2 {
        for h in 0..2 {
            let part = |i: usize| {
                let rows = i * e + h * d_k..i * e + (h + 1) * d_k;
                Linear::new(
                    w.slice(s![rows.clone(), ..]).to_owned(),
                    Some(bias.slice(s![rows]).to_owned()),
                )
                .unwrap()
            };
            let (w_q, w_k, w_v) = (part(0), part(1), part(2));
            let dec = query.slice(s![b, .., ..]).to_owned();
            let enc = memory.slice(s![b, .., ..]).to_owned();
            let case = fixture_case(
                "mha_cross",
                &format!(
                    "batch item {b}, head {h} of nn.MultiheadAttention(8, 2): tgt_len 4, src_len 6, d_k 4, with bias"
                ),
            );
            let (output, weights) = call(&case, || f(&dec, &enc, &w_q, &w_k, &w_v))?;
            let expected = per_head.slice(s![b, h, .., ..]).to_owned(); // (tgt, src)
            close("weights", &case, &expected, &weights, next)?;
            let values = enc.dot(&w_v.weight.t()) + w_v.bias.as_ref().unwrap(); // (src, d_k)
            close("output", &case, &expected.dot(&values), &output, next)?;
        }
    }
    Ok(())
}

/// The check of `ch05_source_padding_mask`.
pub fn source_padding_mask(f: impl Fn(&[usize], usize, usize) -> Array2<bool>) -> Check {
    let next = "shape (tgt_len, src_len): one row per target position, all rows equal; column \
                j is true (may attend) unless src_ids[j] == pad_id.";
    let (t, x) = (true, false);
    let cases = [
        (vec![5, 7, 0, 0], 2, 0, array![[t, t, x, x], [t, t, x, x]]),
        (vec![4, 6, 9], 3, 0, array![[t, t, t], [t, t, t], [t, t, t]]),
        (vec![4, 6, 1], 1, 1, array![[t, t, x]]),
    ];
    for (src_ids, tgt_len, pad_id, expected) in cases {
        let case = format!("case: src_ids = {src_ids:?}, tgt_len = {tgt_len}, pad_id = {pad_id}");
        let actual = call(&case, || f(&src_ids, tgt_len, pad_id))?;
        same_bools("padding mask", &case, &expected, &actual, next)?;
    }
    Ok(())
}
