//! Chapter 2 exercises — positional encoding. Book: chapter 2; code: [`crate::positional`].
//!
//! Check them with `cargo exercise ch02`.

use ndarray::Array2;

/// Exercise `ch02_pe_entry` — one entry of the sinusoidal positional encoding.
///
/// For position `pos` and column `j` of a table with `d_model` columns, with 2i the even
/// column of the pair `j` belongs to (2i = j for even j, j − 1 for odd j):
///
/// PE[pos, 2i] = sin(pos / 10000^(2i / d_model)), PE[pos, 2i + 1] = cos(pos / 10000^(2i / d_model)).
///
/// Compute in `f64` and return the result as `f32`.
///
/// Re-read: chapter 2, section "The sinusoid formula".
#[allow(unused_variables)]
pub fn pe_entry(pos: usize, j: usize, d_model: usize) -> f32 {
    // TODO: the angle pos / 10000^(2i / d_model), then sin for even j, cos for odd j.
    todo!()
}

/// Exercise `ch02_sinusoidal_table` — the whole sinusoidal table `(max_len, d_model)`.
///
/// Row `pos` is the encoding of position `pos` (starting at 0); entry `[pos, j]` is the
/// formula of `ch02_pe_entry`. Sines and cosines alternate column by column (sin, cos, sin,
/// cos…).
///
/// Re-read: chapter 2, section "The whole table".
#[allow(unused_variables)]
pub fn sinusoidal_table(max_len: usize, d_model: usize) -> Array2<f32> {
    // TODO: fill a (max_len, d_model) array entry by entry.
    todo!()
}

/// Exercise `ch02_embed_with_positions` — token embeddings plus positions, the Transformer's
/// input.
///
/// `weight`: embedding table `(vocab_size, d_model)`; `ids`: the token ids `(seq)`; `pe`: a
/// positional table `(max_len, d_model)` with `max_len ≥ seq`. Return
/// `weight[ids[t]] · √d_model + pe[t]` for every position t: `(seq, d_model)`.
/// (The paper multiplies by √d_model because its embeddings, shared with the output
/// projection, are initialised ~N(0, 1/d_model): the product has the positions' scale,
/// entries in [−1, 1]. With an N(0, 1) table, PyTorch's `nn.Embedding` init, the tokens come
/// out ~√d_model times larger than the positions.)
///
/// Re-read: chapter 2, section "Adding positions to embeddings".
#[allow(unused_variables)]
pub fn embed_with_positions(weight: &Array2<f32>, ids: &[usize], pe: &Array2<f32>) -> Array2<f32> {
    // TODO: look up, scale by √d_model, add the first `seq` rows of `pe`.
    todo!()
}
