//! The two shapes of `GET /api/v2/node-metrics/{node}/history`, chosen by
//! `--atlhyper-api`: `v2` (the default) answers `{node_name, start, end, data:
//! [MetricsDataPoint…]}` as atlhyper's v2 server did; `current` answers what its web
//! page reads today, `{nodeName, start, end, data: {cpu, memory, disk, temp}}`, each
//! an ascending array of `{timestamp, value}` in buckets of 60 s up to 6 hours, 300 s
//! up to 24 hours and 900 s beyond, made from the stored history.
//!
//! A bucket's value is the mean of the points in it for CPU, memory and disk (%), and
//! the maximum for the temperature (°C), as atlhyper's ClickHouse query takes them.
//! A point of 0 °C is a node without a CPU temperature: no `temp` point (atlhyper: no
//! point without sensors). A bucket is dated by its start, `YYYY-MM-DDTHH:MM:SSZ`.
//! Buckets finer than the stored points (one per `--sample-interval`, hourly past a
//! week) hold one point each; none are made up between them.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::model::observe::round;
use crate::model::MetricsDataPoint;

/// What `--atlhyper-api` chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HistoryShape {
    /// atlhyper's v2 server: snake_case, a flat list of points.
    #[default]
    V2,
    /// atlhyper at HEAD: camelCase, one bucketed series per metric.
    Current,
}

impl HistoryShape {
    pub const NAMES: [&'static str; 2] = ["v2", "current"];

    pub fn parse(text: &str) -> Option<HistoryShape> {
        match text {
            "v2" => Some(HistoryShape::V2),
            "current" => Some(HistoryShape::Current),
            _ => None,
        }
    }
}

/// The `current` body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentHistoryBody {
    pub node_name: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub data: HistorySeries,
}

/// Keys in the order Go writes a map's: sorted.
#[derive(Debug, Default, PartialEq, Serialize)]
pub struct HistorySeries {
    pub cpu: Vec<HistoryPoint>,
    pub disk: Vec<HistoryPoint>,
    pub memory: Vec<HistoryPoint>,
    pub temp: Vec<HistoryPoint>,
}

#[derive(Debug, PartialEq, Serialize)]
pub struct HistoryPoint {
    /// The bucket's start, to the second, in UTC.
    pub timestamp: String,
    pub value: f64,
}

/// The bucket width for a window of `hours`, as atlhyper's history query.
pub fn bucket_seconds(hours: u32) -> i64 {
    match hours {
        0..=6 => 60,
        7..=24 => 300,
        _ => 900,
    }
}

/// Sums of one bucket.
#[derive(Default)]
struct Bucket {
    points: u32,
    cpu: f64,
    memory: f64,
    disk: f64,
    temp: Option<f64>,
}

/// The points of a `hours` window (ascending) in buckets.
pub fn bucketed(points: &[MetricsDataPoint], hours: u32) -> HistorySeries {
    let width = bucket_seconds(hours);
    let mut buckets: BTreeMap<i64, Bucket> = BTreeMap::new();
    for point in points {
        let start = point.timestamp.timestamp().div_euclid(width) * width;
        let bucket = buckets.entry(start).or_default();
        bucket.points += 1;
        bucket.cpu += point.cpu_usage;
        bucket.memory += point.memory_usage;
        bucket.disk += point.disk_usage;
        if point.cpu_temp != 0.0 {
            bucket.temp = Some(
                bucket
                    .temp
                    .map_or(point.cpu_temp, |t| t.max(point.cpu_temp)),
            );
        }
    }
    let mut series = HistorySeries::default();
    for (start, bucket) in buckets {
        let Some(timestamp) = DateTime::<Utc>::from_timestamp(start, 0) else {
            continue;
        };
        let timestamp = timestamp.to_rfc3339_opts(SecondsFormat::Secs, true);
        let n = f64::from(bucket.points);
        let point = |value: f64, digits| HistoryPoint {
            timestamp: timestamp.clone(),
            value: round(value, digits),
        };
        series
            .cpu
            .push(point((bucket.cpu / n).clamp(0.0, 100.0), 2));
        series
            .memory
            .push(point((bucket.memory / n).clamp(0.0, 100.0), 2));
        series
            .disk
            .push(point((bucket.disk / n).clamp(0.0, 100.0), 2));
        if let Some(temp) = bucket.temp {
            series.temp.push(point(temp, 1));
        }
    }
    series
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn point(seconds: i64, cpu: f64, temp: f64) -> MetricsDataPoint {
        MetricsDataPoint {
            timestamp: Utc.timestamp_opt(1_776_470_400 + seconds, 0).unwrap(),
            cpu_usage: cpu,
            memory_usage: 40.0 + cpu / 10.0,
            disk_usage: 34.77,
            cpu_temp: temp,
            ..MetricsDataPoint::default()
        }
    }

    #[test]
    fn buckets_by_window() {
        assert_eq!(
            [1, 6, 7, 24, 25, 168].map(bucket_seconds),
            [60, 60, 300, 300, 900, 900]
        );
        assert_eq!(HistoryShape::parse("current"), Some(HistoryShape::Current));
        assert_eq!(HistoryShape::parse("v2"), Some(HistoryShape::V2));
        assert_eq!(HistoryShape::parse("V2"), None);
    }

    #[test]
    fn means_and_the_hottest_per_bucket() {
        // 1_776_470_400 is 2026-04-18T00:00:00Z. Points at +0 s, +30 s, +59 s (one
        // minute), +61 s (the next), +400 s.
        let points = [
            point(0, 10.0, 50.0),
            point(30, 20.0, 52.04),
            point(59, 30.0, 0.0),
            point(61, 22.126, 0.0),
            point(400, 5.0, 48.0),
        ];
        let series = bucketed(&points, 1);
        let cpu: Vec<(&str, f64)> = series
            .cpu
            .iter()
            .map(|p| (p.timestamp.as_str(), p.value))
            .collect();
        assert_eq!(
            cpu,
            [
                ("2026-04-18T00:00:00Z", 20.0),
                ("2026-04-18T00:01:00Z", 22.13),
                ("2026-04-18T00:06:00Z", 5.0)
            ]
        );
        // (41 + 42 + 43) / 3.
        assert_eq!(series.memory[0].value, 42.0);
        assert_eq!(series.disk[1].value, 34.77);
        // The hottest, 1 decimal; the minute with only 0 °C has no point.
        let temp: Vec<(&str, f64)> = series
            .temp
            .iter()
            .map(|p| (p.timestamp.as_str(), p.value))
            .collect();
        assert_eq!(
            temp,
            [
                ("2026-04-18T00:00:00Z", 52.0),
                ("2026-04-18T00:06:00Z", 48.0)
            ]
        );
        // A day: 300 s buckets, the first five points in one.
        let day = bucketed(&points, 24);
        assert_eq!(day.cpu.len(), 2);
        assert_eq!(
            day.cpu[0].value,
            round((10.0 + 20.0 + 30.0 + 22.126) / 4.0, 2)
        );
        assert_eq!(day.cpu[1].timestamp, "2026-04-18T00:05:00Z");
        // A week: 900 s, one bucket.
        assert_eq!(bucketed(&points, 168).cpu.len(), 1);
        // No points: four empty arrays, in Go's key order.
        let json = serde_json::to_string(&bucketed(&[], 1)).unwrap();
        assert_eq!(json, r#"{"cpu":[],"disk":[],"memory":[],"temp":[]}"#);
    }
}
