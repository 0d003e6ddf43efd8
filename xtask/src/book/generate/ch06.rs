//! Chapter 6, multi-head attention: splitting into heads, the shapes along the way, the
//! StatQuest head as two heads of size 1, and the per-head heatmaps.

use std::fmt::Write as _;

use attention::ndarray::{Array2, Axis, array, s};
use attention::nn::seeded_rng;
use attention::params::{Module, Params};
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
        ("ch06-fused.md", fused()?),
        ("ch06-predict-heads.md", predict_heads()?),
        ("ch06-predict-scale.md", predict_scale()?),
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

/// Head 0's row 0 by hand, the two heads' weights and the layer's output.
fn worked_example() -> Result<String, String> {
    let out = statquest_two_heads().map_err(err)?;
    let w = out.weights.index_axis(Axis(0), 0); // (heads, 3, 3)
    let head = worked::statquest_head();
    let x = worked::statquest_encodings();
    let q = head.w_q.forward(&x).map_err(err)?; // (3, 2): head 0 reads column 0
    let k = head.w_k.forward(&x).map_err(err)?;
    let q0 = q[[0, 0]];
    let keys: Vec<f32> = k.column(0).to_vec();
    let scores: Vec<f32> = keys.iter().map(|&kj| q0 * kj).collect(); // ÷ √1
    let list = |v: &[f32], dp: usize| {
        let parts: Vec<String> = v.iter().map(|&x| fmt_dp(x, dp)).collect();
        format!("({})", parts.join(", "))
    };
    let by_hand = format!(
        "Head 0, row 0 by hand: $q = {}$, keys ${}$, scores ${}$, softmax ${}$.\n\n",
        fmt_dp(q0, 2),
        list(&keys, 2),
        list(&scores, 4),
        list(&w.slice(s![0, 0, ..]).to_vec(), 4)
    );
    Ok(by_hand
        + &format!(
            "$$\nA_{{\\text{{head 0}}}} = {} \\qquad A_{{\\text{{head 1}}}} = {}\n$$\n\n$$\n\\text{{output}} = \\operatorname{{Concat}}(\\text{{head}}_0, \\text{{head}}_1)\\, W_o^\\top = {}\n$$\n",
            bmatrix(&w.index_axis(Axis(0), 0)),
            bmatrix(&w.index_axis(Axis(0), 1)),
            bmatrix(&out.output.index_axis(Axis(0), 0))
        ))
}

/// The pizza layer as 4 separate chapter-3 heads (row slices of W_q, W_k, W_v) against the
/// fused forward with `out_proj = I`, on the first three tokens of the pizza sentence.
fn fused() -> Result<String, String> {
    let p = pizza()?;
    let x = p.x.slice(s![0..3, ..]).to_owned(); // (3, 8)
    let layer = pizza_layer()?;
    let (h, d_k) = (layer.num_heads, layer.d_k());
    let mut md = String::from(
        "| head | its rows of W_q, W_k, W_v (and biases) | weight shape |\n|---|---|---|\n",
    );
    let mut outputs = Vec::new();
    for i in 0..h {
        let head = layer.head(i).map_err(err)?;
        writeln!(
            md,
            "| {i} | {} to {} | `{}` |",
            i * d_k,
            (i + 1) * d_k - 1,
            shape(head.w_q.weight.shape())
        )
        .unwrap();
        outputs.push(head.forward(&x, None).map_err(err)?.output); // (3, d_k)
    }
    let views: Vec<_> = outputs.iter().map(|o| o.view()).collect();
    let separate = attention::ndarray::concatenate(Axis(1), &views).map_err(|e| e.to_string())?; // (3, 8)
    let identity = Linear::new(Array2::eye(8), None).map_err(err)?;
    let fused_layer =
        MultiHeadAttention::new(h, layer.w_q, layer.w_k, layer.w_v, identity).map_err(err)?;
    let batch = x.insert_axis(Axis(0)); // (1, 3, 8)
    let fused = fused_layer
        .forward(&batch, &batch, &batch, None)
        .map_err(err)?
        .output
        .index_axis_move(Axis(0), 0); // (3, 8)
    let diff = (&separate - &fused)
        .mapv(f32::abs)
        .fold(0.0_f32, |m, &v| m.max(v));
    if diff >= 1e-6 {
        return Err(format!(
            "chapter 6: separate heads differ from the fused forward by {diff}"
        ));
    }
    write!(
        md,
        "\n$$\n\\operatorname{{Concat}}(\\text{{head}}_0(x), \\dots, \\text{{head}}_{}(x)) = {}\n$$\n\n$$\n\\text{{fused forward, }} W_o = I\\text{{:}}\\quad {}\n$$\n\nLargest difference between the two, entry by entry: {} (below $10^{{-6}}$: float rounding only).\n",
        h - 1,
        bmatrix(&separate),
        bmatrix(&fused),
        fmt_dp(diff, 6)
    )
    .unwrap();
    Ok(md)
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

/// Quiz: parameters of a d_model 8 layer with 1, 2, 4 and 8 heads.
fn predict_heads() -> Result<String, String> {
    let mut md = String::from("| heads | d_k | parameters |\n|---:|---:|---:|\n");
    for heads in [1, 2, 4, 8] {
        let mha = MultiHeadAttention::from_params(&Params::seeded(0), 8, heads).map_err(err)?;
        writeln!(
            md,
            "| {heads} | {} | {} |",
            mha.d_k(),
            mha.parameter_count()
        )
        .unwrap();
    }
    Ok(md)
}

/// Quiz: head 0's rows of W_q (and its bias entries) times 10 in the pizza layer: how much
/// each head's weights change, and how peaked they are (mean of each row's largest weight).
fn predict_scale() -> Result<String, String> {
    let p = pizza()?;
    let batch = p.x.insert_axis(Axis(0)); // (1, 12, 8)
    let layer = pizza_layer()?;
    let mut scaled = layer.clone();
    let d_k = layer.d_k();
    scaled
        .w_q
        .weight
        .slice_mut(s![0..d_k, ..])
        .mapv_inplace(|w| w * 10.0);
    if let Some(b) = scaled.w_q.bias.as_mut() {
        b.slice_mut(s![0..d_k]).mapv_inplace(|v| v * 10.0);
    }
    let before = layer
        .forward(&batch, &batch, &batch, None)
        .map_err(err)?
        .weights;
    let after = scaled
        .forward(&batch, &batch, &batch, None)
        .map_err(err)?
        .weights;
    let peak = |w: &attention::ndarray::Array4<f32>, h: usize| {
        let rows = w.slice(s![0, h, .., ..]);
        let n = rows.nrows() as f32;
        rows.rows()
            .into_iter()
            .map(|r| r.fold(0.0_f32, |m, &v| m.max(v)))
            .sum::<f32>()
            / n
    };
    let mut md = String::from(
        "| head | largest change of a weight | mean of each row's largest weight, before | after |\n|---:|---:|---:|---:|\n",
    );
    for h in 0..layer.num_heads {
        let change = (&before.slice(s![0, h, .., ..]) - &after.slice(s![0, h, .., ..]))
            .mapv(f32::abs)
            .fold(0.0_f32, |m, &v| m.max(v));
        writeln!(
            md,
            "| {h} | {} | {} | {} |",
            num(change),
            num(peak(&before, h)),
            num(peak(&after, h))
        )
        .unwrap();
    }
    Ok(md)
}
