//! Chapter 3 checks, self-attention (`src/exercises/ch03.rs`): one per exercise, named like the
//! learner's function it checks.

// Expected values are written as the decimals the hand arithmetic gives (0.707107 is
// 2·0.353553 here, not 1/√2 by intent), to the precision the comments show.
#![allow(clippy::approx_constant, clippy::excessive_precision)]

use attention::ndarray::{Array2, Ix2, Zip, array};

use super::helpers::{
    Check, call, close, diagnosed, earlier, exercise, f32_input, fixture_case, matches,
    nan_in_fully_masked_rows, softmax_rows_for_diagnosis,
};
use crate::common::fixture;

/// The StatQuest encodings of "let's go <eos>" (attention::worked::statquest_encodings),
/// chapter 3's worked example; chapters 4 and 5 reuse it.
pub fn statquest_x() -> Array2<f32> {
    array![[1.16, 0.23], [0.57, 1.36], [4.41, -2.16]]
}

/// K = X with its columns swapped (W_k = [[0, 1], [1, 0]]).
pub fn statquest_k() -> Array2<f32> {
    array![[0.23, 1.16], [1.36, 0.57], [-2.16, 4.41]]
}

/// V: row (a, b) becomes (a + b, a − b) (W_v = [[1, 1], [1, −1]]).
pub fn statquest_v() -> Array2<f32> {
    array![[1.39, 0.93], [1.93, -0.79], [2.25, 6.57]]
}

/// The check of `ch03_project_qkv`.
#[allow(clippy::type_complexity)]
pub fn project_qkv(
    f: impl Fn(
        &Array2<f32>,
        &Array2<f32>,
        &Array2<f32>,
        &Array2<f32>,
    ) -> (Array2<f32>, Array2<f32>, Array2<f32>),
) -> Check {
    let next = "PyTorch stores W as (out, in): the projection is x · Wᵀ (`x.dot(&w.t())`), not \
                x · W. Q uses w_q, K uses w_k, V uses w_v.";
    // The StatQuest encodings with simpler weights than the book's head (whose W_q, W_k, W_v
    // are all asymmetric): W_q = identity → Q = X; W_k swaps the columns;
    // W_v: (a, b) → (a + b, a − b). The next case has asymmetric weights.
    let x = statquest_x();
    let (w_q, w_k, w_v) = (
        array![[1.0_f32, 0.0], [0.0, 1.0]],
        array![[0.0_f32, 1.0], [1.0, 0.0]],
        array![[1.0_f32, 1.0], [1.0, -1.0]],
    );
    let case = format!(
        "case: the StatQuest encodings, simple weights\n{}{}{}{}",
        f32_input("x", &x),
        f32_input("w_q", &w_q),
        f32_input("w_k", &w_k),
        f32_input("w_v", &w_v)
    );
    let (q, k, v) = call(&case, || f(&x, &w_q, &w_k, &w_v))?;
    close("Q", &case, &x, &q, next)?;
    close("K", &case, &statquest_k(), &k, next)?;
    close("V", &case, &statquest_v(), &v, next)?;

    // Asymmetric weights (a missing transpose shows), d_v = 3 ≠ d_k = 2:
    let x = array![[1.0_f32, 2.0], [3.0, -1.0]];
    let w_q = array![[1.0_f32, 2.0], [0.0, 1.0]];
    let w_k = array![[0.0_f32, 1.0], [-1.0, 0.5]];
    let w_v = array![[2.0_f32, 0.0], [1.0, -1.0], [0.5, 0.5]];
    // Q[i, o] = x_i · (row o of W_q): (1, 2)·(1, 2) = 5, (1, 2)·(0, 1) = 2; (3, −1) → 1, −1.
    let expected_q = array![[5.0_f32, 2.0], [1.0, -1.0]];
    // K: (1, 2)·(0, 1) = 2, (1, 2)·(−1, 0.5) = 0; (3, −1) → −1, −3.5.
    let expected_k = array![[2.0_f32, 0.0], [-1.0, -3.5]];
    // V: (1, 2) → 2, −1, 1.5; (3, −1) → 6, 4, 1.
    let expected_v = array![[2.0_f32, -1.0, 1.5], [6.0, 4.0, 1.0]];
    let case = format!(
        "case: asymmetric weights, d_v = 3\n{}{}{}{}",
        f32_input("x", &x),
        f32_input("w_q", &w_q),
        f32_input("w_k", &w_k),
        f32_input("w_v", &w_v)
    );
    let (q, k, v) = call(&case, || f(&x, &w_q, &w_k, &w_v))?;
    close("Q", &case, &expected_q, &q, next)?;
    close("K", &case, &expected_k, &k, next)?;
    close("V", &case, &expected_v, &v, next)
}

