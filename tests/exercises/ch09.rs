//! Chapter 9 checks, training a Transformer (`src/exercises/ch09.rs`): one per exercise, named
//! like the learner's function it checks.
//!
//! Expected gradients come from PyTorch's autograd (the `grad_*.json` fixtures: every
//! `grad.*` is the vector–Jacobian product with `input.grad_output`, or the gradient of the
//! loss), from `torch.optim.Adam`'s steps (`optim_adam.json`), from hand-derived cases and,
//! for attention, from finite differences of a forward written here in f64.

use attention::exercises::AdamConfig;
use attention::ndarray::{Array1, Array2, ArrayD, Ix1, Ix2, Ix3, array};

use super::helpers::{Check, call, close, f32_input, fixture_case, input};
use crate::common::{Fixture, fixture};

/// The tensor `name` of fixture `fx`, of any rank.
fn tensor(fx: &Fixture, name: &str) -> ArrayD<f32> {
    fx.tensors
        .get(name)
        .unwrap_or_else(|| panic!("{}: no tensor `{name}`", fx.name))
        .clone()
}

/// A fixture's 3-d tensor `name` as one row per position, `(batch·seq, d)`.
fn rows(fx: &Fixture, name: &str) -> Array2<f32> {
    let t = tensor(fx, name).into_dimensionality::<Ix3>().unwrap();
    let (b, s, d) = t.dim();
    t.into_shape_with_order((b * s, d)).unwrap()
}

/// The check of `ch09_cross_entropy_grad`.
pub fn cross_entropy_grad(f: impl Fn(&Array1<f32>, usize, f32) -> Array1<f32>) -> Check {
    let next = "the gradient with respect to the *logits* is p − q: p = softmax(logits) (subtract \
                the largest logit before exp), q = ε/V for every token plus 1 − ε for the \
                target (V = the number of logits, the target included).";
    let ln = f32::ln;
    let cases = [
        // p = (½, ½), q = (0, 1): (½, −½).
        (
            "two equal logits, no smoothing",
            array![0.0_f32, 0.0],
            1,
            0.0,
            array![0.5_f32, -0.5],
        ),
        // p = (1, 2, 5)/8 = (0.125, 0.25, 0.625), q = (0.2/3, 0.2/3, 0.8 + 0.2/3):
        // (0.125 − 0.066667, 0.25 − 0.066667, 0.625 − 0.866667).
        (
            "logits (0, ln 2, ln 5), label smoothing 0.2",
            array![0.0, ln(2.0), ln(5.0)],
            2,
            0.2,
            array![0.058_333, 0.183_333, -0.241_667],
        ),
        // softmax(1000, 1001, 999) = softmax(1, 2, 0) = (0.244728, 0.665241, 0.090031).
        (
            "large logits (e^1000 overflows f32), no smoothing",
            array![1000.0, 1001.0, 999.0],
            0,
            0.0,
            array![-0.755_272, 0.665_241, 0.090_031],
        ),
    ];
    for (why, logits, target, eps, expected) in cases {
        let case = format!(
            "case: {why}\n{}  target = {target}, label_smoothing = {eps}",
            input("logits", &logits)
        );
        let actual = call(&case, || f(&logits, target, eps))?;
        close("dlogits", &case, &expected, &actual, next)?;
    }

    // PyTorch's nn.CrossEntropyLoss: the mean over the counted rows, so each counted row's
    // gradient is (p − q) / counted; rows whose target is ignore_index are skipped.
    for name in ["grad_cross_entropy_plain", "grad_cross_entropy"] {
        let fx = fixture(name);
        let logits: Array2<f32> = fx.input("logits");
        let targets = fx.input::<Ix1>("targets").mapv(|t| t as usize);
        let grads = tensor(&fx, "grad.input.logits")
            .into_dimensionality::<Ix2>()
            .unwrap();
        let eps = fx.config["label_smoothing"].as_f64().unwrap() as f32;
        let ignore = fx.config["ignore_index"].as_u64().map(|i| i as usize);
        let counted = targets.iter().filter(|&&t| Some(t) != ignore).count();
        for (i, &target) in targets.iter().enumerate() {
            if Some(target) == ignore {
                continue;
            }
            let row = logits.row(i).to_owned();
            let case = format!(
                "{}\n{}  target = {target}, label_smoothing = {eps}",
                fixture_case(
                    name,
                    &format!("row {i}; PyTorch's gradient of the mean, times {counted} rows")
                ),
                input("logits", &row)
            );
            let actual = call(&case, || f(&row, target, eps))?;
            let expected = grads.row(i).to_owned() * counted as f32;
            close("dlogits", &case, &expected, &actual, next)?;
        }
    }
    Ok(())
}

