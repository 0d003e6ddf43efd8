//! Chapter 8's real-GPU figures: the simple kernels as first measured
//! (`benches/gpu_simple_h100.json`) and the fast kernels with the simple ones and PyTorch in one
//! run (`benches/gpu_fast.json`, written by `examples/gpu_bench.rs` and `benches/gpu_torch.py`).

use std::fmt::Write as _;

use serde_json::Value;

/// Where the simple GPU kernels' first measurement on a real GPU is recorded.
const SIMPLE_PATH: &str = "benches/gpu_simple_h100.json";
/// Where the one-run measurement of the fast kernels is recorded.
const FAST_PATH: &str = "benches/gpu_fast.json";

/// A recorded GPU run: `path`'s JSON.
fn load(path: &str) -> Result<Value, String> {
    let text = std::fs::read_to_string(crate::util::root().join(path))
        .map_err(|e| format!("{path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
}

/// `run[key]` as text, or an error naming the file and the key.
fn field(run: &Value, path: &str, key: &str) -> Result<String, String> {
    match &run[key] {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(format!("{path}: no `{key}`")),
    }
}

/// The simple GPU kernels on a real GPU against PyTorch there, labelled with the adapter and
/// the date.
pub fn simple() -> Result<String, String> {
    let run = load(SIMPLE_PATH)?;
    let f = |key| field(&run, SIMPLE_PATH, key);
    let mut md = format!(
        "The simple kernels on **{}**, measured {} (crate at `{}`, PyTorch {} on the same GPU, \
         float32, TF32 off):\n\n\
         | case | simple kernel ms | PyTorch ms | ratio |\n|---|---:|---:|---:|\n",
        f("adapter")?,
        f("date")?,
        f("crate_commit")?,
        f("torch_version")?
    );
    let rows = run["rows"]
        .as_array()
        .ok_or(format!("{SIMPLE_PATH}: no `rows`"))?;
    for row in rows {
        let (case, ours, torch) = (
            row["case"].as_str(),
            row["crate_ms"].as_f64(),
            row["torch_ms"].as_f64(),
        );
        let (Some(case), Some(ours), Some(torch)) = (case, ours, torch) else {
            return Err(format!(
                "{SIMPLE_PATH}: a row without case, crate_ms or torch_ms"
            ));
        };
        writeln!(md, "| {case} | {ours} | {torch} | {:.0}× |", ours / torch).unwrap();
    }
    Ok(md)
}

/// One measured case of `benches/gpu_fast.json`.
struct Row {
    case: String,
    n: u64,
    flops: f64,
    ours: f64,
    torch: f64,
}

impl Row {
    fn parse(v: &Value) -> Option<Row> {
        Some(Row {
            case: v["case"].as_str()?.to_string(),
            n: v["n"].as_u64()?,
            flops: v["flops"].as_f64()?,
            ours: v["crate_ms"].as_f64()?,
            torch: v["torch_ms"].as_f64()?,
        })
    }
}

impl Row {
    /// The size the case varies, as the table shows it.
    fn size(&self) -> String {
        let n = self.n;
        if self.case.starts_with("matmul") || self.case.starts_with("call") {
            format!("{n}³")
        } else if self.case.starts_with("multi-head") {
            format!("batch {n}, n = 512")
        } else {
            format!("n = {n}")
        }
    }
}

/// Milliseconds with three significant digits, and the rate they mean for `flops`.
fn ms_rate(ms: f64, flops: f64) -> String {
    let time = if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else if ms >= 1.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.3} ms")
    };
    let gflops = flops / (ms * 1e6);
    if flops < 1e6 {
        time // a fixed-cost call: its rate means nothing
    } else if gflops >= 1000.0 {
        format!("{time} ({:.1} TFLOP/s)", gflops / 1000.0)
    } else {
        format!("{time} ({gflops:.0} GFLOP/s)")
    }
}

