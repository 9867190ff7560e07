//! What the snapshot reads (every section of `master/src/snapshot/`), as the queries a
//! round asks the backend: a few instant queries of families read as they are, one
//! `rate()` query per counter whose rate a section takes, and one query for the time of
//! each node's newest sample. Only what a snapshot shows is asked for (the backend's
//! time is most of a round's): a process's current state, not the state set's zeros,
//! and no interface the snapshot leaves out.
//!
//! A family missing here is a field left at its default in PromQL mode only; the test
//! `the_fixture_gives_the_scraped_snapshot` builds the edge-exporter fixture both ways
//! and finds such a family.

use std::sync::LazyLock;

/// Families read as they are, in groups of one instant query each (smaller answers
/// than one query for all; the name says which failed). Counters whose totals are
/// shown (network and disk bytes, packets, errors, drops) are here and in [`RATED`].
pub const INSTANT_GROUPS: &[(&str, &[&str])] = &[
    (
        "host",
        &[
            "node_time_seconds",
            "node_load1",
            "node_load5",
            "node_load15",
            // The names a node reports (`--source.node-name=reported`): asked every
            // round, so that a node that appears is named, and listed, at once.
            "edge_node_info",
            "node_uname_info",
        ],
    ),
    ("host_info", &["node_os_info", "node_boot_time_seconds"]),
    ("cpu_info", &["node_cpu_info"]),
    (
        "cpu",
        &[
            "node_cpu_scaling_frequency_hertz",
            "node_cpu_frequency_hertz",
            "edge_cpu_clock_hertz",
        ],
    ),
    (
        "memory",
        &[
            "node_memory_MemTotal_bytes",
            "node_memory_MemFree_bytes",
            "node_memory_MemAvailable_bytes",
            "node_memory_Cached_bytes",
            "node_memory_Buffers_bytes",
            "node_memory_SwapTotal_bytes",
            "node_memory_SwapFree_bytes",
        ],
    ),
    (
        "disk_info",
        &["node_filesystem_size_bytes", "node_disk_device_mapper_info"],
    ),
    (
        "disks",
        &[
            "node_filesystem_free_bytes",
            "node_filesystem_avail_bytes",
            "node_disk_read_bytes_total",
            "node_disk_written_bytes_total",
        ],
    ),
    (
        "network_info",
        &[
            "node_network_info",
            "node_network_address_info",
            "node_network_speed_bytes",
            "node_network_mtu_bytes",
        ],
    ),
    (
        "networks",
        &[
            "node_network_receive_bytes_total",
            "node_network_transmit_bytes_total",
            "node_network_receive_packets_total",
            "node_network_transmit_packets_total",
            "node_network_receive_errs_total",
            "node_network_transmit_errs_total",
            "node_network_receive_drop_total",
            "node_network_transmit_drop_total",
        ],
    ),
    (
        "processes",
        &[
            "edge_process_cpu_ratio",
            "edge_process_memory_ratio",
            "edge_process_resident_memory_bytes",
            "edge_process_threads",
            "edge_process_start_time_seconds",
            "edge_process_info",
        ],
    ),
    // Only each process's current state: the state set's other series are 0 and read
    // by nobody (they were 5 of the group's 11 series per process).
    ("process_states", &["edge_process_state"]),
    (
        "sensor_info",
        &[
            "node_hwmon_chip_names",
            "node_hwmon_temp_max_celsius",
            "node_hwmon_temp_crit_celsius",
            "node_hwmon_sensor_label",
        ],
    ),
    (
        "temperature",
        &["node_hwmon_temp_celsius", "node_thermal_zone_temp"],
    ),
    (
        "system_limits",
        &["node_nf_conntrack_entries_limit", "node_filefd_maximum"],
    ),
    (
        "system",
        &[
            "node_nf_conntrack_entries",
            "node_filefd_allocated",
            "node_entropy_available_bits",
            "node_netstat_Tcp_CurrEstab",
            "node_sockstat_TCP_alloc",
            "node_sockstat_TCP_inuse",
            "node_sockstat_TCP_tw",
            "node_sockstat_sockets_used",
        ],
    ),
];

