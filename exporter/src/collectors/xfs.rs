//! `node_xfs_*_total{device}` from `<sysfs>/fs/xfs/<device>/stats/stats`, one file per
//! mounted XFS filesystem (kernel 4.4+), as node_exporter 1.12 does (procfs `SysStats`).
//!
//! Surprising but upstream: `/proc/fs/xfs/stat` (the host-wide sum) is **not** read by
//! the collector, only the per-device files. Every line but `xpc` must hold unsigned
//! 32-bit numbers or the whole file fails (procfs parses them all as `uint32`), and the
//! lines node_exporter exports must have exactly their documented number of fields.
//! The `rw` line is `<write calls> <read calls>` (the kernel's `xs_write_calls`,
//! `xs_read_calls`), as procfs reads it since prometheus/procfs#343 (node_exporter 1.1).
//! No `fs/xfs` directory (no XFS mounted) is success with nothing, as in node_exporter.

use std::path::{Path, PathBuf};

use super::sysfs_dir::sorted_names;
use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::read_table_string;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "xfs",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(Xfs::new(ctx.paths))),
};

/// An exported counter: its name after `node_xfs_`, its help, the stats line it comes
/// from, how many fields that line must have, and which field it is.
struct Counter {
    name: &'static str,
    help: &'static str,
    line: &'static str,
    field: usize,
}

/// The lines node_exporter exports from, and their field counts (vnodes: 7 or 8).
const LINES: &[(&str, &[usize])] = &[
    ("extent_alloc", &[4]),
    ("abt", &[4]),
    ("blk_map", &[7]),
    ("bmbt", &[4]),
    ("dir", &[4]),
    ("trans", &[3]),
    ("ig", &[7]),
    ("log", &[5]),
    ("rw", &[2]),
    ("attr", &[4]),
    ("icluster", &[3]),
    ("vnodes", &[7, 8]),
    ("buf", &[9]),
];

macro_rules! counters {
    ($(($name:literal, $line:literal, $field:literal, $help:literal)),* $(,)?) => {
        &[$(Counter { name: concat!("node_xfs_", $name), help: $help, line: $line, field: $field }),*]
    };
}

const COUNTERS: &[Counter] = counters![
    ("extent_allocation_extents_allocated_total", "extent_alloc", 0, "Number of extents allocated for a filesystem."),
    ("extent_allocation_blocks_allocated_total", "extent_alloc", 1, "Number of blocks allocated for a filesystem."),
    ("extent_allocation_extents_freed_total", "extent_alloc", 2, "Number of extents freed for a filesystem."),
    ("extent_allocation_blocks_freed_total", "extent_alloc", 3, "Number of blocks freed for a filesystem."),
    ("allocation_btree_lookups_total", "abt", 0, "Number of allocation B-tree lookups for a filesystem."),
    ("allocation_btree_compares_total", "abt", 1, "Number of allocation B-tree compares for a filesystem."),
    ("allocation_btree_records_inserted_total", "abt", 2, "Number of allocation B-tree records inserted for a filesystem."),
    ("allocation_btree_records_deleted_total", "abt", 3, "Number of allocation B-tree records deleted for a filesystem."),
    ("block_mapping_reads_total", "blk_map", 0, "Number of block map for read operations for a filesystem."),
    ("block_mapping_writes_total", "blk_map", 1, "Number of block map for write operations for a filesystem."),
    ("block_mapping_unmaps_total", "blk_map", 2, "Number of block unmaps (deletes) for a filesystem."),
    ("block_mapping_extent_list_insertions_total", "blk_map", 3, "Number of extent list insertions for a filesystem."),
    ("block_mapping_extent_list_deletions_total", "blk_map", 4, "Number of extent list deletions for a filesystem."),
    ("block_mapping_extent_list_lookups_total", "blk_map", 5, "Number of extent list lookups for a filesystem."),
    ("block_mapping_extent_list_compares_total", "blk_map", 6, "Number of extent list compares for a filesystem."),
    ("block_map_btree_lookups_total", "bmbt", 0, "Number of block map B-tree lookups for a filesystem."),
    ("block_map_btree_compares_total", "bmbt", 1, "Number of block map B-tree compares for a filesystem."),
    ("block_map_btree_records_inserted_total", "bmbt", 2, "Number of block map B-tree records inserted for a filesystem."),
    ("block_map_btree_records_deleted_total", "bmbt", 3, "Number of block map B-tree records deleted for a filesystem."),
    ("directory_operation_lookup_total", "dir", 0, "Number of file name directory lookups which miss the operating systems directory name lookup cache."),
    ("directory_operation_create_total", "dir", 1, "Number of times a new directory entry was created for a filesystem."),
    ("directory_operation_remove_total", "dir", 2, "Number of times an existing directory entry was created for a filesystem."),
    ("directory_operation_getdents_total", "dir", 3, "Number of times the directory getdents operation was performed for a filesystem."),
    ("inode_operation_attempts_total", "ig", 0, "Number of times the OS looked for an XFS inode in the inode cache."),
    ("inode_operation_found_total", "ig", 1, "Number of times the OS looked for and found an XFS inode in the inode cache."),
    ("inode_operation_recycled_total", "ig", 2, "Number of times the OS found an XFS inode in the cache, but could not use it as it was being recycled."),
    ("inode_operation_missed_total", "ig", 3, "Number of times the OS looked for an XFS inode in the cache, but did not find it."),
    ("inode_operation_duplicates_total", "ig", 4, "Number of times the OS tried to add a missing XFS inode to the inode cache, but found it had already been added by another process."),
    ("inode_operation_reclaims_total", "ig", 5, "Number of times the OS reclaimed an XFS inode from the inode cache to free memory for another purpose."),
    ("inode_operation_attribute_changes_total", "ig", 6, "Number of times the OS explicitly changed the attributes of an XFS inode."),
    ("read_calls_total", "rw", 1, "Number of read(2) system calls made to files in a filesystem."),
    ("write_calls_total", "rw", 0, "Number of write(2) system calls made to files in a filesystem."),
    ("vnode_active_total", "vnodes", 0, "Number of vnodes not on free lists for a filesystem."),
    ("vnode_allocate_total", "vnodes", 1, "Number of times vn_alloc called for a filesystem."),
    ("vnode_get_total", "vnodes", 2, "Number of times vn_get called for a filesystem."),
    ("vnode_hold_total", "vnodes", 3, "Number of times vn_hold called for a filesystem."),
    ("vnode_release_total", "vnodes", 4, "Number of times vn_rele called for a filesystem."),
    ("vnode_reclaim_total", "vnodes", 5, "Number of times vn_reclaim called for a filesystem."),
    ("vnode_remove_total", "vnodes", 6, "Number of times vn_remove called for a filesystem."),
];