/// A summary line: `what` went from the `simple` kernel's time to the `fast` one's (shown with
/// `decimals` decimals), with the fast kernel's rate and PyTorch's.
fn speedup(what: &str, simple: &Row, fast: &Row, decimals: usize) -> String {
    let tflops = |ms: f64| fast.flops / (ms * 1e9);
    format!(
        "- {what}: {:.decimals$} ms → {:.decimals$} ms, {:.1}× faster ({:.1} TFLOP/s; PyTorch \
         {:.1}).\n",
        simple.ours,
        fast.ours,
        simple.ours / fast.ours,
        tflops(fast.ours),
        tflops(fast.torch)
    )
}

/// The fast kernels, the simple ones and the CPU build against PyTorch, from one run on one
/// machine: a summary of each optimisation's measured effect, then the whole table.
pub fn fast() -> Result<String, String> {
    let run = load(FAST_PATH)?;
    let f = |key| field(&run, FAST_PATH, key);
    let rows: Vec<Row> = run["rows"]
        .as_array()
        .ok_or(format!("{FAST_PATH}: no `rows`"))?
        .iter()
        .map(|v| {
            Row::parse(v).ok_or(format!(
                "{FAST_PATH}: a row without case, n, flops or times"
            ))
        })
        .collect::<Result<_, _>>()?;
    let find = |case: &str, n: u64| {
        rows.iter()
            .find(|r| r.case == case && r.n == n)
            .ok_or(format!("{FAST_PATH}: no `{case}` at n = {n}"))
    };
    let mut md = format!(
        "Measured on **{}**, {} (crate at `{}`; PyTorch {} on the same GPU; float32, TF32 off; \
         the CPU rows on the same machine's {} threads), in one run of `examples/gpu_bench.rs` \
         and `benches/gpu_torch.py`.\n\n",
        f("adapter")?,
        f("date")?,
        f("crate_commit")?,
        f("torch_version")?,
        f("cpu_threads")?,
    );
    let (simple, blocked) = (
        find("matmul simple (resident)", 4096)?,
        find("matmul blocked (resident)", 4096)?,
    );
    md += &speedup(
        "**Register blocking**, the 4096³ product",
        simple,
        blocked,
        1,
    );
    let n = rows
        .iter()
        .filter(|r| r.case == "sdpa simple full (resident)")
        .map(|r| r.n)
        .max()
        .ok_or(format!("{FAST_PATH}: no `sdpa simple full (resident)`"))?;
    let (simple, flash) = (
        find("sdpa simple full (resident)", n)?,
        find("sdpa flash full (resident)", n)?,
    );
    let what = format!("**FlashAttention-2's work split**, attention at n = {n}");
    md += &speedup(&what, simple, flash, 0);
    let call = find("call 8x8 (with copies)", 8)?;
    writeln!(
        md,
        "- **Fixed cost**: an 8 × 8 product with its upload and read-back takes {:.3} ms \
         (PyTorch {:.3} ms).",
        call.ours, call.torch
    )
    .unwrap();
    let layers: Vec<(u64, f64)> = rows
        .iter()
        .filter(|r| r.case == "encoder layer gpu (with copies)")
        .map(|r| Ok((r.n, find("encoder layer cpu", r.n)?.ours / r.ours)))
        .collect::<Result<_, String>>()?;
    let speedups: Vec<String> = layers
        .iter()
        .map(|(n, x)| format!("{x:.1}× at n = {n}"))
        .collect();
    writeln!(
        md,
        "- **Device-resident layers**: the encoder layer on the GPU, copies included, against \
         the CPU build on this machine: {}.\n",
        speedups.join(", ")
    )
    .unwrap();
    md.push_str(
        "\"resident\": inputs and output stay on the GPU (the kernel alone); \"with copies\": \
         CPU arrays in and out. The ratio is this crate's time over PyTorch's.\n\n\
         | case | size | this crate | PyTorch | ratio |\n|---|---:|---:|---:|---:|\n",
    );
    for r in &rows {
        writeln!(
            md,
            "| {} | {} | {} | {} | {:.1}× |",
            r.case,
            r.size(),
            ms_rate(r.ours, r.flops),
            ms_rate(r.torch, r.flops),
            r.ours / r.torch
        )
        .unwrap();
    }
    Ok(md)
}
