//! The introduction: one untrained attention head on the pizza sentence.

use attention::plot;

use super::{Figure, figure, pizza};

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
