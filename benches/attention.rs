//! `cargo bench`: the shapes of chapter 8's table, for whichever features are enabled
//! (`cargo bench --features blas` for OpenBLAS; `--features gpu` adds the `gpu/...` cases,
//! which run on the adapter it prints). `cargo xtask bench-torch` runs these and the
//! same shapes in PyTorch and prints the ratio table.
//!
//! Throughput is reported in "elements" = floating-point operations, so criterion's
//! `Gelem/s` reads as GFLOP/s. A training step (`train_step/...`) counts 3 × its forward's
//! FLOPs: the backward multiplies by every weight and every input once more each; the
//! loss, clipping and optimizer's element-wise work is not counted. `sentences/minilm/64`
//! (chapter 11) needs the pretrained model that `cargo xtask setup` installs.

use std::hint::black_box;

use attention::backend;
use attention::bert::SentenceEncoder;
use attention::bert::data::course_sentences;
use attention::bert::tokenizer::MAX_LEN;
use attention::embedding::PAD_ID;
use attention::fast::{Kernel, attention_heads};
use attention::gradients::Gradients;
use attention::masked::Mask;
use attention::multi_head::MultiHeadAttention;
use attention::ndarray::{Array3, Array4};
use attention::nn::init::uniform;
use attention::nn::{Train, seeded_rng};
use attention::params::Params;
use attention::train::optim::{AdamW, Optimizer};
use attention::train::tasks::SymbolTask;
use attention::train::trainer::{Batch, Example, Trainer};
use attention::transformer::{EncoderLayer, NormPosition, Seq2SeqTransformer, TransformerConfig};
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};

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

/// FLOPs of one encoder layer's forward on `seq` positions (batch 1): the four attention
/// projections, attention itself, the two feed-forward products.
fn encoder_layer_flops(seq: usize, d_model: usize, d_ff: usize) -> usize {
    4 * 2 * seq * d_model * d_model + 4 * seq * seq * d_model + 2 * 2 * seq * d_model * d_ff
}

/// FLOPs of one decoder layer's forward on `tgt` positions reading `src` of memory (batch
/// 1): self-attention as in the encoder, cross-attention (Q and output projections on the
/// target, K and V on the memory, tgt × src scores), the feed-forward.
fn decoder_layer_flops(tgt: usize, src: usize, d_model: usize, d_ff: usize) -> usize {
    let self_attn = 4 * 2 * tgt * d_model * d_model + 4 * tgt * tgt * d_model;
    let cross = 2 * 2 * (tgt + src) * d_model * d_model + 4 * tgt * src * d_model;
    self_attn + cross + 2 * 2 * tgt * d_model * d_ff
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
    (layer, x, encoder_layer_flops(seq, D_MODEL, d_ff) as u64)
}

