//! What the checks of every chapter share: calling the implementation (a panic or a
//! `todo!()` becomes an explanation for the learner), comparing with a tolerance, and
//! showing inputs and results.

use std::cell::{Cell, RefCell};
use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use attention::ndarray::{Array, Array2, ArrayView2, Dimension};

/// The outcome of one check: `Err` holds the learner-facing explanation.
pub type Check = Result<(), String>;

/// Absolute tolerance: loose enough for any reasonable summation order, far tighter than any
/// of the mistakes the proofs try.
pub const TOL: f32 = 1e-4;

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
pub fn call<T>(case: &str, f: impl FnOnce() -> T) -> Result<T, String> {
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
pub fn same(a: f32, e: f32) -> bool {
    if e.is_infinite() || a.is_infinite() {
        return a == e;
    }
    (a - e).abs() <= TOL
}

/// True when `actual` has `expected`'s shape and every entry is [`same`] (NaN never is).
pub fn matches<D: Dimension>(expected: &Array<f32, D>, actual: &Array<f32, D>) -> bool {
    expected.shape() == actual.shape() && expected.iter().zip(actual).all(|(&e, &a)| same(a, e))
}

/// `result`, with what `diagnose` finds appended to a failure's message. `diagnose` runs only
/// on failure and only explains: it never turns a failure into a pass or the reverse.
pub fn diagnosed(result: Check, diagnose: impl FnOnce() -> Vec<String>) -> Check {
    result.map_err(|message| {
        let found = diagnose();
        if found.is_empty() {
            return message;
        }
        let lines: Vec<String> = found.iter().map(|f| format!("  - {f}")).collect();
        format!("{message}\n\ndiagnosis:\n{}", lines.join("\n"))
    })
}

/// "exercise N `id`", N from the manifest, for messages that send the learner back to it.
pub fn exercise(id: &str) -> String {
    exercise_manifest::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
        .ok()
        .and_then(|all| all.into_iter().find(|e| e.id == id))
        .map_or_else(
            || format!("exercise `{id}`"),
            |e| format!("exercise {} `{id}`", e.number),
        )
}

/// An earlier exercise that this one may reuse, `id`, judged by its own check on the
/// learner's function (`result`): `None` when it passes, else a line telling to fix it first.
pub fn earlier(id: &str, function: &str, result: Check) -> Option<String> {
    let problem = result.err()?;
    let number = exercise(id);
    Some(if problem.starts_with("not done yet") {
        format!(
            "your `{function}` ({number}) is not done yet: if you reuse it here, do it first \
             (`cargo exercise {id}`)."
        )
    } else {
        format!(
            "your `{function}` ({number}) fails its own check: if you reuse it here, fix it \
             first (`cargo exercise {id}` shows where it goes wrong)."
        )
    })
}

/// For diagnosis only, never as an expected value: the softmax of each row, a fully masked
/// row (all −∞) giving zeros, as the book defines it.
pub fn softmax_rows_for_diagnosis(scores: &Array2<f32>) -> Array2<f32> {
    let mut out = scores.clone();
    for mut row in out.rows_mut() {
        let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        if max == f32::NEG_INFINITY {
            row.fill(0.0);
            continue;
        }
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row /= sum;
    }
    out
}

/// The fully masked rows of `allowed` (no `true`) where `weights` holds a NaN.
pub fn nan_in_fully_masked_rows(weights: ArrayView2<f32>, allowed: ArrayView2<bool>) -> Vec<usize> {
    (0..allowed.nrows().min(weights.nrows()))
        .filter(|&i| {
            !allowed.row(i).iter().any(|&ok| ok) && weights.row(i).iter().any(|w| w.is_nan())
        })
        .collect()
}

/// Compares `actual` with `expected`; on failure explains with the case, both arrays, the
/// first differing entry and what to check next.
pub fn close<D: Dimension>(
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
            let pattern = difference_pattern(expected, actual)
                .map(|p| format!("\n\nthe difference, actual − expected: {p}"))
                .unwrap_or_default();
            Err(format!(
                "{header} wrong values. First difference at {index:?}: expected {e:.4}, got {a:.4}{nan} \
                 (tolerance {TOL:e}).\n\nexpected {}\n\nactual {}{pattern}\n\ncheck next: {next}",
                show(expected),
                show(actual)
            ))
        }
    }
}

