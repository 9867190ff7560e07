//! Per request, before the router: the config in force (reloaded if its files
//! changed), the rate limit (429), basic auth (401), then the router, all within the
//! request timeout (408 and close); the config's headers go on every answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::{AUTHORIZATION, CONNECTION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use tower::ServiceExt as _;

use crate::basic_auth::BasicAuth;
use crate::web_config::{ConfigSource, WebConfig};

/// What every connection of one server shares to answer requests.
pub(crate) struct Access {
    router: Router,
    source: Arc<ConfigSource>,
    basic_auth: BasicAuth,
    request_timeout: Duration,
}

impl Access {
    pub(crate) fn new(
        router: Router,
        source: Arc<ConfigSource>,
        request_timeout: Duration,
    ) -> Access {
        Access {
            router,
            source,
            basic_auth: BasicAuth::new(),
            request_timeout,
        }
    }

    pub(crate) fn source(&self) -> &ConfigSource {
        &self.source
    }

    /// The answer to `request`, within the request timeout. The timeout counts from
    /// the end of the request head, so reading the body is inside it: a client that
    /// trickles its body gets 408 when it runs out.
    pub(crate) async fn respond(&self, request: Request<Incoming>, peer: SocketAddr) -> Response {
        let answer = async {
            let config = self.source.current().await;
            let response = self.admit(&config, request, peer).await;
            (config, response)
        };
        let (config, mut response) = match tokio::time::timeout(self.request_timeout, answer).await
        {
            Ok(answered) => answered,
            Err(_) => {
                tracing::info!(%peer, timeout = ?self.request_timeout, "request timed out: 408, connection closed");
                let mut response = plain(StatusCode::REQUEST_TIMEOUT);
                response
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
                (self.source.loaded(), response)
            }
        };
        // As exporter-toolkit sets them before the handler runs: a handler's own wins.
        for (name, value) in &config.headers {
            response
                .headers_mut()
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
        response
    }

    async fn admit(
        &self,
        config: &WebConfig,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response {
        if let Some(limiter) = &config.rate_limit {
            if !limiter.allow() {
                tracing::debug!(%peer, "rate limit: 429");
                return plain(StatusCode::TOO_MANY_REQUESTS);
            }
        }
        if !config.users.is_empty()
            && !self
                .basic_auth
                .allows(&config.users, request.headers().get(AUTHORIZATION))
                .await
        {
            tracing::debug!(%peer, "basic auth refused: 401");
            let mut response = plain(StatusCode::UNAUTHORIZED);
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
            return response;
        }
        match self.router.clone().oneshot(request.map(Body::new)).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }
}

/// A refusal as Go's `http.Error` writes it: the status text on a line.
fn plain(status: StatusCode) -> Response {
    let text = status.canonical_reason().unwrap_or("Error");
    let mut response = Response::new(Body::from(format!("{text}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
