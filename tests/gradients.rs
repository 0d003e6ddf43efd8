//! Every hand-written backward pass against PyTorch's autograd, on the fixtures recorded by
//! `tests/fixtures/generate.py` (`grad_*.json`: the scalar is Σ output ⊙ grad_output, or the
//! loss). Every parameter's gradient and every float input's gradient is compared, within
//! 1e-5 absolute, scaled by the largest expected magnitude where it exceeds 1.

mod common;

use attention::gradients::Gradients;
use attention::masked::Mask;
use attention::ndarray::{Array, Array1, Array2, Array3, Array4, Dimension, Ix1, Ix2, Ix3, Ix4, s};
use attention::nn::{FeedForward, LayerNorm, Linear, Train, softmax, softmax_backward};
use attention::params::{Module, Params};
use attention::positional::LearnedPositionalEmbedding;
use attention::prelude::*;
use attention::self_attention::scaled_dot_product_attention_backward;
use attention::train::loss::CrossEntropyLoss;
use common::{Fixture, TOL, fixture};

/// |actual − expected| ≤ 1e-5 · max(1, largest |expected|), element-wise.
fn assert_grad<D: Dimension>(label: &str, actual: &Array<f32, D>, expected: &Array<f32, D>) {
    assert_eq!(actual.shape(), expected.shape(), "{label}: shapes differ");
    let scale = expected.iter().fold(1.0_f32, |m, v| m.max(v.abs()));
    let diff = actual
        .iter()
        .zip(expected)
        .fold(0.0_f32, |m, (a, e)| m.max((a - e).abs()));
    assert!(actual.iter().all(|v| v.is_finite()), "{label}: non-finite");
    println!("{label}: max |diff| {diff:.2e} (scale {scale:.1})");
    assert!(
        diff <= TOL * scale,
        "{label}: max |diff| {diff:e} > {TOL:e} × {scale}"
    );
}

/// Every `grad.<parameter>` of the fixture equals the gradient the backward filed under the
/// same name, and the backward filed no other.
fn assert_parameter_grads(f: &Fixture, grads: &Gradients) {
    let expected: Vec<&str> = f
        .tensors
        .names()
        .filter_map(|n| n.strip_prefix("grad."))
        .filter(|n| !n.starts_with("input."))
        .collect();
    let mut got: Vec<&str> = grads.names().collect();
    got.sort();
    assert_eq!(got, expected, "{}: gradient names", f.name);
    for name in expected {
        let want = f.tensors.get(&format!("grad.{name}")).unwrap();
        assert_grad(
            &format!("{} {name}", f.name),
            grads.get(name).unwrap(),
            want,
        );
    }
}

/// `grad.input.<name>` as a `D`-dimensional array.
fn input_grad<D: Dimension>(f: &Fixture, name: &str) -> Array<f32, D> {
    let t = f
        .tensors
        .get(&format!("grad.input.{name}"))
        .expect("input gradient");
    t.clone().into_dimensionality().expect("rank")
}

/// No dropout: the fixtures were recorded with dropout 0.
fn eval_train() -> Train {
    Train::new(0.0, 0).unwrap()
}

fn scalar(f: &Fixture, name: &str) -> f32 {
    f.tensors.get(name).unwrap().iter().next().copied().unwrap()
}

#[test]
fn embedding() {
    let f = fixture("grad_embedding");
    let (v, d) = (f.usize("num_embeddings"), f.usize("embedding_dim"));
    let table = Embedding::from_params(&Params::load(&f.tensors), v, d).unwrap();
    let ids = f.ids("ids");
    assert_grad(
        "output",
        &table.forward_batch(&ids).unwrap(),
        &f.output::<Ix3>("embedded"),
    );
    let mut grads = Gradients::new();
    let dy: Array3<f32> = f.input("grad_output");
    table.backward(&ids, &dy, &mut grads, "").unwrap();
    assert_parameter_grads(&f, &grads);
}

#[test]
fn linear() {
    let f = fixture("grad_linear");
    let (i, o) = (f.usize("in_features"), f.usize("out_features"));
    let layer = Linear::from_params(&Params::load(&f.tensors), i, o, true).unwrap();
    let x: Array3<f32> = f.input("x");
    let mut grads = Gradients::new();
    let dx = layer
        .backward(&x, &f.input::<Ix3>("grad_output"), &mut grads, "")
        .unwrap();
    assert_parameter_grads(&f, &grads);
    assert_grad("x", &dx, &input_grad::<Ix3>(&f, "x"));
}

