//! Builds a [`NodeMetricsSnapshot`] from one scrape of an exporter (edge-exporter, or a
//! plain node_exporter 1.5) and, for rates, the previous scrape of the same target.
//!
//! Parse, then record: [`Scrape::parse_for_snapshot`] turns the exposition into the
//! families the sections read ([`SNAPSHOT_FAMILIES`], passing over the rest unread:
//! most of a scrape's cost was parsing families nothing reads), [`Scrape::parse`]
//! into all of them,
//! [`series::Series`] indexes them by name, and one small module per section of the
//! snapshot reads what it needs from the index. Whatever an exporter does not serve
//! stays at its default (0, "" or `[]`); nothing else is affected.
//!
//! Counters become rates over the two scrapes: the increase divided by the seconds
//! between them. Before there are two scrapes, across a counter that went down (a
//! reset) and after a reboot, a rate is 0 for that interval rather than a guess.
//!
//! A built snapshot is finite: a value that came out NaN or infinite (a ratio over a
//! zero total, a rate that overflows) is 0, here and nowhere else, so that what is
//! stored and served is what was built (JSON has no NaN).

mod cpu;
mod disks;
mod host;
mod memory;
mod networks;
mod node_ip;
mod processes;
mod psi;
mod series;
mod softnet;
mod system;
mod tcp;
mod temperature;
mod vmstat;

use std::collections::HashSet;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use edge_common::textparse::{self, DroppedFamily, MetricFamily};

use crate::admission::bounds::zero_non_finite;
use crate::model::NodeMetricsSnapshot;
pub use networks::VIRTUAL_PREFIXES;
use series::{Series, Window};

