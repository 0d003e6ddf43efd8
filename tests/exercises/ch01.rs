//! Chapter 1 checks, word embeddings (`src/exercises/ch01.rs`): one per exercise, named like the
//! learner's function it checks.

use attention::ndarray::{Array1, Array2, Array3, Ix2, array};

use super::helpers::{Check, call, close, f32_input, fixture_case, same, same_value};
use crate::common::fixture;

/// The check of `ch01_embedding_lookup`.
pub fn embedding_lookup(f: impl Fn(&Array2<f32>, &[usize]) -> Array2<f32>) -> Check {
    let next = "row `id` of `weight` is the vector of token `id`: select rows (Axis(0)), in \
                the order of `ids`, repeats included.";
    let weight = array![[0.1_f32, 0.2, 0.3], [1.0, 2.0, 3.0], [-1.0, 0.0, 1.0]];
    let ids = [2, 0, 2];
    // Rows 2, 0, 2 of the table, in that order.
    let expected = array![[-1.0_f32, 0.0, 1.0], [0.1, 0.2, 0.3], [-1.0, 0.0, 1.0]];
    let case = format!(
        "case: a 3-token table\n{}  ids = {ids:?}",
        f32_input("weight", &weight)
    );
    let actual = call(&case, || f(&weight, &ids))?;
    close("embeddings", &case, &expected, &actual, next)?;

    let fx = fixture("embedding");
    let weight = fx
        .tensors
        .get("weight")
        .unwrap()
        .clone()
        .into_dimensionality::<Ix2>()
        .unwrap();
    let ids = fx.ids("ids");
    let embedded: Array3<f32> = fx.output("embedded");
    for (b, row) in ids.outer_iter().enumerate() {
        let ids_b = row.to_vec();
        let case = fixture_case("embedding", &format!("nn.Embedding(10, 4), ids {ids_b:?}"));
        let actual = call(&case, || f(&weight, &ids_b))?;
        let expected = embedded
            .index_axis(attention::ndarray::Axis(0), b)
            .to_owned();
        close("embeddings", &case, &expected, &actual, next)?;
    }
    Ok(())
}

/// The check of `ch01_cosine_similarity`.
pub fn cosine_similarity(f: impl Fn(&Array1<f32>, &Array1<f32>) -> f32) -> Check {
    let cases: [(Array1<f32>, Array1<f32>, f32, &str); 5] = [
        // (1, 0)·(2, 0) = 2, lengths 1 and 2: 2 / 2 = 1.
        (
            array![1.0, 0.0],
            array![2.0, 0.0],
            1.0,
            "same direction, different lengths: 1",
        ),
        // 1·2 + 2·(−1) = 0.
        (
            array![1.0, 2.0],
            array![2.0, -1.0],
            0.0,
            "orthogonal vectors: 0",
        ),
        // (1, 1)·(−1, −1) = −2, lengths √2 and √2: −2 / 2 = −1.
        (
            array![1.0, 1.0],
            array![-1.0, -1.0],
            -1.0,
            "opposite directions: −1",
        ),
        // 3·4 + 4·3 = 24, both lengths 5: 24 / 25 = 0.96.
        (
            array![3.0, 4.0],
            array![4.0, 3.0],
            0.96,
            "a·b = 24, ‖a‖ = ‖b‖ = 5",
        ),
        // A zero vector has no direction: defined as 0, never NaN.
        (
            array![0.0, 0.0],
            array![1.0, 2.0],
            0.0,
            "a zero vector: 0, not NaN",
        ),
    ];
    for (a, b, expected, why) in cases {
        let case = format!("case: {why}\n  a = {a}\n  b = {b}");
        let actual = call(&case, || f(&a, &b))?;
        if !same(actual, expected) {
            return Err(format!(
                "{case}\nexpected {expected:.4}, got {actual:.4}.\n\ncheck next: divide the dot \
                 product a·b by ‖a‖·‖b‖ (‖a‖ = √(a·a)), and return 0.0 when either length is 0."
            ));
        }
    }
    Ok(())
}

/// The check of `ch01_most_similar`.
pub fn most_similar(f: impl Fn(&Array2<f32>, usize) -> usize) -> Check {
    let next = "skip the query itself, compare by cosine similarity (not the raw dot product, \
                which favours long vectors), keep the index of the largest.";
    // A short vector pointing the same way beats a long one pointing elsewhere:
    // cos((1, 0), (10, 10)) = 10 / (1·14.142) = 0.7071, cos((1, 0), (1, 0.1)) = 1 / 1.00499
    // = 0.9950 → row 2 (the dot products, 10 and 1, would pick row 1).
    let vectors = array![[1.0_f32, 0.0], [10.0, 10.0], [1.0, 0.1]];
    let case = format!(
        "case: one long and one short vector\n{}  query = 0",
        f32_input("vectors", &vectors)
    );
    let actual = call(&case, || f(&vectors, 0))?;
    same_value("most similar row", &case, 2, actual, next)?;

    // The chapter's toy words (attention::worked::toy_embeddings):
    // pizza (2.0, 0.3) · tasted (1.8, −0.2) = 3.54, lengths 2.0224 and 1.8111 → 0.9665;
    // pizza · oven (1.6, 0.8) = 3.44, lengths 2.0224 and 1.7889 → 0.9508; so pizza → tasted.
    let words = ["pizza", "oven", "tasted", "cat", "dog", "mat", "log"];
    let vectors = array![
        [2.0_f32, 0.3],
        [1.6, 0.8],
        [1.8, -0.2],
        [-0.4, 2.0],
        [-0.6, 1.8],
        [-1.5, -1.2],
        [-1.7, -0.9],
    ];
    let nearest = [2, 0, 0, 4, 3, 6, 5]; // tasted, pizza, pizza, dog, cat, log, mat
    for (query, &expected) in nearest.iter().enumerate() {
        let case = format!(
            "case: the toy words {words:?}\n{}  query = {query} ({})",
            f32_input("vectors", &vectors),
            words[query]
        );
        let actual = call(&case, || f(&vectors, query))?;
        same_value("most similar row", &case, expected, actual, next)?;
    }
    Ok(())
}
