//! Chapter 3, self-attention: the StatQuest example step by step (inputs, Q, K, V, scores,
//! weights and output), the √d_k experiment, and their two figures.

use std::fmt::Write as _;

use attention::ndarray::ArrayView1;
use attention::nn::Linear;
use attention::plot;
use attention::plotly::Plot;
use attention::self_attention::{SelfAttention, scaled_scores};
use attention::worked::{self, ScalingRow};

use super::{
    Figure, Numbers, anchors, bmatrix, bmatrix_dp, difference, err, figure, fmt_dp, most_attended,
    num, percent, token_md,
};

pub fn numbers() -> Result<Numbers, String> {
    Ok(vec![
        ("ch03-inputs.md", inputs()),
        ("ch03-qkv.md", qkv()?),
        ("ch03-by-hand.md", by_hand()?),
        ("ch03-scores.md", scores()?),
        ("ch03-weights.md", weights()?),
        ("ch03-scaling.md", scaling_table()),
        ("ch03-quiz.md", quiz()?),
    ])
}

pub fn figures() -> Result<Vec<Figure>, String> {
    let tokens = worked::statquest_tokens();
    let attn = worked::statquest_head()
        .forward(&worked::statquest_encodings(), None)
        .map_err(err)?;
    Ok(vec![
        figure(
            "ch03-statquest",
            "Self-attention weights of “let's go <eos>”",
            |t| plot::attention_heatmap(&attn.weights, &tokens, &tokens, t),
        )?,
        figure(
            "ch03-scaling",
            "Largest of 10 attention weights, random q and k (mean of 500 draws)",
            |t| Ok(scaling_figure(t)),
        )?,
    ])
}

/// The encodings of "let's go <eos>" and the head's three weight matrices.
fn inputs() -> String {
    let head = worked::statquest_head();
    format!(
        "$$\nX = {} \\quad W_q = {} \\quad W_k = {} \\quad W_v = {}\n$$\n",
        bmatrix_dp(&worked::statquest_encodings(), 2),
        bmatrix_dp(&head.w_q.weight, 0),
        bmatrix_dp(&head.w_k.weight, 0),
        bmatrix_dp(&head.w_v.weight, 0),
    )
}

/// The names the prose gives the two input numbers of a token.
const INPUT_NAMES: [&str; 2] = ["a", "b"];

/// Row `o` of a weight as a sum over the inputs: `[1, -1]` with `["a", "b"]` → `"a - b"`
/// (coefficients ±1 written as signs, 0 left out).
fn linear_combination(weights: ArrayView1<f32>, inputs: &[String]) -> String {
    let mut text = String::new();
    for (&w, input) in weights.iter().zip(inputs) {
        let term = if w == 0.0 {
            continue;
        } else if w == 1.0 {
            input.clone()
        } else if w == -1.0 {
            format!("-{input}")
        } else {
            format!("{} \\cdot {input}", fmt_dp(w, 1))
        };
        match (text.is_empty(), term.strip_prefix('-')) {
            (true, _) => text = term,
            (false, Some(rest)) => write!(text, " - {rest}").unwrap(),
            (false, None) => write!(text, " + {term}").unwrap(),
        }
    }
    if text.is_empty() {
        "0".to_string()
    } else {
        text
    }
}

/// A 2 × 2 projection as the map `(a, b) ↦ (…, …)`, applied to `inputs`.
fn projection_text(linear: &Linear, inputs: &[String]) -> String {
    let parts: Vec<String> = linear
        .weight
        .rows()
        .into_iter()
        .map(|row| linear_combination(row, inputs))
        .collect();
    format!("({})", parts.join(",\\; "))
}

/// A number as a factor: negative ones in parentheses.
fn factor(v: f32, dp: usize) -> String {
    if v < 0.0 {
        format!("({})", fmt_dp(v, dp))
    } else {
        fmt_dp(v, dp)
    }
}

/// A row vector as `(x, y)`.
fn pair(row: ArrayView1<f32>, dp: usize) -> String {
    let parts: Vec<String> = row.iter().map(|&v| fmt_dp(v, dp)).collect();
    format!("({})", parts.join(", "))
}

