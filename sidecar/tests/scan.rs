//! `edge-sidecar scan` as a user runs it: the real binary, its flags and exit status,
//! on a device directory without I2C buses (what the fake buses cannot show).

use std::process::{Command, Output};

fn scan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edge-sidecar"))
        .arg("scan")
        .args(args)
        .env("NODE_NAME", "edge-node-01")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn no_buses_is_said_and_is_not_a_failure() {
    let dev = tempfile::tempdir().unwrap();
    std::fs::write(dev.path().join("ttyS0"), "").unwrap();
    let dir = dev.path().display().to_string();
    let output = scan(&["--path.dev", &dir]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        stdout(&output),
        format!(
            "I2C devices ({dir}/i2c-N, addresses 0x03-0x77 probed with a read as `i2cdetect -y -r` does):\n  \
             no I2C buses: no {dir}/i2c-N (is the bus enabled and the i2c-dev module loaded?)\n\n\
             No sensor files: no chip with a sidecar driver was identified.\n"
        )
    );
    assert!(output.stderr.is_empty(), "{output:?}");
}

#[test]
fn a_bus_that_cannot_be_opened_is_listed_and_fails_the_run() {
    let dev = tempfile::tempdir().unwrap();
    let dir = dev.path().display().to_string();
    let output = scan(&["--path.dev", &dir, "--bus", "7"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stdout(&output).contains(&format!(
            "  i2c-7  -        not scanned: opening {dir}/i2c-7: ENOENT: No such file or directory \
             (no such bus: is it enabled and the i2c-dev module loaded?)\n"
        )),
        "{}",
        stdout(&output)
    );
}

#[test]
fn a_missing_device_directory_and_bad_flags_are_errors() {
    let output = scan(&["--path.dev", "/nonexistent/dev"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "edge-sidecar scan: error: listing /nonexistent/dev: No such file or directory (os error 2)\n"
    );
    // --force only with --write; a bus is a number; a node name fits nodes.conf.
    assert_eq!(scan(&["--force"]).status.code(), Some(2));
    assert_eq!(scan(&["--bus", "one"]).status.code(), Some(2));
    let output = scan(&["--node", "a=b"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--node"));
}

#[test]
fn help_describes_scan() {
    let output = Command::new(env!("CARGO_BIN_EXE_edge-sidecar"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(stdout(&output).contains("scan"), "{output:?}");
    let output = scan(&["--help"]);
    let help = stdout(&output);
    for flag in [
        "--path.dev",
        "--bus",
        "--node",
        "--write",
        "--force",
        "Exit status",
    ] {
        assert!(help.contains(flag), "{flag}: {help}");
    }
}
