//! The exercise checks, shared by the learner test (`tests/exercises.rs`) and the proofs
//! (`tests/exercise_proofs.rs`).
//!
//! Each check takes the implementation as a parameter, so the same check runs on the
//! learner's function, the reference solution and every known wrong solution. Expected values
//! are independent of the crate's code: hand-derived small cases (the arithmetic is in the
//! comments) and the PyTorch fixtures in `tests/fixtures/`. A check returns `Err` with a
//! message for learners: the case, the input, the expected and the actual value, and what to
//! check next.

// Expected values are written as the decimals the hand arithmetic gives (0.707107 is
// 2·0.353553 here, not 1/√2 by intent), to the precision the comments show.
#![allow(clippy::approx_constant, clippy::excessive_precision)]

use std::cell::{Cell, RefCell};
use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use attention::exercises::CrossShapes;
use attention::fast::OnlineSoftmax;
use attention::masked::Mask;
use attention::multi_head::MultiHeadAttention;
use attention::ndarray::{
    Array, Array1, Array2, Array3, Array4, Dimension, Ix1, Ix2, Ix3, Ix4, array, s,
};
use attention::nn::Linear;
use attention::transformer::{DecoderLayer, EncoderLayer, Seq2SeqConfig, Seq2SeqTransformer};

use crate::common::{Fixture, fixture};

/// The outcome of one check: `Err` holds the learner-facing explanation.
pub type Check = Result<(), String>;

/// Absolute tolerance: loose enough for any reasonable summation order, far tighter than any
/// of the mistakes the proofs try.
pub const TOL: f32 = 1e-4;

// ---------------------------------------------------------------------------------------
// Helpers: calling the implementation, comparing, formatting.
// ---------------------------------------------------------------------------------------

thread_local! {
    /// Set while `call` runs the implementation: its panics are reported by `call`.
    static IN_CHECK: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic inside `call` happened (`file:line`).
    static PANIC_AT: RefCell<String> = const { RefCell::new(String::new()) };
    /// Set by [`fail`]: print the message alone, without location or backtrace.
    static REPORTING: Cell<bool> = const { Cell::new(false) };
}

/// Fails the current test with `message` alone (no panic location, no backtrace noise).
#[allow(dead_code)] // used by the learner test, not by the proofs
pub fn fail(message: String) -> ! {
    quiet_panics_in_checks();
    REPORTING.with(|r| r.set(true));
    std::panic::panic_any(message)
}

/// Installs (once) a panic hook that stays quiet for panics inside [`call`] and records their
/// location instead, prints [`fail`]'s message alone, and leaves other panics as usual.
fn quiet_panics_in_checks() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if REPORTING.with(Cell::get) {
                let msg = info.payload().downcast_ref::<String>().cloned();
                eprintln!("{}", msg.unwrap_or_default());
            } else if IN_CHECK.with(Cell::get) {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                PANIC_AT.with(|p| *p.borrow_mut() = at.unwrap_or_default());
            } else {
                default(info);
            }
        }));
    });
}

