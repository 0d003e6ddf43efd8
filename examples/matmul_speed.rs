//! Times one 1024³ product through `backend::matmul` (GFLOP/s of the active backend).
use attention::backend::{matmul, name};
use attention::ndarray::Array2;
use attention::nn::{init::uniform, seeded_rng};

fn main() {
    let n = 1024;
    let mut rng = seeded_rng(0);
    let a: Array2<f32> = uniform((n, n), 1.0, &mut rng);
    let b: Array2<f32> = uniform((n, n), 1.0, &mut rng);
    let _ = matmul(&a, &b); // warm up
    let runs = 10;
    let start = std::time::Instant::now();
    for _ in 0..runs {
        std::hint::black_box(matmul(&a, &b));
    }
    let secs = start.elapsed().as_secs_f64() / runs as f64;
    let gflops = 2.0 * (n * n * n) as f64 / secs / 1e9;
    println!(
        "{}: {n}³ in {:.1} ms, {gflops:.0} GFLOP/s",
        name(),
        secs * 1e3
    );
}
