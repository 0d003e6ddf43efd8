//! Chapter 7 checks, the Transformer (`src/exercises/ch07.rs`): one per exercise, named like the
//! learner's function it checks.

use attention::masked::Mask;
use attention::ndarray::{Array1, Array2, Array3, Ix1, Ix2, Ix3, array, s};
use attention::params::Params;
use attention::transformer::{DecoderLayer, EncoderLayer, Seq2SeqConfig, Seq2SeqTransformer};

use super::helpers::{Check, call, close, f32_input, fixture_case, input, same_value};
use crate::common::fixture;

/// The check of `ch07_layer_norm`.
pub fn layer_norm(
    f: impl Fn(&Array2<f32>, &Array1<f32>, &Array1<f32>, f32) -> Array2<f32>,
) -> Check {
    let next = "normalise each *row* (one token's d features), not each column; the variance \
                divides by d (biased, like PyTorch), eps goes inside the square root; then \
                × gamma + beta per feature.";
    let x = array![[1.0_f32, 2.0, 3.0, 6.0], [-1.0, 0.0, 0.0, 1.0]];
    let gamma = array![1.0_f32, 0.5, 2.0, 1.0];
    let beta = array![0.0_f32, 0.1, -0.2, 0.3];
    // Row 0: mean 3, variance (4 + 1 + 0 + 9)/4 = 3.5, √(3.5 + 1e−5) = 1.870832:
    //   (−2, −1, 0, 3)/1.870832 = (−1.06904, −0.53452, 0, 1.60357) → ×γ + β.
    // Row 1: mean 0, variance (1 + 0 + 0 + 1)/4 = 0.5, √0.50001 = 0.707114:
    //   (−1.41420, 0, 0, 1.41420) → ×γ + β.
    let expected = array![
        [-1.069_043_f32, -0.167_261, -0.2, 1.903_565],
        [-1.414_199, 0.1, -0.2, 1.714_199],
    ];
    let case = format!(
        "case: 2 rows of d = 4, eps = 1e-5\n{}{}{}",
        f32_input("x", &x),
        input("gamma", &gamma),
        input("beta", &beta)
    );
    let actual = call(&case, || f(&x, &gamma, &beta, 1e-5))?;
    close("normalised", &case, &expected, &actual, next)?;

    // nn.LayerNorm(6) on (2, 3, 6) = 6 token vectors of 6 features (a square matrix, so
    // normalising the wrong axis still has the right shape).
    let fx = fixture("layer_norm");
    let x = fx.input::<Ix3>("x").into_shape_with_order((6, 6)).unwrap();
    let expected = fx.output::<Ix3>("y").into_shape_with_order((6, 6)).unwrap();
    let gamma: Array1<f32> = fx
        .tensors
        .get("weight")
        .unwrap()
        .clone()
        .into_dimensionality::<Ix1>()
        .unwrap();
    let beta: Array1<f32> = fx
        .tensors
        .get("bias")
        .unwrap()
        .clone()
        .into_dimensionality::<Ix1>()
        .unwrap();
    let case = fixture_case(
        "layer_norm",
        "nn.LayerNorm(6), 6 token vectors, random γ and β",
    );
    let actual = call(&case, || f(&x, &gamma, &beta, 1e-5))?;
    close("normalised", &case, &expected, &actual, next)
}

/// The check of `ch07_encoder_layer`.
pub fn encoder_layer(
    f: impl Fn(&EncoderLayer, &Array3<f32>, Option<&Mask>) -> Array3<f32>,
) -> Check {
    let next = "post-LN: x = norm1(x + attn(x)), then x = norm2(x + ffn(x)); pre-LN: \
                x = x + attn(norm1(x)), then x = x + ffn(norm2(x)). Pass the mask to the \
                self-attention, and keep both residual additions.";
    for (name, detail) in [
        (
            "encoder_layer",
            "nn.TransformerEncoderLayer(8, 2, 16), post-LN (norm_first=False), source padding",
        ),
        (
            "encoder_layer_pre_ln",
            "nn.TransformerEncoderLayer(8, 2, 16), pre-LN (norm_first=True), source padding",
        ),
    ] {
        let fx = fixture(name);
        let layer = EncoderLayer::from_params(&Params::load(&fx.tensors), &fx.transformer_config())
            .unwrap();
        let mask = Mask::from_torch_key_padding_mask(&fx.bool_input::<Ix2>("src_key_padding_mask"))
            .unwrap();
        let x: Array3<f32> = fx.input("src");
        let case = fixture_case(name, detail);
        let actual = call(&case, || f(&layer, &x, Some(&mask)))?;
        close(
            "layer output",
            &case,
            &fx.output::<Ix3>("out"),
            &actual,
            next,
        )?;
    }
    Ok(())
}

