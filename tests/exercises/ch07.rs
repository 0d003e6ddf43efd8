//! Chapter 7 checks, the Transformer (`src/exercises/ch07.rs`): one per exercise, named like the
//! learner's function it checks.

use attention::masked::Mask;
use attention::ndarray::{Array1, Array2, Array3, Ix1, Ix2, Ix3, array, s};
use attention::nn::{LayerNorm, Linear};
use attention::params::Params;
use attention::transformer::{
    DecoderLayer, EncoderLayer, NormPosition, Seq2SeqConfig, Seq2SeqTransformer,
};

use super::helpers::{
    Check, call, close, diagnosed, f32_input, fixture_case, input, matches, same_value,
};
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

    // A constant row has variance 0: (x − μ)/√(0 + eps) = 0/√eps = 0, so y = β. Without eps
    // it is 0/0 = NaN. Row 0 as above.
    let x = array![[1.0_f32, 2.0, 3.0, 6.0], [2.5, 2.5, 2.5, 2.5]];
    let expected = array![
        [-1.069_043_f32, -0.167_261, -0.2, 1.903_565],
        [0.0, 0.1, -0.2, 0.3],
    ];
    let case = format!(
        "case: a constant row (variance 0), eps = 1e-5\n{}{}{}",
        f32_input("x", &x),
        input("gamma", &gamma),
        input("beta", &beta)
    );
    let actual = call(&case, || f(&x, &gamma, &beta, 1e-5))?;
    let constant = "a constant row has variance 0, so (x − mean)/√variance is 0/0 = NaN: eps \
                    inside the square root, √(variance + eps), keeps it finite and the row \
                    becomes beta.";
    close("normalised", &case, &expected, &actual, constant)?;

    // eps = 0.01, large enough to matter. Row 0: mean 0, variance 0.5, √(0.5 + 0.01) =
    // 0.714143 → ±1/0.714143 = ±1.400280 → ×γ + β. (eps outside the root: 1/(0.707107 +
    // 0.01) = 1.394492; eps = 1e-5 instead: 1/0.707114 = 1.414199.) Row 1 is constant: β.
    let x = array![[-1.0_f32, 0.0, 0.0, 1.0], [2.5, 2.5, 2.5, 2.5]];
    let expected = array![[-1.400_28_f32, 0.1, -0.2, 1.700_28], [0.0, 0.1, -0.2, 0.3]];
    let case = format!(
        "case: eps = 0.01\n{}{}{}",
        f32_input("x", &x),
        input("gamma", &gamma),
        input("beta", &beta)
    );
    let actual = call(&case, || f(&x, &gamma, &beta, 0.01))?;
    let eps = "use the `eps` argument (here 0.01, not a fixed 1e-5), inside the square root: \
               (x − mean) / √(variance + eps), not (x − mean) / (√variance + eps).";
    close("normalised", &case, &expected, &actual, eps)?;

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

/// Forces `linear`'s output to 0 (weights and bias): switches off the sublayer it ends.
fn silence(linear: &mut Linear) {
    linear.weight.fill(0.0);
    if let Some(bias) = linear.bias.as_mut() {
        bias.fill(0.0);
    }
}

fn other(position: NormPosition) -> NormPosition {
    match position {
        NormPosition::Post => NormPosition::Pre,
        NormPosition::Pre => NormPosition::Post,
    }
}

fn name_of(position: NormPosition) -> &'static str {
    match position {
        NormPosition::Post => "post-LN",
        NormPosition::Pre => "pre-LN",
    }
}

/// How each norm position orders a sublayer, for the messages.
fn recipe(position: NormPosition) -> &'static str {
    match position {
        NormPosition::Post => "post-LN (`NormPosition::Post`): x = norm(x + sublayer(x))",
        NormPosition::Pre => "pre-LN (`NormPosition::Pre`): x = x + sublayer(norm(x))",
    }
}