/// The check of `ch09_linear_backward`.
#[allow(clippy::type_complexity)]
pub fn linear_backward(
    f: impl Fn(&Array2<f32>, &Array2<f32>, &Array2<f32>) -> (Array2<f32>, Array2<f32>, Array1<f32>),
) -> Check {
    let next = "dx = dy·W (n, in), dw = dyᵀ·x (out, in), the shape of W, not xᵀ·dy; db = the sum \
                of dy over its rows (out), not a mean and not one sum per row.";
    let cases = [
        // dx = dy·W: (1·w₀ − w₁, 2·w₁) = ((−1, −1, −1), (4, 2, 0)); dw = dyᵀ·x:
        // (1·x₀ + 0·x₁, −1·x₀ + 2·x₁) = ((1, 2, 3), (7, 8, 9)); db = (1 + 0, −1 + 2).
        (
            "n = 2, in = 3, out = 2",
            array![[1.0_f32, 2.0, 3.0], [4.0, 5.0, 6.0]],
            array![[1.0_f32, 0.0, -1.0], [2.0, 1.0, 0.0]],
            array![[1.0_f32, -1.0], [0.0, 2.0]],
            (
                array![[-1.0_f32, -1.0, -1.0], [4.0, 2.0, 0.0]],
                array![[1.0_f32, 2.0, 3.0], [7.0, 8.0, 9.0]],
                array![1.0_f32, 1.0],
            ),
        ),
        // Square, so a transposed dW has the right shape: dw = dyᵀ·x = (x₀ + 2x₁, x₁) =
        // ((7, 10), (3, 4)); xᵀ·dy would be ((7, 3), (10, 4)). dx = (w₀, 2w₀ + w₁), db = (3, 1).
        (
            "n = in = out = 2",
            array![[1.0, 2.0], [3.0, 4.0]],
            array![[1.0, -1.0], [0.0, 2.0]],
            array![[1.0, 0.0], [2.0, 1.0]],
            (
                array![[1.0, -1.0], [2.0, 0.0]],
                array![[7.0, 10.0], [3.0, 4.0]],
                array![3.0, 1.0],
            ),
        ),
    ];
    let fx = fixture("grad_linear");
    let w: Array2<f32> = tensor(&fx, "weight").into_dimensionality().unwrap();
    let pytorch = (
        format!(
            "{} (2, 3, 5) taken as 6 rows",
            fixture_case("grad_linear", "nn.Linear(5, 4) on x")
        ),
        rows(&fx, "input.x"),
        w,
        rows(&fx, "input.grad_output"),
        (
            rows(&fx, "grad.input.x"),
            tensor(&fx, "grad.weight").into_dimensionality().unwrap(),
            tensor(&fx, "grad.bias").into_dimensionality().unwrap(),
        ),
    );
    let cases = cases.map(|(why, x, w, dy, grads)| (format!("case: {why}"), x, w, dy, grads));
    for (why, x, w, dy, (dx, dw, db)) in cases.into_iter().chain([pytorch]) {
        let case = format!(
            "{why}\n{}{}{}",
            f32_input("x", &x),
            f32_input("w", &w),
            f32_input("dy", &dy)
        );
        let (dx_actual, dw_actual, db_actual) = call(&case, || f(&x, &w, &dy))?;
        close("dx", &case, &dx, &dx_actual, next)?;
        close("dw", &case, &dw, &dw_actual, next)?;
        close("db", &case, &db, &db_actual, next)?;
    }
    Ok(())
}

