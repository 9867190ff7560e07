//! `POST /metrics/node`: atlhyper's own per-node collector pushes a snapshot, which is
//! stored as if scraped now, into the cluster this master serves.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::error::ApiError;
use super::node_store::with_store;
use super::state::AppState;
use crate::model::NodeMetricsSnapshot;

/// Largest accepted body (1 MiB, as atlhyper's master).
pub const PUSH_BODY_LIMIT: usize = 1024 * 1024;

pub async fn push(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    // Before the body: an unauthorised caller learns nothing about its payload.
    authorize(state.settings.push_token.as_deref(), &headers)?;
    let mut snapshot = parse_snapshot(&body.map_err(body_refused)?)?;
    let now = Utc::now();
    // A snapshot pushed without a time is taken as of now, not as of 1970 (where its
    // history point would fall outside every window).
    if snapshot.timestamp == DateTime::<Utc>::default() {
        snapshot.timestamp = now;
    }
    let node = snapshot.node_name.clone();
    let cluster = state.settings.cluster_id.clone();
    let sample_interval = state.settings.sample_interval;
    let own_metrics = Arc::clone(&state.own_metrics);
    with_store(&state.store, move |store| {
        let started = Instant::now();
        let written = store.write_round(&cluster, &[(snapshot, now)], sample_interval);
        own_metrics.record_store_write(started.elapsed(), written.is_ok());
        written.map_err(ApiError::Store)
    })
    .await?;
    tracing::debug!(node = %node, "snapshot pushed");
    Ok(Json(json!({ "status": "ok" })))
}

/// A body axum would not read: its status, our `{"error": …}` (naming the limit when
/// the body is too large).
fn body_refused(rejection: BytesRejection) -> ApiError {
    let status = rejection.status();
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!("request body is larger than {PUSH_BODY_LIMIT} bytes")
    } else {
        rejection.body_text()
    };
    ApiError::Rejected { status, message }
}

/// With a token configured, the request must carry `Authorization: Bearer <token>`.
fn authorize(token: Option<&str>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = token.filter(|token| !token.is_empty()) else {
        return Ok(());
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, credentials)| credentials.trim());
    match presented {
        Some(presented) if constant_time_eq(presented.as_bytes(), expected.as_bytes()) => Ok(()),
        _ => Err(ApiError::Unauthorized),
    }
}

/// Compares without stopping at the first difference, so the time taken says nothing
/// about how much of the token was right (only its length is not hidden).
fn constant_time_eq(presented: &[u8], expected: &[u8]) -> bool {
    let mut difference = u8::from(presented.len() != expected.len());
    for (i, byte) in expected.iter().enumerate() {
        difference |= byte ^ presented.get(i).copied().unwrap_or(0);
    }
    difference == 0
}

fn parse_snapshot(body: &[u8]) -> Result<NodeMetricsSnapshot, ApiError> {
    let snapshot: NodeMetricsSnapshot = serde_json::from_slice(body)
        .map_err(|error| ApiError::BadRequest(format!("invalid JSON body: {error}")))?;
    if snapshot.node_name.trim().is_empty() {
        return Err(ApiError::BadRequest("node_name is required".to_owned()));
    }
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_authorization(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn tokens_are_compared_whole() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cre", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret!", b"s3cret"));
        assert!(!constant_time_eq(b"", b"s3cret"));
        assert!(!constant_time_eq(b"s3creT", b"s3cret"));
    }

    #[test]
    fn bearer_token_is_checked_only_when_configured() {
        assert!(authorize(None, &HeaderMap::new()).is_ok());
        assert!(authorize(Some(""), &HeaderMap::new()).is_ok());
        assert!(authorize(Some("t"), &HeaderMap::new()).is_err());
        assert!(authorize(Some("t"), &with_authorization("Bearer t")).is_ok());
        assert!(authorize(Some("t"), &with_authorization("bearer t")).is_ok());
        assert!(authorize(Some("t"), &with_authorization("Bearer u")).is_err());
        assert!(authorize(Some("t"), &with_authorization("Basic t")).is_err());
        assert!(authorize(Some("t"), &with_authorization("t")).is_err());
    }

    #[test]
    fn snapshots_need_a_node_name() {
        assert!(parse_snapshot(br#"{"node_name":"n1"}"#).is_ok());
        for bad in [
            &b"{}"[..],
            b"",
            b"null",
            b"[]",
            b"{\"node_name\":\"  \"}",
            b"{",
            b"\xff",
        ] {
            assert!(
                matches!(parse_snapshot(bad), Err(ApiError::BadRequest(_))),
                "{bad:?}"
            );
        }
    }
}
