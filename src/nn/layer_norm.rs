//! `LayerNorm`: normalise each vector to mean 0, variance 1, then scale by γ and shift by β.

use ndarray::{Array, Array1, Array2, ArrayRef, ArrayViewMutD, Dimension, Zip};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::gradients::Gradients;
use crate::kernels::for_each_row;
use crate::params::{Init, Module, Params};
use crate::weights::{NamedTensors, join};

/// PyTorch's default `eps` for `nn.LayerNorm`.
pub const LAYER_NORM_EPS: f32 = 1e-5;

/// Layer normalisation over the last axis, exactly PyTorch's `nn.LayerNorm(d)`:
///
/// y = (x − mean(x)) / √(var(x) + eps) · γ + β, with the biased variance (divide by d).
///
/// Parameter names: `weight` (γ, shape `(d)`) and `bias` (β, shape `(d)`).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerNorm {
    /// γ, `(d)`: starts at 1.
    pub weight: Array1<f32>,
    /// β, `(d)`: starts at 0.
    pub bias: Array1<f32>,
    /// Added to the variance to avoid dividing by zero.
    pub eps: f32,
}

impl LayerNorm {
    /// γ = 1, β = 0, eps = 1e-5 (PyTorch's init).
    pub fn new(d: usize) -> Self {
        LayerNorm {
            weight: Array1::ones(d),
            bias: Array1::zeros(d),
            eps: LAYER_NORM_EPS,
        }
    }

    /// The same layer with another `eps` (BERT uses 1e-12, its config's `layer_norm_eps`).
    pub fn with_eps(self, eps: f32) -> Self {
        LayerNorm { eps, ..self }
    }

    /// The size `d` of the normalised axis.
    pub fn size(&self) -> usize {
        self.weight.len()
    }

    /// Normalises over the last axis: `(..., d) → (..., d)`.
    ///
    /// ```
    /// use attention::nn::LayerNorm;
    /// use attention::ndarray::array;
    ///
    /// let y = LayerNorm::new(2).forward(&array![[1.0_f32, 3.0]])?;
    /// // mean 2, variance 1: (−1, 1) up to eps
    /// assert!((y[[0, 0]] + 1.0).abs() < 1e-4 && (y[[0, 1]] - 1.0).abs() < 1e-4);
    /// # Ok::<(), attention::Error>(())
    /// ```
    // ANCHOR: layer_norm
    pub fn forward<D: Dimension>(&self, x: &ArrayRef<f32, D>) -> Result<Array<f32, D>> {
        let d = self.size();
        if x.ndim() == 0 || x.shape()[x.ndim() - 1] != d || x.is_empty() {
            let want = format!("(..., {d}) with normalized size d = {d}, no empty axis");
            return Err(Error::shape("x", want, x.shape()));
        }
        self.check_parameters()?;
        let mut y = x.to_owned(); // (..., d)
        // Every token vector on its own, the rows shared out over the cores.
        for_each_row(&mut y, |mut row| {
            // Mean and variance in f64: the squares of f32 entries above ~1.8e19 overflow f32
            // (the output would silently be β); in f64 every finite f32 input works.
            let mean = row.iter().map(|&v| v as f64).sum::<f64>() / d as f64;
            let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / d as f64;
            let inv_std = 1.0 / (var + self.eps as f64).sqrt();
            Zip::from(&mut row)
                .and(&self.weight)
                .and(&self.bias)
                .for_each(|v, &gamma, &beta| {
                    *v = ((*v as f64 - mean) * inv_std) as f32 * gamma + beta;
                });
        });
        Ok(y)
    }
    // ANCHOR_END: layer_norm

