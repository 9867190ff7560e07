//! `node_netstat_<Protocol>_<Field>` from `<procfs>/net/netstat`, `<procfs>/net/snmp` and
//! `<procfs>/net/snmp6`, filtered by `--collector.netstat.fields` (matched, unanchored as
//! Go matches, against `<Protocol>_<Field>`).
//!
//! What is surprising, and kept for node_exporter parity:
//! - Every family is **untyped**, counters (`Tcp_InSegs`) and gauges (`Tcp_CurrEstab`)
//!   alike, with HELP `Statistic <Protocol><Field>.` (no underscore).
//! - `netstat` and `snmp` are pairs of lines (`TcpExt: names…` then `TcpExt: values…`),
//!   split on single spaces; a pair whose counts differ fails the collector, and so does
//!   any value that is not a number, even one the regex would drop.
//! - `snmp6` is one `Ip6InReceives  123` per line: the protocol is the name up to and
//!   including its first `6` (`Icmp6`, `UdpLite6`), lines without a `6` are skipped. A
//!   missing `snmp6` (IPv6 disabled) is no error; a missing `netstat` or `snmp` is.
//! - The same protocol in two files (it does not happen on real kernels): the later
//!   file's section replaces the earlier one, as node_exporter's map merge does.

use std::path::{Path, PathBuf};

use clap::Arg;
use regex_lite::Regex;

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::family_names::FamilyNames;
use crate::paths::Paths;
use crate::read::read_table_string;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "netstat",
    enabled_by_default: true,
    args,
    build: |ctx| Ok(Box::new(NetStat::new(ctx.paths, ctx.regex(FIELDS_FLAG)?))),
};

const FIELDS_FLAG: &str = "collector.netstat.fields";

/// node_exporter 1.12's default (TCPTimeouts since 1.3, TCPOFOQueue since 1.8,
/// TCPRcvQDrop since 1.9).
pub const DEFAULT_FIELDS: &str = "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$";

fn args() -> Vec<Arg> {
    vec![Arg::new(FIELDS_FLAG)
        .long(FIELDS_FLAG)
        .default_value(DEFAULT_FIELDS)
        .help("Regexp of fields to return for netstat collector.")]
}

pub struct NetStat {
    netstat: PathBuf,
    snmp: PathBuf,
    snmp6: PathBuf,
    /// `None`: an empty `--collector.netstat.fields`, which matches every field in Go.
    fields: Option<Regex>,
    /// `<Protocol>_<Field>` of every statistic of the last scrape, in file order, and
    /// whether the regex selects it (see [`NetStat::selected`]).
    selection: Vec<(String, bool)>,
    names: FamilyNames,
}

impl NetStat {
    pub fn new(paths: &Paths, fields: Option<Regex>) -> Self {
        NetStat {
            netstat: paths.proc("net/netstat"),
            snmp: paths.proc("net/snmp"),
            snmp6: paths.proc("net/snmp6"),
            fields,
            selection: Vec::new(),
            names: FamilyNames::default(),
        }
    }
}

/// One statistic: `protocol` and `field` borrow from the file's text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Statistic<'a> {
    pub protocol: &'a str,
    pub field: &'a str,
    pub value: f64,
}

/// One protocol's statistics, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Section<'a> {
    pub protocol: &'a str,
    pub stats: Vec<Statistic<'a>>,
}

fn number(text: &str, path: &Path, line: usize, field: &str) -> Result<f64, CollectError> {
    // Go's ParseFloat accepts what Rust's does for the kernel's plain integers
    // (including the -1 of Tcp MaxConn).
    text.parse()
        .map_err(|_| CollectError::parse(path, line, format!("{field}: not a number: {text:?}")))
}

/// Parses `/proc/net/netstat` or `/proc/net/snmp`: pairs of `Proto: names…` and
/// `Proto: values…` lines.
pub fn parse_paired<'a>(text: &'a str, path: &Path) -> Result<Vec<Section<'a>>, CollectError> {
    let mut sections = Vec::with_capacity(8);
    let mut lines = text.lines().enumerate();
    while let Some((index, names)) = lines.next() {
        let names_no = index + 1;
        let Some((_, values)) = lines.next() else {
            return Err(CollectError::parse(
                path,
                names_no,
                "a header line without its values line",
            ));
        };
        let values_no = names_no + 1;
        let mut name_parts = names.split(' ');
        let mut value_parts = values.split(' ');
        let head = name_parts.next().unwrap_or_default();
        let protocol = head.strip_suffix(':').ok_or_else(|| {
            CollectError::parse(path, names_no, format!("{head:?} does not end in ':'"))
        })?;
        // node_exporter takes the protocol from the names line only.
        value_parts.next();
        let mut stats = Vec::with_capacity(names.len() / 8);
        loop {
            match (name_parts.next(), value_parts.next()) {
                (None, None) => break,
                (Some(field), Some(value)) => stats.push(Statistic {
                    protocol,
                    field,
                    value: number(value, path, values_no, field)?,
                }),
                _ => {
                    return Err(CollectError::parse(
                        path,
                        values_no,
                        format!("{protocol}: field count mismatch between names and values"),
                    ))
                }
            }
        }
        sections.push(Section { protocol, stats });
    }
    Ok(sections)
}

