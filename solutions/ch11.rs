//! Reference solutions — chapter 11, context-aware embeddings: an encoder-only model
//! (swapped in by the `solutions` feature).
//!
//! [`wrong`] holds realistic mistakes; the exercise checks must reject every one of them.

use ndarray::{Array1, Array2, Axis, s};

/// `ch11_gelu`: x · ½ · (1 + erf(x/√2)).
pub fn gelu(x: &Array1<f32>) -> Array1<f32> {
    x.mapv(|v| v * 0.5 * (1.0 + libm::erff(v / std::f32::consts::SQRT_2)))
}

/// `ch11_mean_pool`: the mean of the first `length` rows.
pub fn mean_pool(hidden: &Array2<f32>, length: usize) -> Array1<f32> {
    hidden.slice(s![..length, ..]).sum_axis(Axis(0)) / length as f32
}

/// Realistic wrong answers, each rejected by its exercise's check.
pub mod wrong {
    use super::*;

    /// `ch11_gelu`, mistake: GPT-2's tanh approximation
    /// 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))) instead of the exact erf form.
    pub fn tanh_approximation(x: &Array1<f32>) -> Array1<f32> {
        let c = (2.0 / std::f32::consts::PI).sqrt();
        x.mapv(|v| 0.5 * v * (1.0 + (c * (v + 0.044_715 * v * v * v)).tanh()))
    }

    /// `ch11_gelu`, mistake: erf(x) instead of erf(x/√2).
    pub fn missing_sqrt2(x: &Array1<f32>) -> Array1<f32> {
        x.mapv(|v| v * 0.5 * (1.0 + libm::erff(v)))
    }

    /// `ch11_gelu`, mistake: ReLU, max(0, x).
    pub fn relu(x: &Array1<f32>) -> Array1<f32> {
        x.mapv(|v| v.max(0.0))
    }

    /// `ch11_mean_pool`, mistake: the mean over all `seq` rows, padding included.
    pub fn includes_padding(hidden: &Array2<f32>, _length: usize) -> Array1<f32> {
        hidden.mean_axis(Axis(0)).expect("at least one row")
    }

    /// `ch11_mean_pool`, mistake: sums the real rows but divides by `seq`.
    pub fn divides_by_seq(hidden: &Array2<f32>, length: usize) -> Array1<f32> {
        hidden.slice(s![..length, ..]).sum_axis(Axis(0)) / hidden.nrows() as f32
    }

    /// `ch11_mean_pool`, mistake: the sum of the real rows, not their mean.
    pub fn sums(hidden: &Array2<f32>, length: usize) -> Array1<f32> {
        hidden.slice(s![..length, ..]).sum_axis(Axis(0))
    }
}
