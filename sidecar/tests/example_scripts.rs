//! The example scripts in scripts/ run against a fake i2cget and a fake thermal tree,
//! print what the sidecar parses, and are shellcheck-clean.

use std::path::{Path, PathBuf};
use std::process::Command;

use edge_sidecar::names::ValueNames;
use edge_sidecar::parse::{parse_key_values, KeyRules, DEFAULT_MAX_KEYS_PER_RUN};

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts")
}

fn run(script: &str, env: &[(&str, &Path)]) -> (i32, Vec<(String, f64)>) {
    let mut command = Command::new("bash");
    command.arg(scripts().join(script));
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("bash");
    let names = ValueNames::new("edge_");
    let rules = KeyRules {
        max_keys: DEFAULT_MAX_KEYS_PER_RUN,
        names: &names,
    };
    let parsed = parse_key_values(&output.stdout, &rules);
    assert_eq!(
        parsed.rejected,
        0,
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    (output.status.code().unwrap_or(-1), parsed.values)
}

#[test]
fn space_server_reads_the_htu21d_through_i2cget() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("i2cget");
    // i2cget -y BUS 0x40 REG w prints the SMBus word, bytes swapped: datasheet
    // examples 0x683A (24.7 °C) and 0x7C80 (54.8 %RH, 54.79 unrounded) arrive as 0x3a68 and 0x807c.
    std::fs::write(
        &fake,
        "#!/bin/sh\n[ \"$1 $2 $3 $5\" = \"-y 1 0x40 w\" ] || exit 2\ncase \"$4\" in 0xe3) echo 0x3a68;; 0xe5) echo 0x807c;; *) exit 1;; esac\n",
    )
    .unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(&fake)
        .status()
        .unwrap();
    let (code, values) = run("space_server.sh", &[("I2CGET", &fake)]);
    assert_eq!(code, 0);
    assert_eq!(
        values,
        vec![
            ("temperature_celsius".to_string(), 24.69),
            ("humidity_percent".to_string(), 54.79),
        ]
    );
    // No sensor: nothing printed, exit 1, so the sidecar keeps its last good values.
    let broken = dir.path().join("broken");
    std::fs::write(
        &broken,
        "#!/bin/sh\necho 'Error: Read failed' >&2\nexit 1\n",
    )
    .unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(&broken)
        .status()
        .unwrap();
    let (code, values) = run("space_server.sh", &[("I2CGET", &broken)]);
    assert_eq!((code, values.len()), (1, 0));
}

#[test]
fn jetson_nano_reports_every_thermal_zone() {
    let root = tempfile::tempdir().unwrap();
    for (zone, kind, temp) in [
        (0, "CPU-therm", "41500"),
        (1, "GPU-therm", "39000"),
        (2, "PMIC-Die", "100000"),
    ] {
        let dir = root.path().join(format!("thermal_zone{zone}"));
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("type"), format!("{kind}\n")).unwrap();
        std::fs::write(dir.join("temp"), format!("{temp}\n")).unwrap();
    }
    // A zone without a readable temperature is skipped.
    std::fs::create_dir(root.path().join("thermal_zone3")).unwrap();
    std::fs::write(root.path().join("thermal_zone3/type"), "broken\n").unwrap();
    let (code, values) = run("jetson_nano.sh", &[("THERMAL_ROOT", root.path())]);
    assert_eq!(code, 0);
    assert_eq!(
        values,
        vec![
            ("cpu_therm_temp_celsius".to_string(), 41.5),
            ("gpu_therm_temp_celsius".to_string(), 39.0),
            ("pmic_die_temp_celsius".to_string(), 100.0),
        ]
    );
    let empty = tempfile::tempdir().unwrap();
    let (code, values) = run("jetson_nano.sh", &[("THERMAL_ROOT", empty.path())]);
    assert_eq!((code, values.len()), (1, 0));
}

#[test]
fn node_health_reads_proc_and_the_hottest_zone() {
    let root = tempfile::tempdir().unwrap();
    let proc_dir = root.path().join("proc");
    for pid in ["1", "42", "4242"] {
        std::fs::create_dir_all(proc_dir.join(pid)).unwrap();
    }
    // Not processes: a file with a numeric name, and other entries.
    std::fs::write(proc_dir.join("7"), "").unwrap();
    std::fs::create_dir_all(proc_dir.join("sys")).unwrap();
    std::fs::write(proc_dir.join("uptime"), "12345.67 2468.00\n").unwrap();
    let thermal = root.path().join("thermal");
    for (zone, temp) in [(0, "41500"), (1, "63250"), (2, "not a number")] {
        let dir = thermal.join(format!("thermal_zone{zone}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("temp"), format!("{temp}\n")).unwrap();
    }
    let (code, values) = run(
        "node_health.sh",
        &[("PROC_ROOT", &proc_dir), ("THERMAL_ROOT", &thermal)],
    );
    assert_eq!(code, 0);
    assert_eq!(
        values,
        vec![
            ("uptime_seconds".to_string(), 12345.67),
            ("processes".to_string(), 3.0),
            ("thermal_max_celsius".to_string(), 63.25),
        ]
    );
    // Without thermal zones (most VMs): no temperature line, still a success.
    let (code, values) = run(
        "node_health.sh",
        &[("PROC_ROOT", &proc_dir), ("THERMAL_ROOT", root.path())],
    );
    assert_eq!(code, 0);
    assert_eq!(values.len(), 2);
}

#[test]
fn scripts_are_shellcheck_clean() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(scripts())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .collect();
    files.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/run"));
    let output = Command::new("shellcheck")
        .args(&files)
        .output()
        .expect("shellcheck is installed by scripts/test.sh (Debian package shellcheck)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(files.len() >= 5, "{files:?}");
}
