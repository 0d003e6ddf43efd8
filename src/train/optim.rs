//! Optimizers: SGD with momentum, Adam and AdamW, plus gradient clipping, step for step
//! the same numbers as `torch.optim`.
//!
//! An optimizer turns the gradients of one backward pass ([`Gradients`], by parameter name)
//! into a change of the model's parameters, which it reaches through
//! [`Module::visit_parameters_mut`]. What it remembers between steps (a momentum buffer,
//! Adam's moments and step count) it keeps per parameter name.
//!
//! ```
//! use attention::gradients::Gradients;
//! use attention::ndarray::array;
//! use attention::nn::Linear;
//! use attention::train::optim::{Optimizer, Sgd};
//!
//! // One weight θ = 1 with gradient 0.5: plain SGD with lr 0.1 gives θ − 0.1·0.5 = 0.95.
//! let mut model = Linear::new(array![[1.0]], None)?;
//! let mut grads = Gradients::new();
//! grads.add("weight", array![[0.5_f32]]);
//! let mut sgd = Sgd::new(0.1, 0.0, 0.0)?;
//! sgd.step(&mut model, &grads)?;
//! assert_eq!(model.weight, array![[0.95]]);
//! # Ok::<(), attention::Error>(())
//! ```
//!
//! ## Matching PyTorch to the last bit (almost)
//!
//! Hyperparameters are `f64`, tensors `f32`, as in PyTorch: there the learning rate, the
//! betas and the bias corrections are Python floats, and each reaches a tensor operation as
//! an `f32` scalar. Computing `1 − β₂` from an `f32` β₂ instead would already change the
//! second moment by 1e-5 relative. The update rules follow `torch.optim`'s single-tensor code
//! (`foreach=False`) operation by operation; where PyTorch's CPU kernels fuse `a + α·b` into
//! one multiply-add (`add(.., alpha=..)`, `lerp`, `addcmul`), so does this code, with
//! [`f32::mul_add`]. The one difference left is PyTorch's `sqrt`, which on CPU (MKL) may be
//! one unit in the last place off the exact root; `tests/optim.rs` checks every parameter
//! after every step to within 1e-6.

use std::collections::BTreeMap;

use ndarray::{ArrayD, ArrayViewMutD, Dimension, Zip};
use rayon::prelude::*;

use crate::error::{Error, Result, fmt_shape};
use crate::gradients::Gradients;
use crate::kernels::{TASK_ENTRIES, split_over_threads};
use crate::params::Module;

pub use super::clip::clip_grad_norm;

/// Adam's and AdamW's default (β₁, β₂), as in PyTorch.
pub const DEFAULT_BETAS: (f64, f64) = (0.9, 0.999);
/// Adam's and AdamW's default ε, as in PyTorch.
pub const DEFAULT_EPS: f64 = 1e-8;
/// AdamW's default weight decay λ, as in PyTorch.
pub const ADAMW_DEFAULT_WEIGHT_DECAY: f64 = 0.01;

/// What a training loop needs from any optimizer: one update, and the learning rate to
/// read or change (a schedule sets it before each step).
pub trait Optimizer {
    /// Updates every parameter of `model` that has a gradient in `grads`; a parameter
    /// without one is left alone, like PyTorch's `grad = None`.
    ///
    /// Everything is checked before anything changes: every gradient must belong to a
    /// parameter of `model`, have its shape and be finite. On an error the model and the
    /// optimizer are exactly as they were.
    fn step(&mut self, model: &mut dyn Module, grads: &Gradients) -> Result<()>;

    /// The learning rate the next step uses.
    fn lr(&self) -> f64;

    /// Sets the learning rate (finite, > 0) for the next steps.
    fn set_lr(&mut self, lr: f64) -> Result<()>;
}

// ------------------------------------------------------------------------------------ SGD

/// Stochastic gradient descent with momentum and L2 weight decay, PyTorch's
/// `torch.optim.SGD(lr, momentum, dampening=0, weight_decay, nesterov=False)`.
///
/// For each parameter θ with gradient g, with learning rate γ, momentum μ and weight
/// decay λ:
///
/// ```text
/// g ← g + λ·θ                  (if λ ≠ 0)
/// b ← g at the first step,     (if μ ≠ 0: the momentum buffer)
///     μ·b + g after;  g ← b
/// θ ← θ − γ·g
/// ```
#[derive(Debug, Clone)]
pub struct Sgd {
    lr: f64,
    momentum: f64,
    weight_decay: f64,
    /// The momentum buffer b of each parameter that has had a gradient.
    buffers: BTreeMap<String, ArrayD<f32>>,
}