/// Groups asked only once per `--source.slow-interval` (60 s by default), at a time
/// aligned to it, and reused by the rounds in between: what describes a node and
/// hardly changes (OS, boot time, CPU model, filesystem sizes, interface
/// addresses and speeds, sensor names and limits, table sizes), and the top processes
/// with their states, which are a quarter of a round's series (11 per process) and are
/// shown as a list, not a rate. The rest of the round is asked every interval.
pub const SLOW_GROUPS: &[&str] = &[
    "host_info",
    "cpu_info",
    "disk_info",
    "network_info",
    "processes",
    "process_states",
    "sensor_info",
    "system_limits",
];

/// Whether `group` is one of [`SLOW_GROUPS`].
pub fn is_slow(group: &str) -> bool {
    SLOW_GROUPS.contains(&group)
}

/// Interfaces the snapshot never shows (`snapshot::networks`: loopback, container,
/// bridge and CNI plumbing), left out by the backend: on a Kubernetes node they are
/// most of the network series.
/// Built from `snapshot::VIRTUAL_PREFIXES`, the one list.
pub static HIDDEN_INTERFACES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "device!~\"lo|({}).*\"",
        crate::snapshot::VIRTUAL_PREFIXES.join("|")
    )
});

/// The extra matcher of a family's series: the network families' shown interfaces.
pub fn family_matcher(family: &str) -> Option<&'static str> {
    family
        .starts_with("node_network_")
        .then_some(HIDDEN_INTERFACES.as_str())
}

/// What a group's instant query filters its answer by (after the selector).
fn group_filter(group: &str) -> &'static str {
    match group {
        "process_states" => " == 1",
        _ => "",
    }
}

/// The instant query of a group: its families, the extra matchers they share (the
/// groups are made so that a group's families share them), and its filter. `extra`
/// is added to the selector (`instance=~"…"` for one node's history).
pub fn group_expr(group: &str, families: &[&str], extra: Option<&str>) -> String {
    let mut matchers = vec![format!("__name__=~\"{}\"", families.join("|"))];
    matchers.extend(
        families
            .first()
            .and_then(|f| family_matcher(f))
            .map(str::to_owned),
    );
    matchers.extend(extra.map(str::to_owned));
    format!("{{{}}}{}", matchers.join(","), group_filter(group))
}

/// A counter's selector: its name and the matchers its series are read with.
pub fn counter_selector(family: &str, extra: Option<&str>) -> String {
    let matchers: Vec<&str> = family_matcher(family).into_iter().chain(extra).collect();
    if matchers.is_empty() {
        family.to_owned()
    } else {
        format!("{family}{{{}}}", matchers.join(","))
    }
}

/// Counters whose per-second rate a section reads, one `rate()` query each (`rate`
/// drops the metric name, so one query cannot carry several families apart): the
/// snapshot's rate counters (`snapshot::RATE_FAMILIES`, the one list) but the boot
/// time, a gauge that tells a reboot, asked among the instant families.
pub static RATED: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    crate::snapshot::RATE_FAMILIES
        .iter()
        .copied()
        .filter(|family| *family != "node_boot_time_seconds")
        .collect()
});

/// Families every exporter serves on every scrape: the newest of their samples is when
/// the node was last scraped.
pub const HEARTBEAT: &[&str] = &[
    "node_boot_time_seconds",
    "node_load1",
    "node_uname_info",
    "edge_node_info",
];

