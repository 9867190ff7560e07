//! The samples one scrape produces, independent of how they are written out.
//!
//! Collectors append families and samples to a [`MetricSet`]; `exposition` renders
//! the set as Prometheus text 0.0.4 or OpenMetrics. Label names are almost always
//! static strings, so they are `Cow<'static, str>` to avoid an allocation per sample.

use std::borrow::Cow;

/// The Prometheus type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Untyped,
}

impl MetricKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Untyped => "untyped",
        }
    }
}

pub type Name = Cow<'static, str>;

/// One series: its label pairs (in the order given) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<(Name, String)>,
    pub value: f64,
}

/// A metric family: name, help, type and the samples that belong to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: Name,
    pub help: Name,
    pub kind: MetricKind,
    pub samples: Vec<Sample>,
}

impl Family {
    /// Appends a sample with the given label pairs.
    pub fn push(&mut self, labels: &[(&'static str, &str)], value: f64) {
        self.samples.push(Sample {
            labels: labels
                .iter()
                .map(|(k, v)| (Cow::Borrowed(*k), (*v).to_string()))
                .collect(),
            value,
        });
    }

    /// Appends a sample whose label values are already owned strings.
    pub fn push_owned(&mut self, labels: Vec<(Name, String)>, value: f64) {
        self.samples.push(Sample { labels, value });
    }
}

/// Everything one scrape produced.
#[derive(Debug, Default)]
pub struct MetricSet {
    families: Vec<Family>,
}

impl MetricSet {
    pub fn new() -> Self {
        Self::default()
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
            _ => match self.families.iter().position(|f| f.name == name) {
                Some(i) => i,
                None => {
                    self.families.push(Family {
                        name,
                        help: help.into(),
                        kind,
                        samples: Vec::new(),
                    });
                    self.families.len() - 1
                }
            },
        };
        &mut self.families[index]
    }

    /// Shorthand for a gauge sample.
    pub fn gauge(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
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
        labels: &[(&'static str, &str)],
        value: f64,
    ) {
        self.family(name, help, MetricKind::Counter)
            .push(labels, value);
    }

    pub fn families(&self) -> &[Family] {
        &self.families
    }

    /// Moves every family of `other` into this set (merging families of the same name).
    pub fn append(&mut self, other: MetricSet) {
        for family in other.families {
            let Family {
                name,
                help,
                kind,
                samples,
            } = family;
            self.family(name, help, kind).samples.extend(samples);
        }
    }

    /// Looks up one family by name; used by tests and by callers that post-process.
    pub fn get(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }

    /// The value of the first sample of `name` whose labels include every pair of `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.get(name)?
            .samples
            .iter()
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
        assert_eq!(set.get("a").map(|f| f.samples.len()), Some(2));
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
        assert_eq!(a.get("c_total").map(|f| f.samples.len()), Some(2));
        assert_eq!(a.value("g", &[]), Some(5.0));
    }
}
