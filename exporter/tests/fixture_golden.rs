//! The whole `/metrics` of edge-exporter on the fixture tree, against a checked-in
//! golden file, plus exact values a reader can check by hand against the fixture
//! files. Live values (the clock, uname, the host's statfs numbers, scrape durations,
//! addresses of this machine) are left out. `UPDATE_GOLDEN=1` rewrites the file.

mod common;

use common::*;

fn fixture_args() -> Vec<String> {
    let mut args = fixture_path_args();
    args.extend([
        "--no-collector.netdev.netlink".into(),
        "--no-collector.netdev.address-info".into(),
        // The neighbour table over netlink is this host's: read tests/fixtures/proc/net/arp.
        "--no-collector.arp.netlink".into(),
        "--no-collector.time".into(),
        "--no-collector.uname".into(),
        // adjtimex(2) reads this machine's clock, whatever the fixture tree says.
        "--no-collector.timex".into(),
        // Live process data: covered by tests/processes.rs.
        "--no-collector.top_processes".into(),
        // The off-by-default collectors that read files of the fixture tree too
        // (systemd, tcpstat and network_route ask this machine's kernel or bus).
        "--collector.processes".into(),
        "--collector.interrupts".into(),
        "--collector.ksmd".into(),
        "--collector.meminfo_numa".into(),
        "--collector.cgroups".into(),
        "--collector.mountstats".into(),
        "--collector.qdisc".into(),
        "--node-name=fixture-node".into(),
    ]);
    args.push(format!(
        "--collector.qdisc.fixtures={}",
        fixtures().join("qdisc").display()
    ));
    args
}

fn is_live(line: &str) -> bool {
    const LIVE: &[&str] = &[
        "node_scrape_collector_duration_seconds",
        "edge_exporter_build_info",
        "node_filesystem_size_bytes",
        "node_filesystem_free_bytes",
        "node_filesystem_avail_bytes",
        "node_filesystem_files",
        "node_filesystem_files_free",
        "process_cpu_seconds_total",
        "process_max_fds",
        "process_open_fds",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
        "process_virtual_memory_bytes",
        "process_virtual_memory_max_bytes",
        "promhttp_metric_handler_errors_total",
        "promhttp_metric_handler_requests_in_flight",
        "promhttp_metric_handler_requests_total",
    ];
    let name = match line.strip_prefix("# ") {
        Some(comment) => comment.split_whitespace().nth(1).unwrap_or(""),
        None => line.split(['{', ' ']).next().unwrap_or(""),
    };
    LIVE.contains(&name)
}

#[test]
fn fixture_output_matches_golden_file() {
    let server = start_edge(&fixture_args());
    // Labels that carry a sysfs path (rapl's `path`) name the fixture tree wherever
    // this checkout is: written as `<fixtures>` so the file holds for every clone.
    let root = fixtures().display().to_string();
    let body = server.get("/metrics").body.replace(&root, "<fixtures>");
    let stable: String = body
        .lines()
        .filter(|line| !is_live(line))
        .map(|line| format!("{line}\n"))
        .collect();
    let golden_path = fixtures().join("edge_exporter_output.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden_path, &stable).unwrap();
    }
    let golden = std::fs::read_to_string(&golden_path)
        .expect("golden file (create it with UPDATE_GOLDEN=1 cargo test --test fixture_golden)");
    if stable != golden {
        let diff: Vec<String> = golden
            .lines()
            .filter(|l| !stable.lines().any(|s| s == *l))
            .map(|l| format!("- {l}"))
            .chain(
                stable
                    .lines()
                    .filter(|l| !golden.lines().any(|g| g == *l))
                    .map(|l| format!("+ {l}")),
            )
            .collect();
        panic!(
            "output differs from {}:\n{}",
            golden_path.display(),
            diff.join("\n")
        );
    }
}