impl Sgd {
    /// SGD with learning rate `lr` (> 0), `momentum` (≥ 0; 0 for plain SGD) and L2
    /// `weight_decay` (≥ 0).
    pub fn new(lr: f64, momentum: f64, weight_decay: f64) -> Result<Self> {
        check_lr(lr)?;
        check_non_negative("momentum", momentum)?;
        check_non_negative("weight_decay", weight_decay)?;
        Ok(Sgd {
            lr,
            momentum,
            weight_decay,
            buffers: BTreeMap::new(),
        })
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, model: &mut dyn Module, grads: &Gradients) -> Result<()> {
        check_step(model, grads, |name| {
            self.buffers.get(name).map(|b| b.shape().to_vec())
        })?;
        let (lr, momentum) = (self.lr as f32, self.momentum as f32);
        let weight_decay = self.weight_decay as f32;
        let buffers = &mut self.buffers;
        model.visit_parameters_mut("", &mut |name, mut param| {
            let Some(grad) = grads.get(name) else { return };
            let mut g = grad.clone();
            if weight_decay != 0.0 {
                Zip::from(&mut g).and(&param).for_each(|g, &p| {
                    *g = p.mul_add(weight_decay, *g); // grad.add(param, alpha=λ)
                });
            }
            if momentum != 0.0 {
                match buffers.get_mut(name) {
                    None => {
                        buffers.insert(name.to_string(), g.clone()); // b ← g
                    }
                    Some(b) => {
                        Zip::from(&mut *b)
                            .and(&g)
                            .for_each(|b, &g| *b = *b * momentum + g); // b ← μ·b + g
                        g.assign(b);
                    }
                }
            }
            Zip::from(&mut param).and(&g).for_each(|p, &g| {
                *p = g.mul_add(-lr, *p); // param.add_(g, alpha=-γ)
            });
        });
        Ok(())
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn set_lr(&mut self, lr: f64) -> Result<()> {
        check_lr(lr)?;
        self.lr = lr;
        Ok(())
    }
}

// ------------------------------------------------------------------------------ Adam(W)

/// Adam, PyTorch's `torch.optim.Adam(lr, betas, eps, weight_decay)`, weight decay as an L2
/// term added to the gradient.
///
/// For each parameter θ with gradient g, with t the number of steps this parameter has
/// had (this one included):
///
/// ```text
/// g ← g + λ·θ                                   (if λ ≠ 0)
/// m ← β₁·m + (1 − β₁)·g                         (first moment, from 0)
/// v ← β₂·v + (1 − β₂)·g²                        (second moment, from 0)
/// θ ← θ − γ/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
///
/// With L2 decay the decay term is divided by √v like the rest of the gradient, so
/// parameters with large gradients are hardly decayed: what [`AdamW`] fixes.
#[derive(Debug, Clone)]
pub struct Adam {
    settings: AdamSettings,
    moments: BTreeMap<String, Moments>,
}

/// AdamW, PyTorch's `torch.optim.AdamW(lr, betas, eps, weight_decay)`: Adam with decoupled
/// weight decay ("Decoupled Weight Decay Regularization", Loshchilov & Hutter).
///
/// The decay shrinks θ directly, before the Adam update (which then sees the plain
/// gradient g):
///
/// ```text
/// θ ← θ·(1 − γ·λ)
/// m, v, θ as in Adam without the L2 term
/// ```
#[derive(Debug, Clone)]
pub struct AdamW {
    settings: AdamSettings,
    moments: BTreeMap<String, Moments>,
}

impl Adam {
    /// Adam with learning rate `lr` (> 0), `betas` = (β₁, β₂) each in [0, 1), `eps` (> 0)
    /// and L2 `weight_decay` (≥ 0; PyTorch's default is 0).
    pub fn new(lr: f64, betas: (f64, f64), eps: f64, weight_decay: f64) -> Result<Self> {
        Ok(Adam {
            settings: AdamSettings::new(lr, betas, eps, weight_decay)?,
            moments: BTreeMap::new(),
        })
    }

    /// Adam with PyTorch's defaults: betas (0.9, 0.999), eps 1e-8, no weight decay.
    pub fn with_lr(lr: f64) -> Result<Self> {
        Adam::new(lr, DEFAULT_BETAS, DEFAULT_EPS, 0.0)
    }

