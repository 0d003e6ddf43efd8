//! `Linear`: y = x·Wᵀ + b, with PyTorch's `(out_features, in_features)` weight layout.

use ndarray::{Array, Array1, Array2, ArrayRef, ArrayViewMutD, Dimension};

use crate::backend::matmul;
use crate::error::{Error, Result};
use crate::gradients::Gradients;
use crate::kernels::for_each_row;
use crate::params::{Init, Module, Params};
use crate::weights::{NamedTensors, join};

/// A fully connected layer, exactly PyTorch's `nn.Linear`.
///
/// - `weight`: `(out_features, in_features)` (note the order: one row per output);
/// - `bias`: `(out_features)`, optional.
///
/// With a square weight, forgetting the transpose in `x·Wᵀ` still type-checks and gives wrong
/// numbers; the PyTorch fixtures in `tests/` catch exactly that.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    /// `(out_features, in_features)`.
    pub weight: Array2<f32>,
    /// `(out_features)`, or `None` for a layer without bias.
    pub bias: Option<Array1<f32>>,
}

impl Linear {
    /// A layer from explicit weights; `bias` must have `out_features` entries.
    pub fn new(weight: Array2<f32>, bias: Option<Array1<f32>>) -> Result<Self> {
        if weight.is_empty() {
            return Err(Error::shape(
                "weight",
                "(out_features, in_features), both > 0",
                weight.shape(),
            ));
        }
        if let Some(b) = &bias
            && b.len() != weight.nrows()
        {
            let want = format!("({},) = (out_features,)", weight.nrows());
            return Err(Error::shape("bias", want, b.shape()));
        }
        Ok(Linear { weight, bias })
    }

    /// `in_features → out_features`: `weight` and (when `bias`) `bias` read from `p`, or
    /// drawn with PyTorch's default init, uniform in ±1/√in_features.
    pub fn from_params(
        p: &Params,
        in_features: usize,
        out_features: usize,
        bias: bool,
    ) -> Result<Self> {
        let init = Init::Uniform(1.0 / (in_features as f32).sqrt());
        let weight = p.get("weight", &[out_features, in_features], init)?;
        let bias = match bias {
            true => Some(p.get("bias", &[out_features], init)?),
            false => None,
        };
        Linear::new(weight, bias)
    }

    /// Size of each input vector.
    pub fn in_features(&self) -> usize {
        self.weight.ncols()
    }

    /// Size of each output vector.
    pub fn out_features(&self) -> usize {
        self.weight.nrows()
    }

    /// `x · Wᵀ + b` over the last axis: `(..., in_features) → (..., out_features)`.
    ///
    /// ```
    /// use attention::nn::Linear;
    /// use attention::ndarray::array;
    ///
    /// // weight (out = 1, in = 2), bias (1): y = 1·x₀ + 2·x₁ + 0.5
    /// let linear = Linear::new(array![[1.0, 2.0]], Some(array![0.5]))?;
    /// let y = linear.forward(&array![[3.0_f32, 4.0]])?;
    /// assert_eq!(y, array![[11.5]]);
    /// # Ok::<(), attention::Error>(())
    /// ```
    // ANCHOR: linear_forward
    pub fn forward<D: Dimension>(&self, x: &ArrayRef<f32, D>) -> Result<Array<f32, D>> {
        let (d_in, d_out) = (self.in_features(), self.out_features());
        if x.ndim() == 0 || x.shape()[x.ndim() - 1] != d_in || x.is_empty() {
            let want = format!("(..., {d_in}) with in_features = {d_in}, no empty axis");
            return Err(Error::shape("x", want, x.shape()));
        }
        self.check_bias()?;
        let rows = x.len() / d_in;
        let x2 = x.to_shape((rows, d_in)).expect("same number of elements"); // (rows, in)
        let mut y = matmul(&x2, &self.weight.t()); // (rows, out)
        if let Some(b) = &self.bias {
            for_each_row(&mut y, |mut row| row += b); // b on every row, rows over the cores
        }
        let mut out_dim = x.raw_dim();
        out_dim[x.ndim() - 1] = d_out;
        Ok(y.into_shape_with_order(out_dim)
            .expect("rows · out elements"))
    }
    // ANCHOR_END: linear_forward

