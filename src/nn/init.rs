//! Seeded random initialisation that gives the same numbers on every platform.
//!
//! Weights come from [`SeededRng`] (ChaCha8, whose output stream is fixed by its
//! specification) through two small distributions written here, [`StableUniform`] and
//! [`StableNormal`], so a seed means the same weights on every machine and with every
//! version of `rand`. The schemes mirror PyTorch's defaults.

use ndarray::{Array, Array1, Array2, Dimension, ShapeBuilder};
use ndarray_rand::RandomExt;
use ndarray_rand::rand::distr::Distribution;
use ndarray_rand::rand::{Rng, SeedableRng};

/// The crate's random number generator: ChaCha8, seeded explicitly.
pub type SeededRng = rand_chacha::ChaCha8Rng;

/// A generator seeded with `seed`: the same seed gives the same weights everywhere.
///
/// ```
/// use attention::nn::init::{seeded_rng, uniform};
/// let a = uniform((2, 3), 1.0, &mut seeded_rng(42));
/// let b = uniform((2, 3), 1.0, &mut seeded_rng(42));
/// assert_eq!(a, b);
/// ```
pub fn seeded_rng(seed: u64) -> SeededRng {
    SeededRng::seed_from_u64(seed)
}

/// Uniform on `[low, high)`, built from the top 24 bits of one `u32` (all an f32 can hold).
#[derive(Debug, Clone, Copy)]
pub struct StableUniform {
    low: f32,
    high: f32,
}

impl StableUniform {
    /// Uniform on `[low, high)`.
    pub fn new(low: f32, high: f32) -> Self {
        StableUniform { low, high }
    }
}

impl Distribution<f32> for StableUniform {
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f32 {
        let unit = (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32; // in [0, 1)
        self.low + (self.high - self.low) * unit
    }
}

/// Normal with mean 0 and standard deviation `std`, by the Box–Muller transform.
#[derive(Debug, Clone, Copy)]
pub struct StableNormal {
    std: f32,
}

impl StableNormal {
    /// Normal(0, std²).
    pub fn new(std: f32) -> Self {
        StableNormal { std }
    }
}

impl Distribution<f32> for StableNormal {
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f32 {
        // u1 in (0, 1] so that ln(u1) is finite.
        let u1 = ((rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        self.std * z as f32
    }
}

/// An array of the given shape with entries uniform on `[-bound, bound)`.
pub fn uniform<Sh, D>(shape: Sh, bound: f32, rng: &mut SeededRng) -> Array<f32, D>
where
    Sh: ShapeBuilder<Dim = D>,
    D: Dimension,
{
    Array::random_using(shape, StableUniform::new(-bound, bound), rng)
}

/// An array of the given shape with entries from Normal(0, std²).
pub fn normal<Sh, D>(shape: Sh, std: f32, rng: &mut SeededRng) -> Array<f32, D>
where
    Sh: ShapeBuilder<Dim = D>,
    D: Dimension,
{
    Array::random_using(shape, StableNormal::new(std), rng)
}

/// Xavier/Glorot uniform for a `(fan_out, fan_in)` weight, PyTorch's `xavier_uniform_`:
/// bound = √(6 / (fan_in + fan_out)). `nn.Transformer` and `nn.MultiheadAttention` use it.
pub fn xavier_uniform(fan_out: usize, fan_in: usize, rng: &mut SeededRng) -> Array2<f32> {
    let bound = (6.0 / (fan_in + fan_out) as f32).sqrt();
    uniform((fan_out, fan_in), bound, rng)
}

/// PyTorch's default `nn.Linear` init: weight and bias uniform with bound 1/√fan_in.
///
/// Returns `(weight (fan_out, fan_in), bias (fan_out))`.
pub fn linear_default(
    fan_out: usize,
    fan_in: usize,
    rng: &mut SeededRng,
) -> (Array2<f32>, Array1<f32>) {
    let bound = 1.0 / (fan_in as f32).sqrt();
    let weight = uniform((fan_out, fan_in), bound, rng);
    let bias = uniform(fan_out, bound, rng);
    (weight, bias)
}
