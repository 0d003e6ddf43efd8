//! The position-wise feed-forward network: the same two-layer MLP applied to every token.

use ndarray::{Array, ArrayRef, Dimension};

use crate::error::Result;
use crate::nn::Linear;
use crate::nn::init::SeededRng;
use crate::weights::{NamedTensors, Scope, join};

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
    /// Random layers with PyTorch's `nn.Linear` init.
    pub fn random(d_model: usize, d_ff: usize, rng: &mut SeededRng) -> Self {
        FeedForward {
            linear1: Linear::random(d_model, d_ff, true, rng),
            linear2: Linear::random(d_ff, d_model, true, rng),
        }
    }

    /// `(..., d_model) → (..., d_model)`.
    // ANCHOR: feed_forward
    pub fn forward<D: Dimension>(&self, x: &ArrayRef<f32, D>) -> Result<Array<f32, D>> {
        let hidden = self.linear1.forward(x)?.mapv(relu); // (..., d_ff)
        self.linear2.forward(&hidden) // (..., d_model)
    }
    // ANCHOR_END: feed_forward

    /// Loads `linear1.*` and `linear2.*` from `scope` (the enclosing layer's scope).
    pub fn load(scope: &Scope, d_model: usize, d_ff: usize) -> Result<Self> {
        Ok(FeedForward {
            linear1: Linear::load(&scope.sub("linear1"), d_model, d_ff, true)?,
            linear2: Linear::load(&scope.sub("linear2"), d_ff, d_model, true)?,
        })
    }

    /// Saves as `{prefix}.linear1.*` and `{prefix}.linear2.*`.
    pub fn save(&self, prefix: &str, out: &mut NamedTensors) {
        self.linear1.save(&join(prefix, "linear1"), out);
        self.linear2.save(&join(prefix, "linear2"), out);
    }
}

/// ReLU(x) = max(0, x).
pub fn relu(x: f32) -> f32 {
    x.max(0.0)
}
