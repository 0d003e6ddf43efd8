//! `cargo xtask bench-gpt [--iters N]`: chapter 10's GPT against nanoGPT in PyTorch, in one
//! run on one machine.
//!
//! 1. PyTorch: `benches/nanogpt_shakespeare.py` (nanoGPT's CPU recipe for character-level
//!    Shakespeare, on the same text, vocabulary, split and seed number), 2 threads, in the
//!    venv `$TORCH_VENV` (default `.venv-torch/`);
//! 2. this crate: `cargo run --release --example train_gpt`, the same recipe, saving the
//!    trained model as `checkpoints/gpt_shakespeare.safetensors` (+ `.json`, the run's
//!    record) when the full 2000 steps run;
//! 3. `cargo run --release --example kv_cache_speed -- --json`: one generated token at
//!    context 64 … 1024 with and without the KV cache.
//!
//! Writes `benches/gpt_results.json`, which chapter 10 reads. Not part of CI: about 10
//! minutes, and timings need a quiet machine.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::util::{cargo, root};

/// Where the results go (read by the book's chapter 10).
pub const GPT_RESULTS_PATH: &str = "benches/gpt_results.json";

pub fn main(args: &[String]) -> Result<(), String> {
    let iters = match args.iter().position(|a| a == "--iters") {
        Some(i) => args
            .get(i + 1)
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or("--iters needs a number of steps")?,
        None => 2000,
    };
    let python = crate::bench::torch_python()?;
    let threads = "2";

    println!(
        "==> PyTorch: benches/nanogpt_shakespeare.py ({})",
        python.display()
    );
    let torch = last_json_line(
        crate::bench::torch_command(&python)
            .arg(root().join("benches/nanogpt_shakespeare.py"))
            .args(["--iters", &iters.to_string(), "--threads", threads]),
    )?;

    println!("==> this crate: cargo run --release --example train_gpt");
    let mut train = cargo();
    train.args([
        "run",
        "--quiet",
        "--release",
        "--example",
        "train_gpt",
        "--",
    ]);
    train.args(["--iters", &iters.to_string()]);
    if iters == 2000 {
        train.args(["--save", "checkpoints/gpt_shakespeare.safetensors"]);
    }
    let ours = last_json_line(train.env("RAYON_NUM_THREADS", threads))?;

    println!("==> KV cache: cargo run --release --example kv_cache_speed");
    let kv_cache = last_json_line(
        cargo()
            .args([
                "run",
                "--quiet",
                "--release",
                "--example",
                "kv_cache_speed",
                "--",
                "--json",
            ])
            .env("RAYON_NUM_THREADS", threads),
    )?;

    let seconds = |v: &Value| v["train_seconds"].as_f64().unwrap_or(f64::NAN);
    let loss = |v: &Value| v["val_loss_full_split"].as_f64().unwrap_or(f64::NAN);
    let results = json!({
        "generated_by": "cargo xtask bench-gpt",
        "date": crate::bench::today()?,
        "machine": crate::bench::Cpu::read().description(),
        "threads": 2,
        "max_iters": iters,
        "torch_version": torch["torch_version"],
        "torch": torch,
        "crate": ours,
        "time_ratio": seconds(&ours) / seconds(&torch),
        "val_loss_difference": loss(&ours) - loss(&torch),
        "kv_cache": kv_cache,
    });
    println!(
        "\nvalidation loss (whole split): crate {:.4}, PyTorch {:.4} (difference {:+.4})\n\
         training time: crate {:.1} s, PyTorch {:.1} s (ratio {:.2}×)",
        loss(&ours),
        loss(&torch),
        loss(&ours) - loss(&torch),
        seconds(&ours),
        seconds(&torch),
        seconds(&ours) / seconds(&torch)
    );
    let path = root().join(GPT_RESULTS_PATH);
    let text = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())? + "\n";
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Runs `command`, echoing its output line by line (a long run shows its progress), and
/// returns its last line parsed as JSON.
fn last_json_line(command: &mut Command) -> Result<Value, String> {
    let mut child = command
        .current_dir(root())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {command:?}: {e}"))?;
    let mut last = String::new();
    for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
        let line = line.map_err(|e| e.to_string())?;
        if !line.starts_with('{') {
            println!("    {line}");
        }
        last = line;
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("{command:?} failed ({status})"));
    }
    serde_json::from_str(&last).map_err(|e| format!("{command:?}: the last line is not JSON: {e}"))
}
