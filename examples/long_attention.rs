//! Memory-efficient attention on a long sequence: 8 heads of 64 at seq 16384 (batch 1).
//!
//! The plain path would need 8 × 16384² × 4 bytes = 8.6 GB for the weights alone; this one
//! keeps a tile of scores per thread. Prints the time and the peak resident memory of the
//! whole process as JSON (`cargo xtask bench-torch` records it).
//!
//! `cargo run --release --example long_attention [SEQ]`

use attention::fast::{Kernel, attention_heads};
use attention::ndarray::Array4;
use attention::nn::{init::uniform, seeded_rng};

fn main() {
    let seq: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("SEQ is a number"))
        .unwrap_or(16384);
    let (heads, head_dim) = (8, 64);
    let mut rng = seeded_rng(0);
    let shape = (1, heads, seq, head_dim); // (batch, heads, seq, head_dim)
    let q: Array4<f32> = uniform(shape, 1.0, &mut rng);
    let k: Array4<f32> = uniform(shape, 1.0, &mut rng);
    let v: Array4<f32> = uniform(shape, 1.0, &mut rng);
    let start = std::time::Instant::now();
    let out = attention_heads(&q, &k, &v, false, Kernel::MemoryEfficient).expect("shapes");
    let seconds = start.elapsed().as_secs_f64();
    assert!(out.iter().all(|x| x.is_finite()));
    let plain_weights_gb = (heads * seq * seq * 4) as f64 / 1e9;
    println!(
        "{{\"seq\": {seq}, \"heads\": {heads}, \"head_dim\": {head_dim}, \"kernel\": \"memory_efficient\", \
         \"seconds\": {seconds:.2}, \"peak_rss_mb\": {:.1}, \"plain_weights_gb\": {plain_weights_gb:.1}}}",
        peak_rss_mb()
    );
}

/// Peak resident memory of this process (`VmHWM` in /proc/self/status), in MB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb * 1024.0 / 1e6)
}
