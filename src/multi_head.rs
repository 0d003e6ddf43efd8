//! Chapter 6 — multi-head attention: several attention heads side by side.
//!
//! One head computes one pattern of "who attends to whom". With `num_heads` heads, each of
//! size d_k = d_model / num_heads, the model can follow several relationships at once (one
//! head for the previous word, one for the subject of the verb…), each in its own
//! representation subspace, for the same cost as one full-width head.
//!
//! The recipe, on batched input `(batch, seq, d_model)`:
//! 1. project to Q, K, V (`(batch, seq, d_model)` each);
//! 2. [`split_heads`]: `(batch, seq, d_model) → (batch, heads, seq, d_k)`;
//! 3. scaled dot-product attention in every head independently;
//! 4. [`merge_heads`]: concatenate the heads back to `(batch, seq, d_model)`;
//! 5. the output projection `out_proj` mixes the heads.
//!
//! The parameters have PyTorch's `nn.MultiheadAttention` layout: `in_proj_weight (3E, E)`
//! packs W_q, W_k, W_v by rows, `in_proj_bias (3E)`, then `out_proj.weight (E, E)` and
//! `out_proj.bias (E)`.
//!
//! ```
//! use attention::multi_head::MultiHeadAttention;
//! use attention::nn::seeded_rng;
//! use attention::params::Params;
//! use attention::ndarray::Array3;
//!
//! let mha = MultiHeadAttention::from_params(&Params::seeded(0), 8, 2)?;
//! let x = Array3::<f32>::ones((1, 5, 8));          // (batch, seq, d_model)
//! let out = mha.forward(&x, &x, &x, None)?;
//! assert_eq!(out.output.shape(), &[1, 5, 8]);      // (batch, seq, d_model)
//! assert_eq!(out.weights.shape(), &[1, 2, 5, 5]);  // (batch, heads, tgt, src)
//! # Ok::<(), attention::Error>(())
//! ```

use ndarray::{
    Array1, Array2, Array3, Array4, ArrayRef3, ArrayRef4, ArrayViewMutD, Axis, concatenate, s,
};

use crate::error::{Dim, Error, Result, check_shape};
use crate::gradients::Gradients;
use crate::kernels::{
    exact_attention_masked, exact_attention_with_weights, heads_in_parallel, tiles_fit,
};
use crate::masked::Mask;
use crate::nn::Linear;
use crate::nn::Train;
use crate::params::{Init, Module, Params};
use crate::self_attention::{SelfAttention, attend, attend_backward};
use crate::weights::{NamedTensors, join};

// ANCHOR: split_heads
/// `(batch, seq, d_model) → (batch, heads, seq, d_k)` with d_k = d_model / num_heads.
///
/// Head h gets columns `h·d_k .. (h+1)·d_k` of every token vector, as in PyTorch.
pub fn split_heads(x: &ArrayRef3<f32>, num_heads: usize) -> Result<Array4<f32>> {
    let (batch, seq, d_model) = x.dim();
    check_heads(d_model, num_heads)?;
    let d_k = d_model / num_heads;
    let split = x
        .to_shape((batch, seq, num_heads, d_k)) // (batch, seq, heads, d_k)
        .expect("d_model = heads · d_k")
        .permuted_axes([0, 2, 1, 3]); // (batch, heads, seq, d_k)
    Ok(split.as_standard_layout().into_owned())
}

/// `(batch, heads, seq, d_k) → (batch, seq, heads · d_k)`: concatenates the heads.
pub fn merge_heads(x: &ArrayRef4<f32>) -> Array3<f32> {
    let (batch, heads, seq, d_k) = x.dim();
    let merged = x.view().permuted_axes([0, 2, 1, 3]); // (batch, seq, heads, d_k)
    merged
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((batch, seq, heads * d_k)) // (batch, seq, d_model)
        .expect("same number of elements")
}
// ANCHOR_END: split_heads

/// Output of [`MultiHeadAttention::forward`].
#[derive(Debug, Clone, PartialEq)]
pub struct MultiHeadOutput {
    /// `(batch, tgt_len, d_model)`.
    pub output: Array3<f32>,
    /// Per-head weights `(batch, heads, tgt_len, src_len)`.
    pub weights: Array4<f32>,
}

