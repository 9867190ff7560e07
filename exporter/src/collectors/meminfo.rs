//! The `/proc/meminfo` fields node_exporter 1.12 exports, as `node_memory_<Field>[_bytes]`:
//! `(anon)`/`(file)` become `_anon`/`_file`, fields in kB are scaled to bytes and get
//! `_bytes`, unit-less counts (HugePages_*) keep their bare name.
//!
//! Since 1.9 (#3049) node_exporter reads meminfo through procfs's `Meminfo` struct and
//! exports only the 51 fields it maps ([`EXPORTED`]), each only when the kernel
//! reports it; 1.5 exported every line. So `FileHugePages`, `FilePmdMapped`,
//! `Hugetlb`, `KReclaimable`, `SecPageTables`, `Balloon`, … are no longer exported.

use std::path::{Path, PathBuf};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::family_names::FamilyNames;
use crate::paths::Paths;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "meminfo",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(MemInfo::new(ctx.paths))),
};

pub struct MemInfo {
    path: PathBuf,
    names: FamilyNames,
}

impl MemInfo {
    pub fn new(paths: &Paths) -> Self {
        MemInfo {
            path: paths.proc("meminfo"),
            names: FamilyNames::default(),
        }
    }
}

/// The metric name suffixes node_exporter 1.12 maps from procfs's `Meminfo`, sorted.
pub const EXPORTED: [&str; 51] = [
    "Active_anon_bytes",
    "Active_bytes",
    "Active_file_bytes",
    "AnonHugePages_bytes",
    "AnonPages_bytes",
    "Bounce_bytes",
    "Buffers_bytes",
    "Cached_bytes",
    "CmaFree_bytes",
    "CmaTotal_bytes",
    "CommitLimit_bytes",
    "Committed_AS_bytes",
    "DirectMap1G_bytes",
    "DirectMap2M_bytes",
    "DirectMap4k_bytes",
    "Dirty_bytes",
    "HardwareCorrupted_bytes",
    "HugePages_Free",
    "HugePages_Rsvd",
    "HugePages_Surp",
    "HugePages_Total",
    "Hugepagesize_bytes",
    "Inactive_anon_bytes",
    "Inactive_bytes",
    "Inactive_file_bytes",
    "KernelStack_bytes",
    "Mapped_bytes",
    "MemAvailable_bytes",
    "MemFree_bytes",
    "MemTotal_bytes",
    "Mlocked_bytes",
    "NFS_Unstable_bytes",
    "PageTables_bytes",
    "Percpu_bytes",
    "SReclaimable_bytes",
    "SUnreclaim_bytes",
    "ShmemHugePages_bytes",
    "ShmemPmdMapped_bytes",
    "Shmem_bytes",
    "Slab_bytes",
    "SwapCached_bytes",
    "SwapFree_bytes",
    "SwapTotal_bytes",
    "Unevictable_bytes",
    "VmallocChunk_bytes",
    "VmallocTotal_bytes",
    "VmallocUsed_bytes",
    "WritebackTmp_bytes",
    "Writeback_bytes",
    "Zswap_bytes",
    "Zswapped_bytes",
];

/// One parsed meminfo line: the metric name suffix (`MemTotal_bytes`) and its value.
#[derive(Debug, PartialEq)]
pub struct MemField {
    pub name: String,
    pub value: f64,
}

