//! Chapter 3 — self-attention: every token looks at every token.
//!
//! Each token asks a question (its **query**, "what I am looking for"), advertises a label
//! (its **key**, "what I contain") and offers content (its **value**, "what I offer"):
//!
//! Q = X·W_qᵀ, K = X·W_kᵀ, V = X·W_vᵀ, Attention(Q, K, V) = softmax(Q·Kᵀ / √d_k)·V.
//!
//! Row i of the softmax holds the "percentages of influence" of every token on token i; the
//! output for token i is the value vectors mixed in those proportions.
//!
//! ```
//! use attention::self_attention::scaled_dot_product_attention;
//! use attention::ndarray::array;
//!
//! let queries = array![[1.0_f32, 0.0], [0.0, 1.0]]; // (tgt, d_k)
//! let keys = array![[1.0_f32, 0.0], [0.0, 1.0]];    // (src, d_k)
//! let values = array![[10.0_f32], [20.0]];          // (src, d_v)
//! let attn = scaled_dot_product_attention(&queries, &keys, &values, None)?;
//! assert_eq!(attn.weights.shape(), &[2, 2]);        // (tgt, src)
//! assert!(attn.output[[0, 0]] < 15.0);              // query 0 prefers key 0
//! # Ok::<(), attention::Error>(())
//! ```

use ndarray::{Array2, ArrayRef2, ArrayView2, ArrayViewMutD};

use crate::backend::matmul;
use crate::error::{Dim, Error, Result, check_shape};
use crate::masked::{Mask, mask_in_place};
use crate::nn::{Linear, softmax, softmax_backward};
use crate::params::{Module, Params};
use crate::weights::{NamedTensors, join};

/// What attention returns: the new token vectors and who attended to whom.
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionOutput {
    /// `(tgt_len, d_v)`: one output vector per query.
    pub output: Array2<f32>,
    /// `(tgt_len, src_len)`: row i is query i's softmax over the keys (sums to 1, or is all
    /// zeros for a fully masked row).
    pub weights: Array2<f32>,
}

// ANCHOR: sdpa
/// Scaled dot-product attention for one sequence: softmax(Q·Kᵀ/√d_k + M)·V.
///
/// - `queries`: `(tgt_len, d_k)`, `keys`: `(src_len, d_k)`, `values`: `(src_len, d_v)`;
/// - `mask`: optional, broadcastable to `(1, tgt_len, src_len)`, `true` = may attend
///   (see [`crate::masked`]).
///
/// Returns the output `(tgt_len, d_v)` and the weights `(tgt_len, src_len)`.
///
/// **Supported range.** Everything is f32: a score |q·k|/√d_k must stay below f32's largest
/// value, about 3.4e38 (for d_k = 64, entries of Q and K below ~1e18). A larger score
/// overflows to ±∞; a row with a +∞ or NaN score gives NaN output (see
/// [`crate::nn::softmax()`]), never a plausible-looking wrong number.
pub fn scaled_dot_product_attention(
    queries: &ArrayRef2<f32>,
    keys: &ArrayRef2<f32>,
    values: &ArrayRef2<f32>,
    mask: Option<&Mask>,
) -> Result<AttentionOutput> {
    let (tgt_len, src_len) = check_qkv(queries, keys, values)?;
    if let Some(mask) = mask {
        mask.check("mask", 1, tgt_len, src_len)?;
    }
    let allowed = mask.map(|m| m.for_sequence(0, tgt_len));
    Ok(attend(
        queries,
        keys,
        values,
        allowed.as_ref().map(|a| a.view()),
    ))
}

/// The unchecked core, shared with multi-head attention (which checks shapes once for all
/// heads). `allowed`: `(tgt_len, src_len)`.
pub(crate) fn attend(
    queries: &ArrayRef2<f32>,
    keys: &ArrayRef2<f32>,
    values: &ArrayRef2<f32>,
    allowed: Option<ArrayView2<bool>>,
) -> AttentionOutput {
    let d_k = queries.ncols() as f32;
    let mut scores = matmul(queries, &keys.t()) / d_k.sqrt(); // (tgt_len, src_len)
    if let Some(allowed) = allowed {
        mask_in_place(&mut scores, allowed); // masked scores become −∞
    }
    let weights = softmax(&scores); // (tgt_len, src_len), rows sum to 1
    let output = matmul(&weights, values); // (tgt_len, d_v)
    AttentionOutput { output, weights }
}
// ANCHOR_END: sdpa

/// Gradients of attention's three inputs, from [`scaled_dot_product_attention_backward`].
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionGrads {
    /// ∂L/∂Q `(tgt_len, d_k)`.
    pub queries: Array2<f32>,
    /// ∂L/∂K `(src_len, d_k)`.
    pub keys: Array2<f32>,
    /// ∂L/∂V `(src_len, d_v)`.
    pub values: Array2<f32>,
}

