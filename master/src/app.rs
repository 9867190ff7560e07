//! The HTTP app edge-master serves: the API and the dashboard in one router. This is
//! the one module that knows both; neither knows the other.

use std::sync::Arc;

use axum::Router;

use crate::api::{self, ApiSettings, SharedStore};
use crate::own_metrics::OwnMetrics;
use crate::web;

/// The API's routes (with their JSON 404 for unknown paths) and the dashboard's.
/// Serve with `edge_server::serve(listener, router(…), …)`.
pub fn router(store: SharedStore, settings: ApiSettings, own_metrics: Arc<OwnMetrics>) -> Router {
    // With a read token the page carries no data, not even the cluster's id: it asks
    // for the token and reads everything from the API.
    let cluster = (!settings.reads_need_a_token()).then_some(settings.cluster_id.as_str());
    let dashboard = web::routes(cluster, settings.max_history_hours());
    api::router(store, settings, own_metrics).merge(dashboard)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::Body;
    use axum::http::{header, Method, Request, StatusCode};
    use tower::ServiceExt;

    use super::*;
    use crate::store::Store;

    /// The whole master router, as `main` serves it, with `retention_hours` of history.
    fn app(retention_hours: u64) -> Router {
        let settings = ApiSettings::new(
            "default".to_owned(),
            Duration::from_secs(retention_hours * 3600),
            Duration::from_secs(10),
        );
        let store: SharedStore = Arc::new(Store::open_in_memory().unwrap());
        router(store, settings, Arc::new(OwnMetrics::new()))
    }

    /// Status, Content-Type, and the body (or the `Location` of a redirect).
    async fn call(app: &Router, method: Method, uri: &str) -> (StatusCode, String, String) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &axum::http::HeaderValue| v.to_str().unwrap().to_owned())
        };
        let content_type = header(header::CONTENT_TYPE).unwrap_or_default();
        let location = header(header::LOCATION);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = location.unwrap_or_else(|| String::from_utf8(bytes.to_vec()).unwrap());
        (status, content_type, body)
    }

    #[tokio::test]
    async fn the_dashboard_is_served_with_the_apis_cluster_and_retention() {
        let app = app(720);
        let (status, _, location) = call(&app, Method::GET, "/").await;
        assert!(matches!(status.as_u16(), 302 | 303), "{status}");
        assert_eq!(location, web::PAGE_PATH);
        let (status, content_type, html) = call(&app, Method::GET, web::PAGE_PATH).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, "text/html; charset=utf-8");
        assert!(html.contains(r#"data-cluster="default""#));
        assert!(html.contains(r#"data-max-hours="720""#));
    }

    #[tokio::test]
    async fn the_api_keeps_its_json_404_and_405() {
        let app = app(720);
        let (status, content_type, body) = call(&app, Method::GET, "/api/v2/nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        assert!(body.contains("error"));
        let (status, content_type, _) =
            call(&app, Method::POST, "/api/v2/clusters/default/node-metrics").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        let (status, _, body) =
            call(&app, Method::GET, "/api/v2/clusters/default/node-metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("summary"));
    }
}
