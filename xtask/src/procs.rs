//! Processes and listening ports, read from Linux's `/proc`: who holds a port, a process's
//! command line, group and children. `cargo xtask start` and `stop` use them to stop every
//! server they started (kernels included) and to name a leftover server that holds a port.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// The processes with a TCP socket listening on `port` (any address, IPv4 or IPv6).
pub fn listeners(port: u16) -> Vec<u32> {
    let inodes: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|text| listening_inodes(&text, port))
        .collect();
    if inodes.is_empty() {
        return Vec::new();
    }
    let sockets: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    all_pids()
        .into_iter()
        .filter(|pid| {
            std::fs::read_dir(format!("/proc/{pid}/fd"))
                .into_iter()
                .flatten()
                .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
                .any(|target| sockets.iter().any(|s| target.as_os_str() == s.as_str()))
        })
        .collect()
}

/// The socket inodes in a `/proc/net/tcp` table that listen on `port`. Each line reads
/// `sl local_address rem_address st … inode`, the address as `HEXIP:HEXPORT` and state
/// `0A` meaning LISTEN.
fn listening_inodes(table: &str, port: u16) -> Vec<String> {
    let wanted = format!("{port:04X}");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields.get(1)?.rsplit(':').next()?;
            (local_port == wanted && *fields.get(3)? == "0A")
                .then(|| fields.get(9).map(|s| s.to_string()))?
        })
        .collect()
}

fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// The command line of `pid`, its arguments joined by spaces ("" if gone).
pub fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| {
            String::from_utf8_lossy(&bytes)
                .split('\0')
                .filter(|a| !a.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// The working directory of `pid`, if readable.
pub fn cwd(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/cwd")).ok()
}

/// `(parent pid, process group)` of `pid`, from `/proc/PID/stat` (fields 4 and 5, after the
/// command name in parentheses, which may itself contain spaces or parentheses).
pub fn parent_and_group(pid: u32) -> Option<(u32, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = stat[stat.rfind(')')? + 1..].split_whitespace().skip(1);
    Some((rest.next()?.parse().ok()?, rest.next()?.parse().ok()?))
}

/// Whether `pid` is still running (a zombie counts as gone).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .is_some_and(|i| !stat[i + 1..].trim_start().starts_with('Z'))
    })
}

/// Every process below `pid` (children, their children, …), whatever their group or
/// session: JupyterLab starts each kernel in a session of its own.
pub fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = all_pids()
        .into_iter()
        .filter_map(|p| Some((p, parent_and_group(p)?.0)))
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// Sends `signal` (e.g. "TERM") to a process, or to a process group when `target` is
/// `-PGID`. Errors (already gone) are ignored.
pub fn signal(signal: &str, target: &str) {
    let _ = Command::new("kill")
        .args(["-s", signal, "--", target])
        .stderr(std::process::Stdio::null())
        .status();
}

/// Waits until none of `pids` is alive or `timeout` passes; the ones still alive.
pub fn wait_gone(pids: &[u32], timeout: Duration) -> Vec<u32> {
    let deadline = Instant::now() + timeout;
    loop {
        let left: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_sockets_are_read_from_the_tcp_table() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0\n   1: 0100007F:22B8 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0 20 4 30 10 -1\n";
        assert_eq!(listening_inodes(table, 3000), ["4242"]);
        // 8888 = 0x22B8 appears, but as an established connection, not a listener.
        assert!(listening_inodes(table, 8888).is_empty());
    }

    #[test]
    fn this_process_is_found_with_its_children_and_listener() {
        let me = std::process::id();
        assert!(alive(me));
        let (_, group) = parent_and_group(me).unwrap();
        assert!(group > 0);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(listeners(port), [me]);
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        assert!(descendants(me).contains(&child.id()));
        // Between fork and exec the child still shows this test's command line: wait for exec.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !cmdline(child.id()).starts_with("sleep 30") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(cmdline(child.id()), "sleep 30");
        signal("TERM", &child.id().to_string());
        child.wait().unwrap();
        assert!(!alive(child.id()));
        drop(listener);
        assert!(listeners(port).is_empty());
    }
}
