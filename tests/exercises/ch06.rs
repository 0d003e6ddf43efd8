//! Chapter 6 checks, multi-head attention (`src/exercises/ch06.rs`): one per exercise, named like
//! the learner's function it checks.

use attention::masked::Mask;
use attention::multi_head::MultiHeadAttention;
use attention::ndarray::{Array3, Array4, Ix1, Ix2, Ix3, Ix4, Zip, array, s};
use attention::params::Params;

use super::helpers::{
    Check, call, close, diagnosed, earlier, exercise, f32_input, fixture_case, matches,
    nan_in_fully_masked_rows, softmax_rows_for_diagnosis,
};
use crate::common::{Fixture, fixture};

/// `(batch, seq, d_model)` filled with 0, 1, 2, … so every entry says where it came from.
fn counting(batch: usize, seq: usize, d_model: usize) -> Array3<f32> {
    Array3::from_shape_fn((batch, seq, d_model), |(b, t, c)| {
        ((b * seq + t) * d_model + c) as f32
    })
}

/// The check of `ch06_split_heads`.
pub fn split_heads(f: impl Fn(&Array3<f32>, usize) -> Array4<f32>) -> Check {
    let next = "head h takes columns h·d_k..(h+1)·d_k of *every* token: reshape to (batch, seq, \
                heads, d_k) first, then swap axes 1 and 2 (`permuted_axes([0, 2, 1, 3])`). \
                Reshaping straight to (batch, heads, seq, d_k) splits the sequence instead.";
    // 2 tokens × 4 features, 2 heads of d_k = 2: head 0 gets columns 0–1, head 1 columns 2–3.
    let x = counting(1, 2, 4); // [[0, 1, 2, 3], [4, 5, 6, 7]]
    let expected = array![[[[0.0_f32, 1.0], [4.0, 5.0]], [[2.0, 3.0], [6.0, 7.0]]]];
    let case = format!(
        "case: 2 tokens, d_model 4, 2 heads\n{}  num_heads = 2",
        f32_input("x", &x)
    );
    let actual = call(&case, || f(&x, 2))?;
    close("heads", &case, &expected, &actual, next)?;

    // By the definition: out[b, h, t, i] = x[b, t, h·d_k + i].
    let x = counting(2, 3, 6);
    let expected = Array4::from_shape_fn((2, 3, 3, 2), |(b, h, t, i)| x[[b, t, h * 2 + i]]);
    let case = format!(
        "case: batch 2, 3 tokens, d_model 6, 3 heads\n{}  num_heads = 3",
        f32_input("x", &x)
    );
    let actual = call(&case, || f(&x, 3))?;
    close("heads", &case, &expected, &actual, next)
}

/// The check of `ch06_merge_heads`.
pub fn merge_heads(f: impl Fn(&Array4<f32>) -> Array3<f32>) -> Check {
    let next = "token t's vector is head 0's row t, then head 1's row t…: swap axes 1 and 2 \
                back to (batch, seq, heads, d_k), make the layout standard \
                (`as_standard_layout()`), then reshape to (batch, seq, heads·d_k).";
    let x = array![[[[0.0_f32, 1.0], [4.0, 5.0]], [[2.0, 3.0], [6.0, 7.0]]]];
    let expected = counting(1, 2, 4); // [[0, 1, 2, 3], [4, 5, 6, 7]]
    let case = format!("case: 2 heads of 2 tokens × d_k 2\n{}", f32_input("x", &x));
    let actual = call(&case, || f(&x))?;
    close("merged", &case, &expected, &actual, next)?;

    // By the definition: out[b, t, h·d_k + i] = x[b, h, t, i].
    let x = Array4::from_shape_fn((2, 3, 4, 2), |(b, h, t, i)| {
        (((b * 3 + h) * 4 + t) * 2 + i) as f32
    });
    let expected = Array3::from_shape_fn((2, 4, 6), |(b, t, c)| x[[b, c / 2, t, c % 2]]);
    let case = format!(
        "case: batch 2, 3 heads, 4 tokens, d_k 2\n{}",
        f32_input("x", &x)
    );
    let actual = call(&case, || f(&x))?;
    close("merged", &case, &expected, &actual, next)
}

fn load_mha(fx: &Fixture) -> MultiHeadAttention {
    MultiHeadAttention::from_params(
        &Params::load(&fx.tensors),
        fx.usize("embed_dim"),
        fx.usize("num_heads"),
    )
    .unwrap()
}

