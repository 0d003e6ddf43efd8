//! The GPT block's MLP: expand to 4·n_embd, GELU, project back (nanoGPT's `MLP`).

use ndarray::{Array3, ArrayRef3, ArrayViewMutD};

use crate::error::Result;
use crate::gradients::Gradients;
use crate::nn::Linear;
use crate::nn::activation::{gelu, gelu_backward_with_cdf, normal_cdf};
use crate::params::{Init, Module, Params};
use crate::weights::{NamedTensors, join};

/// `c_fc` (4C, C) → GELU → `c_proj` (C, 4C), applied to every position on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    /// Expands each vector from n_embd to 4·n_embd.
    pub c_fc: Linear,
    /// Projects back to n_embd.
    pub c_proj: Linear,
}

/// What [`Mlp::backward`] needs from the forward: its input and the pre-GELU activations.
#[derive(Debug, Clone)]
pub struct MlpCache {
    x: Array3<f32>,
    hidden: Array3<f32>,
    cdf: Array3<f32>,
    activated: Array3<f32>,
}

impl Mlp {
    /// Weights read from `p` (`c_fc.*`, `c_proj.*`) or drawn as nanoGPT does: Normal(0, 0.02²),
    /// `c_proj.weight` with std 0.02/√(2·n_layer) (the residual projections), biases zero.
    pub fn from_params(p: &Params, n_embd: usize, n_layer: usize) -> Result<Self> {
        Ok(Mlp {
            c_fc: gpt_linear(&p.sub("c_fc"), n_embd, 4 * n_embd, 0.02)?,
            c_proj: gpt_linear(&p.sub("c_proj"), 4 * n_embd, n_embd, residual_std(n_layer))?,
        })
    }

    // ANCHOR: mlp_forward
    /// `(batch, seq, C) → (batch, seq, C)`.
    pub fn forward(&self, x: &ArrayRef3<f32>) -> Result<Array3<f32>> {
        let hidden = self.c_fc.forward(x)?; // (batch, seq, 4C)
        self.c_proj.forward(&gelu(&hidden)) // (batch, seq, C)
    }
    // ANCHOR_END: mlp_forward

    /// [`Mlp::forward`], keeping what the backward needs.
    pub fn forward_train(&self, x: &ArrayRef3<f32>) -> Result<(Array3<f32>, MlpCache)> {
        let hidden = self.c_fc.forward(x)?; // (batch, seq, 4C)
        let cdf = hidden.mapv(normal_cdf); // Φ(hidden), kept for the backward
        let activated = &hidden * &cdf; // GELU, (batch, seq, 4C)
        let y = self.c_proj.forward(&activated)?; // (batch, seq, C)
        let x = x.to_owned();
        Ok((
            y,
            MlpCache {
                x,
                hidden,
                cdf,
                activated,
            },
        ))
    }

    /// Backward: `c_proj`, GELU and `c_fc` undone in reverse; adds the gradients below
    /// `prefix` and returns ∂L/∂x.
    pub fn backward(
        &self,
        cache: &MlpCache,
        dy: &ArrayRef3<f32>,
        grads: &mut Gradients,
        prefix: &str,
    ) -> Result<Array3<f32>> {
        let d_activated =
            (self.c_proj).backward(&cache.activated, dy, grads, &join(prefix, "c_proj"))?;
        let d_hidden = gelu_backward_with_cdf(&cache.hidden, &cache.cdf, &d_activated); // (batch, seq, 4C)
        (self.c_fc).backward(&cache.x, &d_hidden, grads, &join(prefix, "c_fc"))
    }
}

impl Module for Mlp {
    fn parameters_into(&self, prefix: &str, out: &mut NamedTensors) {
        self.c_fc.parameters_into(&join(prefix, "c_fc"), out);
        self.c_proj.parameters_into(&join(prefix, "c_proj"), out);
    }

    fn visit_parameters_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ArrayViewMutD<f32>)) {
        self.c_fc.visit_parameters_mut(&join(prefix, "c_fc"), f);
        self.c_proj.visit_parameters_mut(&join(prefix, "c_proj"), f);
    }
}

/// A `Linear(d_in → d_out)` with bias, read from `p` or drawn as nanoGPT's `_init_weights`:
/// weight Normal(0, std²), bias zero.
pub(crate) fn gpt_linear(p: &Params, d_in: usize, d_out: usize, std: f32) -> Result<Linear> {
    Linear::new(
        p.get("weight", &[d_out, d_in], Init::Normal(std))?,
        Some(p.get("bias", &[d_out], Init::Zeros)?),
    )
}

/// nanoGPT's std for the projections that feed a residual stream: 0.02/√(2·n_layer), so the
/// sum of 2·n_layer residual contributions keeps its scale at init.
pub(crate) fn residual_std(n_layer: usize) -> f32 {
    0.02 / (2.0 * n_layer.max(1) as f32).sqrt()
}
