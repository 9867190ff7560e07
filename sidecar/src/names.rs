//! The names a source's values get (`<prefix><key>`), and the rule that keeps them
//! apart from the sidecar's own families and from each other in every form a reader
//! may give them.
//!
//! The file is text 0.0.4, but edge-exporter serves it on in OpenMetrics too, where a
//! counter's family is named without `_total`: gauge `edge_sidecar_source_runs`
//! beside counter `edge_sidecar_source_runs_total` is one family declared twice, and
//! a strict reader rejects the whole scrape. So a name is checked against what each
//! family *claims*, not only its name ([`claimed_names`]):
//!
//! - The sidecar's own families ([`crate::status::FAMILIES`]) are reserved with a
//!   margin: every name that, with one type suffix (`_total`, `_created`, `_sum`,
//!   `_count`, `_bucket`, `_info`, `_gsum`, `_gcount`) stripped from it or from the
//!   own name, is the same family (`edge_sidecar_info_total`,
//!   `edge_sidecar_source_runs_created`, `edge_sidecar`). A key that makes one is a
//!   bad line ([`ValueNames::own_family_for`]).
//! - Values among themselves (all gauges) only must not claim the same name; the first
//!   source in `nodes.conf` keeps it ([`Claims::claim`]).
//!
//! Not chosen: reserving the whole `edge_sidecar_` prefix. It depends on `--prefix`
//! and would refuse keys no format confuses with anything of ours.

use std::collections::HashMap;

use edge_common::exposition::MetricKind;

use crate::status::FAMILIES;

/// Suffixes a format adds to a family's name for its samples: OpenMetrics counters
/// `_total` and `_created`, summaries and histograms `_sum`, `_count`, `_bucket`,
/// OpenMetrics info `_info` and gauge histograms `_gsum`, `_gcount`.
pub const TYPE_SUFFIXES: [&str; 8] = [
    "_total", "_created", "_sum", "_count", "_bucket", "_info", "_gsum", "_gcount",
];

/// `name`, and `name` without each type suffix it ends with: the families a sample of
/// that name could belong to.
fn stems(name: &str) -> impl Iterator<Item = &str> {
    std::iter::once(name).chain(
        TYPE_SUFFIXES
            .iter()
            .filter_map(move |suffix| name.strip_suffix(suffix))
            .filter(|stem| !stem.is_empty()),
    )
}

/// Every name a family of `kind` called `name` (its text 0.0.4 name; a counter's ends
/// in `_total`) takes in text 0.0.4 or OpenMetrics: its family names and the names of
/// the samples it may write.
pub fn claimed_names(name: &str, kind: MetricKind) -> Vec<String> {
    let with = |suffix: &str| format!("{name}{suffix}");
    match kind {
        MetricKind::Gauge | MetricKind::Untyped => vec![name.to_string()],
        MetricKind::Counter => {
            let family = name.strip_suffix("_total").unwrap_or(name);
            vec![
                name.to_string(),
                family.to_string(),
                format!("{family}_total"),
                format!("{family}_created"),
            ]
        }
        MetricKind::Summary => vec![
            name.to_string(),
            with("_sum"),
            with("_count"),
            with("_created"),
        ],
        MetricKind::Histogram => vec![
            name.to_string(),
            with("_bucket"),
            with("_sum"),
            with("_count"),
            with("_created"),
        ],
    }
}

/// The names taken in one file, each with the family that took it.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    taken: HashMap<String, String>,
}

impl Claims {
    /// Takes every name of the same family as `name` whatever its type: `name` and
    /// each of its stems, alone and with each type suffix.
    pub fn reserve(&mut self, name: &str) {
        for stem in stems(name) {
            for suffix in std::iter::once("").chain(TYPE_SUFFIXES) {
                self.taken
                    .entry(format!("{stem}{suffix}"))
                    .or_insert_with(|| name.to_string());
            }
        }
    }

    /// The family that took a name a family `name` of `kind` would claim.
    pub fn holder(&self, name: &str, kind: MetricKind) -> Option<&str> {
        claimed_names(name, kind)
            .iter()
            .find_map(|claimed| self.taken.get(claimed))
            .map(String::as_str)
    }

    /// Takes the names of a family `name` of `kind`, unless one is taken already:
    /// then `Err` with the family that has it.
    pub fn claim(&mut self, name: &str, kind: MetricKind) -> Result<(), String> {
        if let Some(holder) = self.holder(name, kind) {
            return Err(holder.to_string());
        }
        for claimed in claimed_names(name, kind) {
            self.taken.insert(claimed, name.to_string());
        }
        Ok(())
    }
}

