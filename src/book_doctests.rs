//! The book's chapters, compiled and run as doctests by `cargo test`.
//!
//! Each chapter's ```` ```rust ```` blocks run as doctests; blocks that contain an mdBook
//! `{{#include}}` are marked `ignore` in the chapter (the included code is compiled as part of
//! the crate itself). The worked numbers the chapters print are checked separately, by
//! `cargo xtask book --check`.

/// Introduction.
#[doc = include_str!("../chapters/00-introduction.md")]
pub struct Introduction;

/// Chapter 1.
#[doc = include_str!("../chapters/01-embeddings.md")]
pub struct Chapter01;

/// Chapter 2.
#[doc = include_str!("../chapters/02-positional-encoding.md")]
pub struct Chapter02;

/// Chapter 3.
#[doc = include_str!("../chapters/03-self-attention.md")]
pub struct Chapter03;

/// Chapter 4.
#[doc = include_str!("../chapters/04-masked-attention.md")]
pub struct Chapter04;

/// Chapter 5.
#[doc = include_str!("../chapters/05-cross-attention.md")]
pub struct Chapter05;

/// Chapter 6.
#[doc = include_str!("../chapters/06-multi-head-attention.md")]
pub struct Chapter06;

/// Chapter 7.
#[doc = include_str!("../chapters/07-transformer.md")]
pub struct Chapter07;

/// Chapter 8.
#[doc = include_str!("../chapters/08-making-attention-fast.md")]
pub struct Chapter08;

/// Appendix.
#[doc = include_str!("../chapters/appendix.md")]
pub struct Appendix;
