//! Dropout: randomly zero activations while training; do nothing at inference.

use ndarray::{Array, ArrayRef, Dimension};
use ndarray_rand::rand::distr::Distribution;

use crate::error::{Error, Result};
use crate::nn::init::{SeededRng, StableUniform};

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
}