/// The check of `ch09_softmax_backward`.
pub fn softmax_backward(f: impl Fn(&Array1<f32>, &Array1<f32>) -> Array1<f32>) -> Check {
    let next = "dxᵢ = yᵢ·(dyᵢ − Σⱼ yⱼ·dyⱼ): every output depends on every input, so it is not \
                yᵢ(1 − yᵢ)·dyᵢ alone, and the sum weighs each dyⱼ by yⱼ. dx always sums to 0.";
    let cases = [
        // Σ y·dy = ½: (½·(1 − ½), ½·(0 − ½)) = (¼, −¼).
        (
            "two equal weights",
            array![0.5_f32, 0.5],
            array![1.0_f32, 0.0],
            array![0.25_f32, -0.25],
        ),
        // dy the same everywhere: Σ y·dy = 1 = every dyᵢ, so dx = 0.
        (
            "the same dy for every entry",
            array![0.2, 0.3, 0.5],
            array![1.0, 1.0, 1.0],
            array![0.0, 0.0, 0.0],
        ),
        // Σ y·dy = 0.25 − 0.75 = −0.5: (0, 0.25·1.5, 0.75·(−0.5), 0); masked entries stay 0.
        (
            "two masked entries (y = 0)",
            array![0.0, 0.25, 0.75, 0.0],
            array![3.0, 1.0, -1.0, 2.0],
            array![0.0, 0.375, -0.375, 0.0],
        ),
    ];
    for (why, y, dy, expected) in cases {
        let case = format!("case: {why}\n{}{}", input("y", &y), input("dy", &dy));
        let actual = call(&case, || f(&y, &dy))?;
        close("dx", &case, &expected, &actual, next)?;
    }

    let fx = fixture("grad_softmax");
    let (y, dy): (Array2<f32>, Array2<f32>) = (fx.output("y"), fx.input("grad_output"));
    let dx = tensor(&fx, "grad.input.x")
        .into_dimensionality::<Ix2>()
        .unwrap();
    for i in 0..y.nrows() {
        let (y, dy) = (y.row(i).to_owned(), dy.row(i).to_owned());
        let detail = format!("torch.softmax(x, -1), row {i} (row 1 has two −∞ scores)");
        let case = format!(
            "{}\n{}{}",
            fixture_case("grad_softmax", &detail),
            input("y", &y),
            input("dy", &dy)
        );
        let actual = call(&case, || f(&y, &dy))?;
        close("dx", &case, &dx.row(i).to_owned(), &actual, next)?;
    }
    Ok(())
}

/// Σ O ⊙ dO for O = softmax(Q·Kᵀ/√d_k)·V, in f64: the scalar whose gradients
/// `ch09_sdpa_backward` computes.
fn attention_loss([q, k, v, d_out]: &[Array2<f64>; 4]) -> f64 {
    let mut p = q.dot(&k.t()) / (q.ncols() as f64).sqrt();
    for mut row in p.rows_mut() {
        let max = row.fold(f64::NEG_INFINITY, |m, &s| m.max(s));
        row.mapv_inplace(|s| (s - max).exp());
        let sum = row.sum();
        row /= sum;
    }
    (p.dot(v) * d_out).sum()
}

/// ∂ attention_loss / ∂ inputs[which] by central differences (f64, step 1e-5), as f32.
fn numerical_grad(inputs: &[Array2<f64>; 4], which: usize) -> Array2<f32> {
    let h = 1e-5;
    Array2::from_shape_fn(inputs[which].raw_dim(), |idx| {
        let (mut plus, mut minus) = (inputs.clone(), inputs.clone());
        plus[which][idx] += h;
        minus[which][idx] -= h;
        ((attention_loss(&plus) - attention_loss(&minus)) / (2.0 * h)) as f32
    })
}

