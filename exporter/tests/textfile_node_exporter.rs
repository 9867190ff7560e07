//! The textfile collector against the real node_exporter 1.5 (Debian's): both
//! binaries read the same textfile directories (good files, conflicting and bad
//! files, HELP conflicts, parse errors, globs, a missing directory, none) with only
//! their textfile collector. We follow node_exporter 1.12, so 1.5's families are
//! first edited by [`CHANGES`], one named edit per 1.5 → 1.12 change, each of which
//! must find exactly what it changes. Then the families — names, HELP, types, series
//! in order, values — must be the same. Both expositions are read with edge-common's
//! strict parser.

mod common;

use common::{args, fixtures, start_edge, start_node_exporter};
use edge_common::textparse::{self, MetricFamily, Value};

/// Families each program adds about itself, left out of the comparison.
const OWN_FAMILIES: [&str; 7] = [
    "go_",
    "process_",
    "promhttp_",
    "node_exporter_build_info",
    "node_scrape_collector_",
    "edge_exporter_build_info",
    "edge_node_info",
];

/// How node_exporter 1.12's output on one fixture directory differs from 1.5's.
struct Change {
    /// The directory under `tests/fixtures/textfile/`.
    directory: &'static str,
    /// The release and pull request that made the change.
    since: &'static str,
    edit: Edit,
}

enum Edit {
    /// A series 1.5 serves and 1.12 does not.
    DropSeries {
        family: &'static str,
        labels: &'static [(&'static str, &'static str)],
    },
    /// `node_textfile_scrape_error` is 0 in 1.5 and 1 in 1.12.
    ScrapeErrorBecomesOne,
    /// A family's HELP. `{dir}` stands for the directory's path.
    Help {
        family: &'static str,
        from: &'static str,
        to: &'static str,
    },
}

/// Every 1.5 → 1.12 difference on these fixtures (node_exporter's CHANGELOG, and
/// `collector/textfile.go` of 1.12).
const CHANGES: &[Change] = &[
    // d_help_first.prom gives edge_conflict "First help."; e_help_second.prom's other
    // HELP marks the name, so f's and g's families are dropped too, though their HELP
    // is the first one again. 1.5's registry kept g's {src="g"} series.
    Change {
        directory: "mixed",
        since: "1.8.0, #2962 (textfile: Avoid inconsistent help-texts)",
        edit: Edit::DropSeries {
            family: "edge_conflict",
            labels: &[("src", "g")],
        },
    },
    // c_help_two.prom's "Two." conflicts with b_help_one.prom's "One.": 1.12 counts
    // it as a scrape error. 1.5's registry dropped it silently.
    Change {
        directory: "help_conflict",
        since: "1.8.0, #2962 (textfile: Avoid inconsistent help-texts)",
        edit: Edit::ScrapeErrorBecomesOne,
    },
    // The families 1.12 drops (c's and d's help_mixed) are not among the files that
    // a family without HELP is read from.
    Change {
        directory: "help_conflict",
        since: "1.8.0, #2962 (textfile: Avoid inconsistent help-texts)",
        edit: Edit::Help {
            family: "help_mixed",
            from: "Metric read from {dir}/a_no_help.prom, {dir}/b_help_one.prom, {dir}/c_help_two.prom, {dir}/d_help_one_again.prom",
            to: "Metric read from {dir}/a_no_help.prom, {dir}/b_help_one.prom",
        },
    },
];

fn textfile_families(body: &str, who: &str) -> Vec<MetricFamily> {
    let mut families = textparse::parse(body.as_bytes())
        .unwrap_or_else(|e| panic!("{who}'s exposition does not parse: {e}"));
    families.retain(|f| !OWN_FAMILIES.iter().any(|own| f.name.starts_with(own)));
    // Lines differ between the two (Go writes 1e+06, we write 1000000): compare
    // the parsed content, not where it stood.
    for family in &mut families {
        for metric in &mut family.metrics {
            metric.line = 0;
        }
    }
    families
}

fn family<'a>(families: &'a mut [MetricFamily], name: &str, change: &str) -> &'a mut MetricFamily {
    families
        .iter_mut()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("{change}: node_exporter 1.5 serves no {name}"))
}

/// Turns node_exporter 1.5's families into what 1.12 serves. An edit that finds
/// nothing to change fails: the difference it names is not there.
fn apply(change: &Change, dir: &str, families: &mut [MetricFamily]) {
    let what = format!("{} ({})", change.directory, change.since);
    match &change.edit {
        Edit::DropSeries {
            family: name,
            labels,
        } => {
            let family = family(families, name, &what);
            let before = family.metrics.len();
            family.metrics.retain(|m| {
                let same = m.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(n, v)| m.labels.iter().any(|(mn, mv)| mn == n && mv == v));
                !same
            });
            assert_eq!(
                family.metrics.len() + 1,
                before,
                "{what}: 1.5 has no {name}{labels:?} to drop"
            );
        }
        Edit::ScrapeErrorBecomesOne => {
            let family = family(families, "node_textfile_scrape_error", &what);
            let value = &mut family.metrics[0].value;
            assert_eq!(*value, Value::Single(0.0), "{what}: 1.5's scrape error");
            *value = Value::Single(1.0);
        }
        Edit::Help {
            family: name,
            from,
            to,
        } => {
            let family = family(families, name, &what);
            assert_eq!(
                family.help.as_deref(),
                Some(from.replace("{dir}", dir).as_str()),
                "{what}: 1.5's HELP of {name}"
            );
            family.help = Some(to.replace("{dir}", dir));
        }
    }
}

#[test]
fn the_textfile_collector_serves_what_node_exporter_1_12_serves() {
    let textfile = fixtures().join("textfile");
    let directory = |name: &str| textfile.join(name).display().to_string();
    let directories = [
        ("good", directory("good")),
        ("mixed", directory("mixed")),
        ("help_conflict", directory("help_conflict")),
        ("parse", directory("parse")),
        ("glob", format!("{}/x*", directory("glob"))),
        ("missing", directory("missing")),
        ("", String::new()),
    ];
    let mut applied = 0;
    for (name, directory) in &directories {
        let flags = args(&[
            "--collector.disable-defaults",
            "--collector.textfile",
            &format!("--collector.textfile.directory={directory}"),
        ]);
        let theirs = start_node_exporter(&flags).get("/metrics").body;
        let ours = start_edge(&flags).get("/metrics").body;
        let mut theirs = textfile_families(&theirs, "node_exporter");
        let ours = textfile_families(&ours, "edge-exporter");
        for change in CHANGES.iter().filter(|c| c.directory == *name) {
            apply(change, directory, &mut theirs);
            applied += 1;
        }
        assert!(
            theirs
                .iter()
                .any(|f| f.name == "node_textfile_scrape_error"),
            "{directory}"
        );
        let names = |families: &[MetricFamily]| -> Vec<String> {
            families.iter().map(|f| f.name.clone()).collect()
        };
        assert_eq!(names(&ours), names(&theirs), "families of {directory:?}");
        for (mine, reference) in ours.iter().zip(&theirs) {
            // Debug text, so that NaN equals NaN.
            assert_eq!(
                format!("{mine:?}"),
                format!("{reference:?}"),
                "{} of {directory:?}",
                reference.name
            );
        }
    }
    assert_eq!(
        applied,
        CHANGES.len(),
        "a change names no compared directory"
    );
}
