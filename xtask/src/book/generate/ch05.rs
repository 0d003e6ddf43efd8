//! Chapter 5, cross-attention: the StatQuest head with queries from the decoder's
//! `<bos> vamos` and keys and values from the encoder's `let's go <eos>`.

use attention::ndarray::{Array2, Axis, array, concatenate};
use attention::plot;
use attention::prelude::{AttentionOutput, CrossAttention};
use attention::self_attention::scaled_scores;
use attention::worked;

use super::{
    Figure, Numbers, anchors, bmatrix, bmatrix_dp, difference, err, figure, most_attended, percent,
    token_md,
};

pub fn numbers() -> Result<Numbers, String> {
    Ok(vec![
        ("ch05-cross.md", cross()?),
        ("ch05-pattern.md", pattern()?),
        ("ch05-quiz.md", quiz()?),
    ])
}

pub fn figures() -> Result<Vec<Figure>, String> {
    let attn = statquest_cross().map_err(err)?;
    Ok(vec![figure(
        "ch05-cross",
        "Cross-attention: target tokens (rows) attend to source tokens (columns)",
        |t| {
            plot::attention_heatmap(
                &attn.weights,
                &worked::statquest_decoder_tokens(),
                &worked::statquest_tokens(),
                t,
            )
        },
    )?])
}

/// The chapter's example: the StatQuest head, queries from `<bos> vamos`, keys and values
/// from `let's go <eos>`.
fn statquest_cross() -> attention::Result<AttentionOutput> {
    let cross = CrossAttention {
        head: worked::statquest_head(),
    };
    cross.forward(
        &worked::statquest_decoder_encodings(),
        &worked::statquest_encodings(),
        None,
    )
}

/// Every step: decoder inputs, Q, K, V, scores, weights and output.
fn cross() -> Result<String, String> {
    let head = worked::statquest_head();
    let (dec, enc) = (
        worked::statquest_decoder_encodings(),
        worked::statquest_encodings(),
    );
    let q = head.w_q.forward(&dec).map_err(err)?;
    let k = head.w_k.forward(&enc).map_err(err)?;
    let v = head.w_v.forward(&enc).map_err(err)?;
    let scaled = scaled_scores(&q, &k).map_err(err)?;
    let attn = statquest_cross().map_err(err)?;
    Ok(format!(
        "$$\nX_{{\\text{{dec}}}} = {} \\qquad Q = X_{{\\text{{dec}}}} W_q^\\top = {}\n$$\n\n$$\nK = X_{{\\text{{enc}}}} W_k^\\top = {} \\qquad V = X_{{\\text{{enc}}}} W_v^\\top = {}\n$$\n\n$$\n\\frac{{QK^\\top}}{{\\sqrt{{2}}}} = {} \\qquad A = \\operatorname{{softmax}}\\!\\left(\\frac{{QK^\\top}}{{\\sqrt{{2}}}}\\right) = {}\n$$\n\n$$\n\\text{{output}} = A V = {}\n$$\n",
        bmatrix_dp(&dec, 2),
        bmatrix_dp(&q, 2),
        bmatrix_dp(&k, 2),
        bmatrix_dp(&v, 2),
        bmatrix(&scaled),
        bmatrix(&attn.weights),
        bmatrix(&attn.output)
    ))
}

/// Where each target token attends most, for the sentence after the matrices.
fn pattern() -> Result<String, String> {
    let attn = statquest_cross().map_err(err)?;
    let (rows, columns) = (
        worked::statquest_decoder_tokens(),
        worked::statquest_tokens(),
    );
    let sentence = most_attended(&attn.weights, &rows, &columns)
        .iter()
        .enumerate()
        .map(|(i, (row, column, w))| {
            format!(
                "row {i} ({}) puts {} of its attention on {}",
                token_md(row),
                percent(*w),
                token_md(column)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Ok(anchors(&[("pattern", sentence)]))
}

/// The quiz's experiments (notebook 05, cells "Quiz: reorder the source" and "Quiz: one more
/// target token"): the source tokens in another order, and a third decoder token.
fn quiz() -> Result<String, String> {
    let cross = CrossAttention {
        head: worked::statquest_head(),
    };
    let (dec, enc) = (
        worked::statquest_decoder_encodings(),
        worked::statquest_encodings(),
    );
    let attn = cross.forward(&dec, &enc, None).map_err(err)?;
    let largest = |a: &Array2<f32>| a.fold(0.0_f32, |m, &v| m.max(v.abs()));

    let order = [2, 0, 1]; // "<eos> let's go"
    let reordered = cross
        .forward(&dec, &enc.select(Axis(0), &order), None)
        .map_err(err)?;
    let output_change = largest(&(&reordered.output - &attn.output));
    let columns_moved = largest(&(&reordered.weights - &attn.weights.select(Axis(1), &order)));

    let third = array![[1.0_f32, -1.0]];
    let longer = concatenate![Axis(0), dec, third]; // (3, 2)
    let more = cross.forward(&longer, &enc, None).map_err(err)?;
    let first_two = more
        .weights
        .slice(attention::ndarray::s![0..2, ..])
        .to_owned();
    let rows_change = largest(&(&first_two - &attn.weights));
    Ok(anchors(&[
        ("reorder_output_change", difference(output_change)),
        ("reorder_columns", difference(columns_moved)),
        ("third_rows_change", difference(rows_change)),
    ]))
}
