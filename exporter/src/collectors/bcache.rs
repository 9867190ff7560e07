//! `node_bcache_*` from `<sysfs>/fs/bcache/<uuid>/`, as node_exporter 1.12 reads it
//! (procfs `bcache`): cache-set gauges, per backing device (`bdevN`) dirty data,
//! writeback controller state and lifetime counters (`stats_total`), per cache device
//! (`cacheN`) errors and bytes written, and with `--collector.bcache.priorityStats` the
//! `priority_stats` percentages (expensive for the kernel: it walks every bucket).
//!
//! Values are bcache's "human" numbers (`12.3M`): the part after the dot is in 1024ths
//! printed as hundredths, so procfs divides it by 10.24; an unknown suffix letter
//! multiplies by 0. Surprising but upstream: `btree_read_average_duration_us` is
//! multiplied by 1e-9 for `..._duration_seconds`; `cache_readaheads_total` is exported
//! only when non-zero. Every file procfs reads must exist, including the cache-set
//! `stats_five_minute/` and `stats_total/` that are not exported, except
//! `cache_readaheads` (gone from newer kernels), read as 0 when absent. No
//! `fs/bcache` is success with nothing, as in node_exporter.

use std::path::{Path, PathBuf};

use super::sysfs_dir::{glob_dirs, has_parts};
use crate::collector::{switch_args, Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::{read_attribute, read_table_string};
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

const PRIORITY_STATS: &str = "collector.bcache.priorityStats";

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "bcache",
    enabled_by_default: true,
    args: || switch_args(PRIORITY_STATS, "Expose expensive priority stats.").to_vec(),
    build: |ctx| {
        Ok(Box::new(Bcache::new(
            ctx.paths,
            ctx.switch(PRIORITY_STATS, false),
        )))
    },
};

/// The counters of a `stats_*` directory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeriodStats {
    pub bypassed: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub cache_bypass_hits: u64,
    pub cache_bypass_misses: u64,
    pub cache_miss_collisions: u64,
    pub cache_readaheads: u64,
}

/// `writeback_rate_debug` of a backing device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WritebackRateDebug {
    pub rate: u64,
    pub target: u64,
    pub proportional: i64,
    pub integral: i64,
    pub change: i64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackingDevice {
    pub name: String,
    pub dirty_data: u64,
    pub writeback: WritebackRateDebug,
    pub total: PeriodStats,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CacheDevice {
    pub name: String,
    pub io_errors: u64,
    pub metadata_written: u64,
    pub written: u64,
    /// `(unused, metadata)` percent, with `--collector.bcache.priorityStats`.
    pub priority: Option<(u64, u64)>,
}

/// One cache set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CacheSet {
    pub uuid: String,
    pub average_key_size: u64,
    pub btree_cache_size: u64,
    pub cache_available_percent: u64,
    pub congested: u64,
    pub root_usage_percent: u64,
    pub tree_depth: u64,
    pub active_journal_entries: u64,
    pub btree_nodes: u64,
    pub btree_read_average_duration: u64,
    pub cache_read_races: u64,
    pub backing: Vec<BackingDevice>,
    pub caches: Vec<CacheDevice>,
}

/// procfs' `parsePseudoFloat`: bcache prints 1024ths as if they were hundredths.
fn pseudo_float(text: &str) -> Option<f64> {
    let mut parts = text.split('.');
    let int_part: f64 = parts.next()?.parse().ok()?;
    match parts.next() {
        None => Some(int_part),
        Some(frac) => Some(int_part + frac.parse::<f64>().ok()? / 10.24),
    }
}

