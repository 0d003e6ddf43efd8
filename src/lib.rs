//! # Attention in Rust
//!
//! How attention and the Transformer work, from word embeddings to a full encoder–decoder
//! model, in small readable modules, one per chapter of the book:
//!
//! | chapter | module |
//! |---|---|
//! | 1 Word embeddings | [`embedding`] |
//! | 2 Positional encoding | [`positional`] |
//! | 3 Self-attention | [`self_attention`] |
//! | 4 Masked self-attention | [`masked`] |
//! | 5 Cross-attention | [`cross`] |
//! | 6 Multi-head attention | [`multi_head`] |
//! | 7 The Transformer | [`transformer`] |
//! | 8 Making attention fast | [`fast`] |
//! | 9 Training a Transformer | [`train`] |
//! | 10 Decoder-only: a GPT | [`gpt`] |
//! | 11 Context-aware embeddings: an encoder-only model | [`bert`] |
//!
//! Shared layers with PyTorch's exact semantics live in [`nn`]; every layer is built by one
//! constructor, `from_params`, from a [`params::Params`] that either reads a checkpoint or
//! draws PyTorch's init, and lists its parameters through [`params::Module`]; weights go in
//! and out by PyTorch `state_dict` names (JSON or safetensors) through [`weights`]; every
//! matrix product goes through
//! [`backend::matmul`]. Figures for the book and notebooks come from [`plot`]; the small inputs
//! every chapter follows are in [`worked`]. The measured speeds chapter 8 shows (this crate
//! against PyTorch, `benches/results.json`) are read by [`bench_results`].
//!
//! ## Conventions
//! - `f32` everywhere, like PyTorch.
//! - Shapes are written `(batch, seq, d_model)`, `(batch, heads, seq, d_k)`; attention
//!   weights are `(…, tgt_len, src_len)`. Chapters 1–5 work on one sequence `(seq, d_model)`;
//!   from multi-head attention on, input is batched.
//! - `Linear` weights are `(out_features, in_features)` and compute x·Wᵀ + b.
//! - Masks: `true` = may attend (see [`masked`]).
//! - Every fallible call returns [`Result`]; errors name the argument, the expected and the
//!   actual shape or value.
//! - Random weights come from an explicitly seeded ChaCha8 generator ([`nn::seeded_rng`]) and
//!   are the same on every platform.
//!
//! ```
//! use attention::prelude::*;
//!
//! let vocab = Vocab::from_sentences(TOY_SENTENCES);
//! let mut rng = seeded_rng(0);
//! let table = Embedding::from_params(&Params::init(&mut rng), vocab.len(), 4)?;
//! let x = table.forward(&vocab.encode("the pizza came out of the oven"))?; // (7, 4)
//! let x = SinusoidalEncoding::new(16, 4)?.forward(&x)?;                   // + positions
//! let head = SelfAttention::from_params(&Params::init(&mut rng), 4, 4, false)?;
//! let attn = head.forward(&x, Some(&Mask::causal(7)?))?;
//! assert_eq!(attn.weights.shape(), &[7, 7]);
//! # Ok::<(), attention::Error>(())
//! ```

#![warn(missing_docs)]

// With the `blas` feature, link OpenBLAS: ndarray's `dot` (and so `backend::matmul`) then
// calls its `sgemm`.
#[cfg(feature = "blas")]
extern crate blas_src;

pub mod backend;
pub mod bench_results;
pub mod bert;
pub mod cross;
pub mod embedding;
mod error;
/// The learner's exercises (stubs, or the reference solutions with feature `solutions`).
///
/// Compiled only with feature `exercises` (`cargo exercise` enables it), so a half-finished
/// answer never breaks `cargo test`, the notebooks or `cargo xtask`.
#[cfg(feature = "exercises")]
pub mod exercises;
pub mod fast;
pub mod gpt;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod gradients;
pub mod kernels;
pub mod masked;
pub mod multi_head;
pub mod nn;
pub mod params;
pub mod plot;
pub mod positional;
pub mod self_attention;
pub mod train;
pub mod transformer;
pub mod weights;
pub mod worked;

#[cfg(doctest)]
mod book_doctests;

pub use error::{Error, Result, fmt_shape};

/// The README's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// `ndarray`, re-exported so notebooks and users name the same version as the crate.
pub use ndarray;
/// `plotly`, re-exported for the same reason: figures are `plotly::Plot`s.
pub use plotly;

/// Everything a chapter or notebook usually needs, in one `use attention::prelude::*;`.
///
/// It brings [`Error`] but not the crate's one-parameter [`Result`] alias: a glob import of
/// that alias would shadow the standard `Result<T, E>` in the importing scope, and code that
/// others generate there breaks. The notebooks' Rust kernel (evcxr) wraps every cell in a
/// function returning `Result<(), EvcxrUserCodeError>`, which then fails to compile with
/// "type alias takes 1 generic argument but 2 generic arguments were supplied". Write
/// `attention::Result<T>` where you want the alias.
///
/// ```
/// use attention::prelude::*;
///
/// // The standard two-parameter Result is still the one in scope.
/// fn parse(s: &str) -> Result<usize, std::num::ParseIntError> {
///     s.parse()
/// }
/// fn first_id(vocab: &Vocab) -> attention::Result<usize> {
///     Ok(vocab.encode("pizza")[0])
/// }
/// assert_eq!(parse("3"), Ok(3));
/// assert_eq!(first_id(&Vocab::from_sentences(TOY_SENTENCES))?, 5);
/// # Ok::<(), Error>(())
/// ```
pub mod prelude {
    pub use crate::Error;
    pub use crate::cross::CrossAttention;
    pub use crate::embedding::{
        BOS_ID, EOS_ID, Embedding, PAD_ID, TOY_SENTENCES, TOY_TRANSLATIONS, UNK_ID, Vocab,
        cosine_similarity, pad_batch,
    };
    pub use crate::masked::Mask;
    pub use crate::multi_head::{MultiHeadAttention, MultiHeadOutput, merge_heads, split_heads};
    pub use crate::nn::{Dropout, FeedForward, LayerNorm, Linear, SeededRng, seeded_rng, softmax};
    pub use crate::params::{Module, Params};
    pub use crate::positional::{
        LearnedPositionalEmbedding, SinusoidalEncoding, sinusoidal_encoding,
    };
    pub use crate::self_attention::{AttentionOutput, SelfAttention, scaled_dot_product_attention};
    pub use crate::transformer::{
        Decoder, DecoderLayer, Encoder, EncoderLayer, NormPosition, Seq2SeqConfig,
        Seq2SeqTransformer, Transformer, TransformerConfig, greedy_decode,
    };
    pub use crate::weights::NamedTensors;
    pub use ndarray::{Array1, Array2, Array3, Array4, Axis, array, s};
}
