//! Script keys never take, hide or collide with the sidecar's own families, in the
//! file (text 0.0.4) or in the OpenMetrics form edge-exporter serves it in.

mod support;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use edge_common::textparse::{self, MetricType};
use support::{value_in, ConfigMap, Sidecar};

/// Six keys that spell the sidecar's own names (or a counter's OpenMetrics family
/// and samples) and one good key, every run.
const SPOOF: &str = "#!/bin/bash\n\
    echo sidecar_source_success=1\n\
    echo sidecar_info=42\n\
    echo sidecar_source_runs=5\n\
    echo sidecar_source_runs_total=3\n\
    echo sidecar_source_runs_created=1\n\
    echo sidecar_source_values_count=9\n\
    echo ok=1\n";
/// A source that fails: its success 0 must stay visible.
const FAILING: &str = "#!/bin/bash\necho partial=1\nexit 1\n";

#[test]
fn script_keys_cannot_shadow_spoof_or_collide_with_the_sidecars_families() {
    let tmp = tempfile::tempdir().unwrap();
    let cm = ConfigMap::new(
        &tmp.path().join("cm"),
        &[
            ("nodes.conf", "test-node=failing:200ms,spoof:200ms\n"),
            ("failing.sh", FAILING),
            ("spoof.sh", SPOOF),
        ],
    );
    let sidecar = Sidecar::start(&cm.config(), &tmp.path().join("custom_metrics.prom"), &[]);
    let spoof = "{kind=\"script\",source=\"spoof\"}";
    let failing = "{kind=\"script\",source=\"failing\"}";
    sidecar.wait_for_value(
        &format!("edge_sidecar_source_runs_total{spoof}"),
        3.0,
        Duration::from_secs(10),
    );
    sidecar.wait_for_value(
        &format!("edge_sidecar_source_runs_total{failing}"),
        3.0,
        Duration::from_secs(10),
    );
    let text = sidecar.text();
    let value = |series: &str| value_in(&text, series);

    // The real per-source series are all there: the failing source is not hidden.
    assert_eq!(
        value(&format!("edge_sidecar_source_success{failing}")),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        value(&format!("edge_sidecar_source_success{spoof}")),
        Some(1.0)
    );
    assert_eq!(value("edge_sidecar_source_success"), None, "{text}");
    // Not spoofed.
    assert!(
        text.contains(&format!(
            "edge_sidecar_info{{node_name=\"test-node\",version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    assert_eq!(value("edge_sidecar_info"), None);
    // The good key is written; each spoofing key is a bad line, every run.
    assert_eq!(value("edge_ok"), Some(1.0));
    let dropped = value(&format!("edge_sidecar_source_dropped_lines_total{spoof}")).unwrap();
    let runs = value(&format!("edge_sidecar_source_runs_total{spoof}")).unwrap();
    assert_eq!(dropped, 6.0 * runs, "{text}");
    for name in [
        "edge_sidecar_source_runs",
        "edge_sidecar_source_runs_created",
        "edge_sidecar_source_values_count",
    ] {
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with(&format!("{name} "))
                    || l.starts_with(&format!("# TYPE {name} "))),
            "{name} in:\n{text}"
        );
    }

    // The file is one node_exporter reads (its parser), promtool finds it clean, and
    // no two families share a name in OpenMetrics, where a counter drops `_total`.
    let families = textparse::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let mut openmetrics: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for family in &families {
        let name = match family.kind {
            MetricType::Counter => family.name.strip_suffix("_total").unwrap_or(&family.name),
            _ => &family.name,
        };
        openmetrics
            .entry(name.to_string())
            .or_default()
            .push(family.name.clone());
    }
    let twice: Vec<_> = openmetrics
        .values()
        .filter(|names| names.len() > 1)
        .collect();
    assert!(twice.is_empty(), "declared twice in OpenMetrics: {twice:?}");
    promtool_check(&text);
}

/// `promtool check metrics` finds `text` clean.
fn promtool_check(text: &str) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (scripts/test.sh installs Debian's prometheus)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let result = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(
        result.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{text}"
    );
}
