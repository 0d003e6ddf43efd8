//! Bad and extreme input through the public API: a clear error naming the argument, or the
//! documented result; never an ndarray panic, never a silent wrong answer.

use attention::Error;
use attention::fast::{Kernel, attention_heads, flash_attention};
use attention::multi_head::MultiHeadAttention;
use attention::ndarray::{Array1, Array2, Array4, array, s};
use attention::nn::{LayerNorm, Linear, softmax};
use attention::params::Params;
use attention::positional::sinusoidal_encoding;
use attention::self_attention::{SelfAttention, scaled_dot_product_attention};
use attention::weights::NamedTensors;

/// The argument an error names.
fn arg_of(e: &Error) -> &str {
    match e {
        Error::Shape { arg, .. } | Error::Value { arg, .. } => arg,
        other => panic!("expected a shape or value error, got {other}"),
    }
}

// ---- public fields set after construction are checked in forward ----

#[test]
fn a_linear_bias_of_the_wrong_length_is_an_error() {
    let mut linear = Linear::new(array![[1.0, 2.0]], Some(array![0.5])).unwrap();
    linear.bias = Some(array![0.5, 0.5, 0.5]);
    let e = linear.forward(&array![[1.0_f32, 1.0]]).unwrap_err();
    assert_eq!(arg_of(&e), "bias", "{e}");
}

#[test]
fn layer_norm_parameters_of_different_lengths_are_an_error() {
    let mut norm = LayerNorm::new(3);
    norm.bias = Array1::zeros(2);
    let e = norm.forward(&array![[1.0_f32, 2.0, 3.0]]).unwrap_err();
    assert_eq!(arg_of(&e), "bias", "{e}");
    let mut norm = LayerNorm::new(3);
    norm.eps = -1.0;
    let e = norm.forward(&array![[1.0_f32, 2.0, 3.0]]).unwrap_err();
    assert_eq!(arg_of(&e), "eps", "{e}");
}

#[test]
fn multi_head_fields_changed_after_construction_are_errors() {
    let x = attention::ndarray::Array3::<f32>::ones((1, 3, 4));
    let mut mha = MultiHeadAttention::from_params(&Params::seeded(0), 4, 2).unwrap();
    mha.num_heads = 0;
    let e = mha.forward(&x, &x, &x, None).unwrap_err();
    assert_eq!(arg_of(&e), "num_heads", "{e}");
    let mut mha = MultiHeadAttention::from_params(&Params::seeded(0), 4, 2).unwrap();
    mha.w_k = Linear::new(Array2::ones((3, 4)), None).unwrap();
    let e = mha.forward(&x, &x, &x, None).unwrap_err();
    assert_eq!(arg_of(&e), "w_k.weight", "{e}");
    let mut mha = MultiHeadAttention::from_params(&Params::seeded(0), 4, 2).unwrap();
    mha.out_proj.bias = Some(Array1::zeros(5));
    let e = mha.forward(&x, &x, &x, None).unwrap_err();
    assert_eq!(arg_of(&e), "out_proj.bias", "{e}");
}

#[test]
fn a_self_attention_projection_of_another_size_is_an_error() {
    let mut head = SelfAttention::from_params(&Params::seeded(0), 4, 2, false).unwrap();
    head.w_k = Linear::new(Array2::ones((3, 4)), None).unwrap();
    let e = head.forward(&Array2::ones((3, 4)), None).unwrap_err();
    assert_eq!(arg_of(&e), "w_k.weight", "{e}");
}

// ---- NaN in, NaN out (both CPU kernels); huge values ----

#[test]
fn softmax_of_a_nan_row_is_nan_not_a_masked_row() {
    let p = softmax(&array![
        [f32::NAN, f32::NAN],
        [0.0, f32::NAN],
        [f32::INFINITY, 0.0],
        [f32::NEG_INFINITY, f32::NEG_INFINITY],
        [f32::NEG_INFINITY, 0.0]
    ]);
    assert!(p.row(0).iter().all(|v| v.is_nan()), "{p}");
    assert!(p.row(1).iter().all(|v| v.is_nan()), "{p}");
    assert!(p.row(2).iter().all(|v| v.is_nan()), "{p}");
    assert_eq!(p.row(3), array![0.0, 0.0]); // fully masked
    assert_eq!(p.row(4), array![0.0, 1.0]); // one masked key
}

/// Query 0 sees a NaN key score, query 1 an +∞ one, query 2 NaN through 0 · NaN, query 3 a
/// row of only NaN scores (which a max that skips NaN would take for fully masked).
fn poisoned_inputs() -> (Array2<f32>, Array2<f32>, Array2<f32>) {
    let q = array![[1.0_f32, 0.0], [0.0, 1.0], [0.0, 0.0], [f32::NAN, 0.0]];
    let k = array![[f32::NAN, 0.0], [0.0, f32::INFINITY], [1.0, 1.0]];
    let v = array![[1.0_f32], [2.0], [3.0]];
    (q, k, v)
}

