//! `cargo xtask bench-torch [--quick] [--gpu] [--rounds N]`: this crate against PyTorch, same shapes,
//! same run.
//!
//! 1. PyTorch (`benches/torch_baseline.py` in the venv `$TORCH_VENV`, default `.venv-torch/`);
//! 2. `cargo bench --bench attention` with the default features, then with `blas`;
//! 3. with `--gpu`, the `gpu/...` benchmarks with `--features gpu`, on the adapter wgpu finds
//!    (on a machine without a GPU, Mesa's software Vulkan: slow, but the same kernels);
//! 4. `examples/long_attention.rs` (memory-efficient attention at seq 16384, peak memory).
//!
//! Steps 1 and 2 run `--rounds N` times in turn (default 2), and each time kept is the best
//! of its rounds' medians: the host's speed drifts over minutes, and alternating gives both
//! sides the same chances.
//!
//! Prints the ratio table (this crate / PyTorch), and the training steps' (`train_step/...`:
//! forward, backward and AdamW, against autograd and `torch.optim`), and writes
//! `benches/results.json`, which chapter 8 and its notebook read (chapter 8's table leaves
//! the training steps out). Not part of CI: timings need a quiet machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use attention::bench_results::{BenchResults, RESULTS_PATH, RatioRow};

use crate::util::{cargo, output, root};

pub fn main(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let with_gpu = args.iter().any(|a| a == "--gpu");
    let rounds = rounds_arg(args)?;
    let python = torch_python()?;
    let threads = 2;
    let cpu = Cpu::read();

    let mut torch_cases = serde_json::Map::new();
    let mut torch_version = Value::Null;
    let mut backends = serde_json::Map::new();
    let mut rust = serde_json::Map::new();
    // Alternating rounds: the machine's speed drifts over minutes (other work on the host),
    // so each side is timed in every round and keeps its best round.
    for round in 1..=rounds {
        println!(
            "==> round {round} of {rounds}: PyTorch ({})",
            python.display()
        );
        let torch: Value = serde_json::from_str(&output(
            torch_command(&python)
                .arg(root().join("benches/torch_baseline.py"))
                .arg(threads.to_string()),
        )?)
        .map_err(|e| format!("torch_baseline.py printed no JSON: {e}"))?;
        torch_version = torch["torch_version"].clone();
        let cases = torch["cases"].as_object().ok_or("no torch cases")?;
        for (id, ms) in cases {
            keep_best(&mut torch_cases, id, ms.clone(), |v| v.as_f64());
        }
        for (label, features) in [("default", None), ("blas", Some("blas"))] {
            println!("==> round {round} of {rounds}: cargo bench ({label})");
            let (name, times) = criterion_run(features, None, quick, &cpu)?;
            backends.insert(label.into(), name.into());
            let best = rust
                .entry(label)
                .or_insert_with(|| Value::Object(Default::default()));
            let best = best.as_object_mut().expect("an object");
            for (id, time) in times.as_object().expect("an object") {
                keep_best(best, id, time.clone(), |v| v["ms"].as_f64());
            }
        }
    }
    let gpu = if with_gpu {
        println!("==> cargo bench (gpu)");
        let (adapter, times) = criterion_run(Some("gpu"), Some("gpu/"), quick, &cpu)?;
        Some(gpu_run(&adapter, &times)?)
    } else {
        None
    };

    println!("==> memory-efficient attention at seq 16384");
    let long: Value = serde_json::from_str(&output(cargo().args([
        "run",
        "--quiet",
        "--release",
        "--example",
        "long_attention",
    ]))?)
    .map_err(|e| format!("long_attention printed no JSON: {e}"))?;

    let mut cases = Vec::new();
    for (id, torch_ms) in &torch_cases {
        let default = &rust["default"][id];
        let blas = &rust["blas"][id];
        if default.is_null() || blas.is_null() {
            return Err(format!("criterion has no result for `{id}`"));
        }
        cases.push(case_entry(id, torch_ms, default, blas)?);
    }
    let results = json!({
        "generated_by": "cargo xtask bench-torch",
        "date": today()?,
        "machine": cpu.description(),
        "fp32_peak_gflops": cpu.fp32_peak_gflops(),
        "threads": threads,
        "rounds": rounds,
        "torch_version": torch_version,
        "backends": backends,
        "cases": cases,
        "long_sequence": long,
        "gpu": gpu,
    });
    let mut text = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
    text.push('\n');
    // Read back through the loader the book uses: checks the file and computes the table.
    print_table(&BenchResults::from_json(&text).map_err(|e| e.to_string())?);
    let path = root().join(RESULTS_PATH);
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("\nwrote {}", path.display());
    Ok(())
}

