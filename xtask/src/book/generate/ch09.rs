//! Chapter 9, training: the loss on one position (softmax, cross-entropy, label smoothing,
//! padding), the softmax's backward on chapter 3's weights, the tasks' recipes, and the
//! figures of the loss against the probability and of the warm-up schedule.
//!
//! Nothing here trains a model: the chapter's measured results (losses, accuracies, times)
//! come from `cargo run --release --example train_task`, not from the book build.

use std::fmt::Write as _;

use attention::ndarray::{Array2, array};
use attention::nn::{Dropout, Train, softmax, softmax_backward};
use attention::params::{Module, Params};
use attention::plot;
use attention::prelude::{PAD_ID, Seq2SeqTransformer};
use attention::train::loss::CrossEntropyLoss;
use attention::train::schedule::NoamSchedule;
use attention::train::tasks::{NUM_SYMBOLS, SYMBOL_LENGTHS, SymbolTask, Translation};
use attention::train::trainer::TrainConfig;
use attention::transformer::Seq2SeqConfig;
use attention::worked;

use super::{Figure, Numbers, bmatrix, bmatrix_dp, err, figure, fmt_dp, num, trained};

/// Label smoothing of the worked example (the paper's ε).
const EPSILON: f32 = 0.1;

pub fn numbers() -> Result<Numbers, String> {
    Ok(vec![
        ("ch09-loss.md", loss()?),
        ("ch09-softmax-backward.md", softmax_vjp()?),
        ("ch09-dropout.md", dropout()?),
        ("ch09-predict-smoothing.md", predict_smoothing()?),
        ("ch09-predict-dropout.md", predict_dropout()?),
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
            |t| plot::cross_entropy_curves(&[EPSILON], t),
        )?,
        figure(
            "ch09-schedule",
            "The paper's learning-rate schedule: linear warm-up, then 1/√step",
            |t| plot::noam_schedule_curves(&[(512, 4000), (512, 8000), (256, 4000)], t),
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

/// Dropout probability and seed of the worked example.
const DROPOUT_P: f32 = 0.5;
const DROPOUT_SEED: u64 = 0;

/// Dropout of a `(2, 4)` activation in train mode (`Train::new(0.5, 0)`): the mask drawn, the
/// output, and the output in eval mode.
fn dropout() -> Result<String, String> {
    let x = Array2::from_shape_fn((2, 4), |(i, j)| (4 * i + j + 1) as f32);
    let mut train = Train::new(DROPOUT_P, DROPOUT_SEED).map_err(err)?;
    let (y, mask) = train.drop(x.clone());
    let mask = mask.ok_or("p > 0 draws a mask")?;
    let eval = Dropout::new(DROPOUT_P).map_err(err)?.forward(&x);
    let dropped = mask.iter().filter(|&&m| m == 0.0).count();
    Ok(format!(
        "$$\nx = {} \\qquad m = {} \\qquad \\text{{train: }} x \\odot m = {} \\qquad \\text{{eval: }} {}\n$$\n\n\
         With $p = {}$, each kept entry is multiplied by $1 / (1 - p) = {}$; this draw (seed {}) \
         dropped {} of the {} entries.\n",
        bmatrix_dp(&x, 0),
        bmatrix_dp(&mask, 0),
        bmatrix_dp(&y, 0),
        bmatrix_dp(&eval, 0),
        DROPOUT_P,
        fmt_dp(1.0 / (1.0 - DROPOUT_P), 0),
        DROPOUT_SEED,
        dropped,
        x.len()
    ))
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

/// Confidence levels of the label-smoothing quiz: the right token's logit, the others 0.
const CONFIDENCES: [f32; 7] = [0.0, 2.0, 4.0, 6.0, 8.0, 12.0, 20.0];

/// Quiz: the loss of one position (chapter 7's Spanish vocabulary, right answer `vamos`) as
/// the model grows more confident, without and with label smoothing.
fn predict_smoothing() -> Result<String, String> {
    let (_, tgt_vocab) = worked::toy_translation_vocabs();
    let vamos = tgt_vocab.id("vamos").ok_or("vamos is in the vocabulary")?;
    let v = tgt_vocab.len();
    let plain = CrossEntropyLoss::new(Some(PAD_ID), 0.0).map_err(err)?;
    let smooth = CrossEntropyLoss::new(Some(PAD_ID), EPSILON).map_err(err)?;
    let mut md = format!(
        "The right token's logit $z$, the other {} logits 0:\n\n\
         | $z$ | p(vamos) | loss, ε = 0 | loss, ε = {EPSILON} |\n|---:|---:|---:|---:|\n",
        v - 1
    );
    for z in CONFIDENCES {
        let mut logits = Array2::<f32>::zeros((1, v));
        logits[[0, vamos]] = z;
        let p = softmax(&logits)[[0, vamos]];
        writeln!(
            md,
            "| {} | {} | {} | {} |",
            fmt_dp(z, 0),
            num(p),
            num(plain.forward(&logits, &[vamos]).map_err(err)?),
            num(smooth.forward(&logits, &[vamos]).map_err(err)?)
        )
        .unwrap();
    }
    Ok(md)
}

/// Dropout probability, size and seed of the dropout quiz.
const QUIZ_P: f32 = 0.1;
const QUIZ_N: usize = 10_000;

/// Quiz: dropout p = 0.1 on 10,000 ones, in train mode and in eval mode.
fn predict_dropout() -> Result<String, String> {
    let ones = attention::ndarray::Array1::<f32>::ones(QUIZ_N);
    let dropout = Dropout::new(QUIZ_P).map_err(err)?;
    let mut train = Train::new(QUIZ_P, 0).map_err(err)?;
    let (trained, _) = train.drop(ones.clone());
    let eval = dropout.forward(&ones);
    let stats = |a: &attention::ndarray::Array1<f32>| {
        let zeros = a.iter().filter(|&&v| v == 0.0).count() as f32 / a.len() as f32;
        let largest = a.fold(0.0_f32, |m, &v| m.max(v));
        (zeros, a.mean().unwrap_or(0.0), largest)
    };
    let mut md = format!(
        "{QUIZ_N} activations equal to 1, dropout p = {QUIZ_P}:\n\n\
         | mode | share of zeros | mean | largest value |\n|---|---:|---:|---:|\n"
    );
    for (mode, a) in [
        ("train (`Train::drop`)", &trained),
        ("eval (`Dropout::forward`)", &eval),
    ] {
        let (zeros, mean, largest) = stats(a);
        writeln!(
            md,
            "| {mode} | {} | {} | {} |",
            num(zeros),
            num(mean),
            num(largest)
        )
        .unwrap();
    }
    Ok(md)
}
