//! Prints the GPU adapter the `gpu` feature finds and checks its kernels against the CPU once.
//!
//! `cargo run --release --features gpu --example gpu_info`

use attention::backend;
use attention::fast::{Kernel, attention_heads};
use attention::gpu::Gpu;
use attention::ndarray::Array4;
use attention::nn::{init::uniform, seeded_rng};

fn main() -> attention::Result<()> {
    let gpu = Gpu::get()?;
    println!("adapter: {}", gpu.adapter_name());
    let mut rng = seeded_rng(0);
    let shape = (2, 4, 200, 64); // (batch, heads, seq, d_k)
    let q: Array4<f32> = uniform(shape, 1.0, &mut rng);
    let k: Array4<f32> = uniform(shape, 1.0, &mut rng);
    let v: Array4<f32> = uniform(shape, 1.0, &mut rng);
    for causal in [false, true] {
        let cpu = attention_heads(&q, &k, &v, causal, Kernel::Plain)?;
        let gpu_out = attention_heads(&q, &k, &v, causal, Kernel::Gpu)?;
        let diff = (&cpu - &gpu_out)
            .mapv(f32::abs)
            .fold(0.0_f32, |m, &x| m.max(x));
        println!("attention causal={causal}: max |gpu - cpu| = {diff:.2e}");
    }
    let a: attention::ndarray::Array2<f32> = uniform((300, 70), 1.0, &mut rng);
    let b: attention::ndarray::Array2<f32> = uniform((90, 70), 1.0, &mut rng);
    let cpu = backend::matmul(&a, &b.t());
    let gpu_out = attention::gpu::matmul(&a, &b.t())?;
    let diff = (&cpu - &gpu_out)
        .mapv(f32::abs)
        .fold(0.0_f32, |m, &x| m.max(x));
    println!("matmul: max |gpu - cpu| = {diff:.2e}");
    Ok(())
}
