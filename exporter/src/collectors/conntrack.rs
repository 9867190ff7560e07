//! `node_nf_conntrack_entries`, `node_nf_conntrack_entries_limit` from
//! `<procfs>/sys/net/netfilter/nf_conntrack_{count,max}`, and the
//! `node_nf_conntrack_stat_*` families: the per-CPU rows of
//! `<procfs>/net/stat/nf_conntrack` summed over all CPUs.
//!
//! Without the nf_conntrack module none of these files exists: like node_exporter,
//! the collector then has no data (success 0, logged at debug). The stat table is
//! hexadecimal, one row per possible CPU; kernels before 2.6.35 have no
//! `search_restart` column (16 columns, counted as 0). The stat families are gauges in
//! node_exporter although they only grow; we keep its types.

use std::io;
use std::path::{Path, PathBuf};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::read_table_string;
use crate::sources::Sources;
use edge_common::exposition::MetricSet;

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "conntrack",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(Conntrack::new(ctx.paths))),
};

pub struct Conntrack {
    count: PathBuf,
    max: PathBuf,
    stat: PathBuf,
}

impl Conntrack {
    pub fn new(paths: &Paths) -> Self {
        Conntrack {
            count: paths.proc("sys/net/netfilter/nf_conntrack_count"),
            max: paths.proc("sys/net/netfilter/nf_conntrack_max"),
            stat: paths.proc("net/stat/nf_conntrack"),
        }
    }
}

/// The columns of `/proc/net/stat/nf_conntrack` that are exported, summed over CPUs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ConntrackStat {
    pub found: u64,
    pub invalid: u64,
    pub ignore: u64,
    pub insert: u64,
    pub insert_failed: u64,
    pub drop: u64,
    pub early_drop: u64,
    pub search_restart: u64,
}

/// Column positions, fixed since 2.6.35 whatever the header calls them (4.x renamed
/// `searched` to `clashres` and `delete_list` to `chainlength`).
const FOUND: usize = 2;
const INVALID: usize = 4;
const IGNORE: usize = 5;
const INSERT: usize = 8;
const INSERT_FAILED: usize = 9;
const DROP: usize = 10;
const EARLY_DROP: usize = 11;
const SEARCH_RESTART: usize = 16;

/// Sums the per-CPU rows (after the header line) of the stat table.
pub fn parse_conntrack_stat(text: &str, path: &Path) -> Result<ConntrackStat, CollectError> {
    let mut sum = ConntrackStat::default();
    for (index, line) in text.lines().enumerate().skip(1) {
        let number = index + 1;
        let mut row = [0u64; 17];
        let mut columns = 0;
        for field in line.split_whitespace() {
            let slot = row.get_mut(columns).ok_or_else(|| {
                CollectError::parse(path, number, "more than 17 columns".to_string())
            })?;
            *slot = u64::from_str_radix(field, 16).map_err(|_| {
                CollectError::parse(
                    path,
                    number,
                    format!(
                        "column {}: not a hexadecimal number: {field:?}",
                        columns + 1
                    ),
                )
            })?;
            columns += 1;
        }
        if columns < 16 {
            return Err(CollectError::parse(
                path,
                number,
                format!("{columns} columns, expected 16 or 17"),
            ));
        }
        sum.found += row[FOUND];
        sum.invalid += row[INVALID];
        sum.ignore += row[IGNORE];
        sum.insert += row[INSERT];
        sum.insert_failed += row[INSERT_FAILED];
        sum.drop += row[DROP];
        sum.early_drop += row[EARLY_DROP];
        sum.search_restart += row[SEARCH_RESTART];
    }
    Ok(sum)
}

/// Reads a file holding one unsigned integer; a missing file means no conntrack.
fn read_number(path: &Path) -> Result<u64, CollectError> {
    let text = read_table_string(path).map_err(not_loaded)?;
    let text = text.trim();
    text.parse()
        .map_err(|_| CollectError::parse(path, 1, format!("not a number: {text:?}")))
}

/// node_exporter's "conntrack probably not loaded": ENOENT is no data, not a failure.
fn not_loaded(error: CollectError) -> CollectError {
    match error {
        CollectError::Read { path, source } if source.kind() == io::ErrorKind::NotFound => {
            CollectError::NoData(format!("{}: conntrack probably not loaded", path.display()))
        }
        other => other,
    }
}

