//! Chapter 9 exercises — training a Transformer. Book: chapter 9; code: [`crate::train`] and
//! the `backward` beside every `forward` ([`crate::nn::Linear::backward`],
//! [`crate::nn::softmax_backward`], [`crate::nn::LayerNorm::backward`],
//! [`crate::self_attention::scaled_dot_product_attention_backward`]).
//!
//! Check them with `cargo exercise ch09`. Each exercise is one backward pass (or one optimizer
//! step) in plain ndarray: given the forward's inputs and dY = ∂L/∂Y, the gradient of the loss
//! with respect to the output, return the gradients with respect to the inputs and weights,
//! each of the same shape as what it is the gradient of. Don't call the crate's `backward`
//! functions: the checks compare you with PyTorch's autograd, with hand-derived cases and with
//! finite differences, so you would only learn that the crate is right.

use ndarray::{Array1, Array2};

use super::AdamConfig;

/// Exercise `ch09_cross_entropy_grad` — the gradient of the loss at one position.
///
/// `logits`: the model's scores z `(V)` for the next token; `target`: the right token t;
/// `label_smoothing`: ε in [0, 1]. The loss is ℓ = −Σⱼ qⱼ log pⱼ with p = softmax(z) and the
/// smoothed target q = (1 − ε)·onehot(t) + ε/V. Return ∂ℓ/∂z `(V)`:
///
/// ```text
/// ∂ℓ/∂zⱼ = pⱼ − qⱼ
/// ```
///
/// (For a batch the loss is the mean over the positions; that division is not part of this
/// exercise.) Logits of 1000 must not overflow.
///
/// Re-read: chapter 9, section "The gradient of the loss".
#[allow(unused_variables)]
pub fn cross_entropy_grad(
    logits: &Array1<f32>,
    target: usize,
    label_smoothing: f32,
) -> Array1<f32> {
    // TODO: a stable softmax of the logits, then subtract the smoothed one-hot target.
    todo!()
}

/// Exercise `ch09_linear_backward` — the backward of a linear layer.
///
/// The forward was Y = X·Wᵀ + b with `x`: X `(n, in)`, `w`: W `(out, in)` (PyTorch's layout),
/// b `(out)`, Y `(n, out)`. Given `dy` = ∂L/∂Y `(n, out)`, return `(dx, dw, db)`:
///
/// ```text
/// dX = dY · W       (n, in)
/// dW = dYᵀ · X      (out, in)
/// db = Σ_rows dY    (out)
/// ```
///
/// Re-read: chapter 9, section "Linear".
#[allow(unused_variables)]
pub fn linear_backward(
    x: &Array2<f32>,
    w: &Array2<f32>,
    dy: &Array2<f32>,
) -> (Array2<f32>, Array2<f32>, Array1<f32>) {
    // TODO: three products of dy with w or x; let the shapes guide you.
    todo!()
}

/// Exercise `ch09_softmax_backward` — the backward of softmax, one row.
///
/// The forward was y = softmax(x) over one row `(V)`; `y` is its output, `dy` = ∂L/∂y `(V)`.
/// Every yᵢ depends on every xⱼ (∂yᵢ/∂xⱼ = yᵢ(δᵢⱼ − yⱼ)); the vector–Jacobian product is
///
/// ```text
/// dxᵢ = yᵢ · (dyᵢ − Σⱼ yⱼ·dyⱼ)
/// ```
///
/// Return dx `(V)`. Masked entries (yᵢ = 0) get 0.
///
/// Re-read: chapter 9, section "Softmax: the vector–Jacobian product".
#[allow(unused_variables)]
pub fn softmax_backward(y: &Array1<f32>, dy: &Array1<f32>) -> Array1<f32> {
    // TODO: one dot product for the whole row, then one expression per entry.
    todo!()
}

/// Exercise `ch09_sdpa_backward` — the backward of one attention head (no mask).
///
/// The forward was S = Q·Kᵀ/√d_k, P = softmax(S) row by row, O = P·V, with `q`: Q
/// `(tgt_len, d_k)`, `k`: K `(src_len, d_k)`, `v`: V `(src_len, d_v)`. Given `d_out` =
/// ∂L/∂O `(tgt_len, d_v)`, return `(dq, dk, dv)`, of the shapes of Q, K and V:
///
/// ```text
/// dV = Pᵀ · dO      dP = dO · Vᵀ      dS = softmax_backward(P, dP), row by row
/// dQ = dS · K / √d_k                  dK = dSᵀ · Q / √d_k
/// ```
///
/// Recompute P from q and k first (the forward's weights).
///
/// Re-read: chapter 9, section "Scaled dot-product attention".
#[allow(unused_variables)]
pub fn sdpa_backward(
    q: &Array2<f32>,
    k: &Array2<f32>,
    v: &Array2<f32>,
    d_out: &Array2<f32>,
) -> (Array2<f32>, Array2<f32>, Array2<f32>) {
    // TODO: the forward's P, then backwards through O = P·V, the softmax and S = Q·Kᵀ/√d_k.
    todo!()
}

/// Exercise `ch09_layer_norm_backward` — the backward of LayerNorm, one row.
///
/// The forward normalised `x` `(d)`: μ = mean(x), σ² = mean((x − μ)²) (biased),
/// r = 1/√(σ² + eps), x̂ = (x − μ)·r, y = γ ⊙ x̂ + β, with `gamma`: γ `(d)`. Given `dy` =
/// ∂L/∂y `(d)`, return ∂L/∂x `(d)`. With g = dy ⊙ γ (the gradient at x̂):
///
/// ```text
/// dx = r · (g − mean(g) − x̂ · mean(g ⊙ x̂))
/// ```
///
/// μ and σ² depend on every entry of x: that is where the two subtracted terms come from.
///
/// Re-read: chapter 9, section "LayerNorm".
#[allow(unused_variables)]
pub fn layer_norm_backward(
    x: &Array1<f32>,
    gamma: &Array1<f32>,
    dy: &Array1<f32>,
    eps: f32,
) -> Array1<f32> {
    // TODO: recompute μ, r and x̂ as the forward did, then the formula.
    todo!()
}

/// Exercise `ch09_adam_step` — one Adam update of one parameter, as `torch.optim.Adam` does it
/// (no weight decay).
///
/// `param` θ, its gradient `grad` g and Adam's two moments `m` and `v` (zeros before the first
/// step) all have the same shape; `step` is t, the number of this step (1 for the first);
/// `config` holds lr γ, β₁, β₂ and ε. Update `m`, `v` and `param` in place:
///
/// ```text
/// m ← β₁·m + (1 − β₁)·g
/// v ← β₂·v + (1 − β₂)·g²
/// m̂ = m / (1 − β₁ᵗ)            v̂ = v / (1 − β₂ᵗ)
/// θ ← θ − γ · m̂ / (√v̂ + ε)
/// ```
///
/// `m` and `v` keep the running averages themselves, not the bias-corrected m̂ and v̂: the
/// next step builds on them.
///
/// Re-read: chapter 9, section "Adam and AdamW".
#[allow(unused_variables)]
pub fn adam_step(
    param: &mut Array1<f32>,
    grad: &Array1<f32>,
    m: &mut Array1<f32>,
    v: &mut Array1<f32>,
    step: u32,
    config: &AdamConfig,
) {
    // TODO: update the two moments, correct their bias, then step the parameter.
    todo!()
}
