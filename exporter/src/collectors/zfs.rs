//! `node_zfs_*` from OpenZFS's kstats in `<procfs>/spl/kstat/zfs/`, named as
//! node_exporter 1.12 names them: the families are not a fixed list but one per kstat.
//!
//! - Module-wide files (`arcstats`, `abdstats`, `dbufstats`, `dmu_tx`, `dnodestats`,
//!   `fm`, `vdev_cache_stats`, `vdev_mirror_stats`, `xuio_stats`, `zfetchstats`,
//!   `zil`): after the `name type data` header, each row of type 4 (uint64) or 3
//!   (int64; `memory_available_bytes` goes negative) becomes an untyped
//!   `node_zfs_<subsystem>_<name>` (`-` in the name becomes `_`) whose HELP is
//!   `kstat.zfs.misc.<file>.<name>`. Other types are skipped. A file that cannot be
//!   opened is skipped (OpenZFS adds and drops them between releases); a file without
//!   the header fails the collector.
//! - Per pool, `<pool>/io` (ZFS before 2.0: a header row of at least 12 names starting
//!   with `nread`, then a row of numbers) gives `node_zfs_zpool_<name>{zpool}`;
//!   `<pool>/objset-*` gives `node_zfs_zpool_dataset_<name>{zpool,dataset}` from its
//!   type-4 rows; `<pool>/state` gives `node_zfs_zpool_state{zpool,state}`, a gauge, 1
//!   for the state the file names (case-insensitive) and 0 for the six others.
//!
//! Surprising, and node_exporter's: the `dataset` label is the `dataset_name` row from
//! where its value's first word first appears in the row, to the end of the line, so a
//! name with spaces is kept whole (1.9, #3186) but a dataset whose first word occurs
//! in `dataset_name` itself (say `a`) is cut from there; rows before `dataset_name` get
//! empty `zpool` and `dataset` labels.
//!
//! No `spl/kstat/zfs` (no ZFS module) is nothing to report, like node_exporter's
//! ErrNoData.

use std::path::{Path, PathBuf};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::read_table_string;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "zfs",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(Zfs::new(ctx.paths))),
};

/// node_exporter's subsystem (metric name part) for each module-wide kstat file.
const SUBSYSTEMS: [(&str, &str); 11] = [
    ("zfs_abd", "abdstats"),
    ("zfs_arc", "arcstats"),
    ("zfs_dbuf", "dbufstats"),
    ("zfs_dmu_tx", "dmu_tx"),
    ("zfs_dnode", "dnodestats"),
    ("zfs_fm", "fm"),
    ("zfs_vdev_cache", "vdev_cache_stats"),
    ("zfs_vdev_mirror", "vdev_mirror_stats"),
    ("zfs_xuio", "xuio_stats"),
    ("zfs_zfetch", "zfetchstats"),
    ("zfs_zil", "zil"),
];

/// The states `node_zfs_zpool_state` always lists, in node_exporter's order.
const POOL_STATES: [&str; 7] = [
    "online",
    "degraded",
    "faulted",
    "offline",
    "removed",
    "unavail",
    "suspended",
];

const KSTAT_INT64: &str = "3";
const KSTAT_UINT64: &str = "4";

/// One named kstat value.
#[derive(Debug, Clone, PartialEq)]
pub struct Kstat {
    pub name: String,
    pub value: f64,
}

/// The last `.`-separated part of a kstat name, `-` made `_`: node_exporter's
/// `metricName`.
fn metric_part(name: &str) -> String {
    name.rsplit('.').next().unwrap_or(name).replace('-', "_")
}

/// Whether a line is the `name type data` header of a named kstat.
fn is_header(fields: &[&str]) -> bool {
    fields == ["name", "type", "data"]
}