/// The batch items where `actual` differs from `expected`.
fn differing_items(expected: &Array3<f32>, actual: &Array3<f32>) -> Vec<usize> {
    (0..expected.dim().0)
        .filter(|&b| {
            let item = |a: &Array3<f32>| a.slice(s![b, .., ..]).to_owned();
            !matches(&item(expected), &item(actual))
        })
        .collect()
}

/// One sublayer switched off (its output forced to 0), for [`layer_diagnosis`].
struct SwitchedOff {
    /// The sublayer, e.g. "self-attention".
    name: &'static str,
    /// What to check in it.
    what: &'static str,
    /// The learner's layer output (`None`: it panicked).
    yours: Option<Array3<f32>>,
    /// The crate's.
    reference: Array3<f32>,
}

/// What a failed layer check found, from three kinds of evidence (diagnosis only: the verdict
/// comes from PyTorch's output; these comparisons use the crate's layers, themselves checked
/// against PyTorch in tests/ch07_transformer.rs):
/// - `padded`: the batch items with padding; when only they differ, the mask is the suspect;
/// - `guesses`: the layer's output under usual mistakes, each with its message when it
///   matches the learner's;
/// - `switched_off`: for each sublayer, the learner's and the crate's output with that
///   sublayer's output forced to 0: when the learner's layer matches with one sublayer off,
///   the difference is inside that sublayer.
fn layer_diagnosis(
    expected: &Array3<f32>,
    actual: &Array3<f32>,
    padded: (&[usize], &str),
    guesses: Vec<(Array3<f32>, String)>,
    switched_off: Vec<SwitchedOff>,
) -> Vec<String> {
    let mut found = Vec::new();
    if expected.shape() != actual.shape() {
        return found;
    }
    let items = differing_items(expected, actual);
    let (padded, mask) = padded;
    if !items.is_empty() && items.iter().all(|b| padded.contains(b)) {
        found.push(format!(
            "only batch item(s) {items:?} differ, the one(s) with padding: check the mask \
             ({mask})."
        ));
    }
    found.extend(
        guesses
            .into_iter()
            .filter(|(guess, _)| matches(guess, actual))
            .map(|(_, what)| what),
    );
    let inside: Vec<String> = switched_off
        .iter()
        .filter(|off| {
            off.yours
                .as_ref()
                .is_some_and(|y| matches(&off.reference, y))
        })
        .map(|SwitchedOff { name, what, .. }| {
            format!(
                "with the {name} sublayer switched off (its output forced to 0) your layer \
                 matches, so the difference is inside the {name} sublayer: {what}."
            )
        })
        .collect();
    if inside.is_empty() && found.is_empty() {
        found.push(
            "switching off any one sublayer does not make your layer match, so look at what \
             wraps every sublayer: the residual additions (`x + …`) and where the norms go."
                .into(),
        );
    }
    found.extend(inside);
    found
}