/// `(rows, cols)` entries between −1.5 and 1.5, different for each `seed`.
fn wavy(rows: usize, cols: usize, seed: f32) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |(i, j)| {
        1.5 * ((i * cols + j) as f32 * 0.9 + seed).sin()
    })
}

/// The check of `ch09_sdpa_backward`.
#[allow(clippy::type_complexity)]
pub fn sdpa_backward(
    f: impl Fn(
        &Array2<f32>,
        &Array2<f32>,
        &Array2<f32>,
        &Array2<f32>,
    ) -> (Array2<f32>, Array2<f32>, Array2<f32>),
) -> Check {
    let next = "recompute P = softmax(Q·Kᵀ/√d_k) row by row; then dV = Pᵀ·dO, dP = dO·Vᵀ, dS = \
                the softmax backward of each row (P row, dP row) times 1/√d_k, dQ = dS·K, \
                dK = dSᵀ·Q.";
    // One query, two keys, d_k = d_v = 1: S = (0, 0), P = (½, ½); dV = Pᵀ·dO = (½, ½);
    // dP = dO·Vᵀ = (1, 3); dS = P ⊙ (dP − P·dP) = (½·(1 − 2), ½·(3 − 2)) = (−½, ½);
    // dQ = dS·K = −½ − ½ = −1; dK = dSᵀ·Q = 0 (q = 0).
    let (q, k, v, d_out) = (
        array![[0.0_f32]],
        array![[1.0_f32], [-1.0]],
        array![[1.0_f32], [3.0]],
        array![[1.0_f32]],
    );
    let hand = (
        "case: one query, two keys, d_k = d_v = 1".to_string(),
        [q, k, v, d_out],
        Some([
            array![[-1.0_f32]],
            array![[0.0], [0.0]],
            array![[0.5], [0.5]],
        ]),
    );
    // Finite differences (no expected values written down): 3 queries and 4 keys, d_k = 4
    // (scale ½), d_v = 2; then as many queries as keys, so a missing transpose keeps its shape.
    let numeric = [
        ("3 queries, 4 keys, d_k = 4, d_v = 2", 3, 4, 4, 2),
        ("3 queries, 3 keys, d_k = 2, d_v = 3", 3, 3, 2, 3),
    ]
    .map(|(why, tgt, src, d_k, d_v)| {
        let inputs = [
            wavy(tgt, d_k, 0.0),
            wavy(src, d_k, 1.0),
            wavy(src, d_v, 2.0),
            wavy(tgt, d_v, 3.0),
        ];
        let case =
            format!("case: {why}; expected: finite differences of Σ O ⊙ dO (central, in f64)");
        (case, inputs, None)
    });
    for (case, [q, k, v, d_out], expected) in [hand].into_iter().chain(numeric) {
        let case = format!(
            "{case}\n{}{}{}{}",
            f32_input("q", &q),
            f32_input("k", &k),
            f32_input("v", &v),
            f32_input("d_out", &d_out)
        );
        let expected = expected.unwrap_or_else(|| {
            let inputs = [&q, &k, &v, &d_out].map(|a| a.mapv(f64::from));
            [0, 1, 2].map(|which| numerical_grad(&inputs, which))
        });
        let (dq, dk, dv) = call(&case, || f(&q, &k, &v, &d_out))?;
        for (name, e, a) in [
            ("dq", &expected[0], dq),
            ("dk", &expected[1], dk),
            ("dv", &expected[2], dv),
        ] {
            close(name, &case, e, &a, next)?;
        }
    }
    Ok(())
}