/// Calls `f`, turning a panic into an explanation (`todo!()` = "not done yet").
fn call<T>(case: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    quiet_panics_in_checks();
    IN_CHECK.with(|c| c.set(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    IN_CHECK.with(|c| c.set(false));
    result.map_err(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let at = PANIC_AT.with(|p| p.borrow().clone());
        if msg.contains("not yet implemented") {
            format!(
                "not done yet: the function still runs `todo!()` ({at}).\n\
                 Replace the `todo!()` (and its `// TODO`) with your code."
            )
        } else {
            format!(
                "{case}\nyour function panicked at {at}: {msg}\n\n\
                 check next: the shapes of your intermediate matrices (print them with \
                 `dbg!(x.shape())`), and every index you use."
            )
        }
    })
}

fn shape_of(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("({})", dims.join(", "))
}

/// An array with its shape, 4 decimals; large arrays are elided by `ndarray` itself.
fn show<D: Dimension>(a: &Array<f32, D>) -> String {
    format!("shape {}\n{:.4}", shape_of(a.shape()), a)
}

fn show_bool<D: Dimension>(a: &Array<bool, D>) -> String {
    let ints = a.mapv(u8::from);
    format!(
        "shape {} (1 = true, 0 = false)\n{}",
        shape_of(a.shape()),
        ints
    )
}

/// Equal up to [`TOL`]; infinities must match exactly; NaN never matches.
fn same(a: f32, e: f32) -> bool {
    if e.is_infinite() || a.is_infinite() {
        return a == e;
    }
    (a - e).abs() <= TOL
}

/// Compares `actual` with `expected`; on failure explains with the case, both arrays, the
/// first differing entry and what to check next.
fn close<D: Dimension>(
    what: &str,
    case: &str,
    expected: &Array<f32, D>,
    actual: &Array<f32, D>,
    next: &str,
) -> Check {
    let header = format!("{case}\n{what}:");
    if expected.shape() != actual.shape() {
        return Err(format!(
            "{header} wrong shape: expected {}, got {}.\n\nexpected {}\n\nactual {}\n\ncheck next: {next}",
            shape_of(expected.shape()),
            shape_of(actual.shape()),
            show(expected),
            show(actual)
        ));
    }
    let first_bad = expected
        .indexed_iter()
        .zip(actual.iter())
        .find(|((_, e), a)| !same(**a, **e));
    match first_bad {
        None => Ok(()),
        Some(((index, &e), &a)) => {
            let nan = if a.is_nan() {
                " (NaN: a 0/0, ∞/∞ or ∞ − ∞ somewhere)"
            } else {
                ""
            };
            Err(format!(
                "{header} wrong values. First difference at {index:?}: expected {e:.4}, got {a:.4}{nan} \
                 (tolerance {TOL:e}).\n\nexpected {}\n\nactual {}\n\ncheck next: {next}",
                show(expected),
                show(actual)
            ))
        }
    }
}

fn same_bools<D: Dimension>(
    what: &str,
    case: &str,
    expected: &Array<bool, D>,
    actual: &Array<bool, D>,
    next: &str,
) -> Check {
    if expected == actual {
        return Ok(());
    }
    Err(format!(
        "{case}\n{what}: wrong mask.\n\nexpected {}\n\nactual {}\n\ncheck next: {next}",
        show_bool(expected),
        show_bool(actual)
    ))
}

fn same_value<T: PartialEq + std::fmt::Debug>(
    what: &str,
    case: &str,
    expected: T,
    actual: T,
    next: &str,
) -> Check {
    if expected == actual {
        return Ok(());
    }
    Err(format!(
        "{case}\n{what}: expected {expected:?}, got {actual:?}.\n\ncheck next: {next}"
    ))
}

fn input<T: Display>(name: &str, value: T) -> String {
    format!("  {name} =\n{value:.4}\n")
}

fn f32_input<D: Dimension>(name: &str, a: &Array<f32, D>) -> String {
    format!("  {name} {} =\n{:.4}\n", shape_of(a.shape()), a)
}

fn fixture_case(name: &str, detail: &str) -> String {
    format!("case: the PyTorch fixture tests/fixtures/{name}.json ({detail})")
}

// ---------------------------------------------------------------------------------------
// Chapter 1: word embeddings.
// ---------------------------------------------------------------------------------------

/// Exercise 1.
pub fn ch01_embedding_lookup(f: impl Fn(&Array2<f32>, &[usize]) -> Array2<f32>) -> Check {
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

/// Exercise 2.
pub fn ch01_cosine_similarity(f: impl Fn(&Array1<f32>, &Array1<f32>) -> f32) -> Check {
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

/// Exercise 3.
pub fn ch01_most_similar(f: impl Fn(&Array2<f32>, usize) -> usize) -> Check {
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

// ---------------------------------------------------------------------------------------
// Chapter 2: positional encoding.
// ---------------------------------------------------------------------------------------

/// Exercise 4.
pub fn ch02_pe_entry(f: impl Fn(usize, usize, usize) -> f32) -> Check {
    let next = "2i is the even column of the pair (j − j % 2), the angle is \
                pos / 10000^(2i / d_model), sin for even j and cos for odd j.";
    // (pos, j, d_model, expected): by hand from the formula.
    let cases = [
        (0, 0, 4, 0.0_f32),       // sin(0)
        (0, 1, 4, 1.0),           // cos(0)
        (1, 0, 4, 0.841_470_96),  // sin(1 / 10000^0) = sin(1)
        (1, 1, 4, 0.540_302_3),   // cos(1): column 1 shares the pair (0, 1)'s frequency
        (1, 2, 4, 0.009_999_833), // sin(1 / 10000^(2/4)) = sin(0.01)
        (1, 3, 4, 0.999_950_0),   // cos(0.01)
        (2, 2, 4, 0.019_998_667), // sin(0.02)
        (5, 1, 6, 0.283_662_2),   // cos(5)
        (5, 3, 6, 0.973_190_2),   // cos(5 / 10000^(2/6)) = cos(0.232079)
        (5, 4, 6, 0.010_771_965), // sin(5 / 10000^(4/6)) = sin(0.0107722)
    ];
    for (pos, j, d_model, expected) in cases {
        let case = format!("case: pos = {pos}, j = {j}, d_model = {d_model}");
        let actual = call(&case, || f(pos, j, d_model))?;
        if !same(actual, expected) {
            return Err(format!(
                "{case}\nexpected {expected:.6}, got {actual:.6}.\n\ncheck next: {next}"
            ));
        }
    }
    let fx = fixture("positional_encoding");
    let pe: Array2<f32> = fx.output("pe");
    for ((pos, j), &expected) in pe.indexed_iter() {
        let case = fixture_case(
            "positional_encoding",
            &format!("pos = {pos}, j = {j}, d_model = 16"),
        );
        let actual = call(&case, || f(pos, j, 16))?;
        if !same(actual, expected) {
            return Err(format!(
                "{case}\nexpected {expected:.6}, got {actual:.6}.\n\ncheck next: {next}"
            ));
        }
    }
    Ok(())
}

/// Exercise 5.
pub fn ch02_sinusoidal_table(f: impl Fn(usize, usize) -> Array2<f32>) -> Check {
    let next = "row = position (from 0), column j = the formula of exercise 4: sin and cos \
                alternate column by column (not all sines first).";
    // d_model = 4: the pairs (0, 1) and (2, 3) have frequencies 1 and 1/10000^(2/4) = 0.01.
    let expected = array![
        [0.0_f32, 1.0, 0.0, 1.0],                      // sin 0, cos 0, sin 0, cos 0
        [0.841_471, 0.540_302, 0.010_000, 0.999_950],  // sin 1, cos 1, sin .01, cos .01
        [0.909_297, -0.416_147, 0.019_999, 0.999_800], // sin 2, cos 2, sin .02, cos .02
    ];
    let case = "case: max_len = 3, d_model = 4".to_string();
    let actual = call(&case, || f(3, 4))?;
    close("table", &case, &expected, &actual, next)?;

    let fx = fixture("positional_encoding");
    let case = fixture_case("positional_encoding", "max_len = 50, d_model = 16");
    let actual = call(&case, || f(50, 16))?;
    close("table", &case, &fx.output::<Ix2>("pe"), &actual, next)
}

/// Exercise 6.
pub fn ch02_embed_with_positions(
    f: impl Fn(&Array2<f32>, &[usize], &Array2<f32>) -> Array2<f32>,
) -> Check {
    let next = "look up the rows of `ids`, multiply them by √d_model (d_model = columns of \
                `weight`), then add row t of `pe` to position t: positions, not token ids, \
                index the table.";
    let weight = array![[0.0_f32, 0.0], [0.5, -1.0], [1.0, 2.0], [-0.5, 0.25]];
    let ids = [3, 1, 3];
    // The d_model = 2 table: PE[t] = (sin t, cos t), four rows (max_len 4 > seq 3).
    let pe = array![
        [0.0_f32, 1.0],
        [0.841_471, 0.540_302],
        [0.909_297, -0.416_147],
        [0.141_120, -0.989_992],
    ];
    // t = 0: (−0.5, 0.25)·√2 = (−0.707107, 0.353553) + (0, 1)            = (−0.707107, 1.353553)
    // t = 1: (0.5, −1)·√2   = (0.707107, −1.414214) + (0.841471, 0.540302) = (1.548578, −0.873912)
    // t = 2: (−0.707107, 0.353553) + (0.909297, −0.416147)                 = (0.202190, −0.062594)
    let expected = array![
        [-0.707_107_f32, 1.353_553],
        [1.548_578, -0.873_912],
        [0.202_190, -0.062_594]
    ];
    let case = format!(
        "case: a 4-token table, d_model = 2\n{}  ids = {ids:?}\n{}",
        f32_input("weight", &weight),
        f32_input("pe", &pe)
    );
    let actual = call(&case, || f(&weight, &ids, &pe))?;
    close("embedded tokens", &case, &expected, &actual, next)
}

// ---------------------------------------------------------------------------------------
// Chapter 3: self-attention.
// ---------------------------------------------------------------------------------------

/// The StatQuest encodings of "let's go <eos>" (attention::worked::statquest_encodings).
fn statquest_x() -> Array2<f32> {
    array![[1.16, 0.23], [0.57, 1.36], [4.41, -2.16]]
}

/// K = X with its columns swapped (W_k = [[0, 1], [1, 0]]).
fn statquest_k() -> Array2<f32> {
    array![[0.23, 1.16], [1.36, 0.57], [-2.16, 4.41]]
}

/// V: row (a, b) becomes (a + b, a − b) (W_v = [[1, 1], [1, −1]]).
fn statquest_v() -> Array2<f32> {
    array![[1.39, 0.93], [1.93, -0.79], [2.25, 6.57]]
}

/// Exercise 7.
#[allow(clippy::type_complexity)]
pub fn ch03_project_qkv(
    f: impl Fn(
        &Array2<f32>,
        &Array2<f32>,
        &Array2<f32>,
        &Array2<f32>,
    ) -> (Array2<f32>, Array2<f32>, Array2<f32>),
) -> Check {
    let next = "PyTorch stores W as (out, in): the projection is x · Wᵀ (`x.dot(&w.t())`), not \
                x · W. Q uses w_q, K uses w_k, V uses w_v.";
    // StatQuest head: W_q = identity → Q = X; W_k swaps the columns; W_v: (a, b) → (a + b, a − b).
    let x = statquest_x();
    let (w_q, w_k, w_v) = (
        array![[1.0_f32, 0.0], [0.0, 1.0]],
        array![[0.0_f32, 1.0], [1.0, 0.0]],
        array![[1.0_f32, 1.0], [1.0, -1.0]],
    );
    let case = format!(
        "case: the chapter's StatQuest head\n{}{}{}{}",
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

/// Exercise 8.
pub fn ch03_scaled_scores(f: impl Fn(&Array2<f32>, &Array2<f32>) -> Array2<f32>) -> Check {
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

/// Exercise 9.
pub fn ch03_softmax_rows(f: impl Fn(&Array2<f32>) -> Array2<f32>) -> Check {
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
    close("softmax", &case, &expected, &actual, next)?;

    // A masked score (−∞) gets weight e^(−∞) = 0; the others share the rest.
    let scores = array![[0.0_f32, f32::NEG_INFINITY, 0.0]];
    let expected = array![[0.5_f32, 0.0, 0.5]];
    let case = format!("case: a masked entry\n{}", f32_input("scores", &scores));
    let actual = call(&case, || f(&scores))?;
    close("softmax", &case, &expected, &actual, next)
}

/// Exercise 10.
#[allow(clippy::type_complexity)]
pub fn ch03_attention(
    f: impl Fn(&Array2<f32>, &Array2<f32>, &Array2<f32>) -> (Array2<f32>, Array2<f32>),
) -> Check {
    let next = "weights = softmax of each row of q·kᵀ/√d_k (rows sum to 1, shape (tgt_len, \
                src_len)); output = weights · v. Compare your intermediate scores with \
                exercise 8.";
    let (q, k, v) = (statquest_x(), statquest_k(), statquest_v());
    // softmax of the exercise-8 scores, row 0: e^0.37731 = 1.45836, e^1.20823 = 3.34757,
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
    let (output, weights) = call(&case, || f(&q, &k, &v))?;
    close("weights", &case, &expected_weights, &weights, next)?;
    close("output", &case, &expected_output, &output, next)?;

    let fx = fixture("sdpa_plain");
    let (q, k, v): (Array2<f32>, Array2<f32>, Array2<f32>) =
        (fx.input("query"), fx.input("key"), fx.input("value"));
    let case = fixture_case(
        "sdpa_plain",
        "F.scaled_dot_product_attention, q (4, 8), k (6, 8), v (6, 5)",
    );
    let (output, weights) = call(&case, || f(&q, &k, &v))?;
    close(
        "weights",
        &case,
        &fx.output::<Ix2>("weights"),
        &weights,
        next,
    )?;
    close("output", &case, &fx.output::<Ix2>("output"), &output, next)
}

// ---------------------------------------------------------------------------------------
// Chapter 4: masked self-attention.
// ---------------------------------------------------------------------------------------

/// Exercise 11.
pub fn ch04_causal_mask(f: impl Fn(usize) -> Array2<bool>) -> Check {
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

/// Exercise 12.
pub fn ch04_apply_mask(f: impl Fn(&Array2<f32>, &Array2<bool>) -> Array2<f32>) -> Check {
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

/// Exercise 13.
#[allow(clippy::type_complexity)]
pub fn ch04_masked_attention(
    f: impl Fn(&Array2<f32>, &Array2<f32>, &Array2<f32>, &Array2<bool>) -> (Array2<f32>, Array2<f32>),
) -> Check {
    let next = "mask the scaled scores (−∞) *before* the softmax; zeroing weights after the \
                softmax leaves rows that no longer sum to 1. Then output = weights · v.";
    let (q, k, v) = (statquest_x(), statquest_k(), statquest_v());
    let causal = Array2::from_shape_fn((3, 3), |(i, j)| j <= i);
    // Row 0 sees key 0 only: weight 1, output = v_0 = (1.39, 0.93).
    // Row 1: scores 1.20823, 1.09630 → e^0.11193 = 1.11844 → 1.11844/2.11844 = 0.52795, 0.47205;
    //        output = 0.52795·(1.39, 0.93) + 0.47205·(1.93, −0.79) = (1.64491, 0.11808).
    // Row 2 sees all three keys: as in exercise 10.
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
    let (output, weights) = call(&case, || f(&q, &k, &v, &causal))?;
    close("weights", &case, &expected_weights, &weights, next)?;
    close("output", &case, &expected_output, &output, next)?;

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
        let (output, weights) = call(&case, || f(&q, &k, &v, &allowed))?;
        close(
            "weights",
            &case,
            &fx.output::<Ix2>("weights"),
            &weights,
            next,
        )?;
        close("output", &case, &fx.output::<Ix2>("output"), &output, next)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Chapter 5: cross-attention.
// ---------------------------------------------------------------------------------------

/// Exercise 14.
pub fn ch05_cross_attention_shapes(f: impl Fn(usize, usize, usize, usize) -> CrossShapes) -> Check {
    let next = "Q comes from the decoder (tgt_len rows), K and V from the encoder (src_len \
                rows), all with d_k columns; the weights Q·Kᵀ are (tgt_len, src_len): one row \
                per target token; the output weights·V is (tgt_len, d_k).";
    for (tgt_len, src_len, d_model, d_k) in [(2, 3, 4, 2), (5, 7, 16, 4)] {
        let expected = CrossShapes {
            queries: (tgt_len, d_k),
            keys: (src_len, d_k),
            values: (src_len, d_k),
            weights: (tgt_len, src_len),
            output: (tgt_len, d_k),
        };
        let case = format!(
            "case: tgt_len = {tgt_len}, src_len = {src_len}, d_model = {d_model}, d_k = {d_k}"
        );
        let actual = call(&case, || f(tgt_len, src_len, d_model, d_k))?;
        same_value("shapes", &case, expected, actual, next)?;
    }
    Ok(())
}

/// Exercise 15.
#[allow(clippy::type_complexity)]
pub fn ch05_cross_attention(
    f: impl Fn(&Array2<f32>, &Array2<f32>, &Linear, &Linear, &Linear) -> (Array2<f32>, Array2<f32>),
) -> Check {
    let next = "queries = w_q(decoder_states); keys = w_k(encoder_output); values = \
                w_v(encoder_output); then softmax(Q·Kᵀ/√d_k)·V. The weights must be \
                (tgt_len, src_len).";
    let linear = |w: Array2<f32>| Linear::new(w, None).unwrap();
    // The StatQuest head: Q = decoder states, K = encoder output with columns swapped,
    // V row (a, b) → (a + b, a − b).
    let (w_q, w_k, w_v) = (
        linear(array![[1.0, 0.0], [0.0, 1.0]]),
        linear(array![[0.0, 1.0], [1.0, 0.0]]),
        linear(array![[1.0, 1.0], [1.0, -1.0]]),
    );
    let decoder = array![[-0.5_f32, 1.0], [2.1, 0.4]]; // "<bos> vamos"
    let encoder = statquest_x(); // "let's go <eos>"
    // scores row 0: (−0.5, 1)·(0.23, 1.16) = 1.045, ·(1.36, 0.57) = −0.11, ·(−2.16, 4.41) = 5.49;
    //   ÷ √2 → 0.73893, −0.07778, 3.88202 → softmax (0.04062, 0.01795, 0.94143).
    // row 1: (2.1, 0.4) → 0.947, 3.084, −2.772 ÷ √2 → 0.66963, 2.18072, −1.96010
    //   → softmax (0.17845, 0.80868, 0.01287).
    let expected_weights = array![
        [0.040_622_f32, 0.017_950, 0.941_428],
        [0.178_452, 0.808_682, 0.012_866]
    ];
    // output = weights · V, V = (1.39, 0.93), (1.93, −0.79), (2.25, 6.57).
    let expected_output = array![[2.209_321_f32, 6.208_779], [1.837_753, -0.388_369]];
    let case = format!(
        "case: \"<bos> vamos\" attending to \"let's go <eos>\" (the StatQuest head: W_q = I, \
         W_k swaps, W_v = [[1, 1], [1, −1]], no bias)\n{}{}",
        f32_input("decoder_states", &decoder),
        f32_input("encoder_output", &encoder)
    );
    let (output, weights) = call(&case, || f(&decoder, &encoder, &w_q, &w_k, &w_v))?;
    close("weights", &case, &expected_weights, &weights, next)?;
    close("output", &case, &expected_output, &output, next)?;

    // nn.MultiheadAttention(8, 2) cross-attention: each head is one cross-attention head
    // whose projections are 4 rows of in_proj_weight (with bias); PyTorch recorded every
    // head's weights.
    let fx = fixture("mha_cross");
    let w: Array2<f32> = fx
        .tensors
        .get("in_proj_weight")
        .unwrap()
        .clone()
        .into_dimensionality()
        .unwrap();
    let bias: Array1<f32> = fx
        .tensors
        .get("in_proj_bias")
        .unwrap()
        .clone()
        .into_dimensionality()
        .unwrap();
    let (query, memory): (Array3<f32>, Array3<f32>) = (fx.input("query"), fx.input("memory"));
    let per_head: Array4<f32> = fx.output("attn_weights_per_head");
    let (e, d_k) = (8, 4);
    for b in 0..2 {
        for h in 0..2 {
            let part = |i: usize| {
                let rows = i * e + h * d_k..i * e + (h + 1) * d_k;
                Linear::new(
                    w.slice(s![rows.clone(), ..]).to_owned(),
                    Some(bias.slice(s![rows]).to_owned()),
                )
                .unwrap()
            };
            let (w_q, w_k, w_v) = (part(0), part(1), part(2));
            let dec = query.slice(s![b, .., ..]).to_owned();
            let enc = memory.slice(s![b, .., ..]).to_owned();
            let case = fixture_case(
                "mha_cross",
                &format!(
                    "batch item {b}, head {h} of nn.MultiheadAttention(8, 2): tgt_len 4, src_len 6, d_k 4, with bias"
                ),
            );
            let (_, weights) = call(&case, || f(&dec, &enc, &w_q, &w_k, &w_v))?;
            let expected = per_head.slice(s![b, h, .., ..]).to_owned();
            close("weights", &case, &expected, &weights, next)?;
        }
    }
    Ok(())
}

/// Exercise 16.
pub fn ch05_source_padding_mask(f: impl Fn(&[usize], usize, usize) -> Array2<bool>) -> Check {
    let next = "shape (tgt_len, src_len): one row per target position, all rows equal; column \
                j is true (may attend) unless src_ids[j] == pad_id.";
    let (t, x) = (true, false);
    let cases = [
        (vec![5, 7, 0, 0], 2, 0, array![[t, t, x, x], [t, t, x, x]]),
        (vec![4, 6, 9], 3, 0, array![[t, t, t], [t, t, t], [t, t, t]]),
        (vec![4, 6, 1], 1, 1, array![[t, t, x]]),
    ];
    for (src_ids, tgt_len, pad_id, expected) in cases {
        let case = format!("case: src_ids = {src_ids:?}, tgt_len = {tgt_len}, pad_id = {pad_id}");
        let actual = call(&case, || f(&src_ids, tgt_len, pad_id))?;
        same_bools("padding mask", &case, &expected, &actual, next)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Chapter 6: multi-head attention.
// ---------------------------------------------------------------------------------------

/// `(batch, seq, d_model)` filled with 0, 1, 2, … so every entry says where it came from.
fn counting(batch: usize, seq: usize, d_model: usize) -> Array3<f32> {
    Array3::from_shape_fn((batch, seq, d_model), |(b, t, c)| {
        ((b * seq + t) * d_model + c) as f32
    })
}

/// Exercise 17.
pub fn ch06_split_heads(f: impl Fn(&Array3<f32>, usize) -> Array4<f32>) -> Check {
    let next = "head h takes columns h·d_k..(h+1)·d_k of *every* token: reshape to (batch, seq, \
                heads, d_k) first, then swap axes 1 and 2 (`permuted_axes([0, 2, 1, 3])`). \
                Reshaping straight to (batch, heads, seq, d_k) splits the sequence instead.";
    // 2 tokens × 4 features, 2 heads of d_k = 2: head 0 gets columns 0–1, head 1 columns 2–3.
    let x = counting(1, 2, 4); // [[0, 1, 2, 3], [4, 5, 6, 7]]
    let expected = array![[[[0.0_f32, 1.0], [4.0, 5.0]], [[2.0, 3.0], [6.0, 7.0]]]];
    let case = format!(
        "case: 2 tokens, d_model 4, 2 heads\n{}  num_heads = 2",
        f32_input("x", &x)
    );
    let actual = call(&case, || f(&x, 2))?;
    close("heads", &case, &expected, &actual, next)?;

    // By the definition: out[b, h, t, i] = x[b, t, h·d_k + i].
    let x = counting(2, 3, 6);
    let expected = Array4::from_shape_fn((2, 3, 3, 2), |(b, h, t, i)| x[[b, t, h * 2 + i]]);
    let case = format!(
        "case: batch 2, 3 tokens, d_model 6, 3 heads\n{}  num_heads = 3",
        f32_input("x", &x)
    );
    let actual = call(&case, || f(&x, 3))?;
    close("heads", &case, &expected, &actual, next)
}

/// Exercise 18.
pub fn ch06_merge_heads(f: impl Fn(&Array4<f32>) -> Array3<f32>) -> Check {
    let next = "token t's vector is head 0's row t, then head 1's row t…: swap axes 1 and 2 \
                back to (batch, seq, heads, d_k), make the layout standard \
                (`as_standard_layout()`), then reshape to (batch, seq, heads·d_k).";
    let x = array![[[[0.0_f32, 1.0], [4.0, 5.0]], [[2.0, 3.0], [6.0, 7.0]]]];
    let expected = counting(1, 2, 4); // [[0, 1, 2, 3], [4, 5, 6, 7]]
    let case = format!("case: 2 heads of 2 tokens × d_k 2\n{}", f32_input("x", &x));
    let actual = call(&case, || f(&x))?;
    close("merged", &case, &expected, &actual, next)?;

    // By the definition: out[b, t, h·d_k + i] = x[b, h, t, i].
    let x = Array4::from_shape_fn((2, 3, 4, 2), |(b, h, t, i)| {
        (((b * 3 + h) * 4 + t) * 2 + i) as f32
    });
    let expected = Array3::from_shape_fn((2, 4, 6), |(b, t, c)| x[[b, c / 2, t, c % 2]]);
    let case = format!(
        "case: batch 2, 3 heads, 4 tokens, d_k 2\n{}",
        f32_input("x", &x)
    );
    let actual = call(&case, || f(&x))?;
    close("merged", &case, &expected, &actual, next)
}

fn load_mha(fx: &Fixture) -> MultiHeadAttention {
    MultiHeadAttention::load(
        &fx.tensors.scope(""),
        fx.usize("embed_dim"),
        fx.usize("num_heads"),
    )
    .unwrap()
}

/// Exercise 19.
#[allow(clippy::type_complexity)]
pub fn ch06_multi_head_attention(
    f: impl Fn(
        &MultiHeadAttention,
        &Array3<f32>,
        &Array3<f32>,
        Option<&Mask>,
    ) -> (Array3<f32>, Array4<f32>),
) -> Check {
    let next = "scale by √d_k with d_k = d_model / num_heads (not √d_model); apply the mask \
                before the softmax; merge the heads and finish with `out_proj`. If the weights \
                match but the output does not, look at the merge and `out_proj`.";
    let cases: [(&str, &str, &str); 4] = [
        (
            "mha_self",
            "x",
            "self-attention, nn.MultiheadAttention(8, 2), batch 2, 5 tokens",
        ),
        (
            "mha_self_causal",
            "x",
            "causal self-attention, nn.MultiheadAttention(8, 2)",
        ),
        (
            "mha_cross",
            "query",
            "cross-attention, 4 queries, 6 keys (input `memory`)",
        ),
        (
            "mha_cross_padding",
            "query",
            "cross-attention with key padding",
        ),
    ];
    for (name, query_name, detail) in cases {
        let fx = fixture(name);
        let mha = load_mha(&fx);
        let query: Array3<f32> = fx.input(query_name);
        let key_value: Array3<f32> = if query_name == "x" {
            query.clone()
        } else {
            fx.input("memory")
        };
        let mask = match name {
            "mha_self_causal" => {
                Some(Mask::from_torch_attn_mask(&fx.bool_input::<Ix2>("attn_mask")).unwrap())
            }
            "mha_cross_padding" => Some(
                Mask::from_torch_key_padding_mask(&fx.bool_input::<Ix2>("key_padding_mask"))
                    .unwrap(),
            ),
            _ => None,
        };
        let case = fixture_case(name, detail);
        let (output, weights) = call(&case, || f(&mha, &query, &key_value, mask.as_ref()))?;
        close(
            "per-head weights",
            &case,
            &fx.output::<Ix4>("attn_weights_per_head"),
            &weights,
            next,
        )?;
        close(
            "output",
            &case,
            &fx.output::<Ix3>("attn_output"),
            &output,
            next,
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Chapter 7: the Transformer.
// ---------------------------------------------------------------------------------------

/// Exercise 20.
pub fn ch07_layer_norm(
    f: impl Fn(&Array2<f32>, &Array1<f32>, &Array1<f32>, f32) -> Array2<f32>,
) -> Check {
    let next = "normalise each *row* (one token's d features), not each column; the variance \
                divides by d (biased, like PyTorch), eps goes inside the square root; then \
                × gamma + beta per feature.";
    let x = array![[1.0_f32, 2.0, 3.0, 6.0], [-1.0, 0.0, 0.0, 1.0]];
    let gamma = array![1.0_f32, 0.5, 2.0, 1.0];
    let beta = array![0.0_f32, 0.1, -0.2, 0.3];
    // Row 0: mean 3, variance (4 + 1 + 0 + 9)/4 = 3.5, √(3.5 + 1e−5) = 1.870832:
    //   (−2, −1, 0, 3)/1.870832 = (−1.06904, −0.53452, 0, 1.60357) → ×γ + β.
    // Row 1: mean 0, variance (1 + 0 + 0 + 1)/4 = 0.5, √0.50001 = 0.707114:
    //   (−1.41420, 0, 0, 1.41420) → ×γ + β.
    let expected = array![
        [-1.069_043_f32, -0.167_261, -0.2, 1.903_565],
        [-1.414_199, 0.1, -0.2, 1.714_199],
    ];
    let case = format!(
        "case: 2 rows of d = 4, eps = 1e-5\n{}{}{}",
        f32_input("x", &x),
        input("gamma", &gamma),
        input("beta", &beta)
    );
    let actual = call(&case, || f(&x, &gamma, &beta, 1e-5))?;
    close("normalised", &case, &expected, &actual, next)?;

    // nn.LayerNorm(6) on (2, 3, 6) = 6 token vectors of 6 features (a square matrix, so
    // normalising the wrong axis still has the right shape).
    let fx = fixture("layer_norm");
    let x = fx.input::<Ix3>("x").into_shape_with_order((6, 6)).unwrap();
    let expected = fx.output::<Ix3>("y").into_shape_with_order((6, 6)).unwrap();
    let gamma: Array1<f32> = fx
        .tensors
        .get("weight")
        .unwrap()
        .clone()
        .into_dimensionality::<Ix1>()
        .unwrap();
    let beta: Array1<f32> = fx
        .tensors
        .get("bias")
        .unwrap()
        .clone()
        .into_dimensionality::<Ix1>()
        .unwrap();
    let case = fixture_case(
        "layer_norm",
        "nn.LayerNorm(6), 6 token vectors, random γ and β",
    );
    let actual = call(&case, || f(&x, &gamma, &beta, 1e-5))?;
    close("normalised", &case, &expected, &actual, next)
}

/// Exercise 21.
pub fn ch07_encoder_layer(
    f: impl Fn(&EncoderLayer, &Array3<f32>, Option<&Mask>) -> Array3<f32>,
) -> Check {
    let next = "post-LN: x = norm1(x + attn(x)), then x = norm2(x + ffn(x)); pre-LN: \
                x = x + attn(norm1(x)), then x = x + ffn(norm2(x)). Pass the mask to the \
                self-attention, and keep both residual additions.";
    for (name, detail) in [
        (
            "encoder_layer",
            "nn.TransformerEncoderLayer(8, 2, 16), post-LN (norm_first=False), source padding",
        ),
        (
            "encoder_layer_pre_ln",
            "nn.TransformerEncoderLayer(8, 2, 16), pre-LN (norm_first=True), source padding",
        ),
    ] {
        let fx = fixture(name);
        let layer = EncoderLayer::load(&fx.tensors.scope(""), &fx.transformer_config()).unwrap();
        let mask = Mask::from_torch_key_padding_mask(&fx.bool_input::<Ix2>("src_key_padding_mask"))
            .unwrap();
        let x: Array3<f32> = fx.input("src");
        let case = fixture_case(name, detail);
        let actual = call(&case, || f(&layer, &x, Some(&mask)))?;
        close(
            "layer output",
            &case,
            &fx.output::<Ix3>("out"),
            &actual,
            next,
        )?;
    }
    Ok(())
}

/// Exercise 22.
#[allow(clippy::type_complexity)]
pub fn ch07_decoder_layer(
    f: impl Fn(&DecoderLayer, &Array3<f32>, &Array3<f32>, Option<&Mask>, Option<&Mask>) -> Array3<f32>,
) -> Check {
    let next = "three residual sublayers in this order: self-attention over x with self_mask \
                (norm1), cross-attention with queries from x and keys/values from memory with \
                memory_mask (norm2), feed-forward (norm3); norms placed by layer.norm_position.";
    for (name, detail) in [
        (
            "decoder_layer",
            "nn.TransformerDecoderLayer(8, 2, 16), post-LN, causal self-mask, memory padding",
        ),
        (
            "decoder_layer_pre_ln",
            "nn.TransformerDecoderLayer(8, 2, 16), pre-LN, causal self-mask, memory padding",
        ),
    ] {
        let fx = fixture(name);
        let layer = DecoderLayer::load(&fx.tensors.scope(""), &fx.transformer_config()).unwrap();
        let self_mask = Mask::from_torch_attn_mask(&fx.bool_input::<Ix2>("tgt_mask")).unwrap();
        let memory_mask =
            Mask::from_torch_key_padding_mask(&fx.bool_input::<Ix2>("memory_key_padding_mask"))
                .unwrap();
        let (x, memory): (Array3<f32>, Array3<f32>) = (fx.input("tgt"), fx.input("memory"));
        let case = fixture_case(name, detail);
        let actual = call(&case, || {
            f(&layer, &x, &memory, Some(&self_mask), Some(&memory_mask))
        })?;
        close(
            "layer output",
            &case,
            &fx.output::<Ix3>("out"),
            &actual,
            next,
        )?;
    }
    Ok(())
}

/// Exercise 23.
pub fn ch07_greedy_step(f: impl Fn(&Seq2SeqTransformer, &[usize], &[usize]) -> usize) -> Check {
    let next = "the decoder output has one row per target token so far; the *last* row predicts \
                the next token. Project it with model.generator and take the index of the \
                largest logit.";
    let fx = fixture("seq2seq");
    let config = Seq2SeqConfig {
        transformer: fx.transformer_config(),
        src_vocab_size: fx.usize("src_vocab_size"),
        tgt_vocab_size: fx.usize("tgt_vocab_size"),
        max_len: fx.usize("pe_max_len"),
        pad_id: fx.usize("pad_id"),
    };
    let model = Seq2SeqTransformer::load(&fx.tensors.scope(""), config).unwrap();
    let src = fx.ids("src");
    let pad = fx.usize("pad_id");

    // PyTorch's greedy decoding of source 0: each token is one greedy step on the ones before.
    let greedy: Vec<usize> = fx
        .output::<Ix1>("greedy_tokens")
        .iter()
        .map(|&v| v as usize)
        .collect();
    let src0 = src.row(0).to_vec();
    for t in 1..greedy.len() {
        let prefix = &greedy[..t];
        let case = fixture_case(
            "seq2seq",
            &format!("greedy decoding of src {src0:?}, target so far {prefix:?}"),
        );
        let actual = call(&case, || f(&model, &src0, prefix))?;
        same_value("next token", &case, greedy[t], actual, next)?;
    }

    // Teacher forcing: PyTorch's logits at position t − 1 predict token t from tgt[..t].
    let tgt = fx.ids("tgt");
    let logits: Array3<f32> = fx.output("logits");
    for b in 0..tgt.nrows() {
        let src_b = src.row(b).to_vec();
        let tgt_b = tgt.row(b).to_vec();
        for t in 1..=tgt_b.len() {
            if tgt_b[..t].contains(&pad) {
                break;
            }
            let row = logits.slice(s![b, t - 1, ..]);
            let mut sorted = row.to_vec();
            sorted.sort_by(|a, b| b.total_cmp(a));
            if sorted[0] - sorted[1] < 1e-3 {
                continue; // a near tie: not a fair test of anyone's float rounding
            }
            let expected = row
                .iter()
                .enumerate()
                .fold(0, |best, (i, &v)| if v > row[best] { i } else { best });
            let prefix = &tgt_b[..t];
            let case = fixture_case(
                "seq2seq",
                &format!("src {src_b:?}, target so far {prefix:?}"),
            );
            let actual = call(&case, || f(&model, &src_b, prefix))?;
            same_value("next token", &case, expected, actual, next)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Chapter 8: making attention fast.
// ---------------------------------------------------------------------------------------

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

/// Exercise 24.
pub fn ch08_online_softmax_step(
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

/// Exercise 25.
#[allow(clippy::type_complexity)]
pub fn ch08_merge_partial_softmax(
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
