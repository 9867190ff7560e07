//! The lookup the sections read from: a scrape's families by name, and the window
//! between two scrapes that turns counters into rates.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use edge_common::textparse::{MetricFamily, Value};

use super::Scrape;

/// The families of one scrape, indexed by name.
pub(super) struct Series<'a> {
    by_name: HashMap<&'a str, &'a MetricFamily, RandomState>,
}

/// One series of a counter, gauge or untyped family.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sample<'a> {
    labels: &'a [(String, String)],
    pub value: f64,
}

impl<'a> Sample<'a> {
    pub fn label(&self, name: &str) -> Option<&'a str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The label's value, "" when the series has no such label.
    pub fn label_or_empty(&self, name: &str) -> &'a str {
        self.label(name).unwrap_or("")
    }
}

impl<'a> Series<'a> {
    pub fn new(families: &'a [MetricFamily]) -> Series<'a> {
        let mut by_name = HashMap::with_capacity_and_hasher(families.len(), RandomState::default());
        for family in families {
            by_name.entry(family.name.as_str()).or_insert(family);
        }
        Series { by_name }
    }

    /// The series of family `name` in exposition order. Summaries, histograms and
    /// values that are not finite (NaN would serialize as JSON null) are left out.
    pub fn samples(&self, name: &str) -> impl Iterator<Item = Sample<'a>> + use<'a> {
        self.by_name
            .get(name)
            .map(|family| family.metrics.as_slice())
            .unwrap_or_default()
            .iter()
            .filter_map(|metric| match metric.value {
                Value::Single(value) if value.is_finite() => Some(Sample {
                    labels: &metric.labels,
                    value,
                }),
                _ => None,
            })
    }

    /// The value of a family with one series (the first, if it has more).
    pub fn scalar(&self, name: &str) -> Option<f64> {
        self.samples(name).next().map(|s| s.value)
    }

    /// The value of the series of family `name` whose `label` is `key`.
    pub fn find(&self, name: &str, label: &str, key: &str) -> Option<f64> {
        self.samples(name)
            .find(|s| s.label(label) == Some(key))
            .map(|s| s.value)
    }
}

/// A scrape and, when rates can be taken, the previous one and the seconds between.
pub(super) struct Window<'a> {
    pub now: Series<'a>,
    pub before: Option<(Series<'a>, f64)>,
}

impl<'a> Window<'a> {
    /// The previous scrape is dropped when it is not earlier than this one, or when the
    /// node's boot time moved (a reboot, or a clock step, which also breaks the window).
    pub fn new(current: &'a Scrape, previous: Option<&'a Scrape>) -> Window<'a> {
        let now = Series::new(&current.families);
        let before = previous.and_then(|previous| {
            let seconds = (current.at - previous.at).num_microseconds()? as f64 / 1e6;
            let before = Series::new(&previous.families);
            let boot = "node_boot_time_seconds";
            let rebooted = matches!(
                (now.scalar(boot), before.scalar(boot)),
                (Some(a), Some(b)) if (a - b).abs() > 1.0
            );
            (seconds > 0.0 && !rebooted).then_some((before, seconds))
        });
        Window { now, before }
    }

    /// Per-second increase of counter `name` in the series whose `label` is `key`;
    /// 0 without a previous value or when the counter went down (reset).
    pub fn rate(&self, name: &str, label: &str, key: &str) -> f64 {
        let Some((before, seconds)) = &self.before else {
            return 0.0;
        };
        match (
            self.now.find(name, label, key),
            before.find(name, label, key),
        ) {
            (Some(now), Some(then)) => increase(now, then).map_or(0.0, |d| d / seconds),
            _ => 0.0,
        }
    }
}

impl Window<'_> {
    /// Per-second increase of a counter with one series (`node_vmstat_pgfault`,
    /// `node_pressure_cpu_waiting_seconds_total`); 0 as for [`Window::rate`].
    pub fn scalar_rate(&self, name: &str) -> f64 {
        let Some((before, seconds)) = &self.before else {
            return 0.0;
        };
        match (self.now.scalar(name), before.scalar(name)) {
            (Some(now), Some(then)) => increase(now, then).map_or(0.0, |d| d / seconds),
            _ => 0.0,
        }
    }

    /// The sum of the per-second increases of every series of counter `name`, each
    /// matched with the series of the same labels in the previous scrape (one per CPU
    /// for softnet): a series that went down or is new adds nothing.
    pub fn summed_rate(&self, name: &str) -> f64 {
        let Some((before, seconds)) = &self.before else {
            return 0.0;
        };
        let then: HashMap<&[(String, String)], f64, RandomState> = before
            .samples(name)
            .map(|sample| (sample.labels, sample.value))
            .collect();
        self.now
            .samples(name)
            .filter_map(|sample| increase(sample.value, *then.get(sample.labels)?))
            .fold(0.0, |sum, d| sum + d / seconds)
    }
}