/// A scrape body that is not Prometheus text 0.0.4; the parse error names the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid exposition: {0}")]
pub struct InvalidExposition(#[from] textparse::ParseError);

/// One scrape of one target: when it was taken, what it returned, and the families
/// it returned that could not be read.
#[derive(Debug, Clone)]
pub struct Scrape {
    pub at: DateTime<Utc>,
    pub families: Vec<MetricFamily>,
    /// The first families left out, named (bounded by `textparse::MAX_REPORTED_DROPS`).
    pub dropped: Vec<DroppedFamily>,
    /// Families left out, by reason, in `DropReason::ALL`'s order.
    pub dropped_counts: [usize; 3],
    /// Sample lines passed over unread by [`Scrape::parse_for_snapshot`].
    pub skipped_samples: usize,
}

impl Scrape {
    /// Parses a Prometheus text 0.0.4 body, leaving out a family that cannot be read
    /// (declared twice, a type conflict, a repeated series) and keeping the rest: one
    /// odd family must not take a node offline. A body that cannot be read at all is
    /// an error that names the line.
    pub fn parse(text: &[u8], at: DateTime<Utc>) -> Result<Scrape, InvalidExposition> {
        Ok(Scrape::from_read(textparse::parse_lenient(text)?, at))
    }

    /// [`Scrape::parse`] of only the families [`build_snapshot`] and
    /// [`reported_node_name`] read ([`SNAPSHOT_FAMILIES`]); the lines of the others are
    /// passed over unread, so they can neither fail the scrape nor be dropped. What the
    /// scraper calls: the snapshot built is the same as from [`Scrape::parse`]
    /// (`tests::the_wanted_families_give_the_same_snapshot`), at a fraction of the cost.
    pub fn parse_for_snapshot(text: &[u8], at: DateTime<Utc>) -> Result<Scrape, InvalidExposition> {
        Ok(Scrape::from_read(
            textparse::parse_lenient_wanted(text, &is_snapshot_family)?,
            at,
        ))
    }

    fn from_read(read: textparse::LenientParse, at: DateTime<Utc>) -> Scrape {
        Scrape {
            at,
            families: read.families,
            dropped: read.dropped,
            dropped_counts: read.dropped_counts,
            skipped_samples: read.skipped_samples,
        }
    }

    /// The number of series in the scrape (a sample line passed over counts as one).
    pub fn sample_count(&self) -> usize {
        self.families.iter().map(|f| f.metrics.len()).sum::<usize>() + self.skipped_samples
    }

    /// What of this scrape the next one needs, as its previous: only the families a
    /// section reads from the window's earlier side ([`RATE_FAMILIES`]), without the
    /// list of dropped families. A scraper keeps this between scrapes instead of the
    /// whole scrape (of the 1,837 series of edge-exporter's golden output, 90).
    pub fn into_rate_counters(self) -> Scrape {
        let mut families: Vec<MetricFamily> = self
            .families
            .into_iter()
            .filter(|family| RATE_FAMILIES.contains(&family.name.as_str()))
            .collect();
        families.shrink_to_fit();
        Scrape {
            at: self.at,
            families,
            dropped: Vec::new(),
            dropped_counts: self.dropped_counts,
            skipped_samples: 0,
        }
    }
}

/// The families [`build_snapshot`] reads from the previous scrape: the counters its
/// rates are made from, and the boot time that tells a reboot. A section that starts
/// taking a rate of another family must add it here;
/// `tests::rate_counters_give_the_same_snapshot` fails until it does.
pub const RATE_FAMILIES: &[&str] = &[
    "node_boot_time_seconds",
    "node_cpu_seconds_total",
    "node_disk_read_bytes_total",
    "node_disk_written_bytes_total",
    "node_disk_reads_completed_total",
    "node_disk_writes_completed_total",
    "node_disk_io_time_seconds_total",
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
    "node_network_receive_packets_total",
    "node_network_transmit_packets_total",
    "node_network_receive_errs_total",
    "node_network_transmit_errs_total",
    "node_network_receive_drop_total",
    "node_network_transmit_drop_total",
    "node_pressure_cpu_waiting_seconds_total",
    "node_pressure_memory_waiting_seconds_total",
    "node_pressure_memory_stalled_seconds_total",
    "node_pressure_io_waiting_seconds_total",
    "node_pressure_io_stalled_seconds_total",
    "node_softnet_dropped_total",
    "node_softnet_times_squeezed_total",
    "node_vmstat_pgfault",
    "node_vmstat_pgmajfault",
    "node_vmstat_pswpin",
    "node_vmstat_pswpout",
];

/// Every family [`build_snapshot`] and [`reported_node_name`] read (sorted by byte, to
/// be read), [`RATE_FAMILIES`] among them. A section that starts
/// reading another family must add it here; `tests::the_wanted_families_give_the_same_snapshot`
/// fails until it does.
pub const SNAPSHOT_FAMILIES: &[&str] = &[
    "edge_cpu_clock_hertz",
    "edge_node_info",
    "edge_process_cpu_ratio",
    "edge_process_info",
    "edge_process_memory_ratio",
    "edge_process_resident_memory_bytes",
    "edge_process_start_time_seconds",
    "edge_process_state",
    "edge_process_threads",
    "node_boot_time_seconds",
    "node_cpu_frequency_hertz",
    "node_cpu_info",
    "node_cpu_scaling_frequency_hertz",
    "node_cpu_seconds_total",
    "node_disk_device_mapper_info",
    "node_disk_io_time_seconds_total",
    "node_disk_read_bytes_total",
    "node_disk_reads_completed_total",
    "node_disk_writes_completed_total",
    "node_disk_written_bytes_total",
    "node_entropy_available_bits",
    "node_filefd_allocated",
    "node_filefd_maximum",
    "node_filesystem_avail_bytes",
    "node_filesystem_free_bytes",
    "node_filesystem_size_bytes",
    "node_hwmon_chip_names",
    "node_hwmon_sensor_label",
    "node_hwmon_temp_celsius",
    "node_hwmon_temp_crit_celsius",
    "node_hwmon_temp_max_celsius",
    "node_load1",
    "node_load15",
    "node_load5",
    "node_memory_Buffers_bytes",
    "node_memory_Cached_bytes",
    "node_memory_MemAvailable_bytes",
    "node_memory_MemFree_bytes",
    "node_memory_MemTotal_bytes",
    "node_memory_SwapFree_bytes",
    "node_memory_SwapTotal_bytes",
    "node_netstat_Tcp_CurrEstab",
    "node_network_address_info",
    "node_network_info",
    "node_network_mtu_bytes",
    "node_network_receive_bytes_total",
    "node_network_receive_drop_total",
    "node_network_receive_errs_total",
    "node_network_receive_packets_total",
    "node_network_speed_bytes",
    "node_network_transmit_bytes_total",
    "node_network_transmit_drop_total",
    "node_network_transmit_errs_total",
    "node_network_transmit_packets_total",
    "node_nf_conntrack_entries",
    "node_nf_conntrack_entries_limit",
    "node_os_info",
    "node_pressure_cpu_waiting_seconds_total",
    "node_pressure_io_stalled_seconds_total",
    "node_pressure_io_waiting_seconds_total",
    "node_pressure_memory_stalled_seconds_total",
    "node_pressure_memory_waiting_seconds_total",
    "node_sockstat_TCP_alloc",
    "node_sockstat_TCP_inuse",
    "node_sockstat_TCP_tw",
    "node_sockstat_sockets_used",
    "node_softnet_dropped_total",
    "node_softnet_times_squeezed_total",
    "node_thermal_zone_temp",
    "node_time_seconds",
    "node_uname_info",
    "node_vmstat_pgfault",
    "node_vmstat_pgmajfault",
    "node_vmstat_pswpin",
    "node_vmstat_pswpout",
];

/// Whether the snapshot reads family `name` (one of [`SNAPSHOT_FAMILIES`]). Asked
/// once per family of every scrape: a hash set (one hash, one comparison) rather than
/// a search by halves (seven comparisons).
pub fn is_snapshot_family(name: &str) -> bool {
    static WANTED: LazyLock<HashSet<&str, foldhash::fast::RandomState>> =
        LazyLock::new(|| SNAPSHOT_FAMILIES.iter().copied().collect());
    WANTED.contains(name)
}

/// The node name a target reports: edge_node_info{node_name}, else node_uname_info{nodename}.
pub fn reported_node_name(scrape: &Scrape) -> Option<String> {
    let series = Series::new(&scrape.families);
    [
        ("edge_node_info", "node_name"),
        ("node_uname_info", "nodename"),
    ]
    .into_iter()
    .find_map(|(family, label)| {
        series
            .samples(family)
            .find_map(|s| s.label(label).filter(|name| !name.is_empty()))
    })
    .map(str::to_string)
}

/// The snapshot from this scrape and, for rates, the previous one of the same target;
/// `target_url` is where it was scraped (its host may be the node's address).
pub fn build_snapshot(
    node_name: &str,
    current: &Scrape,
    previous: Option<&Scrape>,
    target_url: Option<&str>,
) -> NodeMetricsSnapshot {
    let window = Window::new(current, previous);
    let host = host::record(&window.now, current.at);
    let mut snapshot = NodeMetricsSnapshot {
        node_name: node_name.to_string(),
        timestamp: current.at,
        hostname: host.hostname,
        os: host.os,
        kernel: host.kernel,
        uptime: host.uptime,
        node_ip: node_ip::record(&window.now, target_url),
        cpu: cpu::record(&window),
        memory: memory::record(&window.now),
        disks: disks::record(&window),
        networks: networks::record(&window),
        temperature: temperature::record(&window.now),
        processes: processes::record(&window.now),
        psi: psi::record(&window),
        tcp: tcp::record(&window.now),
        system: system::record(&window.now),
        vmstat: vmstat::record(&window),
        softnet: softnet::record(&window),
    };
    zero_non_finite(&mut snapshot);
    snapshot
}

/// Inputs shared by the section tests: the exporter's real outputs on its fixture tree.
#[cfg(test)]
pub(crate) mod testdata {
    use chrono::{DateTime, TimeZone, Utc};

    use super::Scrape;

    /// edge-exporter on the fixture tree, without its live families (filesystem sizes,
    /// uname, time, network addresses, processes).
    pub const EDGE: &str =
        include_str!("../../../exporter/tests/fixtures/edge_exporter_output.txt");
    /// node_exporter 1.5 on the same tree (no uname or time either).
    pub const NODE_EXPORTER: &str =
        include_str!("../../../exporter/tests/fixtures/node_exporter_1.5_output.txt");

    /// A scrape time, `seconds` after an arbitrary start.
    pub fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_100_000 + seconds, 0).unwrap()
    }

    pub fn scrape(text: &str, seconds: i64) -> Scrape {
        Scrape::parse(text.as_bytes(), at(seconds)).unwrap()
    }

    /// `text` with the value of the sample line `series` (name and labels, as written)
    /// replaced by `value`.
    pub fn with_value(text: &str, series: &str, value: f64) -> String {
        let prefix = format!("{series} ");
        let mut found = false;
        let out: String = text
            .lines()
            .map(|line| match line.strip_prefix(&prefix) {
                Some(_) => {
                    found = true;
                    format!("{prefix}{value}\n")
                }
                None => format!("{line}\n"),
            })
            .collect();
        assert!(found, "no sample line {series}");
        out
    }

    /// `text` without the sample line `series`.
    pub fn without(text: &str, series: &str) -> String {
        let prefix = format!("{series} ");
        let out: String = text
            .lines()
            .filter(|line| !line.starts_with(&prefix))
            .map(|line| format!("{line}\n"))
            .collect();
        assert_ne!(out.len(), text.len(), "no sample line {series}");
        out
    }

    /// Asserts two floats agree to 1e-9 (shares and averages are not exact in binary).
    #[track_caller]
    pub fn assert_close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() < 1e-9,
            "{actual} is not {expected}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::testdata::*;
    use super::*;

    /// `text` as it was `seconds` earlier: every sample's value 1 lower (0 stays 0),
    /// so every counter grew and the boot time moved by less than a reboot.
    fn earlier(text: &str) -> String {
        text.lines()
            .map(|line| match line.rsplit_once(' ') {
                Some((series, value)) if !line.starts_with('#') => {
                    let value: f64 = value.parse().unwrap();
                    format!("{series} {}\n", (value - 1.0).max(0.0))
                }
                _ => format!("{line}\n"),
            })
            .collect()
    }

    #[test]
    fn rate_counters_give_the_same_snapshot() {
        let mut disk_rates = 0;
        for (name, text) in [("edge", EDGE), ("node_exporter", NODE_EXPORTER)] {
            let before = scrape(&earlier(text), 0);
            let now = scrape(text, 10);
            let compact = before.clone().into_rate_counters();
            assert!(
                compact.sample_count() * 2 < before.sample_count(),
                "{name}: {} of {} series kept",
                compact.sample_count(),
                before.sample_count()
            );
            let full = build_snapshot("n1", &now, Some(&before), None);
            let kept = build_snapshot("n1", &now, Some(&compact), None);
            assert_same(
                &serde_json::to_value(&kept).unwrap(),
                &serde_json::to_value(&full).unwrap(),
                name,
            );
            // Not vacuous: rates were taken.
            assert!(full.cpu.usage_percent > 0.0, "{name}");
            assert!(full.networks.iter().any(|n| n.rx_rate > 0.0), "{name}");
            disk_rates += full.disks.iter().filter(|d| d.read_rate > 0.0).count();
        }
        assert!(disk_rates > 0);
    }

    /// A live body of Debian's node_exporter 1.5 (`/usr/bin/prometheus-node-exporter`,
    /// all its default collectors on this machine), started on a free loopback port.
    fn live_node_exporter_body() -> String {
        use std::io::{Read, Write};
        use std::net::{TcpListener, TcpStream};
        use std::time::{Duration, Instant};

        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        struct Killed(std::process::Child);
        impl Drop for Killed {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let _exporter = Killed(
            std::process::Command::new("/usr/bin/prometheus-node-exporter")
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("Debian's prometheus-node-exporter (scripts/test.sh installs it)"),
        );
        let started = Instant::now();
        loop {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
                stream
                    .set_read_timeout(Some(Duration::from_secs(20)))
                    .unwrap();
                stream
                    .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
                    .unwrap();
                let mut answer = String::new();
                stream.read_to_string(&mut answer).unwrap();
                let (head, body) = answer.split_once("\r\n\r\n").unwrap();
                assert!(
                    head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
                    "{head}"
                );
                return body.to_string();
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "node_exporter did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[test]
    fn the_wanted_families_give_the_same_snapshot() {
        assert!(
            SNAPSHOT_FAMILIES.windows(2).all(|w| w[0] < w[1]),
            "sorted, once each"
        );
        for name in RATE_FAMILIES {
            assert!(is_snapshot_family(name), "{name}");
        }
        let live = live_node_exporter_body();
        assert!(live.contains("node_uname_info{"), "{live}");
        for (name, text) in [
            ("edge golden", EDGE),
            ("node_exporter 1.5 fixture", NODE_EXPORTER),
            ("node_exporter 1.5 live", live.as_str()),
        ] {
            let wanted = |text: &str, seconds| {
                Scrape::parse_for_snapshot(text.as_bytes(), at(seconds)).unwrap()
            };
            let (full_before, full_now) = (scrape(&earlier(text), 0), scrape(text, 10));
            let (read_before, read_now) = (wanted(&earlier(text), 0), wanted(text, 10));
            // The families read are the full parse's wanted ones, line numbers and all.
            let full_wanted: Vec<&MetricFamily> = full_now
                .families
                .iter()
                .filter(|f| is_snapshot_family(&f.name))
                .collect();
            assert_eq!(
                read_now.families.iter().collect::<Vec<_>>(),
                full_wanted,
                "{name}"
            );
            assert!(
                read_now.skipped_samples * 2 > read_now.sample_count(),
                "{name}: only {} of {} series passed over",
                read_now.skipped_samples,
                read_now.sample_count()
            );
            assert_eq!(
                reported_node_name(&read_now),
                reported_node_name(&full_now),
                "{name}"
            );
            let target = Some("http://edge-1.local:9100/metrics");
            let full = build_snapshot(
                "n1",
                &full_now,
                Some(&full_before.into_rate_counters()),
                target,
            );
            let read = build_snapshot(
                "n1",
                &read_now,
                Some(&read_before.into_rate_counters()),
                target,
            );
            assert_same(
                &serde_json::to_value(&read).unwrap(),
                &serde_json::to_value(&full).unwrap(),
                name,
            );
            // Not vacuous: sections were filled and rates taken.
            assert!(
                full.cpu.usage_percent > 0.0 && full.memory.total > 0,
                "{name}"
            );
            assert!(!full.networks.is_empty(), "{name}");
            println!(
                "{name}: {} of {} series read, snapshot equal to the full parse's",
                read_now.sample_count() - read_now.skipped_samples,
                read_now.sample_count()
            );
        }
    }

    /// Equal JSON, numbers to 1e-9 relative: the CPU shares are sums over a hash map,
    /// whose order (and so the last bit) differs from one map to the next.
    #[track_caller]
    fn assert_same(a: &serde_json::Value, b: &serde_json::Value, at: &str) {
        use serde_json::Value;
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                assert!((x - y).abs() <= 1e-9 * x.abs().max(1.0), "{at}: {x} != {y}");
            }
            (Value::Array(x), Value::Array(y)) => {
                assert_eq!(x.len(), y.len(), "{at}");
                for (i, (x, y)) in x.iter().zip(y).enumerate() {
                    assert_same(x, y, &format!("{at}[{i}]"));
                }
            }
            (Value::Object(x), Value::Object(y)) => {
                assert_eq!(x.len(), y.len(), "{at}");
                for (key, x) in x {
                    assert_same(x, &y[key], &format!("{at}.{key}"));
                }
            }
            _ => assert_eq!(a, b, "{at}"),
        }
    }

    #[test]
    fn parse_errors_name_the_line() {
        let error = Scrape::parse(b"a 1\nb{ 2\n", at(0))
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 2"), "{error}");
        let scrape = scrape(EDGE, 0);
        assert_eq!(scrape.at, at(0));
        assert_eq!(
            scrape.sample_count(),
            EDGE.lines().filter(|l| !l.starts_with('#')).count()
        );
    }

    #[test]
    fn a_family_declared_twice_is_left_out_and_the_rest_kept() {
        let text = format!(
            "{EDGE}# HELP edge_sidecar_source_runs_total Runs.\n\
             # TYPE edge_sidecar_source_runs_total counter\n\
             edge_sidecar_source_runs_total{{source=\"a\"}} 3\n\
             # TYPE edge_sidecar_source_runs_total gauge\n\
             edge_sidecar_source_runs_total{{source=\"b\"}} 1\n"
        );
        let scrape = scrape(&text, 0);
        assert_eq!(scrape.dropped.len(), 1);
        assert_eq!(scrape.dropped[0].name, "edge_sidecar_source_runs_total");
        assert_eq!(scrape.dropped_counts, [0, 1, 0]);
        assert_eq!(
            scrape.sample_count(),
            EDGE.lines().filter(|l| !l.starts_with('#')).count()
        );
        assert_eq!(reported_node_name(&scrape).as_deref(), Some("fixture-node"));
    }

    #[test]
    fn node_name_from_edge_node_info_else_uname() {
        assert_eq!(
            reported_node_name(&scrape(EDGE, 0)).as_deref(),
            Some("fixture-node")
        );
        // The plain node_exporter fixture has neither (uname is a live family).
        assert_eq!(reported_node_name(&scrape(NODE_EXPORTER, 0)), None);
        let uname = r##"node_uname_info{domainname="(none)",machine="aarch64",nodename="pi-1",release="6.1.0",sysname="Linux",version="#1"} 1
"##;
        assert_eq!(
            reported_node_name(&scrape(uname, 0)).as_deref(),
            Some("pi-1")
        );
        let both = format!("edge_node_info{{node_name=\"k8s-pi-1\"}} 1\n{uname}");
        assert_eq!(
            reported_node_name(&scrape(&both, 0)).as_deref(),
            Some("k8s-pi-1")
        );
        let empty = "edge_node_info{node_name=\"\"} 1\n".to_string() + uname;
        assert_eq!(
            reported_node_name(&scrape(&empty, 0)).as_deref(),
            Some("pi-1")
        );
    }

    #[test]
    fn edge_exporter_snapshot_has_every_section() {
        let before = scrape(EDGE, 0);
        let text = with_value(
            EDGE,
            r#"node_network_receive_bytes_total{device="eth0"}"#,
            987654321.0 + 1_250_000.0,
        );
        let snapshot = build_snapshot("n1", &scrape(&text, 10), Some(&before), None);
        assert_eq!(snapshot.node_name, "n1");
        assert_eq!(snapshot.timestamp, at(10));
        assert_eq!(snapshot.os, "Raspbian GNU/Linux 12 (bookworm)");
        assert_eq!(snapshot.cpu.threads, 4);
        assert_eq!(snapshot.memory.total, 16653041664);
        // The fixture output leaves out filesystem sizes (live values): no disks.
        assert!(snapshot.disks.is_empty());
        // bond0 (the bonding fixture: in sysfs, with no counters), eth0, wlan0.
        assert_eq!(snapshot.networks.len(), 3);
        assert_eq!(snapshot.networks[1].interface, "eth0");
        assert_eq!(snapshot.networks[1].rx_rate, 125_000.0);
        assert_eq!(snapshot.temperature.cpu_temp, 51.54);
        // Issue 14's blocks, as the fixture output has them.
        assert_eq!(snapshot.tcp.curr_estab, 3106);
        assert_eq!(snapshot.system.filefd_max as f64, 9.223372036854776e18);
        assert_eq!(snapshot.system.conntrack_limit, 262144);
        assert_eq!(snapshot.node_ip, "");
        // Counters that did not move between the two scrapes: rates of 0.
        assert_eq!(snapshot.psi, crate::model::PsiMetrics::default());
        assert_eq!(snapshot.softnet.dropped_rate, 0.0);
        // No NaN anywhere: serde_json would write it as null.
        let json = serde_json::to_string(&snapshot).unwrap();
        assert!(!json.contains("null"), "{json}");
    }

    #[test]
    fn plain_node_exporter_snapshot_has_what_it_serves() {
        let snapshot = build_snapshot("n1", &scrape(NODE_EXPORTER, 0), None, None);
        assert!(snapshot.processes.is_empty());
        assert_eq!(snapshot.hostname, "");
        assert_eq!(snapshot.kernel, "");
        assert_eq!(snapshot.os, "Raspbian GNU/Linux 12 (bookworm)");
        // Boot time 1.7e9; no node_time_seconds, so the scrape time stands in.
        assert_eq!(snapshot.uptime, 100_000);
        assert_eq!(
            snapshot.cpu.model,
            "Intel(R) Core(TM) i3-7100U CPU @ 2.40GHz"
        );
        assert_eq!((snapshot.cpu.cores, snapshot.cpu.threads), (2, 4));
        assert_eq!(snapshot.cpu.per_core, vec![0.0; 4]);
        assert_eq!(snapshot.memory.available, 12641974272);
        let mounts: Vec<&str> = snapshot
            .disks
            .iter()
            .map(|d| d.mount_point.as_str())
            .collect();
        assert_eq!(mounts, ["/data", "/boot", "/", "/mnt/my disk"]);
        let interfaces: Vec<&str> = snapshot
            .networks
            .iter()
            .map(|n| n.interface.as_str())
            .collect();
        assert_eq!(interfaces, ["bond0", "eth0", "wlan0"]);
        // node_exporter 1.5 leaves address-info off by default: no IP.
        assert_eq!(snapshot.networks[1].ip_address, "");
        assert_eq!(snapshot.temperature.cpu_temp, 51.54);
        assert_eq!(snapshot.temperature.sensors.len(), 10);
    }

    #[test]
    fn a_rate_that_overflows_is_zero() {
        let before = scrape(EDGE, 0);
        let series = r#"node_network_receive_bytes_total{device="eth0"}"#;
        let mut after = scrape(&with_value(EDGE, series, f64::MAX), 0);
        // Half a second: the increase over it is larger than an f64 holds.
        after.at = at(0) + chrono::Duration::milliseconds(500);
        let snapshot = build_snapshot("n1", &after, Some(&before), None);
        assert_eq!(snapshot.networks[1].interface, "eth0");
        assert_eq!(snapshot.networks[1].rx_rate, 0.0);
        let json = serde_json::to_string(&snapshot).unwrap();
        assert!(!json.contains("null"), "{json}");
    }

    /// Moved from the store's tests: the store now keeps what it is given, and a
    /// snapshot is made finite where it is built.
    #[test]
    fn a_non_finite_reading_does_not_lose_the_round() {
        use crate::store::Store;
        use std::time::Duration;

        let store = Store::open_in_memory().unwrap();
        let t0 = at(0);
        let mut bad = NodeMetricsSnapshot {
            node_name: "n1".into(),
            timestamp: t0,
            ..NodeMetricsSnapshot::default()
        };
        bad.cpu.usage_percent = f64::NAN;
        bad.cpu.per_core = vec![1.0, f64::INFINITY];
        zero_non_finite(&mut bad);
        store
            .write_round("c1", &[(bad, t0)], Duration::from_secs(300))
            .unwrap();
        let (stored, _) = store.latest_node("c1", "n1").unwrap().unwrap();
        assert_eq!(stored.cpu.usage_percent, 0.0);
        assert_eq!(stored.cpu.per_core, [1.0, 0.0]);
        let points = store.history("c1", "n1", t0, t0).unwrap();
        assert_eq!(points[0].cpu_usage, 0.0);
    }
}
