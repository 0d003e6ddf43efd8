//! Optimizers, gradient clipping and learning-rate schedules (`attention::train`), against
//! `torch.optim` step for step and by hand.
//!
//! The fixtures (`tests/fixtures/optim_*.json`, written by `generate_optim.py`) hold a small
//! model's parameters, the gradients PyTorch used at each of 5 steps and the parameters after
//! each step. Here the same gradients go through the Rust optimizer and the parameters are
//! compared after every step.

mod common;

use attention::Error;
use attention::gradients::Gradients;
use attention::ndarray::{ArrayD, ArrayViewMutD, array};
use attention::nn::{LayerNorm, Linear};
use attention::params::{Module, Params};
use attention::train::optim::{Adam, AdamW, Optimizer, Sgd, clip_grad_norm};
use attention::train::schedule::{CosineWithWarmup, NoamSchedule};
use attention::weights::{NamedTensors, join};
use common::{Fixture, fixture};

/// Tolerance against PyTorch: |rust − torch| ≤ TOL · max(1, |torch|).
const TOL: f32 = 1e-6;

// ----------------------------------------------------------------------------- the model

/// The fixtures' model: `linear` = nn.Linear(4, 3), then `norm` = nn.LayerNorm(3). Only its
/// parameters matter here (the gradients come from the fixture), so it has no forward.
struct Tiny {
    linear: Linear,
    norm: LayerNorm,
}

impl Tiny {
    fn load(tensors: &NamedTensors) -> Tiny {
        let p = Params::load(tensors);
        Tiny {
            linear: Linear::from_params(&p.sub("linear"), 4, 3, true).unwrap(),
            norm: LayerNorm::from_params(&p.sub("norm"), 3).unwrap(),
        }
    }
}

impl Module for Tiny {
    fn parameters_into(&self, prefix: &str, out: &mut NamedTensors) {
        self.linear.parameters_into(&join(prefix, "linear"), out);
        self.norm.parameters_into(&join(prefix, "norm"), out);
    }

    fn visit_parameters_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ArrayViewMutD<f32>)) {
        self.linear.visit_parameters_mut(&join(prefix, "linear"), f);
        self.norm.visit_parameters_mut(&join(prefix, "norm"), f);
    }
}

// ------------------------------------------------------------------------------ helpers

/// The gradients PyTorch used at step `t` (`grad.<t>.<name>`; a skipped parameter has none).
fn grads_at(f: &Fixture, t: usize) -> Gradients {
    let prefix = format!("grad.{t}.");
    let mut grads = Gradients::new();
    for name in f.tensors.names() {
        if let Some(param) = name.strip_prefix(&prefix) {
            grads.add(param, f.tensors.get(name).unwrap().clone());
        }
    }
    grads
}

/// The largest |actual − expected| / max(1, |expected|) over every entry.
fn max_scaled_diff(actual: &ArrayD<f32>, expected: &ArrayD<f32>) -> f32 {
    assert_eq!(actual.shape(), expected.shape());
    (actual.iter().zip(expected))
        .map(|(a, e)| (a - e).abs() / e.abs().max(1.0))
        .fold(0.0, f32::max)
}

/// Runs the fixture's 5 steps through `optimizer` (learning rate from `config.lrs` before
/// each step, as the generator did) and compares every parameter after every step.
fn replay(f: &Fixture, optimizer: &mut dyn Optimizer) -> Tiny {
    let mut model = Tiny::load(&f.tensors);
    let lrs: Vec<f64> = serde_json::from_value(f.config["lrs"].clone()).unwrap();
    let (mut worst, mut inexact, mut total) = (0.0_f32, 0, 0);
    for (i, &lr) in lrs.iter().enumerate() {
        let t = i + 1;
        optimizer.set_lr(lr).unwrap();
        optimizer.step(&mut model, &grads_at(f, t)).unwrap();
        let params = model.parameters();
        for name in params.names() {
            let actual = params.get(name).unwrap();
            let expected = f.tensors.get(&format!("step.{t}.{name}")).unwrap();
            let diff = max_scaled_diff(actual, expected);
            assert!(
                diff <= TOL,
                "{}: step {t}, `{name}`: scaled |diff| {diff:e} > {TOL:e}\n\
                 rust:  {actual}\ntorch: {expected}",
                f.name
            );
            worst = worst.max(diff);
            inexact += actual.iter().zip(expected).filter(|(a, e)| a != e).count();
            total += actual.len();
        }
    }
    println!(
        "{}: max scaled |diff| {worst:.2e}; {inexact} of {total} entries not bit-identical",
        f.name
    );
    model
}

