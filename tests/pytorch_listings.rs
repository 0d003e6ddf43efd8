//! The book's "The same in PyTorch" listings (`chapters/pytorch/*.py`), checked: the fixtures
//! `tests/fixtures/pytorch_chNN.json` record what each listing computes (written by
//! `tests/fixtures/generate_pytorch.py`, which runs the listing files themselves), and every
//! test here runs the crate's own code on the same inputs and weights and asserts the same
//! numbers.

mod common;

use attention::cross::CrossAttention;
use attention::embedding::Embedding;
use attention::fast::{Kernel, attention_heads};
use attention::gradients::Gradients;
use attention::masked::Mask;
use attention::multi_head::MultiHeadAttention;
use attention::ndarray::{Array2, Ix2, Ix3, Ix4, s};
use attention::nn::{Linear, Train};
use attention::params::{Module, Params};
use attention::positional::{SinusoidalEncoding, sinusoidal_encoding};
use attention::self_attention::SelfAttention;
use attention::train::loss::CrossEntropyLoss;
use attention::train::optim::{AdamW, Optimizer, clip_grad_norm};
use attention::transformer::Seq2SeqTransformer;
use attention::worked::statquest_encodings;
use common::{Fixture, TOL, assert_close, fixture};

/// The listing a fixture was recorded from, as its `config.listing` names it.
fn listing(f: &Fixture) -> &str {
    f.config["listing"].as_str().expect("config.listing")
}

fn scalar(f: &Fixture, name: &str) -> f32 {
    f.output::<attention::ndarray::Ix0>(name).into_scalar()
}

fn f64_config(f: &Fixture, key: &str) -> f64 {
    f.config[key]
        .as_f64()
        .unwrap_or_else(|| panic!("config `{key}`"))
}

#[test]
fn ch01_embedding_lookup_matches_the_listing() {
    let f = fixture("pytorch_ch01");
    assert_eq!(listing(&f), "chapters/pytorch/ch01_embedding.py");
    let weight: Array2<f32> = f
        .tensors
        .get("weight")
        .unwrap()
        .clone()
        .into_dimensionality()
        .unwrap();
    let embedding = Embedding::new(weight).unwrap();
    let x = embedding.forward_batch(&f.ids("ids")).unwrap(); // (batch, seq, d_model)
    assert_close("ch01 embedding(ids)", &x, &f.output::<Ix3>("x"));
}

#[test]
fn ch02_positional_encoding_matches_the_annotated_transformer() {
    let f = fixture("pytorch_ch02");
    let (max_len, d_model) = (f.usize("max_len"), f.usize("d_model"));
    let table = sinusoidal_encoding(max_len, d_model).unwrap(); // the crate computes in f64
    assert_close("ch02 PE table", &table, &f.output::<Ix2>("pe"));
    let pe = SinusoidalEncoding::new(max_len, d_model).unwrap();
    let out = pe.forward(&f.input::<Ix3>("x")).unwrap();
    assert_close("ch02 x + PE", &out, &f.output::<Ix3>("out"));
}

fn head(f: &Fixture) -> SelfAttention {
    let p = Params::load(&f.tensors);
    let head = SelfAttention::from_params(&p, f.usize("d_model"), f.usize("d_k"), false).unwrap();
    f.assert_all_parameters_used();
    head
}

#[test]
fn ch03_statquest_self_attention_matches_the_listing() {
    let f = fixture("pytorch_ch03");
    let attn = head(&f).forward(&f.input::<Ix2>("x"), None).unwrap();
    assert_close("ch03 weights", &attn.weights, &f.output::<Ix2>("weights"));
    assert_close("ch03 output", &attn.output, &f.output::<Ix2>("out"));
    // The listing's demo uses the book's worked example.
    assert_eq!(f.input::<Ix2>("statquest_x"), statquest_encodings());
}

