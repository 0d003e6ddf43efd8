//! The decoder: a stack of (masked self-attention → cross-attention → feed-forward) layers.

use ndarray::{Array3, ArrayRef3, ArrayViewMutD, Ix3};

use super::stack::{Stack, StackCache};
use super::{NormPosition, TransformerConfig};
use crate::error::{Dim, Result, check_shape};
use crate::gradients::Gradients;
use crate::masked::Mask;
use crate::multi_head::{MultiHeadAttention, MultiHeadCache};
use crate::nn::dropout::apply_mask;
use crate::nn::feed_forward::FeedForwardCache;
use crate::nn::{FeedForward, LayerNorm, Train};
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
        let self_attend = |h: &ArrayRef3<f32>| self.self_attn.output(h, h, h, self_mask);
        let cross_attend =
            |h: &ArrayRef3<f32>| self.cross_attn.output(h, memory, memory, memory_mask);
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
    /// Training forward: [`DecoderLayer::forward`] with dropout where PyTorch's
    /// `nn.TransformerDecoderLayer` has it; keeps what the backward needs.
    pub fn forward_train(
        &self,
        x: &ArrayRef3<f32>,
        memory: &ArrayRef3<f32>,
        self_mask: Option<&Mask>,
        memory_mask: Option<&Mask>,
        train: &mut Train,
    ) -> Result<(Array3<f32>, DecoderLayerCache)> {
        check_memory(x, memory)?;
        let self_attend = |h: &ArrayRef3<f32>, train: &mut Train| {
            let (out, cache) = self.self_attn.forward_train(h, h, h, self_mask, train)?;
            let (out, dropped) = train.drop(out); // dropout1
            Ok::<_, crate::Error>((out, cache, dropped))
        };
        let cross_attend = |h: &ArrayRef3<f32>, train: &mut Train| {
            let attn = &self.cross_attn;
            let (out, cache) = attn.forward_train(h, memory, memory, memory_mask, train)?;
            let (out, dropped) = train.drop(out); // dropout2
            Ok::<_, crate::Error>((out, cache, dropped))
        };
        match self.norm_position {
            NormPosition::Post => {
                let (a, self_attn, drop1) = self_attend(x, train)?;
                let s1 = a + x; // x + SelfAttn(x)
                let h1 = self.norm1.forward(&s1)?;
                let (c, cross_attn, drop2) = cross_attend(&h1, train)?;
                let s2 = c + &h1; // h1 + Cross(h1, memory)
                let h2 = self.norm2.forward(&s2)?;
                let (f, ff) = self.feed_forward.forward_train(&h2, train)?;
                let (f, drop3) = train.drop(f); // dropout3
                let s3 = f + &h2; // h2 + FFN(h2)
                let y = self.norm3.forward(&s3)?;
                let cache = DecoderLayerCache {
                    norm_inputs: [s1, s2, s3],
                    self_attn,
                    cross_attn,
                    ff,
                    dropped: [drop1, drop2, drop3],
                };
                Ok((y, cache))
            }
            NormPosition::Pre => {
                let (a, self_attn, drop1) = self_attend(&self.norm1.forward(x)?, train)?;
                let h1 = a + x; // x + SelfAttn(LN(x))
                let (c, cross_attn, drop2) = cross_attend(&self.norm2.forward(&h1)?, train)?;
                let h2 = c + &h1; // h1 + Cross(LN(h1), memory)
                let (f, ff) =
                    (self.feed_forward).forward_train(&self.norm3.forward(&h2)?, train)?;
                let (f, drop3) = train.drop(f);
                let y = f + &h2; // h2 + FFN(LN(h2))
                let cache = DecoderLayerCache {
                    norm_inputs: [x.to_owned(), h1, h2],
                    self_attn,
                    cross_attn,
                    ff,
                    dropped: [drop1, drop2, drop3],
                };
                Ok((y, cache))
            }
        }
    }

    /// Backward of [`DecoderLayer::forward_train`]: given `dy = ∂L/∂y (batch, tgt_len,
    /// d_model)`, adds every parameter's gradient below `prefix` and returns ∂L/∂x and
    /// ∂L/∂memory (the memory was both keys and values of the cross-attention).
    pub fn backward(
        &self,
        cache: &DecoderLayerCache,
        dy: &ArrayRef3<f32>,
        grads: &mut Gradients,
        prefix: &str,
    ) -> Result<(Array3<f32>, Array3<f32>)> {
        let [in1, in2, in3] = &cache.norm_inputs;
        let dropped = |i: usize| cache.dropped[i].as_ref();
        let name = |leaf: &str| join(prefix, leaf);
        let ff_backward = |d: Array3<f32>, grads: &mut Gradients| {
            let d = apply_mask(d, dropped(2));
            self.feed_forward.backward(&cache.ff, &d, grads, prefix)
        };
        match self.norm_position {
            NormPosition::Post => {
                let ds3 = self.norm3.backward(in3, dy, grads, &name("norm3"))?;
                let dh2 = ff_backward(ds3.clone(), grads)? + &ds3;
                let ds2 = self.norm2.backward(in2, &dh2, grads, &name("norm2"))?;
                let d_cross = apply_mask(ds2.clone(), dropped(1));
                let (cross, p_cross) = (&self.cross_attn, name("multihead_attn"));
                let c = cross.backward(&cache.cross_attn, &d_cross, grads, &p_cross)?;
                let dh1 = c.query + &ds2;
                let ds1 = self.norm1.backward(in1, &dh1, grads, &name("norm1"))?;
                let d_self = apply_mask(ds1.clone(), dropped(0));
                let (attn, p_self) = (&self.self_attn, name("self_attn"));
                let a = attn.backward(&cache.self_attn, &d_self, grads, &p_self)?;
                Ok((ds1 + &a.query + &a.key + &a.value, c.key + &c.value))
            }
            NormPosition::Pre => {
                let d_ln3 = ff_backward(dy.to_owned(), grads)?;
                let dh2 = self.norm3.backward(in3, &d_ln3, grads, &name("norm3"))? + dy;
                let d_cross = apply_mask(dh2.clone(), dropped(1));
                let (cross, p_cross) = (&self.cross_attn, name("multihead_attn"));
                let c = cross.backward(&cache.cross_attn, &d_cross, grads, &p_cross)?;
                let dh1 = self.norm2.backward(in2, &c.query, grads, &name("norm2"))? + &dh2;
                let d_self = apply_mask(dh1.clone(), dropped(0));
                let (attn, p_self) = (&self.self_attn, name("self_attn"));
                let a = attn.backward(&cache.self_attn, &d_self, grads, &p_self)?;
                let d_ln1 = a.query + &a.key + &a.value;
                let dx = self.norm1.backward(in1, &d_ln1, grads, &name("norm1"))? + &dh1;
                Ok((dx, c.key + &c.value))
            }
        }
    }

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

