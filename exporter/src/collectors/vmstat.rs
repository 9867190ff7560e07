//! `node_vmstat_<field>` (untyped) for every `<procfs>/vmstat` field whose name matches
//! `--collector.vmstat.fields`.
//!
//! As in node_exporter, every line's value is parsed before the field is filtered, so a
//! malformed line fails the collector even when its field is not exported. An empty
//! `--collector.vmstat.fields` matches every field (an empty Go regexp matches all).
//! The table keeps the same fields in the same order from scrape to scrape, so the
//! regex verdict of each line is remembered and reused while the name at that line is
//! unchanged: a steady-state scrape runs no regex at all.

use std::path::{Path, PathBuf};

use clap::Arg;
use regex_lite::Regex;

use crate::collector::{BuildContext, Collector, CollectorSpec};
use crate::error::{CollectError, ConfigError};
use crate::family_names::FamilyNames;
use crate::paths::Paths;
use crate::read::parse_field;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "vmstat",
    enabled_by_default: true,
    args,
    build: |ctx| Ok(Box::new(VmStat::build(ctx)?)),
};

const FIELDS_FLAG: &str = "collector.vmstat.fields";
/// node_exporter 1.12's default.
pub const DEFAULT_FIELDS: &str = "^(oom_kill|pgpg|pswp|pg.*fault).*";

fn args() -> Vec<Arg> {
    vec![Arg::new(FIELDS_FLAG)
        .long(FIELDS_FLAG)
        .default_value(DEFAULT_FIELDS)
        .help("Regexp of fields to return for vmstat collector.")]
}

pub struct VmStat {
    path: PathBuf,
    /// `None` exports every field.
    fields: Option<Regex>,
    /// The field name seen at each line last scrape and whether it is exported.
    verdicts: Vec<(String, bool)>,
    names: FamilyNames,
}

impl VmStat {
    fn build(ctx: &BuildContext) -> Result<Self, ConfigError> {
        Ok(VmStat::new(ctx.paths, ctx.regex(FIELDS_FLAG)?))
    }

    pub fn new(paths: &Paths, fields: Option<Regex>) -> Self {
        VmStat {
            path: paths.proc("vmstat"),
            fields,
            verdicts: Vec::new(),
            names: FamilyNames::default(),
        }
    }

    fn exported(&mut self, index: usize, name: &str) -> bool {
        if let Some((known, verdict)) = self.verdicts.get(index) {
            if known == name {
                return *verdict;
            }
        }
        let verdict = self.fields.as_ref().is_none_or(|re| re.is_match(name));
        if index < self.verdicts.len() {
            self.verdicts[index] = (name.to_string(), verdict);
        } else {
            self.verdicts.push((name.to_string(), verdict));
        }
        verdict
    }
}

/// One `name value` line of `/proc/vmstat`.
pub fn parse_line<'a>(
    line: &'a str,
    path: &Path,
    line_no: usize,
) -> Result<(&'a str, f64), CollectError> {
    let mut parts = line.split_whitespace();
    let name = parts
        .next()
        .ok_or_else(|| CollectError::parse(path, line_no, "empty line"))?;
    let value = parse_field(parts.next(), path, line_no, name)?;
    Ok((name, value))
}

impl Collector for VmStat {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = crate::read::read_table_string(&self.path)?;
        for (index, line) in text.lines().enumerate() {
            let (name, value) = parse_line(line, &self.path, index + 1)?;
            if !self.exported(index, name) {
                continue;
            }
            let (family, help) = self.names.get(name, || {
                (
                    format!("node_vmstat_{name}"),
                    format!("/proc/vmstat information field {name}."),
                )
            });
            out.checked_family(family, help, MetricKind::Untyped)
                .map_err(|e| CollectError::parse(&self.path, index + 1, e.to_string()))?
                .push(&[], value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    fn scrape(fields: Option<&str>) -> MetricSet {
        let re = fields.map(|f| Regex::new(f).unwrap());
        let mut collector = VmStat::new(&fixture_paths(), re);
        let mut out = MetricSet::new();
        collector.update(&mut Sources::default(), &mut out).unwrap();
        out
    }

    #[test]
    fn default_fields_of_the_fixture() {
        let out = scrape(Some(DEFAULT_FIELDS));
        let lines = rendered(&out, |name| name.starts_with("node_vmstat_"));
        let expected: Vec<Line> = [
            ("pgpgin", 7810489.0),
            ("pgpgout", 7919776.0),
            ("pswpin", 8029125.0),
            ("pswpout", 8138536.0),
            ("pgfault", 10339776.0),
            ("pgmajfault", 10450489.0),
            ("oom_kill", 13575625.0),
        ]
        .iter()
        .flat_map(|(field, value)| {
            let name = format!("node_vmstat_{field}");
            [
                Line::Help(
                    name.clone(),
                    format!("/proc/vmstat information field {field}."),
                ),
                Line::Type(name.clone(), "untyped".into()),
                Line::Sample(name, vec![], *value),
            ]
        })
        .collect();
        let mut sorted_expected = expected.clone();
        let family_order = |l: &Line| l.family().to_string();
        sorted_expected.sort_by_key(family_order);
        let mut sorted_lines = lines.clone();
        sorted_lines.sort_by_key(family_order);
        assert_eq!(sorted_lines, sorted_expected);
        // `thp_fault_alloc` has "fault" but does not start with pg: the regex is anchored.
        assert!(out.get("node_vmstat_thp_fault_alloc").is_none());
    }

    #[test]
    fn empty_regex_exports_every_field_and_verdicts_are_reused() {
        let out = scrape(None);
        assert_eq!(out.families().len(), 192);
        assert_eq!(out.value("node_vmstat_nr_free_pages", &[]), Some(104761.0));

        let mut collector = VmStat::new(&fixture_paths(), Some(Regex::new("^pswp").unwrap()));
        for _ in 0..2 {
            let mut out = MetricSet::new();
            collector.update(&mut Sources::default(), &mut out).unwrap();
            assert_eq!(out.families().len(), 2);
        }
        // A verdict is recomputed when the name at a line changes.
        collector.verdicts[0].0 = "pswpfake".into();
        collector.verdicts[0].1 = true;
        let mut out = MetricSet::new();
        collector.update(&mut Sources::default(), &mut out).unwrap();
        assert_eq!(out.families().len(), 2);
    }

    #[test]
    fn parse_errors_name_the_line() {
        let p = Path::new("/proc/vmstat");
        assert_eq!(parse_line("pgfault 12", p, 1).unwrap(), ("pgfault", 12.0));
        assert_eq!(
            parse_line("pgfault x", p, 3).unwrap_err().to_string(),
            "/proc/vmstat:3: pgfault: not a number: \"x\""
        );
        assert_eq!(
            parse_line("pgfault", p, 4).unwrap_err().to_string(),
            "/proc/vmstat:4: missing pgfault"
        );
        assert_eq!(
            parse_line("", p, 5).unwrap_err().to_string(),
            "/proc/vmstat:5: empty line"
        );
    }

    #[test]
    fn an_absent_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut collector = VmStat::new(&Paths::under(dir.path()), None);
        let err = collector
            .update(&mut Sources::default(), &mut MetricSet::new())
            .unwrap_err();
        assert!(matches!(err, CollectError::Read { .. }), "{err}");
    }
}