// ANCHOR: sdpa_backward
/// Backward of [`scaled_dot_product_attention`]: given the forward's inputs, its `weights`
/// P `(tgt_len, src_len)` and `d_output = ∂L/∂O (tgt_len, d_v)`, returns ∂L/∂Q, ∂L/∂K, ∂L/∂V.
///
/// The forward is S = Q·Kᵀ/√d_k (+ mask), P = softmax(S), O = P·V. Backwards, one step at a
/// time:
/// - O = P·V gives ∂L/∂V = Pᵀ·∂L/∂O and ∂L/∂P = ∂L/∂O·Vᵀ;
/// - the softmax's vector–Jacobian product gives ∂L/∂S (see [`softmax_backward`]);
/// - S = Q·Kᵀ/√d_k gives ∂L/∂Q = ∂L/∂S·K/√d_k and ∂L/∂K = ∂L/∂Sᵀ·Q/√d_k.
///
/// A masked score has weight 0, so it gets no gradient, and a fully masked row gives zero
/// gradients (never NaN).
pub fn scaled_dot_product_attention_backward(
    queries: &ArrayRef2<f32>,
    keys: &ArrayRef2<f32>,
    values: &ArrayRef2<f32>,
    weights: &ArrayRef2<f32>,
    d_output: &ArrayRef2<f32>,
) -> Result<AttentionGrads> {
    let (tgt_len, src_len) = check_qkv(queries, keys, values)?;
    let want = [Dim::Is(tgt_len), Dim::Is(src_len)];
    check_shape("weights", weights.shape(), &want, "(tgt_len, src_len)")?;
    let want = [Dim::Is(tgt_len), Dim::Is(values.ncols())];
    check_shape("d_output", d_output.shape(), &want, "(tgt_len, d_v)")?;
    Ok(attend_backward(
        queries, keys, values, weights, None, d_output,
    ))
}

/// The unchecked core, shared with multi-head attention. `dropped`: the dropout mask that
/// training applied to the weights (O = (P ⊙ M)·V), if any.
pub(crate) fn attend_backward(
    queries: &ArrayRef2<f32>,
    keys: &ArrayRef2<f32>,
    values: &ArrayRef2<f32>,
    weights: &ArrayRef2<f32>,
    dropped: Option<&ArrayRef2<f32>>,
    d_output: &ArrayRef2<f32>,
) -> AttentionGrads {
    let scale = 1.0 / (queries.ncols() as f32).sqrt(); // 1/√d_k
    let used = match dropped {
        Some(m) => weights * m, // the weights that multiplied V
        None => weights.to_owned(),
    }; // (tgt_len, src_len)
    let d_values = matmul(&used.t(), d_output); // (src_len, d_v)
    let mut d_weights = matmul(d_output, &values.t()); // (tgt_len, src_len)
    if let Some(m) = dropped {
        d_weights.zip_mut_with(m, |d, &m| *d *= m);
    }
    let d_scores = softmax_backward(weights, &d_weights) * scale; // (tgt_len, src_len)
    AttentionGrads {
        queries: matmul(&d_scores, keys),     // (tgt_len, d_k)
        keys: matmul(&d_scores.t(), queries), // (src_len, d_k)
        values: d_values,
    }
}
// ANCHOR_END: sdpa_backward

/// The scaled scores Q·Kᵀ/√d_k before softmax: `(tgt_len, d_k), (src_len, d_k) → (tgt_len, src_len)`.
///
/// The chapter prints this intermediate matrix; attention itself uses [`scaled_dot_product_attention`].
pub fn scaled_scores(queries: &ArrayRef2<f32>, keys: &ArrayRef2<f32>) -> Result<Array2<f32>> {
    check_qk(queries, keys)?;
    let d_k = queries.ncols();
    Ok(matmul(queries, &keys.t()) / (d_k as f32).sqrt())
}

/// Checks `queries (tgt_len, d_k)` and `keys (src_len, d_k)`; returns `(tgt_len, src_len)`.
fn check_qk(queries: &ArrayRef2<f32>, keys: &ArrayRef2<f32>) -> Result<(usize, usize)> {
    let any = [Dim::Any("tgt_len"), Dim::Any("d_k")];
    check_shape("queries", queries.shape(), &any, "")?;
    let d_k = [Dim::Any("src_len"), Dim::Is(queries.ncols())];
    check_shape("keys", keys.shape(), &d_k, "d_k from `queries`")?;
    Ok((queries.nrows(), keys.nrows()))
}

/// Checks `queries (tgt_len, d_k)`, `keys (src_len, d_k)` and `values (src_len, d_v)`;
/// returns `(tgt_len, src_len)`.
pub(crate) fn check_qkv(
    queries: &ArrayRef2<f32>,
    keys: &ArrayRef2<f32>,
    values: &ArrayRef2<f32>,
) -> Result<(usize, usize)> {
    let (tgt_len, src_len) = check_qk(queries, keys)?;
    let want = [Dim::Is(src_len), Dim::Any("d_v")];
    check_shape("values", values.shape(), &want, "src_len from `keys`")?;
    Ok((tgt_len, src_len))
}