impl MultiHeadOutput {
    /// Weights averaged over heads, `(batch, tgt_len, src_len)`: what PyTorch's
    /// `nn.MultiheadAttention` returns by default (`average_attn_weights=True`).
    pub fn averaged_weights(&self) -> Array3<f32> {
        self.weights.mean_axis(Axis(1)).expect("at least one head")
    }
}

/// Multi-head attention with the parameters of PyTorch's `nn.MultiheadAttention`.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiHeadAttention {
    /// Number of heads; divides d_model.
    pub num_heads: usize,
    /// Query projection `(d_model, d_model)`: rows `0..E` of `in_proj_weight`.
    pub w_q: Linear,
    /// Key projection: rows `E..2E` of `in_proj_weight`.
    pub w_k: Linear,
    /// Value projection: rows `2E..3E` of `in_proj_weight`.
    pub w_v: Linear,
    /// Output projection `(d_model, d_model)`, mixing the concatenated heads.
    pub out_proj: Linear,
}

impl MultiHeadAttention {
    // ANCHOR: mha_forward
    /// Attention from `query (batch, tgt_len, d_model)` to `key`/`value`
    /// `(batch, src_len, d_model)`. Self-attention passes the same array three times.
    ///
    /// `mask` broadcasts to `(batch, tgt_len, src_len)`, `true` = may attend.
    pub fn forward(
        &self,
        query: &ArrayRef3<f32>,
        key: &ArrayRef3<f32>,
        value: &ArrayRef3<f32>,
        mask: Option<&Mask>,
    ) -> Result<MultiHeadOutput> {
        self.check_inputs(query, key, value, mask)?;
        let h = self.num_heads;
        let q = split_heads(&self.w_q.forward(query)?, h)?; // (batch, heads, tgt_len, d_k)
        let k = split_heads(&self.w_k.forward(key)?, h)?; // (batch, heads, src_len, d_k)
        let v = split_heads(&self.w_v.forward(value)?, h)?; // (batch, heads, src_len, d_k)

        let heads = attend_each_head(&q, &k, &v, mask); // chapter 3's attention in every head*
        let concat = merge_heads(&heads.output); // (batch, tgt_len, d_model)
        let output = self.out_proj.forward(&concat)?; // (batch, tgt_len, d_model)
        let weights = heads.weights; // (batch, heads, tgt_len, src_len)
        Ok(MultiHeadOutput { output, weights })
    }
    // ANCHOR_END: mha_forward

    /// [`MultiHeadAttention::forward`]'s output alone, bit for bit, without computing and
    /// storing the `(batch, heads, tgt_len, src_len)` weights: what a Transformer layer uses.
    pub fn output(
        &self,
        query: &ArrayRef3<f32>,
        key: &ArrayRef3<f32>,
        value: &ArrayRef3<f32>,
        mask: Option<&Mask>,
    ) -> Result<Array3<f32>> {
        self.check_inputs(query, key, value, mask)?;
        let h = self.num_heads;
        let [q, k, v] = [(&self.w_q, query), (&self.w_k, key), (&self.w_v, value)]
            .map(|(w, x)| w.forward(x).and_then(|y| split_heads(&y, h))); // (batch, heads, len, d_k)
        let heads = attend_each_head_output(&q?, &k?, &v?, mask); // (batch, heads, tgt_len, d_k)
        self.out_proj.forward(&merge_heads(&heads)) // (batch, tgt_len, d_model)
    }