fn config_f64(f: &Fixture, key: &str) -> f64 {
    f.config[key].as_f64().unwrap()
}

fn betas(f: &Fixture) -> (f64, f64) {
    let b: Vec<f64> = serde_json::from_value(f.config["betas"].clone()).unwrap();
    (b[0], b[1])
}

/// The argument an `Error::Value` or `Error::Shape` names (panics on other errors).
fn arg_of(e: Error) -> String {
    match e {
        Error::Value { arg, .. } | Error::Shape { arg, .. } => arg,
        other => panic!("expected a Value or Shape error, got {other:?}"),
    }
}

// ------------------------------------------------------------------- against PyTorch

#[test]
fn sgd_matches_pytorch() {
    let f = fixture("optim_sgd");
    assert_eq!(config_f64(&f, "dampening"), 0.0);
    let (momentum, wd) = (config_f64(&f, "momentum"), config_f64(&f, "weight_decay"));
    replay(&f, &mut Sgd::new(1.0, momentum, wd).unwrap());
}

#[test]
fn adam_matches_pytorch_with_per_parameter_step_counts() {
    let f = fixture("optim_adam");
    let (eps, wd) = (config_f64(&f, "eps"), config_f64(&f, "weight_decay"));
    let mut adam = Adam::new(1.0, betas(&f), eps, wd).unwrap();
    replay(&f, &mut adam);
    // norm.bias had no gradient at step 3: 4 steps, and its bias correction used t = 1..4.
    assert_eq!(adam.step_count("norm.bias"), 4);
    assert_eq!(adam.step_count("linear.weight"), 5);
}

#[test]
fn adamw_matches_pytorch() {
    let f = fixture("optim_adamw");
    let (eps, wd) = (config_f64(&f, "eps"), config_f64(&f, "weight_decay"));
    let mut adamw = AdamW::new(1.0, betas(&f), eps, wd).unwrap();
    replay(&f, &mut adamw);
    assert_eq!(adamw.step_count("norm.bias"), 4);
}

#[test]
fn adamw_decaying_matrices_only_matches_pytorch_param_groups() {
    let f = fixture("optim_adamw_groups");
    let (eps, wd) = (config_f64(&f, "eps"), config_f64(&f, "weight_decay"));
    let mut adamw = AdamW::new(1.0, betas(&f), eps, wd)
        .unwrap()
        .decay_matrices_only();
    replay(&f, &mut adamw);
}

#[test]
fn clip_grad_norm_matches_pytorch() {
    let f = fixture("optim_clip");
    let mut grads = Gradients::new();
    for name in f.tensors.names() {
        if let Some(param) = name.strip_prefix("grad.") {
            grads.add(param, f.tensors.get(name).unwrap().clone());
        }
    }
    let max_norm = config_f64(&f, "max_norm") as f32;
    let norm = clip_grad_norm(&mut grads, max_norm).unwrap();
    let expected_norm = f.output::<attention::ndarray::Ix1>("total_norm")[0];
    assert!(expected_norm > max_norm, "the fixture must need clipping");
    assert!(
        (norm - expected_norm).abs() <= TOL * expected_norm,
        "norm {norm} vs torch {expected_norm}"
    );
    for name in grads.names() {
        let expected = f.tensors.get(&format!("output.grad.{name}")).unwrap();
        let diff = max_scaled_diff(grads.get(name).unwrap(), expected);
        assert!(diff <= TOL, "clipped `{name}`: scaled |diff| {diff:e}");
    }
    assert!((grads.global_norm() - max_norm).abs() < 1e-5);
}

