//! The position-wise feed-forward network: the same two-layer MLP applied to every token.

use ndarray::{Array, ArrayRef, ArrayViewMutD, Dimension};

use crate::error::Result;
use crate::nn::Linear;
use crate::params::{Module, Params};
use crate::weights::{NamedTensors, join};

/// FFN(x) = ReLU(x·W₁ᵀ + b₁)·W₂ᵀ + b₂, applied to each position independently.
///
/// Parameter names follow `nn.TransformerEncoderLayer`, where the two layers sit directly in
/// the layer: `linear1` `(d_ff, d_model)` and `linear2` `(d_model, d_ff)`.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedForward {
    /// Expands: `(d_ff, d_model)`.
    pub linear1: Linear,
    /// Contracts back: `(d_model, d_ff)`.
    pub linear2: Linear,
}

impl FeedForward {
    /// `linear1 (d_ff, d_model)` and `linear2 (d_model, d_ff)` read from `p` (directly in
    /// the encoder or decoder layer's scope, as PyTorch names them), or drawn with
    /// `nn.Linear`'s init.
    pub fn from_params(p: &Params, d_model: usize, d_ff: usize) -> Result<Self> {
        Ok(FeedForward {
            linear1: Linear::from_params(&p.sub("linear1"), d_model, d_ff, true)?,
            linear2: Linear::from_params(&p.sub("linear2"), d_ff, d_model, true)?,
        })
    }

    /// `(..., d_model) → (..., d_model)`.
    // ANCHOR: feed_forward
    pub fn forward<D: Dimension>(&self, x: &ArrayRef<f32, D>) -> Result<Array<f32, D>> {
        let hidden = self.linear1.forward(x)?.mapv(relu); // (..., d_ff)
        self.linear2.forward(&hidden) // (..., d_model)
    }
    // ANCHOR_END: feed_forward
}

impl Module for FeedForward {
    /// `{prefix}.linear1.*` and `{prefix}.linear2.*`.
    fn parameters_into(&self, prefix: &str, out: &mut NamedTensors) {
        self.linear1.parameters_into(&join(prefix, "linear1"), out);
        self.linear2.parameters_into(&join(prefix, "linear2"), out);
    }

    fn visit_parameters_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ArrayViewMutD<f32>)) {
        self.linear1
            .visit_parameters_mut(&join(prefix, "linear1"), f);
        self.linear2
            .visit_parameters_mut(&join(prefix, "linear2"), f);
    }
}

/// ReLU(x) = max(0, x).
pub fn relu(x: f32) -> f32 {
    x.max(0.0)
}
