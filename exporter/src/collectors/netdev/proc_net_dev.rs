//! `<procfs>/net/dev`: per-interface counters, the source of `--no-collector.netdev.netlink`.

use std::path::Path;

use crate::error::CollectError;
use crate::read::parse_field;

/// The sixteen columns after the interface name, in file order: eight receive
/// columns (bytes packets errs drop fifo frame compressed multicast), then eight
/// transmit columns (bytes packets errs drop fifo colls carrier compressed).
pub const COLUMNS: usize = 16;

/// node_exporter's keys for the columns when `--collector.netdev.enable-detailed-metrics`
/// is off (the default) …
pub const LEGACY_KEYS: [&str; COLUMNS] = [
    "receive_bytes",
    "receive_packets",
    "receive_errs",
    "receive_drop",
    "receive_fifo",
    "receive_frame",
    "receive_compressed",
    "receive_multicast",
    "transmit_bytes",
    "transmit_packets",
    "transmit_errs",
    "transmit_drop",
    "transmit_fifo",
    "transmit_colls",
    "transmit_carrier",
    "transmit_compressed",
];

/// … and when it is on (only errors and drops are renamed).
pub const DETAILED_KEYS: [&str; COLUMNS] = [
    "receive_bytes",
    "receive_packets",
    "receive_errors",
    "receive_dropped",
    "receive_fifo",
    "receive_frame",
    "receive_compressed",
    "receive_multicast",
    "transmit_bytes",
    "transmit_packets",
    "transmit_errors",
    "transmit_dropped",
    "transmit_fifo",
    "transmit_colls",
    "transmit_carrier",
    "transmit_compressed",
];

/// Every interface line of the table (the two header lines are skipped), in file order.
pub fn parse_proc_net_dev(
    text: &str,
    path: &Path,
) -> Result<Vec<(String, [u64; COLUMNS])>, CollectError> {
    let mut devices = Vec::new();
    for (index, line) in text.lines().enumerate().skip(2) {
        let line_no = index + 1;
        // Like procfs, split at the last colon: the columns never contain one.
        let Some((name, columns)) = line.rsplit_once(':') else {
            return Err(CollectError::parse(
                path,
                line_no,
                "no ':' after the interface name",
            ));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(CollectError::parse(path, line_no, "empty interface name"));
        }
        let mut fields = columns.split_whitespace();
        let mut values = [0u64; COLUMNS];
        for (value, key) in values.iter_mut().zip(LEGACY_KEYS) {
            *value = parse_field(fields.next(), path, line_no, key)?;
        }
        devices.push((name.to_string(), values));
    }
    Ok(devices)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n";

    #[test]
    fn parses_every_column() {
        let text = format!(
            "{HEADER}    lo: 648680    1427    0    0    0     0          0         0   648680    1427    0    0    0     0       0          0\n  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 18446744073709551615\n"
        );
        let devices = parse_proc_net_dev(&text, Path::new("net/dev")).unwrap();
        assert_eq!(devices.len(), 2);
        assert_eq!(devices[0].0, "lo");
        assert_eq!(devices[0].1[0], 648680);
        assert_eq!(devices[0].1[9], 1427);
        assert_eq!(devices[1].0, "eth0");
        assert_eq!(
            devices[1].1,
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, u64::MAX]
        );
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        let p = Path::new("net/dev");
        let err = parse_proc_net_dev(&format!("{HEADER}eth0 1 2 3\n"), p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "net/dev:3: no ':' after the interface name"
        );
        let err = parse_proc_net_dev(&format!("{HEADER}  : 1 2\n"), p).unwrap_err();
        assert_eq!(err.to_string(), "net/dev:3: empty interface name");
        let err = parse_proc_net_dev(&format!("{HEADER}lo: 1 2 3\n"), p).unwrap_err();
        assert_eq!(err.to_string(), "net/dev:3: missing receive_drop");
        let text = format!("{HEADER}lo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 -1 16\n");
        let err = parse_proc_net_dev(&text, p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "net/dev:3: transmit_carrier: not a number: \"-1\""
        );
        assert!(parse_proc_net_dev(HEADER, p).unwrap().is_empty());
    }
}
