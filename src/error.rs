//! One error type for the whole crate.
//!
//! Every fallible function returns [`Result<T>`]. An error always names the argument it is
//! about, what was expected and what was actually given, so a learner who passes a `(3, 5)`
//! matrix where a `(3, 4)` one belongs reads exactly that, never a bare ndarray panic.

use std::fmt;

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong, with the argument's name, the expectation and the actual value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// An array argument has the wrong shape.
    #[error("`{arg}` has the wrong shape: expected {expected}, got {actual}")]
    Shape {
        /// The argument (or tensor) name, e.g. `query` or `encoder.layers.0.norm1.weight`.
        arg: String,
        /// The expected shape, e.g. `(seq, 4) with d_model = 4`.
        expected: String,
        /// The shape that was given, e.g. `(3, 5)`.
        actual: String,
    },
    /// A scalar or configuration argument has an invalid value.
    #[error("`{arg}` has an invalid value: expected {expected}, got {actual}")]
    Value {
        /// The argument name, e.g. `num_heads`.
        arg: String,
        /// What a valid value looks like, e.g. `a divisor of d_model = 8`.
        expected: String,
        /// The value that was given.
        actual: String,
    },
    /// A named tensor was not found when loading weights.
    #[error("missing tensor `{name}` (the weights have {available} tensors{hint})")]
    MissingTensor {
        /// The full PyTorch-style name that was looked up.
        name: String,
        /// How many tensors the weights hold.
        available: usize,
        /// A short hint, e.g. the closest names that do exist.
        hint: String,
    },
    /// The GPU (feature `gpu`) cannot run the request: no adapter, the crate was built without
    /// the feature, or the input is beyond what the kernel or the adapter supports.
    #[error("GPU unavailable: {reason}")]
    Gpu {
        /// Why, in wgpu's words where wgpu gave the reason.
        reason: String,
    },
    /// A weights or fixture file could not be read or parsed.
    #[error("cannot read {what}: {reason}")]
    Parse {
        /// What was being read.
        what: String,
        /// Why it failed.
        reason: String,
    },
}

impl Error {
    /// A [`Error::Shape`] error; `actual` is formatted like `(3, 5)`.
    pub fn shape(arg: impl Into<String>, expected: impl Into<String>, actual: &[usize]) -> Self {
        Error::Shape {
            arg: arg.into(),
            expected: expected.into(),
            actual: fmt_shape(actual),
        }
    }

    /// A [`Error::Value`] error.
    pub fn value(
        arg: impl Into<String>,
        expected: impl Into<String>,
        actual: impl fmt::Display,
    ) -> Self {
        Error::Value {
            arg: arg.into(),
            expected: expected.into(),
            actual: actual.to_string(),
        }
    }
}

impl Error {
    /// A [`Error::Gpu`] error.
    pub fn gpu(reason: impl Into<String>) -> Self {
        Error::Gpu {
            reason: reason.into(),
        }
    }

    /// The [`Error::Gpu`] error of a build without the `gpu` feature.
    pub fn gpu_not_built() -> Self {
        Error::gpu(
            "this build of `attention` has no GPU backend; \
             rebuild with `--features gpu` (e.g. `cargo test --features gpu`)",
        )
    }
}

/// Formats a shape the way the docs write it: `(2, 5, 8)`.
pub fn fmt_shape(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("({})", dims.join(", "))
}

/// One expected axis length: a fixed size, or any size (written with its name, e.g. `seq`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Dim {
    /// The axis must have exactly this length.
    Is(usize),
    /// Any length (at least 1) is fine; the name is used in messages.
    Any(&'static str),
}

/// Checks `actual` against `expected` axis by axis and that no axis is empty.
///
/// `note` explains where fixed sizes come from, e.g. `"d_model = 4"`.
pub(crate) fn check_shape(arg: &str, actual: &[usize], expected: &[Dim], note: &str) -> Result<()> {
    let fits = actual.len() == expected.len()
        && actual.iter().zip(expected).all(|(&a, e)| match e {
            Dim::Is(n) => a == *n,
            Dim::Any(_) => a > 0,
        });
    if fits {
        return Ok(());
    }
    let dims: Vec<String> = expected
        .iter()
        .map(|e| match e {
            Dim::Is(n) => n.to_string(),
            Dim::Any(name) => (*name).to_string(),
        })
        .collect();
    let mut want = format!("({})", dims.join(", "));
    if expected.iter().any(|e| matches!(e, Dim::Any(_))) {
        want.push_str(", every axis non-empty");
    }
    if !note.is_empty() {
        want = format!("{want} with {note}");
    }
    Err(Error::shape(arg, want, actual))
}