    // ANCHOR: layer_norm_backward
    /// Backward of [`LayerNorm::forward`]: given its input `x (..., d)` and `dy = ∂L/∂y`,
    /// adds ∂L/∂γ and ∂L/∂β to `grads` (`{prefix}.weight`, `{prefix}.bias`) and returns ∂L/∂x.
    ///
    /// Per row, with x̂ = (x − μ)·r and r = 1/√(σ² + eps): y = γ ⊙ x̂ + β, so ∂L/∂γ = Σ dy ⊙ x̂
    /// and ∂L/∂β = Σ dy over the rows. Writing g = dy ⊙ γ (the gradient at x̂), μ and σ² both
    /// depend on every entry of the row, and differentiating them gives (llm.c's
    /// `layernorm_backward`)
    ///
    /// ∂L/∂x = r · (g − mean(g) − x̂ · mean(g ⊙ x̂)).
    pub fn backward<D: Dimension>(
        &self,
        x: &ArrayRef<f32, D>,
        dy: &ArrayRef<f32, D>,
        grads: &mut Gradients,
        prefix: &str,
    ) -> Result<Array<f32, D>> {
        let d = self.size();
        if x.ndim() == 0 || x.shape()[x.ndim() - 1] != d || x.is_empty() {
            let want = format!("(..., {d}) with normalized size d = {d}, no empty axis");
            return Err(Error::shape("x", want, x.shape()));
        }
        if dy.shape() != x.shape() {
            let want = format!("{}, the shape of `x`", crate::fmt_shape(x.shape()));
            return Err(Error::shape("dy", want, dy.shape()));
        }
        self.check_parameters()?;
        let (rows, x_shape) = (x.len() / d, x.raw_dim());
        let x = x.to_shape((rows, d)).expect("same number of entries"); // (rows, d)
        let dy = dy.to_shape((rows, d)).expect("same number of entries"); // (rows, d)
        let mut dx = Array2::<f32>::zeros((rows, d)); // (rows, d)
        let mut x_hat = Array2::<f64>::zeros((rows, d)); // (rows, d), for ∂L/∂γ below
        // ∂L/∂x row by row; the rows are independent, so they are shared out over the cores.
        let dx_rows = dx
            .as_slice_mut()
            .expect("standard layout")
            .par_chunks_mut(d);
        let x_hat_rows = x_hat
            .as_slice_mut()
            .expect("standard layout")
            .par_chunks_mut(d);
        let scratch = || vec![0.0_f64; d]; // one row's ∂L/∂x̂, reused by each task
        let per_row = dx_rows.zip(x_hat_rows).enumerate();
        per_row.for_each_init(scratch, |g, (i, (dx, x_hat))| {
            let (x, dy) = (x.row(i), dy.row(i));
            let mean = x.iter().map(|&v| v as f64).sum::<f64>() / d as f64;
            let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / d as f64;
            let r = 1.0 / (var + self.eps as f64).sqrt();
            for (x_hat, &v) in x_hat.iter_mut().zip(&x) {
                *x_hat = (v as f64 - mean) * r; // x̂
            }
            for ((g, &dy), &gamma) in g.iter_mut().zip(&dy).zip(&self.weight) {
                *g = dy as f64 * gamma as f64; // ∂L/∂x̂
            }
            let mean_g = g.iter().sum::<f64>() / d as f64;
            let mean_g_xhat = g.iter().zip(&*x_hat).map(|(g, xh)| g * xh).sum::<f64>() / d as f64;
            for ((dx, &g), &x_hat) in dx.iter_mut().zip(g.iter()).zip(&*x_hat) {
                *dx = (r * (g - mean_g - x_hat * mean_g_xhat)) as f32;
            }
        });
        // ∂L/∂γ = Σ dy ⊙ x̂ and ∂L/∂β = Σ dy over the rows, in row order; the columns are
        // independent, so they are shared out over the cores.
        let (mut dgamma, mut dbeta) = (vec![0.0_f64; d], vec![0.0_f64; d]);
        let per_column = dgamma.par_iter_mut().zip(&mut dbeta).enumerate();
        per_column.for_each(|(c, (dgamma, dbeta))| {
            for (&dy, &x_hat) in dy.column(c).iter().zip(x_hat.column(c)) {
                *dgamma += dy as f64 * x_hat;
                *dbeta += dy as f64;
            }
        });
        let to_f32 = |v: Vec<f64>| v.into_iter().map(|v| v as f32).collect::<Array1<f32>>();
        grads.add(join(prefix, "weight"), to_f32(dgamma));
        grads.add(join(prefix, "bias"), to_f32(dbeta));
        Ok(dx.into_shape_with_order(x_shape).expect("the shape of `x`"))
    }
    // ANCHOR_END: layer_norm_backward

    /// Errors unless γ (`weight`) and β (`bias`) have the same length and `eps` is a
    /// positive number (the fields are public: checked on every forward).
    fn check_parameters(&self) -> Result<()> {
        let d = self.weight.len();
        if self.bias.len() != d {
            let want = format!("({d},), the length of `weight` (γ)");
            return Err(Error::shape("bias", want, self.bias.shape()));
        }
        if !(self.eps > 0.0 && self.eps.is_finite()) {
            return Err(Error::value(
                "eps",
                "a small positive number such as 1e-5",
                self.eps,
            ));
        }
        Ok(())
    }

    /// `weight` (γ) and `bias` (β), both `(d)`, read from `p`, or PyTorch's init γ = 1, β = 0.
    pub fn from_params(p: &Params, d: usize) -> Result<Self> {
        Ok(LayerNorm {
            weight: p.get("weight", &[d], Init::Ones)?,
            bias: p.get("bias", &[d], Init::Zeros)?,
            eps: LAYER_NORM_EPS,
        })
    }
}

impl Module for LayerNorm {
    /// `{prefix}.weight` and `{prefix}.bias`.
    fn parameters_into(&self, prefix: &str, out: &mut NamedTensors) {
        out.insert(join(prefix, "weight"), self.weight.clone());
        out.insert(join(prefix, "bias"), self.bias.clone());
    }

    fn visit_parameters_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ArrayViewMutD<f32>)) {
        f(&join(prefix, "weight"), self.weight.view_mut().into_dyn());
        f(&join(prefix, "bias"), self.bias.view_mut().into_dyn());
    }
}
