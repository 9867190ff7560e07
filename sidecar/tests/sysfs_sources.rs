//! The real edge-sidecar reading IIO devices and 1-Wire probes from a fake sysfs tree
//! (`--path.sysfs`): the values in the written `.prom` file, a broken device's
//! `edge_sidecar_source_success` 0, and `--check`'s plan.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::{ConfigMap, Sidecar};

const IIO: &str = "bus/iio/devices";
const W1: &str = "bus/w1/devices";

fn write(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// A BME280 (processed channels), an ADS1015 (raw + shared scale), an INA219 whose
/// voltage file does not parse, and two DS18B20 probes (one `temperature`, one
/// `w1_slave`).
fn fake_sysfs(root: &Path) {
    write(
        root,
        &[
            (&format!("{IIO}/iio:device0/name"), "bme280\n"),
            (&format!("{IIO}/iio:device0/in_temp_input"), "23450\n"),
            (
                &format!("{IIO}/iio:device0/in_humidityrelative_input"),
                "41523\n",
            ),
            (
                &format!("{IIO}/iio:device0/in_pressure_input"),
                "100.96125\n",
            ),
            (&format!("{IIO}/iio:device1/name"), "ads1015\n"),
            (&format!("{IIO}/iio:device1/in_voltage0_raw"), "1100\n"),
            (&format!("{IIO}/iio:device1/in_voltage_scale"), "3\n"),
            (&format!("{IIO}/iio:device2/name"), "ina219\n"),
            (&format!("{IIO}/iio:device2/in_voltage0_raw"), "busy\n"),
            (&format!("{W1}/28-00000a1b2c3d/temperature"), "21500\n"),
            (
                &format!("{W1}/28-00000a1b2c3e/w1_slave"),
                "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n",
            ),
            (&format!("{W1}/w1_bus_master1/w1_master_slave_count"), "2\n"),
        ],
    );
}

const NODES: &str = "test-node=iio:bme280:200ms,iio:1:200ms,iio:ina219:200ms,w1:*:200ms\n";

#[test]
fn iio_and_1wire_values_reach_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let sysfs = tmp.path().join("sys");
    fake_sysfs(&sysfs);
    let cm = ConfigMap::new(&tmp.path().join("cm"), &[("nodes.conf", NODES)]);
    let output = tmp.path().join("out.prom");
    let sidecar = Sidecar::start(
        &cm.config(),
        &output,
        &[&format!("--path.sysfs={}", sysfs.display())],
    );
    let success = |kind: &str, source: &str| {
        format!("edge_sidecar_source_success{{kind=\"{kind}\",source=\"{source}\"}}")
    };
    sidecar.wait_for_value(
        "edge_sidecar_source_runs_total{kind=\"iio\",source=\"ina219\"}",
        1.0,
        Duration::from_secs(10),
    );
    sidecar.wait_for_value(&success("w1", "*"), 1.0, Duration::from_secs(10));
    sidecar.wait_for_value(&success("iio", "bme280"), 1.0, Duration::from_secs(10));
    sidecar.wait_for_value(&success("iio", "1"), 1.0, Duration::from_secs(10));
    let text = sidecar.text();
    let bme = "{device=\"iio:device0\",name=\"bme280\"}";
    for (series, value) in [
        (format!("edge_temperature_celsius{bme}"), 23.45),
        (format!("edge_humidity_percent{bme}"), 41.523),
        (format!("edge_pressure_pascals{bme}"), 100_961.25),
        (
            "edge_voltage0_volts{device=\"iio:device1\",name=\"ads1015\"}".to_string(),
            3.3,
        ),
        (
            "edge_temperature_celsius{id=\"28-00000a1b2c3d\"}".to_string(),
            21.5,
        ),
        (
            "edge_temperature_celsius{id=\"28-00000a1b2c3e\"}".to_string(),
            23.125,
        ),
        (success("iio", "bme280"), 1.0),
        (success("iio", "1"), 1.0),
        (success("w1", "*"), 1.0),
        (success("iio", "ina219"), 0.0),
        (
            "edge_sidecar_source_values{kind=\"w1\",source=\"*\"}".to_string(),
            2.0,
        ),
    ] {
        let got = support::value_in(&text, &series);
        assert!(
            got.is_some_and(|got| (got - value).abs() <= value.abs() * 1e-12),
            "{series}: {got:?}, not {value}; file:\n{text}"
        );
    }
    assert!(
        !text.contains("name=\"ina219\""),
        "the broken device has no value:\n{text}"
    );
    // One family for the BME280's and the probes' temperature.
    assert_eq!(
        text.matches("# TYPE edge_temperature_celsius gauge")
            .count(),
        1,
        "{text}"
    );
}

#[test]
fn check_lists_devices_channels_and_files_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let sysfs = tmp.path().join("sys");
    fake_sysfs(&sysfs);
    let cm = ConfigMap::new(
        &tmp.path().join("cm"),
        &[("nodes.conf", "test-node=iio:bme280,iio:1,w1:*,iio:sht4x\n")],
    );
    let output = tmp.path().join("out.prom");
    let run = Command::new(env!("CARGO_BIN_EXE_edge-sidecar"))
        .arg(format!("--config={}", cm.config().display()))
        .arg(format!("--output={}", output.display()))
        .arg(format!("--path.sysfs={}", sysfs.display()))
        .args(["--node-name=test-node", "--check"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{text}");
    for line in [
        "  iio bme280 every 15s: iio:device0 (bme280) at ",
        "      temperature_celsius = in_temp_input [milli degrees Celsius] × 0.001",
        "      pressure_pascals = in_pressure_input [kilopascal] × 1000",
        "      voltage0_volts = in_voltage0_raw × in_voltage_scale [millivolts] × 0.001",
        "  w1 * every 15s: 2 probe(s) in ",
        "      temperature_celsius{id=\"28-00000a1b2c3e\"} (DS18B20) = ",
        "  iio sht4x every 15s: MISSING: ",
        "1 problem(s)",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(line)),
            "{line:?} in:\n{text}"
        );
    }
    assert!(!output.exists(), "--check wrote {}", output.display());
}
