//! The shapes of atlhyper's observe routes (`/api/v2/observe/metrics/*`), as its
//! web page reads them today: camelCase keys, percentages 0–100 and rates rounded to
//! 2 decimals (temperatures to 1), bytes as integers, arrays always arrays.
//!
//! They are views of the v2 snapshot ([`NodeMetricsSnapshot`]), made when served; the
//! store keeps only the snapshot. Where a value is derived differently from atlhyper's
//! server, the field says so (see also `master/docs/observe-progress.md`).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{
    ClusterMetricsSummary, DiskMetrics, NetworkMetrics, NodeMetricsSnapshot, SensorTemperature,
};

/// `{"message": "获取成功", "data": …}`: every 200 of the observe routes.
#[derive(Debug, Serialize)]
pub struct Envelope<T> {
    pub message: &'static str,
    pub data: T,
}

/// "Fetched successfully", the message atlhyper's server sends with every 200.
pub const FETCHED: &str = "获取成功";

impl<T> Envelope<T> {
    pub fn fetched(data: T) -> Envelope<T> {
        Envelope {
            message: FETCHED,
            data,
        }
    }
}

/// R2's `data`. Unlike atlhyper's (where `onlineNodes` always equals `totalNodes`),
/// offline nodes are counted in `totalNodes` only, and the figures are over online
/// nodes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObserveSummary {
    pub total_nodes: i64,
    pub online_nodes: i64,
    pub avg_cpu_pct: f64,
    pub avg_mem_pct: f64,
    pub max_cpu_pct: f64,
    pub max_mem_pct: f64,
    /// The hottest online node's CPU temperature; 0 when no node has one.
    pub max_cpu_temp: f64,
}

impl From<&ClusterMetricsSummary> for ObserveSummary {
    fn from(summary: &ClusterMetricsSummary) -> Self {
        ObserveSummary {
            total_nodes: summary.total_nodes,
            online_nodes: summary.online_nodes,
            avg_cpu_pct: round(summary.avg_cpu_usage, 2),
            avg_mem_pct: round(summary.avg_memory_usage, 2),
            max_cpu_pct: round(summary.max_cpu_usage, 2),
            max_mem_pct: round(summary.max_memory_usage, 2),
            max_cpu_temp: round(summary.max_cpu_temp, 1),
        }
    }
}

/// One node (R3's entries, R5's `data`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObserveNode {
    pub node_name: String,
    #[serde(rename = "nodeIP")]
    pub node_ip: String,
    /// When the values were taken (atlhyper: when its agent assembled them).
    pub timestamp: DateTime<Utc>,
    /// edge-master's addition: `online` or `offline` (atlhyper drops a silent node).
    pub status: String,
    pub cpu: ObserveCpu,
    pub memory: ObserveMemory,
    pub disks: Vec<ObserveDisk>,
    pub networks: Vec<ObserveNetwork>,
    pub temperature: ObserveTemperature,
    pub psi: ObservePsi,
    pub tcp: ObserveTcp,
    pub system: ObserveSystem,
    pub vmstat: ObserveVmstat,
    pub softnet: ObserveSoftnet,
    /// Left out when unknown, as atlhyper does.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kernel: String,
    /// Seconds since boot; left out when 0, as atlhyper does.
    #[serde(skip_serializing_if = "is_zero")]
    pub uptime: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObserveCpu {
    pub usage_pct: f64,
    /// user + nice (atlhyper: user only).
    pub user_pct: f64,
    pub system_pct: f64,
    pub iowait_pct: f64,
    pub load1: f64,
    pub load5: f64,
    pub load15: f64,
    /// Logical CPUs, as atlhyper counts them.
    pub cores: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObserveMemory {
    pub total_bytes: u64,
    pub available_bytes: u64,
    pub free_bytes: u64,
    pub cached_bytes: u64,
    pub buffers_bytes: u64,
    pub usage_pct: f64,
    pub swap_total_bytes: u64,
    pub swap_free_bytes: u64,
    pub swap_usage_pct: f64,
}

/// One filesystem on a block device, with that device's I/O (atlhyper lists
/// filesystems and devices as separate entries that rarely join).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObserveDisk {
    pub device: String,
    pub mount_point: String,
    pub fs_type: String,
    pub total_bytes: u64,
    pub avail_bytes: u64,
    /// (1 − avail/total) × 100 as atlhyper computes it, so that it matches the page's
    /// "used = total − avail"; the v2 `usage_percent` is df's used/(used + avail).
    pub usage_pct: f64,
    pub read_bytes_per_sec: f64,
    pub write_bytes_per_sec: f64,
    #[serde(rename = "readIOPS")]
    pub read_iops: f64,
    #[serde(rename = "writeIOPS")]
    pub write_iops: f64,
    pub io_util_pct: f64,
}