/// How much a counter grew; `None` when it went down (a reset).
pub(super) fn increase(now: f64, then: f64) -> Option<f64> {
    (now >= then).then_some(now - then)
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::*;

    const TEXT: &str = "# TYPE c counter
c{dev=\"a\"} 100
c{dev=\"b\"} 5
c{dev=\"b\",x=\"1\"} 6
g NaN
# TYPE s summary
s{quantile=\"0.5\"} 1
s_count 1
";

    #[test]
    fn lookups() {
        let scrape = scrape(TEXT, 0);
        let series = Series::new(&scrape.families);
        assert_eq!(series.scalar("c"), Some(100.0));
        assert_eq!(series.find("c", "dev", "b"), Some(5.0));
        assert_eq!(series.scalar("g"), None, "NaN is no value");
        assert_eq!(series.samples("missing").count(), 0);
        assert_eq!(series.samples("s").count(), 0, "summaries are not read");
        let first = series.samples("c").next().unwrap();
        assert_eq!(first.label("dev"), Some("a"));
        assert_eq!(first.label_or_empty("other"), "");
    }

    #[test]
    fn rates_need_two_scrapes_and_skip_resets() {
        let first = scrape(TEXT, 0);
        let second = scrape(
            &with_value(
                &with_value(TEXT, "c{dev=\"a\"}", 150.0),
                "c{dev=\"b\"}",
                1.0,
            ),
            10,
        );
        let window = Window::new(&second, Some(&first));
        assert_eq!(window.rate("c", "dev", "a"), 5.0);
        assert_eq!(window.rate("c", "dev", "b"), 0.0, "reset");
        assert_eq!(window.rate("c", "dev", "z"), 0.0, "absent");
        assert_eq!(Window::new(&second, None).rate("c", "dev", "a"), 0.0);
        // Not earlier: no window.
        let same_time = scrape(TEXT, 10);
        assert!(Window::new(&second, Some(&same_time)).before.is_none());
        // Half a second.
        let mut late = second.clone();
        late.at = at(0) + chrono::Duration::milliseconds(500);
        assert_eq!(
            Window::new(&late, Some(&first)).rate("c", "dev", "a"),
            100.0
        );
    }

    #[test]
    fn scalar_and_summed_rates() {
        let text = "a 10\nc{cpu=\"0\"} 5\nc{cpu=\"1\"} 100\nc{cpu=\"2\"} 7\n";
        let first = scrape(text, 0);
        let second = with_value(text, "a", 30.0);
        let second = with_value(&second, "c{cpu=\"0\"}", 25.0);
        // cpu1 reset: adds nothing; cpu3 is new: adds nothing.
        let second = with_value(&second, "c{cpu=\"1\"}", 1.0) + "c{cpu=\"3\"} 50\n";
        let second = scrape(&second, 4);
        let window = Window::new(&second, Some(&first));
        assert_eq!(window.scalar_rate("a"), 5.0);
        assert_eq!(window.summed_rate("c"), 5.0);
        assert_eq!(window.scalar_rate("missing"), 0.0);
        assert_eq!(window.summed_rate("missing"), 0.0);
        let alone = Window::new(&second, None);
        assert_eq!((alone.scalar_rate("a"), alone.summed_rate("c")), (0.0, 0.0));
    }

    #[test]
    fn a_reboot_skips_the_interval() {
        let boot = "node_boot_time_seconds 1700000000\nc{dev=\"a\"} 10\n";
        let first = scrape(boot, 0);
        let jitter = scrape(
            &with_value(boot, "c{dev=\"a\"}", 20.0).replace("1700000000", "1700000001"),
            10,
        );
        // btime moves by a second with clock adjustments: still the same boot.
        assert_eq!(
            Window::new(&jitter, Some(&first)).rate("c", "dev", "a"),
            1.0
        );
        let rebooted = scrape(
            &with_value(boot, "c{dev=\"a\"}", 20.0).replace("1700000000", "1700000500"),
            10,
        );
        assert!(Window::new(&rebooted, Some(&first)).before.is_none());
    }
}
