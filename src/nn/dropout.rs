//! Dropout: randomly zero activations while training; do nothing at inference.

use ndarray::{Array, ArrayRef, Dimension};
use ndarray_rand::rand::distr::Distribution;

use crate::error::{Error, Result};
use crate::nn::init::{SeededRng, StableUniform, seeded_rng};

/// Dropout with probability `p`, PyTorch's "inverted" dropout.
///
/// Everything in this crate runs in inference (PyTorch's `eval()`), where dropout is the
/// identity: [`Dropout::forward`]. [`Dropout::forward_train`] is what training does: zero each
/// entry with probability `p` and scale the survivors by 1/(1 − p), so the expected value is
/// unchanged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    /// Probability of zeroing an entry, in `[0, 1)`.
    pub p: f32,
}

impl Dropout {
    /// Dropout with probability `p` in `[0, 1)`.
    pub fn new(p: f32) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::value("p", "a probability in [0, 1)", p));
        }
        Ok(Dropout { p })
    }

    /// Inference: the identity.
    pub fn forward<D: Dimension>(&self, x: &ArrayRef<f32, D>) -> Array<f32, D> {
        x.to_owned()
    }

    /// Training: zero with probability `p`, scale the rest by 1/(1 − p).
    pub fn forward_train<D: Dimension>(
        &self,
        x: &ArrayRef<f32, D>,
        rng: &mut SeededRng,
    ) -> Array<f32, D> {
        let keep = 1.0 - self.p;
        x.mapv(|v| {
            if StableUniform::new(0.0, 1.0).sample(rng) < self.p {
                0.0
            } else {
                v / keep
            }
        })
    }

    /// The factors one training forward multiplies by, for an input of shape `dim`: each
    /// entry 0 (dropped, probability `p`) or 1/(1 − p) (kept); `None` when p = 0 (nothing is
    /// dropped). Drawn in row-major order, so the same generator gives the same mask.
    pub fn mask<D: Dimension>(&self, dim: D, rng: &mut SeededRng) -> Option<Array<f32, D>> {
        if self.p == 0.0 {
            return None;
        }
        let keep = 1.0 - self.p;
        let mut mask = Array::zeros(dim);
        for m in mask.iter_mut() {
            *m = if StableUniform::new(0.0, 1.0).sample(rng) < self.p {
                0.0
            } else {
                1.0 / keep
            };
        }
        Some(mask)
    }
}

/// Multiplies by a dropout mask (forward, y = x ⊙ m) — and, because the same factors carry
/// the gradient back, the backward too (∂L/∂x = ∂L/∂y ⊙ m). `None` (no dropout) is the
/// identity.
pub fn apply_mask<D: Dimension>(x: Array<f32, D>, mask: Option<&Array<f32, D>>) -> Array<f32, D> {
    match mask {
        Some(m) => x * m,
        None => x,
    }
}

/// Train mode: what a forward pass needs to behave as in training (PyTorch's `model.train()`):
/// dropout with probability `dropout.p`, drawn from a seeded generator so a training run is
/// reproducible. Inference (`forward`) needs none of it.
pub struct Train {
    /// Dropout used at every dropout site (PyTorch's `nn.Transformer(dropout=…)`).
    pub dropout: Dropout,
    /// The generator the masks are drawn from.
    pub rng: SeededRng,
}

impl Train {
    /// Train mode with dropout probability `p` in `[0, 1)` and masks drawn from `seed`.
    pub fn new(p: f32, seed: u64) -> Result<Self> {
        Ok(Train {
            dropout: Dropout::new(p)?,
            rng: seeded_rng(seed),
        })
    }

    /// A fresh dropout mask for an activation of shape `dim` (`None` when p = 0).
    pub fn mask<D: Dimension>(&mut self, dim: D) -> Option<Array<f32, D>> {
        self.dropout.mask(dim, &mut self.rng)
    }

    /// Dropout of `x` in train mode: `(x ⊙ mask, mask)`; keep the mask for the backward.
    pub fn drop<D: Dimension>(
        &mut self,
        x: Array<f32, D>,
    ) -> (Array<f32, D>, Option<Array<f32, D>>) {
        let mask = self.mask(x.raw_dim());
        (apply_mask(x, mask.as_ref()), mask)
    }
}
