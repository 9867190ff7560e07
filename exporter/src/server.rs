//! The HTTP side: `/metrics` (or `--web.telemetry-path`), `/` and `/healthz`.
//!
//! A scrape runs on a blocking-pool thread, never on the runtime's one thread: any file
//! system call can block (a dead network mount, a FIFO where a file was expected), and
//! `/healthz` must answer whatever a scrape is waiting for. The calls that can block
//! for long have deadlines of their own (statfs: `--collector.filesystem.mount-timeout`,
//! the textfile directories: `--collector.textfile.timeout`), so a scrape ends; the
//! hand-over costs two context switches per scrape. Scrapes are serialised by the
//! scraper's lock (collectors keep state between scrapes, e.g. CPU counters).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use crate::cli::{parse_listen_address, ListenAddress};
use crate::collector::Scraper;
use edge_common::exposition::write::{negotiate, render};

pub struct AppState {
    scraper: Mutex<Scraper>,
    telemetry_path: String,
    /// Size of the last body, to allocate the next one once.
    last_body_len: AtomicUsize,
}

pub fn router(scraper: Scraper, telemetry_path: &str) -> Router {
    let state = Arc::new(AppState {
        scraper: Mutex::new(scraper),
        telemetry_path: telemetry_path.to_string(),
        last_body_len: AtomicUsize::new(0),
    });
    Router::new()
        .route("/", get(landing))
        .route("/healthz", get(|| async { "ok\n" }))
        .route(telemetry_path, get(metrics))
        .with_state(state)
}

async fn landing(State(state): State<Arc<AppState>>) -> Html<String> {
    Html(format!(
        "<html><head><title>Edge Exporter</title></head><body><h1>Edge Exporter</h1>\
         <p><a href=\"{0}\">Metrics</a> · <a href=\"/healthz\">Health</a></p></body></html>\n",
        state.telemetry_path
    ))
}

async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let format = negotiate(
        headers
            .get(header::ACCEPT)
            .and_then(|value| value.to_str().ok()),
    );
    let scraping = Arc::clone(&state);
    let body = tokio::task::spawn_blocking(move || {
        let set = scraping
            .scraper
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .scrape();
        let mut body = String::with_capacity(scraping.last_body_len.load(Ordering::Relaxed) + 4096);
        render(&set, format, &mut body);
        scraping.last_body_len.store(body.len(), Ordering::Relaxed);
        body
    })
    .await;
    match body {
        Ok(body) => ([(header::CONTENT_TYPE, format.content_type())], body).into_response(),
        Err(error) => {
            tracing::error!(%error, "the scrape failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "scrape failed\n").into_response()
        }
    }
}

/// Binds `--web.listen-address`. `:port` listens on every IPv6 and IPv4 address,
/// falling back to IPv4 alone where IPv6 is disabled.
pub async fn bind(address: &str) -> std::io::Result<TcpListener> {
    let parsed = parse_listen_address(address)
        .map_err(|m| std::io::Error::new(std::io::ErrorKind::InvalidInput, m))?;
    match parsed {
        ListenAddress::AnyHost(port) => {
            match TcpListener::bind(SocketAddr::from(([0u16; 8], port))).await {
                Ok(listener) => Ok(listener),
                Err(_) => TcpListener::bind(SocketAddr::from(([0u8; 4], port))).await,
            }
        }
        ListenAddress::Host(host_port) => TcpListener::bind(host_port.as_str()).await,
    }
}

/// Serves until SIGTERM or Ctrl-C, with edge-server's limits, timeouts, TLS and
/// basic auth.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: edge_server::ServerOptions,
) -> Result<(), edge_server::ServeError> {
    edge_server::serve(listener, app, options, edge_server::shutdown_signal()).await
}
