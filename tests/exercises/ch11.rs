//! Chapter 11 checks, context-aware embeddings: an encoder-only model (`src/exercises/ch11.rs`):
//! one per exercise, named like the learner's function it checks.
//!
//! Expected values are worked by hand in the comments (GELU's from the standard normal
//! table, Φ); the diagnoses recompute the known mistakes only to name them, never to decide.

use std::collections::HashSet;

use attention::ndarray::{Array1, Array2, Axis, array, s};

use super::helpers::{Check, call, close, diagnosed, f32_input, matches, same_value};

/// The check of `ch11_gelu`.
pub fn gelu(f: impl Fn(&Array1<f32>) -> Array1<f32>) -> Check {
    let next = "GELU(x) = x·Φ(x), Φ the standard normal's CDF = ½(1 + erf(x/√2)): element by \
                element `v * 0.5 * (1.0 + libm::erff(v / std::f32::consts::SQRT_2))`. At x = 0 \
                it is 0, at x = 1 it is 0.8413, at x = −1 it is −0.1587 (not 0: GELU is not \
                ReLU).";
    // GELU(x) = x·Φ(x), Φ(−x) = 1 − Φ(x); from the normal table Φ(0.5) = 0.691462,
    // Φ(1) = 0.841345, Φ(2.5) = 0.993790, Φ(3) = 0.998650, Φ(6) = 1 − 1e-9:
    //   −3·0.001350 = −0.004050, −2.5·0.006210 = −0.015524, −1·0.158655, −0.5·0.308538 =
    //   −0.154269, 0, 0.5·0.691462 = 0.345731, 0.841345, 2.5·0.993790 = 2.484475,
    //   3·0.998650 = 2.995950, 6.
    // GPT-2's tanh approximation is off by 4.4e-4 at ±2.5 and 4.1e-4 at ±3 (its largest
    // errors, near |x| ≈ 2.7), four times the tolerance 1e-4: the check tells them apart.
    let x = array![-3.0_f32, -2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5, 3.0, 6.0];
    let expected = array![
        -0.004_050_f32,
        -0.015_524,
        -0.158_655,
        -0.154_269,
        0.0,
        0.345_731,
        0.841_345,
        2.484_475,
        2.995_95,
        6.0
    ];
    let case = format!("case: values from −3 to 6\n{}", f32_input("x", &x));
    let actual = call(&case, || f(&x))?;
    diagnosed(close("GELU(x)", &case, &expected, &actual, next), || {
        gelu_diagnosis(&x, &actual)
    })
}

/// Which known variant of GELU `actual` is, recomputed only to name it.
fn gelu_diagnosis(x: &Array1<f32>, actual: &Array1<f32>) -> Vec<String> {
    let c = (2.0 / std::f32::consts::PI).sqrt();
    let tanh = x.mapv(|v| 0.5 * v * (1.0 + (c * (v + 0.044_715 * v * v * v)).tanh()));
    let no_sqrt2 = x.mapv(|v| v * 0.5 * (1.0 + libm::erff(v)));
    let relu = x.mapv(|v| v.max(0.0));
    let mut found = Vec::new();
    if matches(&tanh, actual) {
        found.push(
            "your values are GPT-2's tanh approximation 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))): \
             BERT uses the exact form with erf (the two differ by up to 5e-4)"
                .to_string(),
        );
    }
    if matches(&no_sqrt2, actual) {
        found.push("your values are x·½(1 + erf(x)): divide x by √2 inside erf".to_string());
    }
    if matches(&relu, actual) {
        found.push(
            "your values are ReLU's, max(0, x): GELU lets a little through below 0".to_string(),
        );
    }
    found
}

