//! The shape both stacks share: `num_layers` identical layers, then an optional final
//! LayerNorm. PyTorch's `nn.TransformerEncoder` and `nn.TransformerDecoder` (names
//! `layers.{i}.*`, `norm.*`); [`super::Encoder`] and [`super::Decoder`] are this with
//! encoder and decoder layers, each adding its own `forward`.

use ndarray::{Array, ArrayRef, ArrayViewMutD, Dimension};

use crate::error::Result;
use crate::gradients::Gradients;
use crate::nn::LayerNorm;
use crate::params::{Module, Params};
use crate::weights::{NamedTensors, join};

/// Layers applied in order, then an optional final LayerNorm.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack<L> {
    /// The layers, applied in order.
    pub layers: Vec<L>,
    /// Final LayerNorm (`nn.Transformer` always has one).
    pub norm: Option<LayerNorm>,
}

impl<L> Stack<L> {
    /// `num_layers` layers (`layers.{i}`, each built by `layer` from its scope) and the final
    /// LayerNorm (`norm`, width d_model), read from `p` or drawn, layer by layer in order.
    pub fn from_params(
        p: &Params,
        num_layers: usize,
        d_model: usize,
        layer: impl Fn(&Params) -> Result<L>,
    ) -> Result<Self> {
        let layers = (0..num_layers)
            .map(|i| layer(&p.sub(&format!("layers.{i}"))))
            .collect::<Result<_>>()?;
        Ok(Stack {
            layers,
            norm: Some(LayerNorm::from_params(&p.sub("norm"), d_model)?),
        })
    }

    /// The final LayerNorm, if there is one, applied to the last layer's output.
    pub(crate) fn final_norm<D: Dimension>(&self, x: Array<f32, D>) -> Result<Array<f32, D>> {
        match &self.norm {
            Some(norm) => norm.forward(&x),
            None => Ok(x),
        }
    }
}

impl<L> Stack<L> {
    /// Backward of the final LayerNorm (the identity without one), given its input `last`.
    pub(crate) fn final_norm_backward<D: Dimension>(
        &self,
        last: &ArrayRef<f32, D>,
        dy: &ArrayRef<f32, D>,
        grads: &mut Gradients,
        prefix: &str,
    ) -> Result<Array<f32, D>> {
        match &self.norm {
            Some(norm) => norm.backward(last, dy, grads, &join(prefix, "norm")),
            None => Ok(dy.to_owned()),
        }
    }
}

/// What a stack's backward needs from its training forward: every layer's cache and the
/// last layer's output (the final norm's input).
#[derive(Debug, Clone)]
pub struct StackCache<C> {
    pub(crate) layers: Vec<C>,
    pub(crate) last: ndarray::Array3<f32>,
    /// The shape of the memory a decoder stack read (its gradient's shape).
    pub(crate) memory_dim: Option<(usize, usize, usize)>,
}

impl<L: Module> Module for Stack<L> {
    /// `{prefix}.layers.{i}.*` and `{prefix}.norm.*`.
    fn parameters_into(&self, prefix: &str, out: &mut NamedTensors) {
        for (i, layer) in self.layers.iter().enumerate() {
            layer.parameters_into(&join(prefix, &format!("layers.{i}")), out);
        }
        if let Some(norm) = &self.norm {
            norm.parameters_into(&join(prefix, "norm"), out);
        }
    }

    fn visit_parameters_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ArrayViewMutD<f32>)) {
        for (i, layer) in self.layers.iter_mut().enumerate() {
            layer.visit_parameters_mut(&join(prefix, &format!("layers.{i}")), f);
        }
        if let Some(norm) = &mut self.norm {
            norm.visit_parameters_mut(&join(prefix, "norm"), f);
        }
    }
}
