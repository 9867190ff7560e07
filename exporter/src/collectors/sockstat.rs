//! `node_sockstat_*` from `<procfs>/net/sockstat` and `<procfs>/net/sockstat6`.
//!
//! Each `PROTO: key value …` line gives `node_sockstat_<PROTO>_<key>` gauges, named
//! with the protocol as the kernel spells it (`TCP`, `UDPLITE`, `FRAG6`). As in
//! node_exporter (through procfs):
//! - only the keys `inuse`, `orphan`, `tw`, `alloc`, `mem` and `memory` are exported, in
//!   that order; `inuse` always, as 0 when the line lacks it;
//! - `mem` is in pages, so `<PROTO>_mem_bytes` follows it, `mem` × this machine's page
//!   size (`FRAG`'s `memory` is already bytes and gets no `_bytes` twin);
//! - the `sockets: used N` line is `node_sockstat_sockets_used`, from `sockstat` only;
//! - lines are split on single spaces; one with fewer than three fields, an odd number
//!   of key/value fields or a value that is not an integer fails the collector;
//! - a file that does not exist (IPv6 or IPv4 disabled) is skipped; both missing is
//!   success with nothing, not an error.

use std::path::{Path, PathBuf};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::family_names::FamilyNames;
use crate::paths::Paths;
use crate::read::read_table_string;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "sockstat",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(SockStat::new(ctx.paths, procfs::page_size()))),
};

pub struct SockStat {
    sockstat: PathBuf,
    sockstat6: PathBuf,
    page_size: u64,
    names: FamilyNames,
}

impl SockStat {
    pub fn new(paths: &Paths, page_size: u64) -> Self {
        SockStat {
            sockstat: paths.proc("net/sockstat"),
            sockstat6: paths.proc("net/sockstat6"),
            page_size,
            names: FamilyNames::default(),
        }
    }
}

/// The keys node_exporter exports, in its order.
const KEYS: [&str; 6] = ["inuse", "orphan", "tw", "alloc", "mem", "memory"];
const MEM: usize = 4;

/// One protocol line: the value of each of [`KEYS`] it has.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolLine<'a> {
    pub protocol: &'a str,
    pub values: [Option<i64>; KEYS.len()],
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SockStatFile<'a> {
    /// `sockets: used N`.
    pub used: Option<i64>,
    pub protocols: Vec<ProtocolLine<'a>>,
}

pub fn parse_sockstat<'a>(text: &'a str, path: &Path) -> Result<SockStatFile<'a>, CollectError> {
    let mut file = SockStatFile::default();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let mut fields = line.split(' ');
        let head = fields.next().unwrap_or_default();
        let rest: Vec<&str> = fields.collect();
        if rest.len() < 2 {
            return Err(CollectError::parse(
                path,
                line_no,
                "expected `PROTO: key value …`",
            ));
        }
        if rest.len() % 2 != 0 {
            return Err(CollectError::parse(
                path,
                line_no,
                "odd number of fields in key/value pairs",
            ));
        }
        let protocol = head.strip_suffix(':').unwrap_or(head);
        let mut values = [None; KEYS.len()];
        let mut used = None;
        for pair in rest.chunks_exact(2) {
            let (key, text) = (pair[0], pair[1]);
            let value: i64 = text.parse().map_err(|_| {
                CollectError::parse(path, line_no, format!("{key}: not an integer: {text:?}"))
            })?;
            if protocol == "sockets" {
                if key == "used" {
                    used = Some(value);
                }
            } else if let Some(slot) = KEYS.iter().position(|k| *k == key) {
                values[slot] = Some(value);
            }
        }
        if protocol == "sockets" {
            // procfs reads `used` as 0 when the line lacks it.
            file.used = Some(used.unwrap_or(0));
        } else {
            file.protocols.push(ProtocolLine { protocol, values });
        }
    }
    Ok(file)
}

impl SockStat {
    fn record(&mut self, file: &SockStatFile, ipv6: bool, out: &mut MetricSet) {
        if let (false, Some(used)) = (ipv6, file.used) {
            out.gauge(
                "node_sockstat_sockets_used",
                "Number of IPv4 sockets in use.",
                &[],
                used as f64,
            );
        }
        for line in &file.protocols {
            let names = &mut self.names;
            let mut emit = |key: &str, value: f64| {
                let (name, help) =
                    names.get(&format_args!("{}_{key}", line.protocol).to_string(), || {
                        (
                            format!("node_sockstat_{}_{key}", line.protocol),
                            format!("Number of {} sockets in state {key}.", line.protocol),
                        )
                    });
                out.family(name, help, MetricKind::Gauge).push(&[], value);
            };
            for (slot, key) in KEYS.iter().enumerate() {
                let value = if slot == 0 {
                    Some(line.values[0].unwrap_or(0))
                } else {
                    line.values[slot]
                };
                if let Some(value) = value {
                    emit(key, value as f64);
                }
            }
            if let Some(pages) = line.values[MEM] {
                emit("mem_bytes", pages as f64 * self.page_size as f64);
            }
        }
    }
}

