//! Dashboards and alerts users already run must keep working when node_exporter is
//! swapped for edge-exporter on the same machine.
//!
//! `tests/dashboards/families.tsv` lists, per query of Grafana dashboard 1860 ("Node
//! Exporter Full") and per alert and recording rule of node_exporter's node-mixin (as
//! kube-prometheus renders it), the metric families it reads; each group names its public
//! source. This test starts Debian's node_exporter 1.5 and edge-exporter on this machine,
//! each with its own defaults and the same filters, and asserts that every family on the
//! list that node_exporter exposes here, edge-exporter exposes too, with the same label
//! names. node_exporter 1.5 is older than the 1.12 we match: the label names and families
//! 1.12 added since are explicit tables below, each entry naming the release.
//!
//! Run with `--nocapture` to see the figures: how many dashboard queries and mixin rules
//! each exporter answers here (a query is answered when every family it reads is exposed).

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;

const FAMILIES: &str = include_str!("dashboards/families.tsv");

const KINDS: &[(&str, &str)] = &[
    ("dashboard-1860", "dashboard 1860"),
    ("mixin-alert", "mixin alerts"),
    ("mixin-record", "mixin recording rules"),
];

const MOUNT_POINTS_EXCLUDE: &str =
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";

/// Label names node_exporter 1.12 puts on a family that Debian's 1.5 does not:
/// (family, label, release and CHANGELOG entry). Entries for families off the list or
/// absent on this machine are kept so the table stays the one place for these facts.
const LABELS_ADDED_SINCE_1_5: &[(&str, &str, &str)] = &[
    (
        "node_filesystem_avail_bytes",
        "device_error",
        "1.8.0: filesystem: surface device errors #2923",
    ),
    (
        "node_filesystem_device_error",
        "device_error",
        "1.8.0: filesystem: surface device errors #2923",
    ),
    (
        "node_filesystem_files",
        "device_error",
        "1.8.0: filesystem: surface device errors #2923",
    ),
    (
        "node_filesystem_files_free",
        "device_error",
        "1.8.0: filesystem: surface device errors #2923",
    ),
    (
        "node_filesystem_free_bytes",
        "device_error",
        "1.8.0: filesystem: surface device errors #2923",
    ),
    (
        "node_filesystem_readonly",
        "device_error",
        "1.8.0: filesystem: surface device errors #2923",
    ),
    (
        "node_filesystem_size_bytes",
        "device_error",
        "1.8.0: filesystem: surface device errors #2923",
    ),
    (
        "node_network_info",
        "adminstate",
        "1.6.0: administrative state of Linux network interfaces #2515",
    ),
    (
        "node_disk_info",
        "rotational",
        "1.9.0: diskstats: add block device rotational #3022",
    ),
];

/// Families node_exporter 1.12 exposes by default that Debian's 1.5 does not:
/// (family, a family 1.5 reads from the same source, release and CHANGELOG entry).
/// Expected from edge-exporter wherever 1.5 exposes the witness.
const FAMILIES_ADDED_SINCE_1_5: &[(&str, &str, &str)] = &[
    (
        "node_netstat_TcpExt_TCPOFOQueue",
        "node_netstat_TcpExt_ListenDrops",
        "1.8.0: netstat: add TCPOFOQueue to default netstat metrics #2867",
    ),
    (
        "node_netstat_TcpExt_TCPRcvQDrop",
        "node_netstat_TcpExt_ListenDrops",
        "1.9.0: netstat: add TCPRcvQDrop to default metrics #3021",
    ),
];

/// One query of a dashboard or one mixin rule, and the families it reads.
struct Query<'a> {
    kind: &'a str,
    id: &'a str,
    families: Vec<&'a str>,
}

fn is_family_name(name: &str) -> bool {
    // Recording-rule outputs (with ':') must have been resolved to real families.
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses the list, checking its shape: three tab-separated fields, a known kind, a
/// `# source:` comment before a kind's first line, ids unique within a kind.
fn parse_list(text: &str) -> Vec<Query<'_>> {
    let mut queries = Vec::new();
    let mut sources = 0usize;
    let mut seen_kinds: BTreeMap<&str, usize> = BTreeMap::new();
    let mut ids = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let at = n + 1;
        if line.starts_with("# source:") {
            sources += 1;
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(
            fields.len(),
            3,
            "families.tsv line {at}: want 3 tab-separated fields"
        );
        let (kind, id, list) = (fields[0], fields[1], fields[2]);
        assert!(
            KINDS.iter().any(|(k, _)| *k == kind),
            "families.tsv line {at}: unknown kind {kind:?}"
        );
        let first_of_kind = *seen_kinds.entry(kind).or_insert(sources);
        assert!(
            first_of_kind > 0,
            "families.tsv line {at}: no `# source:` line before the first {kind}"
        );
        assert!(
            ids.insert((kind, id)),
            "families.tsv line {at}: {kind} {id:?} twice"
        );
        let families: Vec<&str> = list.split(' ').collect();
        for family in &families {
            assert!(
                is_family_name(family),
                "families.tsv line {at}: {family:?} is not a metric family name"
            );
        }
        queries.push(Query { kind, id, families });
    }
    queries
}

/// Family → union of the label names of its samples.
fn label_names(families: &ByFamily) -> BTreeMap<String, BTreeSet<String>> {
    families
        .iter()
        .map(|(name, samples)| {
            let names = samples
                .keys()
                .flat_map(|labels| labels.keys().cloned())
                .collect();
            (name.clone(), names)
        })
        .collect()
}