#[test]
fn ch04_masked_fill_matches_the_crate_except_on_a_fully_masked_row() {
    let f = fixture("pytorch_ch04");
    let head = head(&f);
    let x = f.input::<Ix2>("x");
    // masked_fill(mask, -1e9): e^(-1e9 - max) is exactly 0 in float32, so a causal mask gives
    // the crate's −∞ numbers.
    let causal = Mask::from_torch_attn_mask(&f.bool_input::<Ix2>("mask")).unwrap();
    assert_eq!(causal, Mask::causal(x.nrows()).unwrap());
    let attn = head.forward(&x, Some(&causal)).unwrap();
    assert_close(
        "ch04 causal weights",
        &attn.weights,
        &f.output::<Ix2>("weights"),
    );
    assert_close("ch04 causal output", &attn.output, &f.output::<Ix2>("out"));

    // A fully masked row: -1e9 everywhere gives PyTorch a uniform row; the crate gives zeros.
    let row = f.usize("fully_masked_row");
    let mask = Mask::from_torch_attn_mask(&f.bool_input::<Ix2>("full_row_mask")).unwrap();
    let attn = head.forward(&x, Some(&mask)).unwrap();
    let (torch_w, torch_out) = (
        f.output::<Ix2>("full_row_weights"),
        f.output::<Ix2>("full_row_out"),
    );
    let n = x.nrows() as f32;
    assert!(torch_w.row(row).iter().all(|&w| (w - 1.0 / n).abs() <= TOL));
    assert!(attn.weights.row(row).iter().all(|&w| w == 0.0));
    assert!(attn.output.row(row).iter().all(|&o| o == 0.0));
    for r in (0..x.nrows()).filter(|&r| r != row) {
        let label = format!("ch04 row {r} beside a fully masked row");
        assert_close(
            &label,
            &attn.weights.row(r).to_owned(),
            &torch_w.row(r).to_owned(),
        );
        assert_close(
            &label,
            &attn.output.row(r).to_owned(),
            &torch_out.row(r).to_owned(),
        );
    }
}

#[test]
fn ch05_cross_attention_matches_the_listing() {
    let f = fixture("pytorch_ch05");
    let p = Params::load(&f.tensors);
    let head = CrossAttention::from_params(&p, f.usize("d_model"), f.usize("d_k"), false).unwrap();
    f.assert_all_parameters_used();
    let (decoder, encoder) = (
        f.input::<Ix2>("decoder_states"),
        f.input::<Ix2>("encoder_output"),
    );
    let attn = head.forward(&decoder, &encoder, None).unwrap();
    assert_close("ch05 weights", &attn.weights, &f.output::<Ix2>("weights"));
    assert_close("ch05 output", &attn.output, &f.output::<Ix2>("out"));
}

#[test]
fn ch06_split_heads_class_and_nn_multihead_attention_match_the_crate() {
    let f = fixture("pytorch_ch06");
    let (d_model, heads) = (f.usize("d_model"), f.usize("num_heads"));
    let p = Params::load(&f.tensors);
    let [w_q, w_k, w_v, w_o] = ["W_q", "W_k", "W_v", "W_o"]
        .map(|n| Linear::from_params(&p.sub(n), d_model, d_model, true).unwrap());
    let mha = MultiHeadAttention::new(heads, w_q, w_k, w_v, w_o).unwrap();
    f.assert_all_parameters_used();
    let (query, memory) = (f.input::<Ix3>("query"), f.input::<Ix3>("memory"));
    let out = mha.forward(&query, &memory, &memory, None).unwrap();
    assert_close(
        "ch06 output (listing's class)",
        &out.output,
        &f.output::<Ix3>("out"),
    );
    assert_close(
        "ch06 weights (listing's class)",
        &out.weights,
        &f.output::<Ix4>("weights"),
    );
    assert_close(
        "ch06 nn.MultiheadAttention output",
        &out.output,
        &f.output::<Ix3>("mha_out"),
    );
    let per_head = f.output::<Ix4>("mha_per_head_weights"); // average_attn_weights=False
    assert_close(
        "ch06 nn.MultiheadAttention per head",
        &out.weights,
        &per_head,
    );
    let averaged = f.output::<Ix3>("mha_avg_weights"); // the default: (batch, tgt, src)
    assert_close(
        "ch06 nn.MultiheadAttention averaged",
        &out.averaged_weights(),
        &averaged,
    );
    // The default is the mean over heads, and differs from every single head.
    for h in 0..heads {
        let head_h = per_head.slice(s![.., h, .., ..]).to_owned();
        assert!(common::max_abs_diff(&head_h, &averaged) > 1e-3);
    }
}

fn seq2seq(f: &Fixture) -> Seq2SeqTransformer {
    let config = f.seq2seq_config();
    Seq2SeqTransformer::from_params(&Params::load(&f.tensors), config).unwrap()
}