/// Reads `path`; `None` when it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>, CollectError> {
    match read_table_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(CollectError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            tracing::debug!(path = %path.display(), "sockstat statistics not found, skipping");
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

impl Collector for SockStat {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        // Both files are parsed before anything is recorded: a bad sockstat6 must not
        // leave half a collector's output behind (the scraper drops it anyway).
        let v4 = read_optional(&self.sockstat)?;
        let v6 = read_optional(&self.sockstat6)?;
        let v4_parsed = v4
            .as_deref()
            .map(|t| parse_sockstat(t, &self.sockstat))
            .transpose()?;
        let v6_parsed = v6
            .as_deref()
            .map(|t| parse_sockstat(t, &self.sockstat6))
            .transpose()?;
        if let Some(file) = &v4_parsed {
            self.record(file, false, out);
        }
        if let Some(file) = &v6_parsed {
            self.record(file, true, out);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    const PAGE: u64 = 4096;

    fn scrape(paths: &Paths) -> Result<MetricSet, CollectError> {
        let mut out = MetricSet::new();
        SockStat::new(paths, PAGE).update(&mut Sources::default(), &mut out)?;
        Ok(out)
    }

    fn gauge(name: &str, help: &str, value: f64) -> [Line; 3] {
        let name = format!("node_sockstat_{name}");
        [
            Line::Help(name.clone(), help.into()),
            Line::Type(name.clone(), "gauge".into()),
            Line::Sample(name, vec![], value),
        ]
    }

    #[test]
    fn every_family_on_the_fixture_machine() {
        let set = scrape(&fixture_paths()).unwrap();
        let state = |proto: &str, key: &str, value: f64| {
            gauge(
                &format!("{proto}_{key}"),
                &format!("Number of {proto} sockets in state {key}."),
                value,
            )
        };
        let expected: Vec<Line> = [
            state("FRAG6", "inuse", 3.0),
            state("FRAG6", "memory", 2048.0),
            state("FRAG", "inuse", 1.0),
            state("FRAG", "memory", 1024.0),
            state("RAW6", "inuse", 2.0),
            state("RAW", "inuse", 4.0),
            state("TCP6", "inuse", 17.0),
            state("TCP", "alloc", 53.0),
            state("TCP", "inuse", 31.0),
            state("TCP", "mem", 29.0),
            state("TCP", "mem_bytes", 29.0 * 4096.0),
            state("TCP", "orphan", 5.0),
            state("TCP", "tw", 12.0),
            state("UDP6", "inuse", 6.0),
            state("UDPLITE6", "inuse", 0.0),
            state("UDPLITE", "inuse", 0.0),
            state("UDP", "inuse", 9.0),
            state("UDP", "mem", 7.0),
            state("UDP", "mem_bytes", 7.0 * 4096.0),
            gauge("sockets_used", "Number of IPv4 sockets in use.", 301.0),
        ]
        .into_iter()
        .flatten()
        .collect();
        assert_eq!(
            rendered(&set, |n| n.starts_with("node_sockstat_")),
            expected
        );
    }

    #[test]
    fn absent_files_are_skipped_one_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let net = dir.path().join("proc/net");
        std::fs::create_dir_all(&net).unwrap();
        let paths = Paths::under(dir.path());
        let set = scrape(&paths).unwrap();
        assert!(set.families().is_empty(), "neither file: success, nothing");

        std::fs::copy(fixture_paths().proc("net/sockstat6"), net.join("sockstat6")).unwrap();
        let set = scrape(&paths).unwrap();
        assert_eq!(set.value("node_sockstat_TCP6_inuse", &[]), Some(17.0));
        assert!(set.get("node_sockstat_sockets_used").is_none());
    }

    #[test]
    fn ipv6_sockets_line_is_not_exported_and_missing_inuse_is_zero() {
        let file = parse_sockstat("sockets: used 5\nTCP6: tw 2\n", Path::new("s6")).unwrap();
        let mut out = MetricSet::new();
        SockStat::new(&Paths::default(), PAGE).record(&file, true, &mut out);
        assert!(out.get("node_sockstat_sockets_used").is_none());
        assert_eq!(out.value("node_sockstat_TCP6_inuse", &[]), Some(0.0));
        assert_eq!(out.value("node_sockstat_TCP6_tw", &[]), Some(2.0));
    }

    #[test]
    fn parse_errors_name_the_place() {
        let p = Path::new("/proc/net/sockstat");
        let err = parse_sockstat("sockets: used 1\nTCP: inuse\n", p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/net/sockstat:2: expected `PROTO: key value …`"
        );
        let err = parse_sockstat("TCP: inuse 1 orphan\n", p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/net/sockstat:1: odd number of fields in key/value pairs"
        );
        let err = parse_sockstat("TCP: inuse 1 mem x\n", p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/net/sockstat:1: mem: not an integer: \"x\""
        );
        // A bad sockstat6 fails the whole collector.
        let dir = tempfile::tempdir().unwrap();
        let net = dir.path().join("proc/net");
        std::fs::create_dir_all(&net).unwrap();
        std::fs::copy(fixture_paths().proc("net/sockstat"), net.join("sockstat")).unwrap();
        std::fs::write(net.join("sockstat6"), "TCP6:\n").unwrap();
        assert!(scrape(&Paths::under(dir.path())).is_err());
    }
}