    /// Training forward: [`MultiHeadAttention::forward`]'s output with dropout on the
    /// attention weights (as PyTorch's `nn.MultiheadAttention(dropout=…)` does), and what the
    /// backward needs (the weights, before dropout, are [`MultiHeadCache::weights`]).
    pub fn forward_train(
        &self,
        query: &ArrayRef3<f32>,
        key: &ArrayRef3<f32>,
        value: &ArrayRef3<f32>,
        mask: Option<&Mask>,
        train: &mut Train,
    ) -> Result<(Array3<f32>, MultiHeadCache)> {
        self.check_inputs(query, key, value, mask)?;
        let h = self.num_heads;
        let q = split_heads(&self.w_q.forward(query)?, h)?; // (batch, heads, tgt_len, d_k)
        let k = split_heads(&self.w_k.forward(key)?, h)?; // (batch, heads, src_len, d_k)
        let v = split_heads(&self.w_v.forward(value)?, h)?; // (batch, heads, src_len, d_k)
        let heads = attend_each_head(&q, &k, &v, mask); // weights P, output P·V
        let dropped = train.mask(heads.weights.raw_dim()); // (batch, heads, tgt_len, src_len)
        let head_outputs = match &dropped {
            Some(m) => matmul_each_head(&(&heads.weights * m), &v), // (P ⊙ M)·V
            None => heads.output,
        }; // (batch, heads, tgt_len, d_k)
        let concat = merge_heads(&head_outputs); // (batch, tgt_len, d_model)
        let output = self.out_proj.forward(&concat)?; // (batch, tgt_len, d_model)
        let cache = MultiHeadCache {
            query: query.to_owned(),
            key: key.to_owned(),
            value: value.to_owned(),
            q,
            k,
            v,
            weights: heads.weights,
            dropped,
            concat,
        };
        Ok((output, cache))
    }

    // ANCHOR: mha_backward
    /// Backward of [`MultiHeadAttention::forward_train`]: given `d_output = ∂L/∂output
    /// (batch, tgt_len, d_model)`, adds the gradients of `in_proj_weight`, `in_proj_bias` and
    /// `out_proj.*` below `prefix` and returns ∂L/∂query, ∂L/∂key, ∂L/∂value. Self-attention
    /// passed one array three times: its gradient is the sum of the three.
    ///
    /// The forward's steps, undone in reverse: `out_proj` (a [`Linear`]), merging the heads
    /// (a reshape: split the gradient the same way), attention in every head (chapter 3's
    /// [`crate::self_attention::scaled_dot_product_attention_backward`]), splitting (merge the
    /// gradients), and the three projections, whose weight gradients are packed into
    /// `in_proj_weight`'s rows W_q, W_k, W_v as PyTorch stores them.
    pub fn backward(
        &self,
        cache: &MultiHeadCache,
        d_output: &ArrayRef3<f32>,
        grads: &mut Gradients,
        prefix: &str,
    ) -> Result<MultiHeadGrads> {
        let out_prefix = join(prefix, "out_proj");
        let d_concat = (self.out_proj).backward(&cache.concat, d_output, grads, &out_prefix)?;
        let d_heads = split_heads(&d_concat, self.num_heads)?; // (batch, heads, tgt_len, d_k)
        let (q, k, v, weights) = (&cache.q, &cache.k, &cache.v, &cache.weights);
        let (dq, dk, dv) =
            attend_each_head_backward(q, k, v, weights, cache.dropped.as_ref(), &d_heads);
        let (dq, dk, dv) = (merge_heads(&dq), merge_heads(&dk), merge_heads(&dv)); // (batch, len, E)
        let (dw_q, db_q) = self.w_q.weight_grads(&cache.query, &dq)?; // (E, E), (E)
        let (dw_k, db_k) = self.w_k.weight_grads(&cache.key, &dk)?;
        let (dw_v, db_v) = self.w_v.weight_grads(&cache.value, &dv)?;
        let packed_w = concatenate(Axis(0), &[dw_q.view(), dw_k.view(), dw_v.view()]);
        let packed_b = concatenate(Axis(0), &[db_q.view(), db_k.view(), db_v.view()]);
        grads.add(join(prefix, "in_proj_weight"), packed_w.expect("(3E, E)"));
        grads.add(join(prefix, "in_proj_bias"), packed_b.expect("(3E)"));
        Ok(MultiHeadGrads {
            query: self.w_q.input_grad(&dq), // (batch, tgt_len, E)
            key: self.w_k.input_grad(&dk),   // (batch, src_len, E)
            value: self.w_v.input_grad(&dv), // (batch, src_len, E)
        })
    }
    // ANCHOR_END: mha_backward

