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
    for name in &expected_names {
        let want = f.tensors.get(&format!("grad.{name}")).unwrap();
        assert_scaled(&format!("grad {name}"), grads.get(name).unwrap(), want);
    }

    // Data parallelism: the batch as two parts of one sequence each, run at the same time,
    // gives PyTorch's whole-batch loss and gradients too.
    let (sharded_loss, sharded) = sharded_loss_and_grads(&gpt, &idx, &targets, 2).unwrap();
    assert!(
        (sharded_loss - expected_loss[0]).abs() <= TOL,
        "sharded loss {sharded_loss} vs {}",
        expected_loss[0]
    );
    assert_eq!(
        sharded.len(),
        expected_names.len(),
        "sharded gradient names"
    );
    for name in &expected_names {
        let want = f.tensors.get(&format!("grad.{name}")).unwrap();
        assert_scaled(
            &format!("sharded grad {name}"),
            sharded.get(name).unwrap(),
            want,
        );
    }
}

#[test]
fn uneven_shards_give_the_whole_batch_gradients() {
    let gpt = small_gpt(3);
    let mut rng = seeded_rng(5);
    let ids: Vec<usize> = (0..400).map(|i| (i * 7 + i / 3) % 11).collect();
    let (x, y) = get_batch(&ids, 5, 16, &mut rng).unwrap(); // (5, 16)
    let (loss, whole) = loss_and_grads(&gpt, &x, &y).unwrap();
    // 5 sequences in 3 parts: 2 + 2 + 1, weighted 2/5, 2/5 and 1/5. More parts than
    // sequences: one sequence per part.
    for shards in [3, 9] {
        let (sharded_loss, sharded) = sharded_loss_and_grads(&gpt, &x, &y, shards).unwrap();
        assert!(
            (sharded_loss - loss).abs() <= TOL,
            "{shards} shards: {sharded_loss} vs {loss}"
        );
        for name in whole.names() {
            let (got, want) = (sharded.get(name).unwrap(), whole.get(name).unwrap());
            assert_scaled(&format!("{shards} shards: {name}"), got, want);
        }
    }
    let zero = GptTrainConfig {
        shards: 0,
        ..GptTrainConfig::nanogpt_cpu()
    };
    let err = GptTrainer::new(gpt, zero)
        .err()
        .expect("0 shards is an error");
    assert!(err.to_string().contains("shards"), "{err}");
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
    assert!((y[0] + 0.158_655_25).abs() < 1e-6 && y[1] == 0.0 && (y[2] - 0.841_344_8).abs() < 1e-6);
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

// ------------------------------------------------------------------------- data, sampling

use attention::gpt::data::{CharDataset, CharTokenizer, get_batch, shakespeare};
use attention::gpt::sample::{Decoding, generate, generate_uncached, next_token_probabilities};
use attention::gpt::train::{
    GptTrainConfig, GptTrainer, loss_and_grads, sharded_loss_and_grads, split_loss,
};
use attention::nn::seeded_rng;

#[test]
fn characters_are_tokens() {
    let tok = CharTokenizer::from_text("hello, world").unwrap();
    assert_eq!(tok.chars(), &[' ', ',', 'd', 'e', 'h', 'l', 'o', 'r', 'w']); // sorted, distinct
    let ids = tok.encode("low").unwrap();
    assert_eq!(ids, vec![5, 6, 8]);
    assert_eq!(tok.decode(&ids).unwrap(), "low");
    let err = tok.encode("hi").unwrap_err().to_string();
    assert!(err.contains("'i'") && err.contains("9 of them"), "{err}");
    assert!(
        tok.decode(&[9])
            .unwrap_err()
            .to_string()
            .contains("vocab_size = 9")
    );
    assert!(CharTokenizer::from_text("").is_err());
}

#[test]
fn the_shakespeare_text_splits_90_10_and_batches_shift_by_one() {
    let text = shakespeare().unwrap();
    let data = CharDataset::new(&text).unwrap();
    assert_eq!(
        text.chars().count(),
        993_268,
        "data/shakespeare/README.md's size"
    );
    assert_eq!(data.tokenizer.vocab_size(), 73);
    assert_eq!(data.train.len(), 993_268 * 9 / 10);
    assert_eq!(data.train.len() + data.val.len(), 993_268);
    assert_eq!(data.tokenizer.decode(&data.train[..6]).unwrap(), "HAMLET");
    let (x, y) = get_batch(&data.train, 4, 8, &mut seeded_rng(0)).unwrap();
    assert_eq!((x.dim(), y.dim()), ((4, 8), (4, 8)));
    assert_eq!(
        x.slice(s![.., 1..]),
        y.slice(s![.., ..7]),
        "y is x shifted by one"
    );
    assert!(get_batch(&data.train[..8], 1, 8, &mut seeded_rng(0)).is_err());
}

#[test]
fn temperature_top_k_and_top_p_reshape_the_distribution() {
    let logits = array![0.5_f32, 0.3, 0.2].mapv(f32::ln); // softmax gives (0.5, 0.3, 0.2)
    let p = |d: Decoding| next_token_probabilities(&logits, d).unwrap();
    let close = |a: Array1<f32>, b: Array1<f32>| (&a - &b).iter().all(|d| d.abs() < 1e-6);
    assert!(close(p(Decoding::SAMPLE), array![0.5, 0.3, 0.2]));
    // temperature ½: p ∝ p², (0.25, 0.09, 0.04) / 0.38
    let cold = Decoding::Sample {
        temperature: 0.5,
        top_k: None,
        top_p: None,
    };
    assert!(close(
        p(cold),
        array![0.25 / 0.38, 0.09 / 0.38, 0.04 / 0.38]
    ));
    let top2 = Decoding::Sample {
        temperature: 1.0,
        top_k: Some(2),
        top_p: None,
    };
    assert!(close(p(top2), array![0.625, 0.375, 0.0]));
    // top-p 0.6: 0.5 < 0.6, 0.5 + 0.3 ≥ 0.6 → the first two
    let nucleus = Decoding::Sample {
        temperature: 1.0,
        top_k: None,
        top_p: Some(0.6),
    };
    assert!(close(p(nucleus), array![0.625, 0.375, 0.0]));
    let tight = Decoding::Sample {
        temperature: 1.0,
        top_k: None,
        top_p: Some(0.5),
    };
    assert!(close(p(tight), array![1.0, 0.0, 0.0]));
    assert!(close(p(Decoding::Greedy), array![1.0, 0.0, 0.0]));
}

#[test]
fn bad_sampling_settings_and_prompts_are_named() {
    let gpt = small_gpt(1);
    let mut rng = seeded_rng(0);
    let sample = |t: f32, k: Option<usize>, p: Option<f32>| Decoding::Sample {
        temperature: t,
        top_k: k,
        top_p: p,
    };
    for (decoding, arg) in [
        (sample(0.0, None, None), "temperature"),
        (sample(-1.0, None, None), "temperature"),
        (sample(1.0, Some(0), None), "top_k"),
        (sample(1.0, None, Some(0.0)), "top_p"),
        (sample(1.0, None, Some(1.5)), "top_p"),
    ] {
        let err = generate(&gpt, &[1, 2], 3, decoding, None, &mut rng)
            .unwrap_err()
            .to_string();
        assert!(err.contains(arg), "{err}");
    }
    for prompt in [vec![], vec![1; 17]] {
        let err = generate(&gpt, &prompt, 3, Decoding::Greedy, None, &mut rng)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("prompt") && err.contains("block_size = 16"),
            "{err}"
        );
    }
}

