//! Bearer tokens: `--push-token` for `POST /metrics/node`, `--api.read-token` for the
//! read routes and the master's own metrics. Both are checked by middleware from the
//! request's headers, before its body is read or its handler runs: a caller without
//! the token costs the master one header check, whatever it sends after.
//!
//! `/healthz` and `/readyz` stay open (probes carry no token), and so do preflight
//! `OPTIONS` requests, which the CORS layer outside this one answers (browsers send
//! them without credentials). Basic auth and TLS are the shared server crate's
//! (`--web.config.file`), not this module's.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::state::AppState;

/// Middleware of the read routes: with `--api.read-token` set, the request must carry
/// `Authorization: Bearer <token>`.
pub async fn reads(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    match authorize(state.settings.read_token.as_deref(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

/// With a token configured, the request must carry `Authorization: Bearer <token>`.
pub fn authorize(token: Option<&str>, headers: &HeaderMap) -> Result<(), ApiError> {
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
}