/// For diagnosis: the encoder layer without its residual connections.
fn encoder_without_residuals(
    layer: &EncoderLayer,
    x: &Array3<f32>,
    mask: Option<&Mask>,
) -> Array3<f32> {
    let attend = |h: &Array3<f32>| layer.self_attn.forward(h, h, h, mask).unwrap().output;
    let ffn = |h: &Array3<f32>| layer.feed_forward.forward(h).unwrap();
    let (norm1, norm2) = (&layer.norm1, &layer.norm2);
    match layer.norm_position {
        NormPosition::Post => norm2
            .forward(&ffn(&norm1.forward(&attend(x)).unwrap()))
            .unwrap(),
        NormPosition::Pre => ffn(&norm2.forward(&attend(&norm1.forward(x).unwrap())).unwrap()),
    }
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
        let padding = fx.bool_input::<Ix2>("src_key_padding_mask");
        let mask = Mask::from_torch_key_padding_mask(&padding).unwrap();
        let x: Array3<f32> = fx.input("src");
        let case = fixture_case(name, detail);
        let actual = call(&case, || f(&layer, &x, Some(&mask)))?;
        let expected = fx.output::<Ix3>("out");
        let diagnose = || {
            let position = layer.norm_position;
            let swapped = EncoderLayer {
                norm_position: other(position),
                ..layer.clone()
            };
            let guesses = vec![
                (
                    swapped.forward(&x, Some(&mask)).unwrap(),
                    format!(
                        "your output is the {} layer's, but this layer is {}. Match on \
                         `layer.norm_position`.",
                        name_of(other(position)),
                        recipe(position)
                    ),
                ),
                (
                    layer.forward(&x, None).unwrap(),
                    "your output is the layer's without the mask: pass `mask` to \
                     `layer.self_attn.forward(h, h, h, mask)`."
                        .into(),
                ),
                (
                    encoder_without_residuals(&layer, &x, Some(&mask)),
                    "your output is the layer's without the residual connections: add each \
                     sublayer's input back (`x + …`)."
                        .into(),
                ),
            ];
            let mut switched_off = Vec::new();
            for (sublayer, what) in [
                (
                    "self-attention",
                    "its input (`h, h, h`: queries, keys and values all from the same x) and \
                     its `mask`",
                ),
                (
                    "feed-forward",
                    "`layer.feed_forward.forward(h)` on the right input",
                ),
            ] {
                let mut off = layer.clone();
                match sublayer {
                    "self-attention" => silence(&mut off.self_attn.out_proj),
                    _ => silence(&mut off.feed_forward.linear2),
                }
                let yours = call("", || f(&off, &x, Some(&mask))).ok();
                let reference = off.forward(&x, Some(&mask)).unwrap();
                switched_off.push(SwitchedOff {
                    name: sublayer,
                    what,
                    yours,
                    reference,
                });
            }
            let padded: Vec<usize> = (0..padding.nrows())
                .filter(|&b| padding.row(b).iter().any(|&p| p))
                .collect();
            let mask_use = "pass `mask` to the self-attention";
            layer_diagnosis(
                &expected,
                &actual,
                (&padded, mask_use),
                guesses,
                switched_off,
            )
        };
        diagnosed(
            close("layer output", &case, &expected, &actual, next),
            diagnose,
        )?;
    }
    Ok(())
}

