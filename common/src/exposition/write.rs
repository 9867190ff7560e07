//! Writes a [`MetricSet`] as Prometheus text 0.0.4 or OpenMetrics 1.0, and picks one
//! from the scraper's `Accept` header.
//!
//! We do not use prometheus-client's encoder: it writes OpenMetrics only (promtool,
//! node_exporter's textfile parser and older scrapers read only 0.0.4), does not escape
//! HELP and prints infinities as `inf`. One model rendered twice keeps both formats
//! identical in content.

use std::collections::HashSet;

use super::model::{Family, MetricKind, MetricSet};
use crate::text::{escape_help, escape_label_value, write_value};

/// A wire format for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`, the format of node_exporter 1.5.
    PrometheusText,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Picks the format the `Accept` header prefers: OpenMetrics only when it is asked
/// for with a higher (or equal) quality than plain text, 0.0.4 otherwise.
pub fn negotiate(accept: Option<&str>) -> Format {
    let Some(accept) = accept else {
        return Format::PrometheusText;
    };
    let mut best_openmetrics: f32 = 0.0;
    let mut best_text: f32 = 0.0;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let mut quality: f32 = 1.0;
        let mut version: Option<String> = None;
        for param in parts {
            if let Some((key, value)) = param.split_once('=') {
                match key.trim() {
                    "q" => quality = value.trim().parse().unwrap_or(0.0),
                    "version" => version = Some(value.trim().to_string()),
                    _ => {}
                }
            }
        }
        match media.as_str() {
            "application/openmetrics-text" => {
                let known = matches!(version.as_deref(), None | Some("1.0.0") | Some("0.0.1"));
                if known {
                    best_openmetrics = best_openmetrics.max(quality);
                }
            }
            "text/plain" | "*/*" | "text/*" => best_text = best_text.max(quality),
            _ => {}
        }
    }
    if best_openmetrics > 0.0 && best_openmetrics >= best_text {
        Format::OpenMetrics
    } else {
        Format::PrometheusText
    }
}

