//! InfiniBand (and RoCE) adapters of `<sysfs>/class/infiniband/<device>/`:
//! `node_infiniband_info` per device, and per port its state, physical state and
//! rate, the port counters of `ports/<n>/counters/` (and `counters_ext/` of kernels
//! before 4.5) and the mlx5 hardware counters of `ports/<n>/hw_counters/`.
//!
//! As procfs reads them for node_exporter: `port_rcv_data`, `port_xmit_data` (and their
//! `_64` forms) count 4-byte words per lane and are multiplied by 4; counters may be
//! hexadecimal; a counter that is absent, unreadable (EACCES, EINVAL, EOPNOTSUPP) or
//! `N/A (no PMA)` is left out; the rate (`100 Gb/sec (4X EDR)`) becomes bytes per
//! second; `lifespan` (milliseconds) becomes whole seconds. Without the class, or
//! when a file every device has (`fw_ver`, a port's `state`) is missing, there is no
//! data, as in node_exporter.

use std::io;
use std::path::{Path, PathBuf};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::{parse_prefixed_u64, AttributeDir};
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "infiniband",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(InfiniBand::new(ctx.paths))),
};

pub struct InfiniBand {
    class_dir: PathBuf,
}

impl InfiniBand {
    pub fn new(paths: &Paths) -> Self {
        InfiniBand {
            class_dir: paths.sys("class/infiniband"),
        }
    }
}

/// Which directory of a port a counter lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CounterDir {
    Counters,
    CountersExt,
    HwCounters,
}

impl CounterDir {
    fn name(self) -> &'static str {
        match self {
            CounterDir::Counters => "counters",
            CounterDir::CountersExt => "counters_ext",
            CounterDir::HwCounters => "hw_counters",
        }
    }
}

/// One exported counter: where it is read, its family, HELP, and whether its value
/// is in 4-byte lane words (multiplied by 4).
struct Counter {
    dir: CounterDir,
    file: &'static str,
    name: &'static str,
    help: &'static str,
    words: bool,
}

const fn c(dir: CounterDir, file: &'static str, name: &'static str, help: &'static str) -> Counter {
    Counter {
        dir,
        file,
        name,
        help,
        words: false,
    }
}

const fn words(
    dir: CounterDir,
    file: &'static str,
    name: &'static str,
    help: &'static str,
) -> Counter {
    Counter {
        dir,
        file,
        name,
        help,
        words: true,
    }
}

use CounterDir::{Counters, CountersExt, HwCounters};

