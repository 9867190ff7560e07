//! The dashboard: one page at `/system/metrics` (and `/` redirects there) that reads
//! the node-metrics API from the browser. Plain HTML, CSS and JS, embedded in the
//! binary with `include_str!`: no CDN, nothing fetched at run time but the API.
//!
//! The page learns the cluster it shows from `?cluster=`, else from the master's
//! `--cluster-id`, written into the HTML when the router is built (unless reads need a
//! token: then the HTML carries no data at all, and the page takes the first cluster
//! of `/api/v2/clusters`); and the largest history window the API accepts (the
//! retention), so that its 30-day button asks for no more than that. It knows nothing
//! else of the API: `app` merges both routers.
//!
//! With `--api.read-token`, the API answers the page 401 until it sends the token: the
//! page then asks for it, keeps it in the tab's `sessionStorage` (gone when the tab
//! closes) and sends it as `Authorization: Bearer`. The page's own files hold no data
//! and are served to anyone.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// Where the page lives.
pub const PAGE_PATH: &str = "/system/metrics";

const INDEX_HTML: &str = include_str!("static/index.html");

/// The page's files under `/system/metrics/`: name, content type, text. The scripts
/// in the order `index.html` loads them: format (figures and colour levels), chart
/// (one SVG line chart), trend (the top-5 charts), app (the rest).
const ASSETS: [(&str, &str, &str); 5] = [
    ("format.js", JAVASCRIPT, include_str!("static/format.js")),
    ("chart.js", JAVASCRIPT, include_str!("static/chart.js")),
    ("trend.js", JAVASCRIPT, include_str!("static/trend.js")),
    ("app.js", JAVASCRIPT, include_str!("static/app.js")),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("static/app.css"),
    ),
];
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// Placeholders of `index.html`, replaced once when the router is built.
const CLUSTER_PLACEHOLDER: &str = "__CLUSTER_ID__";
const MAX_HOURS_PLACEHOLDER: &str = "__MAX_HOURS__";

/// The page's routes for the cluster `cluster_id` (`None`: the page asks the API),
/// whose history goes back `max_history_hours`; to merge into the API's router.
pub fn routes(cluster_id: Option<&str>, max_history_hours: u32) -> Router {
    let page = index_html(cluster_id, max_history_hours);
    let mut router = Router::new()
        .route("/", get(|| async { Redirect::to(PAGE_PATH) }))
        .route(
            PAGE_PATH,
            get(move || async move { asset("text/html; charset=utf-8", page) }),
        );
    for (name, content_type, text) in ASSETS {
        router = router.route(
            &format!("{PAGE_PATH}/{name}"),
            get(move || async move { asset(content_type, text) }),
        );
    }
    router
}

/// `index.html` with the cluster id (HTML-escaped: it is an attribute value; empty
/// when the page is to ask the API) and the history limit filled in.
fn index_html(cluster_id: Option<&str>, max_hours: u32) -> String {
    INDEX_HTML
        .replace(CLUSTER_PLACEHOLDER, &escape_html(cluster_id.unwrap_or("")))
        .replace(MAX_HOURS_PLACEHOLDER, &max_hours.to_string())
}

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// An embedded file. `no-cache`: a new binary serves new files without a stale page.
fn asset(content_type: &'static str, body: impl Into<axum::body::Body>) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        body.into(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Method, Request};
    use tower::ServiceExt;

    use super::*;

    async fn call(app: &Router, method: Method, uri: &str) -> (StatusCode, String, String) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let location = headers
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = location.unwrap_or_else(|| String::from_utf8(bytes.to_vec()).unwrap());
        (status, content_type, body)
    }

    #[tokio::test]
    async fn the_root_redirects_to_the_page() {
        let app = routes(Some("default"), 720);
        let (status, _, location) = call(&app, Method::GET, "/").await;
        assert!(status.is_redirection(), "{status}");
        assert!(matches!(status.as_u16(), 302 | 303), "{status}");
        assert_eq!(location, PAGE_PATH);
    }

    #[tokio::test]
    async fn the_page_and_its_assets_have_their_content_types() {
        let app = routes(Some("default"), 720);
        let (status, content_type, html) = call(&app, Method::GET, PAGE_PATH).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, "text/html; charset=utf-8");
        assert!(html.contains(r#"data-cluster="default""#));
        assert!(html.contains(r#"data-max-hours="720""#));
        assert!(!html.contains(CLUSTER_PLACEHOLDER) && !html.contains(MAX_HOURS_PLACEHOLDER));

        // Every file is linked from the page, scripts in the table's order, and served.
        let mut last_script = 0;
        for (name, content_type, text) in ASSETS {
            let url = format!("{PAGE_PATH}/{name}");
            let at = html
                .find(&format!("\"{url}\""))
                .unwrap_or_else(|| panic!("index.html does not link {url}"));
            if content_type == JAVASCRIPT {
                assert!(at > last_script, "{url} is loaded out of order");
                last_script = at;
            }
            let (status, served_type, body) = call(&app, Method::GET, &url).await;
            assert_eq!(status, StatusCode::OK, "{url}");
            assert_eq!(served_type, content_type, "{url}");
            assert_eq!(body, text, "{url}");
        }
        let (status, _, _) = call(&app, Method::GET, "/system/metrics/other.js").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn the_cluster_id_is_html_escaped() {
        let app = routes(Some(r#"a"><script>alert('x')</script>&b"#), 1);
        let (_, _, html) = call(&app, Method::GET, PAGE_PATH).await;
        assert!(html.contains(
            r#"data-cluster="a&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;b""#
        ));
        assert!(!html.contains("<script>alert"));
        assert!(html.contains(r#"data-max-hours="1""#));
    }

    #[tokio::test]
    async fn without_a_cluster_the_page_carries_none() {
        let app = routes(None, 720);
        let (status, _, html) = call(&app, Method::GET, PAGE_PATH).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains(r#"data-cluster="""#));
        assert!(!html.contains(CLUSTER_PLACEHOLDER));
    }

    #[test]
    fn the_page_references_only_embedded_files() {
        // No CDN: every src/href is the page's own or a data: URL.
        for attr in ["src=\"", "href=\""] {
            for (at, _) in INDEX_HTML.match_indices(attr) {
                let value = &INDEX_HTML[at + attr.len()..];
                assert!(
                    value.starts_with("/system/metrics/") || value.starts_with("data:"),
                    "{}",
                    &value[..value.len().min(40)]
                );
            }
        }
    }
}
