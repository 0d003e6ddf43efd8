//! Property-based finite-difference checks of every hand-written backward pass.
//!
//! For random sizes, seeds, inputs and masks, the analytic gradient of L = Σ y ⊙ r (r a random
//! upstream gradient) must match the central difference (L(θ + h) − L(θ − h)) / 2h on random
//! entries of every parameter and input. This is independent of PyTorch (tests/gradients.rs
//! checks against its autograd), and it covers dropout, whose random masks PyTorch's
//! generator cannot reproduce: the same seed draws the same masks, so the training forward is
//! a deterministic function of the parameters.

use attention::gradients::Gradients;
use attention::masked::Mask;
use attention::ndarray::{Array, Array2, Array3, ArrayD, Dimension, IxDyn};
use attention::nn::{FeedForward, LayerNorm, Linear, Train, init, seeded_rng, softmax};
use attention::params::{Module, Params};
use attention::prelude::*;
use attention::self_attention::scaled_dot_product_attention_backward;
use attention::train::loss::CrossEntropyLoss;
use proptest::prelude::*;

/// Steps of the central difference: f32 forward passes need a step large enough to beat
/// rounding.
const STEPS: [f64; 3] = [3e-3, 1e-3, 3e-4];

/// Σ y ⊙ r in f64.
fn dot<D: Dimension>(y: &Array<f32, D>, r: &Array<f32, D>) -> f64 {
    y.iter().zip(r).map(|(&a, &b)| a as f64 * b as f64).sum()
}

/// Within relative 5e-2 (absolute 5e-3 near zero): a coarse check, because the forward
/// passes are f32 and ReLU kinks lie close to many points, so a
/// difference quotient carries their rounding; the PyTorch fixtures (tests/gradients.rs)
/// check the gradients tightly.
fn near(a: f64, b: f64) -> bool {
    (a - b).abs() <= 5e-2 * a.abs().max(b.abs()).max(0.1)
}

/// Compares the central difference of `f` with `analytic`. Returns false, without judging,
/// unless the three steps agree with each other: where they do not, the function is not smooth
/// inside the steps (a ReLU switching on or off) and a difference quotient measures nothing.
/// Where they agree, they must agree with the backward.
fn close(f: impl Fn(f64) -> f64, analytic: f64, what: &str) -> bool {
    let d = STEPS.map(|h| (f(h) - f(-h)) / (2.0 * h));
    // One-sided slopes: a kink right at the point shows as a jump between them, which
    // every central difference would average away.
    let (h, f0) = (STEPS[1], f(0.0));
    let (right, left) = ((f(h) - f0) / h, (f0 - f(-h)) / h);
    if !(near(d[0], d[1]) && near(d[1], d[2]) && near(left, right)) {
        return false; // a kink inside the steps: not judged
    }
    // The middle step: less rounding than the narrowest, less curvature than the widest.
    assert!(
        near(d[1], analytic),
        "{what}: backward {analytic:.6}, finite differences {d:.6?} (steps {STEPS:?})"
    );
    true
}

/// At least half of the sampled entries must be smooth enough to be judged.
fn assert_mostly_judged(judged: usize, total: usize, what: &str) {
    assert!(
        judged * 2 >= total,
        "{what}: only {judged} of {total} entries were smooth enough to check"
    );
}

/// A few entries of every parameter of `model`: the central difference of `loss` against
/// the gradient the backward filed under the parameter's name.
fn check_parameters<M: Module + Clone>(model: &M, grads: &Gradients, loss: impl Fn(&M) -> f64) {
    let params = model.parameters();
    let (mut judged, mut total) = (0, 0);
    for name in params.names() {
        let len = params.get(name).unwrap().len();
        let g = grads
            .get(name)
            .unwrap_or_else(|| panic!("no gradient for `{name}`"));
        for k in sample_indices(len, name) {
            let shifted = |h: f64| {
                let mut m = model.clone();
                m.visit_parameters_mut("", &mut |n, mut p| {
                    if n == name {
                        let entry = p.iter_mut().nth(k).unwrap();
                        *entry = (*entry as f64 + h) as f32;
                    }
                });
                loss(&m)
            };
            let analytic = g.iter().nth(k).copied().unwrap() as f64;
            judged += close(shifted, analytic, &format!("{name}[{k}]")) as usize;
            total += 1;
        }
    }
    assert_mostly_judged(judged, total, "parameters");
}

