//! What `benches/results.json` holds, and reading it: [`BenchResults::load`] fails with a
//! message naming the file (and the command that writes it) when it is missing or wrong.

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
    /// Rounds of the run (PyTorch, the default build, the `blas` build, then again): each
    /// time is the best of its rounds' medians. Absent in older files: one round.
    #[serde(default)]
    pub rounds: Option<usize>,
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

/// [`crate::backend::name`] of the two builds that were timed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Backends {
    /// The default build, e.g. `"matrixmultiply (pure Rust, default), AVX-512 16 × 16 kernel"`.
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
    /// (`MultiHeadAttention` with its projections, d_model 512), `"encoder_layer"`, or
    /// `"train_step"` (forward, loss, backward and AdamW: [`super::TRAIN_STEP_GROUP`]), or
    /// `"sentences"` (chapter 11: [`super::SENTENCES_GROUP`]).
    pub group: String,
    /// For `"sdpa"`: `"plain"` or `"memory_efficient"` ([`crate::fast::Kernel`]).
    #[serde(default)]
    pub kernel: Option<String>,
    /// With a causal mask.
    #[serde(default)]
    pub causal: bool,
    /// Sequence length n (a training step of the copy task: the source length; sentence
    /// embeddings: 0, texts of different lengths).
    pub seq: usize,
    /// Batch size.
    pub batch: usize,
    /// Floating-point operations of one call (a training step: 3 × its forward's).
    pub flops: u64,
    /// PyTorch's median time, ms (the best round's, over [`BenchResults::rounds`]).
    pub torch_ms: f64,
    /// This crate's median time, default build (pure Rust), ms (the best round's).
    pub default_ms: f64,
    /// This crate's median time with `--features blas` (OpenBLAS), ms (the best round's);
    /// absent if not run.
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
        results.check().map_err(parse_error)?;
        Ok(results)
    }

    /// Ok if there is at least one case, every time, flop count and the fp32 peak are
    /// positive, and every GPU case names a CPU case; else what is wrong.
    fn check(&self) -> std::result::Result<(), String> {
        if self.cases.is_empty() {
            return Err("no cases".to_string());
        }
        if self.fp32_peak_gflops.is_some_and(|p| !positive(p)) {
            return Err("fp32_peak_gflops must be > 0".into());
        }
        if self.rounds == Some(0) {
            return Err("rounds must be at least 1".into());
        }
        if let Some(gpu) = &self.gpu {
            self.check_gpu(gpu)?;
        }
        for case in &self.cases {
            let times = [Some(case.torch_ms), Some(case.default_ms), case.blas_ms];
            if !times.into_iter().flatten().all(positive) || case.flops == 0 {
                return Err(format!("case `{}`: times and flops must be > 0", case.id));
            }
        }
        Ok(())
    }

    /// Every GPU case has a positive time and the id of a CPU case.
    fn check_gpu(&self, gpu: &GpuRun) -> std::result::Result<(), String> {
        for case in &gpu.cases {
            if !positive(case.ms) {
                return Err(format!("GPU case `{}`: ms must be > 0", case.id));
            }
            if !self.cases.iter().any(|c| c.id == case.cpu_id) {
                return Err(format!(
                    "GPU case `{}`: no CPU case `{}`",
                    case.id, case.cpu_id
                ));
            }
        }
        Ok(())
    }
}

/// `x > 0` (NaN is not).
fn positive(x: f64) -> bool {
    x > 0.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench_results::TEST_JSON;

    /// [`TEST_JSON`] with a GPU run whose second case runs on the CPU case `cpu_id`, in `ms`.
    fn with_gpu(cpu_id: &str, ms: f64) -> String {
        let gpu = format!(
            r#""gpu": {{"adapter": "llvmpipe", "cases": [
            {{"id": "gpu/multi_head/batch/8", "cpu_id": "multi_head/batch/8", "ms": 365.6}},
            {{"id": "gpu/sdpa/full/512", "cpu_id": "{cpu_id}", "ms": {ms}}}]}},
          "cases": ["#
        );
        TEST_JSON.replace("\"cases\": [", &gpu)
    }

    #[test]
    fn parses_every_part() {
        let r = BenchResults::from_json(TEST_JSON).unwrap();
        assert_eq!((r.threads, r.fp32_peak_gflops, r.rounds), (2, None, None));
        assert_eq!(r.backends.blas.as_deref(), Some("OpenBLAS"));
        assert_eq!(r.cases.len(), 5);
        assert_eq!(r.cases[2].blas_ms, None);
        assert_eq!(r.cases[3].kernel, None);
        let long = r.long_sequence.unwrap();
        assert_eq!((long.seq, long.plain_weights_gb), (16384, Some(8.6)));
        assert_eq!(r.gpu, None);
        let gpu = BenchResults::from_json(&with_gpu("sdpa/plain/full/512", 40.0))
            .unwrap()
            .gpu
            .unwrap();
        assert_eq!((gpu.adapter.as_str(), gpu.cases.len()), ("llvmpipe", 2));
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
        let no_cases = TEST_JSON.replace("\"cases\": [", "\"cases\": [], \"x\": [");
        assert!(BenchResults::from_json(&no_cases).is_err());
        let zero = TEST_JSON.replace("\"torch_ms\": 20.0", "\"torch_ms\": 0.0");
        let msg = BenchResults::from_json(&zero).unwrap_err().to_string();
        assert!(msg.contains("sdpa/plain/full/1024"), "{msg}");
        let peak = TEST_JSON.replace(
            "\"threads\": 2,",
            "\"threads\": 2, \"fp32_peak_gflops\": 0,",
        );
        let msg = BenchResults::from_json(&peak).unwrap_err().to_string();
        assert!(msg.contains("fp32_peak_gflops"), "{msg}");
        let rounds = TEST_JSON.replace("\"threads\": 2,", "\"threads\": 2, \"rounds\": 0,");
        let msg = BenchResults::from_json(&rounds).unwrap_err().to_string();
        assert!(msg.contains("rounds"), "{msg}");
    }

    #[test]
    fn a_gpu_case_needs_a_cpu_case_and_a_positive_time() {
        let msg = BenchResults::from_json(&with_gpu("nope", 40.0))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("gpu/sdpa/full/512") && msg.contains("nope"),
            "{msg}"
        );
        let msg = BenchResults::from_json(&with_gpu("sdpa/plain/full/512", 0.0))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("ms must be > 0"), "{msg}");
    }
}
