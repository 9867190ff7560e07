//! `node_udp_queues{ip,queue}` from `<procfs>/net/udp` and `<procfs>/net/udp6`: the
//! bytes queued for sending (`tx`) and receiving (`rx`), summed over all UDP sockets.
//!
//! As node_exporter (through procfs): the header line is skipped, every other line must
//! have at least 8 columns with `tx_queue:rx_queue` (hexadecimal) in the fifth; a file
//! that does not exist is skipped (IPv6 disabled gives the `v4` pair only), both missing
//! is ErrNoData; any other failure fails the collector.
//!
//! These files have a line per socket, so a busy DNS server's can be megabytes; the
//! lines are summed as they are read, never collected.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::MAX_TABLE_BYTES;
use crate::sources::Sources;
use edge_common::exposition::MetricSet;

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "udp_queues",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(UdpQueues::new(ctx.paths))),
};

/// A socket table larger than this is refused (each line is ~130 bytes, so this is
/// far beyond the 65535 ports of one address).
const MAX_SOCKET_TABLE_BYTES: u64 = 16 * MAX_TABLE_BYTES;

pub struct UdpQueues {
    udp: PathBuf,
    udp6: PathBuf,
    line: String,
}

impl UdpQueues {
    pub fn new(paths: &Paths) -> Self {
        UdpQueues {
            udp: paths.proc("net/udp"),
            udp6: paths.proc("net/udp6"),
            line: String::with_capacity(256),
        }
    }
}

/// The summed queues of one socket table.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QueueSummary {
    pub tx: u64,
    pub rx: u64,
}

/// Sums the `tx_queue:rx_queue` column of a `/proc/net/udp{,6}` table read from
/// `reader`; `line` is a reused buffer.
pub fn sum_queues(
    reader: &mut impl BufRead,
    line: &mut String,
    path: &Path,
) -> Result<QueueSummary, CollectError> {
    let mut summary = QueueSummary::default();
    let mut line_no = 0;
    loop {
        line.clear();
        let read = reader
            .read_line(line)
            .map_err(|e| CollectError::read(path, e))?;
        if read == 0 {
            break;
        }
        line_no += 1;
        if line_no == 1 {
            continue; // the header
        }
        let mut columns = line.split_whitespace();
        let queues = columns.nth(4);
        if columns.nth(2).is_none() {
            return Err(CollectError::parse(path, line_no, "fewer than 8 columns"));
        }
        let (tx, rx) = queues
            .and_then(|q| q.split_once(':'))
            .ok_or_else(|| CollectError::parse(path, line_no, "no tx_queue:rx_queue column"))?;
        let hex = |text: &str, what: &str| {
            u64::from_str_radix(text, 16).map_err(|_| {
                CollectError::parse(path, line_no, format!("{what}: not a hex number: {text:?}"))
            })
        };
        summary.tx = summary.tx.saturating_add(hex(tx, "tx_queue")?);
        summary.rx = summary.rx.saturating_add(hex(rx, "rx_queue")?);
    }
    Ok(summary)
}

impl UdpQueues {
    /// The summary of one table; `None` when the file does not exist.
    fn summary(&mut self, v6: bool) -> Result<Option<QueueSummary>, CollectError> {
        let path = if v6 { &self.udp6 } else { &self.udp };
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CollectError::read(path, e)),
        };
        let mut reader = BufReader::with_capacity(16 << 10, file.take(MAX_SOCKET_TABLE_BYTES + 1));
        let summary = sum_queues(&mut reader, &mut self.line, path)?;
        if reader.into_inner().limit() == 0 {
            return Err(CollectError::parse(
                path,
                0,
                format!("larger than {MAX_SOCKET_TABLE_BYTES} bytes"),
            ));
        }
        Ok(Some(summary))
    }
}

fn record(summary: QueueSummary, ip: &str, out: &mut MetricSet) {
    const NAME: &str = "node_udp_queues";
    const HELP: &str = "Number of allocated memory in the kernel for UDP datagrams in bytes.";
    // Labels and series in the order node_exporter's registry writes them (sorted).
    out.gauge(
        NAME,
        HELP,
        &[("ip", ip), ("queue", "rx")],
        summary.rx as f64,
    );
    out.gauge(
        NAME,
        HELP,
        &[("ip", ip), ("queue", "tx")],
        summary.tx as f64,
    );
}

