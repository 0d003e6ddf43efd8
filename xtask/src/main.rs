//! `cargo xtask <command>` (alias in `.cargo/config.toml`); the commands live in the library
//! half of this crate so that its integration tests can call them too.

fn main() -> std::process::ExitCode {
    xtask::cli()
}