/// One interface; loopback and container/bridge plumbing are not listed (atlhyper
/// lists every interface the exporter has).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObserveNetwork {
    pub interface: String,
    /// operstate is `up`.
    pub up: bool,
    /// Bytes per second, despite the name (as atlhyper's).
    pub speed_bps: i64,
    pub mtu: i64,
    pub rx_bytes_per_sec: f64,
    pub tx_bytes_per_sec: f64,
    pub rx_pkt_per_sec: f64,
    pub tx_pkt_per_sec: f64,
    pub rx_err_per_sec: f64,
    pub tx_err_per_sec: f64,
    pub rx_drop_per_sec: f64,
    pub tx_drop_per_sec: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObserveTemperature {
    /// The hottest sensor of a CPU chip, else of a CPU thermal zone (atlhyper: the
    /// hottest sensor of any kind, NVMe and GPU included); 0 when none.
    pub cpu_temp_c: f64,
    /// The limits of the sensor `cpuTempC` was read from; 0 when it has none.
    pub cpu_max_c: f64,
    pub cpu_crit_c: f64,
    /// `[]`, never null, on a node without sensors.
    pub sensors: Vec<ObserveSensor>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObserveSensor {
    pub chip: String,
    /// The sensor's label when the chip names it (`Package id 0`), else `tempN`.
    pub sensor: String,
    pub current_c: f64,
    pub max_c: f64,
    pub crit_c: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservePsi {
    pub cpu_some_pct: f64,
    pub mem_some_pct: f64,
    pub mem_full_pct: f64,
    pub io_some_pct: f64,
    pub io_full_pct: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObserveTcp {
    pub curr_estab: u64,
    pub alloc: u64,
    pub in_use: u64,
    pub time_wait: u64,
    pub sockets_used: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObserveSystem {
    pub conntrack_entries: u64,
    pub conntrack_limit: u64,
    pub filefd_allocated: u64,
    pub filefd_max: u64,
    pub entropy_bits: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObserveVmstat {
    pub pg_fault_per_sec: f64,
    pub pg_maj_fault_per_sec: f64,
    pub pswp_in_per_sec: f64,
    pub pswp_out_per_sec: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObserveSoftnet {
    pub dropped_per_sec: f64,
    pub squeezed_per_sec: f64,
}

/// R6's `data`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObserveSeries {
    /// As requested (may be empty).
    pub metric: String,
    pub points: Vec<ObservePoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObservePoint {
    pub timestamp: DateTime<Utc>,
    pub value: f64,
}

impl ObserveNode {
    /// The view of a node's last snapshot; `status` is `online` or `offline`.
    pub fn of(snapshot: &NodeMetricsSnapshot, status: &str) -> ObserveNode {
        let s = snapshot;
        ObserveNode {
            node_name: s.node_name.clone(),
            node_ip: s.node_ip.clone(),
            timestamp: s.timestamp,
            status: status.to_owned(),
            cpu: ObserveCpu {
                usage_pct: pct(s.cpu.usage_percent),
                user_pct: pct(s.cpu.user_percent),
                system_pct: pct(s.cpu.system_percent),
                iowait_pct: pct(s.cpu.iowait_percent),
                load1: round(s.cpu.load_1, 2),
                load5: round(s.cpu.load_5, 2),
                load15: round(s.cpu.load_15, 2),
                cores: s.cpu.threads,
            },
            memory: ObserveMemory {
                total_bytes: s.memory.total,
                available_bytes: s.memory.available,
                free_bytes: s.memory.free,
                cached_bytes: s.memory.cached,
                buffers_bytes: s.memory.buffers,
                usage_pct: pct(s.memory.usage_percent),
                swap_total_bytes: s.memory.swap_total,
                swap_free_bytes: s.memory.swap_free,
                swap_usage_pct: pct(s.memory.swap_percent),
            },
            disks: s.disks.iter().map(ObserveDisk::of).collect(),
            networks: s.networks.iter().map(ObserveNetwork::of).collect(),
            temperature: ObserveTemperature::of(s),
            psi: ObservePsi {
                cpu_some_pct: pct(s.psi.cpu_some_percent),
                mem_some_pct: pct(s.psi.memory_some_percent),
                mem_full_pct: pct(s.psi.memory_full_percent),
                io_some_pct: pct(s.psi.io_some_percent),
                io_full_pct: pct(s.psi.io_full_percent),
            },
            tcp: ObserveTcp {
                curr_estab: s.tcp.curr_estab,
                alloc: s.tcp.alloc,
                in_use: s.tcp.in_use,
                time_wait: s.tcp.time_wait,
                sockets_used: s.tcp.sockets_used,
            },
            system: ObserveSystem {
                conntrack_entries: s.system.conntrack_entries,
                conntrack_limit: s.system.conntrack_limit,
                filefd_allocated: s.system.filefd_allocated,
                filefd_max: s.system.filefd_max,
                entropy_bits: s.system.entropy_bits,
            },
            vmstat: ObserveVmstat {
                pg_fault_per_sec: rate(s.vmstat.pgfault_rate),
                pg_maj_fault_per_sec: rate(s.vmstat.pgmajfault_rate),
                pswp_in_per_sec: rate(s.vmstat.pswpin_rate),
                pswp_out_per_sec: rate(s.vmstat.pswpout_rate),
            },
            softnet: ObserveSoftnet {
                dropped_per_sec: rate(s.softnet.dropped_rate),
                squeezed_per_sec: rate(s.softnet.squeezed_rate),
            },
            kernel: s.kernel.clone(),
            uptime: s.uptime,
        }
    }
}

impl ObserveDisk {
    fn of(disk: &DiskMetrics) -> ObserveDisk {
        let usage = match disk.total {
            0 => 0.0,
            total => (1.0 - disk.available as f64 / total as f64) * 100.0,
        };
        ObserveDisk {
            device: disk.device.clone(),
            mount_point: disk.mount_point.clone(),
            fs_type: disk.fs_type.clone(),
            total_bytes: disk.total,
            avail_bytes: disk.available,
            usage_pct: pct(usage),
            read_bytes_per_sec: rate(disk.read_rate),
            write_bytes_per_sec: rate(disk.write_rate),
            read_iops: rate(disk.read_iops),
            write_iops: rate(disk.write_iops),
            io_util_pct: pct(disk.io_util),
        }
    }
}

/// Bytes per second in a megabit per second (the v2 `speed` is in Mbps).
const BYTES_PER_SECOND_PER_MBPS: i64 = 125_000;

impl ObserveNetwork {
    fn of(net: &NetworkMetrics) -> ObserveNetwork {
        ObserveNetwork {
            interface: net.interface.clone(),
            up: net.status.eq_ignore_ascii_case("up"),
            speed_bps: net.speed.saturating_mul(BYTES_PER_SECOND_PER_MBPS).max(0),
            mtu: net.mtu,
            rx_bytes_per_sec: rate(net.rx_rate),
            tx_bytes_per_sec: rate(net.tx_rate),
            rx_pkt_per_sec: rate(net.rx_packet_rate),
            tx_pkt_per_sec: rate(net.tx_packet_rate),
            rx_err_per_sec: rate(net.rx_error_rate),
            tx_err_per_sec: rate(net.tx_error_rate),
            rx_drop_per_sec: rate(net.rx_drop_rate),
            tx_drop_per_sec: rate(net.tx_drop_rate),
        }
    }
}

impl ObserveTemperature {
    fn of(snapshot: &NodeMetricsSnapshot) -> ObserveTemperature {
        let temperature = &snapshot.temperature;
        // The CPU sensor is the one whose reading is the CPU temperature; a thermal
        // zone (no sensor of that reading) has no limits.
        let cpu_sensor: Option<&SensorTemperature> = (temperature.cpu_temp != 0.0)
            .then(|| {
                temperature
                    .sensors
                    .iter()
                    .find(|s| s.current == temperature.cpu_temp)
            })
            .flatten();
        ObserveTemperature {
            cpu_temp_c: round(temperature.cpu_temp, 1),
            cpu_max_c: cpu_sensor.map_or(0.0, |s| s.max),
            cpu_crit_c: cpu_sensor.map_or(0.0, |s| s.critical),
            sensors: temperature
                .sensors
                .iter()
                .map(|s| ObserveSensor {
                    chip: s.name.clone(),
                    sensor: s.label.clone(),
                    current_c: s.current,
                    max_c: s.max,
                    crit_c: s.critical,
                })
                .collect(),
        }
    }
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// `x` to `digits` decimals; NaN and infinities are 0 (JSON has neither).
pub fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    let rounded = (x * scale).round() / scale;
    if rounded.is_finite() {
        rounded
    } else {
        0.0
    }
}

/// A percentage: 0–100, 2 decimals.
fn pct(x: f64) -> f64 {
    round(x.clamp(0.0, 100.0), 2)
}

/// A per-second rate: 2 decimals.
fn rate(x: f64) -> f64 {
    round(x, 2)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::snapshot::build_snapshot;
    use crate::snapshot::testdata::{scrape, with_value, EDGE, NODE_EXPORTER};

    /// Two scrapes of the edge fixture 10 s apart, with counters moved by hand.
    fn edge_node() -> ObserveNode {
        let before = scrape(EDGE, 0);
        let mut text = EDGE.to_string();
        for (series, value) in [
            // PSI: CPU some +1.23456 s of 10 → 12.3456 % → 12.35.
            (
                "node_pressure_cpu_waiting_seconds_total",
                184.726351 + 1.23456,
            ),
            ("node_vmstat_pgfault", 10339776.0 + 15204.0),
            ("node_softnet_times_squeezed_total{cpu=\"2\"}", 163.0 + 1.0),
            (
                "node_network_receive_packets_total{device=\"eth0\"}",
                765432.0 + 805.0,
            ),
        ] {
            text = with_value(&text, series, value);
        }
        let text = text
            + "node_uname_info{domainname=\"(none)\",machine=\"x86_64\",nodename=\"edge-1\",release=\"6.8.0-57-generic\",sysname=\"Linux\",version=\"#1\"} 1\n";
        let snapshot = build_snapshot(
            "edge-1",
            &scrape(&text, 10),
            Some(&before),
            Some("http://192.168.0.7:9100/metrics"),
        );
        ObserveNode::of(&snapshot, "online")
    }

    #[test]
    fn keys_and_values_of_the_edge_fixture() {
        let node = edge_node();
        let json = serde_json::to_value(&node).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = [
            "nodeName",
            "nodeIP",
            "timestamp",
            "status",
            "cpu",
            "memory",
            "disks",
            "networks",
            "temperature",
            "psi",
            "tcp",
            "system",
            "vmstat",
            "softnet",
            "kernel",
            "uptime",
        ];
        expected.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(json["nodeIP"], "192.168.0.7");
        assert_eq!(json["kernel"], "6.8.0-57-generic");
        // Boot at 1_700_000_000, scraped at 1_700_100_010.
        assert_eq!(json["uptime"], 100_010);
        assert_eq!(json["timestamp"], "2023-11-16T02:00:10Z");
        assert_eq!(
            json["psi"],
            json!({"cpuSomePct": 12.35, "memSomePct": 0.0, "memFullPct": 0.0, "ioSomePct": 0.0, "ioFullPct": 0.0})
        );
        assert_eq!(
            json["tcp"],
            json!({"currEstab": 3106, "alloc": 53, "inUse": 31, "timeWait": 12, "socketsUsed": 301})
        );
        // node_filefd_maximum 9.223372036854776e18 is 2^63.
        assert_eq!(
            json["system"],
            json!({"conntrackEntries": 1234, "conntrackLimit": 262144, "filefdAllocated": 5312, "filefdMax": 9223372036854775808u64, "entropyBits": 3591})
        );
        assert_eq!(
            json["vmstat"],
            json!({"pgFaultPerSec": 1520.4, "pgMajFaultPerSec": 0.0, "pswpInPerSec": 0.0, "pswpOutPerSec": 0.0})
        );
        assert_eq!(
            json["softnet"],
            json!({"droppedPerSec": 0.0, "squeezedPerSec": 0.1})
        );
        assert_eq!(json["cpu"]["cores"], 4);
        assert_eq!(json["cpu"]["load1"], 0.52);
        assert_eq!(json["memory"]["totalBytes"], 16653041664u64);
        assert_eq!(json["memory"]["availableBytes"], 12641974272u64);
        // (1 − 12641974272 / 16653041664) × 100 = 24.0860… → 24.09.
        assert_eq!(json["memory"]["usagePct"], 24.09);
        let eth0 = &json["networks"][1];
        assert_eq!(eth0["interface"], "eth0");
        assert_eq!(eth0["up"], true);
        // 1000 Mbps → 125 000 000 bytes/s.
        assert_eq!(eth0["speedBps"], 125_000_000);
        assert_eq!(eth0["mtu"], 1500);
        assert_eq!(eth0["rxPktPerSec"], 80.5);
        assert_eq!(json["networks"][2]["up"], false, "wlan0 is down");
        // Temperature: cpu_thermal 51.54 (no limits) by the CPU-chip rule.
        assert_eq!(json["temperature"]["cpuTempC"], 51.5);
        assert_eq!(json["temperature"]["cpuMaxC"], 0.0);
        assert_eq!(json["temperature"]["sensors"].as_array().unwrap().len(), 14);
        let package = json["temperature"]["sensors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["sensor"] == "Package id 0")
            .unwrap();
        assert_eq!(
            *package,
            json!({"chip": "coretemp", "sensor": "Package id 0", "currentC": 46.0, "maxC": 100.0, "critC": 100.0})
        );
    }

    #[test]
    fn disks_with_their_io_and_atlhypers_usage() {
        let snapshot = build_snapshot("n1", &scrape(NODE_EXPORTER, 0), None, None);
        let node = ObserveNode::of(&snapshot, "online");
        let root = node.disks.iter().find(|d| d.mount_point == "/").unwrap();
        assert_eq!(root.device, "/dev/nvme0n1p2");
        assert_eq!(root.total_bytes, 270553174016);
        assert_eq!(root.avail_bytes, 83544793088);
        // (1 − 83544793088 / 270553174016) × 100 = 69.1208… (df would say 14.38).
        assert_eq!(root.usage_pct, 69.12);
        let json = serde_json::to_value(root).unwrap();
        for key in ["readIOPS", "writeIOPS", "ioUtilPct", "readBytesPerSec"] {
            assert!(json.get(key).is_some(), "{key}");
        }
    }

    #[test]
    fn an_empty_node_has_arrays_and_leaves_out_kernel_and_uptime() {
        let node = ObserveNode::of(&NodeMetricsSnapshot::default(), "offline");
        let json: Value = serde_json::to_value(&node).unwrap();
        assert_eq!(json["disks"], json!([]));
        assert_eq!(json["networks"], json!([]));
        assert_eq!(json["temperature"]["sensors"], json!([]));
        assert!(json.get("kernel").is_none());
        assert!(json.get("uptime").is_none());
        assert_eq!(json["status"], "offline");
        assert_eq!(json["nodeIP"], "");
    }

    #[test]
    fn rounding_and_the_summary() {
        assert_eq!(round(1.005_000_1, 2), 1.01);
        assert_eq!(round(f64::NAN, 2), 0.0);
        assert_eq!(pct(120.0), 100.0);
        assert_eq!(pct(f64::INFINITY), 100.0);
        let summary = ObserveSummary::from(&ClusterMetricsSummary {
            total_nodes: 3,
            online_nodes: 2,
            avg_cpu_usage: 23.414,
            avg_memory_usage: 61.066,
            max_cpu_usage: 48.9,
            max_memory_usage: 77.321,
            max_cpu_temp: 58.04,
            ..ClusterMetricsSummary::default()
        });
        assert_eq!(
            serde_json::to_value(&summary).unwrap(),
            json!({"totalNodes": 3, "onlineNodes": 2, "avgCpuPct": 23.41, "avgMemPct": 61.07, "maxCpuPct": 48.9, "maxMemPct": 77.32, "maxCpuTemp": 58.0})
        );
    }
}
