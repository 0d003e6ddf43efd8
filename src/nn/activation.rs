//! Activation functions: the non-linearity between a feed-forward network's two layers.
//!
//! The Transformer paper (and `nn.TransformerEncoderLayer` by default) uses ReLU; GPT and
//! BERT use GELU, a smooth version of it.

use ndarray::{Array, ArrayRef, Dimension, Zip};

use crate::kernels::for_each_row;

/// Which non-linearity a [`crate::nn::FeedForward`] applies to its hidden layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activation {
    /// max(0, x): the paper's and PyTorch's default (`activation="relu"`).
    #[default]
    Relu,
    /// x·Φ(x), the exact erf form (`activation="gelu"`, BERT's `hidden_act = "gelu"`).
    Gelu,
}

// ANCHOR: activation
impl Activation {
    /// Applies the activation to every entry.
    pub fn forward<D: Dimension>(self, x: &ArrayRef<f32, D>) -> Array<f32, D> {
        let mut y = x.to_owned();
        self.forward_in_place(&mut y);
        y
    }

    /// [`Activation::forward`] in place: no copy (on every core for a large array).
    pub fn forward_in_place<D: Dimension>(self, x: &mut ArrayRef<f32, D>) {
        match self {
            Activation::Relu => for_each_row(x, |mut row| row.mapv_inplace(relu)),
            Activation::Gelu => gelu_in_place(x),
        }
    }

    /// `dy ⊙ f'(x)`, given the activation's input `x` and the gradient `dy` at its output.
    pub fn backward<D: Dimension>(
        self,
        x: &ArrayRef<f32, D>,
        dy: &ArrayRef<f32, D>,
    ) -> Array<f32, D> {
        match self {
            // ∂relu(z)/∂z = 1 if z > 0 else 0: the gradient passes where the input was positive.
            Activation::Relu => {
                let mut dx = dy.to_owned();
                dx.zip_mut_with(x, |d, &z| *d = if z > 0.0 { *d } else { 0.0 });
                dx
            }
            Activation::Gelu => gelu_backward(x, dy),
        }
    }
}
// ANCHOR_END: activation

/// ReLU(x) = max(0, x).
pub fn relu(x: f32) -> f32 {
    x.max(0.0)
}

// ANCHOR: gelu
/// GELU, the exact (erf) form of PyTorch's `nn.GELU()`: x · Φ(x), with Φ the standard normal
/// CDF, Φ(x) = ½(1 + erf(x/√2)). Like ReLU for large |x|, but smooth around 0 and slightly
/// negative for small negative x.
pub fn gelu<D: Dimension>(x: &ArrayRef<f32, D>) -> Array<f32, D> {
    let mut y = x.to_owned();
    gelu_in_place(&mut y);
    y
}

/// [`gelu`] in place.
fn gelu_in_place<D: Dimension>(y: &mut ArrayRef<f32, D>) {
    match y.as_slice_mut() {
        Some(values) => crate::kernels::gelu_in_place(values), // the same, vectorised
        None => y.mapv_inplace(|x| x * normal_cdf(x)),
    }
}

/// Backward of [`gelu`]: d/dx [x·Φ(x)] = Φ(x) + x·φ(x), with φ(x) = e^(−x²/2)/√(2π) the
/// normal density; returns `dy ⊙ gelu'(x)`.
pub fn gelu_backward<D: Dimension>(x: &ArrayRef<f32, D>, dy: &ArrayRef<f32, D>) -> Array<f32, D> {
    gelu_backward_with_cdf(x, &x.mapv(normal_cdf), dy)
}
// ANCHOR_END: gelu

/// Φ(x) = ½(1 + erf(x/√2)), the standard normal CDF (erf from [`crate::kernels`], the same
/// formula as its vectorised GELU, within 5·10⁻⁷ of the exact erf).
pub(crate) fn normal_cdf(x: f32) -> f32 {
    0.5 * (1.0 + crate::kernels::erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// [`gelu_backward`] given Φ(x) from the forward (erf is the costly part: computed once).
pub(crate) fn gelu_backward_with_cdf<D: Dimension>(
    x: &ArrayRef<f32, D>,
    cdf: &ArrayRef<f32, D>,
    dy: &ArrayRef<f32, D>,
) -> Array<f32, D> {
    let inv_sqrt_2pi = 0.5 * std::f32::consts::FRAC_2_SQRT_PI * std::f32::consts::FRAC_1_SQRT_2;
    let mut dx = Array::zeros(x.raw_dim());
    Zip::from(&mut dx)
        .and(x)
        .and(cdf)
        .and(dy)
        .for_each(|dx, &x, &cdf, &dy| {
            let pdf = inv_sqrt_2pi * (-0.5 * x * x).exp(); // φ(x)
            *dx = dy * (cdf + x * pdf);
        });
    dx
}
