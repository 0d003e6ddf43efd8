//! Chapter 7: encoder/decoder layers, nn.Transformer, the seq2seq model and greedy decoding.

mod common;

use attention::Error;
use attention::masked::Mask;
use attention::ndarray::{Array2, Array3, Ix2, Ix3, array, s};
use attention::nn::init::uniform;
use attention::nn::seeded_rng;
use attention::params::{Module, Params};
use attention::transformer::{
    DecoderLayer, EncoderLayer, NormPosition, Seq2SeqConfig, Seq2SeqTransformer, Transformer,
    TransformerConfig, greedy_decode,
};
use attention::weights::NamedTensors;
use common::{Fixture, assert_close, fixture};
use proptest::prelude::*;

fn torch_mask(f: &Fixture, name: &str) -> Mask {
    Mask::from_torch_attn_mask(&f.bool_input::<Ix2>(name)).unwrap()
}

fn torch_padding(f: &Fixture, name: &str) -> Mask {
    Mask::from_torch_key_padding_mask(&f.bool_input::<Ix2>(name)).unwrap()
}

fn check_encoder_layer(name: &str) {
    let f = fixture(name);
    let layer =
        EncoderLayer::from_params(&Params::load(&f.tensors), &f.transformer_config()).unwrap();
    f.assert_all_parameters_used();
    let mask = torch_padding(&f, "src_key_padding_mask");
    let out = layer.forward(&f.input::<Ix3>("src"), Some(&mask)).unwrap();
    assert_close(name, &out, &f.output("out"));
}

#[test]
fn encoder_layer_matches_pytorch_post_ln() {
    check_encoder_layer("encoder_layer");
}

#[test]
fn encoder_layer_matches_pytorch_pre_ln() {
    check_encoder_layer("encoder_layer_pre_ln");
}

fn check_decoder_layer(name: &str) {
    let f = fixture(name);
    let layer =
        DecoderLayer::from_params(&Params::load(&f.tensors), &f.transformer_config()).unwrap();
    f.assert_all_parameters_used();
    let (tgt_mask, memory_mask) = (
        torch_mask(&f, "tgt_mask"),
        torch_padding(&f, "memory_key_padding_mask"),
    );
    let (tgt, memory) = (f.input::<Ix3>("tgt"), f.input::<Ix3>("memory"));
    let out = layer
        .forward(&tgt, &memory, Some(&tgt_mask), Some(&memory_mask))
        .unwrap();
    assert_close(name, &out, &f.output("out"));
}

#[test]
fn decoder_layer_matches_pytorch_post_ln() {
    check_decoder_layer("decoder_layer");
}

#[test]
fn decoder_layer_matches_pytorch_pre_ln() {
    check_decoder_layer("decoder_layer_pre_ln");
}

fn check_transformer(name: &str) {
    let f = fixture(name);
    let model =
        Transformer::from_params(&Params::load(&f.tensors), f.transformer_config()).unwrap();
    f.assert_all_parameters_used();
    let src_mask = torch_padding(&f, "src_key_padding_mask");
    let tgt_mask = torch_mask(&f, "tgt_mask");
    let (src, tgt) = (f.input::<Ix3>("src"), f.input::<Ix3>("tgt"));
    let memory = model.encoder.forward(&src, Some(&src_mask)).unwrap();
    assert_close(&format!("{name} memory"), &memory, &f.output("memory"));
    let out = model
        .forward(&src, &tgt, Some(&src_mask), Some(&tgt_mask))
        .unwrap();
    assert_close(&format!("{name} output"), &out, &f.output("out"));
}

#[test]
fn transformer_matches_pytorch_post_ln() {
    check_transformer("transformer");
}

#[test]
fn transformer_matches_pytorch_pre_ln() {
    check_transformer("transformer_pre_ln");
}

fn seq2seq_fixture() -> (Fixture, Seq2SeqTransformer) {
    let f = fixture("seq2seq");
    let config = f.seq2seq_config();
    let model = Seq2SeqTransformer::from_params(&Params::load(&f.tensors), config).unwrap();
    f.assert_all_parameters_used();
    (f, model)
}

#[test]
fn seq2seq_logits_match_pytorch() {
    let (f, model) = seq2seq_fixture();
    let logits = model.forward(&f.ids("src"), &f.ids("tgt")).unwrap();
    assert_close("seq2seq logits", &logits, &f.output("logits"));
}

#[test]
fn greedy_decoding_matches_pytorch() {
    let (f, model) = seq2seq_fixture();
    let src = f.ids("src").row(0).to_vec();
    let (bos, eos) = (f.usize("bos_id"), f.usize("eos_id"));
    let tokens = greedy_decode(&model, &src, bos, eos, f.usize("greedy_max_len")).unwrap();
    let expected: Vec<usize> = f
        .output::<attention::ndarray::Ix1>("greedy_tokens")
        .iter()
        .map(|&v| v as usize)
        .collect();
    assert_eq!(tokens, expected);
}

fn small_config(norm_position: NormPosition) -> Seq2SeqConfig {
    Seq2SeqConfig {
        transformer: TransformerConfig {
            d_model: 8,
            num_heads: 2,
            d_ff: 16,
            num_encoder_layers: 2,
            num_decoder_layers: 2,
            norm_position,
        },
        src_vocab_size: 12,
        tgt_vocab_size: 10,
        max_len: 16,
        pad_id: 0,
    }
}

