//! What a snapshot must be before it is stored, whichever way it came: the one gate
//! between the outside (a push body, an exporter's answer) and the store.
//!
//! - `bounds` — every field within its limit (`model::limits`): checked for pushes
//!   (the first field out of bounds is refused, by name), fitted for scrapes.
//! - command lines without their secrets (`--process.cmdline`): edge-common's
//!   `redact`, the same rule as edge-exporter's.
//!
//! A pushed snapshot is also read under bounds (arrays stop at their limit while the
//! JSON is read), and its timestamp must lie within the retention and no more than
//! [`MAX_CLOCK_SKEW`] ahead of the master's clock: a point dated in the future would
//! outlive retention and, as the newest point, hold back every later one.

pub mod bounds;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::model::NodeMetricsSnapshot;
pub use bounds::BoundsError;
pub use edge_common::redact::CmdlinePolicy;

/// How far ahead of the master's clock a pushed snapshot's timestamp may be.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// Why a pushed snapshot is refused (a 400): the message names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refused {
    /// Not JSON at all.
    #[error("invalid JSON body: {0}")]
    Json(String),
    /// JSON, but a field is not what the contract says: `field: problem`.
    #[error("{field}: {problem}")]
    Field { field: String, problem: String },
    #[error(transparent)]
    Bounds(#[from] BoundsError),
    #[error("timestamp: {timestamp} is more than {}s ahead of the master's clock ({now})", MAX_CLOCK_SKEW.as_secs())]
    InTheFuture {
        timestamp: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    #[error("timestamp: {timestamp} is older than the retention ({}h)", .retention.as_secs() / 3600)]
    TooOld {
        timestamp: DateTime<Utc>,
        retention: Duration,
    },
}

/// The rules of admission, from the master's flags.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Admission {
    pub cmdlines: CmdlinePolicy,
    /// How long history is kept: an older pushed snapshot has nowhere to go.
    pub retention: Duration,
}

impl Admission {
    /// A pushed body as a snapshot that may be stored, taken at `now` when it has no
    /// timestamp of its own.
    pub fn push(&self, body: &[u8], now: DateTime<Utc>) -> Result<NodeMetricsSnapshot, Refused> {
        let mut snapshot = read_json(body)?;
        bounds::check(&mut snapshot)?;
        // A snapshot pushed without a time is taken as of now, not as of 1970 (where
        // its history point would fall outside every window).
        if snapshot.timestamp == DateTime::<Utc>::default() {
            snapshot.timestamp = now;
        }
        let skew = TimeDelta::from_std(MAX_CLOCK_SKEW).unwrap_or(TimeDelta::MAX);
        if snapshot.timestamp > now.checked_add_signed(skew).unwrap_or(now) {
            return Err(Refused::InTheFuture {
                timestamp: snapshot.timestamp,
                now,
            });
        }
        let retention = TimeDelta::from_std(self.retention).unwrap_or(TimeDelta::MAX);
        if now
            .checked_sub_signed(retention)
            .is_some_and(|oldest| snapshot.timestamp < oldest)
        {
            return Err(Refused::TooOld {
                timestamp: snapshot.timestamp,
                retention: self.retention,
            });
        }
        self.redact(&mut snapshot);
        Ok(snapshot)
    }

    /// A scraped snapshot within bounds and redacted. Fails only for a node name that
    /// is not one.
    pub fn scraped(
        &self,
        mut snapshot: NodeMetricsSnapshot,
    ) -> Result<NodeMetricsSnapshot, BoundsError> {
        bounds::fit(&mut snapshot)?;
        self.redact(&mut snapshot);
        Ok(snapshot)
    }

    fn redact(&self, snapshot: &mut NodeMetricsSnapshot) {
        for process in &mut snapshot.processes {
            self.cmdlines.apply(&mut process.cmdline);
        }
    }
}

/// The body as a snapshot; an error in a field names it (`cpu.usage_percent: invalid
/// type…`, `processes: more than 64 entries`).
fn read_json(body: &[u8]) -> Result<NodeMetricsSnapshot, Refused> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let snapshot: NodeMetricsSnapshot = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|error| {
            let field = error.path().to_string();
            let inner = error.into_inner();
            if inner.classify() != serde_json::error::Category::Data || field == "." {
                return Refused::Json(inner.to_string());
            }
            // serde_json ends its message with where in the body: the field says more.
            let message = inner.to_string();
            let position = format!(" at line {} column {}", inner.line(), inner.column());
            Refused::Field {
                field,
                problem: message
                    .strip_suffix(&position)
                    .unwrap_or(&message)
                    .to_owned(),
            }
        })?;
    deserializer
        .end()
        .map_err(|error| Refused::Json(error.to_string()))?;
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ADMISSION: Admission = Admission {
        cmdlines: CmdlinePolicy::Redact,
        retention: Duration::from_secs(30 * 86_400),
    };

    fn push(body: &serde_json::Value) -> Result<NodeMetricsSnapshot, String> {
        ADMISSION
            .push(body.to_string().as_bytes(), Utc::now())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_push_is_read_checked_dated_and_redacted() {
        let snapshot = push(&json!({
            "node_name": "n1",
            "processes": [{"pid": 1, "cmdline": "app --db-password=hunter2"}],
        }))
        .unwrap();
        assert_eq!(snapshot.processes[0].cmdline, "app --db-password=***");
        assert!((Utc::now() - snapshot.timestamp).num_seconds() < 5);
    }

    #[test]
    fn refusals_name_the_field() {
        let empties = vec![json!({}); 300_000];
        for (body, expected) in [
            (
                json!({"node_name": "n1", "processes": empties}),
                "processes: more than 64 entries",
            ),
            (
                json!({"node_name": "n1", "cpu": {"usage_percent": "high"}}),
                "cpu.usage_percent: invalid type",
            ),
            (
                json!({"node_name": "n1", "temperature": {"sensors": [{"current": 1e300}]}}),
                "temperature.sensors[0].current: outside",
            ),
            (json!({}), "node_name: not a node name"),
            (
                json!({"node_name": "n1", "timestamp": "9999-12-31T23:59:59Z"}),
                "timestamp: 9999-12-31 23:59:59 UTC is more than 300s ahead",
            ),
            (
                json!({"node_name": "n1", "timestamp": "2001-01-01T00:00:00Z"}),
                "timestamp: 2001-01-01 00:00:00 UTC is older than the retention (720h)",
            ),
        ] {
            let error = push(&body).unwrap_err();
            assert!(error.starts_with(expected), "{error}\nexpected {expected}");
        }
        let error = ADMISSION
            .push(b"{\"node_name\":\"n1\"} x", Utc::now())
            .unwrap_err();
        assert!(matches!(error, Refused::Json(_)), "{error}");
        // Four minutes ahead is within the skew.
        let soon = (Utc::now() + TimeDelta::minutes(4)).to_rfc3339();
        assert!(push(&json!({"node_name": "n1", "timestamp": soon})).is_ok());
    }

    #[test]
    fn a_scrape_is_fitted_and_redacted() {
        let mut snapshot = NodeMetricsSnapshot {
            node_name: "n1".into(),
            ..NodeMetricsSnapshot::default()
        };
        snapshot.processes = vec![
            crate::model::ProcessMetrics {
                cmdline: "app --token abc".into(),
                ..Default::default()
            };
            100
        ];
        let fitted = ADMISSION.scraped(snapshot).unwrap();
        assert_eq!(fitted.processes.len(), 64);
        assert_eq!(fitted.processes[0].cmdline, "app --token ***");
    }
}