/// `--rounds N` (default 2): how many times PyTorch and both builds are timed, in turn.
fn rounds_arg(args: &[String]) -> Result<usize, String> {
    let Some(i) = args.iter().position(|a| a == "--rounds") else {
        return Ok(2);
    };
    let value = args.get(i + 1);
    match value.map(|n| n.parse::<usize>()) {
        Some(Ok(n)) if n >= 1 => Ok(n),
        _ => Err(format!(
            "--rounds: expected a whole number of rounds, at least 1, got {}",
            value.map_or("nothing".to_string(), |v| format!("`{v}`"))
        )),
    }
}

/// Stores `value` under `id` unless `best` already holds a smaller time (`time` reads it).
fn keep_best(
    best: &mut serde_json::Map<String, Value>,
    id: &str,
    value: Value,
    time: impl Fn(&Value) -> Option<f64>,
) {
    let faster = match (best.get(id).and_then(&time), time(&value)) {
        (Some(old), Some(new)) => new < old,
        (Some(_), None) => false,
        (None, _) => true,
    };
    if faster {
        best.insert(id.to_string(), value);
    }
}

/// `python` for a PyTorch run, with the `malloc` settings that this crate's benchmarks and
/// training binaries give themselves (`attention::kernels::keep_freed_memory`, as glibc's
/// environment variables), so that neither side gains from them alone.
pub fn torch_command(python: &std::path::Path) -> Command {
    let mut command = Command::new(python);
    command
        .env("MALLOC_MMAP_THRESHOLD_", (32 << 20).to_string())
        .env("MALLOC_TRIM_THRESHOLD_", (512 << 20).to_string());
    command
}

/// The venv's python with torch: `$TORCH_VENV/bin/python`, default `.venv-torch/`.
pub fn torch_python() -> Result<PathBuf, String> {
    let venv = std::env::var_os("TORCH_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv-torch"));
    let python = venv.join("bin/python");
    if python.exists() {
        Ok(python)
    } else {
        Err(format!(
            "no PyTorch venv at {}: create one with\n  python3 -m venv .venv-torch && \
             .venv-torch/bin/pip install torch numpy\nor point TORCH_VENV at one",
            venv.display()
        ))
    }
}

/// Runs the criterion benchmarks with `features` (only those whose id contains `filter`);
/// returns the matmul backend's name (the GPU adapter's for the `gpu/` cases) and
/// `{id: {"ms": median, "flops": n}}`.
fn criterion_run(
    features: Option<&str>,
    filter: Option<&str>,
    quick: bool,
    cpu: &Cpu,
) -> Result<(String, Value), String> {
    let dir = root().join("target/criterion");
    let _ = std::fs::remove_dir_all(&dir); // only this run's results
    let mut cmd = cargo();
    cmd.args(["bench", "--bench", "attention"]);
    if let Some(f) = features {
        cmd.args(["--features", f]);
    }
    cmd.args(["--", "--warm-up-time", "1", "--measurement-time"]);
    cmd.arg(if quick { "1" } else { "4" });
    cmd.args(filter);
    if features == Some("blas") && std::env::var_os("OPENBLAS_CORETYPE").is_none() {
        // Debian's OpenBLAS 0.3.21 does not recognise recent CPUs and falls back to slow
        // generic kernels ("Prescott"); name the right family.
        cmd.env("OPENBLAS_CORETYPE", cpu.openblas_coretype());
    }
    let text = output(&mut cmd)?;
    let prefix = if filter == Some("gpu/") {
        "GPU adapter: "
    } else {
        "matrix products: "
    };
    let name = text
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .ok_or_else(|| format!("cargo bench printed no \"{prefix}\" line"))?
        .to_string();
    println!("    {name}");
    let mut times = serde_json::Map::new();
    collect_estimates(&dir, &mut times)?;
    Ok((name, Value::Object(times)))
}

/// Walks `target/criterion` for `new/benchmark.json` + `new/estimates.json` pairs.
fn collect_estimates(dir: &Path, into: &mut serde_json::Map<String, Value>) -> Result<(), String> {
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if !path.is_dir() {
            continue;
        }
        if path.ends_with("new") {
            let read = |f: &str| -> Result<Value, String> {
                let p = path.join(f);
                let text =
                    std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
            };
            let bench = read("benchmark.json")?;
            let estimates = read("estimates.json")?;
            let id = bench["full_id"]
                .as_str()
                .ok_or("benchmark.json without full_id")?;
            let ns = estimates["median"]["point_estimate"]
                .as_f64()
                .ok_or("estimates.json without a median")?;
            let flops = bench["throughput"]["Elements"].as_u64().unwrap_or(0);
            into.insert(id.to_string(), json!({"ms": ns / 1e6, "flops": flops}));
        } else {
            collect_estimates(&path, into)?;
        }
    }
    Ok(())
}

