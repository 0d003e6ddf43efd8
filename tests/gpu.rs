//! Chapter 8, feature `gpu`: the WGSL kernels compute what the CPU code and PyTorch compute.
//!
//! They run on any wgpu adapter; CI uses Mesa's software Vulkan (llvmpipe) with
//! `REQUIRE_GPU=1`, so a missing adapter fails there instead of skipping.

mod common;

use attention::backend;
use attention::fast::{Kernel, attention_heads};
use attention::gpu::{self, Gpu, MAX_HEAD_DIM};
use attention::ndarray::{Array2, Array4, ArrayRef2, Ix4, s};
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

/// A GPU matrix product: `gpu::matmul` (register-blocked) or `gpu::matmul_tiled` (simple).
type GpuMatmul = fn(&ArrayRef2<f32>, &ArrayRef2<f32>) -> attention::Result<Array2<f32>>;

/// Both GPU products, by name.
const MATMULS: [(&str, GpuMatmul); 2] = [("blocked", gpu::matmul), ("tiled", gpu::matmul_tiled)];

/// Products whose sizes straddle the 16 × 16 tiles of the simple kernel and the 128 × 128 tiles
/// (8 × 8 blocks in two halves 64 apart, 8 steps along k) of the blocked one, with transposed
/// and strided views.
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
        (1, 200, 1),
        (65, 1, 63),
        (64, 64, 64),
        (63, 17, 129),
        (200, 3, 5),
        (2, 300, 130),
        (128, 8, 128),
        (129, 9, 127),
        (127, 7, 129),
        (257, 13, 190),
        (70, 4, 300),
        (300, 21, 66),
    ] {
        let a: Array2<f32> = uniform((m, k), 1.0, &mut rng);
        let b: Array2<f32> = uniform((k, n), 1.0, &mut rng);
        let bt = b.t().as_standard_layout().to_owned(); // (n, k)
        let expected = backend::matmul(&a, &b);
        for (kernel, matmul) in MATMULS {
            let got = matmul(&a, &b).unwrap();
            let diff = max_abs_diff(&got, &expected);
            assert!(
                diff <= 1e-5,
                "{kernel} ({m}, {k}) · ({k}, {n}): max diff {diff}"
            );
            let via_transpose = matmul(&a, &bt.t()).unwrap();
            let diff = max_abs_diff(&via_transpose, &expected);
            assert!(diff <= 1e-5, "{kernel}: transposed view, max diff {diff}");
        }
    }
    let a: Array2<f32> = uniform((40, 30), 1.0, &mut rng);
    let b: Array2<f32> = uniform((15, 9), 1.0, &mut rng);
    let (a_view, b_view) = (a.slice(s![..;2, ..;2]), b.slice(s![.., 1..8]));
    for (kernel, matmul) in MATMULS {
        let diff = max_abs_diff(
            &matmul(&a_view, &b_view).unwrap(),
            &backend::matmul(&a_view, &b_view),
        );
        assert!(diff <= 1e-5, "{kernel}: strided views: max diff {diff}");
    }
}

/// Small integers multiply exactly in f32: the blocked kernel must give exactly these sums,
/// whatever the tiling (a lost or doubled k step, row or column would show).
#[test]
fn blocked_matmul_is_exact_on_integers() {
    let Some(_) = gpu_or_skip("blocked_matmul_is_exact_on_integers") else {
        return;
    };
    // Within one 128 × 128 tile, and across tiles in both directions.
    for (m, k, n) in [(70, 37, 66), (200, 37, 150)] {
        let a = Array2::from_shape_fn((m, k), |(i, j)| ((i * 7 + j * 3) % 11) as f32 - 5.0);
        let b = Array2::from_shape_fn((k, n), |(i, j)| ((i * 5 + j) % 13) as f32 - 6.0);
        // The product written out as sums, independent of any matmul code.
        let expected = Array2::from_shape_fn((m, n), |(i, j)| {
            (0..k).map(|t| a[[i, t]] * b[[t, j]]).sum::<f32>()
        });
        assert_eq!(gpu::matmul(&a, &b).unwrap(), expected, "({m}, {k}, {n})");
    }
}

#[test]
fn matmul_of_empty_matrices_is_zeros_and_mismatch_is_an_error() {
    for (kernel, matmul) in MATMULS {
        let empty = matmul(&Array2::zeros((3, 0)), &Array2::zeros((0, 4))).unwrap();
        assert_eq!(empty, Array2::<f32>::zeros((3, 4)), "{kernel}");
        let err = matmul(&Array2::zeros((3, 4)), &Array2::zeros((5, 2))).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("`b`") && msg.contains(&fmt_shape(&[5, 2])),
            "{kernel}: {msg}"
        );
    }
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
    let full = gpu::attention_heads_simple(&q, &k, &v, false).unwrap();
    assert_close("gpu simple full", &full, &f.output("output"));
    let causal = gpu::attention_heads_simple(&q, &k, &v, true).unwrap();
    assert_close("gpu simple causal", &causal, &f.output("causal_output"));
}

#[test]
fn fused_attention_rejects_large_heads_and_bad_shapes() {
    let q = Array4::<f32>::zeros((1, 1, 2, MAX_HEAD_DIM + 1));
    let err = attention_heads(&q, &q, &q, false, Kernel::Gpu).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("`queries`") && msg.contains("129"), "{msg}");
    let msg = gpu::attention_heads_simple(&q, &q, &q, false)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`queries`") && msg.contains("129"), "{msg}");
    let (q, no_keys) = (
        Array4::<f32>::zeros((1, 1, 2, 4)),
        Array4::<f32>::zeros((1, 1, 0, 4)),
    );
    let msg = attention_heads(&q, &no_keys, &no_keys, false, Kernel::Gpu)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`keys`"), "{msg}");
    let k = Array4::<f32>::zeros((1, 2, 2, 4));
    let q = Array4::<f32>::zeros((1, 1, 2, 4));
    let msg = attention_heads(&q, &k, &k, false, Kernel::Gpu)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`keys`"), "{msg}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    /// Both GPU products equal the CPU product, for any shape (up to a few 128 × 128 tiles).
    #[test]
    fn gpu_matmul_equals_cpu(m in 1usize..300, k in 1usize..150, n in 1usize..300, seed in any::<u64>()) {
        if gpu_or_skip("gpu_matmul_equals_cpu").is_none() {
            return Ok(());
        }
        let mut rng = seeded_rng(seed);
        let a: Array2<f32> = uniform((m, k), 1.0, &mut rng);
        let b: Array2<f32> = uniform((k, n), 1.0, &mut rng);
        let expected = backend::matmul(&a, &b);
        for (kernel, matmul) in MATMULS {
            let diff = max_abs_diff(&matmul(&a, &b).unwrap(), &expected);
            prop_assert!(diff <= 1e-5, "{kernel}: max diff {diff}");
        }
    }

    /// Both fused GPU kernels equal the CPU's plain kernel, for any shape, causal or not.
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
        let flash = attention_heads(&q, &k, &v, causal, Kernel::Gpu).unwrap();
        let diff = max_abs_diff(&flash, &cpu);
        prop_assert!(diff <= 1e-5, "flash: max diff {diff}");
        let simple = gpu::attention_heads_simple(&q, &k, &v, causal).unwrap();
        let diff = max_abs_diff(&simple, &cpu);
        prop_assert!(diff <= 1e-5, "simple: max diff {diff}");
    }
}
