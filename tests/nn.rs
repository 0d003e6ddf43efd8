//! Shared layers (`attention::nn`) and the named-tensor loader, against PyTorch and by hand.

mod common;

use attention::Error;
use attention::ndarray::{Array1, Array2, Array3, Ix3, array};
use attention::nn::init::{StableNormal, StableUniform, seeded_rng, uniform};
use attention::nn::{Dropout, LayerNorm, Linear, softmax};
use attention::params::Params;
use attention::weights::NamedTensors;
use common::{assert_close, fixture};
use ndarray_rand::rand::distr::Distribution;
use proptest::prelude::*;

#[test]
fn linear_matches_pytorch() {
    let f = fixture("linear");
    let (d_in, d_out) = (f.usize("in_features"), f.usize("out_features"));
    let linear = Linear::from_params(&Params::load(&f.tensors), d_in, d_out, true).unwrap();
    f.assert_all_parameters_used();
    let y = linear.forward(&f.input::<Ix3>("x")).unwrap();
    assert_close("linear", &y, &f.output("y"));
}

#[test]
fn linear_by_hand_uses_the_transpose() {
    // W = [[1, 2], [3, 4]] (out, in), b = [10, 20], x = [1, 1]:
    // y = x·Wᵀ + b = [1+2, 3+4] + b = [13, 27] (x·W would give [4, 6] + b = [14, 26]).
    let linear = Linear::new(array![[1.0, 2.0], [3.0, 4.0]], Some(array![10.0, 20.0])).unwrap();
    assert_eq!(
        linear.forward(&array![[1.0_f32, 1.0]]).unwrap(),
        array![[13.0, 27.0]]
    );
}

#[test]
fn layer_norm_matches_pytorch() {
    let f = fixture("layer_norm");
    let norm =
        LayerNorm::from_params(&Params::load(&f.tensors), f.usize("normalized_shape")).unwrap();
    f.assert_all_parameters_used();
    let y = norm.forward(&f.input::<Ix3>("x")).unwrap();
    assert_close("layer_norm", &y, &f.output("y"));
}

#[test]
fn layer_norm_by_hand() {
    // x = [1, 2, 3, 6]: mean 3, deviations [-2, -1, 0, 3], variance (4+1+0+9)/4 = 3.5.
    // y = dev / √3.5 · γ + β with γ = 2, β = 1.
    let mut norm = LayerNorm::new(4);
    norm.weight.fill(2.0);
    norm.bias.fill(1.0);
    let y = norm.forward(&array![1.0_f32, 2.0, 3.0, 6.0]).unwrap();
    let s = (3.5_f32 + 1e-5).sqrt();
    let expected = array![
        -2.0 / s * 2.0 + 1.0,
        -1.0 / s * 2.0 + 1.0,
        1.0,
        3.0 / s * 2.0 + 1.0
    ];
    assert_close("layer_norm by hand", &y, &expected);
}

#[test]
fn softmax_by_hand() {
    // softmax([ln 1, ln 3]) = [1/4, 3/4]; a fully masked row is all zeros.
    let p = softmax(&array![
        [0.0_f32, 3.0_f32.ln()],
        [f32::NEG_INFINITY, f32::NEG_INFINITY]
    ]);
    assert_close("softmax", &p, &array![[0.25, 0.75], [0.0, 0.0]]);
}

proptest! {
    #[test]
    fn softmax_rows_sum_to_one_even_for_huge_logits(
        rows in 1usize..5, cols in 1usize..7, seed in any::<u64>(), scale in prop_oneof![Just(1.0f32), Just(1e4f32)],
    ) {
        let logits: Array2<f32> = uniform((rows, cols), scale, &mut seeded_rng(seed));
        let p = softmax(&logits);
        for row in p.rows() {
            prop_assert!(row.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)));
            prop_assert!((row.sum() - 1.0).abs() < 1e-5, "row sums to {}", row.sum());
        }
    }

    #[test]
    fn softmax_survives_plus_minus_1e4(cols in 2usize..7) {
        let mut logits = Array1::from_elem(cols, -1e4_f32);
        logits[0] = 1e4;
        let p = softmax(&logits);
        prop_assert!((p[0] - 1.0).abs() < 1e-6 && p.iter().skip(1).all(|&v| v == 0.0));
    }
}

#[test]
fn dropout_is_identity_in_eval_and_inverted_in_training() {
    let x = Array2::<f32>::ones((100, 100));
    let dropout = Dropout::new(0.25).unwrap();
    assert_eq!(dropout.forward(&x), x);
    let y = dropout.forward_train(&x, &mut seeded_rng(1));
    let zeros = y.iter().filter(|&&v| v == 0.0).count() as f32 / 10_000.0;
    assert!((zeros - 0.25).abs() < 0.02, "dropped fraction {zeros}");
    // survivors are scaled by 1/(1 - p) = 4/3, so the mean stays ≈ 1
    assert!(y.iter().all(|&v| v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-6));
    assert!((y.mean().unwrap() - 1.0).abs() < 0.03);
    assert!(matches!(Dropout::new(1.0), Err(Error::Value { .. })));
}

