//! Chapter 5: cross-attention, queries from the decoder and keys/values from the encoder.

mod common;

use attention::cross::CrossAttention;
use attention::masked::Mask;
use attention::ndarray::{Array2, s};
use attention::nn::init::uniform;
use attention::nn::seeded_rng;
use attention::params::Params;
use attention::self_attention::SelfAttention;
use proptest::prelude::*;

#[test]
fn weights_are_target_by_source() {
    let cross = CrossAttention::from_params(&Params::seeded(0), 4, 3, true).unwrap();
    let decoder_states: Array2<f32> = uniform((2, 4), 1.0, &mut seeded_rng(1));
    let encoder_output: Array2<f32> = uniform((5, 4), 1.0, &mut seeded_rng(2));
    let attn = cross
        .forward(&decoder_states, &encoder_output, None)
        .unwrap();
    assert_eq!(attn.weights.shape(), &[2, 5]); // (target_len, source_len)
    assert_eq!(attn.output.shape(), &[2, 3]); // (target_len, d_k)
    for row in attn.weights.rows() {
        assert!((row.sum() - 1.0).abs() < 1e-6);
    }
}

#[test]
fn queries_come_from_the_decoder_keys_and_values_from_the_encoder() {
    // With one source token, every target token must copy that token's value exactly
    // (softmax over a single key is 1), whatever the decoder states are.
    let cross = CrossAttention::from_params(&Params::seeded(3), 4, 4, true).unwrap();
    let decoder_states: Array2<f32> = uniform((3, 4), 1.0, &mut seeded_rng(4));
    let encoder_output: Array2<f32> = uniform((1, 4), 1.0, &mut seeded_rng(5));
    let attn = cross
        .forward(&decoder_states, &encoder_output, None)
        .unwrap();
    let value = cross.head.w_v.forward(&encoder_output).unwrap(); // (1, d_k)
    for row in attn.output.rows() {
        assert!(row.abs_diff_eq(&value.row(0), 1e-6));
    }
}

proptest! {
    /// Cross-attention of a sequence with itself is self-attention.
    #[test]
    fn cross_attention_on_the_same_input_is_self_attention(
        seq in 1usize..6, d_model in 1usize..6, seed in any::<u64>(),
    ) {
        let mut rng = seeded_rng(seed);
        let head = SelfAttention::from_params(&Params::init(&mut rng), d_model, 3, true).unwrap();
        let x: Array2<f32> = uniform((seq, d_model), 2.0, &mut rng);
        let cross = CrossAttention { head: head.clone() };
        prop_assert_eq!(cross.forward(&x, &x, None).unwrap(), head.forward(&x, None).unwrap());
    }

    /// Padded source positions get zero weight and their contents do not matter.
    #[test]
    fn source_padding_is_ignored(src_len in 1usize..5, pad in 1usize..4, seed in any::<u64>()) {
        let mut rng = seeded_rng(seed);
        let cross = CrossAttention::from_params(&Params::init(&mut rng), 4, 4, true).unwrap();
        let decoder_states: Array2<f32> = uniform((3, 4), 1.0, &mut rng);
        let mut encoder_output: Array2<f32> = uniform((src_len + pad, 4), 1.0, &mut rng);
        let mask = Mask::padding(&[src_len], src_len + pad).unwrap();
        let a = cross.forward(&decoder_states, &encoder_output, Some(&mask)).unwrap();
        encoder_output.slice_mut(s![src_len.., ..]).fill(100.0);
        let b = cross.forward(&decoder_states, &encoder_output, Some(&mask)).unwrap();
        prop_assert_eq!(&a, &b);
        prop_assert!(a.weights.slice(s![.., src_len..]).iter().all(|&w| w == 0.0));
    }
}

#[test]
fn mismatched_d_model_names_the_side() {
    let cross = CrossAttention::from_params(&Params::seeded(0), 4, 4, false).unwrap();
    let good = Array2::<f32>::zeros((2, 4));
    let bad = Array2::<f32>::zeros((3, 6));
    let msg = cross.forward(&good, &bad, None).unwrap_err().to_string();
    assert!(
        msg.contains("`encoder_output`") && msg.contains("d_model = 4") && msg.contains("(3, 6)"),
        "{msg}"
    );
    let msg = cross.forward(&bad, &good, None).unwrap_err().to_string();
    assert!(msg.contains("`decoder_states`"), "{msg}");
    let msg = cross
        .forward(&good, &Array2::zeros((0, 4)), None)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`encoder_output`") && msg.contains("(0, 4)"),
        "{msg}"
    );
}
