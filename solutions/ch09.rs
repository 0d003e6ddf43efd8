//! Reference solutions — chapter 9, training a Transformer (swapped in by the `solutions`
//! feature).
//!
//! [`wrong`] holds realistic mistakes; the exercise checks must reject every one of them.

use ndarray::{Array1, Array2, Axis, Zip};

use super::AdamConfig;

/// Softmax of one row, shifted by its maximum (e^1000 would overflow).
fn softmax(z: &Array1<f32>) -> Array1<f32> {
    let max = z.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let e = z.mapv(|v| (v - max).exp());
    let sum = e.sum();
    e / sum
}

/// `ch09_cross_entropy_grad`: p − q, with q = (1 − ε)·onehot(target) + ε/V.
pub fn cross_entropy_grad(
    logits: &Array1<f32>,
    target: usize,
    label_smoothing: f32,
) -> Array1<f32> {
    let vocab = logits.len() as f32;
    let mut grad = softmax(logits) - label_smoothing / vocab; // p − ε/V for every token…
    grad[target] -= 1.0 - label_smoothing; // …and the target's share 1 − ε on top
    grad
}

/// `ch09_linear_backward`: dX = dY·W, dW = dYᵀ·X, db = Σ_rows dY.
pub fn linear_backward(
    x: &Array2<f32>,
    w: &Array2<f32>,
    dy: &Array2<f32>,
) -> (Array2<f32>, Array2<f32>, Array1<f32>) {
    let dx = dy.dot(w); // (n, out) · (out, in) = (n, in)
    let dw = dy.t().dot(x); // (out, n) · (n, in) = (out, in): each row's outer product, summed
    let db = dy.sum_axis(Axis(0)); // (out): b was added to every row
    (dx, dw, db)
}

/// `ch09_softmax_backward`: dxᵢ = yᵢ · (dyᵢ − Σⱼ yⱼ·dyⱼ).
pub fn softmax_backward(y: &Array1<f32>, dy: &Array1<f32>) -> Array1<f32> {
    let dot = y.dot(dy); // Σⱼ yⱼ·dyⱼ, the same for every i
    Zip::from(y).and(dy).map_collect(|&y, &dy| y * (dy - dot))
}

/// The attention weights P = softmax(Q·Kᵀ/√d_k), row by row, and 1/√d_k.
fn attention_weights(q: &Array2<f32>, k: &Array2<f32>) -> (Array2<f32>, f32) {
    let scale = 1.0 / (q.ncols() as f32).sqrt();
    let mut p = q.dot(&k.t()) * scale; // S, (tgt_len, src_len)
    for mut row in p.rows_mut() {
        let weights = softmax(&row.to_owned());
        row.assign(&weights);
    }
    (p, scale)
}

/// `ch09_sdpa_backward`: backwards through O = P·V, P = softmax(S), S = Q·Kᵀ/√d_k.
pub fn sdpa_backward(
    q: &Array2<f32>,
    k: &Array2<f32>,
    v: &Array2<f32>,
    d_out: &Array2<f32>,
) -> (Array2<f32>, Array2<f32>, Array2<f32>) {
    let (p, scale) = attention_weights(q, k); // (tgt_len, src_len)
    let dv = p.t().dot(d_out); // (src_len, d_v)
    let dp = d_out.dot(&v.t()); // (tgt_len, src_len)
    let mut ds = Array2::zeros(p.raw_dim());
    for ((p, dp), mut ds) in p.rows().into_iter().zip(dp.rows()).zip(ds.rows_mut()) {
        ds.assign(&softmax_backward(&p.to_owned(), &dp.to_owned()));
    }
    ds *= scale; // S = (Q·Kᵀ)·scale: the scale comes back in the backward
    (ds.dot(k), ds.t().dot(q), dv) // dQ (tgt_len, d_k), dK (src_len, d_k), dV
}