/// Every counter node_exporter exports (HELP texts are its own, typos included).
const COUNTERS: &[Counter] = &[
    c(CountersExt, "port_multicast_rcv_packets", "node_infiniband_legacy_multicast_packets_received_total", "Number of multicast packets received"),
    c(CountersExt, "port_multicast_xmit_packets", "node_infiniband_legacy_multicast_packets_transmitted_total", "Number of multicast packets transmitted"),
    words(CountersExt, "port_rcv_data_64", "node_infiniband_legacy_data_received_bytes_total", "Number of data octets received on all links"),
    c(CountersExt, "port_rcv_packets_64", "node_infiniband_legacy_packets_received_total", "Number of data packets received on all links"),
    c(CountersExt, "port_unicast_rcv_packets", "node_infiniband_legacy_unicast_packets_received_total", "Number of unicast packets received"),
    c(CountersExt, "port_unicast_xmit_packets", "node_infiniband_legacy_unicast_packets_transmitted_total", "Number of unicast packets transmitted"),
    words(CountersExt, "port_xmit_data_64", "node_infiniband_legacy_data_transmitted_bytes_total", "Number of data octets transmitted on all links"),
    c(CountersExt, "port_xmit_packets_64", "node_infiniband_legacy_packets_transmitted_total", "Number of data packets received on all links"),
    c(Counters, "excessive_buffer_overrun_errors", "node_infiniband_excessive_buffer_overrun_errors_total", "Number of times that OverrunErrors consecutive flow control update periods occurred, each having at least one overrun error."),
    c(Counters, "link_downed", "node_infiniband_link_downed_total", "Number of times the link failed to recover from an error state and went down"),
    c(Counters, "link_error_recovery", "node_infiniband_link_error_recovery_total", "Number of times the link successfully recovered from an error state"),
    c(Counters, "local_link_integrity_errors", "node_infiniband_local_link_integrity_errors_total", "Number of times that the count of local physical errors exceeded the threshold specified by LocalPhyErrors."),
    c(Counters, "multicast_rcv_packets", "node_infiniband_multicast_packets_received_total", "Number of multicast packets received (including errors)"),
    c(Counters, "multicast_xmit_packets", "node_infiniband_multicast_packets_transmitted_total", "Number of multicast packets transmitted (including errors)"),
    c(Counters, "port_rcv_constraint_errors", "node_infiniband_port_constraint_errors_received_total", "Number of packets received on the switch physical port that are discarded"),
    c(Counters, "port_xmit_constraint_errors", "node_infiniband_port_constraint_errors_transmitted_total", "Number of packets not transmitted from the switch physical port"),
    words(Counters, "port_rcv_data", "node_infiniband_port_data_received_bytes_total", "Number of data octets received on all links"),
    words(Counters, "port_xmit_data", "node_infiniband_port_data_transmitted_bytes_total", "Number of data octets transmitted on all links"),
    c(Counters, "port_rcv_discards", "node_infiniband_port_discards_received_total", "Number of inbound packets discarded by the port because the port is down or congested"),
    c(Counters, "port_xmit_discards", "node_infiniband_port_discards_transmitted_total", "Number of outbound packets discarded by the port because the port is down or congested"),
    c(Counters, "port_rcv_errors", "node_infiniband_port_errors_received_total", "Number of packets containing an error that were received on this port"),
    c(Counters, "port_rcv_packets", "node_infiniband_port_packets_received_total", "Number of packets received on all VLs by this port (including errors)"),
    c(Counters, "port_xmit_packets", "node_infiniband_port_packets_transmitted_total", "Number of packets transmitted on all VLs from this port (including errors)"),
    c(Counters, "port_xmit_wait", "node_infiniband_port_transmit_wait_total", "Number of ticks during which the port had data to transmit but no data was sent during the entire tick"),
    c(Counters, "unicast_rcv_packets", "node_infiniband_unicast_packets_received_total", "Number of unicast packets received (including errors)"),
    c(Counters, "unicast_xmit_packets", "node_infiniband_unicast_packets_transmitted_total", "Number of unicast packets transmitted (including errors)"),
    c(Counters, "port_rcv_remote_physical_errors", "node_infiniband_port_receive_remote_physical_errors_total", "Number of packets marked with the EBP (End of Bad Packet) delimiter received on the port."),
    c(Counters, "port_rcv_switch_relay_errors", "node_infiniband_port_receive_switch_relay_errors_total", "Number of packets that could not be forwarded by the switch."),
    c(Counters, "symbol_error", "node_infiniband_symbol_error_total", "Number of minor link errors detected on one or more physical lanes."),
    c(Counters, "VL15_dropped", "node_infiniband_vl15_dropped_total", "Number of incoming VL15 packets dropped due to resource limitations."),
    c(HwCounters, "duplicate_request", "node_infiniband_duplicate_requests_packets_total", "The number of received packets. A duplicate request is a request that had been previously executed."),
    c(HwCounters, "implied_nak_seq_err", "node_infiniband_implied_nak_seq_errors_total", "The number of time the requested decided an ACK. with a PSN larger than the expected PSN for an RDMA read or response."),
    c(HwCounters, "local_ack_timeout_err", "node_infiniband_local_ack_timeout_errors_total", "The number of times QP's ack timer expired for RC, XRC, DCT QPs at the sender side. The QP retry limit was not exceed, therefore it is still recoverable error."),
    c(HwCounters, "np_cnp_sent", "node_infiniband_np_cnp_packets_sent_total", "The number of CNP packets sent by the Notification Point when it noticed congestion experienced in the RoCEv2 IP header (ECN bits). The counters was added in MLNX_OFED 4.1"),
    c(HwCounters, "np_ecn_marked_roce_packets", "node_infiniband_np_ecn_marked_roce_packets_received_total", "The number of RoCEv2 packets received by the notification point which were marked for experiencing the congestion (ECN bits where '11' on the ingress RoCE traffic) . The counters was added in MLNX_OFED 4.1"),
    c(HwCounters, "out_of_buffer", "node_infiniband_out_of_buffer_drops_total", "The number of drops occurred due to lack of WQE for the associated QPs."),
    c(HwCounters, "out_of_sequence", "node_infiniband_out_of_sequence_packets_received_total", "The number of out of sequence packets received."),
    c(HwCounters, "packet_seq_err", "node_infiniband_packet_sequence_errors_total", "The number of received NAK sequence error packets. The QP retry limit was not exceeded."),
    c(HwCounters, "req_cqe_error", "node_infiniband_req_cqes_errors_total", "The number of times requester detected CQEs completed with errors. The counters was added in MLNX_OFED 4.1"),
    c(HwCounters, "req_cqe_flush_error", "node_infiniband_req_cqes_flush_errors_total", "The number of times requester detected CQEs completed with flushed errors. The counters was added in MLNX_OFED 4.1"),
    c(HwCounters, "req_remote_access_errors", "node_infiniband_req_remote_access_errors_total", "The number of times requester detected remote access errors. The counters was added in MLNX_OFED 4.1"),
    c(HwCounters, "req_remote_invalid_request", "node_infiniband_req_remote_invalid_request_errors_total", "The number of times requester detected remote invalid request errors. The counters was added in MLNX_OFED 4.1"),
    c(HwCounters, "resp_cqe_error", "node_infiniband_resp_cqes_errors_total", "The number of times responder detected CQEs completed with errors. The counters was added in MLNX_OFED 4.1"),
    c(HwCounters, "resp_cqe_flush_error", "node_infiniband_resp_cqes_flush_errors_total", "The number of times responder detected CQEs completed with flushed errors. The counters was added in MLNX_OFED 4.1"),
    c(HwCounters, "resp_local_length_error", "node_infiniband_resp_local_length_errors_total", "The number of times responder detected local length errors. The counters was added in MLNX_OFED 4.1"),
    c(HwCounters, "resp_remote_access_errors", "node_infiniband_resp_remote_access_errors_total", "The number of times responder detected remote access errors. The counters was added in MLNX_OFED 4.1"),
    c(HwCounters, "rnr_nak_retry_err", "node_infiniband_rnr_nak_retry_packets_received_total", "The number of received RNR NAK packets. The QP retry limit was not exceeded."),
    c(HwCounters, "roce_adp_retrans", "node_infiniband_roce_adp_retransmits_total", "The number of adaptive retransmissions for RoCE traffic. The counter was added in MLNX_OFED rev 5.0-1.0.0.0 and kernel v5.6.0"),
    c(HwCounters, "roce_adp_retrans_to", "node_infiniband_roce_adp_retransmits_timeout_total", "The number of times RoCE traffic reached timeout due to adaptive retransmission. The counter was added in MLNX_OFED rev 5.0-1.0.0.0 and kernel v5.6.0"),
    c(HwCounters, "roce_slow_restart", "node_infiniband_roce_slow_restart_used_total", "The number of times RoCE slow restart was used. The counter was added in MLNX_OFED rev 5.0-1.0.0.0 and kernel v5.6.0"),
    c(HwCounters, "roce_slow_restart_cnps", "node_infiniband_roce_slow_restart_cnps_total", "The number of times RoCE slow restart generated CNP packets. The counter was added in MLNX_OFED rev 5.0-1.0.0.0 and kernel v5.6.0"),
    c(HwCounters, "roce_slow_restart_trans", "node_infiniband_roce_slow_restart_total", "The number of times RoCE slow restart changed state to slow restart. The counter was added in MLNX_OFED rev 5.0-1.0.0.0 and kernel v5.6.0"),
    c(HwCounters, "rp_cnp_handled", "node_infiniband_rp_cnp_packets_handled_total", "The number of CNP packets handled by the Reaction Point HCA to throttle the transmission rate. The counters was added in MLNX_OFED 4.1"),
    c(HwCounters, "rp_cnp_ignored", "node_infiniband_rp_cnp_ignored_packets_received_total", "The number of CNP packets received and ignored by the Reaction Point HCA. This counter should not raise if RoCE Congestion Control was enabled in the network. If this counter raise, verify that ECN was enabled on the adapter."),
    c(HwCounters, "rx_atomic_requests", "node_infiniband_rx_atomic_requests_total", "The number of received ATOMIC request for the associated QPs."),
    c(HwCounters, "rx_dct_connect", "node_infiniband_rx_dct_connect_requests_total", "The number of received connection requests for the associated DCTs."),
    c(HwCounters, "rx_read_requests", "node_infiniband_rx_read_requests_total", "The number of received READ requests for the associated QPs."),
    c(HwCounters, "rx_write_requests", "node_infiniband_rx_write_requests_total", "The number of received WRITE requests for the associated QPs."),
    c(HwCounters, "rx_icrc_encapsulated", "node_infiniband_rx_icrc_encapsulated_errors_total", "The number of RoCE packets with ICRC errors. This counter was added in MLNX_OFED 4.4 and kernel 4.19"),
];

