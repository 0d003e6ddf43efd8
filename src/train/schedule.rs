//! Learning-rate schedules: the warm-up of "Attention Is All You Need" and nanoGPT's cosine
//! decay with linear warm-up.
//!
//! A schedule is a function from the step number to a learning rate; the training loop sets
//! it on the optimizer before each step:
//!
//! ```
//! use attention::train::optim::{AdamW, Optimizer};
//! use attention::train::schedule::CosineWithWarmup;
//!
//! let schedule = CosineWithWarmup::new(1e-3, 1e-4, 10, 100)?;
//! let mut optimizer = AdamW::with_lr(schedule.lr(0))?;
//! for it in 0..3 {
//!     optimizer.set_lr(schedule.lr(it))?;
//!     // ... forward, backward, optimizer.step(&mut model, &grads)?
//! }
//! # Ok::<(), attention::Error>(())
//! ```
//!
//! Learning rates are `f64`, like the optimizers' hyperparameters (PyTorch's Python floats).

use crate::error::{Error, Result};

/// The schedule of "Attention Is All You Need" (section 5.3, eq. 3): a linear warm-up, then a
/// decay as 1/√step.
///
/// ```text
/// lr(step) = factor · d_model^(−1/2) · min(step^(−1/2), step · warmup^(−3/2)),  step = 1, 2, …
/// ```
///
/// Both terms are equal at step = warmup, where the rate peaks at
/// factor / √(d_model · warmup). The paper uses factor 1, d_model 512, warmup 4000. It is
/// often called the Noam schedule (after Noam Shazeer; The Annotated Transformer's `rate`).
///
/// ```
/// use attention::train::schedule::NoamSchedule;
///
/// // d_model 4, warmup 4: peak 1/√(4·4) = 1/4 at step 4.
/// let schedule = NoamSchedule::new(4, 4, 1.0)?;
/// assert_eq!(schedule.lr(4)?, 0.25);
/// assert_eq!(schedule.lr(1)?, 0.0625);  // 4^(−1/2) · 1 · 4^(−3/2) = 1/16: linear warm-up
/// assert_eq!(schedule.lr(16)?, 0.125);  // 4^(−1/2) · 16^(−1/2) = 1/8: inverse square root
/// # Ok::<(), attention::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NoamSchedule {
    d_model: usize,
    warmup: usize,
    factor: f64,
}

impl NoamSchedule {
    /// The schedule for model width `d_model` (> 0), `warmup` steps (> 0) and a `factor`
    /// (finite, > 0) that scales it all.
    pub fn new(d_model: usize, warmup: usize, factor: f64) -> Result<Self> {
        if d_model == 0 {
            return Err(Error::value("d_model", "a width > 0", d_model));
        }
        if warmup == 0 {
            return Err(Error::value("warmup", "a number of steps > 0", warmup));
        }
        if !(factor > 0.0 && factor.is_finite()) {
            return Err(Error::value("factor", "a finite number > 0", factor));
        }
        Ok(NoamSchedule {
            d_model,
            warmup,
            factor,
        })
    }

    /// The learning rate at `step`, counted from 1 as in the paper (step 0 is an error: it
    /// would give a rate of 0).
    pub fn lr(&self, step: usize) -> Result<f64> {
        if step == 0 {
            return Err(Error::value(
                "step",
                "a step number ≥ 1 (counted from 1)",
                step,
            ));
        }
        let (step, warmup) = (step as f64, self.warmup as f64);
        let decay = step.powf(-0.5);
        let warm_up = step * warmup.powf(-1.5);
        Ok(self.factor * (self.d_model as f64).powf(-0.5) * decay.min(warm_up))
    }

    /// The step where the rate peaks: `warmup`.
    pub fn peak_step(&self) -> usize {
        self.warmup
    }
}

/// nanoGPT's schedule (`get_lr` in its `train.py`): linear warm-up to `learning_rate`, cosine
/// decay to `min_lr` at `lr_decay_iters`, then `min_lr`.
///
/// With `it` counted from 0:
///
/// ```text
/// it < warmup:               learning_rate · (it + 1) / (warmup + 1)
/// it > lr_decay_iters:       min_lr
/// otherwise, with r = (it − warmup) / (lr_decay_iters − warmup) in [0, 1]:
///                            min_lr + ½·(1 + cos(π·r)) · (learning_rate − min_lr)
/// ```
///
/// ```
/// use attention::train::schedule::CosineWithWarmup;
///
/// let schedule = CosineWithWarmup::new(1.0, 0.1, 3, 13)?;
/// assert_eq!(schedule.lr(0), 0.25); // 1 · (0 + 1) / (3 + 1)
/// assert_eq!(schedule.lr(3), 1.0);  // warm-up done: r = 0, cos 0 = 1
/// assert!((schedule.lr(8) - 0.55).abs() < 1e-12); // half way: r = ½, 0.1 + ½ · 0.9
/// assert_eq!(schedule.lr(13), 0.1); // r = 1: cos π = −1
/// assert_eq!(schedule.lr(1000), 0.1);
/// # Ok::<(), attention::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CosineWithWarmup {
    learning_rate: f64,
    min_lr: f64,
    warmup_iters: usize,
    lr_decay_iters: usize,
}

impl CosineWithWarmup {
    /// Warm up over `warmup_iters` iterations to `learning_rate` (finite, > 0), then decay
    /// to `min_lr` (> 0, at most `learning_rate`: every rate it gives is a valid optimizer
    /// learning rate) at `lr_decay_iters` (> `warmup_iters`).
    pub fn new(
        learning_rate: f64,
        min_lr: f64,
        warmup_iters: usize,
        lr_decay_iters: usize,
    ) -> Result<Self> {
        if !(learning_rate > 0.0 && learning_rate.is_finite()) {
            return Err(Error::value(
                "learning_rate",
                "a finite number > 0",
                learning_rate,
            ));
        }
        if !(min_lr > 0.0 && min_lr <= learning_rate) {
            let want = format!("a number > 0 and ≤ learning_rate = {learning_rate}");
            return Err(Error::value("min_lr", want, min_lr));
        }
        if lr_decay_iters <= warmup_iters {
            let want = format!("more than warmup_iters = {warmup_iters}");
            return Err(Error::value("lr_decay_iters", want, lr_decay_iters));
        }
        Ok(CosineWithWarmup {
            learning_rate,
            min_lr,
            warmup_iters,
            lr_decay_iters,
        })
    }

    /// The learning rate at iteration `it`, counted from 0.
    pub fn lr(&self, it: usize) -> f64 {
        let (warmup, decay_iters) = (self.warmup_iters, self.lr_decay_iters);
        // 1) linear warm-up
        if it < warmup {
            return self.learning_rate * (it + 1) as f64 / (warmup + 1) as f64;
        }
        // 2) after the decay, the floor
        if it > decay_iters {
            return self.min_lr;
        }
        // 3) in between, cosine decay from learning_rate down to min_lr
        let decay_ratio = (it - warmup) as f64 / (decay_iters - warmup) as f64;
        let coeff = 0.5 * (1.0 + (std::f64::consts::PI * decay_ratio).cos()); // 1 → 0
        self.min_lr + coeff * (self.learning_rate - self.min_lr)
    }
}
