//! Measured speed: the benchmark results chapter 8 shows, read from `benches/results.json`.
//!
//! `cargo xtask bench-torch` times the same shapes in PyTorch and in this crate (default
//! build and `--features blas`, and with `--gpu` the `gpu` feature's kernels on the adapter
//! it finds) on one machine, in one run, and writes that file; the book
//! and notebook 8 only read it. Times are medians in milliseconds (ms); a case's `flops`
//! counts floating-point operations (see [`crate::fast::attention_flops`]), so
//! GFLOP/s = flops / ms / 10⁶; memory is in megabytes (MB, 10⁶ bytes).
//!
//! ```
//! use attention::fast::BenchResults;
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

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Where `cargo xtask bench-torch` writes the results, relative to the repository root.
pub const RESULTS_PATH: &str = "benches/results.json";

/// Every measurement of one `cargo xtask bench-torch` run, on one machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchResults {
    /// What wrote the file, e.g. `"cargo xtask bench-torch"`.
    #[serde(default)]
    pub generated_by: String,
    /// The day of the run, `YYYY-MM-DD`.
    #[serde(default)]
    pub date: Option<String>,
    /// The machine, in words, e.g. `"2 cores, Intel(R) Xeon(R) Processor"`.
    pub machine: String,
    /// Threads used by both PyTorch and this crate.
    pub threads: usize,
    /// The cores' theoretical single-precision peak, GFLOP/s, when the run recorded it.
    #[serde(default)]
    pub fp32_peak_gflops: Option<f64>,
    /// PyTorch's version, e.g. `"2.5.1"`.
    #[serde(default)]
    pub torch_version: Option<String>,
    /// Which library did the matrix products in each build ([`crate::backend::name`]).
    #[serde(default)]
    pub backends: Backends,
    /// One entry per benchmark, in the order of the table.
    pub cases: Vec<BenchCase>,
    /// The long-sequence run (seq 16384): time and peak memory.
    #[serde(default)]
    pub long_sequence: Option<LongSequence>,
    /// The `gpu` feature's run (`cargo xtask bench-torch --gpu`), if there was one.
    #[serde(default)]
    pub gpu: Option<GpuRun>,
}

/// The same shapes on a GPU adapter, with the `gpu` feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuRun {
    /// The adapter ([`crate::backend::name`] on the GPU), e.g. `"llvmpipe (…) (Vulkan, Cpu)"`.
    pub adapter: String,
    /// One entry per GPU benchmark.
    pub cases: Vec<GpuCase>,
}

/// One GPU benchmark and the CPU case of the same shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuCase {
    /// Criterion's id, e.g. `"gpu/sdpa/causal/1024"`.
    pub id: String,
    /// The [`BenchCase::id`] of the same computation on the CPU, e.g.
    /// `"sdpa/memory_efficient/causal/1024"` (the fused kernel is the tiled one, on a GPU).
    pub cpu_id: String,
    /// Median time on the GPU, ms (inputs uploaded and the output read back included).
    pub ms: f64,
}

/// One row of the book's GPU table.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuRow {
    /// The case in words.
    pub label: String,
    /// On the GPU, ms.
    pub gpu_ms: f64,
    /// GFLOP/s on the GPU.
    pub gpu_gflops: f64,
    /// This crate's faster CPU build, ms.
    pub cpu_ms: f64,
    /// PyTorch on the CPU, ms.
    pub torch_ms: f64,
    /// gpu_ms / cpu_ms: above 1, the GPU is slower than this crate on the CPU.
    pub over_cpu: f64,
    /// gpu_ms / torch_ms.
    pub over_torch: f64,
}

/// [`crate::backend::name`] of the two builds that were timed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Backends {
    /// The default build, e.g. `"matrixmultiply (pure Rust, default)"`.
    #[serde(default)]
    pub default: String,
    /// The `blas` build, e.g. `"OpenBLAS sgemm (feature `blas`), kernels for SkylakeX …"`.
    #[serde(default)]
    pub blas: Option<String>,
}

