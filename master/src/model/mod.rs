//! The JSON contract atlhyper_web reads (`master/docs/atlhyper-api.md`), field by
//! field: snake_case keys, percentages 0–100, byte counts as integers, rates per
//! second, RFC 3339 timestamps, arrays always arrays (never null), and [`limits`] on
//! the size of each array and string.

pub mod limits;
pub mod observe;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use limits::{bounded_list, MAX_CPUS, MAX_DISKS, MAX_NETWORKS, MAX_PROCESSES, MAX_SENSORS};

/// One node's hardware state at `timestamp`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeMetricsSnapshot {
    pub node_name: String,
    pub timestamp: DateTime<Utc>,
    pub hostname: String,
    /// PRETTY_NAME of os-release, else "Linux".
    pub os: String,
    pub kernel: String,
    /// Seconds since boot.
    pub uptime: i64,
    /// The address the node is reached at: the scrape target's host when it is an IP
    /// address (atlhyper's `nodeIP` is its scrape target), else the node's first
    /// global IPv4 address; "" when neither is known.
    pub node_ip: String,
    pub cpu: CpuMetrics,
    pub memory: MemoryMetrics,
    #[serde(deserialize_with = "bounded_list::<_, _, MAX_DISKS>")]
    pub disks: Vec<DiskMetrics>,
    #[serde(deserialize_with = "bounded_list::<_, _, MAX_NETWORKS>")]
    pub networks: Vec<NetworkMetrics>,
    pub temperature: TemperatureMetrics,
    #[serde(deserialize_with = "bounded_list::<_, _, MAX_PROCESSES>")]
    pub processes: Vec<ProcessMetrics>,
    pub psi: PsiMetrics,
    pub tcp: TcpMetrics,
    pub system: SystemMetrics,
    pub vmstat: VmstatMetrics,
    pub softnet: SoftnetMetrics,
}

impl NodeMetricsSnapshot {
    /// The reference's primary disk: the one mounted at `/`, else the first.
    pub fn primary_disk(&self) -> Option<&DiskMetrics> {
        self.disks
            .iter()
            .find(|disk| disk.mount_point == "/")
            .or_else(|| self.disks.first())
    }

