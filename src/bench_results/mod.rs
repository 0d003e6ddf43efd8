//! Measured speed: the benchmark results the book and notebook 8 show, read from
//! `benches/results.json`.
//!
//! `cargo xtask bench-torch` times the same shapes in PyTorch and in this crate (default
//! build and `--features blas`, and with `--gpu` the `gpu` feature's kernels on the adapter
//! it finds) on one machine, in one run, and writes that file; the book and notebook 8 only
//! read it. Times are medians in milliseconds (ms); a case's `flops` counts floating-point
//! operations (see [`crate::fast::attention_flops`]), so GFLOP/s = flops / ms / 10⁶; memory
//! is in megabytes (MB, 10⁶ bytes).
//!
//! - [`schema`]: what the file holds ([`BenchResults`] and its parts), read and checked by
//!   [`BenchResults::load`].
//! - [`rows`]: what the book's tables show: one [`RatioRow`] per case against PyTorch, one
//!   [`GpuRow`] per GPU case, in the book's order; the training steps (forward, backward and
//!   optimizer, [`TRAIN_STEP_GROUP`]) apart from chapter 8's forward-pass table.
//!
//! A module of its own rather than part of [`crate::fast`]: the xtask book generator, the
//! plots and the notebooks read the results without depending on chapter 8's kernels.
//!
//! ```
//! use attention::bench_results::BenchResults;
//!
//! let json = r#"{
//!   "machine": "2 cores, a test CPU", "threads": 2,
//!   "cases": [{"id": "sdpa/plain/full/512", "group": "sdpa", "kernel": "plain",
//!              "causal": false, "seq": 512, "batch": 1, "flops": 536870912,
//!              "torch_ms": 5.0, "default_ms": 10.0, "blas_ms": 4.0}]
//! }"#;
//! let results = BenchResults::from_json(json)?;
//! let row = &results.ratio_rows()[0];
//! assert_eq!(row.default_ratio, 2.0); // twice PyTorch's time
//! assert_eq!(row.blas_ratio, Some(0.8)); // faster than PyTorch
//! assert!((row.best_gflops - 134.2).abs() < 0.1); // 536870912 / 4 ms / 10⁶
//! # Ok::<(), attention::Error>(())
//! ```

pub mod rows;
pub mod schema;

pub use rows::{GpuRow, RatioRow, SENTENCES_GROUP, TRAIN_STEP_GROUP, gflops};
pub use schema::{Backends, BenchCase, BenchResults, GpuCase, GpuRun, LongSequence, RESULTS_PATH};

/// The results of the tests: two plain sdpa cases without a mask, one causal without a blas
/// time, a multi-head case, a training step and a long sequence; no fp32 peak, no GPU run.
#[cfg(test)]
const TEST_JSON: &str = r#"{
  "generated_by": "cargo xtask bench-torch",
  "date": "2026-11-23",
  "machine": "2 cores, test CPU",
  "threads": 2,
  "torch_version": "2.5.1",
  "backends": {"default": "matrixmultiply", "blas": "OpenBLAS"},
  "cases": [
    {"id": "sdpa/plain/full/1024", "group": "sdpa", "kernel": "plain", "causal": false,
     "seq": 1024, "batch": 1, "flops": 2147483648,
     "torch_ms": 20.0, "default_ms": 40.0, "blas_ms": 25.0},
    {"id": "sdpa/plain/full/512", "group": "sdpa", "kernel": "plain", "causal": false,
     "seq": 512, "batch": 1, "flops": 536870912,
     "torch_ms": 5.0, "default_ms": 10.0, "blas_ms": 4.0},
    {"id": "sdpa/plain/causal/512", "group": "sdpa", "kernel": "plain", "causal": true,
     "seq": 512, "batch": 1, "flops": 268435456, "torch_ms": 4.0, "default_ms": 2.0},
    {"id": "multi_head/batch/8", "group": "multi_head", "kernel": null, "causal": false,
     "seq": 512, "batch": 8, "flops": 12884901888,
     "torch_ms": 150.0, "default_ms": 244.7, "blas_ms": 182.8},
    {"id": "train_step/copy", "group": "train_step", "kernel": null, "causal": false,
     "seq": 12, "batch": 64, "flops": 201326592,
     "torch_ms": 40.0, "default_ms": 20.0, "blas_ms": 10.0}
  ],
  "long_sequence": {"seq": 16384, "heads": 8, "head_dim": 64,
    "kernel": "memory_efficient", "seconds": 9.1, "peak_rss_mb": 180.0,
    "plain_weights_gb": 8.6}
}"#;