/// procfs' `dehumanize`: `12.3M` → bytes, `42` → 42.
pub fn dehumanize(text: &str) -> Option<u64> {
    let last = *text.as_bytes().last()?;
    let value = if last > b'9' {
        // bch_hprint's suffixes; procfs' map gives 0 for any other letter.
        let power = match last {
            b'k' => 1,
            b'M' => 2,
            b'G' => 3,
            b'T' => 4,
            b'P' => 5,
            b'E' => 6,
            b'Z' => 7,
            b'Y' => 8,
            _ => 0,
        };
        let multiplier = if power == 0 { 0.0 } else { 1024f64.powi(power) };
        pseudo_float(text.get(..text.len() - 1)?)? * multiplier
    } else {
        text.parse::<f64>().ok()?
    };
    Some(value as u64)
}

fn dehumanize_signed(text: &str) -> Option<i64> {
    match text.strip_prefix('-') {
        Some(rest) => Some((dehumanize(rest)? as i64).wrapping_neg()),
        None => Some(dehumanize(text)? as i64),
    }
}

/// Parses `writeback_rate_debug`; `path` is for messages.
pub fn parse_writeback_rate_debug(
    text: &str,
    path: &Path,
) -> Result<WritebackRateDebug, CollectError> {
    let mut debug = WritebackRateDebug::default();
    for (index, line) in text.lines().enumerate() {
        let Some(key) = [
            "rate:",
            "dirty:",
            "target:",
            "proportional:",
            "integral:",
            "change:",
            "next io:",
        ]
        .into_iter()
        .find(|key| line.starts_with(key)) else {
            continue;
        };
        let last = line.split_whitespace().last().unwrap_or("");
        let bad = || {
            CollectError::parse(
                path,
                index + 1,
                format!("{key} not a bcache number: {last:?}"),
            )
        };
        match key {
            "rate:" => debug.rate = dehumanize(last.trim_end_matches("/sec")).ok_or_else(bad)?,
            "dirty:" => {
                dehumanize(last).ok_or_else(bad)?;
            }
            "target:" => debug.target = dehumanize(last).ok_or_else(bad)?,
            "proportional:" => debug.proportional = dehumanize_signed(last).ok_or_else(bad)?,
            "integral:" => debug.integral = dehumanize_signed(last).ok_or_else(bad)?,
            "change:" => {
                debug.change = dehumanize_signed(last.trim_end_matches("/sec")).ok_or_else(bad)?
            }
            _ => {
                last.trim_end_matches("ms")
                    .parse::<i64>()
                    .map_err(|_| bad())?;
            }
        }
    }
    Ok(debug)
}

/// Parses `priority_stats` into `(unused, metadata)` percent.
pub fn parse_priority_stats(text: &str, path: &Path) -> Result<(u64, u64), CollectError> {
    let (mut unused, mut metadata) = (0, 0);
    for (index, line) in text.lines().enumerate() {
        let slot = if line.starts_with("Unused:") {
            &mut unused
        } else if line.starts_with("Metadata:") {
            &mut metadata
        } else {
            continue;
        };
        let last = line.split_whitespace().last().unwrap_or("");
        *slot = last.trim_end_matches('%').parse().map_err(|_| {
            CollectError::parse(path, index + 1, format!("not a percentage: {last:?}"))
        })?;
    }
    Ok((unused, metadata))
}

/// Reads one human-number attribute (procfs drops the trailing newline).
fn read_value(path: &Path) -> Result<u64, CollectError> {
    let text = read_attribute(path).map_err(|e| CollectError::read(path, e))?;
    dehumanize(&text)
        .ok_or_else(|| CollectError::parse(path, 1, format!("not a bcache number: {text:?}")))
}

fn read_period(dir: &Path) -> Result<PeriodStats, CollectError> {
    let readaheads = dir.join("cache_readaheads");
    Ok(PeriodStats {
        bypassed: read_value(&dir.join("bypassed"))?,
        cache_bypass_hits: read_value(&dir.join("cache_bypass_hits"))?,
        cache_bypass_misses: read_value(&dir.join("cache_bypass_misses"))?,
        cache_hits: read_value(&dir.join("cache_hits"))?,
        cache_miss_collisions: read_value(&dir.join("cache_miss_collisions"))?,
        cache_misses: read_value(&dir.join("cache_misses"))?,
        cache_readaheads: if readaheads.exists() {
            read_value(&readaheads)?
        } else {
            0
        },
    })
}