/// The hand checks the prose quotes inside its sentences, each recomputed from its parts and
/// compared with the crate: the head's three maps, row 0's projections, one score, row 0's
/// softmax and output, where each token attends most, and the weights a forgotten
/// transpose would give.
fn by_hand() -> Result<String, String> {
    let (head, x) = (worked::statquest_head(), worked::statquest_encodings());
    let q = head.w_q.forward(&x).map_err(err)?;
    let k = head.w_k.forward(&x).map_err(err)?;
    let v = head.w_v.forward(&x).map_err(err)?;
    let scaled = scaled_scores(&q, &k).map_err(err)?;
    let attn = head.forward(&x, None).map_err(err)?;
    let tokens = worked::statquest_tokens();
    let check = |what: &str, by_hand: f32, crate_value: f32| {
        if (by_hand - crate_value).abs() > 1e-4 {
            Err(format!(
                "{what} by hand gives {by_hand}, the crate {crate_value}"
            ))
        } else {
            Ok(())
        }
    };

    let symbols: Vec<String> = INPUT_NAMES.map(String::from).to_vec();
    let maps = format!(
        "$W_q$ maps $(a, b)$ to ${}$, $W_k$ to ${}$ and $W_v$ to ${}$",
        projection_text(&head.w_q, &symbols),
        projection_text(&head.w_k, &symbols),
        projection_text(&head.w_v, &symbols),
    );
    // Row 0's projections with the numbers put in.
    let x0: Vec<String> = x.row(0).iter().map(|&v| factor(v, 2)).collect();
    let row0 = [
        ("Q", &head.w_q, &q),
        ("K", &head.w_k, &k),
        ("V", &head.w_v, &v),
    ]
    .map(|(name, linear, out)| {
        let (text, result) = (projection_text(linear, &x0), pair(out.row(0), 2));
        if text.replace(",\\; ", ", ") == result {
            format!("${name}[0] = {result}$") // no arithmetic to show
        } else {
            format!("${name}[0] = {text} = {result}$")
        }
    })
    .join(", ");

    // Row 0 against key 1.
    let (q0, k1) = (q.row(0), k.row(1));
    let dot = q0.dot(&k1);
    check("score (0, 1)", dot / 2f32.sqrt(), scaled[[0, 1]])?;
    let products: Vec<String> = q0
        .iter()
        .zip(k1.iter())
        .map(|(&a, &b)| format!("{} \\cdot {}", factor(a, 2), factor(b, 2)))
        .collect();
    let score = format!(
        "${} = {}$, and ${} / \\sqrt 2 = {}$",
        products.join(" + "),
        num(dot),
        num(dot),
        num(scaled[[0, 1]])
    );

    // Row 0's softmax.
    let exps: Vec<f32> = scaled.row(0).iter().map(|s| s.exp()).collect();
    let sum: f32 = exps.iter().sum();
    for (j, e) in exps.iter().enumerate() {
        check("softmax row 0", e / sum, attn.weights[[0, j]])?;
    }
    let powers: Vec<String> = scaled
        .row(0)
        .iter()
        .zip(&exps)
        .map(|(&s, &e)| format!("$e^{{{}}} \\approx {}$", num(s), fmt_dp(e, 3)))
        .collect();
    let shares: Vec<String> = exps.iter().map(|e| fmt_dp(e / sum, 3)).collect();
    let softmax = format!(
        "{}; the sum is ${}$, so the shares are ${}$",
        powers.join(", "),
        fmt_dp(sum, 3),
        shares.join(", ")
    );
    let most = most_attended(&attn.weights, &tokens, &tokens);
    let (_, top0, w0) = most[0];
    let row0_top = format!(
        "{} takes {} of its new vector from {}",
        token_md(&tokens[0]),
        percent(w0),
        token_md(top0)
    );

    // Row 0's output.
    let terms: Vec<String> = attn
        .weights
        .row(0)
        .iter()
        .zip(v.rows())
        .map(|(&w, v)| format!("{} \\cdot {}", num(w), pair(v, 2)))
        .collect();
    let out0 = attn.weights.row(0).dot(&v);
    for j in 0..2 {
        check("output row 0", out0[j], attn.output[[0, j]])?;
    }
    let output = format!("${} = {}$", terms.join(" + "), pair(attn.output.row(0), 4));

    let pattern = most
        .iter()
        .map(|(row, column, w)| {
            let column = if row == column {
                "itself".to_string()
            } else {
                token_md(column)
            };
            format!("{} to {column} ({})", token_md(row), percent(*w))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let (_, go_top, go_w) = most[1];
    let itself = if go_top == tokens[1] { " itself" } else { "" };
    let go_most = format!("{}{itself} ({})", token_md(go_top), percent(go_w));

    // The same head with W instead of Wᵀ in every projection.
    let untransposed = |l: &Linear| Linear::new(l.weight.t().to_owned(), None).map_err(err);
    let forgot = SelfAttention::new(
        untransposed(&head.w_q)?,
        untransposed(&head.w_k)?,
        untransposed(&head.w_v)?,
    )
    .map_err(err)?
    .forward(&x, None)
    .map_err(err)?;
    let forgot_row0 = format!(
        "${}$ instead of ${}$",
        pair(forgot.weights.row(0), 4),
        pair(attn.weights.row(0), 4)
    );

    Ok(anchors(&[
        ("maps", maps),
        ("row0", row0),
        ("score", score),
        ("softmax", softmax),
        ("row0_top", row0_top),
        ("output", output),
        ("pattern", pattern),
        ("go_most", go_most),
        ("forgot_row0", forgot_row0),
    ]))
}

/// Queries, keys and values.
fn qkv() -> Result<String, String> {
    let (head, x) = (worked::statquest_head(), worked::statquest_encodings());
    let q = head.w_q.forward(&x).map_err(err)?;
    let k = head.w_k.forward(&x).map_err(err)?;
    let v = head.w_v.forward(&x).map_err(err)?;
    Ok(format!(
        "$$\nQ = X W_q^\\top = {} \\quad K = X W_k^\\top = {} \\quad V = X W_v^\\top = {}\n$$\n",
        bmatrix_dp(&q, 2),
        bmatrix_dp(&k, 2),
        bmatrix_dp(&v, 2)
    ))
}

/// The scores, raw and scaled by √d_k.
fn scores() -> Result<String, String> {
    let (head, x) = (worked::statquest_head(), worked::statquest_encodings());
    let q = head.w_q.forward(&x).map_err(err)?;
    let k = head.w_k.forward(&x).map_err(err)?;
    let raw = q.dot(&k.t());
    let scaled = scaled_scores(&q, &k).map_err(err)?;
    Ok(format!(
        "$$\nQK^\\top = {} \\qquad \\frac{{QK^\\top}}{{\\sqrt{{2}}}} = {}\n$$\n",
        bmatrix(&raw),
        bmatrix(&scaled)
    ))
}

/// The attention weights and the output.
fn weights() -> Result<String, String> {
    let attn = worked::statquest_head()
        .forward(&worked::statquest_encodings(), None)
        .map_err(err)?;
    Ok(format!(
        "$$\nA = \\operatorname{{softmax}}\\!\\left(\\frac{{QK^\\top}}{{\\sqrt{{2}}}}\\right) = {}\n$$\n\n$$\n\\text{{output}} = A V = {}\n$$\n",
        bmatrix(&attn.weights),
        bmatrix(&attn.output)
    ))
}

/// The √d_k experiment, 500 draws per size (computed once; `attention::worked`).
fn scaling_experiment() -> &'static [ScalingRow] {
    static ROWS: std::sync::OnceLock<Vec<ScalingRow>> = std::sync::OnceLock::new();
    ROWS.get_or_init(|| worked::scaling_experiment(500))
}

/// Three rows of the experiment: d_k = 4, 64 and 512.
fn scaling_table() -> String {
    let mut md = String::from(
        "| d_k | spread (std) of q · k | of q · k / √d_k | largest weight, unscaled | scaled |\n|---:|---:|---:|---:|---:|\n",
    );
    for r in scaling_experiment()
        .iter()
        .filter(|r| [4, 64, 512].contains(&r.d_k))
    {
        writeln!(
            md,
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} |",
            r.d_k, r.std_raw, r.std_scaled, r.max_raw, r.max_scaled
        )
        .unwrap();
    }
    md
}