/// The check of `ch03_scaled_scores`.
pub fn scaled_scores(f: impl Fn(&Array2<f32>, &Array2<f32>) -> Array2<f32>) -> Check {
    let next = "scores = q · kᵀ (`q.dot(&k.t())`, shape (tgt_len, src_len)), then divide by \
                √d_k — the square root of the number of columns of q, not d_k itself.";
    // Q·Kᵀ of the StatQuest example, entry (i, j) = q_i · k_j:
    //   row 0: 1.16·0.23 + 0.23·1.16 = 0.5336, 1.16·1.36 + 0.23·0.57 = 1.7087, −1.4913
    //   row 1: 1.7087, 0.57·1.36 + 1.36·0.57 = 1.5504, 0.57·(−2.16) + 1.36·4.41 = 4.7664
    //   row 2: −1.4913, 4.7664, 2·4.41·(−2.16) = −19.0512;  then ÷ √2 = 1.41421:
    let expected = array![
        [0.37731_f32, 1.20823, -1.05451],
        [1.20823, 1.09630, 3.37035],
        [-1.05451, 3.37035, -13.47123],
    ];
    let (q, k) = (statquest_x(), statquest_k());
    let case = format!(
        "case: the StatQuest example\n{}{}",
        f32_input("q", &q),
        f32_input("k", &k)
    );
    let actual = call(&case, || f(&q, &k))?;
    close("scores", &case, &expected, &actual, next)?;

    // 2 queries, 3 keys: q0·k = 2, 0, −1; q1·k = 1 − 2 = −1, −6, −0.5 − 2 = −2.5; ÷ √2.
    let q = array![[1.0_f32, 0.0], [0.5, -2.0]];
    let k = array![[2.0_f32, 1.0], [0.0, 3.0], [-1.0, 1.0]];
    let expected = array![
        [1.414_214_f32, 0.0, -0.707_107],
        [-0.707_107, -4.242_641, -1.767_767]
    ];
    let case = format!(
        "case: 2 queries, 3 keys\n{}{}",
        f32_input("q", &q),
        f32_input("k", &k)
    );
    let actual = call(&case, || f(&q, &k))?;
    close("scores", &case, &expected, &actual, next)
}