/// How a key becomes a family name, and which keys cannot: one per sidecar, shared by
/// the workers (a reserved key is a bad line) and the writer (the file's claims start
/// from the sidecar's own).
#[derive(Debug, Clone)]
pub struct ValueNames {
    prefix: String,
    own: Claims,
}

impl ValueNames {
    /// The names of values under `prefix`, with every family of
    /// [`crate::status::FAMILIES`] reserved.
    pub fn new(prefix: &str) -> Self {
        let mut own = Claims::default();
        for family in FAMILIES {
            own.reserve(family.name);
        }
        ValueNames {
            prefix: prefix.to_string(),
            own,
        }
    }

    /// The family name of the value of `key`: `<prefix><key>`.
    pub fn name(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The sidecar's own family that the value of `key` would collide with, if any.
    pub fn own_family_for(&self, key: &str) -> Option<&str> {
        self.own.holder(&self.name(key), MetricKind::Gauge)
    }

    /// The claims a file starts from: the sidecar's own names.
    pub fn own_claims(&self) -> Claims {
        self.own.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_names_are_reserved_in_every_form() {
        let names = ValueNames::new("edge_");
        for (key, own) in [
            ("sidecar_source_success", "edge_sidecar_source_success"),
            ("sidecar_info", "edge_sidecar_info"),
            // The counter's OpenMetrics family name, and its samples.
            ("sidecar_source_runs", "edge_sidecar_source_runs_total"),
            (
                "sidecar_source_runs_total",
                "edge_sidecar_source_runs_total",
            ),
            (
                "sidecar_source_runs_created",
                "edge_sidecar_source_runs_total",
            ),
            // Another type's samples of an own family.
            ("sidecar_info_total", "edge_sidecar_info"),
            ("sidecar_source_values_count", "edge_sidecar_source_values"),
            ("sidecar_source_values_bucket", "edge_sidecar_source_values"),
            // An info family `edge_sidecar` would write `edge_sidecar_info`.
            ("sidecar", "edge_sidecar_info"),
        ] {
            assert_eq!(names.own_family_for(key), Some(own), "{key}");
        }
        for key in [
            "temp",
            "sidecar_source",
            "sidecar_source_runs_x",
            "info",
            "runs",
        ] {
            assert_eq!(names.own_family_for(key), None, "{key}");
        }
        // Under another prefix the same keys are harmless, and others are not.
        let other = ValueNames::new("site_");
        assert_eq!(other.own_family_for("sidecar_info"), None);
        let sidecar = ValueNames::new("edge_sidecar_");
        assert_eq!(sidecar.own_family_for("info"), Some("edge_sidecar_info"));
    }

    #[test]
    fn values_claim_their_name_and_counters_their_openmetrics_family() {
        let mut claims = Claims::default();
        claims.claim("edge_temp", MetricKind::Gauge).unwrap();
        assert_eq!(
            claims.claim("edge_temp", MetricKind::Gauge),
            Err("edge_temp".into())
        );
        // Gauges never collide by suffix: both are served as they are.
        claims.claim("edge_temp_total", MetricKind::Gauge).unwrap();
        claims.claim("edge_temp_count", MetricKind::Gauge).unwrap();
        // A counter `x_total` is OpenMetrics family `x`.
        claims
            .claim("edge_runs_total", MetricKind::Counter)
            .unwrap();
        assert_eq!(
            claims.claim("edge_runs", MetricKind::Gauge),
            Err("edge_runs_total".into())
        );
        assert_eq!(
            claims.claim("edge_runs_created", MetricKind::Gauge),
            Err("edge_runs_total".into())
        );
        // And a counter without `_total` writes `x_total` samples in OpenMetrics.
        claims.claim("edge_hits", MetricKind::Gauge).unwrap();
        assert_eq!(
            claims.claim("edge_temp", MetricKind::Counter),
            Err("edge_temp".into())
        );
        claims.claim("edge_reqs", MetricKind::Counter).unwrap();
        assert_eq!(
            claims.claim("edge_reqs_total", MetricKind::Gauge),
            Err("edge_reqs".into())
        );
        // A histogram's samples.
        claims.claim("edge_lat", MetricKind::Histogram).unwrap();
        assert!(claims.claim("edge_lat_bucket", MetricKind::Gauge).is_err());
    }
}
