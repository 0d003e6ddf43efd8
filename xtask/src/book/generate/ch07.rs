//! Chapter 7, the Transformer: layer norm on one vector, the toy translation model in its
//! post-LN and pre-LN forms, and the path-length and cross-attention figures.

use std::fmt::Write as _;

use attention::ndarray::{Array2, Array3, Axis, array};
use attention::params::Module;
use attention::plot;
use attention::plotly::Plot;
use attention::prelude::{BOS_ID, EOS_ID, LayerNorm, NamedTensors, NormPosition, greedy_decode};
use attention::worked;

use super::{Figure, Numbers, bmatrix, bmatrix_dp, err, figure, fmt_dp, num, trained};

pub fn numbers() -> Result<Numbers, String> {
    Ok(vec![
        ("ch07-ffn.md", feed_forward()?),
        ("ch07-layer-norm.md", layer_norm()?),
        ("ch07-translate.md", translate()?),
        ("ch07-norms.md", norms()?),
        ("ch07-predict-layer-norm.md", predict_layer_norm()?),
        ("ch07-predict-residual.md", predict_residual()?),
        (
            "ch07-trained.md",
            trained::translations(&trained::all()?[2])?,
        ),
    ])
}

pub fn figures() -> Result<Vec<Figure>, String> {
    let (src_tokens, tgt_tokens, weights) = toy_cross_weights().map_err(err)?;
    let translator = trained::all()?.remove(2); // chapter 9's trained translator
    Ok(vec![
        figure("ch07-path-length", "Path length between two tokens", |t| {
            Ok(path_length_figure(t))
        })?,
        figure(
            "ch07-cross-heads",
            "Cross-attention heads of decoder layer 0 (untrained toy model)",
            |t| plot::multi_head_heatmaps(&weights, &tgt_tokens, &src_tokens, t),
        )?,
        figure(
            "ch07-cross-trained",
            "Cross-attention of the trained translator (last decoder layer, mean of the heads)",
            |t| trained::before_after_figure(&translator, Some("let's go"), t),
        )?,
    ])
}

/// Steps between two tokens in an RNN and in self-attention, against the length.
fn path_length_figure(title: &str) -> Plot {
    let ns: Vec<f64> = (2..=32).map(f64::from).collect();
    let series = vec![
        (
            "RNN: steps between the first and last token".to_string(),
            ns.iter().map(|n| n - 1.0).collect(),
        ),
        (
            "self-attention: steps between any two tokens".to_string(),
            ns.iter().map(|_| 1.0).collect(),
        ),
    ];
    plot::line_chart(&ns, &series, title, "sequence length n", "steps")
}

/// Per-head cross-attention weights `(heads, tgt, src)` of the toy model's first decoder layer
/// translating "let's go", with the source and target tokens.
fn toy_cross_weights() -> attention::Result<(Vec<String>, Vec<String>, Array3<f32>)> {
    let model = worked::toy_translation_model(NormPosition::Post, 0)?;
    let (src_vocab, tgt_vocab) = worked::toy_translation_vocabs();
    let src_ids = src_vocab.encode_with_specials("let's go");
    let tgt_ids = vec![BOS_ID, tgt_vocab.id("vamos").unwrap_or(BOS_ID)];
    let weights = model.cross_attention(&src_ids, &tgt_ids, 0)?; // (heads, tgt, src)
    Ok((
        src_vocab.tokens_of(&src_ids)?,
        tgt_vocab.tokens_of(&tgt_ids)?,
        weights,
    ))
}

/// The feed-forward example on two tokens: the hidden layer before and after the ReLU, and
/// the output.
fn feed_forward() -> Result<String, String> {
    let ffn = worked::feed_forward_example().map_err(err)?;
    let x = worked::feed_forward_inputs(); // (2, 2)
    let pre = ffn.linear1.forward(&x).map_err(err)?; // (2, 4)
    let hidden = pre.mapv(|v| v.max(0.0));
    let out = ffn.forward(&x).map_err(err)?; // (2, 2)
    Ok(format!(
        "$$\nW_1 = {}\\quad b_1 = {}\\qquad W_2 = {}\\quad b_2 = {}\n$$\n\n$$\nx = {} \\;\\to\\; xW_1^\\top + b_1 = {} \\;\\xrightarrow{{\\operatorname{{ReLU}}}}\\; {} \\;\\to\\; \\operatorname{{FFN}}(x) = {}\n$$\n",
        bmatrix_dp(&ffn.linear1.weight, 0),
        bmatrix_dp(&row(ffn.linear1.bias.as_ref()), 1),
        bmatrix_dp(&ffn.linear2.weight, 1),
        bmatrix_dp(&row(ffn.linear2.bias.as_ref()), 1),
        bmatrix_dp(&x, 0),
        bmatrix_dp(&pre, 1),
        bmatrix_dp(&hidden, 1),
        bmatrix_dp(&out, 2),
    ))
}

