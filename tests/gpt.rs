//! Chapter 10's GPT against a nanoGPT recorded by `tests/fixtures/generate.py --only gpt`
//! (`grad_gpt.json`: logits, loss and every parameter's gradient), the KV cache against the
//! uncached model, and the GPT's errors on bad input.

mod common;

use attention::gpt::{Gpt, GptConfig, gelu, gelu_backward};
use attention::ndarray::{Array, Array1, Array2, Array3, Axis, Dimension, array, concatenate, s};
use attention::params::{Module, Params};
use attention::train::loss::CrossEntropyLoss;
use common::{Fixture, TOL, fixture};
use proptest::prelude::*;

/// |actual − expected| ≤ 1e-5 · max(1, largest |expected|), element-wise.
fn assert_scaled<D: Dimension>(label: &str, actual: &Array<f32, D>, expected: &Array<f32, D>) {
    assert_eq!(actual.shape(), expected.shape(), "{label}: shapes differ");
    let scale = expected.iter().fold(1.0_f32, |m, v| m.max(v.abs()));
    let diff = (actual.iter().zip(expected)).fold(0.0_f32, |m, (a, e)| m.max((a - e).abs()));
    assert!(actual.iter().all(|v| v.is_finite()), "{label}: non-finite");
    println!("{label}: max |diff| {diff:.2e} (scale {scale:.1})");
    assert!(
        diff <= TOL * scale,
        "{label}: max |diff| {diff:e} > {TOL:e} × {scale}"
    );
}

fn config(f: &Fixture) -> GptConfig {
    GptConfig {
        vocab_size: f.usize("vocab_size"),
        block_size: f.usize("block_size"),
        n_layer: f.usize("n_layer"),
        n_head: f.usize("n_head"),
        n_embd: f.usize("n_embd"),
    }
}

fn small_gpt(seed: u64) -> Gpt {
    let config = GptConfig {
        vocab_size: 11,
        block_size: 16,
        n_layer: 2,
        n_head: 2,
        n_embd: 8,
    };
    let mut gpt = Gpt::from_params(&Params::seeded(seed), config).unwrap();
    // Non-zero biases and γ ≠ 1, so a forgotten term in the cached path would show.
    let mut i = 0.0_f32;
    gpt.visit_parameters_mut("", &mut |name, mut p| {
        if name.ends_with("bias") || name.ends_with("ln_1.weight") {
            p.mapv_inplace(|v| {
                i += 1.0;
                v + 0.3 * (i * 0.7).sin()
            });
        }
    });
    gpt
}

#[test]
fn gpt_logits_loss_and_gradients_match_nanogpt() {
    let f = fixture("grad_gpt");
    let gpt = Gpt::from_params(&Params::load(&f.tensors), config(&f)).unwrap();
    f.assert_all_parameters_used();
    let idx = f.ids("idx");
    let targets = f.ids("targets");

    let logits = gpt.forward(&idx).unwrap();
    let expected: Array3<f32> = f.output("logits");
    assert_scaled("logits", &logits, &expected);

    let (train_logits, cache) = gpt.forward_train(&idx).unwrap();
    assert_eq!(
        train_logits, logits,
        "forward_train computes the same logits"
    );
    let (loss, d_logits) = CrossEntropyLoss::new(None, 0.0)
        .unwrap()
        .forward_backward(&train_logits, &targets)
        .unwrap();
    let expected_loss: Array1<f32> = f
        .output::<attention::ndarray::IxDyn>("loss")
        .into_shape_with_order(1)
        .unwrap();
    assert!(
        (loss - expected_loss[0]).abs() <= TOL,
        "loss {loss} vs {}",
        expected_loss[0]
    );

    let grads = gpt.backward(&cache, &d_logits).unwrap();
    let expected_names: Vec<&str> = f
        .tensors
        .names()
        .filter_map(|n| n.strip_prefix("grad."))
        .collect();
    let mut got: Vec<&str> = grads.names().collect();
    got.sort();
    assert_eq!(got, expected_names, "gradient names");
    for name in expected_names {
        let want = f.tensors.get(&format!("grad.{name}")).unwrap();
        assert_scaled(&format!("grad {name}"), grads.get(name).unwrap(), want);
    }
}

