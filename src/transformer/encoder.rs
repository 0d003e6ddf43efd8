//! The encoder: a stack of (self-attention → feed-forward) layers.

use ndarray::{Array3, ArrayRef3, ArrayViewMutD, Ix3};

use super::stack::{Stack, StackCache};
use super::{NormPosition, TransformerConfig};
use crate::error::Result;
use crate::gradients::Gradients;
use crate::masked::Mask;
use crate::multi_head::{MultiHeadAttention, MultiHeadCache};
use crate::nn::dropout::apply_mask;
use crate::nn::feed_forward::FeedForwardCache;
use crate::nn::{FeedForward, LayerNorm, Train};
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
        let attend = |h: &ArrayRef3<f32>| self.self_attn.output(h, h, h, mask);
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
    /// Training forward: [`EncoderLayer::forward`] with dropout where PyTorch's
    /// `nn.TransformerEncoderLayer` has it (attention weights, feed-forward hidden layer, each
    /// sublayer's output before the residual addition); keeps what the backward needs.
    pub fn forward_train(
        &self,
        x: &ArrayRef3<f32>,
        mask: Option<&Mask>,
        train: &mut Train,
    ) -> Result<(Array3<f32>, EncoderLayerCache)> {
        let attend = |h: &ArrayRef3<f32>, train: &mut Train| {
            let (out, cache) = self.self_attn.forward_train(h, h, h, mask, train)?;
            let (out, dropped) = train.drop(out); // dropout1
            Ok::<_, crate::Error>((out, cache, dropped))
        };
        match self.norm_position {
            NormPosition::Post => {
                let (a, attn, drop1) = attend(x, train)?;
                let s1 = a + x; // x + SelfAttn(x)
                let h = self.norm1.forward(&s1)?;
                let (f, ff) = self.feed_forward.forward_train(&h, train)?;
                let (f, drop2) = train.drop(f); // dropout2
                let s2 = f + &h; // h + FFN(h)
                let y = self.norm2.forward(&s2)?;
                let cache = EncoderLayerCache::new([s1, s2], attn, ff, [drop1, drop2]);
                Ok((y, cache))
            }
            NormPosition::Pre => {
                let (a, attn, drop1) = attend(&self.norm1.forward(x)?, train)?;
                let h = a + x; // x + SelfAttn(LN(x))
                let (f, ff) = self
                    .feed_forward
                    .forward_train(&self.norm2.forward(&h)?, train)?;
                let (f, drop2) = train.drop(f);
                let y = f + &h; // h + FFN(LN(h))
                let cache = EncoderLayerCache::new([x.to_owned(), h], attn, ff, [drop1, drop2]);
                Ok((y, cache))
            }
        }
    }

    // ANCHOR: encoder_layer_backward
    /// Backward of [`EncoderLayer::forward_train`]: given `dy = ∂L/∂y (batch, seq, d_model)`,
    /// adds every parameter's gradient below `prefix` and returns ∂L/∂x.
    ///
    /// A residual connection y = x + f(x) passes the gradient along two roads, ∂L/∂x = dy +
    /// f'(x)ᵀ·dy: straight through, and through the sublayer. That straight road is why deep
    /// stacks of residual layers train at all.
    pub fn backward(
        &self,
        cache: &EncoderLayerCache,
        dy: &ArrayRef3<f32>,
        grads: &mut Gradients,
        prefix: &str,
    ) -> Result<Array3<f32>> {
        let [norm1_in, norm2_in] = &cache.norm_inputs;
        let [drop1, drop2] = [cache.dropped[0].as_ref(), cache.dropped[1].as_ref()];
        let (p_attn, p_norm1, p_norm2) = (
            join(prefix, "self_attn"),
            join(prefix, "norm1"),
            join(prefix, "norm2"),
        );
        let ff_backward = |d: Array3<f32>, grads: &mut Gradients| {
            let d = apply_mask(d, drop2);
            self.feed_forward.backward(&cache.ff, &d, grads, prefix)
        };
        match self.norm_position {
            NormPosition::Post => {
                let ds2 = self.norm2.backward(norm2_in, dy, grads, &p_norm2)?;
                let dh = ff_backward(ds2.clone(), grads)? + &ds2; // both roads from s2 = h + f
                let ds1 = self.norm1.backward(norm1_in, &dh, grads, &p_norm1)?;
                let d_attn = apply_mask(ds1.clone(), drop1);
                let g = self
                    .self_attn
                    .backward(&cache.attn, &d_attn, grads, &p_attn)?;
                Ok(ds1 + &g.query + &g.key + &g.value) // x fed the residual and Q, K, V
            }
            NormPosition::Pre => {
                let d_ln2 = ff_backward(dy.to_owned(), grads)?;
                let dh = self.norm2.backward(norm2_in, &d_ln2, grads, &p_norm2)? + dy;
                let d_attn = apply_mask(dh.clone(), drop1);
                let g = self
                    .self_attn
                    .backward(&cache.attn, &d_attn, grads, &p_attn)?;
                let d_ln1 = g.query + &g.key + &g.value;
                Ok(self.norm1.backward(norm1_in, &d_ln1, grads, &p_norm1)? + &dh)
            }
        }
    }
    // ANCHOR_END: encoder_layer_backward

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

/// What [`EncoderLayer::backward`] needs from the training forward.
#[derive(Debug, Clone)]
pub struct EncoderLayerCache {
    /// The inputs of `norm1` and `norm2` (post-LN: the residual sums; pre-LN: x and h).
    norm_inputs: [Array3<f32>; 2],
    attn: MultiHeadCache,
    ff: FeedForwardCache<Ix3>,
    /// dropout1 and dropout2's masks.
    dropped: [Option<Array3<f32>>; 2],
}

impl EncoderLayerCache {
    fn new(
        norm_inputs: [Array3<f32>; 2],
        attn: MultiHeadCache,
        ff: FeedForwardCache<Ix3>,
        dropped: [Option<Array3<f32>>; 2],
    ) -> Self {
        EncoderLayerCache {
            norm_inputs,
            attn,
            ff,
            dropped,
        }
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

impl Encoder {
    /// Training forward of the stack: every layer's [`EncoderLayer::forward_train`], then the
    /// final LayerNorm.
    pub fn forward_train(
        &self,
        x: &ArrayRef3<f32>,
        mask: Option<&Mask>,
        train: &mut Train,
    ) -> Result<(Array3<f32>, StackCache<EncoderLayerCache>)> {
        let mut x = x.to_owned();
        let mut layers = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let (y, cache) = layer.forward_train(&x, mask, train)?; // (batch, src_len, d_model)
            layers.push(cache);
            x = y;
        }
        let y = self.final_norm(x.clone())?;
        let memory_dim = None;
        Ok((
            y,
            StackCache {
                layers,
                last: x,
                memory_dim,
            },
        ))
    }

    /// Backward of [`Encoder::forward_train`]: the final norm, then the layers in reverse
    /// order, each passing ∂L/∂(its input) to the one below. Returns ∂L/∂x.
    pub fn backward(
        &self,
        cache: &StackCache<EncoderLayerCache>,
        dy: &ArrayRef3<f32>,
        grads: &mut Gradients,
        prefix: &str,
    ) -> Result<Array3<f32>> {
        let mut d = self.final_norm_backward(&cache.last, dy, grads, prefix)?;
        for (i, (layer, c)) in self.layers.iter().zip(&cache.layers).enumerate().rev() {
            d = layer.backward(c, &d, grads, &join(prefix, &format!("layers.{i}")))?;
        }
        Ok(d)
    }
}
