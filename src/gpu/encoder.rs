//! A Transformer encoder layer with everything on the GPU: one upload, one read-back.

use ndarray::{Array3, ArrayRef3, Ix3};

use super::layers::{GpuLayerNorm, GpuLinear, activate, add};
use super::{GpuMultiHeadAttention, GpuTensor};
use crate::error::Result;
use crate::nn::Activation;
use crate::transformer::{EncoderLayer, NormPosition};

/// An [`EncoderLayer`] whose parameters live on the GPU. Without a mask: the fused attention
/// kernel takes none (padding would need one).
pub struct GpuEncoderLayer {
    self_attn: GpuMultiHeadAttention,
    linear1: GpuLinear,
    linear2: GpuLinear,
    activation: Activation,
    norm1: GpuLayerNorm,
    norm2: GpuLayerNorm,
    norm_position: NormPosition,
}

impl GpuEncoderLayer {
    /// Uploads `layer`'s parameters, once.
    pub fn new(layer: &EncoderLayer) -> Result<Self> {
        let ff = &layer.feed_forward;
        Ok(GpuEncoderLayer {
            self_attn: GpuMultiHeadAttention::new(&layer.self_attn)?,
            linear1: GpuLinear::upload(&ff.linear1)?,
            linear2: GpuLinear::upload(&ff.linear2)?,
            activation: ff.activation,
            norm1: GpuLayerNorm::upload(&layer.norm1)?,
            norm2: GpuLayerNorm::upload(&layer.norm2)?,
            norm_position: layer.norm_position,
        })
    }

    // ANCHOR: gpu_encoder_layer
    /// `x (batch, seq, d_model) → (batch, seq, d_model)`, all on the GPU, as
    /// [`EncoderLayer::forward`] without a mask.
    pub fn forward(&self, x: &GpuTensor) -> Result<GpuTensor> {
        let attend = |h: &GpuTensor| self.self_attn.forward(h, h, h, false);
        match self.norm_position {
            NormPosition::Post => {
                let x = self.norm1.forward(&add(&attend(x)?, x)?)?; // LN(x + SelfAttn(x))
                self.norm2.forward(&add(&self.feed_forward(&x)?, &x)?) // LN(x + FFN(x))
            }
            NormPosition::Pre => {
                let x = add(&attend(&self.norm1.forward(x)?)?, x)?; // x + SelfAttn(LN(x))
                add(&self.feed_forward(&self.norm2.forward(&x)?)?, &x) // x + FFN(LN(x))
            }
        }
    }

    /// linear2(activation(linear1(x))).
    fn feed_forward(&self, x: &GpuTensor) -> Result<GpuTensor> {
        let hidden = activate(&self.linear1.forward(x)?, self.activation)?; // (batch, seq, d_ff)
        self.linear2.forward(&hidden) // (batch, seq, d_model)
    }
    // ANCHOR_END: gpu_encoder_layer

    /// [`GpuEncoderLayer::forward`] from and to the CPU: one upload, one read-back.
    pub fn forward_array(&self, x: &ArrayRef3<f32>) -> Result<Array3<f32>> {
        let output = self.forward(&GpuTensor::upload(x)?)?.download()?;
        Ok(output.into_dimensionality::<Ix3>().expect("3-D output"))
    }
}
