//! Chapter 8, feature `gpu`: data that stays on the GPU. `GpuTensor`s chain kernels without
//! copies, and `GpuMultiHeadAttention` and `GpuEncoderLayer` (one upload, one read-back each)
//! compute what chapters 6 and 7's `MultiHeadAttention` and `EncoderLayer` compute on the CPU.

mod common;

use attention::fast::{Kernel, attention_heads};
use attention::gpu::{self, GpuEncoderLayer, GpuMultiHeadAttention, GpuTensor};
use attention::masked::Mask;
use attention::multi_head::MultiHeadAttention;
use attention::ndarray::{Array1, Array2, Array3, Array4, Ix2, Ix3, Ix4, s};
use attention::nn::init::uniform;
use attention::nn::seeded_rng;
use attention::nn::{Activation, Linear};
use attention::params::Params;
use attention::transformer::{EncoderLayer, NormPosition, TransformerConfig};
use attention::{backend, fmt_shape};
use common::{gpu_or_skip, max_abs_diff};

#[test]
fn tensor_round_trips_any_layout() {
    let Some(_) = gpu_or_skip("tensor_round_trips_any_layout") else {
        return;
    };
    let x: Array3<f32> = uniform((3, 5, 7), 1.0, &mut seeded_rng(1));
    let view = x.slice(s![.., 1..4, ..;2]).permuted_axes([2, 0, 1]); // (4, 3, 3), strided
    let tensor = GpuTensor::upload(&view).unwrap();
    assert_eq!(tensor.shape(), &[4, 3, 3]);
    let back = tensor
        .download()
        .unwrap()
        .into_dimensionality::<Ix3>()
        .unwrap();
    assert_eq!(back, view);
    let empty = GpuTensor::upload(&Array2::<f32>::zeros((0, 3))).unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.download().unwrap().shape(), &[0, 3]);
}

/// (A · B) · C with the intermediate product never leaving the GPU.
#[test]
fn chained_products_stay_on_the_gpu() {
    let Some(_) = gpu_or_skip("chained_products_stay_on_the_gpu") else {
        return;
    };
    let mut rng = seeded_rng(2);
    let a: Array2<f32> = uniform((67, 33), 1.0, &mut rng);
    let b: Array2<f32> = uniform((33, 70), 1.0, &mut rng);
    let c: Array2<f32> = uniform((70, 5), 1.0, &mut rng);
    let [ta, tb, tc] = [&a, &b, &c].map(|x| GpuTensor::upload(x).unwrap());
    let expected = backend::matmul(&backend::matmul(&a, &b), &c);
    // Relative to the largest entry: the two products round in different orders.
    let scale = expected.iter().fold(1.0_f32, |m, x| m.max(x.abs()));
    for (name, product) in TENSOR_MATMULS {
        let ab = product(&ta, &tb).unwrap();
        let abc = product(&ab, &tc).unwrap();
        let got = abc
            .download()
            .unwrap()
            .into_dimensionality::<Ix2>()
            .unwrap();
        let diff = max_abs_diff(&got, &expected);
        assert!(
            diff <= 1e-5 * scale,
            "{name}: max diff {diff} (scale {scale})"
        );
        let diff = max_abs_diff(
            &ab.download().unwrap().into_dimensionality::<Ix2>().unwrap(),
            &backend::matmul(&a, &b),
        );
        assert!(diff <= 1e-5, "{name}: a · b: max diff {diff}");
        // (3, 0) · (0, 4): no terms to add, zeros (not whatever a pooled buffer held).
        let empty = [(3, 0), (0, 4)].map(|s| GpuTensor::upload(&Array2::<f32>::ones(s)).unwrap());
        drop(GpuTensor::upload(&Array2::<f32>::ones((3, 4))).unwrap()); // a used buffer, pooled
        let zeros = product(&empty[0], &empty[1]).unwrap().download().unwrap();
        assert_eq!(zeros, Array2::<f32>::zeros((3, 4)).into_dyn(), "{name}");
    }
}

/// A matrix product of GPU tensors: the register-blocked or the simple tiled kernel.
type TensorMatmul = fn(&GpuTensor, &GpuTensor) -> attention::Result<GpuTensor>;
const TENSOR_MATMULS: [(&str, TensorMatmul); 2] = [
    ("blocked", gpu::matmul_tensors),
    ("tiled", gpu::matmul_tiled_tensors),
];

/// Attention on GPU tensors: the FlashAttention-2 style kernel or the simple one.
type TensorAttention = fn(&GpuTensor, &GpuTensor, &GpuTensor, bool) -> attention::Result<GpuTensor>;
const TENSOR_ATTENTIONS: [(&str, TensorAttention); 2] = [
    ("flash", gpu::attention_tensors),
    ("simple", gpu::attention_tensors_simple),
];

