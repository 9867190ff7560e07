//! `node_memory_numa_<Field>{node}` (gauges, kB fields scaled to bytes but, unlike
//! meminfo, without a `_bytes` suffix) from `<sysfs>/devices/system/node/node*/meminfo`,
//! and `node_memory_numa_<counter>_total{node}` from each node's `numastat`. Off by
//! default, as in node_exporter.
//!
//! As node_exporter does: the `node` label of a meminfo field is the number written in
//! the line (`Node 0 MemTotal: ...`), that of a numastat counter the number in the
//! directory name; no node directory at all is success with nothing to report.

use std::io;
use std::path::{Path, PathBuf};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::read_table_string;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "meminfo_numa",
    enabled_by_default: false,
    args: super::no_args,
    build: |ctx| Ok(Box::new(MeminfoNuma::new(ctx.paths))),
};

pub struct MeminfoNuma {
    dir: PathBuf,
}

impl MeminfoNuma {
    pub fn new(paths: &Paths) -> Self {
        MeminfoNuma {
            dir: paths.sys("devices/system/node"),
        }
    }
}

/// One field of a node's meminfo or numastat.
#[derive(Debug, PartialEq)]
pub struct NumaField<'a> {
    /// The name after `node_memory_numa_`.
    pub name: String,
    pub node: &'a str,
    pub value: f64,
}

/// `Node N Field: value [kB]` lines; `Active(anon)` becomes `Active_anon`.
pub fn parse_node_meminfo<'a>(
    text: &'a str,
    path: &Path,
) -> Result<Vec<NumaField<'a>>, CollectError> {
    let mut fields = Vec::with_capacity(40);
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.is_empty() {
            continue;
        }
        if parts.len() < 4 {
            return Err(CollectError::parse(
                path,
                line_no,
                "expected `Node N Field: value [kB]`",
            ));
        }
        let mut value: f64 = parts[3].parse().map_err(|_| {
            CollectError::parse(path, line_no, format!("not a number: {:?}", parts[3]))
        })?;
        match parts.len() {
            4 => {}
            5 if parts[4] == "kB" => value *= 1024.0,
            _ => return Err(CollectError::parse(path, line_no, "unknown unit")),
        }
        let key = parts[2].trim_end_matches(':');
        let name = match (key.find('('), key.rfind(')')) {
            (Some(open), Some(close)) if open < close => {
                format!(
                    "{}_{}{}",
                    &key[..open],
                    &key[open + 1..close],
                    &key[close + 1..]
                )
            }
            _ => key.to_string(),
        };
        fields.push(NumaField {
            name,
            node: parts[1],
            value,
        });
    }
    Ok(fields)
}

/// `name value` lines of a node's numastat, as `<name>_total`.
pub fn parse_numastat<'a>(
    text: &str,
    node: &'a str,
    path: &Path,
) -> Result<Vec<NumaField<'a>>, CollectError> {
    let mut fields = Vec::with_capacity(8);
    for (index, line) in text.lines().enumerate() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts[..] {
            [] => continue,
            [name, value] => {
                let value = value.parse().map_err(|_| {
                    CollectError::parse(path, index + 1, format!("{name}: not a number: {value:?}"))
                })?;
                fields.push(NumaField {
                    name: format!("{name}_total"),
                    node,
                    value,
                });
            }
            _ => {
                return Err(CollectError::parse(
                    path,
                    index + 1,
                    "expected `name value`",
                ))
            }
        }
    }
    Ok(fields)
}

/// The digits after `node` of a `node[0-9]*` directory name.
fn node_number(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("node")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0).then(|| &rest[..digits])
}

fn record(
    out: &mut MetricSet,
    fields: Vec<NumaField>,
    kind: MetricKind,
    path: &Path,
) -> Result<(), CollectError> {
    for field in fields {
        let help = format!("Memory information field {}.", field.name);
        out.checked_family(format!("node_memory_numa_{}", field.name), help, kind)
            .map_err(|e| CollectError::parse(path, 0, e.to_string()))?
            .push(&[("node", field.node)], field.value);
    }
    Ok(())
}

