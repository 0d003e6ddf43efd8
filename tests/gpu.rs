//! Chapter 8, feature `gpu`: the WGSL kernels compute what the CPU code and PyTorch compute.
//!
//! They run on any wgpu adapter; CI uses Mesa's software Vulkan (llvmpipe) with
//! `REQUIRE_GPU=1`, so a missing adapter fails there instead of skipping.

mod common;

use attention::backend;
use attention::fast::{Kernel, attention_heads};
use attention::gpu::{self, Gpu, MAX_HEAD_DIM};
use attention::ndarray::{Array2, Array4, Ix4, s};
use attention::nn::init::uniform;
use attention::nn::seeded_rng;
use attention::{Error, fmt_shape};
use common::{assert_close, fixture, gpu_or_skip, max_abs_diff};
use proptest::prelude::*;

#[test]
fn adapter_has_a_name() {
    let Some(gpu) = gpu_or_skip("adapter_has_a_name") else {
        return;
    };
    let name = gpu.adapter_name();
    println!("adapter: {name}");
    assert!(name.len() > "( , )".len(), "empty adapter name: {name:?}");
}

#[test]
fn no_adapter_is_a_clear_error_with_wgpu_reason() {
    // No backends at all: wgpu cannot find an adapter, whatever the machine has.
    let err = Gpu::new(gpu::wgpu::Backends::empty())
        .err()
        .expect("no adapter without backends");
    let msg = err.to_string();
    assert!(matches!(err, Error::Gpu { .. }), "{msg}");
    assert!(
        msg.contains("no GPU adapter") && msg.contains("wgpu says"),
        "{msg}"
    );
}

/// Products whose sizes straddle the 16 × 16 tiles, with transposed and strided views.
#[test]
fn matmul_matches_cpu() {
    let Some(_) = gpu_or_skip("matmul_matches_cpu") else {
        return;
    };
    let mut rng = seeded_rng(7);
    for (m, k, n) in [
        (1, 1, 1),
        (3, 5, 2),
        (16, 16, 16),
        (17, 33, 15),
        (130, 64, 70),
    ] {
        let a: Array2<f32> = uniform((m, k), 1.0, &mut rng);
        let b: Array2<f32> = uniform((k, n), 1.0, &mut rng);
        let bt = b.t().as_standard_layout().to_owned(); // (n, k)
        let expected = backend::matmul(&a, &b);
        let got = gpu::matmul(&a, &b).unwrap();
        let diff = max_abs_diff(&got, &expected);
        assert!(diff <= 1e-5, "({m}, {k}) · ({k}, {n}): max diff {diff}");
        let via_transpose = gpu::matmul(&a, &bt.t()).unwrap();
        assert!(
            max_abs_diff(&via_transpose, &expected) <= 1e-5,
            "transposed view"
        );
    }
    let a: Array2<f32> = uniform((40, 30), 1.0, &mut rng);
    let b: Array2<f32> = uniform((15, 9), 1.0, &mut rng);
    let (a_view, b_view) = (a.slice(s![..;2, ..;2]), b.slice(s![.., 1..8]));
    let diff = max_abs_diff(
        &gpu::matmul(&a_view, &b_view).unwrap(),
        &backend::matmul(&a_view, &b_view),
    );
    assert!(diff <= 1e-5, "strided views: max diff {diff}");
}

#[test]
fn matmul_of_empty_matrices_is_zeros_and_mismatch_is_an_error() {
    let empty = gpu::matmul(&Array2::zeros((3, 0)), &Array2::zeros((0, 4))).unwrap();
    assert_eq!(empty, Array2::<f32>::zeros((3, 4)));
    let err = gpu::matmul(&Array2::zeros((3, 4)), &Array2::zeros((5, 2))).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("`b`") && msg.contains(&fmt_shape(&[5, 2])),
        "{msg}"
    );
}

/// The fused kernel, full and causal, against PyTorch's batched SDPA on 130 positions
/// (crossing the 64-row workgroups and the 16-key tiles).
#[test]
fn fused_attention_matches_pytorch() {
    let Some(_) = gpu_or_skip("fused_attention_matches_pytorch") else {
        return;
    };
    let f = fixture("sdpa_heads");
    let (q, k, v) = (
        f.input::<Ix4>("query"),
        f.input::<Ix4>("key"),
        f.input::<Ix4>("value"),
    );
    let full = attention_heads(&q, &k, &v, false, Kernel::Gpu).unwrap();
    assert_close("gpu full", &full, &f.output("output"));
    let causal = attention_heads(&q, &k, &v, true, Kernel::Gpu).unwrap();
    assert_close("gpu causal", &causal, &f.output("causal_output"));
}

#[test]
fn fused_attention_rejects_large_heads_and_bad_shapes() {
    let q = Array4::<f32>::zeros((1, 1, 2, MAX_HEAD_DIM + 1));
    let err = attention_heads(&q, &q, &q, false, Kernel::Gpu).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("`queries`") && msg.contains("129"), "{msg}");
    let k = Array4::<f32>::zeros((1, 2, 2, 4));
    let q = Array4::<f32>::zeros((1, 1, 2, 4));
    let msg = attention_heads(&q, &k, &k, false, Kernel::Gpu)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`keys`"), "{msg}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    /// The tiled GPU product equals the CPU product, for any shape.
    #[test]
    fn gpu_matmul_equals_cpu(m in 1usize..70, k in 1usize..70, n in 1usize..70, seed in any::<u64>()) {
        if gpu_or_skip("gpu_matmul_equals_cpu").is_none() {
            return Ok(());
        }
        let mut rng = seeded_rng(seed);
        let a: Array2<f32> = uniform((m, k), 1.0, &mut rng);
        let b: Array2<f32> = uniform((k, n), 1.0, &mut rng);
        let diff = max_abs_diff(&gpu::matmul(&a, &b).unwrap(), &backend::matmul(&a, &b));
        prop_assert!(diff <= 1e-5, "max diff {diff}");
    }

    /// The fused GPU kernel equals the CPU's plain kernel, for any shape, causal or not.
    #[test]
    fn fused_attention_equals_cpu(
        batch in 1usize..3, heads in 1usize..3, tgt in 1usize..150, src in 1usize..150,
        d_k in 1usize..=MAX_HEAD_DIM, d_v in 1usize..=MAX_HEAD_DIM, causal in any::<bool>(),
        seed in any::<u64>(),
    ) {
        if gpu_or_skip("fused_attention_equals_cpu").is_none() {
            return Ok(());
        }
        let mut rng = seeded_rng(seed);
        let q: Array4<f32> = uniform((batch, heads, tgt, d_k), 2.0, &mut rng);
        let k: Array4<f32> = uniform((batch, heads, src, d_k), 2.0, &mut rng);
        let v: Array4<f32> = uniform((batch, heads, src, d_v), 1.0, &mut rng);
        let cpu = attention_heads(&q, &k, &v, causal, Kernel::Plain).unwrap();
        let gpu = attention_heads(&q, &k, &v, causal, Kernel::Gpu).unwrap();
        let diff = max_abs_diff(&gpu, &cpu);
        prop_assert!(diff <= 1e-5, "max diff {diff}");
    }
}
