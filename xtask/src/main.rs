//! Project automation, run as `cargo xtask <command>` (alias in `.cargo/config.toml`).

mod bench;
mod book;
mod exercises;
mod notebooks;
mod setup;
mod start;
mod util;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  start [--no-browser]         set up if needed, build and serve the book, start JupyterLab
  test                         every check CI runs (the README's test command)
  setup                        install the tools (idempotent; fast when present)
  notebooks [NAME] [--bless]   execute notebooks headless and check their outputs
  book [--check]               generate the book's numbers and figures, build it
  exercises [--hint N]         list the exercises, your progress and the next hint
  bench-torch [--quick] [--gpu] benchmarks against PyTorch in the same run (needs .venv-torch)";

fn main() -> ExitCode {
    util::add_cargo_bin_to_path();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or_default();
    let result = match args.first().map(String::as_str) {
        Some("start") => start::main(rest),
        Some("test") => test(),
        Some("setup") => setup::main(rest),
        Some("notebooks") => notebooks::main(rest),
        Some("book") => book::main(rest),
        Some("exercises") => exercises::main(rest),
        Some("bench-torch") => bench::main(rest),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("\nxtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Every check, in order; stops at the first failing stage and names it.
fn test() -> Result<(), String> {
    use util::{cargo, run, stage};
    let start = std::time::Instant::now();
    stage("setup", || setup::main(&[]))?;
    stage("fmt", || {
        run(cargo().args(["fmt", "--all", "--", "--check"]))
    })?;
    stage("clippy", || {
        run(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))?;
        // The optional backends' code (cfg'd out above) gets the same lints.
        run(cargo().args([
            "clippy",
            "--package",
            "attention",
            "--all-targets",
            "--features",
            "blas,gpu",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    stage("test", || run(cargo().args(["test", "--workspace"])))?;
    stage("test (blas)", || {
        run(cargo().args(["test", "--package", "attention", "--features", "blas"]))
    })?;
    // The GPU kernels on whatever adapter wgpu finds: in CI, Mesa's software Vulkan
    // (llvmpipe). REQUIRE_GPU turns "no adapter" from a skip into a failure.
    stage("test (gpu)", || {
        run(cargo()
            .args(["test", "--package", "attention", "--features", "gpu"])
            .env("REQUIRE_GPU", "1"))
    })?;
    stage("doc", || {
        run(cargo()
            .args([
                "doc",
                "--no-deps",
                "--workspace",
                "--features",
                "attention/gpu",
            ])
            .env("RUSTDOCFLAGS", "-D warnings"))
    })?;
    stage("exercises", exercises::check)?;
    stage("book", book::check)?;
    stage("notebooks", notebooks::check)?;
    stage("start (smoke)", || start::main(&["--smoke".to_string()]))?;
    println!(
        "\nall checks passed in {:.0} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