/// The check of `ch11_mean_pool`.
pub fn mean_pool(f: impl Fn(&Array2<f32>, usize) -> Array1<f32>) -> Check {
    let next = "only the first `length` rows are real tokens: add them up \
                (`hidden.slice(s![..length, ..]).sum_axis(Axis(0))`) and divide by `length`; \
                the padding rows must not count, neither in the sum nor in the divisor.";
    let cases = [
        // Rows (1, 2) and (3, 6) are real: ((1 + 3)/2, (2 + 6)/2) = (2, 4); the padding rows
        // (50, −40) and (9, 9) would move the mean far.
        (
            "two real tokens, two of padding",
            array![[1.0_f32, 2.0], [3.0, 6.0], [50.0, -40.0], [9.0, 9.0]],
            2,
            array![2.0_f32, 4.0],
        ),
        // No padding: ((1 + 2 + 0)/3, (0 + 4 + 2)/3, (2 − 1 + 5)/3) = (1, 2, 2).
        (
            "three real tokens, no padding",
            array![[1.0, 0.0, 2.0], [2.0, 4.0, -1.0], [0.0, 2.0, 5.0]],
            3,
            array![1.0, 2.0, 2.0],
        ),
        // One real token: its own vector.
        (
            "one real token, four of padding",
            array![
                [0.5, -1.0, 3.0],
                [7.0, 7.0, 7.0],
                [-2.0, 8.0, 1.0],
                [4.0, 0.0, -6.0],
                [1.0, 1.0, 1.0]
            ],
            1,
            array![0.5, -1.0, 3.0],
        ),
    ];
    for (what, hidden, length, expected) in cases {
        let case = format!(
            "case: {what}, length = {length}\n{}",
            f32_input("hidden", &hidden)
        );
        let actual = call(&case, || f(&hidden, length))?;
        diagnosed(
            close("sentence vector", &case, &expected, &actual, next),
            || mean_pool_diagnosis(&hidden, length, &actual),
        )?;
    }
    Ok(())
}

/// Which known slip `actual` is, recomputed only to name it.
fn mean_pool_diagnosis(hidden: &Array2<f32>, length: usize, actual: &Array1<f32>) -> Vec<String> {
    let seq = hidden.nrows();
    let real_sum = hidden.slice(s![..length, ..]).sum_axis(Axis(0));
    let mut found = Vec::new();
    if length < seq && matches(&(hidden.sum_axis(Axis(0)) / seq as f32), actual) {
        found.push(format!(
            "your vector is the mean of all {seq} rows: the last {} are padding, leave them out",
            seq - length
        ));
    }
    if length < seq && matches(&(&real_sum / seq as f32), actual) {
        found.push(format!(
            "your vector is the sum of the real rows divided by seq = {seq}: divide by \
             length = {length}"
        ));
    }
    if length > 1 && matches(&real_sum, actual) {
        found.push(format!(
            "your vector is the sum of the real rows: divide it by length = {length}"
        ));
    }
    found
}

/// The check of `ch11_word_pieces`.
pub fn word_pieces(f: impl Fn(&str, &HashSet<String>) -> Vec<String>) -> Check {
    let next = "from the start of the word, try the longest piece first (end = the word's \
                length, then one char shorter, …) until one is in the vocabulary; every piece \
                after the first is looked up, and returned, with \"##\" in front; if no piece \
                fits at some point, return [\"[UNK]\"] alone. Index a Vec<char>, not the \
                string's bytes.";
    // Both "un" and "u" + "##n" are in the vocabulary, "##aff" and "##a" + "##ff", "##able"
    // and "##a" + "##ble", "able" and "a" + "##ble": the longest match and the shortest give
    // different splits. "aff" and "ff" have no entry without "##".
    let words = [
        "u", "un", "##n", "##aff", "##a", "##ff", "##able", "##ble", "able", "a", "caf", "ca",
        "##é", "##s",
    ];
    let vocab: HashSet<String> = words.iter().map(|w| w.to_string()).collect();
    let cases: [(&str, &[&str]); 5] = [
        // "un" (no "unaffable" … "una"), then "##aff" (no "##affable" … "##affa"), "##able".
        ("unaffable", &["un", "##aff", "##able"]),
        // In the vocabulary as a whole: one piece, itself.
        ("able", &["able"]),
        // "un", "##a", then nothing fits "fx": the whole word is unknown.
        ("unafx", &["[UNK]"]),
        // No piece at all starts with 'x'.
        ("xyz", &["[UNK]"]),
        // Non-ASCII: 'é' is two bytes but one char; "caf", "##é", "##s".
        ("cafés", &["caf", "##é", "##s"]),
    ];
    for (word, expected) in cases {
        let case = format!("case: word = {word:?}, vocab = {words:?}");
        let actual = call(&case, || f(word, &vocab))?;
        let expected: Vec<String> = expected.iter().map(|p| p.to_string()).collect();
        diagnosed(
            same_value("pieces", &case, expected, actual.clone(), next),
            || word_pieces_diagnosis(&actual),
        )?;
    }
    Ok(())
}