#[test]
fn a_random_model_survives_save_json_and_load() {
    let model =
        Seq2SeqTransformer::from_params(&Params::seeded(4), small_config(NormPosition::Pre))
            .unwrap();
    let mut saved = NamedTensors::new();
    model.parameters_into("", &mut saved);
    assert!(
        saved
            .get("transformer.decoder.layers.1.multihead_attn.in_proj_weight")
            .is_some()
    );
    let loaded = NamedTensors::from_json_str(&saved.to_json_string()).unwrap();
    let back = Seq2SeqTransformer::from_params(&Params::load(&loaded), model.config).unwrap();
    assert!(loaded.unused().is_empty(), "unused: {:?}", loaded.unused());
    assert_eq!(back, model);
}

proptest! {
    /// Padding a batch does not change the encoder's outputs at real (unpadded) positions.
    #[test]
    fn padding_does_not_change_unpadded_outputs(len in 1usize..5, pad in 1usize..4, seed in any::<u64>(), pre_ln in any::<bool>()) {
        let norm_position = if pre_ln { NormPosition::Pre } else { NormPosition::Post };
        let mut rng = seeded_rng(seed);
        let layer = EncoderLayer::from_params(&Params::init(&mut rng), &small_config(norm_position).transformer).unwrap();
        let x: Array3<f32> = uniform((1, len, 8), 1.0, &mut rng);
        let junk: Array3<f32> = uniform((1, pad, 8), 9.0, &mut rng);
        let padded = attention::ndarray::concatenate(attention::ndarray::Axis(1), &[x.view(), junk.view()]).unwrap();
        let mask = Mask::padding(&[len], len + pad).unwrap();
        let alone = layer.forward(&x, None).unwrap();
        let with_padding = layer.forward(&padded, Some(&mask)).unwrap();
        prop_assert!(with_padding.slice(s![.., ..len, ..]).abs_diff_eq(&alone, 1e-5));
    }

    /// The decoder is causal: logits at position t ignore target tokens after t.
    #[test]
    fn decoder_logits_ignore_future_target_tokens(t in 0usize..4, seed in any::<u64>(), tok in 4usize..10) {
        let model = Seq2SeqTransformer::from_params(&Params::seeded(seed), small_config(NormPosition::Post)).unwrap();
        let src = array![[2, 5, 6, 7, 3]];
        let tgt = array![[2, 4, 5, 6, 7]];
        let mut changed = tgt.clone();
        changed.slice_mut(s![.., t + 1..]).fill(tok);
        let a = model.forward(&src, &tgt).unwrap();
        let b = model.forward(&src, &changed).unwrap();
        prop_assert!(a.slice(s![.., ..=t, ..]).abs_diff_eq(&b.slice(s![.., ..=t, ..]), 1e-5));
    }
}

#[test]
fn bad_config_is_a_clear_error() {
    let mut config = small_config(NormPosition::Post);
    config.transformer.num_heads = 3;
    let msg = Seq2SeqTransformer::from_params(&Params::seeded(0), config)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`num_heads`") && msg.contains("d_model = 8"),
        "{msg}"
    );
    config.transformer.num_heads = 2;
    config.tgt_vocab_size = 0;
    let msg = Seq2SeqTransformer::from_params(&Params::seeded(0), config)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`tgt_vocab_size`"), "{msg}");
}

#[test]
fn token_out_of_vocabulary_and_too_long_input_are_clear_errors() {
    let model =
        Seq2SeqTransformer::from_params(&Params::seeded(0), small_config(NormPosition::Post))
            .unwrap();
    let msg = model
        .forward(&array![[2, 12, 3]], &array![[2]])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`ids`") && msg.contains("vocab_size = 12") && msg.contains("got 12"),
        "{msg}"
    );
    let long = Array2::from_elem((1, 17), 5);
    let msg = model.forward(&long, &array![[2]]).unwrap_err().to_string();
    assert!(
        msg.contains("max_len = 16") && msg.contains("seq = 17"),
        "{msg}"
    );
    assert!(greedy_decode(&model, &[], 2, 3, 4).is_err());
}

#[test]
fn missing_or_misshapen_weights_are_clear_errors() {
    let f = fixture("transformer");
    let mut tensors = NamedTensors::new();
    for name in f
        .tensors
        .names()
        .filter(|n| *n != "decoder.layers.1.norm2.bias")
    {
        tensors.insert(name, f.tensors.get(name).unwrap().clone());
    }
    let err =
        Transformer::from_params(&Params::load(&tensors), f.transformer_config()).unwrap_err();
    assert!(
        matches!(&err, Error::MissingTensor { name, .. } if name == "decoder.layers.1.norm2.bias"),
        "{err}"
    );

    tensors.insert("decoder.layers.1.norm2.bias", Array2::<f32>::zeros((1, 8)));
    let msg = Transformer::from_params(&Params::load(&tensors), f.transformer_config())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("decoder.layers.1.norm2.bias")
            && msg.contains("(8)")
            && msg.contains("(1, 8)"),
        "{msg}"
    );
}

#[test]
fn memory_of_the_wrong_width_is_a_clear_error() {
    let config = small_config(NormPosition::Post).transformer;
    let layer = DecoderLayer::from_params(&Params::seeded(0), &config).unwrap();
    let x = Array3::<f32>::zeros((2, 3, 8));
    let msg = layer
        .forward(&x, &Array3::zeros((2, 4, 6)), None, None)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`memory`") && msg.contains("d_model = 8") && msg.contains("(2, 4, 6)"),
        "{msg}"
    );
}
