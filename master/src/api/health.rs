//! `/healthz` (the process answers), `/readyz` (the store takes writes) and `/metrics`
//! (the master's own metrics). Neither `/readyz` nor `/metrics` waits for a busy
//! writer: readiness probes only a free writer and otherwise answers from how the last
//! write went, and `/metrics` does not touch the store.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::node_store::with_store;
use super::state::AppState;
use crate::own_metrics::CONTENT_TYPE;

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let own_metrics = Arc::clone(&state.own_metrics);
    with_store(&state.store, move |store| {
        let writable = store.check_writable();
        own_metrics.record_store_writable(writable.is_ok());
        writable.map_err(ApiError::NotReady)
    })
    .await?;
    Ok(Json(json!({ "status": "ready" })))
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        state.own_metrics.render(),
    )
}
