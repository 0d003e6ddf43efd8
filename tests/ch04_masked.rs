//! Chapter 4: masks, masked attention and fully masked rows.

mod common;

use attention::masked::{Mask, apply_mask};
use attention::ndarray::{Array2, Array3, Ix2, array, s};
use attention::nn::init::uniform;
use attention::nn::seeded_rng;
use attention::params::Params;
use attention::self_attention::{SelfAttention, scaled_dot_product_attention};
use common::{assert_close, fixture};
use proptest::prelude::*;

#[test]
fn causal_sdpa_matches_pytorch() {
    let f = fixture("sdpa_causal");
    let (q, k, v) = (
        f.input::<Ix2>("query"),
        f.input::<Ix2>("key"),
        f.input::<Ix2>("value"),
    );
    let mask = Mask::causal(q.nrows()).unwrap();
    let attn = scaled_dot_product_attention(&q, &k, &v, Some(&mask)).unwrap();
    assert_close("sdpa_causal output", &attn.output, &f.output("output"));
    assert_close("sdpa_causal weights", &attn.weights, &f.output("weights"));
}

#[test]
fn boolean_mask_sdpa_matches_pytorch() {
    // F.scaled_dot_product_attention's bool mask has this crate's meaning: true = may attend.
    let f = fixture("sdpa_bool_mask");
    let (q, k, v) = (
        f.input::<Ix2>("query"),
        f.input::<Ix2>("key"),
        f.input::<Ix2>("value"),
    );
    let mask = Mask::new(f.bool_input::<Ix2>("attn_mask")).unwrap();
    let attn = scaled_dot_product_attention(&q, &k, &v, Some(&mask)).unwrap();
    assert_close("sdpa_bool_mask output", &attn.output, &f.output("output"));
    assert_close(
        "sdpa_bool_mask weights",
        &attn.weights,
        &f.output("weights"),
    );
}

#[test]
fn causal_mask_is_lower_triangular() {
    let mask = Mask::causal(3).unwrap();
    let expected = array![
        [true, false, false],
        [true, true, false],
        [true, true, true]
    ];
    assert_eq!(mask.allowed().slice(s![0, .., ..]), expected);
    assert_eq!(mask.to_string(), "1 0 0\n1 1 0\n1 1 1\n");
    let m = mask.additive();
    assert_eq!(m[[0, 1, 0]], 0.0);
    assert_eq!(m[[0, 0, 1]], f32::NEG_INFINITY);
}

#[test]
fn masking_happens_before_softmax() {
    // scores [[1, 2], [3, 4]] with key 1 masked for query 0:
    // row 0 becomes [1, −∞] → softmax [1, 0]; row 1 is untouched.
    let scores = array![[1.0_f32, 2.0], [3.0, 4.0]];
    let mask = Mask::new(array![[true, false], [true, true]]).unwrap();
    let masked = apply_mask(&scores, &mask).unwrap();
    assert_eq!(masked[[0, 1]], f32::NEG_INFINITY);
    assert_eq!(masked[[1, 1]], 4.0);
    // With V = identity, the output rows are the weights themselves.
    let q = array![[1.0_f32, 0.0], [0.0, 1.0]];
    let attn = scaled_dot_product_attention(&q, &q, &q, Some(&mask)).unwrap();
    assert_eq!(attn.weights.row(0), array![1.0, 0.0]);
}

#[test]
fn fully_masked_row_gives_zero_weights_and_zero_output_not_nan() {
    let q = array![[1.0_f32, 2.0], [3.0, 4.0]];
    let v = array![[5.0_f32, 6.0], [7.0, 8.0]];
    let mask = Mask::new(array![[false, false], [true, true]]).unwrap();
    let attn = scaled_dot_product_attention(&q, &q, &v, Some(&mask)).unwrap();
    assert!(
        attn.output
            .iter()
            .chain(attn.weights.iter())
            .all(|x| x.is_finite())
    );
    assert_eq!(attn.weights.row(0), array![0.0, 0.0]);
    assert_eq!(attn.output.row(0), array![0.0, 0.0]);
    assert!((attn.weights.row(1).sum() - 1.0).abs() < 1e-6);
}