    /// The reference's primary interface: the first that is up and not `lo`.
    pub fn primary_interface(&self) -> Option<&NetworkMetrics> {
        self.networks
            .iter()
            .find(|net| net.status.eq_ignore_ascii_case("up") && net.interface != "lo")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuMetrics {
    /// 100 − idle share; iowait counts as busy.
    pub usage_percent: f64,
    /// user + nice.
    pub user_percent: f64,
    pub system_percent: f64,
    pub idle_percent: f64,
    pub iowait_percent: f64,
    /// Usage per logical CPU, in CPU order.
    #[serde(deserialize_with = "bounded_list::<_, _, MAX_CPUS>")]
    pub per_core: Vec<f64>,
    pub load_1: f64,
    pub load_5: f64,
    pub load_15: f64,
    pub model: String,
    /// Physical cores.
    pub cores: i64,
    /// Logical CPUs.
    pub threads: i64,
    /// MHz.
    pub frequency: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryMetrics {
    pub total: u64,
    /// total − MemAvailable.
    pub used: u64,
    pub available: u64,
    pub free: u64,
    pub usage_percent: f64,
    pub cached: u64,
    pub buffers: u64,
    pub swap_total: u64,
    pub swap_used: u64,
    pub swap_free: u64,
    pub swap_percent: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiskMetrics {
    /// e.g. `/dev/sda1`.
    pub device: String,
    pub mount_point: String,
    pub fs_type: String,
    pub total: u64,
    pub used: u64,
    pub available: u64,
    pub usage_percent: f64,
    /// Cumulative.
    pub read_bytes: u64,
    pub write_bytes: u64,
    /// Bytes per second.
    pub read_rate: f64,
    pub write_rate: f64,
    pub read_iops: f64,
    pub write_iops: f64,
    /// Percent of time busy.
    pub io_util: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkMetrics {
    pub interface: String,
    /// First IPv4 address.
    pub ip_address: String,
    pub mac_address: String,
    /// operstate.
    pub status: String,
    /// Mbps.
    pub speed: i64,
    pub mtu: i64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub tx_packets: u64,
    /// Bytes per second.
    pub rx_rate: f64,
    pub tx_rate: f64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
    /// Per second over the window, as `rx_rate` and `tx_rate` are for bytes.
    pub rx_packet_rate: f64,
    pub tx_packet_rate: f64,
    pub rx_error_rate: f64,
    pub tx_error_rate: f64,
    pub rx_drop_rate: f64,
    pub tx_drop_rate: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TemperatureMetrics {
    /// °C.
    pub cpu_temp: f64,
    /// Critical, else max, else a default.
    pub cpu_temp_max: f64,
    #[serde(deserialize_with = "bounded_list::<_, _, MAX_SENSORS>")]
    pub sensors: Vec<SensorTemperature>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SensorTemperature {
    /// Chip.
    pub name: String,
    pub label: String,
    pub current: f64,
    pub max: f64,
    pub critical: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessMetrics {
    pub pid: i64,
    /// comm.
    pub name: String,
    pub cmdline: String,
    pub user: String,
    /// One letter: R, S, D, Z, T.
    pub status: String,
    pub cpu_percent: f64,
    pub mem_percent: f64,
    /// Bytes.
    pub mem_rss: u64,
    pub threads: i64,
    /// Unix seconds.
    pub start_time: i64,
}

/// Pressure stall information: the share of wall time in which some (or all) tasks
/// waited for a resource over the window between two scrapes, 0–100. Not the
/// kernel's avg10/avg60; 0 on kernels without PSI.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PsiMetrics {
    pub cpu_some_percent: f64,
    pub memory_some_percent: f64,
    pub memory_full_percent: f64,
    pub io_some_percent: f64,
    pub io_full_percent: f64,
}

/// TCP connections and sockets (netstat and sockstat gauges), counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TcpMetrics {
    /// Connections in ESTABLISHED or CLOSE-WAIT.
    pub curr_estab: u64,
    pub alloc: u64,
    pub in_use: u64,
    pub time_wait: u64,
    /// Sockets of every type.
    pub sockets_used: u64,
}

/// Kernel tables: conntrack, file handles, entropy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SystemMetrics {
    pub conntrack_entries: u64,
    pub conntrack_limit: u64,
    pub filefd_allocated: u64,
    /// `fs.file-max`; 2^63 on kernels where it is unlimited.
    pub filefd_max: u64,
    pub entropy_bits: u64,
}

/// Paging, per second over the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VmstatMetrics {
    pub pgfault_rate: f64,
    pub pgmajfault_rate: f64,
    /// Pages swapped in and out.
    pub pswpin_rate: f64,
    pub pswpout_rate: f64,
}

/// Softnet backlog trouble, per second over the window, summed over CPUs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SoftnetMetrics {
    /// Packets dropped because a CPU's backlog was full.
    pub dropped_rate: f64,
    /// Times a CPU's softirq ran out of budget with work left.
    pub squeezed_rate: f64,
}

/// One point of a node's history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsDataPoint {
    pub timestamp: DateTime<Utc>,
    pub node_name: String,
    pub cpu_usage: f64,
    pub memory_usage: f64,
    /// The primary disk: the one mounted at `/`, else the first.
    pub disk_usage: f64,
    pub disk_io_read: f64,
    pub disk_io_write: f64,
    /// The primary interface: the first that is up and not lo.
    pub network_rx: f64,
    pub network_tx: f64,
    pub cpu_temp: f64,
    pub load_1: f64,
}

/// The cluster overview of the list route.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterMetricsSummary {
    pub total_nodes: i64,
    pub online_nodes: i64,
    pub offline_nodes: i64,
    pub avg_cpu_usage: f64,
    pub avg_memory_usage: f64,
    pub avg_disk_usage: f64,
    pub max_cpu_usage: f64,
    pub max_memory_usage: f64,
    pub max_disk_usage: f64,
    /// Over nodes that have a CPU temperature.
    pub avg_cpu_temp: f64,
    pub max_cpu_temp: f64,
    pub total_memory: u64,
    pub used_memory: u64,
    pub total_disk: u64,
    pub used_disk: u64,
    pub total_network_rx: f64,
    pub total_network_tx: f64,
    /// CPU ≥ 80, memory ≥ 80 or CPU temperature ≥ 75 (thresholds are flags).
    pub warning_nodes: i64,
    pub warning_node_names: Vec<String>,
}

/// A node in the list route: its last snapshot plus whether it still reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListedNode {
    #[serde(flatten)]
    pub snapshot: NodeMetricsSnapshot,
    /// `online` or `offline`.
    pub status: String,
    pub last_seen: DateTime<Utc>,
}