/// The largest weight against log₂ d_k, without and with the scaling.
fn scaling_figure(title: &str) -> Plot {
    let rows = scaling_experiment();
    let xs: Vec<f64> = rows.iter().map(|r| (r.d_k as f64).log2()).collect();
    let series = vec![
        (
            "softmax(q·k): without scaling".to_string(),
            rows.iter().map(|r| r.max_raw).collect(),
        ),
        (
            "softmax(q·k / √d_k)".to_string(),
            rows.iter().map(|r| r.max_scaled).collect(),
        ),
    ];
    plot::line_chart(&xs, &series, title, "log₂ d_k", "largest weight")
}

/// The quiz's experiments (notebook 03, cells "Quiz: scale W_q" and "Quiz: double W_v"):
/// each row's largest weight with W_q and with 10·W_q; the weights and output with 2·W_v.
fn quiz() -> Result<String, String> {
    let (head, x) = (worked::statquest_head(), worked::statquest_encodings());
    let attn = head.forward(&x, None).map_err(err)?;
    let mut sharp = head.clone();
    sharp.w_q.weight *= 10.0;
    let sharp_attn = sharp.forward(&x, None).map_err(err)?;
    let tokens = worked::statquest_tokens();
    let before = most_attended(&attn.weights, &tokens, &tokens);
    let after = most_attended(&sharp_attn.weights, &tokens, &tokens);
    let rows: Vec<String> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| {
            let same = if a.1 == b.1 { "" } else { ", another key" };
            format!(
                "{} {} → {}{same}",
                token_md(b.0),
                fmt_dp(b.2, 2),
                fmt_dp(a.2, 2)
            )
        })
        .collect();
    let same_winner = before.iter().zip(&after).all(|(b, a)| a.1 == b.1);

    let mut doubled = head.clone();
    doubled.w_v.weight *= 2.0;
    let doubled_attn = doubled.forward(&x, None).map_err(err)?;
    let weights_change =
        (&doubled_attn.weights - &attn.weights).fold(0.0_f32, |m, &v| m.max(v.abs()));
    let output_change =
        (&doubled_attn.output - &(&attn.output * 2.0)).fold(0.0_f32, |m, &v| m.max(v.abs()));
    Ok(anchors(&[
        ("sharp_rows", rows.join(", ")),
        (
            "sharp_same_winner",
            if same_winner {
                "every row keeps its favourite key".to_string()
            } else {
                "a row changes its favourite key".to_string()
            },
        ),
        ("v_weights_change", difference(weights_change)),
        ("v_output_change", difference(output_change)),
    ]))
}
