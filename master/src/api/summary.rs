//! The cluster overview of the list route, from the nodes' last snapshots.
//!
//! Decisions the reference leaves open:
//! - Offline nodes are counted (`total_nodes`, `offline_nodes`) but their stale values
//!   feed no average, maximum, total or warning: a node that stopped reporting at 95 %
//!   CPU is not busy now, it is offline.
//! - Usage averages and maxima are over online nodes; the disk ones over online nodes
//!   that have a primary disk.
//! - Temperatures are over online nodes with a CPU temperature (> 0 °C: 0 means none).
//! - Totals add the online nodes' memory, primary disks and primary interfaces' rates.
//! - A warning node is online and at or over one of the thresholds.

use chrono::{DateTime, TimeDelta, Utc};

use crate::model::{ClusterMetricsSummary, DiskMetrics, NetworkMetrics, NodeMetricsSnapshot};

pub const ONLINE: &str = "online";
pub const OFFLINE: &str = "offline";

/// When a node counts as busy or hot (`>=`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WarningThresholds {
    pub cpu_percent: f64,
    pub memory_percent: f64,
    pub cpu_temp: f64,
}

/// `offline` once more than `offline_after` has passed since the node was last seen.
/// A last-seen time in the future (clock skew) counts as online.
pub fn node_status(
    last_seen: DateTime<Utc>,
    now: DateTime<Utc>,
    offline_after: std::time::Duration,
) -> &'static str {
    let limit = TimeDelta::from_std(offline_after).unwrap_or(TimeDelta::MAX);
    if now.signed_duration_since(last_seen) > limit {
        OFFLINE
    } else {
        ONLINE
    }
}

/// Whether an online node is at or over a threshold.
pub fn is_warning(snapshot: &NodeMetricsSnapshot, thresholds: &WarningThresholds) -> bool {
    snapshot.cpu.usage_percent >= thresholds.cpu_percent
        || snapshot.memory.usage_percent >= thresholds.memory_percent
        || (has_temperature(snapshot) && snapshot.temperature.cpu_temp >= thresholds.cpu_temp)
}

fn has_temperature(snapshot: &NodeMetricsSnapshot) -> bool {
    snapshot.temperature.cpu_temp.is_finite() && snapshot.temperature.cpu_temp > 0.0
}

