//! Chapter 10 checks, decoder-only: a GPT (`src/exercises/ch10.rs`): one per exercise, named
//! like the learner's function it checks.

use attention::ndarray::{Array1, Array2, array};

use super::helpers::{Check, call, close, same_value};

/// The check of `ch10_next_token_pairs`.
pub fn next_token_pairs(f: impl Fn(&[usize], usize, usize) -> (Vec<usize>, Vec<usize>)) -> Check {
    let next = "x = ids[start .. start + block_size]; y is the same window one token later, \
                ids[start + 1 .. start + block_size + 1]: at every position the target is the \
                token that follows.";
    let ids = [5, 1, 4, 1, 5, 9, 2, 6];
    for (start, block, x, y) in [
        (2, 3, vec![4, 1, 5], vec![1, 5, 9]),
        (0, 4, vec![5, 1, 4, 1], vec![1, 4, 1, 5]),
        (6, 1, vec![2], vec![6]),
    ] {
        let case = format!("case: ids = {ids:?}, start = {start}, block_size = {block}");
        let actual = call(&case, || f(&ids, start, block))?;
        same_value("(x, y)", &case, (x, y), actual, next)?;
    }
    Ok(())
}

/// The check of `ch10_temperature_softmax`.
pub fn temperature_softmax(f: impl Fn(&Array1<f32>, f32) -> Array1<f32>) -> Check {
    let next = "divide the logits by T, subtract their maximum, exponentiate, divide by the \
                sum. T = ½ squares the probabilities (then renormalise), T = 2 takes their \
                square roots.";
    let logits = array![0.5_f32, 0.3, 0.2].mapv(f32::ln); // softmax gives (0.5, 0.3, 0.2)
    // T = ½: (0.25, 0.09, 0.04) / 0.38; T = 2: (√0.5, √0.3, √0.2) / 1.702044.
    // [1000, 999, 998]: softmax of (2, 1, 0) = (e², e, 1) / (e² + e + 1).
    let cases = [
        (logits.clone(), 1.0, array![0.5_f32, 0.3, 0.2]),
        (logits.clone(), 0.5, array![0.657_895, 0.236_842, 0.105_263]),
        (logits, 2.0, array![0.415_446, 0.321_803, 0.262_751]),
        (
            array![1000.0, 999.0, 998.0],
            1.0,
            array![0.665_241, 0.244_728, 0.090_031],
        ),
    ];
    for (logits, t, expected) in cases {
        let case = format!("case: logits = {logits:.4}, temperature = {t}");
        let actual = call(&case, || f(&logits, t))?;
        close("probabilities", &case, &expected, &actual, next)?;
    }
    Ok(())
}

/// The check of `ch10_top_p_filter`.
pub fn top_p_filter(f: impl Fn(&Array1<f32>, f32) -> Array1<f32>) -> Check {
    let next = "sort the token indices by probability, largest first; keep adding tokens until \
                the kept sum is at least p (the token that gets you there is kept); zero the \
                rest; divide the kept ones by their sum.";
    let cases = [
        // 0.4 (token 1) < 0.6, 0.4 + 0.3 (token 3) ≥ 0.6: keep {1, 3}, renormalise by 0.7.
        (
            array![0.1_f32, 0.4, 0.2, 0.3],
            0.6,
            array![0.0_f32, 0.571_429, 0.0, 0.428_571],
        ),
        (array![0.1, 0.4, 0.2, 0.3], 1.0, array![0.1, 0.4, 0.2, 0.3]),
        (array![0.1, 0.4, 0.2, 0.3], 0.3, array![0.0, 1.0, 0.0, 0.0]),
        // ties: the lower index first; 0.25 + 0.25 reaches 0.5 exactly.
        (
            array![0.25, 0.25, 0.25, 0.25],
            0.5,
            array![0.5, 0.5, 0.0, 0.0],
        ),
    ];
    for (probs, p, expected) in cases {
        let case = format!("case: probs = {probs:.4}, top_p = {p}");
        let actual = call(&case, || f(&probs, p))?;
        close("filtered probabilities", &case, &expected, &actual, next)?;
    }
    Ok(())
}