/// Reads one cache set directory.
pub fn read_cache_set(
    dir: &Path,
    uuid: &str,
    priority_stats: bool,
) -> Result<CacheSet, CollectError> {
    let value = |name: &str| read_value(&dir.join(name));
    let mut set = CacheSet {
        uuid: uuid.to_string(),
        average_key_size: value("average_key_size")?,
        btree_cache_size: value("btree_cache_size")?,
        cache_available_percent: value("cache_available_percent")?,
        congested: value("congested")?,
        root_usage_percent: value("root_usage_percent")?,
        tree_depth: value("tree_depth")?,
        active_journal_entries: value("internal/active_journal_entries")?,
        btree_nodes: value("internal/btree_nodes")?,
        btree_read_average_duration: value("internal/btree_read_average_duration_us")?,
        cache_read_races: value("internal/cache_read_races")?,
        ..CacheSet::default()
    };
    read_period(&dir.join("stats_five_minute"))?;
    read_period(&dir.join("stats_total"))?;
    for name in glob_dirs(dir, |n| {
        n.strip_prefix("bdev")
            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
    }) {
        let bdev = dir.join(&name);
        let dirty_data = read_value(&bdev.join("dirty_data"))?;
        let debug_path = bdev.join("writeback_rate_debug");
        let writeback = parse_writeback_rate_debug(&read_table_string(&debug_path)?, &debug_path)?;
        read_period(&bdev.join("stats_five_minute"))?;
        let total = read_period(&bdev.join("stats_total"))?;
        set.backing.push(BackingDevice {
            name,
            dirty_data,
            writeback,
            total,
        });
    }
    for name in glob_dirs(dir, |n| {
        n.strip_prefix("cache")
            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
    }) {
        let cache = dir.join(&name);
        let priority = if priority_stats {
            let path = cache.join("priority_stats");
            Some(parse_priority_stats(&read_table_string(&path)?, &path)?)
        } else {
            None
        };
        set.caches.push(CacheDevice {
            io_errors: read_value(&cache.join("io_errors"))?,
            metadata_written: read_value(&cache.join("metadata_written"))?,
            written: read_value(&cache.join("written"))?,
            priority,
            name,
        });
    }
    Ok(set)
}