/// The uint64 and int64 rows of a named kstat file (`arcstats`, ...).
pub fn parse_named(text: &str, path: &Path) -> Result<Vec<Kstat>, CollectError> {
    let mut header = false;
    let mut stats = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if !header {
            header = is_header(&fields);
            continue;
        }
        if fields.len() < 3 {
            continue;
        }
        let value = match fields[1] {
            KSTAT_UINT64 => fields[2].parse::<u64>().map(|v| v as f64).ok(),
            KSTAT_INT64 => fields[2].parse::<i64>().map(|v| v as f64).ok(),
            _ => continue,
        };
        let value = value.ok_or_else(|| {
            CollectError::parse(
                path,
                index + 1,
                format!("{}: not an integer: {:?}", fields[0], fields[2]),
            )
        })?;
        stats.push(Kstat {
            name: fields[0].to_string(),
            value,
        });
    }
    if !header {
        return Err(CollectError::parse(path, 0, "no \"name type data\" header"));
    }
    Ok(stats)
}

/// A pool's `io` kstat: the header row's names with the next rows' numbers.
pub fn parse_pool_io(text: &str, path: &Path) -> Result<Vec<Kstat>, CollectError> {
    let mut names: Option<Vec<&str>> = None;
    let mut stats = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(names) = &names else {
            if fields.len() >= 12 && fields[0] == "nread" {
                names = Some(fields);
            }
            continue;
        };
        if fields.len() < names.len() {
            return Err(CollectError::parse(
                path,
                index + 1,
                format!("{} values for {} names", fields.len(), names.len()),
            ));
        }
        for (name, field) in names.iter().zip(&fields) {
            let value: u64 = field.parse().map_err(|_| {
                CollectError::parse(
                    path,
                    index + 1,
                    format!("{name}: not an unsigned integer: {field:?}"),
                )
            })?;
            stats.push(Kstat {
                name: (*name).to_string(),
                value: value as f64,
            });
        }
    }
    Ok(stats)
}

/// One dataset's `objset-*` kstat.
#[derive(Debug, Clone, PartialEq)]
pub struct Objset {
    /// Per uint64 row: the pool and dataset known when the row was read, the row.
    pub rows: Vec<(String, String, Kstat)>,
}

pub fn parse_objset(text: &str, pool: &str, path: &Path) -> Result<Objset, CollectError> {
    let mut header = false;
    let (mut zpool, mut dataset) = (String::new(), String::new());
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if !header {
            header = is_header(&fields);
            continue;
        }
        if fields.len() < 3 {
            continue;
        }
        if fields[0] == "dataset_name" {
            zpool = pool.to_string();
            let start = line.find(fields[2]).unwrap_or(0);
            dataset = line[start..].to_string();
            continue;
        }
        if fields[1] != KSTAT_UINT64 {
            continue;
        }
        let value: u64 = fields[2].parse().map_err(|_| {
            CollectError::parse(
                path,
                index + 1,
                format!("{}: not an unsigned integer: {:?}", fields[0], fields[2]),
            )
        })?;
        rows.push((
            zpool.clone(),
            dataset.clone(),
            Kstat {
                name: fields[0].to_string(),
                value: value as f64,
            },
        ));
    }
    if !header {
        return Err(CollectError::parse(path, 0, "no \"name type data\" header"));
    }
    Ok(Objset { rows })
}

/// The state a pool's `state` file names (its first line), lower-cased.
pub fn parse_pool_state(text: &str) -> String {
    text.lines().next().unwrap_or("").to_lowercase()
}

pub struct Zfs {
    base: PathBuf,
}

impl Zfs {
    pub fn new(paths: &Paths) -> Self {
        Zfs {
            base: paths.proc("spl/kstat/zfs"),
        }
    }