/// The check of `ch03_softmax_rows`.
pub fn softmax_rows(f: impl Fn(&Array2<f32>) -> Array2<f32>) -> Check {
    let next = "work row by row (`rows_mut()`): subtract the row's maximum, exponentiate, \
                divide by the row's sum. Every row of the result must sum to 1.";
    // Row 0: e^(−2), e^(−1), e^0 = 0.1353, 0.3679, 1; sum 1.5032 → 0.0900, 0.2447, 0.6652.
    // Row 1: equal scores → 1/3 each. Row 2: e^(−6), 1, e^(−3) → 0.0024, 0.9503, 0.0473.
    let scores = array![[1.0_f32, 2.0, 3.0], [0.0, 0.0, 0.0], [-1.0, 5.0, 2.0]];
    let expected = array![
        [0.090_031_f32, 0.244_728, 0.665_241],
        [0.333_333, 0.333_333, 0.333_333],
        [0.002_356, 0.950_330, 0.047_314],
    ];
    let case = format!("case: small scores\n{}", f32_input("scores", &scores));
    let actual = call(&case, || f(&scores))?;
    close("softmax", &case, &expected, &actual, next)?;

    // exp(1000) overflows f32 to ∞ (∞/∞ = NaN); minus the row max: e^0 = 1, e^(−1000) = 0.
    let scores = array![[1000.0_f32, 1000.0], [1000.0, 0.0]];
    let expected = array![[0.5_f32, 0.5], [1.0, 0.0]];
    let case = format!(
        "case: large scores (stability)\n{}",
        f32_input("scores", &scores)
    );
    let actual = call(&case, || f(&scores))?;
    let stable = "exp(1000) overflows f32 to ∞ and ∞/∞ is NaN: subtract the row's maximum \
                  before `exp`, so the largest entry becomes e^0 = 1.";
    close("softmax", &case, &expected, &actual, stable)?;

    // Each row shifted by its *own* maximum: row 0 by 1, row 1 by −200, so both become
    // e^(−1), e^0 (or e^0, e^(−1)) → 0.268941, 0.731059. Shifting both rows by the global
    // maximum 1 leaves row 1 with e^(−201), e^(−202): both underflow to 0, and 0/0 = NaN.
    let scores = array![[0.0_f32, 1.0], [-200.0, -201.0]];
    let expected = array![[0.268_941_f32, 0.731_059], [0.731_059, 0.268_941]];
    let case = format!(
        "case: rows at very different scales\n{}",
        f32_input("scores", &scores)
    );
    let actual = call(&case, || f(&scores))?;
    let own_max = "subtract each row's *own* maximum: with the maximum of the whole matrix \
                   (1 here), row 1 becomes e^(−201), e^(−202), which both underflow to 0, \
                   and 0/0 is NaN.";
    close("softmax", &case, &expected, &actual, own_max)?;

    // A masked score (−∞) gets weight e^(−∞) = 0; the others share the rest.
    let scores = array![[0.0_f32, f32::NEG_INFINITY, 0.0]];
    let expected = array![[0.5_f32, 0.0, 0.5]];
    let case = format!("case: a masked entry\n{}", f32_input("scores", &scores));
    let actual = call(&case, || f(&scores))?;
    close("softmax", &case, &expected, &actual, next)?;

    // Row 0 is fully masked: its maximum is −∞ and −∞ − (−∞) = NaN, so it needs its own
    // case: the book defines its weights as all zeros (chapter 4, "A fully masked row").
    // Row 1: e^0, 0, e^0 → 0.5, 0, 0.5.
    let inf = f32::NEG_INFINITY;
    let scores = array![[inf, inf, inf], [1.0, inf, 1.0]];
    let expected = array![[0.0_f32, 0.0, 0.0], [0.5, 0.0, 0.5]];
    let case = format!(
        "case: a fully masked row (every entry −∞)\n{}",
        f32_input("scores", &scores)
    );
    let actual = call(&case, || f(&scores))?;
    let fully_masked = "a row whose entries are all −∞ has maximum −∞, and −∞ − (−∞) is NaN: \
                        give such a row all zeros (check `max == f32::NEG_INFINITY` before \
                        subtracting), never NaN.";
    close("softmax", &case, &expected, &actual, fully_masked)
}

