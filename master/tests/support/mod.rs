//! Processes both integration tests start: servers killed when dropped, free
//! loopback ports, the workspace's edge-exporter binary.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

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