    /// How many steps parameter `name` has had (0 before its first gradient).
    pub fn step_count(&self, name: &str) -> u64 {
        self.moments.get(name).map_or(0, |m| m.step)
    }
}

impl AdamW {
    /// AdamW with learning rate `lr` (> 0), `betas` = (β₁, β₂) each in [0, 1), `eps` (> 0)
    /// and decoupled `weight_decay` (≥ 0; PyTorch's default is 0.01).
    pub fn new(lr: f64, betas: (f64, f64), eps: f64, weight_decay: f64) -> Result<Self> {
        Ok(AdamW {
            settings: AdamSettings::new(lr, betas, eps, weight_decay)?,
            moments: BTreeMap::new(),
        })
    }

    /// Decays only the parameters with two or more axes (weight matrices and embedding
    /// tables), not biases and LayerNorm γ, β: nanoGPT's two parameter groups
    /// (`configure_optimizers`), as `torch.optim.AdamW([{"params": matrices, "weight_decay":
    /// λ}, {"params": vectors, "weight_decay": 0.0}])`.
    pub fn decay_matrices_only(mut self) -> Self {
        self.settings.matrices_only = true;
        self
    }

    /// AdamW with PyTorch's defaults: betas (0.9, 0.999), eps 1e-8, weight decay 0.01.
    pub fn with_lr(lr: f64) -> Result<Self> {
        AdamW::new(lr, DEFAULT_BETAS, DEFAULT_EPS, ADAMW_DEFAULT_WEIGHT_DECAY)
    }

    /// How many steps parameter `name` has had (0 before its first gradient).
    pub fn step_count(&self, name: &str) -> u64 {
        self.moments.get(name).map_or(0, |m| m.step)
    }
}

impl Optimizer for Adam {
    fn step(&mut self, model: &mut dyn Module, grads: &Gradients) -> Result<()> {
        adam_step(&self.settings, &mut self.moments, Decay::L2, model, grads)
    }

    fn lr(&self) -> f64 {
        self.settings.lr
    }

    fn set_lr(&mut self, lr: f64) -> Result<()> {
        check_lr(lr)?;
        self.settings.lr = lr;
        Ok(())
    }
}

impl Optimizer for AdamW {
    fn step(&mut self, model: &mut dyn Module, grads: &Gradients) -> Result<()> {
        adam_step(
            &self.settings,
            &mut self.moments,
            Decay::Decoupled,
            model,
            grads,
        )
    }

    fn lr(&self) -> f64 {
        self.settings.lr
    }

    fn set_lr(&mut self, lr: f64) -> Result<()> {
        check_lr(lr)?;
        self.settings.lr = lr;
        Ok(())
    }
}

/// The hyperparameters Adam and AdamW share.
#[derive(Debug, Clone)]
struct AdamSettings {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    /// Weight decay for parameters with ≥ 2 axes only.
    matrices_only: bool,
}

impl AdamSettings {
    fn new(lr: f64, (beta1, beta2): (f64, f64), eps: f64, weight_decay: f64) -> Result<Self> {
        check_lr(lr)?;
        for (arg, beta) in [("betas.0", beta1), ("betas.1", beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return Err(Error::value(arg, "a number in [0, 1)", beta));
            }
        }
        if !(eps > 0.0 && eps.is_finite()) {
            return Err(Error::value("eps", "a finite number > 0", eps));
        }
        check_non_negative("weight_decay", weight_decay)?;
        Ok(AdamSettings {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
            matrices_only: false,
        })
    }
}

/// How Adam applies weight decay.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Decay {
    /// Adam: λ·θ added to the gradient.
    L2,
    /// AdamW: θ shrunk by (1 − γ·λ) before the update.
    Decoupled,
}

/// One parameter's Adam state.
#[derive(Debug, Clone)]
struct Moments {
    /// Steps this parameter has had: t in the bias corrections.
    step: u64,
    /// First moment m (running mean of g).
    m: ArrayD<f32>,
    /// Second moment v (running mean of g²).
    v: ArrayD<f32>,
}

