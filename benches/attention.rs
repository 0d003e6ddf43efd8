//! `cargo bench`: the shapes of chapter 8's table, for whichever features are enabled
//! (`cargo bench --features blas` for OpenBLAS; `--features gpu` adds the `gpu/...` cases,
//! which run on the adapter it prints). `cargo xtask bench-torch` runs these and the
//! same shapes in PyTorch and prints the ratio table.
//!
//! Throughput is reported in "elements" = floating-point operations, so criterion's
//! `Gelem/s` reads as GFLOP/s.

use std::hint::black_box;

use attention::backend;
use attention::fast::{Kernel, attention_heads};
use attention::masked::Mask;
use attention::multi_head::MultiHeadAttention;
use attention::ndarray::{Array3, Array4};
use attention::nn::init::uniform;
use attention::nn::seeded_rng;
use attention::params::Params;
use attention::transformer::{EncoderLayer, NormPosition, TransformerConfig};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const HEADS: usize = 8;
const HEAD_DIM: usize = 64;
const D_MODEL: usize = 512;

/// Queries, keys and values `(1, 8, seq, 64)`: batch 1, 8 heads of 64.
fn sdpa_inputs(seq: usize) -> (Array4<f32>, Array4<f32>, Array4<f32>) {
    let mut rng = seeded_rng(0);
    let shape = (1, HEADS, seq, HEAD_DIM); // (batch, heads, seq, head_dim)
    let q = uniform(shape, 1.0, &mut rng);
    let k = uniform(shape, 1.0, &mut rng);
    let v = uniform(shape, 1.0, &mut rng);
    (q, k, v)
}

/// 4·n²·d per head (QKᵀ and weights·V); a causal mask needs half of it.
fn sdpa_flops(seq: usize, causal: bool) -> u64 {
    (4 * seq * seq * HEAD_DIM * HEADS / if causal { 2 } else { 1 }) as u64
}

/// Multi-head attention d_model 512 and its input `(batch, 512, 512)`, with its FLOPs.
fn multi_head_inputs(batch: usize) -> (MultiHeadAttention, Array3<f32>, u64) {
    let seq = 512;
    let mut rng = seeded_rng(1);
    let mha = MultiHeadAttention::from_params(&Params::init(&mut rng), D_MODEL, HEADS).unwrap();
    let x = uniform((batch, seq, D_MODEL), 1.0, &mut rng); // (batch, seq, d_model)
    let projections = 4 * 2 * seq * D_MODEL * D_MODEL; // W_q, W_k, W_v, out_proj
    let attention = 4 * seq * seq * D_MODEL;
    (mha, x, (batch * (projections + attention)) as u64)
}

/// A post-LN encoder layer (d_model 512, 8 heads, d_ff 2048) and its input `(1, 512, 512)`.
fn encoder_layer_inputs() -> (EncoderLayer, Array3<f32>, u64) {
    let (seq, d_ff) = (512, 2048);
    let config = TransformerConfig {
        d_model: D_MODEL,
        num_heads: HEADS,
        d_ff,
        num_encoder_layers: 1,
        num_decoder_layers: 1,
        norm_position: NormPosition::Post,
    };
    let mut rng = seeded_rng(2);
    let layer = EncoderLayer::from_params(&Params::init(&mut rng), &config).unwrap();
    let x = uniform((1, seq, D_MODEL), 1.0, &mut rng); // (batch, seq, d_model)
    let flops =
        4 * 2 * seq * D_MODEL * D_MODEL + 4 * seq * seq * D_MODEL + 2 * 2 * seq * D_MODEL * d_ff;
    (layer, x, flops as u64)
}