    /// The pool directories' entries holding `file` (or, with `prefix`, every entry
    /// starting with it), sorted as Go's `filepath.Glob` returns them.
    fn pool_files(&self, pools: &[String], file: &str, prefix: bool) -> Vec<(String, PathBuf)> {
        let mut found = Vec::new();
        for pool in pools {
            let dir = self.base.join(pool);
            if !prefix {
                let path = dir.join(file);
                if std::fs::symlink_metadata(&path).is_ok() {
                    found.push((pool.clone(), path));
                }
                continue;
            }
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(file))
                .collect();
            names.sort();
            found.extend(names.into_iter().map(|n| (pool.clone(), dir.join(n))));
        }
        found
    }

    fn update_pools(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let Ok(entries) = std::fs::read_dir(&self.base) else {
            return Ok(());
        };
        let mut pools: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        pools.sort();

        for (pool, path) in self.pool_files(&pools, "io", false) {
            let text = read_table_string(&path)?;
            for stat in parse_pool_io(&text, &path)? {
                let help = format!("kstat.zfs.misc.io.{}", stat.name);
                let name = format!("node_zfs_zpool_{}", metric_part(&stat.name));
                push(
                    out,
                    name,
                    help,
                    MetricKind::Untyped,
                    &[("zpool", &pool)],
                    stat.value,
                );
            }
        }
        for (pool, path) in self.pool_files(&pools, "objset-", true) {
            let text = read_table_string(&path)?;
            for (zpool, dataset, stat) in parse_objset(&text, &pool, &path)?.rows {
                let help = format!("kstat.zfs.misc.objset.{}", stat.name);
                let name = format!("node_zfs_zpool_dataset_{}", metric_part(&stat.name));
                push(
                    out,
                    name,
                    help,
                    MetricKind::Untyped,
                    &[("dataset", &dataset), ("zpool", &zpool)],
                    stat.value,
                );
            }
        }
        for (pool, path) in self.pool_files(&pools, "state", false) {
            let text = read_table_string(&path)?;
            let actual = parse_pool_state(&text);
            let family = out.family(
                "node_zfs_zpool_state",
                "kstat.zfs.misc.state",
                MetricKind::Gauge,
            );
            for state in POOL_STATES {
                let active = if actual == state { 1.0 } else { 0.0 };
                family.push(&[("state", state), ("zpool", &pool)], active);
            }
        }
        // Series by label values, as node_exporter's registry writes them.
        out.sort_series();
        Ok(())
    }
}

/// Adds one sample to a family whose name comes from a kstat; a name the format
/// cannot carry is skipped (node_exporter would fail the scrape on it).
fn push(
    out: &mut MetricSet,
    name: String,
    help: String,
    kind: MetricKind,
    labels: &[(&str, &str)],
    value: f64,
) {
    match out.checked_family(name, help, kind) {
        Ok(family) => family.push(labels, value),
        Err(error) => tracing::debug!(%error, "skipping a ZFS kstat"),
    }
}

impl Collector for Zfs {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        if std::fs::metadata(&self.base).is_err() {
            return Err(CollectError::NoData(format!(
                "{} does not exist",
                self.base.display()
            )));
        }
        for (subsystem, file) in SUBSYSTEMS {
            let path = self.base.join(file);
            // Files come and go between OpenZFS releases: one that cannot be read is
            // skipped, as node_exporter skips one it cannot open.
            let Ok(text) = read_table_string(&path) else {
                continue;
            };
            for stat in parse_named(&text, &path)? {
                let name = format!("node_{subsystem}_{}", metric_part(&stat.name));
                let help = format!("kstat.zfs.misc.{file}.{}", stat.name);
                push(out, name, help, MetricKind::Untyped, &[], stat.value);
            }
        }
        let mut pools = MetricSet::new();
        self.update_pools(&mut pools)?;
        out.append(pools);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    fn scrape(paths: &Paths) -> Result<MetricSet, CollectError> {
        let mut out = MetricSet::new();
        Zfs::new(paths).update(&mut Sources::default(), &mut out)?;
        Ok(out)
    }

