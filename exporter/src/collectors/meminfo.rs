//! Every `/proc/meminfo` field as `node_memory_<Field>[_bytes]`, named as node_exporter
//! names them: `(anon)`/`(file)` become `_anon`/`_file`, fields in kB are scaled to
//! bytes and get `_bytes`, unit-less counts (HugePages_*) keep their bare name.

use std::path::{Path, PathBuf};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
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
}

impl MemInfo {
    pub fn new(paths: &Paths) -> Self {
        MemInfo {
            path: paths.proc("meminfo"),
        }
    }
}

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
            let help = format!("Memory information field {}.", field.name);
            out.family(
                format!("node_memory_{}", field.name),
                help,
                MetricKind::Gauge,
            )
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
