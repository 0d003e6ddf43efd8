//! The GPU measurement of chapter 8 in one program: the `gpu` feature's kernels on a real GPU,
//! with the CPU build on the same machine alongside, written as JSON for
//! `benches/gpu_torch.py`, which adds PyTorch on the same GPU and writes the file chapter 8's
//! table is generated from (`benches/gpu_fast.json`).
//!
//! `cargo run --release --features gpu --example gpu_bench -- crate.json [largest n]`
//!
//! On a GPU machine without a Rust toolchain or a Vulkan loader (as the lent H200 was): build
//! the binary elsewhere (it needs no newer glibc than Debian 12's), unpack Debian's
//! `libvulkan1`, `libglvnd0`, `libegl1`, `libgl1`, `libglx0`, `libopengl0` and `libgles2`
//! there (`dpkg -x` each, then `ldconfig`; with `libvulkan1` alone NVIDIA's driver did not
//! load), point `VK_DRIVER_FILES` at the driver's `nvidia_icd.json`, and run it beside
//! `benches/gpu_torch.py`.
//!
//! Every case is b1 h8 d64 attention, a square product or a d_model 512 layer, as in
//! `benches/attention.rs`. "resident" cases keep inputs and output on the GPU (the kernel
//! alone, like PyTorch on CUDA tensors); "with copies" cases upload their inputs and read the
//! result back, as a caller with CPU arrays pays. Each time is the mean of enough calls to
//! take about half a second, after one warm-up call.

use std::time::Instant;

use attention::gpu::{self, Gpu, GpuEncoderLayer, GpuMultiHeadAttention, GpuTensor};
use attention::masked::Mask;
use attention::multi_head::MultiHeadAttention;
use attention::ndarray::{Array2, Array3, Array4};
use attention::nn::init::uniform;
use attention::nn::seeded_rng;
use attention::params::Params;
use attention::transformer::{EncoderLayer, NormPosition, TransformerConfig};

const HEADS: usize = 8;
const HEAD_DIM: usize = 64;
const D_MODEL: usize = 512;
const D_FF: usize = 2048;

/// One measured case: its name, the size it varies, the milliseconds per call and its FLOPs.
struct Row {
    case: String,
    n: usize,
    ms: f64,
    flops: f64,
}

impl Row {
    fn json(&self) -> String {
        let gflops = self.flops / (self.ms * 1e6);
        format!(
            r#"{{"case": "{}", "n": {}, "flops": {:.0}, "crate_ms": {:.4}, "crate_gflops": {:.1}}}"#,
            self.case, self.n, self.flops, self.ms, gflops
        )
    }
}

/// Milliseconds per call of `f`: one warm-up call, then as many as take about `budget_s`
/// (3 to 200), then `Gpu::wait` so that queued kernels are counted.
fn time_ms(budget_s: f64, mut f: impl FnMut()) -> f64 {
    let gpu = Gpu::get().expect("checked in main");
    f();
    gpu.wait().expect("GPU");
    let start = Instant::now();
    f();
    gpu.wait().expect("GPU");
    let once = start.elapsed().as_secs_f64();
    let calls = ((budget_s / once) as usize).clamp(3, 200);
    let start = Instant::now();
    for _ in 0..calls {
        f();
    }
    gpu.wait().expect("GPU");
    start.elapsed().as_secs_f64() * 1e3 / calls as f64
}

fn sdpa_flops(n: usize, causal: bool) -> f64 {
    (4 * n * n * HEAD_DIM * HEADS) as f64 / if causal { 2.0 } else { 1.0 }
}