/// Parses `/proc/net/snmp6`: `Ip6InReceives   123` per line.
pub fn parse_snmp6<'a>(text: &'a str, path: &Path) -> Result<Vec<Section<'a>>, CollectError> {
    let mut sections: Vec<Section<'a>> = Vec::with_capacity(4);
    for (index, line) in text.lines().enumerate() {
        let mut parts = line.split_whitespace();
        let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Some(six) = name.find('6') else { continue };
        let (protocol, field) = name.split_at(six + 1);
        let stat = Statistic {
            protocol,
            field,
            value: number(value, path, index + 1, name)?,
        };
        match sections.iter_mut().find(|s| s.protocol == protocol) {
            Some(section) => section.stats.push(stat),
            None => sections.push(Section {
                protocol,
                stats: vec![stat],
            }),
        }
    }
    Ok(sections)
}

impl NetStat {
    fn record(&mut self, sections: &[Section], out: &mut MetricSet) {
        let mut position = 0;
        for (i, section) in sections.iter().enumerate() {
            // A protocol seen again later replaces this one (node_exporter's map merge).
            if sections[i + 1..]
                .iter()
                .any(|later| later.protocol == section.protocol)
            {
                continue;
            }
            for stat in &section.stats {
                let selected = self.selected(position, stat);
                position += 1;
                if !selected {
                    continue;
                }
                let (name, help) = self.names.get(&self.selection[position - 1].0, || {
                    (
                        format!("node_netstat_{}_{}", stat.protocol, stat.field),
                        format!("Statistic {}{}.", stat.protocol, stat.field),
                    )
                });
                out.family(name, help, MetricKind::Untyped)
                    .push(&[], stat.value);
            }
        }
        self.selection.truncate(position);
    }

    /// Whether the regex selects the `position`-th statistic of this scrape. The
    /// kernel writes the same fields in the same order every time, so the answer of
    /// the previous scrape is reused when the field at that position is the same, and
    /// the regex runs only on the first scrape (or after the layout changed).
    fn selected(&mut self, position: usize, stat: &Statistic) -> bool {
        if let Some((key, selected)) = self.selection.get(position) {
            if is_key_of(key, stat) {
                return *selected;
            }
        }
        let key = format!("{}_{}", stat.protocol, stat.field);
        let selected = self.fields.as_ref().is_none_or(|re| re.is_match(&key));
        if position < self.selection.len() {
            self.selection[position] = (key, selected);
        } else {
            self.selection.push((key, selected));
        }
        selected
    }
}

/// `key == "<protocol>_<field>"`, without building the right-hand side.
fn is_key_of(key: &str, stat: &Statistic) -> bool {
    key.len() == stat.protocol.len() + 1 + stat.field.len()
        && key.starts_with(stat.protocol)
        && key.as_bytes()[stat.protocol.len()] == b'_'
        && key.ends_with(stat.field)
}