#[test]
fn layer_norm() {
    let f = fixture("grad_layer_norm");
    let norm =
        LayerNorm::from_params(&Params::load(&f.tensors), f.usize("normalized_shape")).unwrap();
    let x: Array3<f32> = f.input("x");
    let mut grads = Gradients::new();
    let dx = norm
        .backward(&x, &f.input::<Ix3>("grad_output"), &mut grads, "")
        .unwrap();
    assert_parameter_grads(&f, &grads);
    assert_grad("x", &dx, &input_grad::<Ix3>(&f, "x"));
}

#[test]
fn softmax_with_masked_entries() {
    let f = fixture("grad_softmax");
    let x: Array2<f32> = f.input("x");
    let y = softmax(&x);
    assert_grad("y", &y, &f.output::<Ix2>("y"));
    let dx = softmax_backward(&y, &f.input::<Ix2>("grad_output"));
    assert_grad("x", &dx, &input_grad::<Ix2>(&f, "x"));
}

/// SDPA per (batch, head) with `allowed (tgt, src)`, against the fixture's gradients.
fn check_sdpa(name: &str, allowed: impl Fn(usize) -> Option<Array2<bool>>) {
    let f = fixture(name);
    let (q, k, v): (Array4<f32>, Array4<f32>, Array4<f32>) =
        (f.input("query"), f.input("key"), f.input("value"));
    let dy: Array4<f32> = f.input("grad_output");
    let (mut dq, mut dk, mut dv) = (q.clone() * 0.0, k.clone() * 0.0, v.clone() * 0.0);
    let (batch, heads, tgt, _) = q.dim();
    for b in 0..batch {
        for h in 0..heads {
            let at = s![b, h, .., ..];
            let mask = allowed(tgt).map(|a| Mask::new(a).unwrap());
            let (qh, kh, vh) = (q.slice(at), k.slice(at), v.slice(at));
            let attn = scaled_dot_product_attention(&qh, &kh, &vh, mask.as_ref()).unwrap();
            let expected_out = f.output::<Ix4>("output");
            assert_grad("output", &attn.output, &expected_out.slice(at).to_owned());
            let g =
                scaled_dot_product_attention_backward(&qh, &kh, &vh, &attn.weights, &dy.slice(at))
                    .unwrap();
            dq.slice_mut(at).assign(&g.queries);
            dk.slice_mut(at).assign(&g.keys);
            dv.slice_mut(at).assign(&g.values);
        }
    }
    assert_grad("query", &dq, &input_grad::<Ix4>(&f, "query"));
    assert_grad("key", &dk, &input_grad::<Ix4>(&f, "key"));
    assert_grad("value", &dv, &input_grad::<Ix4>(&f, "value"));
}

#[test]
fn sdpa_causal() {
    check_sdpa("grad_sdpa_causal", |t| {
        Some(
            Mask::causal(t)
                .unwrap()
                .allowed()
                .slice(s![0, .., ..])
                .to_owned(),
        )
    });
}

#[test]
fn sdpa_masked_with_a_fully_masked_row() {
    let f = fixture("grad_sdpa_masked");
    let allowed = f.bool_input::<Ix2>("attn_mask"); // SDPA: true = may attend
    check_sdpa("grad_sdpa_masked", |_| Some(allowed.clone()));
}

/// An `nn.MultiheadAttention` fixture's module.
fn mha(f: &Fixture) -> MultiHeadAttention {
    let (e, h) = (f.usize("embed_dim"), f.usize("num_heads"));
    MultiHeadAttention::from_params(&Params::load(&f.tensors), e, h).unwrap()
}

#[test]
fn multi_head_self_attention_causal() {
    let f = fixture("grad_mha_self_causal");
    let layer = mha(&f);
    let x: Array3<f32> = f.input("x");
    let mask = Mask::from_torch_attn_mask(&f.bool_input::<Ix2>("attn_mask")).unwrap();
    let (out, cache) = layer
        .forward_train(&x, &x, &x, Some(&mask), &mut eval_train())
        .unwrap();
    assert_grad("output", &out, &f.output::<Ix3>("attn_output"));
    let eval = layer.forward(&x, &x, &x, Some(&mask)).unwrap();
    assert_eq!(
        cache.weights(),
        &eval.weights,
        "the cache keeps forward's weights"
    );
    let mut grads = Gradients::new();
    let g = layer
        .backward(&cache, &f.input::<Ix3>("grad_output"), &mut grads, "")
        .unwrap();
    assert_parameter_grads(&f, &grads);
    assert_grad(
        "x",
        &(g.query + &g.key + &g.value),
        &input_grad::<Ix3>(&f, "x"),
    );
}

