//! One GPT block: pre-LN causal self-attention and MLP, each added to the residual stream.

use ndarray::{Array3, Array4, ArrayRef3, ArrayViewMutD};

use crate::error::Result;
use crate::gradients::Gradients;
use crate::nn::LayerNorm;
use crate::params::{Module, Params};
use crate::weights::{NamedTensors, join};

use super::attention::{AttentionCache, CausalSelfAttention, KvCache};
use super::mlp::{Mlp, MlpCache};

/// nanoGPT's `Block`: `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))` (pre-LN, no cross-
/// attention: chapter 7's decoder layer without its middle sublayer).
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Normalises the attention's input.
    pub ln_1: LayerNorm,
    /// Causal multi-head self-attention.
    pub attn: CausalSelfAttention,
    /// Normalises the MLP's input.
    pub ln_2: LayerNorm,
    /// The position-wise MLP.
    pub mlp: Mlp,
}

/// What [`Block::backward`] needs from the training forward.
#[derive(Debug, Clone)]
pub struct BlockCache {
    x: Array3<f32>,
    attn: AttentionCache,
    mid: Array3<f32>,
    mlp: MlpCache,
}

impl Block {
    /// Read from `p` or drawn as nanoGPT does.
    pub fn from_params(p: &Params, n_embd: usize, n_head: usize, n_layer: usize) -> Result<Self> {
        Ok(Block {
            ln_1: LayerNorm::from_params(&p.sub("ln_1"), n_embd)?,
            attn: CausalSelfAttention::from_params(&p.sub("attn"), n_embd, n_head, n_layer)?,
            ln_2: LayerNorm::from_params(&p.sub("ln_2"), n_embd)?,
            mlp: Mlp::from_params(&p.sub("mlp"), n_embd, n_layer)?,
        })
    }

    // ANCHOR: block_forward
    /// `(batch, seq, C) → (batch, seq, C)`, and the attention weights `(batch, heads, seq,
    /// seq)`, which the attention computes anyway (the figures show them).
    pub fn forward_with_weights(&self, x: &ArrayRef3<f32>) -> Result<(Array3<f32>, Array4<f32>)> {
        let (attended, weights) = self.attn.forward(&self.ln_1.forward(x)?)?; // (batch, seq, C)
        let x = attended + x; // residual
        let x = &x + &self.mlp.forward(&self.ln_2.forward(&x)?)?; // residual
        Ok((x, weights))
    }
    // ANCHOR_END: block_forward

    /// `(batch, seq, C) → (batch, seq, C)`: [`Block::forward_with_weights`] without the weights.
    pub fn forward(&self, x: &ArrayRef3<f32>) -> Result<Array3<f32>> {
        Ok(self.forward_with_weights(x)?.0)
    }

    /// [`Block::forward`] on the new positions only, with the layer's KV cache.
    pub fn forward_cached(&self, x: &ArrayRef3<f32>, cache: &mut KvCache) -> Result<Array3<f32>> {
        let x = self.attn.forward_cached(&self.ln_1.forward(x)?, cache)? + x;
        Ok(&x + &self.mlp.forward(&self.ln_2.forward(&x)?)?)
    }

    /// [`Block::forward`], keeping what the backward needs.
    pub fn forward_train(&self, x: &ArrayRef3<f32>) -> Result<(Array3<f32>, BlockCache)> {
        let (attended, attn) = self.attn.forward_train(&self.ln_1.forward(x)?)?;
        let mid = attended + x; // (batch, seq, C)
        let (mlp_out, mlp) = self.mlp.forward_train(&self.ln_2.forward(&mid)?)?;
        let y = &mid + &mlp_out;
        let x = x.to_owned();
        Ok((y, BlockCache { x, attn, mid, mlp }))
    }

    /// Backward. A residual `y = x + f(x)` passes `dy` straight through and adds f's
    /// gradient: ∂L/∂x = dy + f'(x)ᵀ·dy.
    pub fn backward(
        &self,
        cache: &BlockCache,
        dy: &ArrayRef3<f32>,
        grads: &mut Gradients,
        prefix: &str,
    ) -> Result<Array3<f32>> {
        let d_ln2 = self
            .mlp
            .backward(&cache.mlp, dy, grads, &join(prefix, "mlp"))?;
        let d_mid = (self.ln_2).backward(&cache.mid, &d_ln2, grads, &join(prefix, "ln_2"))? + dy;
        let d_ln1 = self
            .attn
            .backward(&cache.attn, &d_mid, grads, &join(prefix, "attn"))?;
        let dx = &d_mid + &(self.ln_1).backward(&cache.x, &d_ln1, grads, &join(prefix, "ln_1"))?;
        Ok(dx)
    }
}

impl Module for Block {
    fn parameters_into(&self, prefix: &str, out: &mut NamedTensors) {
        self.ln_1.parameters_into(&join(prefix, "ln_1"), out);
        self.attn.parameters_into(&join(prefix, "attn"), out);
        self.ln_2.parameters_into(&join(prefix, "ln_2"), out);
        self.mlp.parameters_into(&join(prefix, "mlp"), out);
    }

    fn visit_parameters_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ArrayViewMutD<f32>)) {
        self.ln_1.visit_parameters_mut(&join(prefix, "ln_1"), f);
        self.attn.visit_parameters_mut(&join(prefix, "attn"), f);
        self.ln_2.visit_parameters_mut(&join(prefix, "ln_2"), f);
        self.mlp.visit_parameters_mut(&join(prefix, "mlp"), f);
    }
}
