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

/// A sysfs tree with what the kernel's drivers would show: a BME280 through the
/// `bmp280` IIO driver and a DS18B20 on the 1-Wire bus.
fn sysfs_tree() -> tempfile::TempDir {
    let sys = tempfile::tempdir().unwrap();
    let bme = sys.path().join("bus/iio/devices/iio:device0");
    std::fs::create_dir_all(&bme).unwrap();
    for (file, text) in [
        ("name", "bme280\n"),
        ("in_temp_input", "23450\n"),
        ("in_humidityrelative_input", "41523\n"),
        ("in_pressure_input", "100.96125\n"),
    ] {
        std::fs::write(bme.join(file), text).unwrap();
    }
    let probe = sys.path().join("bus/w1/devices/28-00000a1b2c3d");
    std::fs::create_dir_all(&probe).unwrap();
    std::fs::write(probe.join("temperature"), "21500\n").unwrap();
    std::fs::create_dir_all(sys.path().join("bus/w1/devices/w1_bus_master1")).unwrap();
    sys
}

#[test]
fn no_buses_is_said_and_is_not_a_failure_and_kernel_devices_are_listed() {
    let dev = tempfile::tempdir().unwrap();
    std::fs::write(dev.path().join("ttyS0"), "").unwrap();
    let dir = dev.path().display().to_string();
    let sys = sysfs_tree();
    let sysfs = sys.path().display().to_string();
    let output = scan(&["--path.dev", &dir, "--path.sysfs", &sysfs]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        stdout(&output),
        format!(
            "I2C devices ({dir}/i2c-N, addresses 0x03-0x77 probed with a read as `i2cdetect -y -r` does):\n  \
             no I2C buses: no {dir}/i2c-N (is the bus enabled and the i2c-dev module loaded?)\n\n\
             IIO devices ({sysfs}/bus/iio/devices, read by the kernel's drivers):\n  \
             DEVICE       NAME    VALUES\n  \
             iio:device0  bme280  humidity_percent, pressure_pascals, temperature_celsius\n\n\
             1-Wire thermometers ({sysfs}/bus/w1/devices):\n  \
             ID               CHIP     FILE\n  \
             28-00000a1b2c3d  DS18B20  {sysfs}/bus/w1/devices/28-00000a1b2c3d/temperature\n\n\
             No sensor files: no chip with a sidecar driver was identified.\n\n\
             nodes.conf line for edge-node-01 (files in the scripts directory):\n\
             edge-node-01=iio:bme280,w1:*\n"
        )
    );
    assert!(output.stderr.is_empty(), "{output:?}");
    // Without IIO and 1-Wire buses, each section says none.
    let empty = tempfile::tempdir().unwrap();
    let output = scan(&[
        "--path.dev",
        &dir,
        "--path.sysfs",
        &empty.path().display().to_string(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(stdout(&output).ends_with(
        "/bus/w1/devices):\n  none\n\nNo sensor files: no chip with a sidecar driver was identified.\n"
    ), "{}", stdout(&output));
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