/// Scaled dot-product attention, batch 1, 8 heads of 64: both kernels, full and causal.
fn sdpa(c: &mut Criterion) {
    println!("matrix products: {}", backend::name());
    let mut group = c.benchmark_group("sdpa");
    group.sample_size(10);
    for seq in [512, 1024, 2048] {
        let (q, k, v) = sdpa_inputs(seq);
        for causal in [false, true] {
            group.throughput(Throughput::Elements(sdpa_flops(seq, causal)));
            for (kernel, name) in [
                (Kernel::Plain, "plain"),
                (Kernel::MemoryEfficient, "memory_efficient"),
            ] {
                let mask = if causal { "causal" } else { "full" };
                let id = BenchmarkId::new(format!("{name}/{mask}"), seq);
                group.bench_with_input(id, &seq, |b, _| {
                    b.iter(|| attention_heads(black_box(&q), &k, &v, causal, kernel).unwrap())
                });
            }
        }
    }
    group.finish();
}

/// `MultiHeadAttention::forward` (with its weights, like PyTorch's default), d_model 512.
fn multi_head(c: &mut Criterion) {
    let mut group = c.benchmark_group("multi_head");
    group.sample_size(10);
    for batch in [1, 8] {
        let (mha, x, flops) = multi_head_inputs(batch);
        group.throughput(Throughput::Elements(flops));
        group.bench_with_input(BenchmarkId::new("batch", batch), &batch, |b, _| {
            b.iter(|| mha.forward(black_box(&x), &x, &x, None).unwrap())
        });
    }
    group.finish();
}

/// One post-LN encoder layer, d_model 512, 8 heads, d_ff 2048, seq 512, batch 1.
fn encoder_layer(c: &mut Criterion) {
    let mut group = c.benchmark_group("encoder_layer");
    group.sample_size(10);
    let (layer, x, flops) = encoder_layer_inputs();
    group.throughput(Throughput::Elements(flops));
    group.bench_function(BenchmarkId::new("seq", x.shape()[1]), |b| {
        b.iter(|| layer.forward(black_box(&x), None::<&Mask>).unwrap())
    });
    group.finish();
}

/// The same shapes on the GPU (feature `gpu`): the fused attention kernel, then multi-head
/// attention and the encoder layer with every matrix product on the GPU (`set_device`).
/// Ids: `gpu/sdpa/{full,causal}/n`, `gpu/multi_head/batch/b`, `gpu/encoder_layer/seq/512`.
#[cfg(feature = "gpu")]
fn gpu(c: &mut Criterion) {
    use attention::backend::Device;
    let adapter = match attention::gpu::Gpu::get() {
        Ok(gpu) => gpu.adapter_name(),
        Err(e) => return eprintln!("no GPU benchmarks: {e}"),
    };
    println!("GPU adapter: {adapter}");
    let mut group = c.benchmark_group("gpu");
    group.sample_size(10);
    for seq in [512, 1024, 2048] {
        let (q, k, v) = sdpa_inputs(seq);
        for causal in [false, true] {
            group.throughput(Throughput::Elements(sdpa_flops(seq, causal)));
            let mask = if causal { "causal" } else { "full" };
            let id = BenchmarkId::new(format!("sdpa/{mask}"), seq);
            group.bench_with_input(id, &seq, |b, _| {
                b.iter(|| attention_heads(black_box(&q), &k, &v, causal, Kernel::Gpu).unwrap())
            });
        }
    }
    backend::set_device(Device::Gpu).unwrap();
    for batch in [1, 8] {
        let (mha, x, flops) = multi_head_inputs(batch);
        group.throughput(Throughput::Elements(flops));
        group.bench_with_input(
            BenchmarkId::new("multi_head/batch", batch),
            &batch,
            |b, _| b.iter(|| mha.forward(black_box(&x), &x, &x, None).unwrap()),
        );
    }
    let (layer, x, flops) = encoder_layer_inputs();
    group.throughput(Throughput::Elements(flops));
    group.bench_function(BenchmarkId::new("encoder_layer/seq", x.shape()[1]), |b| {
        b.iter(|| layer.forward(black_box(&x), None::<&Mask>).unwrap())
    });
    backend::set_device(Device::Cpu).unwrap();
    group.finish();
}

#[cfg(not(feature = "gpu"))]
criterion_group!(benches, sdpa, multi_head, encoder_layer);
#[cfg(feature = "gpu")]
criterion_group!(benches, sdpa, multi_head, encoder_layer, gpu);
criterion_main!(benches);