    /// Checks every input shape; returns `(batch, tgt_len, src_len)`.
    fn check_inputs(
        &self,
        query: &ArrayRef3<f32>,
        key: &ArrayRef3<f32>,
        value: &ArrayRef3<f32>,
        mask: Option<&Mask>,
    ) -> Result<(usize, usize, usize)> {
        self.check_parameters()?;
        let e = self.d_model();
        let note = format!("d_model = {e}");
        let any = [Dim::Any("batch"), Dim::Any("tgt_len"), Dim::Is(e)];
        check_shape("query", query.shape(), &any, &note)?;
        let (batch, tgt_len, _) = query.dim();
        let kv = [Dim::Is(batch), Dim::Any("src_len"), Dim::Is(e)];
        check_shape(
            "key",
            key.shape(),
            &kv,
            &format!("{note}, batch from `query`"),
        )?;
        let src_len = key.dim().1;
        let same = [Dim::Is(batch), Dim::Is(src_len), Dim::Is(e)];
        check_shape("value", value.shape(), &same, "the shape of `key`")?;
        if let Some(mask) = mask {
            mask.check("mask", batch, tgt_len, src_len)?;
        }
        Ok((batch, tgt_len, src_len))
    }

    /// A layer from its projections; all four must be `(d_model, d_model)`, and `num_heads`
    /// must divide d_model.
    pub fn new(
        num_heads: usize,
        w_q: Linear,
        w_k: Linear,
        w_v: Linear,
        out_proj: Linear,
    ) -> Result<Self> {
        let layer = MultiHeadAttention {
            num_heads,
            w_q,
            w_k,
            w_v,
            out_proj,
        };
        layer.check_parameters()?;
        Ok(layer)
    }

    /// Errors unless `num_heads` divides d_model and all four projections are `(d_model,
    /// d_model)` with matching biases. The fields are public, so `forward` checks again.
    fn check_parameters(&self) -> Result<()> {
        let e = self.w_q.in_features();
        check_heads(e, self.num_heads)?;
        for (name, w) in [
            ("w_q", &self.w_q),
            ("w_k", &self.w_k),
            ("w_v", &self.w_v),
            ("out_proj", &self.out_proj),
        ] {
            check_shape(
                &format!("{name}.weight"),
                w.weight.shape(),
                &[Dim::Is(e), Dim::Is(e)],
                &format!("d_model = {e}"),
            )?;
            if let Some(b) = &w.bias
                && b.len() != e
            {
                let want = format!("({e},) with d_model = {e}");
                return Err(Error::shape(format!("{name}.bias"), want, b.shape()));
            }
        }
        Ok(())
    }

    /// PyTorch's packed parameters read from `p`: `in_proj_weight (3E, E)` (rows W_q, W_k,
    /// W_v), `in_proj_bias (3E)`, `out_proj.weight (E, E)`, `out_proj.bias (E)`. Or drawn as
    /// PyTorch does: `in_proj_weight` Xavier-uniform over the packed matrix, `in_proj_bias`
    /// and `out_proj.bias` zero, `out_proj.weight` uniform ±1/√E. A checkpoint that saved
    /// another `num_heads` is refused.
    pub fn from_params(p: &Params, d_model: usize, num_heads: usize) -> Result<Self> {
        check_heads(d_model, num_heads)?;
        p.setting("num_heads", num_heads)?;
        let e = d_model;
        let in_proj_weight: Array2<f32> =
            p.get("in_proj_weight", &[3 * e, e], Init::XavierUniform)?;
        let in_proj_bias: Array1<f32> = p.get("in_proj_bias", &[3 * e], Init::Zeros)?;
        let bound = 1.0 / (e as f32).sqrt();
        let out = p.sub("out_proj");
        let out_proj = Linear::new(
            out.get("weight", &[e, e], Init::Uniform(bound))?,
            Some(out.get("bias", &[e], Init::ZeroedAfterUniform(bound))?),
        )?;
        let part = |i: usize| {
            let rows = i * e..(i + 1) * e;
            let weight = in_proj_weight.slice(s![rows.clone(), ..]).to_owned(); // (E, E)
            let bias = in_proj_bias.slice(s![rows]).to_owned(); // (E)
            Linear::new(weight, Some(bias))
        };
        Self::new(num_heads, part(0)?, part(1)?, part(2)?, out_proj)
    }

