//! The values atlhyper's per-node series (the observe routes) read beyond those of a
//! history point: one REAL column each in `history` (`<column>`) and `history_hourly`
//! (`<column>_avg`), written right after the point they belong to, rolled up with it,
//! and read one column at a time.
//!
//! [`SERIES_COLUMNS`] is the one list: the migration, the write, the rollup and the
//! read all follow it, and column names in SQL only ever come from it.

use chrono::{DateTime, Utc};
use rusqlite::{params, params_from_iter, Connection};

use super::{from_millis, millis, During, StoreError};
use crate::model::NodeMetricsSnapshot;

/// One stored series: its column and how a snapshot gives its value.
pub struct SeriesColumn {
    pub column: &'static str,
    pub value: fn(&NodeMetricsSnapshot) -> f64,
}

/// The column names are those of atlhyper's series metrics where they are one name.
pub const SERIES_COLUMNS: [SeriesColumn; 16] = [
    SeriesColumn {
        column: "cpu_user",
        value: |s| s.cpu.user_percent,
    },
    SeriesColumn {
        column: "cpu_system",
        value: |s| s.cpu.system_percent,
    },
    SeriesColumn {
        column: "cpu_iowait",
        value: |s| s.cpu.iowait_percent,
    },
    SeriesColumn {
        column: "load_5",
        value: |s| s.cpu.load_5,
    },
    SeriesColumn {
        column: "load_15",
        value: |s| s.cpu.load_15,
    },
    SeriesColumn {
        column: "swap_usage",
        value: |s| s.memory.swap_percent,
    },
    SeriesColumn {
        column: "psi_cpu",
        value: |s| s.psi.cpu_some_percent,
    },
    SeriesColumn {
        column: "psi_memory",
        value: |s| s.psi.memory_some_percent,
    },
    SeriesColumn {
        column: "psi_io",
        value: |s| s.psi.io_some_percent,
    },
    SeriesColumn {
        column: "tcp_established",
        value: |s| s.tcp.curr_estab as f64,
    },
    SeriesColumn {
        column: "sockets_used",
        value: |s| s.tcp.sockets_used as f64,
    },
    SeriesColumn {
        column: "disk_io_util",
        value: |s| s.primary_disk().map_or(0.0, |d| d.io_util),
    },
    // As atlhyper: summed over the interfaces that are up (the snapshot lists no
    // loopback or container interfaces).
    SeriesColumn {
        column: "net_rx_bps",
        value: |s| up_interfaces_sum(s, |n| n.rx_rate),
    },
    SeriesColumn {
        column: "net_tx_bps",
        value: |s| up_interfaces_sum(s, |n| n.tx_rate),
    },
    SeriesColumn {
        column: "net_rx_pkt",
        value: |s| up_interfaces_sum(s, |n| n.rx_packet_rate),
    },
    SeriesColumn {
        column: "net_tx_pkt",
        value: |s| up_interfaces_sum(s, |n| n.tx_packet_rate),
    },
];

fn up_interfaces_sum(
    snapshot: &NodeMetricsSnapshot,
    value: fn(&crate::model::NetworkMetrics) -> f64,
) -> f64 {
    snapshot
        .networks
        .iter()
        .filter(|n| n.status.eq_ignore_ascii_case("up") && n.interface != "lo")
        .map(value)
        .fold(0.0, |sum, v| sum + v)
}

/// The stored series named `column`.
pub fn find(column: &str) -> Option<&'static SeriesColumn> {
    SERIES_COLUMNS.iter().find(|c| c.column == column)
}

/// Sets the series values of the history point just added for `snapshot`.
pub(super) fn record(
    conn: &Connection,
    cluster: &str,
    snapshot: &NodeMetricsSnapshot,
) -> Result<(), StoreError> {
    let sets: Vec<String> = SERIES_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{} = ?{}", c.column, i + 4))
        .collect();
    let sql = format!(
        "UPDATE history SET {} WHERE cluster = ?1 AND node = ?2 AND ts = ?3",
        sets.join(", ")
    );
    let keys = [
        rusqlite::types::Value::from(cluster.to_owned()),
        rusqlite::types::Value::from(snapshot.node_name.clone()),
        rusqlite::types::Value::from(millis(snapshot.timestamp)),
    ];
    let values = SERIES_COLUMNS.iter().map(|c| {
        let value = (c.value)(snapshot);
        rusqlite::types::Value::from(if value.is_finite() { value } else { 0.0 })
    });
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| stmt.execute(params_from_iter(keys.into_iter().chain(values))))
        .during("recording series values")?;
    Ok(())
}

