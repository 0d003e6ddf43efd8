//! Chapter 11's BERT (all-MiniLM-L6-v2, real pretrained weights installed by `cargo xtask
//! setup`) against sentence-transformers, recorded by `tests/fixtures/generate_minilm.py`:
//! every layer's hidden states on a padded batch, the sentence embeddings and their cosines.
//! These tests need the weights; without them they fail with the command that installs them
//! (they are never skipped).

mod common;

use std::sync::OnceLock;

use attention::bert::tokenizer::MAX_LEN;
use attention::bert::{Bert, BertConfig, ModelFiles, SentenceEncoder};
use attention::ndarray::{Array2, Array3, Ix2, Ix3};
use attention::weights::NamedTensors;
use common::fixture;

fn encoder() -> &'static SentenceEncoder {
    static ENCODER: OnceLock<SentenceEncoder> = OnceLock::new();
    ENCODER.get_or_init(|| SentenceEncoder::load().unwrap_or_else(|e| panic!("{e}")))
}

fn model() -> &'static Bert {
    &encoder().bert
}

/// The fixture's padded batch: ids `(batch, seq)` and lengths.
fn fixture_batch(f: &common::Fixture) -> (Array2<usize>, Vec<usize>) {
    let rows = usize_rows(&f.config["batch_ids"]);
    let lengths = usize_rows(&serde_json::json!([f.config["batch_lengths"]])).remove(0);
    let ids = Array2::from_shape_fn((rows.len(), rows[0].len()), |(b, t)| rows[b][t]);
    (ids, lengths)
}

fn fixture_texts(f: &common::Fixture) -> Vec<String> {
    let texts = f.config["texts"].as_array().expect("texts");
    texts
        .iter()
        .map(|t| t.as_str().expect("text").to_string())
        .collect()
}

fn max_abs_diff<D: attention::ndarray::Dimension>(
    a: &attention::ndarray::Array<f32, D>,
    b: &attention::ndarray::Array<f32, D>,
) -> f32 {
    assert_eq!(a.shape(), b.shape());
    assert!(a.iter().all(|v| v.is_finite()), "non-finite output");
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

fn usize_rows(value: &serde_json::Value) -> Vec<Vec<usize>> {
    value
        .as_array()
        .expect("array of id lists")
        .iter()
        .map(|row| {
            row.as_array()
                .expect("id list")
                .iter()
                .map(|v| v.as_u64().expect("id") as usize)
                .collect()
        })
        .collect()
}

#[test]
fn the_config_file_is_minilm_l6() {
    let files = ModelFiles::find().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        BertConfig::from_json_file(&files.config).unwrap(),
        BertConfig::minilm_l6()
    );
}

#[test]
fn every_layers_hidden_states_match_sentence_transformers_on_a_padded_batch() {
    let f = fixture("minilm");
    let rows = usize_rows(&f.config["batch_ids"]);
    let lengths: Vec<usize> =
        usize_rows(&serde_json::json!([f.config["batch_lengths"]]))[0].clone();
    let (batch, seq) = (rows.len(), rows[0].len());
    let ids = Array2::from_shape_fn((batch, seq), |(b, t)| rows[b][t]);
    let path = format!(
        "{}/tests/fixtures/minilm_hidden_states.safetensors",
        env!("CARGO_MANIFEST_DIR")
    );
    let expected = NamedTensors::from_safetensors_file(&path).unwrap();

    let out = model().forward(&ids, &lengths).unwrap();
    assert_eq!(out.hidden_states.len(), 7, "embeddings + 6 layers");
    for (i, actual) in out.hidden_states.iter().enumerate() {
        let want: Array3<f32> = expected
            .get(&format!("hidden_states.{i}"))
            .unwrap()
            .clone()
            .into_dimensionality::<Ix3>()
            .unwrap();
        // Padded positions too: they attend only to real tokens on both sides.
        let diff = max_abs_diff(actual, &want);
        println!("hidden_states.{i}: max |diff| {diff:.2e}");
        assert!(
            diff <= 1e-4,
            "hidden_states.{i}: max |diff| {diff:e} > 1e-4"
        );
    }
}

#[test]
fn a_sentence_does_not_depend_on_what_it_is_padded_with() {
    let f = fixture("minilm");
    let (batch, lengths) = fixture_batch(&f);
    let together = model().forward(&batch, &lengths).unwrap();
    let alone_ids = batch
        .slice(attention::ndarray::s![1..2, ..lengths[1]])
        .to_owned();
    let alone = model().forward(&alone_ids, &lengths[1..2]).unwrap();
    let padded_row =
        together
            .last_hidden_state()
            .slice(attention::ndarray::s![1, ..lengths[1], ..]);
    let alone_row = alone
        .last_hidden_state()
        .slice(attention::ndarray::s![0, .., ..]);
    let diff = max_abs_diff(&padded_row.to_owned(), &alone_row.to_owned());
    assert!(
        diff < 1e-5,
        "padding changed a sentence's vectors by {diff:e}"
    );
}