#[test]
fn multi_head_cross_attention_with_padding() {
    let f = fixture("grad_mha_cross_padding");
    let layer = mha(&f);
    let (query, memory): (Array3<f32>, Array3<f32>) = (f.input("query"), f.input("memory"));
    let padding = f.bool_input::<Ix2>("key_padding_mask");
    let mask = Mask::from_torch_key_padding_mask(&padding).unwrap();
    let (out, cache) = layer
        .forward_train(&query, &memory, &memory, Some(&mask), &mut eval_train())
        .unwrap();
    assert_grad("output", &out, &f.output::<Ix3>("attn_output"));
    let mut grads = Gradients::new();
    let g = layer
        .backward(&cache, &f.input::<Ix3>("grad_output"), &mut grads, "")
        .unwrap();
    assert_parameter_grads(&f, &grads);
    assert_grad("query", &g.query, &input_grad::<Ix3>(&f, "query"));
    assert_grad(
        "memory",
        &(g.key + &g.value),
        &input_grad::<Ix3>(&f, "memory"),
    );
}

#[test]
fn feed_forward() {
    let f = fixture("grad_feed_forward");
    let (d, d_ff) = (f.usize("d_model"), f.usize("dim_feedforward"));
    let ff = FeedForward::from_params(&Params::load(&f.tensors), d, d_ff).unwrap();
    let x: Array3<f32> = f.input("x");
    let (y, cache) = ff.forward_train(&x, &mut eval_train()).unwrap();
    assert_grad("y", &y, &f.output::<Ix3>("y"));
    let mut grads = Gradients::new();
    let dx = ff
        .backward(&cache, &f.input::<Ix3>("grad_output"), &mut grads, "")
        .unwrap();
    assert_parameter_grads(&f, &grads);
    assert_grad("x", &dx, &input_grad::<Ix3>(&f, "x"));
}

fn check_encoder_layer(name: &str) {
    let f = fixture(name);
    let config = f.transformer_config();
    let layer = EncoderLayer::from_params(&Params::load(&f.tensors), &config).unwrap();
    let x: Array3<f32> = f.input("x");
    let padding = f.bool_input::<Ix2>("src_key_padding_mask");
    let mask = Mask::from_torch_key_padding_mask(&padding).unwrap();
    let (y, cache) = layer
        .forward_train(&x, Some(&mask), &mut eval_train())
        .unwrap();
    assert_grad("out", &y, &f.output::<Ix3>("out"));
    let mut grads = Gradients::new();
    let dx = layer
        .backward(&cache, &f.input::<Ix3>("grad_output"), &mut grads, "")
        .unwrap();
    assert_parameter_grads(&f, &grads);
    assert_grad("x", &dx, &input_grad::<Ix3>(&f, "x"));
}

#[test]
fn encoder_layer_post_ln() {
    check_encoder_layer("grad_encoder_layer");
}

#[test]
fn encoder_layer_pre_ln() {
    check_encoder_layer("grad_encoder_layer_pre_ln");
}

fn check_decoder_layer(name: &str) {
    let f = fixture(name);
    let config = f.transformer_config();
    let layer = DecoderLayer::from_params(&Params::load(&f.tensors), &config).unwrap();
    let (tgt, memory): (Array3<f32>, Array3<f32>) = (f.input("tgt"), f.input("memory"));
    let causal = Mask::from_torch_attn_mask(&f.bool_input::<Ix2>("tgt_mask")).unwrap();
    let tgt_padding =
        Mask::from_torch_key_padding_mask(&f.bool_input::<Ix2>("tgt_key_padding_mask")).unwrap();
    let self_mask = causal.and(&tgt_padding).unwrap();
    let memory_padding = f.bool_input::<Ix2>("memory_key_padding_mask");
    let memory_mask = Mask::from_torch_key_padding_mask(&memory_padding).unwrap();
    let (y, cache) = layer
        .forward_train(
            &tgt,
            &memory,
            Some(&self_mask),
            Some(&memory_mask),
            &mut eval_train(),
        )
        .unwrap();
    assert_grad("out", &y, &f.output::<Ix3>("out"));
    let mut grads = Gradients::new();
    let (dx, d_memory) = layer
        .backward(&cache, &f.input::<Ix3>("grad_output"), &mut grads, "")
        .unwrap();
    assert_parameter_grads(&f, &grads);
    assert_grad("tgt", &dx, &input_grad::<Ix3>(&f, "tgt"));
    assert_grad("memory", &d_memory, &input_grad::<Ix3>(&f, "memory"));
}

