//! Chapter 1 exercises — word embeddings. Book: chapter 1; code: [`crate::embedding`].
//!
//! Check them with `cargo exercise ch01`.

use ndarray::{Array1, Array2};

/// Exercise `ch01_embedding_lookup` — look up the embedding of each token id.
///
/// `weight` is an embedding table `(vocab_size, d_model)`: row `id` is the vector of token
/// `id` (PyTorch's `nn.Embedding` layout). Return the vectors of `ids`, in order:
/// `(seq) → (seq, d_model)`.
///
/// Re-read: chapter 1, section "The embedding table".
#[allow(unused_variables)]
pub fn embedding_lookup(weight: &Array2<f32>, ids: &[usize]) -> Array2<f32> {
    // TODO: one row of `weight` per id.
    todo!()
}

/// Exercise `ch01_cosine_similarity` — cosine similarity of two vectors.
///
/// cos(a, b) = a·b / (‖a‖ ‖b‖), in [−1, 1]: 1 = same direction, 0 = orthogonal,
/// −1 = opposite. `a` and `b` have the same length `(d)`. If either vector is all zeros the
/// direction is undefined: return 0.0 (never NaN).
///
/// Re-read: chapter 1, section "Cosine similarity".
#[allow(unused_variables)]
pub fn cosine_similarity(a: &Array1<f32>, b: &Array1<f32>) -> f32 {
    // TODO: dot product divided by the product of the two lengths.
    todo!()
}

/// Exercise `ch01_most_similar` — the nearest neighbour of a word.
///
/// `vectors` is `(n, d)`, one word vector per row. Return the index of the row, **other than
/// `query` itself**, with the highest cosine similarity to row `query` (the first one on
/// ties).
///
/// Re-read: chapter 1, section "Similar words".
#[allow(unused_variables)]
pub fn most_similar(vectors: &Array2<f32>, query: usize) -> usize {
    // TODO: compare row `query` with every other row (your `cosine_similarity` helps).
    todo!()
}
