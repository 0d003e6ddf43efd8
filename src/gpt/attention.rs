//! Causal self-attention as GPT-2 and nanoGPT write it: one packed projection `c_attn`
//! makes Q, K and V in a single matrix product, the heads attend causally, `c_proj` mixes
//! them. Chapter 6's multi-head attention, with nanoGPT's parameter names.

use ndarray::{Array2, Array3, Array4, ArrayRef3, ArrayViewMutD, Axis, concatenate, s};

use crate::error::{Error, Result};
use crate::gradients::Gradients;
use crate::kernels::heads_in_parallel;
use crate::masked::Mask;
use crate::multi_head::{attend_each_head, attend_each_head_backward, merge_heads, split_heads};
use crate::nn::Linear;
use crate::params::{Module, Params};
use crate::self_attention::attend;
use crate::weights::{NamedTensors, join};

use super::mlp::{gpt_linear, residual_std};

/// nanoGPT's `CausalSelfAttention`: `c_attn` `(3C, C)` packs W_q, W_k, W_v by rows (as
/// `nn.MultiheadAttention`'s `in_proj_weight` does), `c_proj` `(C, C)`.
#[derive(Debug, Clone, PartialEq)]
pub struct CausalSelfAttention {
    /// Number of heads; divides n_embd.
    pub n_head: usize,
    /// Q, K, V in one product: `(batch, seq, C) → (batch, seq, 3C)`.
    pub c_attn: Linear,
    /// The output projection.
    pub c_proj: Linear,
}

/// What [`CausalSelfAttention::backward`] needs from the training forward.
#[derive(Debug, Clone)]
pub struct AttentionCache {
    x: Array3<f32>,
    q: Array4<f32>,
    k: Array4<f32>,
    v: Array4<f32>,
    weights: Array4<f32>,
    concat: Array3<f32>,
}

impl CausalSelfAttention {
    /// Read from `p` (`c_attn.*`, `c_proj.*`) or drawn as nanoGPT does (Normal(0, 0.02²),
    /// `c_proj.weight` with 0.02/√(2·n_layer), biases zero).
    pub fn from_params(p: &Params, n_embd: usize, n_head: usize, n_layer: usize) -> Result<Self> {
        if n_head == 0 || !n_embd.is_multiple_of(n_head) {
            let want = format!("a divisor of n_embd = {n_embd}");
            return Err(Error::value("n_head", want, n_head));
        }
        p.setting("n_head", n_head)?;
        Ok(CausalSelfAttention {
            n_head,
            c_attn: gpt_linear(&p.sub("c_attn"), n_embd, 3 * n_embd, 0.02)?,
            c_proj: gpt_linear(&p.sub("c_proj"), n_embd, n_embd, residual_std(n_layer))?,
        })
    }

    /// n_embd, C.
    pub fn n_embd(&self) -> usize {
        self.c_proj.out_features()
    }

    /// `x (batch, seq, C)` → output `(batch, seq, C)` and the weights `(batch, heads, seq,
    /// seq)`: every position attends to itself and the positions before it.
    pub fn forward(&self, x: &ArrayRef3<f32>) -> Result<(Array3<f32>, Array4<f32>)> {
        let (y, cache) = self.forward_train(x)?;
        Ok((y, cache.weights))
    }

    // ANCHOR: causal_forward
    /// [`CausalSelfAttention::forward`], keeping what the backward needs.
    pub fn forward_train(&self, x: &ArrayRef3<f32>) -> Result<(Array3<f32>, AttentionCache)> {
        let (c, h, seq) = (self.n_embd(), self.n_head, x.dim().1);
        let qkv = self.c_attn.forward(x)?; // (batch, seq, 3C): one matrix product
        let q = split_heads(&qkv.slice(s![.., .., ..c]), h)?; // (batch, heads, seq, hs)
        let k = split_heads(&qkv.slice(s![.., .., c..2 * c]), h)?; // (batch, heads, seq, hs)
        let v = split_heads(&qkv.slice(s![.., .., 2 * c..]), h)?; // (batch, heads, seq, hs)
        let heads = attend_each_head(&q, &k, &v, Some(&Mask::causal(seq)?));
        let concat = merge_heads(&heads.output); // (batch, seq, C)
        let y = self.c_proj.forward(&concat)?; // (batch, seq, C)
        let (x, weights) = (x.to_owned(), heads.weights);
        Ok((
            y,
            AttentionCache {
                x,
                q,
                k,
                v,
                weights,
                concat,
            },
        ))
    }
    // ANCHOR_END: causal_forward

    /// Backward: `c_proj`, the heads' attention (chapter 9's), and `c_attn`, whose gradient
    /// is ∂L/∂Q, ∂L/∂K, ∂L/∂V side by side `(batch, seq, 3C)`, the packed output it made.
    pub fn backward(
        &self,
        cache: &AttentionCache,
        dy: &ArrayRef3<f32>,
        grads: &mut Gradients,
        prefix: &str,
    ) -> Result<Array3<f32>> {
        let d_concat = (self.c_proj).backward(&cache.concat, dy, grads, &join(prefix, "c_proj"))?;
        let d_heads = split_heads(&d_concat, self.n_head)?; // (batch, heads, seq, hs)
        let (q, k, v) = (&cache.q, &cache.k, &cache.v);
        let (dq, dk, dv) = attend_each_head_backward(q, k, v, &cache.weights, None, &d_heads);
        let (dq, dk, dv) = (merge_heads(&dq), merge_heads(&dk), merge_heads(&dv)); // (batch, seq, C)
        let d_qkv =
            concatenate(Axis(2), &[dq.view(), dk.view(), dv.view()]).expect("(batch, seq, 3C)");
        (self.c_attn).backward(&cache.x, &d_qkv, grads, &join(prefix, "c_attn"))
    }

