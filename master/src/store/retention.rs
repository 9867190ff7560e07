//! Cleanup: what is past retention goes, and so does what is dated more than
//! [`MAX_CLOCK_SKEW`] in the future (a point from 9999 would otherwise outlive every
//! retention), and raw points older than
//! [`RAW_HISTORY_SPAN`](super::RAW_HISTORY_SPAN) become hourly rows, so a 30-day window
//! holds ~720 points per node, not 8,640.
//!
//! Rollup rules, per node and hour (`ts` = the hour's start): every value is averaged;
//! CPU, memory, disk usage and CPU temperature also keep their maximum, since a short
//! peak is what a one-hour average hides. Only whole hours before the cutoff are rolled,
//! so an hour is never split between the two tables by cleanup. A raw point that arrives
//! later for an hour already rolled up is merged into it at the next cleanup, weighted
//! by the number of samples.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, TransactionBehavior};

use super::history::{hour_start, HOUR_MS};
use super::latest;
use super::series;
use super::{duration_millis, millis, During, StoreError, RAW_HISTORY_SPAN};
use crate::admission::MAX_CLOCK_SKEW;

/// What one cleanup did, for the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Raw points past retention, deleted.
    pub expired_points: usize,
    /// Raw points rolled into hourly rows (and deleted from the raw table).
    pub rolled_up_points: usize,
    /// Hourly rows created or merged into by the rollup.
    pub hourly_rows_written: usize,
    /// Hourly rows past retention, deleted.
    pub expired_hourly_rows: usize,
    /// Nodes not seen for the latest retention, removed from `latest`.
    pub stale_nodes: usize,
    /// Raw points, hourly rows and latest snapshots dated more than the clock skew
    /// ahead of now, deleted.
    pub future_rows: usize,
    /// Latest snapshots over the size cap (written by an older release), deleted
    /// (opening the store deletes them too).
    pub oversized_nodes: usize,
}

