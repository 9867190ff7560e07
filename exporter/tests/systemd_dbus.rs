//! The systemd collector against a systemd manager served on a private D-Bus bus: a
//! real `dbus-daemon` (Debian's, installed with systemd) started by the test, and a
//! fake `org.freedesktop.systemd1` (ListUnits, the manager's and the units' properties,
//! served with zbus) with units of every kind the collector reads. edge-exporter and
//! Debian's node_exporter 1.5 read the same bus; every `node_systemd_*` series must
//! agree, except the family node_exporter added after 1.5 (listed below), and our
//! values must be the fake's exactly.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::*;
use zbus::zvariant::OwnedObjectPath;

/// Families node_exporter 1.12 has and 1.5 does not: `node_systemd_virtualization_info`
/// (1.7.0, "systemd: add virtualization type").
const NEWER_THAN_1_5: &[&str] = &["node_systemd_virtualization_info"];

struct Manager {
    units: Vec<FakeUnit>,
}

#[derive(Clone)]
struct FakeUnit {
    name: &'static str,
    load: &'static str,
    active: &'static str,
}

fn escape(name: &str) -> String {
    let mut path = String::from("/org/freedesktop/systemd1/unit/");
    for (i, b) in name.bytes().enumerate() {
        if b.is_ascii_alphabetic() || (b.is_ascii_digit() && i > 0) {
            path.push(b as char);
        } else {
            path.push_str(&format!("_{b:02x}"));
        }
    }
    path
}

type Listed = (
    String,
    String,
    String,
    String,
    String,
    String,
    OwnedObjectPath,
    u32,
    String,
    OwnedObjectPath,
);

#[zbus::interface(name = "org.freedesktop.systemd1.Manager")]
impl Manager {
    fn list_units(&self) -> Vec<Listed> {
        self.units
            .iter()
            .map(|u| {
                (
                    u.name.to_string(),
                    String::new(),
                    u.load.to_string(),
                    u.active.to_string(),
                    "running".to_string(),
                    String::new(),
                    OwnedObjectPath::try_from(escape(u.name)).unwrap(),
                    0,
                    String::new(),
                    OwnedObjectPath::try_from("/").unwrap(),
                )
            })
            .collect()
    }
    #[zbus(property, name = "Version")]
    fn version(&self) -> String {
        "252.22-1~deb12u1".into()
    }
    #[zbus(property, name = "Virtualization")]
    fn virtualization(&self) -> String {
        "kvm".into()
    }
    #[zbus(property, name = "SystemState")]
    fn system_state(&self) -> String {
        "degraded".into()
    }
}

struct UnitProps {
    entered: u64,
}
#[zbus::interface(name = "org.freedesktop.systemd1.Unit")]
impl UnitProps {
    #[zbus(property, name = "ActiveEnterTimestamp")]
    fn active_enter_timestamp(&self) -> u64 {
        self.entered
    }
}

struct ServiceProps {
    kind: &'static str,
    restarts: u32,
    tasks: u64,
    tasks_max: u64,
}
#[zbus::interface(name = "org.freedesktop.systemd1.Service")]
impl ServiceProps {
    #[zbus(property, name = "Type")]
    fn kind(&self) -> String {
        self.kind.into()
    }
    #[zbus(property, name = "NRestarts")]
    fn n_restarts(&self) -> u32 {
        self.restarts
    }
    #[zbus(property, name = "TasksCurrent")]
    fn tasks_current(&self) -> u64 {
        self.tasks
    }
    #[zbus(property, name = "TasksMax")]
    fn tasks_max(&self) -> u64 {
        self.tasks_max
    }
}

struct SocketProps;
#[zbus::interface(name = "org.freedesktop.systemd1.Socket")]
impl SocketProps {
    #[zbus(property, name = "NAccepted")]
    fn n_accepted(&self) -> u32 {
        7
    }
    #[zbus(property, name = "NConnections")]
    fn n_connections(&self) -> u32 {
        1
    }
    #[zbus(property, name = "NRefused")]
    fn n_refused(&self) -> u32 {
        3
    }
}

struct TimerProps;
#[zbus::interface(name = "org.freedesktop.systemd1.Timer")]
impl TimerProps {
    #[zbus(property, name = "LastTriggerUSec")]
    fn last_trigger_usec(&self) -> u64 {
        1_700_000_100_250_000
    }
}