/// The copy task's model and trainer (chapter 9's recipe, dropout 0) and a batch of 64 of its
/// examples, `src (64, 12)`, decoder input and labels `(64, 11)`, with the step's FLOPs.
fn copy_task_inputs() -> (Seq2SeqTransformer, Trainer, Batch, u64) {
    let task = SymbolTask::Copy;
    let config = task.model_config();
    let t = config.transformer;
    let model = Seq2SeqTransformer::from_params(&Params::seeded(0), config).unwrap();
    let trainer = Trainer::new(task.train_config(0), t.d_model, PAD_ID).unwrap();
    let examples = task.examples(64, 0);
    let refs: Vec<&Example> = examples.iter().collect();
    let batch = Batch::new(&refs, PAD_ID).unwrap();
    // torch_baseline.py pads its batch to these lengths: the longest example has 10 symbols.
    assert_eq!((batch.src.dim(), batch.tgt_in.dim()), ((64, 12), (64, 11)));
    let ((b, src), tgt) = (batch.src.dim(), batch.tgt_in.ncols());
    let forward = t.num_encoder_layers * encoder_layer_flops(src, t.d_model, t.d_ff)
        + t.num_decoder_layers * decoder_layer_flops(tgt, src, t.d_model, t.d_ff)
        + 2 * tgt * t.d_model * config.tgt_vocab_size; // the generator
    (model, trainer, batch, (3 * b * forward) as u64)
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

/// One training step (forward in train mode, loss, backward, AdamW), the crate against
/// `torch.optim` and autograd: chapter 9's copy-task model on a batch of 64
/// (`Trainer::step`: label-smoothed cross-entropy, gradients clipped to norm 1), and the
/// encoder layer above with loss = Σ out ⊙ r for a fixed random r (so ∂L/∂out = r).
/// Ids: `train_step/copy`, `train_step/encoder_layer/512`.
fn train_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("train_step");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat); // long steps: the same number of runs per sample
    let (mut model, mut trainer, batch, flops) = copy_task_inputs();
    group.throughput(Throughput::Elements(flops));
    group.bench_function("copy", |b| {
        b.iter(|| trainer.step(&mut model, black_box(&batch)).unwrap())
    });

    let (mut layer, x, flops) = encoder_layer_inputs();
    let r = uniform(x.dim(), 1.0, &mut seeded_rng(3)); // ∂L/∂out
    let mut adamw = AdamW::with_lr(1e-3).unwrap();
    group.throughput(Throughput::Elements(3 * flops));
    group.bench_function(BenchmarkId::new("encoder_layer", x.shape()[1]), |b| {
        b.iter(|| {
            let mut train = Train::new(0.0, 0).unwrap();
            let (_, cache) = layer
                .forward_train(black_box(&x), None, &mut train)
                .unwrap();
            let mut grads = Gradients::new();
            layer.backward(&cache, &r, &mut grads, "").unwrap(); // returns ∂L/∂x
            adamw.step(&mut layer, &grads).unwrap();
        })
    });
    group.finish();
}

/// The same shapes on the GPU (feature `gpu`): the fused attention kernel (FlashAttention-2
/// style, `Kernel::Gpu`), then multi-head attention and the encoder layer with every matrix
/// product on the GPU (`set_device`: the register-blocked kernel, one upload and read-back
/// per product). Ids: `gpu/sdpa/{full,causal}/n`, `gpu/multi_head/batch/b`,
/// `gpu/encoder_layer/seq/512`; `cargo xtask bench-torch --gpu` records these.
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

/// The GPU kernels against each other (feature `gpu`; not recorded by `bench-torch`):
/// `gpu_kernels/sdpa_{simple,flash}/{full,causal}/n`, `gpu_kernels/matmul_{tiled,blocked}/1024`,
/// `gpu_kernels/{multi_head_resident/batch/b,encoder_layer_resident/seq/512}` (one upload and
/// one read-back for the whole layer, against `gpu/multi_head/batch/b`'s and
/// `gpu/encoder_layer/seq/512`'s per-product copies) and `gpu_kernels/call/8`
/// (an 8 × 8 product: the fixed cost of one call). `cargo bench --features gpu -- gpu_kernels`.
#[cfg(feature = "gpu")]
fn gpu_kernels(c: &mut Criterion) {
    use attention::gpu::{self, GpuMultiHeadAttention};
    if let Err(e) = gpu::Gpu::get() {
        return eprintln!("no GPU benchmarks: {e}");
    }
    let mut group = c.benchmark_group("gpu_kernels");
    group.sample_size(10);
    for seq in [512, 2048] {
        let (q, k, v) = sdpa_inputs(seq);
        for causal in [false, true] {
            group.throughput(Throughput::Elements(sdpa_flops(seq, causal)));
            let mask = if causal { "causal" } else { "full" };
            group.bench_function(BenchmarkId::new(format!("sdpa_simple/{mask}"), seq), |b| {
                b.iter(|| gpu::attention_heads_simple(black_box(&q), &k, &v, causal).unwrap())
            });
            group.bench_function(BenchmarkId::new(format!("sdpa_flash/{mask}"), seq), |b| {
                b.iter(|| gpu::attention_heads(black_box(&q), &k, &v, causal).unwrap())
            });
        }
    }
    let n = 1024;
    let mut rng = seeded_rng(3);
    let a: attention::ndarray::Array2<f32> = uniform((n, n), 1.0, &mut rng);
    let b: attention::ndarray::Array2<f32> = uniform((n, n), 1.0, &mut rng);
    group.throughput(Throughput::Elements((2 * n * n * n) as u64));
    group.bench_function(BenchmarkId::new("matmul_tiled", n), |bench| {
        bench.iter(|| gpu::matmul_tiled(black_box(&a), &b).unwrap())
    });
    group.bench_function(BenchmarkId::new("matmul_blocked", n), |bench| {
        bench.iter(|| gpu::matmul(black_box(&a), &b).unwrap())
    });
    for batch in [1, 8] {
        let (mha, x, flops) = multi_head_inputs(batch);
        let on_gpu = GpuMultiHeadAttention::new(&mha).unwrap();
        group.throughput(Throughput::Elements(flops));
        let id = BenchmarkId::new("multi_head_resident/batch", batch);
        group.bench_function(id, |b| {
            b.iter(|| on_gpu.forward_arrays(black_box(&x), &x, &x, false).unwrap())
        });
    }
    let (layer, x, flops) = encoder_layer_inputs();
    let on_gpu = gpu::GpuEncoderLayer::new(&layer).unwrap();
    group.throughput(Throughput::Elements(flops));
    let id = BenchmarkId::new("encoder_layer_resident/seq", x.shape()[1]);
    group.bench_function(id, |b| {
        b.iter(|| on_gpu.forward_array(black_box(&x)).unwrap())
    });
    let small: attention::ndarray::Array2<f32> = uniform((8, 8), 1.0, &mut rng);
    group.throughput(Throughput::Elements(2 * 8 * 8 * 8));
    group.bench_function(BenchmarkId::new("call", 8), |b| {
        b.iter(|| gpu::matmul(black_box(&small), &small).unwrap())
    });
    group.finish();
}