impl Collector for NetStat {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let netstat = read_table_string(&self.netstat)?;
        let snmp = read_table_string(&self.snmp)?;
        let snmp6 = match read_table_string(&self.snmp6) {
            Ok(text) => text,
            Err(CollectError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                String::new()
            }
            Err(error) => return Err(error),
        };
        let mut sections = parse_paired(&netstat, &self.netstat)?;
        sections.extend(parse_paired(&snmp, &self.snmp)?);
        sections.extend(parse_snmp6(&snmp6, &self.snmp6)?);
        self.record(&sections, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    fn default_regex() -> Option<Regex> {
        Some(Regex::new(DEFAULT_FIELDS).unwrap())
    }

    fn scrape(paths: &Paths, fields: Option<Regex>) -> Result<MetricSet, CollectError> {
        let mut collector = NetStat::new(paths, fields);
        let mut out = MetricSet::new();
        collector.update(&mut Sources::default(), &mut out)?;
        Ok(out)
    }

    /// Every family the default regex selects on the fixture machine, with its value.
    const DEFAULT_SELECTION: &[(&str, f64)] = &[
        ("Icmp6_InErrors", 6102.0),
        ("Icmp6_InMsgs", 6101.0),
        ("Icmp6_OutMsgs", 6103.0),
        ("Icmp_InErrors", 2102.0),
        ("Icmp_InMsgs", 2101.0),
        ("Icmp_OutMsgs", 2115.0),
        ("Ip6_InOctets", 6023.0),
        ("Ip6_OutOctets", 6024.0),
        ("IpExt_InOctets", 1207.0),
        ("IpExt_OutOctets", 1208.0),
        ("Ip_Forwarding", 2.0),
        ("TcpExt_ListenDrops", 1024.0),
        ("TcpExt_ListenOverflows", 1023.0),
        ("TcpExt_SyncookiesFailed", 1003.0),
        ("TcpExt_SyncookiesRecv", 1002.0),
        ("TcpExt_SyncookiesSent", 1001.0),
        ("TcpExt_TCPOFOQueue", 1083.0),
        ("TcpExt_TCPRcvQDrop", 1121.0),
        ("TcpExt_TCPSynRetrans", 1101.0),
        ("TcpExt_TCPTimeouts", 1044.0),
        ("Tcp_ActiveOpens", 3102.0),
        ("Tcp_CurrEstab", 3106.0),
        ("Tcp_InErrs", 3110.0),
        ("Tcp_InSegs", 3107.0),
        ("Tcp_OutRsts", 3111.0),
        ("Tcp_OutSegs", 3108.0),
        ("Tcp_PassiveOpens", 3103.0),
        ("Tcp_RetransSegs", 3109.0),
        ("Udp6_InDatagrams", 6201.0),
        ("Udp6_InErrors", 6203.0),
        ("Udp6_NoPorts", 6202.0),
        ("Udp6_OutDatagrams", 6204.0),
        ("Udp6_RcvbufErrors", 6205.0),
        ("Udp6_SndbufErrors", 6206.0),
        ("UdpLite6_InErrors", 6303.0),
        ("UdpLite_InErrors", 4203.0),
        ("Udp_InDatagrams", 4101.0),
        ("Udp_InErrors", 4103.0),
        ("Udp_NoPorts", 4102.0),
        ("Udp_OutDatagrams", 4104.0),
        ("Udp_RcvbufErrors", 4105.0),
        ("Udp_SndbufErrors", 4106.0),
    ];

    #[test]
    fn default_fields_on_the_fixture_machine() {
        let set = scrape(&fixture_paths(), default_regex()).unwrap();
        let mut expected = Vec::new();
        for (key, value) in DEFAULT_SELECTION {
            let name = format!("node_netstat_{key}");
            let (protocol, field) = key.split_once('_').unwrap();
            expected.push(Line::Help(
                name.clone(),
                format!("Statistic {protocol}{field}."),
            ));
            expected.push(Line::Type(name.clone(), "untyped".into()));
            expected.push(Line::Sample(name, vec![], *value));
        }
        assert_eq!(rendered(&set, |n| n.starts_with("node_netstat_")), expected);
    }

    #[test]
    fn empty_regex_selects_everything() {
        let set = scrape(&fixture_paths(), None).unwrap();
        // Spot checks across the three files, including fields the default drops.
        assert_eq!(set.value("node_netstat_TcpExt_TW", &[]), Some(1011.0));
        assert_eq!(set.value("node_netstat_Tcp_MaxConn", &[]), Some(-1.0));
        assert_eq!(set.value("node_netstat_IcmpMsg_InType3", &[]), Some(2201.0));
        assert_eq!(set.value("node_netstat_Ip6_InReceives", &[]), Some(6001.0));
        assert_eq!(set.value("node_netstat_Icmp6_InType1", &[]), Some(6137.0));
        assert_eq!(
            set.value("node_netstat_UdpLite6_InDatagrams", &[]),
            Some(6301.0)
        );
        assert_eq!(set.value("node_netstat_Ip_DefaultTTL", &[]), Some(64.0));
        assert_eq!(
            set.value("node_netstat_MPTcpExt_MPCapableSYNRX", &[]),
            Some(1301.0)
        );
        let netstat = read_table_string(&fixture_paths().proc("net/netstat")).unwrap();
        let snmp = read_table_string(&fixture_paths().proc("net/snmp")).unwrap();
        let snmp6 = read_table_string(&fixture_paths().proc("net/snmp6")).unwrap();
        let count = |text: &str| {
            text.lines()
                .step_by(2)
                .map(|l| l.split(' ').count() - 1)
                .sum::<usize>()
        };
        let total = count(&netstat) + count(&snmp) + snmp6.lines().count();
        assert_eq!(set.families().len(), total);
    }

    #[test]
    fn a_custom_regex_is_unanchored_like_go() {
        let set = scrape(&fixture_paths(), Some(Regex::new("Ext_TW").unwrap())).unwrap();
        let names: Vec<_> = set.families().iter().map(|f| f.name.to_string()).collect();
        assert_eq!(
            names,
            [
                "node_netstat_TcpExt_TW",
                "node_netstat_TcpExt_TWRecycled",
                "node_netstat_TcpExt_TWKilled"
            ]
        );
    }

    #[test]
    fn missing_snmp6_is_no_error_missing_snmp_is() {
        let dir = tempfile::tempdir().unwrap();
        let net = dir.path().join("proc/net");
        std::fs::create_dir_all(&net).unwrap();
        let fixtures = fixture_paths();
        for name in ["netstat", "snmp"] {
            std::fs::copy(fixtures.proc(&format!("net/{name}")), net.join(name)).unwrap();
        }
        let paths = Paths::under(dir.path());
        let set = scrape(&paths, default_regex()).unwrap();
        assert_eq!(set.value("node_netstat_Tcp_InSegs", &[]), Some(3107.0));
        assert!(set.get("node_netstat_Ip6_InOctets").is_none());

        std::fs::remove_file(net.join("snmp")).unwrap();
        let err = scrape(&paths, default_regex()).unwrap_err();
        assert!(
            matches!(&err, CollectError::Read { path, .. } if path.ends_with("net/snmp")),
            "{err}"
        );
    }

    #[test]
    fn parse_errors_name_the_place() {
        let p = Path::new("/proc/net/snmp");
        let err = parse_paired("Tcp: A B\nTcp: 1\n", p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/net/snmp:2: Tcp: field count mismatch between names and values"
        );
        let err = parse_paired("Tcp: A B\nTcp: 1 x\n", p).unwrap_err();
        assert_eq!(err.to_string(), "/proc/net/snmp:2: B: not a number: \"x\"");
        let err = parse_paired("Tcp: A\n", p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/net/snmp:1: a header line without its values line"
        );
        let err = parse_paired("Tcp A\nTcp 1\n", p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/net/snmp:1: \"Tcp\" does not end in ':'"
        );
        let p6 = Path::new("/proc/net/snmp6");
        let err = parse_snmp6("Ip6InReceives 1\nIp6InHdrErrors many\n", p6).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/net/snmp6:2: Ip6InHdrErrors: not a number: \"many\""
        );
    }

