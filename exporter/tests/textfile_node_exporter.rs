//! The textfile collector against the real node_exporter 1.5: both binaries read the
//! same textfile directories (good files, conflicting and bad files, parse errors,
//! globs, a missing directory, none) with only their textfile collector, and the
//! families they serve — names, HELP, types, series in order, values — are the same.
//! Both expositions are read with edge-common's strict parser.

mod common;

use common::{args, fixtures, start_edge, start_node_exporter};
use edge_common::textparse::{self, MetricFamily};

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

#[test]
fn the_textfile_collector_serves_what_node_exporter_1_5_serves() {
    let textfile = fixtures().join("textfile");
    let directories = [
        textfile.join("good").display().to_string(),
        textfile.join("mixed").display().to_string(),
        textfile.join("parse").display().to_string(),
        format!("{}/x*", textfile.join("glob").display()),
        textfile.join("missing").display().to_string(),
        String::new(),
    ];
    for directory in directories {
        let flags = args(&[
            "--collector.disable-defaults",
            "--collector.textfile",
            &format!("--collector.textfile.directory={directory}"),
        ]);
        let theirs = start_node_exporter(&flags).get("/metrics").body;
        let ours = start_edge(&flags).get("/metrics").body;
        let theirs = textfile_families(&theirs, "node_exporter");
        let ours = textfile_families(&ours, "edge-exporter");
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
}