/// `ch09_layer_norm_backward`: dx = r · (g − mean(g) − x̂ · mean(g ⊙ x̂)), g = dy ⊙ γ.
pub fn layer_norm_backward(
    x: &Array1<f32>,
    gamma: &Array1<f32>,
    dy: &Array1<f32>,
    eps: f32,
) -> Array1<f32> {
    let d = x.len() as f32;
    let mean = x.sum() / d;
    let var = x.mapv(|v| (v - mean).powi(2)).sum() / d; // biased, as in the forward
    let r = 1.0 / (var + eps).sqrt();
    let x_hat = x.mapv(|v| (v - mean) * r);
    let g = dy * gamma; // ∂L/∂x̂
    let mean_g = g.sum() / d; // through μ
    let mean_g_xhat = (&g * &x_hat).sum() / d; // through σ²
    (g - mean_g - &x_hat * mean_g_xhat) * r
}

/// `ch09_adam_step`: the moments, their bias corrections, then the step (torch.optim.Adam).
pub fn adam_step(
    param: &mut Array1<f32>,
    grad: &Array1<f32>,
    m: &mut Array1<f32>,
    v: &mut Array1<f32>,
    step: u32,
    config: &AdamConfig,
) {
    let AdamConfig {
        lr,
        beta1,
        beta2,
        eps,
    } = *config;
    Zip::from(&mut *m)
        .and(grad)
        .for_each(|m, &g| *m = beta1 * *m + (1.0 - beta1) * g);
    Zip::from(&mut *v)
        .and(grad)
        .for_each(|v, &g| *v = beta2 * *v + (1.0 - beta2) * g * g);
    let t = step as i32;
    let (correction1, correction2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
    Zip::from(param).and(&*m).and(&*v).for_each(|p, &m, &v| {
        let (m_hat, v_hat) = (m / correction1, v / correction2); // unbiased from the first step
        *p -= lr * m_hat / (v_hat.sqrt() + eps);
    });
}

/// Realistic wrong answers, each rejected by its exercise's check.
pub mod wrong {
    use super::*;

    /// `ch09_cross_entropy_grad`, mistake: forgets the label smoothing (q = onehot).
    pub fn forgets_smoothing(logits: &Array1<f32>, target: usize, _smoothing: f32) -> Array1<f32> {
        let mut grad = softmax(logits);
        grad[target] -= 1.0;
        grad
    }

    /// `ch09_cross_entropy_grad`, mistake: the gradient with respect to the probabilities,
    /// −qⱼ/pⱼ (−1/p at the target without smoothing), instead of the logits.
    pub fn gradient_wrt_probabilities(
        logits: &Array1<f32>,
        target: usize,
        label_smoothing: f32,
    ) -> Array1<f32> {
        let (p, vocab) = (softmax(logits), logits.len() as f32);
        let q = Array1::from_shape_fn(p.len(), |j| {
            label_smoothing / vocab
                + if j == target {
                    1.0 - label_smoothing
                } else {
                    0.0
                }
        });
        -q / p
    }

    /// `ch09_cross_entropy_grad`, mistake: spreads ε over the V − 1 wrong tokens only (the
    /// target gets 1 − ε, as in some implementations), not over all V.
    pub fn smoothing_excludes_target(
        logits: &Array1<f32>,
        target: usize,
        label_smoothing: f32,
    ) -> Array1<f32> {
        let others = label_smoothing / (logits.len() as f32 - 1.0);
        let mut grad = softmax(logits) - others;
        grad[target] += others - (1.0 - label_smoothing);
        grad
    }

    /// `ch09_linear_backward`, mistake: dW = Xᵀ·dY, the transpose of the right answer
    /// (shape (in, out)).
    pub fn dw_not_transposed(
        x: &Array2<f32>,
        w: &Array2<f32>,
        dy: &Array2<f32>,
    ) -> (Array2<f32>, Array2<f32>, Array1<f32>) {
        (dy.dot(w), x.t().dot(dy), dy.sum_axis(Axis(0)))
    }

    /// `ch09_linear_backward`, mistake: db sums each row of dY (over the outputs) instead of
    /// summing over the rows.
    pub fn db_sums_wrong_axis(
        x: &Array2<f32>,
        w: &Array2<f32>,
        dy: &Array2<f32>,
    ) -> (Array2<f32>, Array2<f32>, Array1<f32>) {
        (dy.dot(w), dy.t().dot(x), dy.sum_axis(Axis(1)))
    }

    /// `ch09_linear_backward`, mistake: db averages dY over the rows instead of summing.
    pub fn db_mean_over_rows(
        x: &Array2<f32>,
        w: &Array2<f32>,
        dy: &Array2<f32>,
    ) -> (Array2<f32>, Array2<f32>, Array1<f32>) {
        let db = dy.mean_axis(Axis(0)).unwrap();
        (dy.dot(w), dy.t().dot(x), db)
    }

    /// `ch09_softmax_backward`, mistake: only the Jacobian's diagonal, yᵢ(1 − yᵢ)·dyᵢ.
    pub fn diagonal_only(y: &Array1<f32>, dy: &Array1<f32>) -> Array1<f32> {
        Zip::from(y)
            .and(dy)
            .map_collect(|&y, &dy| y * (1.0 - y) * dy)
    }

    /// `ch09_softmax_backward`, mistake: subtracts Σⱼ dyⱼ, not weighted by yⱼ.
    pub fn unweighted_sum(y: &Array1<f32>, dy: &Array1<f32>) -> Array1<f32> {
        let sum = dy.sum();
        Zip::from(y).and(dy).map_collect(|&y, &dy| y * (dy - sum))
    }

    /// `ch09_sdpa_backward`, mistake: forgets the 1/√d_k in dQ and dK (the forward had it).
    pub fn forgets_scale_in_backward(
        q: &Array2<f32>,
        k: &Array2<f32>,
        v: &Array2<f32>,
        d_out: &Array2<f32>,
    ) -> (Array2<f32>, Array2<f32>, Array2<f32>) {
        let (dq, dk, dv) = sdpa_backward(q, k, v, d_out);
        let undo = (q.ncols() as f32).sqrt();
        (dq * undo, dk * undo, dv)
    }

    /// `ch09_sdpa_backward`, mistake: the softmax backward keeps only the Jacobian's diagonal,
    /// dS = P ⊙ (1 − P) ⊙ dP.
    pub fn diagonal_softmax_backward(
        q: &Array2<f32>,
        k: &Array2<f32>,
        v: &Array2<f32>,
        d_out: &Array2<f32>,
    ) -> (Array2<f32>, Array2<f32>, Array2<f32>) {
        let (p, scale) = attention_weights(q, k);
        let dp = d_out.dot(&v.t());
        let ds = Zip::from(&p)
            .and(&dp)
            .map_collect(|&p, &dp| p * (1.0 - p) * dp)
            * scale;
        (ds.dot(k), ds.t().dot(q), p.t().dot(d_out))
    }

    /// `ch09_sdpa_backward`, mistake: dV = P·dO, without the transpose (only fits when
    /// tgt_len = src_len, and is wrong there too).
    pub fn dv_not_transposed(
        q: &Array2<f32>,
        k: &Array2<f32>,
        v: &Array2<f32>,
        d_out: &Array2<f32>,
    ) -> (Array2<f32>, Array2<f32>, Array2<f32>) {
        let (dq, dk, _) = sdpa_backward(q, k, v, d_out);
        let (p, _) = attention_weights(q, k);
        (dq, dk, p.dot(d_out))
    }

    /// `ch09_layer_norm_backward`, mistake: treats μ and σ² as constants, dx = r·g.
    pub fn mean_and_variance_constant(
        x: &Array1<f32>,
        gamma: &Array1<f32>,
        dy: &Array1<f32>,
        eps: f32,
    ) -> Array1<f32> {
        let d = x.len() as f32;
        let mean = x.sum() / d;
        let var = x.mapv(|v| (v - mean).powi(2)).sum() / d;
        dy * gamma / (var + eps).sqrt()
    }

    /// `ch09_layer_norm_backward`, mistake: forgets γ, g = dy.
    pub fn forgets_gamma(
        x: &Array1<f32>,
        _gamma: &Array1<f32>,
        dy: &Array1<f32>,
        eps: f32,
    ) -> Array1<f32> {
        layer_norm_backward(x, &Array1::ones(x.len()), dy, eps)
    }

    /// `ch09_layer_norm_backward`, mistake: the unbiased variance (divides by d − 1), which the
    /// forward did not use.
    pub fn unbiased_variance(
        x: &Array1<f32>,
        gamma: &Array1<f32>,
        dy: &Array1<f32>,
        eps: f32,
    ) -> Array1<f32> {
        let d = x.len() as f32;
        let mean = x.sum() / d;
        let var = x.mapv(|v| (v - mean).powi(2)).sum() / (d - 1.0);
        let r = 1.0 / (var + eps).sqrt();
        let x_hat = x.mapv(|v| (v - mean) * r);
        let g = dy * gamma;
        let mean_g = g.sum() / d;
        let mean_g_xhat = (&g * &x_hat).sum() / d;
        (g - mean_g - &x_hat * mean_g_xhat) * r
    }

    /// `ch09_adam_step`, mistake: no bias correction (θ ← θ − γ·m/(√v + ε)): the first steps
    /// are about √(1 − β₂)/(1 − β₁) ≈ 0.32 times too large or small.
    pub fn no_bias_correction(
        param: &mut Array1<f32>,
        grad: &Array1<f32>,
        m: &mut Array1<f32>,
        v: &mut Array1<f32>,
        _step: u32,
        config: &AdamConfig,
    ) {
        let c = config;
        Zip::from(&mut *m)
            .and(grad)
            .for_each(|m, &g| *m = c.beta1 * *m + (1.0 - c.beta1) * g);
        Zip::from(&mut *v)
            .and(grad)
            .for_each(|v, &g| *v = c.beta2 * *v + (1.0 - c.beta2) * g * g);
        Zip::from(param)
            .and(&*m)
            .and(&*v)
            .for_each(|p, &m, &v| *p -= c.lr * m / (v.sqrt() + c.eps));
    }

    /// `ch09_adam_step`, mistake: ε inside the square root, √(v̂ + ε).
    pub fn eps_inside_sqrt(
        param: &mut Array1<f32>,
        grad: &Array1<f32>,
        m: &mut Array1<f32>,
        v: &mut Array1<f32>,
        step: u32,
        config: &AdamConfig,
    ) {
        let c = config;
        Zip::from(&mut *m)
            .and(grad)
            .for_each(|m, &g| *m = c.beta1 * *m + (1.0 - c.beta1) * g);
        Zip::from(&mut *v)
            .and(grad)
            .for_each(|v, &g| *v = c.beta2 * *v + (1.0 - c.beta2) * g * g);
        let t = step as i32;
        let (c1, c2) = (1.0 - c.beta1.powi(t), 1.0 - c.beta2.powi(t));
        Zip::from(param)
            .and(&*m)
            .and(&*v)
            .for_each(|p, &m, &v| *p -= c.lr * (m / c1) / (v / c2 + c.eps).sqrt());
    }

    /// `ch09_adam_step`, mistake: stores the bias-corrected m̂ and v̂ in `m` and `v`, so the
    /// next step corrects them again.
    pub fn stores_corrected_moments(
        param: &mut Array1<f32>,
        grad: &Array1<f32>,
        m: &mut Array1<f32>,
        v: &mut Array1<f32>,
        step: u32,
        config: &AdamConfig,
    ) {
        let c = config;
        let t = step as i32;
        let (c1, c2) = (1.0 - c.beta1.powi(t), 1.0 - c.beta2.powi(t));
        Zip::from(&mut *m)
            .and(grad)
            .for_each(|m, &g| *m = (c.beta1 * *m + (1.0 - c.beta1) * g) / c1);
        Zip::from(&mut *v)
            .and(grad)
            .for_each(|v, &g| *v = (c.beta2 * *v + (1.0 - c.beta2) * g * g) / c2);
        Zip::from(param)
            .and(&*m)
            .and(&*v)
            .for_each(|p, &m, &v| *p -= c.lr * m / (v.sqrt() + c.eps));
    }
}