/// Causal attention of every row of `q` over the rows of `k` and `v` up to its own, written
/// out with loops: what a cache must reproduce one token at a time.
fn causal_attention(q: &Array2<f32>, k: &Array2<f32>, v: &Array2<f32>) -> Array2<f32> {
    let (n, hs) = q.dim();
    let mut out = Array2::zeros((n, hs));
    for i in 0..n {
        let scores: Vec<f32> = (0..=i)
            .map(|j| q.row(i).dot(&k.row(j)) / (hs as f32).sqrt())
            .collect();
        let max = scores.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
        let weights: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
        let sum: f32 = weights.iter().sum();
        for j in 0..=i {
            for c in 0..hs {
                out[[i, c]] += weights[j] / sum * v[[j, c]];
            }
        }
    }
    out
}

/// The check of `ch10_attend_with_cache`.
#[allow(clippy::type_complexity)]
pub fn attend_with_cache(
    f: impl Fn(
        &Array1<f32>,
        &Array1<f32>,
        &Array1<f32>,
        &mut Vec<Array1<f32>>,
        &mut Vec<Array1<f32>>,
    ) -> Array1<f32>,
) -> Check {
    let next = "push k and v onto the cache first (the new token attends to itself too), then \
                scores q·kᵢ/√hs for every cached key, a stable softmax, and Σ weightᵢ · vᵢ.";
    // Three steps, hs = 2. Step 1: one key, the output is its value (1, 2).
    // Step 2: scores (0, 2/√2) → weights (0.195565, 0.804435) → (2.608859, −0.413289).
    // Step 3: scores (1/√2, 1/√2, 0) → weights (0.401116, 0.401116, 0.197774).
    let steps = [
        (
            array![1.0_f32, 0.0],
            array![1.0_f32, 0.0],
            array![1.0_f32, 2.0],
            array![1.0_f32, 2.0],
        ),
        (
            array![0.0, 2.0],
            array![0.0, 1.0],
            array![3.0, -1.0],
            array![2.608_859, -0.413_289],
        ),
        (
            array![1.0, 1.0],
            array![1.0, -1.0],
            array![0.0, 4.0],
            array![1.604_448, 1.192_215],
        ),
    ];
    let (mut keys, mut values) = (Vec::new(), Vec::new());
    for (i, (q, k, v, expected)) in steps.into_iter().enumerate() {
        let case = format!(
            "case: step {} of three, cache of {} rows before it, q = {q}, k = {k}, v = {v}",
            i + 1,
            keys.len()
        );
        let out = call(&case, || f(&q, &k, &v, &mut keys, &mut values))?;
        close("output", &case, &expected, &out, next)?;
        same_value(
            "cached rows after the step",
            &case,
            i + 1,
            keys.len().min(values.len()),
            next,
        )?;
    }
    // Eight tokens, hs = 4, one at a time: row t must equal causal attention's row t.
    let (n, hs) = (8, 4);
    let cell = |i: usize, c: usize, s: f32| ((i * 7 + c * 3) as f32 * s).sin();
    let q = Array2::from_shape_fn((n, hs), |(i, c)| cell(i, c, 0.9));
    let k = Array2::from_shape_fn((n, hs), |(i, c)| cell(i, c, 1.3));
    let v = Array2::from_shape_fn((n, hs), |(i, c)| cell(i, c, 0.4) * 2.0);
    let expected = causal_attention(&q, &k, &v);
    let (mut keys, mut values) = (Vec::new(), Vec::new());
    for t in 0..n {
        let case = format!("case: eight tokens of head size 4 fed one at a time, token {t}");
        let out = call(&case, || {
            f(
                &q.row(t).to_owned(),
                &k.row(t).to_owned(),
                &v.row(t).to_owned(),
                &mut keys,
                &mut values,
            )
        })?;
        close("output", &case, &expected.row(t).to_owned(), &out, next)?;
    }
    Ok(())
}