/// The rollup's additions, in `retention`'s statement: the `history_hourly` columns,
/// their averages over the raw points, and their weighted merge into an existing hour.
pub(super) fn rollup_sql() -> (String, String, String) {
    let mut columns = String::new();
    let mut averages = String::new();
    let mut merges = String::new();
    for c in &SERIES_COLUMNS {
        let name = c.column;
        columns.push_str(&format!(", {name}_avg"));
        averages.push_str(&format!(", AVG({name})"));
        merges.push_str(&format!(
            ",\n {name}_avg = ({name}_avg * samples + excluded.{name}_avg * excluded.samples) / (samples + excluded.samples)"
        ));
    }
    (columns, averages, merges)
}

/// A node's values of one series in `[from, to]`, ascending: raw points, and hourly
/// averages where the history was rolled up.
pub(super) fn read(
    conn: &Connection,
    cluster: &str,
    node: &str,
    series: &SeriesColumn,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, f64)>, StoreError> {
    const OPERATION: &str = "reading a series";
    let name = series.column;
    let sql = format!(
        "SELECT ts, {name} FROM history
          WHERE cluster = ?1 AND node = ?2 AND ts BETWEEN ?3 AND ?4
         UNION ALL
         SELECT ts, {name}_avg FROM history_hourly
          WHERE cluster = ?1 AND node = ?2 AND ts BETWEEN ?3 AND ?4
         ORDER BY ts"
    );
    let mut stmt = conn.prepare_cached(&sql).during(OPERATION)?;
    let rows = stmt
        .query_map(params![cluster, node, millis(from), millis(to)], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, f64>(1)?))
        })
        .during(OPERATION)?;
    rows.map(|row| {
        let (ts, value) = row.during(OPERATION)?;
        Ok((from_millis(OPERATION, ts)?, value))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DiskMetrics, NetworkMetrics};
    use crate::store::test_support::{at, snapshot, temp_store};
    use chrono::Duration as Span;
    use std::time::Duration;

    #[test]
    fn values_are_kept_rolled_up_and_read_per_column() {
        let (_dir, store) = temp_store();
        let t0 = at("2026-11-01T00:00:00Z");
        for i in 0..12 {
            let ts = t0 + Span::minutes(5 * i);
            let mut s = snapshot("n1", ts, 1.0);
            s.psi.cpu_some_percent = i as f64;
            s.tcp.curr_estab = 100;
            s.disks = vec![DiskMetrics {
                mount_point: "/".into(),
                io_util: 12.5,
                ..DiskMetrics::default()
            }];
            s.networks = vec![
                NetworkMetrics {
                    interface: "eth0".into(),
                    status: "up".into(),
                    rx_rate: 100.0,
                    rx_packet_rate: 3.0,
                    ..NetworkMetrics::default()
                },
                NetworkMetrics {
                    interface: "wlan0".into(),
                    status: "up".into(),
                    rx_rate: 50.0,
                    ..NetworkMetrics::default()
                },
                NetworkMetrics {
                    interface: "eth1".into(),
                    status: "down".into(),
                    rx_rate: 1e9,
                    ..NetworkMetrics::default()
                },
            ];
            store
                .write_round("c1", &[(s, ts)], Duration::from_secs(300))
                .unwrap();
        }
        let read = |column: &str| {
            store
                .series("c1", "n1", find(column).unwrap(), t0, t0 + Span::hours(1))
                .unwrap()
        };
        let psi = read("psi_cpu");
        assert_eq!(psi.len(), 12);
        assert_eq!(psi[3], (t0 + Span::minutes(15), 3.0));
        assert!(read("tcp_established").iter().all(|(_, v)| *v == 100.0));
        assert!(read("disk_io_util").iter().all(|(_, v)| *v == 12.5));
        assert!(read("net_rx_bps").iter().all(|(_, v)| *v == 150.0));
        assert!(read("net_rx_pkt").iter().all(|(_, v)| *v == 3.0));
        assert!(read("swap_usage").iter().all(|(_, v)| *v == 0.0));
        assert!(find("cpu_usage; DROP TABLE history").is_none());

        // A month later the hour is rolled up: one averaged row.
        store
            .cleanup(
                t0 + Span::days(30),
                Duration::from_secs(90 * 86400),
                Duration::from_secs(86400),
            )
            .unwrap();
        let psi = read("psi_cpu");
        assert_eq!(psi, [(t0, 5.5)]);
        assert_eq!(read("net_rx_bps"), [(t0, 150.0)]);
    }
}
