//! Chapter 5 — cross-attention: the decoder looks at the encoder.
//!
//! In an encoder–decoder model (translation: "Let's go" → "Vamos") the decoder needs to
//! consult the source sentence. Cross-attention is self-attention with the inputs split:
//! **queries come from the decoder**, **keys and values come from the encoder output**. Each
//! target token asks its question of every source token, so the weights are
//! `(target_len, source_len)`.
//!
//! ```
//! use attention::cross::CrossAttention;
//! use attention::nn::seeded_rng;
//! use attention::params::Params;
//! use attention::ndarray::Array2;
//!
//! let cross = CrossAttention::from_params(&Params::seeded(0), 4, 4, false)?;
//! let decoder_states = Array2::<f32>::ones((2, 4)); // (target_len, d_model)
//! let encoder_output = Array2::<f32>::ones((3, 4)); // (source_len, d_model)
//! let attn = cross.forward(&decoder_states, &encoder_output, None)?;
//! assert_eq!(attn.weights.shape(), &[2, 3]);        // (target_len, source_len)
//! # Ok::<(), attention::Error>(())
//! ```

use ndarray::{ArrayRef2, ArrayViewMutD};

use crate::error::Result;
use crate::masked::Mask;
use crate::nn::Linear;
use crate::params::{Module, Params};
use crate::self_attention::{AttentionOutput, SelfAttention, project_and_attend};
use crate::weights::NamedTensors;

// ANCHOR: cross_attention
/// A single cross-attention head: W_q reads the decoder, W_k and W_v read the encoder.
///
/// The parameters are those of a [`SelfAttention`] head (`W_q`, `W_k`, `W_v`, each
/// `(d_k, d_model)`); only where the inputs come from differs.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossAttention {
    /// The three projections, named as in chapter 3.
    pub head: SelfAttention,
}

impl CrossAttention {
    /// Attention from `decoder_states (target_len, d_model)` to
    /// `encoder_output (source_len, d_model)`.
    ///
    /// Returns the output `(target_len, d_k)` and the weights `(target_len, source_len)`;
    /// `mask` must broadcast to `(1, target_len, source_len)` (e.g. source padding).
    pub fn forward(
        &self,
        decoder_states: &ArrayRef2<f32>,
        encoder_output: &ArrayRef2<f32>,
        mask: Option<&Mask>,
    ) -> Result<AttentionOutput> {
        let SelfAttention { w_q, w_k, w_v } = &self.head;
        project_and_attend(
            &[w_q, w_k, w_v],
            ("decoder_states", decoder_states), // → queries
            ("encoder_output", encoder_output), // → keys and values
            mask,
        )
    }
}
// ANCHOR_END: cross_attention

impl CrossAttention {
    /// A head from three projections `d_model → d_k`.
    pub fn new(w_q: Linear, w_k: Linear, w_v: Linear) -> Result<Self> {
        Ok(CrossAttention {
            head: SelfAttention::new(w_q, w_k, w_v)?,
        })
    }

    /// `W_q`, `W_k`, `W_v` (`d_model → d_k`) read from `p` or drawn (see
    /// [`SelfAttention::from_params`]).
    pub fn from_params(p: &Params, d_model: usize, d_k: usize, bias: bool) -> Result<Self> {
        Ok(CrossAttention {
            head: SelfAttention::from_params(p, d_model, d_k, bias)?,
        })
    }
}

impl Module for CrossAttention {
    /// The same names as [`SelfAttention`]'s.
    fn parameters_into(&self, prefix: &str, out: &mut NamedTensors) {
        self.head.parameters_into(prefix, out);
    }

    fn visit_parameters_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ArrayViewMutD<f32>)) {
        self.head.visit_parameters_mut(prefix, f);
    }
}
