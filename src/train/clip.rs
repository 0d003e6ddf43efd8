//! Gradient clipping: all gradients scaled together so that their global norm is capped, as
//! `torch.nn.utils.clip_grad_norm_` (re-exported by [`super::optim`], where the training loop
//! uses it).

use ndarray::ArrayD;

use crate::error::{Error, Result};
use crate::gradients::Gradients;

/// Scales all gradients together so that their global 2-norm is at most `max_norm`, as
/// `torch.nn.utils.clip_grad_norm_`; returns the norm before clipping.
///
/// With ‖g‖ the 2-norm of all gradients seen as one vector, every gradient is multiplied by
/// min(1, max_norm / (‖g‖ + 10⁻⁶)): the direction is kept, only the length is capped.
///
/// ```
/// use attention::gradients::Gradients;
/// use attention::ndarray::array;
/// use attention::train::optim::clip_grad_norm;
///
/// let mut grads = Gradients::new();
/// grads.add("a", array![3.0_f32]);
/// grads.add("b", array![4.0_f32]); // ‖g‖ = 5
/// let norm = clip_grad_norm(&mut grads, 1.0)?;
/// assert_eq!(norm, 5.0);
/// assert!((grads.global_norm() - 1.0).abs() < 1e-6); // [0.6, 0.8]
/// # Ok::<(), attention::Error>(())
/// ```
///
/// Errors if `max_norm` is not a finite number > 0, or if the norm is NaN or infinite (the
/// error names the first gradient with a non-finite entry); the gradients are then left
/// unchanged.
pub fn clip_grad_norm(grads: &mut Gradients, max_norm: f32) -> Result<f32> {
    if !(max_norm > 0.0 && max_norm.is_finite()) {
        return Err(Error::value("max_norm", "a finite number > 0", max_norm));
    }
    let total = grads.global_norm();
    if !total.is_finite() {
        let has_bad_entry = |g: &ArrayD<f32>| g.iter().any(|v| !v.is_finite());
        let culprit = grads
            .names()
            .find(|n| grads.get(n).is_some_and(has_bad_entry));
        let arg = culprit.map_or("the gradients' norm".to_string(), |n| n.to_string());
        return Err(Error::value(arg, "finite gradients (a finite norm)", total));
    }
    // PyTorch: clip_coef = max_norm / (total + 1e-6), computed as max_norm · (1/(total + 1e-6)).
    let clip_coef = (1.0 / (total + 1e-6)) * max_norm;
    if clip_coef < 1.0 {
        grads.scale(clip_coef);
    }
    Ok(total)
}