/// One Adam or AdamW step over every parameter with a gradient.
fn adam_step(
    s: &AdamSettings,
    moments: &mut BTreeMap<String, Moments>,
    decay: Decay,
    model: &mut dyn Module,
    grads: &Gradients,
) -> Result<()> {
    check_step(model, grads, |name| {
        moments.get(name).map(|m| m.m.shape().to_vec())
    })?;
    model.visit_parameters_mut("", &mut |name, param| {
        let Some(grad) = grads.get(name) else { return };
        let state = moments.entry(name.to_string()).or_insert_with(|| Moments {
            step: 0,
            m: ArrayD::zeros(grad.raw_dim()),
            v: ArrayD::zeros(grad.raw_dim()),
        });
        adam_update(s, decay, state, param, grad);
    });
    Ok(())
}

/// Adam's rule for one parameter, in the order of PyTorch's `_single_tensor_adam`.
fn adam_update(
    s: &AdamSettings,
    decay: Decay,
    state: &mut Moments,
    mut param: ArrayViewMutD<f32>,
    grad: &ArrayD<f32>,
) {
    state.step += 1;
    let decays = s.weight_decay != 0.0 && !(s.matrices_only && param.ndim() < 2);
    // The bias corrections and the step size, in f64 like PyTorch's Python floats.
    let t = state.step as f64;
    let bias_correction1 = 1.0 - s.beta1.powf(t);
    let bias_correction2_sqrt = (1.0 - s.beta2.powf(t)).sqrt();
    let rule = AdamRule {
        shrink: (decays && decay == Decay::Decoupled)
            .then_some((1.0 - s.lr * s.weight_decay) as f32),
        l2: (decays && decay == Decay::L2).then_some(s.weight_decay as f32),
        w1: (1.0 - s.beta1) as f32,
        beta2: s.beta2 as f32,
        w2: (1.0 - s.beta2) as f32,
        step_size: (s.lr / bias_correction1) as f32,
        bc2_sqrt: bias_correction2_sqrt as f32,
        eps: s.eps as f32,
    };
    let grad = grad.as_standard_layout(); // a copy only if the gradient is not row-major
    let g = grad.as_slice().expect("standard layout");
    let (m, v) = (state.m.as_slice_mut(), state.v.as_slice_mut());
    let (m, v) = (m.expect("moments are owned"), v.expect("moments are owned"));
    match param.as_slice_mut() {
        Some(p) => update_entries(&rule, p, m, v, g),
        None => {
            // A strided view of a parameter: update a row-major copy, then write it back.
            let mut p = param.as_standard_layout().into_owned();
            update_entries(&rule, p.as_slice_mut().expect("owned"), m, v, g);
            param.assign(&p);
        }
    }
}

/// Adam's numbers for one step of one parameter.
struct AdamRule {
    /// AdamW: θ ← θ·(1 − γλ) first.
    shrink: Option<f32>,
    /// Adam with weight decay: g ← g + λθ first.
    l2: Option<f32>,
    /// 1 − β₁.
    w1: f32,
    /// β₂ and 1 − β₂.
    beta2: f32,
    w2: f32,
    /// γ / (1 − β₁ᵗ).
    step_size: f32,
    /// √(1 − β₂ᵗ).
    bc2_sqrt: f32,
    eps: f32,
}

/// The rule on every entry, compiled with the CPU's fused multiply-add where it has one.
/// Without it each `mul_add` (PyTorch's fused `lerp` and `addcmul`) is a call into libm; a
/// fused multiply-add rounds once either way, so the bits are the same. A large parameter's
/// entries are shared out over the cores in chunks (each entry is on its own: same bits).
fn update_entries(rule: &AdamRule, p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
    if split_over_threads(p.len()) {
        const CHUNK: usize = TASK_ENTRIES;
        let chunks = p.par_chunks_mut(CHUNK).zip(m.par_chunks_mut(CHUNK));
        let chunks = chunks.zip(v.par_chunks_mut(CHUNK)).zip(g.par_chunks(CHUNK));
        return chunks.for_each(|(((p, m), v), g)| update_entries(rule, p, m, v, g));
    }
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        return unsafe { update_entries_fma(rule, p, m, v, g) };
    }
    adam_entries(rule, p, m, v, g)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn update_entries_fma(rule: &AdamRule, p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
    adam_entries(rule, p, m, v, g)
}