// ------------------------------------------------------------------------------ by hand

/// A model with one parameter, `weight` = [[θ]].
fn scalar_model(theta: f32) -> Linear {
    Linear::new(array![[theta]], None).unwrap()
}

fn scalar_grad(g: f32) -> Gradients {
    let mut grads = Gradients::new();
    grads.add("weight", array![[g]]);
    grads
}

#[test]
fn sgd_momentum_by_hand() {
    // g = 1 twice, lr 0.1, μ 0.9: b₁ = 1, θ = 0.9; b₂ = 0.9·1 + 1 = 1.9, θ = 0.9 − 0.19 = 0.71.
    let mut model = scalar_model(1.0);
    let mut sgd = Sgd::new(0.1, 0.9, 0.0).unwrap();
    sgd.step(&mut model, &scalar_grad(1.0)).unwrap();
    assert!((model.weight[[0, 0]] - 0.9).abs() < 1e-7);
    sgd.step(&mut model, &scalar_grad(1.0)).unwrap();
    assert!((model.weight[[0, 0]] - 0.71).abs() < 1e-6);
}

#[test]
fn adam_first_step_moves_by_lr() {
    // Step 1: m̂ = g, v̂ = g², so θ moves by lr · g/(|g| + ε): lr whatever the gradient's
    // size, as long as |g| ≫ ε (for g = 1e-3 the ε = 1e-8 shortens the step by 1e-5).
    for g in [0.5_f32, -3.0, 1e-3] {
        let mut model = scalar_model(1.0);
        Adam::with_lr(0.1)
            .unwrap()
            .step(&mut model, &scalar_grad(g))
            .unwrap();
        let expected = 1.0 - 0.1 * g / (g.abs() + 1e-8);
        assert!((model.weight[[0, 0]] - expected).abs() < 1e-6, "g = {g}");
    }
}

#[test]
fn adamw_decays_the_weight_itself() {
    // Zero gradient: Adam's update is 0, so only the decay acts: θ = 2·(1 − 0.1·0.5) = 1.9.
    let mut model = scalar_model(2.0);
    let mut adamw = AdamW::new(0.1, (0.9, 0.999), 1e-8, 0.5).unwrap();
    adamw.step(&mut model, &scalar_grad(0.0)).unwrap();
    assert!((model.weight[[0, 0]] - 1.9).abs() < 1e-6);
}

#[test]
fn parameters_without_gradient_are_left_alone() {
    let f = fixture("optim_adamw");
    let optimizers: Vec<Box<dyn Optimizer>> = vec![
        Box::new(Sgd::new(0.1, 0.9, 0.1).unwrap()),
        Box::new(Adam::new(0.1, (0.9, 0.999), 1e-8, 0.1).unwrap()),
        Box::new(AdamW::new(0.1, (0.9, 0.999), 1e-8, 0.1).unwrap()),
    ];
    for mut optimizer in optimizers {
        let mut model = Tiny::load(&f.tensors);
        let before = model.parameters();
        let mut grads = Gradients::new();
        grads.add("linear.bias", array![1.0_f32, 2.0, 3.0]);
        optimizer.step(&mut model, &grads).unwrap();
        let after = model.parameters();
        for name in ["linear.weight", "norm.weight", "norm.bias"] {
            assert_eq!(after.get(name), before.get(name), "`{name}` changed"); // no decay either
        }
        assert_ne!(after.get("linear.bias"), before.get("linear.bias"));
    }
}

// -------------------------------------------------------------------------- bad input

