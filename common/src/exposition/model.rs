//! The samples one scrape (or one `.prom` file) holds, independent of how they are
//! written out, and the registry rule that joins two sets.
//!
//! Producers append families and samples to a [`MetricSet`]; [`super::write`] renders
//! the set as Prometheus text 0.0.4 or OpenMetrics. Labels are rendered once, when a
//! sample is pushed (the exporter's fast path: a scrape of a few hundred series costs a
//! few allocations, not one per label). Names a program writes itself are its
//! constants; names from outside go through [`MetricSet::checked_family`] and
//! [`Family::checked_push`], which refuse what the format cannot carry.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use super::names::{is_label_name, is_metric_name, is_reserved_label_name};
use crate::text::escape_label_value;

/// The Prometheus type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Untyped,
    /// Samples `name{quantile=…}`, `name_sum`, `name_count` per series.
    Summary,
    /// Samples `name_bucket{le=…}`, `name_sum`, `name_count` per series.
    Histogram,
}

impl MetricKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Untyped => "untyped",
            MetricKind::Summary => "summary",
            MetricKind::Histogram => "histogram",
        }
    }

    /// The label that tells a series' samples apart (`quantile`, `le`), for the types
    /// whose series have several samples.
    pub fn bound_label(self) -> Option<&'static str> {
        match self {
            MetricKind::Summary => Some("quantile"),
            MetricKind::Histogram => Some("le"),
            _ => None,
        }
    }
}

/// Which sample of a series a sample is: its name is the family's plus this suffix.
/// Counters, gauges and untyped families have only [`SamplePart::Value`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamplePart {
    /// The family's own name: the value, or a summary's quantile.
    Value,
    Sum,
    Count,
    Bucket,
}

impl SamplePart {
    pub fn suffix(self) -> &'static str {
        match self {
            SamplePart::Value => "",
            SamplePart::Sum => "_sum",
            SamplePart::Count => "_count",
            SamplePart::Bucket => "_bucket",
        }
    }
}

pub type Name = Cow<'static, str>;

/// A family: name, help, type and its samples. Each sample's labels are rendered
/// (escaped, `cpu="0",mode="idle"`) once, when it is pushed, into one buffer shared by
/// the family: a scrape of a few hundred series then costs a few allocations, not one
/// per label.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: Name,
    pub help: Name,
    pub kind: MetricKind,
    /// The rendered label sets of all samples, back to back.
    labels: String,
    samples: Vec<Slot>,
}

/// One sample: where its labels end in [`Family::labels`], which part it is, its value.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Slot {
    end: usize,
    part: SamplePart,
    value: f64,
}

