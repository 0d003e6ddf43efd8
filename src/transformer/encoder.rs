//! The encoder: a stack of (self-attention → feed-forward) layers.

use ndarray::{Array3, ArrayRef3};

use super::{NormPosition, TransformerConfig};
use crate::error::Result;
use crate::masked::Mask;
use crate::multi_head::MultiHeadAttention;
use crate::nn::init::SeededRng;
use crate::nn::{FeedForward, LayerNorm};
use crate::weights::{NamedTensors, Scope, join};

/// One encoder layer, PyTorch's `nn.TransformerEncoderLayer` (ReLU, eval mode).
///
/// Parameter names: `self_attn.*`, `linear1.*`, `linear2.*`, `norm1.*`, `norm2.*`.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderLayer {
    /// Multi-head self-attention.
    pub self_attn: MultiHeadAttention,
    /// Position-wise feed-forward network (`linear1`, `linear2`).
    pub feed_forward: FeedForward,
    /// LayerNorm around the attention sublayer.
    pub norm1: LayerNorm,
    /// LayerNorm around the feed-forward sublayer.
    pub norm2: LayerNorm,
    /// Post-LN (default) or pre-LN.
    pub norm_position: NormPosition,
}

impl EncoderLayer {
    // ANCHOR: encoder_layer
    /// `x (batch, seq, d_model) → (batch, seq, d_model)`; `mask` broadcasts to
    /// `(batch, seq, seq)` (usually source padding).
    pub fn forward(&self, x: &ArrayRef3<f32>, mask: Option<&Mask>) -> Result<Array3<f32>> {
        let attend = |h: &ArrayRef3<f32>| Ok(self.self_attn.forward(h, h, h, mask)?.output);
        match self.norm_position {
            NormPosition::Post => {
                let x = self.norm1.forward(&(attend(x)? + x))?; // LN(x + SelfAttn(x))
                self.norm2.forward(&(self.feed_forward.forward(&x)? + &x)) // LN(x + FFN(x))
            }
            NormPosition::Pre => {
                let x = attend(&self.norm1.forward(x)?)? + x; // x + SelfAttn(LN(x))
                Ok(self.feed_forward.forward(&self.norm2.forward(&x)?)? + &x) // x + FFN(LN(x))
            }
        }
    }
    // ANCHOR_END: encoder_layer

    /// A layer with PyTorch's default init.
    pub fn random(config: &TransformerConfig, rng: &mut SeededRng) -> Result<Self> {
        config.validate()?;
        Ok(EncoderLayer {
            self_attn: MultiHeadAttention::random(config.d_model, config.num_heads, rng)?,
            feed_forward: FeedForward::random(config.d_model, config.d_ff, rng),
            norm1: LayerNorm::new(config.d_model),
            norm2: LayerNorm::new(config.d_model),
            norm_position: config.norm_position,
        })
    }

    /// Loads from `scope` (e.g. `encoder.layers.0`).
    pub fn load(scope: &Scope, config: &TransformerConfig) -> Result<Self> {
        config.validate()?;
        let d = config.d_model;
        Ok(EncoderLayer {
            self_attn: MultiHeadAttention::load(&scope.sub("self_attn"), d, config.num_heads)?,
            feed_forward: FeedForward::load(scope, d, config.d_ff)?,
            norm1: LayerNorm::load(&scope.sub("norm1"), d)?,
            norm2: LayerNorm::load(&scope.sub("norm2"), d)?,
            norm_position: config.norm_position,
        })
    }

    /// Saves under PyTorch's names below `prefix`.
    pub fn save(&self, prefix: &str, out: &mut NamedTensors) {
        self.self_attn.save(&join(prefix, "self_attn"), out);
        self.feed_forward.save(prefix, out);
        self.norm1.save(&join(prefix, "norm1"), out);
        self.norm2.save(&join(prefix, "norm2"), out);
    }
}

/// A stack of encoder layers and an optional final LayerNorm, PyTorch's
/// `nn.TransformerEncoder` (names `layers.{i}.*`, `norm.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct Encoder {
    /// The layers, applied in order.
    pub layers: Vec<EncoderLayer>,
    /// Final LayerNorm (`nn.Transformer` always has one).
    pub norm: Option<LayerNorm>,
}

impl Encoder {
    /// `(batch, src_len, d_model) → (batch, src_len, d_model)`, the "memory" the decoder reads.
    pub fn forward(&self, x: &ArrayRef3<f32>, mask: Option<&Mask>) -> Result<Array3<f32>> {
        let mut x = x.to_owned();
        for layer in &self.layers {
            x = layer.forward(&x, mask)?; // (batch, src_len, d_model)
        }
        match &self.norm {
            Some(norm) => norm.forward(&x),
            None => Ok(x),
        }
    }

    /// `config.num_encoder_layers` random layers and a final LayerNorm.
    pub fn random(config: &TransformerConfig, rng: &mut SeededRng) -> Result<Self> {
        let layers = (0..config.num_encoder_layers)
            .map(|_| EncoderLayer::random(config, rng))
            .collect::<Result<_>>()?;
        Ok(Encoder {
            layers,
            norm: Some(LayerNorm::new(config.d_model)),
        })
    }

    /// Loads `layers.{i}.*` and `norm.*` from `scope` (e.g. `encoder`).
    pub fn load(scope: &Scope, config: &TransformerConfig) -> Result<Self> {
        let layers = (0..config.num_encoder_layers)
            .map(|i| EncoderLayer::load(&scope.sub(&format!("layers.{i}")), config))
            .collect::<Result<_>>()?;
        Ok(Encoder {
            layers,
            norm: Some(LayerNorm::load(&scope.sub("norm"), config.d_model)?),
        })
    }

    /// Saves under PyTorch's names below `prefix`.
    pub fn save(&self, prefix: &str, out: &mut NamedTensors) {
        for (i, layer) in self.layers.iter().enumerate() {
            layer.save(&join(prefix, &format!("layers.{i}")), out);
        }
        if let Some(norm) = &self.norm {
            norm.save(&join(prefix, "norm"), out);
        }
    }
}
