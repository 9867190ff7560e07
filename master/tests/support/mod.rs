//! Processes the integration tests start: servers killed when dropped, free
//! loopback ports, the workspace's edge-exporter binary; certificates in `certs`.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub mod certs;
pub mod http;

/// A child process killed when dropped.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

pub fn spawn(program: &str, args: &[String]) -> Server {
    Server(
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}")),
    )
}

/// Like [`spawn`], its standard error (a master's log) written to `log`.
pub fn spawn_logged(program: &str, args: &[String], log: &Path) -> Server {
    let log = std::fs::File::create(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    Server(
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}")),
    )
}

/// The edge-exporter binary of this workspace (built by cargo test for the workspace).
pub fn edge_exporter() -> String {
    let path = Path::new(env!("CARGO_BIN_EXE_edge-master")).with_file_name("edge-exporter");
    assert!(
        path.exists(),
        "{} is missing: run the workspace's tests (scripts/test.sh builds every binary)",
        path.display()
    );
    path.display().to_string()
}

/// A field of /proc/PID/status in KiB (`VmHWM`: the peak resident set; `VmRSS`: now).
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// An exporter stand-in on loopback: answers every request with `body` as Prometheus
/// text 0.0.4, for as long as the test binary runs. Returns its port.
pub fn serve_text(body: String) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let stream = reader.get_mut();
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_bytes());
        }
    });
    port
}