/// Values computed by hand from the fixture files (see tests/fixtures/README.md).
#[test]
fn fixture_values_by_hand() {
    let server = start_edge(&fixture_args());
    let series = server.metrics();
    let v = |name: &str, labels: &[(&str, &str)]| {
        value(&series, name, labels).unwrap_or_else(|| panic!("no {name}{labels:?}"))
    };
    let f = fixtures();
    let read = |p: &str| std::fs::read_to_string(f.join(p)).unwrap();

    // /proc/meminfo: MemTotal in kB.
    let mem_total_kb: f64 = read("proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert_eq!(v("node_memory_MemTotal_bytes", &[]), mem_total_kb * 1024.0);

    // /proc/stat: cpu1's user ticks / 100.
    let stat = read("proc/stat");
    let cpu1: Vec<f64> = stat
        .lines()
        .find(|l| l.starts_with("cpu1 "))
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(
        v("node_cpu_seconds_total", &[("cpu", "1"), ("mode", "user")]),
        cpu1[0] / 100.0
    );
    assert_eq!(
        v("node_cpu_seconds_total", &[("cpu", "1"), ("mode", "steal")]),
        cpu1[7] / 100.0
    );
    assert_eq!(
        v(
            "node_cpu_guest_seconds_total",
            &[("cpu", "1"), ("mode", "user")]
        ),
        cpu1[8] / 100.0
    );
    let btime: f64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(v("node_boot_time_seconds", &[]), btime);

    // /proc/diskstats: nvme0n1 sectors read (field 6) × 512.
    let nvme: Vec<f64> = read("proc/diskstats")
        .lines()
        .find(|l| l.split_whitespace().nth(2) == Some("nvme0n1"))
        .unwrap()
        .split_whitespace()
        .skip(3)
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(
        v("node_disk_reads_completed_total", &[("device", "nvme0n1")]),
        nvme[0]
    );
    assert_eq!(
        v("node_disk_read_bytes_total", &[("device", "nvme0n1")]),
        nvme[2] * 512.0
    );
    assert_eq!(
        v(
            "node_disk_read_time_seconds_total",
            &[("device", "nvme0n1")]
        ),
        nvme[3] / 1000.0
    );
    // Partitions and loop devices are excluded by default; dm-0 is mapped to its name.
    assert_eq!(
        value(
            &series,
            "node_disk_read_bytes_total",
            &[("device", "nvme0n1p1")]
        ),
        None
    );
    assert_eq!(
        value(
            &series,
            "node_disk_read_bytes_total",
            &[("device", "loop0")]
        ),
        None
    );
    assert_eq!(
        v(
            "node_disk_device_mapper_info",
            &[
                ("device", "dm-0"),
                ("name", "vg0-data"),
                ("vg_name", "vg0"),
                ("lv_name", "data")
            ]
        ),
        1.0
    );

    // Mounts: /data is read-only, /srv/broken cannot be statted, "/mnt/my disk" unescaped.
    assert_eq!(
        v("node_filesystem_readonly", &[("mountpoint", "/data")]),
        1.0
    );
    assert_eq!(v("node_filesystem_readonly", &[("mountpoint", "/")]), 0.0);
    assert_eq!(
        v(
            "node_filesystem_device_error",
            &[("mountpoint", "/srv/broken")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &series,
            "node_filesystem_size_bytes",
            &[("mountpoint", "/srv/broken")]
        ),
        None
    );
    assert_eq!(
        v(
            "node_filesystem_device_error",
            &[("mountpoint", "/mnt/my disk")]
        ),
        0.0
    );

    // Interfaces: eth0 at 1000 Mbit/s, wlan0 down without speed or carrier.
    assert_eq!(
        v("node_network_speed_bytes", &[("device", "eth0")]),
        125_000_000.0
    );
    assert_eq!(v("node_network_up", &[("device", "eth0")]), 1.0);
    assert_eq!(v("node_network_up", &[("device", "wlan0")]), 0.0);
    assert_eq!(
        value(&series, "node_network_carrier", &[("device", "wlan0")]),
        None
    );
    let rx: f64 = read("sys/class/net/eth0/statistics/rx_bytes")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        v("node_network_receive_bytes_total", &[("device", "eth0")]),
        rx
    );
    let mac = read("sys/class/net/eth0/address");
    assert_eq!(
        v(
            "node_network_info",
            &[
                ("device", "eth0"),
                ("address", mac.trim()),
                ("operstate", "up")
            ]
        ),
        1.0
    );

    // cpufreq in hertz; os-release.
    let khz: f64 = read("sys/devices/system/cpu/cpu3/cpufreq/scaling_cur_freq")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        v("node_cpu_scaling_frequency_hertz", &[("cpu", "3")]),
        khz * 1000.0
    );
    assert_eq!(v("node_os_version", &[]), 12.0);
    assert_eq!(v("edge_node_info", &[("node_name", "fixture-node")]), 1.0);
    for collector in [
        "cpu",
        "cpufreq",
        "diskstats",
        "filesystem",
        "loadavg",
        "meminfo",
        "netclass",
        "netdev",
        "os",
        "stat",
    ] {
        assert_eq!(
            v("node_scrape_collector_success", &[("collector", collector)]),
            1.0,
            "{collector}"
        );
    }
}
