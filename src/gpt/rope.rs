//! Rotary position embeddings (RoPE, Su et al. 2021), as Llama and most recent GPTs use them
//! instead of a learned position table: positions enter by rotating queries and keys, so
//! their dot product depends on how far apart two tokens are, not on where they are.

use ndarray::{Array4, ArrayRef4, Axis};

use crate::error::{Error, Result};

// ANCHOR: rope
/// Rotates the queries or keys `x (batch, heads, seq, hs)` at positions `start..start + seq`.
///
/// Dimension i of the first half is paired with dimension i + hs/2 (the "rotate half" layout
/// of GPT-NeoX, Llama and Hugging Face's `apply_rotary_pos_emb`), and the pair at position m
/// turns by the angle m·θᵢ, θᵢ = base^(−2i/hs):
///
/// ```text
/// (a, b) → (a·cos mθᵢ − b·sin mθᵢ,  b·cos mθᵢ + a·sin mθᵢ)
/// ```
///
/// A rotation by mθ of q and by nθ of k leaves q·k depending on (m − n) only: the score of
/// two tokens sees their distance.
pub fn rope(x: &ArrayRef4<f32>, start: usize, base: f32) -> Result<Array4<f32>> {
    let hs = x.dim().3;
    if hs == 0 || !hs.is_multiple_of(2) {
        return Err(Error::shape(
            "x (batch, heads, seq, hs)",
            "an even head size hs ≥ 2",
            x.shape(),
        ));
    }
    let half = hs / 2;
    let mut out = x.to_owned();
    for (t, mut at_t) in out.axis_iter_mut(Axis(2)).enumerate() {
        let m = (start + t) as f32; // the position
        for i in 0..half {
            let theta = base.powf(-2.0 * i as f32 / hs as f32); // θᵢ
            let (sin, cos) = (m * theta).sin_cos();
            for mut row in at_t.lanes_mut(Axis(2)) {
                let (a, b) = (row[i], row[i + half]);
                row[i] = a * cos - b * sin;
                row[i + half] = b * cos + a * sin;
            }
        }
    }
    Ok(out)
}
// ANCHOR_END: rope