#[test]
fn ch07_nn_transformer_seq2seq_matches_the_crate() {
    let f = fixture("pytorch_ch07");
    let model = seq2seq(&f);
    f.assert_all_parameters_used();
    let (src, tgt) = (f.ids("src"), f.ids("tgt"));
    assert!(
        src.iter().any(|&t| t == model.config.pad_id),
        "src has padding"
    );
    assert!(
        tgt.iter().any(|&t| t == model.config.pad_id),
        "tgt has padding"
    );
    let logits = model.forward(&src, &tgt).unwrap();
    assert_close("ch07 logits", &logits, &f.output::<Ix3>("logits"));
}

#[test]
fn ch08_fused_sdpa_matches_both_kernels() {
    let f = fixture("pytorch_ch08");
    assert!(f.bool("is_causal"));
    let (q, k, v) = (
        f.input::<Ix4>("q"),
        f.input::<Ix4>("k"),
        f.input::<Ix4>("v"),
    );
    for kernel in [Kernel::Plain, Kernel::MemoryEfficient] {
        let out = attention_heads(&q, &k, &v, true, kernel).unwrap();
        assert_close(&format!("ch08 {kernel:?}"), &out, &f.output::<Ix4>("out"));
    }
}

#[test]
fn ch09_one_training_step_matches_the_listing() {
    let f = fixture("pytorch_ch09");
    let mut model = seq2seq(&f);
    let (src, tgt) = (f.ids("src"), f.ids("tgt"));
    let n = tgt.ncols();
    let (tgt_in, tgt_out) = (tgt.slice(s![.., ..n - 1]), tgt.slice(s![.., 1..])); // teacher forcing
    let ignore = f.usize("ignore_index");
    let loss_fn =
        CrossEntropyLoss::new(Some(ignore), f64_config(&f, "label_smoothing") as f32).unwrap();
    let betas = (
        f.config["betas"][0].as_f64().unwrap(),
        f.config["betas"][1].as_f64().unwrap(),
    );
    let mut optimizer = AdamW::new(
        f64_config(&f, "lr"),
        betas,
        f64_config(&f, "eps"),
        f64_config(&f, "weight_decay"),
    )
    .unwrap();

    let mut train = Train::new(0.0, 0).unwrap(); // model.train() with dropout 0.0
    let (logits, cache) = model.forward_train(&src, &tgt_in, &mut train).unwrap();
    let (loss, d_logits) = loss_fn.forward_backward(&logits, &tgt_out).unwrap();
    let mut grads = Gradients::new();
    model.backward(&cache, &d_logits, &mut grads).unwrap();
    let grad_norm = clip_grad_norm(&mut grads, f64_config(&f, "max_norm") as f32).unwrap();
    optimizer.step(&mut model, &grads).unwrap();

    let close = |label: &str, a: f32, e: f32| {
        assert!((a - e).abs() <= TOL, "{label}: crate {a}, PyTorch {e}");
    };
    close("ch09 loss", loss, scalar(&f, "loss"));
    close("ch09 grad norm", grad_norm, scalar(&f, "grad_norm"));
    assert!(
        grad_norm > f64_config(&f, "max_norm") as f32,
        "the step clips"
    );

    let after = model.parameters();
    let names: Vec<&str> = after.names().collect();
    let step_names = f.tensors.names().filter(|n| n.starts_with("step.")).count();
    assert_eq!(names.len(), step_names, "parameters: crate {names:?}");
    assert_eq!(
        grads.len(),
        step_names,
        "gradients: crate {:?}",
        grads.names().collect::<Vec<_>>()
    );
    let d_model = f.usize("d_model");
    let (lr, wd) = (
        f64_config(&f, "lr") as f32,
        f64_config(&f, "weight_decay") as f32,
    );
    for name in names {
        let fixture_tensor = |prefix: &str| {
            let full = format!("{prefix}{name}");
            f.tensors
                .get(&full)
                .unwrap_or_else(|| panic!("no {full}"))
                .clone()
        };
        let (before, torch_after, torch_grad) = (
            fixture_tensor(""),
            fixture_tensor("step."),
            fixture_tensor("grad."),
        );
        let grad = grads
            .get(name)
            .unwrap_or_else(|| panic!("no gradient for {name}"))
            .clone();
        assert_close(&format!("ch09 clipped grad {name}"), &grad, &torch_grad);
        let mut actual = after.get(name).unwrap().clone();
        let mut expected = torch_after.clone();
        if name.ends_with("in_proj_bias") {
            // The key bias b_k adds q·b_k to a whole row of scores, which the softmax ignores:
            // its true gradient is 0 and both sides hold rounding noise there (checked below),
            // which Adam's first step, g / (|g| + eps), turns into ±lr: the two sides may move
            // those entries differently, but each by at most lr (plus the decay).
            let keys = s![d_model..2 * d_model];
            for (side, moved) in [("crate", &actual), ("PyTorch", &expected)] {
                for ((&a, &b), &g) in moved
                    .slice(keys)
                    .iter()
                    .zip(before.slice(keys))
                    .zip(grad.slice(keys))
                {
                    assert!(g.abs() < 1e-6, "{name}: key-bias gradient {g} is not noise");
                    let bound = lr * (1.0 + wd * b.abs()) + TOL;
                    assert!(
                        (a - b).abs() <= bound,
                        "{side} {name}: moved {} > {bound}",
                        a - b
                    );
                }
            }
            actual.slice_mut(keys).fill(0.0);
            expected.slice_mut(keys).fill(0.0);
        }
        assert!(
            common::max_abs_diff(&actual, &before) > 0.0,
            "{name} did not move"
        );
        assert_close(&format!("ch09 {name} after the step"), &actual, &expected);
    }
}

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The listing files, `chapters/pytorch/*.py`, sorted.
fn listing_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join("chapters/pytorch"))
        .expect("chapters/pytorch/")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".py"))
        .collect();
    files.sort();
    files
}