/// Appends the families of `sets`, in node_exporter's sample order.
pub fn record(sets: &[CacheSet], out: &mut MetricSet) {
    use MetricKind::{Counter, Gauge};
    for set in sets {
        let uuid = set.uuid.as_str();
        let mut set_metric = |name: &'static str, help: &'static str, kind, value: f64| {
            out.family(name, help, kind).push(&[("uuid", uuid)], value);
        };
        set_metric(
            "node_bcache_average_key_size_sectors",
            "Average data per key in the btree (sectors).",
            Gauge,
            set.average_key_size as f64,
        );
        set_metric(
            "node_bcache_btree_cache_size_bytes",
            "Amount of memory currently used by the btree cache.",
            Gauge,
            set.btree_cache_size as f64,
        );
        set_metric("node_bcache_cache_available_percent", "Percentage of cache device without dirty data, usable for writeback (may contain clean cached data).", Gauge, set.cache_available_percent as f64);
        set_metric(
            "node_bcache_congested",
            "Congestion.",
            Gauge,
            set.congested as f64,
        );
        set_metric(
            "node_bcache_root_usage_percent",
            "Percentage of the root btree node in use (tree depth increases if too high).",
            Gauge,
            set.root_usage_percent as f64,
        );
        set_metric(
            "node_bcache_tree_depth",
            "Depth of the btree.",
            Gauge,
            set.tree_depth as f64,
        );
        set_metric(
            "node_bcache_active_journal_entries",
            "Number of journal entries that are newer than the index.",
            Gauge,
            set.active_journal_entries as f64,
        );
        set_metric(
            "node_bcache_btree_nodes",
            "Total nodes in the btree.",
            Gauge,
            set.btree_nodes as f64,
        );
        set_metric(
            "node_bcache_btree_read_average_duration_seconds",
            "Average btree read duration.",
            Gauge,
            set.btree_read_average_duration as f64 * 1e-9,
        );
        set_metric("node_bcache_cache_read_races_total", "Counts instances where while data was being read from the cache, the bucket was reused and invalidated - i.e. where the pointer was stale after the read completed.", Counter, set.cache_read_races as f64);
        for bdev in &set.backing {
            let labels = [("backing_device", bdev.name.as_str()), ("uuid", uuid)];
            let mut bdev_metric = |name: &'static str, help: &'static str, kind, value: f64| {
                out.family(name, help, kind).push(&labels, value);
            };
            let debug = &bdev.writeback;
            bdev_metric(
                "node_bcache_dirty_data_bytes",
                "Amount of dirty data for this backing device in the cache.",
                Gauge,
                bdev.dirty_data as f64,
            );
            bdev_metric(
                "node_bcache_dirty_target_bytes",
                "Current dirty data target threshold for this backing device in bytes.",
                Gauge,
                debug.target as f64,
            );
            bdev_metric(
                "node_bcache_writeback_rate",
                "Current writeback rate for this backing device in bytes.",
                Gauge,
                debug.rate as f64,
            );
            bdev_metric(
                "node_bcache_writeback_rate_proportional_term",
                "Current result of proportional controller, part of writeback rate",
                Gauge,
                debug.proportional as f64,
            );
            bdev_metric(
                "node_bcache_writeback_rate_integral_term",
                "Current result of integral controller, part of writeback rate",
                Gauge,
                debug.integral as f64,
            );
            bdev_metric(
                "node_bcache_writeback_change",
                "Last writeback rate change step for this backing device.",
                Gauge,
                debug.change as f64,
            );
            let total = &bdev.total;
            bdev_metric(
                "node_bcache_bypassed_bytes_total",
                "Amount of IO (both reads and writes) that has bypassed the cache.",
                Counter,
                total.bypassed as f64,
            );
            bdev_metric(
                "node_bcache_cache_hits_total",
                "Hits counted per individual IO as bcache sees them.",
                Counter,
                total.cache_hits as f64,
            );
            bdev_metric(
                "node_bcache_cache_misses_total",
                "Misses counted per individual IO as bcache sees them.",
                Counter,
                total.cache_misses as f64,
            );
            bdev_metric(
                "node_bcache_cache_bypass_hits_total",
                "Hits for IO intended to skip the cache.",
                Counter,
                total.cache_bypass_hits as f64,
            );
            bdev_metric(
                "node_bcache_cache_bypass_misses_total",
                "Misses for IO intended to skip the cache.",
                Counter,
                total.cache_bypass_misses as f64,
            );
            bdev_metric("node_bcache_cache_miss_collisions_total", "Instances where data insertion from cache miss raced with write (data already present).", Counter, total.cache_miss_collisions as f64);
            if total.cache_readaheads != 0 {
                bdev_metric(
                    "node_bcache_cache_readaheads_total",
                    "Count of times readahead occurred.",
                    Counter,
                    total.cache_readaheads as f64,
                );
            }
        }
        for cache in &set.caches {
            let labels = [("cache_device", cache.name.as_str()), ("uuid", uuid)];
            let mut cache_metric = |name: &'static str, help: &'static str, kind, value: f64| {
                out.family(name, help, kind).push(&labels, value);
            };
            cache_metric(
                "node_bcache_io_errors",
                "Number of errors that have occurred, decayed by io_error_halflife.",
                Gauge,
                cache.io_errors as f64,
            );
            cache_metric(
                "node_bcache_metadata_written_bytes_total",
                "Sum of all non data writes (btree writes and all other metadata).",
                Counter,
                cache.metadata_written as f64,
            );
            cache_metric(
                "node_bcache_written_bytes_total",
                "Sum of all data that has been written to the cache.",
                Counter,
                cache.written as f64,
            );
            if let Some((unused, metadata)) = cache.priority {
                cache_metric(
                    "node_bcache_priority_stats_unused_percent",
                    "The percentage of the cache that doesn't contain any data.",
                    Gauge,
                    unused as f64,
                );
                cache_metric(
                    "node_bcache_priority_stats_metadata_percent",
                    "Bcache's metadata overhead.",
                    Gauge,
                    metadata as f64,
                );
            }
        }
    }
    out.sort_series();
}