#[test]
fn generation_with_the_cache_equals_generation_without_it() {
    let gpt = small_gpt(2);
    for decoding in [Decoding::Greedy, Decoding::SAMPLE] {
        // 40 new tokens with a context of 16: the window slides past the cache's capacity.
        let cached = generate(&gpt, &[3, 1, 4], 40, decoding, None, &mut seeded_rng(5)).unwrap();
        let plain =
            generate_uncached(&gpt, &[3, 1, 4], 40, decoding, None, &mut seeded_rng(5)).unwrap();
        assert_eq!(cached.len(), 40);
        assert_eq!(cached, plain, "{decoding:?}");
    }
    let stop = generate(
        &gpt,
        &[3, 1, 4],
        40,
        Decoding::Greedy,
        None,
        &mut seeded_rng(5),
    )
    .unwrap()[4];
    let stopped = generate(
        &gpt,
        &[3, 1, 4],
        40,
        Decoding::Greedy,
        Some(stop),
        &mut seeded_rng(5),
    )
    .unwrap();
    assert_eq!(*stopped.last().unwrap(), stop);
    assert!(stopped.len() <= 5);
}

#[test]
fn a_short_training_run_lowers_the_validation_loss() {
    let data = CharDataset::new(&shakespeare().unwrap()[..200_000]).unwrap();
    let config = GptConfig {
        vocab_size: data.tokenizer.vocab_size(),
        block_size: 32,
        n_layer: 1,
        n_head: 2,
        n_embd: 32,
    };
    let gpt = Gpt::from_params(&Params::seeded(0), config).unwrap();
    let val = &data.val[..3_000];
    let before = split_loss(&gpt, val, 32).unwrap();
    let train = GptTrainConfig {
        batch_size: 8,
        max_iters: 60,
        warmup_iters: 5,
        lr_decay_iters: 60,
        learning_rate: 3e-3,
        ..GptTrainConfig::nanogpt_cpu()
    };
    let mut trainer = GptTrainer::new(gpt, train).unwrap();
    for _ in 0..60 {
        trainer.step(&data.train).unwrap();
    }
    let after = split_loss(&trainer.model, val, 32).unwrap();
    println!("validation loss {before:.3} → {after:.3}");
    assert!(after < before - 0.5, "{before} → {after}");
}

