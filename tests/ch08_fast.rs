//! Chapter 8: the fast paths compute exactly what the chapter-3 code and PyTorch compute.

mod common;

use attention::fast::{Kernel, OnlineSoftmax, attention_heads, flash_attention};
use attention::masked::Mask;
use attention::ndarray::{Array1, Array2, Array4, Ix4, array, s};
use attention::nn::init::uniform;
use attention::nn::seeded_rng;
use attention::self_attention::{scaled_dot_product_attention, scaled_scores};
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

/// softmax(scores)·values computed directly, the textbook way (no online state).
fn direct_attention_row(scores: &[f32], values: &Array2<f32>) -> Array1<f32> {
    let max = scores.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
    let exps: Vec<f32> = scores.iter().map(|&s| (s - max).exp()).collect();
    let total: f32 = exps.iter().sum();
    let mut out = Array1::<f32>::zeros(values.ncols());
    for (e, v) in exps.iter().zip(values.rows()) {
        out.scaled_add(e / total, &v);
    }
    out
}

/// The online state over `scores[range]` with their value rows.
fn block_state(
    scores: &[f32],
    values: &Array2<f32>,
    range: std::ops::Range<usize>,
) -> OnlineSoftmax {
    let mut state = OnlineSoftmax::new(values.ncols());
    for j in range {
        state.push(scores[j], values.row(j));
    }
    state
}