    /// d_model (PyTorch's `embed_dim`).
    pub fn d_model(&self) -> usize {
        self.w_q.in_features()
    }

    /// Size of each head, d_model / num_heads.
    pub fn d_k(&self) -> usize {
        self.d_model() / self.num_heads
    }

    // ANCHOR: mha_head
    /// Head `i` on its own, as chapter 3's [`SelfAttention`]: rows `i·d_k..(i+1)·d_k` of
    /// W_q, W_k and W_v (the `(out, in)` layout puts an output column in a row of the weight)
    /// and the same entries of their biases. Running every head this way and concatenating
    /// the outputs gives [`MultiHeadAttention::forward`]'s result before `out_proj`.
    pub fn head(&self, i: usize) -> Result<SelfAttention> {
        if i >= self.num_heads {
            let want = format!("a head index below num_heads = {}", self.num_heads);
            return Err(Error::value("i", want, i));
        }
        let d_k = self.d_k();
        let rows = i * d_k..(i + 1) * d_k;
        let slice = |w: &Linear| {
            Linear::new(
                w.weight.slice(s![rows.clone(), ..]).to_owned(), // (d_k, d_model)
                w.bias
                    .as_ref()
                    .map(|b| b.slice(s![rows.clone()]).to_owned()), // (d_k)
            )
        };
        SelfAttention::new(slice(&self.w_q)?, slice(&self.w_k)?, slice(&self.w_v)?)
    }
    // ANCHOR_END: mha_head
}

impl MultiHeadAttention {
    /// W_q, W_k, W_v packed as PyTorch stores them: `in_proj_weight (3E, E)` and
    /// `in_proj_bias (3E)` (zeros for a projection without bias).
    fn parameters_into_packed(&self) -> (Array2<f32>, Array1<f32>) {
        let projections = [&self.w_q, &self.w_k, &self.w_v];
        let weights: Vec<_> = projections.iter().map(|p| p.weight.view()).collect();
        let zeros = Array1::zeros(self.d_model());
        let biases: Vec<_> = projections
            .iter()
            .map(|p| p.bias.as_ref().unwrap_or(&zeros).view())
            .collect();
        let packed_w = concatenate(Axis(0), &weights).expect("same widths"); // (3E, E)
        let packed_b = concatenate(Axis(0), &biases).expect("same lengths"); // (3E)
        (packed_w, packed_b)
    }
}

impl Module for MultiHeadAttention {
    /// PyTorch's packed layout under `prefix` (see [`MultiHeadAttention::from_params`]), and
    /// the setting `{prefix}.num_heads`, which no shape tells.
    fn parameters_into(&self, prefix: &str, out: &mut NamedTensors) {
        let (packed_w, packed_b) = self.parameters_into_packed();
        out.insert(join(prefix, "in_proj_weight"), packed_w);
        out.insert(join(prefix, "in_proj_bias"), packed_b);
        self.out_proj
            .parameters_into(&join(prefix, "out_proj"), out);
        out.set_setting(join(prefix, "num_heads"), self.num_heads);
    }

    /// `in_proj_weight` and `in_proj_bias` are visited as PyTorch's packed `(3E, E)` and
    /// `(3E)` tensors (packed for the call, unpacked into W_q, W_k, W_v after it).
    fn visit_parameters_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ArrayViewMutD<f32>)) {
        let e = self.d_model();
        let mut packed = self.parameters_into_packed();
        f(
            &join(prefix, "in_proj_weight"),
            packed.0.view_mut().into_dyn(),
        );
        f(
            &join(prefix, "in_proj_bias"),
            packed.1.view_mut().into_dyn(),
        );
        let projections = [&mut self.w_q, &mut self.w_k, &mut self.w_v];
        for (i, linear) in projections.into_iter().enumerate() {
            let rows = i * e..(i + 1) * e;
            linear.weight.assign(&packed.0.slice(s![rows.clone(), ..]));
            if let Some(b) = &mut linear.bias {
                b.assign(&packed.1.slice(s![rows]));
            }
        }
        (self.out_proj).visit_parameters_mut(&join(prefix, "out_proj"), f);
    }
}