const LIFESPAN_HELP: &str = "The maximum period in ms which defines the aging of the counter reads. Two consecutive reads within this period might return the same values.";

/// Reads one value of a port (`None`: not exported for it).
type PortValue = fn(&Port) -> Option<u64>;

/// One port as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    pub number: u32,
    pub state_id: u32,
    pub phys_state_id: u32,
    /// Bytes per second.
    pub rate: u64,
    /// In [`COUNTERS`] order.
    pub counters: Vec<Option<u64>>,
    /// `hw_counters/lifespan`, milliseconds.
    pub lifespan_ms: Option<u64>,
}

/// One device as read; ports sorted by number.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub name: String,
    pub board_id: String,
    pub firmware_version: String,
    pub hca_type: String,
    pub ports: Vec<Port>,
}

/// Parses `"<id>: <NAME>"` (a port's `state` and `phys_state`).
fn parse_state(text: &str, path: &Path) -> Result<u32, CollectError> {
    let mut parts = text.split(':');
    let (Some(id), Some(_), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(CollectError::parse(
            path,
            1,
            format!("failed to split {text:?} into 'ID: NAME'"),
        ));
    };
    id.trim()
        .parse()
        .map_err(|_| CollectError::parse(path, 1, format!("not a state id: {:?}", id.trim())))
}