/// One query of a round: what it asks and what its answer is.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// Families read as they are; the answer keeps `__name__`. A group of
    /// [`SLOW_GROUPS`] is asked once per slow interval.
    Instant { group: &'static str, expr: String },
    /// The per-second rate of one counter family over the rate window.
    Rate { family: &'static str, expr: String },
    /// Per node label value, the Unix time of its newest heartbeat sample.
    Newest { expr: String },
}

impl Query {
    /// Whether this is a group asked once per slow interval.
    pub fn is_slow(&self) -> bool {
        matches!(self, Query::Instant { group, .. } if is_slow(group))
    }

    pub fn expr(&self) -> &str {
        match self {
            Query::Instant { expr, .. } | Query::Rate { expr, .. } | Query::Newest { expr } => expr,
        }
    }
}

/// Every query of a round: a fixed number, whatever the number of nodes.
pub fn round_queries(node_label: &str, rate_window: std::time::Duration) -> Vec<Query> {
    let window = promql_duration(rate_window);
    // `timestamp` drops the name, so one `timestamp({__name__=~…})` would hold series
    // of one label set twice, which Prometheus refuses; `or` keeps the first of them.
    let newest = HEARTBEAT
        .iter()
        .map(|family| format!("timestamp({family})"))
        .collect::<Vec<_>>()
        .join(" or ");
    let mut queries = vec![Query::Newest {
        expr: format!("max by ({node_label}) ({newest})"),
    }];
    queries.extend(
        INSTANT_GROUPS
            .iter()
            .map(|(group, families)| Query::Instant {
                group,
                expr: group_expr(group, families, None),
            }),
    );
    queries.extend(RATED.iter().map(|family| Query::Rate {
        family,
        expr: format!("rate({}[{window}])", counter_selector(family, None)),
    }));
    queries
}

/// A duration as PromQL writes it, in whole milliseconds (`1500ms`, `60s`).
pub fn promql_duration(duration: std::time::Duration) -> String {
    let millis = duration.as_millis().max(1);
    if millis % 1000 == 0 {
        format!("{}s", millis / 1000)
    } else {
        format!("{millis}ms")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_round_is_a_fixed_set_of_queries() {
        let queries = round_queries("instance", Duration::from_secs(20));
        assert_eq!(queries.len(), 1 + INSTANT_GROUPS.len() + RATED.len());
        assert_eq!(
            queries[0].expr(),
            "max by (instance) (timestamp(node_boot_time_seconds) or timestamp(node_load1) or timestamp(node_uname_info) or timestamp(edge_node_info))"
        );
        assert_eq!(
            queries[1].expr(),
            "{__name__=~\"node_time_seconds|node_load1|node_load5|node_load15|edge_node_info|node_uname_info\"}"
        );
        let slow: Vec<&str> = queries
            .iter()
            .filter(|query| query.is_slow())
            .map(|query| match query {
                Query::Instant { group, .. } => *group,
                _ => "",
            })
            .collect();
        assert_eq!(slow, SLOW_GROUPS);
        assert_eq!(
            queries.last().unwrap(),
            &Query::Rate {
                family: "node_vmstat_pswpout",
                expr: "rate(node_vmstat_pswpout[20s])".into()
            }
        );
        assert_eq!(promql_duration(Duration::from_millis(1500)), "1500ms");
        // Only current process states, only shown interfaces.
        let expr = |wanted: &str| {
            queries
                .iter()
                .find(|q| matches!(q, Query::Instant { group, .. } | Query::Rate { family: group, .. } if *group == wanted))
                .unwrap()
                .expr()
                .to_owned()
        };
        assert_eq!(
            expr("process_states"),
            "{__name__=~\"edge_process_state\"} == 1"
        );
        assert!(expr("networks").ends_with(
            "node_network_transmit_drop_total\",device!~\"lo|(veth|docker|br-|virbr|vnet|cni|flannel|cali).*\"}"
        ));
        assert_eq!(
            expr("node_network_receive_bytes_total"),
            "rate(node_network_receive_bytes_total{device!~\"lo|(veth|docker|br-|virbr|vnet|cni|flannel|cali).*\"}[20s])"
        );
    }

    #[test]
    fn no_family_is_asked_twice_in_one_kind() {
        let mut instant: Vec<&str> = INSTANT_GROUPS
            .iter()
            .flat_map(|(_, f)| f.iter().copied())
            .collect();
        let count = instant.len();
        instant.sort();
        instant.dedup();
        assert_eq!(instant.len(), count);
        let mut rated = RATED.to_vec();
        rated.sort();
        rated.dedup();
        assert_eq!(rated.len(), RATED.len());
    }

    /// The snapshot's own list is the authority (`snapshot::SNAPSHOT_FAMILIES`, what a
    /// scrape is read for): the queries ask for exactly those families, so that a section reading one more
    /// family fails here until the PromQL source asks for it too.
    #[test]
    fn the_queries_ask_for_the_snapshots_families() {
        use std::collections::BTreeSet;
        let asked: BTreeSet<&str> = INSTANT_GROUPS
            .iter()
            .flat_map(|(_, f)| f.iter().copied())
            .chain(RATED.iter().copied())
            .collect();
        let read: BTreeSet<&str> = crate::snapshot::SNAPSHOT_FAMILIES.iter().copied().collect();
        let missing: Vec<_> = read.difference(&asked).collect();
        let extra: Vec<_> = asked.difference(&read).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "read by the snapshot, not asked: {missing:?}; asked, not read: {extra:?}"
        );
        assert!(asked.contains("node_boot_time_seconds"));
        assert!(!RATED.contains(&"node_boot_time_seconds"));
    }
}
