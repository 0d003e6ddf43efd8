//! The decoder: a stack of (masked self-attention → cross-attention → feed-forward) layers.

use ndarray::{Array3, ArrayRef3, ArrayViewMutD};

use super::stack::Stack;
use super::{NormPosition, TransformerConfig};
use crate::error::{Dim, Result, check_shape};
use crate::masked::Mask;
use crate::multi_head::MultiHeadAttention;
use crate::nn::{FeedForward, LayerNorm};
use crate::params::{Module, Params};
use crate::weights::{NamedTensors, join};

/// One decoder layer, PyTorch's `nn.TransformerDecoderLayer` (ReLU, eval mode).
///
/// Parameter names: `self_attn.*`, `multihead_attn.*` (the cross-attention), `linear1.*`,
/// `linear2.*`, `norm1.*`, `norm2.*`, `norm3.*`.
#[derive(Debug, Clone, PartialEq)]
pub struct DecoderLayer {
    /// Masked multi-head self-attention over the target so far.
    pub self_attn: MultiHeadAttention,
    /// Cross-attention: queries from the decoder, keys/values from the encoder output.
    pub cross_attn: MultiHeadAttention,
    /// Position-wise feed-forward network.
    pub feed_forward: FeedForward,
    /// LayerNorm around self-attention.
    pub norm1: LayerNorm,
    /// LayerNorm around cross-attention.
    pub norm2: LayerNorm,
    /// LayerNorm around the feed-forward network.
    pub norm3: LayerNorm,
    /// Post-LN (default) or pre-LN.
    pub norm_position: NormPosition,
}

impl DecoderLayer {
    // ANCHOR: decoder_layer
    /// `x (batch, tgt_len, d_model)` attending to `memory (batch, src_len, d_model)`.
    ///
    /// `self_mask` broadcasts to `(batch, tgt_len, tgt_len)` (causal, maybe with target
    /// padding); `memory_mask` to `(batch, tgt_len, src_len)` (source padding).
    pub fn forward(
        &self,
        x: &ArrayRef3<f32>,
        memory: &ArrayRef3<f32>,
        self_mask: Option<&Mask>,
        memory_mask: Option<&Mask>,
    ) -> Result<Array3<f32>> {
        check_memory(x, memory)?;
        let self_attend =
            |h: &ArrayRef3<f32>| Ok(self.self_attn.forward(h, h, h, self_mask)?.output);
        let cross_attend = |h: &ArrayRef3<f32>| {
            Ok(self
                .cross_attn
                .forward(h, memory, memory, memory_mask)?
                .output)
        };
        match self.norm_position {
            NormPosition::Post => {
                let x = self.norm1.forward(&(self_attend(x)? + x))?; // LN(x + SelfAttn(x))
                let x = self.norm2.forward(&(cross_attend(&x)? + &x))?; // LN(x + Cross(x, mem))
                self.norm3.forward(&(self.feed_forward.forward(&x)? + &x)) // LN(x + FFN(x))
            }
            NormPosition::Pre => {
                let x = self_attend(&self.norm1.forward(x)?)? + x; // x + SelfAttn(LN(x))
                let x = cross_attend(&self.norm2.forward(&x)?)? + &x; // x + Cross(LN(x), mem)
                Ok(self.feed_forward.forward(&self.norm3.forward(&x)?)? + &x) // x + FFN(LN(x))
            }
        }
    }
    // ANCHOR_END: decoder_layer
}

impl DecoderLayer {
    /// `self_attn.*`, `multihead_attn.*` (the cross-attention), `linear1.*`, `linear2.*`,
    /// `norm1.*` … `norm3.*` read from `p` (e.g. `decoder.layers.1`) or drawn with PyTorch's
    /// default init. A checkpoint saved with another `num_heads` or norm position is refused.
    pub fn from_params(p: &Params, config: &TransformerConfig) -> Result<Self> {
        config.validate()?;
        p.setting("norm_first", config.norm_position == NormPosition::Pre)?;
        let (d, heads) = (config.d_model, config.num_heads);
        Ok(DecoderLayer {
            self_attn: MultiHeadAttention::from_params(&p.sub("self_attn"), d, heads)?,
            cross_attn: MultiHeadAttention::from_params(&p.sub("multihead_attn"), d, heads)?,
            feed_forward: FeedForward::from_params(p, d, config.d_ff)?,
            norm1: LayerNorm::from_params(&p.sub("norm1"), d)?,
            norm2: LayerNorm::from_params(&p.sub("norm2"), d)?,
            norm3: LayerNorm::from_params(&p.sub("norm3"), d)?,
            norm_position: config.norm_position,
        })
    }
}

impl Module for DecoderLayer {
    /// PyTorch's names below `prefix`, and the setting `norm_first`.
    fn parameters_into(&self, prefix: &str, out: &mut NamedTensors) {
        self.self_attn
            .parameters_into(&join(prefix, "self_attn"), out);
        self.cross_attn
            .parameters_into(&join(prefix, "multihead_attn"), out);
        self.feed_forward.parameters_into(prefix, out);
        self.norm1.parameters_into(&join(prefix, "norm1"), out);
        self.norm2.parameters_into(&join(prefix, "norm2"), out);
        self.norm3.parameters_into(&join(prefix, "norm3"), out);
        let norm_first = self.norm_position == NormPosition::Pre;
        out.set_setting(join(prefix, "norm_first"), norm_first);
    }

    fn visit_parameters_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ArrayViewMutD<f32>)) {
        self.self_attn
            .visit_parameters_mut(&join(prefix, "self_attn"), f);
        self.cross_attn
            .visit_parameters_mut(&join(prefix, "multihead_attn"), f);
        self.feed_forward.visit_parameters_mut(prefix, f);
        self.norm1.visit_parameters_mut(&join(prefix, "norm1"), f);
        self.norm2.visit_parameters_mut(&join(prefix, "norm2"), f);
        self.norm3.visit_parameters_mut(&join(prefix, "norm3"), f);
    }
}

/// Errors unless `memory` is `(batch, src_len, d_model)` with `x`'s batch and d_model.
fn check_memory(x: &ArrayRef3<f32>, memory: &ArrayRef3<f32>) -> Result<()> {
    let (batch, _, d_model) = x.dim();
    let want = [Dim::Is(batch), Dim::Any("src_len"), Dim::Is(d_model)];
    let note = format!("batch = {batch} and d_model = {d_model} from `x`");
    check_shape("memory", memory.shape(), &want, &note)
}

/// A stack of decoder layers and a final LayerNorm, PyTorch's `nn.TransformerDecoder`
/// (names `layers.{i}.*`, `norm.*`).
pub type Decoder = Stack<DecoderLayer>;

impl Decoder {
    /// `(batch, tgt_len, d_model)` reading `memory (batch, src_len, d_model)` →
    /// `(batch, tgt_len, d_model)`.
    pub fn forward(
        &self,
        x: &ArrayRef3<f32>,
        memory: &ArrayRef3<f32>,
        self_mask: Option<&Mask>,
        memory_mask: Option<&Mask>,
    ) -> Result<Array3<f32>> {
        let mut x = x.to_owned();
        for layer in &self.layers {
            x = layer.forward(&x, memory, self_mask, memory_mask)?; // (batch, tgt_len, d_model)
        }
        self.final_norm(x)
    }
}