pub struct Bcache {
    fs_bcache: PathBuf,
    priority_stats: bool,
}

impl Bcache {
    pub fn new(paths: &Paths, priority_stats: bool) -> Self {
        Bcache {
            fs_bcache: paths.sys("fs/bcache"),
            priority_stats,
        }
    }
}

impl Collector for Bcache {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let mut sets = Vec::new();
        for uuid in glob_dirs(&self.fs_bcache, |name| has_parts(name, "", "-")) {
            sets.push(read_cache_set(
                &self.fs_bcache.join(&uuid),
                &uuid,
                self.priority_stats,
            )?);
        }
        record(&sets, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    const UUID: &str = "4b2c9a8e-6f1d-4e3a-9c7b-2d5e8f0a1b3c";

    fn scrape(paths: &Paths, priority: bool) -> Result<MetricSet, CollectError> {
        let mut out = MetricSet::new();
        Bcache::new(paths, priority).update(&mut Sources::default(), &mut out)?;
        Ok(out)
    }

    #[test]
    fn human_numbers_as_procfs_reads_them() {
        assert_eq!(dehumanize("42"), Some(42));
        assert_eq!(
            dehumanize("1.1M"),
            Some(((1.0 + 1.0 / 10.24) * 1048576.0) as u64)
        );
        assert_eq!(dehumanize("512k"), Some(524288));
        assert_eq!(
            dehumanize("3K"),
            Some(0),
            "an unknown suffix multiplies by 0"
        );
        assert_eq!(dehumanize(""), None);
        assert_eq!(dehumanize("x"), None);
        assert_eq!(dehumanize_signed("-13.3k"), Some(-13612));
    }

    #[test]
    fn the_fixture_gives_every_family() {
        let set = scrape(&fixture_paths(), false).unwrap();
        let u = [("uuid", UUID)];
        let b = [("uuid", UUID), ("backing_device", "bdev0")];
        let c = [("uuid", UUID), ("cache_device", "cache0")];
        let hp = |int: f64, frac: f64, mul: f64| (((int + frac / 10.24) * mul) as u64) as f64;
        type Expected<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);
        let expected: &[Expected] = &[
            (
                "node_bcache_average_key_size_sectors",
                &u,
                hp(57.0, 6.0, 1024.0),
            ),
            (
                "node_bcache_btree_cache_size_bytes",
                &u,
                hp(12.0, 3.0, 1048576.0),
            ),
            ("node_bcache_cache_available_percent", &u, 91.0),
            ("node_bcache_congested", &u, 0.0),
            ("node_bcache_root_usage_percent", &u, 3.0),
            ("node_bcache_tree_depth", &u, 2.0),
            ("node_bcache_active_journal_entries", &u, 17.0),
            ("node_bcache_btree_nodes", &u, 1203.0),
            (
                "node_bcache_btree_read_average_duration_seconds",
                &u,
                1882.0 * 1e-9,
            ),
            ("node_bcache_cache_read_races_total", &u, 4.0),
            ("node_bcache_dirty_data_bytes", &b, hp(27.0, 0.0, 1048576.0)),
            (
                "node_bcache_dirty_target_bytes",
                &b,
                hp(51.0, 2.0, 1048576.0),
            ),
            ("node_bcache_writeback_rate", &b, hp(1.0, 1.0, 1048576.0)),
            ("node_bcache_writeback_rate_proportional_term", &b, -13612.0),
            (
                "node_bcache_writeback_rate_integral_term",
                &b,
                -hp(1.0, 1.0, 1048576.0),
            ),
            ("node_bcache_writeback_change", &b, -hp(1.0, 5.0, 1024.0)),
            (
                "node_bcache_bypassed_bytes_total",
                &b,
                hp(2.0, 4.0, 1073741824.0),
            ),
            ("node_bcache_cache_hits_total", &b, 21006311.0),
            ("node_bcache_cache_misses_total", &b, 2911004.0),
            ("node_bcache_cache_bypass_hits_total", &b, 38807.0),
            ("node_bcache_cache_bypass_misses_total", &b, 95521.0),
            ("node_bcache_cache_miss_collisions_total", &b, 127.0),
            ("node_bcache_cache_readaheads_total", &b, 6614.0),
            ("node_bcache_io_errors", &c, 6.0),
            (
                "node_bcache_metadata_written_bytes_total",
                &c,
                hp(512.0, 4.0, 1048576.0),
            ),
            (
                "node_bcache_written_bytes_total",
                &c,
                hp(18.0, 7.0, 1073741824.0),
            ),
        ];
        for (name, labels, value) in expected {
            assert_eq!(set.value(name, labels), Some(*value), "{name}");
        }
        let lines = rendered(&set, |name| name.starts_with("node_bcache_"));
        assert_eq!(lines.len(), expected.len() * 3);
        assert!(set
            .get("node_bcache_priority_stats_unused_percent")
            .is_none());
        assert!(lines.contains(&Line::Type(
            "node_bcache_cache_hits_total".into(),
            "counter".into()
        )));
        assert!(lines.contains(&Line::Help(
            "node_bcache_writeback_rate_integral_term".into(),
            "Current result of integral controller, part of writeback rate".into()
        )));

        let set = scrape(&fixture_paths(), true).unwrap();
        assert_eq!(
            set.value("node_bcache_priority_stats_unused_percent", &c),
            Some(34.0)
        );
        assert_eq!(
            set.value("node_bcache_priority_stats_metadata_percent", &c),
            Some(2.0)
        );
    }