/// For diagnosis: the decoder layer, its cross-attention reading keys and values from x
/// instead of `memory` when `cross_to_itself`.
fn decoder_with(
    layer: &DecoderLayer,
    x: &Array3<f32>,
    memory: &Array3<f32>,
    masks: (Option<&Mask>, Option<&Mask>),
    cross_to_itself: bool,
) -> Array3<f32> {
    let (self_mask, memory_mask) = masks;
    let self_attend = |h: &Array3<f32>| layer.self_attn.forward(h, h, h, self_mask).unwrap().output;
    let cross_attend = |h: &Array3<f32>| {
        let (kv, mask) = if cross_to_itself {
            (h, None)
        } else {
            (memory, memory_mask)
        };
        layer.cross_attn.forward(h, kv, kv, mask).unwrap().output
    };
    let ffn = |h: &Array3<f32>| layer.feed_forward.forward(h).unwrap();
    let norm = |n: &LayerNorm, h: &Array3<f32>| n.forward(h).unwrap();
    match layer.norm_position {
        NormPosition::Post => {
            let x = norm(&layer.norm1, &(x + &self_attend(x)));
            let x = norm(&layer.norm2, &(&x + &cross_attend(&x)));
            norm(&layer.norm3, &(&x + &ffn(&x)))
        }
        NormPosition::Pre => {
            let x = x + &self_attend(&norm(&layer.norm1, x));
            let x = &x + &cross_attend(&norm(&layer.norm2, &x));
            &x + &ffn(&norm(&layer.norm3, &x))
        }
    }
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
        let padding = fx.bool_input::<Ix2>("memory_key_padding_mask");
        let memory_mask = Mask::from_torch_key_padding_mask(&padding).unwrap();
        let (x, memory): (Array3<f32>, Array3<f32>) = (fx.input("tgt"), fx.input("memory"));
        let case = fixture_case(name, detail);
        let masks = (Some(&self_mask), Some(&memory_mask));
        let actual = call(&case, || f(&layer, &x, &memory, masks.0, masks.1))?;
        let expected = fx.output::<Ix3>("out");
        let diagnose = || {
            let position = layer.norm_position;
            let swapped = DecoderLayer {
                norm_position: other(position),
                ..layer.clone()
            };
            let guesses = vec![
                (
                    decoder_with(&swapped, &x, &memory, masks, false),
                    format!(
                        "your output is the {} layer's, but this layer is {}. Match on \
                         `layer.norm_position`.",
                        name_of(other(position)),
                        recipe(position)
                    ),
                ),
                (
                    decoder_with(&layer, &x, &memory, (None, masks.1), false),
                    "your output is the layer's without `self_mask`: the self-attention sees \
                     the future. Pass `self_mask` to `layer.self_attn.forward`."
                        .into(),
                ),
                (
                    decoder_with(&layer, &x, &memory, (masks.0, None), false),
                    "your output is the layer's without `memory_mask`: pass it to \
                     `layer.cross_attn.forward(h, memory, memory, memory_mask)`."
                        .into(),
                ),
                (
                    decoder_with(&layer, &x, &memory, masks, true),
                    "your cross-attention reads its keys and values from x: they come from \
                     the encoder, `memory` (the queries from x)."
                        .into(),
                ),
            ];
            let mut switched_off = Vec::new();
            for (sublayer, what) in [
                ("self-attention", "`h, h, h` and `self_mask` (causal)"),
                (
                    "cross-attention",
                    "queries from the decoder (`h`), keys and values from `memory`, and \
                     `memory_mask`",
                ),
                (
                    "feed-forward",
                    "`layer.feed_forward.forward(h)` on the right input",
                ),
            ] {
                let mut off = layer.clone();
                match sublayer {
                    "self-attention" => silence(&mut off.self_attn.out_proj),
                    "cross-attention" => silence(&mut off.cross_attn.out_proj),
                    _ => silence(&mut off.feed_forward.linear2),
                }
                let yours = call("", || f(&off, &x, &memory, masks.0, masks.1)).ok();
                let reference = decoder_with(&off, &x, &memory, masks, false);
                switched_off.push(SwitchedOff {
                    name: sublayer,
                    what,
                    yours,
                    reference,
                });
            }
            let padded: Vec<usize> = (0..padding.nrows())
                .filter(|&b| padding.row(b).iter().any(|&p| p))
                .collect();
            let mask_use = "pass `memory_mask` to the cross-attention";
            layer_diagnosis(
                &expected,
                &actual,
                (&padded, mask_use),
                guesses,
                switched_off,
            )
        };
        diagnosed(
            close("layer output", &case, &expected, &actual, next),
            diagnose,
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

    // An exact tie: with the generator's weights 0 its logits are its bias at every position,
    // here 1 for tokens 3 and 7 and 0 elsewhere. The first of the tied tokens wins.
    let mut tied = model.clone();
    tied.generator.weight.fill(0.0);
    let mut bias = Array1::zeros(tied.generator.weight.nrows());
    bias[3] = 1.0;
    bias[7] = 1.0;
    tied.generator.bias = Some(bias);
    let prefix = &greedy[..2];
    let case = format!(
        "case: a tie: the seq2seq fixture's model with its generator's weights set to 0 and \
         its bias to 1 at tokens 3 and 7 (0 elsewhere), so the logits of tokens 3 and 7 are \
         both exactly 1; src {src0:?}, target so far {prefix:?}"
    );
    let actual = call(&case, || f(&tied, &src0, prefix))?;
    let ties = "on a tie keep the *first* largest logit: replace the best only when a logit is \
                strictly larger (`Iterator::max_by` returns the last of equal maxima).";
    same_value("next token", &case, 3, actual, ties)
}