/// The check of `ch09_layer_norm_backward`.
pub fn layer_norm_backward(
    f: impl Fn(&Array1<f32>, &Array1<f32>, &Array1<f32>, f32) -> Array1<f32>,
) -> Check {
    let next = "recompute μ, the biased σ² (÷ d), r = 1/√(σ² + eps) and x̂ = (x − μ)·r; with \
                g = dy ⊙ γ, dx = r·(g − mean(g) − x̂·mean(g ⊙ x̂)). Both subtracted terms are \
                needed: μ and σ² depend on every entry of x.";
    let cases = [
        // d = 2: the output is always (−1, 1) whatever x (up to eps), so dx ≈ 0, while r·g
        // would be (1, 0).
        (
            "d = 2 (the output does not depend on x)",
            array![1.0_f32, 3.0],
            array![1.0_f32, 1.0],
            array![1.0_f32, 0.0],
            array![0.0_f32, 0.0],
        ),
        // μ = 3, σ² = 3.5, r = 0.534522, x̂ = (−1.069043, −0.534522, 0, 1.603565);
        // g = (1, −0.5, 1, 2), mean(g) = 0.875, mean(g ⊙ x̂) = 0.601337.
        (
            "d = 4",
            array![1.0, 2.0, 3.0, 6.0],
            array![1.0, 0.5, 2.0, 1.0],
            array![1.0, -1.0, 0.5, 2.0],
            array![0.410_435, -0.563_157, 0.066_815, 0.085_907],
        ),
    ];
    let fx = fixture("grad_layer_norm");
    let gamma: Array1<f32> = tensor(&fx, "weight").into_dimensionality().unwrap();
    let (x, dy, dx) = (
        rows(&fx, "input.x"),
        rows(&fx, "input.grad_output"),
        rows(&fx, "grad.input.x"),
    );
    let pytorch = (0..x.nrows()).map(|i| {
        let detail = format!("nn.LayerNorm(6), row {i} of 6 (row 5 is offset by about +100)");
        (
            fixture_case("grad_layer_norm", &detail),
            x.row(i).to_owned(),
            gamma.clone(),
            dy.row(i).to_owned(),
            dx.row(i).to_owned(),
        )
    });
    let cases = cases.map(|(why, x, g, dy, dx)| (format!("case: {why}"), x, g, dy, dx));
    for (why, x, gamma, dy, expected) in cases.into_iter().chain(pytorch) {
        let case = format!(
            "{why}, eps = 1e-5\n{}{}{}",
            input("x", &x),
            input("gamma", &gamma),
            input("dy", &dy)
        );
        let actual = call(&case, || f(&x, &gamma, &dy, 1e-5))?;
        close("dx", &case, &expected, &actual, next)?;
    }
    Ok(())
}

/// The learner's `adam_step`, shared by the hand-derived cases and the PyTorch replay.
type AdamFn<'a> = &'a dyn Fn(
    &mut Array1<f32>,
    &Array1<f32>,
    &mut Array1<f32>,
    &mut Array1<f32>,
    u32,
    &AdamConfig,
);

