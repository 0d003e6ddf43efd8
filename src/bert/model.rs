//! BERT's encoder, built from the crate's own layers and loaded by the checkpoint's names.
//!
//! BERT is chapter 7's encoder with four changes, each a setting of a layer we already have:
//! GELU in the feed-forward network ([`Activation::Gelu`]), LayerNorm with eps 1e-12, learned
//! positions instead of sines, and a third embedding table, token types ("sentence A or B"),
//! followed by a LayerNorm of the embeddings. Every layer is post-LN, as in the paper.
//!
//! Hugging Face names the same parameters differently from `nn.TransformerEncoderLayer`:
//!
//! | this crate's layer | BERT checkpoint name (under `encoder.layer.{i}.`) |
//! |---|---|
//! | `self_attn.w_q` / `w_k` / `w_v` | `attention.self.query` / `key` / `value` |
//! | `self_attn.out_proj` | `attention.output.dense` |
//! | `norm1` | `attention.output.LayerNorm` |
//! | `feed_forward.linear1` / `linear2` | `intermediate.dense` / `output.dense` |
//! | `norm2` | `output.LayerNorm` |

use std::path::Path;

use ndarray::{Array2, Array3, Array4, ArrayRef2, Axis};
use serde::Deserialize;

use super::files::ModelFiles;
use crate::embedding::Embedding;
use crate::error::{Error, Result};
use crate::masked::Mask;
use crate::multi_head::MultiHeadAttention;
use crate::nn::{Activation, FeedForward, LayerNorm, Linear};
use crate::params::Params;
use crate::transformer::{EncoderLayer, NormPosition};
use crate::weights::NamedTensors;

/// The sizes of a BERT model, as its `config.json` gives them (Hugging Face's names).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BertConfig {
    /// Number of WordPiece tokens (30,522 for BERT uncased).
    pub vocab_size: usize,
    /// d_model (384 for all-MiniLM-L6-v2).
    pub hidden_size: usize,
    /// Number of encoder layers (6).
    pub num_hidden_layers: usize,
    /// Heads per layer (12, so d_k = 32).
    pub num_attention_heads: usize,
    /// d_ff (1536 = 4 · 384).
    pub intermediate_size: usize,
    /// Longest input the position table covers (512).
    pub max_position_embeddings: usize,
    /// Number of token types (2: sentence A and B).
    pub type_vocab_size: usize,
    /// LayerNorm's eps (1e-12).
    pub layer_norm_eps: f32,
    /// The feed-forward activation; only `"gelu"` (the erf form) is supported.
    pub hidden_act: String,
}

impl BertConfig {
    /// all-MiniLM-L6-v2's sizes (what its `config.json` says).
    pub fn minilm_l6() -> Self {
        BertConfig {
            vocab_size: 30522,
            hidden_size: 384,
            num_hidden_layers: 6,
            num_attention_heads: 12,
            intermediate_size: 1536,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            hidden_act: "gelu".into(),
        }
    }

    /// Reads a Hugging Face `config.json` (unknown keys are ignored).
    pub fn from_json_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let parse_error = |reason: String| Error::Parse {
            what: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| parse_error(e.to_string()))?;
        let config: BertConfig =
            serde_json::from_str(&text).map_err(|e| parse_error(e.to_string()))?;
        config.activation()?;
        Ok(config)
    }

    /// The feed-forward activation named by `hidden_act`.
    pub fn activation(&self) -> Result<Activation> {
        match self.hidden_act.as_str() {
            "gelu" => Ok(Activation::Gelu),
            "relu" => Ok(Activation::Relu),
            other => Err(Error::value("hidden_act", "\"gelu\" or \"relu\"", other)),
        }
    }
}

/// Word + position + token-type embeddings, then a LayerNorm (BERT's `embeddings.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct BertEmbeddings {
    /// One vector per WordPiece token `(vocab_size, d_model)`.
    pub word_embeddings: Embedding,
    /// One learned vector per position `(max_position_embeddings, d_model)`.
    pub position_embeddings: Embedding,
    /// One vector per token type `(type_vocab_size, d_model)`; a single sentence is type 0.
    pub token_type_embeddings: Embedding,
    /// Normalises the sum.
    pub layer_norm: LayerNorm,
}

impl BertEmbeddings {
    // ANCHOR: bert_embeddings
    /// `ids (batch, seq) → (batch, seq, d_model)`: the three embeddings added, then LayerNorm.
    /// Every token is of type 0 (one sentence per input, as sentence-transformers encodes).
    pub fn forward(&self, ids: &ArrayRef2<usize>) -> Result<Array3<f32>> {
        let (batch, seq) = ids.dim();
        let words = self.word_embeddings.forward_batch(ids)?; // (batch, seq, d_model)
        let positions = Array2::from_shape_fn((batch, seq), |(_, t)| t); // 0, 1, …, seq−1
        let positions = self.position_embeddings.forward_batch(&positions)?; // (batch, seq, d)
        let types = self
            .token_type_embeddings
            .forward_batch(&Array2::zeros((batch, seq)))?;
        self.layer_norm.forward(&(words + positions + types)) // (batch, seq, d_model)
    }
    // ANCHOR_END: bert_embeddings
}

