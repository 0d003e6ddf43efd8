//! Chapter 6, multi-head attention: splitting into heads, the shapes along the way, the
//! StatQuest head as two heads of size 1, and the per-head heatmaps.

use std::fmt::Write as _;

use attention::ndarray::{Array2, Axis, array, s};
use attention::nn::seeded_rng;
use attention::params::Params;
use attention::plot;
use attention::prelude::{Linear, MultiHeadAttention, MultiHeadOutput, split_heads};
use attention::worked;

use super::{
    Figure, Numbers, PIZZA_SEED, anchors, bmatrix, bmatrix_dp, err, figure, fmt_dp, most_attended,
    num, percent, pizza, token_md,
};

pub fn numbers() -> Result<Numbers, String> {
    Ok(vec![
        ("ch06-split.md", split()?),
        ("ch06-shapes.md", shapes()?),
        ("ch06-worked.md", worked_example()?),
        ("ch06-by-hand.md", two_heads_by_hand()?),
    ])
}

pub fn figures() -> Result<Vec<Figure>, String> {
    let p = pizza()?;
    let batch = p.x.insert_axis(Axis(0)); // (1, seq, d_model)
    let pizza_heads = pizza_layer()?
        .forward(&batch, &batch, &batch, None)
        .map_err(err)?;
    let statquest_heads = statquest_two_heads().map_err(err)?;
    let tokens = worked::statquest_tokens();
    Ok(vec![
        figure(
            "ch06-heads",
            "Four heads, four patterns (untrained weights)",
            |t| {
                let weights = pizza_heads.weights.index_axis(Axis(0), 0);
                plot::multi_head_heatmaps(&weights, &p.tokens, &p.tokens, t)
            },
        )?,
        figure(
            "ch06-statquest-heads",
            "Two heads of size 1 on “let's go <eos>”",
            |t| {
                let weights = statquest_heads.weights.index_axis(Axis(0), 0);
                plot::multi_head_heatmaps(&weights, &tokens, &tokens, t)
            },
        )?,
    ])
}

/// The untrained 4-head layer (d_model 8) the chapter runs on the pizza sentence.
fn pizza_layer() -> Result<MultiHeadAttention, String> {
    let rng = &mut seeded_rng(PIZZA_SEED + 2);
    MultiHeadAttention::from_params(&Params::init(rng), 8, 4).map_err(err)
}

/// The StatQuest head's projections as a 2-head layer (d_model 2, d_k 1) with out_proj = I:
/// head 0 reads column 0 of Q, K, V, head 1 column 1.
fn statquest_two_heads() -> attention::Result<MultiHeadOutput> {
    let head = worked::statquest_head();
    let identity = Linear::new(array![[1.0, 0.0], [0.0, 1.0]], None)?;
    let mha = MultiHeadAttention::new(2, head.w_q, head.w_k, head.w_v, identity)?;
    let x = worked::statquest_encodings().insert_axis(Axis(0)); // (1, 3, 2)
    mha.forward(&x, &x, &x, None)
}

/// A `(1, 2, 4)` input split into two heads of size 2.
fn split() -> Result<String, String> {
    let x = Array2::from_shape_fn((2, 4), |(i, j)| (4 * i + j) as f32);
    let split = split_heads(&x.clone().insert_axis(Axis(0)), 2).map_err(err)?;
    Ok(format!(
        "$$\nx_{{(1,\\,2,\\,4)}} = {} \\;\\longrightarrow\\; \\text{{head 0}} = {},\\quad \\text{{head 1}} = {}\n$$\n",
        bmatrix_dp(&x, 0),
        bmatrix_dp(&split.slice(s![0, 0, .., ..]), 0),
        bmatrix_dp(&split.slice(s![0, 1, .., ..]), 0),
    ))
}

/// The two heads' weights and the layer's output.
fn worked_example() -> Result<String, String> {
    let out = statquest_two_heads().map_err(err)?;
    let w = out.weights.index_axis(Axis(0), 0); // (heads, 3, 3)
    Ok(format!(
        "$$\nA_{{\\text{{head 0}}}} = {} \\qquad A_{{\\text{{head 1}}}} = {}\n$$\n\n$$\n\\text{{output}} = \\operatorname{{Concat}}(\\text{{head}}_0, \\text{{head}}_1)\\, W_o^\\top = {}\n$$\n",
        bmatrix(&w.index_axis(Axis(0), 0)),
        bmatrix(&w.index_axis(Axis(0), 1)),
        bmatrix(&out.output.index_axis(Axis(0), 0))
    ))
}

