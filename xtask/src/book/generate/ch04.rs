//! Chapter 4, masked self-attention: the causal mask on the StatQuest example, a query that
//! may attend to nothing, and the masked heatmaps.

use attention::masked::{Mask, apply_mask};
use attention::ndarray::{Array2, Axis, array};
use attention::nn::softmax;
use attention::plot;
use attention::self_attention::scaled_scores;
use attention::worked;

use super::{
    Figure, Numbers, anchors, bmatrix, bmatrix_dp, difference, err, figure, fmt_dp, pizza,
};

pub fn numbers() -> Result<Numbers, String> {
    Ok(vec![
        ("ch04-masked.md", masked()?),
        ("ch04-fully-masked.md", fully_masked()?),
        ("ch04-row1.md", row_one_by_hand()?),
        ("ch04-quiz.md", quiz()?),
    ])
}

pub fn figures() -> Result<Vec<Figure>, String> {
    let tokens = worked::statquest_tokens();
    let masked = worked::statquest_head()
        .forward(
            &worked::statquest_encodings(),
            Some(&Mask::causal(3).map_err(err)?),
        )
        .map_err(err)?;
    let p = pizza()?;
    let causal = Mask::causal(p.tokens.len()).map_err(err)?;
    let pizza_causal = p.head.forward(&p.x, Some(&causal)).map_err(err)?;
    Ok(vec![
        figure(
            "ch04-statquest-masked",
            "Masked self-attention weights of “let's go <eos>”",
            |t| plot::attention_heatmap(&masked.weights, &tokens, &tokens, t),
        )?,
        figure(
            "ch04-pizza-causal",
            "The introduction's head on the pizza sentence, now causal",
            |t| plot::attention_heatmap(&pizza_causal.weights, &p.tokens, &p.tokens, t),
        )?,
    ])
}

/// The causal mask, the masked scores, the weights and the output.
fn masked() -> Result<String, String> {
    let (head, x) = (worked::statquest_head(), worked::statquest_encodings());
    let mask = Mask::causal(3).map_err(err)?;
    let q = head.w_q.forward(&x).map_err(err)?;
    let k = head.w_k.forward(&x).map_err(err)?;
    let scaled = scaled_scores(&q, &k).map_err(err)?;
    let masked = apply_mask(&scaled, &mask).map_err(err)?;
    let attn = head.forward(&x, Some(&mask)).map_err(err)?;
    let m = mask.additive().index_axis(Axis(0), 0).to_owned();
    Ok(format!(
        "$$\nM = {} \\qquad \\frac{{QK^\\top}}{{\\sqrt{{2}}}} + M = {}\n$$\n\n$$\nA = {} \\qquad \\text{{output}} = A V = {}\n$$\n",
        bmatrix_dp(&m, 0),
        bmatrix(&masked),
        bmatrix(&attn.weights),
        bmatrix(&attn.output)
    ))
}

/// A mask that leaves query 1 ("go") nothing to attend to: its row of weights is all zero.
fn fully_masked() -> Result<String, String> {
    let (head, x) = (worked::statquest_head(), worked::statquest_encodings());
    let allowed = array![
        [true, false, false],
        [false, false, false],
        [true, true, true]
    ];
    let mask = Mask::new(allowed).map_err(err)?;
    let attn = head.forward(&x, Some(&mask)).map_err(err)?;
    let m = mask.additive().index_axis(Axis(0), 0).to_owned();
    Ok(format!(
        "$$\nM = {} \\qquad A = {} \\qquad \\text{{output}} = {}\n$$\n",
        bmatrix_dp(&m, 0),
        bmatrix(&attn.weights),
        bmatrix(&attn.output)
    ))
}

/// Row 1 of the masked softmax by hand: only the two allowed scores take part.
fn row_one_by_hand() -> Result<String, String> {
    let (head, x) = (worked::statquest_head(), worked::statquest_encodings());
    let q = head.w_q.forward(&x).map_err(err)?;
    let k = head.w_k.forward(&x).map_err(err)?;
    let scaled = scaled_scores(&q, &k).map_err(err)?;
    let attn = head
        .forward(&x, Some(&Mask::causal(3).map_err(err)?))
        .map_err(err)?;
    let (s0, s1) = (scaled[[1, 0]], scaled[[1, 1]]);
    let (e0, e1) = (s0.exp(), s1.exp());
    let weight = attn.weights[[1, 0]];
    if (e0 / (e0 + e1) - weight).abs() > 1e-6 {
        return Err(format!(
            "row 1 by hand gives {}, the crate {weight}",
            e0 / (e0 + e1)
        ));
    }
    Ok(format!(
        concat!(
            r"$$\frac{{e^{{{}}}}}{{e^{{{}}} + e^{{{}}}}} = \frac{{{}}}{{{} + {}}} = {}$$",
            "\n"
        ),
        fmt_dp(s0, 4),
        fmt_dp(s0, 4),
        fmt_dp(s1, 4),
        fmt_dp(e0, 3),
        fmt_dp(e0, 3),
        fmt_dp(e1, 3),
        fmt_dp(weight, 3),
    ))
}

/// The quiz's experiments (notebook 04, cells "Quiz: mask after the softmax" and "Quiz:
/// −1e9 instead of −∞"): masking the weights after an unmasked softmax and renormalising,
/// and PyTorch's `masked_fill(mask, -1e9)` on the causal and the fully masked example.
fn quiz() -> Result<String, String> {
    let (head, x) = (worked::statquest_head(), worked::statquest_encodings());
    let q = head.w_q.forward(&x).map_err(err)?;
    let k = head.w_k.forward(&x).map_err(err)?;
    let scaled = scaled_scores(&q, &k).map_err(err)?;
    let causal = Mask::causal(3).map_err(err)?;
    let masked = head.forward(&x, Some(&causal)).map_err(err)?;
    let largest = |a: &Array2<f32>| a.fold(0.0_f32, |m, &v| m.max(v.abs()));

    // Softmax first, then zero the future and make each row sum to 1 again.
    let allowed = causal.allowed().index_axis(Axis(0), 0).to_owned();
    let mut after = softmax(&scaled);
    after.zip_mut_with(&allowed, |w, &ok| {
        if !ok {
            *w = 0.0;
        }
    });
    let sums = after.sum_axis(Axis(1)).insert_axis(Axis(1)); // (3, 1)
    let renormalised = &after / &sums;

    // A large finite value instead of −∞, as `masked_fill(mask, -1e9)` does.
    let fill = |allowed: &Array2<bool>| {
        let mut s = scaled.clone();
        s.zip_mut_with(allowed, |v, &ok| {
            if !ok {
                *v = -1e9;
            }
        });
        softmax(&s)
    };
    let causal_fill = fill(&allowed);
    let nothing_for_go = array![
        [true, false, false],
        [false, false, false],
        [true, true, true]
    ];
    let fully = fill(&nothing_for_go);
    let row: Vec<String> = fully.row(1).iter().map(|&v| fmt_dp(v, 4)).collect();
    Ok(anchors(&[
        (
            "after_softmax_diff",
            difference(largest(&(&renormalised - &masked.weights))),
        ),
        (
            "fill_causal_diff",
            difference(largest(&(&causal_fill - &masked.weights))),
        ),
        ("fill_fully_masked_row", format!("({})", row.join(", "))),
    ]))
}
