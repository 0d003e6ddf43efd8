//! Reference solutions — chapter 1, word embeddings (swapped in by the `solutions` feature).
//!
//! [`wrong`] holds realistic mistakes; the exercise checks must reject every one of them.

use ndarray::{Array1, Array2, Axis};

/// `ch01_embedding_lookup`: one row of the table per id.
pub fn embedding_lookup(weight: &Array2<f32>, ids: &[usize]) -> Array2<f32> {
    // `select` copies the chosen rows (Axis(0)) in the order given: (seq, d_model).
    weight.select(Axis(0), ids)
}

/// `ch01_cosine_similarity`: a·b / (‖a‖ ‖b‖), 0 for a zero vector.
pub fn cosine_similarity(a: &Array1<f32>, b: &Array1<f32>) -> f32 {
    let norms = a.dot(a).sqrt() * b.dot(b).sqrt();
    if norms == 0.0 {
        return 0.0; // no direction: define the similarity as 0 rather than 0/0 = NaN
    }
    a.dot(b) / norms
}

/// `ch01_most_similar`: the other row with the highest cosine similarity (first on ties).
pub fn most_similar(vectors: &Array2<f32>, query: usize) -> usize {
    let q = vectors.row(query).to_owned();
    let mut best = (usize::MAX, f32::NEG_INFINITY);
    for (i, row) in vectors.outer_iter().enumerate() {
        if i == query {
            continue; // a word is always most similar to itself
        }
        let similarity = cosine_similarity(&q, &row.to_owned());
        if similarity > best.1 {
            best = (i, similarity);
        }
    }
    best.0
}

/// Realistic wrong answers, each rejected by its exercise's check.
pub mod wrong {
    use super::*;

    /// `ch01_embedding_lookup`, mistake: looks up columns (Axis(1)) instead of rows.
    pub fn lookup_columns(weight: &Array2<f32>, ids: &[usize]) -> Array2<f32> {
        weight.select(Axis(1), ids).reversed_axes()
    }

    /// `ch01_cosine_similarity`, mistake: the plain dot product, never divided by the lengths.
    pub fn dot_without_norms(a: &Array1<f32>, b: &Array1<f32>) -> f32 {
        a.dot(b)
    }

    /// `ch01_cosine_similarity`, mistake: no special case for a zero vector, so 0/0 = NaN.
    pub fn nan_for_zero_vector(a: &Array1<f32>, b: &Array1<f32>) -> f32 {
        a.dot(b) / (a.dot(a).sqrt() * b.dot(b).sqrt())
    }

    /// `ch01_most_similar`, mistake: forgets to skip the query, so it finds itself.
    pub fn includes_itself(vectors: &Array2<f32>, query: usize) -> usize {
        let q = vectors.row(query).to_owned();
        let mut best = (0, f32::NEG_INFINITY);
        for (i, row) in vectors.outer_iter().enumerate() {
            let similarity = cosine_similarity(&q, &row.to_owned());
            if similarity > best.1 {
                best = (i, similarity);
            }
        }
        best.0
    }

    /// `ch01_most_similar`, mistake: ranks by dot product, which favours long vectors over similar
    /// directions.
    pub fn largest_dot_product(vectors: &Array2<f32>, query: usize) -> usize {
        let q = vectors.row(query);
        let mut best = (usize::MAX, f32::NEG_INFINITY);
        for (i, row) in vectors.outer_iter().enumerate() {
            if i != query && q.dot(&row) > best.1 {
                best = (i, q.dot(&row));
            }
        }
        best.0
    }
}