#[test]
fn constructors_name_the_bad_argument() {
    for lr in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert_eq!(arg_of(Sgd::new(lr, 0.0, 0.0).unwrap_err()), "lr");
        assert_eq!(arg_of(Adam::with_lr(lr).unwrap_err()), "lr");
        assert_eq!(arg_of(AdamW::with_lr(lr).unwrap_err()), "lr");
    }
    for bad in [-0.1, f64::NAN, f64::INFINITY] {
        assert_eq!(arg_of(Sgd::new(0.1, bad, 0.0).unwrap_err()), "momentum");
        assert_eq!(arg_of(Sgd::new(0.1, 0.0, bad).unwrap_err()), "weight_decay");
        assert_eq!(
            arg_of(Adam::new(0.1, (0.9, 0.999), 1e-8, bad).unwrap_err()),
            "weight_decay"
        );
        assert_eq!(
            arg_of(AdamW::new(0.1, (0.9, 0.999), 1e-8, bad).unwrap_err()),
            "weight_decay"
        );
    }
    for beta in [1.0, -0.1, f64::NAN] {
        assert_eq!(
            arg_of(Adam::new(0.1, (beta, 0.999), 1e-8, 0.0).unwrap_err()),
            "betas.0"
        );
        assert_eq!(
            arg_of(AdamW::new(0.1, (0.9, beta), 1e-8, 0.0).unwrap_err()),
            "betas.1"
        );
    }
    for eps in [0.0, -1e-8, f64::NAN, f64::INFINITY] {
        assert_eq!(
            arg_of(Adam::new(0.1, (0.9, 0.999), eps, 0.0).unwrap_err()),
            "eps"
        );
    }
    let message = Adam::new(0.1, (0.9, 1.0), 1e-8, 0.0)
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "`betas.1` has an invalid value: expected a number in [0, 1), got 1"
    );
}

#[test]
fn set_lr_checks_and_keeps_the_old_rate_on_error() {
    let mut optimizers: Vec<Box<dyn Optimizer>> = vec![
        Box::new(Sgd::new(0.1, 0.0, 0.0).unwrap()),
        Box::new(Adam::with_lr(0.1).unwrap()),
        Box::new(AdamW::with_lr(0.1).unwrap()),
    ];
    for optimizer in &mut optimizers {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(arg_of(optimizer.set_lr(bad).unwrap_err()), "lr");
            assert_eq!(optimizer.lr(), 0.1);
        }
        optimizer.set_lr(0.02).unwrap();
        assert_eq!(optimizer.lr(), 0.02);
    }
}

/// Gradients for every parameter of `Tiny`, from the adam fixture's step 1.
fn good_grads() -> Gradients {
    grads_at(&fixture("optim_adam"), 1)
}

/// Each bad gradient set, with the name its error must carry.
fn bad_gradient_sets() -> Vec<(&'static str, Gradients)> {
    let mut unknown = good_grads();
    unknown.add("linear.wieght", ArrayD::zeros(vec![3, 4]));
    let wrong_shape = replace(good_grads(), "norm.weight", ArrayD::zeros(vec![4]));
    let mut nan = good_grads();
    let mut bad = nan.get("norm.weight").unwrap().clone();
    bad[[1]] = f32::NAN;
    nan = replace(nan, "norm.weight", bad);
    let mut inf = good_grads();
    let mut bad = inf.get("norm.bias").unwrap().clone();
    bad[[2]] = f32::NEG_INFINITY;
    inf = replace(inf, "norm.bias", bad);
    vec![
        ("linear.wieght", unknown),
        ("norm.weight", wrong_shape),
        ("norm.weight", nan),
        ("norm.bias", inf),
    ]
}

/// `grads` with the gradient of `name` replaced by `value`.
fn replace(grads: Gradients, name: &str, value: ArrayD<f32>) -> Gradients {
    let mut out = Gradients::new();
    for n in grads.names() {
        let g = if n == name {
            value.clone()
        } else {
            grads.get(n).unwrap().clone()
        };
        out.add(n, g);
    }
    out
}