/// A sample as parsed back from the rendered form (for lookups and tests).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Family {
    fn new(name: Name, help: Name, kind: MetricKind) -> Self {
        Family {
            name,
            help,
            kind,
            labels: String::new(),
            samples: Vec::new(),
        }
    }

    /// Appends a sample with the given label pairs. Label names are the caller's
    /// constants; values are escaped here.
    pub fn push(&mut self, labels: &[(&str, &str)], value: f64) {
        self.push_part(SamplePart::Value, labels, value);
    }

    /// Appends one sample of a summary or histogram series (`_sum`, `_count`,
    /// `_bucket`, or a quantile as [`SamplePart::Value`]).
    pub fn push_part(&mut self, part: SamplePart, labels: &[(&str, &str)], value: f64) {
        for (i, (name, label_value)) in labels.iter().enumerate() {
            if i > 0 {
                self.labels.push(',');
            }
            self.labels.push_str(name);
            self.labels.push_str("=\"");
            escape_label_value(label_value, &mut self.labels);
            self.labels.push('"');
        }
        self.samples.push(Slot {
            end: self.labels.len(),
            part,
            value,
        });
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Each sample's rendered labels (without braces; empty for none) and value.
    pub fn rendered(&self) -> impl Iterator<Item = (&str, f64)> + '_ {
        self.parts().map(|(_, labels, value)| (labels, value))
    }

    /// Each sample's part, rendered labels and value.
    pub fn parts(&self) -> impl Iterator<Item = (SamplePart, &str, f64)> + '_ {
        let mut start = 0;
        self.samples.iter().map(move |slot| {
            let labels = &self.labels[start..slot.end];
            start = slot.end;
            (slot.part, labels, slot.value)
        })
    }

    /// The samples with their labels parsed back.
    pub fn samples(&self) -> Vec<Sample> {
        self.rendered()
            .map(|(labels, value)| Sample {
                labels: parse_rendered_labels(labels),
                value,
            })
            .collect()
    }

    /// The identity of the series a sample belongs to: its labels sorted by name,
    /// without the bound label of a summary or histogram.
    fn series_key(&self, rendered: &str) -> Vec<(String, String)> {
        let bound = self.kind.bound_label();
        let mut labels = parse_rendered_labels(rendered);
        labels.retain(|(name, _)| Some(name.as_str()) != bound);
        labels.sort();
        labels
    }

    /// Moves the samples of `other` (a family of the same name and type) to the end of
    /// this one, except those of a series (label set, in any order) already here;
    /// returns how many samples were dropped. Within `other`, a repeated counter, gauge
    /// or untyped series is dropped too; a summary's or histogram's samples of one
    /// series share its labels and are kept together.
    fn extend_unique(&mut self, other: &Family) -> usize {
        let mut seen: HashSet<Vec<(String, String)>> = self
            .rendered()
            .map(|(labels, _)| self.series_key(labels))
            .collect();
        let several_per_series = self.kind.bound_label().is_some();
        let mut added = Vec::new();
        let mut dropped = 0;
        for (part, labels, value) in other.parts() {
            let key = self.series_key(labels);
            let new = if several_per_series {
                !seen.contains(&key)
            } else {
                seen.insert(key.clone())
            };
            if new {
                self.labels.push_str(labels);
                self.samples.push(Slot {
                    end: self.labels.len(),
                    part,
                    value,
                });
                added.push(key);
            } else {
                dropped += 1;
            }
        }
        seen.extend(added);
        dropped
    }

    /// Orders the series as node_exporter's registry writes them: fewer labels first,
    /// then by label values in label-name order. A series' own samples (quantiles or
    /// buckets, then sum and count) keep their order.
    pub fn sort_series(&mut self) {
        let mut keyed: Vec<(usize, Vec<String>, SamplePart, String, f64)> = self
            .parts()
            .map(|(part, labels, value)| {
                // The key is sorted by label name: its values are in label-name order.
                let values: Vec<String> = self
                    .series_key(labels)
                    .into_iter()
                    .map(|(_, value)| value)
                    .collect();
                (values.len(), values, part, labels.to_owned(), value)
            })
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        self.labels.clear();
        self.samples.clear();
        for (_, _, part, labels, value) in keyed {
            self.labels.push_str(&labels);
            self.samples.push(Slot {
                end: self.labels.len(),
                part,
                value,
            });
        }
    }
}

/// Why a name from outside cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{0:?} is not a valid metric name")]
    MetricName(String),
    #[error("{0:?} is not a valid label name")]
    LabelName(String),
    #[error("label name {0:?} is reserved for Prometheus")]
    ReservedLabelName(String),
    #[error("label name {0:?} is given twice")]
    RepeatedLabelName(String),
}

impl Family {
    /// [`Family::push`] for labels from outside: refuses label names that are not
    /// valid, reserved (`__…`) or given twice, and pushes nothing then.
    pub fn checked_push(&mut self, labels: &[(&str, &str)], value: f64) -> Result<(), NameError> {
        for (i, (name, _)) in labels.iter().enumerate() {
            if !is_label_name(name) {
                return Err(NameError::LabelName((*name).to_owned()));
            }
            if is_reserved_label_name(name) {
                return Err(NameError::ReservedLabelName((*name).to_owned()));
            }
            if labels[..i].iter().any(|(other, _)| other == name) {
                return Err(NameError::RepeatedLabelName((*name).to_owned()));
            }
        }
        self.push(labels, value);
        Ok(())
    }
}

