//! The position-wise feed-forward network: the same two-layer MLP applied to every token.

use ndarray::{Array, ArrayRef, ArrayViewMutD, Dimension};

use crate::error::Result;
use crate::gradients::Gradients;
use crate::nn::Linear;
use crate::nn::activation::Activation;
use crate::nn::dropout::{Train, apply_mask};
use crate::params::{Module, Params};
use crate::weights::{NamedTensors, join};

/// FFN(x) = ReLU(x·W₁ᵀ + b₁)·W₂ᵀ + b₂, applied to each position independently (BERT and GPT
/// use GELU instead of ReLU: see [`Activation`]).
///
/// Parameter names follow `nn.TransformerEncoderLayer`, where the two layers sit directly in
/// the layer: `linear1` `(d_ff, d_model)` and `linear2` `(d_model, d_ff)`.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedForward {
    /// Expands: `(d_ff, d_model)`.
    pub linear1: Linear,
    /// Contracts back: `(d_model, d_ff)`.
    pub linear2: Linear,
    /// The non-linearity between them (ReLU unless a model says otherwise).
    pub activation: Activation,
}

impl FeedForward {
    /// `linear1 (d_ff, d_model)` and `linear2 (d_model, d_ff)` read from `p` (directly in
    /// the encoder or decoder layer's scope, as PyTorch names them), or drawn with
    /// `nn.Linear`'s init.
    pub fn from_params(p: &Params, d_model: usize, d_ff: usize) -> Result<Self> {
        Ok(FeedForward {
            linear1: Linear::from_params(&p.sub("linear1"), d_model, d_ff, true)?,
            linear2: Linear::from_params(&p.sub("linear2"), d_ff, d_model, true)?,
            activation: Activation::Relu,
        })
    }

    /// `(..., d_model) → (..., d_model)`.
    // ANCHOR: feed_forward
    pub fn forward<D: Dimension>(&self, x: &ArrayRef<f32, D>) -> Result<Array<f32, D>> {
        let mut hidden = self.linear1.forward(x)?; // (..., d_ff)
        self.activation.forward_in_place(&mut hidden); // ReLU (or GELU) on every entry
        self.linear2.forward(&hidden) // (..., d_model)
    }
    // ANCHOR_END: feed_forward

    /// Training forward: like [`FeedForward::forward`] with dropout on the hidden layer (as
    /// in PyTorch's `linear2(dropout(relu(linear1(x))))`); keeps what the backward needs.
    pub fn forward_train<D: Dimension>(
        &self,
        x: &ArrayRef<f32, D>,
        train: &mut Train,
    ) -> Result<(Array<f32, D>, FeedForwardCache<D>)> {
        let pre = self.linear1.forward(x)?; // (..., d_ff), before the activation
        let (hidden, dropped) = train.drop(self.activation.forward(&pre)); // (..., d_ff)
        let y = self.linear2.forward(&hidden)?; // (..., d_model)
        let cache = FeedForwardCache {
            x: x.to_owned(),
            pre,
            hidden,
            dropped,
        };
        Ok((y, cache))
    }

    /// Backward of [`FeedForward::forward_train`]: adds the gradients of `linear1.*` and
    /// `linear2.*` below `prefix` and returns ∂L/∂x. ReLU passes the gradient where its input
    /// was positive and blocks it elsewhere: ∂relu(z)/∂z = 1 if z > 0 else 0 (see
    /// [`Activation::backward`]).
    pub fn backward<D: Dimension>(
        &self,
        cache: &FeedForwardCache<D>,
        dy: &ArrayRef<f32, D>,
        grads: &mut Gradients,
        prefix: &str,
    ) -> Result<Array<f32, D>> {
        let p2 = join(prefix, "linear2");
        let d_hidden = self.linear2.backward(&cache.hidden, dy, grads, &p2)?; // (..., d_ff)
        let d_activated = apply_mask(d_hidden, cache.dropped.as_ref());
        let d_pre = self.activation.backward(&cache.pre, &d_activated); // (..., d_ff)
        let p1 = join(prefix, "linear1");
        self.linear1.backward(&cache.x, &d_pre, grads, &p1) // (..., d_model)
    }
}

/// What [`FeedForward::backward`] needs from the training forward.
#[derive(Debug, Clone)]
pub struct FeedForwardCache<D: Dimension> {
    /// The input `(..., d_model)`.
    x: Array<f32, D>,
    /// linear1's output before the activation `(..., d_ff)`.
    pre: Array<f32, D>,
    /// The activation's output after dropout, linear2's input `(..., d_ff)`.
    hidden: Array<f32, D>,
    /// The dropout mask on the hidden layer.
    dropped: Option<Array<f32, D>>,
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
