//! Chapter 2 — positional encoding: telling the model where each token is.
//!
//! Attention treats its input as a *set*: shuffle the tokens and each output is shuffled the
//! same way, nothing else changes. To use word order, we add a position-dependent vector to
//! each token's embedding, either fixed sinusoids ([`sinusoidal_encoding`], the paper's
//! choice) or a learned table ([`LearnedPositionalEmbedding`], GPT's choice).
//!
//! ```
//! use attention::positional::sinusoidal_encoding;
//!
//! let pe = sinusoidal_encoding(50, 16)?; // (max_len, d_model)
//! assert_eq!(pe.shape(), &[50, 16]);
//! assert_eq!(pe[[0, 0]], 0.0); // sin(0)
//! assert_eq!(pe[[0, 1]], 1.0); // cos(0)
//! # Ok::<(), attention::Error>(())
//! ```

use ndarray::{Array, Array2, ArrayRef, ArrayView2, ArrayViewMutD, Dimension, s};

use crate::error::{Error, Result};
use crate::gradients::Gradients;
use crate::params::{Init, Module, Params};
use crate::weights::{NamedTensors, join};

/// The sinusoidal table of "Attention Is All You Need": `(max_len, d_model)`.
///
/// PE[pos, 2i] = sin(pos / 10000^(2i/d_model)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d_model)).
///
/// Column pair (2i, 2i+1) is a sine/cosine of one frequency; frequencies fall geometrically
/// across the pairs, from 1 radian per position for the first to 10000^(−(d_model−2)/d_model)
/// for the last (just above 1/10000). Because sin and cos of (pos + k) are a fixed rotation of
/// those of pos, the model can attend by *relative* position with one linear map. Computed in
/// f64 and rounded once to f32.
// ANCHOR: sinusoidal_encoding
pub fn sinusoidal_encoding(max_len: usize, d_model: usize) -> Result<Array2<f32>> {
    if max_len == 0 || d_model == 0 {
        let got = format!("max_len = {max_len}, d_model = {d_model}");
        return Err(Error::value("max_len, d_model", "both ≥ 1", got));
    }
    if max_len
        .checked_mul(d_model)
        .is_none_or(|n| n > isize::MAX as usize / 4)
    {
        let got = format!("max_len = {max_len}, d_model = {d_model}");
        return Err(Error::value(
            "max_len, d_model",
            "a table that fits in memory",
            got,
        ));
    }
    Ok(Array2::from_shape_fn((max_len, d_model), |(pos, j)| {
        let two_i = (j - j % 2) as f64; // 2i: the even column of this pair
        let angle = pos as f64 / 10000_f64.powf(two_i / d_model as f64);
        let value = if j % 2 == 0 { angle.sin() } else { angle.cos() };
        value as f32
    }))
}
// ANCHOR_END: sinusoidal_encoding

/// Fixed sinusoidal positions, precomputed up to `max_len`, added to token embeddings.
#[derive(Debug, Clone, PartialEq)]
pub struct SinusoidalEncoding {
    /// `(max_len, d_model)`, from [`sinusoidal_encoding`].
    pub table: Array2<f32>,
}

impl SinusoidalEncoding {
    /// Precomputes the table for sequences up to `max_len`.
    pub fn new(max_len: usize, d_model: usize) -> Result<Self> {
        Ok(SinusoidalEncoding {
            table: sinusoidal_encoding(max_len, d_model)?,
        })
    }

    /// `x + PE[..seq]` for `x` of shape `(seq, d_model)` or `(batch, seq, d_model)`.
    pub fn forward<D: Dimension>(&self, x: &ArrayRef<f32, D>) -> Result<Array<f32, D>> {
        add_positions(x, self.table.view(), "max_len")
    }
}

/// Learned positions (GPT style): a trainable `(max_len, d_model)` table, one row per position.
///
/// Parameter name `weight`, as an `nn.Embedding(max_len, d_model)` (GPT-2's `wpe`).
#[derive(Debug, Clone, PartialEq)]
pub struct LearnedPositionalEmbedding {
    /// `(max_len, d_model)`.
    pub weight: Array2<f32>,
}

impl LearnedPositionalEmbedding {
    /// `weight (max_len, d_model)` read from `p`, or drawn from Normal(0, 0.02²) as in GPT-2
    /// and nanoGPT.
    pub fn from_params(p: &Params, max_len: usize, d_model: usize) -> Result<Self> {
        Ok(LearnedPositionalEmbedding {
            weight: p.get("weight", &[max_len, d_model], Init::Normal(0.02))?,
        })
    }

    /// `x + weight[..seq]` for `x` of shape `(seq, d_model)` or `(batch, seq, d_model)`.
    pub fn forward<D: Dimension>(&self, x: &ArrayRef<f32, D>) -> Result<Array<f32, D>> {
        add_positions(x, self.weight.view(), "max_len of the learned table")
    }

    /// Backward of [`LearnedPositionalEmbedding::forward`] for `dy = ∂L/∂out` of shape
    /// `(seq, d_model)` or `(batch, seq, d_model)`: position t's row of the table was added
    /// to every sequence's token t, so row t of ∂L/∂weight is dy summed over the batch (rows
    /// past `seq` stay zero). Adds it as `{prefix}.weight`; returns ∂L/∂x = dy (an addition
    /// passes the gradient through unchanged).
    pub fn backward<D: Dimension>(
        &self,
        dy: &ArrayRef<f32, D>,
        grads: &mut Gradients,
        prefix: &str,
    ) -> Result<Array<f32, D>> {
        let zeros = Array::zeros(dy.raw_dim());
        add_positions(&zeros, self.weight.view(), "max_len of the learned table")?; // checks dy
        let (seq, d_model) = (dy.shape()[dy.ndim() - 2], self.weight.ncols());
        let rows = dy
            .to_shape((dy.len() / (seq * d_model), seq, d_model))
            .expect("checked");
        let mut dweight = Array2::<f32>::zeros(self.weight.raw_dim()); // (max_len, d_model)
        dweight
            .slice_mut(s![..seq, ..])
            .assign(&rows.sum_axis(ndarray::Axis(0))); // Σ over the batch
        grads.add(join(prefix, "weight"), dweight);
        Ok(dy.to_owned())
    }
}

impl Module for LearnedPositionalEmbedding {
    /// `{prefix}.weight`.
    fn parameters_into(&self, prefix: &str, out: &mut NamedTensors) {
        out.insert(join(prefix, "weight"), self.weight.clone());
    }

    fn visit_parameters_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ArrayViewMutD<f32>)) {
        f(&join(prefix, "weight"), self.weight.view_mut().into_dyn());
    }
}

/// `x + table[..seq]`, broadcasting over a leading batch axis if there is one.
fn add_positions<D: Dimension>(
    x: &ArrayRef<f32, D>,
    table: ArrayView2<f32>,
    limit: &str,
) -> Result<Array<f32, D>> {
    let (max_len, d_model) = table.dim();
    let shape = x.shape();
    let n = shape.len();
    if !(2..=3).contains(&n) || shape[n - 1] != d_model || x.is_empty() {
        let want = format!("(seq, {d_model}) or (batch, seq, {d_model}) with d_model = {d_model}");
        return Err(Error::shape("x", want, shape));
    }
    let seq = shape[n - 2];
    if seq > max_len {
        let want = format!("a sequence of at most {limit} = {max_len} tokens");
        return Err(Error::value("x", want, format!("seq = {seq}")));
    }
    let mut out = x.to_owned(); // (..., seq, d_model)
    out += &table.slice(s![..seq, ..]); // broadcast (seq, d_model) over the batch
    Ok(out)
}