/// What the difference between two same-shaped arrays looks like, when it has a shape that
/// points at a stage of the computation (read as rows × last axis): a constant factor (a
/// scaling left out or doubled), the same offset in every row (a bias left out or added
/// twice), a transpose, or only some rows wrong. `None` when no such pattern fits. Used only
/// to explain a failure, never to decide one.
pub fn difference_pattern<D: Dimension>(
    expected: &Array<f32, D>,
    actual: &Array<f32, D>,
) -> Option<String> {
    let cols = *expected.shape().last()?;
    if cols == 0 || expected.len() != actual.len() || actual.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let e = Array2::from_shape_vec(
        (expected.len() / cols, cols),
        expected.iter().copied().collect(),
    )
    .ok()?;
    let a = Array2::from_shape_vec(e.dim(), actual.iter().copied().collect()).ok()?;
    let d = &a - &e; // (rows, cols)
    let rows = e.nrows();
    // A constant factor: a = c·e, c fitted by least squares.
    let ee: f32 = e.iter().map(|x| x * x).sum();
    if ee > 0.0 {
        let c = e.iter().zip(&a).map(|(x, y)| x * y).sum::<f32>() / ee;
        let fits = e
            .iter()
            .zip(&a)
            .all(|(x, y)| (c * x - y).abs() <= TOL.max(1e-4 * y.abs()));
        if fits && (c - 1.0).abs() > 1e-3 {
            return Some(format!(
                "every entry is {c:.4} × the expected one (1/{c:.4} = {:.4}, {c:.4}² = {:.4}): \
                 a constant factor is missing or extra (a 1/√d_k scaling? a √d_model?)",
                1.0 / c,
                c * c
            ));
        }
    }
    // The same offset in every row: a bias.
    if rows > 1
        && d.rows()
            .into_iter()
            .all(|r| r.iter().zip(d.row(0)).all(|(x, y)| (x - y).abs() <= TOL))
    {
        let offset: Vec<String> = d.row(0).iter().map(|x| format!("{x:.4}")).collect();
        return Some(format!(
            "the same in every row, [{}]: a constant offset per column. A bias left out or \
             added twice? (a layer's output is x·Wᵀ + b: use the layer's `forward`, or add `b`)",
            offset.join(", ")
        ));
    }
    // A transpose.
    if rows == cols && rows > 1 && e.t().iter().zip(&a).all(|(x, y)| (x - y).abs() <= TOL) {
        return Some(
            "your result is the expected one transposed: check the order of a product \
             (X·Wᵀ, Q·Kᵀ) or which axis you work along"
                .to_string(),
        );
    }
    // Only some rows differ.
    let wrong: Vec<usize> = (0..rows)
        .filter(|&i| d.row(i).iter().any(|x| x.abs() > TOL))
        .collect();
    if rows > 1 && wrong.len() < rows {
        return Some(format!(
            "only row(s) {wrong:?} of {rows} differ (rows as the last axis reads them): what is \
             special about them? (a mask, padding, the first or last position)"
        ));
    }
    None
}

pub fn same_bools<D: Dimension>(
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

pub fn same_value<T: PartialEq + std::fmt::Debug>(
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

pub fn input<T: Display>(name: &str, value: T) -> String {
    format!("  {name} =\n{value:.4}\n")
}

pub fn f32_input<D: Dimension>(name: &str, a: &Array<f32, D>) -> String {
    format!("  {name} {} =\n{:.4}\n", shape_of(a.shape()), a)
}

pub fn fixture_case(name: &str, detail: &str) -> String {
    format!("case: the PyTorch fixture tests/fixtures/{name}.json ({detail})")
}