/// The listing `chapters/NN-*.md`'s "The same in PyTorch" section includes: the section must
/// be the one right before `## Run it`, fold its listing in `<details>`, and include one file.
fn pytorch_section(chapter: &str) -> String {
    let text = std::fs::read_to_string(root().join("chapters").join(chapter)).unwrap();
    let start = text
        .find("\n## The same in PyTorch\n")
        .unwrap_or_else(|| panic!("{chapter}: no `## The same in PyTorch` section"));
    let rest = &text[start + 1..];
    let end = rest[3..].find("\n## ").map(|i| i + 3).unwrap_or(rest.len());
    let section = &rest[..end];
    assert!(
        rest[end..].starts_with("\n## Run it\n"),
        "{chapter}: the PyTorch section must come right before `## Run it`"
    );
    let open = section
        .find("<details>")
        .unwrap_or_else(|| panic!("{chapter}: not folded"));
    let close = section
        .find("</details>")
        .unwrap_or_else(|| panic!("{chapter}: no </details>"));
    assert!(
        section[open..].contains("<summary>"),
        "{chapter}: no <summary>"
    );
    let includes: Vec<&str> = section
        .match_indices("{{#include pytorch/")
        .map(|(i, m)| {
            assert!(
                i > open && i < close,
                "{chapter}: the listing must be inside <details>"
            );
            let name = &section[i + m.len()..];
            &name[..name.find("}}").expect("closed include")]
        })
        .collect();
    assert_eq!(
        includes.len(),
        1,
        "{chapter}: one PyTorch listing, found {includes:?}"
    );
    includes[0].to_string()
}

#[test]
fn chapters_1_to_9_include_an_existing_listing() {
    let mut chapters: Vec<String> = std::fs::read_dir(root().join("chapters"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".md") && ("01".."10").contains(&&n[..2]))
        .collect();
    chapters.sort();
    assert_eq!(chapters.len(), 9, "chapters 1-9: {chapters:?}");
    let files = listing_files();
    let mut included = Vec::new();
    for chapter in &chapters {
        let file = pytorch_section(chapter);
        assert!(
            files.contains(&file),
            "{chapter} includes pytorch/{file}, which does not exist"
        );
        assert_eq!(
            &file[..4],
            &format!("ch{}", &chapter[..2]),
            "{chapter} includes {file}"
        );
        included.push(file);
    }
    assert_eq!(
        included, files,
        "every listing file is shown by its chapter"
    );
}

#[test]
fn every_listing_has_a_fixture_recorded_from_it() {
    for file in listing_files() {
        let chapter = &file[2..4];
        let f = fixture(&format!("pytorch_ch{chapter}"));
        assert_eq!(listing(&f), format!("chapters/pytorch/{file}"));
    }
}
