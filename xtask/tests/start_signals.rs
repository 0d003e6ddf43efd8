//! No server outlives `cargo xtask start`, however it is stopped: Ctrl-C (SIGINT), SIGTERM
//! (`kill`, `timeout`, a container stop) or SIGHUP (a closed terminal). Each run starts the
//! real command, opens a Rust kernel through JupyterLab, sends the signal and checks that
//! both ports are free and the servers and the kernel are gone.
//!
//! Needs the tools from `cargo xtask setup` (mdbook, JupyterLab, the Rust kernel), so it is
//! ignored by plain `cargo test` and run by the `start` stage of `cargo xtask test`.

use std::process::Command;
use std::time::Duration;

fn start_stops_on(signal: &str) {
    let mut start = Command::new(env!("CARGO_BIN_EXE_xtask"));
    start.args(["start", "--no-browser"]);
    match xtask::start::stops_on_signal(start, signal, Duration::from_secs(600)) {
        Ok(summary) => println!("{summary}"),
        Err(e) => panic!("{e}"),
    }
}

#[test]
#[ignore = "needs the tools from `cargo xtask setup`: run by `cargo xtask test`"]
fn start_stops_everything_on_sigint() {
    start_stops_on("INT");
}

#[test]
#[ignore = "needs the tools from `cargo xtask setup`: run by `cargo xtask test`"]
fn start_stops_everything_on_sigterm() {
    start_stops_on("TERM");
}

#[test]
#[ignore = "needs the tools from `cargo xtask setup`: run by `cargo xtask test`"]
fn start_stops_everything_on_sighup() {
    start_stops_on("HUP");
}