fn case_entry(id: &str, torch_ms: &Value, default: &Value, blas: &Value) -> Result<Value, String> {
    let parts: Vec<&str> = id.split('/').collect();
    let group = parts[0];
    let last: usize = parts.last().and_then(|p| p.parse().ok()).unwrap_or(0);
    let (kernel, causal, seq, batch) = match group {
        "sdpa" => (json!(parts[1]), parts[2] == "causal", last, 1),
        "multi_head" => (Value::Null, false, 512, last),
        // benches/attention.rs: the copy task's batch is src (64, 12); the encoder layer's
        // input (1, 512, 512).
        "train_step" if parts.get(1) == Some(&"copy") => (Value::Null, false, 12, 64),
        // 64 sentences of different lengths, padded to the longest: no one n.
        "sentences" => (Value::Null, false, 0, last),
        _ => (Value::Null, false, last, 1),
    };
    Ok(json!({
        "id": id, "group": group, "kernel": kernel, "causal": causal, "seq": seq,
        "batch": batch, "flops": default["flops"],
        "torch_ms": round(torch_ms.as_f64().ok_or("torch time")?),
        "default_ms": round(default["ms"].as_f64().ok_or("default time")?),
        "blas_ms": round(blas["ms"].as_f64().ok_or("blas time")?),
    }))
}

/// The `"gpu"` entry of the results: each `gpu/...` time with the CPU case of its shape
/// (the fused kernel is the tiled, memory-efficient one).
fn gpu_run(adapter: &str, times: &Value) -> Result<Value, String> {
    let mut cases = Vec::new();
    for (id, time) in times.as_object().ok_or("no GPU times")? {
        let Some(rest) = id.strip_prefix("gpu/") else {
            continue;
        };
        let cpu_id = match rest.strip_prefix("sdpa/") {
            Some(shape) => format!("sdpa/memory_efficient/{shape}"),
            None => rest.to_string(),
        };
        let ms = round(time["ms"].as_f64().ok_or("GPU time")?);
        cases.push(json!({"id": id, "cpu_id": cpu_id, "ms": ms}));
    }
    if cases.is_empty() {
        return Err("the gpu build ran no `gpu/` benchmarks (no adapter?)".into());
    }
    Ok(json!({"adapter": adapter, "cases": cases}))
}

fn round(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}

fn print_table(results: &BenchResults) {
    print_ratio_rows(&results.ratio_rows());
    let train = results.train_step_rows();
    if !train.is_empty() {
        println!("\nTraining steps (forward, loss, backward, AdamW; PyTorch with autograd):");
        print_ratio_rows(&train);
    }
    let sentences = results.sentence_rows();
    if !sentences.is_empty() {
        println!("\nSentence embeddings (chapter 11; PyTorch: sentence-transformers):");
        print_ratio_rows(&sentences);
    }
    if let Some(gpu) = &results.gpu {
        println!("\nGPU: {}", gpu.adapter);
        println!("| case | GPU ms | GFLOP/s | × CPU (faster build) | × PyTorch |");
        println!("|---|---:|---:|---:|---:|");
        for row in results.gpu_rows() {
            println!(
                "| {} | {:.1} | {:.1} | {:.1} | {:.1} |",
                row.label, row.gpu_ms, row.gpu_gflops, row.over_cpu, row.over_torch
            );
        }
    }
    if let Some(long) = &results.long_sequence {
        println!(
            "\n{} attention, seq {}: {:.2} s, peak resident memory {:.0} MB (plain weights: {:.1} GB)",
            long.kernel,
            long.seq,
            long.seconds,
            long.peak_rss_mb,
            long.plain_weights_gb.unwrap_or(f64::NAN)
        );
    }
}

/// A table of cases against PyTorch.
fn print_ratio_rows(rows: &[RatioRow]) {
    println!("\n| case | PyTorch ms | default ms (×) | blas ms (×) | GFLOP/s (faster build) |");
    println!("|---|---:|---:|---:|---:|");
    for row in rows {
        let blas = match (row.blas_ms, row.blas_ratio) {
            (Some(ms), Some(ratio)) => format!("{ms:.1} ({ratio:.2}×)"),
            _ => "–".to_string(),
        };
        println!(
            "| {} | {:.1} | {:.1} ({:.2}×) | {blas} | {:.0} |",
            row.label, row.torch_ms, row.default_ms, row.default_ratio, row.best_gflops
        );
    }
}

