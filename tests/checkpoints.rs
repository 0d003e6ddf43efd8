//! Checkpoints: every layer saves its parameters by name and loads them back through its one
//! constructor; both file formats (JSON, safetensors) round-trip exactly and refuse damaged
//! files; a checkpoint loaded with the wrong configuration is refused, not silently wrong.

mod common;

use attention::Error;
use attention::ndarray::{Array1, Array3};
use attention::nn::Linear;
use attention::params::{Module, Params};
use attention::transformer::{
    EncoderLayer, NormPosition, Seq2SeqConfig, Seq2SeqTransformer, Transformer, TransformerConfig,
};
use attention::weights::NamedTensors;

fn config(norm_position: NormPosition) -> TransformerConfig {
    TransformerConfig {
        d_model: 8,
        num_heads: 2,
        d_ff: 16,
        num_encoder_layers: 2,
        num_decoder_layers: 1,
        norm_position,
    }
}

fn random_transformer(seed: u64) -> Transformer {
    Transformer::from_params(&Params::seeded(seed), config(NormPosition::Pre)).unwrap()
}

/// Both formats, through bytes and back.
fn round_trips(tensors: &NamedTensors) -> [NamedTensors; 2] {
    let json = NamedTensors::from_json_str(&tensors.to_json_string()).unwrap();
    let bytes = tensors.to_safetensors_bytes().unwrap();
    let safetensors = NamedTensors::from_safetensors_bytes(&bytes).unwrap();
    [json, safetensors]
}

fn same(a: &NamedTensors, b: &NamedTensors) -> bool {
    a.names().eq(b.names())
        && a.names().all(|n| a.get(n) == b.get(n))
        && a.settings().eq(b.settings())
}

#[test]
fn a_transformer_lists_its_parameters_by_pytorch_name() {
    let model = random_transformer(0);
    let tensors = model.parameters();
    let names: Vec<&str> = tensors.names().collect();
    for name in [
        "encoder.layers.0.self_attn.in_proj_weight",
        "encoder.layers.1.linear2.bias",
        "encoder.norm.weight",
        "decoder.layers.0.multihead_attn.out_proj.weight",
        "decoder.layers.0.norm3.bias",
        "decoder.norm.bias",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    // 2 encoder layers of 12 tensors, 1 decoder layer of 18, and 2 + 2 for the final norms.
    assert_eq!(names.len(), 2 * 12 + 18 + 4);
    let d = 8;
    let encoder_layer = 4 * d * d + 4 * d + 2 * d * 16 + 16 + d + 4 * d;
    let decoder_layer = 2 * (4 * d * d + 4 * d) + 2 * d * 16 + 16 + d + 6 * d;
    assert_eq!(
        model.parameter_count(),
        2 * encoder_layer + decoder_layer + 4 * d
    );
    assert_eq!(
        tensors.setting("encoder.layers.1.self_attn.num_heads"),
        Some("2")
    );
    assert_eq!(tensors.setting("decoder.layers.0.norm_first"), Some("true"));
}

#[test]
fn both_formats_round_trip_tensors_and_settings_exactly() {
    let mut tensors = random_transformer(1).parameters();
    tensors.insert(
        "odd.values",
        Array1::from(vec![f32::NAN, f32::INFINITY, -0.0, 1e-45]),
    );
    for back in round_trips(&tensors) {
        let (a, b) = (
            tensors.get("odd.values").unwrap(),
            back.get("odd.values").unwrap(),
        );
        assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()));
        let mut back = back;
        let mut orig = tensors.clone();
        for t in [&mut back, &mut orig] {
            t.insert("odd.values", Array1::<f32>::zeros(1));
        }
        assert!(same(&orig, &back));
    }
}

#[test]
fn a_saved_transformer_loads_without_repeating_its_sizes() {
    let model = random_transformer(2);
    for tensors in round_trips(&model.parameters()) {
        let loaded = Transformer::from_tensors(&tensors).unwrap();
        assert_eq!(loaded, model);
        assert!(tensors.unused().is_empty(), "{:?}", tensors.unused());
    }
}

