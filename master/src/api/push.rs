//! `POST /metrics/node`: atlhyper's own per-node collector pushes a snapshot, which is
//! stored as if scraped now, into the cluster this master serves.
//!
//! A push passes, in order, and costs the master no more than each step allows:
//! 1. the token, from the headers ([`gate`]): 401 before a byte of the body is read;
//! 2. a push slot: at most [`MAX_CONCURRENT_PUSHES`] bodies are read or written at
//!    once, so slow senders hold at most that many [`PUSH_BODY_LIMIT`]s; one more is
//!    429 at once;
//! 3. the body, at most [`PUSH_BODY_LIMIT`] (413);
//! 4. admission: read under bounds, every field checked, the timestamp within the
//!    retention and the clock skew, command lines redacted (400 naming the field);
//! 5. the store: the size cap (400), a scraped node's name (409), `--max-nodes` for a
//!    new node (507), a busy database (503).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use super::auth::authorize;
use super::error::ApiError;
use super::node_store::with_store;
use super::state::AppState;

/// Largest accepted body (1 MiB, as atlhyper's master).
pub const PUSH_BODY_LIMIT: usize = 1024 * 1024;

/// Pushes whose bodies are read or written at once.
pub const MAX_CONCURRENT_PUSHES: usize = 8;

/// Middleware of the push route: the token from the headers, then a push slot, held
/// until the answer is ready.
pub async fn gate(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if let Err(error) = authorize(state.settings.push_token.as_deref(), request.headers()) {
        return error.into_response();
    }
    let Ok(slot) = Arc::clone(&state.push_slots).try_acquire_owned() else {
        return ApiError::TooManyPushes(MAX_CONCURRENT_PUSHES).into_response();
    };
    let response = next.run(request).await;
    drop(slot);
    response
}

pub async fn push(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body.map_err(body_refused)?;
    let now = Utc::now();
    let snapshot = state
        .settings
        .admission()
        .push(&body, now)
        .map_err(|refused| ApiError::BadRequest(refused.to_string()))?;
    drop(body);
    let node = snapshot.node_name.clone();
    let cluster = state.settings.cluster_id.clone();
    let rules = state.settings.push_rules();
    let own_metrics = Arc::clone(&state.own_metrics);
    with_store(&state.store, move |store| {
        let started = Instant::now();
        let written = store.push(&cluster, &snapshot, now, &rules);
        let store_ok = written.as_ref().map_or_else(|e| e.is_refusal(), |()| true);
        own_metrics.record_store_write(started.elapsed(), store_ok);
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