/// What [`Bert::forward`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct BertOutput {
    /// The embeddings' output, then every layer's: `num_hidden_layers + 1` arrays of
    /// `(batch, seq, d_model)` (Hugging Face's `hidden_states`).
    pub hidden_states: Vec<Array3<f32>>,
}

impl BertOutput {
    /// The last layer's output `(batch, seq, d_model)`: one context-aware vector per token.
    pub fn last_hidden_state(&self) -> &Array3<f32> {
        self.hidden_states.last().expect("at least the embeddings")
    }
}

/// A BERT encoder: embeddings, then a stack of post-LN encoder layers (the crate's own
/// [`EncoderLayer`], with GELU and BERT's eps).
#[derive(Debug, Clone, PartialEq)]
pub struct Bert {
    /// The sizes.
    pub config: BertConfig,
    /// Token, position and type embeddings with their LayerNorm.
    pub embeddings: BertEmbeddings,
    /// The encoder layers.
    pub layers: Vec<EncoderLayer>,
}

impl Bert {
    /// Loads the model in `files`: its `config.json`, then every tensor of its
    /// `model.safetensors` by name (a missing or mis-shaped tensor is an error naming it).
    pub fn load(files: &ModelFiles) -> Result<Self> {
        let config = BertConfig::from_json_file(&files.config)?;
        // `embeddings.position_ids` is a constant buffer (0, 1, …, 511) stored as I64, not a
        // parameter: skipped.
        let tensors = NamedTensors::from_safetensors_file_except(
            &files.safetensors,
            &["embeddings.position_ids"],
        )?;
        Self::from_params(&Params::load(&tensors), config)
    }

    // ANCHOR: bert_from_params
    /// Reads (or draws) every parameter under BERT's names.
    pub fn from_params(p: &Params, config: BertConfig) -> Result<Self> {
        let (d, eps) = (config.hidden_size, config.layer_norm_eps);
        let e = p.sub("embeddings");
        let embeddings = BertEmbeddings {
            word_embeddings: Embedding::from_params(
                &e.sub("word_embeddings"),
                config.vocab_size,
                d,
            )?,
            position_embeddings: Embedding::from_params(
                &e.sub("position_embeddings"),
                config.max_position_embeddings,
                d,
            )?,
            token_type_embeddings: Embedding::from_params(
                &e.sub("token_type_embeddings"),
                config.type_vocab_size,
                d,
            )?,
            layer_norm: LayerNorm::from_params(&e.sub("LayerNorm"), d)?.with_eps(eps),
        };
        let layers = (0..config.num_hidden_layers)
            .map(|i| bert_layer(&p.sub(&format!("encoder.layer.{i}")), &config))
            .collect::<Result<Vec<_>>>()?;
        Ok(Bert {
            config,
            embeddings,
            layers,
        })
    }
    // ANCHOR_END: bert_from_params

    // ANCHOR: bert_forward
    /// `ids (batch, seq)` padded with any id after each sequence's `lengths[b]` real tokens →
    /// every layer's hidden states. Padding is masked out of every attention (no token attends
    /// to a pad), so a sentence's vectors do not depend on what it is batched with.
    pub fn forward(&self, ids: &ArrayRef2<usize>, lengths: &[usize]) -> Result<BertOutput> {
        let mask = self.padding_mask(ids, lengths)?; // (batch, 1, seq)
        let mut hidden_states = vec![self.embeddings.forward(ids)?]; // (batch, seq, d_model)
        for layer in &self.layers {
            let x = layer.forward(hidden_states.last().expect("embeddings"), Some(&mask))?;
            hidden_states.push(x); // (batch, seq, d_model)
        }
        Ok(BertOutput { hidden_states })
    }
    // ANCHOR_END: bert_forward

    /// The attention weights of every head of layer `layer`, `(batch, heads, seq, seq)`: what
    /// the chapter's heatmaps show.
    pub fn attention_weights(
        &self,
        ids: &ArrayRef2<usize>,
        lengths: &[usize],
        layer: usize,
    ) -> Result<Array4<f32>> {
        if layer >= self.layers.len() {
            let want = format!("a layer index < {}", self.layers.len());
            return Err(Error::value("layer", want, layer));
        }
        Ok(self.all_attention_weights(ids, lengths)?.swap_remove(layer))
    }

