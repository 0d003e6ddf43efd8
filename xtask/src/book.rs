//! `cargo xtask book`: generate the book's numbers and figures, build and check the book.
//! (Issue 4.)

/// `cargo xtask book [ARGS]`.
pub fn main(_args: &[String]) -> Result<(), String> {
    Err("the book is not built yet".into())
}

/// The book stage of `cargo xtask test`.
pub fn check() -> Result<(), String> {
    Ok(())
}
