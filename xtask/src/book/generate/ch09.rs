//! Chapter 9, training: the loss on one position (softmax, cross-entropy, label smoothing,
//! padding), the softmax's backward on chapter 3's weights, the tasks' recipes, and the
//! figures of the loss against the probability and of the warm-up schedule.
//!
//! Nothing here trains a model: the chapter's measured results (losses, accuracies, times)
//! come from `cargo run --release --example train_task`, not from the book build.

use std::fmt::Write as _;

use attention::ndarray::{Array2, array};
use attention::nn::{softmax, softmax_backward};
use attention::params::{Module, Params};
use attention::plot;
use attention::plotly::Plot;
use attention::prelude::{PAD_ID, Seq2SeqTransformer};
use attention::train::loss::CrossEntropyLoss;
use attention::train::schedule::NoamSchedule;
use attention::train::tasks::{NUM_SYMBOLS, SYMBOL_LENGTHS, SymbolTask, Translation};
use attention::train::trainer::TrainConfig;
use attention::transformer::Seq2SeqConfig;
use attention::worked;

use super::{Figure, Numbers, bmatrix, err, figure, fmt_dp, num, trained};

/// Label smoothing of the worked example (the paper's ε).
const EPSILON: f32 = 0.1;

pub fn numbers() -> Result<Numbers, String> {
    Ok(vec![
        ("ch09-loss.md", loss()?),
        ("ch09-softmax-backward.md", softmax_vjp()?),
        ("ch09-tasks.md", tasks()?),
        ("ch09-results.md", trained::results(&trained::all()?)?),
    ])
}

/// The held-out phrase whose alignment the chapter shows.
const HELD_OUT_EXAMPLE: &str = "the pizza is hot";

pub fn figures() -> Result<Vec<Figure>, String> {
    let tasks = trained::all()?;
    Ok(vec![
        figure(
            "ch09-cross-entropy",
            "Loss of one position against the probability of the right token (2 tokens)",
            loss_curve,
        )?,
        figure(
            "ch09-schedule",
            "The paper's learning-rate schedule: linear warm-up, then 1/√step",
            schedule_curves,
        )?,
        figure(
            "ch09-loss-curves",
            "Loss while training, on the training batches and on held-out examples",
            |t| trained::loss_curves(&tasks, t),
        )?,
        figure(
            "ch09-copy-attention",
            "Copy: cross-attention of the last decoder layer (mean of the heads)",
            |t| trained::before_after_figure(&tasks[0], None, t),
        )?,
        figure(
            "ch09-reverse-attention",
            "Reverse: cross-attention of the last decoder layer (mean of the heads)",
            |t| trained::before_after_figure(&tasks[1], None, t),
        )?,
        figure(
            "ch09-translate-attention",
            "Translation: cross-attention of the last decoder layer (mean of the heads)",
            |t| trained::before_after_figure(&tasks[2], Some(HELD_OUT_EXAMPLE), t),
        )?,
    ])
}