/// Scaled dot-product attention in every head of every batch item:
/// `q (batch, heads, tgt_len, d_k)`, `k`, `v (batch, heads, src_len, d_k)` → output
/// `(batch, heads, tgt_len, d_k)` and weights `(batch, heads, tgt_len, src_len)`. Shapes are
/// checked by the caller.
///
/// The heads are independent, so they run in parallel, one per core (the kernels floor's
/// [`heads_in_parallel`]); each is chapter 3's attention ([`attend_one_head`]).
pub(crate) fn attend_each_head(
    q: &Array4<f32>,
    k: &Array4<f32>,
    v: &Array4<f32>,
    mask: Option<&Mask>,
) -> HeadsOutput {
    let (batch, h, tgt_len, _) = q.dim();
    let allowed = per_sequence(mask, batch, tgt_len);
    let sizes = [(tgt_len, v.dim().3), (tgt_len, k.dim().2)]; // (tgt_len, d_k), (tgt_len, src_len)
    let [output, weights] = heads_in_parallel((batch, h), sizes, |b, head| {
        let (output, weights) = attend_one_head([q, k, v], (b, head), allowed[b].as_ref(), true);
        [output, weights.expect("asked for")]
    }); // (batch, heads, tgt_len, d_k), (batch, heads, tgt_len, src_len)
    HeadsOutput { output, weights }
}

/// [`attend_each_head`]'s output alone, bit for bit, without the weights.
fn attend_each_head_output(
    q: &Array4<f32>,
    k: &Array4<f32>,
    v: &Array4<f32>,
    mask: Option<&Mask>,
) -> Array4<f32> {
    let (batch, h, tgt_len, _) = q.dim();
    let allowed = per_sequence(mask, batch, tgt_len);
    let [output] = heads_in_parallel((batch, h), [(tgt_len, v.dim().3)], |b, head| {
        [attend_one_head([q, k, v], (b, head), allowed[b].as_ref(), false).0] // (tgt_len, d_k)
    });
    output // (batch, heads, tgt_len, d_k)
}

/// Each batch item's `(tgt_len, src_len)` mask, if any.
fn per_sequence(mask: Option<&Mask>, batch: usize, tgt_len: usize) -> Vec<Option<Array2<bool>>> {
    (0..batch)
        .map(|b| mask.map(|m| m.for_sequence(b, tgt_len)))
        .collect()
}

/// Head `head` of batch item `b`: chapter 3's attention, or, when its shapes fill the
/// kernels floor's register tiles ([`tiles_fit`]: at least 64 keys, d_k a multiple of 64),
/// chapter 8's exact kernel ([`exact_attention_with_weights`], equal to chapter 3's within
/// float rounding), which packs no operands of two general matrix products. The weights
/// only `with_weights`; the output is the same either way.
fn attend_one_head(
    [q, k, v]: [&Array4<f32>; 3],
    (b, head): (usize, usize),
    allowed: Option<&Array2<bool>>,
    with_weights: bool,
) -> (Array2<f32>, Option<Array2<f32>>) {
    let at = s![b, head, .., ..];
    let (q, k, v) = (q.slice(at), k.slice(at), v.slice(at));
    let allowed = allowed.map(|a| a.view());
    let shapes = "shapes checked by the caller";
    match (tiles_fit(k.nrows(), v.ncols()), with_weights) {
        (true, true) => {
            let (output, weights) =
                exact_attention_with_weights(&q, &k, &v, allowed).expect(shapes);
            (output, Some(weights))
        }
        (true, false) => (
            exact_attention_masked(&q, &k, &v, allowed).expect(shapes),
            None,
        ),
        (false, _) => {
            let attn = attend(&q, &k, &v, allowed);
            (attn.output, with_weights.then_some(attn.weights))
        }
    }
}