#[test]
fn decoder_layer_post_ln() {
    check_decoder_layer("grad_decoder_layer");
}

#[test]
fn decoder_layer_pre_ln() {
    check_decoder_layer("grad_decoder_layer_pre_ln");
}

fn check_cross_entropy(name: &str) {
    let f = fixture(name);
    let ignore_index = f.config["ignore_index"].as_u64().map(|i| i as usize);
    let smoothing = f.config["label_smoothing"].as_f64().unwrap() as f32;
    let loss = CrossEntropyLoss::new(ignore_index, smoothing).unwrap();
    let logits: Array2<f32> = f.input("logits");
    let targets: Vec<usize> = f
        .input::<Ix1>("targets")
        .iter()
        .map(|&t| t as usize)
        .collect();
    let value = loss.forward(&logits, &targets).unwrap();
    assert_grad(
        "loss",
        &Array1::from(vec![value]),
        &Array1::from(vec![scalar(&f, "output.loss")]),
    );
    let d = loss.backward(&logits, &targets).unwrap();
    assert_grad("logits", &d, &input_grad::<Ix2>(&f, "logits"));
}

#[test]
fn cross_entropy_with_padding_and_label_smoothing() {
    check_cross_entropy("grad_cross_entropy");
}

#[test]
fn cross_entropy_plain() {
    check_cross_entropy("grad_cross_entropy_plain");
}

#[test]
fn learned_positional_embedding() {
    let f = fixture("grad_learned_positional");
    let (max_len, d) = (f.usize("max_len"), f.usize("d_model"));
    let pos =
        LearnedPositionalEmbedding::from_params(&Params::load(&f.tensors), max_len, d).unwrap();
    let x: Array3<f32> = f.input("x");
    assert_grad("y", &pos.forward(&x).unwrap(), &f.output::<Ix3>("y"));
    let mut grads = Gradients::new();
    let dx = pos
        .backward(&f.input::<Ix3>("grad_output"), &mut grads, "")
        .unwrap();
    assert_parameter_grads(&f, &grads);
    assert_grad("x", &dx, &input_grad::<Ix3>(&f, "x"));
}

fn check_seq2seq_loss(name: &str) {
    let f = fixture(name);
    let config = f.seq2seq_config();
    let model = Seq2SeqTransformer::from_params(&Params::load(&f.tensors), config).unwrap();
    f.assert_all_parameters_used();
    let (src, tgt_in, tgt_out) = (f.ids("src"), f.ids("tgt_in"), f.ids("tgt_out"));
    let (logits, cache) = model
        .forward_train(&src, &tgt_in, &mut eval_train())
        .unwrap();
    assert_grad("logits", &logits, &f.output::<Ix3>("logits"));
    let smoothing = f.config["label_smoothing"].as_f64().unwrap() as f32;
    let loss_fn = CrossEntropyLoss::new(Some(config.pad_id), smoothing).unwrap();
    let (loss, d_logits) = loss_fn.forward_backward(&logits, &tgt_out).unwrap();
    let want = scalar(&f, "output.loss");
    assert!((loss - want).abs() <= TOL, "loss {loss} vs PyTorch {want}");
    let mut grads = Gradients::new();
    model.backward(&cache, &d_logits, &mut grads).unwrap();
    assert_parameter_grads(&f, &grads);
    assert_eq!(
        grads.len(),
        model.parameters().len(),
        "a gradient for every parameter"
    );
}

#[test]
fn seq2seq_transformer_with_label_smoothed_loss_post_ln() {
    check_seq2seq_loss("grad_seq2seq_loss");
}

#[test]
fn seq2seq_transformer_with_label_smoothed_loss_pre_ln() {
    check_seq2seq_loss("grad_seq2seq_loss_pre_ln");
}
