//! What the integration tests share: a ConfigMap-shaped directory, the sidecar
//! process, and looks at /proc.

#![allow(dead_code)] // Each test binary uses its own part of this.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// A ConfigMap volume: `<root>/<name>` -> `..data/<name>`, `..data` -> a versioned dir.
pub struct ConfigMap {
    pub root: PathBuf,
    version: u32,
}

impl ConfigMap {
    pub fn new(root: &Path, files: &[(&str, &str)]) -> Self {
        std::fs::create_dir_all(root).unwrap();
        let mut map = ConfigMap {
            root: root.to_path_buf(),
            version: 0,
        };
        map.update(files);
        map
    }

    /// Writes a new version and swaps `..data` to it atomically, as the kubelet does.
    pub fn update(&mut self, files: &[(&str, &str)]) {
        self.version += 1;
        let dir_name = format!("..2026_11_22_{:02}", self.version);
        let dir = self.root.join(&dir_name);
        std::fs::create_dir(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
            let link = self.root.join(name);
            if std::fs::symlink_metadata(&link).is_err() {
                std::os::unix::fs::symlink(format!("..data/{name}"), &link).unwrap();
            }
        }
        let tmp = self.root.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&dir_name, &tmp).unwrap();
        std::fs::rename(&tmp, self.root.join("..data")).unwrap();
    }

    pub fn config(&self) -> PathBuf {
        self.root.join("nodes.conf")
    }
}

/// The sidecar process, killed when dropped.
pub struct Sidecar {
    pub child: Child,
    pub output: PathBuf,
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sidecar {
    /// The sidecar's command line for node `test-node` with `extra`, and a 1 s timeout
    /// and a 200 ms kill grace unless `extra` sets them; its output streams go nowhere.
    pub fn command(config: &Path, output: &Path, extra: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_edge-sidecar"));
        command
            .arg(format!("--config={}", config.display()))
            .arg(format!("--output={}", output.display()))
            .arg("--node-name=test-node");
        for default in ["--timeout=1s", "--kill-grace=200ms"] {
            let flag = default.split('=').next().unwrap_or(default);
            if !extra.iter().any(|e| e.starts_with(flag)) {
                command.arg(default);
            }
        }
        command
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    }

    pub fn spawn(command: &mut Command, output: &Path) -> Self {
        let child = command.spawn().expect("start edge-sidecar");
        Sidecar {
            child,
            output: output.to_path_buf(),
        }
    }

    pub fn start(config: &Path, output: &Path, extra: &[&str]) -> Self {
        Self::spawn(&mut Self::command(config, output, extra), output)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    /// Waits until the file has a line starting with `line`; returns how long it took.
    pub fn wait_for(&self, line: &str, within: Duration) -> Duration {
        let started = Instant::now();
        loop {
            if self.text().lines().any(|l| l.starts_with(line)) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < within,
                "no line {line:?} within {within:?}; file:\n{}",
                self.text()
            );
            sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `series` has a value of at least `at_least`.
    pub fn wait_for_value(&self, series: &str, at_least: f64, within: Duration) {
        let started = Instant::now();
        while self.value(series).is_none_or(|v| v < at_least) {
            assert!(
                started.elapsed() < within,
                "{series} not >= {at_least} within {within:?}; file:\n{}",
                self.text()
            );
            sleep(Duration::from_millis(20));
        }
    }

    pub fn value(&self, series: &str) -> Option<f64> {
        value_in(&self.text(), series)
    }

    /// `VmRSS` and `VmHWM` (the peak) of the sidecar, in bytes.
    pub fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let field = |name: &str| -> u64 {
            let line = status
                .lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_else(|| panic!("no {name} in {status}"));
            let kib: u64 = line
                .split_whitespace()
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap();
            kib * 1024
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Sends SIGTERM and waits for the exit, at most `within`.
    pub fn terminate(&mut self, within: Duration) -> ExitStatus {
        // SAFETY: kill(2) on our own child's pid, not yet reaped.
        let sent = unsafe { libc::kill(self.pid() as i32, libc::SIGTERM) };
        assert_eq!(sent, 0, "{}", std::io::Error::last_os_error());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < within,
                "the sidecar did not exit within {within:?} of SIGTERM"
            );
            sleep(Duration::from_millis(10));
        }
    }
}

/// The value of the sample line `series` (name and labels as written) in `text`.
pub fn value_in(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let (name, value) = l.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok()).flatten()
    })
}

/// Processes (not zombies, whose command line is empty) whose command line contains
/// `marker`, as `pid: command line`.
pub fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) {
                found.push(format!(
                    "{}: {cmdline}",
                    entry.file_name().to_string_lossy()
                ));
            }
        }
    }
    found
}

/// Kills what is left of a test's processes, however the test ended.
pub struct KillOnDrop(pub Vec<String>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for marker in &self.0 {
            for process in processes_with(marker) {
                if let Some(pid) = process.split(':').next().and_then(|p| p.parse().ok()) {
                    // SAFETY: kill(2) with a pid and a signal number.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
    }
}