    // ANCHOR: cached_forward
    /// Generation with a KV cache: `x (batch, new, C)` holds only the new positions. Their
    /// keys and values are appended to `cache`, and their queries attend to every cached
    /// position up to their own. Returns `(batch, new, C)`, equal to the rows of
    /// [`CausalSelfAttention::forward`] on the whole sequence.
    pub fn forward_cached(&self, x: &ArrayRef3<f32>, cache: &mut KvCache) -> Result<Array3<f32>> {
        let (c, h) = (self.n_embd(), self.n_head);
        let new = x.dim().1;
        let qkv = self.c_attn.forward(x)?; // (batch, new, 3C)
        let q = split_heads(&qkv.slice(s![.., .., ..c]), h)?; // (batch, heads, new, hs)
        let k = split_heads(&qkv.slice(s![.., .., c..2 * c]), h)?;
        let v = split_heads(&qkv.slice(s![.., .., 2 * c..]), h)?;
        let past = cache.len();
        cache.append(&k, &v)?; // now past + new positions
        let total = cache.len();
        // New position i (absolute past + i) may see keys 0..=past + i.
        let allowed = Array2::from_shape_fn((new, total), |(i, j)| j <= past + i);
        let (keys, values) = (cache.keys(), cache.values()); // (batch, heads, total, hs)
        let (batch, hs) = (q.dim().0, q.dim().3);
        let [heads] = heads_in_parallel((batch, h), [(new, hs)], |b, head| {
            let at = s![b, head, .., ..];
            let (k, v) = (keys.slice(at), values.slice(at));
            [attend(&q.slice(at), &k, &v, Some(allowed.view())).output] // (new, hs)
        }); // (batch, heads, new, hs)
        self.c_proj.forward(&merge_heads(&heads)) // (batch, new, C)
    }
    // ANCHOR_END: cached_forward
}

// ANCHOR: kv_cache
/// One layer's keys and values of the positions seen so far, `(batch, heads, len, hs)` each,
/// stored in buffers of `capacity` positions so appending never copies what is there.
#[derive(Debug, Clone)]
pub struct KvCache {
    keys: Array4<f32>,
    values: Array4<f32>,
    len: usize,
}

impl KvCache {
    /// An empty cache for up to `capacity` positions (the model's block size).
    pub fn new(batch: usize, heads: usize, capacity: usize, head_size: usize) -> Self {
        let shape = (batch, heads, capacity, head_size);
        KvCache {
            keys: Array4::zeros(shape),
            values: Array4::zeros(shape),
            len: 0,
        }
    }

    /// Positions cached so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every position from `len` on (no effect if fewer are cached): to generate
    /// again from an earlier point.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Bytes the cached keys and values take (the buffers hold `capacity` positions).
    pub fn bytes(&self) -> usize {
        (self.keys.len() + self.values.len()) * std::mem::size_of::<f32>()
    }

    /// Appends `k`, `v` `(batch, heads, new, hs)`.
    fn append(&mut self, k: &Array4<f32>, v: &Array4<f32>) -> Result<()> {
        let (b, h, capacity, hs) = self.keys.dim();
        let (kb, kh, new, khs) = k.dim();
        if (kb, kh, khs) != (b, h, hs) || self.len + new > capacity {
            let want = format!("({b}, {h}, ≤ {} more, {hs})", capacity - self.len);
            return Err(Error::shape(
                "new keys (batch, heads, new, hs)",
                want,
                k.shape(),
            ));
        }
        let at = s![.., .., self.len..self.len + new, ..];
        self.keys.slice_mut(at).assign(k);
        self.values.slice_mut(at).assign(v);
        self.len += new;
        Ok(())
    }

    fn keys(&self) -> ndarray::ArrayView4<'_, f32> {
        self.keys.slice(s![.., .., ..self.len, ..])
    }

    fn values(&self) -> ndarray::ArrayView4<'_, f32> {
        self.values.slice(s![.., .., ..self.len, ..])
    }
}
// ANCHOR_END: kv_cache

impl Module for CausalSelfAttention {
    /// `c_attn.*`, `c_proj.*` and the setting `{prefix}.n_head`.
    fn parameters_into(&self, prefix: &str, out: &mut NamedTensors) {
        self.c_attn.parameters_into(&join(prefix, "c_attn"), out);
        self.c_proj.parameters_into(&join(prefix, "c_proj"), out);
        out.set_setting(join(prefix, "n_head"), self.n_head);
    }

    fn visit_parameters_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ArrayViewMutD<f32>)) {
        self.c_attn.visit_parameters_mut(&join(prefix, "c_attn"), f);
        self.c_proj.visit_parameters_mut(&join(prefix, "c_proj"), f);
    }
}