    #[test]
    fn module_wide_kstats() {
        let set = scrape(&fixture_paths()).unwrap();
        let v = |name: &str| set.value(name, &[]);
        assert_eq!(v("node_zfs_arc_hits"), Some(8772612.0));
        assert_eq!(v("node_zfs_arc_misses"), Some(604635.0));
        assert_eq!(v("node_zfs_arc_c_max"), Some(4105306112.0));
        // int64 (type 3) may be negative.
        assert_eq!(v("node_zfs_arc_memory_available_bytes"), Some(-58163200.0));
        assert_eq!(v("node_zfs_abd_struct_size"), Some(1012560.0));
        assert_eq!(v("node_zfs_dbuf_cache_count"), Some(2921.0));
        assert_eq!(v("node_zfs_dmu_tx_dmu_tx_assigned"), Some(1129473.0));
        assert_eq!(v("node_zfs_dnode_dnode_hold_alloc_hits"), Some(2243377.0));
        // `-` becomes `_`.
        assert_eq!(v("node_zfs_fm_erpt_dropped"), Some(18.0));
        assert_eq!(v("node_zfs_fm_fmri_set_failed"), Some(2.0));
        assert_eq!(v("node_zfs_vdev_mirror_rotating_linear"), Some(3.0));
        assert_eq!(v("node_zfs_vdev_cache_delegations"), Some(40.0));
        assert_eq!(v("node_zfs_xuio_onloan_read_buf"), Some(32.0));
        assert_eq!(v("node_zfs_zfetch_hits"), Some(7067992.0));
        assert_eq!(v("node_zfs_zil_zil_commit_count"), Some(13.0));
        assert_eq!(set.get("node_zfs_arc_hits").unwrap().len(), 1);
        let arc_hits = rendered(&set, |f| f == "node_zfs_arc_hits");
        assert_eq!(
            arc_hits,
            vec![
                Line::Help(
                    "node_zfs_arc_hits".into(),
                    "kstat.zfs.misc.arcstats.hits".into()
                ),
                Line::Type("node_zfs_arc_hits".into(), "untyped".into()),
                Line::Sample("node_zfs_arc_hits".into(), vec![], 8772612.0),
            ]
        );
        let erpt = rendered(&set, |f| f == "node_zfs_fm_erpt_dropped");
        assert_eq!(
            erpt[0],
            Line::Help(
                "node_zfs_fm_erpt_dropped".into(),
                "kstat.zfs.misc.fm.erpt-dropped".into()
            )
        );
    }