// ------------------------------------------------------------------ RoPE, MQA and GQA

use attention::gpt::{grouped_query_attention, kv_cache_bytes, rope};
use attention::ndarray::Array4;

#[test]
fn rope_matches_the_hugging_face_llama_rotation() {
    let f = fixture("rope");
    let start = f.usize("start");
    for name in ["q", "k"] {
        let x: Array4<f32> = f.input(name);
        let rotated = rope(&x, start, 10_000.0).unwrap();
        assert_scaled(&format!("rope {name}"), &rotated, &f.output(name));
    }
    let odd = Array4::<f32>::zeros((1, 1, 2, 3));
    assert!(
        rope(&odd, 0, 10_000.0)
            .unwrap_err()
            .to_string()
            .contains("even head size")
    );
}

#[test]
fn rope_scores_depend_only_on_the_distance() {
    let q: Array4<f32> = fixture("rope").input("q");
    let k: Array4<f32> = fixture("rope").input("k");
    let (one_q, one_k) = (
        q.slice(s![..1, ..1, ..1, ..]).to_owned(),
        k.slice(s![..1, ..1, ..1, ..]).to_owned(),
    );
    let score = |m: usize, n: usize| {
        let (qm, kn) = (
            rope(&one_q, m, 10_000.0).unwrap(),
            rope(&one_k, n, 10_000.0).unwrap(),
        );
        (&qm * &kn).sum()
    };
    for (m, n) in [(3, 1), (10, 8), (52, 50)] {
        assert!(
            (score(m, n) - score(2, 0)).abs() < 1e-4,
            "distance 2 at ({m}, {n})"
        );
    }
    assert!(
        (score(5, 0) - score(2, 0)).abs() > 1e-3,
        "another distance, another score"
    );
}

#[test]
fn grouped_query_attention_matches_pytorch_enable_gqa() {
    let f = fixture("gqa");
    let (q, k, v): (Array4<f32>, Array4<f32>, Array4<f32>) =
        (f.input("q"), f.input("k"), f.input("v"));
    let out = grouped_query_attention(&q, &k, &v, true).unwrap();
    assert_scaled("gqa", &out, &f.output("out"));
    let (k1, v1) = (
        k.slice(s![.., ..1, .., ..]).to_owned(),
        v.slice(s![.., ..1, .., ..]).to_owned(),
    );
    let mqa = grouped_query_attention(&q, &k1, &v1, true).unwrap();
    assert_scaled("mqa", &mqa, &f.output("mqa"));
    let four = Array4::<f32>::zeros((2, 4, 5, 4));
    let err = grouped_query_attention(&q, &four, &four, true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("a divisor of n_head = 6"), "{err}");
    // 6 query heads over 2 kv heads: a third of multi-head attention's cache.
    assert_eq!(
        kv_cache_bytes(4, 2, 32, 1024, 1) * 3,
        kv_cache_bytes(4, 6, 32, 1024, 1)
    );
}

#[test]
fn a_truncated_cache_generates_again_from_the_earlier_point() {
    let gpt = small_gpt(4);
    let mut caches = gpt.new_caches(1);
    gpt.forward_cached(&array![[1_usize, 2, 3]], &mut caches)
        .unwrap();
    let first = gpt.forward_cached(&array![[4_usize]], &mut caches).unwrap();
    gpt.forward_cached(&array![[9_usize, 9]], &mut caches)
        .unwrap();
    assert_eq!(caches[0].len(), 6);
    caches.iter_mut().for_each(|c| c.truncate(3));
    assert_eq!(caches[1].len(), 3);
    let again = gpt.forward_cached(&array![[4_usize]], &mut caches).unwrap();
    assert_eq!(again, first);
}

#[test]
fn attention_weights_are_causal_rows_that_sum_to_one() {
    let gpt = small_gpt(6);
    let maps = gpt
        .attention_weights(&array![[1_usize, 5, 2, 7, 3]])
        .unwrap();
    assert_eq!(maps.len(), 2);
    for w in &maps {
        assert_eq!(w.shape(), &[1, 2, 5, 5]);
        for ((_, _, i, j), &v) in w.indexed_iter() {
            if j > i {
                assert_eq!(v, 0.0, "position {i} sees the future {j}");
            }
        }
        for row in w.lanes(Axis(3)) {
            assert!((row.sum() - 1.0).abs() < 1e-5);
        }
    }
}

#[test]
fn the_loss_of_a_split_too_short_for_one_window_is_an_error() {
    let gpt = small_gpt(7);
    for data in [vec![], vec![1_usize; 16]] {
        let err = split_loss(&gpt, &data, 4).unwrap_err().to_string();
        assert!(err.contains("more than block_size = 16"), "{err}");
    }
}