/// The check of `ch09_adam_step`.
pub fn adam_step(
    f: impl Fn(&mut Array1<f32>, &Array1<f32>, &mut Array1<f32>, &mut Array1<f32>, u32, &AdamConfig),
) -> Check {
    let next = "m ← β₁m + (1 − β₁)g and v ← β₂v + (1 − β₂)g² (keep these in m and v), then \
                θ ← θ − lr·m̂/(√v̂ + ε) with m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ) and ε outside \
                the square root. At step 1 every entry moves by about lr.";
    let f: AdamFn = &f;
    let config = |lr| AdamConfig {
        lr,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };
    let zeros = || Array1::zeros(3);
    let cases = [
        // Step 1: m = 0.1·g, v = 0.001·g², m̂ = g, √v̂ = |g|: θ moves by lr·sign(g).
        (
            "the first step",
            array![1.0_f32, -2.0, 0.5],
            array![0.5_f32, -0.1, 2.0],
            zeros(),
            zeros(),
            1,
            (
                array![0.9_f32, -1.9, 0.4],
                array![0.05_f32, -0.01, 0.2],
                array![0.000_25_f32, 0.000_01, 0.004],
            ),
        ),
        // Step 2: m = 0.9·0.05 − 0.05 = −0.005, v = 0.999·0.00025 + 0.001·0.25 = 0.00049975;
        // m̂ = −0.005/0.19 = −0.026316, v̂ = 0.00049975/0.001999 = 0.25: θ = 0.9 + 0.1·0.026316/0.5.
        (
            "the second step",
            array![0.9],
            array![-0.5],
            array![0.05],
            array![0.000_25],
            2,
            (array![0.905_263], array![-0.005], array![0.000_499_75]),
        ),
        // A tiny gradient: √v̂ = 1e-4 ≫ ε, so still a step of lr·1e-4/(1e-4 + 1e-8) = 0.09999.
        (
            "a gradient of 1e-4 and one of 0",
            array![0.0, 0.0],
            array![1e-4, 0.0],
            array![0.0, 0.0],
            array![0.0, 0.0],
            1,
            (
                array![-0.099_99, 0.0],
                array![1e-5, 0.0],
                array![1e-11, 0.0],
            ),
        ),
    ];
    for (why, param, grad, m, v, step, (param_e, m_e, v_e)) in cases {
        let case = format!(
            "case: {why}, step = {step}, lr = 0.1, betas = (0.9, 0.999), eps = 1e-8\n{}{}{}{}",
            input("param", &param),
            input("grad", &grad),
            input("m", &m),
            input("v", &v)
        );
        let (mut p, mut m, mut v) = (param.clone(), m.clone(), v.clone());
        call(&case, || {
            f(&mut p, &grad, &mut m, &mut v, step, &config(0.1))
        })?;
        close("param after the step", &case, &param_e, &p, next)?;
        close("m after the step", &case, &m_e, &m, next)?;
        close("v after the step", &case, &v_e, &v, next)?;
    }
    adam_against_pytorch(f, next)
}

/// `optim_adam.json`: torch.optim.Adam on nn.Linear(4, 3) → nn.LayerNorm(3) for 5 steps. Its
/// L2 weight decay λ adds λθ to the gradient before the update, so the check does that and
/// hands the learner's function the sum.
fn adam_against_pytorch(f: AdamFn, next: &str) -> Check {
    let fx = fixture("optim_adam");
    let c = &fx.config;
    let (beta1, beta2) = (
        c["betas"][0].as_f64().unwrap(),
        c["betas"][1].as_f64().unwrap(),
    );
    let (eps, decay) = (
        c["eps"].as_f64().unwrap(),
        c["weight_decay"].as_f64().unwrap() as f32,
    );
    let lrs: Vec<f64> = (c["lrs"].as_array().unwrap().iter())
        .map(|v| v.as_f64().unwrap())
        .collect();
    let flat = |name: &str| Array1::from_iter(tensor(&fx, name).iter().copied());
    for name in ["linear.weight", "linear.bias", "norm.weight", "norm.bias"] {
        let mut param = flat(name);
        let (mut m, mut v) = (Array1::zeros(param.len()), Array1::zeros(param.len()));
        let mut t = 0; // this parameter's steps so far (norm.bias skips step 3)
        for (step, &lr) in (1..).zip(&lrs) {
            let Some(grad) = fx.tensors.get(&format!("grad.{step}.{name}")) else {
                continue;
            };
            t += 1;
            let grad = Array1::from_iter(grad.iter().copied()) + &param * decay;
            let config = AdamConfig {
                lr: lr as f32,
                beta1: beta1 as f32,
                beta2: beta2 as f32,
                eps: eps as f32,
            };
            let detail = format!(
                "torch.optim.Adam, `{name}` flattened, its step {t} (optimizer step {step})"
            );
            let case = format!(
                "{}: {config:?}; grad includes weight decay {decay}·param\n{}{}{}{}",
                fixture_case("optim_adam", &detail),
                input("param", &param),
                input("grad", &grad),
                input("m", &m),
                input("v", &v)
            );
            call(&case, || f(&mut param, &grad, &mut m, &mut v, t, &config))?;
            let expected = flat(&format!("step.{step}.{name}"));
            close("param after the step", &case, &expected, &param, next)?;
        }
    }
    Ok(())
}