/// One benchmark, timed in PyTorch and in this crate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchCase {
    /// The criterion id, e.g. `"sdpa/plain/causal/1024"`, `"multi_head/batch/8"`.
    pub id: String,
    /// `"sdpa"` (attention alone on `(batch, 8 heads, seq, 64)` inputs), `"multi_head"`
    /// (`MultiHeadAttention` with its projections, d_model 512) or `"encoder_layer"`.
    pub group: String,
    /// For `"sdpa"`: `"plain"` or `"memory_efficient"` ([`crate::fast::Kernel`]).
    #[serde(default)]
    pub kernel: Option<String>,
    /// With a causal mask.
    #[serde(default)]
    pub causal: bool,
    /// Sequence length n.
    pub seq: usize,
    /// Batch size.
    pub batch: usize,
    /// Floating-point operations of one call.
    pub flops: u64,
    /// PyTorch's median time, ms.
    pub torch_ms: f64,
    /// This crate's median time, default build (pure-Rust `matrixmultiply`), ms.
    pub default_ms: f64,
    /// This crate's median time with `--features blas` (OpenBLAS), ms; absent if not run.
    #[serde(default)]
    pub blas_ms: Option<f64>,
}

/// Attention at a long sequence, where the score matrices no longer fit comfortably.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LongSequence {
    /// Sequence length n, e.g. 16384.
    pub seq: usize,
    /// Attention heads.
    pub heads: usize,
    /// Size of one head, d_k.
    pub head_dim: usize,
    /// This crate's kernel, e.g. `"memory_efficient"`.
    pub kernel: String,
    /// This crate's time, seconds.
    pub seconds: f64,
    /// This crate's peak resident memory, MB.
    pub peak_rss_mb: f64,
    /// What the `(heads, seq, seq)` weights alone would take if materialised, GB.
    #[serde(default)]
    pub plain_weights_gb: Option<f64>,
}

/// One row of the book's table: a case's times, its ratios to PyTorch and its speed.
#[derive(Debug, Clone, PartialEq)]
pub struct RatioRow {
    /// The case in words ([`BenchCase::label`]).
    pub label: String,
    /// PyTorch, ms.
    pub torch_ms: f64,
    /// This crate, default build, ms.
    pub default_ms: f64,
    /// default_ms / torch_ms: 1 is as fast as PyTorch, 2 twice as slow, 0.5 twice as fast.
    pub default_ratio: f64,
    /// This crate with OpenBLAS, ms.
    pub blas_ms: Option<f64>,
    /// blas_ms / torch_ms.
    pub blas_ratio: Option<f64>,
    /// GFLOP/s of this crate's faster build.
    pub best_gflops: f64,
    /// The faster build's time over PyTorch's.
    pub best_ratio: f64,
    /// `best_gflops` as a percentage of the machine's fp32 peak, if the peak was recorded.
    pub percent_of_peak: Option<f64>,
}

/// GFLOP/s of `flops` operations done in `ms` milliseconds: flops / (ms · 10⁻³) / 10⁹.
pub fn gflops(flops: u64, ms: f64) -> f64 {
    flops as f64 / ms / 1e6
}

impl BenchCase {
    /// The faster of this crate's CPU builds, ms: `blas_ms` when measured and smaller.
    pub fn best_ms(&self) -> f64 {
        self.blas_ms
            .map_or(self.default_ms, |b| b.min(self.default_ms))
    }

    /// The case in words, e.g. `"attention, plain, causal, n = 1024"`,
    /// `"MultiHeadAttention, batch 8, n = 512"`, `"encoder layer, n = 512"`.
    pub fn label(&self) -> String {
        match self.group.as_str() {
            "sdpa" => format!(
                "attention, {}, {}, n = {}",
                self.kernel.as_deref().unwrap_or("?").replace('_', "-"),
                if self.causal { "causal" } else { "full" },
                self.seq
            ),
            "multi_head" => format!("MultiHeadAttention, batch {}, n = {}", self.batch, self.seq),
            "encoder_layer" => format!("encoder layer, batch {}, n = {}", self.batch, self.seq),
            _ => self.id.clone(),
        }
    }
}