#[test]
fn tensor_entry_points_name_the_bad_argument() {
    let Some(_) = gpu_or_skip("tensor_entry_points_name_the_bad_argument") else {
        return;
    };
    let a3 = GpuTensor::upload(&Array3::<f32>::zeros((2, 3, 4))).unwrap();
    let a = GpuTensor::upload(&Array2::<f32>::zeros((3, 4))).unwrap();
    let b = GpuTensor::upload(&Array2::<f32>::zeros((5, 2))).unwrap();
    for (name, product) in TENSOR_MATMULS {
        let msg = product(&a3, &b).unwrap_err().to_string();
        let shape = fmt_shape(&[2, 3, 4]);
        assert!(msg.contains("`a`") && msg.contains(&shape), "{name}: {msg}");
        let msg = product(&a, &b).unwrap_err().to_string();
        let shape = fmt_shape(&[5, 2]);
        assert!(msg.contains("`b`") && msg.contains(&shape), "{name}: {msg}");
    }

    let q = GpuTensor::upload(&Array4::<f32>::zeros((1, 2, 3, 8))).unwrap();
    let k = GpuTensor::upload(&Array4::<f32>::zeros((1, 2, 5, 4))).unwrap();
    let v = GpuTensor::upload(&Array4::<f32>::zeros((1, 2, 6, 8))).unwrap();
    for (name, attend) in TENSOR_ATTENTIONS {
        let msg = attend(&q, &k, &k, false).unwrap_err().to_string();
        assert!(
            msg.contains("`keys`") && msg.contains("d_k = 8"),
            "{name}: {msg}"
        );
        let msg = attend(&q, &q, &v, false).unwrap_err().to_string();
        let named = msg.contains("`values`") && msg.contains("src_len = 3");
        assert!(named, "{name}: {msg}");
        let msg = attend(&a, &q, &q, false).unwrap_err().to_string();
        assert!(msg.contains("`queries`"), "{name}: {msg}");
    }
}

/// Both attention kernels on GPU tensors (the flash ones and the simple one), for head
/// dimensions that are and are not multiples of four, on both sides of 64
/// (attention_flash.wgsl up to 64, attention_flash_wide.wgsl above), key counts that are not
/// multiples of the 32-key tiles, and causal masks with tgt_len ≠ src_len, against the CPU's
/// plain kernel.
#[test]
fn attention_on_tensors_matches_cpu() {
    let Some(_) = gpu_or_skip("attention_on_tensors_matches_cpu") else {
        return;
    };
    let mut rng = seeded_rng(3);
    for (tgt, src, d_k, d_v, causal) in [
        (1, 1, 1, 1, false),
        (65, 17, 7, 5, false),
        (130, 130, 64, 64, true),
        (70, 200, 128, 3, false),
        (129, 129, 33, 128, true),
        (33, 33, 64, 64, true),
        (100, 97, 63, 1, false),
        (40, 100, 64, 64, true),
        (100, 40, 1, 64, true),
        (31, 65, 65, 64, false),
        (64, 200, 64, 63, true),
        (3, 300, 17, 40, false),
    ] {
        let q: Array4<f32> = uniform((2, 3, tgt, d_k), 2.0, &mut rng);
        let k: Array4<f32> = uniform((2, 3, src, d_k), 2.0, &mut rng);
        let v: Array4<f32> = uniform((2, 3, src, d_v), 1.0, &mut rng);
        let [tq, tk, tv] = [&q, &k, &v].map(|x| GpuTensor::upload(x).unwrap());
        let cpu = attention_heads(&q, &k, &v, causal, Kernel::Plain).unwrap();
        for (name, attend) in TENSOR_ATTENTIONS {
            let out = attend(&tq, &tk, &tv, causal).unwrap();
            let got = out
                .download()
                .unwrap()
                .into_dimensionality::<Ix4>()
                .unwrap();
            let diff = max_abs_diff(&got, &cpu);
            assert!(
                diff <= 1e-5,
                "{name} ({tgt}, {src}, {d_k}, {d_v}, causal {causal}): max diff {diff}"
            );
        }
    }
}

/// A multi-head layer with random weights and biases (PyTorch's initialisation leaves the
/// biases zero, which would hide a missing bias).
fn random_layer(d_model: usize, heads: usize, seed: u64) -> MultiHeadAttention {
    let mut rng = seeded_rng(seed);
    let mut linear = || {
        let weight: Array2<f32> = uniform((d_model, d_model), 0.3, &mut rng);
        let bias: Array1<f32> = uniform(d_model, 0.5, &mut rng);
        Linear::new(weight, Some(bias)).unwrap()
    };
    let (w_q, w_k, w_v, out_proj) = (linear(), linear(), linear(), linear());
    MultiHeadAttention::new(heads, w_q, w_k, w_v, out_proj).unwrap()
}