    // ANCHOR: linear_backward
    /// Backward of [`Linear::forward`]: given the forward's input `x (..., in)` and
    /// `dy = ∂L/∂y (..., out)`, adds ∂L/∂W and ∂L/∂b to `grads` (as `{prefix}.weight`,
    /// `{prefix}.bias`) and returns ∂L/∂x `(..., in)`.
    ///
    /// With the rows of x and dy stacked into matrices X `(rows, in)` and dY `(rows, out)`,
    /// Y = X·Wᵀ + b gives ∂L/∂X = dY·W, ∂L/∂W = dYᵀ·X (every row's outer product, summed) and
    /// ∂L/∂b = Σ_rows dY.
    pub fn backward<D: Dimension>(
        &self,
        x: &ArrayRef<f32, D>,
        dy: &ArrayRef<f32, D>,
        grads: &mut Gradients,
        prefix: &str,
    ) -> Result<Array<f32, D>> {
        let (dw, db) = self.weight_grads(x, dy)?; // (out, in), (out)
        grads.add(join(prefix, "weight"), dw);
        if self.bias.is_some() {
            grads.add(join(prefix, "bias"), db);
        }
        Ok(self.input_grad(dy))
    }

    /// ∂L/∂W = dYᵀ·X `(out, in)` and ∂L/∂b = Σ_rows dY `(out)`, for the forward's input `x`
    /// and `dy = ∂L/∂y`.
    pub fn weight_grads<D: Dimension>(
        &self,
        x: &ArrayRef<f32, D>,
        dy: &ArrayRef<f32, D>,
    ) -> Result<(Array2<f32>, Array1<f32>)> {
        let (d_in, d_out) = (self.in_features(), self.out_features());
        let mut want_dy = x.shape().to_vec();
        if let Some(last) = want_dy.last_mut() {
            *last = d_out;
        }
        if x.ndim() == 0 || x.shape()[x.ndim() - 1] != d_in || x.is_empty() {
            let want = format!("(..., {d_in}) with in_features = {d_in}, no empty axis");
            return Err(Error::shape("x", want, x.shape()));
        }
        if dy.shape() != want_dy.as_slice() {
            let want = format!("{}, the output's shape", crate::fmt_shape(&want_dy));
            return Err(Error::shape("dy", want, dy.shape()));
        }
        let rows = x.len() / d_in;
        let x2 = x.to_shape((rows, d_in)).expect("checked"); // (rows, in)
        let dy2 = dy.to_shape((rows, d_out)).expect("checked"); // (rows, out)
        let dw = matmul(&dy2.t(), &x2); // (out, in)
        let db = dy2.sum_axis(ndarray::Axis(0)); // (out)
        Ok((dw, db))
    }

    /// ∂L/∂x = dy·W: `(..., out) → (..., in)`. Shapes are checked by the caller.
    pub(crate) fn input_grad<D: Dimension>(&self, dy: &ArrayRef<f32, D>) -> Array<f32, D> {
        let (d_in, d_out) = (self.in_features(), self.out_features());
        let rows = dy.len() / d_out;
        let dy2 = dy.to_shape((rows, d_out)).expect("checked"); // (rows, out)
        let dx = matmul(&dy2, &self.weight); // (rows, in)
        let mut dim = dy.raw_dim();
        dim[dy.ndim() - 1] = d_in;
        dx.into_shape_with_order(dim).expect("rows · in elements")
    }
    // ANCHOR_END: linear_backward

    /// Errors unless the bias (a public field) has `out_features` entries.
    fn check_bias(&self) -> Result<()> {
        match &self.bias {
            Some(b) if b.len() != self.out_features() => {
                let want = format!("({},) = (out_features,)", self.out_features());
                Err(Error::shape("bias", want, b.shape()))
            }
            _ => Ok(()),
        }
    }
}

impl Module for Linear {
    /// `{prefix}.weight` and `{prefix}.bias`.
    fn parameters_into(&self, prefix: &str, out: &mut NamedTensors) {
        out.insert(join(prefix, "weight"), self.weight.clone());
        if let Some(b) = &self.bias {
            out.insert(join(prefix, "bias"), b.clone());
        }
    }

    fn visit_parameters_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ArrayViewMutD<f32>)) {
        f(&join(prefix, "weight"), self.weight.view_mut().into_dyn());
        if let Some(b) = &mut self.bias {
            f(&join(prefix, "bias"), b.view_mut().into_dyn());
        }
    }
}
