//! A vectorised GELU: BERT's and GPT's feed-forward networks compute one `erf` per hidden
//! unit (14 million for chapter 11's 64 sentences), and the C library's `erff` costs about as
//! much as the matrix products around it.
//!
//! erf by Abramowitz & Stegun's formula 7.1.26 (|error| < 1.5·10⁻⁷ in exact arithmetic, 5·10⁻⁷ in f32;
//! the same formula PyTorch's vectorised CPU `erf` uses): with t = 1/(1 + p·|x|),
//! erf(x) = sign(x)·(1 − (a₁t + a₂t² + a₃t³ + a₄t⁴ + a₅t⁵)·e^(−x²)),
//! and e^(−x²) from the vectorised `exp` of [`super::exp`]: no branches, no calls, so the loop
//! becomes SIMD code. Large arrays are split over rayon's threads.

use rayon::prelude::*;

use super::exp::exp_one;
use super::rows::{TASK_ENTRIES, split_over_threads};

const P: f32 = 0.327_591_1;
const A1: f32 = 0.254_829_6;
const A2: f32 = -0.284_496_72;
const A3: f32 = 1.421_413_8;
const A4: f32 = -1.453_152;
const A5: f32 = 1.061_405_4;

/// erf(x) (Abramowitz & Stegun 7.1.26), written so that a loop over it vectorises.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + P * a);
    let poly = ((((A5 * t + A4) * t + A3) * t + A2) * t + A1) * t;
    let y = 1.0 - poly * exp_one(-a * a);
    y.copysign(x)
}

/// GELU(x) = x·½(1 + erf(x/√2)) for one number.
#[inline(always)]
fn gelu_one(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

#[inline(always)]
fn gelu_slice(xs: &mut [f32]) {
    for x in xs {
        *x = gelu_one(*x);
    }
}

/// The same loop compiled for AVX2 + FMA (8 lanes); chosen at run time when the CPU has it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn gelu_slice_avx2(xs: &mut [f32]) {
    gelu_slice(xs)
}

/// And for AVX-512 (16 lanes).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn gelu_slice_avx512(xs: &mut [f32]) {
    gelu_slice(xs)
}

fn gelu_slice_dispatch(xs: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            return unsafe { gelu_slice_avx512(xs) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            return unsafe { gelu_slice_avx2(xs) };
        }
    }
    gelu_slice(xs)
}

/// Replaces every `x` of `xs` by GELU(x), vectorised and, for large slices outside a parallel
/// section, on every thread.
///
/// ```
/// use attention::kernels::gelu_in_place;
///
/// let mut x = [-1.0_f32, 0.0, 1.0];
/// gelu_in_place(&mut x);
/// assert!((x[2] - 0.841_344_7).abs() < 1e-6 && x[1] == 0.0);
/// ```
pub fn gelu_in_place(xs: &mut [f32]) {
    if split_over_threads(xs.len()) {
        xs.par_chunks_mut(TASK_ENTRIES)
            .for_each(gelu_slice_dispatch);
    } else {
        gelu_slice_dispatch(xs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_within_5e7_of_libm_and_odd() {
        let mut worst = 0.0_f32;
        let mut x = -6.0_f32;
        while x <= 6.0 {
            worst = worst.max((erf(x) - libm::erff(x)).abs());
            assert_eq!(erf(-x), -erf(x));
            x += 0.001;
        }
        assert!(worst < 5e-7, "largest |erf − libm erff| = {worst:e}");
        assert!(erf(0.0).abs() < 5e-7); // the formula is not exactly 0 there
        assert_eq!(erf(f32::INFINITY), 1.0);
    }

    #[test]
    fn gelu_in_place_matches_the_scalar_definition_on_every_path() {
        // Long enough for the threaded path, with a ragged tail.
        let n = 3 * TASK_ENTRIES + 17;
        let xs: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin() * 8.0).collect();
        let mut ys = xs.clone();
        gelu_in_place(&mut ys);
        for (&x, &y) in xs.iter().zip(&ys) {
            let exact = x * 0.5 * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2));
            assert!(
                (y - exact).abs() <= 1e-6 * (1.0 + exact.abs()),
                "x = {x}: {y} vs {exact}"
            );
        }
    }
}
