//! The compute seam: every matrix product in the crate goes through [`matmul`].
//!
//! Chapter code never calls `ndarray`'s `dot` directly. Keeping the products behind this one
//! function means a faster backend (BLAS, a GPU) can be swapped in here without touching the
//! chapters: the attention code reads the same whichever backend runs it.

use ndarray::{Array2, ArrayRef2};

/// `a · b` for `a` of shape `(m, k)` and `b` of shape `(k, n)`, giving `(m, n)`.
///
/// Callers check shapes before calling (and name the offending argument); a mismatch here is
/// a bug in the crate, so this panics with both shapes.
///
/// Transposes are free: pass `&w.t()` for `wᵀ`. The result is always in standard (row-major)
/// layout, so callers may reshape it freely.
///
/// ```
/// use attention::backend::matmul;
/// use attention::ndarray::array;
///
/// let a = array![[1.0_f32, 2.0], [3.0, 4.0]];
/// let b = array![[5.0_f32], [6.0]];
/// assert_eq!(matmul(&a, &b), array![[17.0], [39.0]]);
/// ```
pub fn matmul(a: &ArrayRef2<f32>, b: &ArrayRef2<f32>) -> Array2<f32> {
    assert_eq!(
        a.ncols(),
        b.nrows(),
        "internal error: matmul of {:?} by {:?}",
        a.shape(),
        b.shape()
    );
    let product = a.dot(b);
    if product.is_standard_layout() {
        product
    } else {
        product.as_standard_layout().into_owned()
    }
}