/// What a failed attention check found (`ch03_attention`, `ch04_masked_attention`): the
/// earlier exercises it may reuse, NaN in fully masked rows, and which usual mistake the
/// learner's weights match. Diagnosis only: the verdict comes from the expected values.
pub fn attention_diagnosis(
    q: &Array2<f32>,
    k: &Array2<f32>,
    allowed: Option<&Array2<bool>>,
    expected_weights: &Array2<f32>,
    weights: &Array2<f32>,
) -> Vec<String> {
    use attention::exercises::{ch03, ch04};
    let mut found: Vec<String> = [
        earlier(
            "ch03_scaled_scores",
            "scaled_scores",
            scaled_scores(ch03::scaled_scores),
        ),
        earlier(
            "ch03_softmax_rows",
            "softmax_rows",
            softmax_rows(ch03::softmax_rows),
        ),
        allowed.and_then(|_| {
            earlier(
                "ch04_apply_mask",
                "apply_mask",
                super::ch04::apply_mask(ch04::apply_mask),
            )
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    if matches(expected_weights, weights) {
        found.push(
            "your weights are right: the output is weights · v (`weights.dot(v)`), shape \
             (tgt_len, d_v)."
                .into(),
        );
        return found;
    }
    if weights.iter().any(|w| w.is_nan()) {
        let masked_rows = allowed.map_or(Vec::new(), |a| {
            nan_in_fully_masked_rows(weights.view(), a.view())
        });
        let softmax = exercise("ch03_softmax_rows");
        found.push(if masked_rows.is_empty() {
            format!(
                "your weights hold NaN: did `exp` overflow (∞/∞) or underflow (0/0)? Subtract \
                 each row's own maximum before `exp` (`softmax_rows`, {softmax})."
            )
        } else {
            format!(
                "row(s) {masked_rows:?} are fully masked (every key masked): their weights must \
                 be all 0, giving a zero output row, but yours are NaN (−∞ − (−∞) in the \
                 softmax). Fix `softmax_rows` ({softmax}) to give such a row zeros."
            )
        });
        return found;
    }
    let raw = q.dot(&k.t());
    let d_k = q.ncols() as f32;
    let mask = |scores: Array2<f32>, allowed: &Array2<bool>, keep: bool| {
        Zip::from(&scores)
            .and(allowed)
            .map_collect(|&s, &ok| if ok == keep { s } else { f32::NEG_INFINITY })
    };
    let masked = |scores: Array2<f32>| match allowed {
        Some(a) => mask(scores, a, true),
        None => scores,
    };
    let mut guesses = vec![
        (
            softmax_rows_for_diagnosis(&masked(raw.clone())),
            format!(
                "your weights are the softmax of the *unscaled* scores q·kᵀ: divide them by \
                 √d_k = √{d_k} before the softmax (what your `scaled_scores` returns?)."
            ),
        ),
        (
            softmax_rows_for_diagnosis(&masked(&raw / d_k)),
            "your scores are divided by d_k instead of √d_k.".into(),
        ),
        (
            softmax_rows_for_diagnosis(&masked(&raw / d_k.sqrt()).t().to_owned())
                .t()
                .to_owned(),
            "each *column* of your weights sums to 1: the softmax runs along each row (one \
             query's distribution over the keys)."
                .into(),
        ),
    ];
    if let Some(a) = allowed {
        let scaled = &raw / d_k.sqrt();
        guesses.extend([
            (
                softmax_rows_for_diagnosis(&scaled),
                "your weights are those without the mask: set the scores where `allowed` is \
                 false to −∞ before the softmax."
                    .to_string(),
            ),
            (
                softmax_rows_for_diagnosis(&mask(scaled.clone(), a, false)),
                "your mask is inverted: `true` means may attend (this crate's convention), so \
                 the scores where `allowed` is *false* become −∞."
                    .into(),
            ),
            (
                Zip::from(&softmax_rows_for_diagnosis(&scaled))
                    .and(a)
                    .map_collect(|&w, &ok| if ok { w } else { 0.0 }),
                "you zeroed the masked weights *after* the softmax, so the rows no longer sum \
                 to 1: set the masked scores to −∞ *before* the softmax."
                    .into(),
            ),
        ]);
    }
    found.extend(
        guesses
            .into_iter()
            .filter(|(guess, _)| matches(guess, weights))
            .map(|(_, what)| what),
    );
    found
}

/// The check of `ch03_attention`.
#[allow(clippy::type_complexity)]
pub fn attention(
    f: impl Fn(&Array2<f32>, &Array2<f32>, &Array2<f32>) -> (Array2<f32>, Array2<f32>),
) -> Check {
    let next = "weights = softmax of each row of q·kᵀ/√d_k (rows sum to 1, shape (tgt_len, \
                src_len)); output = weights · v. Compare your intermediate scores with \
                `ch03_scaled_scores`.";
    let (q, k, v) = (statquest_x(), statquest_k(), statquest_v());
    // softmax of the `ch03_scaled_scores` scores, row 0: e^0.37731 = 1.45836, e^1.20823 = 3.34757,
    // e^−1.05451 = 0.34836, sum 5.15429 → (0.28294, 0.64947, 0.06759); rows 1, 2 likewise.
    let expected_weights = array![
        [0.282_941_f32, 0.649_472, 0.067_587],
        [0.094_485, 0.084_480, 0.821_035],
        [0.011_834, 0.988_166, 0.000_000],
    ];
    // output row 0 = 0.28294·(1.39, 0.93) + 0.64947·(1.93, −0.79) + 0.06759·(2.25, 6.57)
    //              = (1.79884, 0.19410); rows 1 and 2 likewise.
    let expected_output = array![
        [1.798_84_f32, 0.194_10],
        [2.141_709, 5.415_332],
        [1.923_61, -0.769_645]
    ];
    let case = format!(
        "case: the StatQuest example\n{}{}{}",
        f32_input("q", &q),
        f32_input("k", &k),
        f32_input("v", &v)
    );
    check_attention(
        &f,
        &case,
        (&q, &k, &v),
        &expected_weights,
        &expected_output,
        next,
    )?;

    // d_k = 1, so the scores are the plain products: row 0: 1000, 999; row 1: −1000, −999.
    // Minus each row's maximum: e^0, e^(−1) → 0.731059, 0.268941 (and the reverse for row 1).
    // Without the shift, exp(1000) = ∞ (∞/∞ = NaN) and exp(−1000) = 0 (0/0 = NaN).
    // output = weights · v with v = diag(2, 4): row 0 = (1.462117, 1.075766).
    let q = array![[1000.0_f32], [-1000.0]];
    let k = array![[1.0_f32], [0.999]];
    let v = array![[2.0_f32, 0.0], [0.0, 4.0]];
    let expected_weights = array![[0.731_059_f32, 0.268_941], [0.268_941, 0.731_059]];
    let expected_output = array![[1.462_117_f32, 1.075_766], [0.537_883, 2.924_234]];
    let case = format!(
        "case: large scores (±1000: stability)\n{}{}{}",
        f32_input("q", &q),
        f32_input("k", &k),
        f32_input("v", &v)
    );
    let stable = "exp(1000) overflows to ∞ and exp(−1000) underflows to 0, so ∞/∞ or 0/0 gives \
                  NaN: subtract each row's maximum before `exp`, as `softmax_rows` does.";
    check_attention(
        &f,
        &case,
        (&q, &k, &v),
        &expected_weights,
        &expected_output,
        stable,
    )?;

    let fx = fixture("sdpa_plain");
    let (q, k, v): (Array2<f32>, Array2<f32>, Array2<f32>) =
        (fx.input("query"), fx.input("key"), fx.input("value"));
    let case = fixture_case(
        "sdpa_plain",
        "F.scaled_dot_product_attention, q (4, 8), k (6, 8), v (6, 5)",
    );
    check_attention(
        &f,
        &case,
        (&q, &k, &v),
        &fx.output::<Ix2>("weights"),
        &fx.output::<Ix2>("output"),
        next,
    )
}

/// One case of `ch03_attention`: the weights, then the output, with a diagnosis on failure.
#[allow(clippy::type_complexity)]
fn check_attention(
    f: &impl Fn(&Array2<f32>, &Array2<f32>, &Array2<f32>) -> (Array2<f32>, Array2<f32>),
    case: &str,
    (q, k, v): (&Array2<f32>, &Array2<f32>, &Array2<f32>),
    expected_weights: &Array2<f32>,
    expected_output: &Array2<f32>,
    next: &str,
) -> Check {
    let (output, weights) = call(case, || f(q, k, v))?;
    let diagnose = || attention_diagnosis(q, k, None, expected_weights, &weights);
    diagnosed(
        close("weights", case, expected_weights, &weights, next),
        diagnose,
    )?;
    diagnosed(
        close("output", case, expected_output, &output, next),
        diagnose,
    )
}
