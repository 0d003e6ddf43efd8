//! Chapter 6 checks, multi-head attention (`src/exercises/ch06.rs`): one per exercise, named like
//! the learner's function it checks.

use attention::masked::Mask;
use attention::multi_head::MultiHeadAttention;
use attention::ndarray::{Array3, Array4, Ix2, Ix3, Ix4, array};
use attention::params::Params;

use super::helpers::{Check, call, close, f32_input, fixture_case};
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
    let cases: [(&str, &str, &str); 4] = [
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
    ];
    for (name, query_name, detail) in cases {
        let fx = fixture(name);
        let mha = load_mha(&fx);
        let query: Array3<f32> = fx.input(query_name);
        let key_value: Array3<f32> = if query_name == "x" {
            query.clone()
        } else {
            fx.input("memory")
        };
        let mask = match name {
            "mha_self_causal" => {
                Some(Mask::from_torch_attn_mask(&fx.bool_input::<Ix2>("attn_mask")).unwrap())
            }
            "mha_cross_padding" => Some(
                Mask::from_torch_key_padding_mask(&fx.bool_input::<Ix2>("key_padding_mask"))
                    .unwrap(),
            ),
            _ => None,
        };
        let case = fixture_case(name, detail);
        let (output, weights) = call(&case, || f(&mha, &query, &key_value, mask.as_ref()))?;
        close(
            "per-head weights",
            &case,
            &fx.output::<Ix4>("attn_weights_per_head"),
            &weights,
            next,
        )?;
        close(
            "output",
            &case,
            &fx.output::<Ix3>("attn_output"),
            &output,
            next,
        )?;
    }
    Ok(())
}
