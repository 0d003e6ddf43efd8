//! The introduction: one untrained attention head on the pizza sentence.

use attention::ndarray::Axis;
use attention::plot;
use attention::worked;

use super::{Figure, Numbers, anchors, err, figure, fmt_dp, pizza};

pub fn numbers() -> Result<Numbers, String> {
    Ok(vec![("ch00-quiz.md", quiz()?)])
}

/// The heatmap of the introduction's head (chapter 3 shows it again).
pub fn figures() -> Result<Vec<Figure>, String> {
    let p = pizza()?;
    let attn = p.head.forward(&p.x, None).map_err(super::err)?;
    Ok(vec![figure(
        "intro-pizza",
        "One (untrained) attention head on the pizza sentence",
        |t| plot::attention_heatmap(&attn.weights, &p.tokens, &p.tokens, t),
    )?])
}

/// The quiz's experiment (notebook 00, cell "Quiz: row sums"): the worked example's rows of
/// attention weights, their sums and the smallest weight.
fn quiz() -> Result<String, String> {
    let attn = worked::statquest_head()
        .forward(&worked::statquest_encodings(), None)
        .map_err(err)?;
    let sums: Vec<String> = attn
        .weights
        .sum_axis(Axis(1))
        .iter()
        .map(|&s| fmt_dp(s, 4))
        .collect();
    let min = attn.weights.fold(f32::INFINITY, |m, &v| m.min(v));
    Ok(anchors(&[
        ("row_sums", sums.join(", ")),
        ("min", fmt_dp(min, 4)),
    ]))
}