/// One cluster in `GET /api/v2/clusters`. atlhyper's v2-era page reads the snake_case
/// keys, today's page the camelCase ones; the object carries both, with the same values.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterInfo {
    pub cluster_id: String,
    /// `online` when at least one node of the cluster is online.
    pub status: String,
    /// The newest `last_seen` of its nodes; `None` before the first snapshot.
    pub last_seen: Option<DateTime<Utc>>,
    pub node_count: i64,
    /// edge-master sees nodes, not Kubernetes objects: always 0.
    pub pod_count: i64,
    /// Today's page shows its data only when this is true; edge-master serves the
    /// node metrics that atlhyper gates behind it, so it is always true.
    pub otel_available: bool,
}

impl Serialize for ClusterInfo {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("ClusterInfo", 10)?;
        out.serialize_field("cluster_id", &self.cluster_id)?;
        out.serialize_field("status", &self.status)?;
        out.serialize_field("last_seen", &self.last_seen)?;
        out.serialize_field("node_count", &self.node_count)?;
        out.serialize_field("pod_count", &self.pod_count)?;
        out.serialize_field("clusterId", &self.cluster_id)?;
        out.serialize_field("lastSeen", &self.last_seen)?;
        out.serialize_field("nodeCount", &self.node_count)?;
        out.serialize_field("podCount", &self.pod_count)?;
        out.serialize_field("otelAvailable", &self.otel_available)?;
        out.end()
    }
}

/// The body of `GET /api/v2/clusters`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterList {
    pub clusters: Vec<ClusterInfo>,
    pub total: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_contracts_and_arrays_are_never_null() {
        let snapshot = NodeMetricsSnapshot {
            node_name: "n1".into(),
            ..NodeMetricsSnapshot::default()
        };
        let json = serde_json::to_value(&snapshot).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for key in [
            "node_name",
            "timestamp",
            "hostname",
            "os",
            "kernel",
            "uptime",
            "cpu",
            "memory",
            "disks",
            "networks",
            "temperature",
            "processes",
            "node_ip",
            "psi",
            "tcp",
            "system",
            "vmstat",
            "softnet",
        ] {
            assert!(keys.contains(&key), "missing {key}");
        }
        assert_eq!(json["disks"], serde_json::json!([]));
        assert_eq!(json["cpu"]["per_core"], serde_json::json!([]));
        assert_eq!(json["temperature"]["sensors"], serde_json::json!([]));
        assert_eq!(json["timestamp"], "1970-01-01T00:00:00Z");
        // A pushed snapshot without some fields still reads, with defaults.
        let pushed: NodeMetricsSnapshot =
            serde_json::from_str(r#"{"node_name":"n2","timestamp":"2026-11-22T10:00:00+08:00","cpu":{"usage_percent":12.5}}"#).unwrap();
        assert_eq!(pushed.cpu.usage_percent, 12.5);
        assert_eq!(pushed.timestamp.to_rfc3339(), "2026-11-22T02:00:00+00:00");
        let listed = ListedNode {
            snapshot,
            status: "offline".into(),
            last_seen: DateTime::<Utc>::default(),
        };
        let json = serde_json::to_value(&listed).unwrap();
        assert_eq!(json["status"], "offline");
        assert_eq!(json["node_name"], "n1");
    }
}