    #[test]
    fn snmp6_protocol_ends_at_the_first_six() {
        let text = "Ip6InReceives 1\nUdpLite6InErrors 2\nIcmp6OutType136 3\nNoSixHere 4\nlonely\n";
        let sections = parse_snmp6(text, Path::new("snmp6")).unwrap();
        let flat: Vec<_> = sections
            .iter()
            .flat_map(|s| s.stats.iter().map(|st| (st.protocol, st.field, st.value)))
            .collect();
        assert_eq!(
            flat,
            [
                ("Ip6", "InReceives", 1.0),
                ("UdpLite6", "InErrors", 2.0),
                ("Icmp6", "OutType136", 3.0)
            ]
        );
    }

    #[test]
    fn the_cached_selection_follows_a_changed_layout() {
        let mut collector = NetStat::new(&Paths::default(), default_regex());
        let p = Path::new("snmp");
        let mut run = |text: &str| {
            let sections = parse_paired(text, p).unwrap();
            let mut out = MetricSet::new();
            collector.record(&sections, &mut out);
            out.families()
                .iter()
                .map(|f| f.name.to_string())
                .collect::<Vec<_>>()
        };
        let first = run("Tcp: InSegs MaxConn\nTcp: 1 2\n");
        assert_eq!(first, ["node_netstat_Tcp_InSegs"]);
        assert_eq!(run("Tcp: InSegs MaxConn\nTcp: 1 2\n"), first);
        // Same length, other fields (a kernel upgrade under a running exporter).
        assert_eq!(
            run("Tcp: MaxConn OutSegs\nTcp: 1 2\n"),
            ["node_netstat_Tcp_OutSegs"]
        );
        assert_eq!(run("Udp: NoPorts\nUdp: 3\n"), ["node_netstat_Udp_NoPorts"]);
    }

    #[test]
    fn a_later_section_of_the_same_protocol_replaces_the_earlier() {
        let first = parse_paired("Ip: InErrors\nIp: 1\n", Path::new("a")).unwrap();
        let second = parse_paired("Ip: Forwarding\nIp: 2\n", Path::new("b")).unwrap();
        let sections: Vec<_> = first.into_iter().chain(second).collect();
        let mut collector = NetStat::new(&Paths::default(), None);
        let mut out = MetricSet::new();
        collector.record(&sections, &mut out);
        assert!(out.get("node_netstat_Ip_InErrors").is_none());
        assert_eq!(out.value("node_netstat_Ip_Forwarding", &[]), Some(2.0));
    }
}