/// What [`DecoderLayer::backward`] needs from the training forward.
#[derive(Debug, Clone)]
pub struct DecoderLayerCache {
    /// The inputs of `norm1`, `norm2`, `norm3`.
    norm_inputs: [Array3<f32>; 3],
    self_attn: MultiHeadCache,
    cross_attn: MultiHeadCache,
    ff: FeedForwardCache<Ix3>,
    /// dropout1, dropout2 and dropout3's masks.
    dropped: [Option<Array3<f32>>; 3],
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

impl Decoder {
    /// Training forward of the stack: every layer's [`DecoderLayer::forward_train`], then
    /// the final LayerNorm.
    pub fn forward_train(
        &self,
        x: &ArrayRef3<f32>,
        memory: &ArrayRef3<f32>,
        self_mask: Option<&Mask>,
        memory_mask: Option<&Mask>,
        train: &mut Train,
    ) -> Result<(Array3<f32>, StackCache<DecoderLayerCache>)> {
        let mut x = x.to_owned();
        let mut layers = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let (y, cache) = layer.forward_train(&x, memory, self_mask, memory_mask, train)?;
            layers.push(cache);
            x = y; // (batch, tgt_len, d_model)
        }
        let y = self.final_norm(x.clone())?;
        let memory_dim = Some(memory.dim());
        Ok((
            y,
            StackCache {
                layers,
                last: x,
                memory_dim,
            },
        ))
    }

    /// Backward of [`Decoder::forward_train`]: returns ∂L/∂x and ∂L/∂memory, the sum over
    /// the layers (every layer's cross-attention read the same memory).
    pub fn backward(
        &self,
        cache: &StackCache<DecoderLayerCache>,
        dy: &ArrayRef3<f32>,
        grads: &mut Gradients,
        prefix: &str,
    ) -> Result<(Array3<f32>, Array3<f32>)> {
        let mut d = self.final_norm_backward(&cache.last, dy, grads, prefix)?;
        let mut d_memory: Option<Array3<f32>> = None;
        for (i, (layer, c)) in self.layers.iter().zip(&cache.layers).enumerate().rev() {
            let (dx, dm) = layer.backward(c, &d, grads, &join(prefix, &format!("layers.{i}")))?;
            d = dx;
            d_memory = Some(match d_memory {
                Some(sum) => sum + &dm,
                None => dm,
            });
        }
        let memory_dim = cache
            .memory_dim
            .expect("a decoder's cache records the memory");
        let d_memory = d_memory.unwrap_or_else(|| Array3::zeros(memory_dim)); // no layers
        Ok((d, d_memory))
    }
}
