//! `/healthz` (the process answers), `/readyz` (the store takes writes) and `/metrics`
//! (the master's own metrics).

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
    with_store(&state.store, |store| {
        store.check_writable().map_err(ApiError::NotReady)
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