/// A few entries of an input `x`: central difference of `loss` against `dx`.
fn check_input<D: Dimension>(
    x: &Array<f32, D>,
    dx: &Array<f32, D>,
    what: &str,
    loss: impl Fn(&Array<f32, D>) -> f64,
) {
    assert_eq!(x.shape(), dx.shape(), "{what}: gradient shape");
    let indices = sample_indices(x.len(), what);
    let mut judged = 0;
    for &k in &indices {
        let shifted = |h: f64| {
            let mut x = x.clone();
            let entry = x.iter_mut().nth(k).unwrap();
            *entry = (*entry as f64 + h) as f32;
            loss(&x)
        };
        let analytic = dx.iter().nth(k).copied().unwrap() as f64;
        judged += close(shifted, analytic, &format!("{what}[{k}]")) as usize;
    }
    assert_mostly_judged(judged, indices.len(), what);
}

/// Up to 6 indices spread over `0..len`, the first and last included.
fn sample_indices(len: usize, _what: &str) -> Vec<usize> {
    let n = len.min(6);
    (0..n).map(|i| i * (len - 1) / (n - 1).max(1)).collect()
}

fn random<Sh, D>(shape: Sh, seed: u64) -> Array<f32, D>
where
    Sh: attention::ndarray::ShapeBuilder<Dim = D>,
    D: Dimension,
{
    init::normal(shape, 1.0, &mut seeded_rng(seed))
}

