//! The book's chapters, compiled and run as doctests by `cargo test`.
//!
//! Each chapter's ```` ```rust ```` blocks run as doctests; blocks that contain an mdBook
//! `{{#include}}` are marked `ignore` in the chapter (the included code is compiled as part of
//! the crate itself).