/// One decoder position over chapter 7's Spanish vocabulary, the right answer `vamos`: the
/// probabilities, the one-hot and smoothed targets, the gradient p − q and both losses; then
/// the same position next to a padding position.
fn loss() -> Result<String, String> {
    let (_, tgt_vocab) = worked::toy_translation_vocabs();
    let tokens = tgt_vocab.tokens();
    let target = tgt_vocab
        .id("vamos")
        .ok_or("no `vamos` in the toy vocabulary")?;
    // The model's scores for the next token, one per vocabulary entry (made up, not trained).
    let logits = array![[-1.0_f32, 0.0, 0.5, 1.0, 2.0, 0.5]]; // (1, V)
    if logits.ncols() != tokens.len() {
        return Err(format!(
            "{} logits for {} tokens",
            logits.ncols(),
            tokens.len()
        ));
    }
    let p = softmax(&logits); // (1, V)
    let plain = CrossEntropyLoss::new(Some(PAD_ID), 0.0).map_err(err)?;
    let smooth = CrossEntropyLoss::new(Some(PAD_ID), EPSILON).map_err(err)?;
    let loss_plain = plain.forward(&logits, &[target]).map_err(err)?;
    let loss_smooth = smooth.forward(&logits, &[target]).map_err(err)?;
    let grad = smooth.backward(&logits, &[target]).map_err(err)?; // p − q, one counted position
    let q = &p - &grad; // the smoothed target the crate aimed at

    let mut md = String::from(
        "| token | logit $z$ | $p = \\operatorname{softmax}(z)$ | one-hot | \
         $q$ ($\\varepsilon = 0.1$) | $\\partial \\ell / \\partial z = p - q$ |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    for (j, token) in tokens.iter().enumerate() {
        let one_hot = if j == target { "1" } else { "0" };
        writeln!(
            md,
            "| `{token}` | {} | {} | {one_hot} | {} | {} |",
            fmt_dp(logits[[0, j]], 1),
            num(p[[0, j]]),
            num(q[[0, j]]),
            num(grad[[0, j]])
        )
        .unwrap();
    }
    writeln!(
        md,
        "\n$$\n\\ell = -\\log p_{{\\text{{vamos}}}} = -\\log {} = {} \
         \\qquad \\ell_{{\\varepsilon = 0.1}} = -\\textstyle\\sum_j q_j \\log p_j = {}\n$$",
        num(p[[0, target]]),
        num(loss_plain),
        num(loss_smooth)
    )
    .unwrap();

    // The same position in a batch with a padding position: nothing changes.
    let pad_row = array![[3.0_f32, -2.0, 0.0, 1.0, 0.5, -0.5]];
    let both = attention::ndarray::concatenate(
        attention::ndarray::Axis(0),
        &[logits.view(), pad_row.view()],
    )
    .map_err(|e| e.to_string())?; // (2, V)
    let loss_both = smooth.forward(&both, &[target, PAD_ID]).map_err(err)?;
    let grad_both = smooth.backward(&both, &[target, PAD_ID]).map_err(err)?;
    let pad_grad = grad_both.row(1).iter().fold(0.0_f32, |m, v| m.max(v.abs()));
    writeln!(
        md,
        "\nAdd a second position whose label is `<pad>` (with any logits): the loss is still \
         ${}$, and that position's gradient is {}.",
        num(loss_both),
        if pad_grad == 0.0 {
            "exactly zero"
        } else {
            "not zero (a bug)"
        }
    )
    .unwrap();
    Ok(md)
}

/// Chapter 3's attention weights of *let's* (row 0) and the softmax's vector–Jacobian product
/// for an upstream gradient that asks for more of *go*.
fn softmax_vjp() -> Result<String, String> {
    let x = worked::statquest_encodings();
    let attn = worked::statquest_head().forward(&x, None).map_err(err)?;
    let y = attn
        .weights
        .row(0)
        .to_owned()
        .insert_axis(attention::ndarray::Axis(0)); // (1, 3)
    let dy = array![[0.0_f32, 1.0, 0.0]]; // L = y_go: the loss is the share of "go"
    let dx = softmax_backward(&y, &dy); // (1, 3)
    let sum: f32 = dx.sum();
    Ok(format!(
        "$$\ny = {} \\qquad dy = {} \\qquad dx = y \\odot (dy - y \\cdot dy) = {} \
         \\qquad \\textstyle\\sum_i dx_i = {}\n$$\n",
        bmatrix(&y),
        bmatrix_int(&dy),
        bmatrix(&dx),
        num(sum)
    ))
}

/// A 0/1 matrix without decimals.
fn bmatrix_int(a: &Array2<f32>) -> String {
    super::bmatrix_dp(a, 0)
}

