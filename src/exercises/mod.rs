//! Exercises: rebuild each chapter's key pieces yourself, checked by `cargo test`.
//!
//! One file per chapter, `src/exercises/ch01.rs` … `ch11.rs`. Each exercise is a function
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
//! `tests/exercises/ch01.rs` … `ch11.rs`; you never edit them. They compare your function with
//! hand-derived small cases, with the PyTorch fixtures in `tests/fixtures/` (in chapter 9 the
//! gradients of PyTorch's autograd and the steps of `torch.optim`) and, where no fixture fits,
//! with finite differences; on failure they print the input, the expected and your actual
//! result, and a hint. Reference solutions, with the mistakes the checks catch, are in
//! `solutions/` at the repository root (no peeking until you have tried the hints).
//!
//! The list of the exercises, with their numbers, ids, titles, book sections, hints and known
//! mistakes, is the manifest `src/exercises/exercises.toml`; `cargo xtask exercises` prints it
//! with your progress.
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
#[cfg_attr(feature = "solutions", path = "../../solutions/ch09.rs")]
pub mod ch09;
#[cfg_attr(feature = "solutions", path = "../../solutions/ch10.rs")]
pub mod ch10;
#[cfg_attr(feature = "solutions", path = "../../solutions/ch11.rs")]
pub mod ch11;

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

/// Adam's settings for exercise `ch09_adam_step`, named as in `torch.optim.Adam(lr, betas=(beta1,
/// beta2), eps)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    /// The learning rate γ.
    pub lr: f32,
    /// β₁, the decay of the first moment m (PyTorch's default 0.9).
    pub beta1: f32,
    /// β₂, the decay of the second moment v (PyTorch's default 0.999).
    pub beta2: f32,
    /// ε, added to √v̂ so that a zero gradient divides by something (default 1e-8).
    pub eps: f32,
}