impl BenchResults {
    /// Reads the results file `cargo xtask bench-torch` wrote, usually [`RESULTS_PATH`]
    /// (relative to the repository root).
    ///
    /// Fails with [`Error::Parse`] naming the file if it is missing (and saying how to
    /// create it), is not JSON of this shape, or holds a time that is not positive.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let what = format!("benchmark results {}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| Error::Parse {
            what: what.clone(),
            reason: format!("{e} (run `cargo xtask bench-torch` to measure them on this machine)"),
        })?;
        Self::from_json(&text).map_err(|e| match e {
            Error::Parse { reason, .. } => Error::Parse { what, reason },
            other => other,
        })
    }

    /// Parses results from JSON text (the format of [`RESULTS_PATH`]) and checks them.
    pub fn from_json(text: &str) -> Result<Self> {
        let parse_error = |reason: String| Error::Parse {
            what: "benchmark results".to_string(),
            reason,
        };
        let results: BenchResults =
            serde_json::from_str(text).map_err(|e| parse_error(e.to_string()))?;
        if results.cases.is_empty() {
            return Err(parse_error("no cases".to_string()));
        }
        if results
            .fp32_peak_gflops
            .is_some_and(|p| p.is_nan() || p <= 0.0)
        {
            return Err(parse_error("fp32_peak_gflops must be > 0".into()));
        }
        if let Some(gpu) = &results.gpu {
            for case in &gpu.cases {
                if case.ms.is_nan() || case.ms <= 0.0 {
                    return Err(parse_error(format!(
                        "GPU case `{}`: ms must be > 0",
                        case.id
                    )));
                }
                if !results.cases.iter().any(|c| c.id == case.cpu_id) {
                    return Err(parse_error(format!(
                        "GPU case `{}`: no CPU case `{}`",
                        case.id, case.cpu_id
                    )));
                }
            }
        }
        for case in &results.cases {
            let times = [Some(case.torch_ms), Some(case.default_ms), case.blas_ms];
            if times.into_iter().flatten().any(|t| t.is_nan() || t <= 0.0) || case.flops == 0 {
                return Err(parse_error(format!(
                    "case `{}`: times and flops must be > 0",
                    case.id
                )));
            }
        }
        Ok(results)
    }

    /// The cases in the book's order: attention alone (plain kernel, then memory-efficient;
    /// without a mask, then causal; by sequence length), then multi-head attention by batch
    /// size, then the encoder layer, then anything else.
    pub fn cases_in_table_order(&self) -> Vec<&BenchCase> {
        let group_rank = |g: &str| match g {
            "sdpa" => 0,
            "multi_head" => 1,
            "encoder_layer" => 2,
            _ => 3,
        };
        let mut cases: Vec<&BenchCase> = self.cases.iter().collect();
        cases.sort_by_key(|c| {
            let kernel_rank = usize::from(c.kernel.as_deref() != Some("plain"));
            (group_rank(&c.group), kernel_rank, c.causal, c.batch, c.seq)
        });
        cases
    }

    /// One [`RatioRow`] per case, in [`Self::cases_in_table_order`].
    pub fn ratio_rows(&self) -> Vec<RatioRow> {
        self.cases_in_table_order()
            .into_iter()
            .map(|c| {
                let best_ms = c.best_ms();
                let best_gflops = gflops(c.flops, best_ms);
                RatioRow {
                    label: c.label(),
                    torch_ms: c.torch_ms,
                    default_ms: c.default_ms,
                    default_ratio: c.default_ms / c.torch_ms,
                    blas_ms: c.blas_ms,
                    blas_ratio: c.blas_ms.map(|b| b / c.torch_ms),
                    best_ratio: best_ms / c.torch_ms,
                    best_gflops,
                    percent_of_peak: self.fp32_peak_gflops.map(|p| 100.0 * best_gflops / p),
                }
            })
            .collect()
    }

    /// One [`GpuRow`] per GPU case, in the CPU table's order; empty without a GPU run.
    pub fn gpu_rows(&self) -> Vec<GpuRow> {
        let Some(gpu) = &self.gpu else {
            return Vec::new();
        };
        let mut rows = Vec::new();
        for cpu in self.cases_in_table_order() {
            for case in gpu.cases.iter().filter(|g| g.cpu_id == cpu.id) {
                let cpu_ms = cpu.best_ms();
                let label = match cpu.group.as_str() {
                    "sdpa" => format!(
                        "attention, fused kernel, {}, n = {}",
                        if cpu.causal { "causal" } else { "full" },
                        cpu.seq
                    ),
                    _ => cpu.label(),
                };
                rows.push(GpuRow {
                    label,
                    gpu_ms: case.ms,
                    gpu_gflops: gflops(cpu.flops, case.ms),
                    cpu_ms,
                    torch_ms: cpu.torch_ms,
                    over_cpu: case.ms / cpu_ms,
                    over_torch: case.ms / cpu.torch_ms,
                });
            }
        }
        rows
    }

    /// The `"sdpa"` cases of one kernel (`"plain"`, `"memory_efficient"`), with or without a
    /// causal mask, by increasing sequence length: one line of the time-vs-seq figure.
    pub fn sdpa_series(&self, kernel: &str, causal: bool) -> Vec<&BenchCase> {
        let mut cases: Vec<&BenchCase> = self
            .cases
            .iter()
            .filter(|c| {
                c.group == "sdpa" && c.kernel.as_deref() == Some(kernel) && c.causal == causal
            })
            .collect();
        cases.sort_by_key(|c| c.seq);
        cases
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two plain sdpa cases without a mask, one causal without a blas time, a multi-head
    /// case and a long sequence; no fp32 peak.
    const JSON: &str = r#"{
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
         "torch_ms": 150.0, "default_ms": 244.7, "blas_ms": 182.8}
      ],
      "long_sequence": {"seq": 16384, "heads": 8, "head_dim": 64,
        "kernel": "memory_efficient", "seconds": 9.1, "peak_rss_mb": 180.0,
        "plain_weights_gb": 8.6}
    }"#;

    #[test]
    fn parses_and_computes_the_table() {
        let r = BenchResults::from_json(JSON).unwrap();
        assert_eq!((r.threads, r.fp32_peak_gflops), (2, None));
        assert_eq!(r.backends.blas.as_deref(), Some("OpenBLAS"));
        let rows = r.ratio_rows();
        assert_eq!(rows.len(), 4);
        // Table order: full before causal, shorter before longer, attention before MHA.
        let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "attention, plain, full, n = 512",
                "attention, plain, full, n = 1024",
                "attention, plain, causal, n = 512",
                "MultiHeadAttention, batch 8, n = 512"
            ]
        );
        let row = &rows[1];
        assert_eq!(row.default_ratio, 2.0);
        assert_eq!(row.blas_ratio, Some(1.25));
        assert_eq!(row.best_ratio, 1.25);
        // Best of default and blas: 25 ms; 2147483648 flops / 25 ms / 10⁶ = 85.9 GFLOP/s.
        assert!((row.best_gflops - 85.899).abs() < 1e-3);
        assert_eq!(row.percent_of_peak, None);
        // No blas time: the default build is the best.
        assert_eq!(rows[2].blas_ratio, None);
        assert!((rows[2].best_gflops - 134.2177).abs() < 1e-3);
        assert_eq!(rows[3].label, "MultiHeadAttention, batch 8, n = 512");
        let long = r.long_sequence.unwrap();
        assert_eq!((long.seq, long.plain_weights_gb), (16384, Some(8.6)));
    }

    #[test]
    fn percent_of_peak_when_the_peak_is_recorded() {
        let json = JSON.replace(
            "\"threads\": 2,",
            "\"threads\": 2, \"fp32_peak_gflops\": 100.0,",
        );
        let r = BenchResults::from_json(&json).unwrap();
        let row = &r.ratio_rows()[1];
        assert!((row.percent_of_peak.unwrap() - 85.899).abs() < 1e-3);
    }

    #[test]
    fn series_are_sorted_by_sequence_length() {
        let r = BenchResults::from_json(JSON).unwrap();
        let full: Vec<usize> = r
            .sdpa_series("plain", false)
            .iter()
            .map(|c| c.seq)
            .collect();
        assert_eq!(full, [512, 1024]);
        assert_eq!(r.sdpa_series("plain", true).len(), 1);
        assert!(r.sdpa_series("memory_efficient", false).is_empty());
    }

    #[test]
    fn the_figure_has_one_line_per_build_and_mask() {
        let r = BenchResults::from_json(JSON).unwrap();
        let json = crate::plot::time_vs_seq_figure(&r).to_json();
        // Full: PyTorch, default, blas; causal: PyTorch, default (no blas time).
        assert_eq!(json.matches("\"type\":\"scatter\"").count(), 5, "{json}");
        assert!(json.contains("this crate + OpenBLAS, full"));
        assert!(!json.contains("OpenBLAS, causal"));
        assert!(json.contains("\"type\":\"log\""));
    }

    #[test]
    fn gpu_rows_follow_the_cpu_table_and_name_a_missing_cpu_case() {
        let gpu = r#""gpu": {"adapter": "llvmpipe", "cases": [
            {"id": "gpu/multi_head/batch/8", "cpu_id": "multi_head/batch/8", "ms": 365.6},
            {"id": "gpu/sdpa/full/512", "cpu_id": "sdpa/plain/full/512", "ms": 40.0}]},
          "cases": ["#;
        let r = BenchResults::from_json(&JSON.replace("\"cases\": [", gpu)).unwrap();
        let rows = r.gpu_rows();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].label, "attention, fused kernel, full, n = 512");
        // Against the faster CPU build (blas, 4 ms) and PyTorch (5 ms).
        assert_eq!(
            (rows[0].cpu_ms, rows[0].over_cpu, rows[0].over_torch),
            (4.0, 10.0, 8.0)
        );
        assert!((rows[0].gpu_gflops - 13.42).abs() < 0.01); // 536870912 / 40 ms / 10⁶
        assert_eq!(rows[1].over_cpu, 2.0); // 365.6 / 182.8
        assert!(BenchResults::from_json(JSON).unwrap().gpu_rows().is_empty());
        let orphan = gpu.replace(
            "\"cpu_id\": \"sdpa/plain/full/512\"",
            "\"cpu_id\": \"nope\"",
        );
        let msg = BenchResults::from_json(&JSON.replace("\"cases\": [", &orphan))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("gpu/sdpa/full/512") && msg.contains("nope"),
            "{msg}"
        );
    }

    #[test]
    fn gflops_is_flops_per_millisecond_over_a_million() {
        assert_eq!(gflops(2_000_000_000, 1000.0), 2.0); // 2 GFLOP in 1 s
        assert_eq!(gflops(1_000_000, 1.0), 1.0);
    }

    #[test]
    fn a_missing_file_names_itself_and_the_command() {
        let err = BenchResults::load("no/such/results.json").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("no/such/results.json"), "{msg}");
        assert!(msg.contains("cargo xtask bench-torch"), "{msg}");
    }

    #[test]
    fn bad_json_and_bad_times_fail() {
        assert!(BenchResults::from_json("{").is_err());
        let no_cases = JSON.replace("\"cases\": [", "\"cases\": [], \"x\": [");
        assert!(BenchResults::from_json(&no_cases).is_err());
        let zero = JSON.replace("\"torch_ms\": 20.0", "\"torch_ms\": 0.0");
        let msg = BenchResults::from_json(&zero).unwrap_err().to_string();
        assert!(msg.contains("sdpa/plain/full/1024"), "{msg}");
    }
}