#[test]
fn parameters_are_named_as_nanogpt_and_round_trip() {
    let f = fixture("grad_gpt");
    let gpt = Gpt::from_params(&Params::load(&f.tensors), config(&f)).unwrap();
    let saved = gpt.parameters();
    for name in saved.names() {
        assert_eq!(saved.get(name), f.tensors.get(name), "{name}");
    }
    let params = f
        .tensors
        .names()
        .filter(|n| !n.contains('.') || n.starts_with("transformer."));
    assert_eq!(
        saved.names().count(),
        params.count(),
        "every nanoGPT parameter, once"
    );
    let mut other = Gpt::from_params(&Params::seeded(3), config(&f)).unwrap();
    other.load_parameters(&saved).unwrap();
    assert_eq!(other, gpt);
}

#[test]
fn gelu_matches_its_definition_and_its_derivative() {
    // GELU(x) = x·Φ(x); Φ(1) = 0.841344746, Φ(−1) = 0.158655254 (standard normal table).
    let y = gelu(&array![-1.0_f32, 0.0, 1.0]);
    assert!(
        (y[0] + 0.158_655_25).abs() < 1e-6 && y[1] == 0.0 && (y[2] - 0.841_344_8).abs() < 1e-6
    );
    let x = array![-2.5_f32, -0.7, 0.0, 0.3, 1.9];
    let h = 1e-3_f32;
    let numeric = (gelu(&(&x + h)) - gelu(&(&x - h))) / (2.0 * h);
    let analytic = gelu_backward(&x, &Array1::ones(5));
    for (n, a) in numeric.iter().zip(&analytic) {
        assert!((n - a).abs() < 2e-3, "{n} vs {a}");
    }
}

#[test]
fn bad_input_is_named() {
    let gpt = small_gpt(0);
    let too_long = Array2::<usize>::zeros((1, 17));
    let err = gpt.forward(&too_long).unwrap_err().to_string();
    assert!(
        err.contains("block_size = 16") && err.contains("17"),
        "{err}"
    );
    let err = gpt.forward(&array![[3_usize, 11]]).unwrap_err().to_string();
    assert!(
        err.contains("vocab_size = 11") && err.contains("11"),
        "{err}"
    );
    let bad = GptConfig {
        vocab_size: 11,
        block_size: 16,
        n_layer: 2,
        n_head: 3,
        n_embd: 8,
    };
    let err = Gpt::from_params(&Params::seeded(0), bad)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("n_head") && err.contains("n_embd = 8"),
        "{err}"
    );
    let mut caches = gpt.new_caches(1);
    gpt.forward_cached(&Array2::zeros((1, 16)), &mut caches)
        .unwrap();
    let err = gpt
        .forward_cached(&array![[1_usize]], &mut caches)
        .unwrap_err()
        .to_string();
    assert!(err.contains("block_size = 16"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Feeding a prompt, then one token at a time through the KV cache, gives at every step
    /// the logits of the uncached model on the whole sequence so far.
    #[test]
    fn cached_logits_equal_uncached_logits(
        seed in 0_u64..1000,
        tokens in proptest::collection::vec(0_usize..11, 2..16),
        prompt_len in 1_usize..8,
    ) {
        let gpt = small_gpt(seed);
        let prompt_len = prompt_len.min(tokens.len() - 1);
        let ids = Array2::from_shape_vec((1, tokens.len()), tokens.clone()).unwrap();
        let full = gpt.forward(&ids).unwrap(); // (1, len, V)
        let mut caches = gpt.new_caches(1);
        let mut steps = vec![gpt.forward_cached(&ids.slice(s![.., ..prompt_len]), &mut caches).unwrap()];
        for t in prompt_len..tokens.len() {
            steps.push(gpt.forward_cached(&ids.slice(s![.., t..t + 1]), &mut caches).unwrap());
        }
        let views: Vec<_> = steps.iter().map(|a| a.view()).collect();
        let cached = concatenate(Axis(1), &views).unwrap();
        let diff = (cached.iter().zip(&full)).fold(0.0_f32, |m, (a, b)| m.max((a - b).abs()));
        prop_assert!(diff <= 1e-5, "max |cached − uncached| = {diff:e}");
        prop_assert_eq!(caches[0].len(), tokens.len());
    }
}
