//! Chapter 11 exercises — context-aware embeddings: an encoder-only model (BERT,
//! all-MiniLM-L6-v2). Book: chapter 11; code: [`crate::bert`].
//!
//! Check them with `cargo exercise ch11`. Plain Rust and ndarray (and `libm::erff` for erf):
//! don't call the crate's `bert` or GELU functions, the checks would only tell you the crate
//! is right.

use std::collections::HashSet;

use ndarray::{Array1, Array2};

/// Exercise `ch11_gelu` — BERT's activation, the exact GELU.
///
/// `x`: any values `(n)`. Return GELU(x) `(n)`, element by element, in its exact form
/// x · ½ · (1 + erf(x / √2)) (PyTorch's `nn.GELU()`, BERT's `hidden_act = "gelu"`), not
/// GPT-2's tanh approximation. `libm::erff(v)` computes erf(v) in f32.
///
/// Re-read: chapter 11, section "GELU".
#[allow(unused_variables)]
pub fn gelu(x: &Array1<f32>) -> Array1<f32> {
    // TODO: one `mapv` with erf.
    todo!()
}

/// Exercise `ch11_mean_pool` — a sentence vector from its token vectors.
///
/// `hidden`: the last layer's token vectors `(seq, d)` of one sentence padded to `seq`
/// tokens; `length`: how many of them are real tokens (the first `length` rows; the rest is
/// padding, `1 ≤ length ≤ seq`). Return the mean of the real tokens' vectors `(d)`: padding
/// must not count.
///
/// Re-read: chapter 11, section "From token vectors to a sentence vector".
#[allow(unused_variables)]
pub fn mean_pool(hidden: &Array2<f32>, length: usize) -> Array1<f32> {
    // TODO: sum the first `length` rows, divide by `length`.
    todo!()
}

/// Exercise `ch11_word_pieces` — BERT's WordPiece split of one word.
///
/// `word`: one word (no spaces, possibly non-ASCII); `vocab`: the vocabulary, where a piece
/// that continues a word is stored with a `##` prefix (`"##able"`). Greedy longest match
/// first: the first piece is the longest prefix of `word` that is in `vocab`; each next piece
/// is the longest prefix of the rest that is in `vocab` *with* `##` in front, and is returned
/// with it. If at some point no piece matches, the whole word is `["[UNK]"]`. Work on
/// characters, not bytes.
///
/// Re-read: chapter 11, section "Subword tokens: WordPiece".
#[allow(unused_variables)]
pub fn word_pieces(word: &str, vocab: &HashSet<String>) -> Vec<String> {
    // TODO: collect the chars, then a loop that tries the longest end first.
    todo!()
}

/// Exercise `ch11_cosine_matrix` — how alike every pair of sentences is.
///
/// `x`: one sentence vector per row `(n, d)`, not normalised. Return `(n, n)` whose entry
/// (i, j) is the cosine similarity of rows i and j: xᵢ·xⱼ / (‖xᵢ‖ ‖xⱼ‖). No row is zero.
///
/// Re-read: chapter 11, section "Cosine similarity".
#[allow(unused_variables)]
pub fn cosine_matrix(x: &Array2<f32>) -> Array2<f32> {
    // TODO: divide each row by its norm, then a matrix product with the transpose.
    todo!()
}
