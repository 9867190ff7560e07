//! edge-exporter against the real node_exporter 1.5 (Debian `prometheus-node-exporter`):
//! the same collectors on the same fixture tree and on this live machine must give the
//! same families, the same label sets, equal values for what does not change between
//! scrapes, and counters consistent with the time between scrapes (node_exporter is
//! scraped before and after edge-exporter; our counter must lie between the two).
//! `promtool check metrics` must report nothing for us that it does not also report
//! for node_exporter.
//!
//! edge-exporter follows node_exporter 1.12, whose label sets differ from 1.5's: every
//! difference is one row of [`CHANGES_SINCE_1_5`], applied to our output exactly (that
//! family, that label or those series) before comparing; nothing else is ignored.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};

use common::*;

const UPSTREAM_MOUNT_EXCLUDE: &str =
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
/// 1.12's default: erofs joined it in 1.10 (1.5 would report an erofs mount).
const FS_TYPES_EXCLUDE_1_12: &str = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$";
/// 1.12's default: zram devices joined it in 1.8 (#2898; 1.5 would report zram0).
const DISKSTATS_EXCLUDE_1_12: &str = r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";

/// node_exporter restricted to edge-exporter's default collector set, with the flags
/// whose defaults Debian patched set to upstream's (which edge-exporter uses).
fn node_exporter_args(extra: &[String]) -> Vec<String> {
    let mut list = args(&[
        "--collector.disable-defaults",
        "--collector.cpu",
        "--collector.cpu.info",
        "--collector.cpufreq",
        "--collector.loadavg",
        "--collector.meminfo",
        "--collector.stat",
        "--collector.uname",
        "--collector.os",
        "--collector.time",
        "--collector.diskstats",
        "--collector.filesystem",
        "--collector.netdev",
        "--collector.netdev.address-info",
        "--collector.netclass",
        "--collector.hwmon",
        "--collector.thermal_zone",
        "--collector.textfile",
        "--web.disable-exporter-metrics",
    ]);
    // node_exporter 1.12's other default collectors that 1.5 has too.
    list.extend(
        SHARED_NEW_COLLECTORS
            .iter()
            .map(|name| format!("--collector.{name}")),
    );
    list.extend(shared_args(extra));
    list
}

/// The default collectors of 1.12 beyond edge-exporter's first 15 that Debian's 1.5
/// also has (bcachefs, dmmultipath, kernel_hung and watchdog came later).
const SHARED_NEW_COLLECTORS: &[&str] = &[
    "arp",
    "bcache",
    "bonding",
    "btrfs",
    "conntrack",
    "dmi",
    "edac",
    "entropy",
    "fibrechannel",
    "filefd",
    "infiniband",
    "ipvs",
    "mdadm",
    "netstat",
    "nfs",
    "nfsd",
    "nvme",
    "powersupplyclass",
    "pressure",
    "rapl",
    "schedstat",
    "selinux",
    "sockstat",
    "softnet",
    "tapestats",
    "timex",
    "udp_queues",
    "vmstat",
    "xfs",
    "zfs",
];

fn shared_args(extra: &[String]) -> Vec<String> {
    let mut list = vec![
        format!("--collector.filesystem.mount-points-exclude={UPSTREAM_MOUNT_EXCLUDE}"),
        format!("--collector.filesystem.fs-types-exclude={FS_TYPES_EXCLUDE_1_12}"),
        format!("--collector.diskstats.device-exclude={DISKSTATS_EXCLUDE_1_12}"),
        "--collector.netdev.device-exclude=^$".to_string(),
    ];
    list.extend_from_slice(extra);
    list
}

/// edge-exporter's collectors that node_exporter does not have: their
/// `node_scrape_collector_*{collector}` samples have no counterpart.
const EDGE_ONLY_COLLECTORS: &[&str] = &[
    "top_processes",
    "bcachefs",
    "dmmultipath",
    "kernel_hung",
    "watchdog",
];