#[test]
fn merging_two_blocks_by_hand() {
    // Block a: scores [1, 2] (m = 2), block b: scores [3, 0.5] (m = 3). Merging rescales a by
    // e^(2 − 3) and b by e^0 = 1; the result is the softmax over all four scores.
    let scores = [1.0_f32, 2.0, 3.0, 0.5];
    let values = array![[10.0_f32], [20.0], [30.0], [40.0]];
    let (a, b) = (
        block_state(&scores, &values, 0..2),
        block_state(&scores, &values, 2..4),
    );
    let merged = a.merge(&b);
    assert_eq!(merged.max, 3.0);
    let e = std::f32::consts::E;
    let sum = (1.0 / e + 1.0) / e + (1.0 + (-2.5_f32).exp());
    assert!(
        (merged.sum - sum).abs() < 1e-5,
        "sum {} vs {sum}",
        merged.sum
    );
    let want = direct_attention_row(&scores, &values);
    assert!((merged.finish()[0] - want[0]).abs() < 1e-4);
    // Merging is symmetric, and an empty block changes nothing; two empty blocks give zeros.
    assert!((b.merge(&a).finish()[0] - want[0]).abs() < 1e-4);
    let empty = OnlineSoftmax::new(1);
    assert_eq!(a.merge(&empty).finish(), a.finish());
    assert_eq!(empty.merge(&empty).finish(), Array1::<f32>::zeros(1));
    // Adding the blocks without rescaling (the mistake the merge avoids) is wrong here.
    let unscaled = (&a.acc + &b.acc) / (a.sum + b.sum);
    assert!((unscaled[0] - want[0]).abs() > 1.0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Any split of any row of scores into two blocks, merged, is the softmax of the whole
    /// row times the values (up to float rounding), whichever block comes first.
    #[test]
    fn merged_blocks_equal_the_full_softmax(n in 2usize..12, d_v in 1usize..4, split_at in 1usize..11, scale in 0.1f32..20.0, seed in any::<u64>()) {
        let split = split_at.min(n - 1);
        let mut rng = seeded_rng(seed);
        let scores: Array1<f32> = uniform(n, scale, &mut rng);
        let scores = scores.to_vec();
        let values: Array2<f32> = uniform((n, d_v), 1.0, &mut rng);
        let (a, b) = (block_state(&scores, &values, 0..split), block_state(&scores, &values, split..n));
        let want = direct_attention_row(&scores, &values);
        for merged in [a.merge(&b), b.merge(&a)] {
            let got = merged.finish();
            for (g, w) in got.iter().zip(&want) {
                prop_assert!((g - w).abs() < 1e-5, "{got} vs {want}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Equal to the plain path within 1e-5 relative to the output's scale, plus what f32
    /// cannot avoid with large scores: a score s is computed with a rounding error of about
    /// ε·|s| (ε = f32::EPSILON), which exp turns into the same relative error of its weight,
    /// so the two paths may differ by a few ε·max|s| (scale 8 gives scores near 250, where
    /// that is 3e-5). Across block boundaries (blocks are 64 queries × 128 keys), causal and
    /// not.
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
        let scores = scaled_scores(&q, &k).unwrap();
        let max_score = scores.iter().fold(0.0_f32, |m, s| m.max(s.abs()));
        let tolerance = out_scale * (1e-5 + 4.0 * f32::EPSILON * max_score);
        let max_diff = common::max_abs_diff(&plain, &fast);
        prop_assert!(max_diff <= tolerance, "max diff {max_diff} > {tolerance}");
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

/// Both kernels, with and without the causal mask, against PyTorch's batched SDPA on
/// 130 positions (crossing the 128-row blocks).
#[test]
fn attention_heads_matches_pytorch() {
    let f = common::fixture("sdpa_heads");
    let (q, k, v) = (
        f.input::<Ix4>("query"),
        f.input::<Ix4>("key"),
        f.input::<Ix4>("value"),
    );
    for kernel in [Kernel::Plain, Kernel::MemoryEfficient] {
        let full = attention_heads(&q, &k, &v, false, kernel).unwrap();
        common::assert_close(&format!("{kernel:?} full"), &full, &f.output("output"));
        let causal = attention_heads(&q, &k, &v, true, kernel).unwrap();
        common::assert_close(
            &format!("{kernel:?} causal"),
            &causal,
            &f.output("causal_output"),
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    /// Every (batch, head) of `attention_heads` equals chapter 3's
    /// `scaled_dot_product_attention` on that head, for both kernels, causal and not.
    #[test]
    fn attention_heads_equals_per_head_attention(
        batch in 1usize..3, heads in 1usize..4, tgt in 1usize..300, src in 1usize..300,
        d_k in 1usize..12, d_v in 1usize..6, causal in any::<bool>(), seed in any::<u64>(),
        memory_efficient in any::<bool>(),
    ) {
        let mut rng = seeded_rng(seed);
        let q: Array4<f32> = uniform((batch, heads, tgt, d_k), 2.0, &mut rng);
        let k: Array4<f32> = uniform((batch, heads, src, d_k), 2.0, &mut rng);
        let v: Array4<f32> = uniform((batch, heads, src, d_v), 1.0, &mut rng);
        let kernel = if memory_efficient { Kernel::MemoryEfficient } else { Kernel::Plain };
        let fast = attention_heads(&q, &k, &v, causal, kernel).unwrap();
        let mask = causal.then(|| Mask::new(Array2::from_shape_fn((tgt, src), |(i, j)| j <= i)).unwrap());
        for b in 0..batch {
            for h in 0..heads {
                let at = s![b, h, .., ..];
                let plain = scaled_dot_product_attention(&q.slice(at), &k.slice(at), &v.slice(at), mask.as_ref())
                    .unwrap()
                    .output;
                let max_diff = common::max_abs_diff(&plain, &fast.slice(at));
                prop_assert!(max_diff <= 1e-5, "batch {b} head {h}: max diff {max_diff}");
            }
        }
    }
}

#[test]
fn attention_heads_names_the_bad_argument() {
    let q = Array4::<f32>::zeros((1, 2, 3, 4));
    let msg = attention_heads(
        &q,
        &Array4::zeros((1, 3, 3, 4)),
        &Array4::zeros((1, 2, 3, 2)),
        false,
        Kernel::Plain,
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains("`keys`") && msg.contains("(1, 3, 3, 4)"),
        "{msg}"
    );
    let msg = attention_heads(
        &q,
        &Array4::zeros((1, 2, 5, 4)),
        &Array4::zeros((1, 2, 4, 2)),
        true,
        Kernel::MemoryEfficient,
    )
    .unwrap_err()
    .to_string();
    assert!(msg.contains("`values`") && msg.contains("src_len"), "{msg}");
}

/// Without the `gpu` feature, asking for the GPU says how to get it.
#[cfg(not(feature = "gpu"))]
#[test]
fn gpu_without_the_feature_is_a_clear_error() {
    use attention::backend::{self, Device};
    let q = Array4::<f32>::zeros((1, 1, 2, 4));
    let err = attention_heads(&q, &q, &q, false, Kernel::Gpu).unwrap_err();
    assert!(matches!(err, attention::Error::Gpu { .. }), "{err}");
    assert!(err.to_string().contains("--features gpu"), "{err}");
    let err = backend::set_device(Device::Gpu).unwrap_err();
    assert!(err.to_string().contains("--features gpu"), "{err}");
    assert_eq!(backend::device(), Device::Cpu);
}

/// The kernels floor's register-tiled version of `flash_attention` (what
/// `Kernel::MemoryEfficient` runs) agrees with the chapter's, on shapes crossing every tile
/// and block edge: query blocks of 64 and tiles of 4 rows, key blocks of 128, panels of 64
/// and tiles of 16 or 64 keys, head dimensions below, at and above a tile.
#[test]
fn the_register_tiled_kernel_equals_flash_attention() {
    use attention::kernels::fused_attention_head;
    let shapes = [
        (1, 1, 1, 1),
        (7, 5, 3, 2),
        (130, 200, 64, 64),
        (67, 300, 33, 80),
        (257, 129, 16, 128),
    ];
    for (n, (tgt, src, d_k, d_v)) in shapes.into_iter().enumerate() {
        let mut rng = seeded_rng(n as u64);
        let q: Array2<f32> = uniform((tgt, d_k), 2.0, &mut rng);
        let k: Array2<f32> = uniform((src, d_k), 2.0, &mut rng);
        let v: Array2<f32> = uniform((src, d_v), 1.0, &mut rng);
        for causal in [false, true] {
            let fused = fused_attention_head(&q, &k, &v, causal).unwrap();
            let chapter = flash_attention(&q, &k, &v, causal).unwrap();
            let diff = common::max_abs_diff(&fused, &chapter);
            assert!(
                diff <= 1e-6,
                "{:?} causal {causal}: max |diff| {diff:e}",
                (tgt, src, d_k, d_v)
            );
        }
    }
}

#[test]
fn the_register_tiled_kernel_names_a_bad_shape() {
    use attention::kernels::fused_attention_head;
    let q = Array2::<f32>::zeros((3, 4));
    let msg = fused_attention_head(&q, &Array2::zeros((5, 3)), &Array2::zeros((5, 2)), false)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`keys`") && msg.contains("got (5, 3)"),
        "{msg}"
    );
    let msg = fused_attention_head(&q, &Array2::zeros((5, 4)), &Array2::zeros((6, 2)), true)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`values`") && msg.contains("got (6, 2)"),
        "{msg}"
    );
}

/// The readable `plain_attention` and this kernel agree, on shapes crossing the query
/// blocks (64) and key blocks (128) and the tiles' edges.
#[test]
fn equals_the_readable_plain_attention() {
    let mut rng = seeded_rng(5);
    for (tgt, src, d_k, d_v) in [
        (1, 1, 1, 1),
        (65, 129, 7, 3),
        (130, 300, 64, 64),
        (200, 257, 33, 80),
    ] {
        let q: Array2<f32> = uniform((tgt, d_k), 2.0, &mut rng);
        let k: Array2<f32> = uniform((src, d_k), 2.0, &mut rng);
        let v: Array2<f32> = uniform((src, d_v), 1.0, &mut rng);
        for causal in [false, true] {
            let fast = attention::kernels::exact_attention_head(&q, &k, &v, causal).unwrap();
            let readable = attention::fast::plain_attention(&q, &k, &v, causal).unwrap();
            let diff = common::max_abs_diff(&fast, &readable);
            assert!(
                diff <= 1e-6,
                "({tgt}, {src}, {d_k}, {d_v}) causal {causal}: {diff}"
            );
        }
    }
}

#[test]
fn plain_attention_names_the_bad_argument() {
    let q = Array2::<f32>::zeros((3, 4));
    let msg =
        attention::fast::plain_attention(&q, &Array2::zeros((5, 2)), &Array2::zeros((5, 1)), false)
            .unwrap_err()
            .to_string();
    assert!(msg.contains("`keys`") && msg.contains("d_k = 4"), "{msg}");
    let msg =
        attention::fast::plain_attention(&q, &Array2::zeros((5, 4)), &Array2::zeros((6, 1)), false)
            .unwrap_err()
            .to_string();
    assert!(
        msg.contains("`values`") && msg.contains("src_len = 5"),
        "{msg}"
    );
}

/// The exact kernel with weights, which multi-head attention runs for wide heads, equals
/// chapter 3's attention under any mask: a random one with a fully masked row, and causal,
/// at shapes crossing the tiles' edges (16-row blocks, 64-key panels, 128-key blocks).
#[test]
fn exact_kernel_with_weights_equals_chapter_3_under_any_mask() {
    let mut rng = seeded_rng(21);
    for (tgt, src, d_k, d_v) in [(20, 70, 64, 64), (67, 200, 32, 128), (130, 130, 64, 64)] {
        let q: Array2<f32> = uniform((tgt, d_k), 2.0, &mut rng);
        let k: Array2<f32> = uniform((src, d_k), 2.0, &mut rng);
        let v: Array2<f32> = uniform((src, d_v), 1.0, &mut rng);
        let noise: Array2<f32> = uniform((tgt, src), 1.0, &mut rng);
        let mut random = noise.mapv(|x| x > -0.3); // about a third of the keys hidden
        random.row_mut(tgt / 2).fill(false); // a row with every key masked
        let causal = Array2::from_shape_fn((tgt, src), |(i, j)| j <= i); // query i sees 0..=i
        for allowed in [None, Some(random), Some(causal)] {
            let mask = allowed.clone().map(|a| Mask::new(a).unwrap());
            let expected = scaled_dot_product_attention(&q, &k, &v, mask.as_ref()).unwrap();
            let allowed = allowed.as_ref().map(|a| a.view());
            let (output, weights) =
                attention::kernels::exact_attention_with_weights(&q, &k, &v, allowed).unwrap();
            let label = format!("({tgt}, {src}, {d_k}, {d_v}) masked {}", allowed.is_some());
            for (name, got, want) in [
                ("weights", &weights, &expected.weights),
                ("output", &output, &expected.output),
            ] {
                let diff = common::max_abs_diff(got, want);
                assert!(diff <= 1e-6, "{label}: {name} differ by {diff}");
            }
            if allowed.is_some_and(|a| !a[[tgt / 2, 0]]) {
                assert!(weights.row(tgt / 2).iter().all(|&w| w == 0.0), "{label}");
            }
        }
    }
}

#[test]
fn exact_kernel_with_weights_names_a_mask_of_the_wrong_shape() {
    let q = Array2::<f32>::zeros((3, 64));
    let kv = Array2::<f32>::zeros((70, 64));
    let mask = Array2::from_elem((3, 69), true);
    let msg = attention::kernels::exact_attention_with_weights(&q, &kv, &kv, Some(mask.view()))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`allowed`") && msg.contains("(3, 70)"),
        "{msg}"
    );
}