/// What the results record about this machine's CPU, read once from `/proc/cpuinfo`.
pub struct Cpu {
    vendor: String,
    family: u32,
    model: String,
    flags: Vec<String>,
    mhz: f64,
    cores: usize,
}

impl Cpu {
    pub fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |name: &str| {
            cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        };
        Cpu {
            vendor: field("vendor_id").unwrap_or_default(),
            family: field("cpu family")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            model: field("model name").unwrap_or_else(|| "unknown CPU".into()),
            flags: field("flags")
                .unwrap_or_default()
                .split_whitespace()
                .map(String::from)
                .collect(),
            mhz: field("cpu MHz").and_then(|v| v.parse().ok()).unwrap_or(0.0),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    pub fn description(&self) -> String {
        format!("{} cores, {}", self.cores, self.model)
    }

    /// An OpenBLAS core family for this CPU: SkylakeX with AVX-512, else Haswell (AVX2).
    fn openblas_coretype(&self) -> &'static str {
        if self.has("avx512f") {
            "SkylakeX"
        } else {
            "Haswell"
        }
    }

    /// Nominal fp32 peak: cores × clock × FLOPs per cycle per core (two FMA units: 64 with
    /// AVX-512, 32 with AVX2, 16 with SSE). AMD's Zen 4 (family 25) runs AVX-512 on its two
    /// 256-bit units, so 32 there too. An estimate: turbo clocks can exceed it.
    fn fp32_peak_gflops(&self) -> f64 {
        let zen4 = self.vendor == "AuthenticAMD" && self.family == 25;
        let per_cycle = if self.has("avx512f") && !zen4 {
            64.0
        } else if self.has("avx2") && self.has("fma") {
            32.0
        } else {
            16.0
        };
        (self.cores as f64 * self.mhz / 1e3 * per_cycle).round()
    }
}

pub fn today() -> Result<String, String> {
    Ok(output(Command::new("date").arg("+%Y-%m-%d"))?
        .trim()
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_and_kernels_follow_the_cpu_flags() {
        let cpu = |flags: &str| Cpu {
            vendor: "GenuineIntel".into(),
            family: 6,
            model: "test CPU".into(),
            flags: flags.split_whitespace().map(String::from).collect(),
            mhz: 2000.0,
            cores: 2,
        };
        assert_eq!(cpu("fma avx2 avx512f").fp32_peak_gflops(), 256.0);
        assert_eq!(cpu("fma avx2").fp32_peak_gflops(), 128.0);
        let amd = |family| Cpu {
            vendor: "AuthenticAMD".into(),
            family,
            ..cpu("fma avx2 avx512f")
        };
        assert_eq!(amd(25).fp32_peak_gflops(), 128.0); // Zen 4: 256-bit FMA units
        assert_eq!(amd(26).fp32_peak_gflops(), 256.0); // Zen 5: 512-bit
        assert_eq!(cpu("sse2").fp32_peak_gflops(), 64.0);
        assert_eq!(cpu("fma avx2 avx512f").openblas_coretype(), "SkylakeX");
        assert_eq!(cpu("fma avx2").openblas_coretype(), "Haswell");
        assert_eq!(cpu("").description(), "2 cores, test CPU");
    }

    #[test]
    fn rounds_default_to_two_and_keep_the_fastest_time() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(rounds_arg(&args(&["--quick"])), Ok(2));
        assert_eq!(rounds_arg(&args(&["--rounds", "3", "--quick"])), Ok(3));
        for bad in [&["--rounds", "0"][..], &["--rounds", "two"], &["--rounds"]] {
            let msg = rounds_arg(&args(bad)).unwrap_err();
            assert!(
                msg.contains("--rounds") && msg.contains("at least 1"),
                "{msg}"
            );
        }
        let mut best = serde_json::Map::new();
        for ms in [5.0, 3.0, 4.0] {
            keep_best(&mut best, "case", json!({"ms": ms}), |v| v["ms"].as_f64());
        }
        keep_best(&mut best, "case", json!({}), |v| v["ms"].as_f64());
        assert_eq!(best["case"], json!({"ms": 3.0}));
    }

    #[test]
    fn the_committed_results_load_and_print() {
        let results = BenchResults::load(root().join(RESULTS_PATH)).unwrap();
        print_table(&results);
    }
}