fn encoder_flops(n: usize) -> f64 {
    (4 * 2 * n * D_MODEL * D_MODEL + 4 * n * n * D_MODEL + 2 * 2 * n * D_MODEL * D_FF) as f64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args.next().unwrap_or_else(|| "crate.json".into());
    // A smaller largest size for a quick check on a software adapter: `-- out.json 512`.
    let max_n: usize = args.next().map_or(Ok(16384), |s| s.parse())?;
    let gpu = Gpu::get()?;
    let adapter = gpu.adapter_name();
    eprintln!("adapter: {adapter}");
    let mut rows = Vec::new();
    let mut push = |case: &str, n: usize, ms: f64, flops: f64| {
        let row = Row {
            case: case.into(),
            n,
            ms,
            flops,
        };
        eprintln!("{}", row.json());
        rows.push(row);
    };
    let mut rng = seeded_rng(0);

    // The fixed cost of one call: an 8 × 8 product with upload and read-back.
    let small: Array2<f32> = uniform((8, 8), 1.0, &mut rng);
    let ms = time_ms(0.3, || drop(gpu::matmul(&small, &small).unwrap()));
    push("call 8x8 (with copies)", 8, ms, 1024.0);

    // Square products.
    for n in [1024, 2048, 4096]
        .into_iter()
        .filter(|&n| n <= max_n.max(1024))
    {
        let a: Array2<f32> = uniform((n, n), 1.0, &mut rng);
        let b: Array2<f32> = uniform((n, n), 1.0, &mut rng);
        let flops = 2.0 * (n as f64).powi(3);
        let (ga, gb) = (GpuTensor::upload(&a)?, GpuTensor::upload(&b)?);
        let ms = time_ms(0.5, || drop(gpu::matmul_tensors(&ga, &gb).unwrap()));
        push("matmul blocked (resident)", n, ms, flops);
        if n != 2048 {
            let ms = time_ms(0.5, || drop(gpu::matmul(&a, &b).unwrap()));
            push("matmul blocked (with copies)", n, ms, flops);
            let ms = time_ms(0.5, || drop(gpu::matmul_tiled_tensors(&ga, &gb).unwrap()));
            push("matmul simple (resident)", n, ms, flops);
        }
    }

    // Attention, b1 h8 d64.
    for n in [512, 1024, 2048, 4096, 8192, 16384]
        .into_iter()
        .filter(|&n| n <= max_n)
    {
        let shape = (1, HEADS, n, HEAD_DIM);
        let q: Array4<f32> = uniform(shape, 1.0, &mut rng);
        let k: Array4<f32> = uniform(shape, 1.0, &mut rng);
        let v: Array4<f32> = uniform(shape, 1.0, &mut rng);
        let (gq, gk, gv) = (
            GpuTensor::upload(&q)?,
            GpuTensor::upload(&k)?,
            GpuTensor::upload(&v)?,
        );
        for causal in [false, true] {
            let mask = if causal { "causal" } else { "full" };
            let flops = sdpa_flops(n, causal);
            let ms = time_ms(0.5, || {
                drop(gpu::attention_tensors(&gq, &gk, &gv, causal).unwrap())
            });
            push(&format!("sdpa flash {mask} (resident)"), n, ms, flops);
            if n == 512 {
                let ms = time_ms(0.5, || {
                    drop(gpu::attention_heads(&q, &k, &v, causal).unwrap())
                });
                push(&format!("sdpa flash {mask} (with copies)"), n, ms, flops);
            }
            if n == 2048 || n == 16384 {
                let ms = time_ms(0.5, || {
                    drop(gpu::attention_tensors_simple(&gq, &gk, &gv, causal).unwrap())
                });
                push(&format!("sdpa simple {mask} (resident)"), n, ms, flops);
            }
        }
    }

    // Multi-head attention d_model 512, n = 512, batch 1 and 8: one upload, one read-back.
    let mut init_rng = seeded_rng(1);
    let params = Params::init(&mut init_rng);
    let mha = MultiHeadAttention::from_params(&params, D_MODEL, HEADS)?;
    let on_gpu = GpuMultiHeadAttention::new(&mha)?;
    for batch in [1, 8] {
        let x: Array3<f32> = uniform((batch, 512, D_MODEL), 1.0, &mut rng);
        let flops = (batch * (4 * 2 * 512 * D_MODEL * D_MODEL + 4 * 512 * 512 * D_MODEL)) as f64;
        let ms = time_ms(0.5, || {
            drop(on_gpu.forward_arrays(&x, &x, &x, false).unwrap())
        });
        push("multi-head attention gpu (with copies)", batch, ms, flops);
        let ms = time_ms(0.5, || {
            drop(mha.forward(&x, &x, &x, None::<&Mask>).unwrap())
        });
        push("multi-head attention cpu", batch, ms, flops);
    }

    // The post-LN encoder layer, d_model 512, 8 heads, d_ff 2048, batch 1.
    let config = TransformerConfig {
        d_model: D_MODEL,
        num_heads: HEADS,
        d_ff: D_FF,
        num_encoder_layers: 1,
        num_decoder_layers: 1,
        norm_position: NormPosition::Post,
    };
    let mut init_rng = seeded_rng(2);
    let params = Params::init(&mut init_rng);
    let layer = EncoderLayer::from_params(&params, &config)?;
    let on_gpu = GpuEncoderLayer::new(&layer)?;
    for n in [128, 512, 1024, 2048].into_iter().filter(|&n| n <= max_n) {
        let x: Array3<f32> = uniform((1, n, D_MODEL), 1.0, &mut rng);
        let ms = time_ms(0.5, || drop(on_gpu.forward_array(&x).unwrap()));
        push("encoder layer gpu (with copies)", n, ms, encoder_flops(n));
        let ms = time_ms(0.5, || drop(layer.forward(&x, None::<&Mask>).unwrap()));
        push("encoder layer cpu", n, ms, encoder_flops(n));
    }

    let threads = rayon_threads();
    let body: Vec<String> = rows.iter().map(|r| format!("    {}", r.json())).collect();
    let json = format!(
        "{{\n  \"adapter\": \"{adapter}\",\n  \"cpu_threads\": {threads},\n  \"rows\": [\n{}\n  ]\n}}\n",
        body.join(",\n")
    );
    std::fs::write(&out, json)?;
    eprintln!("wrote {out}");
    Ok(())
}

/// The CPU threads the crate's parallel loops use on this machine.
fn rayon_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
