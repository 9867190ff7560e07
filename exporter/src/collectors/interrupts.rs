//! `node_interrupts_total{cpu,type,info,devices}` from `<procfs>/interrupts` (off by
//! default, as in node_exporter).
//!
//! As node_exporter 1.12 reads the table: the header's column count is the number of
//! CPUs, and `cpu` is the column index (not the number in the header: with CPUs offline
//! they differ). Each line is split at its first ':' (on arm64 a wide count can touch
//! the name: `IPI0:2768808080 ...`). A numbered IRQ's `info` is the first word after
//! the counts and `devices` the rest; a named one (`NMI`, `LOC`) has all of it as
//! `info`. Lines without a word after the counts (`ERR`, `MIS`) are skipped.
//!
//! `--collector.interrupts.name-include` / `-exclude` match `type;info;devices`; unlike
//! other collectors' pairs both may be given, and both then apply.
//! `--no-collector.interrupts.include-zeros` drops zero counts.

use std::path::{Path, PathBuf};

use clap::Arg;
use regex_lite::Regex;

use crate::collector::{switch_args, BuildContext, Collector, CollectorSpec};
use crate::error::{CollectError, ConfigError};
use crate::paths::Paths;
use crate::read::read_table_string;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "interrupts",
    enabled_by_default: false,
    args,
    build: |ctx| Ok(Box::new(Interrupts::build(ctx)?)),
};

const INCLUDE_FLAG: &str = "collector.interrupts.name-include";
const EXCLUDE_FLAG: &str = "collector.interrupts.name-exclude";
const ZEROS_FLAG: &str = "collector.interrupts.include-zeros";

fn args() -> Vec<Arg> {
    let mut args = vec![
        Arg::new(INCLUDE_FLAG).long(INCLUDE_FLAG).help(
            "Regexp of interrupts name to include (mutually exclusive to --collector.interrupts.name-exclude).",
        ),
        Arg::new(EXCLUDE_FLAG).long(EXCLUDE_FLAG).help(
            "Regexp of interrupts name to exclude (mutually exclusive to --collector.interrupts.name-include).",
        ),
    ];
    args.extend(switch_args(
        ZEROS_FLAG,
        "Include interrupts that have a zero value (default: enabled).",
    ));
    args
}

/// node_exporter's filter of this collector: an exclude and an include pattern that
/// both apply when both are given.
#[derive(Default)]
pub struct NameFilter {
    pub include: Option<Regex>,
    pub exclude: Option<Regex>,
}

impl NameFilter {
    pub fn accepts(&self, name: &str) -> bool {
        !self.exclude.as_ref().is_some_and(|re| re.is_match(name))
            && self.include.as_ref().is_none_or(|re| re.is_match(name))
    }
}

pub struct Interrupts {
    path: PathBuf,
    filter: NameFilter,
    include_zeros: bool,
    /// "0", "1", ...: the `cpu` label of each column, made once.
    cpu_labels: Vec<String>,
}

impl Interrupts {
    fn build(ctx: &BuildContext) -> Result<Self, ConfigError> {
        let filter = NameFilter {
            include: ctx.regex(INCLUDE_FLAG)?,
            exclude: ctx.regex(EXCLUDE_FLAG)?,
        };
        Ok(Interrupts::new(
            ctx.paths,
            filter,
            ctx.switch(ZEROS_FLAG, true),
        ))
    }

    pub fn new(paths: &Paths, filter: NameFilter, include_zeros: bool) -> Self {
        Interrupts {
            path: paths.proc("interrupts"),
            filter,
            include_zeros,
            cpu_labels: Vec::new(),
        }
    }
}

/// One line of `/proc/interrupts`.
#[derive(Debug, PartialEq)]
pub struct Interrupt<'a> {
    /// Its line number, for messages.
    pub line: usize,
    pub name: &'a str,
    pub info: String,
    pub devices: String,
    /// One count per CPU column, as written.
    pub counts: Vec<&'a str>,
}

/// The lines of `/proc/interrupts`; a name seen twice keeps its last line.
pub fn parse_interrupts<'a>(
    text: &'a str,
    path: &Path,
) -> Result<Vec<Interrupt<'a>>, CollectError> {
    let mut lines = text.lines();
    let cpus = lines
        .next()
        .ok_or_else(|| CollectError::parse(path, 1, "interrupts empty"))?
        .split_whitespace()
        .count();
    let mut interrupts: Vec<Interrupt> = Vec::new();
    for (index, line) in lines.enumerate() {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim_start();
        let words: Vec<&str> = rest.split_whitespace().collect();
        if words.len() < cpus + 1 {
            continue;
        }
        let (counts, details) = words.split_at(cpus);
        let numbered = name.parse::<i64>().is_ok();
        let (info, devices) = if numbered {
            (details[0].to_string(), details[1..].join(" "))
        } else {
            (details.join(" "), String::new())
        };
        let interrupt = Interrupt {
            line: index + 2,
            name,
            info,
            devices,
            counts: counts.to_vec(),
        };
        match interrupts.iter_mut().find(|i| i.name == name) {
            Some(seen) => *seen = interrupt,
            None => interrupts.push(interrupt),
        }
    }
    Ok(interrupts)
}

