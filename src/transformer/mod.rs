//! Chapter 7 — the Transformer: encoder and decoder stacks, end to end.
//!
//! - [`EncoderLayer`]: self-attention, then the feed-forward network, each wrapped in a
//!   residual connection and a LayerNorm.
//! - [`DecoderLayer`]: *masked* self-attention, cross-attention on the encoder output, then the
//!   feed-forward network, each with residual + LayerNorm.
//! - [`Transformer`]: PyTorch's `nn.Transformer`: both stacks, each ending in a final LayerNorm.
//! - [`Seq2SeqTransformer`]: token embeddings (× √d_model) + sinusoidal positions, the
//!   [`Transformer`], and a `generator` projecting to the target vocabulary;
//!   [`greedy_decode`] turns it into a translator.
//!
//! **Post-LN vs pre-LN.** The paper (and PyTorch's default, `norm_first=False`) normalises
//! *after* each residual addition: x = LN(x + sublayer(x)). This crate defaults to the same
//! ([`NormPosition::Post`]) so its numbers match the paper and `nn.Transformer`. Pre-LN
//! ([`NormPosition::Pre`], PyTorch's `norm_first=True`, used by GPT-2 and most modern models):
//! x = x + sublayer(LN(x)), which trains more stably in deep stacks.
//!
//! ```
//! use attention::prelude::*;
//!
//! let config = Seq2SeqConfig {
//!     transformer: TransformerConfig {
//!         d_model: 8, num_heads: 2, d_ff: 16,
//!         num_encoder_layers: 2, num_decoder_layers: 2,
//!         norm_position: NormPosition::Post,
//!     },
//!     src_vocab_size: 12, tgt_vocab_size: 10, max_len: 32, pad_id: PAD_ID,
//! };
//! let model = Seq2SeqTransformer::from_params(&Params::seeded(0), config)?;
//! let logits = model.forward(&array![[BOS_ID, 5, 6, EOS_ID]], &array![[BOS_ID, 4]])?;
//! assert_eq!(logits.shape(), &[1, 2, 10]);           // (batch, tgt_len, tgt_vocab_size)
//! let tokens = greedy_decode(&model, &[BOS_ID, 5, 6, EOS_ID], BOS_ID, EOS_ID, 5)?;
//! assert_eq!(tokens[0], BOS_ID);                     // untrained: the rest is noise
//! # Ok::<(), attention::Error>(())
//! ```

mod decode;
mod decoder;
mod encoder;
mod model;
mod stack;

pub use decode::greedy_decode;
pub use decoder::DecoderLayerCache;
pub use decoder::{Decoder, DecoderLayer};
pub use encoder::EncoderLayerCache;
pub use encoder::{Encoder, EncoderLayer};
pub use model::{Seq2SeqCache, Seq2SeqConfig, Seq2SeqTransformer, Transformer, TransformerCache};
pub use stack::Stack;
pub use stack::StackCache;

use crate::error::{Error, Result};

/// Where each LayerNorm sits relative to its residual connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NormPosition {
    /// x = LN(x + sublayer(x)): the paper and PyTorch's default (`norm_first=False`).
    #[default]
    Post,
    /// x = x + sublayer(LN(x)): PyTorch's `norm_first=True`, GPT-2 and later models.
    Pre,
}

/// Sizes shared by every layer of a Transformer (PyTorch's `nn.Transformer` arguments).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransformerConfig {
    /// Width of every token vector (`d_model`).
    pub d_model: usize,
    /// Attention heads per layer (`nhead`); divides d_model.
    pub num_heads: usize,
    /// Hidden size of the feed-forward network (`dim_feedforward`).
    pub d_ff: usize,
    /// Encoder layers (`num_encoder_layers`).
    pub num_encoder_layers: usize,
    /// Decoder layers (`num_decoder_layers`).
    pub num_decoder_layers: usize,
    /// Post-LN (default) or pre-LN (`norm_first`).
    pub norm_position: NormPosition,
}

impl TransformerConfig {
    /// The base model of the paper: d_model 512, 8 heads, d_ff 2048, 6 + 6 layers, post-LN.
    pub fn paper_base() -> Self {
        TransformerConfig {
            d_model: 512,
            num_heads: 8,
            d_ff: 2048,
            num_encoder_layers: 6,
            num_decoder_layers: 6,
            norm_position: NormPosition::Post,
        }
    }

    /// Errors unless every size is ≥ 1 and `num_heads` divides `d_model`.
    pub fn validate(&self) -> Result<()> {
        let sizes = [
            ("d_model", self.d_model),
            ("num_heads", self.num_heads),
            ("d_ff", self.d_ff),
        ];
        if let Some((name, v)) = sizes.iter().find(|(_, v)| *v == 0) {
            return Err(Error::value(*name, "at least 1", v));
        }
        if !self.d_model.is_multiple_of(self.num_heads) {
            let want = format!("a divisor of d_model = {}", self.d_model);
            return Err(Error::value("num_heads", want, self.num_heads));
        }
        Ok(())
    }
}
