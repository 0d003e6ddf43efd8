//! Chapter 4 checks, masked self-attention (`src/exercises/ch04.rs`): one per exercise, named like
//! the learner's function it checks.

use attention::ndarray::{Array2, Ix2, array};

use super::ch03::{attention_diagnosis, statquest_k, statquest_v, statquest_x};
use super::helpers::{Check, call, close, diagnosed, f32_input, fixture_case, same_bools};
use crate::common::fixture;

/// The check of `ch04_causal_mask`.
pub fn causal_mask(f: impl Fn(usize) -> Array2<bool>) -> Check {
    let next = "entry [query, key] is true when key ≤ query: the diagonal (a token sees itself) \
                and everything left of it; nothing above it (the future).";
    let (t, x) = (true, false);
    let cases = [
        (1, array![[t]]),
        (3, array![[t, x, x], [t, t, x], [t, t, t]]),
        (
            4,
            array![[t, x, x, x], [t, t, x, x], [t, t, t, x], [t, t, t, t]],
        ),
    ];
    for (len, expected) in cases {
        let case = format!("case: len = {len}");
        let actual = call(&case, || f(len))?;
        same_bools("causal mask", &case, &expected, &actual, next)?;
    }
    Ok(())
}

/// The check of `ch04_apply_mask`.
pub fn apply_mask(f: impl Fn(&Array2<f32>, &Array2<bool>) -> Array2<f32>) -> Check {
    let next = "where `allowed` is false the score becomes f32::NEG_INFINITY (−∞, not 0: \
                exp(0) = 1 would still attend); where it is true the score stays. `true` means \
                may attend.";
    let scores = array![[1.0_f32, 2.0, 3.0], [4.0, 5.0, 6.0]];
    let allowed = array![[true, false, true], [false, true, true]];
    let inf = f32::NEG_INFINITY;
    let expected = array![[1.0_f32, inf, 3.0], [inf, 5.0, 6.0]];
    let case = format!(
        "case: 2 queries, 3 keys\n{}  allowed =\n{}\n",
        f32_input("scores", &scores),
        allowed.mapv(u8::from)
    );
    let actual = call(&case, || f(&scores, &allowed))?;
    close("masked scores", &case, &expected, &actual, next)
}

/// The check of `ch04_masked_attention`.
#[allow(clippy::type_complexity)]
pub fn masked_attention(
    f: impl Fn(&Array2<f32>, &Array2<f32>, &Array2<f32>, &Array2<bool>) -> (Array2<f32>, Array2<f32>),
) -> Check {
    let next = "scores = q·kᵀ/√d_k, then the mask (−∞ where `allowed` is false) *before* the \
                softmax, then output = weights · v.";
    let (q, k, v) = (statquest_x(), statquest_k(), statquest_v());
    let causal = Array2::from_shape_fn((3, 3), |(i, j)| j <= i);
    // Row 0 sees key 0 only: weight 1, output = v_0 = (1.39, 0.93).
    // Row 1: scores 1.20823, 1.09630 → e^0.11193 = 1.11844 → 1.11844/2.11844 = 0.52795, 0.47205;
    //        output = 0.52795·(1.39, 0.93) + 0.47205·(1.93, −0.79) = (1.64491, 0.11808).
    // Row 2 sees all three keys: as in `ch03_attention`.
    let expected_weights = array![
        [1.0_f32, 0.0, 0.0],
        [0.527_955, 0.472_045, 0.0],
        [0.011_834, 0.988_166, 0.0],
    ];
    let expected_output = array![
        [1.39_f32, 0.93],
        [1.644_905, 0.118_082],
        [1.923_61, -0.769_645]
    ];
    let case = format!(
        "case: the StatQuest example with a causal mask\n{}{}{}  allowed =\n{}\n",
        f32_input("q", &q),
        f32_input("k", &k),
        f32_input("v", &v),
        causal.mapv(u8::from)
    );
    let expected = (&expected_weights, &expected_output);
    check_masked(&f, &case, (&q, &k, &v, &causal), expected, next)?;

    // Query 1 may attend to no key: its weights are all 0 (not NaN), so its output is the
    // zero vector (chapter 4, "A fully masked row"). Row 0 sees keys 0 and 2: scores 0.37731,
    // −1.05451 → e^(−1.43182) = 0.238874 → 1/1.238874 = 0.807185, 0.192815; output
    // 0.807185·(1.39, 0.93) + 0.192815·(2.25, 6.57) = (1.555821, 2.017478). Row 2 sees keys
    // 0 and 1: as in `ch03_attention`, whose weight on key 2 rounds to 0 anyway.
    let (t, x) = (true, false);
    let allowed = array![[t, x, t], [x, x, x], [t, t, x]];
    let expected_weights = array![
        [0.807_185_f32, 0.0, 0.192_815],
        [0.0, 0.0, 0.0],
        [0.011_834, 0.988_166, 0.0],
    ];
    let expected_output = array![
        [1.555_821_f32, 2.017_478],
        [0.0, 0.0],
        [1.923_61, -0.769_645]
    ];
    let case = format!(
        "case: the StatQuest example, query 1 fully masked (it may attend to no key)\n{}{}{}  \
         allowed =\n{}\n",
        f32_input("q", &q),
        f32_input("k", &k),
        f32_input("v", &v),
        allowed.mapv(u8::from)
    );
    let fully_masked = "a query that may attend to no key gets all-zero weights and a zero \
                        output row, never NaN: its scores are all −∞, and −∞ − (−∞) = NaN in \
                        the softmax unless your `softmax_rows` gives such a row zeros.";
    let expected = (&expected_weights, &expected_output);
    check_masked(&f, &case, (&q, &k, &v, &allowed), expected, fully_masked)?;

    for (name, detail) in [
        (
            "sdpa_causal",
            "F.scaled_dot_product_attention(is_causal=True), 5 tokens",
        ),
        (
            "sdpa_bool_mask",
            "F.scaled_dot_product_attention with a boolean mask (True = may attend)",
        ),
    ] {
        let fx = fixture(name);
        let (q, k, v): (Array2<f32>, Array2<f32>, Array2<f32>) =
            (fx.input("query"), fx.input("key"), fx.input("value"));
        let allowed = if name == "sdpa_causal" {
            Array2::from_shape_fn((q.nrows(), k.nrows()), |(i, j)| j <= i)
        } else {
            fx.bool_input::<Ix2>("attn_mask")
        };
        let case = fixture_case(name, detail);
        let (weights, output) = (fx.output::<Ix2>("weights"), fx.output::<Ix2>("output"));
        check_masked(&f, &case, (&q, &k, &v, &allowed), (&weights, &output), next)?;
    }
    Ok(())
}

/// One case of `ch04_masked_attention`: the weights, then the output, diagnosed on failure.
#[allow(clippy::type_complexity)]
fn check_masked(
    f: &impl Fn(&Array2<f32>, &Array2<f32>, &Array2<f32>, &Array2<bool>) -> (Array2<f32>, Array2<f32>),
    case: &str,
    (q, k, v, allowed): (&Array2<f32>, &Array2<f32>, &Array2<f32>, &Array2<bool>),
    (expected_weights, expected_output): (&Array2<f32>, &Array2<f32>),
    next: &str,
) -> Check {
    let (output, weights) = call(case, || f(q, k, v, allowed))?;
    let diagnose = || attention_diagnosis(q, k, Some(allowed), expected_weights, &weights);
    diagnosed(
        close("weights", case, expected_weights, &weights, next),
        diagnose,
    )?;
    diagnosed(
        close("output", case, expected_output, &output, next),
        diagnose,
    )
}