#[test]
fn a_failed_step_changes_neither_the_model_nor_the_optimizer() {
    let f = fixture("optim_adam");
    type Make = fn() -> Box<dyn Optimizer>;
    let makers: [(&str, Make); 3] = [
        ("sgd", || Box::new(Sgd::new(0.1, 0.9, 0.01).unwrap())),
        ("adam", || {
            Box::new(Adam::new(0.1, (0.9, 0.999), 1e-8, 0.01).unwrap())
        }),
        ("adamw", || Box::new(AdamW::with_lr(0.1).unwrap())),
    ];
    for (label, make) in makers {
        for (culprit, grads) in bad_gradient_sets() {
            // One good step first, so that there is state (buffers, moments) to protect.
            let mut optimizer = make();
            let mut model = Tiny::load(&f.tensors);
            optimizer.step(&mut model, &good_grads()).unwrap();
            let before = model.parameters();
            let err = optimizer.step(&mut model, &grads).unwrap_err();
            assert_eq!(arg_of(err.clone()), culprit, "{label}: {err}");
            let after = model.parameters();
            for name in before.names() {
                assert_eq!(
                    after.get(name),
                    before.get(name),
                    "{label}: `{name}` changed"
                );
            }
            // The optimizer's state is untouched too: its next step is the same as that of
            // one that never saw the bad gradients.
            let mut twin = make();
            let mut twin_model = Tiny::load(&f.tensors);
            twin.step(&mut twin_model, &good_grads()).unwrap();
            twin.step(&mut twin_model, &good_grads()).unwrap();
            optimizer.step(&mut model, &good_grads()).unwrap();
            let (a, b) = (model.parameters(), twin_model.parameters());
            for name in a.names() {
                assert_eq!(
                    a.get(name),
                    b.get(name),
                    "{label} after {culprit}: `{name}`"
                );
            }
        }
    }
}

#[test]
fn step_errors_say_what_was_expected() {
    let f = fixture("optim_adam");
    let mut model = Tiny::load(&f.tensors);
    let mut sgd = Sgd::new(0.1, 0.0, 0.0).unwrap();
    let mut grads = Gradients::new();
    grads.add("linear.bias", ArrayD::zeros(vec![4]));
    let message = sgd.step(&mut model, &grads).unwrap_err().to_string();
    assert_eq!(
        message,
        "`linear.bias` has the wrong shape: expected (3), the shape of the parameter, got (4)"
    );
    let mut grads = Gradients::new();
    grads.add("norm.weight", array![0.0_f32, f32::NAN, 0.0]);
    let message = sgd.step(&mut model, &grads).unwrap_err().to_string();
    assert_eq!(
        message,
        "`norm.weight` has an invalid value: expected a finite gradient, got NaN at index (1)"
    );
    let mut grads = Gradients::new();
    grads.add("proj.weight", array![0.0_f32]);
    let message = sgd.step(&mut model, &grads).unwrap_err().to_string();
    assert!(message.contains("`proj.weight`"), "{message}");
    assert!(message.contains("4 parameters (linear.bias, linear.weight, norm.bias, norm.weight)"));
}

#[test]
fn an_optimizer_refuses_a_parameter_whose_shape_changed() {
    // State kept for `weight` of shape (1, 1) cannot be applied to a (1, 2) `weight`.
    let mut adam = Adam::with_lr(0.1).unwrap();
    adam.step(&mut scalar_model(1.0), &scalar_grad(1.0))
        .unwrap();
    let mut other = Linear::new(array![[1.0, 2.0]], None).unwrap();
    let mut grads = Gradients::new();
    grads.add("weight", array![[1.0_f32, 1.0]]);
    let err = adam.step(&mut other, &grads).unwrap_err();
    assert!(err.to_string().contains("one optimizer per model"), "{err}");
    assert_eq!(other.weight, array![[1.0, 2.0]]);
}

#[test]
fn clip_grad_norm_leaves_small_gradients_alone() {
    let mut grads = Gradients::new();
    grads.add("a", array![3.0_f32]);
    grads.add("b", array![4.0_f32]);
    let before = grads.clone();
    assert_eq!(clip_grad_norm(&mut grads, 10.0).unwrap(), 5.0);
    assert_eq!(grads, before);
    // At max_norm = ‖g‖ the factor 5/(5 + 1e-6) is just below 1, so PyTorch scales anyway:
    // clip_grad_norm_ on [3, 4] with max_norm 5 gives [2.9999992847442627, 3.9999990463256836].
    assert_eq!(clip_grad_norm(&mut grads, 5.0).unwrap(), 5.0);
    assert_eq!(grads.get("a").unwrap()[[0]], 2.999_999_3_f32);
    assert_eq!(grads.get("b").unwrap()[[0]], 3.999_999_f32);
}