// ANCHOR: adam_update
/// One Adam step on each entry of a parameter `p`, its moments `m` and `v` and its gradient
/// `g`, in PyTorch's order (llm.c's `gpt2_update` is the same loop).
#[inline(always)]
fn adam_entries(rule: &AdamRule, p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
    for (((p, m), v), &g) in p.iter_mut().zip(m).zip(v).zip(g) {
        if let Some(shrink) = rule.shrink {
            *p *= shrink; // AdamW: θ ← θ·(1 − γλ)
        }
        let g = match rule.l2 {
            Some(wd) => p.mul_add(wd, g), // Adam: g ← g + λθ, PyTorch's grad.add(param, alpha=λ)
            None => g,
        };
        // m ← m + (1 − β₁)·(g − m), PyTorch's exp_avg.lerp_(g, 1 − β₁).
        *m = lerp(*m, g, rule.w1);
        // v ← β₂·v + (1 − β₂)·g·g, PyTorch's exp_avg_sq.mul_(β₂).addcmul_(g, g, 1 − β₂).
        *v = (rule.w2 * g).mul_add(g, *v * rule.beta2);
        // θ ← θ − step_size · m / (√v / √(1 − β₂ᵗ) + ε)
        let denom = v.sqrt() / rule.bc2_sqrt + rule.eps;
        *p += -rule.step_size * *m / denom;
    }
}
// ANCHOR_END: adam_update

/// a + w·(b − a), PyTorch's `lerp` (one fused multiply-add; for w ≥ 0.5 it works from b,
/// b + (w − 1)·(b − a), which is more accurate there).
#[inline(always)]
fn lerp(a: f32, b: f32, w: f32) -> f32 {
    if w.abs() < 0.5 {
        w.mul_add(b - a, a)
    } else {
        (w - 1.0).mul_add(b - a, b)
    }
}

// ------------------------------------------------------------------------------ checks

/// Checks one step's input before anything changes: every gradient names a parameter of
/// `model`, has its shape (and the shape of the optimizer's state for it, `state_shape`),
/// and is finite.
fn check_step(
    model: &mut dyn Module,
    grads: &Gradients,
    state_shape: impl Fn(&str) -> Option<Vec<usize>>,
) -> Result<()> {
    let mut shapes = BTreeMap::new();
    model.visit_parameters_mut("", &mut |name, param| {
        shapes.insert(name.to_string(), param.shape().to_vec());
    });
    for name in grads.names() {
        let Some(shape) = shapes.get(name) else {
            let some: Vec<&str> = shapes.keys().take(4).map(String::as_str).collect();
            let want = format!(
                "the name of one of the model's {} parameters ({}{})",
                shapes.len(),
                some.join(", "),
                if shapes.len() > some.len() {
                    ", …"
                } else {
                    ""
                }
            );
            return Err(Error::value(name, want, "a gradient for no parameter"));
        };
        let grad = grads.get(name).expect("listed");
        if grad.shape() != shape.as_slice() {
            let want = format!("{}, the shape of the parameter", fmt_shape(shape));
            return Err(Error::shape(name, want, grad.shape()));
        }
        if let Some(state) = state_shape(name)
            && state != *shape
        {
            let want = format!(
                "{}, the shape this optimizer's state has for it (one optimizer per model)",
                fmt_shape(&state)
            );
            return Err(Error::shape(name, want, shape));
        }
        check_finite(name, grad)?;
    }
    Ok(())
}

/// Errors, naming the gradient and the first bad entry, unless every entry is finite.
fn check_finite(name: &str, grad: &ArrayD<f32>) -> Result<()> {
    let finite = |entries: &[f32]| entries.iter().all(|v| v.is_finite());
    let all_finite = match grad.as_slice() {
        Some(entries) if split_over_threads(entries.len()) => {
            entries.par_chunks(TASK_ENTRIES).all(finite) // over the cores
        }
        Some(entries) => finite(entries),
        None => grad.iter().all(|v| v.is_finite()),
    };
    if all_finite {
        return Ok(()); // the common case, without building an index per entry
    }
    match grad.indexed_iter().find(|(_, v)| !v.is_finite()) {
        None => Ok(()),
        Some((index, v)) => Err(Error::value(
            name,
            "a finite gradient",
            format!("{v} at index {}", fmt_shape(index.slice())),
        )),
    }
}

/// Errors unless `lr` is a finite number > 0.
fn check_lr(lr: f64) -> Result<()> {
    if lr > 0.0 && lr.is_finite() {
        Ok(())
    } else {
        Err(Error::value("lr", "a finite number > 0", lr))
    }
}

/// Errors unless `value` is a finite number ≥ 0.
fn check_non_negative(arg: &str, value: f64) -> Result<()> {
    if value >= 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(Error::value(arg, "a finite number ≥ 0", value))
    }
}