/// Backward of [`attend_each_head`], head by head in parallel: given every head's `q`, `k`,
/// `v`, softmax `weights` (and dropout mask `dropped`, if any) and `d_heads = ∂L/∂output
/// (batch, heads, tgt_len, d_k)`, returns ∂L/∂q, ∂L/∂k, ∂L/∂v in the shapes of `q`, `k`, `v`.
/// Each head is chapter 9's [`crate::self_attention::scaled_dot_product_attention_backward`].
pub(crate) fn attend_each_head_backward(
    q: &Array4<f32>,
    k: &Array4<f32>,
    v: &Array4<f32>,
    weights: &Array4<f32>,
    dropped: Option<&Array4<f32>>,
    d_heads: &Array4<f32>,
) -> (Array4<f32>, Array4<f32>, Array4<f32>) {
    let (batch, h, tgt_len, d_k) = q.dim();
    let (src_len, d_v) = (k.dim().2, v.dim().3);
    let sizes = [(tgt_len, d_k), (src_len, d_k), (src_len, d_v)];
    let [dq, dk, dv] = heads_in_parallel((batch, h), sizes, |b, head| {
        let at = s![b, head, .., ..];
        let dropped = dropped.map(|m| m.slice(at));
        let (q, k, v) = (q.slice(at), k.slice(at), v.slice(at));
        let g = attend_backward(
            &q,
            &k,
            &v,
            &weights.slice(at),
            dropped.as_deref(),
            &d_heads.slice(at),
        );
        [g.queries, g.keys, g.values]
    }); // (batch, heads, tgt_len, d_k), (…, src_len, d_k), (…, src_len, d_v)
    (dq, dk, dv)
}

/// `a (batch, heads, n, m) · b (batch, heads, m, p) → (batch, heads, n, p)`, head by head
/// in parallel.
fn matmul_each_head(a: &Array4<f32>, b: &Array4<f32>) -> Array4<f32> {
    let (batch, h, n, _) = a.dim();
    let [out] = heads_in_parallel((batch, h), [(n, b.dim().3)], |i, head| {
        let at = s![i, head, .., ..];
        [crate::backend::matmul(&a.slice(at), &b.slice(at))]
    });
    out
}

/// What [`MultiHeadAttention::backward`] needs from the training forward.
#[derive(Debug, Clone)]
pub struct MultiHeadCache {
    /// The inputs `(batch, tgt_len, E)`, `(batch, src_len, E)`, `(batch, src_len, E)`.
    query: Array3<f32>,
    key: Array3<f32>,
    value: Array3<f32>,
    /// The projections split into heads, `(batch, heads, len, d_k)`.
    q: Array4<f32>,
    k: Array4<f32>,
    v: Array4<f32>,
    /// The softmax weights `(batch, heads, tgt_len, src_len)`.
    weights: Array4<f32>,
    /// The dropout mask applied to the weights, if any.
    dropped: Option<Array4<f32>>,
    /// The merged heads, `out_proj`'s input `(batch, tgt_len, E)`.
    concat: Array3<f32>,
}

impl MultiHeadCache {
    /// The softmax weights of the training forward, before dropout: `(batch, heads,
    /// tgt_len, src_len)`.
    pub fn weights(&self) -> &Array4<f32> {
        &self.weights
    }
}

/// ∂L/∂query, ∂L/∂key and ∂L/∂value from [`MultiHeadAttention::backward`].
#[derive(Debug, Clone, PartialEq)]
pub struct MultiHeadGrads {
    /// `(batch, tgt_len, d_model)`.
    pub query: Array3<f32>,
    /// `(batch, src_len, d_model)`.
    pub key: Array3<f32>,
    /// `(batch, src_len, d_model)`.
    pub value: Array3<f32>,
}

/// Every head's attention output and weights, before the heads are merged.
pub(crate) struct HeadsOutput {
    /// `(batch, heads, tgt_len, d_k)`.
    pub(crate) output: Array4<f32>,
    /// `(batch, heads, tgt_len, src_len)`.
    pub(crate) weights: Array4<f32>,
}

/// Errors unless `num_heads` ≥ 1 divides `d_model`.
fn check_heads(d_model: usize, num_heads: usize) -> Result<()> {
    if num_heads == 0 || d_model == 0 || !d_model.is_multiple_of(num_heads) {
        let want = format!("a divisor of d_model = {d_model} (and d_model ≥ 1)");
        return Err(Error::value("num_heads", want, num_heads));
    }
    Ok(())
}