/// Parses `"100 Gb/sec (4X EDR)"` into bytes per second (procfs reads the number as a
/// 32-bit float and truncates the product).
fn parse_rate(text: &str, path: &Path) -> Result<u64, CollectError> {
    let (number, _) = text
        .split_once(' ')
        .ok_or_else(|| CollectError::parse(path, 1, format!("failed to split {text:?}")))?;
    let gbits: f32 = number
        .trim()
        .parse()
        .map_err(|_| CollectError::parse(path, 1, format!("not a rate: {:?}", number.trim())))?;
    Ok((f64::from(gbits) * 125_000_000.0) as u64)
}

/// Errors that leave a counter out rather than fail the device.
fn unreadable(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
    ) || matches!(
        error.raw_os_error(),
        Some(libc::EINVAL) | Some(libc::EOPNOTSUPP)
    )
}

fn read_port(device_dir: &Path, port_name: &str) -> Result<Port, CollectError> {
    let port_dir = device_dir.join("ports").join(port_name);
    let number = port_name.parse().map_err(|_| {
        CollectError::parse(&port_dir, 0, format!("not a port number: {port_name:?}"))
    })?;
    let dir = AttributeDir::open(&port_dir).map_err(|e| CollectError::read(&port_dir, e))?;
    let read = |file: &str| {
        dir.read(file)
            .map_err(|e| CollectError::read(&dir.path_of(file), e))
    };
    // node_exporter requires link_layer though it exports nothing of it.
    read("link_layer")?;
    let state_id = parse_state(&read("state")?, &dir.path_of("state"))?;
    let phys_state_id = parse_state(&read("phys_state")?, &dir.path_of("phys_state"))?;
    let rate = parse_rate(&read("rate")?, &dir.path_of("rate"))?;

    let mut counters = vec![None; COUNTERS.len()];
    let mut lifespan_ms = None;
    for kind in [Counters, CountersExt, HwCounters] {
        let path = port_dir.join(kind.name());
        let counter_dir = match AttributeDir::open(&path) {
            Ok(dir) => dir,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(CollectError::read(&path, e)),
        };
        let read_counter = |file: &str| -> Result<Option<u64>, CollectError> {
            let text = match counter_dir.read(file) {
                Ok(text) => text,
                Err(e) if unreadable(&e) => return Ok(None),
                Err(e) => return Err(CollectError::read(&counter_dir.path_of(file), e)),
            };
            match parse_prefixed_u64(&text) {
                Some(value) => Ok(Some(value)),
                // A kernel bug of old mlx4 drivers (node_exporter #966).
                None if text.contains("N/A (no PMA)") => Ok(None),
                None => Err(CollectError::parse(
                    &counter_dir.path_of(file),
                    1,
                    format!("not a number: {text:?}"),
                )),
            }
        };
        for (slot, counter) in counters.iter_mut().zip(COUNTERS) {
            if counter.dir == kind {
                *slot = read_counter(counter.file)?.map(|v| {
                    if counter.words {
                        v.wrapping_mul(4)
                    } else {
                        v
                    }
                });
            }
        }
        if kind == HwCounters {
            lifespan_ms = read_counter("lifespan")?;
        }
    }
    Ok(Port {
        number,
        state_id,
        phys_state_id,
        rate,
        counters,
        lifespan_ms,
    })
}