/// A bias as a `(1, n)` row (zeros if there is none).
fn row(bias: Option<&attention::ndarray::Array1<f32>>) -> Array2<f32> {
    let b = bias.cloned().unwrap_or_default();
    let n = b.len();
    b.into_shape_with_order((1, n)).expect("1 × n")
}

/// Layer norm of one 4-vector, with its mean and variance.
fn layer_norm() -> Result<String, String> {
    let x = array![[1.0_f32, 2.0, 3.0, 6.0]];
    let y = LayerNorm::new(4).forward(&x).map_err(err)?;
    let mean = x.mean().unwrap_or(0.0);
    let var = x.mapv(|v| (v - mean) * (v - mean)).mean().unwrap_or(0.0);
    Ok(format!(
        "$$\nx = {} \\quad \\mu = {} \\quad \\sigma^2 = {} \\quad \\operatorname{{LayerNorm}}(x) = {}\n$$\n",
        bmatrix_dp(&x, 0),
        num(mean),
        num(var),
        bmatrix(&y)
    ))
}

/// Parameter count and greedy output of the toy model, post-LN and pre-LN, and its vocabularies.
fn translate() -> Result<String, String> {
    let (src_vocab, tgt_vocab) = worked::toy_translation_vocabs();
    let mut md = String::from("| | post-LN (default) | pre-LN |\n|---|---|---|\n");
    let mut rows = vec![
        ("parameters".to_string(), Vec::new()),
        ("greedy output for “let's go”".to_string(), Vec::new()),
    ];
    for norm in [NormPosition::Post, NormPosition::Pre] {
        let model = worked::toy_translation_model(norm, 0).map_err(err)?;
        let mut tensors = NamedTensors::new();
        model.parameters_into("", &mut tensors);
        let count: usize = tensors
            .names()
            .map(|n| tensors.get(n).map_or(0, |t| t.len()))
            .sum();
        rows[0].1.push(count.to_string());
        let src = src_vocab.encode_with_specials("let's go");
        let out = greedy_decode(&model, &src, BOS_ID, EOS_ID, 5).map_err(err)?;
        rows[1]
            .1
            .push(format!("`{}`", tgt_vocab.decode(&out).map_err(err)?));
    }
    for (name, cells) in rows {
        writeln!(md, "| {name} | {} |", cells.join(" | ")).unwrap();
    }
    writeln!(
        md,
        "\nSource vocabulary: {} tokens; target vocabulary: {} tokens (`{}`).",
        src_vocab.len(),
        tgt_vocab.len(),
        tgt_vocab.tokens().join(" ")
    )
    .unwrap();
    Ok(md)
}

/// Mean and standard deviation of each token after the first encoder layer, post-LN and
/// pre-LN.
fn norms() -> Result<String, String> {
    let (src_vocab, _) = worked::toy_translation_vocabs();
    let ids = src_vocab.encode_with_specials("let's go");
    let tokens = src_vocab.tokens_of(&ids).map_err(err)?;
    let ids = Array2::from_shape_vec((1, ids.len()), ids).expect("1 × n");
    let mut columns = Vec::new();
    for norm in [NormPosition::Post, NormPosition::Pre] {
        columns.push(encoder_layer_stats(norm, &ids)?);
    }
    let mut md = String::from(
        "| token | post-LN: mean | post-LN: std | pre-LN: mean | pre-LN: std |\n|---|---:|---:|---:|---:|\n",
    );
    for (i, token) in tokens.iter().enumerate() {
        let (pm, ps) = columns[0][i];
        let (qm, qs) = columns[1][i];
        writeln!(
            md,
            "| `{token}` | {} | {} | {} | {} |",
            fmt_dp(pm, 2),
            fmt_dp(ps, 2),
            fmt_dp(qm, 2),
            fmt_dp(qs, 2)
        )
        .unwrap();
    }
    Ok(md)
}

