//! The whole GPT: token and position embeddings, a stack of blocks, a final LayerNorm and
//! the language-model head, which shares its weights with the token embedding.

use ndarray::{Array2, Array3, Array4, ArrayRef2, ArrayRef3, ArrayViewMutD};

use crate::backend::matmul;
use crate::embedding::Embedding;
use crate::error::{Error, Result};
use crate::gradients::Gradients;
use crate::nn::LayerNorm;
use crate::params::{Init, Module, Params};
use crate::positional::LearnedPositionalEmbedding;
use crate::weights::{NamedTensors, join};

use super::attention::KvCache;
use super::block::{Block, BlockCache};

/// The shape of a GPT (nanoGPT's `GPTConfig`; biases always on, dropout 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GptConfig {
    /// Tokens in the vocabulary, V.
    pub vocab_size: usize,
    /// The longest context, T_max (rows of the position table).
    pub block_size: usize,
    /// Number of blocks.
    pub n_layer: usize,
    /// Heads per block; divides `n_embd`.
    pub n_head: usize,
    /// Width of the residual stream, C.
    pub n_embd: usize,
}

impl GptConfig {
    /// Errors unless every size is at least 1 and `n_head` divides `n_embd`.
    pub fn check(&self) -> Result<()> {
        for (name, value) in [
            ("vocab_size", self.vocab_size),
            ("block_size", self.block_size),
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
            ("n_embd", self.n_embd),
        ] {
            if value == 0 {
                return Err(Error::value(name, "at least 1", value));
            }
        }
        if !self.n_embd.is_multiple_of(self.n_head) {
            let want = format!("a divisor of n_embd = {}", self.n_embd);
            return Err(Error::value("n_head", want, self.n_head));
        }
        Ok(())
    }
}

/// A decoder-only Transformer with nanoGPT's (and GPT-2's) parameter names:
/// `transformer.wte.weight`, `transformer.wpe.weight`, `transformer.h.{i}.…`,
/// `transformer.ln_f.*`. The head `lm_head` is tied to `wte` (the same matrix), so it has no
/// parameter of its own; a nanoGPT `state_dict` (which lists it again as `lm_head.weight`)
/// loads as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Gpt {
    /// The shape.
    pub config: GptConfig,
    /// Token embeddings `(V, C)`, also the output head.
    pub wte: Embedding,
    /// Learned positions `(block_size, C)`.
    pub wpe: LearnedPositionalEmbedding,
    /// The blocks.
    pub h: Vec<Block>,
    /// The final LayerNorm.
    pub ln_f: LayerNorm,
}

/// What [`Gpt::backward`] needs from the training forward.
#[derive(Debug, Clone)]
pub struct GptCache {
    idx: Array2<usize>,
    blocks: Vec<BlockCache>,
    last: Array3<f32>,
    normed: Array3<f32>,
}

impl Gpt {
    /// Read from `p` by nanoGPT's names, or drawn as nanoGPT does (embeddings and weights
    /// Normal(0, 0.02²), residual projections 0.02/√(2·n_layer), biases 0, LayerNorm 1 and 0).
    pub fn from_params(p: &Params, config: GptConfig) -> Result<Self> {
        config.check()?;
        let GptConfig {
            vocab_size,
            block_size,
            n_layer,
            n_head,
            n_embd,
        } = config;
        let t = p.sub("transformer");
        let wte = Embedding::new(t.sub("wte").get(
            "weight",
            &[vocab_size, n_embd],
            Init::Normal(0.02),
        )?)?;
        let wpe = LearnedPositionalEmbedding::from_params(&t.sub("wpe"), block_size, n_embd)?;
        let h = (0..n_layer)
            .map(|i| Block::from_params(&t.sub("h").sub(&i.to_string()), n_embd, n_head, n_layer))
            .collect::<Result<Vec<_>>>()?;
        let ln_f = LayerNorm::from_params(&t.sub("ln_f"), n_embd)?;
        Ok(Gpt {
            config,
            wte,
            wpe,
            h,
            ln_f,
        })
    }

    // ANCHOR: gpt_forward
    /// Next-token logits for every position: `idx (batch, seq)` token ids, seq ≤ block_size
    /// → `(batch, seq, V)`. Row t scores the token that follows `idx[.., ..=t]`.
    pub fn forward(&self, idx: &ArrayRef2<usize>) -> Result<Array3<f32>> {
        let mut x = self.embed(idx, 0)?; // (batch, seq, C)
        for block in &self.h {
            x = block.forward(&x)?; // (batch, seq, C)
        }
        self.head(&self.ln_f.forward(&x)?) // (batch, seq, V)
    }
    // ANCHOR_END: gpt_forward

    /// Every block's attention weights for `idx (batch, seq)`, first block first: one
    /// `(batch, heads, seq, seq)` array per block (row t: how position t spread its
    /// attention over positions 0..=t).
    pub fn attention_weights(&self, idx: &ArrayRef2<usize>) -> Result<Vec<Array4<f32>>> {
        let mut x = self.embed(idx, 0)?; // (batch, seq, C)
        let mut maps = Vec::with_capacity(self.h.len());
        for block in &self.h {
            let (y, weights) = block.forward_with_weights(&x)?;
            maps.push(weights);
            x = y;
        }
        Ok(maps)
    }

    /// Token embeddings plus the positions `start..start + seq`: `(batch, seq, C)`.
    fn embed(&self, idx: &ArrayRef2<usize>, start: usize) -> Result<Array3<f32>> {
        let seq = idx.ncols();
        if start + seq > self.config.block_size {
            let want = format!(
                "at most block_size = {} positions in all",
                self.config.block_size
            );
            return Err(Error::value(
                "idx (its length, after what is cached)",
                want,
                start + seq,
            ));
        }
        let tokens = self.wte.forward_batch(idx)?; // (batch, seq, C)
        let positions = self.wpe.weight.slice(ndarray::s![start..start + seq, ..]); // (seq, C)
        Ok(tokens + positions)
    }

