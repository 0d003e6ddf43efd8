//! Shared building blocks used by every chapter: the layers PyTorch calls `torch.nn`.
//!
//! Each has PyTorch's parameter names and layouts, so weights recorded from PyTorch load
//! directly (see [`crate::weights`]).

pub mod activation;
pub mod dropout;
pub mod feed_forward;
pub mod init;
pub mod layer_norm;
pub mod linear;
pub mod softmax;

pub use activation::{Activation, gelu, gelu_backward, relu};
pub use dropout::{Dropout, Train};
pub use feed_forward::FeedForward;
pub use init::{SeededRng, seeded_rng};
pub use layer_norm::{LAYER_NORM_EPS, LayerNorm};
pub use linear::Linear;
pub use softmax::{softmax, softmax_backward, softmax_in_place};