/// For diagnosis only: the per-head weights `(batch, heads, tgt_len, src_len)` with the scores
/// scaled by `scale` and the mask applied or not.
fn head_weights(
    mha: &MultiHeadAttention,
    query: &Array3<f32>,
    key_value: &Array3<f32>,
    mask: Option<&Mask>,
    scale: f32,
) -> Array4<f32> {
    let q = mha.w_q.forward(query).unwrap();
    let k = mha.w_k.forward(key_value).unwrap();
    let (batch, tgt_len, d_model) = q.dim();
    let (heads, src_len) = (mha.num_heads, k.dim().1);
    let d_k = d_model / heads;
    let mut out = Array4::zeros((batch, heads, tgt_len, src_len));
    for b in 0..batch {
        for h in 0..heads {
            let cols = s![b, .., h * d_k..(h + 1) * d_k];
            let mut scores = q.slice(cols).dot(&k.slice(cols).t()) * scale;
            if let Some(m) = mask {
                Zip::from(&mut scores)
                    .and(&m.for_sequence(b, tgt_len))
                    .for_each(|s, &ok| {
                        if !ok {
                            *s = f32::NEG_INFINITY;
                        }
                    });
            }
            out.slice_mut(s![b, h, .., ..])
                .assign(&softmax_rows_for_diagnosis(&scores));
        }
    }
    out
}