impl Collector for MeminfoNuma {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(CollectError::read(&self.dir, e)),
        };
        let mut nodes: Vec<String> = entries
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| node_number(name).is_some())
            .collect();
        nodes.sort();
        for name in &nodes {
            let node_dir = self.dir.join(name);
            let meminfo_path = node_dir.join("meminfo");
            let meminfo = read_table_string(&meminfo_path)?;
            let fields = parse_node_meminfo(&meminfo, &meminfo_path)?;
            record(out, fields, MetricKind::Gauge, &meminfo_path)?;

            let numastat_path = node_dir.join("numastat");
            let numastat = read_table_string(&numastat_path)?;
            let node = node_number(name).unwrap_or_default();
            let fields = parse_numastat(&numastat, node, &numastat_path)?;
            record(out, fields, MetricKind::Counter, &numastat_path)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    fn scrape(paths: &Paths) -> Result<MetricSet, CollectError> {
        let mut out = MetricSet::new();
        MeminfoNuma::new(paths).update(&mut Sources::default(), &mut out)?;
        Ok(out)
    }

    #[test]
    fn node0_of_the_fixture() {
        let out = scrape(&fixture_paths()).unwrap();
        // 36 meminfo fields and 6 numastat counters.
        assert_eq!(out.families().len(), 42);
        let node = [("node", "0")];
        let v = |name: &str| out.value(name, &node).unwrap();
        assert_eq!(v("node_memory_numa_MemTotal"), 16262736.0 * 1024.0);
        assert_eq!(v("node_memory_numa_MemUsed"), 8139280.0 * 1024.0);
        assert_eq!(v("node_memory_numa_Active_anon"), 2222222.0 * 1024.0);
        assert_eq!(v("node_memory_numa_Inactive_file"), 2234567.0 * 1024.0);
        assert_eq!(v("node_memory_numa_HugePages_Total"), 4.0);
        assert_eq!(v("node_memory_numa_HugePages_Free"), 3.0);
        assert_eq!(v("node_memory_numa_numa_hit_total"), 918273645.0);
        assert_eq!(v("node_memory_numa_interleave_hit_total"), 4127.0);
        let lines = rendered(&out, |name| {
            name == "node_memory_numa_FilePages" || name == "node_memory_numa_local_node_total"
        });
        let sample =
            |name: &str, value| Line::Sample(name.into(), vec![("node".into(), "0".into())], value);
        assert_eq!(
            lines,
            vec![
                Line::Help(
                    "node_memory_numa_FilePages".into(),
                    "Memory information field FilePages.".into()
                ),
                Line::Type("node_memory_numa_FilePages".into(), "gauge".into()),
                sample("node_memory_numa_FilePages", 3692590.0 * 1024.0),
                Line::Help(
                    "node_memory_numa_local_node_total".into(),
                    "Memory information field local_node_total.".into()
                ),
                Line::Type("node_memory_numa_local_node_total".into(), "counter".into()),
                sample("node_memory_numa_local_node_total", 918273645.0),
            ]
        );
    }

    #[test]
    fn two_nodes_and_no_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        assert!(
            scrape(&paths).unwrap().families().is_empty(),
            "no sysfs dir"
        );
        let nodes = dir.path().join("sys/devices/system/node");
        for n in ["0", "1"] {
            let node = nodes.join(format!("node{n}"));
            std::fs::create_dir_all(&node).unwrap();
            std::fs::write(
                node.join("meminfo"),
                format!("Node {n} MemFree:  1{n} kB\n\nNode {n} HugePages_Free: 2{n}\n"),
            )
            .unwrap();
            std::fs::write(node.join("numastat"), format!("numa_miss 3{n}\n")).unwrap();
        }
        std::fs::write(nodes.join("possible"), "0-1\n").unwrap();
        let out = scrape(&paths).unwrap();
        assert_eq!(
            out.value("node_memory_numa_MemFree", &[("node", "1")]),
            Some(11.0 * 1024.0)
        );
        assert_eq!(
            out.value("node_memory_numa_HugePages_Free", &[("node", "0")]),
            Some(20.0)
        );
        assert_eq!(
            out.value("node_memory_numa_numa_miss_total", &[("node", "1")]),
            Some(31.0)
        );
        std::fs::remove_file(nodes.join("node1/numastat")).unwrap();
        assert!(matches!(
            scrape(&paths).unwrap_err(),
            CollectError::Read { .. }
        ));
    }

    #[test]
    fn parse_errors_name_the_line() {
        let p = Path::new("meminfo");
        let err =
            parse_node_meminfo("Node 0 MemFree: 1 kB\nNode 0 MemUsed: x kB\n", p).unwrap_err();
        assert_eq!(err.to_string(), "meminfo:2: not a number: \"x\"");
        let err = parse_node_meminfo("Node 0 MemFree: 1 MB\n", p).unwrap_err();
        assert_eq!(err.to_string(), "meminfo:1: unknown unit");
        let err = parse_node_meminfo("Node 0 MemFree:\n", p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "meminfo:1: expected `Node N Field: value [kB]`"
        );
        let err = parse_numastat("numa_hit 1 2\n", "0", Path::new("numastat")).unwrap_err();
        assert_eq!(err.to_string(), "numastat:1: expected `name value`");
        assert_eq!(node_number("node12"), Some("12"));
        assert_eq!(node_number("node"), None);
        assert_eq!(node_number("has_cpu"), None);
    }
}