#[test]
fn bad_ids_and_lengths_are_errors_naming_them() {
    let m = model();
    let ids = Array2::from_elem((1, 3), 101_usize);
    let e = m.forward(&ids, &[4]).unwrap_err().to_string();
    assert!(e.contains("lengths"), "{e}");
    let e = m.forward(&ids, &[0]).unwrap_err().to_string();
    assert!(e.contains("lengths"), "{e}");
    let e = m
        .forward(&Array2::from_elem((1, 2), 40_000), &[2])
        .unwrap_err()
        .to_string();
    assert!(e.contains("ids") && e.contains("30522"), "{e}");
    let e = m
        .forward(&Array2::from_elem((1, 513), 101), &[513])
        .unwrap_err()
        .to_string();
    assert!(e.contains("ids") && e.contains("512"), "{e}");
    let e = m.attention_weights(&ids, &[3], 6).unwrap_err().to_string();
    assert!(e.contains("layer"), "{e}");
}

#[test]
fn the_tokenizer_gives_sentence_transformers_ids_for_the_fixture_texts() {
    let f = fixture("minilm");
    let want = usize_rows(&f.config["ids"]);
    for (text, want) in fixture_texts(&f).iter().zip(want) {
        let got = encoder().tokenizer.encode(text, MAX_LEN).unwrap().ids;
        assert_eq!(got, want, "text {text:?}");
    }
}

#[test]
fn sentence_embeddings_and_cosines_match_sentence_transformers() {
    let f = fixture("minilm");
    let texts = fixture_texts(&f);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let out = encoder().encode(&refs).unwrap();
    let want: Array2<f32> = f
        .tensors
        .get("embeddings")
        .unwrap()
        .clone()
        .into_dimensionality::<Ix2>()
        .unwrap();
    let diff = max_abs_diff(&out.vectors, &want);
    println!("embeddings: max |diff| {diff:.2e}");
    assert!(diff <= 1e-4, "embeddings: max |diff| {diff:e} > 1e-4");
    let cosine = out.vectors.dot(&out.vectors.t());
    let want_cos: Array2<f32> = f
        .tensors
        .get("cosine")
        .unwrap()
        .clone()
        .into_dimensionality::<Ix2>()
        .unwrap();
    let diff = max_abs_diff(&cosine, &want_cos);
    println!("cosines: max |diff| {diff:.2e}");
    assert!(diff <= 1e-5, "cosines: max |diff| {diff:e} > 1e-5");
    // Unit length, the empty text included; the long text was cut at 256 tokens and says so.
    for row in out.vectors.rows() {
        assert!((row.dot(&row) - 1.0).abs() < 1e-5);
    }
    let long = texts.len() - 1;
    assert!(
        out.truncated[long] && out.lengths[long] == MAX_LEN,
        "the long text is cut"
    );
    assert_eq!(out.truncated.iter().filter(|&&t| t).count(), 1);
}

#[test]
fn one_text_or_many_gives_the_same_vector() {
    // Sorting by length and padding within a batch must not change a sentence's vector.
    let texts = [
        "Attention is all you need.",
        "Short.",
        "A considerably longer sentence about rivers, banks and loans.",
    ];
    let together = encoder().encode(&texts).unwrap().vectors;
    for (i, text) in texts.iter().enumerate() {
        let alone = encoder().encode(&[text]).unwrap().vectors;
        let diff = max_abs_diff(&alone.row(0).to_owned(), &together.row(i).to_owned());
        assert!(diff < 1e-5, "{text}: {diff:e}");
    }
}

#[test]
fn bad_texts_and_words_are_errors() {
    let e = encoder().encode(&[]).unwrap_err().to_string();
    assert!(e.contains("texts"), "{e}");
    let e = encoder()
        .word_vector("the river bank", "loan")
        .unwrap_err()
        .to_string();
    assert!(e.contains("word") && e.contains("loan"), "{e}");
    // Control characters and an empty string are fine: cleaned away, [CLS] [SEP].
    let out = encoder().encode(&["", "\u{7}\u{0}"]).unwrap();
    assert_eq!(out.lengths, [2, 2]);
}

#[test]
fn a_missing_or_misshaped_tensor_is_named() {
    let files = ModelFiles::find().unwrap();
    let mut tensors = NamedTensors::from_safetensors_file_except(
        &files.safetensors,
        &["embeddings.position_ids"],
    )
    .unwrap();
    let config = BertConfig::minilm_l6();
    let name = "encoder.layer.3.attention.self.key.weight";
    let original = tensors.get(name).unwrap().clone();
    tensors.insert(name, attention::ndarray::Array2::<f32>::zeros((384, 383)));
    let e = Bert::from_params(&attention::params::Params::load(&tensors), config.clone())
        .unwrap_err()
        .to_string();
    assert!(e.contains(name) && e.contains("384, 383"), "{e}");
    let mut missing = NamedTensors::new();
    for n in tensors
        .names()
        .filter(|n| *n != "encoder.layer.5.output.dense.bias")
    {
        missing.insert(
            n,
            if n == name {
                original.clone()
            } else {
                tensors.get(n).unwrap().clone()
            },
        );
    }
    let e = Bert::from_params(&attention::params::Params::load(&missing), config)
        .unwrap_err()
        .to_string();
    assert!(e.contains("encoder.layer.5.output.dense.bias"), "{e}");
    // Not a safetensors file at all; and the I64 buffer is refused unless skipped.
    let e = NamedTensors::from_safetensors_file(&files.vocab)
        .unwrap_err()
        .to_string();
    assert!(e.contains("vocab.txt"), "{e}");
    let e = NamedTensors::from_safetensors_file(&files.safetensors)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("embeddings.position_ids") && e.contains("I64"),
        "{e}"
    );
}