/// The exported values of one stats file, in [`COUNTERS`] order (absent lines are 0).
pub type XfsValues = [u32; COUNTERS.len()];

pub struct Xfs {
    fs_xfs: PathBuf,
}

impl Xfs {
    pub fn new(paths: &Paths) -> Self {
        Xfs {
            fs_xfs: paths.sys("fs/xfs"),
        }
    }

    /// `(device, stats file)` for every `fs/xfs/*/stats/stats`, sorted by device.
    fn stats_files(&self) -> Vec<(String, PathBuf)> {
        sorted_names(&self.fs_xfs)
            .unwrap_or_default()
            .into_iter()
            .map(|device| {
                let file = self.fs_xfs.join(&device).join("stats/stats");
                (device, file)
            })
            .filter(|(_, file)| file.is_file())
            .collect()
    }
}

/// Parses a stats file (`/proc/fs/xfs/stat` format) into the exported values.
pub fn parse_stats(text: &str, path: &Path) -> Result<XfsValues, CollectError> {
    let mut values: XfsValues = [0; COUNTERS.len()];
    for (index, line) in text.lines().enumerate() {
        let mut fields = line.split_whitespace();
        let (Some(label), Some(_)) = (fields.next(), fields.clone().next()) else {
            continue;
        };
        if label == "xpc" {
            for field in fields {
                field.parse::<u64>().map_err(|_| {
                    CollectError::parse(path, index + 1, format!("xpc: not a number: {field:?}"))
                })?;
            }
            continue;
        }
        let numbers = fields
            .map(|field| {
                field.parse::<u32>().map_err(|_| {
                    CollectError::parse(
                        path,
                        index + 1,
                        format!("{label}: not an unsigned 32-bit number: {field:?}"),
                    )
                })
            })
            .collect::<Result<Vec<u32>, _>>()?;
        let Some((_, counts)) = LINES.iter().find(|(name, _)| *name == label) else {
            continue;
        };
        if !counts.contains(&numbers.len()) {
            return Err(CollectError::parse(
                path,
                index + 1,
                format!("{label}: {} values, expected {counts:?}", numbers.len()),
            ));
        }
        for (slot, counter) in values.iter_mut().zip(COUNTERS) {
            if counter.line == label {
                *slot = numbers[counter.field];
            }
        }
    }
    Ok(values)
}

/// Appends the families of `filesystems` (sorted by device).
pub fn record(filesystems: &[(String, XfsValues)], out: &mut MetricSet) {
    for (i, counter) in COUNTERS.iter().enumerate() {
        let family = out.family(counter.name, counter.help, MetricKind::Counter);
        for (device, values) in filesystems {
            family.push(&[("device", device)], f64::from(values[i]));
        }
    }
}