impl Collector for UdpQueues {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let v4 = self.summary(false)?;
        let v6 = self.summary(true)?;
        if v4.is_none() && v6.is_none() {
            return Err(CollectError::NoData(format!(
                "neither {} nor {} exists",
                self.udp.display(),
                self.udp6.display()
            )));
        }
        if let Some(summary) = v4 {
            record(summary, "v4", out);
        } else {
            tracing::debug!("not collecting ipv4 based metrics");
        }
        if let Some(summary) = v6 {
            record(summary, "v6", out);
        } else {
            tracing::debug!("not collecting ipv6 based metrics");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    fn scrape(paths: &Paths) -> Result<MetricSet, CollectError> {
        let mut out = MetricSet::new();
        UdpQueues::new(paths).update(&mut Sources::default(), &mut out)?;
        Ok(out)
    }

    fn sample(queue: &str, ip: &str, value: f64) -> Line {
        Line::Sample(
            "node_udp_queues".into(),
            vec![("ip".into(), ip.into()), ("queue".into(), queue.into())],
            value,
        )
    }

    #[test]
    fn sums_both_tables_on_the_fixture_machine() {
        let set = scrape(&fixture_paths()).unwrap();
        let expected = vec![
            Line::Help(
                "node_udp_queues".into(),
                "Number of allocated memory in the kernel for UDP datagrams in bytes.".into(),
            ),
            Line::Type("node_udp_queues".into(), "gauge".into()),
            // udp: tx 0x0 + 0x1c0 + 0x0 + 0x0, rx 0x0 + 0x0 + 0x3a80 + 0x100
            sample("rx", "v4", 15232.0),
            sample("tx", "v4", 448.0),
            // udp6: tx 0x340 + 0x0, rx 0x0 + 0x1200
            sample("rx", "v6", 4608.0),
            sample("tx", "v6", 832.0),
        ];
        assert_eq!(rendered(&set, |n| n == "node_udp_queues"), expected);
    }

    #[test]
    fn absent_tables() {
        let dir = tempfile::tempdir().unwrap();
        let net = dir.path().join("proc/net");
        std::fs::create_dir_all(&net).unwrap();
        let paths = Paths::under(dir.path());
        assert!(matches!(scrape(&paths), Err(CollectError::NoData(_))));

        std::fs::copy(fixture_paths().proc("net/udp"), net.join("udp")).unwrap();
        let set = scrape(&paths).unwrap();
        let family = set.get("node_udp_queues").unwrap();
        assert_eq!(family.len(), 2, "v4 only");
        assert_eq!(
            set.value("node_udp_queues", &[("ip", "v4"), ("queue", "rx")]),
            Some(15232.0)
        );

        std::fs::remove_file(net.join("udp")).unwrap();
        std::fs::copy(fixture_paths().proc("net/udp6"), net.join("udp6")).unwrap();
        let set = scrape(&paths).unwrap();
        assert_eq!(
            set.value("node_udp_queues", &[("ip", "v6"), ("queue", "tx")]),
            Some(832.0)
        );
        assert_eq!(set.get("node_udp_queues").unwrap().len(), 2, "v6 only");
    }

    #[test]
    fn errors_name_the_place() {
        let p = Path::new("/proc/net/udp");
        let mut line = String::new();
        let header = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n";
        let mut sum =
            |body: &str| sum_queues(&mut format!("{header}{body}").as_bytes(), &mut line, p);
        assert_eq!(sum("").unwrap(), QueueSummary::default());
        let err = sum("  1: 0100007F:0035 00000000:0000 07 00000000:00000000\n").unwrap_err();
        assert_eq!(err.to_string(), "/proc/net/udp:2: fewer than 8 columns");
        let err = sum("  1: 0100007F:0035 00000000:0000 07 00000000 00:00000000 00000000 0\n")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/net/udp:2: no tx_queue:rx_queue column"
        );
        let err =
            sum("  1: 0100007F:0035 00000000:0000 07 0000000g:00000000 00:00000000 00000000 0\n")
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/net/udp:2: tx_queue: not a hex number: \"0000000g\""
        );
    }
}