    /// The tied head: logits = x · wteᵀ, `(batch, seq, C) → (batch, seq, V)`.
    fn head(&self, x: &ArrayRef3<f32>) -> Result<Array3<f32>> {
        let (batch, seq, c) = x.dim();
        let rows = x.to_shape((batch * seq, c)).expect("contiguous"); // (batch·seq, C)
        let logits = matmul(&rows, &self.wte.weight.t()); // (batch·seq, V)
        Ok(logits
            .into_shape_with_order((batch, seq, self.config.vocab_size))
            .expect("batch·seq·V elements"))
    }

    /// [`Gpt::forward`], keeping what the backward needs.
    pub fn forward_train(&self, idx: &ArrayRef2<usize>) -> Result<(Array3<f32>, GptCache)> {
        let mut x = self.embed(idx, 0)?; // (batch, seq, C)
        let mut blocks = Vec::with_capacity(self.h.len());
        for block in &self.h {
            let (y, cache) = block.forward_train(&x)?;
            blocks.push(cache);
            x = y;
        }
        let normed = self.ln_f.forward(&x)?; // (batch, seq, C)
        let logits = self.head(&normed)?; // (batch, seq, V)
        let idx = idx.to_owned();
        Ok((
            logits,
            GptCache {
                idx,
                blocks,
                last: x,
                normed,
            },
        ))
    }

    // ANCHOR: gpt_backward
    /// Backward from `d_logits = ∂L/∂logits (batch, seq, V)`: returns every parameter's
    /// gradient by name. `wte` gets two contributions, one as the head (d_logitsᵀ·x) and one
    /// as the embedding (a scatter-add into the rows of the tokens used); tying the weights
    /// means adding them.
    pub fn backward(&self, cache: &GptCache, d_logits: &ArrayRef3<f32>) -> Result<Gradients> {
        let mut grads = Gradients::new();
        let (batch, seq, v) = d_logits.dim();
        let c = self.config.n_embd;
        let d_rows = d_logits.to_shape((batch * seq, v)).expect("contiguous"); // (batch·seq, V)
        let x_rows = cache.normed.to_shape((batch * seq, c)).expect("contiguous"); // (batch·seq, C)
        grads.add("transformer.wte.weight", matmul(&d_rows.t(), &x_rows)); // the head: (V, C)
        let d_normed = matmul(&d_rows, &self.wte.weight) // (batch·seq, C)
            .into_shape_with_order((batch, seq, c))
            .expect("batch·seq·C elements");
        let mut dx = self
            .ln_f
            .backward(&cache.last, &d_normed, &mut grads, "transformer.ln_f")?;
        for (i, (block, block_cache)) in self.h.iter().zip(&cache.blocks).enumerate().rev() {
            dx = block.backward(block_cache, &dx, &mut grads, &format!("transformer.h.{i}"))?;
        }
        // x = wte[idx] + wpe[..seq]: both get dx.
        let dx = self.wpe.backward(&dx, &mut grads, "transformer.wpe")?;
        self.wte
            .backward(&cache.idx, &dx, &mut grads, "transformer.wte")?;
        Ok(grads)
    }
    // ANCHOR_END: gpt_backward

    /// Logits for the new tokens `idx (batch, new)` only, given one [`KvCache`] per block
    /// holding the earlier positions (see [`Gpt::new_caches`]); the caches grow by `new`.
    /// Equal to the last `new` rows of [`Gpt::forward`] on the whole sequence.
    pub fn forward_cached(
        &self,
        idx: &ArrayRef2<usize>,
        caches: &mut [KvCache],
    ) -> Result<Array3<f32>> {
        if caches.len() != self.h.len() {
            let want = format!("one per block: {}", self.h.len());
            return Err(Error::value("caches", want, caches.len()));
        }
        let mut x = self.embed(idx, caches[0].len())?; // (batch, new, C)
        for (block, cache) in self.h.iter().zip(caches.iter_mut()) {
            x = block.forward_cached(&x, cache)?;
        }
        self.head(&self.ln_f.forward(&x)?) // (batch, new, V)
    }

    /// Empty KV caches, one per block, for `batch` sequences of up to block_size positions.
    pub fn new_caches(&self, batch: usize) -> Vec<KvCache> {
        let GptConfig {
            block_size,
            n_head,
            n_embd,
            ..
        } = self.config;
        (0..self.h.len())
            .map(|_| KvCache::new(batch, n_head, block_size, n_embd / n_head))
            .collect()
    }
}

impl Module for Gpt {
    /// nanoGPT's names (without the tied `lm_head.weight`).
    fn parameters_into(&self, prefix: &str, out: &mut NamedTensors) {
        let t = join(prefix, "transformer");
        self.wte.parameters_into(&join(&t, "wte"), out);
        self.wpe.parameters_into(&join(&t, "wpe"), out);
        for (i, block) in self.h.iter().enumerate() {
            block.parameters_into(&join(&t, &format!("h.{i}")), out);
        }
        self.ln_f.parameters_into(&join(&t, "ln_f"), out);
    }

    fn visit_parameters_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ArrayViewMutD<f32>)) {
        let t = join(prefix, "transformer");
        self.wte.visit_parameters_mut(&join(&t, "wte"), f);
        self.wpe.visit_parameters_mut(&join(&t, "wpe"), f);
        for (i, block) in self.h.iter_mut().enumerate() {
            block.visit_parameters_mut(&join(&t, &format!("h.{i}")), f);
        }
        self.ln_f.visit_parameters_mut(&join(&t, "ln_f"), f);
    }
}