/// The check of `ch07_decoder_layer`.
#[allow(clippy::type_complexity)]
pub fn decoder_layer(
    f: impl Fn(&DecoderLayer, &Array3<f32>, &Array3<f32>, Option<&Mask>, Option<&Mask>) -> Array3<f32>,
) -> Check {
    let next = "three residual sublayers in this order: self-attention over x with self_mask \
                (norm1), cross-attention with queries from x and keys/values from memory with \
                memory_mask (norm2), feed-forward (norm3); norms placed by layer.norm_position.";
    for (name, detail) in [
        (
            "decoder_layer",
            "nn.TransformerDecoderLayer(8, 2, 16), post-LN, causal self-mask, memory padding",
        ),
        (
            "decoder_layer_pre_ln",
            "nn.TransformerDecoderLayer(8, 2, 16), pre-LN, causal self-mask, memory padding",
        ),
    ] {
        let fx = fixture(name);
        let layer = DecoderLayer::from_params(&Params::load(&fx.tensors), &fx.transformer_config())
            .unwrap();
        let self_mask = Mask::from_torch_attn_mask(&fx.bool_input::<Ix2>("tgt_mask")).unwrap();
        let memory_mask =
            Mask::from_torch_key_padding_mask(&fx.bool_input::<Ix2>("memory_key_padding_mask"))
                .unwrap();
        let (x, memory): (Array3<f32>, Array3<f32>) = (fx.input("tgt"), fx.input("memory"));
        let case = fixture_case(name, detail);
        let actual = call(&case, || {
            f(&layer, &x, &memory, Some(&self_mask), Some(&memory_mask))
        })?;
        close(
            "layer output",
            &case,
            &fx.output::<Ix3>("out"),
            &actual,
            next,
        )?;
    }
    Ok(())
}

/// The check of `ch07_greedy_step`.
pub fn greedy_step(f: impl Fn(&Seq2SeqTransformer, &[usize], &[usize]) -> usize) -> Check {
    let next = "the decoder output has one row per target token so far; the *last* row predicts \
                the next token. Project it with model.generator and take the index of the \
                largest logit.";
    let fx = fixture("seq2seq");
    let config = Seq2SeqConfig {
        transformer: fx.transformer_config(),
        src_vocab_size: fx.usize("src_vocab_size"),
        tgt_vocab_size: fx.usize("tgt_vocab_size"),
        max_len: fx.usize("pe_max_len"),
        pad_id: fx.usize("pad_id"),
    };
    let model = Seq2SeqTransformer::from_params(&Params::load(&fx.tensors), config).unwrap();
    let src = fx.ids("src");
    let pad = fx.usize("pad_id");

    // PyTorch's greedy decoding of source 0: each token is one greedy step on the ones before.
    let greedy: Vec<usize> = fx
        .output::<Ix1>("greedy_tokens")
        .iter()
        .map(|&v| v as usize)
        .collect();
    let src0 = src.row(0).to_vec();
    for t in 1..greedy.len() {
        let prefix = &greedy[..t];
        let case = fixture_case(
            "seq2seq",
            &format!("greedy decoding of src {src0:?}, target so far {prefix:?}"),
        );
        let actual = call(&case, || f(&model, &src0, prefix))?;
        same_value("next token", &case, greedy[t], actual, next)?;
    }

    // Teacher forcing: PyTorch's logits at position t − 1 predict token t from tgt[..t].
    let tgt = fx.ids("tgt");
    let logits: Array3<f32> = fx.output("logits");
    for b in 0..tgt.nrows() {
        let src_b = src.row(b).to_vec();
        let tgt_b = tgt.row(b).to_vec();
        for t in 1..=tgt_b.len() {
            if tgt_b[..t].contains(&pad) {
                break;
            }
            let row = logits.slice(s![b, t - 1, ..]);
            let mut sorted = row.to_vec();
            sorted.sort_by(|a, b| b.total_cmp(a));
            if sorted[0] - sorted[1] < 1e-3 {
                continue; // a near tie: not a fair test of anyone's float rounding
            }
            let expected = row
                .iter()
                .enumerate()
                .fold(0, |best, (i, &v)| if v > row[best] { i } else { best });
            let prefix = &tgt_b[..t];
            let case = fixture_case(
                "seq2seq",
                &format!("src {src_b:?}, target so far {prefix:?}"),
            );
            let actual = call(&case, || f(&model, &src_b, prefix))?;
            same_value("next token", &case, expected, actual, next)?;
        }
    }
    Ok(())
}