/// Families that describe the exporter itself rather than the node.
fn is_own(name: &str) -> bool {
    name.starts_with("go_")
        || name.starts_with("process_")
        || name.starts_with("promhttp_")
        || name.starts_with("edge_")
        || name == "node_exporter_build_info"
        || name == "node_scrape_collector_duration_seconds"
}

/// What node_exporter 1.12 reports differently from 1.5 in one family.
enum Change {
    /// A family 1.5 does not have: left out of the comparison.
    Family,
    /// A label 1.12 puts on every series of the family: dropped from ours before comparing.
    Label(&'static str),
    /// Series 1.12 adds to the family: those whose `label` the predicate accepts are
    /// left out (before any `Label` of the same family is dropped).
    Series(&'static str, fn(&str) -> bool),
    /// A family 1.12 no longer has: left out of node_exporter 1.5's output.
    Gone,
    /// A label value 1.12 writes differently: 1.5's series whose `label` the first
    /// predicate accepts and ours that the second accepts are both left out.
    Renamed(&'static str, fn(&str) -> bool, fn(&str) -> bool),
}

/// One named difference: family (or a `prefix*` of families), what differs, the
/// release that changed it, and why.
struct Difference {
    family: &'static str,
    change: Change,
    release: &'static str,
    what: &'static str,
}

impl Difference {
    fn applies_to(&self, family: &str) -> bool {
        match self.family.strip_suffix('*') {
            Some(prefix) => family.starts_with(prefix),
            None => family == self.family,
        }
    }
}

const CHANGES_SINCE_1_5: &[Difference] = &[
    // filesystem
    Difference {
        family: "node_filesystem_device_error",
        change: Change::Label("device_error"),
        release: "1.8",
        what: "device_error label: empty, or the statfs error text (#2923)",
    },
    Difference {
        family: "node_filesystem_readonly",
        change: Change::Series("device_error", |v| !v.is_empty()),
        release: "1.7",
        what: "readonly also for a mount whose statfs failed (#2807)",
    },
    Difference {
        family: "node_filesystem_readonly",
        change: Change::Label("device_error"),
        release: "1.8",
        what: "device_error label (#2923)",
    },
    Difference {
        family: "node_filesystem_size_bytes",
        change: Change::Label("device_error"),
        release: "1.8",
        what: "device_error label (#2923)",
    },
    Difference {
        family: "node_filesystem_free_bytes",
        change: Change::Label("device_error"),
        release: "1.8",
        what: "device_error label (#2923)",
    },
    Difference {
        family: "node_filesystem_avail_bytes",
        change: Change::Label("device_error"),
        release: "1.8",
        what: "device_error label (#2923)",
    },
    Difference {
        family: "node_filesystem_files",
        change: Change::Label("device_error"),
        release: "1.8",
        what: "device_error label (#2923)",
    },
    Difference {
        family: "node_filesystem_files_free",
        change: Change::Label("device_error"),
        release: "1.8",
        what: "device_error label (#2923)",
    },
    Difference {
        family: "node_filesystem_mount_info",
        change: Change::Family,
        release: "1.9",
        what: "node_filesystem_mount_info{device,major,minor,mountpoint} (#2970)",
    },
    // cpufreq
    Difference {
        family: "node_cpu_scaling_governor",
        change: Change::Family,
        release: "1.6",
        what: "node_cpu_scaling_governor{cpu,governor}: 1 for the current governor (#2569)",
    },
    Difference {
        family: "node_cpu_frequency_avg_hertz",
        change: Change::Family,
        release: "1.12",
        what: "node_cpu_frequency_avg_hertz{cpu} from cpuinfo_avg_freq (kernel 6.13+)",
    },
    // diskstats
    Difference {
        family: "node_disk_info",
        change: Change::Label("rotational"),
        release: "1.9",
        what: "rotational label from sysfs queue/rotational (#3022)",
    },
    // hwmon
    Difference {
        family: "node_hwmon_freq_freq_mhz",
        change: Change::Family,
        release: "1.9",
        what: "GPU clocks: freqN_input of a labelled sensor, in MHz, sensor = the label (#3093)",
    },
    Difference {
        family: "node_hwmon_sensor_label",
        change: Change::Series("sensor", |v| v.starts_with("freq")),
        release: "1.9",
        what: "freq sensors are read (#3093), so their labels are exported too",
    },
    Difference {
        family: "node_hwmon_*",
        change: Change::Renamed(
            "chip",
            |v| v == "ieee80211_phy0",
            |v| v.starts_with("ieee80211_phy0_"),
        ),
        release: "1.12",
        what: "chips sharing one device get chip=<base>_<name> (#3646); 1.5 served one of \
               them as chip=\"ieee80211_phy0\" and logged \"collected before\"",
    },
    // meminfo: read through procfs's Meminfo since 1.9 (#3049), which has no field for
    // these lines: node_exporter 1.5 exported every line of /proc/meminfo.
    Difference {
        family: "node_memory_FileHugePages_bytes",
        change: Change::Gone,
        release: "1.9",
        what: "FileHugePages is not a field of procfs's Meminfo (#3049)",
    },
    Difference {
        family: "node_memory_FilePmdMapped_bytes",
        change: Change::Gone,
        release: "1.9",
        what: "FilePmdMapped is not a field of procfs's Meminfo (#3049)",
    },
    Difference {
        family: "node_memory_Hugetlb_bytes",
        change: Change::Gone,
        release: "1.9",
        what: "Hugetlb is not a field of procfs's Meminfo (#3049)",
    },
    Difference {
        family: "node_memory_KReclaimable_bytes",
        change: Change::Gone,
        release: "1.9",
        what: "KReclaimable is not a field of procfs's Meminfo (#3049)",
    },
    Difference {
        family: "node_memory_SecPageTables_bytes",
        change: Change::Gone,
        release: "1.9",
        what: "SecPageTables (kernel 6.3+) is not a field of procfs's Meminfo (#3049)",
    },
    Difference {
        family: "node_memory_Balloon_bytes",
        change: Change::Gone,
        release: "1.9",
        what: "Balloon (kernel 6.12+) is not a field of procfs's Meminfo (#3049)",
    },
    Difference {
        family: "node_memory_Unaccepted_bytes",
        change: Change::Gone,
        release: "1.9",
        what: "Unaccepted (kernel 6.5+, TDX/SEV guests) is not a field of procfs's Meminfo (#3049)",
    },
    // os
    Difference {
        family: "node_os_support_end_timestamp_seconds",
        change: Change::Family,
        release: "1.8",
        what: "SUPPORT_END of os-release as a timestamp (#2982), where the file has one",
    },
    // netclass
    Difference {
        family: "node_network_info",
        change: Change::Label("adminstate"),
        release: "1.6",
        what: "adminstate label: up/down from IFF_UP in flags (#2515)",
    },
    // The collectors 1.5 has besides the first 15.
    Difference {
        family: "node_arp_states",
        change: Change::Family,
        release: "1.7",
        what: "neighbour states from the netlink dump, the default mode since (#2777)",
    },
    Difference {
        family: "node_btrfs_commit*",
        change: Change::Family,
        release: "1.9",
        what: "commit statistics: commits_total, commit_seconds_total (#3010)",
    },
    Difference {
        family: "node_btrfs_last_commit_seconds",
        change: Change::Family,
        release: "1.9",
        what: "commit statistics (#3010)",
    },
    Difference {
        family: "node_btrfs_max_commit_seconds",
        change: Change::Family,
        release: "1.9",
        what: "commit statistics (#3010)",
    },
    Difference {
        family: "node_edac_channel_*",
        change: Change::Family,
        release: "1.12",
        what: "per-channel DIMM error counts (#3720; a missing chK_ue_count optional, #3734)",
    },
    Difference {
        family: "node_fibrechannel_nos_total",
        change: Change::Gone,
        release: "1.8",
        what: "an absent optional attribute is left out, not reported as 0 (#2933)",
    },
    Difference {
        family: "node_infiniband_lifespan_seconds",
        change: Change::Family,
        release: "1.12",
        what: "mlx5 hw_counters directory: its lifespan (procfs #549, node_exporter #2827)",
    },
    Difference {
        family: "node_md_degraded",
        change: Change::Family,
        release: "after 1.9",
        what: "degraded disks from sysfs md/degraded (upstream mdadm_linux_test.go, 2024)",
    },
    Difference {
        family: "node_md_raid_disks",
        change: Change::Family,
        release: "after 1.9",
        what: "raid_disks from sysfs md/raid_disks (upstream mdadm_linux_test.go, 2024)",
    },
    Difference {
        family: "node_netstat_TcpExt_TCPOFOQueue",
        change: Change::Family,
        release: "1.8",
        what: "added to the default --collector.netstat.fields (#2867)",
    },
    Difference {
        family: "node_netstat_TcpExt_TCPRcvQDrop",
        change: Change::Family,
        release: "1.9",
        what: "added to the default --collector.netstat.fields (#3021)",
    },
    Difference {
        family: "node_nfsd_requests_total",
        change: Change::Series("method", |m| {
            matches!(m, "SetClientID" | "SetClientIDConfirm" | "WdelegGetattr")
        }),
        release: "1.8",
        what: "NFSv4 SetClientID(Confirm) columns (1.7, #2824) and WdelegGetattr (1.8, #2810)",
    },
    Difference {
        family: "node_nfsd_requests_total",
        change: Change::Renamed(
            "method",
            |m| matches!(m, "Verify" | "Write" | "RelLockOwner"),
            |m| matches!(m, "Verify" | "Write" | "RelLockOwner"),
        ),
        release: "1.7",
        what: "NFSv4 Verify, Write, RelLockOwner read one column off in 1.5 (#2824)",
    },
    Difference {
        family: "node_nvme_info",
        change: Change::Label("cntlid"),
        release: "after 1.9",
        what: "controller id label (procfs class_nvme; docs/collectors/nvme.md)",
    },
    Difference {
        family: "node_nvme_namespace_*",
        change: Change::Family,
        release: "after 1.9",
        what: "per-namespace families (procfs class_nvme; docs/collectors/nvme.md)",
    },
    Difference {
        family: "node_pressure_irq_stalled_seconds_total",
        change: Change::Family,
        release: "1.9",
        what: "IRQ pressure (#3048)",
    },
    Difference {
        family: "node_softnet_backlog_len",
        change: Change::Family,
        release: "1.6",
        what: "the newer softnet_stat columns (#2592)",
    },
    Difference {
        family: "node_softnet_cpu_collision_total",
        change: Change::Family,
        release: "1.6",
        what: "the newer softnet_stat columns (#2592)",
    },
    Difference {
        family: "node_softnet_flow_limit_count_total",
        change: Change::Family,
        release: "1.6",
        what: "the newer softnet_stat columns (#2592)",
    },
    Difference {
        family: "node_softnet_received_rps_total",
        change: Change::Family,
        release: "1.6",
        what: "the newer softnet_stat columns (#2592)",
    },
    Difference {
        family: "node_zfs_arc_arc_need_free",
        change: Change::Family,
        release: "1.6",
        what: "int64 kstats are exported (#2687)",
    },
    Difference {
        family: "node_zfs_arc_memory_available_bytes",
        change: Change::Family,
        release: "1.6",
        what: "int64 kstats are exported (#2687; the underflow fixed in 1.9, #2961)",
    },
    Difference {
        family: "node_zfs_dbuf_*",
        change: Change::Family,
        release: "after 1.5",
        what: "dbufstats is read (procfs zfs kstat list)",
    },
    Difference {
        family: "node_zfs_zpool_dataset_*",
        change: Change::Renamed("dataset", |d| d == "tank/home", |d| d == "tank/home media"),
        release: "1.9",
        what: "a dataset name with a space is kept whole (#3186; the fixture's tank/home media)",
    },
    Difference {
        family: "node_zfs_zpool_state",
        change: Change::Series("state", |s| s == "suspended"),
        release: "1.6",
        what: "the suspended pool state (#2449)",
    },
    // Collectors 1.5 does not have at all.
    Difference {
        family: "node_bcachefs_*",
        change: Change::Family,
        release: "1.10",
        what: "bcachefs collector",
    },
    Difference {
        family: "node_dmmultipath_*",
        change: Change::Family,
        release: "1.12",
        what: "dmmultipath collector",
    },
    Difference {
        family: "node_kernel_hung_*",
        change: Change::Family,
        release: "1.11",
        what: "kernel_hung collector",
    },
    Difference {
        family: "node_watchdog_*",
        change: Change::Family,
        release: "1.8",
        what: "watchdog collector (#2880)",
    },
];

/// The mlx5 `hw_counters` families 1.12 reads beside the port counters (procfs #549,
/// node_exporter #2827): new since 1.5, left out of the comparison one by one.
const INFINIBAND_HW_COUNTERS_1_12: &[&str] = &[
    "node_infiniband_duplicate_requests_packets_total",
    "node_infiniband_implied_nak_seq_errors_total",
    "node_infiniband_local_ack_timeout_errors_total",
    "node_infiniband_np_cnp_packets_sent_total",
    "node_infiniband_np_ecn_marked_roce_packets_received_total",
    "node_infiniband_out_of_buffer_drops_total",
    "node_infiniband_out_of_sequence_packets_received_total",
    "node_infiniband_packet_sequence_errors_total",
    "node_infiniband_req_cqes_errors_total",
    "node_infiniband_req_cqes_flush_errors_total",
    "node_infiniband_req_remote_access_errors_total",
    "node_infiniband_req_remote_invalid_request_errors_total",
    "node_infiniband_resp_cqes_errors_total",
    "node_infiniband_resp_cqes_flush_errors_total",
    "node_infiniband_resp_local_length_errors_total",
    "node_infiniband_resp_remote_access_errors_total",
    "node_infiniband_rnr_nak_retry_packets_received_total",
    "node_infiniband_roce_adp_retransmits_timeout_total",
    "node_infiniband_roce_adp_retransmits_total",
    "node_infiniband_roce_slow_restart_cnps_total",
    "node_infiniband_roce_slow_restart_total",
    "node_infiniband_roce_slow_restart_used_total",
    "node_infiniband_rp_cnp_ignored_packets_received_total",
    "node_infiniband_rp_cnp_packets_handled_total",
    "node_infiniband_rx_atomic_requests_total",
    "node_infiniband_rx_dct_connect_requests_total",
    "node_infiniband_rx_icrc_encapsulated_errors_total",
    "node_infiniband_rx_read_requests_total",
    "node_infiniband_rx_write_requests_total",
];

/// Brings our (1.12) output and node_exporter 1.5's to what both should say alike,
/// one named difference at a time.
fn undo_changes_since_1_5(ours: &mut ByFamily, theirs: &mut [&mut ByFamily]) {
    let drop_series = |set: &mut ByFamily, d: &Difference, label: &str, pick: fn(&str) -> bool| {
        for (_, series) in set.iter_mut().filter(|(name, _)| d.applies_to(name)) {
            series.retain(|labels, _| !labels.get(label).is_some_and(|v| pick(v)));
        }
    };
    ours.retain(|name, _| !INFINIBAND_HW_COUNTERS_1_12.contains(&name.as_str()));
    for difference in CHANGES_SINCE_1_5 {
        assert!(
            !difference.release.is_empty() && !difference.what.is_empty(),
            "every difference is named"
        );
        match difference.change {
            Change::Family => ours.retain(|name, _| !difference.applies_to(name)),
            Change::Gone => {
                for set in theirs.iter_mut() {
                    set.retain(|name, _| !difference.applies_to(name));
                }
            }
            Change::Series(label, added) => drop_series(ours, difference, label, added),
            Change::Renamed(label, old, new) => {
                drop_series(ours, difference, label, new);
                for set in theirs.iter_mut() {
                    drop_series(set, difference, label, old);
                }
            }
            Change::Label(label) => {
                for (name, series) in ours.iter_mut().filter(|(n, _)| difference.applies_to(n)) {
                    let old = std::mem::take(series);
                    for (mut labels, value) in old {
                        assert!(
                            labels.remove(label).is_some(),
                            "{name}: no {label} label on {labels:?}"
                        );
                        series.insert(labels, value);
                    }
                }
            }
        }
    }
}

#[derive(Debug, PartialEq)]
enum Rule {
    /// Must be equal to node_exporter's.
    Equal,
    /// Must lie between node_exporter's scrape before and after ours.
    Between,
    /// Fluctuates on a live machine: within this fraction of node_exporter's range.
    Near(f64),
    /// Changes too fast to compare values (load, running processes): labels only.
    LabelsOnly,
}

fn live_rule(name: &str) -> Rule {
    const FLUCTUATING: &[&str] = &[
        "node_load",
        "node_procs_",
        "node_disk_io_now",
        // Gauges of a busy kernel: sockets, descriptors, queues, the clock discipline.
        "node_sockstat_",
        "node_filefd_allocated",
        "node_entropy_available_bits",
        "node_nf_conntrack_entries",
        "node_udp_queues",
        "node_timex_",
        "node_arp_",
        "node_softnet_backlog_len",
        "node_netstat_Tcp_CurrEstab",
    ];
    // Counters that node_exporter exports untyped, without `_total`.
    const MONOTONIC: &[&str] = &["node_netstat_", "node_vmstat_", "node_nf_conntrack_stat_"];
    if FLUCTUATING.iter().any(|p| name.starts_with(p)) {
        Rule::LabelsOnly
    } else if name == "node_time_seconds"
        || name.ends_with("_total")
        || MONOTONIC.iter().any(|p| name.starts_with(p))
    {
        Rule::Between
    } else if name.starts_with("node_memory_")
        && !matches!(
            name,
            "node_memory_MemTotal_bytes"
                | "node_memory_SwapTotal_bytes"
                | "node_memory_Hugepagesize_bytes"
                | "node_memory_HugePages_Total"
                | "node_memory_VmallocTotal_bytes"
                | "node_memory_CommitLimit_bytes"
        )
        || matches!(
            name,
            "node_filesystem_free_bytes"
                | "node_filesystem_avail_bytes"
                | "node_filesystem_files_free"
        )
    {
        Rule::Near(0.05)
    } else {
        Rule::Equal
    }
}

fn fixture_rule(name: &str) -> Rule {
    // On a fixture tree only the clock and statfs (the fixture's mount points are
    // directories on the real disk) are live.
    if name.starts_with("node_timex_") {
        // adjtimex(2) reads this machine's clock whatever the tree says.
        return Rule::LabelsOnly;
    }
    match name {
        "node_time_seconds" => Rule::Between,
        "node_filesystem_free_bytes"
        | "node_filesystem_avail_bytes"
        | "node_filesystem_files_free" => Rule::Near(0.05),
        _ => Rule::Equal,
    }
}

/// Compares one run; returns every difference, so a failure lists them all.
fn compare(
    before: &ByFamily,
    ours: &ByFamily,
    after: &ByFamily,
    rule: fn(&str) -> Rule,
) -> Vec<String> {
    let mut problems = Vec::new();
    let theirs: BTreeSet<&String> = before.keys().filter(|n| !is_own(n)).collect();
    let mine: BTreeSet<&String> = ours.keys().filter(|n| !is_own(n)).collect();
    for missing in theirs.difference(&mine) {
        problems.push(format!("family {missing} missing"));
    }
    for extra in mine.difference(&theirs) {
        problems.push(format!("family {extra} not in node_exporter"));
    }
    for name in theirs.intersection(&mine) {
        let (b, o, a) = (&before[*name], &ours[*name], &after[*name]);
        let rule = rule(name);
        // Label sets: compared against both node_exporter scrapes' union for families
        // whose members can come and go between scrapes (none should here).
        let their_sets: BTreeSet<&BTreeMap<String, String>> = b.keys().chain(a.keys()).collect();
        let our_sets: BTreeSet<&BTreeMap<String, String>> = o.keys().collect();
        if their_sets != our_sets {
            let missing: Vec<_> = their_sets.difference(&our_sets).collect();
            let extra: Vec<_> = our_sets.difference(&their_sets).collect();
            problems.push(format!(
                "{name}: label sets differ: missing {missing:?}, extra {extra:?}"
            ));
            continue;
        }
        for (labels, ours_value) in o {
            let (Some(x), Some(y)) = (b.get(labels), a.get(labels)) else {
                continue;
            };
            let (lo, hi) = (x.min(*y), x.max(*y));
            let ok = match rule {
                Rule::Equal => {
                    ours_value == x && ours_value == y || (ours_value.is_nan() && x.is_nan())
                }
                Rule::Between => *ours_value >= lo - 1e-9 && *ours_value <= hi + 1e-9,
                Rule::Near(fraction) => {
                    let slack = fraction * hi.abs().max(1.0);
                    *ours_value >= lo - slack && *ours_value <= hi + slack
                }
                Rule::LabelsOnly => true,
            };
            if !ok {
                problems.push(format!(
                    "{name}{labels:?}: ours {ours_value}, node_exporter {x} then {y} ({rule:?})"
                ));
            }
        }
    }
    problems
}

/// One comparison: `extra` for both, `ours_only` for edge-exporter alone (flags 1.5
/// does not know).
fn run(
    extra: &[String],
    ours_only: &[&str],
    rule: fn(&str) -> Rule,
) -> (Vec<String>, usize, String, String) {
    let ne = start_node_exporter(&node_exporter_args(extra));
    let edge = start_edge(&{
        let mut list = shared_args(extra);
        list.extend(ours_only.iter().map(|flag| flag.to_string()));
        list.push("--node-name=compat".into());
        list
    });
    // Warm both (node_exporter's CPU floor and our caches start on the first scrape).
    ne.metrics();
    edge.metrics();
    let before_text = ne.get("/metrics").body;
    let ours_text = edge.get("/metrics").body;
    let after_text = ne.get("/metrics").body;
    let mut before = by_family(&parse_exposition(&before_text));
    let mut ours = by_family(&parse_exposition(&ours_text));
    if let Some(success) = ours.get_mut("node_scrape_collector_success") {
        success.retain(|labels, _| {
            !EDGE_ONLY_COLLECTORS.contains(&labels.get("collector").map_or("", String::as_str))
        });
    }
    let mut after = by_family(&parse_exposition(&after_text));
    undo_changes_since_1_5(&mut ours, &mut [&mut before, &mut after]);
    let compared = ours.keys().filter(|n| !is_own(n)).count();
    (
        compare(&before, &ours, &after, rule),
        compared,
        ours_text,
        before_text,
    )
}

#[test]
fn fixture_tree_matches_node_exporter() {
    let mut extra = fixture_path_args();
    extra.push("--no-collector.netdev.netlink".into());
    // Both read the same textfile directory.
    extra.push(format!(
        "--collector.textfile.directory={}",
        fixtures().join("textfile/good").display()
    ));
    // The fixture's ARP table is a file; netlink would show this machine's neighbours.
    let (problems, compared, ours, _) = run(&extra, &["--no-collector.arp.netlink"], fixture_rule);
    assert!(
        problems.is_empty(),
        "differences on the fixture tree:\n{}",
        problems.join("\n")
    );
    assert!(compared >= 80, "only {compared} families compared");
    // The fixture's devices are all there.
    for needle in [
        "node_disk_read_bytes_total{device=\"nvme0n1\"}",
        "node_disk_device_mapper_info{device=\"dm-0\"",
        "node_filesystem_device_error{device=\"10.0.0.9:/export\",device_error=\"no such file or directory\"",
        "node_filesystem_mount_info{device=\"/dev/sda1\",major=\"8\",minor=\"1\",mountpoint=\"/mnt/my disk\"} 1",
        "node_network_receive_bytes_total{device=\"wlan0\"}",
        "node_cpu_info{",
        "node_cpu_scaling_frequency_hertz{cpu=\"3\"}",
        "node_hwmon_temp_celsius{chip=\"platform_coretemp_0\"",
        "node_thermal_zone_temp{",
        "node_textfile_mtime_seconds{",
        // 1.12's label sets and families on the fixture.
        "node_network_info{address=\"3c:7c:3f:1a:2b:3c\",adminstate=\"up\",",
        "node_disk_info{device=\"sda\",major=\"8\",minor=\"0\",model=\"\",path=\"\",revision=\"\",rotational=\"1\",",
        "node_cpu_scaling_governor{cpu=\"0\",governor=\"schedutil\"} 1",
        "node_hwmon_temp_celsius{chip=\"ieee80211_phy0_mt7996_phy0_0\",sensor=\"temp1\"} 55",
        "node_hwmon_temp_celsius{chip=\"ieee80211_phy0_mt7996_phy0_1\",sensor=\"temp1\"} 56",
        "node_hwmon_temp_celsius{chip=\"ieee80211_phy0_mt7996_phy0_2\",sensor=\"temp1\"} 57",
        "node_hwmon_freq_freq_mhz{chip=\"0000:00:01_0_0000:01:00_0\",sensor=\"sclk\"} 1350",
    ] {
        assert!(ours.contains(needle), "no {needle} in our output");
    }
}

#[test]
fn live_machine_matches_node_exporter() {
    // Debian's node_exporter reads /var/lib/prometheus/node-exporter by default.
    let (problems, compared, _, _) =
        run(&args(&["--collector.textfile.directory="]), &[], live_rule);
    assert!(
        problems.is_empty(),
        "differences on this machine:\n{}",
        problems.join("\n")
    );
    assert!(compared >= 60, "only {compared} families compared");
}

/// `promtool check metrics` problems, one per line, with the tool's own verdict.
fn promtool_problems(text: &str) -> BTreeSet<String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed by scripts/test.sh (Debian package prometheus)");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(text.as_bytes()).expect("write to promtool");
    }
    let output = child.wait_with_output().expect("promtool output");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !all.contains("error while linting"),
        "promtool could not parse the output: {all}"
    );
    all.lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn promtool_finds_nothing_node_exporter_does_not_have() {
    for extra in [args(&["--collector.textfile.directory="]), {
        let mut f = fixture_path_args();
        f.push("--no-collector.netdev.netlink".into());
        f.push(format!(
            "--collector.textfile.directory={}",
            fixtures().join("textfile/good").display()
        ));
        f
    }] {
        let (_, _, ours, theirs) = run(&extra, &[], live_rule);
        let ours = promtool_problems(&ours);
        let theirs = promtool_problems(&theirs);
        // A family 1.5 does not have cannot be flagged by 1.5: a note on one of
        // CHANGES_SINCE_1_5's new families (a netstat field's camelCase, as all of
        // netstat's) is compared with the same note on its siblings instead.
        let new_family = |line: &str| {
            let name = line.split_whitespace().next().unwrap_or("");
            INFINIBAND_HW_COUNTERS_1_12.contains(&name)
                || CHANGES_SINCE_1_5
                    .iter()
                    .any(|d| matches!(d.change, Change::Family) && d.applies_to(name))
        };
        let only_ours: Vec<_> = ours
            .difference(&theirs)
            .filter(|line| {
                !(new_family(line)
                    && line.ends_with(
                        "metric names should be written in 'snake_case' not 'camelCase'",
                    ))
            })
            .collect();
        assert!(
            only_ours.is_empty(),
            "promtool reports only for edge-exporter: {only_ours:?}"
        );
        // It does flag meminfo's camelCase names, for both.
        assert!(
            ours.iter()
                .any(|l| l.contains("node_memory_MemTotal_bytes")),
            "expected promtool's camelCase note for meminfo, got {ours:?}"
        );
    }
}