/// The sentences around the two heads' weights: head 0's row 0 by hand (checked against the
/// crate), and a token the two heads send to different places.
fn two_heads_by_hand() -> Result<String, String> {
    let head = worked::statquest_head();
    let x = worked::statquest_encodings();
    let q = head.w_q.forward(&x).map_err(err)?;
    let k = head.w_k.forward(&x).map_err(err)?;
    let out = statquest_two_heads().map_err(err)?;
    let w = out.weights.index_axis(Axis(0), 0); // (heads, 3, 3)
    // Head 0 reads column 0: one number per query and key, scores divided by √1.
    let q0 = q[[0, 0]];
    let scores: Vec<f32> = k.column(0).iter().map(|&k| q0 * k).collect();
    let exps: Vec<f32> = scores.iter().map(|s| s.exp()).collect();
    let sum: f32 = exps.iter().sum();
    for (j, e) in exps.iter().enumerate() {
        let crate_value = w[[0, 0, j]];
        if (e / sum - crate_value).abs() > 1e-4 {
            return Err(format!(
                "head 0 row 0 by hand gives {}, the crate {crate_value}",
                e / sum
            ));
        }
    }
    let list = |values: Vec<String>| format!("({})", values.join(", "));
    let row0 = format!(
        "$q = {}$, keys ${}$, scores ${}$, softmax ${}$",
        fmt_dp(q0, 2),
        list(k.column(0).iter().map(|&v| fmt_dp(v, 2)).collect()),
        list(scores.iter().map(|&v| num(v)).collect()),
        list(exps.iter().map(|e| num(e / sum)).collect()),
    );
    // The first token whose favourite key differs between the heads.
    let tokens = worked::statquest_tokens();
    let head0 = most_attended(&w.index_axis(Axis(0), 0), &tokens, &tokens);
    let head1 = most_attended(&w.index_axis(Axis(0), 1), &tokens, &tokens);
    let (i, (a, b)) = head0
        .iter()
        .zip(&head1)
        .enumerate()
        .find(|(_, (a, b))| a.1 != b.1)
        .ok_or("the two heads attend most to the same key for every token")?;
    let target = |t: &str| {
        if t == a.0 {
            "itself".to_string()
        } else {
            token_md(t)
        }
    };
    let contrast = format!(
        "for {} (row {i}), head 0 puts {} of its weight on {}, head 1 {} on {}",
        token_md(a.0),
        percent(a.2),
        target(a.1),
        percent(b.2),
        target(b.1)
    );
    Ok(anchors(&[("row0", row0), ("contrast", contrast)]))
}

/// `(2, 3)` as `"(2, 3)"`.
fn shape(s: &[usize]) -> String {
    let parts: Vec<String> = s.iter().map(usize::to_string).collect();
    format!("({})", parts.join(", "))
}

/// The shape after each step of the pizza layer.
fn shapes() -> Result<String, String> {
    let p = pizza()?;
    let mha = pizza_layer()?;
    let batch = p.x.insert_axis(Axis(0));
    let q = mha.w_q.forward(&batch).map_err(err)?;
    let heads = split_heads(&q, 4).map_err(err)?;
    let out = mha.forward(&batch, &batch, &batch, None).map_err(err)?;
    let mut md = format!(
        "The pizza sentence has {} tokens; d_model = 8, 4 heads, so d_k = 2.\n\n| step | shape |\n|---|---|\n",
        p.tokens.len()
    );
    let rows = [
        ("input x", shape(batch.shape())),
        ("Q = x·W_qᵀ (same for K, V)", shape(q.shape())),
        ("split_heads(Q, 4)", shape(heads.shape())),
        ("weights, one matrix per head", shape(out.weights.shape())),
        ("merge_heads, then out_proj", shape(out.output.shape())),
        (
            "averaged_weights() (PyTorch's default return)",
            shape(out.averaged_weights().shape()),
        ),
    ];
    for (step, s) in rows {
        writeln!(md, "| {step} | `{s}` |").unwrap();
    }
    Ok(md)
}