/// `(mean, std)` of each token's vector after the toy model's first encoder layer.
fn encoder_layer_stats(norm: NormPosition, ids: &Array2<usize>) -> Result<Vec<(f32, f32)>, String> {
    let model = worked::toy_translation_model(norm, 0).map_err(err)?;
    let x = model.embed(&model.src_embedding, ids).map_err(err)?; // (1, 4, 8)
    let y = model.transformer.encoder.layers[0]
        .forward(&x, None)
        .map_err(err)?; // (1, 4, 8)
    Ok(y.index_axis(Axis(0), 0)
        .rows()
        .into_iter()
        .map(|r| {
            let mean = r.mean().unwrap_or(0.0);
            let var = r.mapv(|v| (v - mean) * (v - mean)).mean().unwrap_or(0.0);
            (mean, var.sqrt())
        })
        .collect())
}

/// Quiz: LayerNorm of x and of 10·x + 3.
fn predict_layer_norm() -> Result<String, String> {
    let x = array![[1.0_f32, 2.0, 3.0, 6.0]];
    let moved = x.mapv(|v| 10.0 * v + 3.0);
    let ln = LayerNorm::new(4);
    let (a, b) = (
        ln.forward(&x).map_err(err)?,
        ln.forward(&moved).map_err(err)?,
    );
    let diff = (&a - &b).mapv(f32::abs).fold(0.0_f32, |m, &v| m.max(v));
    Ok(format!(
        "$$\n\\operatorname{{LayerNorm}}({}) = {} \\qquad \\operatorname{{LayerNorm}}({}) = {}\n$$\n\n\
         Largest difference: {}.\n",
        bmatrix_dp(&x, 0),
        bmatrix(&a),
        bmatrix_dp(&moved, 0),
        bmatrix(&b),
        fmt_dp(diff, 4)
    ))
}

/// cos(a, b) of two vectors.
fn cosine(a: &attention::ndarray::ArrayView1<f32>, b: &attention::ndarray::ArrayView1<f32>) -> f32 {
    a.dot(b) / (a.dot(a).sqrt() * b.dot(b).sqrt())
}

/// Quiz: the first sublayer of the toy model's first encoder layer (post-LN) with and
/// without its residual: how much each token's output still points like its input.
fn predict_residual() -> Result<String, String> {
    let (src_vocab, _) = worked::toy_translation_vocabs();
    let ids = src_vocab.encode_with_specials("let's go");
    let tokens = src_vocab.tokens_of(&ids).map_err(err)?;
    let ids = Array2::from_shape_vec((1, ids.len()), ids).expect("1 × n");
    let model = worked::toy_translation_model(NormPosition::Post, 0).map_err(err)?;
    let layer = &model.transformer.encoder.layers[0];
    let x = model.embed(&model.src_embedding, &ids).map_err(err)?; // (1, 4, 8)
    let attn = layer
        .self_attn
        .forward(&x, &x, &x, None)
        .map_err(err)?
        .output;
    let with = layer.norm1.forward(&(&attn + &x)).map_err(err)?; // LN(x + SelfAttn(x))
    let without = layer.norm1.forward(&attn).map_err(err)?; // LN(SelfAttn(x))
    let mut md = String::from(
        "cos(input, output) of each token after the attention sublayer, post-LN (1 = same \
         direction, 0 = unrelated):\n\n| token | with the residual | without |\n|---|---:|---:|\n",
    );
    for (i, token) in tokens.iter().enumerate() {
        let xi = x.slice(attention::ndarray::s![0, i, ..]);
        writeln!(
            md,
            "| `{token}` | {} | {} |",
            fmt_dp(
                cosine(&xi, &with.slice(attention::ndarray::s![0, i, ..])),
                2
            ),
            fmt_dp(
                cosine(&xi, &without.slice(attention::ndarray::s![0, i, ..])),
                2
            )
        )
        .unwrap();
    }
    Ok(md)
}
