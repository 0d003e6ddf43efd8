//! `cargo xtask start`: set up if needed, build the book, serve it and start JupyterLab.
//!
//! Both servers listen on 127.0.0.1 only and stop together (JupyterLab's kernels included)
//! however `start` ends: Ctrl-C (SIGINT), SIGTERM (`kill`, `timeout`, a container stop),
//! SIGHUP (a closed terminal), or either server exiting. A port already held by a server that
//! an earlier `start` left behind is named, with `cargo xtask stop` to free it.
//! `--no-browser` opens nothing (for remote or headless machines); `--smoke` starts both,
//! checks that the book answers and that JupyterLab lists the Rust kernel, then stops.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::procs;
use crate::setup::venv_bin;
use crate::util::root;

/// Where `mdbook serve` listens.
pub const BOOK_PORT: u16 = 3000;
/// Where JupyterLab listens.
pub const LAB_PORT: u16 = 8888;

/// Set by the signal handler: SIGINT, SIGTERM or SIGHUP arrived.
static STOP: AtomicBool = AtomicBool::new(false);

/// `cargo xtask start [--no-browser] [--smoke]`.
pub fn main(args: &[String]) -> Result<(), String> {
    let no_browser = args.iter().any(|a| a == "--no-browser");
    let smoke = args.iter().any(|a| a == "--smoke");
    // First thing, so that a signal during setup or the book build also ends cleanly.
    // ctrlc's `termination` feature adds SIGTERM and SIGHUP to SIGINT.
    ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst))
        .map_err(|e| format!("cannot catch Ctrl-C/SIGTERM/SIGHUP: {e}"))?;
    for (port, what) in [(BOOK_PORT, "the book"), (LAB_PORT, "JupyterLab")] {
        port_free(port, what)?;
    }
    crate::setup::main(&[])?;
    crate::book::main(&[])?;
    stop_requested()?;
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
        // A new notebook (launcher, "New notebook") gets the Rust kernel; the course's
        // notebooks name it in their metadata already.
        .arg("--MappingKernelManager.default_kernel_name=rust")
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
    // A kernel started from JupyterLab builds in evcxr's folder too: pin it to Cargo.lock.
    crate::notebooks::prepare_evcxr_dir(false)?;
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
    while !STOP.load(Ordering::SeqCst) {
        if let Some(name) = servers.exited() {
            return Err(format!("{name} stopped unexpectedly"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // After SIGHUP the terminal may be gone: a failed write must not stop the cleanup.
    let _ = writeln!(
        std::io::stdout(),
        "\nstopping the book server and JupyterLab"
    );
    Ok(())
}

/// Err once a stop signal has arrived (the servers, if any, stop when dropped).
fn stop_requested() -> Result<(), String> {
    if STOP.load(Ordering::SeqCst) {
        Err("stopped by a signal before the servers were ready".into())
    } else {
        Ok(())
    }
}

/// Ok if nothing listens on `port`; else an error naming who does and how to stop it.
fn port_free(port: u16, what: &str) -> Result<(), String> {
    if TcpStream::connect(("127.0.0.1", port)).is_err() {
        return Ok(());
    }
    let holders = procs::listeners(port);
    let ours: Vec<u32> = holders.iter().copied().filter(|p| is_ours(*p)).collect();
    let shown = |pids: &[u32]| {
        pids.iter()
            .map(|p| format!("pid {p}: {:.120}", procs::cmdline(*p)))
            .collect::<Vec<_>>()
            .join("; ")
    };
    Err(if !ours.is_empty() {
        format!(
            "port {port} (for {what}) is held by this project's own server, left running by an \
             earlier `cargo xtask start` ({}).\nStop it with `cargo xtask stop`, then start again.",
            shown(&ours)
        )
    } else if !holders.is_empty() {
        format!(
            "port {port} (for {what}) is held by another program ({}); stop it or free the port",
            shown(&holders)
        )
    } else {
        format!(
            "port {port} (for {what}) is taken by a process this user cannot see; free the port"
        )
    })
}

/// Whether `pid` is a server that `cargo xtask start` of this checkout starts: `mdbook
/// serve` working in the repository root, or JupyterLab serving its `notebooks/` folder.
fn is_ours(pid: u32) -> bool {
    let cmd = procs::cmdline(pid);
    let notebooks = format!(
        "--ServerApp.root_dir={}",
        root().join("notebooks").display()
    );
    (cmd.contains("mdbook serve") && procs::cwd(pid).is_some_and(|d| d == root()))
        || (cmd.contains("jupyter") && cmd.contains(&notebooks))
}

/// `cargo xtask stop`: stops this project's servers that hold the book's or JupyterLab's
/// port (left by a `start` that was killed with SIGKILL, say), with their kernels.
pub fn stop() -> Result<(), String> {
    let mut stopped = 0;
    for port in [BOOK_PORT, LAB_PORT] {
        for pid in procs::listeners(port) {
            if !is_ours(pid) {
                println!("port {port}: pid {pid} is not this project's server; left alone");
                continue;
            }
            println!("stopping pid {pid}: {:.120}", procs::cmdline(pid));
            let group = procs::parent_and_group(pid).map_or(pid, |(_, g)| g);
            stop_tree(pid, group);
            stopped += 1;
        }
    }
    for port in [BOOK_PORT, LAB_PORT] {
        if TcpStream::connect(("127.0.0.1", port)).is_ok()
            && procs::listeners(port).iter().any(|p| is_ours(*p))
        {
            return Err(format!(
                "port {port} is still held by this project's server"
            ));
        }
    }
    println!("{stopped} server(s) stopped");
    Ok(())
}

/// Stops a server and everything below it: SIGTERM to its process group, so it can shut its
/// kernels down, then SIGTERM to any descendant still running (kernels live in sessions of
/// their own), then SIGKILL to whatever is left after 10 s.
fn stop_tree(pid: u32, group: u32) {
    let below = procs::descendants(pid);
    procs::signal("TERM", &format!("-{group}"));
    let mut all = below.clone();
    all.push(pid);
    let left = procs::wait_gone(&all, Duration::from_secs(10));
    for p in &left {
        procs::signal("TERM", &p.to_string());
    }
    for p in procs::wait_gone(&left, Duration::from_secs(5)) {
        procs::signal("KILL", &p.to_string());
    }
    procs::signal("KILL", &format!("-{group}"));
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
        // Each server is the leader of its own group (spawned with process_group(0)).
        let threads: Vec<_> = self
            .0
            .iter()
            .map(|(_, child)| {
                let pid = child.id();
                std::thread::spawn(move || stop_tree(pid, pid))
            })
            .collect();
        for t in threads {
            let _ = t.join();
        }
        for (_, child) in &mut self.0 {
            let _ = child.wait();
        }
    }
}

/// Polls `GET path` on 127.0.0.1:`port` until the body contains `needle`; gives up at once
/// when one of the servers has exited (its own error message is above) or a stop signal came.
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
        stop_requested()?;
        if let Some(name) = servers.exited() {
            return Err(format!("{name} exited (see its messages above)"));
        }
        match http(port, "GET", path, "") {
            Ok(body) if body.contains(needle) => return Ok(()),
            Ok(body) => last = format!("answer without {needle}: {:.200}", body),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(last)
}

/// A minimal HTTP/1.0 request on localhost, returning the whole response.
pub fn http(port: u16, method: &str, path: &str, body: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
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

/// The `start` stage of `cargo xtask test`: the smoke test, then the proof that no server
/// outlives `start` after SIGINT, SIGTERM or SIGHUP (`xtask/tests/start_signals.rs`, ignored
/// by plain `cargo test` because it needs the tools from setup).
pub fn check() -> Result<(), String> {
    main(&["--smoke".to_string()])?;
    crate::util::run(crate::util::cargo().args([
        "test",
        "--package",
        "xtask",
        "--test",
        "start_signals",
        "--",
        "--ignored",
        "--test-threads=1",
    ]))
}

/// Runs `start` (the command `cmd`, e.g. `xtask start --no-browser`), waits until it prints
/// its URLs, checks that the book answers, starts a Rust kernel through JupyterLab's API,
/// sends `signal` ("INT", "TERM" or "HUP") to `start` and checks that it exits and leaves
/// nothing behind: both ports free, both server processes and the kernel gone. Returns a
/// one-line summary with the times.
pub fn stops_on_signal(
    mut cmd: Command,
    signal: &str,
    ready_within: Duration,
) -> Result<String, String> {
    for (port, what) in [(BOOK_PORT, "the book"), (LAB_PORT, "JupyterLab")] {
        port_free(port, what)?;
    }
    let t = Instant::now();
    let mut start = cmd
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let pid = start.id();
    let stdout = start.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        // Read to the end whatever comes (bytes, not `lines()`, which stops at the first line
        // that is not UTF-8): a reader that stopped early would close the pipe, and the
        // servers and kernels writing to it would die of a broken pipe.
        for line in BufReader::new(stdout).split(b'\n').map_while(Result::ok) {
            let line = String::from_utf8_lossy(&line).into_owned();
            println!("    | {line}");
            let _ = tx.send(line);
        }
    });
    // On any failure below, stop `start` (and so its servers) before returning the error, so
    // that a failed check does not leave the ports taken for the next one.
    let stop_start = |e: String| {
        procs::signal("TERM", &pid.to_string());
        procs::wait_gone(&[pid], Duration::from_secs(60));
        e
    };
    let mut token = None;
    let deadline = Instant::now() + ready_within;
    while token.is_none() {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .map_err(|_| {
                procs::signal("KILL", &pid.to_string());
                format!("`start` printed no JupyterLab URL within {ready_within:?}")
            })?;
        token = line
            .split("token=")
            .nth(1)
            .map(|rest| rest.split_whitespace().next().unwrap_or("").to_string());
    }
    let token = token.unwrap_or_default();
    let ready = t.elapsed();
    let (servers, kernels) = start_a_kernel(pid, &token).map_err(stop_start)?;
    let t_signal = Instant::now();
    procs::signal(signal, &pid.to_string());
    let exited = procs::wait_gone(&[pid], Duration::from_secs(60)).is_empty();
    let _ = start.wait();
    if !exited {
        return Err(format!("`start` did not exit within 60 s of SIG{signal}"));
    }
    let stop_time = t_signal.elapsed();
    let mut left: Vec<String> = Vec::new();
    for port in [BOOK_PORT, LAB_PORT] {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            left.push(format!("port {port} still answers"));
        }
    }
    for p in servers.iter().chain(&kernels) {
        if procs::alive(*p) {
            left.push(format!("pid {p} ({:.80}) still runs", procs::cmdline(*p)));
            procs::signal("KILL", &p.to_string());
        }
    }
    if !left.is_empty() {
        return Err(format!("after SIG{signal}: {}", left.join("; ")));
    }
    Ok(format!(
        "SIG{signal}: ready in {:.0} s; {} server(s) and {} kernel process(es) gone, ports \
         {BOOK_PORT} and {LAB_PORT} free, {:.1} s after the signal",
        ready.as_secs_f64(),
        servers.len(),
        kernels.len(),
        stop_time.as_secs_f64()
    ))
}