    #[test]
    fn pool_io_objsets_and_state() {
        let set = scrape(&fixture_paths()).unwrap();
        let io = rendered(&set, |f| f == "node_zfs_zpool_nread");
        assert_eq!(
            io,
            vec![
                Line::Help(
                    "node_zfs_zpool_nread".into(),
                    "kstat.zfs.misc.io.nread".into()
                ),
                Line::Type("node_zfs_zpool_nread".into(), "untyped".into()),
                Line::Sample(
                    "node_zfs_zpool_nread".into(),
                    vec![("zpool".into(), "tank".into())],
                    1884160.0
                ),
            ]
        );
        assert_eq!(
            set.value("node_zfs_zpool_rcnt", &[("zpool", "tank")]),
            Some(2.0)
        );
        assert_eq!(set.get("node_zfs_zpool_rupdate").unwrap().len(), 1);
        let dataset = |name: &str, zpool: &str, dataset: &str| {
            set.value(name, &[("zpool", zpool), ("dataset", dataset)])
        };
        assert_eq!(
            dataset("node_zfs_zpool_dataset_writes", "tank", "tank"),
            Some(4112.0)
        );
        assert_eq!(
            dataset("node_zfs_zpool_dataset_nread", "tank", "tank/home media"),
            Some(901112.0)
        );
        assert_eq!(
            dataset("node_zfs_zpool_dataset_nunlinked", "backup", "backup"),
            Some(6.0)
        );
        let writes = rendered(&set, |f| f == "node_zfs_zpool_dataset_writes");
        assert_eq!(
            writes[0],
            Line::Help(
                "node_zfs_zpool_dataset_writes".into(),
                "kstat.zfs.misc.objset.writes".into()
            )
        );
        let datasets: Vec<String> = writes[2..]
            .iter()
            .map(|l| match l {
                Line::Sample(_, labels, _) => format!("{}:{}", labels[1].1, labels[0].1),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            datasets,
            ["backup:backup", "tank:tank", "tank:tank/home media"]
        );
        let state = |zpool: &str, state: &str| {
            set.value(
                "node_zfs_zpool_state",
                &[("zpool", zpool), ("state", state)],
            )
        };
        assert_eq!(state("tank", "online"), Some(1.0));
        assert_eq!(state("tank", "degraded"), Some(0.0));
        assert_eq!(state("backup", "degraded"), Some(1.0));
        assert_eq!(state("backup", "suspended"), Some(0.0));
        let states = rendered(&set, |f| f == "node_zfs_zpool_state");
        assert_eq!(
            states[1],
            Line::Type("node_zfs_zpool_state".into(), "gauge".into())
        );
        assert_eq!(states.len(), 2 + 14);
    }

    #[test]
    fn dataset_name_is_cut_where_node_exporter_cuts_it() {
        let path = Path::new("objset-0x1");
        let text = "1 1 0x01\nname type data\nwrites 4 5\ndataset_name 7 a\nreads 4 6\n";
        let objset = parse_objset(text, "p", path).unwrap();
        assert_eq!(objset.rows[0].0, "", "a row before dataset_name");
        assert_eq!(objset.rows[1].0, "p");
        assert_eq!(objset.rows[1].1, "ataset_name 7 a");
    }

    #[test]
    fn only_uint64_and_int64_rows_count() {
        let path = Path::new("arcstats");
        let text = "1 1 0x01 4 0 0 0\nname type data\nlabel 7 abc\nsmall 2 5\nbig 4 18446744073709551615\nneg 3 -9\n";
        let stats = parse_named(text, path).unwrap();
        let names: Vec<(&str, f64)> = stats.iter().map(|s| (s.name.as_str(), s.value)).collect();
        assert_eq!(names, [("big", 18446744073709551615.0), ("neg", -9.0)]);
        assert_eq!(metric_part("a.b-c-d"), "b_c_d");
    }

    #[test]
    fn malformed_files_name_the_place() {
        let path = Path::new("/proc/spl/kstat/zfs/arcstats");
        let err = parse_named("9 1 0x01\nhits 4 1\n", path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/spl/kstat/zfs/arcstats:0: no \"name type data\" header"
        );
        let err = parse_named("name type data\nhits 4 -1\n", path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/spl/kstat/zfs/arcstats:2: hits: not an integer: \"-1\""
        );
        let io = Path::new("/proc/spl/kstat/zfs/tank/io");
        let header =
            "nread nwritten reads writes wtime wlentime wupdate rtime rlentime rupdate wcnt rcnt";
        let err = parse_pool_io(&format!("{header}\n1 2 3\n"), io).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/spl/kstat/zfs/tank/io:2: 3 values for 12 names"
        );
        assert_eq!(parse_pool_state(""), "");
        assert_eq!(parse_pool_state("SUSPENDED\n"), "suspended");
    }

    #[test]
    fn no_module_is_no_data_and_an_empty_one_is_nothing() {
        let root = tempfile::tempdir().unwrap();
        let err = scrape(&Paths::under(root.path())).unwrap_err();
        assert!(matches!(err, CollectError::NoData(_)), "{err}");
        std::fs::create_dir_all(root.path().join("proc/spl/kstat/zfs")).unwrap();
        let set = scrape(&Paths::under(root.path())).unwrap();
        assert!(set.families().is_empty());
    }
}