fn read_device(class_dir: &Path, name: &str) -> Result<Device, CollectError> {
    let device_dir = class_dir.join(name);
    let dir = AttributeDir::open(&device_dir).map_err(|e| CollectError::read(&device_dir, e))?;
    let firmware_version = dir
        .read("fw_ver")
        .map_err(|e| CollectError::read(&dir.path_of("fw_ver"), e))?;
    let optional = |file: &str| match dir.read(file) {
        Ok(value) => Ok(value),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(CollectError::read(&dir.path_of(file), e)),
    };
    let board_id = optional("board_id")?;
    let hca_type = optional("hca_type")?;
    let ports_dir = device_dir.join("ports");
    let mut port_names = list(&ports_dir)?;
    port_names.sort_by_key(|p| p.parse::<u32>().unwrap_or(u32::MAX));
    let ports = port_names
        .iter()
        .map(|port| read_port(&device_dir, port))
        .collect::<Result<_, _>>()?;
    Ok(Device {
        name: name.to_string(),
        board_id,
        firmware_version,
        hca_type,
        ports,
    })
}

fn list(dir: &Path) -> Result<Vec<String>, CollectError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| CollectError::read(dir, e))? {
        let entry = entry.map_err(|e| CollectError::read(dir, e))?;
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    Ok(names)
}

/// Every device of the class, sorted by name.
pub fn read_devices(class_dir: &Path) -> Result<Vec<Device>, CollectError> {
    let mut names = list(class_dir)?;
    names.sort();
    names
        .iter()
        .map(|name| read_device(class_dir, name))
        .collect()
}

impl Collector for InfiniBand {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let devices = match read_devices(&self.class_dir) {
            // node_exporter: any "does not exist" while reading the class is no data.
            Err(CollectError::Read { path, source })
                if source.kind() == io::ErrorKind::NotFound =>
            {
                return Err(CollectError::NoData(format!(
                    "{}: infiniband statistics not found",
                    path.display()
                )))
            }
            other => other?,
        };
        let info = out.family(
            "node_infiniband_info",
            "Non-numeric data from /sys/class/infiniband/<device>, value is always 1.",
            MetricKind::Gauge,
        );
        for device in &devices {
            info.push(
                &[
                    ("board_id", &device.board_id),
                    ("device", &device.name),
                    ("firmware_version", &device.firmware_version),
                    ("hca_type", &device.hca_type),
                ],
                1.0,
            );
        }
        info.sort_series();

        // Port numbers as labels; series are ordered by (device, port) as strings.
        let mut ports: Vec<(&Device, &Port, String)> = devices
            .iter()
            .flat_map(|d| d.ports.iter().map(move |p| (d, p, p.number.to_string())))
            .collect();
        ports.sort_by(|a, b| (&a.0.name, &a.2).cmp(&(&b.0.name, &b.2)));

