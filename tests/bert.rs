//! Chapter 11's BERT (all-MiniLM-L6-v2, real pretrained weights installed by `cargo xtask
//! setup`) against sentence-transformers, recorded by `tests/fixtures/generate_minilm.py`:
//! every layer's hidden states on a padded batch, the sentence embeddings and their cosines.
//! These tests need the weights; without them they fail with the command that installs them
//! (they are never skipped).

mod common;

use std::sync::OnceLock;

use attention::bert::{Bert, BertConfig, ModelFiles};
use attention::ndarray::{Array2, Array3, Ix2, Ix3};
use attention::weights::NamedTensors;
use common::fixture;

fn model() -> &'static Bert {
    static MODEL: OnceLock<Bert> = OnceLock::new();
    MODEL.get_or_init(|| {
        let files = ModelFiles::find().unwrap_or_else(|e| panic!("{e}"));
        Bert::load(&files).unwrap_or_else(|e| panic!("{e}"))
    })
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
    let rows = usize_rows(&f.config["batch_ids"]);
    let lengths: Vec<usize> = f.config["batch_lengths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let seq = rows[0].len();
    let batch = Array2::from_shape_fn((rows.len(), seq), |(b, t)| rows[b][t]);
    let together = model().forward(&batch, &lengths).unwrap();
    let alone_ids = Array2::from_shape_fn((1, lengths[1]), |(_, t)| rows[1][t]);
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
    let _ = Ix2::default();
}