#[test]
fn multi_head_on_the_gpu_matches_the_cpu_layer() {
    let Some(_) = gpu_or_skip("multi_head_on_the_gpu_matches_the_cpu_layer") else {
        return;
    };
    let mut rng = seeded_rng(4);
    for (d_model, heads, batch, tgt, src) in
        [(32, 4, 2, 70, 45), (30, 3, 1, 9, 130), (128, 2, 2, 65, 65)]
    {
        let layer = random_layer(d_model, heads, 5);
        let on_gpu = GpuMultiHeadAttention::new(&layer).unwrap();
        let x: Array3<f32> = uniform((batch, tgt, d_model), 1.0, &mut rng);
        let memory: Array3<f32> = uniform((batch, src, d_model), 1.0, &mut rng);
        let value: Array3<f32> = uniform((batch, src, d_model), 1.0, &mut rng);
        let label = format!("d_model {d_model}, {heads} heads, tgt {tgt}, src {src}");

        // Cross-attention, three different inputs.
        let cpu = layer.forward(&x, &memory, &value, None).unwrap().output;
        let got = on_gpu.forward_arrays(&x, &memory, &value, false).unwrap();
        let diff = max_abs_diff(&got, &cpu);
        assert!(diff <= 1e-5, "{label}, cross: max diff {diff}");

        // Causal self-attention: one upload for all three.
        let mask = Mask::causal(tgt).unwrap();
        let cpu = layer.forward(&x, &x, &x, Some(&mask)).unwrap().output;
        let got = on_gpu.forward_arrays(&x, &x, &x, true).unwrap();
        let diff = max_abs_diff(&got, &cpu);
        assert!(diff <= 1e-5, "{label}, causal self: max diff {diff}");
    }
}

#[test]
fn multi_head_on_the_gpu_rejects_bad_inputs() {
    let Some(_) = gpu_or_skip("multi_head_on_the_gpu_rejects_bad_inputs") else {
        return;
    };
    let on_gpu = GpuMultiHeadAttention::new(&random_layer(8, 2, 6)).unwrap();
    let x = Array3::<f32>::zeros((1, 3, 8));
    let msg = on_gpu
        .forward_arrays(&Array3::zeros((1, 3, 6)), &x, &x, false)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`query`") && msg.contains("d_model = 8"),
        "{msg}"
    );
    let msg = on_gpu
        .forward_arrays(&x, &x, &Array3::zeros((1, 4, 8)), false)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`value`") && msg.contains("src_len = 3"),
        "{msg}"
    );
    let msg = on_gpu
        .forward_arrays(&x, &Array3::zeros((2, 3, 8)), &x, false)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`key`") && msg.contains("batch = 1"), "{msg}");
}

/// An encoder layer with every parameter random (biases, LayerNorm's γ and β included).
fn random_encoder_layer(
    d_model: usize,
    heads: usize,
    d_ff: usize,
    norm_position: NormPosition,
    activation: Activation,
) -> EncoderLayer {
    let config = TransformerConfig {
        d_model,
        num_heads: heads,
        d_ff,
        num_encoder_layers: 1,
        num_decoder_layers: 1,
        norm_position,
    };
    let mut rng = seeded_rng(7);
    let mut layer = EncoderLayer::from_params(&Params::init(&mut rng), &config).unwrap();
    layer.self_attn = random_layer(d_model, heads, 8);
    let mut linear = |out: usize, inp: usize| {
        let weight: Array2<f32> = uniform((out, inp), 0.3, &mut rng);
        Linear::new(weight, Some(uniform(out, 0.5, &mut rng))).unwrap()
    };
    layer.feed_forward.linear1 = linear(d_ff, d_model);
    layer.feed_forward.linear2 = linear(d_model, d_ff);
    layer.feed_forward.activation = activation;
    for norm in [&mut layer.norm1, &mut layer.norm2] {
        norm.weight = uniform(d_model, 0.5, &mut rng) + 1.0;
        norm.bias = uniform(d_model, 0.5, &mut rng);
    }
    layer
}

#[test]
fn encoder_layer_on_the_gpu_matches_the_cpu_layer() {
    let Some(_) = gpu_or_skip("encoder_layer_on_the_gpu_matches_the_cpu_layer") else {
        return;
    };
    let mut rng = seeded_rng(9);
    for (norm_position, activation) in [
        (NormPosition::Post, Activation::Relu),
        (NormPosition::Pre, Activation::Gelu),
    ] {
        let layer = random_encoder_layer(48, 4, 70, norm_position, activation);
        let on_gpu = GpuEncoderLayer::new(&layer).unwrap();
        let x: Array3<f32> = uniform((2, 67, 48), 1.0, &mut rng);
        let cpu = layer.forward(&x, None).unwrap();
        let got = on_gpu.forward_array(&x).unwrap();
        let diff = max_abs_diff(&got, &cpu);
        assert!(
            diff <= 1e-5,
            "{norm_position:?}, {activation:?}: max diff {diff}"
        );
    }
}