/// Checks that the book answers, then starts a Rust kernel through JupyterLab as a learner
/// opening a notebook does; returns the servers' and the kernel's process ids.
fn start_a_kernel(pid: u32, token: &str) -> Result<(Vec<u32>, Vec<u32>), String> {
    let book = http(BOOK_PORT, "GET", "/", "")?;
    if !book.contains("<html") {
        return Err(format!("the book answered without a page: {book:.200}"));
    }
    let servers: Vec<u32> = [BOOK_PORT, LAB_PORT]
        .iter()
        .flat_map(|p| procs::listeners(*p))
        .collect();
    let before = procs::descendants(pid);
    let kernel = http(
        LAB_PORT,
        "POST",
        &format!("/api/kernels?token={token}"),
        r#"{"name": "rust"}"#,
    )?;
    if !kernel.contains("\"id\"") {
        return Err(format!(
            "JupyterLab did not start a Rust kernel: {kernel:.300}"
        ));
    }
    // JupyterLab may answer before the kernel's process shows up: look for up to 60 s.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let kernels: Vec<u32> = procs::descendants(pid)
            .into_iter()
            .filter(|p| !before.contains(p) && procs::cmdline(*p).contains("evcxr"))
            .collect();
        if !kernels.is_empty() {
            return Ok((servers, kernels));
        }
        if Instant::now() > deadline {
            return Err("no evcxr kernel process appeared within 60 s of starting a kernel".into());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