#[test]
fn clip_grad_norm_errors() {
    let mut grads = Gradients::new();
    grads.add("a", array![3.0_f32]);
    for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        assert_eq!(
            arg_of(clip_grad_norm(&mut grads, bad).unwrap_err()),
            "max_norm"
        );
    }
    grads.add("b", array![1.0_f32, f32::INFINITY]);
    let before = grads.clone();
    assert_eq!(arg_of(clip_grad_norm(&mut grads, 1.0).unwrap_err()), "b");
    assert_eq!(grads, before);
}

// -------------------------------------------------------------------------- schedules

#[test]
fn noam_schedule_peaks_at_warmup() {
    let schedule = NoamSchedule::new(512, 4000, 1.0).unwrap();
    let peak = schedule.lr(4000).unwrap();
    assert!((peak - 1.0 / (512.0_f64 * 4000.0).sqrt()).abs() < 1e-15);
    assert!(schedule.lr(3999).unwrap() < peak && schedule.lr(4001).unwrap() < peak);
    // Linear before the peak, 1/√step after.
    let (lr1, lr2) = (schedule.lr(1).unwrap(), schedule.lr(2).unwrap());
    assert!((lr2 / lr1 - 2.0).abs() < 1e-12);
    let (a, b) = (schedule.lr(8000).unwrap(), schedule.lr(32000).unwrap());
    assert!((a / b - 2.0).abs() < 1e-12);
    assert_eq!(schedule.peak_step(), 4000);
    assert_eq!(arg_of(schedule.lr(0).unwrap_err()), "step");
}

#[test]
fn noam_schedule_checks_its_arguments() {
    assert_eq!(
        arg_of(NoamSchedule::new(0, 10, 1.0).unwrap_err()),
        "d_model"
    );
    assert_eq!(arg_of(NoamSchedule::new(8, 0, 1.0).unwrap_err()), "warmup");
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert_eq!(arg_of(NoamSchedule::new(8, 10, bad).unwrap_err()), "factor");
    }
}

#[test]
fn cosine_schedule_endpoints() {
    let (lr, min_lr, warmup, decay) = (6e-4, 6e-5, 100, 1000);
    let schedule = CosineWithWarmup::new(lr, min_lr, warmup, decay).unwrap();
    assert_eq!(schedule.lr(0), lr / 101.0);
    assert_eq!(schedule.lr(99), lr * 100.0 / 101.0);
    assert_eq!(schedule.lr(warmup), lr);
    assert_eq!(schedule.lr(decay), min_lr);
    assert_eq!(schedule.lr(decay + 1), min_lr);
    let mid = schedule.lr((warmup + decay) / 2);
    assert!((mid - (lr + min_lr) / 2.0).abs() < 1e-15);
    let rates: Vec<f64> = (warmup..=decay).map(|it| schedule.lr(it)).collect();
    assert!(
        rates.windows(2).all(|w| w[1] <= w[0]),
        "decays monotonically"
    );
}

#[test]
fn cosine_schedule_checks_its_arguments() {
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert_eq!(
            arg_of(CosineWithWarmup::new(bad, 1e-5, 1, 2).unwrap_err()),
            "learning_rate"
        );
    }
    for bad in [0.0, 2e-3, f64::NAN] {
        assert_eq!(
            arg_of(CosineWithWarmup::new(1e-3, bad, 1, 2).unwrap_err()),
            "min_lr"
        );
    }
    assert_eq!(
        arg_of(CosineWithWarmup::new(1e-3, 1e-4, 5, 5).unwrap_err()),
        "lr_decay_iters"
    );
}
