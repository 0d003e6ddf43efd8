//! Chapter 10 — decoder-only: a GPT, written as nanoGPT's `model.py` is.
//!
//! A GPT is chapter 7's decoder without cross-attention, stacked: token embeddings plus
//! learned positions, `n_layer` pre-LN [`Block`]s (causal multi-head self-attention, then an
//! MLP with GELU, each around a residual), a final LayerNorm, and a language-model head that
//! reuses the token embedding matrix. Trained to predict every next token at once (the
//! causal mask makes each position its own training example), it generates text one token at
//! a time; a [`KvCache`] keeps the keys and values of the positions already seen.
//!
//! Parameter names follow nanoGPT's `state_dict` (`transformer.h.0.attn.c_attn.weight` …).
//!
//! ```
//! use attention::gpt::{Gpt, GptConfig};
//! use attention::params::Params;
//! use attention::ndarray::array;
//!
//! let config = GptConfig { vocab_size: 10, block_size: 8, n_layer: 2, n_head: 2, n_embd: 16 };
//! let gpt = Gpt::from_params(&Params::seeded(0), config)?;
//! let logits = gpt.forward(&array![[1_usize, 2, 3]])?; // (batch, seq) token ids
//! assert_eq!(logits.shape(), &[1, 3, 10]);           // (batch, seq, vocab_size)
//! # Ok::<(), attention::Error>(())
//! ```

pub mod attention;
pub mod block;
pub mod data;
pub mod gqa;
pub mod mlp;
pub mod model;
pub mod rope;
pub mod sample;
pub mod train;

pub use crate::nn::{gelu, gelu_backward};
pub use attention::{CausalSelfAttention, KvCache};
pub use block::Block;
pub use data::{CharDataset, CharTokenizer, Split, get_batch};
pub use gqa::{grouped_query_attention, kv_cache_bytes};
pub use mlp::Mlp;
pub use model::{Gpt, GptCache, GptConfig};
pub use rope::rope;
pub use sample::{Decoding, generate, next_token_probabilities};
pub use train::{GptTrainConfig, GptTrainer};
