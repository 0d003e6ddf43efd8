//! Project automation, run as `cargo xtask <command>` (see `.cargo/config.toml`).
//!
//! - `cargo xtask test`: every check CI runs, in order, stopping at the first failure.

use std::process::{Command, ExitCode};
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        _ => {
            eprintln!("usage: cargo xtask test");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(stage) => {
            eprintln!("\nxtask: stage `{stage}` failed");
            ExitCode::FAILURE
        }
    }
}

/// One named check: a cargo command line and extra environment variables.
struct Stage {
    name: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
}

const STAGES: &[Stage] = &[
    Stage {
        name: "fmt",
        args: &["fmt", "--all", "--", "--check"],
        env: &[],
    },
    Stage {
        name: "clippy",
        args: &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        env: &[],
    },
    Stage {
        name: "test",
        args: &["test", "--workspace"],
        env: &[],
    },
    Stage {
        name: "doc",
        args: &["doc", "--no-deps", "--workspace"],
        env: &[("RUSTDOCFLAGS", "-D warnings")],
    },
];

/// Runs every stage; returns the name of the first one that fails.
fn test() -> Result<(), &'static str> {
    let start = Instant::now();
    for stage in STAGES {
        println!("==> {} (cargo {})", stage.name, stage.args.join(" "));
        let t = Instant::now();
        let status = Command::new(env!("CARGO"))
            .args(stage.args)
            .envs(stage.env.iter().copied())
            .status()
            .map_err(|_| stage.name)?;
        if !status.success() {
            return Err(stage.name);
        }
        println!(
            "    {} ok in {:.1} s",
            stage.name,
            t.elapsed().as_secs_f64()
        );
    }
    println!(
        "\nall checks passed in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