impl Collector for Xfs {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let mut filesystems = Vec::new();
        for (device, file) in self.stats_files() {
            let text = read_table_string(&file)?;
            filesystems.push((device, parse_stats(&text, &file)?));
        }
        record(&filesystems, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    fn scrape(paths: &Paths) -> Result<MetricSet, CollectError> {
        let mut out = MetricSet::new();
        Xfs::new(paths).update(&mut Sources::default(), &mut out)?;
        Ok(out)
    }

    #[test]
    fn the_fixture_gives_every_counter_of_dm_0() {
        let set = scrape(&fixture_paths()).unwrap();
        let lines = rendered(&set, |name| name.starts_with("node_xfs_"));
        assert_eq!(lines.len(), COUNTERS.len() * 3);
        let expected: &[(&str, f64)] = &[
            ("extent_allocation_extents_allocated_total", 4117.0),
            ("extent_allocation_blocks_allocated_total", 96341.0),
            ("extent_allocation_extents_freed_total", 3882.0),
            ("extent_allocation_blocks_freed_total", 91007.0),
            ("allocation_btree_lookups_total", 211.0),
            ("allocation_btree_compares_total", 1409.0),
            ("allocation_btree_records_inserted_total", 57.0),
            ("allocation_btree_records_deleted_total", 43.0),
            ("block_mapping_reads_total", 781245.0),
            ("block_mapping_writes_total", 52316.0),
            ("block_mapping_unmaps_total", 4410.0),
            ("block_mapping_extent_list_insertions_total", 3987.0),
            ("block_mapping_extent_list_deletions_total", 3512.0),
            ("block_mapping_extent_list_lookups_total", 833614.0),
            ("block_mapping_extent_list_compares_total", 71.0),
            ("block_map_btree_lookups_total", 29.0),
            ("block_map_btree_compares_total", 88.0),
            ("block_map_btree_records_inserted_total", 13.0),
            ("block_map_btree_records_deleted_total", 11.0),
            ("directory_operation_lookup_total", 15422.0),
            ("directory_operation_create_total", 3321.0),
            ("directory_operation_remove_total", 2876.0),
            ("directory_operation_getdents_total", 90214.0),
            ("inode_operation_attempts_total", 121007.0),
            ("inode_operation_found_total", 97113.0),
            ("inode_operation_recycled_total", 19.0),
            ("inode_operation_missed_total", 23875.0),
            ("inode_operation_duplicates_total", 3.0),
            ("inode_operation_reclaims_total", 22104.0),
            ("inode_operation_attribute_changes_total", 6713.0),
            ("read_calls_total", 744190.0),
            ("write_calls_total", 1288311.0),
            ("vnode_active_total", 3431.0),
            ("vnode_allocate_total", 5.0),
            ("vnode_get_total", 12.0),
            ("vnode_hold_total", 7.0),
            ("vnode_release_total", 22141.0),
            ("vnode_reclaim_total", 22110.0),
            ("vnode_remove_total", 21987.0),
        ];
        assert_eq!(expected.len(), COUNTERS.len());
        for (name, value) in expected {
            let name = format!("node_xfs_{name}");
            assert_eq!(
                set.value(&name, &[("device", "dm-0")]),
                Some(*value),
                "{name}"
            );
            assert_eq!(set.get(&name).map(|f| f.kind), Some(MetricKind::Counter));
        }
        assert!(lines.contains(&Line::Help(
            "node_xfs_vnode_release_total".into(),
            "Number of times vn_rele called for a filesystem.".into()
        )));
    }

    #[test]
    fn no_xfs_is_success_with_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let set = scrape(&Paths::under(dir.path())).unwrap();
        assert!(set.families().iter().all(|f| f.is_empty()));
    }

    #[test]
    fn parse_errors_name_file_and_line() {
        let path = Path::new("/sys/fs/xfs/sdb/stats/stats");
        let err = parse_stats("abt 1 2 3 4\nrw 1 2 3\n", path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/sys/fs/xfs/sdb/stats/stats:2: rw: 3 values, expected [2]"
        );
        let err = parse_stats("qm 4294967296\n", path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/sys/fs/xfs/sdb/stats/stats:1: qm: not an unsigned 32-bit number: \"4294967296\""
        );
        // An older kernel's vnodes line has 7 values; an unknown line is ignored.
        let values = parse_stats("vnodes 1 2 3 4 5 6 7\nnew_thing 9\n", path).unwrap();
        assert_eq!(values[COUNTERS.len() - 1], 7);
    }
}