/// The summary of `nodes`, each a snapshot with its status.
pub fn summarize<'a>(
    nodes: impl Iterator<Item = (&'a NodeMetricsSnapshot, &'a str)>,
    thresholds: &WarningThresholds,
) -> ClusterMetricsSummary {
    let mut total = 0;
    let online: Vec<&NodeMetricsSnapshot> = nodes
        .inspect(|_| total += 1)
        .filter(|(_, status)| *status == ONLINE)
        .map(|(snapshot, _)| snapshot)
        .collect();
    let cpu = Spread::of(online.iter().map(|s| s.cpu.usage_percent));
    let memory = Spread::of(online.iter().map(|s| s.memory.usage_percent));
    let disks: Vec<&DiskMetrics> = online.iter().filter_map(|s| s.primary_disk()).collect();
    let disk = Spread::of(disks.iter().map(|d| d.usage_percent));
    let temp = Spread::of(
        online
            .iter()
            .filter(|s| has_temperature(s))
            .map(|s| s.temperature.cpu_temp),
    );
    let interfaces: Vec<&NetworkMetrics> = online
        .iter()
        .filter_map(|s| s.primary_interface())
        .collect();
    let warning_node_names: Vec<String> = online
        .iter()
        .filter(|s| is_warning(s, thresholds))
        .map(|s| s.node_name.clone())
        .collect();

    ClusterMetricsSummary {
        total_nodes: count(total),
        online_nodes: count(online.len()),
        offline_nodes: count(total - online.len()),
        avg_cpu_usage: cpu.avg,
        avg_memory_usage: memory.avg,
        avg_disk_usage: disk.avg,
        max_cpu_usage: cpu.max,
        max_memory_usage: memory.max,
        max_disk_usage: disk.max,
        avg_cpu_temp: temp.avg,
        max_cpu_temp: temp.max,
        total_memory: online
            .iter()
            .map(|s| s.memory.total)
            .fold(0, u64::saturating_add),
        used_memory: online
            .iter()
            .map(|s| s.memory.used)
            .fold(0, u64::saturating_add),
        total_disk: disks.iter().map(|d| d.total).fold(0, u64::saturating_add),
        used_disk: disks.iter().map(|d| d.used).fold(0, u64::saturating_add),
        // A fold from +0.0: `Sum` of no floats is -0.0, which JSON shows as `-0.0`.
        total_network_rx: interfaces.iter().map(|n| n.rx_rate).fold(0.0, |a, b| a + b),
        total_network_tx: interfaces.iter().map(|n| n.tx_rate).fold(0.0, |a, b| a + b),
        warning_nodes: count(warning_node_names.len()),
        warning_node_names,
    }
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Average and maximum of some values; both 0 when there are none.
struct Spread {
    avg: f64,
    max: f64,
}

impl Spread {
    fn of(values: impl Iterator<Item = f64>) -> Spread {
        let (mut n, mut sum, mut max) = (0usize, 0.0, f64::NEG_INFINITY);
        for value in values {
            n += 1;
            sum += value;
            max = max.max(value);
        }
        if n == 0 {
            return Spread { avg: 0.0, max: 0.0 };
        }
        Spread {
            avg: sum / n as f64,
            max,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CpuMetrics, ListedNode, MemoryMetrics, TemperatureMetrics};

    const THRESHOLDS: WarningThresholds = WarningThresholds {
        cpu_percent: 80.0,
        memory_percent: 80.0,
        cpu_temp: 75.0,
    };

    fn node(name: &str, status: &str, cpu: f64, memory: f64, temp: f64) -> ListedNode {
        ListedNode {
            snapshot: NodeMetricsSnapshot {
                node_name: name.into(),
                cpu: CpuMetrics {
                    usage_percent: cpu,
                    ..CpuMetrics::default()
                },
                memory: MemoryMetrics {
                    total: 1000,
                    used: (memory * 10.0) as u64,
                    usage_percent: memory,
                    ..MemoryMetrics::default()
                },
                disks: vec![
                    DiskMetrics {
                        mount_point: "/boot".into(),
                        total: 1,
                        used: 1,
                        usage_percent: 100.0,
                        ..DiskMetrics::default()
                    },
                    DiskMetrics {
                        mount_point: "/".into(),
                        total: 100,
                        used: 40,
                        usage_percent: 40.0,
                        ..DiskMetrics::default()
                    },
                ],
                networks: vec![
                    NetworkMetrics {
                        interface: "lo".into(),
                        status: "up".into(),
                        rx_rate: 1e9,
                        ..NetworkMetrics::default()
                    },
                    NetworkMetrics {
                        interface: "eth0".into(),
                        status: "down".into(),
                        rx_rate: 1e9,
                        ..NetworkMetrics::default()
                    },
                    NetworkMetrics {
                        interface: "eth1".into(),
                        status: "up".into(),
                        rx_rate: 100.0,
                        tx_rate: 10.0,
                        ..NetworkMetrics::default()
                    },
                ],
                temperature: TemperatureMetrics {
                    cpu_temp: temp,
                    ..TemperatureMetrics::default()
                },
                ..NodeMetricsSnapshot::default()
            },
            status: status.into(),
            last_seen: DateTime::<Utc>::default(),
        }
    }

    #[test]
    fn empty_cluster_is_all_zeros() {
        let summary = summarize(std::iter::empty(), &THRESHOLDS);
        assert_eq!(summary, ClusterMetricsSummary::default());
    }

    #[test]
    fn online_nodes_feed_the_figures_and_offline_ones_only_the_counts() {
        let nodes = [
            node("a", ONLINE, 20.0, 50.0, 60.0),
            node("b", ONLINE, 90.0, 30.0, 0.0),
            node("c", ONLINE, 10.0, 10.0, 80.0),
            node("d", OFFLINE, 99.0, 99.0, 99.0),
        ];
        let summary = summarize(
            nodes.iter().map(|n| (&n.snapshot, n.status.as_str())),
            &THRESHOLDS,
        );
        assert_eq!(
            (
                summary.total_nodes,
                summary.online_nodes,
                summary.offline_nodes
            ),
            (4, 3, 1)
        );
        assert_eq!(summary.avg_cpu_usage, 40.0);
        assert_eq!(summary.max_cpu_usage, 90.0);
        assert_eq!(summary.avg_memory_usage, 30.0);
        assert_eq!(summary.max_memory_usage, 50.0);
        // Primary disk is "/", not the first one.
        assert_eq!(
            (summary.avg_disk_usage, summary.max_disk_usage),
            (40.0, 40.0)
        );
        assert_eq!((summary.total_disk, summary.used_disk), (300, 120));
        // b has no temperature.
        assert_eq!((summary.avg_cpu_temp, summary.max_cpu_temp), (70.0, 80.0));
        assert_eq!((summary.total_memory, summary.used_memory), (3000, 900));
        // Primary interface: the first up and not lo.
        assert_eq!(
            (summary.total_network_rx, summary.total_network_tx),
            (300.0, 30.0)
        );
        assert_eq!(summary.warning_nodes, 2);
        assert_eq!(summary.warning_node_names, ["b", "c"]);
    }

    #[test]
    fn status_turns_offline_after_the_limit() {
        let now = Utc::now();
        let limit = std::time::Duration::from_secs(30);
        assert_eq!(
            node_status(now - TimeDelta::seconds(30), now, limit),
            ONLINE
        );
        assert_eq!(
            node_status(now - TimeDelta::seconds(31), now, limit),
            OFFLINE
        );
        assert_eq!(
            node_status(now + TimeDelta::seconds(60), now, limit),
            ONLINE
        );
        assert_eq!(
            node_status(DateTime::<Utc>::MIN_UTC, now, std::time::Duration::MAX),
            ONLINE
        );
    }
}
