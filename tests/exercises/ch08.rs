//! Chapter 8 checks, making attention fast (`src/exercises/ch08.rs`): one per exercise, named like
//! the learner's function it checks.

use attention::fast::OnlineSoftmax;
use attention::ndarray::{Array1, Array2, array, s};

use super::helpers::{Check, TOL, call, close, f32_input, same};

fn show_state(state: &OnlineSoftmax) -> String {
    format!(
        "max = {:.4}, sum = {:.4}, acc = {:.4}",
        state.max, state.sum, state.acc
    )
}

fn state_input(name: &str, state: &OnlineSoftmax) -> String {
    format!("  {name}: {}\n", show_state(state))
}

/// Compares two running-softmax states field by field (max and sum, then acc); on failure
/// explains with the case, both states, the first differing field and what to check next.
fn close_state(
    what: &str,
    case: &str,
    expected: &OnlineSoftmax,
    actual: &OnlineSoftmax,
    next: &str,
) -> Check {
    let header = format!("{case}\n{what}:");
    let both = format!(
        "expected {}\nactual   {}",
        show_state(expected),
        show_state(actual)
    );
    if expected.acc.len() != actual.acc.len() {
        return Err(format!(
            "{header} acc has the wrong size: expected {}, got {}.\n\n{both}\n\ncheck next: {next}",
            expected.acc.len(),
            actual.acc.len()
        ));
    }
    let fields = [
        ("max".to_string(), expected.max, actual.max),
        ("sum".to_string(), expected.sum, actual.sum),
    ];
    let accs = (expected.acc.iter().zip(actual.acc.iter()))
        .enumerate()
        .map(|(i, (&e, &a))| (format!("acc[{i}]"), e, a));
    match fields
        .into_iter()
        .chain(accs)
        .find(|(_, e, a)| !same(*a, *e))
    {
        None => Ok(()),
        Some((field, e, a)) => {
            let nan = if a.is_nan() {
                " (NaN: a 0/0, ∞/∞, 0·∞ or ∞ − ∞ somewhere)"
            } else {
                ""
            };
            Err(format!(
                "{header} wrong {field}: expected {e:.4}, got {a:.4}{nan} (tolerance {TOL:e}).\
                 \n\n{both}\n\ncheck next: {next}"
            ))
        }
    }
}

/// The state over `scores` (one per key, −∞ = masked) and their value rows `(keys, d_v)`,
/// computed the plain way: the maximum of all the scores first, then the two sums.
fn plain_state(scores: &[f32], values: &Array2<f32>) -> OnlineSoftmax {
    let max = scores.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
    let mut state = OnlineSoftmax::new(values.ncols());
    if max == f32::NEG_INFINITY {
        return state; // no key at all, or every key masked
    }
    state.max = max;
    for (&score, value) in scores.iter().zip(values.rows()) {
        let weight = (score - max).exp();
        state.sum += weight;
        state.acc.scaled_add(weight, &value);
    }
    state
}

/// softmax(scores) · values `(d_v)`, the weights normalised first; zeros if all are masked.
fn plain_softmax_output(scores: &[f32], values: &Array2<f32>) -> Array1<f32> {
    let max = scores.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
    let mut output = Array1::zeros(values.ncols());
    if max == f32::NEG_INFINITY {
        return output;
    }
    let exps: Vec<f32> = scores.iter().map(|&s| (s - max).exp()).collect();
    let total: f32 = exps.iter().sum();
    for (e, value) in exps.iter().zip(values.rows()) {
        output.scaled_add(e / total, &value);
    }
    output
}