fn scrape_warm(server: &Server) -> BTreeMap<String, BTreeSet<String>> {
    // The first scrape warms caches (and node_exporter's CPU floor); the second counts.
    server.metrics();
    label_names(&by_family(&server.metrics()))
}

fn answered(query: &Query<'_>, exposed: &BTreeMap<String, BTreeSet<String>>) -> bool {
    query.families.iter().all(|f| exposed.contains_key(*f))
}

#[test]
fn the_list_is_well_formed() {
    let queries = parse_list(FAMILIES);
    let count = |kind: &str| queries.iter().filter(|q| q.kind == kind).count();
    // The revision written down: 256 dashboard queries (253 panel targets and 3 template
    // variables), 26 alerts, 11 recording rules.
    assert_eq!(count("dashboard-1860"), 256);
    assert_eq!(count("mixin-alert"), 26);
    assert_eq!(count("mixin-record"), 11);
    for (family, label, release) in LABELS_ADDED_SINCE_1_5 {
        assert!(is_family_name(family) && !label.is_empty() && release.contains('#'));
    }
    for (family, witness, release) in FAMILIES_ADDED_SINCE_1_5 {
        assert!(is_family_name(family) && is_family_name(witness) && release.contains('#'));
    }
}

#[test]
fn families_users_query_are_exposed_like_node_exporter() {
    let queries = parse_list(FAMILIES);
    let listed: BTreeSet<&str> = queries
        .iter()
        .flat_map(|q| q.families.iter().copied())
        .collect();

    let filters = [
        "--collector.netdev.device-exclude=^$".to_string(),
        format!("--collector.filesystem.mount-points-exclude={MOUNT_POINTS_EXCLUDE}"),
        "--collector.textfile.directory=".to_string(),
    ];
    let node_exporter = start_node_exporter(&filters);
    let edge = start_edge(&{
        let mut list = filters.to_vec();
        list.push("--node-name=dashboards".into());
        list
    });
    let theirs = scrape_warm(&node_exporter);
    let ours = scrape_warm(&edge);

    let theirs_listed = listed.iter().filter(|f| theirs.contains_key(**f)).count();
    let ours_listed = listed.iter().filter(|f| ours.contains_key(**f)).count();
    eprintln!(
        "list: {} families in {} queries and rules",
        listed.len(),
        queries.len()
    );
    eprintln!(
        "exposed here: node_exporter 1.5 {theirs_listed}, edge-exporter {ours_listed} of them"
    );
    for (kind, title) in KINDS {
        let of_kind: Vec<&Query> = queries.iter().filter(|q| q.kind == *kind).collect();
        let by_theirs = of_kind.iter().filter(|q| answered(q, &theirs)).count();
        let by_ours = of_kind.iter().filter(|q| answered(q, &ours)).count();
        eprintln!(
            "{title}: node_exporter 1.5 answers {by_theirs} of {}, edge-exporter {by_ours}",
            of_kind.len()
        );
    }
    let mixin: Vec<&Query> = queries
        .iter()
        .filter(|q| q.kind.starts_with("mixin"))
        .collect();
    eprintln!(
        "node-mixin (alerts and records): node_exporter 1.5 answers {} of {}, edge-exporter {}",
        mixin.iter().filter(|q| answered(q, &theirs)).count(),
        mixin.len(),
        mixin.iter().filter(|q| answered(q, &ours)).count()
    );

    // A node_exporter that exposes almost nothing of the list means the run is broken,
    // not that edge-exporter is right.
    assert!(
        theirs_listed >= 100,
        "node_exporter exposed only {theirs_listed} listed families"
    );

    let mut missing = Vec::new();
    let mut labels_differ = Vec::new();
    for family in &listed {
        let Some(their_labels) = theirs.get(*family) else {
            continue;
        };
        let mut want = their_labels.clone();
        for (f, label, _) in LABELS_ADDED_SINCE_1_5 {
            if f == family {
                want.insert(label.to_string());
            }
        }
        match ours.get(*family) {
            None => missing.push(family.to_string()),
            Some(got) if *got != want => labels_differ.push(format!(
                "{family}: edge-exporter {got:?}, want {want:?} (node_exporter 1.5 {their_labels:?})"
            )),
            Some(_) => {}
        }
    }
    for (family, witness, release) in FAMILIES_ADDED_SINCE_1_5 {
        if listed.contains(family) && theirs.contains_key(*witness) && !ours.contains_key(*family) {
            missing.push(format!("{family} (node_exporter {release})"));
        }
    }
    let unanswered: Vec<String> = queries
        .iter()
        .filter(|q| answered(q, &theirs) && !answered(q, &ours))
        .map(|q| format!("{} {}", q.kind, q.id))
        .collect();
    if !missing.is_empty() || !labels_differ.is_empty() {
        eprintln!("queries node_exporter answers and edge-exporter does not:");
        for q in &unanswered {
            eprintln!("  {q}");
        }
    }
    assert!(
        missing.is_empty() && labels_differ.is_empty(),
        "{} listed families node_exporter exposes here are missing from edge-exporter:\n  {}\n\
         {} have other label names:\n  {}",
        missing.len(),
        missing.join("\n  "),
        labels_differ.len(),
        labels_differ.join("\n  ")
    );
}