/// Renders `set` into `out`, families sorted by name so output is stable.
///
/// In OpenMetrics a counter's family name has no `_total`, so counter `x_total` and
/// gauge `x` — two families in text 0.0.4 — would both be family `x`, and a strict
/// reader rejects the whole exposition. The family registered first in `set` keeps
/// the name; the later one is left out of the OpenMetrics output, with a warning.
pub fn render(set: &MetricSet, format: Format, out: &mut String) {
    let clashing = match format {
        Format::OpenMetrics => openmetrics_clashes(set),
        Format::PrometheusText => HashSet::new(),
    };
    let mut order: Vec<&Family> = set
        .families()
        .iter()
        .filter(|f| !f.is_empty() && !clashing.contains(&*f.name))
        .collect();
    order.sort_by(|a, b| a.name.cmp(&b.name));
    for family in order {
        match format {
            Format::PrometheusText => render_text_family(family, out),
            Format::OpenMetrics => render_openmetrics_family(family, out),
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
}

/// The family name OpenMetrics gives `family`.
fn openmetrics_name(family: &Family) -> &str {
    match family.kind {
        MetricKind::Counter => family.name.strip_suffix("_total").unwrap_or(&family.name),
        _ => &family.name,
    }
}

/// Families whose OpenMetrics name an earlier-registered family already has.
fn openmetrics_clashes(set: &MetricSet) -> HashSet<&str> {
    let mut taken: HashSet<&str> = HashSet::new();
    let mut clashing = HashSet::new();
    for family in set.families().iter().filter(|f| !f.is_empty()) {
        if !taken.insert(openmetrics_name(family)) {
            tracing::warn!(
                family = %family.name,
                openmetrics_name = openmetrics_name(family),
                "left out of the OpenMetrics output: an earlier family has the same OpenMetrics name"
            );
            clashing.insert(&*family.name);
        }
    }
    clashing
}

fn render_text_family(family: &Family, out: &mut String) {
    out.push_str("# HELP ");
    out.push_str(&family.name);
    out.push(' ');
    escape_help(&family.help, out);
    out.push_str("\n# TYPE ");
    out.push_str(&family.name);
    out.push(' ');
    out.push_str(family.kind.as_str());
    out.push('\n');
    for (part, labels, value) in family.parts() {
        out.push_str(&family.name);
        out.push_str(part.suffix());
        render_sample(labels, value, out);
    }
}

fn render_openmetrics_family(family: &Family, out: &mut String) {
    // OpenMetrics names a counter family without `_total` and its samples with it.
    let family_name = openmetrics_name(family);
    let suffix = match family.kind {
        MetricKind::Counter => "_total",
        _ => "",
    };
    let kind = match family.kind {
        MetricKind::Untyped => "unknown",
        other => other.as_str(),
    };
    // (Summaries and histograms keep their name; their samples carry `_sum`, `_count`
    // and `_bucket` in both formats.)
    out.push_str("# TYPE ");
    out.push_str(family_name);
    out.push(' ');
    out.push_str(kind);
    out.push_str("\n# HELP ");
    out.push_str(family_name);
    out.push(' ');
    escape_label_value(&family.help, out);
    out.push('\n');
    for (part, labels, value) in family.parts() {
        out.push_str(family_name);
        out.push_str(suffix);
        out.push_str(part.suffix());
        render_sample(labels, value, out);
    }
}

/// The part of a sample line after its name: `{labels} value`.
fn render_sample(labels: &str, value: f64, out: &mut String) {
    if !labels.is_empty() {
        out.push('{');
        out.push_str(labels);
        out.push('}');
    }
    out.push(' ');
    write_value(value, out);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_set() -> MetricSet {
        let mut set = MetricSet::new();
        set.gauge("node_load1", "1m load average.", &[], 0.25);
        set.counter(
            "node_cpu_seconds_total",
            "Seconds the CPUs spent in each mode.",
            &[("cpu", "0"), ("mode", "idle")],
            1234.5,
        );
        set.gauge(
            "odd_info",
            "Help with \\ and\nnewline.",
            &[("path", "C:\\x \"q\"\nz")],
            f64::INFINITY,
        );
        set
    }

    #[test]
    fn text_format_is_sorted_and_escaped() {
        let mut out = String::new();
        render(&sample_set(), Format::PrometheusText, &mut out);
        assert_eq!(
            out,
            "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n\
             # TYPE node_cpu_seconds_total counter\n\
             node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 1234.5\n\
             # HELP node_load1 1m load average.\n\
             # TYPE node_load1 gauge\n\
             node_load1 0.25\n\
             # HELP odd_info Help with \\\\ and\\nnewline.\n\
             # TYPE odd_info gauge\n\
             odd_info{path=\"C:\\\\x \\\"q\\\"\\nz\"} +Inf\n"
        );
    }

    #[test]
    fn openmetrics_names_counter_families_without_total() {
        let mut out = String::new();
        render(&sample_set(), Format::OpenMetrics, &mut out);
        assert!(out.starts_with(
            "# TYPE node_cpu_seconds counter\n\
             # HELP node_cpu_seconds Seconds the CPUs spent in each mode.\n\
             node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 1234.5\n"
        ));
        assert!(out.contains("# HELP odd_info Help with \\\\ and\\nnewline.\n"));
        assert!(out.ends_with("# EOF\n"));
    }

    #[test]
    fn negotiation_follows_quality() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(negotiate(None), Format::PrometheusText);
        assert_eq!(negotiate(Some("*/*")), Format::PrometheusText);
        assert_eq!(
            negotiate(Some(
                "text/plain;version=0.0.4;q=1,application/openmetrics-text;q=0.5"
            )),
            Format::PrometheusText
        );
        assert_eq!(
            negotiate(Some("application/openmetrics-text; version=9.9.9")),
            Format::PrometheusText
        );
        assert_eq!(
            negotiate(Some("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited")),
            Format::PrometheusText
        );
    }

    #[test]
    fn summaries_and_histograms_keep_their_type_and_sample_names() {
        use crate::exposition::SamplePart;
        let mut set = MetricSet::new();
        let summary = set.family("rpc_seconds", "RPC latency.", MetricKind::Summary);
        summary.push_part(SamplePart::Value, &[("quantile", "0.5")], 0.25);
        summary.push_part(SamplePart::Sum, &[], 10.0);
        summary.push_part(SamplePart::Count, &[], 40.0);
        let histogram = set.family("size_bytes", "Sizes.", MetricKind::Histogram);
        histogram.push_part(SamplePart::Bucket, &[("le", "+Inf")], 4.0);
        histogram.push_part(SamplePart::Sum, &[], 100.0);
        histogram.push_part(SamplePart::Count, &[], 4.0);
        let mut text = String::new();
        render(&set, Format::PrometheusText, &mut text);
        assert_eq!(
            text,
            "# HELP rpc_seconds RPC latency.\n\
             # TYPE rpc_seconds summary\n\
             rpc_seconds{quantile=\"0.5\"} 0.25\n\
             rpc_seconds_sum 10\n\
             rpc_seconds_count 40\n\
             # HELP size_bytes Sizes.\n\
             # TYPE size_bytes histogram\n\
             size_bytes_bucket{le=\"+Inf\"} 4\n\
             size_bytes_sum 100\n\
             size_bytes_count 4\n"
        );
        let mut openmetrics = String::new();
        render(&set, Format::OpenMetrics, &mut openmetrics);
        assert!(openmetrics.starts_with(
            "# TYPE rpc_seconds summary\n# HELP rpc_seconds RPC latency.\nrpc_seconds{quantile=\"0.5\"} 0.25\nrpc_seconds_sum 10\n"
        ));
        assert!(openmetrics.contains("size_bytes_bucket{le=\"+Inf\"} 4\n"));
    }

    #[test]
    fn openmetrics_never_declares_a_family_twice() {
        // The sidecar's counter and a script's gauge of the same OpenMetrics name: in
        // 0.0.4 both are served; in OpenMetrics the first registered keeps the name.
        let mut set = MetricSet::new();
        set.counter(
            "edge_sidecar_source_runs_total",
            "Runs.",
            &[("source", "a")],
            3.0,
        );
        set.gauge("edge_sidecar_source_runs", "Value from a script.", &[], 7.0);
        set.gauge("edge_other", "Other.", &[], 1.0);
        let mut text = String::new();
        render(&set, Format::PrometheusText, &mut text);
        assert!(text.contains("edge_sidecar_source_runs 7\n"));
        assert!(text.contains("edge_sidecar_source_runs_total{source=\"a\"} 3\n"));
        let mut openmetrics = String::new();
        render(&set, Format::OpenMetrics, &mut openmetrics);
        assert_eq!(
            openmetrics,
            "# TYPE edge_other gauge\n# HELP edge_other Other.\nedge_other 1\n\
             # TYPE edge_sidecar_source_runs counter\n# HELP edge_sidecar_source_runs Runs.\n\
             edge_sidecar_source_runs_total{source=\"a\"} 3\n# EOF\n"
        );
    }
}