/// What a failed `ch06_multi_head_attention` found: the earlier exercises it may reuse, NaN
/// in fully masked rows, the usual scaling and mask mistakes. Diagnosis only.
fn multi_head_diagnosis(
    mha: &MultiHeadAttention,
    query: &Array3<f32>,
    key_value: &Array3<f32>,
    mask: Option<&Mask>,
    expected_weights: &Array4<f32>,
    weights: &Array4<f32>,
) -> Vec<String> {
    use attention::exercises::{ch03, ch04, ch06};
    let mut found: Vec<String> = [
        earlier(
            "ch03_scaled_scores",
            "scaled_scores",
            super::ch03::scaled_scores(ch03::scaled_scores),
        ),
        earlier(
            "ch03_softmax_rows",
            "softmax_rows",
            super::ch03::softmax_rows(ch03::softmax_rows),
        ),
        mask.and_then(|_| {
            earlier(
                "ch04_apply_mask",
                "apply_mask",
                super::ch04::apply_mask(ch04::apply_mask),
            )
        }),
        earlier(
            "ch06_split_heads",
            "split_heads",
            split_heads(ch06::split_heads),
        ),
        earlier(
            "ch06_merge_heads",
            "merge_heads",
            merge_heads(ch06::merge_heads),
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    if matches(expected_weights, weights) {
        found.push(
            "your per-head weights are right: look at what follows them: each head's output \
             weights · V, `merge_heads`, then `mha.out_proj`."
                .into(),
        );
        return found;
    }
    if weights.iter().any(|w| w.is_nan()) {
        let tgt_len = query.dim().1;
        let mut rows = Vec::new();
        if let Some(m) = mask {
            for b in 0..weights.dim().0 {
                let allowed = m.for_sequence(b, tgt_len);
                for h in 0..weights.dim().1 {
                    let w = weights.slice(s![b, h, .., ..]);
                    rows.extend(
                        nan_in_fully_masked_rows(w, allowed.view())
                            .into_iter()
                            .map(|i| (b, h, i)),
                    );
                }
            }
        }
        let softmax = exercise("ch03_softmax_rows");
        found.push(if rows.is_empty() {
            format!(
                "your weights hold NaN: subtract each row's maximum before `exp` \
                 (`softmax_rows`, {softmax})."
            )
        } else {
            format!(
                "(batch, head, query) {rows:?}: these queries may attend to no key, so their \
                 weights must be all 0, but yours are NaN (−∞ − (−∞) in the softmax): fix \
                 `softmax_rows` ({softmax}) to give a fully masked row zeros."
            )
        });
        return found;
    }
    let d_model = query.dim().2 as f32;
    let d_k = mha.d_k() as f32;
    let mut guesses = vec![
        (
            head_weights(mha, query, key_value, mask, 1.0 / d_model.sqrt()),
            format!(
                "your scores are scaled by 1/√d_model = 1/√{d_model}: each head has d_k = \
                 d_model / num_heads = {d_k} columns, so scale by 1/√{d_k}."
            ),
        ),
        (
            head_weights(mha, query, key_value, mask, 1.0),
            format!("your scores are not scaled: divide each head's q·kᵀ by √d_k = √{d_k}."),
        ),
    ];
    if mask.is_some() {
        guesses.push((
            head_weights(mha, query, key_value, None, 1.0 / d_k.sqrt()),
            "your weights are those without the mask: apply `mask.for_sequence(b, tgt_len)` \
             to each head's scores (−∞ where false) before the softmax."
                .into(),
        ));
    }
    found.extend(
        guesses
            .into_iter()
            .filter(|(guess, _)| matches(guess, weights))
            .map(|(_, what)| what),
    );
    found
}

/// The check of `ch06_multi_head_attention`.
#[allow(clippy::type_complexity)]
pub fn multi_head_attention(
    f: impl Fn(
        &MultiHeadAttention,
        &Array3<f32>,
        &Array3<f32>,
        Option<&Mask>,
    ) -> (Array3<f32>, Array4<f32>),
) -> Check {
    let next = "scale by √d_k with d_k = d_model / num_heads (not √d_model); apply the mask \
                before the softmax; merge the heads and finish with `out_proj`. If the weights \
                match but the output does not, look at the merge and `out_proj`.";
    let cases: [(&str, &str, &str); 5] = [
        (
            "mha_self",
            "x",
            "self-attention, nn.MultiheadAttention(8, 2), batch 2, 5 tokens",
        ),
        (
            "mha_self_causal",
            "x",
            "causal self-attention, nn.MultiheadAttention(8, 2)",
        ),
        (
            "mha_cross",
            "query",
            "cross-attention, 4 queries, 6 keys (input `memory`)",
        ),
        (
            "mha_cross_padding",
            "query",
            "cross-attention with key padding",
        ),
        (
            "mha_self",
            "x",
            "self-attention; in batch item 0, query 2 may attend to no key (a fully masked \
             row): its weights must be 0 in every head, so its output is out_proj's bias",
        ),
    ];
    for (i, (name, query_name, detail)) in cases.into_iter().enumerate() {
        let fx = fixture(name);
        let mha = load_mha(&fx);
        let query: Array3<f32> = fx.input(query_name);
        let key_value: Array3<f32> = if query_name == "x" {
            query.clone()
        } else {
            fx.input("memory")
        };
        let mut expected_weights = fx.output::<Ix4>("attn_weights_per_head");
        let mut expected_output = fx.output::<Ix3>("attn_output");
        let fully_masked = i == 4;
        let mask = match name {
            "mha_self_causal" => {
                Some(Mask::from_torch_attn_mask(&fx.bool_input::<Ix2>("attn_mask")).unwrap())
            }
            "mha_cross_padding" => Some(
                Mask::from_torch_key_padding_mask(&fx.bool_input::<Ix2>("key_padding_mask"))
                    .unwrap(),
            ),
            _ if fully_masked => {
                // Every other query may attend to every key, as in the unmasked fixture, so
                // only query 2 of item 0 changes: zero weights, and a zero merged row that
                // out_proj turns into its bias.
                let (batch, seq, _) = query.dim();
                let allowed =
                    Array3::from_shape_fn((batch, seq, seq), |(b, t, _)| (b, t) != (0, 2));
                expected_weights.slice_mut(s![0, .., 2, ..]).fill(0.0);
                let bias = fx.tensors.get("out_proj.bias").unwrap().clone();
                expected_output
                    .slice_mut(s![0, 2, ..])
                    .assign(&bias.into_dimensionality::<Ix1>().unwrap());
                Some(Mask::batched(allowed).unwrap())
            }
            _ => None,
        };
        let case = fixture_case(name, detail);
        let (output, weights) = call(&case, || f(&mha, &query, &key_value, mask.as_ref()))?;
        let diagnose = || {
            multi_head_diagnosis(
                &mha,
                &query,
                &key_value,
                mask.as_ref(),
                &expected_weights,
                &weights,
            )
        };
        diagnosed(
            close("per-head weights", &case, &expected_weights, &weights, next),
            diagnose,
        )?;
        diagnosed(
            close("output", &case, &expected_output, &output, next),
            diagnose,
        )?;
    }
    Ok(())
}