        let gauges: [(&str, &str, PortValue); 4] = [
            (
                "node_infiniband_state_id",
                "State of the InfiniBand port (0: no change, 1: down, 2: init, 3: armed, 4: active, 5: act defer)",
                |p| Some(p.state_id.into()),
            ),
            (
                "node_infiniband_physical_state_id",
                "Physical state of the InfiniBand port (0: no change, 1: sleep, 2: polling, 3: disable, 4: shift, 5: link up, 6: link error recover, 7: phytest)",
                |p| Some(p.phys_state_id.into()),
            ),
            (
                "node_infiniband_rate_bytes_per_second",
                "Maximum signal transfer rate",
                |p| Some(p.rate),
            ),
            ("node_infiniband_lifespan_seconds", LIFESPAN_HELP, |p| {
                p.lifespan_ms.map(|ms| ms / 1000)
            }),
        ];
        for (name, help, value) in gauges {
            for (device, port, number) in &ports {
                if let Some(value) = value(port) {
                    out.family(name, help, MetricKind::Gauge)
                        .push(&[("device", &device.name), ("port", number)], value as f64);
                }
            }
        }
        for (i, counter) in COUNTERS.iter().enumerate() {
            for (device, port, number) in &ports {
                if let Some(value) = port.counters[i] {
                    out.family(counter.name, counter.help, MetricKind::Counter)
                        .push(&[("device", &device.name), ("port", number)], value as f64);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    fn scrape(paths: &Paths) -> Result<MetricSet, CollectError> {
        let mut set = MetricSet::new();
        InfiniBand::new(paths).update(&mut Sources::default(), &mut set)?;
        Ok(set)
    }

    fn port(n: &str) -> [(&'static str, String); 2] {
        [("device", "mlx5_0".to_string()), ("port", n.to_string())]
    }

    #[test]
    fn reports_the_fixture_hca() {
        let set = scrape(&fixture_paths()).unwrap();
        let value = |name: &str| {
            let [(d, dv), (p, pv)] = port("1");
            set.value(name, &[(d, &dv), (p, &pv)])
        };
        assert_eq!(
            rendered(&set, |n| n == "node_infiniband_info"),
            vec![
                Line::Help(
                    "node_infiniband_info".into(),
                    "Non-numeric data from /sys/class/infiniband/<device>, value is always 1."
                        .into()
                ),
                Line::Type("node_infiniband_info".into(), "gauge".into()),
                Line::Sample(
                    "node_infiniband_info".into(),
                    vec![
                        ("board_id".into(), "MT_0000000223".into()),
                        ("device".into(), "mlx5_0".into()),
                        ("firmware_version".into(), "16.35.2000".into()),
                        ("hca_type".into(), "MT4119".into()),
                    ],
                    1.0
                ),
            ]
        );
        assert_eq!(value("node_infiniband_state_id"), Some(4.0));
        assert_eq!(value("node_infiniband_physical_state_id"), Some(5.0));
        assert_eq!(
            value("node_infiniband_rate_bytes_per_second"),
            Some(12_500_000_000.0)
        );
        assert_eq!(
            value("node_infiniband_lifespan_seconds"),
            Some(0.0),
            "12 ms"
        );
        // Lane words times 4.
        assert_eq!(
            value("node_infiniband_port_data_received_bytes_total"),
            Some(4.0 * 2_221_223_609.0)
        );
        assert_eq!(
            value("node_infiniband_port_data_transmitted_bytes_total"),
            Some(4.0 * 26_509_113_295.0)
        );
        assert_eq!(
            value("node_infiniband_port_packets_received_total"),
            Some(5_386_317.0)
        );
        assert_eq!(
            value("node_infiniband_port_packets_transmitted_total"),
            Some(94_540_182.0)
        );
        assert_eq!(value("node_infiniband_link_downed_total"), Some(1.0));
        assert_eq!(value("node_infiniband_symbol_error_total"), Some(23.0));
        assert_eq!(value("node_infiniband_vl15_dropped_total"), Some(7.0));
        assert_eq!(
            value("node_infiniband_port_transmit_wait_total"),
            Some(3_315.0)
        );
        assert_eq!(
            value("node_infiniband_out_of_buffer_drops_total"),
            Some(41.0)
        );
        assert_eq!(
            value("node_infiniband_duplicate_requests_packets_total"),
            Some(58.0)
        );
        assert_eq!(
            value("node_infiniband_np_cnp_packets_sent_total"),
            Some(9_931.0)
        );
        // N/A (no PMA), EACCES-free but absent, and unlisted files are left out.
        assert_eq!(
            value("node_infiniband_port_discards_transmitted_total"),
            None
        );
        assert_eq!(value("node_infiniband_legacy_packets_received_total"), None);
        let help = rendered(&set, |n| n == "node_infiniband_rate_bytes_per_second");
        assert_eq!(
            help[..2],
            [
                Line::Help(
                    "node_infiniband_rate_bytes_per_second".into(),
                    "Maximum signal transfer rate".into()
                ),
                Line::Type(
                    "node_infiniband_rate_bytes_per_second".into(),
                    "gauge".into()
                ),
            ]
        );
        let counter = rendered(&set, |n| n == "node_infiniband_link_downed_total");
        assert_eq!(
            counter[1],
            Line::Type("node_infiniband_link_downed_total".into(), "counter".into())
        );
        // Port 2 (RoCE, down) is there too.
        let [(d, dv), (p, pv)] = port("2");
        assert_eq!(
            set.value("node_infiniband_state_id", &[(d, &dv), (p, &pv)]),
            Some(1.0)
        );
        assert_eq!(
            set.value(
                "node_infiniband_rate_bytes_per_second",
                &[(d, &dv), (p, &pv)]
            ),
            Some(312_500_000.0)
        );
    }

    #[test]
    fn parses_states_and_rates() {
        let p = Path::new("state");
        assert_eq!(parse_state("4: ACTIVE", p).unwrap(), 4);
        assert_eq!(
            parse_state("ACTIVE", p).unwrap_err().to_string(),
            "state:1: failed to split \"ACTIVE\" into 'ID: NAME'"
        );
        assert!(parse_state("x: ACTIVE", p).is_err());
        assert_eq!(
            parse_rate("100 Gb/sec (4X EDR)", p).unwrap(),
            12_500_000_000
        );
        assert_eq!(parse_rate("2.5 Gb/sec (1X SDR)", p).unwrap(), 312_500_000);
        assert_eq!(
            parse_rate("14.0625 Gb/sec (1X FDR)", p).unwrap(),
            1_757_812_500
        );
        assert!(parse_rate("100", p).is_err());
    }

    #[test]
    fn missing_class_is_no_data_and_bad_counters_fail() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        assert!(matches!(scrape(&paths), Err(CollectError::NoData(_))));
        let port = dir.path().join("sys/class/infiniband/hfi1_0/ports/1");
        std::fs::create_dir_all(port.join("counters")).unwrap();
        std::fs::write(
            dir.path().join("sys/class/infiniband/hfi1_0/fw_ver"),
            "1.27.0\n",
        )
        .unwrap();
        for (file, text) in [
            ("link_layer", "InfiniBand\n"),
            ("state", "4: ACTIVE\n"),
            ("phys_state", "5: LinkUp\n"),
            ("rate", "100 Gb/sec (4X EDR)\n"),
            ("counters/symbol_error", "many\n"),
        ] {
            std::fs::write(port.join(file), text).unwrap();
        }
        let err = scrape(&paths).unwrap_err().to_string();
        assert!(
            err.ends_with("ports/1/counters/symbol_error:1: not a number: \"many\""),
            "{err}"
        );
        std::fs::write(port.join("counters/symbol_error"), "0x10\n").unwrap();
        let set = scrape(&paths).unwrap();
        assert_eq!(
            set.value(
                "node_infiniband_symbol_error_total",
                &[("device", "hfi1_0")]
            ),
            Some(16.0)
        );
        assert_eq!(
            set.value(
                "node_infiniband_info",
                &[("board_id", ""), ("hca_type", "")]
            ),
            Some(1.0)
        );
        std::fs::remove_file(port.join("state")).unwrap();
        assert!(matches!(scrape(&paths), Err(CollectError::NoData(_))));
    }
}
