//! edge-common's exposition writer against its parser: a `MetricSet` built from
//! fuzzed names, HELP texts, labels and values through the checked entry points
//! (`checked_family`, `checked_push`, the way names from outside enter), rendered as
//! text 0.0.4 and OpenMetrics (`exposition::render`), and the 0.0.4 text parsed back
//! with `textparse`: every family, label and value comes back as it was pushed.
//! Also the `Accept` header negotiation (`exposition::negotiate`) never panics.
#![no_main]

use std::collections::BTreeMap;

use edge_common::exposition::names::{is_label_name, is_metric_name, is_reserved_label_name};
use edge_common::exposition::{negotiate, MetricKind, MetricSet, NameError};
use edge_common::textparse::{MetricType, Value};
use edge_metrics_fuzz::{render_and_reparse, same_value};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

/// What was pushed into one family: its HELP and type (the first push's), samples.
struct Expected {
    help: String,
    kind: MetricKind,
    samples: Vec<(Vec<(String, String)>, f64)>,
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = check(&mut u);
});

fn check(u: &mut Unstructured<'_>) -> Result<()> {
    let accept: String = u.arbitrary()?;
    let _ = negotiate(Some(&accept));

    let mut set = MetricSet::new();
    let mut expected: BTreeMap<String, Expected> = BTreeMap::new();
    for _ in 0..u.int_in_range(0..=4)? {
        let name = name(u)?;
        let help: String = u.arbitrary()?;
        let kind = *u.choose(&[MetricKind::Counter, MetricKind::Gauge, MetricKind::Untyped])?;
        let family = match set.checked_family(name.clone(), help.clone(), kind) {
            Ok(family) => family,
            Err(error) => {
                assert!(!is_metric_name(&name), "{name:?} refused: {error}");
                continue;
            }
        };
        let entry = expected.entry(name).or_insert(Expected {
            help,
            kind,
            samples: Vec::new(),
        });
        for _ in 0..u.int_in_range(0..=4)? {
            let mut labels: Vec<(String, String)> = Vec::new();
            for _ in 0..u.int_in_range(0..=3)? {
                labels.push((self::name(u)?, u.arbitrary()?));
            }
            let value = f64::from_bits(u.arbitrary()?);
            let pairs: Vec<(&str, &str)> = labels
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            match family.checked_push(&pairs, value) {
                Ok(()) => entry.samples.push((labels, value)),
                Err(NameError::LabelName(label)) => assert!(!is_label_name(&label)),
                Err(NameError::ReservedLabelName(label)) => {
                    assert!(is_reserved_label_name(&label))
                }
                Err(NameError::RepeatedLabelName(label)) => {
                    assert!(labels.iter().filter(|(n, _)| *n == label).count() > 1)
                }
                Err(error @ NameError::MetricName(_)) => panic!("{error}"),
            }
        }
    }

    let (text, families) = render_and_reparse(&set);
    expected.retain(|_, e| !e.samples.is_empty());
    assert_eq!(
        families.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        expected.keys().map(String::as_str).collect::<Vec<_>>(),
        "families, in name order\n--- text ---\n{text}"
    );
    for family in &families {
        let want = &expected[&family.name];
        let kind = match want.kind {
            MetricKind::Counter => MetricType::Counter,
            MetricKind::Gauge => MetricType::Gauge,
            _ => MetricType::Untyped,
        };
        assert_eq!(family.kind, kind, "{}", family.name);
        // The parser drops the blanks HELP text starts with, and an empty HELP is none.
        let help = want.help.trim_start_matches([' ', '\t']);
        assert_eq!(
            family.help.as_deref().unwrap_or(""),
            help,
            "HELP of {}\n--- text ---\n{text}",
            family.name
        );
        assert_eq!(family.metrics.len(), want.samples.len(), "{}", family.name);
        for (metric, (labels, value)) in family.metrics.iter().zip(&want.samples) {
            assert_eq!(&metric.labels, labels, "labels of {}", family.name);
            let Value::Single(parsed) = metric.value else {
                panic!("{}: not a single value", family.name);
            };
            assert!(
                same_value(parsed, *value),
                "{}{labels:?}: wrote {value:?}, read {parsed:?}",
                family.name
            );
        }
    }
    Ok(())
}

/// A metric or label name: mostly from a few valid characters (so that families
/// collide and samples are pushed), sometimes any string (to exercise refusals).
fn name(u: &mut Unstructured<'_>) -> Result<String> {
    if u.ratio(1, 8)? {
        return u.arbitrary();
    }
    let len = u.int_in_range(1..=6)?;
    (0..len)
        .map(|_| u.choose(&['a', 'b', '_', ':', '0', 'x']).copied())
        .collect()
}
