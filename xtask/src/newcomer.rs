//! `cargo xtask newcomer [--keep]`: the README's two commands, run as a new user runs them.
//!
//! A clean clone of the committed `HEAD` in a temporary folder, an empty `HOME` and an empty
//! `CARGO_HOME` (only the Rust toolchain is reused, through rustup's own `RUSTUP_HOME`), then
//! `cargo xtask test` and `cargo xtask start --no-browser`, stopped with SIGTERM once it
//! serves (and checked to leave no server behind). Every tool the project needs is installed
//! from scratch, so this takes ~20 minutes on 2 cores: it is for contributors before a
//! release or after changing setup, not for CI. Debian packages are system-wide and stay
//! installed; everything else (cargo tools, the Python venv, the Jupyter kernel, evcxr's build
//! folder, every build) starts empty. The folder is removed afterwards unless `--keep` or a
//! step failed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::setup::which;
use crate::util::{output, root, run};

/// The rustup proxies a toolchain user calls (all the same `rustup` binary, named apart).
const PROXIES: &[&str] = &[
    "cargo",
    "cargo-clippy",
    "cargo-fmt",
    "clippy-driver",
    "rustc",
    "rustdoc",
    "rustfmt",
    "rustup",
];

/// `cargo xtask newcomer [--keep]`.
pub fn main(args: &[String]) -> Result<(), String> {
    let keep = args.iter().any(|a| a == "--keep");
    let base = std::env::temp_dir().join(format!("attention-newcomer-{}", std::process::id()));
    let dirty = output(
        Command::new("git")
            .arg("-C")
            .arg(root())
            .args(["status", "--porcelain"]),
    )?;
    if !dirty.trim().is_empty() {
        println!("note: uncommitted changes are not part of the check (it clones HEAD)");
    }
    let mut times: Vec<(&str, Duration)> = Vec::new();
    let result = steps(&base, &mut times);
    println!("\nnewcomer check ({}):", base.display());
    for (step, t) in &times {
        println!("  {step:<34} {:>7.0} s", t.as_secs_f64());
    }
    let total: Duration = times.iter().map(|t| t.1).sum();
    println!("  {:<34} {:>7.0} s", "total", total.as_secs_f64());
    match &result {
        Ok(()) if !keep => {
            let _ = std::fs::remove_dir_all(&base);
            println!("passed; folder removed");
        }
        Ok(()) => println!("passed; folder kept"),
        Err(_) => println!("FAILED; folder kept for a look"),
    }
    result
}

fn steps(base: &Path, times: &mut Vec<(&'static str, Duration)>) -> Result<(), String> {
    let clone = base.join("attention");
    let home = base.join("home");
    let cargo_home = base.join("cargo-home");
    let mut timed = |name: &'static str, f: &mut dyn FnMut() -> Result<(), String>| {
        println!("\n==> newcomer: {name}");
        let t = Instant::now();
        let r = f();
        times.push((name, t.elapsed()));
        r.map_err(|e| format!("newcomer step `{name}` failed: {e}"))
    };
    timed("clean clone, empty HOME", &mut || {
        std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
        run(Command::new("git")
            .args(["clone", "--quiet"])
            .arg(root())
            .arg(&clone))?;
        toolchain_only(&cargo_home.join("bin"))
    })?;
    let env = Newcomer {
        clone: clone.clone(),
        home: home.clone(),
        cargo_home: cargo_home.clone(),
    };
    timed("cargo xtask test", &mut || {
        run(&mut env.cargo(&["xtask", "test"]))
    })?;
    timed("cargo xtask start, then SIGTERM", &mut || {
        let start = env.cargo(&["xtask", "start", "--no-browser"]);
        let summary = crate::start::stops_on_signal(start, "TERM", Duration::from_secs(1800))?;
        println!("    {summary}");
        Ok(())
    })?;
    Ok(())
}

/// Fills an empty `CARGO_HOME/bin` with the rustup proxies only: the toolchain, and none of
/// the tools (mdbook, evcxr_jupyter, …) this machine's own `CARGO_HOME` may hold.
fn toolchain_only(bin: &Path) -> Result<(), String> {
    let rustup = which("rustup").ok_or("rustup is not on PATH")?;
    let rustup = std::fs::canonicalize(&rustup).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(bin).map_err(|e| e.to_string())?;
    for proxy in PROXIES {
        std::os::unix::fs::symlink(&rustup, bin.join(proxy))
            .map_err(|e| format!("{}: {e}", bin.join(proxy).display()))?;
    }
    Ok(())
}

/// The newcomer's environment: this process's, less everything cargo, rustup tools, a venv
/// or evcxr set, with the new `HOME` and `CARGO_HOME` and this machine's rustup toolchains.
struct Newcomer {
    clone: PathBuf,
    home: PathBuf,
    cargo_home: PathBuf,
}

impl Newcomer {
    fn cargo(&self, args: &[&str]) -> Command {
        let bin = self.cargo_home.join("bin");
        let mut cmd = Command::new(bin.join("cargo"));
        cmd.args(args).current_dir(&self.clone);
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            let tooling = [
                "CARGO",
                "RUSTUP_TOOLCHAIN",
                "RUSTC",
                "RUSTDOC",
                "EVCXR",
                "JUPYTER",
            ]
            .iter()
            .any(|p| key.starts_with(p));
            if tooling || key == "VIRTUAL_ENV" || key == "OUT_DIR" {
                cmd.env_remove(key.as_ref());
            }
        }
        let old_cargo_bin = crate::util::cargo_home().map(|h| h.join("bin"));
        let path = std::env::var_os("PATH").unwrap_or_default();
        let kept = std::env::split_paths(&path).filter(|p| Some(p) != old_cargo_bin.as_ref());
        let path = std::env::join_paths(std::iter::once(bin).chain(kept)).expect("valid PATH");
        let rustup_home = std::env::var_os("RUSTUP_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".rustup")))
            .unwrap_or_default();
        cmd.env("PATH", path)
            .env("HOME", &self.home)
            .env("CARGO_HOME", &self.cargo_home)
            .env("RUSTUP_HOME", rustup_home);
        cmd
    }
}