/// Parses `a="x",b="y\\"z"` as written by [`Family::push`].
pub fn parse_rendered_labels(mut text: &str) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    while let Some((name, rest)) = text.split_once("=\"") {
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let mut end = rest.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => value.push(other),
                    None => {}
                },
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        labels.push((name.to_string(), value));
        text = rest[end..].trim_start_matches(',');
    }
    labels
}

/// Everything one scrape produced: families in the order they were first pushed,
/// indexed by name.
#[derive(Debug, Default, Clone)]
pub struct MetricSet {
    families: Vec<Family>,
    /// foldhash, randomly seeded per process: several times faster than SipHash on
    /// these short names (a scrape looks up hundreds), and still seeded against
    /// crafted textfile or pushed names.
    index: HashMap<Name, usize, foldhash::fast::RandomState>,
    /// Summaries and histograms in the set: only then can a name collide with their
    /// `_sum`/`_count`/`_bucket` samples, so most joins skip the check.
    complex_families: usize,
}

impl MetricSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty set with room for `families` families (a scraper knows how many the
    /// last scrape had).
    pub fn with_capacity(families: usize) -> Self {
        MetricSet {
            families: Vec::with_capacity(families),
            index: HashMap::with_capacity_and_hasher(families, Default::default()),
            complex_families: 0,
        }
    }

    /// The family called `name`, created empty if this scrape has not seen it yet.
    ///
    /// Collectors usually fill one family at a time, so the last family is checked first.
    pub fn family(
        &mut self,
        name: impl Into<Name>,
        help: impl Into<Name>,
        kind: MetricKind,
    ) -> &mut Family {
        let name = name.into();
        let index = match self.families.last() {
            Some(last) if last.name == name => self.families.len() - 1,
            _ => match self.index.get(&name) {
                Some(&i) => i,
                None => self.insert(Family::new(name, help.into(), kind)),
            },
        };
        &mut self.families[index]
    }

    /// [`MetricSet::family`] for a name from outside: refuses one that is not a valid
    /// metric name.
    pub fn checked_family(
        &mut self,
        name: impl Into<Name>,
        help: impl Into<Name>,
        kind: MetricKind,
    ) -> Result<&mut Family, NameError> {
        let name = name.into();
        if !is_metric_name(&name) {
            return Err(NameError::MetricName(name.into_owned()));
        }
        Ok(self.family(name, help, kind))
    }

    fn insert(&mut self, family: Family) -> usize {
        let index = self.families.len();
        if matches!(family.kind, MetricKind::Summary | MetricKind::Histogram) {
            self.complex_families += 1;
        }
        self.index.insert(family.name.clone(), index);
        self.families.push(family);
        index
    }

    /// Shorthand for a gauge sample.
    pub fn gauge(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        self.family(name, help, MetricKind::Gauge)
            .push(labels, value);
    }

    /// Shorthand for a counter sample.
    pub fn counter(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        self.family(name, help, MetricKind::Counter)
            .push(labels, value);
    }

    pub fn families(&self) -> &[Family] {
        &self.families
    }

    /// Moves every family of `other` into this set. As in node_exporter's registry, the
    /// first family of a name wins: a family of `other` with another HELP or type than the
    /// one here is dropped whole, a new family whose sample names would collide with a
    /// summary's or histogram's (`x_sum` beside summary `x`, or the other way round) is
    /// dropped whole, and when a family merges into one here, its series whose label set
    /// is already present are dropped. Label names may differ between
    /// samples (the registry allows that too). A family new to this set is moved as it
    /// is: one collector's samples are not checked against each other (see
    /// [`MetricSet::append_deduplicated`] for sets from outside). The textfile
    /// collector runs last, so a textfile family that clashes with a built-in one loses.
    pub fn append(&mut self, other: MetricSet) {
        self.join(other, false);
    }

    /// [`MetricSet::append`], and a family new to this set has its own repeated series
    /// dropped too: for families read from outside (textfiles), which nothing else
    /// checked.
    pub fn append_deduplicated(&mut self, other: MetricSet) {
        self.join(other, true);
    }

    fn join(&mut self, other: MetricSet, deduplicate_new: bool) {
        for family in other.families {
            let Some(&index) = self.index.get(&family.name) else {
                if let Some(clash) = self.suffix_collision(&family.name, family.kind) {
                    tracing::warn!(
                        family = %family.name,
                        clash,
                        "dropping a family whose sample names collide with a summary or histogram"
                    );
                    continue;
                }
                if !deduplicate_new {
                    self.insert(family);
                    continue;
                }
                let empty = Family::new(family.name.clone(), family.help.clone(), family.kind);
                let index = self.insert(empty);
                Self::merge(&mut self.families[index], &family);
                continue;
            };
            let existing = &mut self.families[index];
            if existing.help != family.help || existing.kind != family.kind {
                tracing::warn!(
                    family = %family.name,
                    help = %family.help,
                    kind = family.kind.as_str(),
                    first_help = %existing.help,
                    first_kind = existing.kind.as_str(),
                    "dropping a family whose HELP or type differs from the first one of that name"
                );
                continue;
            }
            Self::merge(existing, &family);
        }
    }

    fn merge(existing: &mut Family, family: &Family) {
        let dropped = existing.extend_unique(family);
        if dropped > 0 {
            tracing::warn!(
                family = %family.name,
                dropped,
                "dropping samples whose labels repeat an earlier sample of the family"
            );
        }
    }

    /// client_golang's `checkSuffixCollisions`: the family a new one named `name` of
    /// type `kind` would write the same sample names as.
    fn suffix_collision(&self, name: &str, kind: MetricKind) -> Option<String> {
        if self.complex_families == 0
            && !matches!(kind, MetricKind::Summary | MetricKind::Histogram)
        {
            return None;
        }
        let kind_of = |name: &str| self.get(name).map(|family| family.kind);
        let base = ["_count", "_sum", "_bucket"]
            .into_iter()
            .find_map(|suffix| Some((name.strip_suffix(suffix)?, suffix)));
        if let Some((base, suffix)) = base {
            match kind_of(base) {
                Some(MetricKind::Summary) if suffix != "_bucket" => return Some(base.into()),
                Some(MetricKind::Histogram) => return Some(base.into()),
                _ => {}
            }
        }
        let suffixes: &[&str] = match kind {
            MetricKind::Summary => &["_count", "_sum"],
            MetricKind::Histogram => &["_count", "_sum", "_bucket"],
            _ => &[],
        };
        suffixes
            .iter()
            .map(|suffix| format!("{name}{suffix}"))
            .find(|other| kind_of(other).is_some())
    }

    /// Orders every family's series as node_exporter writes them ([`Family::sort_series`]).
    pub fn sort_series(&mut self) {
        self.families.iter_mut().for_each(Family::sort_series);
    }

    /// Looks up one family by name; used by tests and by callers that post-process.
    pub fn get(&self, name: &str) -> Option<&Family> {
        self.index.get(name).map(|&i| &self.families[i])
    }

    /// The value of the first sample of `name` whose labels include every pair of `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.get(name)?
            .samples()
            .into_iter()
            .find(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|s| s.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_merges_samples_by_name() {
        let mut set = MetricSet::new();
        set.gauge("a", "help a", &[("x", "1")], 1.0);
        set.gauge("b", "help b", &[], 2.0);
        set.gauge("a", "help a", &[("x", "2")], 3.0);
        assert_eq!(set.families().len(), 2);
        assert_eq!(set.get("a").map(Family::len), Some(2));
        assert_eq!(set.value("a", &[("x", "2")]), Some(3.0));
        assert_eq!(set.value("a", &[("x", "3")]), None);
    }

    #[test]
    fn append_merges_families() {
        let mut a = MetricSet::new();
        a.counter("c_total", "c", &[("k", "1")], 1.0);
        let mut b = MetricSet::new();
        b.counter("c_total", "c", &[("k", "2")], 2.0);
        b.gauge("g", "g", &[], 5.0);
        a.append(b);
        assert_eq!(a.get("c_total").map(Family::len), Some(2));
        assert_eq!(a.value("c_total", &[("k", "2")]), Some(2.0));
        assert_eq!(a.value("g", &[]), Some(5.0));
    }

    #[test]
    fn append_keeps_the_first_family_of_a_name() {
        let mut a = MetricSet::new();
        a.gauge("node_load1", "1m load average.", &[], 0.5);
        let mut b = MetricSet::new();
        b.gauge("node_load1", "Other help.", &[("x", "1")], 1.0);
        b.counter("node_load1_total", "t", &[], 3.0);
        a.append(b);
        let mut c = MetricSet::new();
        c.counter("node_load1", "1m load average.", &[("x", "2")], 2.0);
        a.append(c);
        let family = a.get("node_load1").unwrap();
        assert_eq!((family.len(), &*family.help), (1, "1m load average."));
        assert_eq!(family.kind, MetricKind::Gauge);
        assert_eq!(a.value("node_load1_total", &[]), Some(3.0));
    }

    #[test]
    fn append_drops_repeated_series_but_not_other_label_names() {
        let mut a = MetricSet::new();
        a.gauge("g", "h", &[("a", "1"), ("b", "2")], 1.0);
        let mut b = MetricSet::new();
        let family = b.family("g", "h", MetricKind::Gauge);
        family.push(&[("b", "2"), ("a", "1")], 2.0);
        family.push(&[("a", "1")], 3.0);
        family.push(&[("x", "y\"z")], 4.0);
        family.push(&[("x", "y\"z")], 5.0);
        a.append(b);
        let rendered: Vec<(&str, f64)> = a.get("g").unwrap().rendered().collect();
        assert_eq!(
            rendered,
            vec![
                ("a=\"1\",b=\"2\"", 1.0),
                ("a=\"1\"", 3.0),
                ("x=\"y\\\"z\"", 4.0)
            ]
        );
    }

    #[test]
    fn labels_are_rendered_once_and_parse_back() {
        let mut set = MetricSet::new();
        let family = set.family("f", "h", MetricKind::Gauge);
        family.push(&[("path", "C:\\x \"q\"\nz"), ("b", "")], 1.0);
        family.push(&[], 2.0);
        family.push(&[("a", "1")], 3.0);
        let rendered: Vec<(&str, f64)> = family.rendered().collect();
        assert_eq!(
            rendered,
            vec![
                ("path=\"C:\\\\x \\\"q\\\"\\nz\",b=\"\"", 1.0),
                ("", 2.0),
                ("a=\"1\"", 3.0)
            ]
        );
        assert_eq!(
            family.samples()[0].labels,
            vec![
                ("path".to_string(), "C:\\x \"q\"\nz".to_string()),
                ("b".to_string(), String::new())
            ]
        );
        assert_eq!(set.value("f", &[("a", "1")]), Some(3.0));
    }

    fn summary(set: &mut MetricSet, name: &'static str, labels: &[(&str, &str)], count: f64) {
        let family = set.family(name, "latency", MetricKind::Summary);
        let mut with = labels.to_vec();
        with.push(("quantile", "0.5"));
        family.push_part(SamplePart::Value, &with, 0.1);
        family.push_part(SamplePart::Sum, labels, 9.0);
        family.push_part(SamplePart::Count, labels, count);
    }

    #[test]
    fn a_summary_series_is_kept_or_dropped_whole() {
        let mut a = MetricSet::new();
        summary(&mut a, "rpc", &[("svc", "a")], 3.0);
        let mut b = MetricSet::new();
        summary(&mut b, "rpc", &[("svc", "a")], 4.0);
        summary(&mut b, "rpc", &[("svc", "b")], 5.0);
        a.append(b);
        let parts: Vec<(SamplePart, String, f64)> = a
            .get("rpc")
            .unwrap()
            .parts()
            .map(|(part, labels, value)| (part, labels.to_owned(), value))
            .collect();
        // svc="a" repeats: all three of its samples from b go; svc="b" comes whole.
        assert_eq!(
            parts,
            vec![
                (SamplePart::Value, "svc=\"a\",quantile=\"0.5\"".into(), 0.1),
                (SamplePart::Sum, "svc=\"a\"".into(), 9.0),
                (SamplePart::Count, "svc=\"a\"".into(), 3.0),
                (SamplePart::Value, "svc=\"b\",quantile=\"0.5\"".into(), 0.1),
                (SamplePart::Sum, "svc=\"b\"".into(), 9.0),
                (SamplePart::Count, "svc=\"b\"".into(), 5.0),
            ]
        );
    }

    #[test]
    fn names_colliding_with_a_summary_are_dropped() {
        let mut a = MetricSet::new();
        summary(&mut a, "rpc", &[], 1.0);
        let mut b = MetricSet::new();
        b.gauge("rpc_sum", "h", &[], 1.0);
        b.gauge("rpc_bucket", "h", &[], 2.0);
        summary(&mut b, "load", &[], 1.0);
        a.append(b);
        assert!(a.get("rpc_sum").is_none());
        // A summary has no _bucket samples: no collision.
        assert_eq!(a.value("rpc_bucket", &[]), Some(2.0));
        let mut c = MetricSet::new();
        c.gauge("load_count", "h", &[], 1.0);
        let mut d = MetricSet::new();
        summary(&mut d, "load", &[], 1.0);
        c.append(d);
        assert!(
            c.get("load").is_none(),
            "summary load collides with load_count"
        );
    }

    #[test]
    fn outside_families_are_deduplicated_and_series_sorted_as_node_exporter() {
        let mut read = MetricSet::new();
        let family = read.family("x", "h", MetricKind::Gauge);
        family.push(&[("b", "2"), ("a", "1")], 1.0);
        family.push(&[("a", "1"), ("b", "2")], 2.0);
        family.push(&[("a", "0")], 3.0);
        family.push(&[("a", "1"), ("b", "1")], 4.0);
        let mut set = MetricSet::new();
        set.append_deduplicated(read);
        set.sort_series();
        let rendered: Vec<(&str, f64)> = set.get("x").unwrap().rendered().collect();
        assert_eq!(
            rendered,
            vec![
                ("a=\"0\"", 3.0),
                ("a=\"1\",b=\"1\"", 4.0),
                ("b=\"2\",a=\"1\"", 1.0)
            ]
        );
    }

    #[test]
    fn checked_names_refuse_what_the_format_cannot_carry() {
        let mut set = MetricSet::new();
        assert_eq!(
            set.checked_family("9x", "h", MetricKind::Gauge).err(),
            Some(NameError::MetricName("9x".into()))
        );
        let family = set.checked_family("ok", "h", MetricKind::Gauge).unwrap();
        assert_eq!(
            family.checked_push(&[("a-b", "1")], 1.0),
            Err(NameError::LabelName("a-b".into()))
        );
        assert_eq!(
            family.checked_push(&[("__name__", "x")], 1.0),
            Err(NameError::ReservedLabelName("__name__".into()))
        );
        assert_eq!(
            family.checked_push(&[("a", "1"), ("a", "2")], 1.0),
            Err(NameError::RepeatedLabelName("a".into()))
        );
        assert!(family.is_empty());
        family.checked_push(&[("a", "1")], 1.0).unwrap();
        assert_eq!(set.value("ok", &[("a", "1")]), Some(1.0));
    }
}