/// What is visibly off in a split, to name it.
fn word_pieces_diagnosis(actual: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    if actual.len() > 1 && actual.iter().any(|p| p == "[UNK]") {
        found.push(
            "your split mixes pieces and \"[UNK]\": when a piece does not fit, the whole word \
             is [\"[UNK]\"], the pieces found so far are dropped"
                .to_string(),
        );
    }
    if actual
        .iter()
        .skip(1)
        .any(|p| p != "[UNK]" && !p.starts_with("##"))
    {
        found.push(
            "a piece after the first lacks \"##\": continuations are looked up, and returned, \
             as \"##piece\""
                .to_string(),
        );
    }
    found
}

/// The check of `ch11_cosine_matrix`.
pub fn cosine_matrix(f: impl Fn(&Array2<f32>) -> Array2<f32>) -> Check {
    let next = "entry (i, j) is xᵢ·xⱼ / (‖xᵢ‖ ‖xⱼ‖), ‖xᵢ‖ = √(xᵢ·xᵢ) the norm of *row* i: \
                divide every row by its norm, then multiply by the transpose. The diagonal is \
                1 (a vector is fully similar to itself).";
    let cases = [
        // Norms 5, 1, 2. (0, 1): 3/(5·1) = 0.6; (0, 2): −8/(5·2) = −0.8; (1, 2): 0/2 = 0.
        (
            "three vectors of two numbers",
            array![[3.0_f32, 4.0], [1.0, 0.0], [0.0, -2.0]],
            array![[1.0_f32, 0.6, -0.8], [0.6, 1.0, 0.0], [-0.8, 0.0, 1.0]],
        ),
        // Row 1 = 2 · row 0 (norms 3 and 6): cosine 1; row 2 (norm √5) is orthogonal to both
        // (1·2 + 2·(−1) + 2·0 = 0).
        (
            "a vector, twice it, and one orthogonal to both",
            array![[1.0, 2.0, 2.0], [2.0, 4.0, 4.0], [2.0, -1.0, 0.0]],
            array![[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        ),
        // Norms 4 and 2, dot 2 + 2 + 2 − 2 = 4: 4/(4·2) = 0.5.
        (
            "two vectors of four numbers, different lengths",
            array![[2.0, 2.0, 2.0, 2.0], [1.0, 1.0, 1.0, -1.0]],
            array![[1.0, 0.5], [0.5, 1.0]],
        ),
    ];
    for (what, x, expected) in cases {
        let case = format!("case: {what}\n{}", f32_input("x", &x));
        let actual = call(&case, || f(&x))?;
        diagnosed(
            close("cosine similarities", &case, &expected, &actual, next),
            || cosine_diagnosis(&actual),
        )?;
    }
    Ok(())
}

/// A diagonal that is not 1 says the rows were not (or wrongly) normalised.
fn cosine_diagnosis(actual: &Array2<f32>) -> Vec<String> {
    let diagonal = actual.diag().to_owned();
    let ones = Array1::ones(diagonal.len());
    if !actual.is_square() || matches(&ones, &diagonal) {
        return Vec::new();
    }
    vec![format!(
        "your diagonal is {diagonal:.4}, not all 1: the cosine of a vector with itself is 1. \
         Divide by the norms of the rows, ‖xᵢ‖ ‖xⱼ‖, not by anything else"
    )]
}