#[test]
fn files_on_disk_round_trip() {
    let model = random_transformer(3);
    let dir = std::env::temp_dir().join(format!("attention-checkpoints-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let st = dir.join("model.safetensors");
    let json = dir.join("model.json");
    model.parameters().write_safetensors_file(&st).unwrap();
    model.parameters().write_json_file(&json).unwrap();
    for tensors in [
        NamedTensors::from_safetensors_file(&st).unwrap(),
        NamedTensors::from_json_file(&json).unwrap(),
    ] {
        assert_eq!(Transformer::from_tensors(&tensors).unwrap(), model);
    }
    let missing = NamedTensors::from_safetensors_file(dir.join("nope.safetensors")).unwrap_err();
    assert!(
        missing.to_string().contains("nope.safetensors"),
        "{missing}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_encoder_layer_saved_with_2_heads_does_not_load_as_4() {
    let two = config(NormPosition::Post);
    let layer = EncoderLayer::from_params(&Params::seeded(4), &two).unwrap();
    let saved = layer.parameters();
    let four = TransformerConfig {
        num_heads: 4,
        ..two
    };
    let e = EncoderLayer::from_params(&Params::load(&saved), &four).unwrap_err();
    assert!(
        matches!(&e, Error::Value { arg, expected, actual }
            if arg == "self_attn.num_heads" && expected.starts_with('2') && actual == "4"),
        "{e}"
    );
    let pre = TransformerConfig {
        norm_position: NormPosition::Pre,
        ..two
    };
    let e = EncoderLayer::from_params(&Params::load(&saved), &pre).unwrap_err();
    assert!(e.to_string().contains("norm_first"), "{e}");
    // The right configuration loads, and computes the same.
    let back = EncoderLayer::from_params(&Params::load(&saved), &two).unwrap();
    let x = Array3::<f32>::ones((1, 3, 8));
    assert_eq!(
        back.forward(&x, None).unwrap(),
        layer.forward(&x, None).unwrap()
    );
}

#[test]
fn a_pytorch_state_dict_without_settings_needs_its_config() {
    // The PyTorch fixture has the tensors of a whole nn.Transformer but no settings.
    let f = common::fixture("transformer");
    let e = Transformer::from_tensors(&f.tensors).unwrap_err();
    assert!(e.to_string().contains("num_heads"), "{e}");
    assert!(Transformer::from_params(&Params::load(&f.tensors), f.transformer_config()).is_ok());
}

#[test]
fn a_seq2seq_model_round_trips_with_its_settings() {
    let config = Seq2SeqConfig {
        transformer: config(NormPosition::Post),
        src_vocab_size: 7,
        tgt_vocab_size: 6,
        max_len: 16,
        pad_id: 0,
    };
    let model = Seq2SeqTransformer::from_params(&Params::seeded(5), config).unwrap();
    let saved = model.parameters();
    assert_eq!(saved.setting("max_len"), Some("16"));
    let back = Seq2SeqTransformer::from_params(&Params::load(&saved), config).unwrap();
    assert_eq!(back, model);
    let longer = Seq2SeqConfig {
        max_len: 32,
        ..config
    };
    let e = Seq2SeqTransformer::from_params(&Params::load(&saved), longer).unwrap_err();
    assert!(e.to_string().contains("max_len"), "{e}");
}

fn safetensors_error(bytes: &[u8]) -> String {
    match NamedTensors::from_safetensors_bytes(bytes) {
        Err(e @ Error::Parse { .. }) => e.to_string(),
        Err(other) => panic!("expected a parse error, got {other}"),
        Ok(t) => panic!("accepted {} tensors", t.len()),
    }
}

#[test]
fn damaged_safetensors_files_are_refused() {
    let linear = Linear::from_params(&Params::seeded(6), 3, 2, true).unwrap();
    let bytes = linear.parameters().to_safetensors_bytes().unwrap();
    assert!(NamedTensors::from_safetensors_bytes(&bytes).is_ok());
    // Truncated anywhere: in the length, in the header, in the data.
    for cut in [0, 4, 8, 20, bytes.len() - 1] {
        let e = safetensors_error(&bytes[..cut]);
        assert!(e.contains("safetensors"), "cut at {cut}: {e}");
    }
    // A header length pointing past the end.
    let mut bad = bytes.clone();
    bad[..8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    safetensors_error(&bad);
    // A header that is not JSON.
    let mut garbled = bytes.clone();
    garbled[8] = b'!';
    safetensors_error(&garbled);
    // Not F32.
    let header = br#"{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#;
    let mut f16 = (header.len() as u64).to_le_bytes().to_vec();
    f16.extend_from_slice(header);
    f16.extend_from_slice(&[0; 4]);
    let e = safetensors_error(&f16);
    assert!(e.contains("`w` is F16"), "{e}");
}

#[test]
fn a_checkpoint_missing_a_tensor_names_it() {
    let mut tensors = random_transformer(7).parameters();
    let kept: Vec<String> = tensors
        .names()
        .filter(|n| *n != "decoder.layers.0.norm2.bias")
        .map(String::from)
        .collect();
    let mut partial = NamedTensors::new();
    for name in &kept {
        partial.insert(name.clone(), tensors.get(name).unwrap().clone());
    }
    for (k, v) in tensors.settings() {
        partial.set_setting(k, v);
    }
    let e = Transformer::from_tensors(&partial).unwrap_err();
    assert!(e.to_string().contains("decoder.layers.0.norm2.bias"), "{e}");
    tensors.insert("extra.weight", Array1::<f32>::zeros(2));
    Transformer::from_tensors(&tensors).unwrap();
    assert_eq!(tensors.unused(), ["extra.weight"]);
}