struct Bus {
    daemon: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// A private bus anyone may own names on and call anything on.
fn start_bus() -> Bus {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("bus");
    let config = dir.path().join("bus.conf");
    std::fs::write(
        &config,
        format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"#,
            socket.display()
        ),
    )
    .unwrap();
    let mut daemon = Command::new("dbus-daemon")
        .arg(format!("--config-file={}", config.display()))
        .args(["--nofork", "--print-address"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("dbus-daemon (Debian package dbus-daemon, installed by scripts/test.sh)");
    let mut line = String::new();
    BufReader::new(daemon.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("unix:"), "dbus-daemon printed {line:?}");
    Bus {
        daemon,
        address: line.trim().to_string(),
        _dir: dir,
    }
}

fn serve_fake_systemd(address: &str) -> zbus::blocking::Connection {
    let units = vec![
        FakeUnit {
            name: "ssh.service",
            load: "loaded",
            active: "active",
        },
        FakeUnit {
            name: "cron.service",
            load: "loaded",
            active: "failed",
        },
        FakeUnit {
            name: "nginx.service",
            load: "loaded",
            active: "reloading",
        },
        FakeUnit {
            name: "apt-daily.timer",
            load: "loaded",
            active: "inactive",
        },
        FakeUnit {
            name: "docker.socket",
            load: "loaded",
            active: "active",
        },
        FakeUnit {
            name: "dev-sda.device",
            load: "loaded",
            active: "active",
        },
        FakeUnit {
            name: "missing.service",
            load: "not-found",
            active: "inactive",
        },
    ];
    let mut builder = zbus::blocking::connection::Builder::address(address)
        .unwrap()
        .name("org.freedesktop.systemd1")
        .unwrap()
        .serve_at(
            "/org/freedesktop/systemd1",
            Manager {
                units: units.clone(),
            },
        )
        .unwrap();
    for unit in &units {
        let path = zbus::zvariant::OwnedObjectPath::try_from(escape(unit.name)).unwrap();
        let entered = if unit.name == "ssh.service" {
            1_700_000_000_123_456
        } else {
            1_700_000_050_000_000
        };
        builder = builder
            .serve_at(path.clone(), UnitProps { entered })
            .unwrap();
        let service = match unit.name {
            "ssh.service" => Some(ServiceProps {
                kind: "notify",
                restarts: 2,
                tasks: 3,
                tasks_max: 4915,
            }),
            "cron.service" => Some(ServiceProps {
                kind: "simple",
                restarts: 5,
                tasks: u64::MAX,
                tasks_max: 100,
            }),
            "nginx.service" => Some(ServiceProps {
                kind: "forking",
                restarts: 0,
                tasks: 9,
                tasks_max: u64::MAX,
            }),
            _ => None,
        };
        if let Some(service) = service {
            builder = builder.serve_at(path.clone(), service).unwrap();
        }
        if unit.name.ends_with(".socket") {
            builder = builder.serve_at(path.clone(), SocketProps).unwrap();
        }
        if unit.name.ends_with(".timer") {
            builder = builder.serve_at(path.clone(), TimerProps).unwrap();
        }
    }
    builder.build().unwrap()
}

type Samples = BTreeMap<(String, BTreeMap<String, String>), f64>;

fn systemd_samples(series: &[Series]) -> Samples {
    series
        .iter()
        .filter(|s| s.name.starts_with("node_systemd_"))
        .map(|s| ((s.name.clone(), s.labels.clone()), s.value))
        .collect()
}

#[test]
fn systemd_units_read_over_dbus_match_node_exporter() {
    let bus = start_bus();
    let _systemd = serve_fake_systemd(&bus.address);
    // Both exporters are children of this process: they find the bus the way a real
    // node finds its system bus. (This file holds one test, so nothing else runs
    // while the variable is set.)
    std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", &bus.address);
    let flags = args(&[
        "--collector.disable-defaults",
        "--collector.systemd",
        "--collector.systemd.enable-task-metrics",
        "--collector.systemd.enable-restarts-metrics",
        "--collector.systemd.enable-start-time-metrics",
        "--web.disable-exporter-metrics",
    ]);
    let ne = start_node_exporter(&flags);
    let edge = start_edge(&{
        let mut list = flags.clone();
        list.push("--node-name=systemd-test".into());
        list
    });
    let theirs = systemd_samples(&ne.metrics());
    let ours = systemd_samples(&edge.metrics());
    std::env::remove_var("DBUS_SYSTEM_BUS_ADDRESS");

    let theirs_compared: Samples = theirs
        .iter()
        .filter(|((name, _), _)| !NEWER_THAN_1_5.contains(&name.as_str()))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    let ours_compared: Samples = ours
        .iter()
        .filter(|((name, _), _)| !NEWER_THAN_1_5.contains(&name.as_str()))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    let their_keys: BTreeSet<_> = theirs_compared.keys().collect();
    let our_keys: BTreeSet<_> = ours_compared.keys().collect();
    assert_eq!(
        our_keys,
        their_keys,
        "series differ: only ours {:?}, only node_exporter's {:?}",
        our_keys.difference(&their_keys).collect::<Vec<_>>(),
        their_keys.difference(&our_keys).collect::<Vec<_>>()
    );
    for (key, value) in &ours_compared {
        assert_eq!(Some(value), theirs_compared.get(key), "{key:?}");
    }

    // Our values, from the fake above.
    let value = |name: &str, labels: &[(&str, &str)]| {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ours.get(&(name.to_string(), labels)).copied()
    };
    assert_eq!(
        value("node_systemd_version", &[("version", "252.22-1~deb12u1")]),
        Some(252.22)
    );
    assert_eq!(
        value(
            "node_systemd_virtualization_info",
            &[("virtualization_type", "kvm")]
        ),
        Some(1.0)
    );
    assert_eq!(value("node_systemd_system_running", &[]), Some(0.0));
    // Every unit is counted, whatever the filters; a state outside the five appears too.
    for (state, count) in [
        ("active", 3.0),
        ("inactive", 2.0),
        ("failed", 1.0),
        ("activating", 0.0),
        ("deactivating", 0.0),
        ("reloading", 1.0),
    ] {
        assert_eq!(
            value("node_systemd_units", &[("state", state)]),
            Some(count),
            "{state}"
        );
    }
    assert_eq!(
        value(
            "node_systemd_unit_state",
            &[
                ("name", "cron.service"),
                ("state", "failed"),
                ("type", "simple")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            "node_systemd_unit_state",
            &[
                ("name", "ssh.service"),
                ("state", "active"),
                ("type", "notify")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            "node_systemd_unit_state",
            &[("name", "docker.socket"), ("state", "active"), ("type", "")]
        ),
        Some(1.0)
    );
    // Excluded by the default pattern, or not loaded: no unit series.
    assert!(!ours.keys().any(|(_, l)| l
        .get("name")
        .is_some_and(|n| n == "dev-sda.device" || n == "missing.service")));
    assert_eq!(
        value(
            "node_systemd_service_restart_total",
            &[("name", "cron.service")]
        ),
        Some(5.0)
    );
    assert_eq!(
        value(
            "node_systemd_unit_start_time_seconds",
            &[("name", "ssh.service")]
        ),
        Some(1_700_000_000.123456)
    );
    assert_eq!(
        value(
            "node_systemd_unit_start_time_seconds",
            &[("name", "cron.service")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            "node_systemd_unit_tasks_current",
            &[("name", "ssh.service")]
        ),
        Some(3.0)
    );
    assert_eq!(
        value(
            "node_systemd_unit_tasks_current",
            &[("name", "cron.service")]
        ),
        None,
        "u64::MAX means none"
    );
    assert_eq!(
        value("node_systemd_unit_tasks_max", &[("name", "nginx.service")]),
        None
    );
    assert_eq!(
        value("node_systemd_unit_tasks_max", &[("name", "cron.service")]),
        Some(100.0)
    );
    assert_eq!(
        value(
            "node_systemd_timer_last_trigger_seconds",
            &[("name", "apt-daily.timer")]
        ),
        Some(1_700_000_100.25)
    );
    assert_eq!(
        value(
            "node_systemd_socket_accepted_connections_total",
            &[("name", "docker.socket")]
        ),
        Some(7.0)
    );
    assert_eq!(
        value(
            "node_systemd_socket_current_connections",
            &[("name", "docker.socket")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            "node_systemd_socket_refused_connections_total",
            &[("name", "docker.socket")]
        ),
        Some(3.0)
    );
    drop(bus);
}
