//! The sidecar's reading of a script's output (`parse::parse_key_values`, with the
//! `names::ValueNames` rule that keeps keys off the sidecar's own names), and the path
//! of what it keeps to the `.prom` file: each value's name claimed (`names::Claims`,
//! as the writer does), the value through `output::append_value`, the file's text by
//! `writer::render`, read back by the strict parser the textfile collector uses.
//!
//! Never panics; counts add up; no key takes an own name; and nothing a script prints
//! can make the `.prom` file unreadable: every value written comes back, under its
//! name, with its value.
#![no_main]

use std::sync::OnceLock;

use edge_common::exposition::names::is_label_name;
use edge_common::exposition::{MetricKind, MetricSet};
use edge_common::textparse::{self, Value};
use edge_metrics_fuzz::same_value;
use edge_sidecar::config::SourceKind;
use edge_sidecar::names::ValueNames;
use edge_sidecar::output::append_value;
use edge_sidecar::parse::{parse_key_values, KeyRules};
use edge_sidecar::writer::render;
use libfuzzer_sys::fuzz_target;

/// A short prefix (the sidecar's default is `edge_`), so that keys meet the
/// sidecar's own names (`sidecar_info` makes `edge_sidecar_info`).
const PREFIX: &str = "edge_";
/// Small, so that small inputs reach it (`--max-keys-per-run` defaults to 1000).
const MAX_KEYS: usize = 16;

fuzz_target!(|data: &[u8]| {
    static NAMES: OnceLock<ValueNames> = OnceLock::new();
    let names = NAMES.get_or_init(|| ValueNames::new(PREFIX));
    let rules = KeyRules {
        max_keys: MAX_KEYS,
        names,
    };
    let parsed = parse_key_values(data, &rules);
    let lines = data.split(|&b| b == b'\n').count();
    assert!(
        parsed.values.len() + parsed.rejected + parsed.duplicates + parsed.over_limit <= lines,
        "{parsed:?}"
    );
    assert!(parsed.values.len() <= MAX_KEYS);
    assert_eq!(parsed.first_over_limit.is_some(), parsed.over_limit > 0);
    assert_eq!(
        parsed.first_problem.is_some(),
        parsed.rejected + parsed.duplicates > 0,
        "{parsed:?}"
    );
    let mut keys: Vec<&str> = parsed.values.iter().map(|(k, _)| k.as_str()).collect();
    for key in &keys {
        assert!(is_label_name(key), "key {key:?}");
        assert_eq!(
            names.own_family_for(key),
            None,
            "key {key:?} takes an own name"
        );
    }
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), parsed.values.len(), "a key kept twice");

    let source = SourceKind::Script("fuzz".to_owned());
    let mut claims = names.own_claims();
    let mut set = MetricSet::new();
    let mut written = Vec::new();
    for (key, value) in &parsed.values {
        let name = names.name(key);
        if claims.claim(&name, MetricKind::Gauge).is_ok() {
            append_value(&mut set, name.clone(), key, &source, &[(&[], *value)]);
            written.push((name, *value));
        }
    }
    let file = render(&set);
    let families = match textparse::parse(file.as_bytes()) {
        Ok(families) => families,
        Err(error) => panic!("the .prom file is rejected: {error}\n{file}"),
    };
    assert_eq!(families.len(), written.len(), "{file}");
    for (name, value) in &written {
        let family = families
            .iter()
            .find(|f| f.name == *name)
            .unwrap_or_else(|| panic!("{name} missing\n{file}"));
        let [metric] = family.metrics.as_slice() else {
            panic!("{name}: {} samples", family.metrics.len());
        };
        let Value::Single(read) = metric.value else {
            panic!("{name}: not a single value");
        };
        assert!(
            same_value(read, *value),
            "{name}: {value:?} read as {read:?}"
        );
    }
});
