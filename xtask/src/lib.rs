//! Project automation, run as `cargo xtask <command>` (alias in `.cargo/config.toml`).
//!
//! A library with a thin `main`, so the integration tests in `xtask/tests/` can drive the
//! same code (and the built binary, through `CARGO_BIN_EXE_xtask`).

pub mod bench;
pub mod bench_gpt;
pub mod book;
pub mod exercises;
pub mod newcomer;
pub mod notebook_images;
pub mod notebook_lock;
pub mod notebooks;
pub mod procs;
pub mod setup;
pub mod start;
pub mod util;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  start [--no-browser]         set up if needed, build and serve the book, start JupyterLab
  stop                         stop servers an earlier `start` left running (ports 3000, 8888)
  test                         every check CI runs (the README's test command)
  newcomer [--keep]            a clean clone with an empty HOME and CARGO_HOME runs the
                               README's two commands (~20 min; for contributors, not CI)
  setup                        install the tools (idempotent; fast when present)
  notebooks [NAME] [--bless] [--cold]
                               execute notebooks headless and check their outputs
  book [--check]               generate the book's numbers and figures, build it
  exercises [--hint N]         list the exercises, your progress and the next hint
  bench-torch [--quick] [--gpu] [--rounds N]
                                benchmarks against PyTorch in the same run (needs .venv-torch)
  bench-gpt [--iters N]        chapter 10's GPT trained here and in PyTorch (~10 min)";

/// Parses the command line and runs one command; the process exit code.
pub fn cli() -> ExitCode {
    util::add_cargo_bin_to_path();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or_default();
    let result = match args.first().map(String::as_str) {
        Some("start") => start::main(rest),
        Some("stop") => start::stop(),
        Some("newcomer") => newcomer::main(rest),
        Some("test") => test(),
        Some("setup") => setup::main(rest),
        Some("notebooks") => notebooks::main(rest),
        Some("book") => book::main(rest),
        Some("exercises") => exercises::main(rest),
        Some("bench-torch") => bench::main(rest),
        Some("bench-gpt") => bench_gpt::main(rest),
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

/// Every check, in order; stops at the first failing stage and names it. Prints each
/// stage's wall time and the total at the end, passed or not, so cold and warm costs stay
/// visible.
fn test() -> Result<(), String> {
    let mut stages = Stages::default();
    let result = all_stages(&mut stages);
    stages.report();
    result
}

/// The top-level stages run so far: name, seconds, passed.
#[derive(Default)]
struct Stages(Vec<(&'static str, f64, bool)>);

impl Stages {
    /// Runs one stage through [`util::stage`] and records its time.
    fn run<T>(
        &mut self,
        name: &'static str,
        f: impl FnOnce() -> Result<T, String>,
    ) -> Result<(), String> {
        let t = std::time::Instant::now();
        let result = util::stage(name, f);
        self.0
            .push((name, t.elapsed().as_secs_f64(), result.is_ok()));
        result.map(|_| ())
    }

    fn report(&self) {
        println!(
            "
stage times:"
        );
        for (name, secs, ok) in &self.0 {
            let status = if *ok { "ok" } else { "FAILED" };
            println!("  {name:<16} {secs:>7.1} s  {status}");
        }
        let total: f64 = self.0.iter().map(|s| s.1).sum();
        let verdict = if self.0.iter().all(|s| s.2) {
            "all checks passed"
        } else {
            "stopped at the failing stage"
        };
        println!("  {:<16} {total:>7.1} s  {verdict}", "total");
    }
}

fn all_stages(stages: &mut Stages) -> Result<(), String> {
    use util::{cargo, run};
    stages.run("setup", || setup::main(&[]))?;
    stages.run("fmt", || {
        run(cargo().args(["fmt", "--all", "--", "--check"]))
    })?;
    stages.run("clippy", || {
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
    stages.run("test", || run(cargo().args(["test", "--workspace"])))?;
    stages.run("test (blas)", || {
        run(cargo().args(["test", "--package", "attention", "--features", "blas"]))
    })?;
    // The GPU kernels on whatever adapter wgpu finds: in CI, Mesa's software Vulkan
    // (llvmpipe). REQUIRE_GPU turns "no adapter" from a skip into a failure.
    stages.run("test (gpu)", || {
        run(cargo()
            .args(["test", "--package", "attention", "--features", "gpu"])
            .env("REQUIRE_GPU", "1"))
    })?;
    stages.run("doc", || {
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
    stages.run("exercises", exercises::check)?;
    stages.run("book", book::check)?;
    // Cold, as on a newcomer's first run: from an empty evcxr build folder.
    stages.run("notebooks", notebooks::check)?;
    stages.run("start", start::check)?;
    Ok(())
}