/// Train mode with a fixed seed: every call draws the same dropout masks.
fn train(p: f32, seed: u64) -> Train {
    Train::new(p, seed).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    #[test]
    fn linear(seed in 0u64..1000, rows in 1usize..4, d_in in 1usize..6, d_out in 1usize..5) {
        let layer = Linear::from_params(&Params::seeded(seed), d_in, d_out, true).unwrap();
        let x: Array3<f32> = random((2, rows, d_in), seed + 1);
        let r: Array3<f32> = random((2, rows, d_out), seed + 2);
        let mut grads = Gradients::new();
        let dx = layer.backward(&x, &r, &mut grads, "").unwrap();
        check_parameters(&layer, &grads, |m| dot(&m.forward(&x).unwrap(), &r));
        check_input(&x, &dx, "x", |x| dot(&layer.forward(x).unwrap(), &r));
    }

    #[test]
    fn layer_norm(seed in 0u64..1000, d in 2usize..8, offset in -50.0f32..50.0) {
        let mut norm = LayerNorm::from_params(&Params::seeded(seed), d).unwrap();
        norm.weight = random(d, seed + 3) ; // γ and β away from 1 and 0
        norm.bias = random(d, seed + 4);
        let x: Array2<f32> = random((3, d), seed + 1) + offset;
        let r = random((3, d), seed + 2);
        let mut grads = Gradients::new();
        let dx = norm.backward(&x, &r, &mut grads, "").unwrap();
        check_parameters(&norm, &grads, |m| dot(&m.forward(&x).unwrap(), &r));
        check_input(&x, &dx, "x", |x| dot(&norm.forward(x).unwrap(), &r));
    }

    #[test]
    fn embedding_and_learned_positions(seed in 0u64..1000, seq in 1usize..6) {
        let table = Embedding::from_params(&Params::seeded(seed), 7, 4).unwrap();
        let positions = LearnedPositionalEmbedding::from_params(&Params::seeded(seed + 1), 6, 4).unwrap();
        let ids = Array2::from_shape_fn((2, seq), |(b, s)| (b + 2 * s + seed as usize) % 7);
        let r: Array3<f32> = random((2, seq, 4), seed + 2);
        let mut grads = Gradients::new();
        table.backward(&ids, &r, &mut grads, "").unwrap();
        check_parameters(&table, &grads, |t| dot(&t.forward_batch(&ids).unwrap(), &r));
        let x: Array3<f32> = random((2, seq, 4), seed + 3);
        let mut grads = Gradients::new();
        let dx = positions.backward(&r, &mut grads, "").unwrap();
        check_parameters(&positions, &grads, |p| dot(&p.forward(&x).unwrap(), &r));
        check_input(&x, &dx, "x", |x| dot(&positions.forward(x).unwrap(), &r));
    }

    #[test]
    fn softmax_vjp(seed in 0u64..1000, n in 1usize..8) {
        let mut x: Array2<f32> = random((3, n), seed);
        x[[0, 0]] = f32::NEG_INFINITY; // a masked entry
        let r = random((3, n), seed + 1);
        let dx = attention::nn::softmax_backward(&softmax(&x), &r);
        prop_assert!(dx.iter().all(|v| v.is_finite()));
        let finite = x.mapv(|v| if v.is_finite() { v } else { 0.0 });
        check_input(&finite, &dx.mapv(|v| v), "x", |y| {
            let mut y = y.clone();
            y[[0, 0]] = f32::NEG_INFINITY;
            dot(&softmax(&y), &r)
        });
    }

    #[test]
    fn sdpa_with_mask(seed in 0u64..1000, t in 1usize..5, s in 1usize..6, d in 1usize..5) {
        let (q, k, v) = (random((t, d), seed), random((s, d), seed + 1), random((s, 3), seed + 2));
        let mut allowed = Array2::from_shape_fn((t, s), |(i, j)| !(i + j + seed as usize).is_multiple_of(3));
        allowed.row_mut(0).fill(false); // a fully masked query
        let mask = Mask::new(allowed).unwrap();
        let r = random((t, 3), seed + 3);
        let attn = scaled_dot_product_attention(&q, &k, &v, Some(&mask)).unwrap();
        let g = scaled_dot_product_attention_backward(&q, &k, &v, &attn.weights, &r).unwrap();
        prop_assert!(g.queries.row(0).iter().all(|&x| x == 0.0)); // zero, never NaN
        let loss = |q: &Array2<f32>, k: &Array2<f32>, v: &Array2<f32>| {
            dot(&scaled_dot_product_attention(q, k, v, Some(&mask)).unwrap().output, &r)
        };
        check_input(&q, &g.queries, "q", |q| loss(q, &k, &v));
        check_input(&k, &g.keys, "k", |k| loss(&q, k, &v));
        check_input(&v, &g.values, "v", |v| loss(&q, &k, v));
    }

    #[test]
    fn multi_head_with_dropout(seed in 0u64..1000, t in 1usize..5, s in 1usize..5, p in 0.0f32..0.5) {
        let mha = MultiHeadAttention::from_params(&Params::seeded(seed), 8, 2).unwrap();
        let mha = randomised(mha, seed);
        let (query, memory) = (random((2, t, 8), seed + 1), random((2, s, 8), seed + 2));
        let mask = Mask::padding(&[s, s.saturating_sub(1).max(1)], s).unwrap();
        let r = random((2, t, 8), seed + 3);
        let run = |m: &MultiHeadAttention, q: &Array3<f32>, kv: &Array3<f32>| {
            let (out, cache) = m.forward_train(q, kv, kv, Some(&mask), &mut train(p, seed)).unwrap();
            (dot(&out, &r), cache)
        };
        let (_, cache) = run(&mha, &query, &memory);
        let mut grads = Gradients::new();
        let g = mha.backward(&cache, &r, &mut grads, "").unwrap();
        check_parameters(&mha, &grads, |m| run(m, &query, &memory).0);
        check_input(&query, &g.query, "query", |q| run(&mha, q, &memory).0);
        check_input(&memory, &(g.key + &g.value), "memory", |kv| run(&mha, &query, kv).0);
    }

    #[test]
    fn feed_forward_with_dropout(seed in 0u64..1000, p in 0.0f32..0.5) {
        let ff = FeedForward::from_params(&Params::seeded(seed), 4, 8).unwrap();
        let x = random((2, 3, 4), seed + 1);
        let r = random((2, 3, 4), seed + 2);
        let run = |m: &FeedForward, x: &Array3<f32>| m.forward_train(x, &mut train(p, seed)).unwrap();
        let (_, cache) = run(&ff, &x);
        let mut grads = Gradients::new();
        let dx = ff.backward(&cache, &r, &mut grads, "").unwrap();
        check_parameters(&ff, &grads, |m| dot(&run(m, &x).0, &r));
        check_input(&x, &dx, "x", |x| dot(&run(&ff, x).0, &r));
    }

    #[test]
    fn encoder_layer(seed in 0u64..1000, pre in any::<bool>(), p in prop_oneof![Just(0.0f32), Just(0.2)]) {
        let config = config(pre);
        let layer = EncoderLayer::from_params(&Params::seeded(seed), &config).unwrap();
        let layer = randomised(layer, seed);
        let x = random((2, 4, 8), seed + 1);
        let mask = Mask::padding(&[4, 3], 4).unwrap();
        let r = random((2, 4, 8), seed + 2);
        let run = |m: &EncoderLayer, x: &Array3<f32>| m.forward_train(x, Some(&mask), &mut train(p, seed)).unwrap();
        let (_, cache) = run(&layer, &x);
        let mut grads = Gradients::new();
        let dx = layer.backward(&cache, &r, &mut grads, "").unwrap();
        check_parameters(&layer, &grads, |m| dot(&run(m, &x).0, &r));
        check_input(&x, &dx, "x", |x| dot(&run(&layer, x).0, &r));
    }

    #[test]
    fn decoder_layer(seed in 0u64..1000, pre in any::<bool>(), p in prop_oneof![Just(0.0f32), Just(0.2)]) {
        let config = config(pre);
        let layer = DecoderLayer::from_params(&Params::seeded(seed), &config).unwrap();
        let layer = randomised(layer, seed);
        let (x, memory) = (random((2, 3, 8), seed + 1), random((2, 4, 8), seed + 2));
        let (self_mask, memory_mask) = (Mask::causal(3).unwrap(), Mask::padding(&[4, 2], 4).unwrap());
        let r = random((2, 3, 8), seed + 3);
        let run = |m: &DecoderLayer, x: &Array3<f32>, mem: &Array3<f32>| {
            let mut t = train(p, seed);
            m.forward_train(x, mem, Some(&self_mask), Some(&memory_mask), &mut t).unwrap()
        };
        let (_, cache) = run(&layer, &x, &memory);
        let mut grads = Gradients::new();
        let (dx, d_memory) = layer.backward(&cache, &r, &mut grads, "").unwrap();
        check_parameters(&layer, &grads, |m| dot(&run(m, &x, &memory).0, &r));
        check_input(&x, &dx, "x", |x| dot(&run(&layer, x, &memory).0, &r));
        check_input(&memory, &d_memory, "memory", |mem| dot(&run(&layer, &x, mem).0, &r));
    }

    #[test]
    fn seq2seq_with_loss(seed in 0u64..1000, pre in any::<bool>(), smoothing in 0.0f32..0.3) {
        let config = Seq2SeqConfig {
            transformer: config(pre),
            src_vocab_size: 9,
            tgt_vocab_size: 7,
            max_len: 16,
            pad_id: PAD_ID,
        };
        let model = Seq2SeqTransformer::from_params(&Params::seeded(seed), config).unwrap();
        let model = randomised(model, seed);
        let src = array![[BOS_ID, 4, 5, 6, EOS_ID], [BOS_ID, 7, 8, EOS_ID, PAD_ID]];
        let tgt_in = array![[BOS_ID, 4, 5, 6], [BOS_ID, 5, 6, EOS_ID]];
        let tgt_out = array![[4, 5, 6, EOS_ID], [5, 6, EOS_ID, PAD_ID]];
        let loss_fn = CrossEntropyLoss::new(Some(PAD_ID), smoothing).unwrap();
        let run = |m: &Seq2SeqTransformer| {
            let (logits, cache) = m.forward_train(&src, &tgt_in, &mut train(0.1, seed)).unwrap();
            let (loss, d_logits) = loss_fn.forward_backward(&logits, &tgt_out).unwrap();
            (loss as f64, d_logits, cache)
        };
        let (_, d_logits, cache) = run(&model);
        let mut grads = Gradients::new();
        model.backward(&cache, &d_logits, &mut grads).unwrap();
        check_parameters(&model, &grads, |m| run(m).0);
    }
}

fn config(pre: bool) -> TransformerConfig {
    TransformerConfig {
        d_model: 8,
        num_heads: 2,
        d_ff: 12,
        num_encoder_layers: 1,
        num_decoder_layers: 1,
        norm_position: if pre {
            NormPosition::Pre
        } else {
            NormPosition::Post
        },
    }
}

/// Every parameter redrawn from N(0, 0.3²): biases and LayerNorm γ/β away from 0 and 1, so a
/// forgotten term shows.
fn randomised<M: Module>(mut model: M, seed: u64) -> M {
    let mut rng = seeded_rng(seed ^ 0x5eed);
    model.visit_parameters_mut("", &mut |_, mut p| {
        let fresh: ArrayD<f32> = init::normal(IxDyn(p.shape()), 0.3, &mut rng);
        p.assign(&fresh);
    });
    model
}