impl Collector for Conntrack {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let count = read_number(&self.count)?;
        let max = read_number(&self.max)?;
        let text = read_table_string(&self.stat).map_err(not_loaded)?;
        let stat = parse_conntrack_stat(&text, &self.stat)?;
        out.gauge(
            "node_nf_conntrack_entries",
            "Number of currently allocated flow entries for connection tracking.",
            &[],
            count as f64,
        );
        out.gauge(
            "node_nf_conntrack_entries_limit",
            "Maximum size of connection tracking table.",
            &[],
            max as f64,
        );
        for (name, help, value) in [
            (
                "node_nf_conntrack_stat_found",
                "Number of searched entries which were successful.",
                stat.found,
            ),
            (
                "node_nf_conntrack_stat_invalid",
                "Number of packets seen which can not be tracked.",
                stat.invalid,
            ),
            (
                "node_nf_conntrack_stat_ignore",
                "Number of packets seen which are already connected to a conntrack entry.",
                stat.ignore,
            ),
            (
                "node_nf_conntrack_stat_insert",
                "Number of entries inserted into the list.",
                stat.insert,
            ),
            (
                "node_nf_conntrack_stat_insert_failed",
                "Number of entries for which list insertion was attempted but failed.",
                stat.insert_failed,
            ),
            (
                "node_nf_conntrack_stat_drop",
                "Number of packets dropped due to conntrack failure.",
                stat.drop,
            ),
            (
                "node_nf_conntrack_stat_early_drop",
                "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached.",
                stat.early_drop,
            ),
            (
                "node_nf_conntrack_stat_search_restart",
                "Number of conntrack table lookups which had to be restarted due to hashtable resizes.",
                stat.search_restart,
            ),
        ] {
            out.gauge(name, help, &[], value as f64);
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
        Conntrack::new(paths).update(&mut Sources::default(), &mut set)?;
        Ok(set)
    }

    #[test]
    fn reports_the_fixture_sums_with_node_exporters_help() {
        let set = scrape(&fixture_paths()).unwrap();
        let lines = rendered(&set, |name| name.starts_with("node_nf_conntrack"));
        let sample = |name: &str, value: f64| Line::Sample(name.into(), vec![], value);
        // Sums over the four CPU rows of proc/net/stat/nf_conntrack (hexadecimal).
        assert!(lines.contains(&sample("node_nf_conntrack_entries", 1234.0)));
        assert!(lines.contains(&sample("node_nf_conntrack_entries_limit", 262144.0)));
        assert!(lines.contains(&sample("node_nf_conntrack_stat_found", 1766.0)));
        assert!(lines.contains(&sample("node_nf_conntrack_stat_invalid", 1034.0)));
        assert!(lines.contains(&sample("node_nf_conntrack_stat_ignore", 2068.0)));
        assert!(lines.contains(&sample("node_nf_conntrack_stat_insert", 5182.0)));
        assert!(lines.contains(&sample("node_nf_conntrack_stat_insert_failed", 10.0)));
        assert!(lines.contains(&sample("node_nf_conntrack_stat_drop", 20.0)));
        assert!(lines.contains(&sample("node_nf_conntrack_stat_early_drop", 34.0)));
        assert!(lines.contains(&sample("node_nf_conntrack_stat_search_restart", 6202.0)));
        assert!(lines.contains(&Line::Help(
            "node_nf_conntrack_stat_early_drop".into(),
            "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached.".into()
        )));
        assert!(lines.contains(&Line::Type(
            "node_nf_conntrack_stat_found".into(),
            "gauge".into()
        )));
        assert_eq!(lines.len(), 30, "10 families, one sample each");
    }

    #[test]
    fn sums_rows_and_accepts_the_old_16_column_table() {
        let p = Path::new("nf_conntrack");
        let old = "entries searched found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error expect_new expect_create expect_delete\n\
                   00000001 00000000 0000000a 00000000 00000002 00000003 00000000 00000000 00000004 00000005 00000006 00000007 00000000 00000000 00000000 00000000\n";
        let stat = parse_conntrack_stat(old, p).unwrap();
        assert_eq!(
            stat,
            ConntrackStat {
                found: 10,
                invalid: 2,
                ignore: 3,
                insert: 4,
                insert_failed: 5,
                drop: 6,
                early_drop: 7,
                search_restart: 0,
            }
        );
    }

    #[test]
    fn parse_errors_name_the_line() {
        let p = Path::new("/proc/net/stat/nf_conntrack");
        let err = parse_conntrack_stat("header\n0 0 0\n", p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/net/stat/nf_conntrack:2: 3 columns, expected 16 or 17"
        );
        let err = parse_conntrack_stat("header\n0 0 zz\n", p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/net/stat/nf_conntrack:2: column 3: not a hexadecimal number: \"zz\""
        );
        let row = vec!["0"; 18].join(" ");
        let err = parse_conntrack_stat(&format!("h\n{row}\n"), p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/net/stat/nf_conntrack:2: more than 17 columns"
        );
    }

    #[test]
    fn without_the_module_there_is_no_data() {
        let dir = tempfile::tempdir().unwrap();
        let err = scrape(&Paths::under(dir.path())).unwrap_err();
        assert!(matches!(err, CollectError::NoData(_)), "{err}");
        // count and max present but the stat table missing: still "not loaded".
        let netfilter = dir.path().join("proc/sys/net/netfilter");
        std::fs::create_dir_all(&netfilter).unwrap();
        std::fs::write(netfilter.join("nf_conntrack_count"), "1\n").unwrap();
        std::fs::write(netfilter.join("nf_conntrack_max"), "2\n").unwrap();
        let err = scrape(&Paths::under(dir.path())).unwrap_err();
        assert!(matches!(err, CollectError::NoData(_)), "{err}");
        std::fs::write(netfilter.join("nf_conntrack_max"), "x\n").unwrap();
        let err = scrape(&Paths::under(dir.path())).unwrap_err();
        assert!(err
            .to_string()
            .ends_with("nf_conntrack_max:1: not a number: \"x\""));
    }
}