#[test]
fn padding_and_causal_masks_combine() {
    let padding = Mask::padding(&[3, 1], 3).unwrap();
    assert_eq!(padding.shape(), (2, 1, 3));
    let both = Mask::causal(3).unwrap().and(&padding).unwrap();
    assert_eq!(both.shape(), (2, 3, 3));
    let expected_seq1 = array![
        [true, false, false],
        [true, false, false],
        [true, false, false]
    ];
    assert_eq!(both.allowed().slice(s![1, .., ..]), expected_seq1);
    let from_ids = Mask::from_token_ids(&array![[5, 6, 0], [7, 0, 0]], 0).unwrap();
    assert_eq!(from_ids, Mask::padding(&[2, 1], 3).unwrap());
}

#[test]
fn pytorch_masks_are_inverted_at_the_boundary() {
    // PyTorch nn.MultiheadAttention: True = may NOT attend.
    let torch_causal = array![[false, true], [false, false]];
    assert_eq!(
        Mask::from_torch_attn_mask(&torch_causal).unwrap(),
        Mask::causal(2).unwrap()
    );
    let torch_padding = array![[false, false, true]];
    let mask = Mask::from_torch_key_padding_mask(&torch_padding).unwrap();
    assert_eq!(mask, Mask::padding(&[2], 3).unwrap());
}

proptest! {
    /// With a causal mask, the output at position t depends only on tokens 0..=t: changing
    /// the tokens after t leaves outputs 0..=t unchanged.
    #[test]
    fn causal_outputs_ignore_the_future(
        seq in 2usize..7, t_frac in 0.0f64..1.0, seed in any::<u64>(), seed2 in any::<u64>(),
    ) {
        let t = ((seq - 1) as f64 * t_frac) as usize; // 0 ≤ t < seq
        let mut rng = seeded_rng(seed);
        let head = SelfAttention::from_params(&Params::init(&mut rng), 4, 4, true).unwrap();
        let x: Array2<f32> = uniform((seq, 4), 2.0, &mut rng);
        let mut changed = x.clone();
        let future: Array2<f32> = uniform((seq - t - 1, 4), 5.0, &mut seeded_rng(seed2));
        changed.slice_mut(s![t + 1.., ..]).assign(&future);
        let mask = Mask::causal(seq).unwrap();
        let a = head.forward(&x, Some(&mask)).unwrap();
        let b = head.forward(&changed, Some(&mask)).unwrap();
        prop_assert_eq!(a.output.slice(s![..=t, ..]), b.output.slice(s![..=t, ..]));
        prop_assert!(a.weights.slice(s![..=t, t + 1..]).iter().all(|&w| w == 0.0));
    }
}

#[test]
fn mask_shape_mismatch_is_a_clear_error() {
    let q = Array2::<f32>::zeros((3, 2));
    let mask = Mask::new(Array2::from_elem((3, 4), true)).unwrap();
    let msg = scaled_dot_product_attention(&q, &q, &q, Some(&mask))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`mask`") && msg.contains("(1, 3, 3)") && msg.contains("(1, 3, 4)"),
        "{msg}"
    );
    let msg = Mask::causal(2)
        .unwrap()
        .and(&Mask::causal(3).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`other`") && msg.contains("(1, 3, 3)"),
        "{msg}"
    );
}

#[test]
fn bad_mask_arguments_are_clear_errors() {
    assert!(Mask::causal(0).unwrap_err().to_string().contains("`len`"));
    let msg = Mask::padding(&[2, 5], 4).unwrap_err().to_string();
    assert!(
        msg.contains("`lengths`") && msg.contains("src_len = 4") && msg.contains("got 5"),
        "{msg}"
    );
    let empty = Mask::batched(Array3::from_elem((1, 0, 2), true))
        .unwrap_err()
        .to_string();
    assert!(empty.contains("(1, 0, 2)"), "{empty}");
}