#[test]
fn both_kernels_turn_a_nan_or_infinite_score_into_nan_output() {
    let (q, k, v) = poisoned_inputs();
    let as4 = |a: &Array2<f32>| {
        let rows = a.nrows();
        a.clone()
            .into_shape_with_order((1, 1, rows, a.ncols()))
            .unwrap()
    };
    let plain: Array4<f32> =
        attention_heads(&as4(&q), &as4(&k), &as4(&v), false, Kernel::Plain).unwrap();
    let flash = flash_attention(&q, &k, &v, false).unwrap();
    let chapter3 = scaled_dot_product_attention(&q, &k, &v, None)
        .unwrap()
        .output;
    for (name, out) in [
        ("plain", plain.into_shape_with_order((4, 1)).unwrap()),
        ("memory-efficient", flash),
        ("chapter 3", chapter3),
    ] {
        assert!(
            out[[0, 0]].is_nan(),
            "{name}: NaN score gave {}",
            out[[0, 0]]
        );
        assert!(
            out[[1, 0]].is_nan(),
            "{name}: +inf score gave {}",
            out[[1, 0]]
        );
        // Query 2 scores 0 · anything = NaN for the NaN key too: 0 · NaN is NaN.
        assert!(out[[2, 0]].is_nan(), "{name}: {}", out[[2, 0]]);
        assert!(
            out[[3, 0]].is_nan(),
            "{name}: all-NaN scores gave {}",
            out[[3, 0]]
        );
    }
    // Without the poisoned keys (and query), the same queries give finite outputs.
    let (q3, k1, v1) = (
        q.slice(s![..3, ..]),
        k.slice(s![2.., ..]),
        v.slice(s![2.., ..]),
    );
    let clean = flash_attention(&q3, &k1, &v1, false).unwrap();
    assert!(clean.iter().all(|x| x.is_finite()));
}

#[test]
fn layer_norm_of_huge_inputs_is_still_normalised() {
    let norm = LayerNorm::new(3);
    let y = norm.forward(&array![[1e30_f32, -1e30, 0.0]]).unwrap();
    let expected = [1.224_744_9_f32, -1.224_744_9, 0.0];
    for (got, want) in y.iter().zip(expected) {
        assert!((got - want).abs() < 1e-5, "{y}");
    }
}

#[test]
fn a_sinusoidal_table_too_large_for_memory_is_an_error_not_a_panic() {
    let e = sinusoidal_encoding(usize::MAX / 2, 4).unwrap_err();
    assert_eq!(arg_of(&e), "max_len, d_model", "{e}");
    let e = sinusoidal_encoding(1 << 40, 1 << 30).unwrap_err();
    assert_eq!(arg_of(&e), "max_len, d_model", "{e}");
}

// ---- weights files ----

#[test]
fn every_f32_survives_a_json_round_trip() {
    let mut values = vec![
        0.0,
        -0.0,
        1.0,
        0.1,
        f32::MIN_POSITIVE,
        f32::MIN_POSITIVE / 3.0, // subnormal
        f32::from_bits(1),       // the smallest subnormal
        f32::MAX,
        f32::MIN,
        f32::EPSILON,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
    ];
    // And 20,000 random bit patterns (NaNs included).
    let mut state = 0x2545_f491_u32;
    for _ in 0..20_000 {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        values.push(f32::from_bits(state));
    }
    let mut tensors = NamedTensors::new();
    tensors.insert("all", Array1::from(values.clone()));
    let back = NamedTensors::from_json_str(&tensors.to_json_string()).unwrap();
    let got = back.get("all").unwrap();
    for (i, (a, b)) in values.iter().zip(got.iter()).enumerate() {
        let same = (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits();
        assert!(
            same,
            "value {i}: saved {a:e} ({:#x}), loaded {b:e}",
            a.to_bits()
        );
    }
}

fn parse_error(json: &str) -> String {
    match NamedTensors::from_json_str(json) {
        Err(e @ Error::Parse { .. }) => e.to_string(),
        Err(other) => panic!("expected a parse error, got {other}"),
        Ok(t) => panic!("accepted: {:?}", t.names().collect::<Vec<_>>()),
    }
}

#[test]
fn bad_json_weights_are_refused_with_the_reason() {
    let e = parse_error(r#"{"tensors": {"w": {"shape": [1], "data": [1e39]}}}"#);
    assert!(
        e.contains("`w`") && e.contains("outside f32's range"),
        "{e}"
    );
    let e = parse_error(
        r#"{"tensors": {"w": {"shape": [1], "data": [1]}, "w": {"shape": [1], "data": [2]}}}"#,
    );
    assert!(e.contains("`w` appears twice"), "{e}");
    let e = parse_error(r#"{"tensors": {"w": {"shape": [2], "data": ["nan"]}}}"#);
    assert!(e.contains("\"nan\" is not a number"), "{e}");
    let e = parse_error(r#"{"tensors": {"w": {"shape": [3], "data": [1, 2]}}}"#);
    assert!(e.contains("do not fill shape (3)"), "{e}");
    // Truncated file.
    let e = parse_error(r#"{"tensors": {"w": {"shape": [2], "data": [1, "#);
    assert!(e.contains("EOF"), "{e}");
    let e = parse_error("");
    assert!(e.contains("named tensors"), "{e}");
}

#[test]
fn a_zero_size_tensor_does_not_load_into_a_layer() {
    let json = r#"{"tensors": {"proj.weight": {"shape": [0, 0], "data": []}}}"#;
    let tensors = NamedTensors::from_json_str(json).unwrap();
    let e = Linear::from_params(&Params::load(&tensors).sub("proj"), 0, 0, false).unwrap_err();
    assert_eq!(arg_of(&e), "proj.weight", "{e}");
}