/// The 64 texts of `sentences/minilm/64`: the course's sentences (chapter 11) in file order,
/// from the first again once they run out (torch_baseline.py takes the same).
fn bench_texts() -> Vec<String> {
    let course = course_sentences().unwrap();
    (0..64)
        .map(|i| course[i % course.len()].1.clone())
        .collect()
}

/// Sentence embeddings of 64 sentences with all-MiniLM-L6-v2 (chapter 11),
/// tokenizer, pooling and normalisation included, against sentence-transformers'
/// `encode(texts, batch_size=64)`. FLOPs: every layer's products on the 64 texts padded as
/// one batch, as PyTorch runs them (the crate's batches of 8 pad less, so it does fewer).
/// Needs the model (`cargo xtask setup`).
fn sentences(c: &mut Criterion) {
    let encoder = SentenceEncoder::load().expect("all-MiniLM-L6-v2 (run `cargo xtask setup`)");
    let texts = bench_texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let batch = encoder.tokenizer.encode_batch(&refs, MAX_LEN).unwrap();
    let (b, seq) = batch.ids.dim(); // padded to the longest
    let config = &encoder.bert.config;
    let layer = encoder_layer_flops(seq, config.hidden_size, config.intermediate_size);
    let flops = (b * config.num_hidden_layers * layer) as u64;
    let mut group = c.benchmark_group("sentences");
    group.sample_size(10);
    group.throughput(Throughput::Elements(flops));
    group.bench_function(BenchmarkId::new("minilm", b), |bench| {
        bench.iter(|| encoder.encode(black_box(&refs)).unwrap())
    });
    group.finish();
}

/// Criterion's defaults, in a process that keeps the memory each call frees for the next
/// (`kernels::keep_freed_memory`, as the training binaries do; `bench-torch` gives PyTorch
/// the same `malloc` settings).
fn configured() -> Criterion {
    attention::kernels::keep_freed_memory();
    Criterion::default()
}

#[cfg(not(feature = "gpu"))]
criterion_group! {
    name = benches;
    config = configured();
    targets = sdpa, multi_head, encoder_layer, train_step, sentences
}
#[cfg(feature = "gpu")]
criterion_group! {
    name = benches;
    config = configured();
    targets = sdpa, multi_head, encoder_layer, train_step, sentences, gpu, gpu_kernels
}
criterion_main!(benches);
