//! `--listen`: the same metrics the file holds, on `/metrics`, for a scraper that
//! talks to the sidecar directly.
//!
//! The body is the file's text, rendered once by edge-common's writer, not a second
//! rendering with prometheus-client: that crate registers each metric once, typed,
//! under a name fixed at registration, and writes OpenMetrics only (no text 0.0.4,
//! HELP not escaped, `inf` for +Inf). The sidecar's families are made at run time
//! from scripts' keys and sensor files and change with every reload of `nodes.conf`,
//! and the file must be text 0.0.4 for the textfile collector, so the file would need
//! edge-common's writer anyway; two writers of the same content is what edge-common's
//! exposition module exists to end. One writer, one text, for both.

use std::sync::Arc;

use axum::http::header;
use axum::routing::get;
use axum::Router;

use crate::output::Published;
use crate::writer::FORMAT;

/// Binds `address` now (so a bad address is an error at start) and serves on a
/// thread of its own, through edge-server (connection cap, timeouts, TLS and basic
/// auth from `--web.config.file`). It serves until the process ends: the sidecar's
/// own SIGTERM handling stops the scripts and exits.
pub fn serve_in_background(
    address: &str,
    published: Published,
    options: edge_server::ServerOptions,
) -> std::io::Result<()> {
    let listener = std::net::TcpListener::bind(address)?;
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    std::thread::Builder::new()
        .name("listener".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => listener,
                    Err(error) => {
                        tracing::error!(%error, "listener");
                        return;
                    }
                };
                let app = Router::new()
                    .route("/healthz", get(|| async { "ok\n" }))
                    .route(
                        "/metrics",
                        get(move || {
                            let published = Arc::clone(&published);
                            async move {
                                let body = published
                                    .lock()
                                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                                    .clone();
                                ([(header::CONTENT_TYPE, FORMAT.content_type())], body)
                            }
                        }),
                    );
                let forever = std::future::pending::<()>();
                if let Err(error) = edge_server::serve(listener, app, options, forever).await {
                    tracing::error!(%error, "listener stopped");
                }
            });
        })?;
    Ok(())
}
