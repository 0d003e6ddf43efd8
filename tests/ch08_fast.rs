//! Chapter 8 (in progress): memory-efficient attention equals plain attention.

use attention::fast::{OnlineSoftmax, flash_attention};
use attention::masked::Mask;
use attention::ndarray::{Array1, Array2, array};
use attention::nn::init::uniform;
use attention::nn::seeded_rng;
use attention::self_attention::scaled_dot_product_attention;
use proptest::prelude::*;

#[test]
fn online_softmax_by_hand() {
    // Scores [0, ln 3] with values 10 and 20: weights [1/4, 3/4], output 17.5, whichever
    // order the keys arrive in (the second key raises the running max and rescales).
    let mut state = OnlineSoftmax::new(1);
    state.push(0.0, array![10.0_f32].view());
    state.push(3.0_f32.ln(), array![20.0_f32].view());
    assert!((state.finish()[0] - 17.5).abs() < 1e-5);
    let mut reversed = OnlineSoftmax::new(1);
    reversed.push(3.0_f32.ln(), array![20.0_f32].view());
    reversed.push(0.0, array![10.0_f32].view());
    assert!((reversed.finish()[0] - 17.5).abs() < 1e-5);
    // Only masked keys: zeros, not NaN.
    let mut masked = OnlineSoftmax::new(2);
    masked.push(f32::NEG_INFINITY, array![1.0_f32, 2.0].view());
    assert_eq!(masked.finish(), Array1::<f32>::zeros(2));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Equal to the plain path within 1e-5 relative to the output's scale, across block
    /// boundaries (blocks are 64 queries × 128 keys), causal and not.
    #[test]
    fn flash_attention_equals_plain_attention(
        tgt in 1usize..200, src in 1usize..300, d_k in 1usize..20, d_v in 1usize..10,
        causal in any::<bool>(), seed in any::<u64>(), scale in prop_oneof![Just(1.0f32), Just(8.0f32)],
    ) {
        let src = if causal { tgt.max(src) } else { src };
        let mut rng = seeded_rng(seed);
        let q: Array2<f32> = uniform((tgt, d_k), scale, &mut rng);
        let k: Array2<f32> = uniform((src, d_k), scale, &mut rng);
        let v: Array2<f32> = uniform((src, d_v), 1.0, &mut rng);
        let mask = if causal {
            Some(Mask::new(Array2::from_shape_fn((tgt, src), |(i, j)| j <= i)).unwrap())
        } else {
            None
        };
        let plain = scaled_dot_product_attention(&q, &k, &v, mask.as_ref()).unwrap().output;
        let fast = flash_attention(&q, &k, &v, causal).unwrap();
        let out_scale = plain.iter().fold(1.0_f32, |m, x| m.max(x.abs()));
        let max_diff = (&plain - &fast).iter().fold(0.0_f32, |m, x| m.max(x.abs()));
        prop_assert!(max_diff <= 1e-5 * out_scale, "max diff {max_diff}");
    }
}

#[test]
fn flash_attention_rejects_bad_shapes() {
    let q = Array2::<f32>::zeros((2, 4));
    let msg = flash_attention(&q, &Array2::zeros((3, 5)), &Array2::zeros((3, 2)), false)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`keys`") && msg.contains("(3, 5)"), "{msg}");
    let msg = flash_attention(&q, &Array2::zeros((3, 4)), &Array2::zeros((2, 2)), true)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`values`"), "{msg}");
}