    #[test]
    fn missing_files_fail_except_readaheads() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        assert!(scrape(&paths, false)
            .unwrap()
            .families()
            .iter()
            .all(|f| f.is_empty()));
        let copy = paths.sys("fs/bcache").join(UUID);
        std::fs::create_dir_all(&copy).unwrap();
        let source = fixture_paths().sys("fs/bcache").join(UUID);
        copy_tree(&source, &copy);
        std::fs::remove_file(copy.join("bdev0/stats_total/cache_readaheads")).unwrap();
        let set = scrape(&paths, false).unwrap();
        assert!(set.get("node_bcache_cache_readaheads_total").is_none());
        assert_eq!(
            set.value(
                "node_bcache_cache_hits_total",
                &[("backing_device", "bdev0")]
            ),
            Some(21006311.0)
        );
        std::fs::remove_file(copy.join("stats_five_minute/cache_hits")).unwrap();
        let err = scrape(&paths, false).unwrap_err();
        assert!(
            err.to_string().contains("stats_five_minute/cache_hits"),
            "{err}"
        );
        std::fs::write(
            copy.join("bdev0/writeback_rate_debug"),
            "rate:\t\t1.x/sec\n",
        )
        .unwrap();
        let err =
            parse_writeback_rate_debug("dirty: 1\nrate:\t\t1.x/sec\n", Path::new("w")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "w:2: rate: not a bcache number: \"1.x/sec\""
        );
    }

    fn copy_tree(from: &Path, to: &Path) {
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                std::fs::create_dir_all(&target).unwrap();
                copy_tree(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
}