/// The check of `ch08_online_softmax_step`.
pub fn online_softmax_step(
    f: impl Fn(&OnlineSoftmax, f32, &Array1<f32>) -> OnlineSoftmax,
) -> Check {
    let next = "m' = max(m, score); the old sum and acc are relative to the old maximum, so \
                multiply them by e^(m − m') (≤ 1, not e^(m' − m)), then add e^(score − m') \
                and e^(score − m')·value. For score = −∞ return the state unchanged (before \
                the first key, −∞ − (−∞) is NaN).";
    let state = |max: f32, sum: f32, acc: Array1<f32>| OnlineSoftmax { max, sum, acc };
    let ln3 = 3.0_f32.ln(); // 1.098612
    let inf = f32::NEG_INFINITY;
    let cases = [
        // The first key: m' = max(−∞, 0) = 0, the empty state times e^(−∞ − 0) = 0 stays 0,
        // the key's weight is e^(0 − 0) = 1.
        (
            "the first key",
            OnlineSoftmax::new(1),
            0.0_f32,
            array![10.0_f32],
            state(0.0, 1.0, array![10.0]),
        ),
        // A key below the maximum: m' = 0, nothing to rescale; weight e^(−ln 3) = 1/3:
        // sum 1 + 1/3 = 1.333333, acc 10 + 20/3 = 16.666667.
        (
            "a second key below the maximum",
            state(0.0, 1.0, array![10.0]),
            -ln3,
            array![20.0],
            state(0.0, 1.333_333, array![16.666_667]),
        ),
        // A key raising the maximum to ln 3: the old part shrinks by e^(0 − ln 3) = 1/3, the
        // new key weighs e^0 = 1: sum 1/3 + 1 = 1.333333, acc 10/3 + 20 = 23.333333
        // (acc/sum = 17.5 = ¼·10 + ¾·20, the softmax of scores (0, ln 3) applied to (10, 20)).
        (
            "a second key raising the maximum",
            state(0.0, 1.0, array![10.0]),
            ln3,
            array![20.0],
            state(ln3, 1.333_333, array![23.333_333]),
        ),
        // m = 1 → m' = 3, rescale e^(1 − 3) = 0.135335: sum 2.5·0.135335 + 1 = 1.338338,
        // acc (2, −1, 0.5)·0.135335 + (1, 0, −2) = (1.270671, −0.135335, −1.932332).
        (
            "a key raising the maximum, d_v = 3",
            state(1.0, 2.5, array![2.0, -1.0, 0.5]),
            3.0,
            array![1.0, 0.0, -2.0],
            state(3.0, 1.338_338, array![1.270_671, -0.135_335, -1.932_332]),
        ),
        // A masked key weighs e^(−∞) = 0: the state stays.
        (
            "a masked key (score −∞)",
            state(0.5, 2.0, array![1.0, -1.0]),
            inf,
            array![7.0, 7.0],
            state(0.5, 2.0, array![1.0, -1.0]),
        ),
        // A masked key before any other: still the empty state, no NaN.
        (
            "a masked key before any other (score −∞, state empty)",
            OnlineSoftmax::new(2),
            inf,
            array![7.0, 7.0],
            OnlineSoftmax::new(2),
        ),
    ];
    for (why, before, score, value, expected) in cases {
        let case = format!(
            "case: {why}\n{}  score = {score:.4}\n  value = {value:.4}",
            state_input("state", &before)
        );
        let actual = call(&case, || f(&before, score, &value))?;
        close_state("new state", &case, &expected, &actual, next)?;
    }

    // Key by key from the empty state must give, after every key, the plain softmax sums over
    // the keys so far (masked keys first and in between, a rising maximum, large scores).
    let sequences: [(&str, Vec<f32>); 2] = [
        (
            "8 keys, some masked",
            vec![inf, 0.5, -1.0, 2.0, inf, 1.5, 4.0, 3.0],
        ),
        (
            "large scores (e^1000 overflows f32)",
            vec![1000.0, 1001.0, 999.0],
        ),
    ];
    for (why, scores) in sequences {
        let values = Array2::from_shape_fn((scores.len(), 3), |(j, c)| match c {
            0 => j as f32,
            1 => 1.0 - 0.5 * j as f32,
            _ => (j % 3) as f32,
        });
        let mut running = OnlineSoftmax::new(3);
        for j in 0..scores.len() {
            let case = format!(
                "case: {why}, fed one by one from the empty state; key {j} (of 0..{})\n  \
                 scores = {scores:?}\n{}{}",
                scores.len(),
                f32_input("values", &values),
                state_input(&format!("state before key {j}"), &running)
            );
            let value = values.row(j).to_owned();
            running = call(&case, || f(&running, scores[j], &value))?;
            let expected = plain_state(&scores[..=j], &values.slice(s![..=j, ..]).to_owned());
            close_state(
                "state (compared with the plain softmax over the keys so far)",
                &case,
                &expected,
                &running,
                next,
            )?;
        }
        // Finished: acc / sum must be the attention output softmax(scores) · values.
        let case = format!(
            "case: {why}, all keys fed one by one\n  scores = {scores:?}\n{}",
            f32_input("values", &values)
        );
        let output = &running.acc / running.sum;
        let expected = plain_softmax_output(&scores, &values);
        close(
            "acc / sum (the attention output)",
            &case,
            &expected,
            &output,
            next,
        )?;
    }
    Ok(())
}