/// A fake generator returning fixed words, to check the distributions by hand.
struct FixedWords(u64);
impl ndarray_rand::rand::RngCore for FixedWords {
    fn next_u32(&mut self) -> u32 {
        self.0 as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        dst.fill(0)
    }
}

#[test]
fn stable_distributions_by_hand() {
    // The top 24 bits of 0x8000_0000 are 2^23, so the unit value is 2^23 / 2^24 = 0.5,
    // mapped to [-1, 3): -1 + 4 · 0.5 = 1.
    let u = StableUniform::new(-1.0, 3.0).sample(&mut FixedWords(0x8000_0000));
    assert_eq!(u, 1.0);
    // Box–Muller with u1 = u2 = 0.5 (both words 2^63): √(−2 ln 0.5) · cos(π) = −√(2 ln 2).
    let n = StableNormal::new(2.0).sample(&mut FixedWords(1 << 63));
    assert!(
        (n - 2.0 * -(2.0_f32 * 2.0_f32.ln()).sqrt()).abs() < 1e-6,
        "{n}"
    );
}

#[test]
fn seeded_weights_repeat_and_differ_by_seed() {
    let a: Array3<f32> = uniform((2, 3, 4), 1.0, &mut seeded_rng(7));
    let b: Array3<f32> = uniform((2, 3, 4), 1.0, &mut seeded_rng(7));
    let c: Array3<f32> = uniform((2, 3, 4), 1.0, &mut seeded_rng(8));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn named_tensors_round_trip_through_json() {
    let mut tensors = NamedTensors::new();
    tensors.insert("a.weight", array![[1.0_f32, 2.5], [-3.0, 4.0]]);
    tensors.insert("a.bias", array![0.125_f32, -0.5]);
    let back = NamedTensors::from_json_str(&tensors.to_json_string()).unwrap();
    assert_eq!(back.names().collect::<Vec<_>>(), ["a.bias", "a.weight"]);
    assert_eq!(back.get("a.weight"), tensors.get("a.weight"));
    let linear = Linear::from_params(&Params::load(&back).sub("a"), 2, 2, true).unwrap();
    assert_eq!(linear.bias.unwrap(), array![0.125, -0.5]);
}

#[test]
fn loading_a_missing_tensor_names_it() {
    let mut tensors = NamedTensors::new();
    tensors.insert("proj.weight", Array2::<f32>::zeros((3, 2)));
    let err = Linear::from_params(&Params::load(&tensors).sub("proj"), 2, 3, true).unwrap_err();
    assert!(matches!(&err, Error::MissingTensor { name, .. } if name == "proj.bias"));
    let msg = err.to_string();
    assert!(
        msg.contains("proj.bias") && msg.contains("closest: proj.weight"),
        "{msg}"
    );
}

#[test]
fn loading_a_wrong_shape_names_tensor_and_both_shapes() {
    let mut tensors = NamedTensors::new();
    tensors.insert("proj.weight", Array2::<f32>::zeros((2, 3)));
    let msg = Linear::from_params(&Params::load(&tensors).sub("proj"), 2, 3, false)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("proj.weight") && msg.contains("(3, 2)") && msg.contains("(2, 3)"),
        "{msg}"
    );
}

#[test]
fn bad_json_is_a_parse_error() {
    assert!(matches!(
        NamedTensors::from_json_str("{"),
        Err(Error::Parse { .. })
    ));
    let short = r#"{"tensors": {"w": {"shape": [2, 2], "data": [1.0]}}}"#;
    let msg = NamedTensors::from_json_str(short).unwrap_err().to_string();
    assert!(msg.contains("`w`") && msg.contains("(2, 2)"), "{msg}");
}

#[test]
fn linear_rejects_wrong_input_width() {
    let linear = Linear::from_params(&Params::seeded(0), 4, 3, true).unwrap();
    let msg = linear
        .forward(&Array2::<f32>::zeros((2, 5)))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`x`") && msg.contains("(..., 4)") && msg.contains("(2, 5)"),
        "{msg}"
    );
    let bias = Linear::new(Array2::zeros((3, 4)), Some(Array1::zeros(2))).unwrap_err();
    assert!(bias.to_string().contains("`bias`"), "{bias}");
}

#[test]
fn layer_norm_rejects_wrong_width() {
    let msg = LayerNorm::new(4)
        .forward(&Array2::<f32>::zeros((2, 3)))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`x`") && msg.contains("(2, 3)") && msg.contains("4"),
        "{msg}"
    );
}
