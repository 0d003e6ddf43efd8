//! Softmax: turn a row of scores into "percentages of influence" that sum to 1.

use ndarray::{Array, ArrayRef, ArrayRef1, Axis, Dimension, Zip};

use crate::kernels::exp_in_place;

/// Softmax over the last axis, numerically stable.
///
/// softmax(x)ᵢ = exp(xᵢ − max x) / Σⱼ exp(xⱼ − max x). Subtracting the row maximum changes
/// nothing mathematically but keeps `exp` from overflowing, so scores of ±1e4 are fine.
///
/// **Fully masked rows**: a row whose entries are all −∞ (every key masked out) has no
/// meaningful distribution; it becomes all zeros, never NaN. Attention then outputs a zero
/// vector for that query (the same choice as PyTorch's `_safe_softmax` in
/// `scaled_dot_product_attention`).
///
/// **NaN in, NaN out**: a row holding a NaN, or a +∞ (no finite distribution), becomes all
/// NaN, so a bad value upstream shows instead of passing for a masked row. (−∞ is a masked
/// score; the others of its row stay valid.)
///
/// ```
/// use attention::nn::softmax;
/// use attention::ndarray::array;
///
/// let p = softmax(&array![[0.0_f32, 0.0], [f32::NEG_INFINITY, f32::NEG_INFINITY]]);
/// assert_eq!(p, array![[0.5, 0.5], [0.0, 0.0]]);
/// ```
// ANCHOR: softmax
pub fn softmax<D: Dimension>(x: &ArrayRef<f32, D>) -> Array<f32, D> {
    let mut out = x.to_owned();
    if out.ndim() == 0 {
        return out;
    }
    let last = Axis(out.ndim() - 1);
    for mut row in out.lanes_mut(last) {
        softmax_in_place(&mut row);
    }
    out
}

/// Softmax of one row, in place: the body of [`softmax`]. A row of only −∞ becomes zeros; a
/// row with a NaN or +∞ becomes NaN.
pub fn softmax_in_place(row: &mut ArrayRef1<f32>) {
    let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v)); // (`max` skips NaN)
    if max == f32::NEG_INFINITY {
        // Every key masked: zeros. Unless it was NaN, which must not pass for masked.
        let nan = row.iter().any(|v| v.is_nan());
        row.fill(if nan { f32::NAN } else { 0.0 });
        return;
    }
    row.mapv_inplace(|v| v - max);
    exp_in_place(row); // eᵛ for every entry
    let sum = row.sum(); // ≥ 1 (the max entry gives exp(0) = 1), or NaN if a score was NaN or +∞
    row.mapv_inplace(|v| v / sum);
}
// ANCHOR_END: softmax

// ANCHOR: softmax_backward
/// Backward of [`softmax`] over the last axis: given its output `y` and `dy = ∂L/∂y`, returns
/// ∂L/∂x.
///
/// The Jacobian of one row is ∂yᵢ/∂xⱼ = yᵢ(δᵢⱼ − yⱼ), so the vector–Jacobian product is
///
/// ∂L/∂xᵢ = Σⱼ dyⱼ · yᵢ(δᵢⱼ − yⱼ) = yᵢ · (dyᵢ − Σⱼ yⱼ·dyⱼ).
///
/// A fully masked row (all zeros in `y`) gets a zero gradient, never NaN; so does every
/// masked entry (yᵢ = 0). Shapes must match (checked by the callers in this crate).
pub fn softmax_backward<D: Dimension>(
    y: &ArrayRef<f32, D>,
    dy: &ArrayRef<f32, D>,
) -> Array<f32, D> {
    let mut dx = dy.to_owned();
    if dx.ndim() == 0 {
        return dx;
    }
    let last = Axis(dx.ndim() - 1);
    for (mut dx, y) in dx.lanes_mut(last).into_iter().zip(y.lanes(last)) {
        let dot: f32 = Zip::from(&dx)
            .and(&y)
            .fold(0.0, |acc, &dy, &y| acc + dy * y); // Σⱼ yⱼ·dyⱼ
        Zip::from(&mut dx)
            .and(&y)
            .for_each(|d, &y| *d = y * (*d - dot));
    }
    dx
}
// ANCHOR_END: softmax_backward
