//! The encoder: a stack of (self-attention → feed-forward) layers.

use ndarray::{Array3, ArrayRef3, ArrayViewMutD};

use super::stack::Stack;
use super::{NormPosition, TransformerConfig};
use crate::error::Result;
use crate::masked::Mask;
use crate::multi_head::MultiHeadAttention;
use crate::nn::{FeedForward, LayerNorm};
use crate::params::{Module, Params};
use crate::weights::{NamedTensors, join};

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
}

impl EncoderLayer {
    /// `self_attn.*`, `linear1.*`, `linear2.*`, `norm1.*`, `norm2.*` read from `p` (e.g. the
    /// scope `encoder.layers.0`) or drawn with PyTorch's default init. A checkpoint saved
    /// with another `num_heads` or norm position is refused.
    pub fn from_params(p: &Params, config: &TransformerConfig) -> Result<Self> {
        config.validate()?;
        p.setting("norm_first", config.norm_position == NormPosition::Pre)?;
        let d = config.d_model;
        Ok(EncoderLayer {
            self_attn: MultiHeadAttention::from_params(&p.sub("self_attn"), d, config.num_heads)?,
            feed_forward: FeedForward::from_params(p, d, config.d_ff)?,
            norm1: LayerNorm::from_params(&p.sub("norm1"), d)?,
            norm2: LayerNorm::from_params(&p.sub("norm2"), d)?,
            norm_position: config.norm_position,
        })
    }
}

impl Module for EncoderLayer {
    /// PyTorch's names below `prefix`, and the setting `norm_first`.
    fn parameters_into(&self, prefix: &str, out: &mut NamedTensors) {
        self.self_attn
            .parameters_into(&join(prefix, "self_attn"), out);
        self.feed_forward.parameters_into(prefix, out);
        self.norm1.parameters_into(&join(prefix, "norm1"), out);
        self.norm2.parameters_into(&join(prefix, "norm2"), out);
        let norm_first = self.norm_position == NormPosition::Pre;
        out.set_setting(join(prefix, "norm_first"), norm_first);
    }

    fn visit_parameters_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ArrayViewMutD<f32>)) {
        self.self_attn
            .visit_parameters_mut(&join(prefix, "self_attn"), f);
        self.feed_forward.visit_parameters_mut(prefix, f);
        self.norm1.visit_parameters_mut(&join(prefix, "norm1"), f);
        self.norm2.visit_parameters_mut(&join(prefix, "norm2"), f);
    }
}

/// A stack of encoder layers and a final LayerNorm, PyTorch's `nn.TransformerEncoder`
/// (names `layers.{i}.*`, `norm.*`).
pub type Encoder = Stack<EncoderLayer>;

impl Encoder {
    /// `(batch, src_len, d_model) → (batch, src_len, d_model)`, the "memory" the decoder reads.
    pub fn forward(&self, x: &ArrayRef3<f32>, mask: Option<&Mask>) -> Result<Array3<f32>> {
        let mut x = x.to_owned();
        for layer in &self.layers {
            x = layer.forward(&x, mask)?; // (batch, src_len, d_model)
        }
        self.final_norm(x)
    }
}