pub fn parse_meminfo(text: &str, path: &Path) -> Result<Vec<MemField>, CollectError> {
    let mut fields = Vec::with_capacity(64);
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
            return Err(CollectError::parse(
                path,
                line_no,
                "expected `Key: value [kB]`",
            ));
        };
        let key = key
            .strip_suffix(':')
            .ok_or_else(|| CollectError::parse(path, line_no, "key does not end in ':'"))?;
        let mut value: f64 = value.parse().map_err(|_| {
            CollectError::parse(path, line_no, format!("{key}: not a number: {value:?}"))
        })?;
        let mut name = key.replace("(anon)", "_anon").replace("(file)", "_file");
        match (parts.next(), parts.next()) {
            (None, _) => {}
            (Some("kB"), None) => {
                value *= 1024.0;
                name.push_str("_bytes");
            }
            _ => {
                return Err(CollectError::parse(
                    path,
                    line_no,
                    format!("{key}: unknown unit"),
                ))
            }
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(CollectError::parse(
                path,
                line_no,
                format!("{key}: not a valid metric name"),
            ));
        }
        fields.push(MemField { name, value });
    }
    Ok(fields)
}

impl Collector for MemInfo {
    fn update(&mut self, sources: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = sources.table(&self.path)?;
        for field in parse_meminfo(text, &self.path)? {
            if EXPORTED.binary_search(&field.name.as_str()).is_err() {
                continue;
            }
            let (name, help) = self.names.get(&field.name, || {
                (
                    format!("node_memory_{}", field.name),
                    format!("Memory information field {}.", field.name),
                )
            });
            out.family(name, help, MetricKind::Gauge)
                .push(&[], field.value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_scales_like_node_exporter() {
        let text = "MemTotal:       16384 kB\nActive(anon):      4 kB\nHugePages_Total:       2\nHugepagesize:    2048 kB\n";
        let fields = parse_meminfo(text, Path::new("meminfo")).unwrap();
        assert_eq!(
            fields,
            vec![
                MemField {
                    name: "MemTotal_bytes".into(),
                    value: 16777216.0
                },
                MemField {
                    name: "Active_anon_bytes".into(),
                    value: 4096.0
                },
                MemField {
                    name: "HugePages_Total".into(),
                    value: 2.0
                },
                MemField {
                    name: "Hugepagesize_bytes".into(),
                    value: 2097152.0
                },
            ]
        );
    }

    #[test]
    fn exports_only_the_fields_node_exporter_1_12_maps() {
        let mut sorted = EXPORTED;
        sorted.sort_unstable();
        assert_eq!(sorted, EXPORTED, "sorted, for binary_search");
        let mut out = MetricSet::new();
        MemInfo::new(&crate::test_support::fixture_paths())
            .update(&mut Sources::default(), &mut out)
            .unwrap();
        let names: Vec<&str> = out.families().iter().map(|f| &*f.name).collect();
        for gone in [
            "node_memory_FileHugePages_bytes",
            "node_memory_FilePmdMapped_bytes",
            "node_memory_Hugetlb_bytes",
            "node_memory_KReclaimable_bytes",
        ] {
            assert!(!names.contains(&gone), "{gone}");
        }
        for kept in [
            "node_memory_MemTotal_bytes",
            "node_memory_Zswap_bytes",
            "node_memory_HugePages_Total",
            "node_memory_Active_anon_bytes",
        ] {
            assert!(names.contains(&kept), "{kept}");
        }
        // Every family is one of the 51, and the fixture has 49 of them (no Cma*).
        assert_eq!(names.len(), 49, "{names:?}");
        assert_eq!(
            out.get("node_memory_Zswap_bytes").unwrap().help,
            "Memory information field Zswap_bytes."
        );
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        let p = Path::new("meminfo");
        let err = parse_meminfo("MemTotal: 12 kB\nMemFree: lots kB\n", p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "meminfo:2: MemFree: not a number: \"lots\""
        );
        let err = parse_meminfo("MemTotal 12 kB\n", p).unwrap_err();
        assert_eq!(err.to_string(), "meminfo:1: key does not end in ':'");
        let err = parse_meminfo("Mem{x}: 12 kB\n", p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "meminfo:1: Mem{x}: not a valid metric name"
        );
        let err = parse_meminfo("MemTotal: 12 MB\n", p).unwrap_err();
        assert_eq!(err.to_string(), "meminfo:1: MemTotal: unknown unit");
    }
}
