//! Reference solutions — chapter 2, positional encoding (swapped in by the `solutions`
//! feature).
//!
//! [`wrong`] holds realistic mistakes; the exercise checks must reject every one of them.

use ndarray::{Array2, Axis, s};

/// `ch02_pe_entry`: sin for even columns, cos for odd ones, one frequency per column pair.
pub fn pe_entry(pos: usize, j: usize, d_model: usize) -> f32 {
    let two_i = (j - j % 2) as f64; // the pair's even column: 2i
    let angle = pos as f64 / 10000_f64.powf(two_i / d_model as f64);
    let value = if j.is_multiple_of(2) {
        angle.sin()
    } else {
        angle.cos()
    };
    value as f32 // computed in f64, rounded once
}

/// `ch02_sinusoidal_table`: every entry from the formula of `ch02_pe_entry`.
pub fn sinusoidal_table(max_len: usize, d_model: usize) -> Array2<f32> {
    Array2::from_shape_fn((max_len, d_model), |(pos, j)| pe_entry(pos, j, d_model))
}

/// `ch02_embed_with_positions`: `weight[ids] · √d_model + pe[..seq]`.
pub fn embed_with_positions(weight: &Array2<f32>, ids: &[usize], pe: &Array2<f32>) -> Array2<f32> {
    let d_model = weight.ncols() as f32;
    let tokens = weight.select(Axis(0), ids) * d_model.sqrt(); // (seq, d_model)
    tokens + pe.slice(s![..ids.len(), ..]) // position t gets row t of the table
}

/// Realistic wrong answers, each rejected by its exercise's check.
pub mod wrong {
    use super::*;

    /// `ch02_pe_entry`, mistake: the exponent uses the column index j instead of the pair's even
    /// index 2i, so every cosine column gets the wrong frequency.
    pub fn exponent_uses_column_index(pos: usize, j: usize, d_model: usize) -> f32 {
        let angle = pos as f64 / 10000_f64.powf(j as f64 / d_model as f64);
        let value = if j.is_multiple_of(2) {
            angle.sin()
        } else {
            angle.cos()
        };
        value as f32
    }

    /// `ch02_pe_entry`, mistake: cos for even columns and sin for odd ones.
    pub fn sin_cos_swapped(pos: usize, j: usize, d_model: usize) -> f32 {
        let angle = pos as f64 / 10000_f64.powf((j - j % 2) as f64 / d_model as f64);
        let value = if j.is_multiple_of(2) {
            angle.cos()
        } else {
            angle.sin()
        };
        value as f32
    }

    /// `ch02_sinusoidal_table`, mistake: all sines in the first half of the columns, all cosines in the
    /// second (another common layout, but not the paper's interleaving).
    pub fn halves_layout(max_len: usize, d_model: usize) -> Array2<f32> {
        let half = d_model / 2;
        Array2::from_shape_fn((max_len, d_model), |(pos, j)| {
            let i = j % half; // frequency index
            let angle = pos as f64 / 10000_f64.powf(2.0 * i as f64 / d_model as f64);
            (if j < half { angle.sin() } else { angle.cos() }) as f32
        })
    }

    /// `ch02_sinusoidal_table`, mistake: off by one, positions counted from 1.
    pub fn positions_start_at_one(max_len: usize, d_model: usize) -> Array2<f32> {
        Array2::from_shape_fn((max_len, d_model), |(pos, j)| pe_entry(pos + 1, j, d_model))
    }

    /// `ch02_embed_with_positions`, mistake: forgets the √d_model scaling.
    pub fn forgets_scaling(weight: &Array2<f32>, ids: &[usize], pe: &Array2<f32>) -> Array2<f32> {
        weight.select(Axis(0), ids) + pe.slice(s![..ids.len(), ..])
    }

    /// `ch02_embed_with_positions`, mistake: indexes the positional table by token id instead of position.
    pub fn positions_indexed_by_token_id(
        weight: &Array2<f32>,
        ids: &[usize],
        pe: &Array2<f32>,
    ) -> Array2<f32> {
        let d_model = weight.ncols() as f32;
        weight.select(Axis(0), ids) * d_model.sqrt() + pe.select(Axis(0), ids)
    }
}
