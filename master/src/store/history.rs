//! History: which values make a point, when a snapshot becomes one, and the query that
//! answers a window at the resolution that fits it.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{duration_millis, from_millis, millis, During, StoreError};
use crate::model::{MetricsDataPoint, NodeMetricsSnapshot};
use std::time::Duration;

/// One hour in milliseconds: the width of a rolled-up point.
pub(super) const HOUR_MS: i64 = 3_600_000;

/// A snapshot's history point. The primary disk is the one mounted at `/`, else the
/// first; the primary interface is the first that is up and not `lo`. A snapshot
/// without one has 0 for its values.
pub fn history_point(snapshot: &NodeMetricsSnapshot) -> MetricsDataPoint {
    let disk = snapshot.primary_disk();
    let interface = snapshot.primary_interface();
    MetricsDataPoint {
        timestamp: snapshot.timestamp,
        node_name: snapshot.node_name.clone(),
        cpu_usage: snapshot.cpu.usage_percent,
        memory_usage: snapshot.memory.usage_percent,
        disk_usage: disk.map_or(0.0, |disk| disk.usage_percent),
        disk_io_read: disk.map_or(0.0, |disk| disk.read_rate),
        disk_io_write: disk.map_or(0.0, |disk| disk.write_rate),
        network_rx: interface.map_or(0.0, |net| net.rx_rate),
        network_tx: interface.map_or(0.0, |net| net.tx_rate),
        cpu_temp: snapshot.temperature.cpu_temp,
        load_1: snapshot.cpu.load_1,
    }
}

/// One hour of a node's history: the averages, and the maxima of the values whose peak
/// matters more than their mean.
#[derive(Debug, Clone, PartialEq)]
pub struct HourlyPoint {
    /// Averages over the hour; `timestamp` is the hour's start.
    pub mean: MetricsDataPoint,
    pub peak: PeakValues,
    /// How many raw points the hour was made of.
    pub samples: i64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeakValues {
    pub cpu_usage: f64,
    pub memory_usage: f64,
    pub disk_usage: f64,
    pub cpu_temp: f64,
}

/// What [`add_if_due`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Due {
    Added,
    /// Not added: the node has a raw point at this time (ms), within the interval.
    Near(i64),
}

/// Adds `point` when the node has no raw point within `sample_interval` of it, before
/// or after. Looking both ways (not only at the newest point) keeps one point dated far
/// in the future from holding back every later one.
pub(super) fn add_if_due(
    conn: &Connection,
    cluster: &str,
    point: &MetricsDataPoint,
    sample_interval: Duration,
) -> Result<Due, StoreError> {
    const OPERATION: &str = "adding a history point";
    let ts = millis(point.timestamp);
    let interval = duration_millis(sample_interval);
    let near: Option<i64> = conn
        .prepare_cached(
            "SELECT ts FROM history
              WHERE cluster = ?1 AND node = ?2 AND ts > ?3 AND ts < ?4 LIMIT 1",
        )
        .and_then(|mut stmt| {
            stmt.query_row(
                params![
                    cluster,
                    point.node_name,
                    ts.saturating_sub(interval),
                    ts.saturating_add(interval)
                ],
                |row| row.get(0),
            )
            .optional()
        })
        .during(OPERATION)?;
    if let Some(near) = near {
        return Ok(Due::Near(near));
    }
    conn.prepare_cached(
        "INSERT INTO history (cluster, node, ts, cpu_usage, memory_usage, disk_usage,
                              disk_io_read, disk_io_write, network_rx, network_tx, cpu_temp,
                              load_1)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (cluster, node, ts) DO NOTHING",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            cluster,
            point.node_name,
            ts,
            point.cpu_usage,
            point.memory_usage,
            point.disk_usage,
            point.disk_io_read,
            point.disk_io_write,
            point.network_rx,
            point.network_tx,
            point.cpu_temp,
            point.load_1,
        ])
    })
    .during(OPERATION)?;
    Ok(Due::Added)
}

