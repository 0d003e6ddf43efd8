//! Chapter 3, self-attention: the StatQuest example step by step (inputs, Q, K, V, scores,
//! weights and output), the √d_k experiment, and their two figures.

use std::fmt::Write as _;

use attention::ndarray::Array2;
use attention::nn::{init, seeded_rng, softmax};
use attention::plot;
use attention::plotly::Plot;
use attention::self_attention::scaled_scores;
use attention::worked;

use super::{Figure, Numbers, bmatrix, bmatrix_dp, err, figure};

pub fn numbers() -> Result<Numbers, String> {
    Ok(vec![
        ("ch03-inputs.md", inputs()),
        ("ch03-qkv.md", qkv()?),
        ("ch03-scores.md", scores()?),
        ("ch03-weights.md", weights()?),
        ("ch03-scaling.md", scaling_table()),
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

/// One row of the √d_k experiment: for random q, k ~ N(0, 1), the spread of the scores and
/// how peaked softmax gets, without and with the scaling.
struct Scaling {
    d_k: usize,
    std_raw: f64,
    std_scaled: f64,
    max_raw: f64,
    max_scaled: f64,
}

/// 500 draws of one query against 10 keys, for d_k = 1, 2, 4 … 512 (seeded; computed once).
fn scaling_experiment() -> &'static [Scaling] {
    static ROWS: std::sync::OnceLock<Vec<Scaling>> = std::sync::OnceLock::new();
    ROWS.get_or_init(run_scaling_experiment)
}

fn run_scaling_experiment() -> Vec<Scaling> {
    let mut rng = seeded_rng(3);
    (0..10)
        .map(|p| {
            let d_k = 1usize << p;
            let (mut scores, mut max_raw, mut max_scaled) = (Vec::new(), 0.0, 0.0);
            for _ in 0..500 {
                let q: Array2<f32> = init::normal((1, d_k), 1.0, &mut rng);
                let k: Array2<f32> = init::normal((10, d_k), 1.0, &mut rng);
                let raw = q.dot(&k.t()); // (1, 10)
                let scaled = &raw / (d_k as f32).sqrt();
                scores.extend(raw.iter().map(|&v| f64::from(v)));
                let peak = |a: &Array2<f32>| f64::from(softmax(a).fold(0.0_f32, |m, &v| m.max(v)));
                max_raw += peak(&raw) / 500.0;
                max_scaled += peak(&scaled) / 500.0;
            }
            let n = scores.len() as f64;
            let mean = scores.iter().sum::<f64>() / n;
            let std_raw = (scores.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
            Scaling {
                d_k,
                std_raw,
                std_scaled: std_raw / (d_k as f64).sqrt(),
                max_raw,
                max_scaled,
            }
        })
        .collect()
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