pub(super) fn cleanup(
    conn: &mut Connection,
    now: DateTime<Utc>,
    retention: Duration,
    latest_retention: Duration,
) -> Result<CleanupReport, StoreError> {
    let now = millis(now);
    let history_cutoff = now.saturating_sub(duration_millis(retention));
    let rollup_cutoff = hour_start(now.saturating_sub(duration_millis(RAW_HISTORY_SPAN)));
    let latest_cutoff = now.saturating_sub(duration_millis(latest_retention));
    let future_cutoff = now.saturating_add(duration_millis(MAX_CLOCK_SKEW));

    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .during("starting cleanup")?;
    let oversized_nodes = latest::drop_oversized(&tx)?;
    let mut future_rows = 0;
    for (table, operation) in [
        ("history", "deleting history dated in the future"),
        (
            "history_hourly",
            "deleting hourly history dated in the future",
        ),
        ("latest", "deleting latest snapshots dated in the future"),
    ] {
        future_rows += tx
            .execute(
                &format!("DELETE FROM {table} WHERE ts > ?1"),
                params![future_cutoff],
            )
            .during(operation)?;
    }
    let expired_points = tx
        .execute("DELETE FROM history WHERE ts < ?1", params![history_cutoff])
        .during("deleting expired history")?;
    let (series_columns, series_averages, series_merges) = series::rollup_sql();
    let hourly_rows_written = tx
        .execute(
            &format!("INSERT INTO history_hourly (cluster, node, ts, samples,
                 cpu_usage_avg, cpu_usage_max, memory_usage_avg, memory_usage_max,
                 disk_usage_avg, disk_usage_max, disk_io_read_avg, disk_io_write_avg,
                 network_rx_avg, network_tx_avg, cpu_temp_avg, cpu_temp_max, load_1_avg
                 {series_columns})
             SELECT cluster, node, (ts / 3600000) * 3600000, COUNT(*),
                    AVG(cpu_usage), MAX(cpu_usage), AVG(memory_usage), MAX(memory_usage),
                    AVG(disk_usage), MAX(disk_usage), AVG(disk_io_read), AVG(disk_io_write),
                    AVG(network_rx), AVG(network_tx), AVG(cpu_temp), MAX(cpu_temp), AVG(load_1)
                    {series_averages}
               FROM history
              WHERE ts < ?1
              GROUP BY cluster, node, (ts / 3600000) * 3600000
             ON CONFLICT (cluster, node, ts) DO UPDATE SET
                 -- Every expression below reads the row as it was before the update.
                 samples = samples + excluded.samples,
                 cpu_usage_avg = (cpu_usage_avg * samples + excluded.cpu_usage_avg * excluded.samples)
                                 / (samples + excluded.samples),
                 cpu_usage_max = MAX(cpu_usage_max, excluded.cpu_usage_max),
                 memory_usage_avg = (memory_usage_avg * samples + excluded.memory_usage_avg * excluded.samples)
                                    / (samples + excluded.samples),
                 memory_usage_max = MAX(memory_usage_max, excluded.memory_usage_max),
                 disk_usage_avg = (disk_usage_avg * samples + excluded.disk_usage_avg * excluded.samples)
                                  / (samples + excluded.samples),
                 disk_usage_max = MAX(disk_usage_max, excluded.disk_usage_max),
                 disk_io_read_avg = (disk_io_read_avg * samples + excluded.disk_io_read_avg * excluded.samples)
                                    / (samples + excluded.samples),
                 disk_io_write_avg = (disk_io_write_avg * samples + excluded.disk_io_write_avg * excluded.samples)
                                     / (samples + excluded.samples),
                 network_rx_avg = (network_rx_avg * samples + excluded.network_rx_avg * excluded.samples)
                                  / (samples + excluded.samples),
                 network_tx_avg = (network_tx_avg * samples + excluded.network_tx_avg * excluded.samples)
                                  / (samples + excluded.samples),
                 cpu_temp_avg = (cpu_temp_avg * samples + excluded.cpu_temp_avg * excluded.samples)
                                / (samples + excluded.samples),
                 cpu_temp_max = MAX(cpu_temp_max, excluded.cpu_temp_max),
                 load_1_avg = (load_1_avg * samples + excluded.load_1_avg * excluded.samples)
                              / (samples + excluded.samples)
                 {series_merges}"),
            params![rollup_cutoff],
        )
        .during("rolling history up into hours")?;
    let rolled_up_points = tx
        .execute("DELETE FROM history WHERE ts < ?1", params![rollup_cutoff])
        .during("deleting rolled-up history")?;
    // An hour goes once all of it is past retention.
    let expired_hourly_rows = tx
        .execute(
            "DELETE FROM history_hourly WHERE ts <= ?1",
            params![history_cutoff.saturating_sub(HOUR_MS)],
        )
        .during("deleting expired hourly history")?;
    let stale_nodes = tx
        .execute(
            "DELETE FROM latest WHERE last_seen < ?1",
            params![latest_cutoff],
        )
        .during("deleting stale latest snapshots")?;
    tx.commit().during("committing cleanup")?;

    let report = CleanupReport {
        expired_points,
        rolled_up_points,
        hourly_rows_written,
        expired_hourly_rows,
        stale_nodes,
        future_rows,
        oversized_nodes,
    };
    tracing::info!(
        expired_points,
        rolled_up_points,
        hourly_rows_written,
        expired_hourly_rows,
        stale_nodes,
        future_rows,
        oversized_nodes,
        "store cleanup"
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::{at, snapshot, temp_store};
    use crate::store::{Store, MAX_STORED_SNAPSHOT_BYTES};
    use chrono::Duration as Span;

    const FIVE_MINUTES: Duration = Duration::from_secs(300);
    const DAY: Duration = Duration::from_secs(24 * 3600);

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// The known values of point `k` of the 30-day series: `slot` is its place in its
    /// hour (0..12), `hour` the hour's index.
    fn series_point(store: &Store, start: DateTime<Utc>, k: i64) {
        let (hour, slot) = ((k / 12) as f64, (k % 12) as f64);
        let ts = start + Span::minutes(5 * k);
        let mut s = snapshot("n1", ts, slot + hour % 24.0);
        s.memory.usage_percent = 50.0 + slot;
        s.disks[0].usage_percent = 20.0 + 2.0 * slot;
        s.disks[0].read_rate = 1000.0 * slot;
        s.networks[0].tx_rate = 10.0 * hour;
        s.temperature.cpu_temp = 40.0 + hour % 10.0 + 0.5 * slot;
        s.cpu.load_1 = slot / 4.0;
        store.write_round("c1", &[(s, ts)], FIVE_MINUTES).unwrap();
    }

    #[test]
    fn thirty_days_roll_up_into_hours_with_averages_and_maxima() {
        let (_dir, store) = temp_store();
        // A fixed "now", unrelated to the clock of the machine running the test.
        let now = at("2026-11-22T10:00:00Z");
        let start = now - Span::days(30);
        for k in 0..30 * 288 {
            series_point(&store, start, k);
        }
        let month_before = store.history("c1", "n1", start, now).unwrap();
        let hourly_before = store.history_hourly("c1", "n1", start, now).unwrap();

        let report = store.cleanup(now, 30 * DAY, DAY).unwrap();
        assert_eq!(report.expired_points, 0);
        assert_eq!(report.rolled_up_points, 23 * 288);
        assert_eq!(report.hourly_rows_written, 23 * 24);
        let raw_left: i64 = store
            .conn()
            .query_row("SELECT COUNT(*) FROM history", [], |row| row.get(0))
            .unwrap();
        assert_eq!(raw_left, 7 * 288);

        let month = store.history("c1", "n1", start, now).unwrap();
        assert_eq!(month.len(), 720);
        let hourly = store.history_hourly("c1", "n1", start, now).unwrap();
        assert_eq!(hourly.len(), 720);
        for (h, hour) in hourly.iter().enumerate() {
            let hf = h as f64;
            assert_eq!(hour.mean.timestamp, start + Span::hours(h as i64));
            assert_eq!(hour.samples, 12);
            let m = &hour.mean;
            assert!(close(m.cpu_usage, 5.5 + hf % 24.0), "hour {h}: {m:?}");
            assert!(close(m.memory_usage, 55.5));
            assert!(close(m.disk_usage, 31.0));
            assert!(close(m.disk_io_read, 5500.0));
            assert!(close(m.disk_io_write, 0.0));
            assert!(close(m.network_tx, 10.0 * hf));
            assert!(close(m.cpu_temp, 42.75 + hf % 10.0));
            assert!(close(m.load_1, 1.375));
            let p = &hour.peak;
            assert!(close(p.cpu_usage, 11.0 + hf % 24.0), "hour {h}: {p:?}");
            assert!(close(p.memory_usage, 61.0));
            assert!(close(p.disk_usage, 42.0));
            assert!(close(p.cpu_temp, 45.5 + hf % 10.0));
        }
        // Rolled-up or not, the long window reads the same.
        assert_eq!(month.len(), month_before.len());
        for (after, before) in month.iter().zip(&month_before) {
            assert_eq!(after.timestamp, before.timestamp);
            assert!(close(after.cpu_usage, before.cpu_usage));
            assert!(close(after.cpu_temp, before.cpu_temp));
        }
        assert_eq!(hourly.len(), hourly_before.len());
        for (after, before) in hourly.iter().zip(&hourly_before) {
            assert_eq!((after.samples, &after.peak), (before.samples, &before.peak));
        }

        // The last day is raw, as written.
        let day = store
            .history("c1", "n1", now - Span::hours(24), now)
            .unwrap();
        assert_eq!(day.len(), 288);
        let first_k = 29 * 288;
        for (i, point) in day.iter().enumerate() {
            let k = first_k + i as i64;
            assert_eq!(point.timestamp, start + Span::minutes(5 * k));
            assert_eq!(point.cpu_usage, (k % 12 + (k / 12) % 24) as f64);
        }
        // A short window in the rolled-up past gets the hourly rows stored there.
        let past = now - Span::days(20);
        let old = store
            .history("c1", "n1", past, past + Span::hours(3))
            .unwrap();
        assert_eq!(old.len(), 4);
        assert!(close(old[0].memory_usage, 55.5));

        // Cleanup is idempotent.
        let again = store.cleanup(now, 30 * DAY, DAY).unwrap();
        assert_eq!(again.rolled_up_points + again.hourly_rows_written, 0);
        assert_eq!(store.history("c1", "n1", start, now).unwrap(), month);
    }

    #[test]
    fn retention_deletes_old_points_hours_and_stale_nodes() {
        let (_dir, store) = temp_store();
        let now = at("2026-11-22T10:00:00Z");
        // n1: a point 40 days ago (rolled, then expired), 10 days ago (rolled),
        // 1 hour ago (raw); last seen 2 days ago. n2: seen 1 hour ago.
        for days_ago in [40, 10] {
            let ts = now - Span::days(days_ago);
            store
                .write_round("c1", &[(snapshot("n1", ts, 1.0), ts)], FIVE_MINUTES)
                .unwrap();
        }
        let two_days_ago = now - Span::days(2);
        let ts = now - Span::hours(1);
        store
            .write_round(
                "c1",
                &[(snapshot("n1", ts, 2.0), two_days_ago)],
                FIVE_MINUTES,
            )
            .unwrap();
        store
            .write_round("c1", &[(snapshot("n2", ts, 3.0), ts)], FIVE_MINUTES)
            .unwrap();

        let report = store.cleanup(now, 30 * DAY, DAY).unwrap();
        assert_eq!(
            report,
            CleanupReport {
                expired_points: 1,
                rolled_up_points: 1,
                hourly_rows_written: 1,
                expired_hourly_rows: 0,
                stale_nodes: 1,
                future_rows: 0,
                oversized_nodes: 0,
            }
        );
        let all = store
            .history("c1", "n1", now - Span::days(60), now)
            .unwrap();
        let stamps: Vec<_> = all.iter().map(|p| p.timestamp).collect();
        assert_eq!(stamps, [now - Span::days(10), now - Span::hours(1)]);
        let nodes: Vec<_> = store
            .latest("c1")
            .unwrap()
            .into_iter()
            .map(|(s, _)| s.node_name)
            .collect();
        assert_eq!(nodes, ["n2"]);

        // Twenty-one days on, the rolled hour is past retention too.
        let later = now + Span::days(21);
        let report = store.cleanup(later, 30 * DAY, 30 * DAY).unwrap();
        assert_eq!(report.expired_hourly_rows, 1);
        assert_eq!(report.rolled_up_points, 2);
        let all = store
            .history("c1", "n1", now - Span::days(60), later)
            .unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].timestamp, now - Span::hours(1));
    }

    #[test]
    fn a_late_point_merges_into_its_rolled_hour_by_weight() {
        let (_dir, store) = temp_store();
        let now = at("2026-11-22T10:00:00Z");
        let hour = now - Span::days(10);
        for (minutes, cpu) in [(0, 10.0), (5, 20.0), (10, 30.0)] {
            let ts = hour + Span::minutes(minutes);
            store
                .write_round("c1", &[(snapshot("n1", ts, cpu), ts)], FIVE_MINUTES)
                .unwrap();
        }
        store.cleanup(now, 30 * DAY, DAY).unwrap();
        // A snapshot from that hour arrives late (a push replayed after an outage); n1
        // has no raw points left, so it is due.
        let late = hour + Span::minutes(30);
        store
            .write_round("c1", &[(snapshot("n1", late, 80.0), now)], FIVE_MINUTES)
            .unwrap();
        let within_hour = hour + Span::minutes(59);
        let merged = store.history_hourly("c1", "n1", hour, within_hour).unwrap();
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].samples, 4);
        assert!(close(merged[0].mean.cpu_usage, 35.0));
        assert_eq!(merged[0].peak.cpu_usage, 80.0);

        let report = store.cleanup(now, 30 * DAY, DAY).unwrap();
        assert_eq!(
            (report.rolled_up_points, report.hourly_rows_written),
            (1, 1)
        );
        let stored = store.history_hourly("c1", "n1", hour, within_hour).unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].samples, 4);
        assert!(close(stored[0].mean.cpu_usage, 35.0));
        assert_eq!(stored[0].peak.cpu_usage, 80.0);
    }

    #[test]
    fn rows_dated_in_the_future_and_oversized_rows_go() {
        let (_dir, store) = temp_store();
        let now = at("2026-11-22T10:00:00Z");
        let far = at("9999-12-31T23:59:59Z");
        let soon = now + Span::minutes(4);
        store
            .write_round("c1", &[(snapshot("n1", far, 1.0), now)], FIVE_MINUTES)
            .unwrap();
        store
            .write_round("c1", &[(snapshot("n2", soon, 1.0), now)], FIVE_MINUTES)
            .unwrap();
        // A row as large as an older release could write, never loaded by reads.
        let huge = format!(
            r#"{{"node_name":"big","hostname":"{}"}}"#,
            "x".repeat(MAX_STORED_SNAPSHOT_BYTES)
        );
        store
            .conn()
            .execute(
                "INSERT INTO latest (cluster, node, ts, last_seen, snapshot) VALUES ('c1', 'big', 0, ?1, ?2)",
                params![millis(now), huge],
            )
            .unwrap();
        let names = |store: &Store| -> Vec<String> {
            store
                .latest("c1")
                .unwrap()
                .into_iter()
                .map(|(s, _)| s.node_name)
                .collect()
        };
        assert_eq!(names(&store), ["n1", "n2"]);
        assert!(store.latest_node("c1", "big").unwrap().is_none());

        let report = store.cleanup(now, 30 * DAY, DAY).unwrap();
        // n1's latest row and its history point; n2 is within the skew.
        assert_eq!((report.future_rows, report.oversized_nodes), (2, 1));
        assert_eq!(names(&store), ["n2"]);
        assert!(store.history("c1", "n1", now, far).unwrap().is_empty());
        assert_eq!(store.history("c1", "n2", now, far).unwrap().len(), 1);
    }
}
