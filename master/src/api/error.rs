//! The API's one error type: every failure becomes a status and a `{"error": "…"}` body
//! (no envelope, as atlhyper_web reads it), including axum's own extractor rejections.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tokio::task::JoinError;

use crate::store::StoreError;

/// `Retry-After` of a 429.
const RETRY_AFTER_SECONDS: &str = "1";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A query parameter, path segment or body the API cannot use; the message says why.
    #[error("{0}")]
    BadRequest(String),
    /// The route wants a bearer token (`--push-token` for pushes, `--api.read-token`
    /// for reads) and got none or another one.
    #[error("missing or wrong bearer token")]
    Unauthorized,
    /// Every push slot is taken (`MAX_CONCURRENT_PUSHES`): try again shortly.
    #[error("too many pushes at once (at most {0}); try again shortly")]
    TooManyPushes(usize),
    #[error("{0}")]
    NotFound(String),
    /// A cluster this master neither serves nor has nodes of.
    #[error("cluster {0:?} not found")]
    UnknownCluster(String),
    /// A node the cluster does not have.
    #[error("node {node:?} not found in cluster {cluster:?}")]
    UnknownNode { cluster: String, node: String },
    #[error("method not allowed")]
    MethodNotAllowed,
    /// An extractor refused the request (e.g. a body over the limit): its status, our body.
    #[error("{message}")]
    Rejected { status: StatusCode, message: String },
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// `/readyz`: the store cannot take writes.
    #[error("not ready: {0}")]
    NotReady(#[source] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) | ApiError::UnknownCluster(_) | ApiError::UnknownNode { .. } => {
                StatusCode::NOT_FOUND
            }
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooManyPushes(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Rejected { status, .. } => *status,
            ApiError::Store(error) => match error {
                StoreError::TooLarge { .. } => StatusCode::BAD_REQUEST,
                StoreError::NodeIsScraped { .. } => StatusCode::CONFLICT,
                StoreError::NodeLimit { .. } => StatusCode::INSUFFICIENT_STORAGE,
                // The backend history is read from failed or refused: not our fault.
                StoreError::Backend(_) => StatusCode::BAD_GATEWAY,
                error if error.is_busy() => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = self.to_string();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), error = %message, "api request failed");
        }
        let body = Json(json!({ "error": message }));
        match self {
            ApiError::Unauthorized => {
                (status, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response()
            }
            ApiError::TooManyPushes(_) => {
                (status, [(header::RETRY_AFTER, RETRY_AFTER_SECONDS)], body).into_response()
            }
            _ => (status, body).into_response(),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::Rejected {
            status: rejection.status(),
            message: rejection.body_text(),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::Rejected {
            status: rejection.status(),
            message: rejection.body_text(),
        }
    }
}

/// The store's blocking task panicked or was cancelled.
impl From<JoinError> for ApiError {
    fn from(error: JoinError) -> Self {
        ApiError::Internal(format!("store task failed: {error}"))
    }
}
