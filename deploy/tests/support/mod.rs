//! What both test files need: the repository, its manifests, the workspace's
//! binaries, the external tools scripts/test.sh installs, servers killed on drop.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use edge_deploy::manifest::Manifest;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

pub fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn all_in_one() -> Manifest {
    Manifest::parse(&read("manifests/all-in-one.yaml")).unwrap()
}

/// A binary of this workspace, built by `cargo test --workspace`.
pub fn workspace_binary(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_assemble-manifests")).with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: run the workspace's tests (scripts/test.sh builds every binary)",
        path.display()
    );
    path
}

/// An external program, with the package scripts/test.sh installs it from.
pub fn tool(name: &str, package: &str) -> Command {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{name} is not installed: scripts/test.sh installs it ({package})"
    );
    Command::new(name)
}

/// Runs `command`, panicking with its output unless it succeeds; returns the output.
pub fn succeeds(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A child process killed when dropped.
pub struct Server {
    pub name: String,
    pub child: Child,
}

impl Server {
    pub fn start(name: &str, command: &mut Command, log: &Path) -> Server {
        let file = std::fs::File::create(log).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: {command:?}: {e}"));
        Server {
            name: name.into(),
            child,
        }
    }

    /// SIGTERM, then wait for the exit: a clean stop, as systemd or the kubelet does it.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}