// ANCHOR: self_attention
/// A single self-attention head with learned projections W_q, W_k, W_v.
///
/// Mirrors the PyTorch class of the StatQuest course: three `nn.Linear(d_model, d_k)` named
/// `W_q`, `W_k`, `W_v` (bias optional; the course has none), then scaled dot-product attention.
#[derive(Debug, Clone, PartialEq)]
pub struct SelfAttention {
    /// Query projection, weight `(d_k, d_model)`.
    pub w_q: Linear,
    /// Key projection, weight `(d_k, d_model)`.
    pub w_k: Linear,
    /// Value projection, weight `(d_k, d_model)`.
    pub w_v: Linear,
}

impl SelfAttention {
    /// Self-attention over `x`: `(seq, d_model) → output (seq, d_k)`, weights `(seq, seq)`.
    pub fn forward(&self, x: &ArrayRef2<f32>, mask: Option<&Mask>) -> Result<AttentionOutput> {
        project_and_attend(&self.projections(), ("x", x), ("x", x), mask)
    }

    /// A head from three projections; all must read `d_model` inputs and write `d_k` outputs.
    pub fn new(w_q: Linear, w_k: Linear, w_v: Linear) -> Result<Self> {
        check_projections(&w_q, &w_k, &w_v)?;
        Ok(SelfAttention { w_q, w_k, w_v })
    }

    /// Three projections `d_model → d_k`, `W_q`, `W_k`, `W_v` (with `.bias` if `bias`), read
    /// from `p` or drawn with PyTorch's `nn.Linear` init.
    pub fn from_params(p: &Params, d_model: usize, d_k: usize, bias: bool) -> Result<Self> {
        let [w_q, w_k, w_v] =
            PROJECTION_NAMES.map(|name| Linear::from_params(&p.sub(name), d_model, d_k, bias));
        SelfAttention::new(w_q?, w_k?, w_v?)
    }

    /// Input size.
    pub fn d_model(&self) -> usize {
        self.w_q.in_features()
    }

    /// Query/key size (also the output size).
    pub fn d_k(&self) -> usize {
        self.w_q.out_features()
    }

    fn projections(&self) -> [&Linear; 3] {
        [&self.w_q, &self.w_k, &self.w_v]
    }
}
// ANCHOR_END: self_attention

impl Module for SelfAttention {
    /// `{prefix}.W_q.weight` etc.
    fn parameters_into(&self, prefix: &str, out: &mut NamedTensors) {
        for (name, linear) in PROJECTION_NAMES.iter().zip(self.projections()) {
            linear.parameters_into(&join(prefix, name), out);
        }
    }

    fn visit_parameters_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ArrayViewMutD<f32>)) {
        let projections = [&mut self.w_q, &mut self.w_k, &mut self.w_v];
        for (name, linear) in PROJECTION_NAMES.iter().zip(projections) {
            linear.visit_parameters_mut(&join(prefix, name), f);
        }
    }
}

/// PyTorch attribute names of the three projections (the StatQuest course's class).
pub(crate) const PROJECTION_NAMES: [&str; 3] = ["W_q", "W_k", "W_v"];

/// Q from `queries_from`, K and V from `keys_values_from`, then attention. Self-attention
/// passes the same matrix twice; cross-attention (chapter 5) passes the decoder and encoder
/// states. Each input is `(name, (len, d_model))` so errors name the right argument.
pub(crate) fn project_and_attend(
    [w_q, w_k, w_v]: &[&Linear; 3],
    (q_name, queries_from): (&str, &ArrayRef2<f32>),
    (kv_name, keys_values_from): (&str, &ArrayRef2<f32>),
    mask: Option<&Mask>,
) -> Result<AttentionOutput> {
    check_projections(w_q, w_k, w_v)?; // the fields are public: checked on every call
    let d_model = w_q.in_features();
    let note = format!("d_model = {d_model}");
    let expected = [Dim::Any("seq"), Dim::Is(d_model)];
    check_shape(q_name, queries_from.shape(), &expected, &note)?;
    check_shape(kv_name, keys_values_from.shape(), &expected, &note)?;
    let queries = w_q.forward(queries_from)?; // (tgt_len, d_k)
    let keys = w_k.forward(keys_values_from)?; // (src_len, d_k)
    let values = w_v.forward(keys_values_from)?; // (src_len, d_k)
    scaled_dot_product_attention(&queries, &keys, &values, mask)
}

/// Errors unless W_q, W_k, W_v all map `d_model → d_k` (same sizes).
pub(crate) fn check_projections(w_q: &Linear, w_k: &Linear, w_v: &Linear) -> Result<()> {
    let want = [w_q.out_features(), w_q.in_features()];
    for (name, w) in [("w_k", w_k), ("w_v", w_v)] {
        if w.weight.shape() != want {
            let expected = format!("(d_k, d_model) = ({}, {}) like `w_q`", want[0], want[1]);
            return Err(Error::shape(
                format!("{name}.weight"),
                expected,
                w.weight.shape(),
            ));
        }
    }
    Ok(())
}
