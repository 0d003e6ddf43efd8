//! Exercises: rebuild each chapter's key pieces yourself, checked by `cargo test`.
//!
//! One file per chapter, `src/exercises/ch01.rs` … `ch08.rs`. Each exercise is a function
//! whose body is `todo!()`; its doc comment states the task, the shapes and the book section
//! to re-read. Replace the `todo!()` (and the `// TODO` above it), then check your answer:
//!
//! ```sh
//! cargo exercise ch03_scaled_scores   # one exercise
//! cargo exercise ch03                 # one chapter
//! cargo exercise                      # all of them
//! cargo xtask exercises               # progress, the next exercise and its first hint
//! cargo xtask exercises --hint 8      # every hint of exercise 8 (number or id)
//! ```
//!
//! (`cargo exercise` is an alias, in `.cargo/config.toml`, for
//! `cargo test --features exercises --test exercises --`.) The checks live in
//! `tests/exercises/checks.rs`; you never edit them. They compare your function with
//! hand-derived small cases and with the PyTorch fixtures in `tests/fixtures/`, and on failure
//! print the input, the expected and your actual result, and a hint. All hints are in
//! `src/exercises/hints.json`; reference solutions, with the mistakes the checks catch, are in
//! `solutions/` at the repository root (no peeking until you have tried the hints).
//!
//! | # | id | chapter |
//! |---|---|---|
//! | 1–3 | `ch01_embedding_lookup`, `ch01_cosine_similarity`, `ch01_most_similar` | 1 Word embeddings |
//! | 4–6 | `ch02_pe_entry`, `ch02_sinusoidal_table`, `ch02_embed_with_positions` | 2 Positional encoding |
//! | 7–10 | `ch03_project_qkv`, `ch03_scaled_scores`, `ch03_softmax_rows`, `ch03_attention` | 3 Self-attention |
//! | 11–13 | `ch04_causal_mask`, `ch04_apply_mask`, `ch04_masked_attention` | 4 Masked self-attention |
//! | 14–16 | `ch05_cross_attention_shapes`, `ch05_cross_attention`, `ch05_source_padding_mask` | 5 Cross-attention |
//! | 17–19 | `ch06_split_heads`, `ch06_merge_heads`, `ch06_multi_head_attention` | 6 Multi-head attention |
//! | 20–23 | `ch07_layer_norm`, `ch07_encoder_layer`, `ch07_decoder_layer`, `ch07_greedy_step` | 7 The Transformer |
//! | 24–25 | `ch08_online_softmax_step`, `ch08_merge_partial_softmax` | 8 Making attention fast |
//!
//! With the `solutions` feature the stubs are swapped for the reference solutions (CI uses
//! this to prove every check passes with them, and fails with each known mistake).

#[cfg_attr(feature = "solutions", path = "../../solutions/ch01.rs")]
pub mod ch01;
#[cfg_attr(feature = "solutions", path = "../../solutions/ch02.rs")]
pub mod ch02;
#[cfg_attr(feature = "solutions", path = "../../solutions/ch03.rs")]
pub mod ch03;
#[cfg_attr(feature = "solutions", path = "../../solutions/ch04.rs")]
pub mod ch04;
#[cfg_attr(feature = "solutions", path = "../../solutions/ch05.rs")]
pub mod ch05;
#[cfg_attr(feature = "solutions", path = "../../solutions/ch06.rs")]
pub mod ch06;
#[cfg_attr(feature = "solutions", path = "../../solutions/ch07.rs")]
pub mod ch07;
#[cfg_attr(feature = "solutions", path = "../../solutions/ch08.rs")]
pub mod ch08;

/// The shapes of every intermediate of one cross-attention head (exercise
/// `ch05_cross_attention_shapes`), each as `(rows, columns)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrossShapes {
    /// Q, projected from the decoder states.
    pub queries: (usize, usize),
    /// K, projected from the encoder output.
    pub keys: (usize, usize),
    /// V, projected from the encoder output.
    pub values: (usize, usize),
    /// The attention weights softmax(Q·Kᵀ/√d_k).
    pub weights: (usize, usize),
    /// The output, weights · V.
    pub output: (usize, usize),
}
