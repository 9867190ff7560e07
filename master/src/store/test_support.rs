//! Builders shared by the store's tests.

use chrono::{DateTime, Utc};

use super::Store;
use crate::model::{DiskMetrics, NetworkMetrics, NodeMetricsSnapshot};

pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
}

/// A store in a fresh file, `master.db` in the returned directory.
pub fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("master.db")).unwrap();
    (dir, store)
}

/// A snapshot with a root disk and an up interface; `cpu` is its CPU usage.
pub fn snapshot(node: &str, timestamp: DateTime<Utc>, cpu: f64) -> NodeMetricsSnapshot {
    let mut s = NodeMetricsSnapshot {
        node_name: node.into(),
        timestamp,
        hostname: node.into(),
        os: "Linux".into(),
        ..NodeMetricsSnapshot::default()
    };
    s.cpu.usage_percent = cpu;
    s.memory.usage_percent = 40.0;
    s.disks = vec![DiskMetrics {
        device: "/dev/sda1".into(),
        mount_point: "/".into(),
        usage_percent: 30.0,
        ..DiskMetrics::default()
    }];
    s.networks = vec![NetworkMetrics {
        interface: "eth0".into(),
        status: "up".into(),
        ..NetworkMetrics::default()
    }];
    s
}
