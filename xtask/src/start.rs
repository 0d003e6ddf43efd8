//! `cargo xtask start`: set up if needed, build the book, serve it and start JupyterLab.
//!
//! Both servers listen on 127.0.0.1 only and stop together on Ctrl-C (or when either one
//! exits). `--no-browser` opens nothing (for remote or headless machines); `--smoke` starts
//! both, checks that the book answers and that JupyterLab lists the Rust kernel, then stops.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::setup::venv_bin;
use crate::util::root;

const BOOK_PORT: u16 = 3000;
const LAB_PORT: u16 = 8888;

/// `cargo xtask start [--no-browser] [--smoke]`.
pub fn main(args: &[String]) -> Result<(), String> {
    let no_browser = args.iter().any(|a| a == "--no-browser");
    let smoke = args.iter().any(|a| a == "--smoke");
    crate::setup::main(&[])?;
    crate::book::main(&[])?;
    let token = random_token()?;

    let mut book_cmd = Command::new("mdbook");
    book_cmd
        .args([
            "serve",
            "--hostname",
            "127.0.0.1",
            "--port",
            &BOOK_PORT.to_string(),
        ])
        .current_dir(root());
    if !no_browser && !smoke {
        book_cmd.arg("--open");
    }
    let mut lab_cmd = Command::new(venv_bin("jupyter"));
    lab_cmd
        .args(["lab", "--ServerApp.ip=127.0.0.1"])
        .arg(format!("--ServerApp.port={LAB_PORT}"))
        .arg("--ServerApp.port_retries=0")
        .arg(format!("--IdentityProvider.token={token}"))
        .arg(format!(
            "--ServerApp.root_dir={}",
            root().join("notebooks").display()
        ))
        .env("EVCXR_TMPDIR", crate::notebooks::evcxr_tmpdir());
    if no_browser || smoke {
        lab_cmd.arg("--no-browser");
    }
    if crate::setup::is_root() {
        // JupyterLab refuses to start as root (containers, CI) unless told it is on purpose.
        lab_cmd.arg("--allow-root");
    }
    let mut servers = Servers(Vec::new());
    servers.spawn("mdbook serve", book_cmd)?;
    servers.spawn("jupyter lab", lab_cmd)?;

    let book_url = format!("http://127.0.0.1:{BOOK_PORT}/");
    let lab_url = format!("http://127.0.0.1:{LAB_PORT}/lab?token={token}");
    wait_for(
        &mut servers,
        BOOK_PORT,
        "/",
        "<html",
        Duration::from_secs(60),
    )
    .map_err(|e| format!("the book server did not answer: {e}"))?;
    let kernels = format!("/api/kernelspecs?token={token}");
    wait_for(
        &mut servers,
        LAB_PORT,
        &kernels,
        "\"rust\"",
        Duration::from_secs(120),
    )
    .map_err(|e| format!("JupyterLab did not list the Rust kernel: {e}"))?;
    println!("\n  book:       {book_url}");
    println!("  JupyterLab: {lab_url}  (kernel: Rust)");
    if smoke {
        println!("\nsmoke test: the book answers and JupyterLab lists the Rust kernel");
        return Ok(());
    }
    println!("\nPress Ctrl-C to stop both.");
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .map_err(|e| format!("cannot catch Ctrl-C: {e}"))?;
    while !stop.load(Ordering::SeqCst) {
        if let Some(name) = servers.exited() {
            return Err(format!("{name} stopped unexpectedly"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("\nstopping the book server and JupyterLab");
    Ok(())
}

/// Child servers, each in its own process group; dropping this stops them all.
struct Servers(Vec<(&'static str, Child)>);

impl Servers {
    fn spawn(&mut self, name: &'static str, mut cmd: Command) -> Result<(), String> {
        // Own process group: a terminal Ctrl-C reaches only xtask, which then stops the
        // whole group (JupyterLab's kernels included) with SIGTERM.
        let child = cmd
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e} (run `cargo xtask setup`)"))?;
        self.0.push((name, child));
        Ok(())
    }

    /// The name of a server that has exited, if any.
    fn exited(&mut self) -> Option<&'static str> {
        for (name, child) in &mut self.0 {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return Some(name);
            }
        }
        None
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        }
        for (_, child) in &mut self.0 {
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `GET path` on 127.0.0.1:`port` until the body contains `needle`; gives up at once
/// when one of the servers has exited (its own error message is above).
fn wait_for(
    servers: &mut Servers,
    port: u16,
    path: &str,
    needle: &str,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        if let Some(name) = servers.exited() {
            return Err(format!("{name} exited (see its messages above)"));
        }
        match http_get(port, path) {
            Ok(body) if body.contains(needle) => return Ok(()),
            Ok(body) => last = format!("answer without {needle}: {:.200}", body),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(last)
}

/// A minimal HTTP/1.0 GET on localhost, returning the whole response.
fn http_get(port: u16, path: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    Ok(response)
}

/// 32 hex characters from the OS's random source: JupyterLab's access token.
fn random_token() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