/// The check of `ch08_merge_partial_softmax`.
#[allow(clippy::type_complexity)]
pub fn merge_partial_softmax(
    f: impl Fn(&OnlineSoftmax, &OnlineSoftmax) -> (OnlineSoftmax, Array1<f32>),
) -> Check {
    let next = "bring both blocks to m = max(m_a, m_b): multiply each block's sum *and* acc by \
                e^(m_block − m) before adding (the block with the smaller maximum shrinks, it \
                is not dropped), and don't divide a block by its own sum: its sum is how much \
                weight it carries. output = acc / sum, zeros when sum = 0; two empty blocks \
                (max −∞) merge into the empty state, not NaN.";
    let state = |max: f32, sum: f32, acc: Array1<f32>| OnlineSoftmax { max, sum, acc };
    let ln2 = 2.0_f32.ln(); // 0.693147
    let ln3 = 3.0_f32.ln(); // 1.098612
    let cases = [
        // Scores (0, ln 3), values (10, 20), one key per block: m = ln 3, the first block
        // shrinks by e^(−ln 3) = 1/3: sum 1/3 + 1 = 1.333333, acc 10/3 + 20 = 23.333333,
        // output 17.5 = ¼·10 + ¾·20 (softmax(0, ln 3) = (¼, ¾)).
        (
            "one key per block: scores (0, ln 3), values (10, 20)",
            state(0.0, 1.0, array![10.0]),
            state(ln3, 1.0, array![20.0]),
            state(ln3, 1.333_333, array![23.333_333]),
            array![17.5_f32],
        ),
        // Block a: two keys of score 0, values (1, 0) and (0, 1): max 0, sum 2, acc (1, 1).
        // Block b: one key of score ln 2, value (4, 0). m = ln 2, a shrinks by ½:
        // sum 2·½ + 1 = 2, acc (½ + 4, ½) = (4.5, 0.5), output (2.25, 0.25)
        // = softmax(0, 0, ln 2) = (¼, ¼, ½) applied to the three values.
        (
            "a 2-key block and a 1-key block with a larger maximum",
            state(0.0, 2.0, array![1.0, 1.0]),
            state(ln2, 1.0, array![4.0, 0.0]),
            state(ln2, 2.0, array![4.5, 0.5]),
            array![2.25_f32, 0.25],
        ),
        // An empty block (every key masked) changes nothing.
        (
            "the second block is empty (all its keys masked)",
            state(1.0, 2.0, array![3.0, -1.0]),
            OnlineSoftmax::new(2),
            state(1.0, 2.0, array![3.0, -1.0]),
            array![1.5_f32, -0.5],
        ),
        // Both empty: the empty state and a zero output (no 0/0, no −∞ − (−∞)).
        (
            "both blocks empty (every key masked)",
            OnlineSoftmax::new(2),
            OnlineSoftmax::new(2),
            OnlineSoftmax::new(2),
            array![0.0_f32, 0.0],
        ),
    ];
    for (why, a, b, expected, expected_output) in cases {
        // Merging is symmetric: both orders must give the same.
        for (first, second, order) in [(&a, &b, "a, b"), (&b, &a, "b, a")] {
            let case = format!(
                "case: {why}; merged in the order ({order})\n{}{}",
                state_input("a", first),
                state_input("b", second)
            );
            let (merged, output) = call(&case, || f(first, second))?;
            close_state("merged state", &case, &expected, &merged, next)?;
            close("output", &case, &expected_output, &output, next)?;
        }
    }

    // Every split of one row of keys into two blocks must give the plain softmax over all of
    // them (the blocks' states computed the plain way; some blocks fully masked).
    let inf = f32::NEG_INFINITY;
    let scores = [inf, 1.5, -0.5, 3.0, 0.0, 2.5, inf];
    let values = Array2::from_shape_fn((scores.len(), 2), |(j, c)| {
        if c == 0 {
            j as f32
        } else {
            2.0 - (j * j) as f32 / 4.0
        }
    });
    let expected = plain_state(&scores, &values);
    let expected_output = plain_softmax_output(&scores, &values);
    for split in 0..=scores.len() {
        let a = plain_state(&scores[..split], &values.slice(s![..split, ..]).to_owned());
        let b = plain_state(&scores[split..], &values.slice(s![split.., ..]).to_owned());
        let case = format!(
            "case: keys 0..{split} and {split}..{} of one row, compared with the plain softmax \
             over all of them\n  scores = {scores:?}\n{}{}{}",
            scores.len(),
            f32_input("values", &values),
            state_input("a", &a),
            state_input("b", &b)
        );
        let (merged, output) = call(&case, || f(&a, &b))?;
        close_state("merged state", &case, &expected, &merged, next)?;
        close("output", &case, &expected_output, &output, next)?;
    }
    Ok(())
}
