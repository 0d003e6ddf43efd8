//! Chapter 11 — an encoder-only model with real pretrained weights: BERT, as
//! sentence-transformers' all-MiniLM-L6-v2.
//!
//! - [`files`]: where `cargo xtask setup` put the model's files;
//! - [`tokenizer`]: BERT's WordPiece tokenizer (text → subword ids).

pub mod files;
pub mod tokenizer;

pub use files::ModelFiles;