    /// The attention weights of every layer, one `(batch, heads, seq, seq)` each, from one
    /// pass through the model.
    pub fn all_attention_weights(
        &self,
        ids: &ArrayRef2<usize>,
        lengths: &[usize],
    ) -> Result<Vec<Array4<f32>>> {
        let mask = self.padding_mask(ids, lengths)?;
        let mut x = self.embeddings.forward(ids)?; // (batch, seq, d_model)
        let mut weights = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            weights.push(layer.self_attn.forward(&x, &x, &x, Some(&mask))?.weights);
            x = layer.forward(&x, Some(&mask))?;
        }
        Ok(weights)
    }

    /// Checks `ids` and `lengths` and builds the padding mask `(batch, 1, seq)`.
    fn padding_mask(&self, ids: &ArrayRef2<usize>, lengths: &[usize]) -> Result<Mask> {
        let (batch, seq) = ids.dim();
        if lengths.len() != batch {
            let want = format!("one length per sequence of `ids`, {batch}");
            return Err(Error::value("lengths", want, lengths.len()));
        }
        if seq > self.config.max_position_embeddings {
            let want = format!("at most {} tokens", self.config.max_position_embeddings);
            return Err(Error::shape("ids", want, ids.shape()));
        }
        if let Some(&bad) = lengths.iter().find(|&&l| l == 0) {
            return Err(Error::value("lengths", "every length ≥ 1", bad));
        }
        if let Some(&bad) = ids.iter().find(|&&id| id >= self.config.vocab_size) {
            let want = format!("token ids < vocab_size = {}", self.config.vocab_size);
            return Err(Error::value("ids", want, bad));
        }
        Mask::padding(lengths, seq)
    }
}

/// One BERT layer as the crate's [`EncoderLayer`]: post-LN, GELU, BERT's eps and names.
fn bert_layer(p: &Params, config: &BertConfig) -> Result<EncoderLayer> {
    let (d, d_ff, eps) = (
        config.hidden_size,
        config.intermediate_size,
        config.layer_norm_eps,
    );
    let linear = |name: &str, d_in: usize, d_out: usize| {
        Linear::from_params(&p.sub(name), d_in, d_out, true)
    };
    let self_attn = MultiHeadAttention::new(
        config.num_attention_heads,
        linear("attention.self.query", d, d)?,
        linear("attention.self.key", d, d)?,
        linear("attention.self.value", d, d)?,
        linear("attention.output.dense", d, d)?,
    )?;
    let feed_forward = FeedForward {
        linear1: linear("intermediate.dense", d, d_ff)?,
        linear2: linear("output.dense", d_ff, d)?,
        activation: config.activation()?,
    };
    Ok(EncoderLayer {
        self_attn,
        feed_forward,
        norm1: LayerNorm::from_params(&p.sub("attention.output.LayerNorm"), d)?.with_eps(eps),
        norm2: LayerNorm::from_params(&p.sub("output.LayerNorm"), d)?.with_eps(eps),
        norm_position: NormPosition::Post,
    })
}

/// Token vectors `(batch, seq, d)` → one vector per sequence `(batch, d)`: the mean over its
/// `lengths[b]` real tokens (pads left out), as sentence-transformers' mean pooling does.
// ANCHOR: mean_pool
pub fn mean_pool(hidden: &Array3<f32>, lengths: &[usize]) -> Result<Array2<f32>> {
    let (batch, seq, d) = hidden.dim();
    if lengths.len() != batch {
        return Err(Error::value(
            "lengths",
            format!("{batch} lengths, one per sequence"),
            lengths.len(),
        ));
    }
    if let Some(&bad) = lengths.iter().find(|&&l| l == 0 || l > seq) {
        return Err(Error::value(
            "lengths",
            format!("every length in 1..={seq}"),
            bad,
        ));
    }
    let mut pooled = Array2::zeros((batch, d));
    for (b, mut row) in pooled.axis_iter_mut(Axis(0)).enumerate() {
        let real = hidden.slice(ndarray::s![b, ..lengths[b], ..]); // (lengths[b], d)
        row.assign(&real.mean_axis(Axis(0)).expect("length ≥ 1")); // (d)
    }
    Ok(pooled)
}
// ANCHOR_END: mean_pool

/// Scales every row to length 1 (rows of zeros stay zero): after this, a dot product of two
/// rows is their cosine similarity.
// ANCHOR: l2_normalize
pub fn l2_normalize(x: &Array2<f32>) -> Array2<f32> {
    let mut out = x.clone();
    for mut row in out.axis_iter_mut(Axis(0)) {
        let norm = row.dot(&row).sqrt().max(1e-12); // sentence-transformers' eps
        row /= norm;
    }
    out
}
// ANCHOR_END: l2_normalize