/// The points stored in `[from, to]`, ascending: raw points, and the hourly rows of
/// the part already rolled up (a rolled-up hour has no raw points left).
pub(super) fn stored(
    conn: &Connection,
    cluster: &str,
    node: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<MetricsDataPoint>, StoreError> {
    const OPERATION: &str = "reading history";
    let mut stmt = conn
        .prepare_cached(
            "SELECT ts, cpu_usage, memory_usage, disk_usage, disk_io_read, disk_io_write,
                    network_rx, network_tx, cpu_temp, load_1
               FROM history
              WHERE cluster = ?1 AND node = ?2 AND ts BETWEEN ?3 AND ?4
             UNION ALL
             SELECT ts, cpu_usage_avg, memory_usage_avg, disk_usage_avg, disk_io_read_avg,
                    disk_io_write_avg, network_rx_avg, network_tx_avg, cpu_temp_avg, load_1_avg
               FROM history_hourly
              WHERE cluster = ?1 AND node = ?2 AND ts BETWEEN ?3 AND ?4
             ORDER BY ts",
        )
        .during(OPERATION)?;
    let rows = stmt
        .query_map(params![cluster, node, millis(from), millis(to)], |row| {
            let ts: i64 = row.get(0)?;
            Ok((ts, values(row, 1)?))
        })
        .during(OPERATION)?;
    rows.map(|row| {
        let (ts, mut point) = row.during(OPERATION)?;
        point.timestamp = from_millis(OPERATION, ts)?;
        point.node_name = node.to_owned();
        Ok(point)
    })
    .collect()
}

/// One point per hour whose start lies in `[from, to]`, ascending: the stored hourly
/// rows merged with the raw points of the same hours (up to `to`), weighted by their
/// number of samples.
pub(super) fn hourly(
    conn: &Connection,
    cluster: &str,
    node: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<HourlyPoint>, StoreError> {
    const OPERATION: &str = "reading hourly history";
    // Raw points before the first whole hour belong to an hour that starts before
    // `from`, which is not in the window.
    let first_hour = hour_start(millis(from).saturating_add(HOUR_MS - 1));
    let mut stmt = conn
        .prepare_cached(
            "SELECT ts, SUM(samples),
                    SUM(cpu_usage) / SUM(samples), SUM(memory_usage) / SUM(samples),
                    SUM(disk_usage) / SUM(samples), SUM(disk_io_read) / SUM(samples),
                    SUM(disk_io_write) / SUM(samples), SUM(network_rx) / SUM(samples),
                    SUM(network_tx) / SUM(samples), SUM(cpu_temp) / SUM(samples),
                    SUM(load_1) / SUM(samples),
                    MAX(cpu_usage_max), MAX(memory_usage_max), MAX(disk_usage_max),
                    MAX(cpu_temp_max)
               FROM (
                     -- Sums, so that hours from both tables merge by weight.
                     SELECT ts, samples,
                            cpu_usage_avg * samples AS cpu_usage,
                            memory_usage_avg * samples AS memory_usage,
                            disk_usage_avg * samples AS disk_usage,
                            disk_io_read_avg * samples AS disk_io_read,
                            disk_io_write_avg * samples AS disk_io_write,
                            network_rx_avg * samples AS network_rx,
                            network_tx_avg * samples AS network_tx,
                            cpu_temp_avg * samples AS cpu_temp,
                            load_1_avg * samples AS load_1,
                            cpu_usage_max, memory_usage_max, disk_usage_max, cpu_temp_max
                       FROM history_hourly
                      WHERE cluster = ?1 AND node = ?2 AND ts BETWEEN ?3 AND ?5
                     UNION ALL
                     SELECT (ts / 3600000) * 3600000, COUNT(*),
                            SUM(cpu_usage), SUM(memory_usage), SUM(disk_usage),
                            SUM(disk_io_read), SUM(disk_io_write), SUM(network_rx),
                            SUM(network_tx), SUM(cpu_temp), SUM(load_1),
                            MAX(cpu_usage), MAX(memory_usage), MAX(disk_usage), MAX(cpu_temp)
                       FROM history
                      WHERE cluster = ?1 AND node = ?2 AND ts BETWEEN ?4 AND ?5
                      GROUP BY 1
                    )
              GROUP BY ts
              ORDER BY ts",
        )
        .during(OPERATION)?;
    let rows = stmt
        .query_map(
            params![cluster, node, millis(from), first_hour, millis(to)],
            |row| {
                let ts: i64 = row.get(0)?;
                let samples: i64 = row.get(1)?;
                let peak = PeakValues {
                    cpu_usage: row.get(11)?,
                    memory_usage: row.get(12)?,
                    disk_usage: row.get(13)?,
                    cpu_temp: row.get(14)?,
                };
                Ok((ts, samples, values(row, 2)?, peak))
            },
        )
        .during(OPERATION)?;
    rows.map(|row| {
        let (ts, samples, mut mean, peak) = row.during(OPERATION)?;
        mean.timestamp = from_millis(OPERATION, ts)?;
        mean.node_name = node.to_owned();
        Ok(HourlyPoint {
            mean,
            peak,
            samples,
        })
    })
    .collect()
}

/// The start of the hour that contains `ts` (ms).
pub(super) fn hour_start(ts: i64) -> i64 {
    ts.div_euclid(HOUR_MS) * HOUR_MS
}

/// The nine point values, in the schema's column order, from column `first` on.
fn values(row: &Row<'_>, first: usize) -> rusqlite::Result<MetricsDataPoint> {
    Ok(MetricsDataPoint {
        cpu_usage: row.get(first)?,
        memory_usage: row.get(first + 1)?,
        disk_usage: row.get(first + 2)?,
        disk_io_read: row.get(first + 3)?,
        disk_io_write: row.get(first + 4)?,
        network_rx: row.get(first + 5)?,
        network_tx: row.get(first + 6)?,
        cpu_temp: row.get(first + 7)?,
        load_1: row.get(first + 8)?,
        ..MetricsDataPoint::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DiskMetrics, NetworkMetrics};
    use crate::store::test_support::{at, snapshot, temp_store};
    use chrono::Duration as Span;

    const FIVE_MINUTES: Duration = Duration::from_secs(300);

    fn disk(mount_point: &str, usage: f64, read: f64) -> DiskMetrics {
        DiskMetrics {
            mount_point: mount_point.into(),
            usage_percent: usage,
            read_rate: read,
            write_rate: read * 2.0,
            ..DiskMetrics::default()
        }
    }

    fn net(interface: &str, status: &str, rx: f64) -> NetworkMetrics {
        NetworkMetrics {
            interface: interface.into(),
            status: status.into(),
            rx_rate: rx,
            tx_rate: rx * 2.0,
            ..NetworkMetrics::default()
        }
    }

    #[test]
    fn point_takes_the_root_disk_and_the_first_up_interface_that_is_not_lo() {
        let mut s = snapshot("n1", at("2026-11-22T10:00:00Z"), 12.5);
        s.cpu.load_1 = 0.75;
        s.temperature.cpu_temp = 51.0;
        s.disks = vec![disk("/boot", 10.0, 1.0), disk("/", 60.0, 5.0)];
        s.networks = vec![
            net("lo", "up", 1.0),
            net("eth0", "down", 2.0),
            net("wlan0", "up", 3.0),
            net("eth1", "up", 4.0),
        ];
        let p = history_point(&s);
        assert_eq!(p.timestamp, s.timestamp);
        assert_eq!(p.node_name, "n1");
        assert_eq!(
            (p.cpu_usage, p.memory_usage, p.load_1, p.cpu_temp),
            (12.5, 40.0, 0.75, 51.0)
        );
        assert_eq!(
            (p.disk_usage, p.disk_io_read, p.disk_io_write),
            (60.0, 5.0, 10.0)
        );
        assert_eq!((p.network_rx, p.network_tx), (3.0, 6.0));

        s.disks = vec![disk("/data", 20.0, 7.0), disk("/boot", 10.0, 1.0)];
        s.networks = vec![net("lo", "up", 1.0), net("eth0", "down", 2.0)];
        let p = history_point(&s);
        assert_eq!((p.disk_usage, p.disk_io_read), (20.0, 7.0));
        assert_eq!((p.network_rx, p.network_tx), (0.0, 0.0));

        s.disks.clear();
        assert_eq!(history_point(&s).disk_usage, 0.0);
    }

    #[test]
    fn sampling_respects_the_sample_interval() {
        let (_dir, store) = temp_store();
        let t0 = at("2026-11-22T10:00:00Z");
        // A scrape every 15 s for 21 minutes, plus one 1 ms short of the next sample.
        let mut times: Vec<_> = (0..84).map(|i| t0 + Span::seconds(15 * i)).collect();
        times.insert(20, t0 + Span::minutes(5) - Span::milliseconds(1));
        for ts in &times {
            store
                .write_round("c1", &[(snapshot("n1", *ts, 1.0), *ts)], FIVE_MINUTES)
                .unwrap();
        }
        let points = store.history("c1", "n1", t0, t0 + Span::hours(1)).unwrap();
        let stamps: Vec<_> = points.iter().map(|p| p.timestamp).collect();
        let expected: Vec<_> = (0..5).map(|i| t0 + Span::minutes(5 * i)).collect();
        assert_eq!(stamps, expected);
        // The latest row follows every scrape regardless.
        let (latest, _) = store.latest_node("c1", "n1").unwrap().unwrap();
        assert_eq!(latest.timestamp, *times.last().unwrap());
    }

    #[test]
    fn a_point_dated_in_the_future_does_not_hold_back_later_ones() {
        let (_dir, store) = temp_store();
        let t0 = at("2026-11-22T10:00:00Z");
        let far = at("9999-12-31T23:59:59Z");
        store
            .write_round("c1", &[(snapshot("n1", far, 99.0), t0)], FIVE_MINUTES)
            .unwrap();
        for i in 0..3 {
            let ts = t0 + Span::minutes(5 * i);
            store
                .write_round("c1", &[(snapshot("n1", ts, 1.0), ts)], FIVE_MINUTES)
                .unwrap();
        }
        let points = store.history("c1", "n1", t0, t0 + Span::hours(1)).unwrap();
        assert_eq!(points.len(), 3);
        // A late point is added only when it is far enough from its neighbours on both sides.
        let late = t0 + Span::minutes(2);
        store
            .write_round("c1", &[(snapshot("n1", late, 1.0), t0)], FIVE_MINUTES)
            .unwrap();
        assert_eq!(
            store
                .history("c1", "n1", t0, t0 + Span::hours(1))
                .unwrap()
                .len(),
            3,
            "two minutes from its neighbours: not due"
        );
    }

    #[test]
    fn query_is_ascending_within_inclusive_bounds_and_per_node() {
        let (_dir, store) = temp_store();
        let t0 = at("2026-11-22T00:00:00Z");
        for i in 0..12 {
            let ts = t0 + Span::minutes(5 * i);
            let round = [
                (snapshot("n1", ts, i as f64), ts),
                (snapshot("n2", ts, 100.0), ts),
            ];
            store.write_round("c1", &round, FIVE_MINUTES).unwrap();
            store
                .write_round("c2", &[(snapshot("n1", ts, 99.0), ts)], FIVE_MINUTES)
                .unwrap();
        }
        let from = t0 + Span::minutes(10);
        let to = t0 + Span::minutes(30);
        let points = store.history("c1", "n1", from, to).unwrap();
        let cpu: Vec<f64> = points.iter().map(|p| p.cpu_usage).collect();
        assert_eq!(cpu, [2.0, 3.0, 4.0, 5.0, 6.0]);
        assert!(points.iter().all(|p| p.node_name == "n1"));
        assert!(points.windows(2).all(|w| w[0].timestamp < w[1].timestamp));

        let just_inside = store
            .history(
                "c1",
                "n1",
                from + Span::milliseconds(1),
                to - Span::milliseconds(1),
            )
            .unwrap();
        assert_eq!(just_inside.len(), 3);
        assert!(store.history("c1", "n1", to, from).unwrap().is_empty());
        assert!(store.history("c1", "n9", from, to).unwrap().is_empty());
    }

    #[test]
    fn an_offset_timestamp_lands_at_its_instant() {
        let (_dir, store) = temp_store();
        let pushed: NodeMetricsSnapshot = serde_json::from_str(
            r#"{"node_name":"n1","timestamp":"2026-11-22T10:00:00+08:00","cpu":{"usage_percent":42.0}}"#,
        )
        .unwrap();
        store
            .write_round("c1", &[(pushed, at("2026-11-22T02:00:01Z"))], FIVE_MINUTES)
            .unwrap();
        let instant = at("2026-11-22T02:00:00Z");
        let points = store
            .history(
                "c1",
                "n1",
                instant - Span::minutes(1),
                instant + Span::minutes(1),
            )
            .unwrap();
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].timestamp, instant);
        assert_eq!(points[0].cpu_usage, 42.0);
        // Where a text comparison of local times would have put it.
        let local = at("2026-11-22T10:00:00Z");
        assert!(store
            .history(
                "c1",
                "n1",
                local - Span::minutes(1),
                local + Span::minutes(1)
            )
            .unwrap()
            .is_empty());
        // Also as written by an offset `from`/`to`.
        let from = DateTime::parse_from_rfc3339("2026-11-22T09:59:00+08:00").unwrap();
        let to = DateTime::parse_from_rfc3339("2026-11-22T10:01:00+08:00").unwrap();
        assert_eq!(
            store
                .history("c1", "n1", from.to_utc(), to.to_utc())
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn long_windows_are_hourly_even_before_any_rollup() {
        let (_dir, store) = temp_store();
        let t0 = at("2026-11-01T00:00:00Z");
        // Ten hours of 5-minute points; CPU is the index within its hour.
        for i in 0..120 {
            let ts = t0 + Span::minutes(5 * i);
            store
                .write_round(
                    "c1",
                    &[(snapshot("n1", ts, (i % 12) as f64), ts)],
                    FIVE_MINUTES,
                )
                .unwrap();
        }
        // Starts mid-hour: that hour starts before `from`, so it is left out.
        let from = t0 + Span::minutes(30);
        let points = store
            .history("c1", "n1", from, from + Span::days(8))
            .unwrap();
        assert_eq!(points.len(), 9);
        assert_eq!(points[0].timestamp, t0 + Span::hours(1));
        assert!(points.iter().all(|p| p.cpu_usage == 5.5));
        let hours = store
            .history_hourly("c1", "n1", t0, t0 + Span::hours(2))
            .unwrap();
        assert_eq!(hours.len(), 3);
        assert_eq!(hours[0].samples, 12);
        assert_eq!(hours[0].peak.cpu_usage, 11.0);
        // The hour starting exactly at `to` holds only the point at `to`.
        assert_eq!(hours[2].samples, 1);
    }
}