/// The three tasks' models and recipes, from the crate's own settings.
fn tasks() -> Result<String, String> {
    let translation = Translation::new();
    let columns: Vec<(Seq2SeqConfig, TrainConfig)> = vec![
        (
            SymbolTask::Copy.model_config(),
            SymbolTask::Copy.train_config(0),
        ),
        (
            SymbolTask::Reverse.model_config(),
            SymbolTask::Reverse.train_config(0),
        ),
        (translation.model_config(), translation.train_config(0)),
    ];
    let (min, max) = SYMBOL_LENGTHS;
    let symbols = format!("random, {min}–{max} of {NUM_SYMBOLS} symbols");
    let data = [
        format!("{symbols}; target = source"),
        format!("{symbols}; target = source reversed"),
        format!(
            "{} English → Spanish pairs to train on, {} held out",
            translation.corpus.train.len(),
            translation.corpus.held_out.len()
        ),
    ];
    let mut rows: Vec<(&str, Vec<String>)> = vec![
        ("data", data.to_vec()),
        ("vocabulary (source / target)", Vec::new()),
        ("d_model, heads, d_ff", Vec::new()),
        ("layers (encoder + decoder)", Vec::new()),
        ("parameters", Vec::new()),
        ("steps × batch", Vec::new()),
        ("warm-up steps, peak learning rate", Vec::new()),
        ("schedule factor (the Trainer's choice)", Vec::new()),
        ("dropout, label smoothing ε", Vec::new()),
        ("gradient clipping (global norm)", Vec::new()),
    ];
    for (model, train) in &columns {
        let t = &model.transformer;
        let params = Seq2SeqTransformer::from_params(&Params::seeded(0), *model)
            .map_err(err)?
            .parameter_count();
        // The factor Trainer::new picks so that the schedule peaks at `peak_lr`.
        let factor = train.peak_lr * ((t.d_model * train.warmup) as f64).sqrt();
        let peak = NoamSchedule::new(t.d_model, train.warmup, factor)
            .and_then(|s| s.lr(s.peak_step()))
            .map_err(err)?;
        if (peak - train.peak_lr).abs() > 1e-12 * train.peak_lr {
            return Err(format!(
                "the schedule peaks at {peak}, not {}",
                train.peak_lr
            ));
        }
        let cells = [
            format!("{} / {}", model.src_vocab_size, model.tgt_vocab_size),
            format!("{}, {}, {}", t.d_model, t.num_heads, t.d_ff),
            format!("{} + {}", t.num_encoder_layers, t.num_decoder_layers),
            params.to_string(),
            format!("{} × {}", train.steps, train.batch_size),
            format!("{}, {:e}", train.warmup, train.peak_lr),
            format!("{factor:.3}"),
            format!("{}, {}", train.dropout, train.label_smoothing),
            train
                .clip_norm
                .map_or("none".to_string(), |c| c.to_string()),
        ];
        for (row, cell) in rows.iter_mut().skip(1).zip(cells) {
            row.1.push(cell);
        }
    }
    let mut md = String::from("| | copy | reverse | translate |\n|---|---|---|---|\n");
    for (name, cells) in rows {
        writeln!(md, "| {name} | {} |", cells.join(" | ")).unwrap();
    }
    Ok(md)
}

/// −log p and the label-smoothed loss of one position over two tokens, as the probability
/// of the right one goes from 0.01 to 0.99: the logits (log p, log(1 − p)) give exactly p.
fn loss_curve(title: &str) -> attention::Result<Plot> {
    let ps: Vec<f64> = (1..100).map(|i| f64::from(i) / 100.0).collect();
    let mut series = Vec::new();
    for (name, eps) in [
        ("cross-entropy −log p".to_string(), 0.0),
        (format!("with label smoothing ε = {EPSILON}"), EPSILON),
    ] {
        let loss = CrossEntropyLoss::new(None, eps)?;
        let mut ys = Vec::new();
        for &p in &ps {
            let logits = array![[p.ln() as f32, (1.0 - p).ln() as f32]];
            ys.push(f64::from(loss.forward(&logits, &[0])?));
        }
        series.push((name, ys));
    }
    Ok(plot::line_chart(
        &ps,
        &series,
        title,
        "p(right token)",
        "loss",
    ))
}

/// The Noam schedule for the paper's base model and two variants (The Annotated
/// Transformer's figure), every 100 steps up to 20,000.
fn schedule_curves(title: &str) -> attention::Result<Plot> {
    let steps: Vec<usize> = (1..=200).map(|i| i * 100).collect();
    let mut series = Vec::new();
    for (d_model, warmup) in [(512, 4000), (512, 8000), (256, 4000)] {
        let schedule = NoamSchedule::new(d_model, warmup, 1.0)?;
        let lrs: Result<Vec<f64>, _> = steps.iter().map(|&s| schedule.lr(s)).collect();
        series.push((format!("d_model {d_model}, warm-up {warmup}"), lrs?));
    }
    let xs: Vec<f64> = steps.iter().map(|&s| s as f64).collect();
    Ok(plot::line_chart(
        &xs,
        &series,
        title,
        "step",
        "learning rate",
    ))
}