impl Collector for Interrupts {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = read_table_string(&self.path)?;
        let mut own = MetricSet::new();
        let mut filter_name = String::new();
        for interrupt in parse_interrupts(&text, &self.path)? {
            filter_name.clear();
            filter_name.push_str(interrupt.name);
            filter_name.push(';');
            filter_name.push_str(&interrupt.info);
            filter_name.push(';');
            filter_name.push_str(&interrupt.devices);
            if !self.filter.accepts(&filter_name) {
                continue;
            }
            while self.cpu_labels.len() < interrupt.counts.len() {
                self.cpu_labels.push(self.cpu_labels.len().to_string());
            }
            for (cpu, count) in interrupt.counts.iter().enumerate() {
                let value: f64 = count.parse().map_err(|_| {
                    CollectError::parse(
                        &self.path,
                        interrupt.line,
                        format!("{}: not a number: {count:?}", interrupt.name),
                    )
                })?;
                if !self.include_zeros && value == 0.0 {
                    continue;
                }
                // Created with its first sample: nothing kept, no family.
                own.family(
                    "node_interrupts_total",
                    "Interrupt details.",
                    MetricKind::Counter,
                )
                .push(
                    // In label-name order, as node_exporter writes them.
                    &[
                        ("cpu", &self.cpu_labels[cpu]),
                        ("devices", &interrupt.devices),
                        ("info", &interrupt.info),
                        ("type", interrupt.name),
                    ],
                    value,
                );
            }
        }
        // node_exporter's registry sorts the series by label values.
        own.sort_series();
        out.append(own);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::fixture_paths;

    fn scrape(filter: NameFilter, include_zeros: bool) -> MetricSet {
        let mut out = MetricSet::new();
        Interrupts::new(&fixture_paths(), filter, include_zeros)
            .update(&mut Sources::default(), &mut out)
            .unwrap();
        out
    }

    fn labels<'a>(
        cpu: &'a str,
        kind: &'a str,
        info: &'a str,
        devices: &'a str,
    ) -> [(&'static str, &'a str); 4] {
        [
            ("cpu", cpu),
            ("devices", devices),
            ("info", info),
            ("type", kind),
        ]
    }

    #[test]
    fn every_line_and_cpu_of_the_fixture() {
        let out = scrape(NameFilter::default(), true);
        let family = out.get("node_interrupts_total").unwrap();
        assert_eq!(family.help, "Interrupt details.");
        assert_eq!(family.kind, MetricKind::Counter);
        // 27 lines with four counts each; ERR and MIS are skipped.
        assert_eq!(family.len(), 27 * 4);
        let v = |l: [(&str, &str); 4]| out.value("node_interrupts_total", &l);
        assert_eq!(
            v(labels(
                "2",
                "126",
                "IR-PCI-MSIX-0000:02:00.0",
                "1-edge nvme0q1"
            )),
            Some(1863402.0)
        );
        assert_eq!(
            v(labels("1", "125", "IR-PCI-MSI", "520192-edge eth0")),
            Some(48213.0)
        );
        assert_eq!(
            v(labels("3", "LOC", "Local timer interrupts", "")),
            Some(45918273.0)
        );
        assert_eq!(
            v(labels("0", "0", "IR-IO-APIC", "2-edge timer")),
            Some(19.0)
        );
        assert_eq!(v(labels("0", "ERR", "", "")), None);
    }

    #[test]
    fn zeros_and_names_are_filtered() {
        let out = scrape(NameFilter::default(), false);
        let family = out.get("node_interrupts_total").unwrap();
        assert!(family.rendered().all(|(_, value)| value != 0.0));
        assert_eq!(
            out.value(
                "node_interrupts_total",
                &labels("2", "8", "IR-IO-APIC", "8-edge rtc0")
            ),
            Some(1.0)
        );

        // The filter sees `type;info;devices`; include and exclude both apply.
        let filter = NameFilter {
            include: Some(Regex::new("^(LOC|RES|12);").unwrap()),
            exclude: Some(Regex::new("Rescheduling").unwrap()),
        };
        let out = scrape(filter, true);
        let family = out.get("node_interrupts_total").unwrap();
        assert_eq!(family.len(), 8);
        assert_eq!(
            out.value(
                "node_interrupts_total",
                &labels("3", "12", "IR-IO-APIC", "12-edge i8042")
            ),
            Some(812.0)
        );

        // Nothing kept: no family at all.
        let filter = NameFilter {
            include: Some(Regex::new("^nothing").unwrap()),
            exclude: None,
        };
        assert!(scrape(filter, true).get("node_interrupts_total").is_none());
    }

    #[test]
    fn arm64_counts_touching_the_name_and_offline_cpus() {
        let text = "           CPU0       CPU2\n  3:       8053       1910     GICv3  27 Level     arch_timer\nIPI0:2768808080 2844211768       Rescheduling interrupts\nErr:          0\n";
        let p = Path::new("/proc/interrupts");
        let parsed = parse_interrupts(text, p).unwrap();
        assert_eq!(
            parsed,
            vec![
                Interrupt {
                    line: 2,
                    name: "3",
                    info: "GICv3".into(),
                    devices: "27 Level arch_timer".into(),
                    counts: vec!["8053", "1910"],
                },
                Interrupt {
                    line: 3,
                    name: "IPI0",
                    info: "Rescheduling interrupts".into(),
                    devices: String::new(),
                    counts: vec!["2768808080", "2844211768"],
                },
            ]
        );
        assert_eq!(
            parse_interrupts("", p).unwrap_err().to_string(),
            "/proc/interrupts:1: interrupts empty"
        );
    }

    #[test]
    fn a_bad_count_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("proc")).unwrap();
        let file = dir.path().join("proc/interrupts");
        std::fs::write(&file, "  CPU0\n 0: 12 IO-APIC timer\nNMI: x Non-maskable\n").unwrap();
        let err = Interrupts::new(&Paths::under(dir.path()), NameFilter::default(), true)
            .update(&mut Sources::default(), &mut MetricSet::new())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}:3: NMI: not a number: \"x\"", file.display())
        );
    }
}
